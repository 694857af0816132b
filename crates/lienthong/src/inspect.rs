//! What `lienthong edxml inspect` shows: a readable summary (Vietnamese, English alongside) or JSON.

use std::fmt::Write as _;
use std::path::Path;

use edxml::model::{DocumentPackage, Organization, StatusPackage};
use edxml::{EntryInfo, Finding, Limits, Package, ParseError, Parsed, Severity, Warning};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct Report<'p> {
    file: String,
    kind: &'static str,
    valid: bool,
    package: &'p Package,
    attachments: Vec<AttachmentReport>,
    warnings: &'p [Warning],
    findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
struct AttachmentReport {
    content_id: Option<String>,
    name: Option<String>,
    encoded_bytes: usize,
    files: Vec<EntryInfo>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ErrorReport {
    file: String,
    valid: bool,
    error: ErrorJson,
}

#[derive(Debug, Serialize)]
struct ErrorJson {
    code: &'static str,
    title_vi: &'static str,
    message: String,
    path: String,
    line: Option<u32>,
    column: Option<u32>,
}

pub(crate) fn error_json(file: &Path, error: &ParseError) -> ErrorReport {
    ErrorReport {
        file: file.display().to_string(),
        valid: false,
        error: ErrorJson {
            code: error.kind.code(),
            title_vi: error.kind.title_vi(),
            message: error.kind.to_string(),
            path: error.path.clone(),
            line: error.line,
            column: error.column,
        },
    }
}

impl<'p> Report<'p> {
    pub(crate) fn new(file: &Path, parsed: &'p Parsed, limits: &Limits) -> Self {
        let findings = edxml::validate(&parsed.package, &limits.zip);
        let attachments = match &parsed.package {
            Package::Document(doc) => doc
                .attachments
                .iter()
                .map(|a| {
                    let (files, error) = match a.content.inspect(&limits.zip) {
                        Ok(files) => (files, None),
                        Err(e) => (Vec::new(), Some(e.to_string())),
                    };
                    AttachmentReport {
                        content_id: a.content_id.clone(),
                        name: a.name.clone(),
                        encoded_bytes: a.content.encoded_len(),
                        files,
                        error,
                    }
                })
                .collect(),
            Package::Status(_) => Vec::new(),
        };
        Report {
            file: file.display().to_string(),
            kind: parsed.package.kind(),
            valid: !findings.iter().any(|f| f.severity == Severity::Error),
            package: &parsed.package,
            attachments,
            warnings: &parsed.warnings,
            findings,
        }
    }

    pub(crate) fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.file);
        match self.package {
            Package::Document(doc) => self.document(&mut out, doc),
            Package::Status(status) => status_text(&mut out, status),
        }
        self.verdict(&mut out);
        out
    }

    fn document(&self, out: &mut String, doc: &DocumentPackage) {
        let h = &doc.header;
        let business = doc.business_type();
        line(out, "Loại gói tin / Package", "Gói tin văn bản / Document package");
        line(
            out,
            "Nghiệp vụ / Business",
            &format!("{} — {} / {}", business.as_str(), business.label_vi(), business.label_en()),
        );
        line(out, "Nơi gửi / From", &org(h.from.as_ref()));
        for to in &h.to {
            line(out, "Nơi nhận / To", &org(Some(to)));
        }
        line(out, "Số, ký hiệu / Number", &doc.number_notation().unwrap_or_else(|| "—".into()));
        line(out, "Mã văn bản / Document id", h.document_id.as_deref().unwrap_or("—"));
        let date = h.promulgation.as_ref().and_then(|p| p.date).map(|d| d.to_string());
        let place = h.promulgation.as_ref().and_then(|p| p.place.clone());
        line(
            out,
            "Ban hành / Issued",
            &format!("{}, {}", place.as_deref().unwrap_or("—"), date.as_deref().unwrap_or("—")),
        );
        line(out, "Loại văn bản / Type", h.document_type.as_ref().and_then(|t| t.name.as_deref()).unwrap_or("—"));
        line(out, "Trích yếu / Subject", h.subject.as_deref().unwrap_or("—"));
        if let Some(signer) = &h.signer {
            let parts = [&signer.competence, &signer.position, &signer.full_name];
            line(
                out,
                "Người ký / Signed by",
                &parts.iter().filter_map(|p| p.as_deref()).collect::<Vec<_>>().join(", "),
            );
        }
        if let Some(priority) = h.other_info.as_ref().and_then(|o| o.priority) {
            line(out, "Độ khẩn / Urgency", &format!("{} / {}", priority.label_vi(), priority.label_en()));
        }
        if let Some(due) = h.due_date {
            line(out, "Hạn xử lý / Due", &due.to_string());
        }
        line(
            out,
            "Chữ ký số / Signature",
            if doc.signature.is_some() {
                "có (chưa kiểm tra) / present (not verified here)"
            } else {
                "không có / none"
            },
        );
        line(out, "Tệp đính kèm / Attachments", &self.attachments.len().to_string());
        for a in &self.attachments {
            let detail = match &a.error {
                Some(e) => format!("LỖI / ERROR: {e}"),
                None => a.files.iter().map(|f| format!("{} ({} bytes)", f.name, f.size)).collect::<Vec<_>>().join(", "),
            };
            let _ = writeln!(
                out,
                "    cid:{}  {}  — {detail}",
                a.content_id.as_deref().unwrap_or("?"),
                a.name.as_deref().unwrap_or("?")
            );
        }
    }

    fn verdict(&self, out: &mut String) {
        for w in self.warnings {
            let _ = writeln!(out, "  Cảnh báo / Warning: {w}");
        }
        for f in &self.findings {
            let _ = writeln!(out, "  Lỗi / Finding: {f}");
        }
        let verdict = if self.valid { "HỢP LỆ / VALID" } else { "KHÔNG HỢP LỆ / INVALID" };
        line(out, "Kết quả / Result", verdict);
    }
}

fn status_text(out: &mut String, status: &StatusPackage) {
    let h = &status.header;
    line(out, "Loại gói tin / Package", "Gói tin trạng thái / Status package");
    line(out, "Đơn vị báo / Reported by", &org(h.from.as_ref()));
    {
        let code = h.status;
        line(out, "Trạng thái / Status", &format!("{} — {} / {}", code.as_str(), code.label_vi(), code.label_en()));
    }
    if let Some(r) = &h.response_for {
        line(out, "Trả lời văn bản / For document", r.document_id.as_deref().unwrap_or("—"));
        line(out, "Số, ký hiệu / Number", r.code.as_deref().unwrap_or("—"));
    }
    line(out, "Mô tả / Description", h.description.as_deref().unwrap_or("—"));
    if let Some(ts) = h.timestamp {
        line(out, "Thời điểm / At", &ts.iso());
    }
}

fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "  {label:<30} {value}");
}

fn org(org: Option<&Organization>) -> String {
    let Some(org) = org else { return "—".into() };
    let id = org.organ_id.as_ref().map(|i| i.as_str()).unwrap_or("?");
    format!("{id} {}", org.organ_name.as_deref().unwrap_or(""))
}
