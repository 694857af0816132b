//! `lienthong gateway`: an agency's gateway as a standalone service.
//!
//! A gateway directory holds `gateway.toml` (settings), `root.pem` (the trust anchor), `seal.pem`
//! and `seal.key` (the agency's organisation seal, which signs outgoing packages), `tls.pem` and
//! `tls.key` (the gateway certificate: mutual TLS to the hub, its HTTPS API, and what packages for
//! this agency are encrypted to). Keys are sealed under `LIENTHONG_KEY_PASSPHRASE`. The store is
//! `gateway.sqlite` there unless `store_url` names PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use edxml::AgencyCode;
use gateway::{Gateway, GatewayKeys, Trust};
use pki::Profile;
use serde::{Deserialize, Serialize};
use store::{GatewayStore, Store, StoreError, WebStore as _};
use time::OffsetDateTime;
use tls::{Client, ClientTls, Identity, ServerTls};

use crate::node::{self, Credential, hub_limits};

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Debug, Subcommand)]
enum GatewayCommand {
    /// Sets up a gateway directory: the agency's seal and gateway certificates from the CA.
    Init {
        /// The gateway directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// The agency's code, e.g. 000.00.00.H41.
        #[arg(long)]
        agency: String,
        /// The agency's name, as its certificates carry it.
        #[arg(long)]
        name: String,
        /// The hub's base URL, e.g. https://hub.example.gov.vn:8443.
        #[arg(long)]
        hub: String,
        /// The CA directory that issues the certificates (`lienthong ca init`).
        #[arg(long)]
        ca_dir: PathBuf,
        /// The host name clients reach this gateway by (in its certificate).
        #[arg(long, default_value = "localhost")]
        host: String,
        /// Where the gateway's HTTPS API listens.
        #[arg(long, default_value = "127.0.0.1:9443")]
        listen: String,
    },
    /// Runs the gateway: its HTTPS API, the outbox sender and the inbox receiver.
    Serve {
        /// The gateway directory.
        #[arg(long)]
        dir: PathBuf,
        /// Overrides the settings' listen address.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Client systems of the agency (document-management systems).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Clerks of the web inbox (`GATEWAY_URL/web/`).
    Clerk {
        #[command(subcommand)]
        command: ClerkCommand,
    },
    /// The message log: every package sent and received, hash-chained and time-stamped.
    Log(crate::gateway_log::LogArgs),
}

#[derive(Debug, Subcommand)]
enum ClerkCommand {
    /// Adds a clerk; the password is read from `LIENTHONG_CLERK_PASSWORD` (12–256 characters).
    Add {
        /// The gateway directory.
        #[arg(long)]
        dir: PathBuf,
        /// The clerk's login name (letters, digits, `.-_@`).
        #[arg(long)]
        name: String,
        /// The agency the clerk reads and sends for: the gateway's own (the default), or a unit
        /// without a gateway of its own that the hub routes to this gateway.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Unlocks a clerk's web login locked after repeated failed passwords (its failed attempts
    /// are forgotten too); the unlocking is recorded in the message log.
    Unlock {
        /// The gateway directory.
        #[arg(long)]
        dir: PathBuf,
        /// The clerk's login name.
        #[arg(long)]
        login: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Adds a client system and prints its API key (shown once) and its SDK credentials.
    Add {
        /// The gateway directory.
        #[arg(long)]
        dir: PathBuf,
        /// The client system's name.
        #[arg(long)]
        name: String,
        /// The agency the client system reads and sends for: the gateway's own (the default), or
        /// a unit without a gateway of its own that the hub routes to this gateway.
        #[arg(long)]
        agency: Option<String>,
    },
}

/// A gateway directory's settings (`gateway.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewaySettings {
    /// The agency the gateway serves.
    pub(crate) agency: String,
    /// Its name.
    pub(crate) name: String,
    /// The hub's base URL.
    pub(crate) hub_url: String,
    /// Where the HTTPS API listens.
    pub(crate) listen: String,
    /// `sqlite://…` or `postgres://…`; empty means `DIR/gateway.sqlite`.
    #[serde(default)]
    pub(crate) store_url: String,
    /// Where blobs are kept: a directory (relative to the gateway directory), or
    /// `s3://BUCKET/PREFIX` (endpoint, region and keys from the standard `AWS_*` environment
    /// variables).
    #[serde(default = "default_blobs")]
    pub(crate) blobs: String,
    /// The CA's CRL (`http://…/crl`, or a file).
    pub(crate) crl_url: String,
    /// The RFC 3161 time-stamp authority anchoring the message log (`http://…/tsa`); empty:
    /// the log is not anchored.
    #[serde(default)]
    pub(crate) tsa_url: String,
    /// Minutes between anchors (only when the log has grown).
    #[serde(default = "default_anchor_minutes")]
    pub(crate) anchor_every_minutes: u64,
    /// Hours after the first failure to take in a delivery (e.g. the signer's revocation status
    /// stays unknown) before it is refused with a signed status 02.
    #[serde(default = "default_intake_give_up_hours")]
    pub(crate) intake_give_up_hours: u64,
    /// Failed attempts to take in a delivery before it is refused with a signed status 02.
    #[serde(default = "default_intake_max_attempts")]
    pub(crate) intake_max_attempts: u32,
}

fn default_anchor_minutes() -> u64 {
    10
}

fn default_intake_give_up_hours() -> u64 {
    gateway::IntakeLimit::default().give_up_after.as_secs() / 3600
}

fn default_intake_max_attempts() -> u32 {
    gateway::IntakeLimit::default().max_attempts
}

fn default_blobs() -> String {
    "blobs".into()
}

const SETTINGS: &str = "gateway.toml";

pub(crate) fn run(args: GatewayArgs) -> Result<ExitCode> {
    if let GatewayCommand::Log(log) = args.command {
        return crate::gateway_log::run(log);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match args.command {
            GatewayCommand::Init { dir, agency, name, hub, ca_dir, host, listen } => {
                let settings = init(&dir, &agency, &name, &hub, &ca_dir, &host, &listen).await?;
                println!("{}: gateway for {} ({})", dir.display(), settings.agency, settings.name);
                println!(
                    "   next: register it at the hub — `lienthong hub agency add --code {} --name … --gateway-cert {}`",
                    settings.agency,
                    dir.join("tls.pem").display()
                );
                Ok(())
            }
            GatewayCommand::Serve { dir, listen } => serve(&dir, listen).await,
            GatewayCommand::Client { command: ClientCommand::Add { dir, name, agency } } => {
                add_client(&dir, &name, agency.as_deref()).await
            }
            GatewayCommand::Clerk { command: ClerkCommand::Add { dir, name, agency } } => {
                add_clerk(&dir, &name, agency.as_deref()).await
            }
            GatewayCommand::Clerk { command: ClerkCommand::Unlock { dir, login } } => unlock_clerk(&dir, &login).await,
            GatewayCommand::Log(_) => unreachable!("answered above, on its own runtime"),
        }
        .map(|()| ExitCode::SUCCESS)
    })
}

/// Creates a gateway directory with certificates from the CA in `ca_dir`.
pub(crate) async fn init(
    dir: &Path,
    agency: &str,
    name: &str,
    hub: &str,
    ca_dir: &Path,
    host: &str,
    listen: &str,
) -> Result<GatewaySettings> {
    let code = AgencyCode::parse(agency).with_context(|| format!("--agency {agency:?}"))?;
    if dir.join(SETTINGS).exists() {
        bail!("{} is already a gateway directory", dir.display());
    }
    if !hub.starts_with("https://") {
        bail!("--hub {hub:?}: the hub is reached over HTTPS (mutual TLS)");
    }
    let passphrase = node::key_passphrase()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let organization = escape_rdn(name);
    let (seal, link) =
        node::issue(ca_dir, Profile::Organization, &format!("CN={organization},O={organization},C=VN"), &code).await?;
    let (tls, _) = node::issue(ca_dir, Profile::Gateway, &format!("CN={host},O={organization}"), &code).await?;
    seal.save(dir, "seal", &passphrase)?;
    tls.save(dir, "tls", &passphrase)?;
    crate::ca_cmd::write_atomic(&dir.join("root.pem"), crate::ca_cmd::pem("CERTIFICATE", &link.root).as_bytes())?;
    let settings = GatewaySettings {
        agency: code.as_str().to_owned(),
        name: name.to_owned(),
        hub_url: hub.trim_end_matches('/').to_owned(),
        listen: listen.to_owned(),
        store_url: String::new(),
        blobs: default_blobs(),
        tsa_url: link.crl_url.replace("/crl", "/tsa"),
        crl_url: link.crl_url,
        anchor_every_minutes: default_anchor_minutes(),
        intake_give_up_hours: default_intake_give_up_hours(),
        intake_max_attempts: default_intake_max_attempts(),
    };
    node::save_settings(&dir.join(SETTINGS), &settings)?;
    Ok(settings)
}

/// Commas and the other RFC 4514 specials in a name, escaped for a subject string.
fn escape_rdn(value: &str) -> String {
    value.chars().flat_map(|c| if ",+\"\\<>;=".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

pub(crate) fn load(dir: &Path) -> Result<GatewaySettings> {
    node::load_settings(&dir.join(SETTINGS), "lienthong gateway init")
}

/// A gateway built from its directory, with its TLS server settings.
pub(crate) struct Opened {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) server: ServerTls,
    pub(crate) settings: GatewaySettings,
}

/// Opens the gateway in `dir` (keys, trust, store, link to the hub) without starting it.
pub(crate) async fn open(dir: &Path) -> Result<Opened> {
    let settings = load(dir)?;
    let passphrase = node::key_passphrase()?;
    let agency = AgencyCode::parse(&settings.agency).context("gateway.toml agency")?;
    let seal = Credential::load(dir, "seal", &passphrase)?;
    let tls = Credential::load(dir, "tls", &passphrase)?;
    let root = node::read_certificates(&dir.join("root.pem"))?.remove(0);
    let root_der = root.clone();
    let intermediates: Vec<Vec<u8>> = tls.chain.iter().skip(1).cloned().collect();
    let trust = Trust::new(std::slice::from_ref(&root), &intermediates)?;
    match node::fetch_crl(&settings.crl_url).await {
        Ok(crl) => trust.set_crls(&[crl])?,
        Err(e) => eprintln!("lienthong gateway: no CRL yet ({e:#}); incoming packages wait until one is fetched"),
    }
    let store = Store::open(&node::store_url(&settings.store_url, dir, "gateway.sqlite")).await?;
    let blobs = node::open_blobs(dir, &settings.blobs, SETTINGS).await?;
    let tls_pkcs8 = tls.pkcs8()?;
    let hub = Client::with_limits(
        ClientTls {
            roots: vec![root],
            identity: Some(Identity::from_pkcs8(tls.chain.clone(), tls_pkcs8.clone())?),
            server_name: None,
        },
        hub_limits(),
    )?;
    let server = ServerTls::builder(Identity::from_pkcs8(tls.chain.clone(), tls_pkcs8.clone())?).build()?;
    let seal_certificate = seal.certificate().to_vec();
    let keys = GatewayKeys::new(seal.key, seal_certificate, tls.certificate(), &tls_pkcs8)?;
    let intake = gateway::IntakeLimit {
        max_attempts: settings.intake_max_attempts.max(1),
        give_up_after: std::time::Duration::from_secs(settings.intake_give_up_hours.max(1) * 3600),
    };
    let mut gateway =
        Gateway::new(agency, store, blobs, keys, Arc::new(trust), hub, &settings.hub_url).with_intake_limit(intake);
    if !settings.tsa_url.is_empty() {
        let anchoring = gateway::log::LogAnchoring::new(&settings.tsa_url, vec![root_der])
            .context("gateway.toml tsa_url")?
            .every(std::time::Duration::from_secs(settings.anchor_every_minutes.max(1) * 60));
        gateway = gateway.with_log_anchoring(anchoring);
    }
    Ok(Opened { gateway, server, settings })
}

/// Starts the gateway's workers: the outbox sender, the inbox receiver, the message log's
/// anchoring, the CRL follower.
pub(crate) fn start(gateway: &Arc<Gateway>, crl_url: &str) {
    tokio::spawn(gateway.clone().run_sender());
    tokio::spawn(gateway.clone().run_receiver());
    tokio::spawn(gateway.clone().run_log_anchoring());
    let trusted = gateway.clone();
    node::follow_crl("gateway", crl_url.to_owned(), move |crl| Ok(trusted.trust().set_crls(&[crl])?));
}

/// The gateway's HTTPS routes: the client API (with its OpenAPI description), the SDK's, and the
/// web inbox under `/web/`.
pub(crate) fn routes(gateway: &Arc<Gateway>) -> axum::Router {
    gateway::api::router(gateway.clone())
        .merge(gateway::sdk_api::router(gateway.clone()))
        .merge(gateway::web::router(gateway.clone()))
}

async fn serve(dir: &Path, listen: Option<String>) -> Result<()> {
    let opened = open(dir).await?;
    let listen = listen.unwrap_or_else(|| opened.settings.listen.clone());
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    start(&opened.gateway, &opened.settings.crl_url);
    println!(
        "lienthong gateway {}: https://{} (hub {})",
        opened.settings.agency,
        listener.local_addr()?,
        opened.settings.hub_url
    );
    tls::serve(listener, routes(&opened.gateway), opened.server, node::shutdown_signal()).await?;
    Ok(())
}

/// The agency a new client system or clerk of the gateway in `dir` acts for: the gateway's own,
/// or `--agency`, which the hub must route to this gateway (a unit without a gateway of its own).
async fn bound_agency(dir: &Path, settings: &GatewaySettings, agency: Option<&str>) -> Result<String> {
    let Some(text) = agency else { return Ok(settings.agency.clone()) };
    let code = AgencyCode::parse(text.trim()).with_context(|| format!("--agency {text:?}"))?;
    if code.as_str() == settings.agency {
        return Ok(settings.agency.clone());
    }
    let opened = open(dir).await?;
    match opened.gateway.serves(&code).await {
        Ok(()) => Ok(code.to_string()),
        Err(e @ gateway::GatewayError::NotServed { .. }) => bail!(
            "--agency {code}: cổng kết nối của {} không phục vụ đơn vị này; không tạo gì. / {e}; nothing was created",
            settings.agency
        ),
        Err(e) => Err(e).with_context(|| format!("--agency {code}: cannot ask the hub whether this gateway serves it")),
    }
}

async fn add_client(dir: &Path, name: &str, agency: Option<&str>) -> Result<()> {
    let settings = load(dir)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        bail!("--name: 1–200 characters");
    }
    let agency = bound_agency(dir, &settings, agency).await?;
    let store = Store::open(&node::store_url(&settings.store_url, dir, "gateway.sqlite")).await?;
    let (api_key, system_id, secret) = add_client_to(&store, name, &agency).await?;
    println!("client {name:?} of {agency} (gateway of {})", settings.agency);
    println!("   API key (shown once): {api_key}");
    println!("   SDK: XroadVnpt-systemId {system_id}, secret (shown once): {secret}");
    Ok(())
}

async fn add_clerk(dir: &Path, name: &str, agency: Option<&str>) -> Result<()> {
    let settings = load(dir)?;
    let password = std::env::var("LIENTHONG_CLERK_PASSWORD")
        .map_err(|_| anyhow::anyhow!("set LIENTHONG_CLERK_PASSWORD to the clerk's password (12–256 characters)"))?;
    let agency = bound_agency(dir, &settings, agency).await?;
    let store = Store::open(&node::store_url(&settings.store_url, dir, "gateway.sqlite")).await?;
    let key_hash = gateway::api::key_hash(&ca::new_token()?);
    let client = store.add_client(&format!("web:{name}"), &key_hash, &agency, OffsetDateTime::now_utc()).await?;
    gateway::web::add_user(&store, name, &password, &client.id).await?;
    println!("clerk {name:?} of {agency}: log in at https://{}/web/", settings.listen);
    Ok(())
}

async fn unlock_clerk(dir: &Path, login: &str) -> Result<()> {
    let settings = load(dir)?;
    let store = Store::open(&node::store_url(&settings.store_url, dir, "gateway.sqlite")).await?;
    match store.unlock_web_login(login, OffsetDateTime::now_utc()).await {
        Ok(Some(until)) => {
            let until = edxml::VnTimestamp::from_instant(until).iso();
            println!(
                "Đã mở khóa đăng nhập web của cán bộ {login:?} (đang bị khóa đến {until}). / Unlocked clerk \
                 {login:?}'s web login (it was locked until {until})."
            );
        }
        Ok(None) => println!(
            "Đăng nhập web của cán bộ {login:?} không bị khóa; các lần nhập sai mật khẩu đã được xóa. / Clerk \
             {login:?}'s web login was not locked; its failed attempts were cleared."
        ),
        Err(StoreError::UnknownWebUser(_)) => bail!(
            "--login {login:?}: cổng kết nối của {} không có cán bộ nào có tên đăng nhập này; không thay đổi gì. / \
             the gateway of {} has no clerk with this login; nothing was changed",
            settings.agency,
            settings.agency
        ),
        Err(e) => return Err(e).context("cannot unlock the clerk's web login"),
    }
    store.close().await;
    Ok(())
}

/// Adds a client system of `agency` (already checked to be one the gateway serves): its API key,
/// and SDK credentials; returns (API key, system id, secret).
pub(crate) async fn add_client_to(store: &Store, name: &str, agency: &str) -> Result<(String, String, String)> {
    let api_key = ca::new_token()?;
    let now = OffsetDateTime::now_utc();
    let record = store.add_client(name, &gateway::api::key_hash(&api_key), agency, now).await?;
    let system_id = format!("sys-{}", record.id);
    let secret = ca::new_token()?;
    store.add_sdk_system(&record.id, &system_id, &secret, now).await?;
    Ok((api_key, system_id, secret))
}
