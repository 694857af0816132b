//! The official SDK's sample packages: all parse and validate except `edoc_new.edxml`, and what we
//! write keeps their structure.

use bytes::Bytes;
use edxml::{Limits, Package};

use crate::support::{interop_samples, parse};

#[test]
fn every_sample_validates_except_the_one_with_garbage() {
    let samples = interop_samples();
    assert!(samples.len() >= 14, "expected the 14 SDK samples, found {}", samples.len());
    for (name, bytes) in samples {
        let result = parse(bytes.to_vec());
        if name == "edoc_new.edxml" {
            let error = result.expect_err("edoc_new.edxml has garbage before its declaration");
            assert_eq!(error.kind.code(), "garbage-before-declaration");
            assert!(
                error.to_string().contains("4 bytes of garbage before the XML declaration (starting \"1212\")"),
                "{error}"
            );
            continue;
        }
        let parsed = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let findings = edxml::validate(&parsed.package, &Limits::default().zip);
        assert!(findings.is_empty(), "{name}: {findings:?}");
    }
}

#[test]
fn the_garbage_sample_is_otherwise_a_document() {
    let (_, bytes) = interop_samples().into_iter().find(|(n, _)| n == "edoc_new.edxml").expect("edoc_new.edxml");
    let parsed = parse(bytes[4..].to_vec()).expect("without the garbage it parses");
    let Package::Document(doc) = &parsed.package else { panic!("document expected") };
    let to = doc.header.to[0].organ_id.as_ref().expect("To/OrganId");
    assert_eq!(to.as_str(), "28.22.H17");
    assert!(to.code().is_none(), "28.22.H17 does not conform, yet the package parsed");
}

#[test]
fn samples_tolerances_are_reported_as_warnings() {
    let (_, bytes) = interop_samples().into_iter().find(|(n, _)| n == "edoc_update.edxml").expect("sample");
    let parsed = parse(bytes.to_vec()).expect("parses");
    let codes: Vec<_> = parsed.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, ["signature-namespace"], "{:?}", parsed.warnings);
    assert_eq!(parsed.warnings[0].line, 117);
}

/// The element names, in document order, as (depth, local name).
fn element_outline(bytes: &[u8]) -> Vec<(usize, String)> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    let mut reader = quick_xml::Reader::from_str(text);
    let (mut depth, mut out) = (0, Vec::new());
    loop {
        match reader.read_event().expect("well-formed") {
            quick_xml::events::Event::Start(e) => {
                out.push((depth, e.name().as_ref().to_owned()));
                depth += 1;
            }
            quick_xml::events::Event::Empty(e) => out.push((depth, e.name().as_ref().to_owned())),
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => return out,
            _ => {}
        }
    }
}

#[test]
fn written_documents_keep_the_samples_structure_and_prefixes() {
    for (name, bytes) in interop_samples() {
        let start = bytes.iter().position(|&b| b == b'<').expect("xml");
        let parsed = parse(bytes[start..].to_vec()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = edxml::write(&parsed.package);
        let (ours, theirs) = (element_outline(&written), element_outline(&bytes[start..]));
        let top =
            |outline: &[(usize, String)]| outline.iter().filter(|(depth, _)| *depth <= 4).cloned().collect::<Vec<_>>();
        if name.starts_with("edoc") {
            assert_eq!(top(&ours), top(&theirs), "{name}: element order differs");
        }
        // The samples disagree among themselves on the order inside From and ResponseFor.
        let sorted = |mut outline: Vec<(usize, String)>| {
            outline.sort();
            outline
        };
        assert_eq!(sorted(ours), sorted(theirs), "{name}: elements differ");
        let reparsed = edxml::parse(&Bytes::from(written), &Limits::default()).expect("our output parses");
        assert_eq!(reparsed.package, parsed.package, "{name}: content changed through write");
    }
}

#[test]
fn written_packages_declare_the_samples_namespaces() {
    let (_, bytes) = interop_samples().into_iter().find(|(n, _)| n == "edoc_replacement.edxml").expect("sample");
    let written = String::from_utf8(edxml::write(&parse(bytes.to_vec()).expect("parses").package)).expect("utf-8");
    assert!(written.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">\r\n  <edXML:edXMLEnvelope xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">\r\n"));
    assert!(written.contains("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
    assert!(written.contains("<edXML:ContentTransferEncoded xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">"));
}

#[test]
fn attachments_share_the_input_buffer() {
    let (_, bytes) = interop_samples().into_iter().find(|(n, _)| n == "edoc_update.edxml").expect("sample");
    let parsed = edxml::parse(&bytes, &Limits::default()).expect("parses");
    let Package::Document(doc) = parsed.package else { panic!("document") };
    let content = doc.attachments[0].content.as_bytes();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&content.as_ptr()), "attachment content was copied instead of shared");
    let files = doc.attachments[0].content.unpack(&Limits::default().zip).expect("unpacks");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].data.len(), 388_347);
}

#[test]
fn every_finding_code_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/edxml-codes.md"))
        .expect("docs/edxml-codes.md");
    for code in edxml::FindingCode::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.title_vi());
        assert!(doc.contains(&row), "docs/edxml-codes.md lacks the row starting {row:?}");
    }
}
