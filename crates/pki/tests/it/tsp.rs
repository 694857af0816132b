//! Time-stamping: openssl writes the requests (`ts -query`), verifies our tokens against the
//! document (`ts -verify`) and reads our rejections (`ts -reply -text`).

use std::path::{Path, PathBuf};

use pki::{
    CertSerial, FailureInfo, KeyAlgorithm, KeyPair, MAX_TSP_REQUEST_BYTES, Profile, TSA_POLICY, TimeStampAuthority,
    TspError,
};
use time::OffsetDateTime;

use crate::{SUBJECTS, Setup, p, pem, run};

const DOCUMENT: &str = "Quyết định số 12/QĐ-UBND về việc ban hành quy chế tiếp nhận văn bản điện tử.\n";

struct Fixture {
    setup: Setup,
    tsa: TimeStampAuthority,
    document: PathBuf,
}

fn fixture(algorithm: KeyAlgorithm) -> Fixture {
    let setup = Setup::new(algorithm);
    let (cert, key) = setup.issue_with_key(Profile::Tsa, SUBJECTS[4].1, None, algorithm).expect("tsa certificate");
    let tsa = TimeStampAuthority::new(&cert.der, vec![setup.new.issuing_der.clone()], key).expect("tsa");
    let untrusted = pem("CERTIFICATE", &cert.der) + &pem("CERTIFICATE", &setup.new.issuing_der);
    std::fs::write(setup.path("untrusted.pem"), untrusted).expect("write");
    let document = setup.path("document.txt");
    std::fs::write(&document, DOCUMENT).expect("write");
    Fixture { setup, tsa, document }
}

impl Fixture {
    /// openssl's request for the document, with `args` (hash, -cert, -no_nonce, -tspolicy).
    fn query(&self, args: &[&str]) -> Vec<u8> {
        let request = self.setup.path("request.tsq");
        let mut all = vec!["ts", "-query", "-data", p(&self.document), "-out", p(&request)];
        all.extend(args);
        let (code, text) = run("openssl", &all);
        assert_eq!(code, 0, "{text}");
        std::fs::read(&request).expect("request")
    }

    /// Our granted response to `request`, written to a file.
    fn stamp(&self, request: &[u8]) -> PathBuf {
        let parsed = self.tsa.parse_request(request).expect("acceptable request");
        let response = self.tsa.respond(&parsed, &CertSerial::random(), OffsetDateTime::now_utc()).expect("signed");
        let path = self.setup.path("response.tsr");
        std::fs::write(&path, response).expect("write");
        path
    }

    /// `openssl ts -verify` of `response` against `data`, trusting the root, given `untrusted`.
    fn verify(&self, data: &Path, response: &Path, untrusted: &str) -> (i32, String) {
        let root = self.setup.path("root.pem");
        let untrusted = self.setup.path(untrusted);
        run(
            "openssl",
            &["ts", "-verify", "-data", p(data), "-in", p(response), "-CAfile", p(&root), "-untrusted", p(&untrusted)],
        )
    }

    fn reply_text(&self, response: &Path) -> String {
        let (code, text) = run("openssl", &["ts", "-reply", "-in", p(response), "-text"]);
        assert_eq!(code, 0, "{text}");
        text
    }
}

fn verified(outcome: (i32, String)) -> bool {
    outcome.0 == 0 && outcome.1.contains("Verification: OK")
}

#[test]
fn openssl_verifies_p256_and_rsa_tokens_with_and_without_nonce_or_certificates() {
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let f = fixture(algorithm);
        for args in [
            &["-sha256", "-cert"][..],
            &["-sha256", "-no_nonce"],
            &["-sha256"],
            &["-sha384", "-cert"],
            &["-sha512", "-no_nonce", "-cert"],
            &["-sha256", "-tspolicy", TSA_POLICY],
        ] {
            let response = f.stamp(&f.query(args));
            let outcome = f.verify(&f.document, &response, "untrusted.pem");
            assert!(verified(outcome.clone()), "{algorithm} {args:?}: {}", outcome.1);
            // Given only the issuing CA, openssl finds the TSA certificate in the token iff asked for.
            let outcome = f.verify(&f.document, &response, "issuing.pem");
            assert_eq!(verified(outcome.clone()), args.contains(&"-cert"), "{algorithm} {args:?}: {}", outcome.1);
        }
    }
}

#[test]
fn a_tampered_document_fails_verification() {
    let f = fixture(KeyAlgorithm::P256);
    let response = f.stamp(&f.query(&["-sha256", "-cert"]));
    let tampered = f.setup.path("tampered.txt");
    std::fs::write(&tampered, DOCUMENT.replace("12/QĐ", "13/QĐ")).expect("write");
    let (code, text) = f.verify(&tampered, &response, "untrusted.pem");
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("Verification: FAILED") && text.contains("message imprint mismatch"), "{text}");
}

#[test]
fn the_token_states_our_policy_the_request_nonce_and_one_second_accuracy() {
    let f = fixture(KeyAlgorithm::P256);
    let request = f.query(&["-sha256"]);
    let (code, request_text) = run("openssl", &["ts", "-query", "-in", p(&f.setup.path("request.tsq")), "-text"]);
    assert_eq!(code, 0, "{request_text}");
    let nonce = request_text.lines().find(|l| l.starts_with("Nonce: 0x")).expect("openssl sent a nonce");
    let reply = f.reply_text(&f.stamp(&request));
    for expected in [
        "Status: Granted.",
        &format!("Policy OID: {TSA_POLICY}"),
        nonce,
        "Accuracy: 0x01 seconds, unspecified millis, unspecified micros",
        "Ordering: no",
        "TSA: DirName:",
    ] {
        assert!(reply.contains(expected), "the reply lacks {expected:?}:\n{reply}");
    }
    let without = f.reply_text(&f.stamp(&f.query(&["-sha256", "-no_nonce"])));
    assert!(without.contains("Nonce: unspecified"), "{without}");
}

/// Builds a TimeStampReq by hand: what openssl refuses to write.
fn request(version: u8, hash_oid: &[u8], hash_len: usize, tail: &[u8]) -> Vec<u8> {
    let algorithm = tlv(0x30, &[tlv(0x06, hash_oid), vec![0x05, 0x00]].concat());
    let imprint = tlv(0x30, &[algorithm, tlv(0x04, &vec![0xAB; hash_len])].concat());
    tlv(0x30, &[tlv(0x02, &[version]), imprint, tail.to_vec()].concat())
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let length = u8::try_from(content.len()).ok().filter(|&l| l < 0x80).expect("short form length");
    [&[tag, length][..], content].concat()
}

const SHA256_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

#[test]
fn bad_requests_get_the_right_failure_in_a_rejection_openssl_reads() {
    let f = fixture(KeyAlgorithm::P256);
    let good = f.query(&["-sha256"]);
    assert!(f.tsa.parse_request(&request(1, SHA256_OID, 32, &[])).is_ok(), "the hand-built request is sound");
    let extension = tlv(0xA0, &tlv(0x30, &[tlv(0x06, &[0x2A, 0x03]), tlv(0x04, &[0x05, 0x00])].concat()));
    let policy_refused =
        format!("policy 1.2.3.4.5 is not offered: this authority issues tokens under {TSA_POLICY} only");
    let cases: Vec<(&str, Vec<u8>, FailureInfo, &str, &str)> = vec![
        (
            "garbage",
            b"not a request".to_vec(),
            FailureInfo::BadDataFormat,
            "not a DER time-stamp request",
            "wrong format",
        ),
        ("truncated", good[..good.len() - 5].to_vec(), FailureInfo::BadDataFormat, "not a DER", "wrong format"),
        (
            "oversized",
            vec![0x30; MAX_TSP_REQUEST_BYTES + 1],
            FailureInfo::BadRequest,
            "the time-stamp request is 4097 bytes, more than 4096",
            "not permitted or supported",
        ),
        ("sha1", f.query(&["-sha1"]), FailureInfo::BadAlg, "hashed with SHA-1 (1.3.14.3.2.26)", "algorithm"),
        ("md5", f.query(&["-md5"]), FailureInfo::BadAlg, "hashed with MD5", "algorithm"),
        (
            "short imprint",
            request(1, SHA256_OID, 20, &[]),
            FailureInfo::BadDataFormat,
            "a SHA-256 message imprint has 32 bytes, not 20",
            "wrong format",
        ),
        ("version 2", request(2, SHA256_OID, 32, &[]), FailureInfo::BadDataFormat, "version 2", "wrong format"),
        (
            "long nonce",
            request(1, SHA256_OID, 32, &tlv(0x02, &[0x01; 33])),
            FailureInfo::BadRequest,
            "the nonce is 33 bytes, more than 32",
            "not permitted or supported",
        ),
        (
            "other policy",
            f.query(&["-sha256", "-tspolicy", "1.2.3.4.5"]),
            FailureInfo::UnacceptedPolicy,
            &policy_refused,
            "policy is not supported",
        ),
        (
            "another uuid policy",
            f.query(&["-sha256", "-tspolicy", "2.25.329800735698586629295641978511506172918"]),
            FailureInfo::UnacceptedPolicy,
            "policy 2.25.329800735698586629295641978511506172918 is not offered",
            "policy is not supported",
        ),
        (
            "extension",
            request(1, SHA256_OID, 32, &extension),
            FailureInfo::UnacceptedExtension,
            "request extension 1.2.3 is not supported",
            "extension is not supported",
        ),
    ];
    for (name, der, failure, message, openssl_says) in cases {
        let error = f.tsa.parse_request(&der).expect_err(name);
        assert_eq!(error.failure_info(), failure, "{name}: {error}");
        assert!(error.to_string().contains(message), "{name}: {error}");
        let rejection = f.setup.path("rejection.tsr");
        std::fs::write(&rejection, error.rejection()).expect("write");
        let text = f.reply_text(&rejection);
        assert!(text.contains("Status: Rejected."), "{name}: {text}");
        assert!(text.contains(&format!("Status description: {error}")), "{name}: {text}");
        assert!(text.contains(openssl_says), "{name}: {text}");
    }
}

#[test]
fn the_authority_refuses_certificates_that_do_not_make_it_a_tsa() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let (tsa, key) = setup.issue_with_key(Profile::Tsa, SUBJECTS[4].1, None, KeyAlgorithm::P256).expect("tsa");
    let (ocsp, ocsp_key) = setup.issue_with_key(Profile::Ocsp, SUBJECTS[3].1, None, KeyAlgorithm::P256).expect("ocsp");
    let other_key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    assert_eq!(TimeStampAuthority::new(&ocsp.der, Vec::new(), ocsp_key).expect_err("ocsp"), TspError::NotTimeStamping);
    assert_eq!(TimeStampAuthority::new(&tsa.der, Vec::new(), other_key).expect_err("key"), TspError::KeyMismatch);
    assert!(matches!(TimeStampAuthority::new(b"junk", Vec::new(), key), Err(TspError::Certificate(_))));
}

#[test]
fn no_token_outside_the_certificate_validity_and_the_client_is_not_told_why() {
    let f = fixture(KeyAlgorithm::P256);
    let request = f.tsa.parse_request(&f.query(&["-sha256"])).expect("request");
    let later = OffsetDateTime::now_utc() + time::Duration::days(10 * 365);
    let error = f.tsa.respond(&request, &CertSerial::random(), later).expect_err("expired");
    assert_eq!(error, TspError::OutsideValidity(later));
    let rejection = f.setup.path("rejection.tsr");
    std::fs::write(&rejection, error.rejection()).expect("write");
    let text = f.reply_text(&rejection);
    assert!(text.contains("system failure") && text.contains("try again later"), "{text}");
    assert!(!text.contains("valid"), "internals stay in the log: {text}");
}
