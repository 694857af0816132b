//! Signing and verifying, each checked against xmlsec1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use edxml::{EDXML_NS, Limits, Package};
use pki::KeyAlgorithm;
use xmlsig::{
    Canonicalization, SignError, SignatureAlgorithm, Signer, VerifyError, canonicalize, sign, sign_parts, verify,
};

use crate::support::{Seal, document, p, run, tamper};

const PDF: &[u8] = b"%PDF-1.4 the signed letter";

fn findings(xml: &[u8]) -> (Package, Vec<&'static str>, Vec<String>) {
    let parsed = edxml::parse(&Bytes::from(xml.to_vec()), &Limits::default()).expect("edxml parses it");
    let codes = edxml::validate(&parsed.package, &Limits::default().zip).iter().map(|f| f.code.as_str()).collect();
    let warnings = parsed.warnings.iter().map(|w| format!("{w:?}")).collect();
    (parsed.package, codes, warnings)
}

#[test]
fn signed_packages_verify_with_xmlsec1_and_with_us_and_still_parse() {
    for (algorithm, expected) in [
        (KeyAlgorithm::P256, SignatureAlgorithm::EcdsaP256Sha256),
        (KeyAlgorithm::Rsa2048, SignatureAlgorithm::RsaSha256),
    ] {
        let seal = Seal::new(algorithm);
        let unsigned = document(PDF);
        let signed = sign(&unsigned, &seal.key, &seal.certificate).expect("signed");
        let (ok, said) = seal.xmlsec_verify(&signed);
        assert!(ok, "{algorithm}: xmlsec1 says:\n{said}");
        let verified = verify(&signed).expect("we verify it");
        assert_eq!(verified.algorithm(), expected);
        assert!(!verified.legacy());
        assert_eq!(verified.foreign_namespace(), None);
        assert_eq!(verified.signer_certificate_der(), seal.certificate.as_slice());

        let (package, codes, warnings) = findings(&signed);
        let (_, unsigned_codes, unsigned_warnings) = findings(&unsigned);
        assert_eq!((codes, warnings), (unsigned_codes, unsigned_warnings), "signing changed what edxml finds");
        let Package::Document(document) = package else { panic!("a document package") };
        let signature = document.signature.expect("edxml sees the signature");
        assert_eq!(signature.signed_info.signature_method.as_deref(), Some(expected.uri()));
        let key_info = signature.key_info.expect("key info");
        let [name] = key_info.subject_names.as_slice() else { panic!("one subject name") };
        for part in ["CN=Văn phòng Chính phủ", "O=Văn phòng Chính phủ", "C=VN"] {
            assert!(name.split(',').any(|p| p == part), "{name}");
        }
    }
}

#[test]
fn a_one_character_change_fails_both_xmlsec1_and_us() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let signed = sign(&document(PDF), &seal.key, &seal.certificate).expect("signed");
    let text = std::str::from_utf8(&signed).expect("utf-8");
    let content_tag = text.find("ContentTransferEncoded").expect("attachment");
    let attachment_at = content_tag + text[content_tag..].find('>').expect("tag end") + 10;
    let flipped = if text.as_bytes()[attachment_at] == b'A' { "B" } else { "A" };
    let cases = [
        ("body", tamper(&signed, "Subject>", "V/v", "V/w"), VerifyError::DigestMismatch),
        (
            "attachment",
            [&text[..attachment_at], flipped, &text[attachment_at + 1..]].concat().into_bytes(),
            VerifyError::DigestMismatch,
        ),
        (
            "SignedInfo",
            tamper(&signed, "<SignedInfo>", "<SignatureMethod", " <SignatureMethod"),
            VerifyError::BadSignature,
        ),
        (
            "DigestValue",
            tamper(&signed, "<DigestValue>", "<DigestValue>", "<DigestValue>A"),
            VerifyError::MalformedSignature("DigestValue is not base64".into()),
        ),
    ];
    for (what, tampered, expected) in cases {
        assert_ne!(tampered, signed);
        let (ok, said) = seal.xmlsec_verify(&tampered);
        assert!(!ok, "{what}: xmlsec1 accepted it:\n{said}");
        assert_eq!(verify(&tampered), Err(expected), "{what}");
    }
    let value_at = text.find("<SignatureValue>").expect("value") + "<SignatureValue>".len() + 5;
    let flipped = if text.as_bytes()[value_at] == b'A' { "B" } else { "A" };
    let tampered = [&text[..value_at], flipped, &text[value_at + 1..]].concat().into_bytes();
    assert_eq!(verify(&tampered), Err(VerifyError::BadSignature));
    assert!(!seal.xmlsec_verify(&tampered).0);
}

#[test]
fn signing_again_replaces_the_signature() {
    let first = Seal::new(KeyAlgorithm::P256);
    let second = Seal::new(KeyAlgorithm::Rsa2048);
    let unsigned = document(PDF);
    let once = sign(&unsigned, &first.key, &first.certificate).expect("signed");
    let twice = sign_parts(&once, &second.key, &second.certificate).expect("signed again");
    assert!(!twice.is_borrowed(), "the old signature is removed from a copy");
    let text = String::from_utf8(twice.to_vec()).expect("utf-8").replace("\r\n", "\n");
    assert_eq!(text.matches("</Signature>").count(), 1);
    assert!(
        text.contains("</edXML:TraceHeaderList>\n    <Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"),
        "{text}"
    );
    assert!(text.contains("</Signature></edXML:edXMLHeader>"), "{text}");
    // Around the new signature, the package is exactly what it was before the first one.
    let fresh = sign_parts(&unsigned, &second.key, &second.certificate).expect("signed");
    let [before, _, after] = twice.parts();
    assert_eq!((before, after), (fresh.parts()[0], fresh.parts()[2]));
    assert_eq!(verify(&twice.to_vec()).expect("verifies").signer_certificate_der(), second.certificate.as_slice());
    assert!(second.xmlsec_verify(&twice.to_vec()).0);
}

#[test]
fn the_parts_are_the_input_around_the_signature_and_concatenate_to_sign() {
    // RSA PKCS#1 v1.5 is deterministic, so two signings give the same bytes.
    let seal = Seal::new(KeyAlgorithm::Rsa2048);
    let unsigned = document(PDF);
    let signed = sign_parts(&unsigned, &seal.key, &seal.certificate).expect("signed");
    assert!(signed.is_borrowed());
    let [before, signature, after] = signed.parts();
    assert_eq!([before, after].concat(), unsigned, "nothing but the signature is added");
    assert!(after.starts_with(b"</edXML:edXMLHeader>"), "{}", String::from_utf8_lossy(&after[..40]));
    assert!(signature.starts_with(b"<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
    assert!(signature.ends_with(b"</Signature>"));
    assert_eq!(signed.parts().concat(), sign(&unsigned, &seal.key, &seal.certificate).expect("signed"));
    assert_eq!(signed.to_vec(), signed.parts().concat());
    assert_eq!(signed.len(), unsigned.len() + signature.len());
    assert!(!signed.is_empty());
    assert!(seal.xmlsec_verify(&signed.to_vec()).0);
    verify(&signed.to_vec()).expect("verifies");
}

#[test]
fn a_signer_checks_its_certificate_once_and_signs_as_sign_parts_does() {
    // RSA PKCS#1 v1.5 is deterministic, so both ways give the same bytes.
    let seal = Seal::new(KeyAlgorithm::Rsa2048);
    let unsigned = document(PDF);
    let expected = sign(&unsigned, &seal.key, &seal.certificate).expect("signed");
    let Seal { dir: _dir, key, certificate } = seal;
    let signer = Signer::new(key, certificate.clone()).expect("a key and its certificate");
    for _ in 0..2 {
        let signed = signer.sign_parts(&unsigned).expect("signed");
        assert_eq!(signed.to_vec(), expected);
    }
    let other = Seal::new(KeyAlgorithm::Rsa2048);
    let Seal { dir: _other_dir, key: other_key, .. } = other;
    assert!(matches!(Signer::new(other_key, certificate), Err(SignError::CertificateMismatch)));
    let p256 = Seal::new(KeyAlgorithm::P256);
    assert!(matches!(Signer::new(p256.key, b"not a certificate".to_vec()), Err(SignError::BadCertificate(_))));
}

#[test]
fn what_follows_the_signature_is_read_to_the_end() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let signed = sign(&document(PDF), &seal.key, &seal.certificate).expect("signed");
    // A comment after the root changes no digest, but this one is not well-formed ("--").
    let tail = [signed.as_slice(), b"\n<!-- a -- b -->"].concat();
    assert!(matches!(verify(&tail), Err(VerifyError::Malformed(_))), "{:?}", verify(&tail));
    let twice = [b"\xEF\xBB\xBF\xEF\xBB\xBF".as_slice(), &signed].concat();
    assert!(matches!(verify(&twice), Err(VerifyError::Malformed(_))), "{:?}", verify(&twice));
    let refused = sign(&twice, &seal.key, &seal.certificate).expect_err("two byte-order marks");
    assert!(refused.to_string().contains("a second byte-order mark"), "{refused}");
    let text = String::from_utf8(signed).expect("utf-8");
    let signature = &text[text.find("<Signature").expect("sig")..text.find("</Signature>").expect("end") + 12];
    let doubled = text.replacen(signature, &signature.repeat(2), 1);
    assert!(matches!(sign(doubled.as_bytes(), &seal.key, &seal.certificate), Err(SignError::TooManySignatures(2))));
}

#[test]
fn a_byte_order_mark_is_kept_and_the_package_still_verifies() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let unsigned = [b"\xEF\xBB\xBF".as_slice(), &document(PDF)].concat();
    let signed = sign_parts(&unsigned, &seal.key, &seal.certificate).expect("signed");
    assert_eq!(signed.parts()[0].as_ptr(), unsigned.as_ptr());
    let bytes = signed.to_vec();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF<?xml"));
    verify(&bytes).expect("verifies");
    let (ok, said) = seal.xmlsec_verify(&bytes);
    assert!(ok, "xmlsec1 says:\n{said}");
    let again = sign_parts(&bytes, &seal.key, &seal.certificate).expect("signed again");
    assert_eq!(again.parts()[0], signed.parts()[0]);
    verify(&again.to_vec()).expect("verifies");
}

/// A template xmlsec1 fills in: the package with an empty `Signature` of these algorithms.
fn xmlsec_signed(seal: &Seal, signature_method: &str, digest_method: &str) -> Vec<u8> {
    let template = format!(
        "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>\
         <CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <SignatureMethod Algorithm=\"{signature_method}\"/><Reference URI=\"\"><Transforms>\
         <Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></Transforms>\
         <DigestMethod Algorithm=\"{digest_method}\"/><DigestValue/></Reference></SignedInfo>\
         <SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo></Signature>"
    );
    let package = String::from_utf8(document(PDF)).expect("utf-8");
    let package = package.replacen("</edXML:edXMLHeader>", &(template + "</edXML:edXMLHeader>"), 1);
    std::fs::write(seal.path("template.xml"), package).expect("write");
    let key = format!("{},{}", p(&seal.path("seal-key.pem")), p(&seal.path("seal.pem")));
    let out = seal.path("xmlsec-signed.xml");
    let (code, said) =
        run("xmlsec1", &["--sign", "--privkey-pem", &key, "--output", p(&out), p(&seal.path("template.xml"))]);
    assert_eq!(code, 0, "xmlsec1 --sign failed:\n{said}");
    std::fs::read(out).expect("signed by xmlsec1")
}

#[test]
fn xmlsec1_rsa_sha1_signatures_verify_as_legacy() {
    let seal = Seal::new(KeyAlgorithm::Rsa2048);
    let signed = xmlsec_signed(&seal, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", xmlsig::SHA1);
    let verified = verify(&signed).expect("verifies");
    assert_eq!((verified.algorithm(), verified.legacy()), (SignatureAlgorithm::RsaSha1, true));
    assert_eq!(verified.signer_certificate_der(), seal.certificate.as_slice());
    let tampered = tamper(&signed, "Subject>", "V/v", "V/w");
    assert_eq!(verify(&tampered), Err(VerifyError::DigestMismatch));
}

#[test]
fn xmlsec1_ecdsa_and_rsa_sha256_signatures_verify() {
    for (algorithm, expected) in [
        (KeyAlgorithm::P256, SignatureAlgorithm::EcdsaP256Sha256),
        (KeyAlgorithm::Rsa2048, SignatureAlgorithm::RsaSha256),
    ] {
        let seal = Seal::new(algorithm);
        let signed = xmlsec_signed(&seal, expected.uri(), xmlsig::SHA256);
        let verified = verify(&signed).unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert_eq!((verified.algorithm(), verified.legacy()), (expected, false));
    }
}

/// A package whose `Signature` has no namespace of its own (so it is in edXML's default
/// namespace), signed over `SignedInfo` canonicalized as `signed_info_namespace` says.
fn signed_in_edxml_namespace(seal: &Seal, signed_info_namespace: &str) -> Vec<u8> {
    let package = String::from_utf8(document(PDF)).expect("utf-8");
    let exclusive = Canonicalization::exclusive();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &canonicalize(package.as_bytes(), &exclusive).expect("c14n"),
    );
    let signed_info = format!(
        "<SignedInfo><CanonicalizationMethod Algorithm=\"{c14n}\"/><SignatureMethod Algorithm=\"{method}\"/>\
         <Reference URI=\"\"><Transforms><Transform Algorithm=\"{enveloped}\"/><Transform Algorithm=\"{c14n}\"/></Transforms>\
         <DigestMethod Algorithm=\"{sha256}\"/><DigestValue>{digest}</DigestValue></Reference></SignedInfo>",
        c14n = xmlsig::EXC_C14N,
        method = SignatureAlgorithm::RsaSha256.uri(),
        enveloped = xmlsig::ENVELOPED_SIGNATURE,
        sha256 = xmlsig::SHA256,
        digest = STANDARD.encode(digest),
    );
    let standalone =
        signed_info.replacen("<SignedInfo>", &format!("<SignedInfo xmlns=\"{signed_info_namespace}\">"), 1);
    let canonical = canonicalize(standalone.as_bytes(), &exclusive).expect("c14n");
    let value = rcgen::SigningKey::sign(&seal.key, &canonical).expect("signs");
    let signature = format!(
        "<Signature>{signed_info}<SignatureValue>{}</SignatureValue><KeyInfo><X509Data><X509Certificate>{}</X509Certificate></X509Data></KeyInfo></Signature>",
        STANDARD.encode(value),
        STANDARD.encode(&seal.certificate)
    );
    package.replacen("</edXML:edXMLHeader>", &(signature + "</edXML:edXMLHeader>"), 1).into_bytes()
}

#[test]
fn a_signature_outside_the_xmldsig_namespace_is_verified_as_the_document_has_it() {
    let seal = Seal::new(KeyAlgorithm::Rsa2048);
    let as_written = signed_in_edxml_namespace(&seal, EDXML_NS);
    let verified = verify(&as_written).expect("verifies");
    assert_eq!(verified.foreign_namespace(), Some(EDXML_NS));
    let (_, _, warnings) = findings(&as_written);
    assert!(warnings.iter().any(|w| w.contains("signature-namespace")), "{warnings:?}");

    let as_dsig = signed_in_edxml_namespace(&seal, xmlsig::DSIG_NS);
    assert_eq!(verify(&as_dsig), Err(VerifyError::UnverifiableNamespace { namespace: EDXML_NS.into() }));

    let ours = sign(&document(PDF), &seal.key, &seal.certificate).expect("signed");
    let stripped = tamper(&ours, "<Signature", " xmlns=\"http://www.w3.org/2000/09/xmldsig#\"", "");
    assert_eq!(verify(&stripped), Err(VerifyError::UnverifiableNamespace { namespace: EDXML_NS.into() }));
}

#[test]
fn each_failure_is_named() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let unsigned = document(PDF);
    let signed = sign(&unsigned, &seal.key, &seal.certificate).expect("signed");
    let text = String::from_utf8(signed.clone()).expect("utf-8");
    let signature = &text[text.find("<Signature").expect("sig")..text.find("</Signature>").expect("end") + 12];
    let hmac = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
    let cases = [
        (unsigned.clone(), VerifyError::Unsigned),
        (text.replacen(signature, &signature.repeat(2), 1).into_bytes(), VerifyError::TooManySignatures(2)),
        // After the attachments, far from the first: still counted.
        (
            text.replacen("</edXML:edXMLEnvelope>", &format!("{signature}</edXML:edXMLEnvelope>"), 1).into_bytes(),
            VerifyError::TooManySignatures(2),
        ),
        // Inside the first one.
        (
            text.replacen("</Signature>", "<Object><Signature/></Object></Signature>", 1).into_bytes(),
            VerifyError::TooManySignatures(2),
        ),
        (
            text.replacen(SignatureAlgorithm::EcdsaP256Sha256.uri(), hmac, 1).into_bytes(),
            VerifyError::UnsupportedAlgorithm { role: "SignatureMethod", uri: hmac.into() },
        ),
        (
            text.replacen(SignatureAlgorithm::EcdsaP256Sha256.uri(), SignatureAlgorithm::RsaSha256.uri(), 1)
                .into_bytes(),
            VerifyError::UnsupportedKey("the certificate's key cannot make RSA-SHA256 signatures".into()),
        ),
        (
            text.replacen("URI=\"\"", "URI=\"#body\"", 1).into_bytes(),
            VerifyError::UnsupportedReference("URI=\"#body\"; only URI=\"\" is supported".into()),
        ),
        (cut(&text, "<KeyInfo>", "</KeyInfo>"), VerifyError::MissingCertificate),
        (
            text.replacen("<X509Certificate>MII", "<X509Certificate>MIJ", 1).into_bytes(),
            VerifyError::BadCertificate(String::new()),
        ),
        (
            cut(&text, "<SignedInfo>", "</SignedInfo>"),
            VerifyError::MalformedSignature("no <SignedInfo> in <Signature>".into()),
        ),
        (
            text.replacen("<edXML:edXMLEnvelope", "<!DOCTYPE x><edXML:edXMLEnvelope", 1).into_bytes(),
            VerifyError::Unsigned,
        ),
    ];
    for (input, expected) in cases {
        match (verify(&input), &expected) {
            (Err(VerifyError::BadCertificate(_)), VerifyError::BadCertificate(_)) => {}
            (Err(VerifyError::Malformed(_)), VerifyError::Unsigned) if input.windows(9).any(|w| w == b"<!DOCTYPE") => {}
            (found, _) => assert_eq!(found, Err(expected)),
        }
    }
}

fn cut(text: &str, from: &str, through: &str) -> Vec<u8> {
    let start = text.find(from).expect("from");
    let end = text.find(through).expect("through") + through.len();
    [&text[..start], &text[end..]].concat().into_bytes()
}

#[test]
fn signing_refuses_a_certificate_for_another_key_and_a_package_without_header() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let other = Seal::new(KeyAlgorithm::P256);
    assert!(matches!(sign(&document(PDF), &seal.key, &other.certificate), Err(SignError::CertificateMismatch)));
    assert!(matches!(sign(b"<r/>", &seal.key, &seal.certificate), Err(SignError::NoHeader)));
    assert!(matches!(sign(b"<r>", &seal.key, &seal.certificate), Err(SignError::Malformed(_))));
    assert!(matches!(sign(&document(PDF), &seal.key, b"not a certificate"), Err(SignError::BadCertificate(_))));
}

#[test]
fn damaged_signed_packages_never_panic() {
    let seal = Seal::new(KeyAlgorithm::P256);
    let signed = sign(&edxml_status(), &seal.key, &seal.certificate).expect("signed");
    let root_end = signed.iter().rposition(|&b| b == b'>').expect("root end");
    for cut in (0..root_end).step_by(7) {
        assert!(verify(&signed[..cut]).is_err(), "a package cut at {cut} verified");
    }
    for at in (0..signed.len()).step_by(3) {
        let mut damaged = signed.clone();
        damaged[at] ^= 0x20;
        let _ = verify(&damaged);
    }
}

fn edxml_status() -> Vec<u8> {
    crate::support::interop("status.edxml")
}

/// `len` pseudo-random bytes (xorshift from `seed`): a ZIP cannot shrink them.
fn incompressible(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn a_ten_megabyte_package_signs_and_verifies_in_linear_time() {
    // Incompressible content, so the attachment is as large in the package as on disk.
    let content = incompressible(8 * 1024 * 1024, 0x2545_F491_4F6C_DD1D);
    let package = document(&content);
    assert!(package.len() > 10 * 1024 * 1024, "{} bytes", package.len());
    let seal = Seal::new(KeyAlgorithm::P256);
    let started = std::time::Instant::now();
    let signed = sign(&package, &seal.key, &seal.certificate).expect("signed");
    verify(&signed).expect("verifies");
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 30, "signing and verifying {} bytes took {elapsed:?}", package.len());
    assert!(seal.xmlsec_verify(&signed).0);
}

#[test]
fn a_twenty_megabyte_package_is_signed_without_copying_it() {
    let content = incompressible(15 * 1024 * 1024, 0x9E37_79B9_7F4A_7C15);
    let package = document(&content);
    assert!(package.len() > 20 * 1024 * 1024, "{} bytes", package.len());
    let seal = Seal::new(KeyAlgorithm::P256);
    let signed = sign_parts(&package, &seal.key, &seal.certificate).expect("signed");
    let [before, signature, after] = signed.parts();
    let input = package.as_ptr_range();
    assert_eq!(before.as_ptr(), input.start, "the part before the signature is the input's");
    assert_eq!(before.as_ptr_range().end, after.as_ptr(), "the parts around the signature are contiguous in the input");
    assert_eq!(after.as_ptr_range().end, input.end, "the part after the signature is the input's");
    assert!(signature.len() < 4096, "{} bytes", signature.len());
    assert_eq!(signed.len(), package.len() + signature.len());
    verify(&signed.to_vec()).expect("verifies");
}
