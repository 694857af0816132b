//! Every business type (0–3) and every status code (01–06, 13, 15, 16) through build, write,
//! parse and validate.

use edxml::model::*;
use edxml::{AgencyCode, AnswerError, BusinessType, Package, StatusCode};

use crate::support::{code, document, document_bytes, finding_codes, parse, timestamp};

fn with_business(kind: BusinessType) -> DocumentPackage {
    let mut doc = document();
    let business = doc.trace.as_mut().and_then(|t| t.business.as_mut()).expect("business");
    business.doc_type = Some(kind);
    match kind {
        BusinessType::New => {}
        BusinessType::Recall => business.reason = Some("Thu hồi do sai sót".into()),
        BusinessType::Update => {
            business.document_info = Some(BusinessDocumentInfo {
                document_info: Some(1),
                document_receiver: Some(1),
                receivers: Some(vec![Receiver { organ_id: Some(code("000.00.00.H41")), receiver_type: Some(0) }]),
            })
        }
        BusinessType::Replace => {
            business.replacements = Some(vec![ReplacementInfo {
                document_id: Some("000.00.00.G22,2026/11/20,4400/VPCP-KSTT".into()),
                organ_ids: vec![code("000.00.00.H41")],
            }])
        }
    }
    doc
}

#[test]
fn every_business_type_round_trips_and_validates() {
    for &kind in BusinessType::ALL {
        let doc = with_business(kind);
        let parsed = parse(document_bytes(doc.clone())).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(parsed.warnings.is_empty(), "{kind}: {:?}", parsed.warnings);
        let Package::Document(back) = &parsed.package else { panic!("{kind}: not a document") };
        assert_eq!(back.business_type(), kind);
        assert_eq!(back, &doc);
        assert!(finding_codes(&parsed.package).is_empty(), "{kind}: {:?}", finding_codes(&parsed.package));
    }
    assert_eq!(BusinessType::Replace.label_vi(), "Thay thế");
}

#[test]
fn business_types_without_their_information_are_findings() {
    for (kind, expected) in [
        (BusinessType::Update, "missing-business-info"),
        (BusinessType::Replace, "missing-business-info"),
        (BusinessType::Recall, "missing-reason"),
    ] {
        let mut doc = document();
        let business = doc.trace.as_mut().and_then(|t| t.business.as_mut()).expect("business");
        business.doc_type = Some(kind);
        business.reason = None;
        assert_eq!(finding_codes(&Package::Document(doc)), [expected], "{kind}");
    }
}

const LABELS: &[(&str, &str)] = &[
    ("01", "Đã đến"),
    ("02", "Từ chối tiếp nhận"),
    ("03", "Đã tiếp nhận"),
    ("04", "Phân công"),
    ("05", "Đang xử lý"),
    ("06", "Hoàn thành"),
    ("13", "Lấy lại"),
    ("15", "Đồng ý lấy lại / cập nhật"),
    ("16", "Từ chối lấy lại / cập nhật"),
];

#[test]
fn every_status_code_answers_a_document() {
    assert_eq!(StatusCode::ALL.len(), LABELS.len());
    let doc = document();
    for (&status, (text, label)) in StatusCode::ALL.iter().zip(LABELS) {
        assert_eq!((status.as_str(), status.label_vi()), (*text, *label));
        let reporter = if status == StatusCode::RecallRequested { "000.00.00.G22" } else { "000.00.00.H41" };
        let from = AgencyCode::parse(reporter).expect("code");
        let needs_reason = matches!(status, StatusCode::Refused | StatusCode::RecallRequested);
        let reason = needs_reason.then(|| "Lý do: gửi nhầm địa chỉ".to_owned());
        let answer =
            edxml::answer(&doc, &from, status, reason.clone(), timestamp("2026/11/24 10:00:00")).expect("answers");
        let parsed = parse(edxml::write(&Package::Status(answer.clone()))).expect("parses");
        let Package::Status(back) = &parsed.package else { panic!("{text}: not a status") };
        assert_eq!(back, &answer);
        assert_eq!(back.header.status, status);
        assert_eq!(back.header.description.as_deref(), Some(reason.as_deref().unwrap_or(label)));
        let response = back.header.response_for.as_ref().expect("response for");
        assert_eq!(response.code.as_deref(), Some("4521/VPCP-KSTT"));
        assert_eq!(response.organ_id.as_ref().map(|id| id.as_str()), Some("000.00.00.G22"));
        assert!(finding_codes(&parsed.package).is_empty(), "{text}: {:?}", finding_codes(&parsed.package));
    }
}

#[test]
fn only_recipients_report_and_only_the_sender_recalls() {
    let doc = document();
    let at = timestamp("2026/11/24 10:00:00");
    let stranger = AgencyCode::parse("000.00.00.H14").expect("code");
    let error = edxml::answer(&doc, &stranger, StatusCode::Accepted, None, at).expect_err("not a recipient");
    assert!(matches!(error, AnswerError::NotARecipient { .. }), "{error}");
    assert!(error.to_string().contains("000.00.00.H14 is not a recipient"));
    let recipient = AgencyCode::parse("000.00.00.H41").expect("code");
    let error = edxml::answer(&doc, &recipient, StatusCode::RecallRequested, Some("Sai sót".into()), at)
        .expect_err("not the sender");
    assert!(error.to_string().contains("reported by the sender 000.00.00.G22"), "{error}");
}

#[test]
fn refusals_need_a_reason() {
    let doc = document();
    let from = AgencyCode::parse("000.00.00.H41").expect("code");
    let at = timestamp("2026/11/24 10:00:00");
    for blank in [None, Some(" ".to_owned())] {
        let error = edxml::answer(&doc, &from, StatusCode::Refused, blank, at).expect_err("no reason");
        assert_eq!(error, AnswerError::ReasonRequired(StatusCode::Refused));
    }
    let mut refusal = edxml::answer(&doc, &from, StatusCode::Refused, Some("Sai địa chỉ".into()), at).expect("answers");
    refusal.header.description = Some(" ".into());
    assert_eq!(finding_codes(&Package::Status(refusal)), ["missing-reason"]);
}

/// A status sample written by us, with one replacement, for corruption tests.
pub fn status_text_with(from: &str, to: &str) -> Vec<u8> {
    let from_code = AgencyCode::parse("000.00.00.H41").expect("code");
    let answer = edxml::answer(&document(), &from_code, StatusCode::Arrived, None, timestamp("2026/11/24 10:00:00"))
        .expect("answers");
    let text = String::from_utf8(edxml::write(&Package::Status(answer))).expect("utf-8");
    assert!(text.contains(from), "{from:?} not in status");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn timestamp_spelling_and_missing_cid_prefix_are_tolerated_with_warnings() {
    let text = status_text_with("<edXML:Timestamp>", "<edXML:TimeStamp>");
    let text = String::from_utf8(text).expect("utf-8").replace("</edXML:Timestamp>", "</edXML:TimeStamp>");
    let parsed = parse(text).expect("tolerated");
    assert_eq!(parsed.warnings.iter().map(|w| w.code).collect::<Vec<_>>(), ["spelling"]);
    let Package::Status(status) = parsed.package else { panic!("status") };
    assert!(status.header.timestamp.is_some());

    let bare = String::from_utf8(document_bytes(document())).expect("utf-8").replace("cid:1", "1");
    let parsed = parse(bare).expect("tolerated");
    assert_eq!(
        parsed.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["content-id-without-cid", "content-id-without-cid"]
    );
    assert!(finding_codes(&parsed.package).is_empty());
}

#[test]
fn xlink_references_and_reordered_headers_are_tolerated_with_warnings() {
    let text = String::from_utf8(document_bytes(document())).expect("utf-8");
    let start = text.find("<edXML:Reference>").expect("reference");
    let end = text.find("</edXML:Reference>").expect("end") + "</edXML:Reference>".len();
    let xlink = "<edXML:Reference xmlns:xlink=\"http://www.w3.org/1999/xlink\" xlink:href=\"cid:1\" AttachmentName=\"4521-VPCP-KSTT.pdf\" ContentType=\"application/pdf\"/>";
    let parsed = parse(format!("{}{xlink}{}", &text[..start], &text[end..])).expect("tolerated");
    assert_eq!(parsed.warnings.iter().map(|w| w.code).collect::<Vec<_>>(), ["xlink-reference"]);
    assert!(finding_codes(&parsed.package).is_empty(), "{:?}", finding_codes(&parsed.package));

    let subject_at = text.find("        <edXML:Subject>").expect("subject");
    let subject_end = text[subject_at..].find("\r\n").expect("eol") + subject_at + 2;
    let subject = &text[subject_at..subject_end];
    let moved = text.replacen(subject, "", 1).replacen(
        "      </edXML:MessageHeader>",
        &format!("{subject}      </edXML:MessageHeader>"),
        1,
    );
    let parsed = parse(moved).expect("tolerated");
    let warning = &parsed.warnings[0];
    assert_eq!(warning.code, "element-order");
    assert!(warning.message.contains("<Subject> comes after <ToPlaces>"), "{}", warning.message);
    let Package::Document(doc) = parsed.package else { panic!("document") };
    assert_eq!(doc, document());
}
