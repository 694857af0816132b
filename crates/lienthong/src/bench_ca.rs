//! `lienthong bench ca`: certificates issued per second, beside `openssl ca` in a loop measured
//! in the same run, and the time to sign a CRL of many revoked entries.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use pki::{
    Authority, CertSerial, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, RevocationReason, RevokedEntry,
    SubjectName, SubscriberKey,
};
use store::{CaStore, Store};
use time::OffsetDateTime;

pub(crate) fn run(certificates: usize, openssl_runs: usize, revoked: usize) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let endpoints = Endpoints::new("http://127.0.0.1:8080");
    let new = Authority::create(KeyAlgorithm::P256, "lienthong bench", &endpoints, OffsetDateTime::now_utc())?;
    let authority = Authority::new(new.issuing_der, new.issuing_key, endpoints);
    let subscriber = KeyPair::generate(KeyAlgorithm::P256)?;
    let request = IssueRequest {
        profile: Profile::Official,
        subject: SubjectName::parse("CN=Nguyễn Văn A,T=Chuyên viên,O=Văn phòng Chính phủ,C=VN")?,
        agency: Some(edxml::AgencyCode::parse("000.00.00.G22")?),
        key: SubscriberKey::from_key(&subscriber),
    };
    println!("CA benchmark — ECDSA P-256 issuing CA, profile official, one core");
    println!("{:<58} {:>14}", "operation", "certificates/s");
    let start = Instant::now();
    for _ in 0..certificates {
        authority.issue(&request, OffsetDateTime::now_utc())?;
    }
    let issue_rate = certificates as f64 / start.elapsed().as_secs_f64();
    println!("{:<58} {issue_rate:>14.0}", "lienthong: sign + pre-issuance lint");
    let durable_rate = runtime.block_on(issue_and_record(&authority, &request, certificates))?;
    println!("{:<58} {durable_rate:>14.0}", "lienthong: sign + lint + record in SQLite (WAL)");
    let openssl_rate = openssl_ca_rate(openssl_runs)?;
    println!("{:<58} {openssl_rate:>14.0}", format!("openssl ca -batch, {openssl_runs} runs in a loop (peer)"));
    println!("{:<58} {:>13.1}x", "lienthong (durable) vs openssl ca", durable_rate / openssl_rate);
    crl(&authority, revoked)?;
    crate::bench_ocsp::run()?;
    Ok(ExitCode::SUCCESS)
}

async fn issue_and_record(authority: &Authority, request: &IssueRequest, certificates: usize) -> Result<f64> {
    let dir = tempfile_dir()?;
    let store = Store::open(&format!("sqlite://{}", dir.join("bench.sqlite").display())).await?;
    let start = Instant::now();
    for _ in 0..certificates {
        let issued = authority.issue(request, OffsetDateTime::now_utc())?;
        store.record_issued(&issued, OffsetDateTime::now_utc(), "bench").await?;
    }
    let rate = certificates as f64 / start.elapsed().as_secs_f64();
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(rate)
}

fn crl(authority: &Authority, revoked: usize) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    let entries: Vec<RevokedEntry> = (0..revoked)
        .map(|_| RevokedEntry {
            serial: CertSerial::random(),
            revoked_at: now,
            reason: RevocationReason::KeyCompromise,
        })
        .collect();
    let start = Instant::now();
    let der = authority.crl(1, &entries, now)?;
    let seconds = start.elapsed().as_secs_f64();
    println!("\nCRL with {revoked} revoked entries: signed in {seconds:.2} s, {:.1} MB", der.len() as f64 / 1048576.0);
    Ok(())
}

pub(crate) fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("lienthong-bench-{}", CertSerial::random()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The peer: a minimal `openssl ca` setup issuing the same kind of certificate, once per process.
fn openssl_ca_rate(runs: usize) -> Result<f64> {
    let dir = tempfile_dir()?;
    let run = |args: &[&str]| openssl_in(&dir, args);
    std::fs::create_dir_all(dir.join("newcerts"))?;
    std::fs::write(dir.join("index.txt"), "")?;
    std::fs::write(dir.join("ca.cnf"), OPENSSL_CA_CONFIG)?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=openssl bench CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3650",
    ])?;
    run(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=bench",
        "-keyout",
        "ee.key",
        "-out",
        "ee.csr",
    ])?;
    let start = Instant::now();
    for _ in 0..runs {
        run(&[
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "ee.csr", "-out",
            "ee.pem", "-notext",
        ])?;
    }
    let rate = runs as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).ok();
    Ok(rate)
}

/// Runs `openssl ARGS` in `dir`; fails with OpenSSL's own message.
pub(crate) fn openssl_in(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("openssl must be installed for the peer figures")?;
    if !output.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

const OPENSSL_CA_CONFIG: &str = "[ ca ]
default_ca = bench
[ bench ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
rand_serial = yes
default_md = sha256
default_days = 1095
policy = any
unique_subject = no
x509_extensions = official
[ any ]
commonName = supplied
[ official ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,1.3.6.1.5.5.7.3.36
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://127.0.0.1:8080/crl
authorityInfoAccess = OCSP;URI:http://127.0.0.1:8080/ocsp,caIssuers;URI:http://127.0.0.1:8080/ca.crt
";
