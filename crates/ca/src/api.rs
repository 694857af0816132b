//! The JSON API under `/api/v1`: requests, decisions, issuance, lookups, revocation. Every call
//! carries `Authorization: Bearer <token>`; every refusal is a JSON body
//! `{"error": code, "message": Vietnamese, "message_en": English}` with a fitting HTTP status.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use pki::{CertSerial, Profile, RevocationReason};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Account, CertificateRecord, CertificateStatus, RequestRecord, RequestState};
use time::OffsetDateTime;

use crate::CaService;
use crate::workflow::{KeySource, Submission, WorkflowError};

/// Largest API request body.
pub const MAX_API_BODY_BYTES: usize = 64 * 1024;

/// The `/api/v1` routes.
pub(crate) fn routes() -> Router<Arc<CaService>> {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/requests", post(submit).get(list))
        .route("/api/v1/requests/{id}", get(show))
        .route("/api/v1/requests/{id}/approve", post(approve))
        .route("/api/v1/requests/{id}/reject", post(reject))
        .route("/api/v1/requests/{id}/issue", post(issue))
        .route("/api/v1/requests/{id}/certificate", get(request_certificate))
        .route("/api/v1/requests/{id}/key", get(request_key))
        .route("/api/v1/certificates/{serial}", get(certificate))
        .route("/api/v1/certificates/{serial}/revoke", post(revoke))
        .route("/api/v1/certificates/{serial}/suspend", post(suspend))
        .route("/api/v1/certificates/{serial}/unsuspend", post(unsuspend))
        .layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
}

impl IntoResponse for WorkflowError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Issue(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let english = match &self {
            Self::Store(_) => "storage failed; try again later".to_owned(),
            other => other.to_string(),
        };
        if let Self::Store(e) = &self {
            eprintln!("lienthong ca: API storage failure: {e}");
        }
        let body = json!({"error": self.code(), "message": self.vietnamese(), "message_en": english});
        (status, axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, WorkflowError>;

async fn account(service: &CaService, headers: &HeaderMap) -> Result<Account, WorkflowError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(WorkflowError::Unauthenticated)?;
    service.authenticate(token.trim()).await
}

fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, WorkflowError> {
    serde_json::from_slice(body).map_err(|e| WorkflowError::BadRequest(format!("JSON body: {e}")))
}

fn serial(text: &str) -> Result<CertSerial, WorkflowError> {
    CertSerial::from_hex(text).map_err(|e| WorkflowError::BadRequest(format!("serial {text:?}: {e}")))
}

const VIETNAM: time::UtcOffset = match time::UtcOffset::from_hms(7, 0, 0) {
    Ok(offset) => offset,
    Err(_) => time::UtcOffset::UTC,
};

fn vn_time(at: OffsetDateTime) -> String {
    at.to_offset(VIETNAM).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

async fn whoami(State(service): State<Arc<CaService>>, headers: HeaderMap) -> ApiResult {
    let account = account(&service, &headers).await?;
    Ok(axum::Json(json!({
        "id": account.id, "name": account.name, "role": account.role.as_str(), "agency": account.agency,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum SubmitBody {
    New {
        profile: String,
        subject: String,
        agency: Option<String>,
        csr: Option<String>,
        generate_key: Option<GenerateKey>,
    },
    Renew {
        serial: String,
        csr: Option<String>,
    },
    Reissue {
        serial: String,
        title: String,
        csr: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateKey {
    passphrase: String,
}

impl SubmitBody {
    fn into_submission(self) -> Result<Submission, WorkflowError> {
        Ok(match self {
            Self::New { profile, subject, agency, csr, generate_key } => {
                let profile: Profile =
                    profile.parse().map_err(|e: pki::UnknownProfile| WorkflowError::BadRequest(e.to_string()))?;
                let key = match (csr, generate_key) {
                    (Some(csr), None) => KeySource::Csr(csr.into_bytes()),
                    (None, Some(GenerateKey { passphrase })) => KeySource::Generate { passphrase },
                    _ => {
                        return Err(WorkflowError::BadRequest(
                            "give exactly one of csr (your own key) and generate_key (a key made for you)".into(),
                        ));
                    }
                };
                Submission::New { profile, subject, agency, key }
            }
            Self::Renew { serial: s, csr } => {
                Submission::Renew { serial: serial(&s)?, csr: csr.map(String::into_bytes) }
            }
            Self::Reissue { serial: s, title, csr } => {
                Submission::Reissue { serial: serial(&s)?, title, csr: csr.map(String::into_bytes) }
            }
        })
    }
}

async fn submit(State(service): State<Arc<CaService>>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let account = account(&service, &headers).await?;
    let submission = parse_body::<SubmitBody>(&body)?.into_submission()?;
    let id = service.submit(&account, submission).await?;
    let record = service.request(&account, id).await?;
    Ok((StatusCode::CREATED, axum::Json(request_view(&record))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
}

async fn list(State(service): State<Arc<CaService>>, headers: HeaderMap, Query(query): Query<ListQuery>) -> ApiResult {
    let account = account(&service, &headers).await?;
    let state = query
        .state
        .map(|s| {
            RequestState::parse(&s).ok_or_else(|| {
                WorkflowError::BadRequest(format!("state {s:?}: use submitted, approved, rejected or issued"))
            })
        })
        .transpose()?;
    let records = service.requests(&account, state).await?;
    let views: Vec<Value> = records.iter().map(request_view).collect();
    Ok(axum::Json(json!({ "requests": views })).into_response())
}

async fn show(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let account = account(&service, &headers).await?;
    Ok(axum::Json(request_view(&service.request(&account, id).await?)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    note: Option<String>,
}

async fn decide(service: &CaService, headers: &HeaderMap, id: i64, body: &[u8], approve: bool) -> ApiResult {
    let account = account(service, headers).await?;
    let decision: DecisionBody = if body.is_empty() { DecisionBody::default() } else { parse_body(body)? };
    let record = service.decide(&account, id, approve, decision.note.as_deref()).await?;
    Ok(axum::Json(request_view(&record)).into_response())
}

async fn approve(
    State(service): State<Arc<CaService>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult {
    decide(&service, &headers, id, &body, true).await
}

async fn reject(
    State(service): State<Arc<CaService>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult {
    decide(&service, &headers, id, &body, false).await
}

async fn issue(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let account = account(&service, &headers).await?;
    Ok(axum::Json(request_view(&service.issue(&account, id).await?)).into_response())
}

async fn request_certificate(
    State(service): State<Arc<CaService>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    let account = account(&service, &headers).await?;
    let record = service.request(&account, id).await?;
    let state = record.state();
    let serial =
        record.serial.ok_or_else(|| WorkflowError::Conflict(format!("request {id} is {state}, not issued")))?;
    let certificate = service.certificate(&account, &serial).await?;
    Ok(pem_response("application/pem-certificate-chain", &pem("CERTIFICATE", &certificate.der)))
}

async fn request_key(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let account = account(&service, &headers).await?;
    let record = service.request(&account, id).await?;
    if record.request.requested_by != account.id {
        return Err(WorkflowError::Forbidden("only the requester may fetch a generated key".into()));
    }
    let sealed = record.request.sealed_key.ok_or_else(|| {
        WorkflowError::NotFound(format!("request {id} brought its own key (CSR); no key was generated"))
    })?;
    Ok(pem_response("application/pkcs8-encrypted", &sealed))
}

async fn certificate(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(text): Path<String>) -> ApiResult {
    let account = account(&service, &headers).await?;
    Ok(axum::Json(certificate_view(&service.certificate(&account, &serial(&text)?).await?)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
}

async fn revoke(
    State(service): State<Arc<CaService>>,
    headers: HeaderMap,
    Path(text): Path<String>,
    body: Bytes,
) -> ApiResult {
    let account = account(&service, &headers).await?;
    let body: RevokeBody = parse_body(&body)?;
    let reason: RevocationReason =
        body.reason.parse().map_err(|e: pki::UnknownReason| WorkflowError::BadRequest(e.to_string()))?;
    if reason == RevocationReason::CertificateHold {
        return Err(WorkflowError::BadRequest("to suspend, use …/suspend (certificateHold can be lifted)".into()));
    }
    Ok(axum::Json(certificate_view(&service.revoke(&account, &serial(&text)?, reason).await?)).into_response())
}

async fn suspend(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(text): Path<String>) -> ApiResult {
    let account = account(&service, &headers).await?;
    let record = service.revoke(&account, &serial(&text)?, RevocationReason::CertificateHold).await?;
    Ok(axum::Json(certificate_view(&record)).into_response())
}

async fn unsuspend(State(service): State<Arc<CaService>>, headers: HeaderMap, Path(text): Path<String>) -> ApiResult {
    let account = account(&service, &headers).await?;
    Ok(axum::Json(certificate_view(&service.unsuspend(&account, &serial(&text)?).await?)).into_response())
}

fn state_label(state: RequestState) -> (&'static str, &'static str) {
    match state {
        RequestState::Submitted => ("Chờ cơ quan quản lý duyệt", "Awaiting the managing agency's approval"),
        RequestState::Approved => ("Đã duyệt, chờ cấp", "Approved, awaiting issuance"),
        RequestState::Rejected => ("Bị từ chối", "Rejected"),
        RequestState::Issued => ("Đã cấp", "Issued"),
    }
}

fn request_view(record: &RequestRecord) -> Value {
    let r = &record.request;
    let (vi, en) = state_label(record.state());
    let history: Vec<Value> = record
        .history
        .iter()
        .map(|e| json!({"state": e.state.as_str(), "actor": e.actor, "note": e.note, "at": vn_time(e.at)}))
        .collect();
    json!({
        "id": record.id,
        "kind": r.kind.as_str(),
        "state": record.state().as_str(),
        "state_label": vi,
        "state_label_en": en,
        "profile": r.profile.as_str(),
        "subject": r.subject,
        "agency": r.agency,
        "key": if r.csr.is_some() { "csr" } else if r.sealed_key.is_some() { "generated" } else { "kept" },
        "replaces": r.replaces.as_ref().map(CertSerial::to_hex),
        "serial": record.serial.as_ref().map(CertSerial::to_hex),
        "requested_by": r.requested_by,
        "created_at": vn_time(record.created_at),
        "history": history,
    })
}

fn certificate_view(record: &CertificateRecord) -> Value {
    let (status, reason, at) = match record.status {
        CertificateStatus::Good => ("good", None, None),
        CertificateStatus::Revoked { reason: RevocationReason::CertificateHold, at } => ("suspended", None, Some(at)),
        CertificateStatus::Revoked { reason, at } => ("revoked", Some(reason.as_str()), Some(at)),
    };
    json!({
        "serial": record.serial.to_hex(),
        "profile": record.profile.as_str(),
        "subject": record.subject,
        "agency": record.agency,
        "not_before": vn_time(record.not_before),
        "not_after": vn_time(record.not_after),
        "status": status,
        "reason": reason,
        "status_since": at.map(vn_time),
        "pem": pem("CERTIFICATE", &record.der),
    })
}

fn pem_response(content_type: &'static str, text: &str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text.to_owned()).into_response()
}

/// PEM text for DER bytes.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}
