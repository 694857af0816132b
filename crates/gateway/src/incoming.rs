//! On the way in: a sealed package is opened with this gateway's key, its XML signature
//! verified, its signer's certificate checked against the trust store (chain, purpose,
//! revocation), and the edXML parsed and validated. Any failure is a [`Refusal`] whose reason
//! goes back to the sender as status 02.

use bytes::Bytes;
use edxml::{Limits, Package, Severity, ZipLimits};
use time::OffsetDateTime;

use crate::outgoing::describe;
use crate::trust::{Trust, TrustError};

/// A package that passed every check. Only [`check_package`] makes one.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Shared with the parsed package's attachments, which are slices of it.
    edxml: Bytes,
    package: Package,
    signer_subject: String,
    legacy_signature: bool,
}

impl Opened {
    /// The signed edXML, as the sender signed it.
    pub fn edxml(&self) -> &[u8] {
        &self.edxml
    }

    /// The same bytes, shared rather than copied.
    pub(crate) fn shared_edxml(&self) -> Bytes {
        self.edxml.clone()
    }

    /// The parsed package.
    pub fn package(&self) -> &Package {
        &self.package
    }

    /// The signer's certificate subject.
    pub fn signer_subject(&self) -> &str {
        &self.signer_subject
    }

    /// Whether the signature used SHA-1 (accepted on input, reported).
    pub fn legacy_signature(&self) -> bool {
        self.legacy_signature
    }

    /// The DocumentId, recipients, and whether it is a status package.
    pub fn describe(&self) -> (Option<String>, Vec<String>, bool) {
        describe(&self.package)
    }
}

/// Why a package was refused (reported to the sender as status 02, with this text).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// It is not sealed for us, or was tampered with in transit.
    #[error("the package cannot be opened: {0}")]
    Sealed(String),
    /// The signature is missing or does not verify.
    #[error("the signature does not verify: {0}")]
    Signature(String),
    /// The signer is not trusted (chain, purpose, revocation).
    #[error(transparent)]
    Signer(#[from] TrustError),
    /// The content is not valid edXML.
    #[error("the package is not valid edXML: {0}")]
    Invalid(String),
    /// The signer is not the sending agency.
    #[error("the package is signed by {signer}, not by the sending agency {sender}")]
    WrongSigner {
        /// The signer's agency code.
        signer: String,
        /// The sender the hub recorded.
        sender: String,
    },
}

impl Refusal {
    /// The reason in Vietnamese, for the status 02 description.
    pub fn vietnamese(&self) -> String {
        match self {
            Self::Sealed(_) => "Không mở được gói tin (không gửi cho đơn vị này hoặc đã bị sửa đổi)".into(),
            Self::Signature(_) => "Chữ ký số trên gói tin không hợp lệ".into(),
            Self::Signer(TrustError::Revoked) => "Chứng thư số của đơn vị gửi đã bị thu hồi".into(),
            Self::Signer(_) => "Chứng thư số của đơn vị gửi không được tin cậy".into(),
            Self::Invalid(_) => "Gói tin không đúng chuẩn edXML".into(),
            Self::WrongSigner { .. } => "Gói tin không do đơn vị gửi ký".into(),
        }
    }
}

/// Why a sealed package was not opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unsealing {
    /// The package cannot be opened: not for us, tampered with, malformed.
    #[error(transparent)]
    Refused(Refusal),
    /// Writing the content out failed (the spool's disk, say): the gateway's trouble, not the
    /// package's, so it is not refused for it.
    #[error("the opened content could not be written: {0}")]
    Local(std::io::Error),
}

/// Opens `sealed` with this gateway's certificate and key, writing the content to `out` as it is
/// decrypted (a spool file, for a large package). The content is authenticated only when this
/// returns `Ok`: on an error, what was written must be discarded.
pub fn unseal(sealed: &[u8], opener: &envelope::Opener, out: &mut impl std::io::Write) -> Result<(), Unsealing> {
    match opener.open_to(sealed, out) {
        Ok(_) => Ok(()),
        Err(local @ envelope::OpenError::Io { .. }) => Err(Unsealing::Local(std::io::Error::other(local.to_string()))),
        Err(e) => Err(Unsealing::Refused(Refusal::Sealed(e.to_string()))),
    }
}

/// Opens `sealed` with this gateway's certificate and key (PKCS#8 DER) in memory, then checks it
/// as [`check_package`] does.
pub fn open_package(
    sealed: &[u8],
    certificate_der: &[u8],
    key_pkcs8_der: &[u8],
    trust: &Trust,
    sender: &str,
    now: OffsetDateTime,
) -> Result<Opened, Refusal> {
    let opener = envelope::Opener::new(certificate_der, key_pkcs8_der).map_err(|e| Refusal::Sealed(e.to_string()))?;
    let mut edxml = Vec::new();
    unseal(sealed, &opener, &mut edxml).map_err(|e| match e {
        Unsealing::Refused(refusal) => refusal,
        local @ Unsealing::Local(_) => Refusal::Sealed(local.to_string()),
    })?;
    check_package(Bytes::from(edxml), trust, sender, now)
}

/// Verifies opened content: the signature, the signer against `trust` (chain, purpose,
/// revocation at `now`), that the signer speaks for `sender` (the agency the hub says sent it),
/// and that it is valid edXML from that sender. Only this makes an [`Opened`].
pub fn check_package(edxml: Bytes, trust: &Trust, sender: &str, now: OffsetDateTime) -> Result<Opened, Refusal> {
    let verified = xmlsig::verify(&edxml).map_err(|e| Refusal::Signature(e.to_string()))?;
    trust.check_signer(verified.signer_certificate_der(), now)?;
    let (signer_subject, signer_agency) = subject_and_agency(verified.signer_certificate_der());
    if !speaks_for(signer_agency.as_deref(), sender) {
        return Err(Refusal::WrongSigner {
            signer: signer_agency.unwrap_or_else(|| "no agency".into()),
            sender: sender.into(),
        });
    }
    let parsed = edxml::parse(&edxml, &Limits::default()).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let errors: Vec<String> = edxml::validate(&parsed.package, &ZipLimits::default())
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.code.as_str(), f.message))
        .collect();
    if !errors.is_empty() {
        return Err(Refusal::Invalid(errors.join("; ")));
    }
    let from = match &parsed.package {
        Package::Document(document) => document.header.from.as_ref(),
        Package::Status(status) => status.header.from.as_ref(),
    };
    let named = from.and_then(|f| f.organ_id.as_ref()).map(|o| o.as_str().to_owned());
    if named.as_deref() != Some(sender) {
        return Err(Refusal::Invalid(format!(
            "the package's From/OrganId {} is not its sender {sender}",
            named.unwrap_or_else(|| "(none)".into())
        )));
    }
    Ok(Opened { edxml, package: parsed.package, signer_subject, legacy_signature: verified.legacy() })
}

/// Whether a seal of `signer` may sign for `sender`: its own, or a unit below it that its
/// gateway serves.
fn speaks_for(signer: Option<&str>, sender: &str) -> bool {
    let (Some(signer), Ok(sender)) = (signer, edxml::AgencyCode::parse(sender)) else {
        return false;
    };
    edxml::AgencyCode::parse(signer).is_ok_and(|signer| sender.is_within(&signer))
}

/// The certificate's subject, and the agency code it carries (`GOVVN-<code>`).
fn subject_and_agency(der: &[u8]) -> (String, Option<String>) {
    use x509_parser::prelude::FromDer as _;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else {
        return (String::new(), None);
    };
    let agency = cert
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == "2.5.4.97")
        .and_then(|a| a.as_str().ok())
        .and_then(|v| v.strip_prefix("GOVVN-"))
        .map(str::to_owned);
    (cert.subject().to_string(), agency)
}
