//! Building packages from parts: attachments from files, and the status package that answers a
//! document.

use crate::model::*;
use crate::{AgencyCode, EncodedContent, StatusCode, VnTimestamp};

/// Why a status package cannot answer a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The reporting agency is not among the document's recipients.
    #[error("{organ} is not a recipient of this document, so it cannot report status {status}")]
    NotARecipient {
        /// The agency that would report.
        organ: String,
        /// The status.
        status: StatusCode,
    },
    /// Status 13 (recall request) comes from the document's sender only.
    #[error("status 13 (recall request) is reported by the sender {sender}, not by {organ}")]
    NotTheSender {
        /// The agency that would report.
        organ: String,
        /// The document's sender.
        sender: String,
    },
    /// A refusal (02) or recall request (13) must say why.
    #[error("status {0} must give its reason (the description)")]
    ReasonRequired(StatusCode),
    /// The document lacks what a status must refer to.
    #[error("the document has no {0}, so a status cannot refer to it")]
    Unreferenceable(&'static str),
}

impl Attachment {
    /// An attachment holding one file, zipped and base64-encoded as QCVN 102 carries it.
    pub fn from_file(content_id: &str, name: &str, content_type: &str, data: &[u8]) -> Self {
        Self {
            content_id: Some(content_id.to_owned()),
            name: Some(name.to_owned()),
            description: Some(name.to_owned()),
            content_type: Some(content_type.to_owned()),
            content: EncodedContent::zip_file(name, data),
        }
    }

    /// The manifest entry that lists this attachment.
    pub fn manifest_reference(&self) -> ManifestReference {
        ManifestReference {
            content_id: self.content_id.clone(),
            content_type: self.content_type.clone(),
            description: self.description.clone(),
            attachment_name: self.name.clone(),
        }
    }
}

/// The status package with which `from` reports `status` on `doc`, at `at`.
///
/// The reporting agency's details are copied from the document's recipient list (or, for a recall
/// request, from its sender); the description defaults to the status's Vietnamese label, except for
/// a refusal (02) or recall request (13), which must give its reason.
pub fn answer(
    doc: &DocumentPackage,
    from: &AgencyCode,
    status: StatusCode,
    description: Option<String>,
    at: VnTimestamp,
) -> Result<StatusPackage, AnswerError> {
    let header = &doc.header;
    let sender = header.from.as_ref().ok_or(AnswerError::Unreferenceable("sender (From)"))?;
    let sender_id = sender.organ_id.clone().ok_or(AnswerError::Unreferenceable("sender code (From/OrganId)"))?;
    let document_id = header.document_id.clone().ok_or(AnswerError::Unreferenceable("DocumentId"))?;
    let needs_reason = matches!(status, StatusCode::Refused | StatusCode::RecallRequested);
    let description = match description.filter(|d| !d.trim().is_empty()) {
        Some(text) => text,
        None if needs_reason => return Err(AnswerError::ReasonRequired(status)),
        None => status.label_vi().to_owned(),
    };
    let reporter = reporting_organization(doc, from, status, sender)?;
    Ok(StatusPackage {
        header: StatusHeader {
            from: Some(reporter),
            response_for: Some(ResponseFor {
                organ_id: Some(sender_id),
                code: doc.number_notation(),
                promulgation_date: header.promulgation.as_ref().and_then(|p| p.date),
                document_id: Some(document_id),
            }),
            staff: None,
            status,
            description: Some(description),
            timestamp: Some(at),
        },
        trace: None,
        signature: None,
    })
}

fn reporting_organization(
    doc: &DocumentPackage,
    from: &AgencyCode,
    status: StatusCode,
    sender: &Organization,
) -> Result<Organization, AnswerError> {
    let is = |org: &&Organization| org.organ_id.as_ref().is_some_and(|id| id.as_str() == from.as_str());
    if status.is_sent_by_sender() {
        let sender_code = sender.organ_id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default();
        return Some(sender)
            .filter(is)
            .cloned()
            .ok_or(AnswerError::NotTheSender { organ: from.to_string(), sender: sender_code });
    }
    doc.header.to.iter().find(is).cloned().ok_or_else(|| AnswerError::NotARecipient { organ: from.to_string(), status })
}
