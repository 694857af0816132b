//! What real traffic sends that QCVN 102 does not say, read with a warning instead of refused.

use edxml::Package;

use crate::business::status_text_with;
use crate::support::{document, document_text_with, finding_codes, parse};

fn warning_codes(parsed: &edxml::Parsed) -> Vec<&'static str> {
    parsed.warnings.iter().map(|w| w.code).collect()
}

#[test]
fn empty_optional_values_are_absent() {
    let text = document_text_with("<edXML:DueDate>2026/12/15</edXML:DueDate>", "<edXML:DueDate/>");
    let parsed = parse(text).expect("tolerated");
    assert_eq!(warning_codes(&parsed), ["empty-value"]);
    let Package::Document(doc) = &parsed.package else { panic!("document") };
    assert_eq!(doc.header.due_date, None);
}

#[test]
fn dotnet_booleans_and_one_digit_status_codes() {
    let mut doc = document();
    doc.header.other_info.as_mut().expect("other info").direction = Some(false);
    let text = String::from_utf8(edxml::write(&Package::Document(doc))).expect("utf-8").replace(">false<", ">False<");
    let parsed = parse(text).expect("tolerated");
    let Package::Document(doc) = &parsed.package else { panic!("document") };
    assert_eq!(doc.header.other_info.as_ref().and_then(|o| o.direction), Some(false));

    let parsed = parse(status_text_with("<edXML:StatusCode>01<", "<edXML:StatusCode>1<")).expect("tolerated");
    assert_eq!(warning_codes(&parsed), ["status-code-padded"]);
    let Package::Status(status) = &parsed.package else { panic!("status") };
    assert_eq!(status.header.status, edxml::StatusCode::Arrived);
}

#[test]
fn foreign_extensions_inside_the_signature_are_skipped() {
    let mut doc = document();
    doc.signature = Some(edxml::model::Signature { signature_value: Some("AAAA".into()), ..Default::default() });
    let text = String::from_utf8(edxml::write(&Package::Document(doc))).expect("utf-8");
    let xades = "<Object><xades:QualifyingProperties xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\"><xades:SignedProperties><xades:X>1</xades:X></xades:SignedProperties></xades:QualifyingProperties></Object></Signature>";
    let parsed = parse(text.replacen("</Signature>", xades, 1)).expect("tolerated");
    let mut codes = warning_codes(&parsed);
    codes.sort();
    assert_eq!(codes, ["foreign-namespace", "unknown-element"]);
    assert!(finding_codes(&parsed.package).is_empty());
}

#[test]
fn warnings_are_capped() {
    let unknown = "<edXML:Extra>x</edXML:Extra>".repeat(500);
    let parsed = parse(document_text_with("<edXML:Subject>", &format!("{unknown}<edXML:Subject>"))).expect("tolerated");
    assert_eq!(parsed.warnings.len(), edxml::MAX_WARNINGS + 1);
    assert_eq!(parsed.warnings.last().map(|w| w.code), Some("warnings-truncated"));
}

#[test]
fn a_byte_order_mark_does_not_shift_line_numbers() {
    let bad = document_text_with("<edXML:DueDate>2026/12/15", "<edXML:DueDate>2026/13/15");
    let plain = parse(bad.clone()).expect_err("bad date");
    let with_bom = parse([b"\xEF\xBB\xBF".as_slice(), &bad].concat()).expect_err("bad date");
    assert_eq!((with_bom.line, with_bom.column), (plain.line, plain.column));
}

#[test]
fn lower_case_notations_are_real_document_numbers() {
    let mut doc = document();
    doc.header.code = Some(edxml::model::Code { number: Some("1896".into()), notation: Some("QĐ-TTg".into()) });
    assert!(finding_codes(&Package::Document(doc)).is_empty());
}
