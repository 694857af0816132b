//! The server, seen by curl, openssl and raw sockets.

use std::time::Duration;

use pki::{ExternalKey, KeyAlgorithm, KeyError, KeyPair};
use tls::{ClientAuth, Identity, ServerLimits, ServerTls, TlsError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{HUB, NGHE_AN, Pki, Running, TestCa, p, pem_text, run};

/// curl's arguments to reach the hub at `server` trusting `pki`'s root, from `dir`.
fn curl_args(pki: &Pki, server: &Running, dir: &std::path::Path) -> Vec<String> {
    let root = dir.join("root.pem");
    std::fs::write(&root, pem_text("CERTIFICATE", &pki.ca.root_der)).expect("write");
    let port = server.addr.port();
    vec![
        "--silent".into(),
        "--show-error".into(),
        "--fail".into(),
        "--max-time".into(),
        "10".into(),
        "--resolve".into(),
        format!("{HUB}:{port}:127.0.0.1"),
        "--cacert".into(),
        p(&root),
        server.hub_url("/whoami"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_a_gateway_certificate_gets_its_agency_code() {
    let pki = Pki::new();
    let server = Running::start(pki.hub_tls(vec![pki.ca.crl(1, &[])])).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = pki.nghe_an.write(dir.path(), "nghe-an");
    let mut args = curl_args(&pki, &server, dir.path());
    args.extend(["--cert".into(), p(&cert), "--key".into(), p(&key)]);
    let (code, output) = run("curl", args).await;
    assert_eq!((code, output.as_str()), (0, NGHE_AN));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_without_a_client_certificate_is_refused() {
    let pki = Pki::new();
    let server = Running::start(pki.hub_tls(vec![pki.ca.crl(1, &[])])).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, output) = run("curl", curl_args(&pki, &server, dir.path())).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("alert") || output.contains("SSL"), "{output}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let server = Running::start(pki.hub_tls(vec![pki.ca.crl(1, &[])])).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let stranger = TestCa::new().gateway("gw.nghean.gov.vn", NGHE_AN);
    let (cert, key) = stranger.write(dir.path(), "stranger");
    let mut args = curl_args(&pki, &server, dir.path());
    args.extend(["--cert".into(), p(&cert), "--key".into(), p(&key)]);
    let (code, output) = run("curl", args).await;
    assert_ne!(code, 0, "{output}");
    // Its issuing CA has the same name as ours, so the server finds a path whose signatures fail.
    assert!(output.contains("alert") || output.contains("SSL") || output.contains("reset"), "{output}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_negotiates_tls_1_3_and_verifies_the_hub() {
    let pki = Pki::new();
    let server = Running::start(pki.hub_tls(vec![pki.ca.crl(1, &[])])).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pem_text("CERTIFICATE", &pki.ca.root_der)).expect("write");
    let (cert, key) = pki.nghe_an.write(dir.path(), "nghe-an");
    let issuing = dir.path().join("issuing.pem");
    std::fs::write(&issuing, pem_text("CERTIFICATE", pki.ca.authority.certificate())).expect("write");
    let args = [
        "s_client",
        "-brief",
        "-connect",
        &server.addr.to_string(),
        "-servername",
        HUB,
        "-verify_hostname",
        HUB,
        "-verify_return_error",
        "-CAfile",
        &p(&root),
        "-cert",
        &p(&cert),
        "-key",
        &p(&key),
        "-cert_chain",
        &p(&issuing),
    ];
    let (code, output) = run("openssl", args.iter().map(|a| a.to_string()).collect()).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("Protocol version: TLSv1.3"), "{output}");
    assert!(output.contains("Verification: OK"), "{output}");
    let tls12 = ["s_client", "-brief", "-tls1_2", "-connect", &server.addr.to_string(), "-CAfile", &p(&root)];
    let (code, output) = run("openssl", tls12.iter().map(|a| a.to_string()).collect()).await;
    assert_ne!(code, 0, "TLS 1.2 is not offered: {output}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_completes_its_handshake_is_dropped() {
    let pki = Pki::new();
    let limits = ServerLimits { handshake_timeout: Duration::from_millis(300), ..ServerLimits::default() };
    let server = Running::start(pki.hub_tls_with(vec![pki.ca.crl(1, &[])], limits)).await;
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    socket.write_all(b"\x16\x03\x01").await.expect("write");
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the server closed the connection: {read:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_headers_are_refused() {
    let pki = Pki::new();
    let limits = ServerLimits { max_header_bytes: 8 * 1024, ..ServerLimits::default() };
    let server = Running::start(pki.hub_tls_with(vec![pki.ca.crl(1, &[])], limits)).await;
    let client = pki.client(Some(&pki.nghe_an));
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-padding", "a".repeat(16 * 1024).parse().expect("header"));
    let response = client.request(axum::http::Method::GET, &server.url("/whoami"), headers, "").await;
    let status = response.expect("the server answers").status();
    assert_eq!(status, axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_auth_lets_anonymous_clients_in_but_not_as_anyone() {
    let pki = Pki::new();
    let tls = ServerTls::builder(pki.hub.identity())
        .client_auth(ClientAuth::Optional, vec![pki.ca.root_der.clone()])
        .crls(vec![pki.ca.crl(1, &[])])
        .build()
        .expect("server TLS");
    let server = Running::start(tls).await;
    let anonymous = pki.client(None);
    let response = anonymous.request(axum::http::Method::GET, &server.url("/whoami"), Default::default(), "").await;
    assert_eq!(response.expect("served").status(), axum::http::StatusCode::UNAUTHORIZED);
    let gateway = pki.client(Some(&pki.nghe_an));
    let response = gateway.request(axum::http::Method::GET, &server.url("/whoami"), Default::default(), "").await;
    assert_eq!(response.expect("served").bytes().await.expect("body"), NGHE_AN);
    server.stop().await;
}

#[test]
fn asking_for_client_certificates_without_a_crl_is_refused_unless_said_so() {
    let pki = Pki::new();
    let builder =
        || ServerTls::builder(pki.hub.identity()).client_auth(ClientAuth::Required, vec![pki.ca.root_der.clone()]);
    assert!(matches!(builder().build(), Err(TlsError::NoCrls)));
    let tls = builder().crls(vec![pki.ca.crl(1, &[])]).build().expect("with a CRL");
    assert!(matches!(tls.set_crls(Vec::new()), Err(TlsError::NoCrls)));
    assert!(matches!(tls.set_crls(vec![b"not a CRL".to_vec()]), Err(TlsError::BadCrl(_))));
    builder().without_revocation_check().build().expect("explicitly without revocation");
    ServerTls::builder(pki.hub.identity()).build().expect("no client authentication needs no CRL");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let pki = Pki::new();
    let error = Identity::from_pkcs8(pki.hub.chain.clone(), pki.nghe_an.key_der()).expect_err("mismatch");
    assert!(matches!(error, TlsError::KeyMismatch), "{error}");
    assert!(matches!(Identity::from_pkcs8(Vec::new(), pki.hub.key_der()), Err(TlsError::EmptyChain)));
}

/// A software key behind pki's device interface, as a PKCS#11 token presents one.
#[derive(Debug)]
struct Device {
    key: KeyPair,
    spki: Vec<u8>,
}

impl Device {
    fn key_pair(algorithm: KeyAlgorithm) -> (KeyPair, Vec<u8>) {
        let key = KeyPair::generate(algorithm).expect("key");
        let spki = key.public_key_der();
        let external = KeyPair::external(Box::new(Self { key, spki: spki.clone() })).expect("device key");
        (external, spki)
    }
}

impl ExternalKey for Device {
    fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        rcgen::SigningKey::sign(&self.key, message).map_err(|e| KeyError::Device(e.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_a_device_serves_and_authenticates_tls() {
    let pki = Pki::new();
    let (hub_key, _) = Device::key_pair(KeyAlgorithm::P256);
    let hub = pki.ca.gateway_with_key(HUB, "000.00.00.G22", hub_key);
    let hub_identity = Identity::from_key_pair(hub.chain.clone(), hub.key).expect("device identity");
    let (gateway_key, _) = Device::key_pair(KeyAlgorithm::P256);
    let gateway = pki.ca.gateway_with_key("gw.nghean.gov.vn", NGHE_AN, gateway_key);
    let gateway_identity = Identity::from_key_pair(gateway.chain.clone(), gateway.key).expect("device identity");
    let tls = ServerTls::builder(hub_identity)
        .client_auth(ClientAuth::Required, vec![pki.ca.root_der.clone()])
        .crls(vec![pki.ca.crl(1, &[])])
        .build()
        .expect("server TLS");
    let server = Running::start(tls).await;
    let client = tls::Client::new(tls::ClientTls {
        roots: vec![pki.ca.root_der.clone()],
        identity: Some(gateway_identity),
        server_name: Some(HUB.into()),
    })
    .expect("client");
    let response = client.request(axum::http::Method::GET, &server.url("/whoami"), Default::default(), "").await;
    assert_eq!(response.expect("served").bytes().await.expect("body"), NGHE_AN);
    server.stop().await;
}

#[test]
fn an_rsa_key_in_a_device_is_refused_for_tls_1_3() {
    let ca = TestCa::named("lienthong test", KeyAlgorithm::Rsa2048);
    let (key, _) = Device::key_pair(KeyAlgorithm::Rsa2048);
    let issued = ca.gateway_with_key(HUB, "000.00.00.G22", key);
    let error = Identity::from_key_pair(issued.chain.clone(), issued.key).expect_err("RSA in a device");
    assert!(matches!(error, TlsError::Key(_)), "{error}");
}
