//! A real SDK sample package (Government Office → Nghệ An) through the gateway pipeline: signed
//! with the Office's seal, sealed for Nghệ An's gateway, opened and verified there; then every way
//! it must be refused.

use base64::Engine as _;
use gateway::{GatewayError, GatewayKeys, OutgoingError, Refusal, Sealed, Signer, Trust, TrustError, open_package};
use pki::{
    Authority, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, Profile, RevocationReason,
    RevokedEntry, SubjectName, SubscriberKey,
};
use time::OffsetDateTime;

struct Network {
    authority: Authority,
    root: Vec<u8>,
    office: (IssuedCertificate, KeyPair),
    nghe_an_gateway: (IssuedCertificate, Vec<u8>),
}

fn issue(authority: &Authority, profile: Profile, subject: &str, agency: &str) -> (IssuedCertificate, KeyPair) {
    let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let request = IssueRequest {
        profile,
        subject: SubjectName::parse(subject).expect("subject"),
        agency: Some(edxml::AgencyCode::parse(agency).expect("code")),
        key: SubscriberKey::from_key(&key),
    };
    (authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
}

fn pkcs8_der(key: &KeyPair) -> Vec<u8> {
    let pem = key.to_unencrypted_pem().expect("software key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
}

fn network() -> Network {
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new =
        Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("ca");
    let root = new.root_der.clone();
    let authority = Authority::new(new.issuing_der, new.issuing_key, endpoints);
    let office =
        issue(&authority, Profile::Organization, "CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ", "000.00.00.G22");
    let (gateway, gateway_key) =
        issue(&authority, Profile::Gateway, "CN=gw-h41.lienthong.test,O=UBND tỉnh Nghệ An", "000.00.00.H41");
    Network { root, office, nghe_an_gateway: (gateway, pkcs8_der(&gateway_key)), authority }
}

impl Network {
    fn trust(&self, revoked: &[RevokedEntry]) -> Trust {
        let trust =
            Trust::new(std::slice::from_ref(&self.root), &[self.authority.certificate().to_vec()]).expect("trust");
        let crl = self.authority.crl(1, revoked, OffsetDateTime::now_utc()).expect("crl");
        trust.set_crls(&[crl]).expect("crl parses");
        trust
    }

    fn signer(&self) -> Signer {
        let key = KeyPair::open(&self.office.1.seal("correct horse battery").expect("seal"), "correct horse battery")
            .expect("open");
        Signer::new(key, self.office.0.der.clone()).expect("the seal key's certificate")
    }

    fn open(&self, sealed: &[u8], trust: &Trust, sender: &str) -> Result<gateway::Opened, Refusal> {
        let (certificate, key) = &self.nghe_an_gateway;
        open_package(sealed, &certificate.der, key, trust, sender, OffsetDateTime::now_utc())
    }
}

/// A package sealed into memory: the envelope, and what was sealed.
#[derive(Debug)]
struct InMemory {
    bytes: Vec<u8>,
    sealed: Sealed,
}

impl std::ops::Deref for InMemory {
    type Target = Sealed;
    fn deref(&self) -> &Sealed {
        &self.sealed
    }
}

fn seal_package(edxml: &[u8], signer: &Signer, recipients: &[&[u8]]) -> Result<InMemory, OutgoingError> {
    let mut bytes = Vec::new();
    let sealed = gateway::seal_package(&bytes::Bytes::copy_from_slice(edxml), signer, recipients, &mut bytes)?;
    Ok(InMemory { bytes, sealed })
}

fn sample() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/interop/edxml/edoc_update.edxml"))
        .expect("sample")
}

#[test]
fn a_sample_package_is_signed_sealed_opened_and_verified() {
    let net = network();
    let sealed = seal_package(&sample(), &net.signer(), &[&net.nghe_an_gateway.0.der]).expect("sealed");
    assert!(!sealed.is_status);
    assert!(sealed.recipients.contains(&"000.00.00.H41".to_owned()), "{:?}", sealed.recipients);
    assert!(!sealed.bytes.windows(13).any(|w| w == b"000.00.00.H41"), "the hub sees no content");
    let opened = net.open(&sealed.bytes, &net.trust(&[]), "000.00.00.G22").expect("opened");
    assert!(opened.signer_subject().contains("Văn phòng Chính phủ"), "{}", opened.signer_subject());
    assert!(!opened.legacy_signature());
    assert_eq!(opened.describe().0, sealed.document_id);
}

#[test]
fn tampered_misattributed_revoked_and_untrusted_packages_are_refused() {
    let net = network();
    let sealed = seal_package(&sample(), &net.signer(), &[&net.nghe_an_gateway.0.der]).expect("sealed");

    let mut tampered = sealed.bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    assert!(matches!(net.open(&tampered, &net.trust(&[]), "000.00.00.G22"), Err(Refusal::Sealed(_))));

    let wrong = net.open(&sealed.bytes, &net.trust(&[]), "000.00.00.G12").expect_err("not the signer's agency");
    assert!(matches!(wrong, Refusal::WrongSigner { .. }), "{wrong}");

    let revoked = RevokedEntry {
        serial: net.office.0.serial.clone(),
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    };
    let refused = net.open(&sealed.bytes, &net.trust(&[revoked]), "000.00.00.G22").expect_err("revoked");
    assert!(matches!(refused, Refusal::Signer(TrustError::Revoked)), "{refused}");
    assert_eq!(refused.vietnamese(), "Chứng thư số của đơn vị gửi đã bị thu hồi");

    let no_crl = Trust::new(std::slice::from_ref(&net.root), &[net.authority.certificate().to_vec()]).expect("trust");
    let unknown = net.open(&sealed.bytes, &no_crl, "000.00.00.G22").expect_err("status unknown");
    assert!(matches!(unknown, Refusal::Signer(TrustError::StatusUnknown)), "{unknown}");

    let stranger = network();
    let foreign = seal_package(&sample(), &stranger.signer(), &[&net.nghe_an_gateway.0.der]).expect("sealed");
    let untrusted = net.open(&foreign.bytes, &net.trust(&[]), "000.00.00.G22").expect_err("another CA");
    assert!(matches!(untrusted, Refusal::Signer(TrustError::Untrusted(_))), "{untrusted}");

    let elsewhere = seal_package(&sample(), &net.signer(), &[&stranger.nghe_an_gateway.0.der]).expect("sealed");
    let not_for_us = net.open(&elsewhere.bytes, &net.trust(&[]), "000.00.00.G22").expect_err("not for us");
    assert!(matches!(not_for_us, Refusal::Sealed(_)), "{not_for_us}");
    let (gateway_cert, gateway_key) =
        issue(&net.authority, Profile::Gateway, "CN=gw-g22.lienthong.test,O=Văn phòng Chính phủ", "000.00.00.G22");
    let tls_key = Signer::new(gateway_key, gateway_cert.der).expect("the gateway key's certificate");
    let by_tls_key = seal_package(&sample(), &tls_key, &[&net.nghe_an_gateway.0.der]).expect("sealed");
    let wrong_purpose = net.open(&by_tls_key.bytes, &net.trust(&[]), "000.00.00.G22").expect_err("not a seal");
    assert!(
        matches!(wrong_purpose, Refusal::Signer(TrustError::Untrusted(_))),
        "a TLS key is no seal: {wrong_purpose}"
    );
    let signing_only = seal_package(&sample(), &net.signer(), &[&net.office.0.der]).expect_err("no key agreement");
    assert!(signing_only.to_string().starts_with("encryption for the recipients failed"), "{signing_only}");
}

#[test]
fn a_signer_that_passed_is_checked_again_after_a_new_crl_or_past_the_crls_next_update() {
    let net = network();
    let sealed = seal_package(&sample(), &net.signer(), &[&net.nghe_an_gateway.0.der]).expect("sealed");
    let trust = net.trust(&[]);
    let (certificate, key) = &net.nghe_an_gateway;
    let open_at = |at: OffsetDateTime| open_package(&sealed.bytes, &certificate.der, key, &trust, "000.00.00.G22", at);
    let now = OffsetDateTime::now_utc();
    open_at(now).expect("passes, and is remembered");
    open_at(now).expect("passes again");

    let past_next_update = now + pki::CRL_VALIDITY + time::Duration::hours(1);
    let stale = open_at(past_next_update).expect_err("the CRL it relied on has expired");
    assert!(matches!(stale, Refusal::Signer(TrustError::StatusUnknown)), "{stale}");

    let revoked =
        RevokedEntry { serial: net.office.0.serial.clone(), revoked_at: now, reason: RevocationReason::KeyCompromise };
    trust.set_crls(&[net.authority.crl(2, &[revoked], now).expect("crl")]).expect("crl parses");
    let refused = open_at(now).expect_err("revoked by the new CRL");
    assert!(matches!(refused, Refusal::Signer(TrustError::Revoked)), "{refused}");
}

#[test]
fn malformed_packages_never_leave() {
    let net = network();
    let error =
        seal_package(b"<edXML>not a package", &net.signer(), &[&net.nghe_an_gateway.0.der]).expect_err("malformed");
    assert!(error.to_string().starts_with("the package is not valid edXML"), "{error}");
}

#[test]
fn a_gateway_is_refused_keys_that_are_not_their_certificates() {
    let net = network();
    let (gateway_cert, gateway_pkcs8) = &net.nghe_an_gateway;
    let seal_key = || KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let error = GatewayKeys::new(seal_key(), net.office.0.der.clone(), &gateway_cert.der, gateway_pkcs8)
        .expect_err("another key than the seal certificate's");
    assert!(matches!(error, GatewayError::Keys(_)), "{error}");
    assert!(error.to_string().starts_with("the seal key and its certificate"), "{error}");
    let (office_cert, office_key) = &net.office;
    let seal =
        KeyPair::open(&office_key.seal("correct horse battery").expect("seal"), "correct horse battery").expect("open");
    let other_pkcs8 = pkcs8_der(&seal_key());
    let error = GatewayKeys::new(seal, office_cert.der.clone(), &gateway_cert.der, &other_pkcs8)
        .expect_err("another key than the gateway certificate's");
    assert!(error.to_string().starts_with("the gateway's certificate and its key"), "{error}");
    let seal =
        KeyPair::open(&office_key.seal("correct horse battery").expect("seal"), "correct horse battery").expect("open");
    GatewayKeys::new(seal, office_cert.der.clone(), &gateway_cert.der, gateway_pkcs8).expect("the right keys");
}
