//! The registry's management routes, for the hub's operators (not for gateways): agencies with
//! their name, parent and gateway certificate. Every call carries the operator's bearer token
//! (`Authorization: Bearer …`); the hub keeps only its SHA-256.
//!
//! - `GET /v1/registry/agencies`: every agency, with its level and the mailbox serving it.
//! - `PUT /v1/registry/agencies/{code}`: adds or updates an agency (`{"name", "parent",
//!   "gateway_certificate"}`); a gateway certificate (PEM) makes the agency its own mailbox, and
//!   must carry that agency code. Without one the agency keeps the mailbox it had, or is served
//!   through its parent's.
//! - `GET /v1/registry/overdue?after=N&limit=M`: deliveries still waiting after their Decree 30
//!   receipt deadline, oldest first, a page at a time (at most 500), for the on-call engineer.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse as _;
use axum::routing::get;
use base64::Engine as _;
use edxml::AgencyCode;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgencyRecord, DeliveryRecord, ExchangeStore};
use time::OffsetDateTime;

use crate::HubService;
use crate::api::{HubError, HubResult, vietnam_time};

/// Largest registry request (a name, a parent and one certificate).
const MAX_ADMIN_BODY: usize = 16 * 1024;
/// Longest agency name.
const MAX_NAME_CHARS: usize = 300;
/// Most overdue deliveries in one page.
pub const MAX_OVERDUE_PAGE: u32 = 500;

/// The SHA-256 (lower-case hex) of an operator token, as the hub's settings keep it.
pub fn operator_token_hash(token: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug)]
struct Admin {
    service: Arc<HubService>,
    token_hash: String,
}

/// The registry routes over `service`, for the operator whose token hashes to `token_hash`.
pub fn admin_router(service: Arc<HubService>, token_hash: String) -> Router {
    Router::new()
        .route("/v1/registry/agencies", get(list))
        .route("/v1/registry/agencies/{code}", axum::routing::put(put_agency))
        .route("/v1/registry/overdue", get(overdue))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY))
        .with_state(Arc::new(Admin { service, token_hash }))
}

fn operator(admin: &Admin, headers: &HeaderMap) -> Result<(), HubError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(HubError::NotOperator)?;
    // Hashes are compared, so timing tells nothing about the token itself.
    if operator_token_hash(presented.trim()) == admin.token_hash { Ok(()) } else { Err(HubError::NotOperator) }
}

async fn list(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> HubResult {
    operator(&admin, &headers)?;
    let items = admin.service.registry_listing().await?;
    Ok(axum::Json(json!({ "agencies": items })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverdueQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

async fn overdue(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    query: Result<Query<OverdueQuery>, axum::extract::rejection::QueryRejection>,
) -> HubResult {
    operator(&admin, &headers)?;
    let Query(query) = query.map_err(|e| HubError::BadRequest(e.body_text()))?;
    let now = OffsetDateTime::now_utc();
    let limit = query.limit.unwrap_or(100);
    let page = admin.service.overdue(now, query.after.unwrap_or(0), limit).await?;
    let next_after =
        if page.len() == limit.clamp(1, MAX_OVERDUE_PAGE) as usize { page.last().map(|d| d.id) } else { None };
    let items: Vec<Value> = page.iter().map(|d| overdue_view(d, now)).collect();
    Ok(axum::Json(json!({"now": vietnam_time(now.unix_timestamp()), "overdue": items, "next_after": next_after}))
        .into_response())
}

/// An overdue delivery as the operator sees it: who sent what to whom through which mailbox,
/// when it was queued, its deadline, and how many seconds past it it is at `now`.
pub fn overdue_view(d: &DeliveryRecord, now: OffsetDateTime) -> Value {
    json!({
        "delivery": d.id,
        "package_id": d.package.id,
        "kind": d.package.kind.as_str(),
        "sender": d.package.sender,
        "recipient": d.recipient,
        "mailbox": d.mailbox,
        "queued_at": vietnam_time(d.received_at),
        "due_at": vietnam_time(d.due_at),
        "overdue_seconds": d.overdue_seconds(now),
    })
}

async fn describe(service: &HubService, agency: &AgencyRecord) -> Result<Value, HubError> {
    let level = AgencyCode::parse(&agency.code).map(|c| c.level()).ok();
    let served_by = AgencyCode::parse(&agency.code).ok().and_then(|c| service.registry().route(&c).ok());
    let certificate = match &agency.mailbox {
        Some(mailbox) => service.store().mailbox_certificate(mailbox).await?.is_some(),
        None => false,
    };
    Ok(json!({
        "code": agency.code, "name": agency.name, "level": level, "parent": agency.parent,
        "mailbox": agency.mailbox, "served_by": served_by.map(|r| r.mailbox),
        "gateway_certificate": certificate,
    }))
}

/// An agency as the operator describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyBody {
    name: String,
    #[serde(default)]
    parent: Option<String>,
    /// PEM (or base64 DER) of the agency's gateway certificate.
    #[serde(default)]
    gateway_certificate: Option<String>,
}

async fn put_agency(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> HubResult {
    operator(&admin, &headers)?;
    let body: AgencyBody =
        serde_json::from_slice(&body).map_err(|e| HubError::BadRequest(format!("the request body: {e}")))?;
    let existed = admin.service.store().agency(&code).await?.is_some();
    let record = admin
        .service
        .register_agency(&code, &body.name, body.parent.as_deref(), body.gateway_certificate.as_deref())
        .await?;
    let status = if existed { axum::http::StatusCode::OK } else { axum::http::StatusCode::CREATED };
    Ok((status, axum::Json(describe(&admin.service, &record).await?)).into_response())
}

impl HubService {
    /// Adds or updates an agency in the registry. A gateway certificate (PEM, naming `code`)
    /// makes the agency its own mailbox; without one it keeps the mailbox it had, or is served
    /// through its parent's. Nothing changes if anything is wrong.
    pub async fn register_agency(
        &self,
        code: &str,
        name: &str,
        parent: Option<&str>,
        gateway_certificate_pem: Option<&str>,
    ) -> Result<AgencyRecord, HubError> {
        let code = AgencyCode::parse(code).map_err(|e| HubError::BadRequest(format!("agency code {code:?}: {e}")))?;
        let name = checked_name(name)?;
        let parent = match parent {
            Some(parent) => Some(known_parent(self, &code, parent).await?),
            None => None,
        };
        let certificate = gateway_certificate_pem.map(|pem| gateway_certificate(&code, pem)).transpose()?;
        let now = OffsetDateTime::now_utc();
        let mailbox = match &certificate {
            Some(der) => {
                self.store().put_mailbox(code.as_str(), der, now).await?;
                Some(code.as_str().to_owned())
            }
            None => self.store().agency(code.as_str()).await?.and_then(|a| a.mailbox),
        };
        let record = AgencyRecord { code: code.as_str().to_owned(), name, parent, mailbox };
        self.store().put_agency(&record, now).await?;
        self.reload_registry().await?;
        Ok(record)
    }

    /// Deliveries still waiting at `now` past their receipt deadline, after delivery number
    /// `after`, oldest first; `limit` is kept within 1–[`MAX_OVERDUE_PAGE`].
    pub async fn overdue(&self, now: OffsetDateTime, after: i64, limit: u32) -> Result<Vec<DeliveryRecord>, HubError> {
        Ok(self.store().overdue(now, after, limit.clamp(1, MAX_OVERDUE_PAGE)).await?)
    }

    /// The registry as the operator sees it: each agency with its level, mailbox and whether a
    /// gateway certificate is registered.
    pub async fn registry_listing(&self) -> Result<Vec<Value>, HubError> {
        let mut items = Vec::new();
        for agency in self.store().agencies().await? {
            items.push(describe(self, &agency).await?);
        }
        Ok(items)
    }
}

fn checked_name(name: &str) -> Result<String, HubError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(HubError::BadRequest(format!(
            "the agency name must be 1–{MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

async fn known_parent(service: &HubService, code: &AgencyCode, parent: &str) -> Result<String, HubError> {
    let parent = AgencyCode::parse(parent).map_err(|e| HubError::BadRequest(format!("parent {parent:?}: {e}")))?;
    if &parent == code {
        return Err(HubError::BadRequest("an agency cannot be its own parent".into()));
    }
    if service.store().agency(parent.as_str()).await?.is_none() {
        return Err(HubError::BadRequest(format!("parent {} is not registered", parent.as_str())));
    }
    Ok(parent.as_str().to_owned())
}

/// The DER of a gateway certificate given as PEM or base64, which must name `code`.
fn gateway_certificate(code: &AgencyCode, text: &str) -> Result<Vec<u8>, HubError> {
    // The first PEM block (a chain's leaf), or the whole text as base64.
    let block = match text.find("-----BEGIN") {
        Some(start) => text[start..].split("-----END").next().unwrap_or_default(),
        None => text,
    };
    let b64: String = block.lines().map(str::trim).filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| HubError::BadRequest(format!("gateway_certificate is not PEM: {e}")))?;
    let identity = tls::PeerIdentity::from_der(&der)
        .ok_or_else(|| HubError::BadRequest("gateway_certificate is not an X.509 certificate".into()))?;
    match identity.agency_code.as_deref() {
        Some(named) if named == code.as_str() => Ok(der),
        Some(named) => Err(HubError::BadRequest(format!("the certificate is for {named}, not {}", code.as_str()))),
        None => Err(HubError::BadRequest("the certificate carries no agency code (GOVVN-…)".into())),
    }
}
