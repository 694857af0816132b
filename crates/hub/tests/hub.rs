//! The hub's routes, called as gateways call them: a package submitted once and delivered to
//! each recipient's mailbox (a level-2 unit's through its ministry), acknowledged, refused,
//! re-submitted without duplication; every bad input refused with nothing stored. Each copy's
//! Decree 30 receipt deadline as the sender sees it and as the operator's overdue list shows it;
//! retention (on SQLite, and on PostgreSQL when `LIENTHONG_TEST_POSTGRES` names a server) with
//! the time passed in.
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
    dir: tempfile::TempDir,
}

/// The operator's registry token in these tests.
const OPERATOR_TOKEN: &str = "operator-token-for-tests";

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
        Self::over(store, dir, limits).await
    }

    async fn over(store: Store, dir: tempfile::TempDir, limits: Limits) -> Self {
        let blobs = BlobStore::open(&dir.path().join("blobs")).await.expect("blobs");
        Self::with_blobs(store, dir, limits, blobs).await
    }

    async fn with_blobs(store: Store, dir: tempfile::TempDir, limits: Limits, blobs: BlobStore) -> Self {
        for a in [
            agency("000.00.00.G22", None, Some("000.00.00.G22")),
            agency("000.00.00.H41", None, Some("000.00.00.H41")),
            agency("000.00.00.G12", None, Some("000.00.00.G12")),
            agency("000.00.04.G12", Some("000.00.00.G12"), None),
        ] {
            store.put_agency(&a, time::OffsetDateTime::now_utc()).await.expect("agency");
        }
        let service = HubService::new(store, blobs, limits).await.expect("hub");
        Self { service, dir }
    }

    /// The blob store the hub keeps its content in, opened apart.
    async fn blobs(&self) -> BlobStore {
        BlobStore::open(&self.dir.path().join("blobs")).await.expect("blobs")
    }

    /// A registry route, with the operator's `token`.
    async fn operator(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let router = hub::admin_router(self.service.clone(), hub::operator_token_hash(OPERATOR_TOKEN));
        let response = router.oneshot(request.body(Body::empty()).expect("request")).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&body).expect("JSON"))
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

/// With `LIENTHONG_TEST_S3` naming an S3-compatible test server: the hub's blobs in a bucket of
/// their own, a package of several upload parts accepted, listed and fetched byte-identical.
#[tokio::test]
async fn with_its_blobs_on_object_storage_a_package_is_accepted_listed_and_fetched_unchanged() {
    let Ok(endpoint) = std::env::var("LIENTHONG_TEST_S3") else {
        eprintln!("LIENTHONG_TEST_S3 is not set: the hub's object-storage test is skipped");
        return;
    };
    let bucket = store::testing::TestBucket::create(&endpoint).await.expect("test bucket");
    let blobs = BlobStore::open_s3(bucket.name(), "hub/blobs", &bucket.access()).await.expect("blobs on S3");
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("hub.sqlite").display())).await.expect("store");
    let hub = Hub::with_blobs(store, dir, Limits::default(), blobs).await;

    let sealed: Vec<u8> = (0..7u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let hash = sha256(&sealed);
    let created = hub
        .json(
            "000.00.00.G22",
            submit("vpcp-s3-0001", "000.00.00.G22", "000.00.00.H41", &sealed, &hash),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["duplicate"], false);
    let inbox = hub.json("000.00.00.H41", get("/v1/mailbox"), StatusCode::OK).await;
    let items = inbox["deliveries"].as_array().expect("list");
    assert_eq!(
        (items.len(), items[0]["package_id"].as_str(), items[0]["sha256"].as_str()),
        (1, Some("vpcp-s3-0001"), Some(hash.as_str()))
    );
    let (status, content) = hub.call(Some("000.00.00.H41"), get("/v1/packages/vpcp-s3-0001/content")).await;
    assert_eq!((status, content.len()), (StatusCode::OK, sealed.len()));
    assert!(content == sealed, "fetched content differs from what was submitted");
    assert_eq!(bucket.keys().await.expect("keys"), vec![format!("hub/blobs/{hash}")], "one object, nothing left over");

    hub.json(
        "000.00.00.G22",
        submit("vpcp-s3-0002", "000.00.00.G22", "000.00.00.H41", b"other bytes", &hash),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(bucket.keys().await.expect("keys").len(), 1, "a refused package leaves nothing in the bucket");
    bucket.remove().await.expect("remove the test bucket");
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
    assert!(items[0].get("content").is_none(), "a package above 16 KiB is fetched on its own: {}", items[0]);
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
async fn a_small_package_comes_with_its_mailbox_entry() {
    use base64::Engine as _;
    let hub = Hub::start(Limits::default()).await;
    let sealed = b"a sealed receipt".repeat(1024);
    assert_eq!(sealed.len(), 16 * 1024, "the largest package that comes with its entry");
    let hash = sha256(&sealed);
    hub.json(
        "000.00.00.G22",
        submit("vpcp-2026-0002", "000.00.00.G22", "000.00.00.H41", &sealed, &hash),
        StatusCode::CREATED,
    )
    .await;
    let inbox = hub.json("000.00.00.H41", get("/v1/mailbox"), StatusCode::OK).await;
    let content = inbox["deliveries"][0]["content"].as_str().expect("content with the entry");
    let content = base64::engine::general_purpose::STANDARD.decode(content).expect("base64");
    assert!(content == sealed, "the entry's content differs from what was submitted");
    let (status, fetched) = hub.call(Some("000.00.00.H41"), get("/v1/packages/vpcp-2026-0002/content")).await;
    assert_eq!((status, fetched), (StatusCode::OK, sealed), "and it can still be fetched on its own");
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

/// The end of today in Vietnam, as the hub writes deadlines.
fn end_of_today_in_vietnam() -> String {
    let vietnam = time::UtcOffset::from_hms(7, 0, 0).expect("offset");
    format!("{}T23:59:59+07:00", time::OffsetDateTime::now_utc().to_offset(vietnam).date())
}

/// A delivery of a package `id` the hub queued at `queued_at` (as it would have then), from the
/// Government Office to Nghệ An.
async fn queued_back_then(hub: &Hub, id: &str, queued_at: time::OffsetDateTime) {
    let envelope = store::OuterEnvelope {
        id: id.into(),
        sender: "000.00.00.G22".into(),
        kind: store::PackageKind::Document,
        size: 1,
        sha256: "1".repeat(64),
        blob: "1".repeat(64),
    };
    let routes = [store::Route { recipient: "000.00.00.H41".into(), mailbox: "000.00.00.H41".into() }];
    hub.service.store().accept(&envelope, &routes, queued_at, exchange::receipt_due(queued_at)).await.expect("accept");
}

fn copy<'v>(view: &'v Value, recipient: &str) -> &'v Value {
    view["deliveries"].as_array().expect("list").iter().find(|d| d["recipient"] == recipient).expect("the copy")
}

#[tokio::test]
async fn the_sender_sees_each_copys_receipt_deadline_and_the_operator_the_overdue_ones() {
    let hub = Hub::start(Limits::default()).await;
    let sealed = b"sealed".repeat(10);
    let today = end_of_today_in_vietnam();
    hub.json(
        "000.00.00.G22",
        submit("vpcp-today", "000.00.00.G22", "000.00.00.H41,000.00.04.G12", &sealed, &sha256(&sealed)),
        StatusCode::CREATED,
    )
    .await;
    let view = hub.json("000.00.00.G22", get("/v1/packages/vpcp-today/deliveries"), StatusCode::OK).await;
    let nghe_an = copy(&view, "000.00.00.H41");
    let due = nghe_an["due_at"].as_str().expect("due_at");
    assert!(due == today || due == end_of_today_in_vietnam(), "receipt is due by the end of the day: {due}");
    assert_eq!(
        (&nghe_an["overdue"], &nghe_an["late"], &nghe_an["settled_at"]),
        (&false.into(), &false.into(), &Value::Null)
    );
    let delivery = nghe_an["id"].as_i64().expect("id");
    hub.json("000.00.00.H41", post(&format!("/v1/deliveries/{delivery}/ack"), ""), StatusCode::OK).await;
    let view = hub.json("000.00.00.G22", get("/v1/packages/vpcp-today/deliveries"), StatusCode::OK).await;
    let nghe_an = copy(&view, "000.00.00.H41");
    assert!(nghe_an["settled_at"].as_str().is_some_and(|t| t.ends_with("+07:00")), "{nghe_an}");
    assert_eq!((&nghe_an["state"], &nghe_an["late"]), (&"acknowledged".into(), &false.into()));

    // Two days ago and yesterday, Nghệ An's gateway did not collect.
    let now = time::OffsetDateTime::now_utc();
    queued_back_then(&hub, "vpcp-two-days-ago", now - time::Duration::days(2)).await;
    queued_back_then(&hub, "vpcp-yesterday", now - time::Duration::days(1)).await;
    let view = hub.json("000.00.00.G22", get("/v1/packages/vpcp-yesterday/deliveries"), StatusCode::OK).await;
    let waiting = copy(&view, "000.00.00.H41");
    assert_eq!(
        (&waiting["state"], &waiting["overdue"], &waiting["late"]),
        (&"queued".into(), &true.into(), &false.into())
    );
    let (status, listed) = hub.operator(Some(OPERATOR_TOKEN), "/v1/registry/overdue").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let overdue = listed["overdue"].as_array().expect("list");
    let ids: Vec<&str> = overdue.iter().map(|d| d["package_id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["vpcp-two-days-ago", "vpcp-yesterday"], "oldest first; today's are not overdue yet");
    let first = &overdue[0];
    assert_eq!(
        (&first["sender"], &first["recipient"], &first["mailbox"], &first["kind"]),
        (&"000.00.00.G22".into(), &"000.00.00.H41".into(), &"000.00.00.H41".into(), &"document".into())
    );
    let late_by = first["overdue_seconds"].as_i64().expect("seconds");
    assert!(
        (86_400..=2 * 86_400).contains(&late_by),
        "queued two days ago: more than a day past its deadline ({late_by} s)"
    );
    assert!(first["queued_at"].as_str().is_some_and(|t| t.ends_with("+07:00")));
    assert!(first["due_at"].as_str().is_some_and(|t| t.ends_with("T23:59:59+07:00")));
    assert_eq!(listed["next_after"], Value::Null, "everything fitted in one page");

    let (_, page) = hub.operator(Some(OPERATOR_TOKEN), "/v1/registry/overdue?limit=1").await;
    assert_eq!(page["overdue"].as_array().map(Vec::len), Some(1));
    let next = page["next_after"].as_i64().expect("a full page says where to go on");
    let (_, rest) = hub.operator(Some(OPERATOR_TOKEN), &format!("/v1/registry/overdue?after={next}&limit=1")).await;
    assert_eq!(rest["overdue"][0]["package_id"], "vpcp-yesterday");

    // Acknowledged now: late, and off the overdue list.
    let inbox = hub.json("000.00.00.H41", get("/v1/mailbox"), StatusCode::OK).await;
    let yesterdays = inbox["deliveries"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["package_id"] == "vpcp-yesterday")
        .and_then(|d| d["id"].as_i64())
        .expect("collected late");
    hub.json("000.00.00.H41", post(&format!("/v1/deliveries/{yesterdays}/ack"), ""), StatusCode::OK).await;
    let view = hub.json("000.00.00.G22", get("/v1/packages/vpcp-yesterday/deliveries"), StatusCode::OK).await;
    let settled = copy(&view, "000.00.00.H41");
    assert_eq!(
        (&settled["state"], &settled["overdue"], &settled["late"]),
        (&"acknowledged".into(), &false.into(), &true.into())
    );
    let (_, listed) = hub.operator(Some(OPERATOR_TOKEN), "/v1/registry/overdue").await;
    assert_eq!(listed["overdue"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_overdue_list_is_for_the_operator_only_and_bounded() {
    let hub = Hub::start(Limits::default()).await;
    for (token, path, expect, code) in [
        (None, "/v1/registry/overdue", StatusCode::UNAUTHORIZED, "not-operator"),
        (Some("guessed"), "/v1/registry/overdue", StatusCode::UNAUTHORIZED, "not-operator"),
        (Some(OPERATOR_TOKEN), "/v1/registry/overdue?after=x", StatusCode::BAD_REQUEST, "bad-request"),
        (Some(OPERATOR_TOKEN), "/v1/registry/overdue?limit=-1", StatusCode::BAD_REQUEST, "bad-request"),
        (Some(OPERATOR_TOKEN), "/v1/registry/overdue?page=2", StatusCode::BAD_REQUEST, "bad-request"),
    ] {
        let (status, body) = hub.operator(token, path).await;
        assert_eq!((status, body["error"].as_str()), (expect, Some(code)), "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let then = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    for n in 0..(hub::MAX_OVERDUE_PAGE + 5) {
        queued_back_then(&hub, &format!("old-{n:04}"), then).await;
    }
    let (status, page) = hub.operator(Some(OPERATOR_TOKEN), "/v1/registry/overdue?limit=100000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["overdue"].as_array().map(Vec::len), Some(hub::MAX_OVERDUE_PAGE as usize), "a page is bounded");
    let next = page["next_after"].as_i64().expect("more to come");
    let (_, rest) = hub.operator(Some(OPERATOR_TOKEN), &format!("/v1/registry/overdue?after={next}")).await;
    assert_eq!(rest["overdue"].as_array().map(Vec::len), Some(5));
}

/// Submits `content` as package `id` to Nghệ An and returns its delivery number.
async fn sent_to_nghe_an(hub: &Hub, id: &str, content: &[u8]) -> i64 {
    hub.json(
        "000.00.00.G22",
        submit(id, "000.00.00.G22", "000.00.00.H41", content, &sha256(content)),
        StatusCode::CREATED,
    )
    .await;
    let view = hub.json("000.00.00.G22", get(&format!("/v1/packages/{id}/deliveries")), StatusCode::OK).await;
    copy(&view, "000.00.00.H41")["id"].as_i64().expect("id")
}

async fn acknowledged(hub: &Hub, delivery: i64) {
    hub.json("000.00.00.H41", post(&format!("/v1/deliveries/{delivery}/ack"), ""), StatusCode::OK).await;
}

/// Retention with the clock passed in: content settled longer ago than the period goes (410
/// afterwards, records kept); content still waiting, settled recently, or shared with a package
/// still held stays; an interrupted removal is finished or undone by the next run.
async fn retention_story(hub: &Hub) {
    let days = |n: i64| time::Duration::days(n);
    let retention = days(90);
    let now = time::OffsetDateTime::now_utc();
    let (alone, shared, other) = (b"alone".repeat(50), b"shared".repeat(50), b"other".repeat(50));
    let d_alone = sent_to_nghe_an(hub, "alone", &alone).await;
    let d_shared = sent_to_nghe_an(hub, "shared-1", &shared).await;
    let d_shared_waiting = sent_to_nghe_an(hub, "shared-2", &shared).await;
    hub.json(
        "000.00.00.G22",
        submit("half", "000.00.00.G22", "000.00.00.H41,000.00.04.G12", &other, &sha256(&other)),
        StatusCode::CREATED,
    )
    .await;
    let half = hub.json("000.00.00.G22", get("/v1/packages/half/deliveries"), StatusCode::OK).await;
    for delivery in [d_alone, d_shared, copy(&half, "000.00.00.H41")["id"].as_i64().expect("id")] {
        acknowledged(hub, delivery).await;
    }

    let report = hub.service.purge_settled(now + days(89), retention).await.expect("purge");
    assert_eq!(report, hub::PurgeReport::default(), "nothing was settled 90 days ago yet");
    let report = hub.service.purge_settled(now + days(91), retention).await.expect("purge");
    assert_eq!(
        report,
        hub::PurgeReport { packages: 2, blobs_removed: 1, blobs_shared: 1 },
        "alone's content goes; shared-1's stays for shared-2, still waiting; half waits for the unit"
    );
    let blobs = hub.blobs().await;
    assert!(!blobs.exists(&sha256(&alone)).await.expect("exists?"));
    assert!(blobs.exists(&sha256(&shared)).await.expect("exists?"));
    assert!(blobs.exists(&sha256(&other)).await.expect("exists?"));

    let (status, body) = hub.call(Some("000.00.00.H41"), get("/v1/packages/alone/content")).await;
    let gone: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((status, gone["error"].as_str()), (StatusCode::GONE, Some("purged")), "{gone}");
    assert!(gone["message"].as_str().is_some_and(|m| m.contains("thời hạn lưu trữ")), "{gone}");
    assert!(gone["message_en"].as_str().is_some_and(|m| m.contains("retention")), "{gone}");
    let (status, _) = hub.call(Some("000.00.00.H41"), get("/v1/packages/shared-1/content")).await;
    assert_eq!(status, StatusCode::GONE, "purged, although its bytes are still held for shared-2");
    for (id, content) in [("shared-2", &shared), ("half", &other)] {
        let (status, body) = hub.call(Some("000.00.00.H41"), get(&format!("/v1/packages/{id}/content"))).await;
        assert_eq!((status, &body), (StatusCode::OK, content), "{id}");
    }
    let view = hub.json("000.00.00.G22", get("/v1/packages/alone/deliveries"), StatusCode::OK).await;
    let kept = copy(&view, "000.00.00.H41");
    assert_eq!(kept["state"], "acknowledged", "the history stays");
    assert!(kept["purged_at"].as_str().is_some_and(|t| t.ends_with("+07:00")), "{kept}");

    // The sender's gateway sends the purged package again: a duplicate, and its bytes are not kept.
    let again = hub
        .json(
            "000.00.00.G22",
            submit("alone", "000.00.00.G22", "000.00.00.H41", &alone, &sha256(&alone)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(again["duplicate"], true);
    assert!(!blobs.exists(&sha256(&alone)).await.expect("exists?"));

    // A removal interrupted after its blob was set aside: put back if still needed, else finished.
    let orphan = blobs.put(&b"orphan"[..], 1 << 20, None).await.expect("put");
    assert!(blobs.set_aside(&orphan.name).await.expect("aside"));
    assert!(blobs.set_aside(&sha256(&other)).await.expect("aside"));
    let report = hub.service.purge_settled(now + days(91), retention).await.expect("purge");
    assert_eq!(report.packages, 0);
    assert!(blobs.set_aside_names().await.expect("names").is_empty());
    assert!(blobs.exists(&sha256(&other)).await.expect("exists?"), "half still needs its content");
    assert!(!blobs.exists(&orphan.name).await.expect("exists?"));
    let (status, _) = hub.call(Some("000.00.00.H41"), get("/v1/packages/half/content")).await;
    assert_eq!(status, StatusCode::OK);

    // Once shared-2 is settled too, and the period has passed for it, the shared bytes go.
    acknowledged(hub, d_shared_waiting).await;
    let report = hub.service.purge_settled(now + days(89), retention).await.expect("purge");
    assert_eq!(report, hub::PurgeReport::default(), "settled less than 90 days before");
    let report = hub.service.purge_settled(now + days(91), retention).await.expect("purge");
    assert_eq!(report, hub::PurgeReport { packages: 1, blobs_removed: 1, blobs_shared: 0 });
    assert!(!blobs.exists(&sha256(&shared)).await.expect("exists?"));
    let view = hub.json("000.00.00.G22", get("/v1/packages/half/deliveries"), StatusCode::OK).await;
    assert_eq!(copy(&view, "000.00.04.G12")["purged_at"], Value::Null, "a copy still waiting keeps the content");
    assert!(hub.service.purge_settled(now, time::Duration::days(-1)).await.is_err());
}

#[tokio::test]
async fn retention_removes_only_settled_unshared_content_on_sqlite() {
    let hub = Hub::start(Limits::default()).await;
    retention_story(&hub).await;
}

#[tokio::test]
async fn retention_removes_only_settled_unshared_content_on_postgres() {
    let Ok(server) = std::env::var("LIENTHONG_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL story: set LIENTHONG_TEST_POSTGRES");
        eprintln!("LIENTHONG_TEST_POSTGRES is not set: the PostgreSQL run of this story is skipped");
        return;
    };
    let database = store::testing::TestDatabase::create(&server).await.expect("create a database");
    let store = Store::open(&database.url()).await.expect("open");
    let hub = Hub::over(store, tempfile::tempdir().expect("dir"), Limits::default()).await;
    retention_story(&hub).await;
    hub.service.store().close().await;
    database.remove().await.expect("drop the database");
}
