//! `lienthong hub`: the national hub as a standalone service, and its registry.
//!
//! A hub directory holds `hub.toml` (settings), `root.pem`, and `tls.pem`/`tls.key` (the hub's
//! certificate, key sealed under `LIENTHONG_KEY_PASSPHRASE`). Gateways reach it over mutual TLS;
//! operators manage the registry with the bearer token `hub init` printed (only its hash is
//! kept), by API (`/v1/registry/…`) or with `hub agency`. Agencies without a gateway connect with
//! the Government Office SDK at `/sdk/…`: each has a gateway hosted in the hub's process
//! (`hub host`), under `hosted/<code>`. Several hub processes may share one PostgreSQL store and
//! one blob directory. `hub serve` removes, every hour, the content of packages settled more than
//! `retention_days` ago; `hub overdue` lists deliveries past their Decree 30 receipt deadline.

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
    /// Lists deliveries not acknowledged or refused by their Decree 30 deadline (the end of the day
    /// they were queued, Vietnam time), oldest first.
    Overdue {
        /// The hub directory.
        #[arg(long)]
        dir: PathBuf,
        /// Prints each as a line of JSON (as `GET /v1/registry/overdue` gives it).
        #[arg(long)]
        json: bool,
        /// Lists at most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
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
    /// Where blobs are kept: a directory (relative to the hub directory), or
    /// `s3://BUCKET/PREFIX` (endpoint, region and keys from the standard `AWS_*` environment
    /// variables); shared by hubs sharing a store.
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
    /// How many days after all its deliveries were acknowledged or refused a package's sealed
    /// content is removed (its records stay).
    #[serde(default = "default_retention_days")]
    pub(crate) retention_days: u32,
}

fn default_blobs() -> String {
    "blobs".into()
}

fn default_retention_days() -> u32 {
    90
}

/// Retention periods the hub accepts, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=36_500;

const SETTINGS: &str = "hub.toml";
/// How often the registry is re-read (other hub processes may change it).
const REGISTRY_EVERY: Duration = Duration::from_secs(10);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

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
            HubCommand::Overdue { dir, json, limit } => overdue(&dir, json, limit).await,
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
        retention_days: default_retention_days(),
    };
    node::save_settings(&dir.join(SETTINGS), &settings)?;
    println!("{}: hub at {}", dir.display(), settings.public_url);
    println!("   operator token (shown once; only its hash is kept): {token}");
    Ok(())
}

fn load(dir: &Path) -> Result<HubSettings> {
    let path = dir.join(SETTINGS);
    let settings: HubSettings = node::load_settings(&path, "lienthong hub init")?;
    if !RETENTION_DAYS.contains(&settings.retention_days) {
        bail!(
            "{}: retention_days = {} (số ngày lưu nội dung gói tin phải từ {} đến {} / must be {} to {})",
            path.display(),
            settings.retention_days,
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end(),
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end()
        );
    }
    Ok(settings)
}

async fn open_service(dir: &Path, settings: &HubSettings) -> Result<Arc<hub::HubService>> {
    let store = Store::open(&node::store_url(&settings.store_url, dir, "hub.sqlite")).await?;
    let blobs = node::open_blobs(dir, &settings.blobs, SETTINGS).await?;
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
    run_retention(service.clone(), settings.retention_days);
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

/// Every hour (first at start), removes the content of packages settled more than
/// `retention_days` ago.
fn run_retention(service: Arc<hub::HubService>, retention_days: u32) {
    let retention = time::Duration::days(i64::from(retention_days));
    tokio::spawn(async move {
        loop {
            match service.purge_settled(time::OffsetDateTime::now_utc(), retention).await {
                Ok(report) if report.packages > 0 => println!(
                    "lienthong hub: retention ({retention_days} days): {} packages purged, {} blobs removed, {} kept (shared)",
                    report.packages, report.blobs_removed, report.blobs_shared
                ),
                Ok(_) => {}
                Err(e) => eprintln!("lienthong hub: retention failed (retried in an hour): {e}"),
            }
            tokio::time::sleep(RETENTION_EVERY).await;
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

async fn overdue(dir: &Path, json: bool, limit: usize) -> Result<()> {
    let settings = load(dir)?;
    let service = open_service(dir, &settings).await?;
    let now = time::OffsetDateTime::now_utc();
    let (mut after, mut shown) = (0, 0);
    while shown < limit {
        let page = service.overdue(now, after, hub::MAX_OVERDUE_PAGE).await?;
        for delivery in page.iter().take(limit - shown) {
            if json {
                println!("{}", hub::overdue_view(delivery, now));
            } else {
                println!("{}", overdue_line(delivery, now));
            }
            shown += 1;
        }
        match page.last() {
            Some(last) if page.len() == hub::MAX_OVERDUE_PAGE as usize => after = last.id,
            _ => break,
        }
    }
    if !json {
        println!("Số lượt chuyển quá hạn xác nhận đã nhận: {shown} / Deliveries overdue for receipt: {shown}");
    }
    Ok(())
}

/// One overdue delivery, in Vietnamese with English alongside.
fn overdue_line(d: &store::DeliveryRecord, now: time::OffsetDateTime) -> String {
    let view = hub::overdue_view(d, now);
    let (vi, en) = duration_words(d.overdue_seconds(now));
    format!(
        "#{} {} ({}) từ/from {} đến/to {} qua hộp thư/via mailbox {}: trục nhận/queued {}, hạn xác nhận/due {}, quá hạn {vi} / overdue by {en}",
        d.id,
        d.package.id,
        d.package.kind,
        d.package.sender,
        d.recipient,
        d.mailbox,
        view["queued_at"].as_str().unwrap_or_default(),
        view["due_at"].as_str().unwrap_or_default(),
    )
}

/// `seconds` in days, hours and minutes: Vietnamese and English.
fn duration_words(seconds: i64) -> (String, String) {
    let minutes = seconds.max(0) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let vi = match days {
        0 => format!("{hours} giờ {minutes} phút"),
        _ => format!("{days} ngày {hours} giờ {minutes} phút"),
    };
    let en = match days {
        0 => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h {minutes} min"),
    };
    (vi, en)
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
    let (_, system_id, secret) = gateway_cmd::add_client_to(&store, &format!("SDK {name}"), code.as_str()).await?;
    settings.hosted.push(home);
    node::save_settings(&dir.join(SETTINGS), &settings)?;
    println!("{} {name}: hosted; connect the SDK to {}/sdk", code.as_str(), settings.public_url);
    println!("   XroadVnpt-systemId {system_id}, secret (shown once): {secret}");
    Ok(())
}
