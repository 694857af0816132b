//! `lienthong hub`: the national hub as a standalone service, and its registry.
//!
//! A hub directory holds `hub.toml` (settings), `root.pem`, and `tls.pem`/`tls.key` (the hub's
//! certificate, key sealed under `LIENTHONG_KEY_PASSPHRASE`). Gateways reach it over mutual TLS;
//! operators manage the registry with the bearer token `hub init` printed (only its hash is
//! kept), by API (`/v1/registry/…`) or with `hub agency`. Agencies without a gateway connect with
//! the Government Office SDK at `/sdk/…`: each has a gateway hosted in the hub's process
//! (`hub host`), under `hosted/<code>`. Several hub processes may share one PostgreSQL store and
//! one blob directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use edxml::AgencyCode;
use pki::Profile;
use serde::{Deserialize, Serialize};
use store::Store;
use store::blobs::BlobStore;
use tls::{ClientAuth, Identity, ServerTls};

use crate::gateway_cmd;
use crate::node::{self, Credential};

#[derive(Debug, Args)]
pub(crate) struct HubArgs {
    #[command(subcommand)]
    command: HubCommand,
}

#[derive(Debug, Subcommand)]
enum HubCommand {
    /// Sets up a hub directory: its certificate from the CA, and the operator's token.
    Init {
        /// The hub directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// The CA directory that issues the hub's certificate.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The host name gateways reach the hub by (in its certificate).
        #[arg(long, default_value = "localhost")]
        host: String,
        /// Where the hub listens.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        /// The agency operating the hub (the Government Office).
        #[arg(long, default_value = "000.00.00.G22")]
        operator_agency: String,
    },
    /// Runs the hub until Ctrl-C or SIGTERM.
    Serve {
        /// The hub directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// The registry of agencies.
    Agency {
        #[command(subcommand)]
        command: AgencyCommand,
    },
    /// Hosts an agency that has no gateway: it connects with the SDK at the hub's `/sdk`.
    Host {
        /// The hub directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agency's code.
        #[arg(long)]
        agency: String,
        /// The agency's name.
        #[arg(long)]
        name: String,
        /// The CA directory that issues the agency's certificates.
        #[arg(long)]
        ca_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AgencyCommand {
    /// Adds or updates an agency.
    Add {
        /// The hub directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agency's code.
        #[arg(long)]
        code: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// The agency above it.
        #[arg(long)]
        parent: Option<String>,
        /// Its gateway's certificate (PEM): the agency gets its own mailbox.
        #[arg(long)]
        gateway_cert: Option<PathBuf>,
    },
    /// Lists the registry.
    List {
        /// The hub directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// A hub directory's settings (`hub.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HubSettings {
    /// Where the hub listens.
    pub(crate) listen: String,
    /// The URL gateways reach the hub at.
    pub(crate) public_url: String,
    /// `sqlite://…` or `postgres://…`; empty means `DIR/hub.sqlite`.
    #[serde(default)]
    pub(crate) store_url: String,
    /// The blob directory (relative to the hub directory); shared by hubs sharing a store.
    #[serde(default = "default_blobs")]
    pub(crate) blobs: String,
    /// The CA's CRL (`http://…/crl`, or a file).
    pub(crate) crl_url: String,
    /// SHA-256 of the operator's bearer token.
    pub(crate) operator_token_sha256: String,
    /// Gateway directories of hosted agencies (relative to the hub directory).
    #[serde(default)]
    pub(crate) hosted: Vec<String>,
    /// Lets several hub processes on this host listen on the same address (`SO_REUSEPORT`): the
    /// kernel spreads new connections over those alive, so one can die or be upgraded while the
    /// others serve. They must share the store (PostgreSQL) and the blob directory.
    #[serde(default)]
    pub(crate) reuse_port: bool,
}

fn default_blobs() -> String {
    "blobs".into()
}

const SETTINGS: &str = "hub.toml";
/// How often the registry is re-read (other hub processes may change it).
const REGISTRY_EVERY: Duration = Duration::from_secs(10);

pub(crate) fn run(args: HubArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match args.command {
            HubCommand::Init { dir, ca_dir, host, listen, operator_agency } => {
                init(&dir, &ca_dir, &host, &listen, &operator_agency).await
            }
            HubCommand::Serve { dir } => serve(&dir).await,
            HubCommand::Agency { command: AgencyCommand::Add { dir, code, name, parent, gateway_cert } } => {
                add_agency(&dir, &code, &name, parent.as_deref(), gateway_cert.as_deref()).await
            }
            HubCommand::Agency { command: AgencyCommand::List { dir } } => list(&dir).await,
            HubCommand::Host { dir, agency, name, ca_dir } => host(&dir, &agency, &name, &ca_dir).await,
        }
        .map(|()| ExitCode::SUCCESS)
    })
}

async fn init(dir: &Path, ca_dir: &Path, host: &str, listen: &str, operator_agency: &str) -> Result<()> {
    if dir.join(SETTINGS).exists() {
        bail!("{} is already a hub directory", dir.display());
    }
    let code = AgencyCode::parse(operator_agency).with_context(|| format!("--operator-agency {operator_agency:?}"))?;
    let port = listen.rsplit_once(':').map(|(_, port)| port).context("--listen must be HOST:PORT")?;
    let passphrase = node::key_passphrase()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let subject = format!("CN={host},O=Truc lien thong van ban quoc gia");
    let (tls, link) = node::issue(ca_dir, Profile::Gateway, &subject, &code).await?;
    tls.save(dir, "tls", &passphrase)?;
    crate::ca_cmd::write_atomic(&dir.join("root.pem"), crate::ca_cmd::pem("CERTIFICATE", &link.root).as_bytes())?;
    let token = ca::new_token()?;
    let settings = HubSettings {
        listen: listen.to_owned(),
        public_url: format!("https://{host}:{port}"),
        store_url: String::new(),
        blobs: default_blobs(),
        crl_url: link.crl_url,
        operator_token_sha256: hub::operator_token_hash(&token),
        hosted: Vec::new(),
        reuse_port: false,
    };
    node::save_settings(&dir.join(SETTINGS), &settings)?;
    println!("{}: hub at {}", dir.display(), settings.public_url);
    println!("   operator token (shown once; only its hash is kept): {token}");
    Ok(())
}

fn load(dir: &Path) -> Result<HubSettings> {
    node::load_settings(&dir.join(SETTINGS), "lienthong hub init")
}

async fn open_service(dir: &Path, settings: &HubSettings) -> Result<Arc<hub::HubService>> {
    let store = Store::open(&node::store_url(&settings.store_url, dir, "hub.sqlite")).await?;
    let blobs = BlobStore::open(&node::within(dir, &settings.blobs)).await?;
    Ok(hub::HubService::new(store, blobs, hub::Limits::default()).await?)
}

async fn serve(dir: &Path) -> Result<()> {
    let settings = load(dir)?;
    let passphrase = node::key_passphrase()?;
    let service = open_service(dir, &settings).await?;
    let tls = Credential::load(dir, "tls", &passphrase)?;
    let root = node::read_certificates(&dir.join("root.pem"))?.remove(0);
    let crl = node::fetch_crl(&settings.crl_url)
        .await
        .with_context(|| "the hub needs the CA's CRL to check gateway certificates")?;
    let server = ServerTls::builder(Identity::from_pkcs8(tls.chain.clone(), tls.pkcs8()?)?)
        .client_auth(ClientAuth::Optional, vec![root])
        .crls(vec![crl])
        .build()?;
    let listener = listen(&settings.listen, settings.reuse_port)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let routes = hub::router_over_mutual_tls(service.clone())
        .merge(hub::admin_router(service.clone(), settings.operator_token_sha256.clone()));
    let routes = match hosted(dir, &settings).await? {
        Some(sdk) => routes.nest("/sdk", sdk),
        None => routes,
    };
    let tls_crls = server.clone();
    node::follow_crl("hub", settings.crl_url.clone(), move |crl| {
        tls_crls.set_crls(vec![crl])?;
        Ok(())
    });
    follow_registry(service.clone());
    println!("lienthong hub: {} (listening on {})", settings.public_url, listener.local_addr()?);
    tls::serve(listener, routes, server, node::shutdown_signal()).await?;
    Ok(())
}

fn listen(address: &str, reuse_port: bool) -> Result<tokio::net::TcpListener> {
    let address: std::net::SocketAddr = address.parse().context("listen must be IP:PORT")?;
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(reuse_port)?;
    socket.bind(address)?;
    Ok(socket.listen(1024)?)
}

/// The hosted agencies' gateways, started, and the SDK routes over them.
async fn hosted(dir: &Path, settings: &HubSettings) -> Result<Option<axum::Router>> {
    if settings.hosted.is_empty() {
        return Ok(None);
    }
    let mut gateways = Vec::new();
    for home in &settings.hosted {
        let opened = gateway_cmd::open(&node::within(dir, home)).await?;
        gateway_cmd::start(&opened.gateway, &opened.settings.crl_url);
        println!("   SDK: {} ({}) at {}/sdk", opened.settings.agency, opened.settings.name, settings.public_url);
        gateways.push(opened.gateway);
    }
    Ok(Some(gateway::sdk_api::hosted_router(gateways)))
}

fn follow_registry(service: Arc<hub::HubService>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REGISTRY_EVERY).await;
            if let Err(e) = service.reload_registry().await {
                eprintln!("lienthong hub: re-reading the registry failed (retried): {e}");
            }
        }
    });
}

async fn add_agency(
    dir: &Path,
    code: &str,
    name: &str,
    parent: Option<&str>,
    certificate: Option<&Path>,
) -> Result<()> {
    let settings = load(dir)?;
    let pem = certificate
        .map(|path| std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display())))
        .transpose()?;
    let service = open_service(dir, &settings).await?;
    let record = service.register_agency(code, name, parent, pem.as_deref()).await?;
    let mailbox = record.mailbox.as_deref().unwrap_or("(qua đơn vị cấp trên / through its parent)");
    println!("{} {}: mailbox {mailbox}", record.code, record.name);
    Ok(())
}

async fn list(dir: &Path) -> Result<()> {
    let settings = load(dir)?;
    let service = open_service(dir, &settings).await?;
    for item in service.registry_listing().await? {
        println!("{item}");
    }
    Ok(())
}

async fn host(dir: &Path, agency: &str, name: &str, ca_dir: &Path) -> Result<()> {
    let mut settings = load(dir)?;
    let code = AgencyCode::parse(agency).with_context(|| format!("--agency {agency:?}"))?;
    let home = format!("hosted/{}", code.as_str());
    if settings.hosted.contains(&home) {
        bail!("{} is already hosted by this hub", code.as_str());
    }
    let gateway_dir = dir.join(&home);
    let host = settings.public_url.trim_start_matches("https://").rsplit_once(':').map_or("localhost", |(h, _)| h);
    gateway_cmd::init(&gateway_dir, code.as_str(), name, &settings.public_url, ca_dir, host, "hosted").await?;
    let service = open_service(dir, &settings).await?;
    let certificate = std::fs::read_to_string(gateway_dir.join("tls.pem"))?;
    service.register_agency(code.as_str(), name, None, Some(&certificate)).await?;
    let gateway_settings = gateway_cmd::load(&gateway_dir)?;
    let store = Store::open(&node::store_url(&gateway_settings.store_url, &gateway_dir, "gateway.sqlite")).await?;
    let (_, system_id, secret) = gateway_cmd::add_client_to(&store, &format!("SDK {name}")).await?;
    settings.hosted.push(home);
    node::save_settings(&dir.join(SETTINGS), &settings)?;
    println!("{} {name}: hosted; connect the SDK to {}/sdk", code.as_str(), settings.public_url);
    println!("   XroadVnpt-systemId {system_id}, secret (shown once): {secret}");
    Ok(())
}
