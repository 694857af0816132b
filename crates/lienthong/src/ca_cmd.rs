//! `lienthong ca …`: the certification authority's command line. Its output is a contract.
//!
//! A CA directory holds `ca.toml` (settings), `root.pem` (the trust anchor), `chain.pem` (issuing
//! CA + root), `keys/` (the CA keys, sealed under `LIENTHONG_CA_PASSPHRASE`, unless they are in a
//! PKCS#11 token: see [`crate::ca_keys`]), the store (`ca.sqlite` unless `store_url` names
//! PostgreSQL) and `ca.crl` (the latest CRL).

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

use crate::ca_keys::{CaKeys, ISSUING_LABEL, KeyProvider, ROOT_LABEL, TokenSettings, passphrase};
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
        /// Generate the CA keys in this PKCS#11 token (its user PIN in LIENTHONG_CA_PIN) instead
        /// of sealed files.
        #[arg(long)]
        pkcs11_token: Option<String>,
        /// The token's PKCS#11 module.
        #[arg(long, requires = "pkcs11_token", default_value = token::SOFTHSM2_MODULE)]
        pkcs11_module: PathBuf,
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
    /// Lift a suspension (a revocation with reason certificateHold) and publish a new CRL.
    Unsuspend {
        #[arg(long)]
        dir: PathBuf,
        /// The serial, in hexadecimal.
        #[arg(long)]
        serial: String,
    },
    /// Accounts of the JSON API (subscribers, registration officers, operators).
    Account {
        #[command(subcommand)]
        command: crate::ca_admin::AccountCommand,
    },
    /// Subscribers' key devices: enroll one, unblock one with the unblock code the authority keeps.
    Device {
        #[command(subcommand)]
        command: crate::ca_device::DeviceCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: crate::ca_admin::AuditCommand,
    },
    /// Serve OCSP (POST /ocsp, GET /ocsp/…), the CRL (/crl), timestamps (POST /tsa), the CA
    /// certificates and the JSON API (/api/v1/…).
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
pub(crate) struct CaSettings {
    /// Key algorithm of the CA keys and of keys generated for subscribers.
    algorithm: String,
    /// The authority's organisation name, in its CA certificates.
    organization: String,
    /// Base URL written into certificates (OCSP, CRL, CA issuers): the `ca serve` listener.
    public_url: String,
    /// `sqlite://…` or `postgres://…`; empty means `DIR/ca.sqlite`.
    store_url: String,
    /// Profiles issued as soon as a registration officer approves (no operator step).
    #[serde(default)]
    auto_issue: Vec<String>,
    /// Where the CA keys are: "file" (sealed in `DIR/keys/`) or "pkcs11" (in a token).
    #[serde(default)]
    key_provider: KeyProvider,
    /// The PKCS#11 module of the token; SoftHSM2's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token holding the CA keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11_token: Option<String>,
}

/// How the audit log names the operator at the authority's console.
pub(crate) const CLI_ACTOR: &str = "cli";
/// How often `ca serve` looks for revocations made by other processes; with the 60 s pre-signed
/// lifetime, a revocation reaches OCSP and the CRL within a minute wherever it was made.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(20);
/// How often `ca serve` signs a checkpoint of the audit log (when it has grown).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl CaSettings {
    fn defaults(algorithm: KeyAlgorithm) -> Self {
        Self {
            algorithm: algorithm.to_string(),
            organization: "lienthong".into(),
            public_url: "http://127.0.0.1:8080".into(),
            store_url: String::new(),
            auto_issue: Vec::new(),
            key_provider: KeyProvider::File,
            pkcs11_module: None,
            pkcs11_token: None,
        }
    }

    /// The token holding the CA keys, if they are in one.
    pub(crate) fn token(&self) -> Result<Option<TokenSettings>> {
        match (self.key_provider, &self.pkcs11_token) {
            (KeyProvider::File, _) => Ok(None),
            (KeyProvider::Pkcs11, None) => {
                bail!("ca.toml: key_provider = \"pkcs11\" needs pkcs11_token (the token's label)")
            }
            (KeyProvider::Pkcs11, Some(label)) => Ok(Some(TokenSettings {
                module: self.pkcs11_module.clone().unwrap_or_else(|| token::SOFTHSM2_MODULE.into()),
                label: label.clone(),
            })),
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

    pub(crate) fn algorithm(&self) -> Result<KeyAlgorithm> {
        Ok(self.algorithm.parse()?)
    }

    /// The base URL of the authority's services (`/crl`, `/ocsp`, `/tsa`).
    pub(crate) fn public_url(&self) -> &str {
        &self.public_url
    }

    pub(crate) fn policy(&self) -> Result<ca::Policy> {
        let auto_issue = self
            .auto_issue
            .iter()
            .map(|p| p.parse::<Profile>().with_context(|| "ca.toml auto_issue".to_owned()))
            .collect::<Result<_>>()?;
        Ok(ca::Policy { auto_issue, key_algorithm: self.algorithm()? })
    }

    fn store_url(&self, dir: &Path) -> String {
        if self.store_url.is_empty() {
            format!("sqlite://{}", dir.join("ca.sqlite").display())
        } else {
            self.store_url.clone()
        }
    }
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
            CaCommand::Init { dir, algorithm, pkcs11_token: None, .. } => init(&dir, algorithm).await,
            CaCommand::Init { dir, algorithm, pkcs11_token: Some(label), pkcs11_module } => {
                init_on_token(&dir, algorithm, TokenSettings { module: pkcs11_module, label }).await
            }
            CaCommand::Issue { dir, profile, subject, agency, csr, key_out, out } => {
                issue(&dir, profile, &subject, agency.as_deref(), csr.as_deref(), key_out.as_deref(), &out).await
            }
            CaCommand::Revoke { dir, serial, reason } => revoke(&dir, &serial, reason).await,
            CaCommand::Crl { dir, out } => crl(&dir, &out).await,
            CaCommand::Unsuspend { dir, serial } => unsuspend(&dir, &serial).await,
            CaCommand::Account { command } => crate::ca_admin::account(command).await,
            CaCommand::Device { command } => crate::ca_device::run(command).await,
            CaCommand::Audit { command } => return crate::ca_admin::audit(command).await,
            CaCommand::Serve { .. } => unreachable!("served above, on a multi-threaded runtime"),
        }
        .map(|()| ExitCode::SUCCESS)
    })
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
    write_certificates_and_settings(dir, &new, &settings)?;
    println!("{}: CA created ({algorithm}); trust anchor {}", dir.display(), dir.join("root.pem").display());
    Ok(())
}

/// `ca init --pkcs11-token`: the root and issuing keys are generated in the token, and no key
/// file is written. A wrong PIN, an unknown token or a token that already holds CA keys changes
/// nothing.
async fn init_on_token(dir: &Path, algorithm: KeyAlgorithm, token: TokenSettings) -> Result<()> {
    if dir.join("ca.toml").exists() {
        bail!("{} already holds a CA: nothing was changed", dir.display());
    }
    let device = crate::ca_keys::open_token(&token)?;
    crate::ca_keys::check_free(&device)?;
    let mut settings = CaSettings::defaults(algorithm);
    let root_key = device.generate(ROOT_LABEL, algorithm)?;
    let issuing_key = device.generate(ISSUING_LABEL, algorithm)?;
    let new = Authority::create_with_keys(
        root_key,
        issuing_key,
        &settings.organization,
        &Endpoints::new(&settings.public_url),
        OffsetDateTime::now_utc(),
    )?;
    (settings.key_provider, settings.pkcs11_token) = (KeyProvider::Pkcs11, Some(token.label.clone()));
    settings.pkcs11_module = Some(token.module);
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Store::open(&settings.store_url(dir)).await?.close().await;
    write_certificates_and_settings(dir, &new, &settings)?;
    println!(
        "{}: CA created ({algorithm}) with its keys in token {:?}; trust anchor {}",
        dir.display(),
        token.label,
        dir.join("root.pem").display()
    );
    Ok(())
}

/// The CA certificates, then `ca.toml` last: a directory without it is no CA yet.
fn write_certificates_and_settings(dir: &Path, new: &pki::NewAuthority, settings: &CaSettings) -> Result<()> {
    write_atomic(&dir.join("root.pem"), pem("CERTIFICATE", &new.root_der).as_bytes())?;
    write_atomic(
        &dir.join("chain.pem"),
        (pem("CERTIFICATE", &new.issuing_der) + &pem("CERTIFICATE", &new.root_der)).as_bytes(),
    )?;
    write_atomic(&dir.join("ca.toml"), toml::to_string(settings)?.as_bytes())
}

/// The issuing CA and the store of `dir`.
pub(crate) async fn open(dir: &Path) -> Result<(Authority, Store, CaSettings)> {
    let (authority, store, settings, _) = open_with_keys(dir).await?;
    Ok((authority, store, settings))
}

/// [`open`], and the CA's keys for the services.
async fn open_with_keys(dir: &Path) -> Result<(Authority, Store, CaSettings, CaKeys)> {
    let settings = CaSettings::load(dir)?;
    let keys = CaKeys::open(dir, settings.token()?.as_ref())?;
    let key = keys.issuing()?;
    let chain = fs::read_to_string(dir.join("chain.pem"))
        .with_context(|| format!("cannot read {}", dir.join("chain.pem").display()))?;
    let issuing_der = first_pem_block(&chain).context("chain.pem holds no certificate")?;
    let store = Store::open(&settings.store_url(dir)).await?;
    Ok((Authority::new(issuing_der, key, Endpoints::new(&settings.public_url)), store, settings, keys))
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
    store.record_issued(&issued, OffsetDateTime::now_utc(), CLI_ACTOR).await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    if let (Some(path), Some(key)) = (key_out, generated) {
        write_private(path, &key.to_unencrypted_pem()?)?;
    }
    write_atomic(out, pem("CERTIFICATE", &issued.der).as_bytes())?;
    println!("{}: issued {profile} certificate serial={}", out.display(), issued.serial);
    Ok(())
}

async fn revoke(dir: &Path, serial: &str, reason: RevocationReason) -> Result<()> {
    let serial = CertSerial::from_hex(serial)?;
    let (authority, store, _) = open(dir).await?;
    store.revoke(&serial, reason, OffsetDateTime::now_utc(), CLI_ACTOR).await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    let number = publish_crl(&authority, &store, &dir.join("ca.crl")).await?;
    println!("revoked serial={serial} reason={reason}; CRL {number} published at {}", dir.join("ca.crl").display());
    Ok(())
}

async fn unsuspend(dir: &Path, serial: &str) -> Result<()> {
    let serial = CertSerial::from_hex(serial)?;
    let (authority, store, _) = open(dir).await?;
    store.unsuspend(&serial, OffsetDateTime::now_utc(), CLI_ACTOR).await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    let number = publish_crl(&authority, &store, &dir.join("ca.crl")).await?;
    println!("unsuspended serial={serial}; CRL {number} published at {}", dir.join("ca.crl").display());
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
    let (authority, store, settings, keys) = open_with_keys(dir).await?;
    let service = Service { dir, authority: &authority, store: &store, settings: &settings, keys: &keys };
    let (responder_der, responder_key) = ensure_service_certificate(&service, Profile::Ocsp).await?;
    let responder =
        pki::OcspResponder::new(authority.certificate(), &responder_der, responder_key).map_err(anyhow::Error::msg)?;
    let (tsa_der, tsa_key) = ensure_service_certificate(&service, Profile::Tsa).await?;
    let tsa = pki::TimeStampAuthority::new(&tsa_der, vec![authority.certificate().to_vec()], tsa_key)?;
    let root = first_pem_block(&fs::read_to_string(dir.join("root.pem"))?).context("root.pem holds no certificate")?;
    let policy = settings.policy()?;
    let parts = ca::ServiceParts { authority, responder, store, root_der: root, tsa: Some(tsa), policy };
    let service = ca::CaService::from_parts(parts).await?;
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
    let follower = service.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            if let Err(e) = follower.follow_store().await {
                eprintln!("lienthong ca: checking the store for revocations failed (retried): {e}");
            }
        }
    });
    let checkpointer = service.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if let Err(e) = checkpointer.checkpoint().await {
                eprintln!("lienthong ca: signing an audit checkpoint failed (retried in a minute): {e}");
            }
        }
    });
    axum::serve(listener, ca::router(service.clone()))
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    service.checkpoint().await?;
    Ok(())
}

/// What issuing a service certificate needs.
struct Service<'a> {
    dir: &'a Path,
    authority: &'a Authority,
    store: &'a Store,
    settings: &'a CaSettings,
    keys: &'a CaKeys,
}

/// The certificate and key of one of the authority's own services (the delegated OCSP
/// responder, the time-stamp authority): `DIR/<profile>.pem` with its key (see
/// [`crate::ca_keys`]), issued on first start and again when it has less than a week left or
/// does not certify the key.
async fn ensure_service_certificate(service: &Service<'_>, profile: Profile) -> Result<(Vec<u8>, KeyPair)> {
    let Service { dir, authority, store, settings, keys } = service;
    let cert_path = dir.join(format!("{profile}.pem"));
    if let Ok(cert) = fs::read_to_string(&cert_path) {
        let der = first_pem_block(&cert).with_context(|| format!("{} holds no certificate", cert_path.display()))?;
        let fresh = x509_not_after(&der).is_some_and(|end| end > OffsetDateTime::now_utc() + time::Duration::days(7));
        if let Some(key) = keys.service(profile)?.filter(|key| fresh && certifies(&der, key)) {
            return Ok((der, key));
        }
    }
    let new = keys.new_service(profile, settings.algorithm()?)?;
    let role = if profile == Profile::Tsa { "Time-Stamp Authority" } else { "OCSP Responder" };
    let subject = SubjectName::parse(&format!("CN={} {role},O={},C=VN", settings.organization, settings.organization))?;
    let issued = authority.issue(
        &IssueRequest { profile, subject, agency: None, key: SubscriberKey::from_key(&new.key) },
        OffsetDateTime::now_utc(),
    )?;
    store.record_issued(&issued, OffsetDateTime::now_utc(), CLI_ACTOR).await?;
    keys.keep_service(profile, &new)?;
    write_atomic(&cert_path, pem("CERTIFICATE", &issued.der).as_bytes())?;
    Ok((issued.der, new.key))
}

/// Whether the certificate `der` certifies `key`'s public key.
fn certifies(der: &[u8], key: &KeyPair) -> bool {
    use x509_parser::prelude::FromDer as _;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else { return false };
    let spki = key.public_key_der();
    let Ok((_, own)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki) else { return false };
    cert.public_key().subject_public_key.data == own.subject_public_key.data
}

fn x509_not_after(der: &[u8]) -> Option<OffsetDateTime> {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

pub(crate) use ca::pem;

fn first_pem_block(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Writes through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("partial");
    fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A secret: created readable by its owner only.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
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
