//! Two gateways and the hub over real mutual TLS, in one process: the Government Office sends an
//! SDK sample package to Nghệ An (and two agencies whose gateways are offline); Nghệ An collects
//! it, verifies it, stores it once and answers 01 automatically; the Office receives the status.
//! Then a package from a seal Nghệ An no longer trusts is refused with 02 and stored nowhere.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gateway::Gateway;
use pki::{RevocationReason, RevokedEntry};
use store::{DeliveryState, ExchangeStore, GatewayStore, PackageKind};
use time::OffsetDateTime;

mod common;

use common::Network;

fn sample() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/interop/edxml/edoc_update.edxml"))
        .expect("sample")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_travels_signed_and_sealed_and_its_receipt_comes_back() {
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }

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
}

/// Calls a gateway's API as a document-management system does.
async fn api(
    gateway: &Arc<Gateway>,
    key: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = gateway::api::router(gateway.clone())
        .oneshot(request.body(axum::body::Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.expect("body").to_bytes().to_vec())
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_management_system_sends_reads_and_answers_through_the_api() {
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
    office
        .store()
        .add_client("QLVB Văn phòng Chính phủ", &gateway::api::key_hash("office-key"), OffsetDateTime::now_utc())
        .await
        .expect("client");
    nghe_an
        .store()
        .add_client("QLVB Nghệ An", &gateway::api::key_hash("nghe-an-key"), OffsetDateTime::now_utc())
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
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
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
    let now = OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("offset"));
    let format = time::macros::format_description!("[day][month][year]T[hour][minute][second]");
    let stamp = format!("{}+{:04}", now.format(format).expect("format"), now.millisecond());
    let mut params: Vec<(String, String)> =
        vec![("systemid".into(), system.into()), ("servicetype".into(), "eDoc".into()), ("timestamp".into(), stamp)];
    params.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    let signed = format!(
        "{{{}}}",
        params.iter().map(|(n, v)| format!("\"XroadVnpt-{n}\":\"{v}\"")).collect::<Vec<_>>().join(",")
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mac: String =
        aws_lc_rs::hmac::sign(&key, signed.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    let mut headers: Vec<(String, String)> =
        params.iter().map(|(n, v)| (format!("XroadVnpt-{n}"), v.clone())).collect();
    headers.push(("XroadVnpt-sign-header-key".into(), names.join(";")));
    headers.push(("XroadVnpt-sign-header".into(), signed));
    headers.push(("XroadVnpt-hash-header".into(), mac));
    headers
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
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
    let now = OffsetDateTime::now_utc();
    let office_client = office.store().add_client("SDK VPCP", "unused-hash-1", now).await.expect("client");
    office.store().add_sdk_system(&office_client.id, "vpcp-qlvb", "bí mật VPCP", now).await.expect("sdk");
    let nghe_an_client = nghe_an.store().add_client("SDK Nghệ An", "unused-hash-2", now).await.expect("client");
    nghe_an.store().add_sdk_system(&nghe_an_client.id, "nghean-qlvb", "bí mật Nghệ An", now).await.expect("sdk");

    let forged =
        sdk_call(&office, "sendEdoc", &sdk_headers("vpcp-qlvb", "wrong", &[("from", "000.00.00.G22")]), sample()).await;
    assert_eq!((forged["status"].as_str(), forged["ErrorCode"].as_str()), (Some("FAIL"), Some("401")), "{forged}");
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &sample())
        .as_ref()
        .iter()
        .map(|b| format!("{b:x}"))
        .collect();
    let send = sdk_headers(
        "vpcp-qlvb",
        "bí mật VPCP",
        &[("from", "000.00.00.G22"), ("messagetype", "edoc"), ("hash-file", &hash)],
    );
    let sent = sdk_call(&office, "sendEdoc", &send, sample()).await;
    assert_eq!((sent["status"].as_str(), sent["ErrorCode"].as_str()), (Some("OK"), Some("0")), "{sent}");
    let again = sdk_call(&office, "sendEdoc", &send, sample()).await;
    assert_eq!(again["DocId"], sent["DocId"], "the same bytes twice are one package");
    let tampered = sdk_call(&office, "sendEdoc", &send, b"<edXML/>".to_vec()).await;
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
