//! Revocation reasons (RFC 5280 §5.3.1), by the names OpenSSL and the command line use.

use std::fmt;
use std::str::FromStr;

/// Why a certificate was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The subscriber's key is compromised.
    KeyCompromise,
    /// The CA's key is compromised.
    CaCompromise,
    /// The subscriber left the organisation or changed its name.
    AffiliationChanged,
    /// Replaced by a newer certificate (e.g. re-issued on change of position).
    Superseded,
    /// No longer needed.
    CessationOfOperation,
    /// Suspended; may be unsuspended.
    CertificateHold,
    /// Privileges withdrawn.
    PrivilegeWithdrawn,
}

/// A reason name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?}: use unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold or privilegeWithdrawn"
)]
pub struct UnknownReason(pub String);

impl RevocationReason {
    /// Every reason.
    pub const ALL: &'static [Self] = &[
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::PrivilegeWithdrawn => 9,
        }
    }

    /// From a stored CRLReason code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
    }

    /// As rcgen lists it; an unspecified reason is omitted from the CRL entry (RFC 5280).
    pub(crate) fn rcgen(self) -> Option<rcgen::RevocationReason> {
        use rcgen::RevocationReason as R;
        match self {
            Self::Unspecified => None,
            Self::KeyCompromise => Some(R::KeyCompromise),
            Self::CaCompromise => Some(R::CaCompromise),
            Self::AffiliationChanged => Some(R::AffiliationChanged),
            Self::Superseded => Some(R::Superseded),
            Self::CessationOfOperation => Some(R::CessationOfOperation),
            Self::CertificateHold => Some(R::CertificateHold),
            Self::PrivilegeWithdrawn => Some(R::PrivilegeWithdrawn),
        }
    }
}

impl FromStr for RevocationReason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownReason(text.to_owned()))
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
