//! OCSP responses per second over HTTP under concurrent load: `lienthong ca serve`'s service
//! beside `openssl ocsp -index` as a responder, asked by the same client in the same run.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use pki::{Authority, IssueRequest, KeyAlgorithm, KeyPair, OcspResponder, Profile, SubjectName, SubscriberKey};
use store::{CaStore, Store};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::bench_ca::{openssl_in, tempfile_dir};
use crate::ca_cmd::pem;

/// Concurrent clients.
const CONNECTIONS: usize = 32;
/// How long each figure is measured.
const MEASURE: Duration = Duration::from_secs(4);

pub(crate) fn run(authority: &Authority, root_der: &[u8], subscriber: &KeyPair) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = tempfile_dir()?;
    let result = runtime.block_on(measure(authority, root_der, subscriber, &dir));
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn measure(authority: &Authority, root_der: &[u8], subscriber: &KeyPair, dir: &std::path::Path) -> Result<()> {
    let issue = |profile, subject: &str, key: &KeyPair| {
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject)?,
            agency: None,
            key: SubscriberKey::from_key(key),
        };
        Ok::<_, anyhow::Error>(authority.issue(&request, OffsetDateTime::now_utc())?)
    };
    let cert = issue(Profile::Tsa, "CN=bench TSA,O=lienthong bench", subscriber)?;
    let responder_key = KeyPair::generate(KeyAlgorithm::P256)?;
    let responder_cert = issue(Profile::Ocsp, "CN=bench OCSP,O=lienthong bench", &responder_key)?;
    let store = Store::open(&format!("sqlite://{}", dir.join("ocsp.sqlite").display())).await?;
    store.record_issued(&cert, OffsetDateTime::now_utc(), "bench").await?;
    let responder =
        OcspResponder::new(authority.certificate(), &responder_cert.der, responder_key).map_err(anyhow::Error::msg)?;
    let issuing_again = Authority::new(
        authority.certificate().to_vec(),
        KeyPair::generate(KeyAlgorithm::P256)?,
        pki::Endpoints::new("http://127.0.0.1"),
    );
    let service = ca::CaService::new(issuing_again, responder, store, root_der.to_vec()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ours = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, ca::router(service)).await });

    std::fs::write(dir.join("issuing.pem"), pem("CERTIFICATE", authority.certificate()))?;
    std::fs::write(dir.join("ee.pem"), pem("CERTIFICATE", &cert.der))?;
    let plain = ocsp_request(dir, "plain.der", &["-no_nonce"])?;
    let with_nonce = ocsp_request(dir, "nonce.der", &[])?;

    println!(
        "\nOCSP over HTTP — {CONNECTIONS} concurrent clients, one connection per request, {} s each",
        MEASURE.as_secs()
    );
    println!("{:<58} {:>14}", "responder", "responses/s");
    let cached = load(&ours, &plain, false).await?;
    println!("{:<58} {cached:>14.0}", "lienthong: pre-signed (nonce-free request, RFC 5019)");
    let signed = load(&ours, &with_nonce, false).await?;
    println!("{:<58} {signed:>14.0}", "lienthong: signed per request (request with a nonce)");
    let kept = load(&ours, &plain, true).await?;
    println!("{:<58} {kept:>14.0}", "lienthong: pre-signed, keep-alive connections");
    let kept_signed = load(&ours, &with_nonce, true).await?;
    println!("{:<58} {kept_signed:>14.0}", "lienthong: signed per request, keep-alive connections");
    let (openssl, peer) = openssl_responder(dir)?;
    let _guard = Kill(openssl);
    let theirs = load(&peer, &with_nonce, false).await?;
    println!("{:<58} {theirs:>14.0}", "openssl ocsp -index, -multi 2 (peer, signs every answer)");
    println!("{:<58} {:>13.1}x", "lienthong pre-signed vs openssl", cached / theirs);
    println!("{:<58} {:>13.1}x", "lienthong signed vs openssl", signed / theirs);
    println!("{:<58} {:>13.1}x", "lienthong pre-signed, keep-alive vs openssl (closes each)", kept / theirs);
    println!("{:<58} {:>13.1}x", "lienthong signed, keep-alive vs openssl (closes each)", kept_signed / theirs);
    Ok(())
}

/// A DER OCSP request for `ee.pem`, as openssl writes it.
fn ocsp_request(dir: &std::path::Path, name: &str, extra: &[&str]) -> Result<Vec<u8>> {
    let mut args = vec!["ocsp", "-issuer", "issuing.pem", "-cert", "ee.pem", "-reqout", name];
    args.extend(extra);
    let status = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .context("openssl is needed for the OCSP peer")?;
    if !status.success() {
        bail!("openssl ocsp -reqout failed");
    }
    Ok(std::fs::read(dir.join(name))?)
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The peer: OpenSSL's own responder over an `openssl ca` index naming the same certificate,
/// signing with a responder key of its own (the same ECDSA P-256 cost as ours).
fn openssl_responder(dir: &std::path::Path) -> Result<(Child, String)> {
    let run = |args: &[&str]| openssl_in(dir, args);
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=openssl OCSP signer",
        "-keyout",
        "rsigner.key",
        "-out",
        "rsigner.pem",
        "-days",
        "30",
    ])?;
    let serial =
        Command::new("openssl").args(["x509", "-in", "ee.pem", "-noout", "-serial"]).current_dir(dir).output()?;
    let serial = String::from_utf8_lossy(&serial.stdout).trim().trim_start_matches("serial=").to_owned();
    std::fs::write(dir.join("index.txt"), format!("V\t300101000000Z\t\t{serial}\tunknown\t/CN=bench TSA\n"))?;
    let port = free_port()?;
    let child = Command::new("openssl")
        .args([
            "ocsp",
            "-index",
            "index.txt",
            "-port",
            &port.to_string(),
            "-rsigner",
            "rsigner.pem",
            "-rkey",
            "rsigner.key",
            "-CA",
            "issuing.pem",
            "-multi",
            "2",
            "-ignore_err",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let address = format!("127.0.0.1:{port}");
    for _ in 0..50 {
        if std::net::TcpStream::connect(&address).is_ok() {
            return Ok((child, address));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("openssl ocsp did not start listening on {address}")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Answered requests per second from `CONNECTIONS` clients posting `request` for [`MEASURE`],
/// each on a fresh connection or (`keep_alive`) reusing one until the server closes it.
async fn load(address: &str, request: &[u8], keep_alive: bool) -> Result<f64> {
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + MEASURE;
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let (address, request, answered) = (address.to_owned(), request.to_vec(), answered.clone());
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if !keep_alive {
                    if post(&address, &request).await.is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else { continue };
                while Instant::now() < deadline && exchange(&mut stream, &address, &request).await.is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for client in clients {
        client.await?;
    }
    let count = answered.load(Ordering::Relaxed);
    if count == 0 {
        bail!("no OCSP answer from {address}");
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// One request on an open connection, reading exactly the response's Content-Length.
async fn exchange(stream: &mut tokio::net::TcpStream, address: &str, body: &[u8]) -> Result<()> {
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(&[head.as_bytes(), body].concat()).await?;
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let headers = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buffer.len() >= end + 4 + length {
            let ok = headers.starts_with("http/1.1 200") && successful_ocsp(&buffer[end + 4..end + 4 + length]);
            return if ok { Ok(()) } else { bail!("not a successful OCSP answer") };
        }
    }
}

/// One POST /ocsp on a fresh connection; succeeds on a 200 with a successful OCSP status.
async fn post(address: &str, body: &[u8]) -> Result<()> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::with_capacity(2048);
    stream.read_to_end(&mut response).await?;
    let ok = response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200");
    let body = response.windows(4).position(|w| w == b"\r\n\r\n").map(|i| &response[i + 4..]).unwrap_or_default();
    if ok && successful_ocsp(body) { Ok(()) } else { bail!("not a successful OCSP answer") }
}

/// Whether `der` is an OCSPResponse whose status is `successful`: SEQUENCE, then ENUMERATED 0.
fn successful_ocsp(der: &[u8]) -> bool {
    let Some(&length) = der.get(1) else { return false };
    let status_at = if length < 0x80 { 2 } else { 2 + usize::from(length & 0x7F) };
    der.first() == Some(&0x30) && der.get(status_at..status_at + 3) == Some(&[0x0A, 0x01, 0x00][..])
}
