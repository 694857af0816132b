//! The national hub ("trục liên thông"): it holds sealed packages it cannot read and hands each
//! recipient's copy to the mailbox serving it, until that mailbox acknowledges it.
//!
//! The caller of every route is a mailbox (a gateway, or the hub's own SDK mailbox), identified
//! by the layer in front of the router — in production the gateway's client certificate, over
//! mutual TLS — as a [`Caller`] request extension. A request without one is refused.
//!
//! - `POST /v1/packages`: a sealed package, streamed to the blob store (bounded, hash checked),
//!   routed, and held; idempotent on the package id.
//! - `GET /v1/mailbox?after=N&wait=S`: the caller's queued deliveries (long-poll up to 30 s).
//! - `GET /v1/packages/{id}/content`: a package's sealed content, for its sender and recipients.
//! - `POST /v1/deliveries/{id}/ack`, `POST /v1/deliveries/{id}/refuse`: settle a delivery.
//! - `GET /v1/packages/{id}/deliveries`: each recipient's state, for the sender, with its
//!   Decree 30/2020 receipt deadline (the end of the day it was queued, Vietnam time) and whether
//!   it is overdue or was settled late.
//! - `GET /v1/agencies`: the registry.
//!
//! Retention ([`HubService::purge_settled`]) removes the content of packages settled long ago;
//! their content then answers 410 Gone, their records stay.

mod admin;
mod api;
mod retention;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use exchange::Registry;
use store::blobs::BlobStore;
use store::{ExchangeStore, Store, StoreError};
use tokio::sync::Notify;

pub use admin::{MAX_OVERDUE_PAGE, admin_router, operator_token_hash, overdue_view};
pub use api::{HubError, router};
pub use retention::PurgeReport;

/// The hub's routes behind mutual TLS: the caller's mailbox is the agency code in the verified
/// client certificate (a gateway certificate, `GOVVN-<code>`). A client without one reaches the
/// routes as nobody and is refused.
pub fn router_over_mutual_tls(service: Arc<HubService>) -> axum::Router {
    router(service).layer(axum::middleware::from_fn(caller_from_certificate))
}

async fn caller_from_certificate(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mailbox = request.extensions().get::<tls::PeerIdentity>().and_then(|peer| peer.agency_code.clone());
    request.extensions_mut().remove::<Caller>();
    if let Some(mailbox) = mailbox {
        request.extensions_mut().insert(Caller { mailbox });
    }
    next.run(request).await
}

/// Who is calling: the mailbox the caller authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The mailbox (a gateway's agency code, or `hub-sdk`).
    pub mailbox: String,
}

/// Limits on what callers send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest sealed package.
    pub max_package_bytes: u64,
    /// Longest long-poll.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_package_bytes: 256 * 1024 * 1024, max_wait: Duration::from_secs(30) }
    }
}

/// The hub's state shared by every request.
#[derive(Debug)]
pub struct HubService {
    store: Store,
    blobs: BlobStore,
    limits: Limits,
    registry: RwLock<Arc<Registry>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

impl HubService {
    /// The hub over `store` and `blobs`; loads the registry.
    pub async fn new(store: Store, blobs: BlobStore, limits: Limits) -> Result<Arc<Self>, StoreError> {
        let service = Arc::new(Self { store, blobs, limits, registry: RwLock::default(), waiters: Mutex::default() });
        service.reload_registry().await?;
        Ok(service)
    }

    /// Re-reads the agency registry (after a change, and periodically: other hub processes may
    /// change it).
    pub async fn reload_registry(&self) -> Result<(), StoreError> {
        let registry = Registry::new(self.store.agencies().await?);
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn waiter(&self, mailbox: &str) -> Arc<Notify> {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.entry(mailbox.to_owned()).or_default().clone()
    }

    /// Wakes long-polls of `mailbox` in this process. Other hub processes notice new deliveries
    /// when their long-poll times out; callers poll again at once.
    fn wake(&self, mailbox: &str) {
        self.waiter(mailbox).notify_waiters();
    }
}
