//! The envelope, checked against a tool nobody on this team wrote: `openssl cms` (3.0) decrypts
//! what `seal` and `seal_to` write, and `open` and `open_to` decrypt what
//! `openssl cms -encrypt -aes-256-gcm` writes.
//! Certificates come from the `pki` crate's authority, with the gateway profile (whose key usage
//! allows encryption).
#![allow(unreachable_pub, reason = "helpers shared with the test modules")]

mod interop;
mod refusals;
mod streaming;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use edxml::AgencyCode;
use pki::{Authority, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, SubjectName, SubscriberKey};
use time::OffsetDateTime;

/// A test authority and a directory for the files openssl reads.
#[derive(Debug)]
pub struct Setup {
    pub dir: tempfile::TempDir,
    authority: Authority,
}

/// A certificate and its private key, as DER and as PEM files.
#[derive(Debug)]
pub struct Holder {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

#[allow(clippy::new_without_default, reason = "making a setup issues certificates: not a default")]
impl Setup {
    pub fn new() -> Self {
        let endpoints = Endpoints::new("http://127.0.0.1:8080");
        let new =
            Authority::create(KeyAlgorithm::P256, "lienthong test", &endpoints, OffsetDateTime::now_utc()).expect("CA");
        let authority = Authority::new(new.issuing_der, new.issuing_key, endpoints);
        Self { dir: tempfile::tempdir().expect("temp dir"), authority }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A gateway certificate (key usage keyAgreement for P-256, keyEncipherment for RSA).
    pub fn gateway(&self, name: &str, algorithm: KeyAlgorithm) -> Holder {
        let subject = format!("CN={name}.gov.vn,O=UBND Tỉnh Nghệ An,C=VN");
        self.holder(name, Profile::Gateway, &subject, algorithm)
    }

    pub fn holder(&self, name: &str, profile: Profile, subject: &str, algorithm: KeyAlgorithm) -> Holder {
        let key = KeyPair::generate(algorithm).expect("key");
        let request = IssueRequest {
            profile,
            subject: SubjectName::parse(subject).expect("subject"),
            agency: Some(AgencyCode::parse("000.00.00.H41").expect("agency")),
            key: SubscriberKey::from_key(&key),
        };
        let issued = self.authority.issue(&request, OffsetDateTime::now_utc()).expect("issued");
        let key_pem = key.to_unencrypted_pem().expect("software key");
        let holder = Holder {
            key_der: pem_body(&key_pem),
            cert_pem: self.path(&format!("{name}.crt")),
            key_pem: self.path(&format!("{name}.key")),
            cert_der: issued.der,
        };
        std::fs::write(&holder.cert_pem, pem("CERTIFICATE", &holder.cert_der)).expect("write");
        std::fs::write(&holder.key_pem, key_pem).expect("write");
        holder
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

/// Runs a program; its exit code and its stdout + stderr.
pub fn run(program: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// What `openssl cms -decrypt` makes of `envelope` for `holder`: the content, or its error text.
pub fn openssl_decrypt(setup: &Setup, envelope: &[u8], holder: &Holder) -> Result<Vec<u8>, String> {
    let input = setup.write("openssl-in.der", envelope);
    let output = setup.path("openssl-out.bin");
    let _ = std::fs::remove_file(&output);
    let args = [
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        p(&input),
        "-recip",
        p(&holder.cert_pem),
        "-inkey",
        p(&holder.key_pem),
        "-binary",
        "-out",
        p(&output),
    ];
    let (code, text) = run("openssl", &args);
    if code != 0 {
        return Err(text);
    }
    Ok(std::fs::read(&output).expect("openssl's output"))
}

/// A document-like content of `bytes` bytes (not all zeros, so a leak of plaintext would show).
pub fn content(bytes: usize) -> Vec<u8> {
    (0..bytes).map(|i| (i % 251) as u8 ^ 0x5A).collect()
}

#[test]
fn a_sealed_document_opens_for_its_recipient() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072] {
        let holder = setup.gateway("gw", algorithm);
        for size in [0, 1, 15, 16, 17, 4096] {
            let document = content(size);
            let envelope = envelope::seal(&document, &[&holder.cert_der]).expect("sealed");
            let opened = envelope::open(&envelope, &holder.cert_der, &holder.key_der);
            assert_eq!(opened.as_deref(), Ok(&document[..]), "{algorithm}, {size} bytes");
        }
    }
}

#[test]
fn every_one_of_three_recipients_opens_the_same_envelope() {
    let setup = Setup::new();
    let holders = [
        setup.gateway("p256", KeyAlgorithm::P256),
        setup.gateway("rsa2048", KeyAlgorithm::Rsa2048),
        setup.gateway("p256-2", KeyAlgorithm::P256),
    ];
    let certificates: Vec<&[u8]> = holders.iter().map(|h| h.cert_der.as_slice()).collect();
    let document = b"Cong van so 123/UBND-VP gui cac so, ban, nganh".to_vec();
    let envelope = envelope::seal(&document, &certificates).expect("sealed");
    for holder in &holders {
        assert_eq!(envelope::open(&envelope, &holder.cert_der, &holder.key_der), Ok(document.clone()));
        assert_eq!(openssl_decrypt(&setup, &envelope, holder), Ok(document.clone()), "{}", p(&holder.cert_pem));
    }
}

#[test]
fn certificates_read_once_seal_and_open_envelope_after_envelope() {
    let setup = Setup::new();
    let holders = [setup.gateway("p256", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048)];
    let certificates: Vec<&[u8]> = holders.iter().map(|h| h.cert_der.as_slice()).collect();
    let recipients = envelope::Recipient::parse_all(&certificates).expect("recipients");
    let openers: Vec<envelope::Opener> =
        holders.iter().map(|h| envelope::Opener::new(&h.cert_der, &h.key_der).expect("opener")).collect();
    for size in [0, 17, 70_000] {
        let document = content(size);
        let mut sealed = Vec::new();
        envelope::seal_to_recipients(&[&document], &recipients, &mut sealed).expect("sealed");
        for (holder, opener) in holders.iter().zip(&openers) {
            assert_eq!(opener.open(&sealed).as_deref(), Ok(&document[..]), "{size} bytes");
            assert_eq!(envelope::open(&sealed, &holder.cert_der, &holder.key_der).as_deref(), Ok(&document[..]));
            assert_eq!(openssl_decrypt(&setup, &sealed, holder), Ok(document.clone()), "{size} bytes");
        }
    }
    let other = setup.gateway("other", KeyAlgorithm::P256);
    assert_eq!(
        envelope::Opener::new(&holders[0].cert_der, &other.key_der).err(),
        Some(envelope::OpenError::KeyMismatch)
    );
    let refused = envelope::Recipient::parse_all(&[&holders[0].cert_der, b"garbage"]);
    assert!(matches!(refused, Err(envelope::SealError::Certificate { index: 1, .. })), "{refused:?}");
    let one = envelope::Recipient::parse(b"garbage").expect_err("refused");
    assert!(one.to_string().starts_with("recipient 0: not an X.509 certificate: "), "{one}");
    assert!(one.problem().starts_with("not an X.509 certificate: "), "{}", one.problem());
    assert_eq!(envelope::Recipient::parse_all(&[]).err(), Some(envelope::SealError::RecipientCount(0)));
}

/// 10 MB by default; set `LIENTHONG_ENVELOPE_MB` for more (100 for the figure in the report).
#[test]
fn a_large_document_round_trips() {
    let megabytes: usize = std::env::var("LIENTHONG_ENVELOPE_MB").ok().and_then(|m| m.parse().ok()).unwrap_or(10);
    let setup = Setup::new();
    let holder = setup.gateway("gw", KeyAlgorithm::P256);
    let document = content(megabytes * 1_000_000);
    let started = std::time::Instant::now();
    let envelope = envelope::seal(&document, &[&holder.cert_der]).expect("sealed");
    let sealed = started.elapsed();
    let opened = envelope::open(&envelope, &holder.cert_der, &holder.key_der).expect("opened");
    let total = started.elapsed();
    assert!(opened == document, "the content changed");
    let overhead = envelope.len() - document.len();
    assert!(overhead < 1024, "overhead {overhead}");
    println!(
        "{megabytes} MB: seal {:?}, open {:?}; peak resident memory of this test process {}",
        sealed,
        total - sealed,
        peak_memory()
    );
}

fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM unknown").split_whitespace().skip(1).collect()
}
