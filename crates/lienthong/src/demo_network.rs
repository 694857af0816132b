//! The network part of `lienthong demo`: a certification authority, the hub and the gateways of
//! the Government Office (000.00.00.G22), Nghệ An (000.00.00.H41) and the Ministry of Finance
//! (000.00.00.G12, which also serves its level-2 unit 000.00.04.G12), all on loopback with SQLite
//! under the data directory. Documents travel signed and sealed over mutual TLS; receipts (01)
//! and a clerk's status (03) come back. `DATA_DIR/demo.json` says how to reach everything.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::node::hub_limits;
use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use edxml::{AgencyCode, Package};
use gateway::{Gateway, GatewayKeys, Trust};
use pki::{
    Authority, Endpoints, IssueRequest, IssuedCertificate, KeyAlgorithm, KeyPair, Profile, SubjectName, SubscriberKey,
};
use serde_json::json;
use store::blobs::BlobStore;
use store::{AgencyRecord, CaStore, ExchangeStore, GatewayStore, PackageKind, Store};
use time::OffsetDateTime;
use tls::{Client, ClientAuth, ClientTls, Identity, ServerTls};

/// Agencies with a gateway of their own.
const GATEWAYS: &[(&str, &str)] = &[
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An"),
    ("000.00.00.G12", "Bộ Tài chính"),
];
/// The Ministry of Finance's level-2 unit, served by the Ministry's gateway.
const UNIT: (&str, &str) = ("000.00.04.G12", "Cục Quản lý công sản");
/// An agency without a gateway: its system uses the Government Office SDK against the hub, which
/// hosts its mailbox.
const HOSTED: (&str, &str) = ("000.00.00.H14", "UBND tỉnh Cao Bằng");

pub(crate) struct Ca {
    pub(crate) root: Vec<u8>,
    store: Store,
    pub(crate) service: Arc<ca::CaService>,
    url: String,
}

impl Ca {
    pub(crate) async fn start(dir: &Path) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let endpoints = Endpoints::new(&url);
        let new = Authority::create(KeyAlgorithm::P256, "lienthong demo", &endpoints, OffsetDateTime::now_utc())?;
        let authority = Authority::new(new.issuing_der.clone(), new.issuing_key, endpoints);
        let store = Store::open(&format!("sqlite://{}", dir.join("ca.sqlite").display())).await?;
        let (responder_cert, responder_key) =
            issue_with(&authority, &store, Profile::Ocsp, "CN=lienthong demo OCSP,O=lienthong demo", None).await?;
        let responder = pki::OcspResponder::new(authority.certificate(), &responder_cert.der, responder_key)
            .map_err(anyhow::Error::msg)?;
        let (tsa_cert, tsa_key) =
            issue_with(&authority, &store, Profile::Tsa, "CN=lienthong demo TSA,O=lienthong demo", None).await?;
        let tsa = pki::TimeStampAuthority::new(&tsa_cert.der, vec![authority.certificate().to_vec()], tsa_key)?;
        let parts = ca::ServiceParts {
            authority,
            responder,
            store: store.clone(),
            root_der: new.root_der.clone(),
            tsa: Some(tsa),
            policy: ca::Policy::default(),
        };
        let service = ca::CaService::from_parts(parts).await?;
        tokio::spawn(axum::serve(listener, ca::router(service.clone())).into_future());
        std::fs::write(dir.join("root.pem"), crate::ca_cmd::pem("CERTIFICATE", &new.root_der))?;
        Ok(Self { root: new.root_der, store, service, url })
    }

    pub(crate) fn authority(&self) -> &Authority {
        self.service.authority()
    }

    pub(crate) async fn issue(
        &self,
        profile: Profile,
        subject: &str,
        agency: Option<&str>,
    ) -> Result<(IssuedCertificate, KeyPair)> {
        issue_with(self.authority(), &self.store, profile, subject, agency).await
    }

    pub(crate) fn chain(&self, certificate: &IssuedCertificate) -> Vec<Vec<u8>> {
        vec![certificate.der.clone(), self.authority().certificate().to_vec()]
    }
}

async fn issue_with(
    authority: &Authority,
    store: &Store,
    profile: Profile,
    subject: &str,
    agency: Option<&str>,
) -> Result<(IssuedCertificate, KeyPair)> {
    let key = KeyPair::generate(KeyAlgorithm::P256)?;
    let request = IssueRequest {
        profile,
        subject: SubjectName::parse(subject)?,
        agency: agency.map(AgencyCode::parse).transpose()?,
        key: SubscriberKey::from_key(&key),
    };
    let issued = authority.issue(&request, OffsetDateTime::now_utc())?;
    store.record_issued(&issued, OffsetDateTime::now_utc(), "demo").await?;
    Ok((issued, key))
}

fn pkcs8(key: &KeyPair) -> Result<Vec<u8>> {
    let pem = key.to_unencrypted_pem()?;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
}

/// A running gateway and how its client systems reach it.
pub(crate) struct Running {
    agency: &'static str,
    pub(crate) gateway: Arc<Gateway>,
    /// The gateway's base URL, or the hub's SDK URL for a hosted agency.
    url: String,
    /// `None` for a hosted agency (it has no client API).
    api_key: Option<String>,
    sdk_system: String,
    sdk_secret: String,
    /// The web inbox's clerk and password (`None` for a hosted agency).
    clerk: Option<(String, String)>,
}

/// How the Ministry's level-2 unit reaches the Ministry's gateway: its own API key, SDK system
/// and clerk, bound to the unit, so it sees only the unit's mail and sends only as the unit.
pub(crate) struct UnitAccess {
    url: String,
    api_key: String,
    sdk_system: String,
    sdk_secret: String,
    clerk: (String, String),
}

/// Credentials for `code`'s system and clerk on `gateway`, all bound to `code`.
struct Credentials {
    api_key: String,
    sdk_system: String,
    sdk_secret: String,
    clerk: (String, String),
}

async fn credentials(store: &Store, code: &str, name: &str) -> Result<Credentials> {
    let now = OffsetDateTime::now_utc();
    let api_key = ca::new_token()?;
    let record = store.add_client(&format!("QLVB {name}"), &gateway::api::key_hash(&api_key), code, now).await?;
    // vanthu.g22 for 000.00.00.G22, vanthu.04.g12 for its unit 000.00.04.G12.
    let significant: Vec<&str> = code.split('.').skip_while(|part| part.chars().all(|c| c == '0')).collect();
    let clerk = format!("vanthu.{}", significant.join(".").to_lowercase());
    let clerk_password = ca::new_token()?;
    let web_client =
        store.add_client(&format!("web:{clerk}"), &gateway::api::key_hash(&ca::new_token()?), code, now).await?;
    gateway::web::add_user(store, &clerk, &clerk_password, &web_client.id).await?;
    let sdk_system = format!("qlvb-{}", code.replace('.', "-").to_lowercase());
    let sdk_secret = ca::new_token()?;
    store.add_sdk_system(&record.id, &sdk_system, &sdk_secret, now).await?;
    Ok(Credentials { api_key, sdk_system, sdk_secret, clerk: (clerk, clerk_password) })
}

/// The unit's own credentials on the Ministry's gateway, once the hub confirms it routes the
/// unit's mail there.
async fn unit_access(ministry: &Running) -> Result<UnitAccess> {
    ministry.gateway.serves(&AgencyCode::parse(UNIT.0)?).await?;
    let c = credentials(ministry.gateway.store(), UNIT.0, UNIT.1).await?;
    Ok(UnitAccess {
        url: ministry.url.clone(),
        api_key: c.api_key,
        sdk_system: c.sdk_system,
        sdk_secret: c.sdk_secret,
        clerk: c.clerk,
    })
}

/// Runs the network, sends the example exchange, writes `demo.json`; serves until Ctrl-C
/// unless `once`.
pub(crate) async fn run(data_dir: &Path, document: &[u8], once: bool) -> Result<()> {
    let dir = data_dir.join(format!("network-{}", OffsetDateTime::now_utc().unix_timestamp()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    println!("\n== Mạng liên thông / the exchange network (CA, trục, cổng kết nối) ==");
    let ca = Ca::start(&dir).await?;
    println!("   CA: {} (OCSP {0}/ocsp, CRL {0}/crl)", ca.url);

    let hub_store = Store::open(&format!("sqlite://{}", dir.join("hub.sqlite").display())).await?;
    for (code, name) in GATEWAYS {
        let agency =
            AgencyRecord { code: (*code).into(), name: (*name).into(), parent: None, mailbox: Some((*code).into()) };
        hub_store.put_agency(&agency, OffsetDateTime::now_utc()).await?;
    }
    let hosted =
        AgencyRecord { code: HOSTED.0.into(), name: HOSTED.1.into(), parent: None, mailbox: Some(HOSTED.0.into()) };
    hub_store.put_agency(&hosted, OffsetDateTime::now_utc()).await?;
    let unit =
        AgencyRecord { code: UNIT.0.into(), name: UNIT.1.into(), parent: Some("000.00.00.G12".into()), mailbox: None };
    hub_store.put_agency(&unit, OffsetDateTime::now_utc()).await?;
    let hub =
        hub::HubService::new(hub_store, BlobStore::open(&dir.join("hub-blobs")).await?, hub::Limits::default()).await?;
    let (hub_cert, hub_key) =
        ca.issue(Profile::Gateway, "CN=localhost,O=Trục liên thông văn bản quốc gia", Some("000.00.00.G22")).await?;
    // Optional client certificates: gateways present theirs (the hub's routes refuse a caller
    // without one); SDK systems authenticate with their HMAC instead.
    let hub_tls = ServerTls::builder(Identity::from_key_pair(ca.chain(&hub_cert), hub_key)?)
        .client_auth(ClientAuth::Optional, vec![ca.root.clone()])
        .crls(vec![ca.service.current_crl().to_vec()])
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hub_url = format!("https://localhost:{}", listener.local_addr()?.port());
    let cao_bang = start_gateway(&ca, &hub, &hub_url, &dir, HOSTED, Serve::HostedByHub).await?;
    let hub_routes = hub::router_over_mutual_tls(hub.clone())
        .nest("/sdk", gateway::sdk_api::hosted_router(vec![cao_bang.gateway.clone()]));
    tokio::spawn(tls::serve(listener, hub_routes, hub_tls.clone(), std::future::pending()));
    println!("   Trục / hub: {hub_url} (mutual TLS; SDK {hub_url}/sdk)");

    let mut running = Vec::new();
    for agency in GATEWAYS {
        running.push(start_gateway(&ca, &hub, &hub_url, &dir, *agency, Serve::OwnListener).await?);
    }
    let ministry = running.iter().find(|r| r.agency == "000.00.00.G12").context("the Ministry's gateway")?;
    let unit = unit_access(ministry).await?;
    running.push(cao_bang);
    spawn_crl_refresh(&ca, &hub_tls, &running);

    exchange(&running, document).await?;
    write_demo_json(data_dir, &ca, &hub_url, &running, &unit)?;
    println!("\n   Cổng kết nối / gateways (API cho hệ thống quản lý văn bản, OpenAPI tại /openapi.json):");
    for r in &running {
        match &r.api_key {
            Some(key) => {
                println!("   {} {}  khóa API / API key: {key}", r.agency, r.url);
                if let Some((clerk, password)) = &r.clerk {
                    println!("      hộp thư web / web inbox: {}/web/  đăng nhập / login: {clerk} / {password}", r.url);
                }
            }
            None => println!(
                "   {} (không có cổng / no gateway) SDK {}  systemId {} secret {}",
                r.agency, r.url, r.sdk_system, r.sdk_secret
            ),
        }
    }
    println!(
        "   {} {} (cổng của Bộ Tài chính / the Ministry's gateway)  khóa API / API key: {}",
        UNIT.0, unit.url, unit.api_key
    );
    println!(
        "      hộp thư web / web inbox: {}/web/  đăng nhập / login: {} / {}",
        unit.url, unit.clerk.0, unit.clerk.1
    );
    println!("   Chi tiết / details: {}", data_dir.join("demo.json").display());
    if !once {
        println!("\n   Đang chạy; Ctrl-C để dừng / running; Ctrl-C to stop.");
        tokio::signal::ctrl_c().await.ok();
    }
    Ok(())
}

/// Where a gateway's client systems reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serve {
    /// Its own HTTPS listener (client API and SDK).
    OwnListener,
    /// The hub's `/sdk` routes (an agency without a gateway of its own).
    HostedByHub,
}

pub(crate) async fn start_gateway(
    ca: &Ca,
    hub: &Arc<hub::HubService>,
    hub_url: &str,
    dir: &Path,
    (code, name): (&'static str, &str),
    serve: Serve,
) -> Result<Running> {
    let (seal_cert, seal_key) =
        ca.issue(Profile::Organization, &format!("CN={name},O={name},C=VN"), Some(code)).await?;
    let (tls_cert, tls_key) = ca.issue(Profile::Gateway, &format!("CN=localhost,O={name}"), Some(code)).await?;
    hub.store().put_mailbox(code, &tls_cert.der, OffsetDateTime::now_utc()).await?;
    let tls_pkcs8 = pkcs8(&tls_key)?;
    let client = Client::with_limits(
        ClientTls {
            roots: vec![ca.root.clone()],
            identity: Some(Identity::from_pkcs8(ca.chain(&tls_cert), tls_pkcs8.clone())?),
            server_name: None,
        },
        hub_limits(),
    )?;
    let trust = Trust::new(std::slice::from_ref(&ca.root), &[ca.authority().certificate().to_vec()])?;
    trust.set_crls(&[ca.service.current_crl().to_vec()])?;
    let home = dir.join(format!("gateway-{code}"));
    std::fs::create_dir_all(&home)?;
    let store = Store::open(&format!("sqlite://{}", home.join("gateway.sqlite").display())).await?;
    let Credentials { api_key, sdk_system, sdk_secret, clerk } = credentials(&store, code, name).await?;
    let keys = GatewayKeys::new(seal_key, seal_cert.der, &tls_cert.der, &tls_pkcs8)?;
    let agency = AgencyCode::parse(code)?;
    let gateway = Gateway::new(
        agency,
        store,
        BlobStore::open(&home.join("blobs")).await?,
        keys,
        Arc::new(trust),
        client,
        hub_url,
    );
    let anchoring = gateway::log::LogAnchoring::new(&format!("{}/tsa", ca.url), vec![ca.root.clone()])?;
    let gateway = gateway.with_log_anchoring(anchoring);
    tokio::spawn(gateway.clone().run_sender());
    tokio::spawn(gateway.clone().run_receiver());
    tokio::spawn(gateway.clone().run_log_anchoring());
    if serve == Serve::HostedByHub {
        let url = format!("{hub_url}/sdk");
        return Ok(Running { agency: code, gateway, url, api_key: None, sdk_system, sdk_secret, clerk: None });
    }
    let server = ServerTls::builder(Identity::from_pkcs8(ca.chain(&tls_cert), tls_pkcs8)?).build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://localhost:{}", listener.local_addr()?.port());
    let routes = crate::gateway_cmd::routes(&gateway);
    tokio::spawn(tls::serve(listener, routes, server, std::future::pending()));
    Ok(Running { agency: code, gateway, url, api_key: Some(api_key), sdk_system, sdk_secret, clerk: Some(clerk) })
}

/// Every 30 s: the CA's current CRL to the hub's TLS and each gateway's trust store.
fn spawn_crl_refresh(ca: &Ca, hub_tls: &ServerTls, running: &[Running]) {
    let service = ca.service.clone();
    let hub_tls = hub_tls.clone();
    let gateways: Vec<Arc<Gateway>> = running.iter().map(|r| r.gateway.clone()).collect();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            if let Err(e) = service.follow_store().await {
                eprintln!("lienthong demo: CRL refresh: {e}");
            }
            let crl = service.current_crl().to_vec();
            hub_tls.set_crls(vec![crl.clone()]).ok();
            for gateway in &gateways {
                gateway.trust().set_crls(std::slice::from_ref(&crl)).ok();
            }
        }
    });
}

/// The Office sends the example document to Nghệ An and the Ministry of Finance, a second one to
/// the Ministry's level-2 unit and a third to Cao Bằng (whose mailbox the hub hosts); each
/// arrives once, is answered 01 automatically, and Nghệ An's clerk answers 03.
async fn exchange(running: &[Running], document: &[u8]) -> Result<()> {
    let office = &running[0].gateway;
    let nghe_an = &running[1].gateway;
    println!("\n== Gửi văn bản / sending documents ==");
    let (first, _) = office.submit("demo", "4521/VPCP-KSTT", document).await?;
    println!("   Văn phòng Chính phủ → UBND tỉnh Nghệ An, Bộ Tài chính: {first}");
    let to_unit = retarget(document, UNIT, "4522")?;
    let (second, _) = office.submit("demo", "4522/VPCP-KSTT", &to_unit).await?;
    println!(
        "   Văn phòng Chính phủ → {} (qua cổng của Bộ Tài chính / through the Ministry's gateway): {second}",
        UNIT.1
    );
    let to_cao_bang = retarget(document, HOSTED, "4523")?;
    let (third, _) = office.submit("demo", "4523/VPCP-KSTT", &to_cao_bang).await?;
    println!("   Văn phòng Chính phủ → {} (SDK qua trục / SDK at the hub): {third}", HOSTED.1);

    let arrived = wait_for(|| async { Ok(nghe_an.store().incoming(&first).await?.is_some()) }).await?;
    if !arrived {
        bail!("the document did not reach Nghệ An within 30 s");
    }
    println!("   Đã đến / arrived at Nghệ An, chữ ký và chứng thư đã kiểm tra / signature and chain verified");
    let status = nghe_an.answer("demo", &first, edxml::StatusCode::Accepted, None).await?;
    println!("   UBND tỉnh Nghệ An trả trạng thái 03 (Đã tiếp nhận) / answers 03: {status}");
    let statuses = wait_for(|| async {
        let items = office.store().inbox(None, 0, 100).await?;
        Ok(items.iter().filter(|i| i.package.kind == PackageKind::Status).count() >= 5)
    })
    .await?;
    println!("\n== Trạng thái về Văn phòng Chính phủ / statuses back at the Office ==");
    for item in office.store().inbox(None, 0, 100).await? {
        println!(
            "   {} ← {}: {}",
            item.package.document_id.as_deref().unwrap_or("?"),
            item.package.sender,
            item.package.subject.as_deref().unwrap_or("")
        );
    }
    if !statuses {
        println!("   (chưa đủ trạng thái sau 30 s / not every status arrived within 30 s)");
    }
    if let Some(anchored) = office.anchor_log_now().await? {
        println!(
            "\n   Nhật ký gói tin của Văn phòng Chính phủ được gắn dấu thời gian RFC 3161 tới mục {} \
             / the Office's message log is time-stamped through entry {}",
            anchored.seq, anchored.seq
        );
    }
    Ok(())
}

/// The document addressed to `to` instead of its recipients, numbered `number`.
fn retarget(document: &[u8], (to, name): (&str, &str), number: &str) -> Result<Vec<u8>> {
    let parsed = edxml::parse(&bytes::Bytes::copy_from_slice(document), &edxml::Limits::default())?;
    let Package::Document(mut doc) = parsed.package else { bail!("the example is not a document") };
    let mut recipient = doc.header.to.first().cloned().unwrap_or_default();
    recipient.organ_id = Some(edxml::OrganId::from(AgencyCode::parse(to)?));
    recipient.organ_name = Some(name.into());
    doc.header.to = vec![recipient];
    if let Some(id) = doc.header.document_id.as_mut() {
        *id = id.replace("4521", number);
    }
    Ok(edxml::write(&Package::Document(doc)))
}

async fn wait_for<F, Fut>(check: F) -> Result<bool>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    for _ in 0..300 {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

fn write_demo_json(data_dir: &Path, ca: &Ca, hub_url: &str, running: &[Running], unit: &UnitAccess) -> Result<PathBuf> {
    let mut agencies: Vec<serde_json::Value> = running
        .iter()
        .map(|r| {
            let gateway_url = r.api_key.as_ref().map(|_| r.url.clone());
            let web_url = r.clerk.as_ref().map(|_| format!("{}/web/", r.url));
            json!({
                "organ_id": r.agency, "gateway_url": gateway_url, "api_key": r.api_key,
                "web_url": web_url, "web_login": r.clerk.as_ref().map(|(name, _)| name),
                "web_password": r.clerk.as_ref().map(|(_, password)| password),
                "sdk_url": r.url, "sdk_system_id": r.sdk_system, "sdk_secret": r.sdk_secret,
            })
        })
        .collect();
    agencies.push(json!({
        "organ_id": UNIT.0, "gateway_url": unit.url, "api_key": unit.api_key, "served_by": "000.00.00.G12",
        "web_url": format!("{}/web/", unit.url), "web_login": unit.clerk.0, "web_password": unit.clerk.1,
        "sdk_url": unit.url, "sdk_system_id": unit.sdk_system, "sdk_secret": unit.sdk_secret,
    }));
    let info = json!({
        "hub_url": hub_url,
        "hub_sdk_url": format!("{hub_url}/sdk"),
        "ca_url": ca.url,
        "ca_root_pem": crate::ca_cmd::pem("CERTIFICATE", &ca.root),
        "agencies": agencies,
    });
    let path = data_dir.join("demo.json");
    let temp = data_dir.join("demo.json.partial");
    std::fs::write(&temp, serde_json::to_string_pretty(&info)?)?;
    std::fs::rename(&temp, &path)?;
    Ok(path)
}
