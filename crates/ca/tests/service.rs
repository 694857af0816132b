//! The CA's HTTP services on a real socket, asked by `openssl ocsp -url` and `curl`-like clients.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use ca::CaService;
use edxml::AgencyCode;
use pki::{
    Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, OcspResponder, Profile, RevocationReason, SubjectName,
    SubscriberKey,
};
use store::{CaStore, Store};
use time::OffsetDateTime;

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

struct Running {
    dir: tempfile::TempDir,
    service: Arc<CaService>,
    store: Store,
    url: String,
    authority_root: Vec<u8>,
}

fn issue(
    authority: &Authority,
    profile: Profile,
    subject: &str,
    agency: Option<&str>,
) -> (pki::IssuedCertificate, KeyPair) {
    let key = KeyPair::generate(KeyAlgorithm::P256).expect("key");
    let request = IssueRequest {
        profile,
        subject: SubjectName::parse(subject).expect("subject"),
        agency: agency.map(|a| AgencyCode::parse(a).expect("agency")),
        key: SubscriberKey::from_key(&key),
    };
    (authority.issue(&request, OffsetDateTime::now_utc()).expect("issued"), key)
}

impl Running {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, der: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, pem(der)).expect("write");
        path
    }
}

async fn start() -> (Running, Authority) {
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let endpoints = Endpoints::new(&url);
    let new = Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc())
        .expect("authority");
    let issuing_again =
        KeyPair::open(&new.issuing_key.seal("correct horse battery").expect("seal"), "correct horse battery")
            .expect("open");
    let authority = Authority::new(new.issuing_der.clone(), new.issuing_key, endpoints.clone());
    let (responder_cert, responder_key) = issue(&authority, Profile::Ocsp, "CN=OCSP,O=lienthong test", None);
    let responder = OcspResponder::new(&new.issuing_der, &responder_cert.der, responder_key).expect("responder");
    let store = Store::open(&format!("sqlite://{}", dir.path().join("ca.sqlite").display())).await.expect("store");
    let service = CaService::new(
        Authority::new(new.issuing_der.clone(), issuing_again, endpoints),
        responder,
        store.clone(),
        new.root_der.clone(),
    )
    .await
    .expect("service");
    let app = ca::router(service.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let running = Running { dir, service, store, url, authority_root: new.root_der };
    std::fs::write(running.path("chain.pem"), pem(&new.issuing_der) + &pem(&running.authority_root)).expect("chain");
    std::fs::write(running.path("issuing.pem"), pem(&new.issuing_der)).expect("issuing");
    (running, authority)
}

fn p(path: &Path) -> String {
    path.to_str().expect("utf-8").to_owned()
}

/// Runs openssl off the async runtime, so the server keeps answering.
async fn openssl(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let output = Command::new("openssl").args(&args).output().expect("openssl is installed");
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
    })
    .await
    .expect("openssl ran")
}

async fn ask(running: &Running, cert: &Path, issuer: &Path) -> String {
    let args = [
        "ocsp",
        "-issuer",
        &p(issuer),
        "-cert",
        &p(cert),
        "-url",
        &format!("{}/ocsp", running.url),
        "-CAfile",
        &p(&running.path("chain.pem")),
    ];
    openssl(args.iter().map(|s| s.to_string()).collect()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_ocsp_over_http_sees_good_then_revoked_and_unknown() {
    let (running, authority) = start().await;
    let (good, _) =
        issue(&authority, Profile::Organization, "CN=Văn phòng Chính phủ,O=Văn phòng Chính phủ", Some("000.00.00.G22"));
    let (stranger, _) = issue(&authority, Profile::Tsa, "CN=TSA,O=lienthong test", None);
    running.store.record_issued(&good, OffsetDateTime::now_utc(), "test").await.expect("record");
    let (good_path, issuer) = (running.write("good.pem", &good.der), running.path("issuing.pem"));

    let text = ask(&running, &good_path, &issuer).await;
    assert!(text.contains("Response verify OK") && text.contains("good.pem: good"), "{text}");
    let text = ask(&running, &running.write("unrecorded.pem", &stranger.der), &issuer).await;
    assert!(text.contains("unrecorded.pem: unknown"), "{text}");

    running
        .store
        .revoke(&good.serial, RevocationReason::AffiliationChanged, OffsetDateTime::now_utc(), "test")
        .await
        .expect("revoke");
    assert!(running.service.follow_store().await.expect("follow"), "the service notices the change");
    assert!(!running.service.follow_store().await.expect("follow"), "and only once");
    let text = ask(&running, &good_path, &issuer).await;
    assert!(text.contains("good.pem: revoked") && text.contains("Reason: affiliationChanged"), "{text}");

    let crl_path = running.path("served.crl");
    let crl = fetch(&format!("{}/crl", running.url)).await;
    std::fs::write(&crl_path, &crl).expect("write");
    let text = openssl(
        ["crl", "-inform", "DER", "-in", &p(&crl_path), "-CAfile", &p(&issuer), "-noout", "-text"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .await;
    assert!(text.contains("verify OK") && text.contains(&good.serial.to_hex()), "{text}");
    assert_eq!(fetch(&format!("{}/root.crt", running.url)).await, running.authority_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_issuers_malformed_and_oversized_requests_are_refused() {
    let (running, _) = start().await;
    let (other, other_authority) = start().await;
    let (theirs, _) = issue(&other_authority, Profile::Tsa, "CN=TSA,O=lienthong test", None);
    let text = ask(&running, &other.write("theirs.pem", &theirs.der), &other.path("issuing.pem")).await;
    assert!(text.contains("Responder Error: unauthorized (6)"), "{text}");

    let answer = post(&format!("{}/ocsp", running.url), b"not DER at all".to_vec()).await;
    assert_eq!(answer.1, vec![0x30, 0x03, 0x0A, 0x01, 0x01], "malformedRequest");
    let (status, _) = post(&format!("{}/ocsp", running.url), vec![0u8; pki::MAX_REQUEST_BYTES + 1]).await;
    assert_eq!(status, 413, "an oversized body is refused before it is read");
}

/// A minimal HTTP/1.1 client over a raw socket (no extra dependency): GET, whole body.
async fn fetch(url: &str) -> Vec<u8> {
    request(url, "GET", &[]).await.1
}

async fn post(url: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    request(url, "POST", &body).await
}

async fn request(url: &str, method: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.ok();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    let status: u16 = std::str::from_utf8(&response[9..12]).expect("status").parse().expect("number");
    (status, response[split..].to_vec())
}
