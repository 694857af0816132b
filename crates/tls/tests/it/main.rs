//! Mutual TLS over real sockets: a test CA from `pki`, our server and client, and `curl` and
//! `openssl s_client` as clients nobody on this team wrote.
#![allow(unreachable_pub, reason = "helpers shared with the test modules")]
#![allow(clippy::new_without_default, reason = "fixtures that generate keys are not default values")]

mod client;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use base64::Engine as _;
use edxml::AgencyCode;
use futures_util::StreamExt as _;
use pki::{
    Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, RevocationReason, RevokedEntry, SubjectName,
    SubscriberKey,
};
use time::OffsetDateTime;
use tls::{ClientAuth, ClientTls, Identity, PeerIdentity, ServerLimits, ServerTls};
use tokio::net::TcpListener;

/// The hub's host name in the tests; it resolves nowhere, so clients are told to reach it at
/// 127.0.0.1 (`server_name`, `curl --resolve`).
pub const HUB: &str = "hub.lienthong.test";
/// The gateway of Nghệ An province.
pub const NGHE_AN: &str = "000.00.00.H41";

/// A CA (root and issuing CA), as the demo creates one.
#[derive(Debug)]
pub struct TestCa {
    pub root_der: Vec<u8>,
    pub authority: Authority,
}

/// A certificate with its chain (leaf, issuing CA) and key.
#[derive(Debug)]
pub struct Issued {
    pub certificate: pki::IssuedCertificate,
    pub chain: Vec<Vec<u8>>,
    pub key: KeyPair,
}

impl TestCa {
    pub fn new() -> Self {
        Self::named("lienthong test", KeyAlgorithm::P256)
    }

    /// A CA whose certificates are named after `organization`. Two CAs of the same name are
    /// told apart only by their signatures (and webpki then picks a CRL by name alone).
    pub fn named(organization: &str, algorithm: KeyAlgorithm) -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let new = Authority::create(algorithm, organization, &endpoints, OffsetDateTime::now_utc()).expect("CA");
        Self { root_der: new.root_der, authority: Authority::new(new.issuing_der, new.issuing_key, endpoints) }
    }

    /// A gateway certificate (TLS server and client) for `host`, of agency `agency`.
    pub fn gateway(&self, host: &str, agency: &str) -> Issued {
        self.gateway_with_key(host, agency, KeyPair::generate(KeyAlgorithm::P256).expect("key"))
    }

    pub fn gateway_with_key(&self, host: &str, agency: &str, key: KeyPair) -> Issued {
        let request = IssueRequest {
            profile: Profile::Gateway,
            subject: SubjectName::parse(&format!("CN={host},O=Cơ quan thử nghiệm,C=VN")).expect("subject"),
            agency: Some(AgencyCode::parse(agency).expect("agency")),
            key: SubscriberKey::from_key(&key),
        };
        let certificate = self.authority.issue(&request, OffsetDateTime::now_utc()).expect("issue");
        let chain = vec![certificate.der.clone(), self.authority.certificate().to_vec()];
        Issued { certificate, chain, key }
    }

    /// A CRL listing `revoked`, issued at `now`.
    pub fn crl_at(&self, number: u64, revoked: &[&Issued], now: OffsetDateTime) -> Vec<u8> {
        let entries: Vec<RevokedEntry> = revoked
            .iter()
            .map(|issued| RevokedEntry {
                serial: issued.certificate.serial.clone(),
                revoked_at: now,
                reason: RevocationReason::KeyCompromise,
            })
            .collect();
        self.authority.crl(number, &entries, now).expect("CRL")
    }

    pub fn crl(&self, number: u64, revoked: &[&Issued]) -> Vec<u8> {
        self.crl_at(number, revoked, OffsetDateTime::now_utc())
    }
}

impl Issued {
    /// The certificate and a software key, as a server or client presents them.
    pub fn identity(&self) -> Identity {
        Identity::from_pkcs8(self.chain.clone(), self.key_der()).expect("identity")
    }

    /// The key as unencrypted PKCS#8 DER.
    pub fn key_der(&self) -> Vec<u8> {
        pem_body(&self.key.to_unencrypted_pem().expect("software key"))
    }

    /// Writes `<name>.pem` (chain) and `<name>.key` into `dir`, for curl and openssl.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let chain: String = self.chain.iter().map(|der| pem_text("CERTIFICATE", der)).collect();
        let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, chain).expect("write");
        std::fs::write(&key, self.key.to_unencrypted_pem().expect("software key")).expect("write");
        (cert, key)
    }
}

pub fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

pub fn pem_text(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The routes the tests call.
pub fn router() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/sha256", post(sha256))
        .route("/peer", get(peer))
        .route("/big", get(|| async { vec![b'x'; 2 * 1024 * 1024] }))
}

async fn whoami(peer: PeerIdentity) -> String {
    peer.agency_code.unwrap_or_default()
}

/// `<subject>|<serial>|<sha-256 of the certificate>|<remote address>`.
async fn peer(
    identity: PeerIdentity,
    axum::Extension(certificate): axum::Extension<tls::PeerCertificate>,
    axum::extract::ConnectInfo(remote): axum::extract::ConnectInfo<SocketAddr>,
) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, certificate.der());
    format!("{}|{}|{}|{}", identity.subject, identity.serial, hex(digest.as_ref()), remote.ip())
}

/// Hashes the body as it streams in; answers `<sha-256 hex> <bytes> <transfer-encoding>`.
async fn sha256(headers: axum::http::HeaderMap, body: Body) -> Result<String, axum::http::StatusCode> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| axum::http::StatusCode::BAD_REQUEST)?;
        total += chunk.len();
        context.update(&chunk);
    }
    let encoding = headers.get("transfer-encoding").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    Ok(format!("{} {total} {encoding}", hex(context.finish().as_ref())))
}

/// A CA, the hub's certificate and Nghệ An's gateway certificate.
#[derive(Debug)]
pub struct Pki {
    pub ca: TestCa,
    pub hub: Issued,
    pub nghe_an: Issued,
}

impl Pki {
    pub fn new() -> Self {
        let ca = TestCa::new();
        let hub = ca.gateway(HUB, "000.00.00.G22");
        let nghe_an = ca.gateway("gw.nghean.gov.vn", NGHE_AN);
        Self { ca, hub, nghe_an }
    }

    /// The hub's server configuration: client certificates required, checked against `crls`.
    pub fn hub_tls(&self, crls: Vec<Vec<u8>>) -> ServerTls {
        self.hub_tls_with(crls, ServerLimits::default())
    }

    pub fn hub_tls_with(&self, crls: Vec<Vec<u8>>, limits: ServerLimits) -> ServerTls {
        ServerTls::builder(self.hub.identity())
            .client_auth(ClientAuth::Required, vec![self.ca.root_der.clone()])
            .crls(crls)
            .limits(limits)
            .build()
            .expect("server TLS")
    }

    /// A client trusting this CA, presenting `who`'s certificate, reaching the hub by address.
    pub fn client(&self, who: Option<&Issued>) -> tls::Client {
        tls::Client::new(ClientTls {
            roots: vec![self.ca.root_der.clone()],
            identity: who.map(Issued::identity),
            server_name: Some(HUB.into()),
        })
        .expect("client")
    }
}

/// A server running [`router`] on 127.0.0.1.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn start(tls: ServerTls) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tls::serve(listener, router(), tls, async move {
            let _ = stopped.await;
        }));
        Self { addr, stop: Some(stop), task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn hub_url(&self, path: &str) -> String {
        format!("https://{HUB}:{}{path}", self.addr.port())
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("server task").expect("serve");
    }
}

/// Runs a program off the runtime's threads; its exit code and output.
pub async fn run(program: &str, args: Vec<String>) -> (i32, String) {
    let program = program.to_owned();
    tokio::task::spawn_blocking(move || {
        let output =
            Command::new(&program).args(&args).output().unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .expect("blocking task")
}

pub fn p(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}
