//! What a receiving clerk relies on: required fields, code formats, dates, manifest and attachments
//! consistent. Each failure is a [`Finding`] with a stable [`FindingCode`].
//!
//! Non-conforming agency codes are findings of their own [`Severity`], so a receiving side can
//! choose to accept them.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::model::*;
use crate::{AttachmentError, BusinessType, DocumentNumber, OrganId, StatusCode, ZipLimits, unsafe_path_reason};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The package is not valid.
    Error,
    /// An agency code does not conform; accepting it is the receiving side's policy.
    Nonconforming,
}

/// A validation failure: what, where, and a message naming the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: FindingCode,
    /// How much it matters.
    pub severity: Severity,
    /// Element path, e.g. `MessageHeader/To[2]/OrganId`.
    pub path: String,
    /// What is wrong, in English.
    pub message: String,
}

macro_rules! finding_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $vi:literal; )+) => {
        /// Stable validation codes; documented in `docs/edxml-codes.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum FindingCode { $( $(#[$doc])* $variant, )+ }

        impl FindingCode {
            /// Every code.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable text code.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)+ }
            }

            /// A short Vietnamese title.
            pub fn title_vi(self) -> &'static str {
                match self { $(Self::$variant => $vi,)+ }
            }
        }
    };
}

finding_codes! {
    /// A required element is absent.
    MissingField = "missing-field", "Thiếu trường bắt buộc";
    /// A required element is present but blank.
    EmptyField = "empty-field", "Trường bắt buộc bị để trống";
    /// An agency code does not conform to QCVN 102 or Decision 20/2020.
    NonconformingAgencyCode = "nonconforming-agency-code", "Mã định danh không đúng chuẩn";
    /// `CodeNumber`/`CodeNotation` (or a `ResponseFor/Code`) is not a document number.
    BadDocumentNumber = "bad-document-number", "Số, ký hiệu không hợp lệ";
    /// The due date is before the promulgation date.
    DueBeforePromulgation = "due-before-promulgation", "Hạn xử lý trước ngày ban hành";
    /// The same recipient appears twice.
    DuplicateRecipient = "duplicate-recipient", "Nơi nhận bị lặp";
    /// A new document without any attached file.
    NoAttachment = "no-attachment", "Không có tệp văn bản";
    /// A manifest reference names an attachment that is not in the package.
    MissingAttachment = "missing-attachment", "Thiếu tệp đính kèm được khai báo";
    /// An attachment that the manifest does not list.
    UnlistedAttachment = "unlisted-attachment", "Tệp đính kèm không có trong danh mục";
    /// Two references or two attachments share a content id.
    DuplicateContentId = "duplicate-content-id", "Trùng mã nội dung (ContentId)";
    /// Manifest and attachment disagree on the file's name.
    NameMismatch = "attachment-name-mismatch", "Tên tệp không khớp danh mục";
    /// An attachment or archive entry name that could escape its folder.
    UnsafeAttachmentName = "unsafe-attachment-name", "Tên tệp đính kèm không an toàn";
    /// Attachment content that does not decode or unpack within limits (bad base64, zip bomb…).
    BadAttachment = "bad-attachment", "Tệp đính kèm hỏng hoặc vượt giới hạn";
    /// An update without `BussinessDocumentInfo`, or a replacement without `ReplacementInfo`.
    MissingBusinessInfo = "missing-business-info", "Thiếu thông tin nghiệp vụ";
    /// A refusal (02) or recall request (13) without a reason.
    MissingReason = "missing-reason", "Thiếu lý do";
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}: {}", self.code, self.code.title_vi(), self.path, self.message)
    }
}

/// Checks a package. An empty result means valid; attachments are unpacked within `zip_limits`.
pub fn validate(package: &Package, zip_limits: &ZipLimits) -> Vec<Finding> {
    let mut v = Validator { findings: Vec::new() };
    match package {
        Package::Document(doc) => v.document(doc, zip_limits),
        Package::Status(status) => v.status(status),
    }
    v.findings
}

struct Validator {
    findings: Vec<Finding>,
}

impl Validator {
    fn push(&mut self, code: FindingCode, path: &str, message: impl Into<String>) {
        let severity = match code {
            FindingCode::NonconformingAgencyCode => Severity::Nonconforming,
            _ => Severity::Error,
        };
        self.findings.push(Finding { code, severity, path: path.to_owned(), message: message.into() });
    }

    /// A required text: present and not blank.
    fn text(&mut self, path: &str, value: Option<&str>) -> bool {
        match value {
            None => self.push(FindingCode::MissingField, path, "required element is missing"),
            Some(v) if v.trim().is_empty() => self.push(FindingCode::EmptyField, path, "required element is empty"),
            Some(_) => return true,
        }
        false
    }

    fn present<T>(&mut self, path: &str, value: Option<&T>) -> bool {
        if value.is_none() {
            self.push(FindingCode::MissingField, path, "required element is missing");
        }
        value.is_some()
    }

    fn organ_id(&mut self, path: &str, id: Option<&OrganId>) {
        match id {
            None => self.push(FindingCode::MissingField, path, "required element is missing"),
            Some(OrganId::Nonconforming { text, error }) => {
                self.push(FindingCode::NonconformingAgencyCode, path, format!("{text:?}: {error}"));
            }
            Some(OrganId::Valid(_)) => {}
        }
    }

    fn optional_organ_id(&mut self, path: &str, id: Option<&OrganId>) {
        if id.is_some() {
            self.organ_id(path, id);
        }
    }

    fn organization(&mut self, path: &str, org: Option<&Organization>) {
        if self.present(path, org) {
            self.organ_id(&format!("{path}/OrganId"), org.and_then(|o| o.organ_id.as_ref()));
        }
    }

    fn document(&mut self, doc: &DocumentPackage, zip_limits: &ZipLimits) {
        self.document_header(&doc.header);
        self.business(doc);
        self.attachments(doc, zip_limits);
    }

    fn document_header(&mut self, h: &DocumentHeader) {
        const P: &str = "MessageHeader";
        self.organization(&format!("{P}/From"), h.from.as_ref());
        self.recipients(&h.to);
        self.text(&format!("{P}/DocumentId"), h.document_id.as_deref());
        self.code(h.code.as_ref());
        let date = h.promulgation.as_ref().and_then(|p| p.date);
        self.present(&format!("{P}/PromulgationInfo/PromulgationDate"), date.as_ref());
        self.text(&format!("{P}/DocumentType/TypeName"), h.document_type.as_ref().and_then(|t| t.name.as_deref()));
        self.text(&format!("{P}/Subject"), h.subject.as_deref());
        self.text(&format!("{P}/SignerInfo/FullName"), h.signer.as_ref().and_then(|s| s.full_name.as_deref()));
        if let (Some(due), Some(date)) = (h.due_date, date)
            && due < date
        {
            self.push(
                FindingCode::DueBeforePromulgation,
                &format!("{P}/DueDate"),
                format!("due {due} is before promulgation {date}"),
            );
        }
        for (index, r) in h.response_for.iter().enumerate() {
            self.response_for(&format!("{P}/ResponseFor[{}]", index + 1), r);
        }
    }

    fn recipients(&mut self, to: &[Organization]) {
        if to.is_empty() {
            self.push(FindingCode::MissingField, "MessageHeader/To", "the document has no recipient");
        }
        let mut seen = HashSet::new();
        for (index, org) in to.iter().enumerate() {
            let path = format!("MessageHeader/To[{}]/OrganId", index + 1);
            self.organ_id(&path, org.organ_id.as_ref());
            if let Some(id) = &org.organ_id
                && !seen.insert(id.as_str())
            {
                self.push(FindingCode::DuplicateRecipient, &path, format!("{id} is listed more than once"));
            }
        }
    }

    fn code(&mut self, code: Option<&Code>) {
        let number = code.and_then(|c| c.number.as_deref());
        let notation = code.and_then(|c| c.notation.as_deref());
        let has_number = self.text("MessageHeader/Code/CodeNumber", number);
        let has_notation = self.text("MessageHeader/Code/CodeNotation", notation);
        if let (true, true, Some(n), Some(t)) = (has_number, has_notation, number, notation)
            && let Err(e) = DocumentNumber::new(n.trim(), t.trim())
        {
            self.push(FindingCode::BadDocumentNumber, "MessageHeader/Code", e.to_string());
        }
    }

    fn response_for(&mut self, path: &str, r: &ResponseFor) {
        self.organ_id(&format!("{path}/OrganId"), r.organ_id.as_ref());
        self.text(&format!("{path}/DocumentId"), r.document_id.as_deref());
        if let Some(code) = r.code.as_deref().filter(|c| !c.trim().is_empty())
            && let Err(e) = DocumentNumber::parse(code.trim())
        {
            self.push(FindingCode::BadDocumentNumber, &format!("{path}/Code"), e.to_string());
        }
    }

    fn business(&mut self, doc: &DocumentPackage) {
        let Some(trace) = &doc.trace else { return };
        for (index, t) in trace.traces.iter().enumerate() {
            self.optional_organ_id(&format!("TraceHeaderList/TraceHeader[{}]/OrganId", index + 1), t.organ_id.as_ref());
        }
        let Some(b) = &trace.business else { return };
        const P: &str = "TraceHeaderList/Bussiness";
        match b.doc_type {
            Some(BusinessType::Update) => self.update_info(b.document_info.as_ref()),
            Some(BusinessType::Replace) => self.replacements(b.replacements.as_deref()),
            _ => {}
        }
        if b.doc_type == Some(BusinessType::Recall) && b.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            self.push(FindingCode::MissingReason, &format!("{P}/BussinessDocReason"), "a recall must give its reason");
        }
    }

    fn update_info(&mut self, info: Option<&BusinessDocumentInfo>) {
        const P: &str = "TraceHeaderList/Bussiness/BussinessDocumentInfo";
        let Some(info) = info else {
            return self.push(FindingCode::MissingBusinessInfo, P, "an update must say what it changes");
        };
        for (index, r) in info.receivers.iter().flatten().enumerate() {
            self.organ_id(&format!("{P}/ReceiverList/Receiver[{}]/OrganId", index + 1), r.organ_id.as_ref());
        }
    }

    fn replacements(&mut self, list: Option<&[ReplacementInfo]>) {
        const P: &str = "TraceHeaderList/Bussiness/ReplacementInfoList";
        let list = list.unwrap_or_default();
        if list.is_empty() {
            return self.push(FindingCode::MissingBusinessInfo, P, "a replacement must name the document it replaces");
        }
        for (index, r) in list.iter().enumerate() {
            let path = format!("{P}/ReplacementInfo[{}]", index + 1);
            self.text(&format!("{path}/DocumentId"), r.document_id.as_deref());
            for (i, id) in r.organ_ids.iter().enumerate() {
                self.organ_id(&format!("{path}/OrganIdList/OrganId[{}]", i + 1), Some(id));
            }
        }
    }

    fn attachments(&mut self, doc: &DocumentPackage, zip_limits: &ZipLimits) {
        if doc.attachments.is_empty() && doc.business_type() == BusinessType::New {
            self.push(FindingCode::NoAttachment, "AttachmentEncoded", "a new document must carry its file");
        }
        let references = doc.manifest.as_ref().map(|m| m.references.as_slice()).unwrap_or_default();
        let listed =
            self.unique_ids("edXMLBody/edXMLManifest/Reference", references.iter().map(|r| r.content_id.as_deref()));
        let attached =
            self.unique_ids("AttachmentEncoded/Attachment", doc.attachments.iter().map(|a| a.content_id.as_deref()));
        for (index, reference) in references.iter().enumerate() {
            let path = format!("edXMLBody/edXMLManifest/Reference[{}]", index + 1);
            self.manifest_reference(&path, reference, doc);
        }
        // One unpacking budget for the whole package, so many attachments cannot multiply it.
        let mut budget = zip_limits.clone();
        for (index, attachment) in doc.attachments.iter().enumerate() {
            let path = format!("AttachmentEncoded/Attachment[{}]", index + 1);
            if let Some(id) =
                attachment.content_id.as_deref().filter(|id| !listed.contains(id) && attached.contains(id))
            {
                self.push(FindingCode::UnlistedAttachment, &path, format!("cid:{id} is not in the manifest"));
            }
            if budget.max_unpacked_bytes == 0 {
                continue;
            }
            let unpacked = self.attachment(&path, attachment, &budget, zip_limits.max_unpacked_bytes);
            budget.max_unpacked_bytes = budget.max_unpacked_bytes.saturating_sub(unpacked);
        }
    }

    /// Content ids, reporting blanks and duplicates.
    fn unique_ids<'a>(&mut self, path: &str, ids: impl Iterator<Item = Option<&'a str>>) -> HashSet<&'a str> {
        let mut seen = HashSet::new();
        for (index, id) in ids.enumerate() {
            let item = format!("{path}[{}]/ContentId", index + 1);
            if !self.text(&item, id) {
                continue;
            }
            let id = id.unwrap_or_default();
            if !seen.insert(id) {
                self.push(FindingCode::DuplicateContentId, &item, format!("cid:{id} is used more than once"));
            }
        }
        seen
    }

    fn manifest_reference(&mut self, path: &str, reference: &ManifestReference, doc: &DocumentPackage) {
        let Some(id) = reference.content_id.as_deref().filter(|id| !id.trim().is_empty()) else {
            return;
        };
        let Some(attachment) = doc.attachments.iter().find(|a| a.content_id.as_deref() == Some(id)) else {
            return self.push(
                FindingCode::MissingAttachment,
                path,
                format!("cid:{id} is listed but no attachment carries it"),
            );
        };
        if let (Some(listed), Some(actual)) = (&reference.attachment_name, &attachment.name)
            && listed != actual
        {
            self.push(
                FindingCode::NameMismatch,
                &format!("{path}/AttachmentName"),
                format!("manifest says {listed:?}, attachment says {actual:?}"),
            );
        }
    }

    /// Checks one attachment within what is left of the package's budget (of `total` bytes);
    /// returns the bytes it unpacked to, or all that was left if it ran out.
    fn attachment(&mut self, path: &str, attachment: &Attachment, budget: &ZipLimits, total: u64) -> u64 {
        let name_path = format!("{path}/AttachmentName");
        if self.text(&name_path, attachment.name.as_deref()) {
            let name = attachment.name.as_deref().unwrap_or_default();
            if let Some(reason) = unsafe_path_reason(name) {
                self.push(FindingCode::UnsafeAttachmentName, &name_path, format!("{name:?}: {reason}"));
            }
        }
        let content_path = format!("{path}/ContentTransferEncoded");
        if attachment.content.encoded_len() == 0 {
            self.push(FindingCode::MissingField, &content_path, "the attachment has no content");
            return 0;
        }
        match attachment.content.inspect(budget) {
            Ok(entries) => entries.iter().map(|e| e.size).sum(),
            Err(e @ AttachmentError::UnsafeEntryName { .. }) => {
                self.push(FindingCode::UnsafeAttachmentName, &content_path, e.to_string());
                0
            }
            Err(AttachmentError::TooLarge { .. }) => {
                let message = format!(
                    "the package's attachments together unpack to more than {total} bytes; this one and those after it were not checked"
                );
                self.push(FindingCode::BadAttachment, &content_path, message);
                budget.max_unpacked_bytes
            }
            Err(e) => {
                self.push(FindingCode::BadAttachment, &content_path, e.to_string());
                0
            }
        }
    }

    fn status(&mut self, status: &StatusPackage) {
        let h = &status.header;
        const P: &str = "MessageHeader";
        self.organization(&format!("{P}/From"), h.from.as_ref());
        if self.present(&format!("{P}/ResponseFor"), h.response_for.as_ref()) {
            self.response_for(&format!("{P}/ResponseFor"), h.response_for.as_ref().unwrap_or(&ResponseFor::default()));
        }
        self.present(&format!("{P}/Timestamp"), h.timestamp.as_ref());
        let needs_reason = matches!(h.status, StatusCode::Refused | StatusCode::RecallRequested);
        if needs_reason && h.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
            self.push(
                FindingCode::MissingReason,
                &format!("{P}/Description"),
                "a refusal or recall request must give its reason",
            );
        }
    }
}
