//! The hub's HTTP routes. Every refusal is JSON `{"error", "message" (Vietnamese), "message_en"}`
//! and changes nothing stored.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use edxml::AgencyCode;
use exchange::RouteError;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use store::blobs::BlobError;
use store::{Accepted, DeliveryRecord, DeliveryState, ExchangeStore, OuterEnvelope, PackageKind, StoreError};
use time::OffsetDateTime;

use crate::{Caller, HubService};

/// Why the hub refused a request. Nothing was stored or delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The caller did not authenticate as a mailbox.
    #[error("no authenticated mailbox (a gateway certificate is required)")]
    Unauthenticated,
    /// A registry call without the operator's token.
    #[error("the registry needs the operator's bearer token")]
    NotOperator,
    /// A header or parameter is missing or malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The package cannot be routed.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The package is too large, or its content does not match its announced hash.
    #[error(transparent)]
    Content(BlobError),
    /// No such package or delivery.
    #[error("not found: {0}")]
    NotFound(String),
    /// Conflicts with what the hub holds.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The package's content was removed under the retention policy; its records stay.
    #[error(
        "the content of package {package} was removed under the retention policy at {at}; its delivery history is kept"
    )]
    Purged {
        /// The package.
        package: String,
        /// When, in Vietnam time (ISO 8601).
        at: String,
    },
    /// Storage failed; retrying may help.
    #[error("storage failed; try again later")]
    Unavailable(String),
}

impl From<StoreError> for HubError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::PackageConflict(_) | StoreError::DeliverySettled { .. } => Self::Conflict(error.to_string()),
            StoreError::UnknownDelivery(_) => Self::NotFound(error.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<BlobError> for HubError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::TooLarge { .. } | BlobError::HashMismatch { .. } => Self::Content(error),
            BlobError::Missing(name) => Self::NotFound(format!("content {name}")),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl HubError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::NotOperator => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Route(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Content(BlobError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Content(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Purged { .. } => StatusCode::GONE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::NotOperator => "not-operator",
            Self::BadRequest(_) => "bad-request",
            Self::Forbidden(_) => "forbidden",
            Self::Route(RouteError::UnknownRecipient(_)) => "unknown-recipient",
            Self::Route(_) => "unroutable",
            Self::Content(BlobError::TooLarge { .. }) => "too-large",
            Self::Content(_) => "hash-mismatch",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Purged { .. } => "purged",
            Self::Unavailable(_) => "unavailable",
        }
    }

    fn vietnamese(&self) -> String {
        match self {
            Self::Unauthenticated => "Chưa xác thực: cần chứng thư số của cổng kết nối.".into(),
            Self::NotOperator => "Cần mã truy cập của người quản trị trục.".into(),
            Self::BadRequest(why) => format!("Yêu cầu không hợp lệ: {why}"),
            Self::Forbidden(why) => format!("Không được phép: {why}"),
            Self::Route(RouteError::UnknownRecipient(code)) => format!("Không tìm thấy đơn vị nhận {code} trên trục"),
            Self::Route(why) => format!("Không định tuyến được gói tin: {why}"),
            Self::Content(BlobError::TooLarge { max }) => format!("Gói tin vượt quá {max} byte"),
            Self::Content(why) => format!("Nội dung gói tin không khớp mã băm: {why}"),
            Self::NotFound(what) => format!("Không tìm thấy: {what}"),
            Self::Conflict(why) => format!("Xung đột với dữ liệu đã có: {why}"),
            Self::Purged { package, at } => format!(
                "Nội dung gói tin {package} đã được xóa theo thời hạn lưu trữ lúc {at}; lịch sử chuyển nhận vẫn được lưu."
            ),
            Self::Unavailable(_) => "Trục tạm thời không lưu được; vui lòng gửi lại sau.".into(),
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        if let Self::Unavailable(detail) = &self {
            eprintln!("lienthong hub: storage failure: {detail}");
        }
        let body = json!({"error": self.code(), "message": self.vietnamese(), "message_en": self.to_string()});
        (self.status(), axum::Json(body)).into_response()
    }
}

pub(crate) type HubResult = Result<Response, HubError>;

/// The hub's routes over `service`; a layer in front must add the [`Caller`] extension.
pub fn router(service: Arc<HubService>) -> Router {
    Router::new()
        .route("/v1/packages", post(submit).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/v1/mailbox", get(mailbox))
        .route("/v1/packages/{id}/content", get(content))
        .route("/v1/packages/{id}/deliveries", get(deliveries))
        .route("/v1/deliveries/ack", post(acknowledge_many))
        .route("/v1/deliveries/{id}/ack", post(acknowledge))
        .route("/v1/deliveries/{id}/refuse", post(refuse))
        .route("/v1/agencies", get(agencies))
        .route("/v1/agencies/{code}/certificate", get(agency_certificate))
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024))
        .with_state(service)
}

fn caller(request_caller: Option<axum::Extension<Caller>>) -> Result<Caller, HubError> {
    request_caller.map(|axum::Extension(caller)| caller).ok_or(HubError::Unauthenticated)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, HubError> {
    let value = headers.get(name).ok_or_else(|| HubError::BadRequest(format!("missing header {name}")))?;
    let text = value.to_str().map_err(|_| HubError::BadRequest(format!("header {name} is not ASCII")))?;
    if text.len() > 16 * 1024 {
        return Err(HubError::BadRequest(format!("header {name} is too long")));
    }
    Ok(text.trim())
}

/// Package ids: 1–128 characters of letters, digits and `.-_:`.
fn package_id(text: &str) -> Result<String, HubError> {
    let valid = (1..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(HubError::BadRequest(format!("package id {:?}: 1–128 letters, digits, '.', '-', '_' or ':'", cut(text))))
    }
}

fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

fn agency(text: &str, what: &str) -> Result<AgencyCode, HubError> {
    AgencyCode::parse(text).map_err(|e| HubError::BadRequest(format!("{what} {:?}: {e}", cut(text))))
}

fn sha256(text: &str) -> Result<String, HubError> {
    let valid = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if valid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(HubError::BadRequest("lienthong-sha256 must be 64 hexadecimal digits".into()))
    }
}

async fn submit(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    request: Request,
) -> HubResult {
    let caller = caller(request_caller)?;
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let id = package_id(header(headers, "lienthong-package-id")?)?;
    let kind = header(headers, "lienthong-kind")?;
    let kind = PackageKind::parse(kind)
        .ok_or_else(|| HubError::BadRequest(format!("lienthong-kind {:?}: document or status", cut(kind))))?;
    let sender = agency(header(headers, "lienthong-sender")?, "sender")?;
    let recipients = header(headers, "lienthong-recipients")?
        .split(',')
        .filter(|r| !r.trim().is_empty())
        .map(|r| agency(r.trim(), "recipient"))
        .collect::<Result<Vec<_>, _>>()?;
    let announced = sha256(header(headers, "lienthong-sha256")?)?;
    let registry = service.registry();
    let from = registry
        .route(&sender)
        .map_err(|_| HubError::Forbidden(format!("sender {sender} is not registered with the hub")))?;
    if from.mailbox != caller.mailbox {
        return Err(HubError::Forbidden(format!("mailbox {} does not serve sender {sender}", caller.mailbox)));
    }
    let routes = registry.routes(&recipients)?;
    let stream = body.into_data_stream().map_err(io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let blob = service.blobs.put(reader, service.limits.max_package_bytes, Some(&announced)).await?;
    let size = i64::try_from(blob.size).map_err(|_| HubError::BadRequest("size".into()))?;
    let envelope = OuterEnvelope {
        id: id.clone(),
        sender: sender.to_string(),
        kind,
        size,
        sha256: blob.name.clone(),
        blob: blob.name,
    };
    let queued_at = OffsetDateTime::now_utc();
    let due = exchange::receipt_due(queued_at);
    let accepted = service.store.accept(&envelope, &routes, queued_at, due).await?;
    content_in_place(&service, &envelope, accepted).await?;
    for route in &routes {
        service.wake(&route.mailbox);
    }
    let status = if accepted == Accepted::Stored { StatusCode::CREATED } else { StatusCode::OK };
    let deliveries: Vec<Value> =
        routes.iter().map(|r| json!({"recipient": r.recipient, "mailbox": r.mailbox})).collect();
    let body = json!({"id": id, "duplicate": accepted == Accepted::Duplicate, "deliveries": deliveries});
    Ok((status, axum::Json(body)).into_response())
}

/// Checks, after the package is recorded, that its content is where its recipients will fetch it.
/// Retention in another hub process may have removed a blob with identical bytes just before the
/// record was committed: then the sender is told to retry (safe: the retry puts the content back
/// and is a duplicate). A package already purged has its re-sent content removed again.
async fn content_in_place(service: &HubService, envelope: &OuterEnvelope, accepted: Accepted) -> Result<(), HubError> {
    let purged = accepted == Accepted::Duplicate
        && service.store.deliveries(&envelope.id).await?.first().is_some_and(|d| d.purged_at.is_some());
    if purged {
        service.remove_unless_held(&envelope.blob).await?;
        return Ok(());
    }
    if service.blobs.exists(&envelope.blob).await? {
        Ok(())
    } else {
        Err(HubError::Unavailable(format!("the content of {} was removed while it was accepted", envelope.id)))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MailboxQuery {
    after: Option<i64>,
    wait: Option<u64>,
    limit: Option<u32>,
}

/// Checking the store this often while a long-poll waits lets a delivery accepted by another
/// hub process reach the waiting mailbox within this delay.
const RECHECK: Duration = Duration::from_millis(500);

async fn mailbox(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    query: Result<Query<MailboxQuery>, axum::extract::rejection::QueryRejection>,
) -> HubResult {
    let caller = caller(request_caller)?;
    let Query(query) = query.map_err(|e| HubError::BadRequest(e.body_text()))?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(service.limits.max_wait);
    let deadline = Instant::now() + wait;
    let waiter = service.waiter(&caller.mailbox);
    loop {
        let notified = waiter.notified();
        let found = service.store.pending(&caller.mailbox, after, limit).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !found.is_empty() || left.is_zero() {
            let now = OffsetDateTime::now_utc();
            // Several read at once: on object storage each is a request of its own. The futures
            // are made up front: a lazy `map` fails the handler's `Send` check (rustc cannot
            // prove it for every lifetime of the closure's argument).
            let entries: Vec<_> = found.iter().map(|delivery| mailbox_entry(&service, delivery, now)).collect();
            let items: Vec<Value> = futures_util::stream::iter(entries).buffered(CONTENTS_AT_ONCE).collect().await;
            return Ok(axum::Json(json!({ "deliveries": items })).into_response());
        }
        tokio::time::timeout(left.min(RECHECK), notified).await.ok();
    }
}

/// Packages this small come with their mailbox entry (`content`, base64), sparing the
/// recipient a request for each: status packages (receipts above all) and short documents.
const INLINE_CONTENT_MAX: i64 = 16 * 1024;

/// How many small contents a mailbox page reads at once.
const CONTENTS_AT_ONCE: usize = 16;

/// A delivery as its mailbox sees it, with the content if the package is small.
async fn mailbox_entry(service: &HubService, delivery: &DeliveryRecord, now: OffsetDateTime) -> Value {
    let mut entry = delivery_view(delivery, now);
    if let Some(content) = small_content(service, delivery).await {
        entry["content"] = Value::String(base64::engine::general_purpose::STANDARD.encode(content));
    }
    entry
}

/// A small package's sealed bytes for its mailbox entry; `None` (the recipient asks for the
/// content, and learns why it cannot have it) if it is larger, purged or cannot be read.
async fn small_content(service: &HubService, delivery: &DeliveryRecord) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let package = &delivery.package;
    if package.size > INLINE_CONTENT_MAX || delivery.purged_at.is_some() {
        return None;
    }
    let reader = service.blobs.get(&package.blob).await.ok()?;
    let mut content = Vec::with_capacity(usize::try_from(package.size).ok()?);
    // One byte over the recorded size shows a blob that is not what was accepted.
    let read = reader.take(u64::try_from(package.size).ok()? + 1).read_to_end(&mut content).await.ok()?;
    (i64::try_from(read).ok()? == package.size).then_some(content)
}

/// One recipient's copy as mailboxes and senders see it: where it stands, its Decree 30 receipt
/// deadline (`due_at`, Vietnam time), whether it is `overdue` (still waiting after it) or was
/// settled `late`, and whether retention has removed the content (`purged_at`).
fn delivery_view(d: &DeliveryRecord, now: OffsetDateTime) -> Value {
    json!({
        "id": d.id,
        "package_id": d.package.id,
        "sender": d.package.sender,
        "recipient": d.recipient,
        "kind": d.package.kind.as_str(),
        "size": d.package.size,
        "sha256": d.package.sha256,
        "state": d.state.as_str(),
        "received_at": d.received_at,
        "queued_at": vietnam_time(d.received_at),
        "due_at": vietnam_time(d.due_at),
        "settled_at": d.settled_at.map(vietnam_time),
        "overdue": d.overdue(now),
        "late": d.late(),
        "purged_at": d.purged_at.map(vietnam_time),
    })
}

/// Unix seconds as ISO 8601 in Vietnam time (`2026-11-24T23:59:59+07:00`).
pub(crate) fn vietnam_time(unix_seconds: i64) -> String {
    let instant = OffsetDateTime::from_unix_timestamp(unix_seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    edxml::VnTimestamp::from_instant(instant).iso()
}

/// The sender's mailbox and each recipient's mailbox may read a package.
async fn authorised(service: &HubService, caller: &Caller, id: &str) -> Result<Vec<DeliveryRecord>, HubError> {
    let copies = service.store.deliveries(id).await?;
    let Some(first) = copies.first() else {
        return Err(HubError::NotFound(format!("package {}", cut(id))));
    };
    let registry = service.registry();
    let sender_mailbox = AgencyCode::parse(&first.package.sender).ok().and_then(|s| registry.route(&s).ok());
    let is_sender = sender_mailbox.is_some_and(|r| r.mailbox == caller.mailbox);
    if is_sender || copies.iter().any(|c| c.mailbox == caller.mailbox) {
        Ok(copies)
    } else {
        Err(HubError::NotFound(format!("package {}", cut(id))))
    }
}

async fn content(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    Path(id): Path<String>,
) -> HubResult {
    let caller = caller(request_caller)?;
    let copies = authorised(&service, &caller, &id).await?;
    if let Some(at) = copies[0].purged_at {
        return Err(HubError::Purged { package: copies[0].package.id.clone(), at: vietnam_time(at) });
    }
    let package = &copies[0].package;
    let file = service.blobs.get(&package.blob).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, store::blobs::READ_CHUNK));
    Ok((
        [(header::CONTENT_TYPE, "application/cms".to_owned()), (header::CONTENT_LENGTH, package.size.to_string())],
        body,
    )
        .into_response())
}

async fn deliveries(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    Path(id): Path<String>,
) -> HubResult {
    let caller = caller(request_caller)?;
    let copies = authorised(&service, &caller, &id).await?;
    let now = OffsetDateTime::now_utc();
    let items: Vec<Value> = copies
        .iter()
        .filter(|c| c.mailbox == caller.mailbox || is_senders(&service, &caller, c))
        .map(|c| delivery_view(c, now))
        .collect();
    Ok(axum::Json(json!({ "package_id": id, "deliveries": items })).into_response())
}

fn is_senders(service: &HubService, caller: &Caller, copy: &DeliveryRecord) -> bool {
    let registry = service.registry();
    AgencyCode::parse(&copy.package.sender)
        .ok()
        .and_then(|s| registry.route(&s).ok())
        .is_some_and(|r| r.mailbox == caller.mailbox)
}

async fn acknowledge(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    Path(id): Path<i64>,
) -> HubResult {
    let caller = caller(request_caller)?;
    service.store.settle(id, &caller.mailbox, DeliveryState::Acknowledged, None, OffsetDateTime::now_utc()).await?;
    Ok(axum::Json(json!({"id": id, "state": "acknowledged"})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcknowledgeBody {
    ids: Vec<i64>,
}

/// Acknowledges several deliveries in one transaction (`{"ids": [..]}`); each gets its own
/// answer, as `/v1/deliveries/{id}/ack` would give it.
async fn acknowledge_many(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    body: axum::body::Bytes,
) -> HubResult {
    let caller = caller(request_caller)?;
    if body.len() > 32 * 1024 {
        return Err(HubError::BadRequest("the list of deliveries is longer than 32 KiB".into()));
    }
    let AcknowledgeBody { ids } =
        serde_json::from_slice(&body).map_err(|e| HubError::BadRequest(format!("JSON body: {e}")))?;
    if ids.is_empty() || ids.len() > exchange::MAX_ACKNOWLEDGED_AT_ONCE {
        return Err(HubError::BadRequest(format!(
            "between 1 and {} deliveries at once",
            exchange::MAX_ACKNOWLEDGED_AT_ONCE
        )));
    }
    let outcomes = service.store.acknowledge(&ids, &caller.mailbox, OffsetDateTime::now_utc()).await?;
    let answers: Vec<Value> = ids
        .iter()
        .zip(outcomes)
        .map(|(id, outcome)| match outcome.map_err(HubError::from) {
            Ok(()) => json!({"id": id, "state": "acknowledged"}),
            Err(e) => json!({"id": id, "error": e.code(), "message": e.vietnamese(), "message_en": e.to_string()}),
        })
        .collect();
    Ok(axum::Json(json!({"deliveries": answers})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefuseBody {
    reason: String,
}

async fn refuse(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> HubResult {
    let caller = caller(request_caller)?;
    if body.len() > 8 * 1024 {
        return Err(HubError::BadRequest("the refusal is longer than 8 KiB".into()));
    }
    let RefuseBody { reason } =
        serde_json::from_slice(&body).map_err(|e| HubError::BadRequest(format!("JSON body: {e}")))?;
    if reason.trim().is_empty() {
        return Err(HubError::BadRequest("a refusal needs a reason".into()));
    }
    service.store.settle(id, &caller.mailbox, DeliveryState::Refused, Some(&reason), OffsetDateTime::now_utc()).await?;
    Ok(axum::Json(json!({"id": id, "state": "refused"})).into_response())
}

async fn agencies(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
) -> HubResult {
    caller(request_caller)?;
    let agencies = service.store.agencies().await?;
    let items: Vec<Value> = agencies
        .iter()
        .map(|a| json!({"code": a.code, "name": a.name, "parent": a.parent, "mailbox": a.mailbox}))
        .collect();
    Ok(axum::Json(json!({ "agencies": items })).into_response())
}

/// The certificate of the mailbox serving `code` (DER): what a sender encrypts that agency's
/// copy to.
async fn agency_certificate(
    State(service): State<Arc<HubService>>,
    request_caller: Option<axum::Extension<Caller>>,
    Path(code): Path<String>,
) -> HubResult {
    caller(request_caller)?;
    let route = service.registry().route(&agency(&code, "agency")?)?;
    let der = service
        .store
        .mailbox_certificate(&route.mailbox)
        .await?
        .ok_or_else(|| HubError::NotFound(format!("the certificate of mailbox {}", route.mailbox)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-cert".to_owned()),
            (axum::http::HeaderName::from_static("lienthong-mailbox"), route.mailbox),
        ],
        der,
    )
        .into_response())
}
