//! Verification of a package's enveloped signature: structure, algorithms, the reference digest
//! over the package without its signature, then the signature value with the certificate's key.
//! The certificate's chain and revocation are the caller's to check.

use aws_lc_rs::signature::{self as aws, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::algorithm::{C14N, DSIG_NS, DigestAlgorithm, ENVELOPED_SIGNATURE, EXC_C14N, SignatureAlgorithm};
use crate::c14n::{Canonicalization, Selection, canonicalize_into};
use crate::error::VerifyError;
use crate::outline::{Element, through_first_signature};
use crate::xml::document_text;

/// Certificates accepted in one `KeyInfo`.
const MAX_CERTIFICATES: usize = 8;

/// A signature that verified. Only [`verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    signer_certificate_der: Vec<u8>,
    algorithm: SignatureAlgorithm,
    legacy: bool,
    foreign_namespace: Option<String>,
}

impl Verified {
    /// The certificate (DER) whose key verified the signature: check its chain and revocation next.
    pub fn signer_certificate_der(&self) -> &[u8] {
        &self.signer_certificate_der
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// Whether SHA-1 was involved (RSA-SHA1 signature or SHA-1 digest): accepted on input only.
    pub fn legacy(&self) -> bool {
        self.legacy
    }

    /// The namespace of the `Signature` element when it is not XMLDSig's (`""`: none), a
    /// tolerance to report. Its `SignedInfo` was canonicalized in the namespace the document
    /// gives it.
    pub fn foreign_namespace(&self) -> Option<&str> {
        self.foreign_namespace.as_deref()
    }
}

/// Verifies the one enveloped signature of `package_xml`.
pub fn verify(package_xml: &[u8]) -> Result<Verified, VerifyError> {
    let text = document_text(package_xml)?;
    // The document is read up to its first signature, then whole by the digest's pass, which
    // counts every signature: one more anywhere refuses the package before its digest is compared.
    let found = through_first_signature(text)?;
    let signature = match (found.landmarks.signatures, found.signatures.first()) {
        (1, Some(signature)) => signature,
        (0, _) => return Err(VerifyError::Unsigned),
        (count, _) => return Err(VerifyError::TooManySignatures(count)),
    };
    let parts = Parts::read(&signature.tree)?;
    let certificates = parts.certificates()?;

    let mut digest = aws_lc_rs::digest::Context::new(parts.digest.aws_lc());
    let enveloped = Selection::Document { except: Some(signature.span.0) };
    let landmarks = canonicalize_into(text, &parts.reference_c14n, enveloped, &mut digest)?;
    if landmarks.signatures != 1 {
        return Err(VerifyError::TooManySignatures(landmarks.signatures));
    }
    if digest.finish().as_ref() != parts.digest_value.as_slice() {
        return Err(VerifyError::DigestMismatch);
    }

    let mut signed_info = Vec::new();
    canonicalize_into(
        text,
        &parts.signed_info_c14n,
        Selection::Subtree { at: parts.signed_info_at },
        &mut signed_info,
    )?;
    let signer = verify_value(&certificates, parts.algorithm, &signed_info, &parts.signature_value);
    let foreign_namespace = (signature.tree.ns != DSIG_NS).then(|| signature.tree.ns.clone());
    match (signer, &foreign_namespace) {
        (Ok(der), _) => Ok(Verified {
            signer_certificate_der: der.to_vec(),
            algorithm: parts.algorithm,
            legacy: parts.algorithm.is_legacy() || parts.digest == DigestAlgorithm::Sha1,
            foreign_namespace,
        }),
        (Err(VerifyError::BadSignature), Some(namespace)) => {
            Err(VerifyError::UnverifiableNamespace { namespace: namespace.clone() })
        }
        (Err(error), _) => Err(error),
    }
}

/// What a `Signature` says, checked for shape and supported algorithms.
struct Parts {
    signed_info_at: usize,
    signed_info_c14n: Canonicalization,
    algorithm: SignatureAlgorithm,
    reference_c14n: Canonicalization,
    digest: DigestAlgorithm,
    digest_value: Vec<u8>,
    signature_value: Vec<u8>,
    certificates_base64: Vec<String>,
}

impl Parts {
    fn read(signature: &Element) -> Result<Self, VerifyError> {
        for child in &signature.children {
            if !matches!(child.local.as_str(), "SignedInfo" | "SignatureValue" | "KeyInfo" | "Object") {
                return Err(malformed(format!("unexpected <{}> in Signature", child.local)));
            }
        }
        let signed_info = one(signature, "SignedInfo")?;
        let signature_value = decode_base64(&one(signature, "SignatureValue")?.text, "SignatureValue")?;
        let key_info = at_most_one(signature, "KeyInfo")?;
        let algorithm = algorithm_of(one(signed_info, "SignatureMethod")?, "SignatureMethod")?;
        let algorithm =
            SignatureAlgorithm::from_uri(algorithm).ok_or_else(|| unsupported("SignatureMethod", algorithm))?;
        let signed_info_c14n = canonicalization(one(signed_info, "CanonicalizationMethod")?, "CanonicalizationMethod")?;
        let reference = match signed_info.children_named("Reference").count() {
            1 => one(signed_info, "Reference")?,
            n => return Err(VerifyError::UnsupportedReference(format!("{n} references; exactly one is supported"))),
        };
        let (reference_c14n, digest, digest_value) = read_reference(reference)?;
        let certificates_base64 = key_info
            .into_iter()
            .flat_map(|k| k.children_named("X509Data"))
            .flat_map(|d| d.children_named("X509Certificate"))
            .map(|c| c.text.clone())
            .collect();
        Ok(Self {
            signed_info_at: signed_info.start,
            signed_info_c14n,
            algorithm,
            reference_c14n,
            digest,
            digest_value,
            signature_value,
            certificates_base64,
        })
    }

    /// The `KeyInfo` certificates, decoded and parsed.
    fn certificates(&self) -> Result<Vec<Vec<u8>>, VerifyError> {
        if self.certificates_base64.is_empty() {
            return Err(VerifyError::MissingCertificate);
        }
        if self.certificates_base64.len() > MAX_CERTIFICATES {
            return Err(malformed(format!("more than {MAX_CERTIFICATES} certificates in KeyInfo")));
        }
        let mut certificates = Vec::new();
        for text in &self.certificates_base64 {
            let der = decode_base64(text, "X509Certificate")
                .map_err(|_| VerifyError::BadCertificate("X509Certificate is not base64".into()))?;
            match X509Certificate::from_der(&der) {
                Ok((&[], _)) => certificates.push(der),
                Ok(_) => return Err(VerifyError::BadCertificate("trailing bytes after the certificate".into())),
                Err(e) => return Err(VerifyError::BadCertificate(e.to_string())),
            }
        }
        Ok(certificates)
    }
}

/// A `Reference URI=""` with the enveloped-signature transform, then at most one C14N transform
/// (without one, XMLDSig converts the node-set to octets with inclusive C14N).
fn read_reference(reference: &Element) -> Result<(Canonicalization, DigestAlgorithm, Vec<u8>), VerifyError> {
    match reference.attribute("URI") {
        Some("") => {}
        Some(uri) => return Err(VerifyError::UnsupportedReference(format!("URI={uri:?}; only URI=\"\" is supported"))),
        None => return Err(VerifyError::UnsupportedReference("a Reference without URI".into())),
    }
    let transforms: Vec<&Element> =
        at_most_one(reference, "Transforms")?.into_iter().flat_map(|t| t.children_named("Transform")).collect();
    let c14n = match transforms.as_slice() {
        [first, rest @ ..] if algorithm_of(first, "Transform")? == ENVELOPED_SIGNATURE => match rest {
            [] => Canonicalization::Inclusive,
            [c14n] => canonicalization(c14n, "Transform")?,
            [_, extra, ..] => return Err(unsupported("Transform", algorithm_of(extra, "Transform")?)),
        },
        _ => {
            return Err(VerifyError::UnsupportedReference(
                "the first transform is not enveloped-signature, so the digest cannot match a signature inside the document"
                    .into(),
            ));
        }
    };
    let digest_uri = algorithm_of(one(reference, "DigestMethod")?, "DigestMethod")?;
    let digest = DigestAlgorithm::from_uri(digest_uri).ok_or_else(|| unsupported("DigestMethod", digest_uri))?;
    let value = decode_base64(&one(reference, "DigestValue")?.text, "DigestValue")?;
    Ok((c14n, digest, value))
}

/// A canonicalization named by `element`'s `Algorithm` (with its `InclusiveNamespaces PrefixList`).
fn canonicalization(element: &Element, role: &'static str) -> Result<Canonicalization, VerifyError> {
    match algorithm_of(element, role)? {
        C14N => Ok(Canonicalization::Inclusive),
        EXC_C14N => {
            let list = element.children_named("InclusiveNamespaces").find_map(|e| e.attribute("PrefixList"));
            let inclusive_prefixes = list.unwrap_or_default().split_ascii_whitespace().map(str::to_owned).collect();
            Ok(Canonicalization::Exclusive { inclusive_prefixes })
        }
        other => Err(unsupported(role, other)),
    }
}

/// Verifies `value` over `message` with each certificate's key; the first that verifies signed it.
fn verify_value<'c>(
    certificates: &'c [Vec<u8>],
    algorithm: SignatureAlgorithm,
    message: &[u8],
    value: &[u8],
) -> Result<&'c [u8], VerifyError> {
    let mut first_error = None;
    for der in certificates {
        match verifier(der, algorithm) {
            Ok((verifier, key)) => {
                if UnparsedPublicKey::new(verifier, key).verify(message, value).is_ok() {
                    return Ok(der);
                }
                first_error = Some(VerifyError::BadSignature);
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(VerifyError::MissingCertificate))
}

/// The verification algorithm for `algorithm` with this certificate's key, and the key.
fn verifier(
    der: &[u8],
    algorithm: SignatureAlgorithm,
) -> Result<(&'static dyn VerificationAlgorithm, Vec<u8>), VerifyError> {
    let (_, certificate) = X509Certificate::from_der(der).map_err(|e| VerifyError::BadCertificate(e.to_string()))?;
    let spki = &certificate.tbs_certificate.subject_pki;
    let key = spki.subject_public_key.data.to_vec();
    let is_p256 = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok())
        == Some(x509_parser::oid_registry::OID_EC_P256);
    let mismatch = || VerifyError::UnsupportedKey(format!("the certificate's key cannot make {algorithm} signatures"));
    let verifier: &'static dyn VerificationAlgorithm = match (algorithm, spki.parsed()) {
        (SignatureAlgorithm::EcdsaP256Sha256, Ok(PublicKey::EC(_))) if is_p256 => &aws::ECDSA_P256_SHA256_FIXED,
        (SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::RsaSha1, Ok(PublicKey::RSA(rsa)))
            if rsa.key_size() < 2048 =>
        {
            return Err(VerifyError::UnsupportedKey(format!("RSA-{} is too weak", rsa.key_size())));
        }
        (SignatureAlgorithm::RsaSha256, Ok(PublicKey::RSA(_))) => &aws::RSA_PKCS1_2048_8192_SHA256,
        (SignatureAlgorithm::RsaSha1, Ok(PublicKey::RSA(_))) => &aws::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        _ => return Err(mismatch()),
    };
    Ok((verifier, key))
}

fn one<'e>(parent: &'e Element, local: &str) -> Result<&'e Element, VerifyError> {
    at_most_one(parent, local)?.ok_or_else(|| malformed(format!("no <{local}> in <{}>", parent.local)))
}

fn at_most_one<'e>(parent: &'e Element, local: &str) -> Result<Option<&'e Element>, VerifyError> {
    let mut found = parent.children_named(local);
    let first = found.next();
    if found.next().is_some() {
        return Err(malformed(format!("more than one <{local}> in <{}>", parent.local)));
    }
    Ok(first)
}

fn algorithm_of<'e>(element: &'e Element, role: &str) -> Result<&'e str, VerifyError> {
    element.attribute("Algorithm").ok_or_else(|| malformed(format!("<{role}> has no Algorithm")))
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| malformed(format!("{what} is not base64")))
}

fn malformed(what: String) -> VerifyError {
    VerifyError::MalformedSignature(what)
}

fn unsupported(role: &'static str, uri: &str) -> VerifyError {
    VerifyError::UnsupportedAlgorithm { role, uri: uri.chars().take(200).collect() }
}
