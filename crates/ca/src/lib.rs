//! The certification authority's services over HTTP: OCSP (RFC 6960 POST, RFC 5019 GET), the
//! current CRL, RFC 3161 timestamps, the CA certificates, and the JSON API of the issuing
//! workflow (`/api/v1/…`). Requests are bounded before they are parsed; answers to nonce-free
//! OCSP requests are kept signed for a short while and dropped on any revocation, which also
//! re-signs the CRL at once.

mod api;
pub mod audit;
mod workflow;

pub use api::{MAX_API_BODY_BYTES, pem};
pub use workflow::{KeySource, Policy, Submission, WorkflowError};

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use pki::{Authority, CertSerial, CertificateState, OcspResponder, ResponseStatus, TimeStampAuthority, error_response};
use store::{CaStore, CertificateStatus, Store, StoreError};
use time::OffsetDateTime;

/// How long a pre-signed answer is reused: a revocation made elsewhere is visible within this.
pub const PRESIGNED_FOR: Duration = Duration::from_secs(60);
/// Most pre-signed answers kept at once (the cache is emptied when it fills).
const MAX_CACHED: usize = 100_000;

/// The services of one issuing CA.
#[derive(Debug)]
pub struct CaService {
    authority: Authority,
    responder: OcspResponder,
    store: Store,
    root_der: Vec<u8>,
    tsa: Option<TimeStampAuthority>,
    policy: Policy,
    crl: RwLock<Arc<Vec<u8>>>,
    presigned: RwLock<Presigned>,
    /// The store's status version the current CRL and pre-signed answers reflect.
    seen_version: AtomicI64,
}

/// Everything a [`CaService`] is made of.
#[derive(Debug)]
pub struct ServiceParts {
    /// The issuing CA.
    pub authority: Authority,
    /// The delegated OCSP responder.
    pub responder: OcspResponder,
    /// The store.
    pub store: Store,
    /// The root certificate (DER).
    pub root_der: Vec<u8>,
    /// The time-stamp authority, if this service stamps.
    pub tsa: Option<TimeStampAuthority>,
    /// What the authority's policy allows.
    pub policy: Policy,
}

/// Signed answers by the exact bytes of the (nonce-free) request, with when they were signed.
type Presigned = HashMap<Vec<u8>, (Instant, Bytes)>;

impl CaService {
    /// Services for `authority`, answering OCSP with `responder`, reading status from `store`.
    pub async fn new(
        authority: Authority,
        responder: OcspResponder,
        store: Store,
        root_der: Vec<u8>,
    ) -> Result<Arc<Self>, StoreError> {
        Self::from_parts(ServiceParts { authority, responder, store, root_der, tsa: None, policy: Policy::default() })
            .await
    }

    /// Services from their parts; signs a first CRL.
    pub async fn from_parts(parts: ServiceParts) -> Result<Arc<Self>, StoreError> {
        let ServiceParts { authority, responder, store, root_der, tsa, policy } = parts;
        let service = Arc::new(Self {
            authority,
            responder,
            store,
            root_der,
            tsa,
            policy,
            crl: RwLock::default(),
            presigned: RwLock::default(),
            seen_version: AtomicI64::new(0),
        });
        service.refresh_crl().await?;
        Ok(service)
    }

    /// The issuing CA.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The DER time-stamp reply to a DER request (RFC 3161); a refusal is a rejection reply.
    pub fn timestamp(&self, request: &[u8]) -> Option<Vec<u8>> {
        let tsa = self.tsa.as_ref()?;
        let answer = tsa
            .parse_request(request)
            .and_then(|parsed| tsa.respond(&parsed, &CertSerial::random(), OffsetDateTime::now_utc()));
        Some(answer.unwrap_or_else(|e| e.rejection()))
    }

    /// Notices status changes made by other processes (the command line, another `ca serve`):
    /// when the store's status version moved, drops pre-signed answers and re-signs the CRL.
    /// Returns whether anything changed.
    pub async fn follow_store(&self) -> Result<bool, StoreError> {
        let version = self.store.status_version().await?;
        if version == self.seen_version.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.invalidate();
        self.refresh_crl().await?;
        Ok(true)
    }

    /// Signs a new CRL from the store (the next number) and serves it from now on.
    pub async fn refresh_crl(&self) -> Result<u64, StoreError> {
        let version = self.store.status_version().await?;
        let revoked = self.store.revoked().await?;
        let number = self.store.next_crl_number().await?;
        let der = self
            .authority
            .crl(number, &revoked, OffsetDateTime::now_utc())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        *self.crl.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(der);
        self.seen_version.store(version, Ordering::Release);
        Ok(number)
    }

    /// Drops every pre-signed answer (call after a revocation).
    pub fn invalidate(&self) {
        self.presigned.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The DER OCSP answer to a DER request; a refusal is an unsigned OCSP error status.
    ///
    /// Only nonce-free requests are ever kept, under their exact bytes, so the cache is consulted
    /// before parsing: a request with a nonce can never match a kept one.
    pub async fn ocsp(&self, request: &[u8]) -> Bytes {
        if let Some(answer) = self.cached(request) {
            return answer;
        }
        let parsed = match self.responder.parse(request) {
            Ok(parsed) => parsed,
            Err(e) => return Bytes::from(error_response(e.status())),
        };
        let mut states = Vec::with_capacity(parsed.serials().len());
        for serial in parsed.serials() {
            match self.store.status(&serial).await {
                Ok(status) => states.push(state(status)),
                Err(_) => return Bytes::from(error_response(ResponseStatus::TryLater)),
            }
        }
        match self.responder.respond(&parsed, &states, OffsetDateTime::now_utc()) {
            Ok(answer) => {
                let answer = Bytes::from(answer);
                if !parsed.has_nonce() {
                    self.keep(request, answer.clone());
                }
                answer
            }
            Err(_) => Bytes::from(error_response(ResponseStatus::InternalError)),
        }
    }

    fn cached(&self, request: &[u8]) -> Option<Bytes> {
        let cache = self.presigned.read().unwrap_or_else(|e| e.into_inner());
        cache.get(request).filter(|(at, _)| at.elapsed() < PRESIGNED_FOR).map(|(_, answer)| answer.clone())
    }

    fn keep(&self, request: &[u8], answer: Bytes) {
        let mut cache = self.presigned.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(request.to_vec(), (Instant::now(), answer));
    }

    /// The CRL being served (DER).
    pub fn current_crl(&self) -> Arc<Vec<u8>> {
        self.crl.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn state(status: Option<CertificateStatus>) -> CertificateState {
    match status {
        Some(CertificateStatus::Good) => CertificateState::Good,
        Some(CertificateStatus::Revoked { reason, at }) => CertificateState::Revoked { at, reason },
        None => CertificateState::Unknown,
    }
}

/// The HTTP routes: `POST /ocsp`, `GET /ocsp/{base64}`, `GET /crl`, `GET /ca.crt`, `GET /root.crt`,
/// `POST /tsa`, and the JSON API under `/api/v1`.
pub fn router(service: Arc<CaService>) -> Router {
    Router::new()
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .route("/crl", get(crl))
        .route("/ca.crt", get(ca_cert))
        .route("/root.crt", get(root_cert))
        .layer(DefaultBodyLimit::max(pki::MAX_REQUEST_BYTES))
        .merge(Router::new().route("/tsa", post(tsa)).layer(DefaultBodyLimit::max(pki::MAX_TSP_REQUEST_BYTES)))
        .merge(api::routes())
        .with_state(service)
}

fn der_response(content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let body: Bytes = body.into();
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn ocsp_post(State(service): State<Arc<CaService>>, body: Bytes) -> Response {
    der_response("application/ocsp-response", service.ocsp(&body).await)
}

/// RFC 5019 §5: the request, base64 (then URL-encoded), as the path.
async fn ocsp_get(State(service): State<Arc<CaService>>, Path(encoded): Path<String>) -> Response {
    if encoded.len() > pki::MAX_REQUEST_BYTES * 2 {
        return der_response("application/ocsp-response", error_response(ResponseStatus::MalformedRequest));
    }
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_start_matches('/')) else {
        return der_response("application/ocsp-response", error_response(ResponseStatus::MalformedRequest));
    };
    let answer = service.ocsp(&der).await;
    let max_age = format!("max-age={}, public, no-transform, must-revalidate", PRESIGNED_FOR.as_secs());
    ([(header::CONTENT_TYPE, "application/ocsp-response".to_owned()), (header::CACHE_CONTROL, max_age)], answer)
        .into_response()
}

async fn crl(State(service): State<Arc<CaService>>) -> Response {
    der_response("application/pkix-crl", service.current_crl().to_vec())
}

async fn ca_cert(State(service): State<Arc<CaService>>) -> Response {
    der_response("application/pkix-cert", service.authority.certificate().to_vec())
}

async fn root_cert(State(service): State<Arc<CaService>>) -> Response {
    der_response("application/pkix-cert", service.root_der.clone())
}

async fn tsa(State(service): State<Arc<CaService>>, body: Bytes) -> Response {
    match service.timestamp(&body) {
        Some(reply) => der_response("application/timestamp-reply", reply),
        None => (axum::http::StatusCode::NOT_FOUND, "this authority has no time-stamp service\n").into_response(),
    }
}

/// A new API token: 32 random bytes, base64url, with a recognisable prefix.
pub fn new_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Corrupt("no randomness available".into()))?;
    Ok(format!("lt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// What the store keeps of a token: its SHA-256, in hexadecimal.
pub fn token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
