//! A document package built from its fields and files: what the web's send form and the API's
//! `POST /api/v1/documents` share. The fields are checked ([`check`]), each mistake a
//! [`ComposeError`] naming the field in Vietnamese and English, then built into an edXML
//! document package ([`build`]) that the gateway signs, seals and queues like any other.

use bytes::Bytes;
use edxml::model::{
    Attachment, Business, Code, DocumentHeader, DocumentPackage, DocumentType, Manifest, Organization, OtherInfo,
    PromulgationInfo, SignerInfo, TraceHeader, TraceHeaderList,
};
use edxml::{AgencyCode, BusinessType, DocumentNumber, OrganId, Priority, VnDate, VnTimestamp};
use serde::Deserialize;

/// Most recipients of one document.
pub(crate) const MAX_RECIPIENTS: usize = 200;
/// Most files of one document.
pub(crate) const MAX_FILES: usize = 20;
/// Kinds of administrative documents (Decree 30/2020), Vietnamese and English; the Vietnamese
/// name is the value a form or a client sends.
pub(crate) const DOCUMENT_TYPES: [(&str, &str); 11] = [
    ("Công văn", "Official letter"),
    ("Quyết định", "Decision"),
    ("Thông báo", "Notice"),
    ("Tờ trình", "Submission"),
    ("Báo cáo", "Report"),
    ("Kế hoạch", "Plan"),
    ("Giấy mời", "Invitation"),
    ("Chỉ thị", "Directive"),
    ("Hướng dẫn", "Guidance"),
    ("Công điện", "Official dispatch"),
    ("Biên bản", "Minutes"),
];

/// What a document needs, as a client or a clerk gives it (the API's `metadata` JSON; the web
/// form's fields). Unknown JSON fields are refused, so a misspelt one is named.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fields {
    /// The recipients' agency codes.
    pub(crate) to: Vec<String>,
    /// Number and notation, `15/UBND-VP`.
    pub(crate) number: String,
    /// One of [`DOCUMENT_TYPES`]' Vietnamese names.
    pub(crate) doc_type: String,
    /// The subject (trích yếu).
    pub(crate) subject: String,
    /// A summary.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// Who signed it.
    pub(crate) signer: String,
    /// The signer's title.
    #[serde(default)]
    pub(crate) position: Option<String>,
    /// The urgency (edXML's priority code); normal if absent.
    #[serde(default)]
    pub(crate) priority: Option<String>,
    /// The due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub(crate) due: Option<String>,
}

/// A file of the document.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// Its name, as the sender's file system has it.
    pub(crate) name: String,
    /// Its content.
    pub(crate) data: Bytes,
}

/// A text field of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// `subject`: the trích yếu.
    Subject,
    /// `content`: the summary.
    Content,
    /// `signer`: who signed.
    Signer,
    /// `position`: the signer's title.
    Position,
}

impl TextField {
    fn vietnamese(self) -> &'static str {
        match self {
            Self::Subject => "trích yếu",
            Self::Content => "Nội dung",
            Self::Signer => "người ký",
            Self::Position => "Chức vụ",
        }
    }

    fn max_chars(self) -> usize {
        match self {
            Self::Subject => 1000,
            Self::Content => 10_000,
            Self::Signer | Self::Position => 200,
        }
    }
}

impl std::fmt::Display for TextField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Subject => "subject (the trích yếu)",
            Self::Content => "content (the summary)",
            Self::Signer => "signer",
            Self::Position => "position (the signer's title)",
        })
    }
}

/// Why a document cannot be built from its fields and files; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The metadata is not JSON of the expected shape (serde's words name the field).
    #[error("metadata: {0}")]
    Json(String),
    /// A recipient is not an agency code, or is the sender itself.
    #[error("to: recipient {0:?} is not another agency's code")]
    BadRecipient(String),
    /// No recipient.
    #[error("to: at least one recipient is required")]
    NoRecipient,
    /// Too many recipients.
    #[error("to: at most {MAX_RECIPIENTS} recipients in one document")]
    TooManyRecipients,
    /// The number is not `number/notation`.
    #[error("number {text:?} is not a document number like 15/UBND-VP: {reason}")]
    BadNumber {
        /// What was given.
        text: String,
        /// Why it is refused.
        reason: String,
    },
    /// The type is not one of the known kinds.
    #[error("doc_type {0:?} is not a known kind of document (Công văn, Quyết định, …)")]
    BadType(String),
    /// A required text field is empty.
    #[error("{0} is required")]
    Missing(TextField),
    /// A text field is too long.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: TextField,
        /// Its limit.
        max: usize,
    },
    /// The priority is not an edXML priority.
    #[error("priority {0:?} is not an edXML priority code (0 normal, 1 urgent, 2 very urgent, 3 flash)")]
    BadPriority(String),
    /// The due date is not a date.
    #[error("due {0:?} is not a date (YYYY-MM-DD)")]
    BadDue(String),
    /// The due date is past.
    #[error("due: the due date cannot be before today")]
    PastDue,
    /// No file, or only an empty one.
    #[error("file: no file (or the file is empty)")]
    NoFile,
    /// Too many files.
    #[error("file: at most {MAX_FILES} files in one document")]
    TooManyFiles,
    /// A file is empty.
    #[error("file {0:?} is empty")]
    EmptyFile(String),
    /// A file's name cannot be an attachment's.
    #[error("file name {0:?} is not acceptable (no / \\ or special characters)")]
    BadFileName(String),
}

impl ComposeError {
    /// The message in Vietnamese.
    pub fn vietnamese(&self) -> String {
        match self {
            Self::Json(why) => format!("Siêu dữ liệu (metadata) không đúng định dạng JSON yêu cầu: {why}"),
            Self::BadRecipient(text) => {
                format!("Đơn vị nhận «{text}» không hợp lệ: chọn đơn vị nhận trong danh sách.")
            }
            Self::NoRecipient => "Chọn ít nhất một đơn vị nhận.".into(),
            Self::TooManyRecipients => format!("Chọn tối đa {MAX_RECIPIENTS} đơn vị nhận trong một lần gửi."),
            Self::BadNumber { text, .. } => {
                format!("Số, ký hiệu «{text}» không hợp lệ: cần dạng số/ký hiệu, ví dụ 15/UBND-VP.")
            }
            Self::BadType(_) => "Chọn loại văn bản trong danh sách.".into(),
            Self::Missing(field) => format!("Chưa nhập {}.", field.vietnamese()),
            Self::TooLong { field, max } => format!("{} dài quá {max} ký tự.", field.vietnamese()),
            Self::BadPriority(_) => "Chọn độ khẩn trong danh sách.".into(),
            Self::BadDue(text) => format!("Hạn xử lý «{text}» không phải là ngày."),
            Self::PastDue => "Hạn xử lý không được trước hôm nay.".into(),
            Self::NoFile => "Chưa chọn tệp văn bản (hoặc tệp rỗng).".into(),
            Self::TooManyFiles => format!("Tối đa {MAX_FILES} tệp trong một văn bản."),
            Self::EmptyFile(name) => format!("Tệp «{name}» rỗng."),
            Self::BadFileName(_) => {
                "Tên tệp không hợp lệ; hãy đổi tên tệp (không chứa / \\ hoặc ký tự đặc biệt) rồi chọn lại.".into()
            }
        }
    }
}

/// The fields, each as the type that proves it is right.
#[derive(Debug)]
pub(crate) struct Checked<'a> {
    to: Vec<AgencyCode>,
    number: DocumentNumber,
    doc_type: &'static str,
    subject: &'a str,
    content: Option<&'a str>,
    signer: &'a str,
    position: Option<&'a str>,
    priority: Priority,
    due: Option<VnDate>,
    files: &'a [Upload],
}

impl Checked<'_> {
    /// The recipients, each once, in the order given.
    pub(crate) fn to(&self) -> &[AgencyCode] {
        &self.to
    }
}

fn required(value: &str, field: TextField) -> Result<&str, ComposeError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ComposeError::Missing(field));
    }
    if value.chars().count() > field.max_chars() {
        return Err(ComposeError::TooLong { field, max: field.max_chars() });
    }
    Ok(value)
}

fn optional(value: Option<&str>, field: TextField) -> Result<Option<&str>, ComposeError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => required(text, field).map(Some),
    }
}

/// Checks `fields` and `files` of a document from `own` on `today`.
pub(crate) fn check<'a>(
    fields: &'a Fields,
    files: &'a [Upload],
    own: &AgencyCode,
    today: VnDate,
) -> Result<Checked<'a>, ComposeError> {
    let to = recipients_of(&fields.to, own)?;
    let number_text = fields.number.trim();
    let number = DocumentNumber::parse(number_text)
        .map_err(|e| ComposeError::BadNumber { text: number_text.to_owned(), reason: e.to_string() })?;
    let doc_type = DOCUMENT_TYPES
        .iter()
        .map(|(vi, _)| *vi)
        .find(|vi| *vi == fields.doc_type.trim())
        .ok_or_else(|| ComposeError::BadType(fields.doc_type.clone()))?;
    let priority = match fields.priority.as_deref().map(str::trim) {
        None | Some("") => Priority::Normal,
        Some(text) => Priority::parse(text).map_err(|_| ComposeError::BadPriority(text.to_owned()))?,
    };
    Ok(Checked {
        to,
        number,
        doc_type,
        subject: required(&fields.subject, TextField::Subject)?,
        content: optional(fields.content.as_deref(), TextField::Content)?,
        signer: required(&fields.signer, TextField::Signer)?,
        position: optional(fields.position.as_deref(), TextField::Position)?,
        priority,
        due: due_date(fields.due.as_deref().unwrap_or_default(), today)?,
        files: checked_files(files)?,
    })
}

/// The recipients, each once: at least one, each an agency code, not `own`.
fn recipients_of(chosen: &[String], own: &AgencyCode) -> Result<Vec<AgencyCode>, ComposeError> {
    if chosen.len() > MAX_RECIPIENTS {
        return Err(ComposeError::TooManyRecipients);
    }
    let mut to: Vec<AgencyCode> = Vec::with_capacity(chosen.len());
    for text in chosen.iter().map(|t| t.trim()) {
        let code = AgencyCode::parse(text)
            .ok()
            .filter(|code| code != own)
            .ok_or_else(|| ComposeError::BadRecipient(text.to_owned()))?;
        if !to.contains(&code) {
            to.push(code);
        }
    }
    if to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    Ok(to)
}

/// The due date from `yyyy-mm-dd`; not before today.
fn due_date(text: &str, today: VnDate) -> Result<Option<VnDate>, ComposeError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let shaped = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-') && text.as_bytes().get(7) == Some(&b'-');
    let date = VnDate::parse(&text.replace('-', "/"))
        .ok()
        .filter(|_| shaped)
        .ok_or_else(|| ComposeError::BadDue(text.to_owned()))?;
    if date < today {
        return Err(ComposeError::PastDue);
    }
    Ok(Some(date))
}

/// The files: one at least, at most [`MAX_FILES`], none empty, each named safely.
fn checked_files(files: &[Upload]) -> Result<&[Upload], ComposeError> {
    if files.iter().all(|f| f.data.is_empty()) {
        return Err(ComposeError::NoFile);
    }
    if files.len() > MAX_FILES {
        return Err(ComposeError::TooManyFiles);
    }
    for file in files {
        let name = file.name.trim();
        if name.is_empty()
            || name.chars().count() > 200
            || name.contains('/')
            || edxml::unsafe_path_reason(name).is_some()
        {
            return Err(ComposeError::BadFileName(file.name.clone()));
        }
        if file.data.is_empty() {
            return Err(ComposeError::EmptyFile(name.to_owned()));
        }
    }
    Ok(files)
}

/// The document package `c` describes, sent by `agency` now; `name_of` gives an agency's name
/// if known. Each file is one attachment, with ids "1", "2", …, each listed in the manifest.
pub(crate) fn build(
    c: &Checked<'_>,
    agency: &AgencyCode,
    name_of: impl Fn(&str) -> Option<String>,
    now: VnTimestamp,
) -> DocumentPackage {
    let organization = |code: &AgencyCode| Organization {
        organ_name: name_of(code.as_str()),
        ..Organization::with_id(OrganId::from(code.clone()))
    };
    let today = now.date();
    let document_id = format!("{agency},{today},{}", c.number);
    let attachments: Vec<Attachment> = c
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let name = file.name.trim();
            Attachment::from_file(&(i + 1).to_string(), name, edxml::content_type_for(name), &file.data)
        })
        .collect();
    let header = DocumentHeader {
        from: Some(organization(agency)),
        to: c.to.iter().map(organization).collect(),
        document_id: Some(document_id.clone()),
        code: Some(Code {
            number: Some(c.number.number().to_string()),
            notation: Some(c.number.notation().to_owned()),
        }),
        promulgation: Some(PromulgationInfo { place: None, date: Some(today) }),
        document_type: Some(DocumentType { kind: Some(1), detail: None, name: Some(c.doc_type.to_owned()) }),
        subject: Some(c.subject.to_owned()),
        content: c.content.map(str::to_owned),
        signer: Some(SignerInfo {
            competence: None,
            position: c.position.map(str::to_owned),
            full_name: Some(c.signer.to_owned()),
        }),
        due_date: c.due,
        other_info: Some(OtherInfo { priority: Some(c.priority), ..OtherInfo::default() }),
        ..DocumentHeader::default()
    };
    let business =
        Business { document_id: Some(document_id), doc_type: Some(BusinessType::New), ..Business::default() };
    let trace = TraceHeaderList {
        traces: vec![TraceHeader { organ_id: Some(OrganId::from(agency.clone())), timestamp: Some(now) }],
        business: Some(business),
    };
    let references = attachments.iter().map(Attachment::manifest_reference).collect();
    DocumentPackage {
        header,
        trace: Some(trace),
        signature: None,
        manifest: Some(Manifest { version: Some("1.0".into()), references }),
        attachments,
    }
}

#[cfg(test)]
mod tests {
    use edxml::Package;

    use super::*;

    fn fields() -> Fields {
        Fields {
            to: vec!["000.00.00.H41".into(), "000.00.00.G17".into(), "000.00.00.H41".into()],
            number: "15/VPCP-TTĐT".into(),
            doc_type: "Công văn".into(),
            subject: "V/v kết nối <liên thông>".into(),
            signer: "Nguyễn Văn A".into(),
            ..Fields::default()
        }
    }

    fn files() -> Vec<Upload> {
        vec![
            Upload { name: "cong-van.pdf".into(), data: Bytes::from_static(b"%PDF-1.7") },
            Upload { name: "phu-luc.docx".into(), data: Bytes::from_static(b"PK docx") },
        ]
    }

    fn today() -> VnDate {
        VnDate::parse("2026/01/05").expect("date")
    }

    fn own() -> AgencyCode {
        AgencyCode::parse("000.00.00.G22").expect("code")
    }

    /// The automatic receipt is described from the status it was built from, not parsed back
    /// (`Gateway::sealed_receipt`): the two must agree — for 01 (the receipt), and 02 and 04 as
    /// other statuses a recipient sends about a new document (15 and 16 answer a change).
    #[test]
    fn a_status_previews_from_its_model_as_from_its_bytes() {
        let (fields, files) = (fields(), files());
        let checked = check(&fields, &files, &own(), today()).expect("valid");
        let now = VnTimestamp::parse("2026/01/05 09:30:00").expect("time");
        let document = build(&checked, &own(), |_| None, now);
        let recipient = AgencyCode::parse("000.00.00.H41").expect("code");
        for status in [edxml::StatusCode::Arrived, edxml::StatusCode::Refused, edxml::StatusCode::Assigned] {
            let reason = (status == edxml::StatusCode::Refused).then(|| "Gửi nhầm <đơn vị>\r\n& lý do".to_owned());
            let answer = edxml::answer(&document, &recipient, status, reason, now).expect("answers");
            let package = Package::Status(answer);
            let from_model = crate::outgoing::preview_of(&package).expect("preview");
            let (from_bytes, _) = crate::outgoing::preview(&Bytes::from(edxml::write(&package))).expect("preview");
            assert_eq!(from_model, from_bytes, "{}", status.as_str());
        }
    }

    #[test]
    fn fields_and_two_files_build_a_package_that_validates() {
        let (fields, files) = (fields(), files());
        let checked = check(&fields, &files, &own(), today()).expect("valid");
        let now = VnTimestamp::parse("2026/01/05 09:30:00").expect("time");
        let package = Package::Document(build(&checked, &own(), |_| None, now));
        let findings = edxml::validate(&package, &edxml::ZipLimits::default());
        assert!(findings.is_empty(), "{findings:?}");
        let Package::Document(doc) = package else { unreachable!("built a document") };
        assert_eq!(doc.header.document_id.as_deref(), Some("000.00.00.G22,2026/01/05,15/VPCP-TTĐT"));
        let to: Vec<String> = doc.header.to.iter().filter_map(|o| o.organ_id.as_ref()).map(|o| o.to_string()).collect();
        assert_eq!(to, ["000.00.00.H41", "000.00.00.G17"], "each recipient once, in order");
        let ids: Vec<_> = doc.attachments.iter().map(|a| a.content_id.clone().unwrap_or_default()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(doc.manifest.map(|m| m.references.len()), Some(2));
        assert_eq!(doc.attachments[1].content_type.as_deref(), Some(edxml::content_type_for("x.docx")));
    }

    #[test]
    fn each_mistake_is_named() {
        type Mistake = fn(&mut Fields, &mut Vec<Upload>);
        let cases: [(&str, &str, Mistake); 13] = [
            ("đơn vị nhận", "to:", |f, _| f.to.push("000.00.00.G22".into())),
            ("đơn vị nhận", "to:", |f, _| f.to = vec!["Nghệ An".into()]),
            ("ít nhất một đơn vị nhận", "to:", |f, _| f.to.clear()),
            ("Số, ký hiệu", "number", |f, _| f.number = "mười lăm".into()),
            ("loại văn bản", "doc_type", |f, _| f.doc_type = "Thư tình".into()),
            ("trích yếu", "subject", |f, _| f.subject = "  ".into()),
            ("người ký", "signer", |f, _| f.signer = String::new()),
            ("độ khẩn", "priority", |f, _| f.priority = Some("rất gấp".into())),
            ("Hạn xử lý", "due", |f, _| f.due = Some("2026-01-04".into())),
            ("Hạn xử lý", "due", |f, _| f.due = Some("05/01/2026".into())),
            ("tệp", "file", |_, files| files.clear()),
            ("Tên tệp", "file name", |_, files| files[0].name = "../x.pdf".into()),
            ("rỗng", "empty", |_, files| files[1].data = Bytes::new()),
        ];
        for (vi, en, mistake) in cases {
            let (mut fields, mut files) = (fields(), files());
            mistake(&mut fields, &mut files);
            match check(&fields, &files, &own(), today()) {
                Err(error) => {
                    assert!(error.vietnamese().contains(vi), "{vi}: {}", error.vietnamese());
                    assert!(error.to_string().contains(en), "{en}: {error}");
                }
                Ok(_) => panic!("{vi}: accepted"),
            }
        }
    }

    #[test]
    fn an_unknown_or_missing_json_field_is_named() {
        let typo = r#"{"to":["000.00.00.H41"],"number":"1/X","doc_type":"Công văn","subjet":"a","signer":"b"}"#;
        let error = serde_json::from_str::<Fields>(typo).expect_err("refused").to_string();
        assert!(error.contains("subjet"), "{error}");
        let missing = r#"{"to":["000.00.00.H41"],"number":"1/X","doc_type":"Công văn","signer":"b"}"#;
        let error = serde_json::from_str::<Fields>(missing).expect_err("refused").to_string();
        assert!(error.contains("subject"), "{error}");
    }
}
