//! The hub's routes, called as gateways call them: a package submitted once and delivered to
//! each recipient's mailbox (a level-2 unit's through its ministry), acknowledged, refused,
//! re-submitted without duplication; every bad input refused with nothing stored.
//!
//! The authenticated mailbox is put in place the way the mutual-TLS layer does in production:
//! as the `Caller` extension of each request.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hub::{Caller, HubService, Limits};
use serde_json::Value;
use store::blobs::BlobStore;
use store::{AgencyRecord, ExchangeStore, Store};
use tower::ServiceExt as _;

struct Hub {
    service: Arc<HubService>,
    _dir: tempfile::TempDir,
}

fn agency(code: &str, parent: Option<&str>, mailbox: Option<&str>) -> AgencyRecord {
    AgencyRecord {
        code: code.into(),
        name: code.into(),
        parent: parent.map(Into::into),
        mailbox: mailbox.map(Into::into),
    }
}

impl Hub {
    async fn start(limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("hub.sqlite").display())).await.expect("store");
        for a in [
            agency("000.00.00.G22", None, Some("000.00.00.G22")),
            agency("000.00.00.H41", None, Some("000.00.00.H41")),
            agency("000.00.00.G12", None, Some("000.00.00.G12")),
            agency("000.00.04.G12", Some("000.00.00.G12"), None),
        ] {
            store.put_agency(&a, time::OffsetDateTime::now_utc()).await.expect("agency");
        }
        let blobs = BlobStore::open(&dir.path().join("blobs")).await.expect("blobs");
        let service = HubService::new(store, blobs, limits).await.expect("hub");
        Self { service, _dir: dir }
    }

    async fn call(&self, mailbox: Option<&str>, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let mut request = request;
        if let Some(mailbox) = mailbox {
            request.extensions_mut().insert(Caller { mailbox: mailbox.into() });
        }
        let response = hub::router(self.service.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        (status, response.into_body().collect().await.expect("body").to_bytes().to_vec())
    }

    async fn json(&self, mailbox: &str, request: Request<Body>, expect: StatusCode) -> Value {
        let (status, body) = self.call(Some(mailbox), request).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, expect, "{text}");
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// SHA-256 in hexadecimal, computed by a tool nobody here wrote (`sha256sum`).
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().expect("stdin").write_all(bytes).expect("write");
    let output = child.wait_with_output().expect("sha256sum runs");
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().expect("hash").to_owned()
}

fn submit(id: &str, sender: &str, recipients: &str, content: &[u8], hash: &str) -> Request<Body> {
    Request::post("/v1/packages")
        .header("lienthong-package-id", id)
        .header("lienthong-kind", "document")
        .header("lienthong-sender", sender)
        .header("lienthong-recipients", recipients)
        .header("lienthong-sha256", hash)
        .body(Body::from(content.to_vec()))
        .expect("request")
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path).body(Body::from(body.to_owned())).expect("request")
}

#[tokio::test]
async fn a_package_reaches_each_mailbox_once_and_settles() {
    let hub = Hub::start(Limits::default()).await;
    let sealed = b"sealed CMS bytes the hub cannot read".repeat(1000);
    let hash = sha256(&sealed);
    let to = "000.00.00.H41,000.00.04.G12";
    let created = hub
        .json("000.00.00.G22", submit("vpcp-2026-0001", "000.00.00.G22", to, &sealed, &hash), StatusCode::CREATED)
        .await;
    assert_eq!(created["duplicate"], false);
    assert_eq!(created["deliveries"][1]["mailbox"], "000.00.00.G12", "the unit is served by its ministry's gateway");
    let again =
        hub.json("000.00.00.G22", submit("vpcp-2026-0001", "000.00.00.G22", to, &sealed, &hash), StatusCode::OK).await;
    assert_eq!(again["duplicate"], true, "the same package twice is accepted once");

    let inbox = hub.json("000.00.00.H41", get("/v1/mailbox"), StatusCode::OK).await;
    let items = inbox["deliveries"].as_array().expect("list");
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0]["package_id"].as_str(), items[0]["sha256"].as_str()),
        (Some("vpcp-2026-0001"), Some(hash.as_str()))
    );
    let delivery = items[0]["id"].as_i64().expect("id");

    let (status, content) = hub.call(Some("000.00.00.H41"), get("/v1/packages/vpcp-2026-0001/content")).await;
    assert_eq!((status, content.len()), (StatusCode::OK, sealed.len()));
    assert_eq!(content, sealed);
    let (status, _) = hub.call(Some("000.00.00.X01"), get("/v1/packages/vpcp-2026-0001/content")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a mailbox that is neither sender nor recipient learns nothing");

    hub.json("000.00.00.G12", post(&format!("/v1/deliveries/{delivery}/ack"), ""), StatusCode::NOT_FOUND).await;
    hub.json("000.00.00.H41", post(&format!("/v1/deliveries/{delivery}/ack"), ""), StatusCode::OK).await;
    hub.json("000.00.00.H41", post(&format!("/v1/deliveries/{delivery}/ack"), ""), StatusCode::OK).await;
    let empty = hub.json("000.00.00.H41", get("/v1/mailbox?wait=1"), StatusCode::OK).await;
    assert_eq!(empty["deliveries"].as_array().expect("list").len(), 0, "acknowledged deliveries leave the mailbox");

    let (status, _) = hub.call(Some("000.00.00.H41"), get("/v1/agencies/000.00.04.G12/certificate")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no certificate registered for the ministry's mailbox yet");
    hub.service
        .store()
        .put_mailbox("000.00.00.G12", b"certificate DER", time::OffsetDateTime::now_utc())
        .await
        .expect("mailbox");
    let (status, der) = hub.call(Some("000.00.00.H41"), get("/v1/agencies/000.00.04.G12/certificate")).await;
    assert_eq!(
        (status, der.as_slice()),
        (StatusCode::OK, &b"certificate DER"[..]),
        "the unit's copy is encrypted to its ministry's gateway"
    );
    let ministry = hub.json("000.00.00.G12", get("/v1/mailbox"), StatusCode::OK).await;
    let unit_copy = ministry["deliveries"][0]["id"].as_i64().expect("id");
    assert_eq!(ministry["deliveries"][0]["recipient"], "000.00.04.G12");
    hub.json(
        "000.00.00.G12",
        post(&format!("/v1/deliveries/{unit_copy}/refuse"), r#"{"reason": ""}"#),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reason = r#"{"reason": "02: chữ ký số không hợp lệ"}"#;
    hub.json("000.00.00.G12", post(&format!("/v1/deliveries/{unit_copy}/refuse"), reason), StatusCode::OK).await;
    hub.json("000.00.00.G12", post(&format!("/v1/deliveries/{unit_copy}/ack"), ""), StatusCode::CONFLICT).await;

    let view = hub.json("000.00.00.G22", get("/v1/packages/vpcp-2026-0001/deliveries"), StatusCode::OK).await;
    let states: Vec<(&str, &str)> = view["deliveries"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| (d["recipient"].as_str().expect("r"), d["state"].as_str().expect("s")))
        .collect();
    assert_eq!(states, [("000.00.00.H41", "acknowledged"), ("000.00.04.G12", "refused")]);
}

#[tokio::test]
async fn a_long_poll_wakes_when_a_package_arrives() {
    let hub = Arc::new(Hub::start(Limits::default()).await);
    let waiting = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.json("000.00.00.H41", get("/v1/mailbox?wait=20"), StatusCode::OK).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sealed = b"x".repeat(10);
    let hash = sha256(&sealed);
    hub.json("000.00.00.G22", submit("p-wake", "000.00.00.G22", "000.00.00.H41", &sealed, &hash), StatusCode::CREATED)
        .await;
    let started = std::time::Instant::now();
    let woke = waiting.await.expect("joined");
    assert_eq!(woke["deliveries"][0]["package_id"], "p-wake");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "woken by the arrival, not by the timeout");
}

#[tokio::test]
async fn bad_submissions_are_refused_and_store_nothing() {
    let hub = Hub::start(Limits { max_package_bytes: 1000, ..Limits::default() }).await;
    let sealed = b"y".repeat(100);
    let hash = sha256(&sealed);
    let cases: Vec<(Option<&str>, Request<Body>, StatusCode, &str)> = vec![
        (
            None,
            submit("p1", "000.00.00.G22", "000.00.00.H41", &sealed, &hash),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            Some("000.00.00.H41"),
            submit("p1", "000.00.00.G22", "000.00.00.H41", &sealed, &hash),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "000.00.00.G99", &sealed, &hash),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-recipient",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "", &sealed, &hash),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unroutable",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "not-a-code", &sealed, &hash),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (
            Some("000.00.00.G22"),
            submit("../etc", "000.00.00.G22", "000.00.00.H41", &sealed, &hash),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "000.00.00.H41", b"tampered", &hash),
            StatusCode::BAD_REQUEST,
            "hash-mismatch",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "000.00.00.H41", &b"z".repeat(1001), &sha256(&b"z".repeat(1001))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
        ),
        (
            Some("000.00.00.G22"),
            submit("p1", "000.00.00.G22", "000.00.00.H41", &sealed, "abc"),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
    ];
    for (mailbox, request, status, code) in cases {
        let (got, body) = hub.call(mailbox, request).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(got, status, "{text}");
        let json: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(json["error"], code, "{text}");
        assert!(!json["message"].as_str().expect("vi").is_empty());
    }
    assert_eq!(hub.service.store().deliveries("p1").await.expect("read").len(), 0, "nothing stored");
    let inbox = hub.json("000.00.00.H41", get("/v1/mailbox"), StatusCode::OK).await;
    assert_eq!(inbox["deliveries"].as_array().expect("list").len(), 0, "nothing delivered");
    hub.json("000.00.00.G22", submit("p1", "000.00.00.G22", "000.00.00.H41", &sealed, &hash), StatusCode::CREATED)
        .await;
    let clash = hub
        .json(
            "000.00.00.G22",
            submit("p1", "000.00.00.G22", "000.00.00.H41", b"other", &sha256(b"other")),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(clash["error"], "conflict");
    hub.json("000.00.00.G22", get("/v1/mailbox?after=x"), StatusCode::BAD_REQUEST).await;
}
