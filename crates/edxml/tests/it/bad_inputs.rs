//! Each bad input gets a clear error naming what is wrong, and no panic.

use std::io::Write as _;

use edxml::model::Attachment;
use edxml::{EncodedContent, Limits, Package, ZipLimits};

use crate::support::{document, document_bytes, document_text_with, finding_codes, parse, parse_with};

/// Parses `input`, expecting an error with `code` whose message contains every one of `words`.
fn check_error(input: impl Into<Vec<u8>>, code: &str, words: &[&str]) {
    let error = parse(input).expect_err("input must be refused");
    assert_eq!(error.kind.code(), code, "{error}");
    let message = error.to_string();
    for word in words {
        assert!(message.contains(word), "message {message:?} lacks {word:?}");
    }
}

#[test]
fn empty_and_non_xml_inputs() {
    check_error("", "empty", &["empty"]);
    check_error("  \n ", "empty", &["empty"]);
    check_error("hello", "not-xml", &["not XML"]);
    check_error(
        "PK\u{3}\u{4}junk<?xml version=\"1.0\"?><edXML/>",
        "garbage-before-declaration",
        &["8 bytes of garbage", "line 1"],
    );
}

#[test]
fn truncated_xml_names_the_open_element() {
    let full = document_bytes(document());
    let text = String::from_utf8(full.clone()).expect("utf-8");
    let inside_subject = text.find("V/v triển khai").expect("subject");
    check_error(full[..inside_subject].to_vec(), "truncated", &["<Subject> is closed", "truncated", "line 3"]);
    let inside_tag = text.find("<edXML:DueDate").expect("due date") + 5;
    check_error(full[..inside_tag].to_vec(), "truncated", &["MessageHeader", "truncated"]);
}

#[test]
fn wrong_or_missing_namespace() {
    let other = document_text_with(
        "<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
        "<edXML xmlns=\"http://example.org/not-edxml\">",
    );
    check_error(other, "wrong-namespace", &["<edXML>", "http://example.org/not-edxml", "QCVN_102_2016", "line 2"]);
    let none = document_text_with("<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">", "<edXML>");
    check_error(none, "wrong-namespace", &["<edXML>"]);
    let envelope = document_text_with(
        "<edXML:edXMLEnvelope xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
        "<edXML:edXMLEnvelope xmlns:edXML=\"urn:other\">",
    );
    check_error(envelope, "wrong-namespace", &["edXMLEnvelope", "urn:other"]);
}

#[test]
fn billion_laughs_and_external_entities_are_refused_before_expansion() {
    let mut laughs = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        laughs.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    laughs.push_str("]>\n<edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">&lol9;</edXML>");
    check_error(laughs, "doctype-forbidden", &["DTD", "line 2"]);
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">&e;</edXML>";
    check_error(xxe, "doctype-forbidden", &["DTD"]);
    let undeclared = document_text_with("V/v triển khai", "&lol9;");
    check_error(undeclared, "undeclared-entity", &["&lol9;", "Subject"]);
}

#[test]
fn invalid_utf8_gives_its_line() {
    let mut bytes = document_text_with("Nội dung tóm tắt", "Nội dung \u{1}");
    let at = bytes.iter().position(|&b| b == 1).expect("marker");
    bytes[at] = 0xFF;
    check_error(bytes, "invalid-utf8", &["invalid UTF-8", "line "]);
}

#[test]
fn control_characters_and_other_encodings_are_refused() {
    check_error(document_text_with("Nội dung tóm tắt", "bad &#1; ref"), "malformed-xml", &["U+0001", "Content"]);
    check_error(
        document_text_with("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\""),
        "unsupported-encoding",
        &["ISO-8859-1"],
    );
}

#[test]
fn bad_values_name_the_element_path_and_line() {
    let bad_date = document_text_with("<edXML:DueDate>2026/12/15", "<edXML:DueDate>2026/02/30");
    check_error(
        bad_date,
        "invalid-value",
        &["edXML/edXMLEnvelope/edXMLHeader/MessageHeader/DueDate", "not a real date", "line "],
    );
    let bad_status = crate::business::status_text_with("<edXML:StatusCode>01", "<edXML:StatusCode>07");
    check_error(bad_status, "invalid-value", &["StatusCode", "\"07\" is not one of 01-06, 13, 15, 16"]);
    let bad_business = document_text_with("<edXML:BussinessDocType>0", "<edXML:BussinessDocType>9");
    check_error(bad_business, "invalid-value", &["BussinessDocType", "\"9\""]);
}

#[test]
fn structural_errors() {
    check_error(
        document_text_with("<edXML:DocumentId>", "<edXML:DocumentId>x</edXML:DocumentId><edXML:DocumentId>"),
        "duplicate-element",
        &["<DocumentId> appears more than once"],
    );
    check_error(
        "<?xml version=\"1.0\"?><edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"/>",
        "missing-element",
        &["<edXMLEnvelope> is missing"],
    );
    check_error(
        "<?xml version=\"1.0\"?><Other xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"/>",
        "wrong-root",
        &["<Other>"],
    );
    check_error(document_text_with("</edXML>", "</edXML><edXML/>"), "malformed-xml", &["second root"]);
}

#[test]
fn limits_bound_size_depth_counts_and_text() {
    let small = |f: fn(&mut Limits)| {
        let mut limits = Limits::default();
        f(&mut limits);
        limits
    };
    let bytes = document_bytes(document());
    let code = |limits: &Limits| parse_with(bytes.clone(), limits).expect_err("over a limit").kind.code();
    assert_eq!(code(&small(|l| l.max_package_bytes = 1000)), "too-large");
    assert_eq!(code(&small(|l| l.max_depth = 4)), "too-deep");
    assert_eq!(code(&small(|l| l.max_elements = 20)), "too-many-elements");
    assert_eq!(code(&small(|l| l.max_text_bytes = 10)), "text-too-long");
    assert_eq!(code(&small(|l| l.max_attachments = 0)), "too-many-attachments");
    assert_eq!(code(&small(|l| l.max_attributes = 0)), "too-many-attributes");
    let deep = format!(
        "<?xml version=\"1.0\"?><edXML xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">{}",
        "<a>".repeat(100_000)
    );
    check_error(deep, "too-deep", &["deeper than 32"]);
}

#[test]
fn attachment_content_that_is_not_base64() {
    let text = String::from_utf8(document_bytes(document())).expect("utf-8");
    let start = text.find("<edXML:ContentTransferEncoded").expect("content");
    let body = start + text[start..].find('>').expect("tag end") + 1;
    let corrupted = format!("{}%%{}", &text[..body], &text[body + 2..]);
    check_error(corrupted, "attachment-not-base64", &["'%'", "ContentTransferEncoded"]);
}

fn with_attachment(attachment: Attachment) -> Package {
    let mut doc = document();
    doc.manifest =
        Some(edxml::model::Manifest { version: Some("1.0".into()), references: vec![attachment.manifest_reference()] });
    doc.attachments = vec![attachment];
    Package::Document(doc)
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

#[test]
fn a_zip_bomb_is_stopped_at_the_ratio_limit() {
    let zeros = vec![0u8; 64 * 1024 * 1024];
    let bomb = EncodedContent::encode(&zip_with(&[("bomb.pdf", &zeros)]));
    let attachment =
        Attachment { content: bomb.clone(), ..Attachment::from_file("1", "bomb.pdf", "application/pdf", b"") };
    let package = with_attachment(attachment);
    assert_eq!(finding_codes(&package), ["bad-attachment"]);
    let error = bomb.unpack(&ZipLimits::default()).expect_err("bomb");
    assert!(error.to_string().contains("expands more than 200:1 (a zip bomb?)"), "{error}");
    let tight = ZipLimits { max_unpacked_bytes: 1000, max_ratio: 1_000_000, ..ZipLimits::default() };
    assert!(bomb.inspect(&tight).expect_err("over size").to_string().contains("more than 1000 bytes"));
}

#[test]
fn archives_with_too_many_entries_or_none() {
    let names: Vec<String> = (0..65).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), b"x".as_slice())).collect();
    let many = EncodedContent::encode(&zip_with(&entries));
    assert!(many.inspect(&ZipLimits::default()).expect_err("too many").to_string().contains("65 entries"));
    let not_zip = EncodedContent::encode(b"this is not a zip archive");
    assert!(not_zip.inspect(&ZipLimits::default()).expect_err("not zip").to_string().contains("not a readable ZIP"));
}

#[test]
fn dot_dot_in_attachment_names_is_refused() {
    let outside = Attachment::from_file("1", "../../etc/cron.d/evil", "text/plain", b"x");
    let codes = finding_codes(&with_attachment(outside));
    assert!(codes.contains(&"unsafe-attachment-name"), "{codes:?}");
    let inner = Attachment {
        content: EncodedContent::encode(&zip_with(&[("../evil.pdf", b"x")])),
        ..Attachment::from_file("1", "ok.pdf", "application/pdf", b"")
    };
    let findings = edxml::validate(&with_attachment(inner), &ZipLimits::default());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].code.as_str(), "unsafe-attachment-name");
    assert!(findings[0].message.contains("climbs out of its folder with '..'"), "{}", findings[0].message);
    for name in ["/etc/passwd", "C:\\evil", "a\\..\\b"] {
        assert!(edxml::unsafe_path_reason(name).is_some(), "{name}");
    }
}

#[test]
fn manifest_and_attachments_must_agree() {
    let mut doc = document();
    doc.attachments.clear();
    let codes = finding_codes(&Package::Document(doc));
    assert_eq!(codes, ["no-attachment", "missing-attachment"]);

    let mut doc = document();
    let extra = Attachment::from_file("2", "phu-luc.pdf", "application/pdf", b"x");
    doc.attachments.push(extra.clone());
    assert_eq!(finding_codes(&Package::Document(doc.clone())), ["unlisted-attachment"]);
    doc.attachments[1].content_id = Some("1".into());
    let codes = finding_codes(&Package::Document(doc));
    assert!(codes.contains(&"duplicate-content-id"), "{codes:?}");

    let mut doc = document();
    doc.attachments[0].name = Some("other.pdf".into());
    assert_eq!(finding_codes(&Package::Document(doc)), ["attachment-name-mismatch"]);
}

#[test]
fn required_fields_and_dates() {
    let mut doc = document();
    doc.header.subject = None;
    doc.header.document_id = Some("  ".into());
    doc.header.due_date = Some(crate::support::date("2026/11/01"));
    doc.header.code.as_mut().expect("code").number = Some("74fass22".into());
    doc.header.to.push(doc.header.to[0].clone());
    let findings = edxml::validate(&Package::Document(doc), &ZipLimits::default());
    let listed: Vec<(&str, &str)> = findings.iter().map(|f| (f.code.as_str(), f.path.as_str())).collect();
    assert_eq!(
        listed,
        [
            ("duplicate-recipient", "MessageHeader/To[3]/OrganId"),
            ("empty-field", "MessageHeader/DocumentId"),
            ("bad-document-number", "MessageHeader/Code"),
            ("missing-field", "MessageHeader/Subject"),
            ("due-before-promulgation", "MessageHeader/DueDate"),
        ]
    );
}

#[test]
fn syntax_errors_inside_vietnamese_text_do_not_split_characters() {
    for cut in ["<edXML:Subject>V/v triển khai", "<edXML:Subject>V/v tri\u{1ec3}n"] {
        let text = String::from_utf8(document_bytes(document())).expect("utf-8");
        let at = text.find(cut).expect("cut point") + cut.len();
        for broken in
            [format!("{}<", &text[..at]), format!("{}</edXML:Subj", &text[..at]), format!("{}<!-- ể", &text[..at])]
        {
            let error = parse(broken).expect_err("broken");
            assert!(matches!(error.kind.code(), "truncated" | "malformed-xml"), "{error}");
        }
    }
}

#[test]
fn huge_names_and_forbidden_attribute_characters_are_refused() {
    let name = "a".repeat(1 << 20);
    let long = format!("<?xml version=\"1.0\"?><{name} xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"></{name}>");
    check_error(long, "malformed-xml", &["element name of 1048576 bytes"]);
    let attribute =
        document_text_with("<edXML:edXMLManifest version=\"1.0\">", "<edXML:edXMLManifest version=\"1&#1;0\">");
    check_error(attribute, "malformed-xml", &["U+0001", "attribute value"]);
}

#[test]
fn wide_and_deep_trees_keep_paths_bounded() {
    let deep = "<edXML:Extra>".repeat(25) + &"</edXML:Extra>".repeat(25);
    let wide = format!("{}{}", deep.repeat(1500), "<edXML:Subject>");
    let parsed = parse(document_text_with("<edXML:Subject>", &wide)).expect("within the limits");
    assert!(parsed.warnings.iter().all(|w| w.path.len() <= 300), "paths are cut");
}

/// A ZIP whose central directory lists the same stored stream `copies` times.
fn shared_stream_zip(data: &[u8], copies: u16) -> Vec<u8> {
    let zip = zip_with(&[("a.pdf", data)]);
    let end = zip.len() - 22;
    let dir_size = u32::from_le_bytes(zip[end + 12..end + 16].try_into().expect("4 bytes")) as usize;
    let dir_start = u32::from_le_bytes(zip[end + 16..end + 20].try_into().expect("4 bytes")) as usize;
    let mut out = zip[..dir_start].to_vec();
    for _ in 0..copies {
        out.extend_from_slice(&zip[dir_start..dir_start + dir_size]);
    }
    let mut record = zip[end..].to_vec();
    record[8..10].copy_from_slice(&copies.to_le_bytes());
    record[10..12].copy_from_slice(&copies.to_le_bytes());
    record[12..16].copy_from_slice(&(dir_size as u32 * u32::from(copies)).to_le_bytes());
    out.extend_from_slice(&record);
    out
}

#[test]
fn entries_sharing_one_stream_cannot_multiply_it() {
    let content = EncodedContent::encode(&shared_stream_zip(&vec![0u8; 4 * 1024 * 1024], 60));
    let error = content.inspect(&ZipLimits::default()).expect_err("multiplied stream");
    assert!(error.to_string().contains("(a zip bomb?)"), "{error}");
}

#[test]
fn all_attachments_share_one_unpacking_budget() {
    let mut doc = document();
    // A real file (the SDK sample's attachment, 388,347 bytes) compresses like real documents do.
    let (_, sample) =
        crate::support::interop_samples().into_iter().find(|(n, _)| n == "edoc_update.edxml").expect("sample");
    let Package::Document(sample) = parse(sample.to_vec()).expect("parses").package else { panic!("document") };
    let data = sample.attachments[0].content.unpack(&ZipLimits::default()).expect("unpacks").remove(0).data;
    doc.attachments =
        (1..=4).map(|i| Attachment::from_file(&i.to_string(), &format!("{i}.pdf"), "application/pdf", &data)).collect();
    doc.manifest = Some(edxml::model::Manifest {
        version: None,
        references: doc.attachments.iter().map(Attachment::manifest_reference).collect(),
    });
    let package = Package::Document(doc);
    assert!(finding_codes(&package).is_empty());
    let tight = ZipLimits { max_unpacked_bytes: 1_000_000, ..ZipLimits::default() };
    let findings = edxml::validate(&package, &tight);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].path, "AttachmentEncoded/Attachment[3]/ContentTransferEncoded");
    assert!(
        findings[0]
            .message
            .contains("together unpack to more than 1000000 bytes; this one and those after it were not checked"),
        "{}",
        findings[0].message
    );
}

#[test]
fn names_that_disguise_their_extension_are_unsafe() {
    assert!(edxml::unsafe_path_reason("hop-dong\u{202E}fdp.exe").is_some_and(|r| r.contains("bidirectional")));
    assert_eq!(edxml::unsafe_path_reason("Quyết định 15-QĐ.pdf"), None);
}

/// Base64 in CR LF lines of 76, as .NET and MIME write it, with blanks around it.
fn mime_lines(raw: &[u8]) -> EncodedContent {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    let text = format!("\r\n    {}\r\n  ", lines.join("\r\n"));
    EncodedContent::from_base64(bytes::Bytes::from(text)).expect("base64 and white space")
}

#[test]
fn archives_are_read_through_the_base64_as_written_whatever_its_line_breaks() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    };
    let files = [("a.pdf", noise(3 * 1024 * 1024 + 5)), ("b/c.txt", b"small".to_vec()), ("d.bin", noise(700_001))];
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(name, data)| (*name, data.as_slice())).collect();
    let archive = zip_with(&entries);
    let content = mime_lines(&archive);
    let inspected = content.inspect(&ZipLimits::default()).expect("inspects");
    let sizes: Vec<(&str, u64)> = inspected.iter().map(|e| (e.name.as_str(), e.size)).collect();
    assert_eq!(sizes, files.iter().map(|(name, data)| (*name, data.len() as u64)).collect::<Vec<_>>());
    let unpacked = content.unpack(&ZipLimits::default()).expect("unpacks");
    for ((name, data), file) in files.iter().zip(&unpacked) {
        assert_eq!((file.name.as_str(), file.data.len()), (*name, data.len()));
        assert!(file.data == *data, "{name} unpacks to its bytes");
    }
    assert!(content.decode().expect("decodes") == archive);
    let mut visited = Vec::new();
    content
        .visit_files(&ZipLimits::default(), |name, reader| {
            let mut data = Vec::new();
            std::io::Read::read_to_end(reader, &mut data)?;
            visited.push((name.to_owned(), data));
            Ok(())
        })
        .expect("visits");
    assert!(visited.iter().map(|(name, data)| (name.as_str(), data.as_slice())).eq(entries.iter().copied()));
    let mut decoded = Vec::new();
    assert_eq!(content.decode_to(&mut decoded).expect("decodes"), archive.len() as u64);
    assert!(decoded == archive, "decoded as it streams, the same archive");

    // Base64 that does not decode is named as such, wherever the fault is.
    let text = String::from_utf8(content.as_bytes().to_vec()).expect("ascii");
    let middle = text.len() / 2;
    let bad = format!("{}={}", &text[..middle], &text[middle + 1..]);
    let bad = EncodedContent::from_base64(bytes::Bytes::from(bad)).expect("base64 characters");
    let error = bad.inspect(&ZipLimits::default()).expect_err("bad padding");
    assert!(matches!(error, edxml::AttachmentError::BadBase64 { .. }), "{error}");
    let error = bad.decode_to(&mut std::io::sink()).expect_err("bad padding");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
}
