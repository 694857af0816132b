//! Key algorithms the authority issues with: ECDSA P-256 by default, RSA for compatibility.

use std::fmt;
use std::str::FromStr;

/// A key algorithm (and the signature algorithm used with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256.
    #[default]
    P256,
    /// RSA 2048-bit, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072-bit, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
}

/// An algorithm name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm {0:?}: choose p256, rsa2048 or rsa3072")]
pub struct UnknownAlgorithm(pub String);

impl KeyAlgorithm {
    /// The rcgen signature algorithm for keys of this kind.
    pub(crate) fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Rsa2048 | Self::Rsa3072 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The name used on the command line and in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
        }
    }
}

impl FromStr for KeyAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "p256" => Ok(Self::P256),
            "rsa2048" => Ok(Self::Rsa2048),
            "rsa3072" => Ok(Self::Rsa3072),
            _ => Err(UnknownAlgorithm(text.to_owned())),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
