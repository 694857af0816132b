//! Two gateways and the hub over real mutual TLS, in one process: the Government Office sends an
//! SDK sample package to Nghệ An (and two agencies whose gateways are offline); Nghệ An collects
//! it, verifies it, stores it once and answers 01 automatically; the Office receives the status.
//! Then a package from a seal Nghệ An no longer trusts is refused with 02 and stored nowhere.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use edxml::AgencyCode;
use gateway::Gateway;
use pki::{
    Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, RevocationReason, RevokedEntry, SubjectName,
    SubscriberKey,
};
use store::{AgencyRecord, AuditStore, DeliveryState, ExchangeStore, GatewayStore, PackageKind, Store};
use time::OffsetDateTime;

mod common;

use common::{Network, api, api_streaming, json, sample, sample_network, with_business};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_travels_signed_and_sealed_and_its_receipt_comes_back() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;

    let (package_id, new) = office.submit("qlvb", "VPCP-2026-0001", &sample()).await.expect("queued");
    assert!(new);
    let (again, new) = office.submit("qlvb", "VPCP-2026-0001", &sample()).await.expect("same reference");
    assert_eq!((again.as_str(), new), (package_id.as_str(), false), "submitted twice, accepted once");
    assert_eq!(office.send_due().await.expect("sent"), 1);
    assert_eq!(office.send_due().await.expect("nothing left"), 0);

    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("collected"), 1);
    let inbox = nghe_an.store().inbox(None, 0, 10).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (inbox[0].package.package_id.as_str(), inbox[0].package.kind),
        (package_id.as_str(), PackageKind::Document)
    );
    assert!(inbox[0].package.signer.contains("Văn phòng Chính phủ"), "{}", inbox[0].package.signer);
    assert_eq!(nghe_an.receive(Duration::ZERO).await.expect("nothing new"), 0, "acknowledged: not delivered twice");

    assert_eq!(nghe_an.send_due().await.expect("status 01 sent"), 1, "receipt 01 is answered automatically");
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("status"), 1);
    let receipts = office.store().inbox(None, 0, 10).await.expect("inbox");
    assert_eq!(receipts[0].package.kind, PackageKind::Status);
    assert_eq!(receipts[0].package.document_id, inbox[0].package.document_id);
    assert!(
        receipts[0].package.subject.as_deref().is_some_and(|s| s.starts_with("01")),
        "{:?}",
        receipts[0].package.subject
    );

    let states: Vec<(String, DeliveryState)> = net
        .hub
        .store()
        .deliveries(&package_id)
        .await
        .expect("view")
        .into_iter()
        .map(|d| (d.recipient, d.state))
        .collect();
    assert!(states.contains(&("000.00.00.H41".to_owned(), DeliveryState::Acknowledged)), "{states:?}");
    assert!(
        states.contains(&("000.00.00.H14".to_owned(), DeliveryState::Queued)),
        "offline gateways keep theirs queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_packages_are_handed_over_and_taken_in_together_each_once() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    let mut sent = std::collections::BTreeSet::new();
    for n in 0..40 {
        sent.insert(office.submit("qlvb", &format!("VPCP-2026-{n:04}"), &sample()).await.expect("queued").0);
    }
    assert_eq!(office.send_due().await.expect("sent") + office.send_due().await.expect("the rest"), 40);
    assert_eq!(office.send_due().await.expect("nothing left"), 0);

    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("collected"), 40);
    assert_eq!(nghe_an.receive(Duration::ZERO).await.expect("nothing new"), 0, "each acknowledged once");
    let inbox = nghe_an.store().inbox(None, 0, 100).await.expect("inbox");
    let received: std::collections::BTreeSet<String> = inbox.iter().map(|i| i.package.package_id.clone()).collect();
    assert_eq!((inbox.len(), received), (40, sent), "every package stored, each once");

    assert_eq!(nghe_an.send_due().await.expect("receipts") + nghe_an.send_due().await.expect("the rest"), 40);
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("receipts"), 40);
    assert_eq!(office.store().inbox(None, 0, 100).await.expect("inbox").len(), 40, "one receipt per document");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_from_a_revoked_seal_is_refused_with_a_reason_and_stored_nowhere() {
    let net = Network::start().await;
    let (office, office_seal) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
    let (package_id, _) = office.submit("qlvb", "VPCP-2026-0002", &sample()).await.expect("queued");
    office.send_due().await.expect("sent");

    let revoked = RevokedEntry {
        serial: office_seal,
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    };
    nghe_an.trust().set_crls(&[net.ca.crl(&[revoked])]).expect("new CRL");

    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("handled"), 1);
    assert!(nghe_an.store().inbox(None, 0, 10).await.expect("inbox").is_empty(), "nothing stored");
    let copies = net.hub.store().deliveries(&package_id).await.expect("view");
    let nghe_an_copy = copies.iter().find(|d| d.recipient == "000.00.00.H41").expect("copy");
    assert_eq!(nghe_an_copy.state, DeliveryState::Refused);

    // The sender also gets a signed status 02 naming the package and the reason.
    assert_eq!(nghe_an.send_due().await.expect("status 02"), 1);
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("collected"), 1);
    let statuses = office.store().statuses_for(&package_id, None).await.expect("statuses");
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let refusal = &statuses[0].package;
    assert_eq!(refusal.sender, "000.00.00.H41");
    assert!(refusal.subject.as_deref().is_some_and(|s| s.starts_with("02")), "{refusal:?}");
    assert!(refusal.signer.contains("UBND tỉnh Nghệ An"), "signed by Nghệ An's seal: {}", refusal.signer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_management_system_sends_reads_and_answers_through_the_api() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    office
        .store()
        .add_client(
            "QLVB Văn phòng Chính phủ",
            &gateway::api::key_hash("office-key"),
            "000.00.00.G22",
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("client");
    nghe_an
        .store()
        .add_client("QLVB Nghệ An", &gateway::api::key_hash("nghe-an-key"), "000.00.00.H41", OffsetDateTime::now_utc())
        .await
        .expect("client");

    let (status, body) = api(&office, None, "POST", "/api/v1/packages", &[("idempotency-key", "k1")], sample()).await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let (status, body) =
        api(&office, Some("nghe-an-key"), "POST", "/api/v1/packages", &[("idempotency-key", "k1")], sample()).await;
    assert_eq!(status, 401, "another agency's key: {}", String::from_utf8_lossy(&body));
    let (status, body) = api(&office, Some("office-key"), "POST", "/api/v1/packages", &[], sample()).await;
    assert_eq!((status, json(&body)["error"].as_str()), (400, Some("bad-request")), "no idempotency key");
    let (status, body) = api(
        &office,
        Some("office-key"),
        "POST",
        "/api/v1/packages",
        &[("idempotency-key", "k0")],
        b"<edXML>broken".to_vec(),
    )
    .await;
    assert_eq!((status, json(&body)["error"].as_str()), (422, Some("invalid-package")));
    let broken = String::from_utf8(sample()).expect("utf-8").replacen("000.00.00.G17", "000.00.00.G99", 1);
    let (status, body) =
        api(&office, Some("office-key"), "POST", "/api/v1/packages", &[("idempotency-key", "k0")], broken.into_bytes())
            .await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (422, Some("unknown-recipient")),
        "{}",
        String::from_utf8_lossy(&body)
    );
    for level in ["Mật", "Tối mật", "Tuyệt mật"] {
        let headers = [("idempotency-key", "k-secret"), ("lienthong-secrecy", level)];
        let (status, body) = api(&office, Some("office-key"), "POST", "/api/v1/packages", &headers, sample()).await;
        assert_eq!((status, json(&body)["error"].as_str()), (422, Some("state-secret")), "{level}");
    }
    let ordinary = [("idempotency-key", "k-odd"), ("lienthong-secrecy", "bí mật quốc gia")];
    let (status, _) = api(&office, Some("office-key"), "POST", "/api/v1/packages", &ordinary, sample()).await;
    assert_eq!(status, 400, "an unknown level is not guessed at");
    assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");

    let (status, body) =
        api(&office, Some("office-key"), "POST", "/api/v1/packages", &[("idempotency-key", "VPCP-7816")], sample())
            .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let package_id = json(&body)["package_id"].as_str().expect("id").to_owned();
    let (status, body) =
        api(&office, Some("office-key"), "POST", "/api/v1/packages", &[("idempotency-key", "VPCP-7816")], sample())
            .await;
    assert_eq!((status, json(&body)["package_id"].as_str()), (200, Some(package_id.as_str())));
    office.send_due().await.expect("sent");
    let (_, body) =
        api(&office, Some("office-key"), "GET", &format!("/api/v1/outbox/{package_id}"), &[], Vec::new()).await;
    assert_eq!(json(&body)["state"], "sent");

    nghe_an.receive(Duration::from_secs(5)).await.expect("collected");
    let (status, body) = api(&nghe_an, Some("nghe-an-key"), "GET", "/api/v1/inbox?wait=1", &[], Vec::new()).await;
    assert_eq!(status, 200);
    let items = json(&body)["items"].as_array().cloned().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["package_id"], package_id.as_str());
    let (status, edxml) =
        api(&nghe_an, Some("nghe-an-key"), "GET", &format!("/api/v1/inbox/{package_id}"), &[], Vec::new()).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&edxml).contains("000.00.00.G22"));
    let (status, _) =
        api(&nghe_an, Some("nghe-an-key"), "POST", &format!("/api/v1/inbox/{package_id}/ack"), &[], Vec::new()).await;
    assert_eq!(status, 200);
    let answer = serde_json::json!({"code": "03"}).to_string().into_bytes();
    let (status, body) =
        api(&nghe_an, Some("nghe-an-key"), "POST", &format!("/api/v1/inbox/{package_id}/status"), &[], answer).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let refusal = serde_json::json!({"code": "02"}).to_string().into_bytes();
    let (status, body) =
        api(&nghe_an, Some("nghe-an-key"), "POST", &format!("/api/v1/inbox/{package_id}/status"), &[], refusal).await;
    assert_eq!((status, json(&body)["error"].as_str()), (422, Some("cannot-answer")), "02 needs a reason");
    assert_eq!(nghe_an.send_due().await.expect("statuses"), 2, "01 automatically, 03 from the clerk");

    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let (_, body) = api(&office, Some("office-key"), "GET", "/api/v1/inbox", &[], Vec::new()).await;
    let subjects: Vec<String> = json(&body)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.starts_with("01")) && subjects.iter().any(|s| s.starts_with("03")),
        "{subjects:?}"
    );
    let (status, body) = api(&office, Some("office-key"), "GET", "/openapi.json", &[], Vec::new()).await;
    assert_eq!((status, json(&body)["openapi"].as_str()), (200, Some("3.1.0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_cannot_be_queued_keeps_the_delivery_until_it_can() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    let (package_id, _) = office.submit("qlvb", "VPCP-2026-0003", &sample()).await.expect("queued");
    office.send_due().await.expect("sent");
    let now = OffsetDateTime::now_utc();
    let good = net.hub.store().mailbox_certificate("000.00.00.G22").await.expect("read").expect("registered");
    net.hub.store().put_mailbox("000.00.00.G22", b"not a certificate", now).await.expect("broken");

    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("polled"), 0, "the receipt cannot be sealed");
    assert_eq!(nghe_an.store().inbox(None, 0, 10).await.expect("inbox").len(), 1, "stored once already");
    let state = |copies: Vec<store::DeliveryRecord>| {
        copies.into_iter().find(|d| d.recipient == "000.00.00.H41").map(|d| d.state)
    };
    assert_eq!(state(net.hub.store().deliveries(&package_id).await.expect("view")), Some(DeliveryState::Queued));

    net.hub.store().put_mailbox("000.00.00.G22", &good, now).await.expect("repaired");
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("polled"), 1);
    assert_eq!(state(net.hub.store().deliveries(&package_id).await.expect("view")), Some(DeliveryState::Acknowledged));
    assert_eq!(nghe_an.store().inbox(None, 0, 10).await.expect("inbox").len(), 1, "still once");
    assert_eq!(nghe_an.send_due().await.expect("receipt"), 1, "the 01 goes out after all");
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("status"), 1);
}

/// Headers as the Government Office SDK (2.0.1) builds them, signed with `secret`.
fn sdk_headers(system: &str, secret: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    exchange::sdk::client_headers(system, secret, extra, OffsetDateTime::now_utc())
}

async fn sdk_call(
    gateway: &Arc<Gateway>,
    operation: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> serde_json::Value {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::builder().method("POST").uri(format!("/{operation}"));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = gateway::sdk_api::router(gateway.clone())
        .oneshot(request.body(axum::body::Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status().as_u16(), 200);
    json(&response.into_body().collect().await.expect("body").to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systems_built_on_the_sdk_send_and_receive_through_their_gateway_unchanged() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    let now = OffsetDateTime::now_utc();
    let office_client =
        office.store().add_client("SDK VPCP", "unused-hash-1", "000.00.00.G22", now).await.expect("client");
    office.store().add_sdk_system(&office_client.id, "vpcp-qlvb", "bí mật VPCP", now).await.expect("sdk");
    let nghe_an_client =
        nghe_an.store().add_client("SDK Nghệ An", "unused-hash-2", "000.00.00.H41", now).await.expect("client");
    nghe_an.store().add_sdk_system(&nghe_an_client.id, "nghean-qlvb", "bí mật Nghệ An", now).await.expect("sdk");

    let forged =
        sdk_call(&office, "sendEdoc", &sdk_headers("vpcp-qlvb", "wrong", &[("from", "000.00.00.G22")]), sample()).await;
    assert_eq!((forged["status"].as_str(), forged["ErrorCode"].as_str()), (Some("FAIL"), Some("401")), "{forged}");
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &sample())
        .as_ref()
        .iter()
        .map(|b| format!("{b:x}"))
        .collect();
    let send_headers = || {
        sdk_headers(
            "vpcp-qlvb",
            "bí mật VPCP",
            &[("from", "000.00.00.G22"), ("messagetype", "edoc"), ("hash-file", &hash)],
        )
    };
    let send = send_headers();
    let sent = sdk_call(&office, "sendEdoc", &send, sample()).await;
    assert_eq!((sent["status"].as_str(), sent["ErrorCode"].as_str()), (Some("OK"), Some("0")), "{sent}");
    let replayed = sdk_call(&office, "sendEdoc", &send, sample()).await;
    assert_replay_refused(&replayed);
    let again = sdk_call(&office, "sendEdoc", &send_headers(), sample()).await;
    assert_eq!(again["DocId"], sent["DocId"], "the same bytes twice are one package");
    let tampered = sdk_call(&office, "sendEdoc", &send_headers(), b"<edXML/>".to_vec()).await;
    assert_eq!(tampered["ErrorCode"], "402", "hash-file must match the upload");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("collected");

    let list = sdk_call(
        &nghe_an,
        "getReceivedEdocList",
        &sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[("messagetype", "edoc")]),
        b"{}".to_vec(),
    )
    .await;
    let items = list["data"].as_array().expect("data").clone();
    assert_eq!(items.len(), 1, "{list}");
    let doc_id = items[0]["docId"].as_str().expect("docId").to_owned();
    assert_eq!(items[0]["from"], "000.00.00.G22");
    let fetched = sdk_call(
        &nghe_an,
        "getEdoc",
        &sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[("docId", &doc_id)]),
        b"{}".to_vec(),
    )
    .await;
    let edxml =
        base64::engine::general_purpose::STANDARD.decode(fetched["data"].as_str().expect("data")).expect("base64");
    let held = nghe_an.store().inbox(None, 0, 10).await.expect("inbox");
    let stored = nghe_an.blobs().map(&held[0].package.blob).await.expect("stored package");
    assert!(edxml == stored[..], "getEdoc gives the package as stored, byte for byte");
    assert!(String::from_utf8_lossy(&edxml).contains("000.00.00.G22"));
    let done = sdk_call(
        &nghe_an,
        "updateStatus",
        &sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[("docId", &doc_id), ("status", "done")]),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(done["status"], "OK", "{done}");
    let after = sdk_call(
        &nghe_an,
        "getReceivedEdocList",
        &sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[("messagetype", "edoc")]),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(after["data"].as_array().expect("data").len(), 0, "an acknowledged item leaves the list");
    let agencies =
        sdk_call(&nghe_an, "getAgenciesList", &sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[]), b"{}".to_vec()).await;
    assert!(agencies["data"].as_array().expect("data").iter().any(|a| a["code"] == "000.00.00.G22"), "{agencies}");
}

fn assert_replay_refused(answer: &serde_json::Value) {
    assert_eq!((answer["status"].as_str(), answer["ErrorCode"].as_str()), (Some("FAIL"), Some("401")), "{answer}");
    let description = answer["ErrorDesc"].as_str().unwrap_or_default();
    assert!(description.contains("Replayed request") && description.contains("gửi lại"), "{answer}");
}

/// Packages in a gateway's outbox.
async fn outbox_size(gateway: &Gateway) -> usize {
    gateway.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox").len()
}

/// One POST over a real socket (HTTP/1.1, the connection closed after it); the SDK's JSON answer.
async fn post_over_socket(
    address: std::net::SocketAddr,
    operation: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> serde_json::Value {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = format!("POST /sdk/{operation} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    head += &format!("Content-Type: application/octet-stream\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    stream.write_all(format!("{head}\r\n").as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("response");
    let text = String::from_utf8_lossy(&response);
    let (status_and_headers, json_body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(status_and_headers.starts_with("HTTP/1.1 200"), "{text}");
    serde_json::from_str(json_body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The hub's SDK routes (`hosted_router`, mounted at `/sdk`) over `gateway`, on a real socket.
async fn hub_sdk_process(gateway: Arc<Gateway>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let routes = axum::Router::new().nest("/sdk", gateway::sdk_api::hosted_router(vec![gateway]));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    address
}

/// Two hub processes host the same SDK agency over one store (as two `hub serve` on one port
/// and one PostgreSQL do): a request accepted by one is a replay at either, and stores nothing;
/// the same request freshly signed passes.
async fn replays_are_refused_by_every_hub_process_sharing_the_store(store_url: &str) {
    let net = Network::start().await;
    for (agency, name) in common::AGENCIES.iter().skip(1) {
        net.gateway(agency, name).await;
    }
    let shared = || async { Store::open(store_url).await.expect("the hosted agency's store") };
    let blobs = || async { store::blobs::BlobStore::open(&net.dir.path().join("hosted-blobs")).await.expect("blobs") };
    let (first, _) = net.gateway_over("000.00.00.G22", "Văn phòng Chính phủ", shared().await, blobs().await).await;
    let (second, _) = net.gateway_over("000.00.00.G22", "Văn phòng Chính phủ", shared().await, blobs().await).await;
    let now = OffsetDateTime::now_utc();
    let client = first.store().add_client("SDK VPCP", "unused-hash", "000.00.00.G22", now).await.expect("client");
    first.store().add_sdk_system(&client.id, "vpcp-qlvb", "bí mật VPCP", now).await.expect("sdk");
    let (hub_a, hub_b) = (hub_sdk_process(first.clone()).await, hub_sdk_process(second.clone()).await);
    let headers = || sdk_headers("vpcp-qlvb", "bí mật VPCP", &[("from", "000.00.00.G22"), ("messagetype", "edoc")]);

    let signed = headers();
    let sent = post_over_socket(hub_a, "sendEdoc", &signed, &sample()).await;
    assert_eq!(sent["status"], "OK", "{sent}");
    assert_eq!(outbox_size(&first).await, 1);
    // The signature does not cover the body: a replay could carry another document.
    let (other_document, _) = with_business(edxml::BusinessType::New);
    for hub in [hub_b, hub_a] {
        assert_replay_refused(&post_over_socket(hub, "sendEdoc", &signed, &other_document).await);
    }
    assert_eq!(outbox_size(&second).await, 1, "a replay stores nothing");
    let fresh = post_over_socket(hub_b, "sendEdoc", &headers(), &other_document).await;
    assert_eq!(fresh["status"], "OK", "a new timestamp is a new request: {fresh}");
    assert_ne!(fresh["DocId"], sent["DocId"]);
    assert_eq!(outbox_size(&first).await, 2);
    let listed = headers();
    assert_eq!(post_over_socket(hub_a, "getSentEdocList", &listed, b"{}").await["status"], "OK");
    assert_replay_refused(&post_over_socket(hub_b, "getSentEdocList", &listed, b"{}").await);
    first.store().close().await;
    second.store().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hub_processes_refuse_each_others_replayed_sdk_requests() {
    let net_dir = tempfile::tempdir().expect("dir");
    replays_are_refused_by_every_hub_process_sharing_the_store(&format!(
        "sqlite://{}",
        net_dir.path().join("hosted.sqlite").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hub_processes_refuse_each_others_replayed_sdk_requests() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this test is skipped");
        return;
    };
    let database = store::testing::TestDatabase::create(&server).await.expect("create a database");
    replays_are_refused_by_every_hub_process_sharing_the_store(&database.url()).await;
    database.remove().await.expect("drop the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_the_recipient_agrees_to_destroys_its_copy_and_freezes_the_senders() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    nghe_an
        .store()
        .add_client("QLVB Nghệ An", &gateway::api::key_hash("nghe-an-key"), "000.00.00.H41", OffsetDateTime::now_utc())
        .await
        .expect("client");
    let (original, document_id) = with_business(edxml::BusinessType::New);
    let (first, _) = office.submit("qlvb", "VPCP-9001", &original).await.expect("queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("collected");

    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let (recall_id, _) = office.submit("qlvb", "VPCP-9001-thu-hoi", &recall).await.expect("recall queued");
    let (update, _) = with_business(edxml::BusinessType::Update);
    let refused = office.submit("qlvb", "VPCP-9001-cap-nhat", &update).await;
    assert!(matches!(refused, Err(gateway::GatewayError::Recalled(ref d)) if *d == document_id), "{refused:?}");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("collected");

    let (_, body) = api(&nghe_an, Some("nghe-an-key"), "GET", "/api/v1/inbox?limit=10", &[], Vec::new()).await;
    let items = json(&body)["items"].as_array().cloned().expect("items");
    let view = |id: &str| items.iter().find(|i| i["package_id"] == id).cloned().expect("listed");
    assert_eq!(view(&first)["latest_event"], "recall-requested");
    assert_eq!(
        (view(&recall_id)["change"].as_str(), view(&recall_id)["refers_to"][0].as_str()),
        (Some("recall"), Some(document_id.as_str()))
    );

    let agree = serde_json::json!({"code": "15"}).to_string().into_bytes();
    let route = format!("/api/v1/inbox/{recall_id}/status");
    let (status, body) = api(&nghe_an, Some("nghe-an-key"), "POST", &route, &[], agree).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let (status, body) =
        api(&nghe_an, Some("nghe-an-key"), "GET", &format!("/api/v1/inbox/{first}"), &[], Vec::new()).await;
    assert_eq!((status, json(&body)["error"].as_str()), (410, Some("destroyed")), "the recalled copy is gone");
    let history = nghe_an.store().document_events(&first, None).await.expect("history");
    let events: Vec<&str> = history.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["recall-requested", "recall-agreed", "destroyed"], "the history is kept");

    nghe_an.send_due().await.expect("statuses");
    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let statuses = office.store().statuses_for(&document_id, None).await.expect("statuses");
    assert!(statuses.iter().any(|s| s.package.subject.as_deref().is_some_and(|t| t.starts_with("15"))), "{statuses:?}");
}

/// The CA's own HTTP service (`ca::router`) with a time-stamp authority, on a real socket: its
/// `/tsa` URL and the root its tokens chain to.
async fn timestamp_authority(dir: &std::path::Path) -> (String, Vec<u8>) {
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new = Authority::create(KeyAlgorithm::P256, "lienthong TSA test", &endpoints, OffsetDateTime::now_utc())
        .expect("authority");
    let authority = Authority::new(new.issuing_der.clone(), new.issuing_key, endpoints);
    let issue = |profile, subject: &str| {
        let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: None,
            key: SubscriberKey::from_key(&key),
        };
        (authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
    };
    let (tsa_cert, tsa_key) = issue(Profile::Tsa, "CN=lienthong TSA 1,O=lienthong test,C=VN");
    let (ocsp_cert, ocsp_key) = issue(Profile::Ocsp, "CN=lienthong OCSP 1,O=lienthong test,C=VN");
    let tsa = pki::TimeStampAuthority::new(&tsa_cert.der, vec![new.issuing_der.clone()], tsa_key).expect("tsa");
    let responder = pki::OcspResponder::new(&new.issuing_der, &ocsp_cert.der, ocsp_key).expect("responder");
    let store = Store::open(&format!("sqlite://{}", dir.join("ca.sqlite").display())).await.expect("store");
    let parts = ca::ServiceParts {
        authority,
        responder,
        store,
        root_der: new.root_der.clone(),
        tsa: Some(tsa),
        policy: ca::Policy::default(),
    };
    let service = ca::CaService::from_parts(parts).await.expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/tsa", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, ca::router(service)).await });
    (url, new.root_der)
}

fn actions(log: &[store::AuditEntry]) -> Vec<&str> {
    log.iter().map(|e| e.action.as_str()).collect()
}

fn details(entry: &store::AuditEntry) -> serde_json::Value {
    serde_json::from_str(&entry.details).expect("JSON details")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_in_the_log_which_a_timestamp_authority_anchors_and_openssl_accepts() {
    use gateway::log::{AnchorError, LogAnchoring, TsaClient};
    use store::AuditStore;
    let net = Network::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let (tsa_url, tsa_root) = timestamp_authority(dir.path()).await;
    let anchoring = LogAnchoring::new(&tsa_url, vec![tsa_root.clone()]).expect("anchoring");
    let (office, office_seal) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let office = office.with_log_anchoring(anchoring.clone());
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    let nghe_an = nghe_an.with_log_anchoring(anchoring.clone().every(Duration::from_millis(200)));
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
    assert_eq!(office.anchor_log_now().await.expect("nothing to anchor"), None, "an empty log");

    // A document out, its receipt back, a clerk's acknowledgement, and a refused package.
    let (package_id, _) = office.submit("qlvb", "VPCP-2026-0101", &sample()).await.expect("queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("collected");
    nghe_an.send_due().await.expect("receipt sent");
    office.receive(Duration::from_secs(5)).await.expect("receipt");
    nghe_an
        .store()
        .acknowledge_incoming(&package_id, "000.00.00.H41", "client:qlvb", OffsetDateTime::now_utc())
        .await
        .expect("ack");
    let revoked = RevokedEntry {
        serial: office_seal,
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    };
    nghe_an.trust().set_crls(&[net.ca.crl(&[revoked])]).expect("new CRL");
    let (refused_id, _) = office.submit("qlvb", "VPCP-2026-0102", &sample()).await.expect("queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("refused");

    let office_log = office.store().audit_entries(0, 100).await.expect("log");
    let nghe_an_log = nghe_an.store().audit_entries(0, 100).await.expect("log");
    assert_eq!(
        actions(&office_log),
        ["package.queued", "package.sent", "package.received", "package.queued", "package.sent"]
    );
    assert_eq!(
        actions(&nghe_an_log),
        [
            "package.received",
            "status.answered",
            "package.sent",
            "package.acknowledged",
            "package.refused",
            "status.answered"
        ],
        "the refusal is logged, then its signed 02 queued"
    );
    let sent = details(&office_log[0]);
    let received = details(&nghe_an_log[0]);
    let sealed = office.store().outgoing(&package_id).await.expect("read").expect("held").package.sha256;
    assert_eq!(
        (&sent["package"], &sent["kind"], &sent["from"]),
        (&package_id.clone().into(), &"document".into(), &"000.00.00.G22".into())
    );
    assert!(sent["to"].as_array().expect("recipients").contains(&"000.00.00.H41".into()), "{sent}");
    assert_eq!(
        (&sent["sha256"], &received["sha256"]),
        (&sealed.clone().into(), &sealed.into()),
        "both ends log the same sealed bytes"
    );
    let answered = details(&nghe_an_log[1]);
    assert_eq!((&answered["status"], &answered["to"]), (&"01".into(), &serde_json::json!(["000.00.00.G22"])));
    assert_eq!(details(&office_log[2])["sha256"], details(&nghe_an_log[2])["sha256"], "the receipt, both ends");
    let refused = details(&nghe_an_log[4]);
    assert_eq!((&refused["package"], &refused["from"]), (&refused_id.into(), &"000.00.00.G22".into()));
    assert!(refused["reason"].as_str().is_some_and(|r| r.starts_with("02: ") && r.contains("revoked")), "{refused}");

    // Anchored once for this head; the chain and the anchor verify; openssl accepts the token.
    let anchored = office.anchor_log_now().await.expect("anchored").expect("the head moved");
    assert_eq!((anchored.seq, anchored.hash.as_str()), (5, office_log[4].hash.as_str()));
    assert_eq!(office.anchor_log_now().await.expect("no change"), None, "only when the head moved");
    let report = gateway::log::verify(office.store(), std::slice::from_ref(&tsa_root)).await.expect("intact");
    assert_eq!((report.entries, report.anchors, report.anchored_through), (5, 1, 5));
    assert_eq!(report.anchored_at.map(|t| t.unix_timestamp()), Some(anchored.at.unix_timestamp()));
    let token = office.store().checkpoints().await.expect("anchors").remove(0).signature;
    std::fs::write(dir.path().join("token.der"), &token).expect("write");
    std::fs::write(dir.path().join("root.pem"), ca::pem("CERTIFICATE", &tsa_root)).expect("write");
    let output = std::process::Command::new("openssl")
        .args(["ts", "-verify", "-digest", &anchored.hash, "-token_in", "-in"])
        .arg(dir.path().join("token.der"))
        .arg("-CAfile")
        .arg(dir.path().join("root.pem"))
        .output()
        .expect("openssl is installed (scripts/test.sh)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && text.contains("Verification: OK"), "{text}");

    // The runner anchors Nghệ An's log within its period.
    tokio::spawn(nghe_an.clone().run_log_anchoring());
    let mut waited = Duration::ZERO;
    while nghe_an.store().checkpoints().await.expect("anchors").is_empty() && waited < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let report = gateway::log::verify(nghe_an.store(), std::slice::from_ref(&tsa_root)).await.expect("intact");
    assert_eq!((report.entries, report.anchored_through), (6, 6), "with the queued 02");

    // An authority that cannot be reached, or whose tokens chain elsewhere, anchors nothing and
    // stops nothing.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closed_url = format!("http://{}/tsa", closed.local_addr().expect("address"));
    drop(closed);
    let (_, another_root) = timestamp_authority(dir.path()).await;
    office.submit("qlvb", "VPCP-2026-0103", &sample()).await.expect("queued");
    for (tsa, expected) in [
        (TsaClient::new(&closed_url, vec![tsa_root.clone()]), "unreachable"),
        (TsaClient::new(&tsa_url, vec![another_root]), "untrusted"),
    ] {
        let error = gateway::log::anchor(office.store(), &tsa.expect("client")).await.expect_err(expected);
        match expected {
            "unreachable" => assert!(matches!(error, AnchorError::Unreachable { .. }), "{error}"),
            _ => assert!(matches!(error, AnchorError::Token(pki::TokenError::Untrusted(_))), "{error}"),
        }
    }
    assert_eq!(office.send_due().await.expect("sending goes on"), 1);
    assert_eq!(office.store().checkpoints().await.expect("anchors").len(), 1, "nothing kept from a failure");
    assert!(matches!(TsaClient::new("https://tsa.example/tsa", Vec::new()), Err(AnchorError::BadUrl(_))));
    let report = gateway::log::verify(office.store(), std::slice::from_ref(&tsa_root)).await.expect("intact");
    assert_eq!((report.entries, report.anchored_through), (7, 5), "newer entries wait for the next anchor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_and_an_oversized_package_are_refused_and_nothing_is_queued() {
    use std::io::Write as _;
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    office
        .store()
        .add_client(
            "QLVB Văn phòng Chính phủ",
            &gateway::api::key_hash("office-key"),
            "000.00.00.G22",
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("client");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("bomb.pdf", options).expect("entry");
    zip.write_all(&vec![0u8; 64 * 1024 * 1024]).expect("zeros");
    let bomb = edxml::EncodedContent::encode(&zip.finish().expect("zip").into_inner());
    let (new, _) = with_business(edxml::BusinessType::New);
    let parsed = edxml::parse(&bytes::Bytes::from(new), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    document.header.to.retain(|to| to.organ_id.as_ref().is_some_and(|o| o.as_str() == "000.00.00.H41"));
    let attachment = edxml::model::Attachment {
        content: bomb,
        ..edxml::model::Attachment::from_file("1", "bomb.pdf", "application/pdf", b"")
    };
    document.attachments = vec![attachment];
    let package = edxml::write(&edxml::Package::Document(document));

    let headers = [("idempotency-key", "bomb")];
    let (status, body) = api(&office, Some("office-key"), "POST", "/api/v1/packages", &headers, package).await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (422, Some("invalid-package")),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        String::from_utf8_lossy(&body).contains("zip bomb"),
        "the reason is named: {}",
        String::from_utf8_lossy(&body)
    );
    let oversized = vec![b' '; gateway::api::MAX_SUBMIT_BYTES + 1];
    let headers = [("idempotency-key", "huge")];
    let (status, _) = api(&office, Some("office-key"), "POST", "/api/v1/packages", &headers, oversized).await;
    assert_eq!(status, 413, "bounded before it is read whole");
    assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");
}

/// `call`'s answer, which must come within 20 s.
async fn within<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), call).await.expect("answered")
}

/// A body whose first bytes arrive and whose rest never does.
fn endless_body() -> axum::body::Body {
    use futures_util::StreamExt as _;
    let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"<?xml ")) });
    axum::body::Body::from_stream(first.chain(futures_util::stream::pending()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_body_is_read_only_for_a_known_caller_within_the_size_limit_and_the_budget() {
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let office = office.with_submission_wait(Duration::from_millis(300));
    let key = gateway::api::key_hash("office-key");
    office.store().add_client("QLVB", &key, "000.00.00.G22", OffsetDateTime::now_utc()).await.expect("client");
    let path = "/api/v1/packages";

    let (status, _) =
        within(api_streaming(&office, None, "POST", path, &[("idempotency-key", "a")], endless_body())).await;
    assert_eq!(status, 401, "an unknown caller is answered without its body being read");

    let max = gateway::api::MAX_SUBMIT_BYTES.to_string();
    let over = (gateway::api::MAX_SUBMIT_BYTES + 1).to_string();
    let announced = [("idempotency-key", "b"), ("content-length", over.as_str())];
    let (status, body) =
        within(api_streaming(&office, Some("office-key"), "POST", path, &announced, endless_body())).await;
    assert_eq!((status, json(&body)["error"].as_str()), (413, Some("too-large")), "refused on its announced length");

    // Two of the largest bodies, arriving slowly, hold the whole budget: a third waits, then is
    // told the gateway is busy; once they are gone it is read.
    let holders: Vec<_> = ["c", "d"]
        .into_iter()
        .map(|reference| {
            let (office, max) = (office.clone(), max.clone());
            tokio::spawn(async move {
                let headers = [("idempotency-key", reference), ("content-length", max.as_str())];
                api_streaming(&office, Some("office-key"), "POST", path, &headers, endless_body()).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let small = [("idempotency-key", "e")];
    let (status, body) = within(api(&office, Some("office-key"), "POST", path, &small, b"not edXML".to_vec())).await;
    assert_eq!((status, json(&body)["error"].as_str()), (503, Some("busy")), "{}", String::from_utf8_lossy(&body));
    for holder in holders {
        holder.abort();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = within(api(&office, Some("office-key"), "POST", path, &small, b"not edXML".to_vec())).await;
    assert_eq!((status, json(&body)["error"].as_str()), (422, Some("invalid-package")), "read and refused as such");
    assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_for_a_ministry_and_its_unit_is_listed_for_both_and_each_answers_01() {
    let net = Network::start().await;
    let (office, ministry) = ministry_and_unit(&net).await;
    let (new, _) = with_business(edxml::BusinessType::New);
    let parsed = edxml::parse(&bytes::Bytes::from(new), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let to =
        |code: &str| edxml::model::Organization::with_id(edxml::OrganId::from(AgencyCode::parse(code).expect("code")));
    document.header.to = vec![to("000.00.00.G12"), to("000.00.04.G12")];
    let package = edxml::write(&edxml::Package::Document(document));

    let (package_id, _) = office.submit("qlvb", "VPCP-BTC-1", &package).await.expect("queued");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("collected"), 2, "one delivery per recipient");
    for recipient in ["000.00.00.G12", "000.00.04.G12"] {
        let listed = ministry.store().inbox(Some(recipient), 0, 10).await.expect("inbox");
        assert_eq!(listed.iter().filter(|i| i.package.package_id == package_id).count(), 1, "{recipient}");
    }
    assert_eq!(ministry.store().inbox(None, 0, 10).await.expect("inbox").len(), 1, "stored once");
    assert_eq!(ministry.send_due().await.expect("receipts"), 2, "a 01 from the Ministry and one from its unit");
    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let senders: Vec<String> =
        office.store().inbox(None, 0, 10).await.expect("statuses").into_iter().map(|s| s.package.sender).collect();
    assert!(
        senders.contains(&"000.00.00.G12".to_owned()) && senders.contains(&"000.00.04.G12".to_owned()),
        "{senders:?}"
    );
}

/// The sample network, with a client system of Nghệ An's (API key `nghe-an-key`).
async fn with_nghe_an_client(net: &Network) -> (Arc<Gateway>, Arc<Gateway>, store::ClientRecord) {
    let (office, nghe_an) = sample_network(net).await;
    let now = OffsetDateTime::now_utc();
    let client =
        nghe_an.store().add_client("QLVB Nghệ An", &gateway::api::key_hash("nghe-an-key"), "000.00.00.H41", now).await;
    (office, nghe_an, client.expect("client"))
}

/// [`with_nghe_an_client`], the client also an SDK system (`nghean-qlvb`, secret `bí mật Nghệ An`).
async fn with_nghe_an_sdk_system(net: &Network) -> (Arc<Gateway>, Arc<Gateway>, store::ClientRecord) {
    let (office, nghe_an, client) = with_nghe_an_client(net).await;
    let now = OffsetDateTime::now_utc();
    nghe_an.store().add_sdk_system(&client.id, "nghean-qlvb", "bí mật Nghệ An", now).await.expect("sdk");
    (office, nghe_an, client)
}

/// Statuses in a gateway's outbox.
async fn statuses_queued(gateway: &Gateway) -> usize {
    gateway.store().sent(PackageKind::Status, None, 0, 100).await.expect("outbox").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_agreed_to_cannot_be_refused_afterwards_409_and_nothing_is_queued() {
    let net = Network::start().await;
    let (office, nghe_an, client) = with_nghe_an_client(&net).await;
    let (_, _, recall_id) = common::document_then_recall(&office, &nghe_an, "VPCP-9201").await;
    let agreed = nghe_an.answer(&client.id, &recall_id, edxml::StatusCode::ChangeAccepted, None).await.expect("15");
    let queued = statuses_queued(&nghe_an).await;

    let answer = serde_json::json!({"code": "16", "description": "Không đồng ý thu hồi"}).to_string().into_bytes();
    let route = format!("/api/v1/inbox/{recall_id}/status");
    let (status, body) = api(&nghe_an, Some("nghe-an-key"), "POST", &route, &[], answer).await;
    let refusal = json(&body);
    assert_eq!((status, refusal["error"].as_str()), (409, Some("already-agreed")), "{refusal}");
    assert!(refusal["message"].as_str().is_some_and(|m| m.contains("đã được đồng ý (15)")), "{refusal}");
    assert_eq!(statuses_queued(&nghe_an).await, queued, "no 16 queued after the 15");
    let again = nghe_an.answer(&client.id, &recall_id, edxml::StatusCode::ChangeAccepted, None).await;
    assert_eq!(again.expect("the same answer again"), agreed, "the same 15 again is the first one");
    assert_eq!(statuses_queued(&nghe_an).await, queued);
}

/// A 15 or 16 that a client system builds itself — as systems on the SDK do, through
/// `/sendEdoc` — is held to what an answer made at the gateway is held to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_15_sent_as_a_package_destroys_the_recalled_copy_and_a_16_after_it_is_refused_409() {
    let net = Network::start().await;
    let (office, nghe_an, _) = with_nghe_an_sdk_system(&net).await;
    let (first, _, recall_id) = common::document_then_recall(&office, &nghe_an, "VPCP-9301").await;
    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let parsed = edxml::parse(&bytes::Bytes::from(recall), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(recall) = parsed.package else { panic!("a document") };
    let nghe_an_code = AgencyCode::parse("000.00.00.H41").expect("code");
    let answer = |code| {
        let at = edxml::VnTimestamp::from_instant(OffsetDateTime::now_utc());
        let status = edxml::answer(&recall, &nghe_an_code, code, None, at).expect("status");
        edxml::write(&edxml::Package::Status(status))
    };
    // Signed afresh for every call (a signature is accepted once).
    let send = || sdk_headers("nghean-qlvb", "bí mật Nghệ An", &[("from", "000.00.00.H41"), ("messagetype", "status")]);

    let agreed = sdk_call(&nghe_an, "sendEdoc", &send(), answer(edxml::StatusCode::ChangeAccepted)).await;
    assert_eq!(agreed["status"].as_str(), Some("OK"), "{agreed}");
    let copy = nghe_an.store().incoming_for(&first, "000.00.00.H41").await.expect("read").expect("held");
    assert!(copy.destroyed_at.is_some(), "the recalled copy is destroyed on the agreement, as for an answer made here");
    let recall_copy = nghe_an.store().incoming_for(&recall_id, "000.00.00.H41").await.expect("read").expect("held");
    assert!(recall_copy.destroyed_at.is_none(), "the recall itself stays");
    let queued = statuses_queued(&nghe_an).await;

    let refused = sdk_call(&nghe_an, "sendEdoc", &send(), answer(edxml::StatusCode::ChangeRefused)).await;
    assert_eq!((refused["status"].as_str(), refused["ErrorCode"].as_str()), (Some("FAIL"), Some("409")), "{refused}");
    assert!(refused["ErrorDesc"].as_str().is_some_and(|d| d.contains("đã được đồng ý (15)")), "{refused}");
    assert!(refused["ErrorDesc"].as_str().is_some_and(|d| d.contains(&recall_id)), "names the recall: {refused}");
    let key = [("idempotency-key", "16-after-15")];
    let body = answer(edxml::StatusCode::ChangeRefused);
    let (status, body) = api(&nghe_an, Some("nghe-an-key"), "POST", "/api/v1/packages", &key, body).await;
    assert_eq!((status, json(&body)["error"].as_str()), (409, Some("already-agreed")), "the client API alike");
    assert_eq!(statuses_queued(&nghe_an).await, queued, "no 16 queued after the 15");

    nghe_an.send_due().await.expect("sent");
    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let statuses = office.store().inbox(None, 0, 10).await.expect("inbox");
    let subjects: Vec<_> = statuses.iter().filter_map(|s| s.package.subject.as_deref()).collect();
    assert!(subjects.iter().any(|s| s.starts_with("15")), "the Office has the 15: {subjects:?}");
    assert!(!subjects.iter().any(|s| s.starts_with("16")), "and no 16: {subjects:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_a_document_destroyed_on_its_recall_is_refused_with_409_not_a_storage_error() {
    let net = Network::start().await;
    let (office, nghe_an, client) = with_nghe_an_sdk_system(&net).await;
    let (first, _, recall_id) = common::document_then_recall(&office, &nghe_an, "VPCP-9101").await;
    nghe_an.answer(&client.id, &recall_id, edxml::StatusCode::ChangeAccepted, None).await.expect("15: destroyed");
    let queued = statuses_queued(&nghe_an).await;

    // The client API.
    let answer = serde_json::json!({"code": "03"}).to_string().into_bytes();
    let route = format!("/api/v1/inbox/{first}/status");
    let (status, body) = api(&nghe_an, Some("nghe-an-key"), "POST", &route, &[], answer).await;
    let refusal = json(&body);
    assert_eq!((status, refusal["error"].as_str()), (409, Some("recalled-and-destroyed")), "{refusal}");
    assert!(refusal["message"].as_str().is_some_and(|m| m.contains("thu hồi và hủy")), "{refusal}");
    assert!(refusal["message_en"].as_str().is_some_and(|m| m.contains("recalled and destroyed")), "{refusal}");
    // What the web inbox calls.
    let answered = nghe_an.answer(&client.id, &first, edxml::StatusCode::Processing, None).await;
    assert!(matches!(answered, Err(gateway::GatewayError::AnswerToDestroyed(ref id)) if *id == first), "{answered:?}");
    // The SDK: the destroyed copy leaves the list; an acknowledgement of it, and a status
    // package about it built by the system itself, are refused.
    let sdk = |extra: &[(&str, &str)]| sdk_headers("nghean-qlvb", "bí mật Nghệ An", extra);
    let listed = sdk_call(&nghe_an, "getReceivedEdocList", &sdk(&[("messagetype", "edoc")]), b"{}".to_vec()).await;
    let listed: Vec<&str> =
        listed["data"].as_array().expect("data").iter().filter_map(|i| i["docId"].as_str()).collect();
    assert_eq!(listed, [recall_id.as_str()], "the recall is listed, the destroyed copy is not");
    let done = sdk_call(&nghe_an, "updateStatus", &sdk(&[("docId", &first), ("status", "done")]), b"{}".to_vec()).await;
    assert_eq!((done["status"].as_str(), done["ErrorCode"].as_str()), (Some("FAIL"), Some("409")), "{done}");
    assert!(done["ErrorDesc"].as_str().is_some_and(|d| d.contains("recalled and destroyed")), "{done}");
    let (original, _) = with_business(edxml::BusinessType::New);
    let parsed = edxml::parse(&bytes::Bytes::from(original), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(document) = parsed.package else { panic!("a document") };
    let nghe_an_code = AgencyCode::parse("000.00.00.H41").expect("code");
    let at = edxml::VnTimestamp::from_instant(OffsetDateTime::now_utc());
    let status = edxml::answer(&document, &nghe_an_code, edxml::StatusCode::Accepted, None, at).expect("status");
    let status = edxml::write(&edxml::Package::Status(status));
    let sent =
        sdk_call(&nghe_an, "sendEdoc", &sdk(&[("from", "000.00.00.H41"), ("messagetype", "status")]), status).await;
    assert_eq!((sent["status"].as_str(), sent["ErrorCode"].as_str()), (Some("FAIL"), Some("409")), "{sent}");
    assert!(sent["ErrorDesc"].as_str().is_some_and(|d| d.contains("đã được thu hồi và hủy")), "{sent}");
    assert_eq!(statuses_queued(&nghe_an).await, queued, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_stays_unverifiable_is_refused_with_02_past_the_limit_not_retried_forever() {
    use gateway::IntakeLimit;
    use store::AuditStore as _;
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let day = Duration::from_secs(24 * 60 * 60);
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    let nghe_an = nghe_an.with_intake_limit(IntakeLimit { max_attempts: 2, give_up_after: day });
    let (cao_bang, _) = net.gateway("000.00.00.H14", "UBND tỉnh Cao Bằng").await;
    let ten_minutes = Duration::from_secs(600);
    let cao_bang = cao_bang.with_intake_limit(IntakeLimit { max_attempts: 1000, give_up_after: ten_minutes });
    net.gateway("000.00.00.G17", "Bộ Tư pháp").await;
    // No current CRL: the sender's seal can be checked by neither.
    nghe_an.trust().set_crls(&[]).expect("no CRL");
    cao_bang.trust().set_crls(&[]).expect("no CRL");
    let (package_id, _) = office.submit("qlvb", "VPCP-2026-0201", &sample()).await.expect("queued");
    office.send_due().await.expect("sent");
    let state = |recipient: &'static str| {
        let hub = net.hub.clone();
        let package_id = package_id.clone();
        async move {
            let copies = hub.store().deliveries(&package_id).await.expect("view");
            copies.into_iter().find(|d| d.recipient == recipient).map(|d| d.state).expect("a copy")
        }
    };

    // By attempts: the first failure waits for its next attempt (1 s), the second gives up.
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("polled"), 0, "unknown status: kept at the hub");
    let failed = nghe_an.store().intake_failures(&package_id, "000.00.00.H41").await.expect("read").expect("failure");
    let early = nghe_an.receive(Duration::ZERO).await.expect("polled");
    // Only meaningful if this second poll ended before the next attempt's (whole) second came (a
    // loaded machine may be slower, and a failure late in a second is due early in the next).
    if OffsetDateTime::now_utc().unix_timestamp() < failed.next_attempt_at {
        assert_eq!(early, 0, "not due yet");
        let failures = nghe_an.store().intake_failures(&package_id, "000.00.00.H41").await.expect("read");
        assert_eq!(failures.map(|f| f.attempts), Some(1), "a poll before the next attempt is due counts nothing");
    } else {
        eprintln!("the second poll came after the next attempt was due: the not-due check is skipped");
    }
    if early == 0 {
        assert_eq!(state("000.00.00.H41").await, DeliveryState::Queued);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused_now = if early == 0 { nghe_an.receive(Duration::ZERO).await.expect("polled") } else { early };
    assert_eq!(refused_now, 1, "refused at the limit");
    assert_eq!(state("000.00.00.H41").await, DeliveryState::Refused);
    assert!(nghe_an.store().inbox(None, 0, 10).await.expect("inbox").is_empty(), "nothing stored");
    let log = nghe_an.store().audit_entries(0, 100).await.expect("log");
    let refused = log.iter().find(|e| e.action == "package.refused").expect("the refusal is recorded");
    let reason = details(refused)["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.starts_with("02: Không xác minh được gói tin sau 2 lần thử")
            && reason.contains("could not be verified after 2 attempts")
            && reason.contains("revocation status is unknown"),
        "{reason}"
    );

    // By time, counted from the first failure (recorded here as if eleven minutes ago).
    let long_ago = OffsetDateTime::now_utc() - time::Duration::minutes(11);
    let earlier = store::FailedIntake {
        package_id: package_id.clone(),
        recipient: "000.00.00.H14".into(),
        hub_delivery: 0,
        error: "the signer's revocation status is unknown".into(),
    };
    cao_bang.store().record_intake_failure(&earlier, long_ago, long_ago).await.expect("an earlier failure");
    assert_eq!(cao_bang.receive(Duration::from_secs(5)).await.expect("polled"), 1, "refused after ten minutes");
    assert_eq!(state("000.00.00.H14").await, DeliveryState::Refused);

    // Each refusal goes back to the sender as a signed status 02.
    assert_eq!(nghe_an.send_due().await.expect("02") + cao_bang.send_due().await.expect("02"), 2);
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("collected"), 2);
    let statuses = office.store().statuses_for(&package_id, None).await.expect("statuses");
    let mut senders: Vec<&str> = statuses.iter().map(|s| s.package.sender.as_str()).collect();
    senders.sort_unstable();
    assert_eq!(senders, ["000.00.00.H14", "000.00.00.H41"]);
    assert!(statuses.iter().all(|s| s.package.subject.as_deref().is_some_and(|t| t.starts_with("02"))), "{statuses:?}");
}

/// The sample as a new document from `from` to `to`.
fn addressed(from: &str, to: &[&str]) -> Vec<u8> {
    let (new, _) = with_business(edxml::BusinessType::New);
    let parsed = edxml::parse(&bytes::Bytes::from(new), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let organ = |code: &str| edxml::OrganId::from(AgencyCode::parse(code).expect("code"));
    document.header.to = to.iter().map(|code| edxml::model::Organization::with_id(organ(code))).collect();
    document.header.from.as_mut().expect("From").organ_id = Some(organ(from));
    edxml::write(&edxml::Package::Document(document))
}

const MINISTRY: &str = "000.00.00.G12";
const UNIT: &str = "000.00.04.G12";

/// The Government Office and the Ministry of Finance, whose gateway also serves its unit; the
/// hub knows both, the unit through its parent.
async fn ministry_and_unit(net: &Network) -> (Arc<Gateway>, Arc<Gateway>) {
    let now = OffsetDateTime::now_utc();
    for (code, parent, mailbox) in [(MINISTRY, None, Some(MINISTRY)), (UNIT, Some(MINISTRY), None)] {
        let agency = AgencyRecord {
            code: code.into(),
            name: code.into(),
            parent: parent.map(str::to_owned),
            mailbox: mailbox.map(str::to_owned),
        };
        net.hub.store().put_agency(&agency, now).await.expect("agency");
    }
    net.hub.reload_registry().await.expect("registry");
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (ministry, _) = net.gateway(MINISTRY, "Bộ Tài chính").await;
    (office, ministry)
}

/// Ids of the items of an API inbox listing.
async fn listed(gateway: &Arc<Gateway>, key: &str) -> std::collections::BTreeSet<String> {
    let (status, body) = api(gateway, Some(key), "GET", "/api/v1/inbox", &[], Vec::new()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let items = json(&body)["items"].as_array().expect("items").clone();
    items.iter().map(|i| i["package_id"].as_str().expect("id").to_owned()).collect()
}

fn set(ids: &[&String]) -> std::collections::BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

/// `package` (an edXML document) readdressed to `to`.
fn readdressed(package: &[u8], to: &[&str]) -> Vec<u8> {
    let parsed = edxml::parse(&bytes::Bytes::copy_from_slice(package), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let organ = |code: &str| edxml::OrganId::from(AgencyCode::parse(code).expect("code"));
    document.header.to = to.iter().map(|code| edxml::model::Organization::with_id(organ(code))).collect();
    edxml::write(&edxml::Package::Document(document))
}

/// Regression: the Ministry's 15 to a recall used to destroy the copy of its unit (served by the
/// same gateway, sharing the stored package) too, and remove the blob the unit still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_agreed_by_the_ministry_destroys_its_copy_only_and_the_unit_keeps_its_own() {
    let net = Network::start().await;
    let (office, ministry) = ministry_and_unit(&net).await;
    let now = OffsetDateTime::now_utc();
    ministry.store().add_client("QLVB Bộ Tài chính", &gateway::api::key_hash("btc"), MINISTRY, now).await.expect("c");
    ministry.store().add_client("QLVB Cục", &gateway::api::key_hash("cuc"), UNIT, now).await.expect("client");
    let wait = Duration::from_secs(5);
    let (original, document_id) = with_business(edxml::BusinessType::New);
    let (first, _) = office.submit("qlvb", "VPCP-BTC-7", &readdressed(&original, &[MINISTRY, UNIT])).await.expect("q");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(wait).await.expect("collected"), 2, "one delivery per recipient");
    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let recall = readdressed(&recall, &[MINISTRY, UNIT]);
    let (recall_id, _) = office.submit("qlvb", "VPCP-BTC-7-thu-hoi", &recall).await.expect("recall queued");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(wait).await.expect("collected"), 2);
    let blob = ministry.store().incoming(&first).await.expect("read").expect("held").package.blob;

    let call = |key: &'static str, method: &'static str, path: String, body: &'static str| {
        let ministry = ministry.clone();
        async move {
            let (status, answer) = api(&ministry, Some(key), method, &path, &[], body.as_bytes().to_vec()).await;
            (status, answer)
        }
    };
    let answer =
        |key: &'static str, id: &str, body: &'static str| call(key, "POST", format!("/api/v1/inbox/{id}/status"), body);
    let read = |key: &'static str| call(key, "GET", format!("/api/v1/inbox/{first}"), "");
    let destroyed_in_listing = |key: &'static str| {
        let first = first.clone();
        let list = call(key, "GET", "/api/v1/inbox".to_owned(), "");
        async move {
            let (_, body) = list.await;
            let items = json(&body)["items"].as_array().cloned().expect("items");
            let item = items.iter().find(|i| i["package_id"] == first.as_str()).cloned().expect("listed");
            item["destroyed"].as_bool().expect("destroyed")
        }
    };

    // The Ministry agrees: its copy is destroyed, the unit's is not.
    let (status, body) = answer("btc", &recall_id, r#"{"code":"15"}"#).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let (status, body) = read("btc").await;
    assert_eq!((status, json(&body)["error"].as_str()), (410, Some("destroyed")), "the Ministry's copy is gone");
    let (status, content) = read("cuc").await;
    assert_eq!(status, 200, "the unit still reads its copy");
    assert!(String::from_utf8_lossy(&content).contains(&document_id), "with its content");
    assert!(ministry.blobs().exists(&blob).await.expect("blob"), "the unit's copy still uses the blob");
    assert_eq!((destroyed_in_listing("btc").await, destroyed_in_listing("cuc").await), (true, false));
    let (status, body) = answer("btc", &first, r#"{"code":"03"}"#).await;
    assert_eq!((status, json(&body)["error"].as_str()), (409, Some("recalled-and-destroyed")), "the Ministry's copy");

    // The unit acknowledges and answers its copy, and refuses the recall.
    let (status, _) = call("cuc", "POST", format!("/api/v1/inbox/{first}/ack"), "").await;
    assert_eq!(status, 200);
    let (status, body) = answer("cuc", &first, r#"{"code":"03"}"#).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let refuse = r#"{"code":"16","description":"Văn bản đang được xử lý"}"#;
    let (status, body) = answer("cuc", &recall_id, refuse).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let (status, content) = read("cuc").await;
    assert!(status == 200 && String::from_utf8_lossy(&content).contains(&document_id), "still the unit's");
    let unit_copy = ministry.store().incoming_for(&first, UNIT).await.expect("read").expect("held");
    assert_eq!((unit_copy.destroyed_at, unit_copy.latest_event.as_deref()), (None, Some("recall-refused")));
    let events = ministry.store().document_events(&first, Some(MINISTRY)).await.expect("history");
    let events: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["recall-requested", "recall-agreed", "destroyed"], "the Ministry's history is its own");

    // Then the unit agrees after all: both copies destroyed, and the blob gone.
    let (status, body) = answer("cuc", &recall_id, r#"{"code":"15"}"#).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let (status, body) = read("cuc").await;
    assert_eq!((status, json(&body)["error"].as_str()), (410, Some("destroyed")));
    assert!(!ministry.blobs().exists(&blob).await.expect("blob"), "no copy uses the blob any more");
    assert!(ministry.store().incoming(&first).await.expect("read").expect("kept").destroyed_at.is_some());
    let (status, body) = answer("cuc", &first, r#"{"code":"04"}"#).await;
    assert_eq!((status, json(&body)["error"].as_str()), (409, Some("recalled-and-destroyed")), "the unit's copy");
    // The unit's earlier 16 sent again is the same package (idempotent), and changes nothing now.
    let (status, _) = answer("cuc", &recall_id, refuse).await;
    assert_eq!(status, 202);
    let unit_copy = ministry.store().incoming_for(&first, UNIT).await.expect("read").expect("held");
    assert_eq!(unit_copy.latest_event.as_deref(), Some("destroyed"), "no refusal recorded after the destruction");

    // The sender hears each recipient's own answers.
    ministry.send_due().await.expect("statuses");
    office.receive(wait).await.expect("statuses");
    let statuses = office.store().statuses_for(&document_id, None).await.expect("statuses");
    let mut answers: Vec<(String, String)> = statuses
        .iter()
        .filter_map(|s| Some((s.package.sender.clone(), s.package.subject.as_deref()?.get(..2)?.to_owned())))
        .filter(|(_, code)| code != "01")
        .collect();
    answers.sort();
    let expected = [(MINISTRY, "15"), (UNIT, "03"), (UNIT, "15"), (UNIT, "16")];
    assert_eq!(answers, expected.map(|(a, c)| (a.to_owned(), c.to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_binds_client_systems_only_to_agencies_it_serves() {
    let net = Network::start().await;
    let (_, ministry) = ministry_and_unit(&net).await;
    let code = |text: &str| AgencyCode::parse(text).expect("code");
    ministry.serves(&code(MINISTRY)).await.expect("its own agency");
    ministry.serves(&code(UNIT)).await.expect("its unit, routed to it by the hub");
    for (other, why) in [("000.00.00.G22", "has a gateway of its own"), ("000.00.09.G12", "unknown to the hub")] {
        let refused = ministry.serves(&code(other)).await;
        assert!(matches!(refused, Err(gateway::GatewayError::NotServed { .. })), "{other} {why}: {refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_and_its_ministry_each_see_only_their_own_mail_through_the_api() {
    let net = Network::start().await;
    let (office, ministry) = ministry_and_unit(&net).await;
    let now = OffsetDateTime::now_utc();
    ministry.store().add_client("QLVB Bộ Tài chính", &gateway::api::key_hash("btc"), MINISTRY, now).await.expect("c");
    ministry.store().add_client("QLVB Cục", &gateway::api::key_hash("cuc"), UNIT, now).await.expect("client");
    let (to_ministry, _) = office.submit("qlvb", "A", &addressed("000.00.00.G22", &[MINISTRY])).await.expect("A");
    let (to_unit, _) = office.submit("qlvb", "B", &addressed("000.00.00.G22", &[UNIT])).await.expect("B");
    let (to_both, _) = office.submit("qlvb", "C", &addressed("000.00.00.G22", &[MINISTRY, UNIT])).await.expect("C");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("collected"), 4);

    assert_eq!(listed(&ministry, "btc").await, set(&[&to_ministry, &to_both]), "the Ministry's own mail");
    assert_eq!(listed(&ministry, "cuc").await, set(&[&to_unit, &to_both]), "the unit's own mail");
    let other = format!("/api/v1/inbox?recipient={UNIT}");
    let (status, _) = api(&ministry, Some("btc"), "GET", &other, &[], Vec::new()).await;
    assert_eq!(status, 400, "a client system cannot ask for another agency's mail");

    // Another agency's package is answered exactly as an unknown one, and nothing changes.
    let entries = ministry.store().audit_entries(0, 10_000).await.expect("log").len();
    let queued = ministry.store().sent(PackageKind::Status, None, 0, 100).await.expect("statuses").len();
    for (key, theirs) in [("btc", &to_unit), ("cuc", &to_ministry)] {
        for (method, suffix, body) in
            [("GET", "", Vec::new()), ("POST", "/ack", Vec::new()), ("POST", "/status", br#"{"code":"03"}"#.to_vec())]
        {
            let (status, answer) =
                api(&ministry, Some(key), method, &format!("/api/v1/inbox/{theirs}{suffix}"), &[], body.clone()).await;
            let (unknown_status, unknown) =
                api(&ministry, Some(key), method, &format!("/api/v1/inbox/nope{suffix}"), &[], body).await;
            assert_eq!((status, json(&answer)["error"].clone()), (404, "not-found".into()), "{key} {method} {suffix}");
            assert_eq!((status, json(&answer)["error"].clone()), (unknown_status, json(&unknown)["error"].clone()));
        }
    }
    assert_eq!(ministry.store().audit_entries(0, 10_000).await.expect("log").len(), entries, "nothing logged");
    let statuses = ministry.store().sent(PackageKind::Status, None, 0, 100).await.expect("statuses");
    assert_eq!(statuses.len(), queued, "no status queued");
    assert!(!ministry.store().incoming_for(&to_unit, UNIT).await.expect("read").expect("held").acknowledged);

    // One acknowledging its copy leaves the other's waiting.
    let (status, _) =
        api(&ministry, Some("btc"), "POST", &format!("/api/v1/inbox/{to_both}/ack"), &[], Vec::new()).await;
    assert_eq!(status, 200);
    let (_, body) = api(&ministry, Some("cuc"), "GET", "/api/v1/inbox", &[], Vec::new()).await;
    let unit_view = json(&body)["items"].as_array().expect("items").clone();
    let copy = unit_view.iter().find(|i| i["package_id"] == to_both.as_str()).expect("listed");
    assert_eq!((copy["acknowledged"].as_bool(), copy["recipient"].as_str()), (Some(false), Some(UNIT)), "{copy}");
    let (_, body) = api(&ministry, Some("btc"), "GET", "/api/v1/inbox", &[], Vec::new()).await;
    let ministry_view = json(&body)["items"].as_array().expect("items").clone();
    let copy = ministry_view.iter().find(|i| i["package_id"] == to_both.as_str()).expect("listed");
    assert_eq!(copy["acknowledged"].as_bool(), Some(true));

    // The unit answers its copy, as the unit.
    let path = format!("/api/v1/inbox/{to_both}/status");
    let (status, body) = api(&ministry, Some("cuc"), "POST", &path, &[], br#"{"code":"03"}"#.to_vec()).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let answer = json(&body)["package_id"].as_str().expect("id").to_owned();
    assert_eq!(ministry.store().outgoing(&answer).await.expect("read").expect("queued").package.sender, UNIT);

    // Each sends only as its own agency.
    let from_unit = addressed(UNIT, &["000.00.00.G22"]);
    let headers = [("idempotency-key", "CQLCS-1")];
    let (status, body) = api(&ministry, Some("btc"), "POST", "/api/v1/packages", &headers, from_unit.clone()).await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (403, Some("wrong-sender")),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(json(&body)["message"].as_str().is_some_and(|m| m.contains("chưa gửi gì")), "Vietnamese first");
    assert!(json(&body)["message_en"].as_str().is_some_and(|m| m.contains("nothing was queued")));
    let (status, body) =
        api(&ministry, Some("cuc"), "POST", "/api/v1/packages", &headers, addressed(MINISTRY, &["000.00.00.G22"]))
            .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let documents = ministry.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox");
    assert!(documents.is_empty(), "nothing queued: {documents:?}");
    let (status, body) = api(&ministry, Some("cuc"), "POST", "/api/v1/packages", &headers, from_unit).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let sent = json(&body)["package_id"].as_str().expect("id").to_owned();
    let (status, _) = api(&ministry, Some("btc"), "GET", &format!("/api/v1/outbox/{sent}"), &[], Vec::new()).await;
    assert_eq!(status, 404, "another agency's outbox is not the Ministry's to follow");
    let (status, _) = api(&ministry, Some("cuc"), "GET", &format!("/api/v1/outbox/{sent}"), &[], Vec::new()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_and_its_ministry_each_see_only_their_own_mail_through_the_sdk() {
    let net = Network::start().await;
    let (office, ministry) = ministry_and_unit(&net).await;
    let now = OffsetDateTime::now_utc();
    for (name, agency, system, secret) in
        [("SDK BTC", MINISTRY, "btc", "bí mật BTC"), ("SDK Cục", UNIT, "cuc", "bí mật Cục")]
    {
        let client = ministry.store().add_client(name, &format!("unused-{system}"), agency, now).await.expect("c");
        ministry.store().add_sdk_system(&client.id, system, secret, now).await.expect("sdk");
    }
    let (to_ministry, _) = office.submit("qlvb", "A", &addressed("000.00.00.G22", &[MINISTRY])).await.expect("A");
    let (to_unit, _) = office.submit("qlvb", "B", &addressed("000.00.00.G22", &[UNIT])).await.expect("B");
    let (to_both, _) = office.submit("qlvb", "C", &addressed("000.00.00.G22", &[MINISTRY, UNIT])).await.expect("C");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("collected"), 4);

    let as_ = |who: &str| if who == "btc" { ("btc", "bí mật BTC") } else { ("cuc", "bí mật Cục") };
    let call = |who: &'static str, operation: &'static str, extra: Vec<(&'static str, String)>, body: Vec<u8>| {
        let ministry = ministry.clone();
        async move {
            let (system, secret) = as_(who);
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sdk_call(&ministry, operation, &sdk_headers(system, secret, &extra), body).await
        }
    };
    let received = |who: &'static str| {
        let call = &call;
        async move {
            let list = call(who, "getReceivedEdocList", vec![("messagetype", "edoc".into())], b"{}".to_vec()).await;
            let data = list["data"].as_array().expect("data").clone();
            data.iter()
                .map(|d| d["docId"].as_str().expect("docId").to_owned())
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    assert_eq!(received("btc").await, set(&[&to_ministry, &to_both]));
    assert_eq!(received("cuc").await, set(&[&to_unit, &to_both]));

    let unknown = call("btc", "getEdoc", vec![("docId", "nope".into())], b"{}".to_vec()).await;
    let theirs = call("btc", "getEdoc", vec![("docId", to_unit.clone())], b"{}".to_vec()).await;
    assert_eq!((theirs["status"].as_str(), theirs["ErrorCode"].as_str()), (Some("FAIL"), Some("404")), "{theirs}");
    assert_eq!(theirs["ErrorCode"], unknown["ErrorCode"], "as an unknown one");
    let done = |id: &String| vec![("docId", id.clone()), ("status", "done".to_owned())];
    let refused = call("btc", "updateStatus", done(&to_unit), b"{}".to_vec()).await;
    assert_eq!((refused["status"].as_str(), refused["ErrorCode"].as_str()), (Some("FAIL"), Some("404")));
    assert_eq!(received("cuc").await, set(&[&to_unit, &to_both]), "the unit's copy still waits");
    let mine = call("btc", "getEdoc", vec![("docId", to_both.clone())], b"{}".to_vec()).await;
    assert_eq!(mine["status"], "OK", "{mine}");
    assert_eq!(call("btc", "updateStatus", done(&to_both), b"{}".to_vec()).await["status"], "OK");
    assert_eq!(received("btc").await, set(&[&to_ministry]));
    assert_eq!(received("cuc").await, set(&[&to_unit, &to_both]), "one acknowledging is not the other");

    let from_unit = addressed(UNIT, &["000.00.00.G22"]);
    let wrong = call("btc", "sendEdoc", vec![("from", UNIT.into())], from_unit.clone()).await;
    assert_eq!((wrong["status"].as_str(), wrong["ErrorCode"].as_str()), (Some("FAIL"), Some("403")), "{wrong}");
    assert!(ministry.store().sent(PackageKind::Document, None, 0, 10).await.expect("outbox").is_empty());
    let sent = call("cuc", "sendEdoc", vec![("from", UNIT.into())], from_unit).await;
    assert_eq!(sent["status"], "OK", "{sent}");
    let sent_list = |who: &'static str| {
        let call = &call;
        async move { call(who, "getSentEdocList", vec![("messagetype", "edoc".into())], b"{}".to_vec()).await }
    };
    let unit_sent = sent_list("cuc").await;
    assert_eq!(unit_sent["data"][0]["senderDocId"], sent["DocId"], "{unit_sent}");
    assert_eq!(sent_list("btc").await["data"].as_array().expect("data").len(), 0, "the unit's are not the Ministry's");
}

/// Regression: a gateway restarted while the hub was down refused every document ("hub
/// unavailable"), because the recipients' certificates were remembered only in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_while_the_hub_is_down_still_seals_for_recipients_it_knew() {
    let mut net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    for (agency, name) in common::AGENCIES.iter().skip(1) {
        net.gateway(agency, name).await;
    }
    office.submit("qlvb", "VPCP-9301", &sample()).await.expect("queued while the hub answers");

    // The same gateway after a restart, with the hub unreachable (nothing listens on port 1).
    net.hub_url = "https://127.0.0.1:1".into();
    let (store, blobs) = common::store(net.dir.path(), "000.00.00.G22").await;
    let (restarted, _) = net.gateway_over("000.00.00.G22", "Văn phòng Chính phủ", store, blobs).await;
    let known = addressed("000.00.00.G22", &["000.00.00.H41", "000.00.00.G17"]);
    let (queued, new) = restarted.submit("qlvb", "VPCP-9303", &known).await.expect("sealed from the store");
    assert!(new, "{queued}");
    // A recipient it never sealed for cannot be had: a clear error, nothing queued.
    let unknown = addressed("000.00.00.G22", &["000.00.00.H42"]);
    let refused = restarted.submit("qlvb", "VPCP-9302", &unknown).await;
    assert!(matches!(refused, Err(gateway::GatewayError::Hub(_))), "{refused:?}");
    assert_eq!(restarted.store().sent(PackageKind::Document, None, 0, 10).await.expect("outbox").len(), 2);
}

/// A unit's client system sends through its parent's gateway only while the hub routes the
/// unit's copies there; once the unit has a gateway of its own, the parent's gateway no longer
/// signs for it — also when it restarts while the hub is down (the hub's last answer is kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stops_sending_for_a_unit_once_the_hub_gives_it_a_gateway_of_its_own() {
    let mut net = Network::start().await;
    let (_office, ministry) = ministry_and_unit(&net).await;
    let now = OffsetDateTime::now_utc();
    ministry.store().add_client("QLVB Bộ Tài chính", &gateway::api::key_hash("btc"), MINISTRY, now).await.expect("c");
    let unit = ministry.store().add_client("QLVB Cục", &gateway::api::key_hash("cuc"), UNIT, now).await.expect("c");
    ministry.store().add_sdk_system(&unit.id, "cuc", "bí mật Cục", now).await.expect("sdk");
    assert_eq!(send(&ministry, "cuc", UNIT, "CUC-1").await.0, 202, "the unit is served by its parent");

    // The hub is down and the gateway restarts: the last answer known still lets the unit send.
    let hub_url = std::mem::replace(&mut net.hub_url, "https://127.0.0.1:1".into());
    let restarted = reopened(&net, MINISTRY).await;
    assert_eq!(send(&restarted, "cuc", UNIT, "CUC-2").await.0, 202, "sent during the hub's outage");

    // The hub's registry gives the unit a gateway of its own.
    net.hub_url = hub_url;
    net.gateway(UNIT, "Cục").await;
    let own = AgencyRecord {
        code: UNIT.into(),
        name: UNIT.into(),
        parent: Some(MINISTRY.into()),
        mailbox: Some(UNIT.into()),
    };
    net.hub.store().put_agency(&own, now).await.expect("agency");
    net.hub.reload_registry().await.expect("registry");
    let after = reopened(&net, MINISTRY).await;
    let outbox = after.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox");
    let entries = after.store().audit_entries(0, 10_000).await.expect("log").len();
    let (status, body) = send(&after, "cuc", UNIT, "CUC-3").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("sender-not-served")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("chưa gửi gì")), "Vietnamese first: {body}");
    assert!(body["message_en"].as_str().is_some_and(|m| m.contains(UNIT) && m.contains("nothing was queued")));
    let headers = sdk_headers("cuc", "bí mật Cục", &[("from", UNIT)]);
    let refused = sdk_call(&after, "sendEdoc", &headers, addressed(UNIT, &["000.00.00.G22"])).await;
    assert_eq!((refused["status"].as_str(), refused["ErrorCode"].as_str()), (Some("FAIL"), Some("403")), "{refused}");
    assert_eq!(
        after.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox"),
        outbox,
        "nothing queued"
    );
    assert_eq!(after.store().audit_entries(0, 10_000).await.expect("log").len(), entries, "nothing logged");

    // Down again after a restart, the hub's last answer still refuses the unit; the Ministry, the
    // gateway's own agency, sends without asking the hub.
    net.hub_url = "https://127.0.0.1:1".into();
    let down = reopened(&net, MINISTRY).await;
    assert_eq!(send(&down, "cuc", UNIT, "CUC-4").await.0, 403, "the last answer known");
    assert_eq!(send(&down, "btc", MINISTRY, "BTC-1").await.0, 202, "its own agency");
    assert_eq!(down.store().sent(PackageKind::Document, None, 0, 100).await.expect("outbox").len(), outbox.len() + 1);
}

/// Submits the sample from `from` to the Office through the API with `key`: status and body.
async fn send(gateway: &Arc<Gateway>, key: &str, from: &str, reference: &str) -> (u16, serde_json::Value) {
    let headers = [("idempotency-key", reference)];
    let (status, body) =
        api(gateway, Some(key), "POST", "/api/v1/packages", &headers, addressed(from, &["000.00.00.G22"])).await;
    (status, json(&body))
}

/// `agency`'s gateway again, over the store it had (a restart), talking to `net.hub_url`.
async fn reopened(net: &Network, agency: &str) -> Arc<Gateway> {
    let (store, blobs) = common::store(net.dir.path(), agency).await;
    net.gateway_over(agency, agency, store, blobs).await.0
}

/// The sample with one more attachment of `size` incompressible bytes (listed in its manifest):
/// the package and the attachment's data.
fn with_large_attachment(size: usize) -> (Vec<u8>, Vec<u8>) {
    let parsed = edxml::parse(&bytes::Bytes::from(sample()), &edxml::Limits::default()).expect("sample parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let mut data = vec![0u8; size];
    aws_lc_rs::rand::fill(&mut data).expect("random data");
    let attachment = edxml::model::Attachment::from_file("bao-cao-lon", "bao-cao-lon.pdf", "application/pdf", &data);
    document.manifest.get_or_insert_with(Default::default).references.push(attachment.manifest_reference());
    document.attachments.push(attachment);
    (edxml::write(&edxml::Package::Document(document)), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_larger_than_the_spool_threshold_travels_through_files_and_arrives_byte_identical() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    let (package, data) = with_large_attachment(2 * store::spool::SPOOL_ABOVE);
    assert!(package.len() > 2 * store::spool::SPOOL_ABOVE);

    let (package_id, _) = office.submit("qlvb", "VPCP-2026-LON", &package).await.expect("queued");
    assert_eq!(office.send_due().await.expect("sent"), 1);
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("collected"), 1);
    let inbox = nghe_an.store().inbox(None, 0, 10).await.expect("inbox");
    assert_eq!(inbox[0].package.package_id, package_id);

    let stored = nghe_an.blobs().map(&inbox[0].package.blob).await.expect("the stored package, mapped");
    let parsed = edxml::parse(&stored, &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(document) = parsed.package else { panic!("a document") };
    let large = document.attachments.iter().find(|a| a.name.as_deref() == Some("bao-cao-lon.pdf")).expect("attached");
    let files = large.content.unpack(&edxml::ZipLimits::default()).expect("unpacks");
    assert!(files[0].data == data, "the attachment arrives byte for byte");
    xmlsig::verify(&stored).expect("as signed by the Office");

    assert_eq!(nghe_an.send_due().await.expect("receipt"), 1, "answered 01 like any package");
    assert_eq!(office.receive(Duration::from_secs(5)).await.expect("status"), 1);
    for gateway in [&office, &nghe_an] {
        let left: Vec<_> = std::fs::read_dir(gateway.blobs().spool().dir()).expect("spool").collect();
        assert!(left.is_empty(), "{}: nothing stays in the spool: {left:?}", gateway.agency());
    }
}

/// What [`ministry_copy_destroyed_while_the_units_waits`] leaves: the Office's and the Ministry's
/// gateways, the package and its document, the client reference it was sent under, and the blob
/// its content was stored in (removed by then).
struct BlobRemoved {
    office: Arc<Gateway>,
    ministry: Arc<Gateway>,
    package_id: String,
    document_id: String,
    reference: &'static str,
    blob: String,
}

/// `recipient`'s copy of `package_id` at the hub.
async fn hub_copy(net: &Network, package_id: &str, recipient: &str) -> store::DeliveryRecord {
    let copies = net.hub.store().deliveries(package_id).await.expect("view");
    copies.into_iter().find(|d| d.recipient == recipient).expect("a copy")
}

/// Records a failed attempt to take in the unit's delivery of `package_id`, its next attempt due
/// at `next` (the state a download that broke off leaves).
async fn unit_attempt_due_at(net: &Network, ministry: &Gateway, package_id: &str, next: OffsetDateTime) {
    let failure = store::FailedIntake {
        package_id: package_id.to_owned(),
        recipient: UNIT.into(),
        hub_delivery: hub_copy(net, package_id, UNIT).await.id,
        error: "the download broke off".into(),
    };
    ministry.store().record_intake_failure(&failure, OffsetDateTime::now_utc(), next).await.expect("recorded");
}

/// Receipts (01) `gateway` queued as `reporter`.
async fn receipts_queued(gateway: &Gateway, reporter: &str) -> usize {
    let sent = gateway.store().sent(PackageKind::Status, Some(reporter), 0, 100).await.expect("outbox");
    sent.iter().filter(|s| s.package.status_code.as_deref() == Some("01")).count()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts the unit reads `package_id` through the API (client key "cuc"), and that its blob is
/// in place and holds the content it is named after.
async fn unit_reads(ministry: &Arc<Gateway>, package_id: &str, document_id: &str, blob: &str) {
    assert!(ministry.blobs().exists(blob).await.expect("blob"), "the unit's copy has its blob");
    let content = ministry.blobs().map(blob).await.expect("blob read");
    assert_eq!(sha256_hex(&content), blob, "the blob holds the content it is named after");
    let path = format!("/api/v1/inbox/{package_id}");
    let (status, body) = api(ministry, Some("cuc"), "GET", &path, &[], Vec::new()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(document_id), "the document's content");
}

/// A document from the Office to the unit and the Ministry (in that order), and its recall to
/// the Ministry. The hub lists every delivery in one poll and the gateway would take all in, so
/// the unit's is held back at the hub the one way the gateway allows: an earlier attempt to take
/// it in failed (recorded here) and the next is an hour away; listed first, it is met before the
/// Ministry's copy is stored (a package stored already would be completed for the unit without
/// that check). The Ministry's copy is taken in, then destroyed as the Ministry agrees to the
/// recall, and with no other copy using it the blob is removed.
async fn ministry_copy_destroyed_while_the_units_waits(net: &Network) -> BlobRemoved {
    let (office, ministry) = ministry_and_unit(net).await;
    let now = OffsetDateTime::now_utc();
    ministry.store().add_client("QLVB Cục", &gateway::api::key_hash("cuc"), UNIT, now).await.expect("client");
    let wait = Duration::from_secs(5);
    let reference = "VPCP-BTC-20";
    let (original, document_id) = with_business(edxml::BusinessType::New);
    let to_both = readdressed(&original, &[UNIT, MINISTRY]);
    let (package_id, _) = office.submit("qlvb", reference, &to_both).await.expect("queued");
    office.send_due().await.expect("sent");
    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let recall = readdressed(&recall, &[MINISTRY]);
    let (recall_id, _) = office.submit("qlvb", "VPCP-BTC-20-thu-hoi", &recall).await.expect("recall queued");
    office.send_due().await.expect("sent");
    unit_attempt_due_at(net, &ministry, &package_id, now + time::Duration::HOUR).await;
    // One poll: once the package is stored, a later poll would complete it for the unit from
    // the blob at hand (`take_in_again`), whatever failures were recorded.
    assert_eq!(ministry.receive(wait).await.expect("collected"), 2, "the Ministry's copy and the recall");
    assert!(ministry.store().incoming_for(&package_id, UNIT).await.expect("read").is_none(), "the unit's waits");
    assert_eq!(hub_copy(net, &package_id, UNIT).await.state, DeliveryState::Queued);
    let blob = ministry.store().incoming(&package_id).await.expect("read").expect("held").package.blob;
    assert!(ministry.blobs().exists(&blob).await.expect("blob"));
    let agreed = edxml::StatusCode::ChangeAccepted;
    ministry.answer_as("btc", &recall_id, Some(MINISTRY), agreed, None).await.expect("15: destroyed");
    let copy = ministry.store().incoming_for(&package_id, MINISTRY).await.expect("read").expect("held");
    assert!(copy.destroyed_at.is_some(), "the Ministry's copy is destroyed");
    assert!(!ministry.blobs().exists(&blob).await.expect("blob"), "no copy uses the blob: removed");
    assert_eq!(receipts_queued(&ministry, UNIT).await, 0, "nothing taken in for the unit yet");
    BlobRemoved { office, ministry, package_id, document_id, reference, blob }
}

/// Queues the package `office` sent under `reference` again, the same sealed bytes under a new
/// id, for `recipient` only, and hands it to the hub: the new package's id.
async fn send_again(office: &Gateway, reference: &str, recipient: &str) -> String {
    let sent = office.store().outgoing_by_reference("qlvb", reference).await.expect("read").expect("sent");
    let again = store::OutgoingPackage {
        package_id: format!("{}-lan-2", sent.package.package_id),
        client_ref: format!("{reference}-lan-2"),
        recipients: vec![recipient.into()],
        ..sent.package
    };
    office.store().enqueue(&again, OffsetDateTime::now_utc()).await.expect("queued");
    assert_eq!(office.send_due().await.expect("sent"), 1);
    again.package_id
}

/// `take_in` → `content_at_hand` (false: the blob is gone) → `take_in_new`: a delivery of a
/// package stored before, collected after every copy using its blob was destroyed and the blob
/// removed, fetches the content from the hub again, verifies and stores it, and answers 01 once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_delivery_collected_after_the_blob_was_removed_fetches_the_content_again() {
    let net = Network::start().await;
    let BlobRemoved { office, ministry, package_id, document_id, blob, .. } =
        ministry_copy_destroyed_while_the_units_waits(&net).await;

    // The unit's next attempt comes due.
    unit_attempt_due_at(&net, &ministry, &package_id, OffsetDateTime::now_utc() - time::Duration::SECOND).await;
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("collected"), 1, "the unit's delivery");
    let unit_copy = ministry.store().incoming_for(&package_id, UNIT).await.expect("read").expect("stored");
    assert_eq!((unit_copy.destroyed_at, unit_copy.package.blob.as_str()), (None, blob.as_str()));
    unit_reads(&ministry, &package_id, &document_id, &blob).await;
    let ministry_copy = ministry.store().incoming_for(&package_id, MINISTRY).await.expect("read").expect("held");
    assert!(ministry_copy.destroyed_at.is_some(), "the Ministry's copy stays destroyed");
    assert_eq!(hub_copy(&net, &package_id, UNIT).await.state, DeliveryState::Acknowledged);
    assert_eq!(receipts_queued(&ministry, UNIT).await, 1, "the unit's 01");
    assert_eq!(ministry.receive(Duration::ZERO).await.expect("polled"), 0, "nothing left at the hub");
    assert_eq!(receipts_queued(&ministry, UNIT).await, 1, "answered once");

    ministry.send_due().await.expect("sent");
    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let statuses = office.store().statuses_for(&document_id, None).await.expect("statuses");
    let from_unit: Vec<_> = statuses.iter().filter(|s| s.package.sender == UNIT).collect();
    assert_eq!(from_unit.len(), 1, "{statuses:?}");
    assert!(from_unit[0].package.subject.as_deref().is_some_and(|s| s.starts_with("01")), "{from_unit:?}");
}

/// `keep` writes the blob again when a destroyed copy's blob of the same content was removed
/// between its put and its commit. That window cannot be hit deterministically from outside, so
/// this covers what can be: the same sealed package sent again to the unit under a new id (its
/// first delivery was refused) after the blob was removed is stored under the same blob, which
/// is in place and readable; and a removal interrupted after setting that blob aside puts it back
/// (`finish_blob_removals`), since the new copy uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_content_sent_again_after_its_blob_was_removed_is_stored_and_readable() {
    let net = Network::start().await;
    let BlobRemoved { office, ministry, package_id, document_id, reference, blob } =
        ministry_copy_destroyed_while_the_units_waits(&net).await;

    // The unit's delivery of the first is settled at the hub (refused, as if the gateway had
    // given up on it), so only the new package is collected next.
    let held_back = hub_copy(&net, &package_id, UNIT).await;
    let refused = Some("could not be taken in");
    let now = OffsetDateTime::now_utc();
    net.hub
        .store()
        .settle(held_back.id, &held_back.mailbox, DeliveryState::Refused, refused, now)
        .await
        .expect("refused");
    let again = send_again(&office, reference, UNIT).await;
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("collected"), 1, "the new package only");
    let copy = ministry.store().incoming_for(&again, UNIT).await.expect("read").expect("stored");
    assert_eq!((copy.destroyed_at, copy.package.blob.as_str()), (None, blob.as_str()), "the same content");
    unit_reads(&ministry, &again, &document_id, &blob).await;
    assert_eq!(hub_copy(&net, &again, UNIT).await.state, DeliveryState::Acknowledged);
    assert_eq!(receipts_queued(&ministry, UNIT).await, 1, "the unit's 01 for the new package");
    let first = ministry.store().incoming_for(&package_id, MINISTRY).await.expect("read").expect("held");
    assert!(first.destroyed_at.is_some(), "the Ministry's copy of the first stays destroyed");

    // A removal of the blob that set it aside and was interrupted is finished: a copy uses it.
    assert!(ministry.blobs().set_aside(&blob).await.expect("set aside"));
    ministry.finish_blob_removals().await.expect("finished");
    unit_reads(&ministry, &again, &document_id, &blob).await;
}

/// A document sent again, in a new package, to a recipient that destroyed it on a recall lives
/// again there: stored, answered 01 and settled at the hub (before, its 01 was refused as an
/// answer to a destroyed document, and the delivery waited at the hub for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_sent_again_to_the_recipient_that_destroyed_it_on_a_recall_is_settled() {
    let net = Network::start().await;
    let (office, nghe_an) = sample_network(&net).await;
    let (first, _, recall_id) = common::document_then_recall(&office, &nghe_an, "VPCP-9301").await;
    let blob = nghe_an.store().incoming(&first).await.expect("read").expect("held").package.blob;
    nghe_an.answer("qlvb", &recall_id, edxml::StatusCode::ChangeAccepted, None).await.expect("15: destroyed");
    assert!(!nghe_an.blobs().exists(&blob).await.expect("blob"), "removed");
    let receipts = receipts_queued(&nghe_an, "000.00.00.H41").await;
    let again = send_again(&office, "VPCP-9301", "000.00.00.H41").await;
    for _ in 0..2 {
        nghe_an.receive(Duration::from_secs(5)).await.expect("polled");
    }
    let stored = nghe_an.store().incoming_for(&again, "000.00.00.H41").await.expect("read");
    assert!(stored.is_some_and(|c| c.destroyed_at.is_none()), "stored");
    assert!(nghe_an.blobs().exists(&blob).await.expect("blob"), "with its blob");
    let state = hub_copy(&net, &again, "000.00.00.H41").await.state;
    assert_eq!(state, DeliveryState::Acknowledged, "the delivery is settled");
    assert_eq!(receipts_queued(&nghe_an, "000.00.00.H41").await, receipts + 1, "answered 01 once");
}

/// A TCP proxy in front of the hub at `hub_url` that, while `stall` is set, stops passing the
/// hub's bytes on a connection once `after` of them went through (the connection stays open and
/// silent until the gateway closes it). Returns its URL.
async fn stalling_proxy(hub_url: &str, stall: Arc<std::sync::atomic::AtomicBool>, after: usize) -> String {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let hub = hub_url.trim_start_matches("https://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&hub).await else { continue };
            let stall = stall.clone();
            tokio::spawn(async move {
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_hub, mut to_hub) = server.into_split();
                let upstream = tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_hub).await });
                let (mut passed, mut buffer) = (0, vec![0u8; 16 * 1024]);
                while !(stall.load(Ordering::SeqCst) && passed >= after) {
                    match from_hub.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if to_client.write_all(&buffer[..n]).await.is_ok() => passed += n,
                        Ok(_) => break,
                    }
                }
                // Silent (or done): wait for the gateway to close its side.
                let _ = upstream.await;
            });
        }
    });
    url
}

/// A hub that stops sending in the middle of a package's content does not hold the gateway's
/// intake: the download is given up after the idle time (nothing stored, nothing left in the
/// spool, the delivery still waiting at the hub), and the package is collected whole once the
/// hub sends again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_the_hub_stops_sending_is_given_up_after_the_idle_time_and_collected_later() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let stall = Arc::new(AtomicBool::new(true));
    let proxy = stalling_proxy(&net.hub_url, stall.clone(), 256 * 1024).await;
    let nghe_an = net.gateway_via("000.00.00.H41", "UBND tỉnh Nghệ An", &proxy).await;
    let nghe_an = nghe_an.with_download_idle(Duration::from_millis(500));
    // For Nghệ An alone, with 5 MB that does not compress: past 4 MiB, so it is spooled.
    let mut noise = vec![0u8; 5 * 1024 * 1024];
    aws_lc_rs::rand::fill(&mut noise).expect("random bytes");
    let parsed = edxml::parse(&bytes::Bytes::from(sample()), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let code = AgencyCode::parse("000.00.00.H41").expect("code");
    document.header.to = vec![edxml::model::Organization::with_id(edxml::OrganId::from(code))];
    document.attachments[0].content = edxml::EncodedContent::zip_file("du-lieu.bin", &noise);
    let package = edxml::write(&edxml::Package::Document(document));
    let (package_id, _) = office.submit("qlvb", "VPCP-CHAM-1", &package).await.expect("queued");
    office.send_due().await.expect("sent");

    let started = std::time::Instant::now();
    let taken = nghe_an.receive(Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(20), "given up, not held: {:?}", started.elapsed());
    assert!(!matches!(taken, Ok(n) if n > 0), "nothing taken in: {taken:?}");
    assert!(nghe_an.store().incoming(&package_id).await.expect("read").is_none(), "nothing stored");
    let failed = nghe_an.store().intake_failures(&package_id, "000.00.00.H41").await.expect("read");
    let why = failed.map(|f| f.last_error).unwrap_or_default();
    assert!(why.contains("nothing arrived for 500 ms"), "the download was given up for its silence: {why}");
    let copies = net.hub.store().deliveries(&package_id).await.expect("deliveries");
    assert_eq!(copies.iter().map(|d| d.state).collect::<Vec<_>>(), [DeliveryState::Queued], "waits at the hub");
    let left: Vec<_> = std::fs::read_dir(nghe_an.blobs().spool().dir()).expect("spool").collect();
    assert!(left.is_empty(), "the half-downloaded content left nothing in the spool: {left:?}");

    stall.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while nghe_an.store().incoming(&package_id).await.expect("read").is_none() {
        assert!(std::time::Instant::now() < deadline, "collected once the hub sends again");
        let _ = nghe_an.receive(Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = nghe_an.store().incoming(&package_id).await.expect("read").expect("held");
    let stored = nghe_an.blobs().map(&held.package.blob).await.expect("the stored package");
    xmlsig::verify(&stored).expect("signed by the Office");
    let parsed = edxml::parse(&stored, &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(arrived) = parsed.package else { panic!("a document") };
    let unpacked = arrived.attachments[0].content.unpack(&edxml::ZipLimits::default()).expect("unpacks");
    assert!(unpacked[0].data == noise, "the attachment arrived byte for byte");
}
