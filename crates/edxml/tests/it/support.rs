//! Shared builders: a realistic document package, parsing helpers, the interop samples.

use std::path::PathBuf;

use bytes::Bytes;
use edxml::model::*;
use edxml::{AgencyCode, BusinessType, Limits, OrganId, Package, ParseError, Parsed, Priority, VnDate, VnTimestamp};

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/edxml")
}

/// Every interop sample, by file name. Fails loudly if the samples are missing: conformance is required.
pub fn interop_samples() -> Vec<(String, Bytes)> {
    let dir = interop_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("interop samples expected at {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                Bytes::from(std::fs::read(&p).expect("readable")),
            )
        })
        .collect()
}

pub fn parse(bytes: impl Into<Vec<u8>>) -> Result<Parsed, ParseError> {
    edxml::parse(&Bytes::from(bytes.into()), &Limits::default())
}

pub fn parse_with(bytes: impl Into<Vec<u8>>, limits: &Limits) -> Result<Parsed, ParseError> {
    edxml::parse(&Bytes::from(bytes.into()), limits)
}

pub fn code(text: &str) -> OrganId {
    OrganId::from(AgencyCode::parse(text).expect("valid test code"))
}

pub fn org(id: &str, name: &str) -> Organization {
    Organization {
        organ_id: Some(code(id)),
        organ_name: Some(name.into()),
        organization_in_charge: Some(name.into()),
        ..Organization::default()
    }
}

pub fn date(text: &str) -> VnDate {
    VnDate::parse(text).expect("valid test date")
}

pub fn timestamp(text: &str) -> VnTimestamp {
    VnTimestamp::parse(text).expect("valid test timestamp")
}

/// A valid new document from the Government Office to Nghệ An and the Ministry of Finance.
pub fn document() -> DocumentPackage {
    let attachment = Attachment::from_file("1", "4521-VPCP-KSTT.pdf", "application/pdf", b"%PDF-1.4 demo content");
    DocumentPackage {
        header: DocumentHeader {
            from: Some(org("000.00.00.G22", "Văn phòng Chính phủ")),
            to: vec![org("000.00.00.H41", "UBND Tỉnh Nghệ An"), org("000.00.00.G12", "Bộ Tài chính")],
            document_id: Some("000.00.00.G22,2026/11/24,4521/VPCP-KSTT".into()),
            code: Some(Code { number: Some("4521".into()), notation: Some("VPCP-KSTT".into()) }),
            promulgation: Some(PromulgationInfo { place: Some("Hà Nội".into()), date: Some(date("2026/11/24")) }),
            document_type: Some(DocumentType { kind: Some(1), detail: Some(0), name: Some("Công văn".into()) }),
            subject: Some("V/v triển khai liên thông văn bản".into()),
            content: Some("Nội dung tóm tắt".into()),
            signer: Some(SignerInfo {
                competence: Some("KT. BỘ TRƯỞNG".into()),
                position: Some("Phó Chủ nhiệm".into()),
                full_name: Some("Nguyễn Văn A".into()),
            }),
            due_date: Some(date("2026/12/15")),
            other_info: Some(OtherInfo {
                priority: Some(Priority::Urgent),
                page_amount: Some(3),
                ..OtherInfo::default()
            }),
            response_for: Vec::new(),
            steering_type: Some(1),
            to_places: Some(vec!["Các Bộ, cơ quan ngang Bộ".into()]),
        },
        trace: Some(TraceHeaderList {
            traces: vec![TraceHeader {
                organ_id: Some(code("000.00.00.G22")),
                timestamp: Some(timestamp("2026/11/24 09:30:00")),
            }],
            business: Some(Business {
                doc_type: Some(BusinessType::New),
                reason: Some("Văn bản điện tử mới".into()),
                ..Business::default()
            }),
        }),
        signature: None,
        manifest: Some(Manifest { version: Some("1.0".into()), references: vec![attachment.manifest_reference()] }),
        attachments: vec![attachment],
    }
}

pub fn document_bytes(doc: DocumentPackage) -> Vec<u8> {
    edxml::write(&Package::Document(doc))
}

/// The document, written, with `from` replaced by `to` once (for targeted corruption).
pub fn document_text_with(from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(document_bytes(document())).expect("utf-8");
    assert!(text.contains(from), "test corruption target {from:?} not found");
    text.replacen(from, to, 1).into_bytes()
}

pub fn finding_codes(package: &Package) -> Vec<&'static str> {
    edxml::validate(package, &Limits::default().zip).iter().map(|f| f.code.as_str()).collect()
}
