//! The hub over real mutual TLS: gateways identified by their CA-issued certificates, a package
//! from the Government Office's gateway collected by Nghệ An's, and a gateway whose certificate
//! is revoked refused as soon as the hub has the new CRL.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use edxml::AgencyCode;
use hub::{HubService, Limits};
use pki::{
    Authority, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, Profile, RevocationReason,
    RevokedEntry, SubjectName, SubscriberKey,
};
use serde_json::Value;
use store::blobs::BlobStore;
use store::{AgencyRecord, ExchangeStore, Store};
use time::OffsetDateTime;
use tls::{Client, ClientAuth, ClientTls, Identity, ServerTls};

const HUB: &str = "hub.lienthong.test";

fn issue(authority: &Authority, subject: &str, agency: &str) -> (IssuedCertificate, KeyPair) {
    let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let request = IssueRequest {
        profile: Profile::Gateway,
        subject: SubjectName::parse(subject).expect("subject"),
        agency: Some(AgencyCode::parse(agency).expect("code")),
        key: SubscriberKey::from_key(&key),
    };
    (authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
}

fn client(root: &[u8], chain: Vec<Vec<u8>>, key: KeyPair) -> Client {
    let identity = Identity::from_key_pair(chain, key).expect("identity");
    Client::new(ClientTls { roots: vec![root.to_vec()], identity: Some(identity), server_name: Some(HUB.into()) })
        .expect("client")
}

async fn call(
    client: &Client,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(StatusCode, Value), String> {
    let response = client.request(method, url, headers, Body::from(body)).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_are_known_by_their_certificates_and_a_revoked_one_is_refused() {
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new =
        Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("ca");
    let root = new.root_der.clone();
    let authority = Authority::new(new.issuing_der, new.issuing_key, endpoints);
    let chain = |c: &IssuedCertificate| vec![c.der.clone(), authority.certificate().to_vec()];

    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("hub.sqlite").display())).await.expect("store");
    for code in ["000.00.00.G22", "000.00.00.H41"] {
        let agency = AgencyRecord { code: code.into(), name: code.into(), parent: None, mailbox: Some(code.into()) };
        store.put_agency(&agency, OffsetDateTime::now_utc()).await.expect("agency");
    }
    let blobs = BlobStore::open(&dir.path().join("blobs")).await.expect("blobs");
    let service = HubService::new(store, blobs, Limits::default()).await.expect("hub");

    let (hub_cert, hub_key) = issue(&authority, &format!("CN={HUB},O=Trục liên thông"), "000.00.00.G22");
    let crl = |revoked: &[RevokedEntry]| authority.crl(1, revoked, OffsetDateTime::now_utc()).expect("crl");
    let server_tls = ServerTls::builder(Identity::from_key_pair(chain(&hub_cert), hub_key).expect("identity"))
        .client_auth(ClientAuth::Required, vec![root.clone()])
        .crls(vec![crl(&[])])
        .build()
        .expect("server tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let server = server_tls.clone();
    tokio::spawn(tls::serve(listener, hub::router_over_mutual_tls(service), server, std::future::pending()));

    let (office_cert, office_key) =
        issue(&authority, "CN=gw-g22.lienthong.test,O=Văn phòng Chính phủ", "000.00.00.G22");
    let (nghe_an_cert, nghe_an_key) =
        issue(&authority, "CN=gw-h41.lienthong.test,O=UBND tỉnh Nghệ An", "000.00.00.H41");
    let office = client(&root, chain(&office_cert), office_key);
    let nghe_an = client(&root, chain(&nghe_an_cert), nghe_an_key);

    let sealed = b"sealed for Nghe An".to_vec();
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &sealed)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lienthong-package-id", "g22-0001"),
        ("lienthong-kind", "document"),
        ("lienthong-sender", "000.00.00.G22"),
        ("lienthong-recipients", "000.00.00.H41"),
        ("lienthong-sha256", hash.as_str()),
    ] {
        headers.insert(name, HeaderValue::from_str(value).expect("header"));
    }
    let (status, body) = call(&office, Method::POST, &format!("{url}/v1/packages"), headers.clone(), sealed.clone())
        .await
        .expect("sent");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) =
        call(&nghe_an, Method::POST, &format!("{url}/v1/packages"), headers, sealed).await.expect("answered");
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "Nghệ An cannot send as the Office"
    );

    let (status, inbox) =
        call(&nghe_an, Method::GET, &format!("{url}/v1/mailbox"), HeaderMap::new(), Vec::new()).await.expect("inbox");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox["deliveries"][0]["package_id"], "g22-0001");

    let revoked = RevokedEntry {
        serial: nghe_an_cert.serial.clone(),
        revoked_at: OffsetDateTime::now_utc(),
        reason: RevocationReason::KeyCompromise,
    };
    assert!(server_tls.set_crls(vec![crl(&[revoked])]).expect("new CRL"));
    let refused = call(&nghe_an, Method::GET, &format!("{url}/v1/mailbox"), HeaderMap::new(), Vec::new()).await;
    // Refused at the handshake on a new connection; on a kept-alive one that races its closing,
    // the request is served as nobody and refused by the hub.
    let refused_as_nobody = matches!(&refused, Ok((StatusCode::UNAUTHORIZED, _)));
    assert!(refused.is_err() || refused_as_nobody, "a revoked gateway is refused: {refused:?}");
    let (status, _) = call(&office, Method::GET, &format!("{url}/v1/mailbox"), HeaderMap::new(), Vec::new())
        .await
        .expect("others go on");
    assert_eq!(status, StatusCode::OK);
}
