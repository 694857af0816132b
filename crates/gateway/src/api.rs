//! The gateway's local API for the agency's document-management systems (and the web inbox):
//! send packages, read the inbox, acknowledge, answer with statuses, follow what was sent.
//! Every call carries `Authorization: Bearer <API key>` of a registered client system; every
//! refusal is JSON `{"error", "message" (Vietnamese), "message_en"}`. The OpenAPI description is
//! served at `/openapi.json`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{ClientRecord, GatewayStore, IncomingRecord, StoreError};
use time::OffsetDateTime;

use crate::admission::AdmissionError;
use crate::compose::{self, ComposeError, Fields, MAX_FILES, Upload};
use crate::web::MAX_UPLOAD_BYTES;
use crate::{Gateway, GatewayError};

/// Largest package a client may submit through the API or `/sendEdoc`: a document with 100 MB
/// of attachments is about 137 MB of edXML (base64).
pub const MAX_SUBMIT_BYTES: usize = 192 * 1024 * 1024;

/// Largest body of the API's other requests (a status's JSON).
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Largest `metadata` part of a document built by the gateway (`POST /api/v1/documents`).
const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Largest body of `POST /api/v1/documents`: its files ([`MAX_UPLOAD_BYTES`] together), the
/// metadata, and room for the parts' headers.
const MAX_DOCUMENT_BODY: usize = MAX_UPLOAD_BYTES + MAX_METADATA_BYTES + 64 * 1024;

/// How much of a document's body the multipart parser is handed at a time (the body is already
/// in memory or mapped: only the parts are copied, not the whole body once more).
const PART_CHUNK: usize = 64 * 1024;

/// Why an API call was refused; nothing was stored or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No valid API key.
    #[error("missing or unknown API key (send Authorization: Bearer …)")]
    Unauthenticated,
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such package.
    #[error("not found: {0}")]
    NotFound(String),
    /// The document's metadata or files are not acceptable (the field is named).
    #[error("bad metadata: {0}")]
    Metadata(#[from] ComposeError),
    /// A document to build is larger than the gateway builds.
    #[error(
        "{0} is too large: the files of a document built by the gateway total at most 40 MiB (metadata: 64 KiB); \
         send a larger document as edXML through POST /api/v1/packages, which streams"
    )]
    DocumentTooLarge(&'static str),
    /// A state-secret document (Mật, Tối mật, Tuyệt mật): it must never travel over the exchange.
    #[error("a state-secret document ({0}) must never travel over the exchange; nothing was queued")]
    StateSecret(String),
    /// The package's body was not read: too large, or the gateway is busy with others.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// The gateway refused or could not do it.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Gateway(GatewayError::Store(error))
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::Metadata(_) => StatusCode::BAD_REQUEST,
            Self::DocumentTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::StateSecret(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Admission(AdmissionError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Admission(AdmissionError::Busy | AdmissionError::Spool(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Admission(_) => StatusCode::BAD_REQUEST,
            Self::Gateway(GatewayError::Outgoing(_) | GatewayError::Answer(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Gateway(GatewayError::Recipient { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Gateway(GatewayError::Hub(_)) => StatusCode::BAD_GATEWAY,
            Self::Gateway(
                GatewayError::Recalled(_) | GatewayError::AnswerToDestroyed(_) | GatewayError::AlreadyAgreed(_),
            ) => StatusCode::CONFLICT,
            Self::Gateway(GatewayError::Destroyed(_)) => StatusCode::GONE,
            Self::Gateway(GatewayError::WrongSender { .. } | GatewayError::SenderNotServed { .. }) => {
                StatusCode::FORBIDDEN
            }
            Self::Gateway(GatewayError::NotServed { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Gateway(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::BadRequest(_) => "bad-request",
            Self::Metadata(_) => "bad-metadata",
            Self::DocumentTooLarge(_) => "too-large",
            Self::NotFound(_) => "not-found",
            Self::StateSecret(_) => "state-secret",
            Self::Admission(AdmissionError::TooLarge { .. }) => "too-large",
            Self::Admission(AdmissionError::Busy) => "busy",
            Self::Admission(AdmissionError::Spool(_)) => "unavailable",
            Self::Admission(_) => "bad-request",
            Self::Gateway(GatewayError::Outgoing(_)) => "invalid-package",
            Self::Gateway(GatewayError::Answer(_)) => "cannot-answer",
            Self::Gateway(GatewayError::Recipient { .. }) => "unknown-recipient",
            Self::Gateway(GatewayError::Hub(_)) => "hub-unavailable",
            Self::Gateway(GatewayError::Recalled(_)) => "recalled",
            Self::Gateway(GatewayError::Destroyed(_)) => "destroyed",
            Self::Gateway(GatewayError::AnswerToDestroyed(_)) => "recalled-and-destroyed",
            Self::Gateway(GatewayError::AlreadyAgreed(_)) => "already-agreed",
            Self::Gateway(GatewayError::WrongSender { .. }) => "wrong-sender",
            Self::Gateway(GatewayError::SenderNotServed { .. }) => "sender-not-served",
            Self::Gateway(GatewayError::NotServed { .. }) => "not-served",
            Self::Gateway(_) => "unavailable",
        }
    }

    fn vietnamese(&self) -> String {
        match self {
            Self::Unauthenticated => "Thiếu hoặc sai khóa API (Authorization: Bearer …).".into(),
            Self::BadRequest(why) => format!("Yêu cầu không hợp lệ: {why}"),
            Self::Metadata(error) => error.vietnamese(),
            Self::DocumentTooLarge(what) => format!(
                "{what}: quá lớn. Các tệp của một văn bản do cổng kết nối đóng gói tối đa 40 MB (metadata 64 KB); \
                 văn bản lớn hơn hãy gửi dạng edXML qua POST /api/v1/packages."
            ),
            Self::NotFound(what) => format!("Không tìm thấy: {what}"),
            Self::StateSecret(level) => {
                format!("Văn bản có độ mật ({level}) không được gửi qua trục liên thông; chưa gửi gì.")
            }
            Self::Admission(AdmissionError::TooLarge { limit, .. }) => {
                format!("Gói tin vượt quá {} MB, chưa nhận.", limit / (1024 * 1024))
            }
            Self::Admission(AdmissionError::Busy) => {
                "Cổng kết nối đang nhận các gói tin lớn khác; vui lòng thử lại sau một phút.".into()
            }
            Self::Admission(AdmissionError::BadLength) => "Content-Length không phải là một số.".into(),
            Self::Admission(AdmissionError::Read(why)) => format!("Không đọc được gói tin: {why}"),
            Self::Admission(AdmissionError::Spool(_)) => {
                "Cổng kết nối không lưu tạm được gói tin (đĩa đầy?); chưa nhận, vui lòng thử lại sau.".into()
            }
            Self::Gateway(GatewayError::Outgoing(why)) => format!("Gói tin không hợp lệ, chưa gửi: {why}"),
            Self::Gateway(GatewayError::Answer(why)) => format!("Không tạo được gói tin trạng thái: {why}"),
            Self::Gateway(GatewayError::Recipient { code, .. }) => format!("Không gửi được tới đơn vị {code}"),
            Self::Gateway(GatewayError::Hub(_)) => "Không liên lạc được với trục; vui lòng thử lại.".into(),
            Self::Gateway(GatewayError::Recalled(id)) => {
                format!("Văn bản {id} đã bị thu hồi: không thể cập nhật hay thay thế.")
            }
            Self::Gateway(GatewayError::Destroyed(id)) => {
                format!("Văn bản {id} đã được thu hồi và hủy theo đề nghị của nơi gửi.")
            }
            Self::Gateway(GatewayError::AnswerToDestroyed(id)) => {
                format!("Văn bản {id} đã được thu hồi và hủy: không thể trả lời trạng thái; không gửi gì.")
            }
            Self::Gateway(GatewayError::AlreadyAgreed(id)) => {
                format!("Đề nghị {id} đã được đồng ý (15): không thể từ chối (16) sau đó; không gửi gì.")
            }
            Self::Gateway(GatewayError::WrongSender { sender, agency }) => format!(
                "Gói tin gửi với danh nghĩa đơn vị {sender}, nhưng hệ thống này chỉ được gửi thay đơn vị {agency}; chưa gửi gì."
            ),
            Self::Gateway(GatewayError::NotServed { code, .. }) => {
                format!("Cổng kết nối này không phục vụ đơn vị {code}.")
            }
            Self::Gateway(GatewayError::SenderNotServed { sender, .. }) => sender_not_served(sender),
            Self::Gateway(_) => "Lỗi lưu trữ tại cổng kết nối; vui lòng thử lại.".into(),
        }
    }
}

/// Why a package from `sender` was refused, in Vietnamese (shared with the SDK's endpoints).
pub(crate) fn sender_not_served(sender: &str) -> String {
    format!(
        "Cổng kết nối này không (còn) gửi thay đơn vị {sender}: trục liên thông không chuyển văn bản của đơn vị \
         này qua cổng kết nối này; chưa gửi gì."
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code(), "message": self.vietnamese(), "message_en": self.to_string()});
        (self.status(), axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The API's routes over `gateway`.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/api/v1/outbox/{id}", get(outbox))
        .route("/api/v1/inbox", get(inbox))
        .route("/api/v1/inbox/{id}", get(fetch))
        .route("/api/v1/inbox/{id}/ack", post(acknowledge))
        .route("/api/v1/inbox/{id}/status", post(status))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        // Its body is read by `Gateway::read_submission`, after the caller is authenticated.
        .route("/api/v1/packages", post(submit))
        .route("/api/v1/documents", post(document))
        .with_state(gateway)
}

/// What the store keeps of an API key.
pub fn key_hash(key: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An authenticated client system and the agency it reads and sends for.
struct Caller {
    client: ClientRecord,
    agency: String,
}

async fn client(gateway: &Gateway, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or(ApiError::Unauthenticated)?;
    let client = gateway.store().client_by_key(&key_hash(key.trim())).await?.ok_or(ApiError::Unauthenticated)?;
    Ok(Caller { agency: gateway.agency_of(&client), client })
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The client's `Idempotency-Key`.
fn idempotency_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|r| (1..=128).contains(&r.len()))
        .ok_or_else(|| ApiError::BadRequest("Idempotency-Key (1–128 characters) is required".into()))
}

/// 202 for a package queued now, 200 for the one an earlier call with the same key queued.
fn queued(package_id: &str, new: bool) -> Response {
    let status = if new { StatusCode::ACCEPTED } else { StatusCode::OK };
    (status, axum::Json(json!({"package_id": package_id, "duplicate": !new, "state": "queued"}))).into_response()
}

async fn submit(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let reference = idempotency_key(&headers)?;
    secrecy(&headers)?;
    let body = gateway.read_submission(&headers, body).await?;
    let (package_id, new) = gateway.submit_as(&caller.client.id, &caller.agency, reference, body.bytes.clone()).await?;
    Ok(queued(&package_id, new))
}

/// `POST /api/v1/documents`: a document the gateway builds from a `metadata` JSON part and one
/// or more `file` parts (`multipart/form-data`), with the web's send form's builder, then signs,
/// seals and queues like a submitted package. The sender is the caller's agency.
async fn document(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let reference = idempotency_key(&headers)?;
    secrecy(&headers)?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::BadRequest("Content-Type must be multipart/form-data with a boundary".into()))?;
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_DOCUMENT_BODY as u64) {
        return Err(ApiError::DocumentTooLarge("the request"));
    }
    let body = gateway.read_submission(&headers, body).await?;
    if body.bytes.len() > MAX_DOCUMENT_BODY {
        return Err(ApiError::DocumentTooLarge("the request"));
    }
    let (fields, files) = document_parts(body.bytes.clone(), boundary).await?;
    let own = edxml::AgencyCode::parse(&caller.agency)
        .map_err(|e| ApiError::BadRequest(format!("this client system's agency {:?}: {e}", caller.agency)))?;
    let size = files.iter().map(|f| f.data.len()).sum();
    // The names of sender and recipients, from the hub's registry as the web's send form writes
    // them (codes alone while the hub cannot be reached).
    let names = gateway.agency_names().await;
    let built = crate::service::off_the_runtime(size, move || {
        let now = edxml::VnTimestamp::from_instant(OffsetDateTime::now_utc());
        let checked = compose::check(&fields, &files, &own, now.date())?;
        let package = compose::build(&checked, &own, |code| names.name(code).map(str::to_owned), now);
        Ok::<_, ComposeError>(edxml::write(&edxml::Package::Document(package)))
    });
    let edxml = built.await??;
    let (package_id, new) = gateway.submit_as(&caller.client.id, &caller.agency, reference, edxml.into()).await?;
    Ok(queued(&package_id, new))
}

/// The `metadata` and `file` parts of a document's multipart body.
async fn document_parts(body: Bytes, boundary: String) -> Result<(Fields, Vec<Upload>), ApiError> {
    let chunks = (0..body.len())
        .step_by(PART_CHUNK)
        .map(move |at| Ok::<_, std::convert::Infallible>(body.slice(at..body.len().min(at + PART_CHUNK))));
    let mut multipart = multer::Multipart::new(futures_util::stream::iter(chunks), boundary);
    let mut metadata = None;
    let mut files = Vec::new();
    let mut total = 0;
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "metadata" if metadata.is_some() => {
                return Err(ApiError::BadRequest("one metadata part only".into()));
            }
            "metadata" => {
                let data = field.bytes().await.map_err(bad_multipart)?;
                if data.len() > MAX_METADATA_BYTES {
                    return Err(ApiError::DocumentTooLarge("the metadata"));
                }
                let fields = serde_json::from_slice::<Fields>(&data).map_err(|e| ComposeError::Json(e.to_string()))?;
                metadata = Some(fields);
            }
            "file" => {
                let name = field.file_name().map(str::to_owned).ok_or_else(|| {
                    ApiError::BadRequest("each file part needs a filename (Content-Disposition)".into())
                })?;
                if files.len() >= MAX_FILES {
                    return Err(ComposeError::TooManyFiles.into());
                }
                let data = field.bytes().await.map_err(bad_multipart)?;
                total += data.len();
                if total > MAX_UPLOAD_BYTES {
                    return Err(ApiError::DocumentTooLarge("the files"));
                }
                files.push(Upload { name, data });
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "part {other:?}: a document has one metadata part and file parts only"
                )));
            }
        }
    }
    let metadata = metadata.ok_or_else(|| ApiError::BadRequest("the metadata part (JSON) is missing".into()))?;
    Ok((metadata, files))
}

fn bad_multipart(error: multer::Error) -> ApiError {
    ApiError::BadRequest(format!("the multipart body: {error}"))
}

/// The document's secrecy level, as the client declares it in `Lienthong-Secrecy` (Decree
/// 30/2020: "Mật", "Tối mật", "Tuyệt mật"; absent or "thường" for an ordinary document). edXML has
/// no element for it, so the client system, which knows, must say; secret documents are refused.
fn secrecy(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get("lienthong-secrecy") else {
        return Ok(());
    };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| ApiError::BadRequest("Lienthong-Secrecy is not UTF-8".into()))?
        .trim()
        .to_lowercase();
    match text.as_str() {
        "" | "thường" | "thuong" | "none" => Ok(()),
        "mật" | "mat" | "tối mật" | "toi mat" | "tuyệt mật" | "tuyet mat" | "secret" | "top secret" => {
            Err(ApiError::StateSecret(text))
        }
        other => Err(ApiError::BadRequest(format!(
            "Lienthong-Secrecy {other:?}: use thường (ordinary), or Mật, Tối mật, Tuyệt mật"
        ))),
    }
}

async fn outbox(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let record = gateway.store().outgoing(&id).await?;
    // Another agency's package is answered as an unknown one.
    let record = record
        .filter(|r| r.package.sender == caller.agency)
        .ok_or_else(|| ApiError::NotFound(format!("package {id}")))?;
    let p = &record.package;
    Ok(axum::Json(json!({
        "package_id": p.package_id,
        "kind": p.kind.as_str(),
        "recipients": p.recipients,
        "document_id": p.document_id,
        "state": if record.sent_at.is_some() { "sent" } else { "queued" },
        "failed_attempts": record.attempts,
        "sent_at": record.sent_at,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    after: Option<i64>,
    limit: Option<u32>,
    recipient: Option<String>,
    wait: Option<u64>,
}

async fn inbox(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: Result<Query<InboxQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if query.recipient.as_ref().is_some_and(|r| *r != caller.agency) {
        return Err(ApiError::BadRequest(format!(
            "recipient {:?}: this client system receives only the mail of {}",
            query.recipient.unwrap_or_default(),
            caller.agency
        )));
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(30));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changed = gateway.inbox_changed().notified();
        let items = gateway.store().inbox(Some(&caller.agency), query.after.unwrap_or(0), limit).await?;
        if !items.is_empty() || tokio::time::Instant::now() >= deadline {
            let views: Vec<Value> = items.iter().map(item_view).collect();
            return Ok(axum::Json(json!({ "items": views })).into_response());
        }
        tokio::time::timeout_at(deadline, changed).await.ok();
    }
}

fn item_view(item: &IncomingRecord) -> Value {
    let p = &item.package;
    let received =
        OffsetDateTime::from_unix_timestamp(item.received_at).ok().map(|t| edxml::VnTimestamp::from_instant(t).iso());
    json!({
        "position": item.id,
        "package_id": p.package_id,
        "kind": p.kind.as_str(),
        "sender": p.sender,
        "recipient": p.recipient,
        "document_id": p.document_id,
        "subject": p.subject,
        "signer": p.signer,
        "size": p.size,
        "received_at": received,
        "acknowledged": item.acknowledged,
        "change": p.change.as_str(),
        "refers_to": p.refers_to,
        "due_date": p.due_date,
        "latest_event": item.latest_event,
        "destroyed": item.destroyed_at.is_some(),
    })
}

async fn fetch(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let item = addressed(&gateway, &caller, &id).await?;
    if item.destroyed_at.is_some() {
        return Err(GatewayError::Destroyed(id).into());
    }
    let file = gateway.blobs().get(&item.package.blob).await.map_err(GatewayError::Blob)?;
    let body =
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, store::blobs::READ_CHUNK));
    Ok(([(header::CONTENT_TYPE, "application/xml")], body).into_response())
}

async fn acknowledge(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let actor = format!("client:{}", caller.client.id);
    match gateway.store().acknowledge_incoming(&id, &caller.agency, &actor, OffsetDateTime::now_utc()).await {
        Ok(()) => Ok(axum::Json(json!({"package_id": id, "acknowledged": true})).into_response()),
        Err(StoreError::UnknownPackage(_)) => Err(ApiError::NotFound(format!("package {id}"))),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    code: String,
    description: Option<String>,
}

async fn status(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let caller = client(&gateway, &headers).await?;
    let StatusBody { code, description } =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("JSON body: {e}")))?;
    let status = edxml::StatusCode::parse(&code).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    addressed(&gateway, &caller, &id).await?;
    let package_id = gateway.answer_as(&caller.client.id, &id, Some(&caller.agency), status, description).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"package_id": package_id, "state": "queued"}))).into_response())
}

/// The caller's agency's copy of package `id`; another agency's package is not found, as an
/// unknown one.
async fn addressed(gateway: &Gateway, caller: &Caller, id: &str) -> Result<IncomingRecord, ApiError> {
    let item = gateway.store().incoming_for(id, &caller.agency).await?;
    item.ok_or_else(|| ApiError::NotFound(format!("package {id}")))
}

const OPENAPI: &str = include_str!("openapi.json");
