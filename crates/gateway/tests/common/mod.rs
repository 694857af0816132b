//! What the gateway's integration tests share: a test certification authority, and a hub with
//! gateways over real mutual TLS in one process.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::sync::Arc;

use base64::Engine as _;
use edxml::AgencyCode;
use gateway::{Gateway, GatewayKeys, Trust};
use hub::{HubService, Limits};
use pki::{
    Authority, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, Profile, RevokedEntry, SubjectName,
    SubscriberKey,
};
use store::blobs::BlobStore;
use store::{AgencyRecord, ExchangeStore, Store};
use time::OffsetDateTime;
use tls::{Client, ClientAuth, ClientTls, Identity, ServerTls};

/// The agencies the hub's registry knows, with their names.
pub(crate) const AGENCIES: [(&str, &str); 4] = [
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An"),
    ("000.00.00.H14", "UBND tỉnh Cao Bằng"),
    ("000.00.00.G17", "Bộ Tư pháp"),
];

pub(crate) const HUB: &str = "hub.lienthong.test";

pub(crate) struct Ca {
    pub(crate) root: Vec<u8>,
    pub(crate) authority: Authority,
}

impl Ca {
    pub(crate) fn new() -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let new =
            Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("ca");
        Self { root: new.root_der, authority: Authority::new(new.issuing_der, new.issuing_key, endpoints) }
    }

    pub(crate) fn issue(&self, profile: Profile, subject: &str, agency: &str) -> (IssuedCertificate, KeyPair) {
        let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: Some(AgencyCode::parse(agency).expect("code")),
            key: SubscriberKey::from_key(&key),
        };
        (self.authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
    }

    pub(crate) fn chain(&self, certificate: &IssuedCertificate) -> Vec<Vec<u8>> {
        vec![certificate.der.clone(), self.authority.certificate().to_vec()]
    }

    pub(crate) fn crl(&self, revoked: &[RevokedEntry]) -> Vec<u8> {
        self.authority.crl(1, revoked, OffsetDateTime::now_utc()).expect("crl")
    }
}

pub(crate) fn pkcs8(key: &KeyPair) -> Vec<u8> {
    let pem = key.to_unencrypted_pem().expect("software key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
}

pub(crate) async fn store(dir: &std::path::Path, name: &str) -> (Store, BlobStore) {
    let store =
        Store::open(&format!("sqlite://{}", dir.join(format!("{name}.sqlite")).display())).await.expect("store");
    (store, BlobStore::open(&dir.join(format!("{name}-blobs"))).await.expect("blobs"))
}

pub(crate) struct Network {
    pub(crate) ca: Ca,
    pub(crate) hub: Arc<HubService>,
    pub(crate) hub_url: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Network {
    pub(crate) async fn start() -> Self {
        let ca = Ca::new();
        let dir = tempfile::tempdir().expect("dir");
        let (hub_store, hub_blobs) = store(dir.path(), "hub").await;
        for (code, name) in AGENCIES {
            let agency =
                AgencyRecord { code: code.into(), name: name.into(), parent: None, mailbox: Some(code.into()) };
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
        Self { ca, hub, hub_url, dir }
    }

    /// A gateway for `agency`, registered with the hub; its trust store has a fresh CRL.
    pub(crate) async fn gateway(&self, agency: &str, name: &str) -> (Arc<Gateway>, pki::CertSerial) {
        let (store, blobs) = store(self.dir.path(), agency).await;
        self.gateway_over(agency, name, store, blobs).await
    }

    /// Like [`Network::gateway`], reaching the hub at `hub_url` (a proxy in front of it, say).
    pub(crate) async fn gateway_via(&self, agency: &str, name: &str, hub_url: &str) -> Arc<Gateway> {
        let (store, blobs) = store(self.dir.path(), agency).await;
        self.gateway_reaching(agency, name, store, blobs, hub_url).await.0
    }

    /// Like [`Network::gateway`], over the given store (another process's gateway sharing it).
    pub(crate) async fn gateway_over(
        &self,
        agency: &str,
        name: &str,
        store: Store,
        blobs: BlobStore,
    ) -> (Arc<Gateway>, pki::CertSerial) {
        self.gateway_reaching(agency, name, store, blobs, &self.hub_url).await
    }

    async fn gateway_reaching(
        &self,
        agency: &str,
        name: &str,
        store: Store,
        blobs: BlobStore,
        hub_url: &str,
    ) -> (Arc<Gateway>, pki::CertSerial) {
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
        let seal_serial = seal_cert.serial.clone();
        let keys = GatewayKeys::new(seal_key, seal_cert.der, &tls_cert.der, &pkcs8(&tls_key)).expect("keys");
        let agency = AgencyCode::parse(agency).expect("code");
        (Gateway::new(agency, store, blobs, keys, Arc::new(trust), client, hub_url), seal_serial)
    }
}

/// The interoperability sample document (from the Office to Nghệ An, Cao Bằng and the Ministry of
/// Justice).
pub(crate) fn sample() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/interop/edxml/edoc_update.edxml"))
        .expect("sample")
}

/// The sample as a new document, or as a change (`Bussiness`) of that document.
pub(crate) fn with_business(doc_type: edxml::BusinessType) -> (Vec<u8>, String) {
    let parsed = edxml::parse(&bytes::Bytes::from(sample()), &edxml::Limits::default()).expect("sample parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let id = document.header.document_id.clone().expect("DocumentId");
    let trace = document.trace.get_or_insert_with(Default::default);
    trace.business = match doc_type {
        edxml::BusinessType::New => None,
        other => Some(edxml::model::Business {
            document_id: Some(id.clone()),
            doc_type: Some(other),
            reason: Some("Văn bản ban hành nhầm".into()),
            ..Default::default()
        }),
    };
    (edxml::write(&edxml::Package::Document(document)), id)
}

/// A document and then its recall sent from `office` to `nghe_an` (each collected at once), under
/// client reference `reference`: the document's package id, its document id and the recall's
/// package id.
pub(crate) async fn document_then_recall(
    office: &Gateway,
    nghe_an: &Gateway,
    reference: &str,
) -> (String, String, String) {
    let wait = std::time::Duration::from_secs(5);
    let (original, document_id) = with_business(edxml::BusinessType::New);
    let (first, _) = office.submit("qlvb", reference, &original).await.expect("queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(wait).await.expect("collected");
    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let (recall_id, _) = office.submit("qlvb", &format!("{reference}-thu-hoi"), &recall).await.expect("recall queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(wait).await.expect("collected");
    (first, document_id, recall_id)
}

/// Calls a gateway's API as a document-management system does.
pub(crate) async fn api(
    gateway: &Arc<Gateway>,
    key: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    api_streaming(gateway, key, method, path, headers, axum::body::Body::from(body)).await
}

/// Like [`api`], with a body that may arrive slowly, or never.
pub(crate) async fn api_streaming(
    gateway: &Arc<Gateway>,
    key: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: axum::body::Body,
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
    let response =
        gateway::api::router(gateway.clone()).oneshot(request.body(body).expect("request")).await.expect("infallible");
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.expect("body").to_bytes().to_vec())
}

pub(crate) fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The gateways of the sample's sender (the Office) and of its recipients; the Office's and
/// Nghệ An's are returned.
pub(crate) async fn sample_network(net: &Network) -> (Arc<Gateway>, Arc<Gateway>) {
    let (office, _) = net.gateway("000.00.00.G22", "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway("000.00.00.H41", "UBND tỉnh Nghệ An").await;
    for (agency, name) in [("000.00.00.H14", "UBND tỉnh Cao Bằng"), ("000.00.00.G17", "Bộ Tư pháp")] {
        net.gateway(agency, name).await;
    }
    (office, nghe_an)
}

/// A gateway's client API and web pages on HTTPS, with a certificate for `localhost` from the
/// test CA; returns its URL and the base64 SHA-256 of the certificate's public key.
pub(crate) async fn serve(net: &Network, gateway: &Arc<Gateway>, name: &str) -> (String, String) {
    let agency = gateway.agency().to_string();
    let (certificate, key) = net.ca.issue(Profile::Gateway, &format!("CN=localhost,O={name}"), &agency);
    let identity = Identity::from_key_pair(net.ca.chain(&certificate), key).expect("identity");
    let server = ServerTls::builder(identity).build().expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://localhost:{}", listener.local_addr().expect("addr").port());
    let routes = gateway::api::router(gateway.clone()).merge(gateway::web::router(gateway.clone()));
    tokio::spawn(tls::serve(listener, routes, server, std::future::pending()));
    let (_, parsed) = x509_parser::parse_x509_certificate(&certificate.der).expect("certificate");
    let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parsed.tbs_certificate.subject_pki.raw);
    (url, base64::engine::general_purpose::STANDARD.encode(spki.as_ref()))
}
