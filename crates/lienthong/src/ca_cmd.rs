//! `lienthong ca …`: the certification authority's command line. Its output is a contract.
//!
//! A CA directory holds `ca.toml` (settings), `root.pem` (the trust anchor), `chain.pem` (issuing
//! CA + root), `keys/` (the CA keys, sealed under `LIENTHONG_CA_PASSPHRASE`), the store
//! (`ca.sqlite` unless `store_url` names PostgreSQL) and `ca.crl` (the latest CRL).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use pki::{
    Authority, CertSerial, Endpoints, IssueRequest, KeyAlgorithm, KeyPair, Profile, RevocationReason, SubjectName,
    SubscriberKey,
};
use serde::{Deserialize, Serialize};
use store::{CaStore, Store};
use time::OffsetDateTime;

use crate::header::agency_code;

#[derive(Debug, Args)]
pub(crate) struct CaArgs {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create a root CA and an issuing CA in DIR.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Key algorithm of both CAs.
        #[arg(long, default_value = "p256")]
        algorithm: KeyAlgorithm,
    },
    /// Issue a certificate.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        /// organization, official, gateway, ocsp or tsa.
        #[arg(long)]
        profile: Profile,
        /// Subject, e.g. "CN=Nguyễn Văn A,T=Phó Chủ nhiệm,O=Văn phòng Chính phủ,C=VN".
        #[arg(long)]
        subject: String,
        /// The subscriber's agency code (required for organization, official and gateway).
        #[arg(long)]
        agency: Option<String>,
        /// A PKCS#10 request (PEM or DER) holding the subscriber's key.
        #[arg(long, conflicts_with = "key_out", required_unless_present = "key_out")]
        csr: Option<PathBuf>,
        /// Generate the subscriber's key and write it here (PKCS#8 PEM, mode 0600).
        #[arg(long)]
        key_out: Option<PathBuf>,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a certificate and publish a new CRL.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        /// The serial, in hexadecimal as `openssl x509 -serial` prints it.
        #[arg(long)]
        serial: String,
        /// keyCompromise, superseded, affiliationChanged, cessationOfOperation, certificateHold, …
        #[arg(long)]
        reason: RevocationReason,
    },
    /// Serve OCSP (POST /ocsp, GET /ocsp/…), the CRL (/crl) and the CA certificates.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one; the bound address is printed).
        #[arg(long)]
        listen: String,
    },
    /// Write a fresh CRL.
    Crl {
        #[arg(long)]
        dir: PathBuf,
        /// Where to write it (DER).
        #[arg(long)]
        out: PathBuf,
    },
}

/// The CA directory's settings: defaults, then `DIR/ca.toml`, then the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaSettings {
    /// Key algorithm of the CA keys and of keys generated for subscribers.
    algorithm: String,
    /// The authority's organisation name, in its CA certificates.
    organization: String,
    /// Base URL written into certificates (OCSP, CRL, CA issuers): the `ca serve` listener.
    public_url: String,
    /// `sqlite://…` or `postgres://…`; empty means `DIR/ca.sqlite`.
    store_url: String,
}

const PASSPHRASE_VAR: &str = "LIENTHONG_CA_PASSPHRASE";

impl CaSettings {
    fn defaults(algorithm: KeyAlgorithm) -> Self {
        Self {
            algorithm: algorithm.to_string(),
            organization: "lienthong".into(),
            public_url: "http://127.0.0.1:8080".into(),
            store_url: String::new(),
        }
    }

    fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("ca.toml");
        let text = fs::read_to_string(&path).with_context(|| {
            format!("{} is not a CA directory (run `lienthong ca init --dir {}` first)", dir.display(), dir.display())
        })?;
        let mut settings: Self = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if let Ok(url) = std::env::var("LIENTHONG_CA_PUBLIC_URL") {
            settings.public_url = url;
        }
        if let Ok(url) = std::env::var("LIENTHONG_CA_STORE_URL") {
            settings.store_url = url;
        }
        Ok(settings)
    }

    fn algorithm(&self) -> Result<KeyAlgorithm> {
        Ok(self.algorithm.parse()?)
    }

    fn store_url(&self, dir: &Path) -> String {
        if self.store_url.is_empty() {
            format!("sqlite://{}", dir.join("ca.sqlite").display())
        } else {
            self.store_url.clone()
        }
    }
}

fn passphrase() -> Result<String> {
    std::env::var(PASSPHRASE_VAR).with_context(|| {
        format!(
            "set {PASSPHRASE_VAR}: the passphrase that seals the CA keys (at least {} characters)",
            pki::MIN_PASSPHRASE_CHARS
        )
    })
}

pub(crate) fn run(args: CaArgs) -> Result<ExitCode> {
    if let CaCommand::Serve { dir, listen } = &args.command {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(serve(dir, listen))?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        match args.command {
            CaCommand::Init { dir, algorithm } => init(&dir, algorithm).await,
            CaCommand::Issue { dir, profile, subject, agency, csr, key_out, out } => {
                issue(&dir, profile, &subject, agency.as_deref(), csr.as_deref(), key_out.as_deref(), &out).await
            }
            CaCommand::Revoke { dir, serial, reason } => revoke(&dir, &serial, reason).await,
            CaCommand::Crl { dir, out } => crl(&dir, &out).await,
            CaCommand::Serve { .. } => unreachable!("served above, on a multi-threaded runtime"),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn init(dir: &Path, algorithm: KeyAlgorithm) -> Result<()> {
    if dir.join("ca.toml").exists() {
        bail!("{} already holds a CA: nothing was changed", dir.display());
    }
    let passphrase = passphrase()?;
    let settings = CaSettings::defaults(algorithm);
    let new = Authority::create(
        algorithm,
        &settings.organization,
        &Endpoints::new(&settings.public_url),
        OffsetDateTime::now_utc(),
    )?;
    let (root_sealed, issuing_sealed) = (new.root_key.seal(&passphrase)?, new.issuing_key.seal(&passphrase)?);
    fs::create_dir_all(dir.join("keys")).with_context(|| format!("cannot create {}", dir.display()))?;
    Store::open(&settings.store_url(dir)).await?.close().await;
    write_private(&dir.join("keys/root.key.pem"), &root_sealed)?;
    write_private(&dir.join("keys/issuing.key.pem"), &issuing_sealed)?;
    write_atomic(&dir.join("root.pem"), pem("CERTIFICATE", &new.root_der).as_bytes())?;
    write_atomic(
        &dir.join("chain.pem"),
        (pem("CERTIFICATE", &new.issuing_der) + &pem("CERTIFICATE", &new.root_der)).as_bytes(),
    )?;
    write_atomic(&dir.join("ca.toml"), toml::to_string(&settings)?.as_bytes())?;
    println!("{}: CA created ({algorithm}); trust anchor {}", dir.display(), dir.join("root.pem").display());
    Ok(())
}

/// The issuing CA and the store of `dir`.
async fn open(dir: &Path) -> Result<(Authority, Store, CaSettings)> {
    let settings = CaSettings::load(dir)?;
    let sealed = fs::read_to_string(dir.join("keys/issuing.key.pem"))
        .with_context(|| format!("cannot read the issuing key in {}", dir.display()))?;
    let key = KeyPair::open(&sealed, &passphrase()?)?;
    let chain = fs::read_to_string(dir.join("chain.pem"))
        .with_context(|| format!("cannot read {}", dir.join("chain.pem").display()))?;
    let issuing_der = first_pem_block(&chain).context("chain.pem holds no certificate")?;
    let store = Store::open(&settings.store_url(dir)).await?;
    Ok((Authority::new(issuing_der, key, Endpoints::new(&settings.public_url)), store, settings))
}

async fn issue(
    dir: &Path,
    profile: Profile,
    subject: &str,
    agency: Option<&str>,
    csr: Option<&Path>,
    key_out: Option<&Path>,
    out: &Path,
) -> Result<()> {
    let subject = SubjectName::parse(subject).context("--subject")?;
    let agency = agency.map(|a| agency_code(a, "--agency")).transpose()?;
    let (authority, store, settings) = open(dir).await?;
    let (key, generated) = match csr {
        Some(path) => (
            SubscriberKey::from_csr(&fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)?,
            None,
        ),
        None => {
            let generated = KeyPair::generate(settings.algorithm()?)?;
            (SubscriberKey::from_key(&generated), Some(generated))
        }
    };
    let issued = authority.issue(&IssueRequest { profile, subject, agency, key }, OffsetDateTime::now_utc())?;
    store.record_issued(&issued, OffsetDateTime::now_utc()).await?;
    if let (Some(path), Some(key)) = (key_out, generated) {
        write_private(path, &key.to_unencrypted_pem())?;
    }
    write_atomic(out, pem("CERTIFICATE", &issued.der).as_bytes())?;
    println!("{}: issued {profile} certificate serial={}", out.display(), issued.serial);
    Ok(())
}

async fn revoke(dir: &Path, serial: &str, reason: RevocationReason) -> Result<()> {
    let serial = CertSerial::from_hex(serial)?;
    let (authority, store, _) = open(dir).await?;
    store.revoke(&serial, reason, OffsetDateTime::now_utc()).await?;
    let number = publish_crl(&authority, &store, &dir.join("ca.crl")).await?;
    println!("revoked serial={serial} reason={reason}; CRL {number} published at {}", dir.join("ca.crl").display());
    Ok(())
}

async fn crl(dir: &Path, out: &Path) -> Result<()> {
    let (authority, store, _) = open(dir).await?;
    let number = publish_crl(&authority, &store, out).await?;
    if out != dir.join("ca.crl") {
        fs::copy(out, dir.join("ca.crl")).with_context(|| format!("cannot update {}", dir.join("ca.crl").display()))?;
    }
    println!("{}: CRL number {number}", out.display());
    Ok(())
}

/// Signs a CRL with the next number and everything revoked now; returns its number.
async fn publish_crl(authority: &Authority, store: &Store, out: &Path) -> Result<u64> {
    let revoked = store.revoked().await?;
    let number = store.next_crl_number().await?;
    let der = authority.crl(number, &revoked, OffsetDateTime::now_utc())?;
    write_atomic(out, &der)?;
    Ok(number)
}

/// How often the served CRL is re-signed (it is valid for a day).
const CRL_REFRESH: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn serve(dir: &Path, listen: &str) -> Result<()> {
    let (authority, store, settings) = open(dir).await?;
    let responder = ensure_responder(dir, &authority, &store, &settings).await?;
    let root = first_pem_block(&fs::read_to_string(dir.join("root.pem"))?).context("root.pem holds no certificate")?;
    let service = ca::CaService::new(authority, responder, store, root).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("lienthong ca: listening on http://{}", listener.local_addr()?);
    let refresher = service.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CRL_REFRESH).await;
            if let Err(e) = refresher.refresh_crl().await {
                eprintln!("lienthong ca: CRL refresh failed, the previous CRL is still served: {e}");
            }
        }
    });
    axum::serve(listener, ca::router(service))
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(())
}

/// The delegated OCSP responder: `DIR/ocsp.pem` with its sealed key, issued on first start and
/// again when it has less than a week left.
async fn ensure_responder(
    dir: &Path,
    authority: &Authority,
    store: &Store,
    settings: &CaSettings,
) -> Result<pki::OcspResponder> {
    let (cert_path, key_path) = (dir.join("ocsp.pem"), dir.join("keys/ocsp.key.pem"));
    if let (Ok(cert), Ok(sealed)) = (fs::read_to_string(&cert_path), fs::read_to_string(&key_path)) {
        let der = first_pem_block(&cert).context("ocsp.pem holds no certificate")?;
        let fresh = x509_not_after(&der).is_some_and(|end| end > OffsetDateTime::now_utc() + time::Duration::days(7));
        if fresh {
            return pki::OcspResponder::new(authority.certificate(), &der, KeyPair::open(&sealed, &passphrase()?)?)
                .map_err(anyhow::Error::msg);
        }
        fs::remove_file(&key_path).ok();
    }
    let key = KeyPair::generate(settings.algorithm()?)?;
    let subject =
        SubjectName::parse(&format!("CN={} OCSP Responder,O={},C=VN", settings.organization, settings.organization))?;
    let issued = authority.issue(
        &IssueRequest { profile: Profile::Ocsp, subject, agency: None, key: SubscriberKey::from_key(&key) },
        OffsetDateTime::now_utc(),
    )?;
    store.record_issued(&issued, OffsetDateTime::now_utc()).await?;
    write_private(&key_path, &key.seal(&passphrase()?)?)?;
    write_atomic(&cert_path, pem("CERTIFICATE", &issued.der).as_bytes())?;
    pki::OcspResponder::new(authority.certificate(), &issued.der, key).map_err(anyhow::Error::msg)
}

fn x509_not_after(der: &[u8]) -> Option<OffsetDateTime> {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn first_pem_block(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Writes through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("partial");
    fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A secret: created readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
