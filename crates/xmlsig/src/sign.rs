//! Signing: an enveloped XMLDSig signature (exclusive C14N, SHA-256, RSA-SHA256 or ECDSA-SHA256)
//! put where edXML keeps it, as the last child of `edXML:edXMLHeader`.
//!
//! The `Signature` element goes immediately before `</edXML:edXMLHeader>`, with no whitespace
//! added, so the package with the signature removed (what the enveloped-signature transform
//! digests) is the input itself: the digest is computed over the input, and the signed package is
//! the input's bytes around the new element ([`Signed`]), with nothing copied.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pki::{KeyAlgorithm, KeyPair};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::algorithm::{DSIG_NS, ENVELOPED_SIGNATURE, EXC_C14N, SHA256, SignatureAlgorithm};
use crate::c14n::{Canonicalization, Landmarks, Selection, canonicalize_into};
use crate::error::SignError;
use crate::outline::{Found, outline};
use crate::xml::document_text;

/// A signed package as the input's bytes around a new `Signature` element; nothing copied.
///
/// The exception: when the input already carries a signature, the package without it (and the
/// blank text before it) is a new document, which this owns; the new signature then goes into
/// that copy. Only [`sign_parts`] makes one.
#[derive(Clone)]
pub struct Signed<'a> {
    /// The package without any signature: the input itself, or the copy without its old one.
    document: Cow<'a, [u8]>,
    /// Where the `Signature` goes in `document`: the offset of `</edXML:edXMLHeader>`.
    at: usize,
    /// The `Signature` element.
    signature: String,
}

impl Signed<'_> {
    /// The signed package in order: before, the `Signature` element, after. When the input had
    /// no signature, the first and last parts are slices of the input.
    pub fn parts(&self) -> [&[u8]; 3] {
        let (before, after) = self.document.split_at(self.at);
        [before, self.signature.as_bytes(), after]
    }

    /// The signed package's length in bytes.
    pub fn len(&self) -> usize {
        self.document.len() + self.signature.len()
    }

    /// Whether the signed package is empty (it never is: it holds at least the signature).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the parts around the signature borrow the input (false when an old signature
    /// had to be removed from a copy).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.document, Cow::Borrowed(_))
    }

    /// The signed package in one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in self.parts() {
            out.extend_from_slice(part);
        }
        out
    }
}

impl std::fmt::Debug for Signed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("len", &self.len())
            .field("at", &self.at)
            .field("borrowed", &self.is_borrowed())
            .finish_non_exhaustive()
    }
}

/// Signs `package_xml` with the agency's seal key and certificate (DER), replacing any signature
/// it carries, and returns the signed package in one buffer: [`sign_parts`], concatenated.
pub fn sign(package_xml: &[u8], key: &KeyPair, certificate_der: &[u8]) -> Result<Vec<u8>, SignError> {
    Ok(sign_parts(package_xml, key, certificate_der)?.to_vec())
}

/// Signs `package_xml` with the agency's seal key and certificate (DER), replacing any signature
/// it carries. The certificate must be for `key`. The result borrows the input: the new
/// `Signature` goes immediately before `</edXML:edXMLHeader>`, nothing else changes (a UTF-8
/// byte-order mark, if any, is kept). Only when the input already carries a signature is a copy
/// made (the input without it), which the result owns.
pub fn sign_parts<'a>(package_xml: &'a [u8], key: &KeyPair, certificate_der: &[u8]) -> Result<Signed<'a>, SignError> {
    let subject_name = check_certificate(key, certificate_der)?;
    sign_checked(package_xml, key, certificate_der, subject_name.as_deref())
}

/// A seal key with its certificate, checked once to certify the key: it signs package after
/// package without reading the certificate again.
pub struct Signer {
    key: KeyPair,
    certificate_der: Vec<u8>,
    /// The certificate's subject (RFC 4514), for `X509SubjectName`.
    subject_name: Option<String>,
}

impl Signer {
    /// The seal `key` with its certificate (DER), which must be for `key`.
    pub fn new(key: KeyPair, certificate_der: Vec<u8>) -> Result<Self, SignError> {
        let subject_name = check_certificate(&key, &certificate_der)?;
        Ok(Self { key, certificate_der, subject_name })
    }

    /// Signs `package_xml` as [`sign_parts`] does.
    pub fn sign_parts<'a>(&self, package_xml: &'a [u8]) -> Result<Signed<'a>, SignError> {
        sign_checked(package_xml, &self.key, &self.certificate_der, self.subject_name.as_deref())
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("subject", &self.subject_name).finish_non_exhaustive()
    }
}

/// [`sign_parts`] with a certificate already checked to be for `key`.
fn sign_checked<'a>(
    package_xml: &'a [u8],
    key: &KeyPair,
    certificate_der: &[u8],
    subject_name: Option<&str>,
) -> Result<Signed<'a>, SignError> {
    let algorithm = match key.algorithm() {
        KeyAlgorithm::P256 => SignatureAlgorithm::EcdsaP256Sha256,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => SignatureAlgorithm::RsaSha256,
    };
    let text = document_text(package_xml)?;
    // Offsets in the text are after the byte-order mark the document keeps.
    let bom = package_xml.len() - text.len();
    // One pass when the package has no signature yet (what a gateway builds): the digest's pass
    // finds where the header ends too. A signature to replace (a package a client system signed)
    // is found, cut out and the rest digested: three passes.
    let (first_digest, landmarks) = digest(text)?;
    let (document, landmarks, digest) = match landmarks.signatures {
        0 => (Cow::Borrowed(package_xml), landmarks, first_digest),
        1 => {
            let document = without_signature(package_xml, text)?;
            let (digest, landmarks) = digest(document_text(&document)?)?;
            (document, landmarks, digest)
        }
        count => return Err(SignError::TooManySignatures(count)),
    };
    let header_end = landmarks.header_end.ok_or(SignError::NoHeader)?;
    let signed_info = signed_info(algorithm, &digest);
    let value = signature_value(key, algorithm, &signed_info)?;
    let signature = signature_element(&signed_info, &value, subject_name, certificate_der);
    let at = bom + header_end;
    Ok(Signed { document, at, signature })
}

/// The certificate's subject as an RFC 4514 string (for `X509SubjectName`), after checking it
/// certifies `key`.
fn check_certificate(key: &KeyPair, certificate_der: &[u8]) -> Result<Option<String>, SignError> {
    let (rest, certificate) =
        X509Certificate::from_der(certificate_der).map_err(|e| SignError::BadCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SignError::BadCertificate("trailing bytes after the certificate".into()));
    }
    if certificate.public_key().raw != key.public_key_der().as_slice() {
        return Err(SignError::CertificateMismatch);
    }
    Ok(crate::name::rfc4514(certificate.subject()))
}

/// A copy of the package (`text` its text) without its one signature and the blank text before
/// it (see [`cut_from`]), so a new one replaces it; a byte-order mark is kept.
fn without_signature<'p>(package_xml: &[u8], text: &str) -> Result<Cow<'p, [u8]>, SignError> {
    let bom = package_xml.len() - text.len();
    let found = outline(text)?;
    match found.signatures.as_slice() {
        [old] if found.landmarks.signatures == 1 => {
            let copy = [&package_xml[..bom + cut_from(text, old)], &package_xml[bom + old.span.1..]].concat();
            Ok(Cow::Owned(copy))
        }
        // Not reached: this pass counts with the digest's code, which found exactly one.
        _ => Err(SignError::TooManySignatures(found.landmarks.signatures)),
    }
}

/// Where an old signature's removal starts: at the blank text before it when blank text follows
/// it too (the indented layout), else at its start tag (this crate's layout, where it touches
/// `</edXML:edXMLHeader>`), so signing again keeps the document's formatting.
fn cut_from(text: &str, old: &Found) -> usize {
    let followed_by_space = text[old.span.1..].starts_with([' ', '\t', '\n', '\r']);
    if followed_by_space { old.leading_space } else { old.span.0 }
}

/// SHA-256 of the exclusive canonical form of the document (which, without a signature, is
/// exactly what the enveloped-signature transform will see), and its [`Landmarks`].
fn digest(document: &str) -> Result<(Vec<u8>, Landmarks), SignError> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let landmarks = canonicalize_into(
        document,
        &Canonicalization::exclusive(),
        Selection::Document { except: None },
        &mut context,
    )?;
    Ok((context.finish().as_ref().to_vec(), landmarks))
}

/// `SignedInfo`, written in its canonical form (exclusive C14N of it, in place, is the same
/// bytes: it uses only the default namespace, declared here as on the `Signature`).
fn signed_info(algorithm: SignatureAlgorithm, digest: &[u8]) -> String {
    let method = |name: &str, uri: &str| format!("<{name} Algorithm=\"{uri}\"></{name}>");
    [
        format!("<SignedInfo xmlns=\"{DSIG_NS}\">"),
        method("CanonicalizationMethod", EXC_C14N),
        method("SignatureMethod", algorithm.uri()),
        "<Reference URI=\"\"><Transforms>".into(),
        method("Transform", ENVELOPED_SIGNATURE),
        method("Transform", EXC_C14N),
        "</Transforms>".into(),
        method("DigestMethod", SHA256),
        format!("<DigestValue>{}</DigestValue></Reference></SignedInfo>", STANDARD.encode(digest)),
    ]
    .concat()
}

/// The signature over canonical `SignedInfo`, as XMLDSig wants it (ECDSA: `r || s`).
fn signature_value(key: &KeyPair, algorithm: SignatureAlgorithm, signed_info: &str) -> Result<Vec<u8>, SignError> {
    // Canonicalized through the same code the verifier uses, so both agree by construction.
    let mut canonical = Vec::with_capacity(signed_info.len());
    canonicalize_into(
        signed_info,
        &Canonicalization::exclusive(),
        Selection::Document { except: None },
        &mut canonical,
    )?;
    let signature = rcgen::SigningKey::sign(key, &canonical).map_err(|e| SignError::Signing(e.to_string()))?;
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => {
            ecdsa_der_to_fixed(&signature, 32).ok_or_else(|| SignError::Signing("not a DER ECDSA signature".into()))
        }
        _ => Ok(signature),
    }
}

/// The `Signature` element. `SignedInfo` keeps its canonical text, minus the namespace
/// declaration it inherits from `Signature`.
fn signature_element(signed_info: &str, value: &[u8], subject: Option<&str>, certificate_der: &[u8]) -> String {
    let signed_info = signed_info.replacen(&format!(" xmlns=\"{DSIG_NS}\""), "", 1);
    let subject = subject.map(|name| format!("<X509SubjectName>{}</X509SubjectName>", escape_text(name)));
    format!(
        "<Signature xmlns=\"{DSIG_NS}\">{signed_info}<SignatureValue>{}</SignatureValue>\
         <KeyInfo><X509Data>{}<X509Certificate>{}</X509Certificate></X509Data></KeyInfo></Signature>",
        STANDARD.encode(value),
        subject.unwrap_or_default(),
        STANDARD.encode(certificate_der),
    )
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A DER `ECDSA-Sig-Value` (SEQUENCE of two INTEGERs) as `r || s`, each `width` bytes.
fn ecdsa_der_to_fixed(der: &[u8], width: usize) -> Option<Vec<u8>> {
    let (body, rest) = der_item(der, 0x30)?;
    let (r, after_r) = der_item(body, 0x02)?;
    let (s, after_s) = der_item(after_r, 0x02)?;
    if !rest.is_empty() || !after_s.is_empty() {
        return None;
    }
    let mut fixed = Vec::with_capacity(2 * width);
    for integer in [r, s] {
        let magnitude = integer.iter().position(|&b| b != 0).map_or(&integer[integer.len()..], |i| &integer[i..]);
        if magnitude.len() > width {
            return None;
        }
        fixed.resize(fixed.len() + width - magnitude.len(), 0);
        fixed.extend_from_slice(magnitude);
    }
    Some(fixed)
}

/// One DER item with tag `tag` and a short or one/two-byte long length: its content and what follows.
fn der_item(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if found != tag {
        return None;
    }
    let (length, rest) = match first {
        0..=0x7F => (usize::from(first), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?), rest.get(2..)?),
        _ => return None,
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_ecdsa_signatures_become_fixed_width() {
        let der = [0x30, 0x08, 0x02, 0x02, 0x00, 0x81, 0x02, 0x02, 0x01, 0x02];
        let fixed = ecdsa_der_to_fixed(&der, 4);
        assert_eq!(fixed, Some(vec![0, 0, 0, 0x81, 0, 0, 1, 2]));
        assert_eq!(ecdsa_der_to_fixed(&der[..9], 4), None);
        assert_eq!(ecdsa_der_to_fixed(&[0x30, 0x00], 4), None);
    }
}
