//! On the way out: a package is parsed and validated (nothing malformed leaves), signed with the
//! agency's seal key (XML signature, RSA-SHA256 or ECDSA-SHA256), then sealed for every
//! recipient gateway's certificate (CMS AuthEnvelopedData, AES-256-GCM).

use bytes::Bytes;
use edxml::{BusinessType, Limits, Package, Severity, StatusCode, ZipLimits};
use store::{ChangeAnswer, DocumentChange};

/// The agency's seal: its key (a file key or a device key) and its certificate (profile
/// `organization`), checked once to go together.
pub use xmlsig::Signer;

/// What was sealed, for the outbox's records (the envelope went to the writer given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The package's DocumentId.
    pub document_id: Option<String>,
    /// Recipient agency codes, from the package's `To`.
    pub recipients: Vec<String>,
    /// Document or status.
    pub is_status: bool,
    /// For a status package, the status it reports (`01`…`16`).
    pub status_code: Option<String>,
}

/// Why a package was not sent. Nothing was queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutgoingError {
    /// The package does not parse.
    #[error("the package is not valid edXML: {0}")]
    Malformed(String),
    /// The package parses but fails validation.
    #[error("the package fails validation: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Sealing failed (e.g. a recipient certificate is unusable).
    #[error("encryption for the recipients failed: {0}")]
    Seal(String),
}

/// Who sends a package and to whom, and what it does to earlier documents, read before it is
/// sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Preview {
    pub(crate) sender: String,
    pub(crate) recipients: Vec<String>,
    /// A document's abstract, or a status's code and label.
    pub(crate) subject: Option<String>,
    pub(crate) change: DocumentChange,
    pub(crate) refers_to: Vec<String>,
    /// For a status other than 15/16 (the answers to a recall or change), the DocumentId of the
    /// document it answers.
    pub(crate) answers: Option<String>,
    /// For a 15 or 16, what it answers.
    pub(crate) answers_change: Option<AnswerToChange>,
}

/// A 15 (agreed) or 16 (refused): the answer to a recall, update or replacement of the document
/// `document_id` sent by `sender`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnswerToChange {
    pub(crate) answer: ChangeAnswer,
    pub(crate) sender: String,
    pub(crate) document_id: String,
}

fn answer_to_change(package: &Package) -> Option<AnswerToChange> {
    let Package::Status(status) = package else { return None };
    let answer = match status.header.status {
        StatusCode::ChangeAccepted => ChangeAnswer::Agreed,
        StatusCode::ChangeRefused => ChangeAnswer::Refused,
        _ => return None,
    };
    let about = status.header.response_for.as_ref()?;
    Some(AnswerToChange {
        answer,
        sender: about.organ_id.as_ref()?.as_str().to_owned(),
        document_id: about.document_id.clone()?,
    })
}

/// What a package does to earlier documents (edXML `Bussiness`), and their DocumentIds: a recall
/// or an update names one in `Bussiness/DocumentId`; a replacement lists them in
/// `ReplacementInfoList` (or names one the same way).
pub(crate) fn document_change(package: &Package) -> (DocumentChange, Vec<String>) {
    let Package::Document(document) = package else { return (DocumentChange::New, Vec::new()) };
    let business = document.trace.as_ref().and_then(|t| t.business.as_ref());
    let named: Vec<String> = business.and_then(|b| b.document_id.clone()).into_iter().collect();
    match document.business_type() {
        BusinessType::New => (DocumentChange::New, Vec::new()),
        BusinessType::Recall => (DocumentChange::Recall, named),
        BusinessType::Update => (DocumentChange::Update, named),
        BusinessType::Replace => {
            let listed: Vec<String> = business
                .and_then(|b| b.replacements.as_ref())
                .map(|r| r.iter().filter_map(|i| i.document_id.clone()).collect())
                .unwrap_or_default();
            (DocumentChange::Replace, if listed.is_empty() { named } else { listed })
        }
    }
}

/// Reads the sender and recipients of `edxml`, and the package parsed, for [`seal_parsed`] (which
/// checks it fully) not to parse it again.
pub(crate) fn preview(edxml: &Bytes) -> Result<(Preview, Package), OutgoingError> {
    let parsed = edxml::parse(edxml, &Limits::default()).map_err(|e| OutgoingError::Malformed(e.to_string()))?;
    Ok((preview_of(&parsed.package)?, parsed.package))
}

/// [`preview`] of a package at hand (one this gateway built and wrote: its text parses back to
/// the same model, `edxml::write`'s promise).
pub(crate) fn preview_of(package: &Package) -> Result<Preview, OutgoingError> {
    let from = match package {
        Package::Document(document) => document.header.from.as_ref(),
        Package::Status(status) => status.header.from.as_ref(),
    };
    let sender = from
        .and_then(|f| f.organ_id.as_ref())
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| OutgoingError::Invalid("the package names no sender (From/OrganId)".into()))?;
    let (_, recipients, _) = describe(package);
    if recipients.is_empty() {
        return Err(OutgoingError::Invalid("the package names no recipient".into()));
    }
    let (change, refers_to) = document_change(package);
    if change != DocumentChange::New && refers_to.is_empty() {
        return Err(OutgoingError::Invalid(
            "a recall, update or replacement must name the document it changes (Bussiness/DocumentId)".into(),
        ));
    }
    let answers = match package {
        Package::Status(status)
            if !matches!(status.header.status, StatusCode::ChangeAccepted | StatusCode::ChangeRefused) =>
        {
            status.header.response_for.as_ref().and_then(|r| r.document_id.clone())
        }
        _ => None,
    };
    let answers_change = answer_to_change(package);
    let preview = Preview { sender, recipients, subject: subject(package), change, refers_to, answers, answers_change };
    Ok(preview)
}

/// Validates, signs and seals `edxml` for `recipient_certificates` (DER), writing the envelope
/// to `out` as it is encrypted. Nothing proportional to the package is copied: the signature is
/// made over `edxml` as it is and the signed package streamed through the cipher, so a large
/// package mapped from a file goes to a file. On an error, what was written is to be discarded.
pub fn seal_package(
    edxml: &Bytes,
    signer: &Signer,
    recipient_certificates: &[&[u8]],
    out: &mut impl std::io::Write,
) -> Result<Sealed, OutgoingError> {
    let parsed = edxml::parse(edxml, &Limits::default()).map_err(|e| OutgoingError::Malformed(e.to_string()))?;
    let recipients =
        envelope::Recipient::parse_all(recipient_certificates).map_err(|e| OutgoingError::Seal(e.to_string()))?;
    seal_parsed(edxml, &parsed.package, signer, &recipients, out)
}

/// [`seal_package`] for `edxml` already parsed into `package` (by [`preview`]): not parsed again.
pub(crate) fn seal_parsed(
    edxml: &Bytes,
    package: &Package,
    signer: &Signer,
    sealed_for: &[impl std::borrow::Borrow<envelope::Recipient>],
    out: &mut impl std::io::Write,
) -> Result<Sealed, OutgoingError> {
    let errors: Vec<String> = edxml::validate(package, &ZipLimits::default())
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {} ({})", f.code.as_str(), f.message, f.path))
        .collect();
    if !errors.is_empty() {
        return Err(OutgoingError::Invalid(errors.join("; ")));
    }
    let (document_id, recipients, is_status) = describe(package);
    let status_code = match package {
        Package::Status(status) => Some(status.header.status.as_str().to_owned()),
        Package::Document(_) => None,
    };
    let signed = signer.sign_parts(edxml).map_err(|e| OutgoingError::Sign(e.to_string()))?;
    envelope::seal_to_recipients(&signed.parts(), sealed_for, out).map_err(|e| OutgoingError::Seal(e.to_string()))?;
    Ok(Sealed { document_id, recipients, is_status, status_code })
}

/// What a package is about, as the inbox and outbox show it: a document's abstract ("trích
/// yếu"); a status's code and Vietnamese label, then its description when it says more (e.g.
/// `03 Đã tiếp nhận`, `02 Từ chối tiếp nhận: gửi nhầm đơn vị`).
pub(crate) fn subject(package: &Package) -> Option<String> {
    match package {
        Package::Document(document) => document.header.subject.clone(),
        Package::Status(status) => {
            let (code, label) = (status.header.status.as_str(), status.header.status.label_vi());
            Some(match status.header.description.as_deref().map(str::trim) {
                Some(text) if !text.is_empty() && text != label => format!("{code} {label}: {text}"),
                _ => format!("{code} {label}"),
            })
        }
    }
}

/// The package's document id, its recipients and whether it is a status package.
/// A status goes back to the agency that sent the document it answers.
pub(crate) fn describe(package: &Package) -> (Option<String>, Vec<String>, bool) {
    match package {
        Package::Document(document) => (
            document.header.document_id.clone(),
            document.header.to.iter().filter_map(|t| t.organ_id.as_ref()).map(|o| o.as_str().to_owned()).collect(),
            false,
        ),
        Package::Status(status) => {
            let about = status.header.response_for.as_ref();
            (
                about.and_then(|r| r.document_id.clone()),
                about.and_then(|r| r.organ_id.as_ref()).map(|o| o.as_str().to_owned()).into_iter().collect(),
                true,
            )
        }
    }
}
