//! Two gateways and the hub over real mutual TLS, in one process: the Government Office sends an
//! SDK sample package to Nghệ An (and two agencies whose gateways are offline); Nghệ An collects
//! it, verifies it, stores it once and answers 01 automatically; the Office receives the status.
//! Then a package from a seal Nghệ An no longer trusts is refused with 02 and stored nowhere.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use edxml::AgencyCode;
use gateway::{Gateway, GatewayKeys, Signer, Trust};
use hub::{HubService, Limits};
use pki::{
    Authority, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, Profile, RevocationReason,
    RevokedEntry, SubjectName, SubscriberKey,
};
use store::blobs::BlobStore;
use store::{AgencyRecord, DeliveryState, ExchangeStore, GatewayStore, PackageKind, Store};
use time::OffsetDateTime;
use tls::{Client, ClientAuth, ClientTls, Identity, ServerTls};

const HUB: &str = "hub.lienthong.test";

struct Ca {
    root: Vec<u8>,
    authority: Authority,
}

impl Ca {
    fn new() -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let new =
            Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("ca");
        Self { root: new.root_der, authority: Authority::new(new.issuing_der, new.issuing_key, endpoints) }
    }

    fn issue(&self, profile: Profile, subject: &str, agency: &str) -> (IssuedCertificate, KeyPair) {
        let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: Some(AgencyCode::parse(agency).expect("code")),
            key: SubscriberKey::from_key(&key),
        };
        (self.authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
    }

    fn chain(&self, certificate: &IssuedCertificate) -> Vec<Vec<u8>> {
        vec![certificate.der.clone(), self.authority.certificate().to_vec()]
    }

    fn crl(&self, revoked: &[RevokedEntry]) -> Vec<u8> {
        self.authority.crl(1, revoked, OffsetDateTime::now_utc()).expect("crl")
    }
}

fn pkcs8(key: &KeyPair) -> Vec<u8> {
    let pem = key.to_unencrypted_pem().expect("software key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
}

async fn store(dir: &std::path::Path, name: &str) -> (Store, BlobStore) {
    let store =
        Store::open(&format!("sqlite://{}", dir.join(format!("{name}.sqlite")).display())).await.expect("store");
    (store, BlobStore::open(&dir.join(format!("{name}-blobs"))).await.expect("blobs"))
}

struct Network {
    ca: Ca,
    hub: Arc<HubService>,
    hub_url: String,
    _dir: tempfile::TempDir,
}

impl Network {
    async fn start() -> Self {
        let ca = Ca::new();
        let dir = tempfile::tempdir().expect("dir");
        let (hub_store, hub_blobs) = store(dir.path(), "hub").await;
        for code in ["000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"] {
            let agency =
                AgencyRecord { code: code.into(), name: code.into(), parent: None, mailbox: Some(code.into()) };
            hub_store.put_agency(&agency, OffsetDateTime::now_utc()).await.expect("agency");
        }
        let hub = HubService::new(hub_store, hub_blobs, Limits::default()).await.expect("hub");
        let (hub_cert, hub_key) = ca.issue(Profile::Gateway, &format!("CN={HUB},O=Trục liên thông"), "000.00.00.G22");
        let server = ServerTls::builder(Identity::from_key_pair(ca.chain(&hub_cert), hub_key).expect("identity"))
            .client_auth(ClientAuth::Required, vec![ca.root.clone()])
            .crls(vec![ca.crl(&[])])
            .build()
            .expect("tls");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hub_url = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        tokio::spawn(tls::serve(listener, hub::router_over_mutual_tls(hub.clone()), server, std::future::pending()));
        Self { ca, hub, hub_url, _dir: dir }
    }

    /// A gateway for `agency`, registered with the hub; its trust store has a fresh CRL.
    async fn gateway(&self, agency: &str, name: &str) -> (Arc<Gateway>, pki::CertSerial) {
        let (seal_cert, seal_key) = self.ca.issue(Profile::Organization, &format!("CN={name},O={name}"), agency);
        let host = format!("gw-{}.lienthong.test", agency.replace('.', "-").to_lowercase());
        let (tls_cert, tls_key) = self.ca.issue(Profile::Gateway, &format!("CN={host},O={name}"), agency);
        self.hub.store().put_mailbox(agency, &tls_cert.der, OffsetDateTime::now_utc()).await.expect("mailbox");
        let identity = Identity::from_pkcs8(self.ca.chain(&tls_cert), pkcs8(&tls_key)).expect("identity");
        let client = Client::new(ClientTls {
            roots: vec![self.ca.root.clone()],
            identity: Some(identity),
            server_name: Some(HUB.into()),
        })
        .expect("client");
        let trust = Trust::new(std::slice::from_ref(&self.ca.root), &[self.ca.authority.certificate().to_vec()])
            .expect("trust");
        trust.set_crls(&[self.ca.crl(&[])]).expect("crl");
        let (store, blobs) = store(self._dir.path(), agency).await;
        let seal_serial = seal_cert.serial.clone();
        let keys = GatewayKeys {
            seal: Signer { key: seal_key, certificate_der: seal_cert.der },
            certificate_der: tls_cert.der.clone(),
            key_pkcs8_der: pkcs8(&tls_key),
        };
        let agency = AgencyCode::parse(agency).expect("code");
        (Gateway::new(agency, store, blobs, keys, Arc::new(trust), client, &self.hub_url), seal_serial)
    }
}

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
async fn many_packages_are_handed_over_and_taken_in_together_each_once() {
    let net = Network::start().await;
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
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
