//! A certification authority whose keys are on a token: certificates, CRLs and OCSP responses
//! signed by the device, verified by openssl.

use std::path::PathBuf;

use edxml::AgencyCode;
use pki::{
    Authority, CertificateState, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, NewAuthority,
    OcspResponder, Profile, RevocationReason, RevokedEntry, SubjectName, SubscriberKey,
};
use time::OffsetDateTime;

use crate::{Hsm, p, run, softhsm_test};

const OFFICIAL: &str = "CN=Nguyễn Văn A,T=Phó Chủ nhiệm,OU=Vụ Hành chính,O=Văn phòng Chính phủ,C=VN";
const RESPONDER: &str = "CN=lienthong OCSP 1,O=lienthong test,C=VN";

struct Ca {
    new: NewAuthority,
    authority: Authority,
    root: PathBuf,
    issuing: PathBuf,
}

/// An authority whose root and issuing keys are generated on a fresh token; the issuing key is
/// then found again by its label, as a restarted authority would.
fn ca_on_token(hsm: &Hsm, algorithm: KeyAlgorithm) -> Ca {
    let token = hsm.token("lienthong");
    let root_key = token.generate("lienthong-root", algorithm).expect("root key");
    let issuing_key = token.generate("lienthong-issuing", algorithm).expect("issuing key");
    assert!(root_key.is_external() && issuing_key.is_external());
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new =
        Authority::create_with_keys(root_key, issuing_key, "lienthong test", &endpoints, OffsetDateTime::now_utc())
            .expect("authority");
    let issuing_key = token.key("lienthong-issuing").expect("issuing key by label");
    assert_eq!(issuing_key.public_key_der(), new.issuing_key.public_key_der());
    let authority = Authority::new(new.issuing_der.clone(), issuing_key, endpoints);
    let root = hsm.write_pem("root.pem", "CERTIFICATE", &new.root_der);
    let issuing = hsm.write_pem("issuing.pem", "CERTIFICATE", &new.issuing_der);
    Ca { new, authority, root, issuing }
}

fn issue(ca: &Ca, profile: Profile, subject: &str, key: &KeyPair) -> IssuedCertificate {
    let request = IssueRequest {
        profile,
        subject: SubjectName::parse(subject).expect("subject"),
        agency: (profile == Profile::Official).then(|| AgencyCode::parse("000.00.00.G22").expect("agency")),
        key: SubscriberKey::from_key(key),
    };
    ca.authority.issue(&request, OffsetDateTime::now_utc()).unwrap_or_else(|e| panic!("{profile}: {e}"))
}

fn openssl_verifies_certificates_and_crls(hsm: &Hsm, algorithm: KeyAlgorithm) {
    let ca = ca_on_token(hsm, algorithm);
    let subscriber = KeyPair::generate(algorithm).expect("subscriber key");
    let kept = hsm.write_pem("kept.pem", "CERTIFICATE", &issue(&ca, Profile::Official, OFFICIAL, &subscriber).der);
    let revoked = issue(&ca, Profile::Official, OFFICIAL, &subscriber);
    let revoked_pem = hsm.write_pem("revoked.pem", "CERTIFICATE", &revoked.der);
    let (code, text) = run("openssl", &["verify", "-CAfile", p(&ca.root), "-untrusted", p(&ca.issuing), p(&kept)]);
    assert_eq!(code, 0, "{algorithm}: {text}");
    assert!(text.contains("OK"), "{text}");

    let entry = RevokedEntry {
        serial: revoked.serial,
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    };
    let crl = ca.authority.crl(1, &[entry], OffsetDateTime::now_utc()).expect("CRL");
    let crl_pem = hsm.write_pem("ca.crl.pem", "X509 CRL", &crl);
    let (code, text) = run("openssl", &["crl", "-in", p(&crl_pem), "-CAfile", p(&ca.issuing), "-noout"]);
    assert_eq!(code, 0, "{algorithm}: {text}");
    assert!(text.contains("verify OK"), "{algorithm}: {text}");
    let with_crl = |cert: &PathBuf| {
        let chain = [p(&ca.root), p(&ca.issuing)];
        let args =
            ["verify", "-CAfile", chain[0], "-untrusted", chain[1], "-crl_check", "-CRLfile", p(&crl_pem), p(cert)];
        run("openssl", &args)
    };
    let (code, text) = with_crl(&kept);
    assert_eq!(code, 0, "{algorithm}: {text}");
    let (code, text) = with_crl(&revoked_pem);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("certificate revoked"), "{algorithm}: {text}");
}

softhsm_test!(openssl_verifies_a_p256_ca_on_a_token, |hsm| {
    openssl_verifies_certificates_and_crls(hsm, KeyAlgorithm::P256);
});

softhsm_test!(openssl_verifies_an_rsa2048_ca_on_a_token, |hsm| {
    openssl_verifies_certificates_and_crls(hsm, KeyAlgorithm::Rsa2048);
});

fn ocsp_responder_on_token(hsm: &Hsm, algorithm: KeyAlgorithm) {
    let ca = ca_on_token(hsm, algorithm);
    let token = token::Token::open(hsm.module(), "lienthong", crate::USER_PIN).expect("shares the login");
    let responder_key = token.generate("lienthong-ocsp", algorithm).expect("responder key");
    let responder_cert = issue(&ca, Profile::Ocsp, RESPONDER, &responder_key);
    let responder = OcspResponder::new(&ca.new.issuing_der, &responder_cert.der, responder_key).expect("responder");
    let subscriber = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let good = hsm.write_pem("good.pem", "CERTIFICATE", &issue(&ca, Profile::Official, OFFICIAL, &subscriber).der);
    let chain = hsm.path("chain.pem");
    std::fs::write(
        &chain,
        crate::pem("CERTIFICATE", &ca.new.issuing_der) + &crate::pem("CERTIFICATE", &ca.new.root_der),
    )
    .expect("chain");
    let (req, resp) = (hsm.path("req.der"), hsm.path("resp.der"));
    let (code, text) = run("openssl", &["ocsp", "-issuer", p(&ca.issuing), "-cert", p(&good), "-reqout", p(&req)]);
    assert_eq!(code, 0, "{text}");
    let request = responder.parse(&std::fs::read(&req).expect("request")).expect("parses");
    let response = responder.respond(&request, &[CertificateState::Good], OffsetDateTime::now_utc()).expect("signed");
    std::fs::write(&resp, response).expect("write");
    // With the request, openssl checks the signature, the chain and the nonce; with the
    // certificate instead, it prints its status (but makes its own request, so without a nonce).
    let (code, text) = run("openssl", &["ocsp", "-reqin", p(&req), "-respin", p(&resp), "-CAfile", p(&chain)]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Response verify OK"), "{algorithm}: {text}");
    let args =
        ["ocsp", "-respin", p(&resp), "-CAfile", p(&chain), "-no_nonce", "-issuer", p(&ca.issuing), "-cert", p(&good)];
    let (code, text) = run("openssl", &args);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Response verify OK"), "{algorithm}: {text}");
    assert!(text.contains("good.pem: good"), "{algorithm}: {text}");
}

softhsm_test!(openssl_verifies_ocsp_answers_signed_on_a_token, |hsm| {
    ocsp_responder_on_token(hsm, KeyAlgorithm::P256);
});

softhsm_test!(openssl_verifies_rsa_ocsp_answers_signed_on_a_token, |hsm| {
    ocsp_responder_on_token(hsm, KeyAlgorithm::Rsa2048);
});
