//! The HTTPS client a gateway uses to talk to the hub: trusts only the given roots, presents the
//! gateway's certificate, keeps connections alive, streams request bodies and bounds responses.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;
use rustls::sign::SingleCertAndKey;
use rustls_pki_types::ServerName;

use crate::watched::{self, Watched};
use crate::{Identity, TlsError};

/// What a client trusts and presents.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// Trust anchors (DER) for the server's certificate; the system's roots are never used.
    pub roots: Vec<Vec<u8>>,
    /// The client certificate and key, if the server asks for one.
    pub identity: Option<Identity>,
    /// The name the server's certificate must carry, if not the URL's host: for a server
    /// reached by address (`https://10.0.0.5/`, or `127.0.0.1` in a demo) whose certificate
    /// names its host. Also sent as SNI.
    pub server_name: Option<String>,
}

/// Timeouts and bounds of a [`Client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Longest wait for the TCP connection; also how long a request waits, once its connection
    /// has closed, for an answer that came before the close.
    pub connect_timeout: Duration,
    /// Longest wait from the start of a request to the response's head: it covers the TLS
    /// handshake and sending the request body, so it must allow for the largest upload.
    pub response_timeout: Duration,
    /// Largest response body [`Response::bytes`] reads.
    pub max_response_bytes: u64,
    /// How long an unused connection stays in the pool: less than the server's idle timeout,
    /// so the client does not pick a connection the server is closing.
    pub pool_idle_timeout: Duration,
    /// Most idle connections kept per host: enough for the requests a busy caller has in flight
    /// at once (a gateway's submissions, transfers and polls), or the surplus is closed as each
    /// burst ends and opened again, a mutual-TLS handshake each, by the next.
    pub max_idle_per_host: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(300),
            max_response_bytes: 16 * 1024 * 1024,
            pool_idle_timeout: Duration::from_secs(20),
            max_idle_per_host: 128,
        }
    }
}

/// Why a request failed, and which side failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an absolute `https://` URL, or a header is malformed: nothing was sent.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No connection could be made (refused, unreachable, or the TLS handshake failed, e.g. the
    /// server's certificate is not trusted): nothing was sent, retrying is safe.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The connection failed after it was made (closed, reset, or the server refused our
    /// certificate at the end of the handshake): the server may have acted on the request.
    #[error("the request failed: {0}")]
    Request(String),
    /// No response head within [`ClientLimits::response_timeout`], or the body took longer:
    /// the server may have acted on the request.
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    /// The response body is larger than allowed.
    #[error("the response body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the response body failed.
    #[error("reading the response failed: {0}")]
    Body(String),
}

impl ClientError {
    /// Whether the request certainly did not reach the server, so sending it again is safe
    /// whatever it does.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, Self::BadRequest(_) | Self::Connect(_))
    }
}

/// An HTTPS client; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<Watched<HttpsConnector<HttpConnector>>, Body>,
    limits: ClientLimits,
}

impl Client {
    /// A client with the default limits.
    pub fn new(tls: ClientTls) -> Result<Self, TlsError> {
        Self::with_limits(tls, ClientLimits::default())
    }

    /// A client with `limits`.
    pub fn with_limits(tls: ClientTls, limits: ClientLimits) -> Result<Self, TlsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(limits.connect_timeout));
        let server_name = tls.server_name.clone().map(ServerName::try_from).transpose().map_err(|_| {
            TlsError::Config(format!("not a server name: {:?}", tls.server_name.as_deref().unwrap_or_default()))
        })?;
        let mut connector = HttpsConnectorBuilder::new().with_tls_config(rustls_config(tls)?).https_only();
        if let Some(name) = server_name {
            connector = connector.with_server_name_resolver(FixedServerNameResolver::new(name));
        }
        let connector = connector.enable_http1().wrap_connector(http);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.pool_idle_timeout)
            .pool_max_idle_per_host(limits.max_idle_per_host)
            .build(Watched(connector));
        Ok(Self { inner, limits })
    }

    /// Sends a request to `url` (`https://` only) and returns the response head; the body is
    /// read with [`Response::bytes`] or [`Response::into_body`]. `body` may be a stream
    /// ([`Body::from_stream`]), which is sent as it is produced, never buffered whole.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: impl Into<Body>,
    ) -> Result<Response, ClientError> {
        let uri: Uri = url.parse().map_err(|_| ClientError::BadRequest(format!("not a URL: {url:?}")))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err(ClientError::BadRequest(format!("not an https:// URL: {url:?}")));
        }
        let mut request = hyper::Request::new(body.into());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let timeout = self.limits.response_timeout;
        let response =
            tokio::time::timeout(timeout, self.send(request)).await.map_err(|_| ClientError::Timeout(timeout))??;
        let (head, body) = response.into_parts();
        Ok(Response { status: head.status, headers: head.headers, body, limits: self.limits })
    }

    /// Sends `request` and waits for the response head, or fails it once its connection has
    /// closed without one (see [`watched`]).
    async fn send(&self, mut request: hyper::Request<Body>) -> Result<hyper::Response<Incoming>, ClientError> {
        let mut capture = hyper_util::client::legacy::connect::capture_connection(&mut request);
        tokio::select! {
            biased;
            answer = self.inner.request(request) => answer.map_err(|error| {
                if error.is_connect() { ClientError::Connect(causes(&error)) } else { ClientError::Request(causes(&error)) }
            }),
            () = watched::lost(&mut capture, self.limits.connect_timeout) => {
                Err(ClientError::Request("the connection closed before the server answered".into()))
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("limits", &self.limits).finish_non_exhaustive()
    }
}

fn rustls_config(tls: ClientTls) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(crate::VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(crate::root_store(&tls.roots)?);
    // hyper-rustls sets the ALPN protocols (http/1.1) itself.
    Ok(match tls.identity {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified()))),
        None => builder.with_no_client_auth(),
    })
}

/// An error and its causes on one line: hyper's own messages ("client error (Connect)") say
/// little without the TLS or IO error underneath.
fn causes(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A response whose head has arrived; the body is read on request, within bounds.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    limits: ClientLimits,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The whole body, if it is no larger than [`ClientLimits::max_response_bytes`] and arrives
    /// within [`ClientLimits::response_timeout`].
    pub async fn bytes(self) -> Result<Bytes, ClientError> {
        let limit = self.limits.max_response_bytes;
        let limited = Limited::new(self.body, usize::try_from(limit).unwrap_or(usize::MAX));
        let timeout = self.limits.response_timeout;
        match tokio::time::timeout(timeout, limited.collect()).await {
            Err(_) => Err(ClientError::Timeout(timeout)),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(ClientError::TooLarge { limit }),
            Ok(Err(error)) => Err(ClientError::Body(causes(error.as_ref()))),
        }
    }

    /// The body as a stream that fails once more than `max_bytes` have come, for large
    /// downloads read piece by piece.
    pub fn into_body(self, max_bytes: u64) -> Body {
        Body::new(Limited::new(self.body, usize::try_from(max_bytes).unwrap_or(usize::MAX)))
    }
}
