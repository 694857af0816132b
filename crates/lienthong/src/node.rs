//! What `hub` and `gateway` commands share: certificates issued from a local CA directory, key
//! files sealed under `LIENTHONG_KEY_PASSPHRASE`, settings files, and following the CA's CRL.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use edxml::AgencyCode;
use http_body_util::{BodyExt as _, Limited};
use pki::{IssueRequest, IssuedCertificate, KeyPair, Profile, SubjectName, SubscriberKey};
use store::CaStore;
use time::OffsetDateTime;

use crate::ca_cmd::{CLI_ACTOR, pem, write_atomic, write_private};

/// The environment variable holding the passphrase of hub and gateway key files.
pub(crate) const KEY_PASSPHRASE: &str = "LIENTHONG_KEY_PASSPHRASE";
/// How often the CA's CRL is fetched again.
pub(crate) const CRL_EVERY: Duration = Duration::from_secs(30);
/// Largest CRL accepted from the CA.
const MAX_CRL_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn key_passphrase() -> Result<String> {
    match std::env::var(KEY_PASSPHRASE) {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => bail!("set {KEY_PASSPHRASE}: it protects this node's private keys"),
    }
}

/// A certificate the node holds, with its key and the chain up to (not including) the root.
pub(crate) struct Credential {
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) key: KeyPair,
}

impl Credential {
    /// The node's own certificate.
    pub(crate) fn certificate(&self) -> &[u8] {
        self.chain.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// The key as PKCS#8 DER (for TLS and for opening envelopes).
    pub(crate) fn pkcs8(&self) -> Result<Vec<u8>> {
        let pem = self.key.to_unencrypted_pem()?;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    /// Writes `NAME.pem` (the chain) and `NAME.key` (sealed) into `dir`.
    pub(crate) fn save(&self, dir: &Path, name: &str, passphrase: &str) -> Result<()> {
        let chain: String = self.chain.iter().map(|der| pem("CERTIFICATE", der)).collect();
        write_atomic(&dir.join(format!("{name}.pem")), chain.as_bytes())?;
        write_private(&dir.join(format!("{name}.key")), &self.key.seal(passphrase)?)
    }

    /// Reads what [`Credential::save`] wrote.
    pub(crate) fn load(dir: &Path, name: &str, passphrase: &str) -> Result<Self> {
        let chain = read_certificates(&dir.join(format!("{name}.pem")))?;
        let key_path = dir.join(format!("{name}.key"));
        let sealed = fs::read_to_string(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
        let key = KeyPair::open(&sealed, passphrase)
            .with_context(|| format!("{}: wrong {KEY_PASSPHRASE}, or not a sealed key", key_path.display()))?;
        Ok(Self { chain, key })
    }
}

/// Every certificate in a PEM file, in order.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut certificates = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end =
            body.find("-----END CERTIFICATE-----").with_context(|| format!("{}: unterminated PEM", path.display()))?;
        let b64: String = body[..end].split_whitespace().collect();
        certificates.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .with_context(|| format!("{}: bad base64 in a certificate", path.display()))?,
        );
        rest = &body[end..];
    }
    if certificates.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certificates)
}

/// The CA directory's trust anchor and the URL of its CRL.
pub(crate) struct CaLink {
    pub(crate) root: Vec<u8>,
    pub(crate) crl_url: String,
}

/// Issues a certificate for this node from the CA in `ca_dir` (an operator with access to the
/// authority sets a node up); the key is generated here.
pub(crate) async fn issue(
    ca_dir: &Path,
    profile: Profile,
    subject: &str,
    agency: &AgencyCode,
) -> Result<(Credential, CaLink)> {
    let (authority, store, settings) = crate::ca_cmd::open(ca_dir).await?;
    let key = KeyPair::generate(settings.algorithm()?)?;
    let request = IssueRequest {
        profile,
        subject: SubjectName::parse(subject).with_context(|| format!("subject {subject:?}"))?,
        agency: Some(agency.clone()),
        key: SubscriberKey::from_key(&key),
    };
    let issued: IssuedCertificate = authority.issue(&request, OffsetDateTime::now_utc())?;
    store.record_issued(&issued, OffsetDateTime::now_utc(), CLI_ACTOR).await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    let root = read_certificates(&ca_dir.join("root.pem"))?.remove(0);
    let link = CaLink { root, crl_url: format!("{}/crl", settings.public_url().trim_end_matches('/')) };
    Ok((Credential { chain: vec![issued.der, authority.certificate().to_vec()], key }, link))
}

/// Fetches the CRL at `url` (`http://…`, or a file path).
pub(crate) async fn fetch_crl(url: &str) -> Result<Vec<u8>> {
    if !url.starts_with("http://") {
        return fs::read(url).with_context(|| format!("cannot read the CRL at {url}"));
    }
    let uri: axum::http::Uri = url.parse().with_context(|| format!("CRL URL {url:?}"))?;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .with_context(|| format!("{url}: no answer within 10 s"))?
        .with_context(|| format!("cannot fetch {url}"))?;
    if !response.status().is_success() {
        bail!("{url}: {}", response.status());
    }
    let body = Limited::new(response.into_body(), MAX_CRL_BYTES)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
        .to_bytes();
    Ok(body.to_vec())
}

/// Every [`CRL_EVERY`]: the CRL at `url` handed to `apply`; failures are reported and retried,
/// and the previous CRL stays in force.
pub(crate) fn follow_crl(who: &'static str, url: String, apply: impl Fn(Vec<u8>) -> Result<()> + Send + 'static) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CRL_EVERY).await;
            match fetch_crl(&url).await {
                Ok(crl) => {
                    if let Err(e) = apply(crl) {
                        eprintln!("lienthong {who}: the CRL from {url} was not applied: {e:#}");
                    }
                }
                Err(e) => eprintln!("lienthong {who}: CRL refresh failed, the previous one stays: {e:#}"),
            }
        }
    });
}

/// Reads a TOML settings file.
pub(crate) fn load_settings<T: serde::de::DeserializeOwned>(path: &Path, init_hint: &str) -> Result<T> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (run `{init_hint}` first)", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// Writes a TOML settings file.
pub(crate) fn save_settings<T: serde::Serialize>(path: &Path, settings: &T) -> Result<()> {
    write_atomic(path, toml::to_string_pretty(settings)?.as_bytes())
}

/// `sqlite://DIR/NAME`, unless `url` names another store.
pub(crate) fn store_url(url: &str, dir: &Path, name: &str) -> String {
    if url.is_empty() { format!("sqlite://{}", dir.join(name).display()) } else { url.to_owned() }
}

/// `path` relative to `dir` unless absolute.
/// Opens the blob store a `blobs` setting names: a directory (relative ones under `dir`) or
/// `s3://BUCKET/PREFIX`, reached as the standard AWS environment variables say
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_ALLOW_HTTP`). Any other scheme is an error, never a local directory.
pub(crate) async fn open_blobs(dir: &Path, setting: &str, file: &str) -> Result<store::blobs::BlobStore> {
    let location = store::blobs::BlobLocation::parse(setting, dir).with_context(|| format!("{file}: blobs"))?;
    store::blobs::BlobStore::open_location(&location)
        .await
        .with_context(|| format!("{file}: blobs = {setting:?}: không mở được kho blob / cannot open the blob store"))
}

pub(crate) fn within(dir: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() { path.to_owned() } else { dir.join(path) }
}

/// Resolves after Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Limits of a gateway's client to the hub: a response may be as large as the largest package a
/// gateway collects (the client's default, 16 MiB, would refuse larger documents).
pub(crate) fn hub_limits() -> tls::ClientLimits {
    tls::ClientLimits { max_response_bytes: gateway::MAX_PACKAGE_BYTES, ..tls::ClientLimits::default() }
}
