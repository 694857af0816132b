//! Time-stamping: openssl writes the requests (`ts -query`), verifies our tokens against the
//! document (`ts -verify`) and reads our rejections (`ts -reply -text`).

use std::path::{Path, PathBuf};

use pki::{
    CertSerial, FailureInfo, KeyAlgorithm, KeyPair, MAX_TSP_REQUEST_BYTES, Profile, TSA_POLICY, TimeStampAuthority,
    TokenError, TspError,
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

/// Our own request for `digest`, stamped by `tsa`, as the reply bytes.
fn reply_for(tsa: &TimeStampAuthority, digest: &[u8; 32], nonce: u64) -> Vec<u8> {
    let request = pki::timestamp_request(digest, nonce).expect("request");
    let parsed = tsa.parse_request(&request).expect("our request is acceptable");
    assert!(parsed.wants_certificate(), "we ask for the certificates, to verify without them at hand");
    tsa.respond(&parsed, &CertSerial::random(), OffsetDateTime::now_utc()).expect("signed")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_token_we_asked_for_verifies_here_and_in_openssl_and_states_its_time() {
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let f = fixture(algorithm);
        let digest = [0x5A; 32];
        let token = pki::token_from_reply(&reply_for(&f.tsa, &digest, 0xFEED_F00D_0000_0001)).expect("granted");
        let verified = pki::verify_token(&token, &digest, std::slice::from_ref(&f.setup.new.root_der)).expect("ok");
        assert!(verified.echoes(0xFEED_F00D_0000_0001), "{algorithm}: the nonce comes back");
        assert!(!verified.echoes(1));
        assert!((OffsetDateTime::now_utc() - verified.gen_time()).abs() < time::Duration::seconds(5));
        assert!(verified.authority().contains("CN=lienthong TSA"), "{}", verified.authority());

        let stored = f.setup.path("token.der");
        std::fs::write(&stored, &token).expect("write");
        let root = f.setup.path("root.pem");
        let (code, text) = run(
            "openssl",
            &["ts", "-verify", "-digest", &hex(&digest), "-token_in", "-in", p(&stored), "-CAfile", p(&root)],
        );
        assert!(code == 0 && text.contains("Verification: OK"), "{algorithm}: {text}");
    }
}

#[test]
fn a_token_for_another_hash_from_another_root_or_altered_does_not_verify() {
    let f = fixture(KeyAlgorithm::P256);
    let roots = std::slice::from_ref(&f.setup.new.root_der);
    let digest = [0x11; 32];
    let token = pki::token_from_reply(&reply_for(&f.tsa, &digest, 7)).expect("granted");
    assert_eq!(pki::verify_token(&token, &[0x12; 32], roots), Err(TokenError::ImprintMismatch));
    let stranger = Setup::new(KeyAlgorithm::P256);
    assert!(matches!(
        pki::verify_token(&token, &digest, std::slice::from_ref(&stranger.new.root_der)),
        Err(TokenError::Untrusted(_))
    ));
    // The signature is the token's last field: flipping its last byte leaves the DER intact.
    let mut altered = token.clone();
    *altered.last_mut().expect("bytes") ^= 0x01;
    assert_eq!(pki::verify_token(&altered, &digest, roots), Err(TokenError::BadSignature));
    // Changing the stamped time changes the content under the signed digest.
    let at = find(&token, b"Z\x30").map(|z| z - 1).expect("genTime ends in Z");
    let mut later = token.clone();
    later[at] = if later[at] == b'9' { b'8' } else { later[at] + 1 };
    assert_eq!(pki::verify_token(&later, &digest, roots), Err(TokenError::ContentMismatch));
    assert!(matches!(pki::verify_token(&token[..token.len() - 9], &digest, roots), Err(TokenError::Malformed(_))));
    assert!(matches!(
        pki::verify_token(&vec![0x30; pki::MAX_TSP_REPLY_BYTES + 1], &digest, roots),
        Err(TokenError::TooLarge(_))
    ));
    let refused = TspError::UnacceptedPolicy("1.2.3".into()).rejection();
    assert!(
        matches!(pki::token_from_reply(&refused), Err(TokenError::Rejected { status: 2, ref text }) if text.contains("1.2.3"))
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_token_openssl_signs_as_the_tsa_verifies_here() {
    let setup = Setup::new(KeyAlgorithm::P256);
    let (cert, key) =
        setup.issue_with_key(Profile::Tsa, SUBJECTS[4].1, None, KeyAlgorithm::P256).expect("tsa certificate");
    setup.write_cert("tsa.pem", &cert.der);
    std::fs::write(setup.path("tsa.key"), key.to_unencrypted_pem().expect("software key")).expect("write");
    let config = format!(
        "[tsa]\ndefault_tsa = lienthong\n[lienthong]\nserial = {dir}/serial\nsigner_cert = {dir}/tsa.pem\n\
         certs = {dir}/issuing.pem\nsigner_key = {dir}/tsa.key\nsigner_digest = sha256\n\
         default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1, millisecs:500\nordering = yes\n\
         ess_cert_id_alg = sha256\n",
        dir = setup.dir.path().display()
    );
    std::fs::write(setup.path("tsa.cnf"), config).expect("write");
    std::fs::write(setup.path("serial"), "01\n").expect("write");
    let digest = [0x42; 32];
    std::fs::write(setup.path("query.tsq"), pki::timestamp_request(&digest, 99).expect("request")).expect("write");
    let (code, text) = run(
        "openssl",
        &[
            "ts",
            "-reply",
            "-config",
            p(&setup.path("tsa.cnf")),
            "-queryfile",
            p(&setup.path("query.tsq")),
            "-out",
            p(&setup.path("reply.tsr")),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let token = pki::token_from_reply(&std::fs::read(setup.path("reply.tsr")).expect("reply")).expect("granted");
    let verified = pki::verify_token(&token, &digest, std::slice::from_ref(&setup.new.root_der)).expect("verifies");
    assert!(verified.echoes(99));
}
