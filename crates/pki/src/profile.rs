//! Certificate profiles: what each kind of subscriber's certificate says and allows.

use std::fmt;
use std::str::FromStr;

use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};

use crate::KeyAlgorithm;

/// The kinds of certificate the authority issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// An agency's seal: signs on behalf of the agency and seals the packages its gateway sends.
    Organization,
    /// A person holding a position in a unit.
    Official,
    /// A gateway ("secure server"): TLS server and client, and the key packages are encrypted to.
    Gateway,
    /// An OCSP responder delegated by the issuing CA (carries id-pkix-ocsp-nocheck).
    Ocsp,
    /// A timestamp authority (RFC 3161): critical timeStamping only.
    Tsa,
}

/// A profile name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}: choose organization, official, gateway, ocsp or tsa")]
pub struct UnknownProfile(pub String);

/// RFC 9336 id-kp-documentSigning.
pub const DOCUMENT_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 36];

impl Profile {
    /// Every profile.
    pub const ALL: &'static [Self] = &[Self::Organization, Self::Official, Self::Gateway, Self::Ocsp, Self::Tsa];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Official => "official",
            Self::Gateway => "gateway",
            Self::Ocsp => "ocsp",
            Self::Tsa => "tsa",
        }
    }

    /// How long certificates of this profile are valid, in days.
    pub fn validity_days(self) -> i64 {
        match self {
            Self::Organization | Self::Official => 3 * 365,
            Self::Gateway => 2 * 365,
            Self::Ocsp => 365,
            Self::Tsa => 6 * 365,
        }
    }

    /// Whether the subject must carry the agency code.
    pub fn needs_agency(self) -> bool {
        matches!(self, Self::Organization | Self::Official | Self::Gateway)
    }

    /// Key usages, as the certificate will state them (critical).
    pub fn key_usages(self, key: KeyAlgorithm) -> Vec<Ku> {
        match self {
            Self::Organization | Self::Official => vec![Ku::DigitalSignature, Ku::ContentCommitment],
            Self::Gateway if key == KeyAlgorithm::P256 => vec![Ku::DigitalSignature, Ku::KeyAgreement],
            Self::Gateway => vec![Ku::DigitalSignature, Ku::KeyEncipherment],
            Self::Ocsp => vec![Ku::DigitalSignature],
            Self::Tsa => vec![Ku::DigitalSignature, Ku::ContentCommitment],
        }
    }

    /// Extended key usages rcgen writes (non-critical); the TSA's critical one is written apart.
    pub fn extended_key_usages(self) -> Vec<Eku> {
        match self {
            Self::Organization | Self::Official => vec![Eku::Other(DOCUMENT_SIGNING.to_vec()), Eku::EmailProtection],
            Self::Gateway => vec![Eku::ServerAuth, Eku::ClientAuth],
            Self::Ocsp => vec![Eku::OcspSigning],
            Self::Tsa => Vec::new(),
        }
    }
}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|p| p.as_str() == text).ok_or_else(|| UnknownProfile(text.to_owned()))
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
