//! OCSP: openssl builds the requests and verifies our answers (signature, chain, nonce);
//! pkilint lints them.

use std::path::Path;

use pki::{CertificateState, KeyAlgorithm, OcspError, OcspResponder, Profile, ResponseStatus, RevocationReason};
use time::OffsetDateTime;

use crate::{SUBJECTS, Setup, p, pkilint, run};

struct Fixture {
    setup: Setup,
    responder: OcspResponder,
    good: std::path::PathBuf,
    bad: std::path::PathBuf,
    unknown: std::path::PathBuf,
    bad_serial: pki::CertSerial,
    good_serial: pki::CertSerial,
}

fn fixture(algorithm: KeyAlgorithm) -> Fixture {
    let setup = Setup::new(algorithm);
    let (responder_cert, responder_key) =
        setup.issue_with_key(Profile::Ocsp, SUBJECTS[3].1, None, algorithm).expect("responder");
    let responder = OcspResponder::new(&setup.new.issuing_der, &responder_cert.der, responder_key).expect("responder");
    let good = setup.issue(Profile::Organization, SUBJECTS[0].1, SUBJECTS[0].2, algorithm).expect("good");
    let bad = setup.issue(Profile::Official, SUBJECTS[1].1, SUBJECTS[1].2, algorithm).expect("bad");
    let unknown = setup.issue(Profile::Tsa, SUBJECTS[4].1, None, algorithm).expect("unknown");
    Fixture {
        good: setup.write_cert("good.pem", &good.der),
        bad: setup.write_cert("bad.pem", &bad.der),
        unknown: setup.write_cert("unknown.pem", &unknown.der),
        bad_serial: bad.serial,
        good_serial: good.serial,
        setup,
        responder,
    }
}

impl Fixture {
    fn state(&self, serial: &pki::CertSerial) -> CertificateState {
        if *serial == self.good_serial {
            CertificateState::Good
        } else if *serial == self.bad_serial {
            CertificateState::Revoked { at: OffsetDateTime::now_utc(), reason: RevocationReason::KeyCompromise }
        } else {
            CertificateState::Unknown
        }
    }

    /// openssl writes a request for `certs`; we answer it; returns the request and response paths.
    fn exchange(&self, certs: &[&Path], extra: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
        let (req, resp) = (self.setup.path("req.der"), self.setup.path("resp.der"));
        let issuer = self.setup.path("issuing.pem");
        let mut args = vec!["ocsp"];
        args.extend(extra);
        for cert in certs {
            args.extend(["-issuer", p(&issuer), "-cert", p(cert)]);
        }
        args.extend(["-reqout", p(&req)]);
        let (code, text) = run("openssl", &args);
        assert_eq!(code, 0, "{text}");
        let request = self.responder.parse(&std::fs::read(&req).expect("request")).expect("parses");
        let states: Vec<CertificateState> = request.serials().iter().map(|s| self.state(s)).collect();
        let response = self.responder.respond(&request, &states, OffsetDateTime::now_utc()).expect("signed");
        std::fs::write(&resp, response).expect("write");
        (req, resp)
    }

    /// Two openssl runs: with the request, which checks signature, chain and nonce; with the
    /// certificates (openssl then makes its own request, so without a nonce), which prints statuses.
    fn verify(&self, req: &Path, resp: &Path, certs: &[&Path], hash: &[&str]) -> String {
        let (issuer, chain) = (self.setup.path("issuing.pem"), self.setup.path("chain.pem"));
        let (code, nonce_check) = run("openssl", &["ocsp", "-reqin", p(req), "-respin", p(resp), "-CAfile", p(&chain)]);
        assert_eq!(code, 0, "{nonce_check}");
        assert!(
            nonce_check.contains("Response verify OK") && !nonce_check.to_lowercase().contains("nonce"),
            "{nonce_check}"
        );
        let mut args = vec!["ocsp", "-respin", p(resp), "-CAfile", p(&chain), "-no_nonce"];
        args.extend(hash);
        for cert in certs {
            args.extend(["-issuer", p(&issuer), "-cert", p(cert)]);
        }
        let (code, text) = run("openssl", &args);
        assert_eq!(code, 0, "{text}");
        text
    }
}

#[test]
fn openssl_verifies_good_revoked_and_unknown_answers_with_their_nonce() {
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let f = fixture(algorithm);
        let certs = [f.good.as_path(), f.bad.as_path(), f.unknown.as_path()];
        for hash in [&[][..], &["-sha256"][..]] {
            let (req, resp) = f.exchange(&certs, hash);
            let text = f.verify(&req, &resp, &certs, hash);
            assert!(text.contains("Response verify OK"), "{algorithm} {hash:?}: {text}");
            assert!(text.contains("good.pem: good"), "{text}");
            assert!(text.contains("bad.pem: revoked") && text.contains("Reason: keyCompromise"), "{text}");
            assert!(text.contains("unknown.pem: unknown"), "{text}");
            let (findings, lint) = pkilint("lint_ocsp_response", &["lint", "-s", "WARNING", p(&resp)]);
            assert_eq!(findings, 0, "{algorithm}: pkilint OCSP findings:\n{lint}");
        }
    }
}

#[test]
fn a_response_for_another_request_fails_the_nonce_check() {
    let f = fixture(KeyAlgorithm::P256);
    let (_, resp) = f.exchange(&[f.good.as_path()], &[]);
    let other = f.setup.path("other.der");
    let (code, text) = run(
        "openssl",
        &["ocsp", "-issuer", p(&f.setup.path("issuing.pem")), "-cert", p(&f.good), "-reqout", p(&other)],
    );
    assert_eq!(code, 0, "{text}");
    let chain = f.setup.path("chain.pem");
    let (_, text) = run("openssl", &["ocsp", "-reqin", p(&other), "-respin", p(&resp), "-CAfile", p(&chain)]);
    assert!(text.contains("Nonce Verify error"), "{text}");
}

#[test]
fn requests_for_another_issuer_or_malformed_get_clear_refusals() {
    let f = fixture(KeyAlgorithm::P256);
    let stranger = Setup::new(KeyAlgorithm::P256);
    let theirs =
        stranger.issue(Profile::Organization, SUBJECTS[0].1, SUBJECTS[0].2, KeyAlgorithm::P256).expect("theirs");
    let theirs_path = stranger.write_cert("theirs.pem", &theirs.der);
    let req = f.setup.path("foreign.der");
    let (code, text) = run(
        "openssl",
        &["ocsp", "-issuer", p(&stranger.path("issuing.pem")), "-cert", p(&theirs_path), "-reqout", p(&req)],
    );
    assert_eq!(code, 0, "{text}");
    let error = f.responder.parse(&std::fs::read(&req).expect("read")).expect_err("other issuer");
    assert_eq!(error, OcspError::OtherIssuer);
    let resp = f.setup.path("unauthorized.der");
    std::fs::write(&resp, pki::error_response(error.status())).expect("write");
    let (_, text) = run("openssl", &["ocsp", "-respin", p(&resp), "-resp_text", "-noverify"]);
    assert!(text.contains("unauthorized (6)"), "{text}");

    assert!(matches!(f.responder.parse(b"\x30\x03\x02\x01\x01"), Err(OcspError::Malformed(_))));
    assert!(matches!(f.responder.parse(&vec![0u8; pki::MAX_REQUEST_BYTES + 1]), Err(OcspError::TooLarge(_))));
    assert_eq!(pki::error_response(ResponseStatus::MalformedRequest), vec![0x30, 0x03, 0x0A, 0x01, 0x01]);
}
