//! `POST /api/v1/documents`: a document-management system sends metadata and files, and the
//! gateway builds the edXML document package (with the web's builder), signs, seals and queues it.
//! In process (the router driven request by request), and over HTTPS with curl as the client.

use std::sync::Arc;
use std::time::Duration;

use gateway::Gateway;
use serde_json::{Value, json};
use store::{GatewayStore, PackageKind};
use time::OffsetDateTime;

mod common;

use common::{Network, api, json, sample_network, serve};

const BOUNDARY: &str = "lienthong-compose-7f3a9c";
const PATH: &str = "/api/v1/documents";

/// A `multipart/form-data` body: the metadata part (if any), then each file.
fn multipart(metadata: Option<&str>, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(metadata) = metadata {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n").as_bytes());
    }
    for (name, data) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn metadata() -> Value {
    json!({
        "to": ["000.00.00.H41"],
        "number": "15/VPCP-TTĐT",
        "doc_type": "Công văn",
        "subject": "V/v triển khai gửi văn bản qua API của cổng kết nối",
        "content": "Đề nghị các đơn vị phối hợp.",
        "signer": "Nguyễn Văn A",
        "position": "Chánh Văn phòng",
        "priority": "1",
        "due": "2099-12-31",
    })
}

fn random(size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    aws_lc_rs::rand::fill(&mut data).expect("random data");
    data
}

/// Posts a document to the Office's gateway with `key` and `idempotency_key`: status and JSON body.
async fn post(gateway: &Arc<Gateway>, key: &str, idempotency_key: &str, body: Vec<u8>) -> (u16, Value) {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let headers = [("idempotency-key", idempotency_key), ("content-type", content_type.as_str())];
    let (status, body) = api(gateway, Some(key), "POST", PATH, &headers, body).await;
    (status, json(&body))
}

async fn office_with_client(net: &Network) -> (Arc<Gateway>, Arc<Gateway>) {
    let (office, nghe_an) = sample_network(net).await;
    office
        .store()
        .add_client("QLVB Văn phòng Chính phủ", &gateway::api::key_hash("office-key"), "000.00.00.G22", now())
        .await
        .expect("client");
    (office, nghe_an)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn sent_count(gateway: &Gateway) -> usize {
    gateway.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_two_files_become_one_package_that_arrives_with_both() {
    let net = Network::start().await;
    let (office, nghe_an) = office_with_client(&net).await;
    let (letter, annex) = (random(300 * 1024), random(5 * 1024 * 1024));
    let files: [(&str, &[u8]); 2] = [("cong-van-15.pdf", &letter), ("phu-luc.docx", &annex)];
    let body = multipart(Some(&metadata().to_string()), &files);

    let (status, answer) = post(&office, "office-key", "QLVB-2026-15", body.clone()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!((answer["duplicate"].as_bool(), answer["state"].as_str()), (Some(false), Some("queued")));
    let package_id = answer["package_id"].as_str().expect("id").to_owned();
    let (status, again) = post(&office, "office-key", "QLVB-2026-15", body).await;
    assert_eq!(
        (status, again["package_id"].as_str(), again["duplicate"].as_bool()),
        (200, Some(&*package_id), Some(true))
    );
    assert_eq!(sent_count(&office).await, 1, "queued once");

    assert_eq!(office.send_due().await.expect("sent"), 1);
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("collected"), 1);
    let inbox = nghe_an.store().inbox(None, 0, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].package.package_id, package_id);
    assert_eq!(inbox[0].package.sender, "000.00.00.G22", "the API key's agency sends it");

    let stored = nghe_an.blobs().map(&inbox[0].package.blob).await.expect("the stored package");
    xmlsig::verify(&stored).expect("signed by the Office");
    let parsed = edxml::parse(&stored, &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(document) = parsed.package else { panic!("a document") };
    let header = &document.header;
    assert_eq!(header.subject.as_deref(), metadata()["subject"].as_str());
    let code = header.code.as_ref().expect("code");
    assert_eq!((code.number.as_deref(), code.notation.as_deref()), (Some("15"), Some("VPCP-TTĐT")));
    assert_eq!(header.signer.as_ref().and_then(|s| s.full_name.as_deref()), Some("Nguyễn Văn A"));
    assert_eq!(header.document_type.as_ref().and_then(|t| t.name.as_deref()), Some("Công văn"));
    // Names from the hub's registry, as the web's send form writes them.
    let from = header.from.as_ref().and_then(|f| f.organ_name.as_deref());
    assert_eq!(from, Some("Văn phòng Chính phủ"));
    let to: Vec<_> = header.to.iter().map(|t| t.organ_name.as_deref()).collect();
    assert_eq!(to, [Some("UBND tỉnh Nghệ An")]);
    assert_eq!(document.attachments.len(), 2);
    assert_eq!(document.manifest.as_ref().map(|m| m.references.len()), Some(2), "each listed in the manifest");
    for (attachment, (id, (name, data))) in document.attachments.iter().zip([("1", files[0]), ("2", files[1])]) {
        assert_eq!((attachment.content_id.as_deref(), attachment.name.as_deref()), (Some(id), Some(name)));
        assert_eq!(attachment.content_type.as_deref(), Some(edxml::content_type_for(name)));
        let unpacked = attachment.content.unpack(&edxml::ZipLimits::default()).expect("unpacks");
        assert!(unpacked.len() == 1 && unpacked[0].data == data, "{name} arrives byte for byte");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_document_is_refused_naming_what_is_wrong_and_nothing_is_queued() {
    let net = Network::start().await;
    let (office, _) = office_with_client(&net).await;
    let file: [(&str, &[u8]); 1] = [("cong-van.pdf", b"%PDF-1.7 test")];
    let with = |change: fn(&mut Value)| {
        let mut m = metadata();
        change(&mut m);
        multipart(Some(&m.to_string()), &file)
    };
    type Case = (&'static str, Vec<u8>, u16, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        ("bad number", with(|m| m["number"] = json!("abc")), 400, "bad-metadata", "number"),
        (
            "no subject",
            with(|m| _ = m.as_object_mut().and_then(|o| o.remove("subject"))),
            400,
            "bad-metadata",
            "subject",
        ),
        ("blank subject", with(|m| m["subject"] = json!("  ")), 400, "bad-metadata", "subject"),
        ("typo", with(|m| m["subjet"] = json!("x")), 400, "bad-metadata", "subjet"),
        ("no recipient", with(|m| m["to"] = json!([])), 400, "bad-metadata", "to"),
        ("unknown type", with(|m| m["doc_type"] = json!("Thư")), 400, "bad-metadata", "doc_type"),
        ("bad due", with(|m| m["due"] = json!("31/12/2099")), 400, "bad-metadata", "due"),
        ("not JSON", multipart(Some("{to:"), &file), 400, "bad-metadata", "metadata"),
        ("no file", multipart(Some(&metadata().to_string()), &[]), 400, "bad-metadata", "file"),
        ("no metadata", multipart(None, &file), 400, "bad-request", "metadata"),
        ("not multipart", b"{}".to_vec(), 400, "bad-request", "multipart"),
        ("unknown recipient", with(|m| m["to"] = json!(["000.00.00.G99"])), 422, "unknown-recipient", "000.00.00.G99"),
    ];
    for (what, body, status, error, names) in cases {
        let (got, answer) = post(&office, "office-key", what, body).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(error)), "{what}: {answer}");
        let message = answer["message_en"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{what}: names {names}: {message}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: in Vietnamese too");
    }
    let body = multipart(Some(&metadata().to_string()), &file);
    let (status, answer) = post(&office, "wrong-key", "k", body.clone()).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("unauthenticated")));
    let (status, _) = api(&office, Some("office-key"), "POST", PATH, &[], body.clone()).await;
    assert_eq!(status, 400, "no Idempotency-Key");
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let secret = [("idempotency-key", "mat"), ("content-type", content_type.as_str()), ("lienthong-secrecy", "Mật")];
    let (status, answer) = api(&office, Some("office-key"), "POST", PATH, &secret, body).await;
    assert_eq!((status, json(&answer)["error"].as_str()), (422, Some("state-secret")));

    let (half, more) = (random(20 * 1024 * 1024), random(20 * 1024 * 1024 + 1));
    let over: [(&str, &[u8]); 2] = [("a.pdf", &half), ("b.pdf", &more)];
    let (status, answer) = post(&office, "office-key", "big", multipart(Some(&metadata().to_string()), &over)).await;
    assert_eq!((status, answer["error"].as_str()), (413, Some("too-large")), "{answer}");
    assert!(answer["message_en"].as_str().is_some_and(|m| m.contains("/api/v1/packages")), "{answer}");
    let mut long = metadata();
    long["content"] = json!("x".repeat(65 * 1024));
    let (status, answer) = post(&office, "office-key", "long", multipart(Some(&long.to_string()), &file)).await;
    assert_eq!((status, answer["error"].as_str()), (413, Some("too-large")), "metadata over 64 KiB: {answer}");
    let many: Vec<(&str, &[u8])> = (0..21).map(|_| ("x.pdf", &b"%PDF"[..])).collect();
    let (status, answer) = post(&office, "office-key", "many", multipart(Some(&metadata().to_string()), &many)).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad-metadata")), "21 files: {answer}");

    assert_eq!(sent_count(&office).await, 0, "nothing queued");
    assert!(office.store().due(now(), 10).await.expect("due").is_empty(), "nothing due");
}

/// What arrived at `gateway`: the only package of its inbox, its document.
async fn the_document_at(gateway: &Gateway) -> edxml::model::DocumentPackage {
    let inbox = gateway.store().inbox(None, 0, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    let stored = gateway.blobs().map(&inbox[0].package.blob).await.expect("the stored package");
    let parsed = edxml::parse(&stored, &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(document) = parsed.package else { panic!("a document") };
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sends_a_document_over_https_as_a_form_with_files() {
    let net = Network::start().await;
    let (office, nghe_an) = office_with_client(&net).await;
    let (url, spki) = serve(&net, &office, "Văn phòng Chính phủ").await;
    let dir = tempfile::tempdir().expect("dir");
    let (report, table) = (random(64 * 1024), random(3000));
    std::fs::write(dir.path().join("to-trinh.pdf"), &report).expect("file");
    std::fs::write(dir.path().join("phu-luc-1.xlsx"), &table).expect("file");
    std::fs::write(dir.path().join("metadata.json"), metadata().to_string()).expect("file");
    let file = |name: &str| format!("{}", dir.path().join(name).display());
    let args = vec![
        "-sS".to_owned(),
        "-k".into(),
        "--pinnedpubkey".into(),
        format!("sha256//{spki}"),
        "-H".into(),
        "Authorization: Bearer office-key".into(),
        "-H".into(),
        "Idempotency-Key: QLVB-curl-1".into(),
        "-F".into(),
        format!("metadata=@{};type=application/json", file("metadata.json")),
        "-F".into(),
        format!("file=@{}", file("to-trinh.pdf")),
        "-F".into(),
        format!("file=@{}", file("phu-luc-1.xlsx")),
        "-w".into(),
        "\\n%{http_code}".into(),
        format!("{url}/api/v1/documents"),
    ];
    let output = tokio::task::spawn_blocking(move || std::process::Command::new("curl").args(&args).output())
        .await
        .expect("joined")
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) =
        text.rsplit_once('\n').unwrap_or_else(|| panic!("{text} {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(status, "202", "{body} {}", String::from_utf8_lossy(&output.stderr));
    let package_id = json(body.as_bytes())["package_id"].as_str().expect("id").to_owned();

    assert_eq!(office.send_due().await.expect("sent"), 1);
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("collected"), 1);
    assert_eq!(nghe_an.store().inbox(None, 0, 10).await.expect("inbox")[0].package.package_id, package_id);
    let document = the_document_at(&nghe_an).await;
    let names: Vec<_> = document.attachments.iter().map(|a| a.name.clone().unwrap_or_default()).collect();
    assert_eq!(names, ["to-trinh.pdf", "phu-luc-1.xlsx"]);
    for (attachment, data) in document.attachments.iter().zip([&report, &table]) {
        let unpacked = attachment.content.unpack(&edxml::ZipLimits::default()).expect("unpacks");
        assert!(unpacked[0].data == *data, "byte for byte");
    }
}
