//! The SDK's header authentication, with requests built the way SDKVXP 2.0.1 builds them.

use aws_lc_rs::hmac;
use exchange::sdk::{SdkError, authenticate, hash_file_matches};
use time::OffsetDateTime;

const SECRET: &str = "bí-mật-của-hệ-thống";

fn stamp(at: OffsetDateTime) -> String {
    let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("offset"));
    let format = time::macros::format_description!("[day][month][year]T[hour][minute][second]");
    format!("{}+{:04}", local.format(format).expect("format"), local.millisecond())
}

/// Headers as the SDK sends them: each parameter, the signed set, its JSON, the HMAC.
fn request(params: &[(&str, String)], secret: &str) -> Vec<(String, Vec<u8>)> {
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    let json = format!(
        "{{{}}}",
        params.iter().map(|(n, v)| format!("\"XroadVnpt-{n}\":\"{v}\"")).collect::<Vec<_>>().join(",")
    );
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), json.as_bytes());
    let mut headers: Vec<(String, Vec<u8>)> =
        params.iter().map(|(n, v)| (format!("XroadVnpt-{n}"), v.clone().into_bytes())).collect();
    headers.push(("XroadVnpt-sign-header-key".into(), names.join(";").into_bytes()));
    headers.push(("XroadVnpt-sign-header".into(), json.into_bytes()));
    headers.push((
        "XroadVnpt-hash-header".into(),
        mac.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes(),
    ));
    headers.push(("User-Agent".into(), b"JAVASDKAgent/1.0.0 XRoad/VPCP".to_vec()));
    headers
}

fn params(now: OffsetDateTime) -> Vec<(&'static str, String)> {
    vec![
        ("systemid", "caobang-qlvb".into()),
        ("servicetype", "eDoc".into()),
        ("messagetype", "edoc".into()),
        ("timestamp", stamp(now)),
        ("from", "000.00.00.H14".into()),
    ]
}

fn check(headers: &[(String, Vec<u8>)], now: OffsetDateTime) -> Result<exchange::sdk::SdkCall, SdkError> {
    authenticate(
        headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        |system| (system == "caobang-qlvb").then(|| SECRET.to_owned()),
        now,
    )
}

#[test]
fn a_request_signed_with_the_systems_secret_is_accepted() {
    let now = OffsetDateTime::now_utc();
    let call = check(&request(&params(now), SECRET), now).expect("authentic");
    assert_eq!(call.system_id, "caobang-qlvb");
    assert_eq!((call.param("from"), call.param("MessageType")), (Some("000.00.00.H14"), Some("edoc")));
}

#[test]
fn forged_stale_and_inconsistent_requests_are_refused() {
    let now = OffsetDateTime::now_utc();
    assert_eq!(check(&request(&params(now), "wrong secret"), now), Err(SdkError::BadSignature));

    let mut changed = request(&params(now), SECRET);
    let from = changed.iter_mut().find(|(n, _)| n == "XroadVnpt-from").expect("from");
    from.1 = b"000.00.00.G22".to_vec();
    assert!(matches!(check(&changed, now), Err(SdkError::SignedHeaderMismatch(_))), "a header changed after signing");

    let old = now - time::Duration::hours(1);
    assert!(matches!(check(&request(&params(old), SECRET), now), Err(SdkError::StaleTimestamp(_))));

    let mut unsigned_time = params(now);
    unsigned_time.retain(|(n, _)| *n != "timestamp");
    let mut headers = request(&unsigned_time, SECRET);
    headers.push(("XroadVnpt-timestamp".into(), stamp(now).into_bytes()));
    assert!(matches!(check(&headers, now), Err(SdkError::SignedHeaderMismatch(_))), "the timestamp must be signed");

    let mut stranger = params(now);
    stranger[0].1 = "unknown-system".into();
    assert_eq!(check(&request(&stranger, SECRET), now), Err(SdkError::UnknownSystem("unknown-system".into())));

    let mut missing = request(&params(now), SECRET);
    missing.retain(|(n, _)| n != "XroadVnpt-hash-header");
    assert_eq!(check(&missing, now), Err(SdkError::MissingHeader("hash-header")));
    let mut garbage = request(&params(now), SECRET);
    garbage.push(("XroadVnpt-docid".into(), vec![0xff, 0xfe]));
    assert!(matches!(check(&garbage, now), Err(SdkError::MalformedHeader(_))));
}

#[test]
fn the_hash_file_quirk_and_the_correct_form_both_match() {
    let body = b"<edXML>...</edXML>";
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    let padded: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let quirky: String = hash.as_ref().iter().map(|b| format!("{b:x}")).collect();
    assert!(hash_file_matches(&padded, body));
    assert!(hash_file_matches(&quirky, body));
    assert!(hash_file_matches(&padded.to_uppercase(), body));
    assert!(!hash_file_matches(&padded, b"other"));
}

#[test]
fn a_replay_is_recognisable_by_its_signature_whatever_the_case_of_its_hex() {
    let now = OffsetDateTime::now_utc();
    let headers = request(&params(now), SECRET);
    let first = check(&headers, now).expect("authentic");
    assert_eq!(first.signature().len(), 64);
    let shouted: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), if n == "XroadVnpt-hash-header" { v.to_ascii_uppercase() } else { v.clone() }))
        .collect();
    let again = check(&shouted, now + time::Duration::minutes(3)).expect("still fresh");
    assert_eq!(again.signature(), first.signature(), "upper-case hex is the same signature");
    let stamped = sdk_stamp_seconds(now);
    assert_eq!(first.fresh_until(), stamped + exchange::sdk::TIMESTAMP_WINDOW);
    let later = now + time::Duration::seconds(1);
    let fresh = check(&request(&params(later), SECRET), later).expect("authentic");
    assert_ne!(fresh.signature(), first.signature(), "a new timestamp is a new signature");
}

/// `now` as the SDK's timestamp carries it for freshness (whole seconds).
fn sdk_stamp_seconds(now: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).expect("seconds")
}
