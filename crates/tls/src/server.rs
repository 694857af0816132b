//! The HTTPS server: an axum router over HTTP/1.1 on rustls, with client certificates checked
//! against CRLs that can be replaced while it runs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::SingleCertAndKey;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::server::TlsStream;
use tower::ServiceExt as _;

use crate::{Identity, PeerCertificate, PeerIdentity, TlsError};

/// Whether the server asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a valid certificate, or the handshake fails.
    Required,
    /// A client may present none; one it presents must be valid.
    Optional,
    /// Clients are not asked for a certificate.
    None,
}

/// Which certificates of a client's chain must be shown unrevoked by a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationDepth {
    /// Only the client's own certificate: the issuing CA's CRL is enough.
    EndEntity,
    /// Every certificate but the root: needs the root's CRL too, covering the issuing CA.
    Chain,
}

/// How client certificates are checked against the CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    /// Which certificates are checked.
    pub depth: RevocationDepth,
    /// Accept a certificate that no given CRL covers. Off by default: a certificate from an
    /// issuer whose CRL the server does not have is refused.
    pub allow_unknown_status: bool,
    /// Accept a CRL past its nextUpdate. Off by default: if the server stops getting fresh
    /// CRLs (the CA issues them for a day), it refuses clients rather than trust stale lists.
    pub allow_expired_crls: bool,
}

impl Default for RevocationPolicy {
    /// End-entity only (the demo CA's root, kept offline, issues no CRL), unknown status and
    /// expired CRLs refused.
    fn default() -> Self {
        Self { depth: RevocationDepth::EndEntity, allow_unknown_status: false, allow_expired_crls: false }
    }
}

/// Bounds on what a client may hold on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest TLS handshake, from the accepted TCP connection.
    pub handshake_timeout: Duration,
    /// Longest wait for a request's complete headers, which is also how long a kept-alive
    /// connection may stay idle.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most headers in a request.
    pub max_headers: usize,
    /// Most connections open at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long [`serve`] waits for open requests to finish once asked to shut down.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 64,
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Builds a [`ServerTls`].
#[derive(Debug)]
pub struct ServerTlsBuilder {
    identity: Identity,
    client_auth: ClientAuth,
    client_roots: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
    revocation: Option<RevocationPolicy>,
    limits: ServerLimits,
}

impl ServerTlsBuilder {
    /// Asks clients for certificates issued under `roots` (DER trust anchors).
    pub fn client_auth(mut self, auth: ClientAuth, roots: Vec<Vec<u8>>) -> Self {
        self.client_auth = auth;
        self.client_roots = roots;
        self
    }

    /// The CRLs (DER) client certificates are checked against; see [`ServerTls::set_crls`].
    pub fn crls(mut self, crls: Vec<Vec<u8>>) -> Self {
        self.crls = crls;
        self
    }

    /// How the CRLs are applied (the default is strict: see [`RevocationPolicy::default`]).
    pub fn revocation_policy(mut self, policy: RevocationPolicy) -> Self {
        self.revocation = Some(policy);
        self
    }

    /// Checks client certificates without any CRL: a revoked certificate is accepted. Only for
    /// development; without it, asking for client certificates with no CRL is an error.
    pub fn without_revocation_check(mut self) -> Self {
        self.revocation = None;
        self
    }

    /// Limits (defaults: [`ServerLimits::default`]).
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks and assembles the configuration.
    pub fn build(self) -> Result<ServerTls, TlsError> {
        let roots = match self.client_auth {
            ClientAuth::None => None,
            ClientAuth::Required | ClientAuth::Optional => Some(crate::root_store(&self.client_roots)?),
        };
        let settings = Settings {
            identity: self.identity,
            client_auth: self.client_auth,
            roots,
            revocation: self.revocation,
            limits: self.limits,
        };
        let generation = settings.generation(self.crls)?;
        let shared = Shared { settings, current: watch::Sender::new(Arc::new(generation)), updating: Mutex::new(()) };
        Ok(ServerTls { shared: Arc::new(shared) })
    }
}

/// A server's TLS configuration: its certificate and key, how it checks clients, and the CRLs
/// in force. Clones share the configuration, so the one kept by the caller of [`serve`] can
/// replace the CRLs of a running server.
///
/// The key may be in a device ([`Identity::from_key_pair`]): it then signs every handshake.
#[derive(Debug, Clone)]
pub struct ServerTls {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    /// What new handshakes use; connections watch it to re-check their client's certificate.
    current: watch::Sender<Arc<Generation>>,
    /// Serialises replacements, so that the last CRLs given are the ones in force.
    updating: Mutex<()>,
}

#[derive(Debug)]
struct Settings {
    identity: Identity,
    client_auth: ClientAuth,
    roots: Option<Arc<rustls::RootCertStore>>,
    revocation: Option<RevocationPolicy>,
    limits: ServerLimits,
}

/// One version of the configuration: the CRLs and what was built from them.
struct Generation {
    crls: Vec<Vec<u8>>,
    config: Arc<ServerConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ServerTls {
    /// A configuration presenting `identity`, asking no client certificate until told to.
    pub fn builder(identity: Identity) -> ServerTlsBuilder {
        ServerTlsBuilder {
            identity,
            client_auth: ClientAuth::None,
            client_roots: Vec::new(),
            crls: Vec::new(),
            revocation: Some(RevocationPolicy::default()),
            limits: ServerLimits::default(),
        }
    }

    /// Replaces the CRLs (DER). Handshakes that start afterwards use them, and open connections
    /// whose client certificate they refuse are closed once their current request is answered.
    /// Returns whether anything changed (the same CRLs again change nothing).
    ///
    /// The CRLs are only parsed here; their signatures are checked when a certificate they
    /// cover is verified, so a CRL not signed by the certificate's issuer makes that
    /// certificate's handshakes fail rather than pass.
    pub fn set_crls(&self, crls: Vec<Vec<u8>>) -> Result<bool, TlsError> {
        let _guard = self.shared.updating.lock().unwrap_or_else(|e| e.into_inner());
        if self.shared.current.borrow().crls == crls {
            return Ok(false);
        }
        let generation = self.shared.settings.generation(crls)?;
        self.shared.current.send_replace(Arc::new(generation));
        Ok(true)
    }

    /// The rustls configuration new handshakes use now.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.shared.current.borrow().config.clone()
    }

    /// The limits.
    pub fn limits(&self) -> ServerLimits {
        self.shared.settings.limits
    }
}

impl Settings {
    fn generation(&self, crls: Vec<Vec<u8>>) -> Result<Generation, TlsError> {
        let verifier = self.verifier(&crls)?;
        let mut config = ServerConfig::builder_with_provider(crate::provider())
            .with_protocol_versions(crate::VERSIONS)
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.identity.certified())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // A resumed session skips certificate verification, and so the revocation check.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Generation { crls, config: Arc::new(config), verifier })
    }

    fn verifier(&self, crls: &[Vec<u8>]) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let Some(roots) = &self.roots else {
            return Ok(WebPkiClientVerifier::no_client_auth());
        };
        let mut builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), crate::provider());
        if let Some(policy) = self.revocation {
            if crls.is_empty() {
                return Err(TlsError::NoCrls);
            }
            builder = builder.with_crls(crls.iter().map(|der| CertificateRevocationListDer::from(der.clone())));
            if policy.depth == RevocationDepth::EndEntity {
                builder = builder.only_check_end_entity_revocation();
            }
            if policy.allow_unknown_status {
                builder = builder.allow_unknown_revocation_status();
            }
            if !policy.allow_expired_crls {
                builder = builder.enforce_revocation_expiration();
            }
        }
        if self.client_auth == ClientAuth::Optional {
            builder = builder.allow_unauthenticated();
        }
        builder.build().map_err(|e| match e {
            rustls::server::VerifierBuilderError::InvalidCrl(e) => TlsError::BadCrl(format!("{e:?}")),
            other => TlsError::Config(other.to_string()),
        })
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .field("crls", &self.current.borrow().crls.len())
            .finish()
    }
}

/// Serves `router` over HTTPS on `listener` until `shutdown` completes, then stops accepting,
/// lets open requests finish for [`ServerLimits::shutdown_grace`] and returns.
///
/// Every request carries [`ConnectInfo<SocketAddr>`](ConnectInfo) and, when the client presented
/// a certificate, [`PeerCertificate`] and [`PeerIdentity`]. Failed handshakes are logged at debug
/// level and cost the server nothing more. Errors accepting connections (out of file
/// descriptors) are logged and retried, so today the `Result` is always `Ok`.
///
/// To refuse revoked certificates promptly, keep a clone of `tls` and call
/// [`ServerTls::set_crls`] with the CA's current CRL every 30 s or so.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: ServerTls,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let limits = tls.limits();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &slots) => accepted,
            () = &mut shutdown => break,
        };
        let Some((tcp, remote, slot)) = accepted else { break };
        // Without it, a response written in two pieces waits for the client's delayed ACK
        // (Nagle's algorithm): about 40 ms per request on Linux.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY could not be set");
        }
        let connection = Connection { tls: tls.clone(), router: router.clone(), remote, stopping: stopping.clone() };
        tokio::spawn(connection.run(tcp, slot));
    }
    drop(listener);
    stop.send_replace(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    Ok(())
}

/// The next connection, once a connection slot is free; `None` if the slots are gone.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((tcp, remote)) => return Some((tcp, remote, slot)),
            // Out of file descriptors and the like: wait rather than spin.
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One accepted TCP connection, served until the client leaves, the connection idles out, its
/// certificate is revoked or the server shuts down.
struct Connection {
    tls: ServerTls,
    router: Router,
    remote: SocketAddr,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, _slot: OwnedSemaphorePermit) {
        // Subscribed before the handshake, so a CRL installed during it is not missed.
        let mut generations = self.tls.shared.current.subscribe();
        let config = generations.borrow_and_update().config.clone();
        let Some(stream) = self.handshake(config, tcp).await else { return };
        let chain: Vec<CertificateDer<'static>> =
            stream.get_ref().1.peer_certificates().unwrap_or_default().iter().map(|c| c.clone().into_owned()).collect();
        let limits = self.tls.limits();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_headers(limits.max_headers);
        let connection = http.serve_connection(TokioIo::new(stream), self.service(&chain));
        let mut connection = std::pin::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(remote = %self.remote, %error, "connection ended with an error");
                    }
                    return;
                }
                changed = generations.changed(), if !closing => {
                    let generation = generations.borrow_and_update().clone();
                    if changed.is_err() || !trusted(&generation, &chain) {
                        tracing::info!(remote = %self.remote, "closing: the client certificate is no longer accepted");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                _ = self.stopping.changed(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }

    async fn handshake(&self, config: Arc<ServerConfig>, tcp: TcpStream) -> Option<TlsStream<TcpStream>> {
        let accepting = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
        match tokio::time::timeout(self.tls.limits().handshake_timeout, accepting).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(remote = %self.remote, %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(remote = %self.remote, "TLS handshake timed out");
                None
            }
        }
    }

    /// The router, with the connection's facts added to each request.
    fn service(&self, chain: &[CertificateDer<'static>]) -> WithPeer {
        let leaf = chain.first();
        let identity = leaf.and_then(|der| PeerIdentity::from_der(der));
        if leaf.is_some() && identity.is_none() {
            tracing::warn!(remote = %self.remote, "a verified client certificate could not be parsed");
        }
        WithPeer {
            router: self.router.clone(),
            remote: self.remote,
            certificate: leaf.map(|der| PeerCertificate(Arc::from(der.as_ref()))),
            identity,
            chain: chain.to_vec(),
            generations: self.tls.shared.current.subscribe(),
            checked: std::sync::Mutex::new(None),
        }
    }
}

/// The router behind one connection, which adds what is known of the client to each request.
struct WithPeer {
    router: Router,
    remote: SocketAddr,
    certificate: Option<PeerCertificate>,
    identity: Option<PeerIdentity>,
    /// The client's chain, re-checked on a request when the CRLs changed since the last check,
    /// so a request that races the connection's closing is not served as the revoked client.
    chain: Vec<CertificateDer<'static>>,
    generations: watch::Receiver<Arc<Generation>>,
    checked: std::sync::Mutex<Option<(Arc<Generation>, bool)>>,
}

impl WithPeer {
    /// Whether the client's certificate is accepted under the current CRLs.
    fn still_trusted(&self) -> bool {
        if self.chain.is_empty() {
            return true;
        }
        let current = self.generations.borrow().clone();
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        match checked.as_ref() {
            Some((generation, verdict)) if Arc::ptr_eq(generation, &current) => *verdict,
            _ => {
                let verdict = trusted(&current, &self.chain);
                *checked = Some((current, verdict));
                verdict
            }
        }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for WithPeer {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = tower::util::Oneshot<Router, hyper::Request<Incoming>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(self.remote));
        // A client revoked since the handshake is served as nobody (handlers refuse it) until
        // the connection closes.
        if self.still_trusted() {
            if let Some(certificate) = &self.certificate {
                extensions.insert(certificate.clone());
            }
            if let Some(identity) = &self.identity {
                extensions.insert(identity.clone());
            }
        }
        self.router.clone().oneshot(request)
    }
}

/// Whether a connection's client would still be let in under `generation`.
fn trusted(generation: &Generation, chain: &[CertificateDer<'static>]) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return true;
    };
    generation.verifier.verify_client_cert(leaf, intermediates, UnixTime::now()).is_ok()
}
