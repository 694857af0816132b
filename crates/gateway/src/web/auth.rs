//! Clerks' passwords, sessions and CSRF tokens.
//!
//! Passwords are kept as PBKDF2-HMAC-SHA256 (OWASP's 600,000 iterations, a random 16-byte salt
//! each) and compared in constant time; an unknown name costs the same work as a wrong password.
//! A session is a random 256-bit token in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict);
//! the store keeps only its SHA-256. Every form carries a CSRF token: the session's, derived from
//! its token, or before login one matched against a short-lived login cookie.

use std::num::NonZeroU32;

use aws_lc_rs::rand::SecureRandom as _;
use aws_lc_rs::{constant_time, digest, pbkdf2};
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use store::{GatewayStore as _, WebStore, WebUser};
use time::{Duration, OffsetDateTime};

use super::{Web, WebError};

/// Cookie names are per agency: cookies do not tell ports apart, and two gateways may serve the
/// same host (the demo's). `__Host-`: only over HTTPS, for this host, for every path.
fn cookie_name(web: &Web, what: &str) -> String {
    format!("__Host-lienthong-{what}-{}", web.gateway.agency())
}
/// How long a session lasts: a working day.
const SESSION_LIFETIME: Duration = Duration::hours(8);
/// OWASP's recommendation for PBKDF2-HMAC-SHA256 (Password Storage Cheat Sheet).
const ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;
const SCHEME: &str = "pbkdf2-sha256";
/// Verified against when the name is unknown, so that costs what a wrong password costs. No
/// password hashes to it (its salt and hash are arbitrary).
const NO_SUCH_USER: &str = "pbkdf2-sha256$600000$bm8gc3VjaCB1c2VyIQ$bm8gcGFzc3dvcmQgaGFzaGVzIHRvIHRoaXMgdmFsdWU";

/// A signed-in clerk.
#[derive(Debug, Clone)]
pub(crate) struct Clerk {
    /// Who.
    pub(crate) user: WebUser,
    /// The agency the clerk reads and sends for (that of its client system).
    pub(crate) agency: edxml::AgencyCode,
    /// The CSRF token every form of this session carries.
    pub(crate) csrf: String,
    token_hash: String,
}

fn base64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// `n` random bytes, base64url.
pub(crate) fn random_token(bytes: usize) -> Result<String, WebError> {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut buffer).map_err(|_| WebError::Internal("random"))?;
    Ok(base64().encode(buffer))
}

fn sha256_hex(data: &[u8]) -> String {
    digest::digest(&digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The password's hash, `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64url).
pub(crate) fn hash_password(password: &str) -> Result<String, WebError> {
    let mut salt = [0u8; SALT_BYTES];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut salt).map_err(|_| WebError::Internal("random"))?;
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(WebError::Internal("iterations"))?;
    let mut hash = [0u8; HASH_BYTES];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut hash);
    Ok(format!("{SCHEME}${ITERATIONS}${}${}", base64().encode(salt), base64().encode(hash)))
}

/// Whether `password` hashes to `stored` (constant-time); a malformed `stored` matches nothing.
pub(crate) fn verify_password(stored: &str, password: &str) -> bool {
    let Some((iterations, salt, hash)) = parse_stored(stored) else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &hash).is_ok()
}

/// Iterations, salt and hash of a stored password hash.
fn parse_stored(stored: &str) -> Option<(NonZeroU32, Vec<u8>, Vec<u8>)> {
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let iterations = iterations.parse::<u32>().ok().filter(|n| (1..=10_000_000).contains(n))?;
    let (salt, hash) = (base64().decode(salt).ok()?, base64().decode(hash).ok()?);
    (hash.len() == HASH_BYTES).then_some((NonZeroU32::new(iterations)?, salt, hash))
}

/// Checks `password` for `user` (or, for an unknown name, wastes the same work) off the async
/// threads, a few at a time so a flood of attempts cannot take every core.
pub(crate) async fn check_password(web: &Web, user: Option<&WebUser>, password: &str) -> Result<bool, WebError> {
    let stored = user.map_or(NO_SUCH_USER, |u| u.password_hash.as_str()).to_owned();
    let password = password.to_owned();
    let _permit = web.hashing.acquire().await.map_err(|_| WebError::Internal("hashing closed"))?;
    let matches = tokio::task::spawn_blocking(move || verify_password(&stored, &password))
        .await
        .map_err(|_| WebError::Internal("hashing task"))?;
    Ok(matches && user.is_some())
}

/// Hashes a new password off the async threads.
pub(crate) async fn hash_password_blocking(password: &str) -> Result<String, WebError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| WebError::Internal("hashing task"))?
}

/// The CSRF token of the session whose token is `token`.
fn csrf_for(token: &str) -> String {
    sha256_hex(format!("lienthong web csrf\n{token}").as_bytes())
}

/// Refuses a form whose CSRF token is not `expected` (compared in constant time).
pub(crate) fn check_csrf(expected: &str, given: &str) -> Result<(), WebError> {
    if expected.is_empty() {
        return Err(WebError::StaleForm);
    }
    constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).map_err(|_| WebError::StaleForm)
}

/// The value of cookie `name`.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A token as we make them: 43 base64url characters (32 bytes).
fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The clerk whose session cookie came with the request.
pub(crate) async fn clerk(web: &Web, headers: &HeaderMap) -> Result<Clerk, WebError> {
    let token =
        cookie(headers, &cookie_name(web, "session")).filter(|t| well_formed(t)).ok_or(WebError::LoginRequired)?;
    let token_hash = sha256_hex(token.as_bytes());
    let session = web.gateway.store().web_session(&token_hash, OffsetDateTime::now_utc()).await?;
    let session = session.ok_or(WebError::LoginRequired)?;
    let client = web.gateway.store().client(&session.user.client).await?;
    let client = client.ok_or(WebError::Internal("a clerk's client system is gone"))?;
    let agency = edxml::AgencyCode::parse(&web.gateway.agency_of(&client))
        .map_err(|_| WebError::Internal("a client system's agency code does not parse"))?;
    Ok(Clerk { user: session.user, agency, csrf: csrf_for(token), token_hash })
}

/// Opens a session for `user`; returns the `Set-Cookie` value that carries it.
pub(crate) async fn open_session(web: &Web, user: &WebUser) -> Result<String, WebError> {
    let token = random_token(32)?;
    let now = OffsetDateTime::now_utc();
    web.gateway
        .store()
        .open_web_session(&sha256_hex(token.as_bytes()), &user.name, now + SESSION_LIFETIME, now)
        .await?;
    Ok(format!("{}={token}; Path=/; Secure; HttpOnly; SameSite=Strict", cookie_name(web, "session")))
}

/// Ends the clerk's session; returns the `Set-Cookie` value that clears it.
pub(crate) async fn close_session(web: &Web, clerk: &Clerk) -> Result<String, WebError> {
    web.gateway.store().close_web_session(&clerk.token_hash).await?;
    Ok(format!("{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", cookie_name(web, "session")))
}

/// The login form's cookie for `nonce` (ten minutes to fill the form in).
pub(crate) fn login_cookie(web: &Web, nonce: &str) -> String {
    format!("{}={nonce}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=600", cookie_name(web, "login"))
}

/// Clears the login form's cookie.
pub(crate) fn clear_login_cookie(web: &Web) -> String {
    format!("{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", cookie_name(web, "login"))
}

/// The nonce the login form's cookie carries.
pub(crate) fn login_nonce<'h>(web: &Web, headers: &'h HeaderMap) -> Option<&'h str> {
    cookie(headers, &cookie_name(web, "login"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let stored = hash_password("mật khẩu đủ dài").expect("hash");
        assert!(stored.starts_with("pbkdf2-sha256$600000$"), "{stored}");
        assert!(verify_password(&stored, "mật khẩu đủ dài"));
        assert!(!verify_password(&stored, "mật khẩu đủ dài "));
        assert_ne!(stored, hash_password("mật khẩu đủ dài").expect("hash"), "a fresh salt each time");
    }

    #[test]
    fn malformed_stored_hashes_match_nothing() {
        for stored in ["", "pbkdf2-sha256$600000$c2FsdA", "sha1$1$c2FsdA$aGFzaA", "pbkdf2-sha256$0$c2FsdA$aGFzaA"] {
            assert!(!verify_password(stored, ""), "{stored}");
        }
        assert!(parse_stored(NO_SUCH_USER).is_some(), "an unknown name costs a full verification");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; __Host-lienthong-session-000.00.00.G22=tok; b=2".parse().expect("header"));
        assert_eq!(cookie(&headers, "__Host-lienthong-session-000.00.00.G22"), Some("tok"));
        assert_eq!(cookie(&headers, "__Host-lienthong-session"), None);
    }
}
