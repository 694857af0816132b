//! The Government Office SDK's endpoints on a gateway (`../shared/spec/sdk-wire.md`), so an
//! agency whose system already uses the SDK moves to its own gateway — and gets end-to-end
//! encryption — by changing one URL. Every request is authenticated with the SDK's
//! `XroadVnpt-*` HMAC headers; answers are the SDK's JSON (`status`, `ErrorCode`, `ErrorDesc`).
//!
//! Supported: `/sendEdoc` (raw .edxml body), `/getReceivedEdocList`, `/getEdoc`, `/updateStatus`,
//! `/getAgenciesList`. The same bytes sent twice are one package (their hash is the reference).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use exchange::sdk::{self, SdkCall, SdkError};
use serde_json::{Value, json};
use store::{GatewayStore, PackageKind};
use time::OffsetDateTime;

use crate::Gateway;
use crate::api::MAX_SUBMIT_BYTES;

/// The SDK routes over `gateway`.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/sendEdoc", post(send))
        .route("/getReceivedEdocList", post(list))
        .route("/getEdoc", post(get_edoc))
        .route("/updateStatus", post(update_status))
        .route("/getAgenciesList", post(agencies))
        .layer(DefaultBodyLimit::max(MAX_SUBMIT_BYTES))
        .with_state(gateway)
}

/// The SDK reads `status`/`ErrorCode` from the body, so refusals are answered with HTTP 200 too.
fn answer(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn failure(code: &str, description: &str) -> Response {
    answer(sdk::fail(code, description))
}

/// The calling system and its client, after the HMAC check.
async fn authenticate(gateway: &Gateway, headers: &HeaderMap) -> Result<(SdkCall, String), Response> {
    let system = headers.get("xroadvnpt-systemid").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let known = gateway.store().sdk_system(&system).await.map_err(|e| failure("500", &e.to_string()))?;
    let pairs = headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let secret = known.as_ref().map(|(_, secret)| secret.clone());
    let call = sdk::authenticate(pairs, |_| secret.clone(), OffsetDateTime::now_utc())
        .map_err(|e: SdkError| failure(e.error_code(), &e.to_string()))?;
    let client = known.map(|(client, _)| client).unwrap_or_default();
    Ok((call, client))
}

async fn send(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let (call, client) = match authenticate(&gateway, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if call.param("hash-file").is_some_and(|announced| !sdk::hash_file_matches(announced, &body)) {
        return failure(SdkError::HashFileMismatch.error_code(), &SdkError::HashFileMismatch.to_string());
    }
    let reference = format!("sdk:{}", hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body).as_ref()));
    match gateway.submit(&client, &reference, &body).await {
        Ok((package_id, _)) => answer(sdk::ok(json!({ "DocId": package_id }))),
        Err(e) => failure("422", &e.to_string()),
    }
}

async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let (call, _) = match authenticate(&gateway, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let kind = if call.param("messagetype") == Some("status") { PackageKind::Status } else { PackageKind::Document };
    let items = match gateway.store().unacknowledged(kind, 500).await {
        Ok(items) => items,
        Err(e) => return failure("500", &e.to_string()),
    };
    let data: Vec<Value> = items
        .iter()
        .map(|i| {
            let at = OffsetDateTime::from_unix_timestamp(i.received_at)
                .map(|t| edxml::VnTimestamp::from_instant(t).iso())
                .unwrap_or_default();
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

fn doc_id(call: &SdkCall) -> Option<String> {
    call.param("docid").or_else(|| call.param("docId")).map(str::to_owned)
}

async fn get_edoc(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let (call, _) = match authenticate(&gateway, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(id) = doc_id(&call) else { return failure("400", "missing header XroadVnpt-docId") };
    let item = match gateway.store().incoming(&id).await {
        Ok(Some(item)) => item,
        Ok(None) => return failure("404", &format!("no document {id}")),
        Err(e) => return failure("500", &e.to_string()),
    };
    let bytes = match read(&gateway, &item.package.blob).await {
        Ok(bytes) => bytes,
        Err(e) => return failure("500", &e),
    };
    answer(sdk::ok(json!({ "data": base64::engine::general_purpose::STANDARD.encode(bytes) })))
}

async fn read(gateway: &Gateway, blob: &str) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt as _;
    let mut file = gateway.blobs().get(blob).await.map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.map_err(|e| e.to_string())?;
    Ok(bytes)
}

async fn update_status(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let (call, client) = match authenticate(&gateway, &headers).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let Some(id) = doc_id(&call) else { return failure("400", "missing header XroadVnpt-docId") };
    match call.param("status") {
        Some("done") => {
            match gateway
                .store()
                .acknowledge_incoming(&id, &format!("client:{client}"), OffsetDateTime::now_utc())
                .await
            {
                Ok(()) => answer(sdk::ok(json!({}))),
                Err(store::StoreError::UnknownPackage(_)) => failure("404", &format!("no document {id}")),
                Err(e) => failure("500", &e.to_string()),
            }
        }
        // The item stays in the list until it is taken in.
        Some("fail" | "processing") => answer(sdk::ok(json!({}))),
        other => failure("400", &format!("XroadVnpt-status {other:?}: done, fail or processing")),
    }
}

async fn agencies(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = authenticate(&gateway, &headers).await {
        return refusal;
    }
    match gateway.hub_agencies().await {
        Ok(list) => answer(sdk::ok(json!({ "data": list }))),
        Err(e) => failure("502", &e.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
