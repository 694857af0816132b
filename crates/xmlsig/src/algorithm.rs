//! The algorithms we produce and accept, and their XMLDSig URIs.

use std::fmt;

/// The XML Signature namespace.
pub use edxml::DSIG_NS;

/// Exclusive XML Canonicalization 1.0 (without comments).
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Canonical XML 1.0 (without comments).
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// The enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// SHA-256 digest.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// SHA-1 digest (legacy: accepted on input only).
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
    /// ECDSA on P-256 with SHA-256; the value is `r || s`, 32 bytes each.
    EcdsaP256Sha256,
    /// RSA PKCS#1 v1.5 with SHA-1: verified on input, never produced.
    RsaSha1,
}

impl SignatureAlgorithm {
    /// Its XMLDSig URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::EcdsaP256Sha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }

    /// The algorithm a URI names, if we accept it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        [Self::RsaSha256, Self::EcdsaP256Sha256, Self::RsaSha1].into_iter().find(|a| a.uri() == uri)
    }

    /// Whether it is accepted on input only (SHA-1).
    pub fn is_legacy(self) -> bool {
        self == Self::RsaSha1
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RsaSha256 => "RSA-SHA256",
            Self::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
            Self::RsaSha1 => "RSA-SHA1 (legacy)",
        })
    }
}

/// A digest algorithm of a `Reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestAlgorithm {
    Sha256,
    Sha1,
}

impl DigestAlgorithm {
    pub(crate) fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            SHA256 => Some(Self::Sha256),
            SHA1 => Some(Self::Sha1),
            _ => None,
        }
    }

    pub(crate) fn aws_lc(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}
