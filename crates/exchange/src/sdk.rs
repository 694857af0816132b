//! The Government Office SDK's wire protocol (SDKVXP 2.0.1, `../shared/spec/sdk-wire.md`): its
//! `XroadVnpt-*` header authentication and its `hash-file` quirk, so the hub and every gateway
//! can answer existing systems unchanged. No IO: callers pass the received headers and body.

use std::collections::BTreeMap;

use aws_lc_rs::{digest, hmac};
use serde_json::{Value, json};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Longest `XroadVnpt-sign-header` accepted.
pub const MAX_SIGN_HEADER_BYTES: usize = 8 * 1024;
/// How far an SDK timestamp may be from now, either way, before the request is refused as
/// stale or replayed.
pub const TIMESTAMP_WINDOW: time::Duration = time::Duration::minutes(15);

const PREFIX: &str = "xroadvnpt-";

/// Why an SDK call is refused. Each maps to the SDK's `ErrorCode`/`ErrorDesc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// A required header is missing.
    #[error("missing header XroadVnpt-{0}")]
    MissingHeader(&'static str),
    /// A header is too long or not text.
    #[error("header XroadVnpt-{0} is malformed")]
    MalformedHeader(String),
    /// The system id is not registered.
    #[error("unknown system id {0:?}")]
    UnknownSystem(String),
    /// The HMAC does not match the system's secret.
    #[error("the request signature (XroadVnpt-hash-header) does not match the system's secret")]
    BadSignature,
    /// The signed header set disagrees with the headers sent, or leaves out a required one.
    #[error("signed headers do not match the request: {0}")]
    SignedHeaderMismatch(String),
    /// The timestamp is outside the accepted window.
    #[error("timestamp {0:?} is not within 15 minutes of now (stale or replayed request)")]
    StaleTimestamp(String),
    /// The uploaded bytes do not have the announced hash.
    #[error("XroadVnpt-hash-file does not match the uploaded file")]
    HashFileMismatch,
    /// A request with this signature was already accepted while its timestamp is still fresh.
    #[error(
        "Yêu cầu bị gửi lại: chữ ký XroadVnpt-hash-header này đã được chấp nhận trong 15 phút qua; không thực hiện gì. \
         / Replayed request: this XroadVnpt-hash-header was already accepted within the 15-minute window; nothing was done."
    )]
    Replayed,
}

impl SdkError {
    /// The SDK's `ErrorCode` for this refusal.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) | Self::MalformedHeader(_) => "400",
            Self::UnknownSystem(_)
            | Self::BadSignature
            | Self::SignedHeaderMismatch(_)
            | Self::StaleTimestamp(_)
            | Self::Replayed => "401",
            Self::HashFileMismatch => "402",
        }
    }
}

/// An authenticated SDK call: the system that made it and its `XroadVnpt-*` parameters (names
/// lower-cased, without the prefix), each of which was covered by the signature or is unused
/// for authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkCall {
    /// The calling system.
    pub system_id: String,
    params: BTreeMap<String, String>,
    signature: String,
    fresh_until: OffsetDateTime,
}

impl SdkCall {
    /// A parameter, e.g. `from`, `docid`, `messagetype`, `status`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The request's signature (`XroadVnpt-hash-header`, lowercase hex): the same request
    /// replayed has the same one, and a new one needs the secret.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// Until when this request's timestamp is fresh: a replay must be refused until then, and
    /// after it the request is refused as stale.
    pub fn fresh_until(&self) -> OffsetDateTime {
        self.fresh_until
    }
}

/// Authenticates an SDK request from its headers (`(name, value)` as received). `secret_of`
/// gives a registered system's secret. The HMAC is checked over the `sign-header` text exactly
/// as received; every signed header must match the header actually sent; `systemid` and
/// `timestamp` must be signed, and the timestamp fresh. Whether the signature was seen before
/// (a replay) is the caller's check, against what it keeps ([`SdkCall::signature`]).
pub fn authenticate<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    secret_of: impl Fn(&str) -> Option<String>,
    now: OffsetDateTime,
) -> Result<SdkCall, SdkError> {
    let mut params = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let Some(short) = lower.strip_prefix(PREFIX) else { continue };
        let text = std::str::from_utf8(value)
            .ok()
            .filter(|t| t.len() <= MAX_SIGN_HEADER_BYTES)
            .ok_or_else(|| SdkError::MalformedHeader(short.to_owned()))?;
        params.insert(short.to_owned(), text.to_owned());
    }
    let get = |name: &'static str| params.get(name).map(String::as_str).ok_or(SdkError::MissingHeader(name));
    let system_id = get("systemid")?.to_owned();
    let signed_text = get("sign-header")?;
    let received_mac = get("hash-header")?;
    let secret = secret_of(&system_id).ok_or_else(|| SdkError::UnknownSystem(system_id.clone()))?;
    let expected = from_hex(received_mac).ok_or(SdkError::BadSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, signed_text.as_bytes(), &expected).map_err(|_| SdkError::BadSignature)?;
    check_signed_headers(&params, signed_text)?;
    let stamp = get("timestamp")?;
    let at = sdk_timestamp(stamp).ok_or_else(|| SdkError::StaleTimestamp(stamp.to_owned()))?;
    if (at - now).abs() > TIMESTAMP_WINDOW {
        return Err(SdkError::StaleTimestamp(stamp.to_owned()));
    }
    let signature = received_mac.to_ascii_lowercase();
    Ok(SdkCall { system_id, params, signature, fresh_until: at + TIMESTAMP_WINDOW })
}

/// The signed JSON must list the same values as the headers sent, and cover `systemid` and
/// `timestamp`. Headers sent but not signed stay available (the SDK carries stale ones between
/// calls); the caller uses only what its operation needs.
fn check_signed_headers(params: &BTreeMap<String, String>, signed_text: &str) -> Result<(), SdkError> {
    let mismatch = |what: String| SdkError::SignedHeaderMismatch(what);
    let signed: Value = serde_json::from_str(signed_text).map_err(|_| mismatch("sign-header is not JSON".into()))?;
    let object = signed.as_object().ok_or_else(|| mismatch("sign-header is not a JSON object".into()))?;
    let mut covered = Vec::new();
    for (name, value) in object {
        let short = name.to_ascii_lowercase();
        let short = short.strip_prefix(PREFIX).unwrap_or(&short).to_owned();
        let value = value.as_str().ok_or_else(|| mismatch(format!("{name} is not a string")))?;
        match params.get(&short) {
            Some(sent) if sent == value => covered.push(short),
            Some(_) => return Err(mismatch(format!("{name} differs from the header sent"))),
            None => return Err(mismatch(format!("{name} is signed but was not sent"))),
        }
    }
    for required in ["systemid", "timestamp"] {
        if !covered.iter().any(|c| c == required) {
            return Err(mismatch(format!("XroadVnpt-{required} is not signed")));
        }
    }
    Ok(())
}

/// The headers the SDK sends for a call by `system` at `now`, signed with `secret`: the fixed
/// ones (`systemid`, `servicetype`, `timestamp`) and `extra` (e.g. `("messagetype", "edoc")`),
/// all covered by the signature. For clients and tests speaking to the SDK's endpoints.
pub fn client_headers(
    system: &str,
    secret: &str,
    extra: &[(&str, &str)],
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let local = now.to_offset(UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC));
    let format = time::macros::format_description!("[day][month][year]T[hour][minute][second]");
    let stamp = format!("{}+{:04}", local.format(format).unwrap_or_default(), local.millisecond());
    let mut params: Vec<(String, String)> =
        vec![("systemid".into(), system.into()), ("servicetype".into(), "eDoc".into()), ("timestamp".into(), stamp)];
    params.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    let signed =
        Value::Object(params.iter().map(|(n, v)| (format!("XroadVnpt-{n}"), Value::String(v.clone()))).collect())
            .to_string();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mac: String = hmac::sign(&key, signed.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    let mut headers: Vec<(String, String)> =
        params.iter().map(|(n, v)| (format!("XroadVnpt-{n}"), v.clone())).collect();
    headers.push(("XroadVnpt-sign-header-key".into(), names.join(";")));
    headers.push(("XroadVnpt-sign-header".into(), signed));
    headers.push(("XroadVnpt-hash-header".into(), mac));
    headers
}

/// `ddMMyyyy'T'HHmmss+SSSS` (the four digits are milliseconds), in Vietnam time.
fn sdk_timestamp(text: &str) -> Option<OffsetDateTime> {
    let (main, _millis) = text.split_once('+')?;
    let format = time::macros::format_description!("[day][month][year]T[hour][minute][second]");
    let local = PrimitiveDateTime::parse(main, format).ok()?;
    Some(local.assume_offset(UtcOffset::from_hms(7, 0, 0).ok()?))
}

/// Whether `announced` is the SDK's hash of `body`: SHA-256 as lowercase hex of each byte
/// without zero padding (the SDK's quirk), or correctly padded.
pub fn hash_file_matches(announced: &str, body: &[u8]) -> bool {
    let hash = digest::digest(&digest::SHA256, body);
    let padded: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let quirky: String = hash.as_ref().iter().map(|b| format!("{b:x}")).collect();
    let announced = announced.trim().to_ascii_lowercase();
    announced == padded || announced == quirky
}

/// The SDK's success answer, with the operation's fields.
pub fn ok(fields: Value) -> Value {
    let mut answer = json!({"status": "OK", "ErrorCode": "0", "ErrorDesc": ""});
    if let (Some(target), Value::Object(extra)) = (answer.as_object_mut(), fields) {
        target.extend(extra);
    }
    answer
}

/// The SDK's failure answer.
pub fn fail(code: &str, description: &str) -> Value {
    json!({"status": "FAIL", "ErrorCode": code, "ErrorDesc": description})
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 256 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}
