//! The SDK's sample packages: what verification says of their signatures, and that signing them
//! (real formatting: CRLF line ends, indentation, a signature to replace) satisfies xmlsec1.

use pki::KeyAlgorithm;
use xmlsig::{VerifyError, XmlErrorKind, sign, sign_parts, verify};

use crate::support::{Seal, interop, interop_dir};

fn samples() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(interop_dir())
        .expect("interop samples")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().map(|name| (name.clone(), interop(&name))).collect()
}

#[test]
fn what_verification_says_of_the_sdk_samples() {
    let transform =
        || VerifyError::UnsupportedAlgorithm { role: "Transform", uri: "http://www.w3.org/TR/xml-exc-c14n#".into() };
    for (name, bytes) in samples() {
        let result = verify(&bytes);
        println!("{name}: {result:?}");
        match name.as_str() {
            // "1212" precedes the XML declaration: not well-formed.
            "edoc_new.edxml" => {
                assert!(
                    matches!(&result, Err(VerifyError::Malformed(e)) if matches!(e.kind, XmlErrorKind::Structure(_) | XmlErrorKind::Syntax(_))),
                    "{name}: {result:?}"
                )
            }
            // A misspelt exc-c14n URI (and a truncated certificate, and one digest for four documents): dummies.
            n if n.starts_with("edoc_") => assert_eq!(result, Err(transform()), "{name}"),
            _ => assert_eq!(result, Err(VerifyError::Unsigned), "{name}"),
        }
    }
}

#[test]
fn signed_sdk_samples_verify_with_xmlsec1_and_with_us() {
    let seal = Seal::new(KeyAlgorithm::Rsa2048);
    for (name, bytes) in samples().into_iter().filter(|(name, _)| name != "edoc_new.edxml") {
        let signed = sign(&bytes, &seal.key, &seal.certificate).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(signed.clone()).expect("utf-8");
        assert_eq!(text.matches("</Signature>").count(), 1, "{name}");
        verify(&signed).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (ok, said) = seal.xmlsec_verify(&signed);
        assert!(ok, "{name}: xmlsec1 says:\n{said}");
        // Signing the signed package again keeps everything around the signature.
        let again = sign_parts(&signed, &seal.key, &seal.certificate).unwrap_or_else(|e| panic!("{name}: {e}"));
        let first = sign_parts(&bytes, &seal.key, &seal.certificate).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((again.parts()[0], again.parts()[2]), (first.parts()[0], first.parts()[2]), "{name}");
        assert!(first.parts()[2].starts_with(b"</edXML:edXMLHeader>"), "{name}");
    }
}
