//! The Government Office SDK's endpoints on a gateway (`../shared/spec/sdk-wire.md`), so an
//! agency whose system already uses the SDK moves to its own gateway — and gets end-to-end
//! encryption — by changing one URL. Every request is authenticated with the SDK's
//! `XroadVnpt-*` HMAC headers; answers are the SDK's JSON (`status`, `ErrorCode`, `ErrorDesc`).
//!
//! Supported: `/sendEdoc` (raw .edxml body), `/getReceivedEdocList`, `/getEdoc`, `/updateStatus`,
//! `/getSentEdocList`, `/getAgenciesList`. The same bytes sent twice are one package (their hash
//! is the reference). A request whose signature (`XroadVnpt-hash-header`) was already accepted
//! while its timestamp is fresh is a replay: refused, and nothing is done. Accepted signatures
//! are kept in the gateway's store, so hub processes sharing one store refuse each other's
//! replays too.
//!
//! The hub serves the same routes for agencies that run no gateway ([`hosted_router`]): each such
//! agency has a gateway hosted in the hub's process, and the calling system's id picks it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use bytes::Bytes;
use exchange::sdk::{self, SdkCall, SdkError};
use serde_json::{Value, json};
use store::{GatewayStore, PackageKind};
use time::OffsetDateTime;

use crate::admission::AdmissionError;

/// Largest body of the calls other than `/sendEdoc` (their parameters are in headers).
const MAX_REQUEST_BYTES: usize = 64 * 1024;
use crate::{Gateway, GatewayError};

/// The SDK routes over `gateway`.
pub fn router(gateway: Arc<Gateway>) -> Router {
    hosted_router(vec![gateway])
}

/// The SDK routes over several gateways (the hub's hosted agencies): a call goes to the gateway
/// that knows its `XroadVnpt-systemId`.
pub fn hosted_router(gateways: Vec<Arc<Gateway>>) -> Router {
    Router::new()
        .route("/getReceivedEdocList", post(list))
        .route("/getEdoc", post(get_edoc))
        .route("/updateStatus", post(update_status))
        .route("/getSentEdocList", post(sent_list))
        .route("/getAgenciesList", post(agencies))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // Its body is read by `Gateway::read_submission`, after the call is authenticated.
        .route("/sendEdoc", post(send))
        .with_state(Arc::new(Systems { gateways }))
}

/// The gateways whose SDK systems these routes serve.
#[derive(Debug)]
struct Systems {
    gateways: Vec<Arc<Gateway>>,
}

/// An authenticated SDK call: the gateway that knows the system, the call, its client and the
/// agency that client reads and sends for.
struct Authenticated {
    gateway: Arc<Gateway>,
    call: SdkCall,
    client: String,
    agency: String,
}

/// The SDK reads `status`/`ErrorCode` from the body, so refusals are answered with HTTP 200 too.
fn answer(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn failure(code: &str, description: &str) -> Response {
    answer(sdk::fail(code, description))
}

/// The calling system's gateway and client, after the HMAC check.
async fn authenticate(systems: &Systems, headers: &HeaderMap) -> Result<Authenticated, Response> {
    let system = headers.get("xroadvnpt-systemid").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut known = None;
    for gateway in &systems.gateways {
        if let Some(found) = gateway.store().sdk_system(&system).await.map_err(|e| failure("500", &e.to_string()))? {
            known = Some((gateway.clone(), found));
            break;
        }
    }
    let pairs = headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let secret = known.as_ref().map(|(_, (_, secret))| secret.clone());
    let call = sdk::authenticate(pairs, |_| secret.clone(), OffsetDateTime::now_utc())
        .map_err(|e: SdkError| failure(e.error_code(), &e.to_string()))?;
    // A known secret is required for the HMAC to verify, so an authenticated call has a gateway.
    let Some((gateway, (client, _))) = known else {
        let unknown = SdkError::UnknownSystem(system);
        return Err(failure(unknown.error_code(), &unknown.to_string()));
    };
    let record = gateway.store().client(&client).await.map_err(|e| failure("500", &e.to_string()))?;
    let record = record.ok_or_else(|| failure("500", &format!("SDK system {system}: its client is gone")))?;
    let agency = gateway.agency_of(&record);
    match first_use(&gateway, &call).await {
        Ok(true) => Ok(Authenticated { gateway, call, client, agency }),
        Ok(false) => Err(failure(SdkError::Replayed.error_code(), &SdkError::Replayed.to_string())),
        Err(e) => Err(failure("500", &e.to_string())),
    }
}

/// How often one process prunes the signatures no longer fresh.
const PRUNE_EVERY_SECONDS: i64 = 60;

/// Whether `call`'s signature is used for the first time: remembered in the gateway's store (one
/// insert, whose conflict means a replay), so every process sharing the store agrees. Stale
/// signatures are pruned at most once a minute per process.
async fn first_use(gateway: &Gateway, call: &SdkCall) -> Result<bool, store::StoreError> {
    use std::sync::atomic::Ordering;
    let now = OffsetDateTime::now_utc();
    let pruned_at = gateway.sdk_signatures_pruned_at.load(Ordering::Relaxed);
    if now.unix_timestamp() - pruned_at >= PRUNE_EVERY_SECONDS
        && gateway
            .sdk_signatures_pruned_at
            .compare_exchange(pruned_at, now.unix_timestamp(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        gateway.store().forget_sdk_signatures(now).await?;
    }
    gateway.store().remember_sdk_signature(&call.system_id, call.signature(), now, call.fresh_until()).await
}

async fn send(State(systems): State<Arc<Systems>>, headers: HeaderMap, body: Body) -> Response {
    let Authenticated { gateway, call, client, agency } = match authenticate(&systems, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let body = match gateway.read_submission(&headers, body).await {
        Ok(admitted) => admitted,
        Err(refused) => return not_admitted(&refused),
    };
    let body = &body.bytes;
    if call.param("hash-file").is_some_and(|announced| !sdk::hash_file_matches(announced, body)) {
        return failure(SdkError::HashFileMismatch.error_code(), &SdkError::HashFileMismatch.to_string());
    }
    let reference = format!("sdk:{}", hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref()));
    match gateway.submit_as(&client, &agency, &reference, body.clone()).await {
        Ok((package_id, _)) => answer(sdk::ok(json!({ "DocId": package_id }))),
        Err(GatewayError::AnswerToDestroyed(document)) => destroyed(&document),
        Err(GatewayError::AlreadyAgreed(change)) => failure(
            "409",
            &format!(
                "Đề nghị {change} đã được đồng ý (15): không thể từ chối (16) sau đó; chưa gửi gì. / \
                 {change} was already agreed to (15): it cannot be refused (16) afterwards; nothing was queued."
            ),
        ),
        Err(GatewayError::WrongSender { sender, agency }) => failure(
            "403",
            &format!(
                "Gói tin gửi với danh nghĩa đơn vị {sender}, nhưng hệ thống này chỉ được gửi thay đơn vị {agency}; \
                 chưa gửi gì. / The package is sent as {sender}, but this system sends only as {agency}; nothing \
                 was queued."
            ),
        ),
        Err(e @ GatewayError::SenderNotServed { .. }) => not_served(&e),
        Err(e) => failure("422", &e.to_string()),
    }
}

/// A package whose body was not read (Vietnamese, then English).
fn not_admitted(refused: &AdmissionError) -> Response {
    let (code, vietnamese) = match refused {
        AdmissionError::TooLarge { limit, .. } => {
            ("413", format!("Gói tin vượt quá {} MB, chưa nhận.", limit / (1024 * 1024)))
        }
        AdmissionError::Busy => {
            ("503", "Cổng kết nối đang nhận các gói tin lớn khác; vui lòng thử lại sau một phút.".to_owned())
        }
        AdmissionError::Spool(_) => {
            ("503", "Cổng kết nối không lưu tạm được gói tin (đĩa đầy?); vui lòng thử lại sau.".to_owned())
        }
        _ => ("400", "Không đọc được gói tin.".to_owned()),
    };
    failure(code, &format!("{vietnamese} / {refused}"))
}

/// The refusal of a package from an agency this gateway does not send for (Vietnamese, then
/// English).
fn not_served(error: &GatewayError) -> Response {
    let GatewayError::SenderNotServed { sender, .. } = error else { return failure("403", &error.to_string()) };
    failure("403", &format!("{} / {error}", crate::api::sender_not_served(sender)))
}

/// The refusal of an answer to a document destroyed on its recall (Vietnamese, then English).
fn destroyed(document: &str) -> Response {
    failure(
        "409",
        &format!(
            "Văn bản {document} đã được thu hồi và hủy: không thể trả lời trạng thái; không thực hiện gì. / \
             Document {document} was recalled and destroyed: it can no longer be answered; nothing was done."
        ),
    )
}

async fn list(State(systems): State<Arc<Systems>>, headers: HeaderMap) -> Response {
    let Authenticated { gateway, call, agency, .. } = match authenticate(&systems, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let kind = message_kind(&call);
    let items = match gateway.store().unacknowledged(kind, &agency, 500).await {
        Ok(items) => items,
        Err(e) => return failure("500", &e.to_string()),
    };
    let data: Vec<Value> = items
        .iter()
        .map(|i| {
            let at = sdk_time(i.received_at);
            json!({
                "docId": i.package.package_id,
                "serviceType": "eDoc",
                "messageType": if kind == PackageKind::Status { "status" } else { "edoc" },
                "created_time": at,
                "updated_time": at,
                "from": i.package.sender,
                "to": i.package.recipient,
                "status": "initial",
                "status_desc": i.package.subject.clone().unwrap_or_default(),
            })
        })
        .collect();
    answer(sdk::ok(json!({ "data": data })))
}

fn message_kind(call: &SdkCall) -> PackageKind {
    if call.param("messagetype") == Some("status") { PackageKind::Status } else { PackageKind::Document }
}

fn sdk_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).map(|t| edxml::VnTimestamp::from_instant(t).iso()).unwrap_or_default()
}

/// What the calling system sent, one entry per recipient, with the latest status that recipient
/// returned (`docId` narrows it to one package).
async fn sent_list(State(systems): State<Arc<Systems>>, headers: HeaderMap) -> Response {
    let Authenticated { gateway, call, agency, .. } = match authenticate(&systems, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let kind = message_kind(&call);
    let wanted = doc_id(&call);
    let records = match gateway.store().sent(kind, Some(&agency), 0, 500).await {
        Ok(records) => records,
        Err(e) => return failure("500", &e.to_string()),
    };
    let mut data = Vec::new();
    for record in records.iter().filter(|r| wanted.as_ref().is_none_or(|w| *w == r.package.package_id)) {
        let statuses = match &record.package.document_id {
            Some(document) => match gateway.store().statuses_for(document, Some(&agency)).await {
                Ok(statuses) => statuses,
                Err(e) => return failure("500", &e.to_string()),
            },
            None => Vec::new(),
        };
        for recipient in &record.package.recipients {
            data.push(sent_entry(record, recipient, &statuses));
        }
    }
    answer(sdk::ok(json!({ "data": data })))
}

fn sent_entry(record: &store::OutgoingRecord, recipient: &str, statuses: &[store::IncomingRecord]) -> Value {
    let package = &record.package;
    let latest = statuses.iter().rev().find(|s| s.package.sender == recipient);
    let (send_status, send_desc) = match record.sent_at {
        Some(_) => ("done", "Trục đã nhận / accepted by the hub".to_owned()),
        None if record.attempts > 0 => {
            ("processing", format!("đang gửi lại / retrying ({} attempts)", record.attempts))
        }
        None => ("processing", "đang gửi / sending".to_owned()),
    };
    json!({
        "serviceType": "eDoc",
        "messageType": if package.kind == PackageKind::Status { "status" } else { "edoc" },
        "senderDocId": package.package_id,
        "receiverDocId": package.package_id,
        "fromCode": package.sender,
        "toCode": recipient,
        "notation": package.document_id.clone().unwrap_or_default(),
        "title": package.document_id.clone().unwrap_or_default(),
        "sentTime": record.sent_at.map(sdk_time).unwrap_or_default(),
        "sendStatus": send_status,
        "sendStatusDesc": send_desc,
        "receivedTime": latest.map(|s| sdk_time(s.received_at)).unwrap_or_default(),
        "receiveStatus": latest.and_then(|s| s.package.subject.as_deref()).and_then(|s| s.get(..2)).unwrap_or_default(),
        "receiveStatusDesc": latest.and_then(|s| s.package.subject.clone()).unwrap_or_default(),
    })
}

fn doc_id(call: &SdkCall) -> Option<String> {
    call.param("docid").or_else(|| call.param("docId")).map(str::to_owned)
}

async fn get_edoc(State(systems): State<Arc<Systems>>, headers: HeaderMap) -> Response {
    let Authenticated { gateway, call, agency, .. } = match authenticate(&systems, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(id) = doc_id(&call) else { return failure("400", "missing header XroadVnpt-docId") };
    // Another agency's package is answered as an unknown one.
    let item = match gateway.store().incoming_for(&id, &agency).await {
        Ok(Some(item)) => item,
        Ok(None) => return failure("404", &format!("no document {id}")),
        Err(e) => return failure("500", &e.to_string()),
    };
    if item.destroyed_at.is_some() {
        return failure("410", &format!("document {id} was recalled and its content destroyed"));
    }
    match gateway.blobs().map(&item.package.blob).await {
        Ok(edxml) => streamed_edoc(edxml),
        Err(e) => failure("500", &e.to_string()),
    }
}

/// Raw bytes per piece of `getEdoc`'s base64 (a multiple of 3, so the pieces join into one
/// base64 text): 64 KiB of base64 each.
const EDOC_PIECE: usize = 48 * 1024;

/// `getEdoc`'s answer, `{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":"<base64>"}`,
/// written as it is sent: the package (mapped) is encoded a piece at a time, never whole — a
/// 100 MB document would otherwise take its base64 and a JSON copy of it on the heap.
fn streamed_edoc(edxml: Bytes) -> Response {
    let head = Bytes::from_static(br#"{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":""#);
    let pieces = (0..edxml.len().div_ceil(EDOC_PIECE)).map(move |i| {
        let piece = &edxml[i * EDOC_PIECE..edxml.len().min((i + 1) * EDOC_PIECE)];
        Bytes::from(base64::engine::general_purpose::STANDARD.encode(piece))
    });
    let body = std::iter::once(head).chain(pieces).chain(std::iter::once(Bytes::from_static(b"\"}")));
    let stream = futures_util::stream::iter(body.map(Ok::<_, std::convert::Infallible>));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response()
}

async fn update_status(State(systems): State<Arc<Systems>>, headers: HeaderMap) -> Response {
    let Authenticated { gateway, call, client, agency } = match authenticate(&systems, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(id) = doc_id(&call) else { return failure("400", "missing header XroadVnpt-docId") };
    match gateway.store().incoming_for(&id, &agency).await {
        Ok(Some(item)) if item.destroyed_at.is_some() => return destroyed(&id),
        Ok(_) => {}
        Err(e) => return failure("500", &e.to_string()),
    }
    match call.param("status") {
        Some("done") => {
            let actor = format!("client:{client}");
            match gateway.store().acknowledge_incoming(&id, &agency, &actor, OffsetDateTime::now_utc()).await {
                Ok(()) => answer(sdk::ok(json!({}))),
                Err(store::StoreError::UnknownPackage(_)) => failure("404", &format!("no document {id}")),
                Err(e) => failure("500", &e.to_string()),
            }
        }
        // The item stays in the list until it is taken in.
        Some("fail" | "processing") => match gateway.store().incoming_for(&id, &agency).await {
            Ok(Some(_)) => answer(sdk::ok(json!({}))),
            Ok(None) => failure("404", &format!("no document {id}")),
            Err(e) => failure("500", &e.to_string()),
        },
        other => failure("400", &format!("XroadVnpt-status {other:?}: done, fail or processing")),
    }
}

async fn agencies(State(systems): State<Arc<Systems>>, headers: HeaderMap) -> Response {
    let gateway = match authenticate(&systems, &headers).await {
        Ok(found) => found.gateway,
        Err(refusal) => return refusal,
    };
    match gateway.hub_agencies().await {
        Ok(list) => answer(sdk::ok(json!({ "data": list }))),
        Err(e) => failure("502", &e.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
