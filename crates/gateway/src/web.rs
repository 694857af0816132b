//! The web inbox and outbox, for agencies without a document-management system: clerks log in
//! (five wrong passwords in a row lock the name for 15 minutes), read the documents received and
//! answer them with a status (02–06; a recall, update or replacement with 15 or 16), send
//! documents to one or several agencies (an edXML package built from a form and a file), and
//! follow the statuses of what they sent. Server-rendered HTML under `/web/`, one small style
//! sheet, no scripts; Vietnamese first, English with `?lang=en`; made for a phone's width first.
//!
//! Every page is written through [`html::Html`], which escapes every value it is given. Every
//! POST carries a CSRF token and must come from this origin; sessions are random tokens in
//! HttpOnly, Secure, SameSite=Strict cookies, of which the store keeps only hashes. A user's
//! mistake gets a page that says what is wrong, never a panic or a 500.

mod auth;
mod html;
mod inbox;
mod outbox;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use store::{GatewayStore as _, LoginLockout, Store, StoreError, WebStore, WebUser};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::{Gateway, GatewayError};
use html::{Chrome, Lang, Nav};

/// Largest body of an ordinary form (login, status, logout).
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Largest file a clerk may attach when sending.
pub const MAX_UPLOAD_BYTES: usize = 40 * 1024 * 1024;
/// Password verifications allowed at once (each takes a core for a moment).
const CONCURRENT_HASHES: usize = 2;
const LANG_COOKIE: &str = "lienthong-lang";
/// Five wrong passwords in a row lock a login name for fifteen minutes (known or not, so the
/// lockout does not tell which names exist); a day without failures forgets them.
pub const LOGIN_LOCKOUT: LoginLockout =
    LoginLockout { max_failures: 5, lock_for: time::Duration::minutes(15), forget_after: time::Duration::hours(24) };

/// What the web pages share.
#[derive(Debug, Clone)]
struct Web {
    gateway: Arc<Gateway>,
    hashing: Arc<Semaphore>,
}

/// The web inbox's routes (all under `/web/`) over `gateway`; serve them on the gateway's HTTPS
/// listener next to the client API.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let web = Web { gateway, hashing: Arc::new(Semaphore::new(CONCURRENT_HASHES)) };
    Router::new()
        .route("/web", get(|| async { see_other("/web/inbox") }))
        .route("/web/", get(|| async { see_other("/web/inbox") }))
        .route("/web/style.css", get(style))
        .route("/web/login", get(login_form).post(login))
        .route("/web/logout", get(|| async { see_other("/web/inbox") }).post(logout))
        .route("/web/inbox", get(inbox::list))
        .route("/web/inbox/{id}", get(inbox::read))
        .route("/web/inbox/{id}/files/{index}", get(inbox::download))
        .route("/web/inbox/{id}/status", get(inbox::to_document).post(inbox::answer))
        .route("/web/outbox", get(outbox::list))
        .route(
            "/web/send",
            get(outbox::form).post(outbox::send).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + MAX_FORM_BYTES)),
        )
        .route("/web/{*rest}", get(not_found).post(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn(guard))
        .with_state(web)
}

/// Why a web user was not created; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddUserError {
    /// The name is empty, too long, or holds characters other than letters, digits, `.`, `-`,
    /// `_` and `@`.
    #[error("user name {0:?}: use 1–64 letters, digits, '.', '-', '_' or '@'")]
    BadName(String),
    /// The password is shorter than 12 or longer than 256 characters.
    #[error("the password must have 12 to 256 characters")]
    BadPassword,
    /// The name is taken, the client system unknown, or storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password could not be hashed.
    #[error("the password could not be hashed")]
    Hashing,
}

/// Creates web user `name` with `password`, acting as client system `client_id` (see
/// [`store::GatewayStore::add_client`]).
pub async fn add_user(store: &Store, name: &str, password: &str, client_id: &str) -> Result<(), AddUserError> {
    let name_ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if !name_ok {
        return Err(AddUserError::BadName(name.to_owned()));
    }
    if !(12..=256).contains(&password.chars().count()) {
        return Err(AddUserError::BadPassword);
    }
    let password_hash = auth::hash_password_blocking(password).await.map_err(|_| AddUserError::Hashing)?;
    let user = WebUser { name: name.to_owned(), password_hash, client: client_id.to_owned() };
    store.add_web_user(&user, OffsetDateTime::now_utc()).await?;
    Ok(())
}

/// Why a page could not be shown; each becomes a page that says so (or, signed out, the login).
#[derive(Debug, thiserror::Error)]
enum WebError {
    /// No valid session.
    #[error("login required")]
    LoginRequired,
    /// The form's CSRF token is missing or wrong, or the request came from another site.
    #[error("stale or foreign form")]
    StaleForm,
    /// The user's input is wrong; the texts say how (Vietnamese, English).
    #[error("{1}")]
    BadInput(String, String),
    /// No such page, package or file.
    #[error("not found")]
    NotFound,
    /// The document was recalled by its sender and its content destroyed.
    #[error("recalled")]
    Recalled,
    /// The gateway refused or could not do it.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not fail did.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl WebError {
    fn bad(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self::BadInput(vi.into(), en.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::LoginRequired => StatusCode::SEE_OTHER,
            Self::StaleForm => StatusCode::FORBIDDEN,
            Self::BadInput(..) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Recalled => StatusCode::GONE,
            Self::Gateway(GatewayError::AnswerToDestroyed(_) | GatewayError::AlreadyAgreed(_)) => StatusCode::CONFLICT,
            Self::Gateway(GatewayError::Outgoing(_) | GatewayError::Answer(_) | GatewayError::Recipient { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Gateway(GatewayError::Hub(_)) => StatusCode::BAD_GATEWAY,
            Self::Gateway(GatewayError::SenderNotServed { .. }) => StatusCode::FORBIDDEN,
            Self::Gateway(_) | Self::Store(_) | Self::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the clerk reads: (Vietnamese, English).
    fn message(&self) -> (String, String) {
        match self {
            Self::LoginRequired => ("Vui lòng đăng nhập.".into(), "Please log in.".into()),
            Self::StaleForm => (
                "Biểu mẫu đã hết hạn hoặc không gửi từ trang này. Vui lòng tải lại trang và thử lại.".into(),
                "The form has expired or did not come from this site. Reload the page and try again.".into(),
            ),
            Self::BadInput(vi, en) => (vi.clone(), en.clone()),
            Self::NotFound => ("Không tìm thấy trang hoặc văn bản này.".into(), "No such page or document.".into()),
            Self::Recalled => (
                "Văn bản này đã được nơi gửi thu hồi; nội dung đã được hủy.".into(),
                "This document was recalled by its sender; its content was destroyed.".into(),
            ),
            Self::Gateway(GatewayError::AnswerToDestroyed(_)) => (
                "Văn bản này đã được nơi gửi thu hồi và đã hủy: không thể trả lời trạng thái; không gửi gì.".into(),
                "This document was recalled by its sender and destroyed: it cannot be answered; nothing was sent."
                    .into(),
            ),
            Self::Gateway(GatewayError::AlreadyAgreed(_)) => (
                "Đề nghị này đã được đồng ý (15): không thể từ chối (16) sau đó; không gửi gì.".into(),
                "This request was already agreed to (15): it cannot be refused (16) afterwards; nothing was sent."
                    .into(),
            ),
            Self::Gateway(GatewayError::Recipient { code, reason }) => (
                format!("Không gửi được tới đơn vị {code}: trục liên thông không có chứng thư của đơn vị này."),
                format!("Cannot send to {code}: {reason}"),
            ),
            Self::Gateway(GatewayError::Outgoing(why)) => (
                format!("Văn bản không hợp lệ, chưa gửi: {why}"),
                format!("The document is not valid; nothing was sent: {why}"),
            ),
            Self::Gateway(GatewayError::Answer(why)) => {
                (format!("Không tạo được trạng thái: {why}"), format!("The status cannot be made: {why}"))
            }
            Self::Gateway(GatewayError::Hub(_)) => (
                "Không liên lạc được với trục liên thông; vui lòng thử lại sau ít phút.".into(),
                "The national hub cannot be reached; please try again in a few minutes.".into(),
            ),
            Self::Gateway(GatewayError::SenderNotServed { sender, reason }) => (
                format!(
                    "Cổng kết nối này không (còn) gửi văn bản thay đơn vị {sender}: trục liên thông không \
                     chuyển văn bản của đơn vị này qua cổng kết nối này; chưa gửi gì. Vui lòng liên hệ cán bộ quản trị."
                ),
                format!("This gateway does not send for {sender} (any more): {reason}; nothing was sent."),
            ),
            Self::Gateway(_) | Self::Store(_) | Self::Internal(_) => (
                "Cổng kết nối đang gặp sự cố lưu trữ; vui lòng thử lại.".into(),
                "The gateway has a storage problem; please try again.".into(),
            ),
        }
    }

    /// The page that explains the error (the detail of internal failures goes to the log).
    fn page(self, lang: Lang) -> Response {
        if matches!(self, Self::LoginRequired) {
            return see_other("/web/login");
        }
        if matches!(
            self,
            Self::Gateway(GatewayError::Store(_) | GatewayError::Blob(_)) | Self::Store(_) | Self::Internal(_)
        ) {
            eprintln!("lienthong web: {self}");
        }
        let (vi, en) = self.message();
        let chrome = Chrome { lang, agency: "", agency_name: None, clerk: None, here: Nav::None };
        let mut h = html::begin(&chrome, lang.pick("Không thực hiện được", "Could not be done"));
        h.el("<p class=\"error\" role=\"alert\">", lang.pick(&vi, &en), "</p>");
        h.raw("<p><a href=\"/web/inbox\">");
        h.raw(lang.pick("← Về văn bản đến", "← Back to the inbox")).raw("</a></p>");
        (self.status(), page_headers(), html::end(h)).into_response()
    }
}

/// A form that could not be read: too large, or not the form we wrote (fields missing: an old
/// page, or not ours).
fn form_error(rejection: FormRejection) -> WebError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::bad("Nội dung biểu mẫu quá dài.", "The form is too large.")
    } else {
        WebError::StaleForm
    }
}

/// A handler's outcome as a response: errors become their page.
fn respond(lang: Lang, outcome: Result<Response, WebError>) -> Response {
    outcome.unwrap_or_else(|error| error.page(lang))
}

fn page_headers() -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

/// A finished HTML page.
fn html_page(body: String) -> Response {
    (page_headers(), body).into_response()
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn style() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")];
    (headers, include_str!("web/style.css")).into_response()
}

async fn not_found(axum::Extension(lang): axum::Extension<Lang>) -> Response {
    WebError::NotFound.page(lang)
}

/// Around every request: the language (`?lang=` remembered in a cookie), the refusal of POSTs
/// from other sites, and headers that keep pages from being framed, sniffed, cached or given
/// scripts.
async fn guard(mut request: Request, next: Next) -> Response {
    let chosen = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("lang=")))
        .and_then(Lang::parse);
    let lang =
        chosen.or_else(|| auth::cookie(request.headers(), LANG_COOKIE).and_then(Lang::parse)).unwrap_or_default();
    request.extensions_mut().insert(lang);
    let mut response = if request.method() == Method::POST && !same_origin(request.headers()) {
        WebError::StaleForm.page(lang)
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if let Some(lang) = chosen {
        let cookie = format!("{LANG_COOKIE}={}; Path=/web; Secure; SameSite=Strict; Max-Age=31536000", lang.code());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    secure_headers(headers);
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    let policy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                  frame-ancestors 'none'; base-uri 'none'";
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

/// Whether a POST comes from a page of this origin: browsers say so in `Sec-Fetch-Site` and
/// `Origin`; a request that says neither is not a browser's cross-site form.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin.strip_prefix("https://") == Some(host),
        (Some(_), None) => false,
    }
}

/// The chrome of a signed-in page.
fn chrome<'a>(lang: Lang, clerk: &'a auth::Clerk, agency_name: Option<&'a str>, here: Nav) -> Chrome<'a> {
    Chrome {
        lang,
        agency: clerk.agency.as_str(),
        agency_name,
        clerk: Some((clerk.user.name.as_str(), clerk.csrf.as_str())),
        here,
    }
}

async fn login_form(
    State(web): State<Web>,
    axum::Extension(lang): axum::Extension<Lang>,
    headers: HeaderMap,
) -> Response {
    if auth::clerk(&web, &headers).await.is_ok() {
        return see_other("/web/inbox");
    }
    respond(lang, login_page(&web, lang, StatusCode::OK, None, "").await)
}

/// The login page with a fresh CSRF token (and its cookie), and `error` if the last try failed.
async fn login_page(
    web: &Web,
    lang: Lang,
    status: StatusCode,
    error: Option<(&str, &str)>,
    name: &str,
) -> Result<Response, WebError> {
    let nonce = auth::random_token(32)?;
    let agency_name = web.gateway.agency_names().await.name(web.gateway.agency().as_str()).map(str::to_owned);
    let chrome = Chrome {
        lang,
        agency: web.gateway.agency().as_str(),
        agency_name: agency_name.as_deref(),
        clerk: None,
        here: Nav::None,
    };
    let mut h = html::begin(&chrome, lang.pick("Đăng nhập", "Log in"));
    if let Some((vi, en)) = error {
        h.el("<p class=\"error\" role=\"alert\">", lang.pick(vi, en), "</p>");
    }
    h.raw("<form method=\"post\" action=\"/web/login\" class=\"card form\">").hidden("csrf", &nonce);
    h.raw("<label for=\"name\">").raw(lang.pick("Tên đăng nhập", "User name")).raw("</label>");
    h.raw("<input id=\"name\" name=\"name\" autocomplete=\"username\" autocapitalize=\"none\" required maxlength=\"64\" value=\"");
    h.text(name).raw("\">");
    h.raw("<label for=\"password\">").raw(lang.pick("Mật khẩu", "Password")).raw("</label>");
    h.raw("<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"256\">");
    h.raw("<button type=\"submit\">").raw(lang.pick("Đăng nhập", "Log in")).raw("</button></form>");
    let cookie = HeaderValue::from_str(&auth::login_cookie(web, &nonce)).map_err(|_| WebError::Internal("cookie"))?;
    Ok((status, [(header::SET_COOKIE, cookie)], page_headers(), html::end(h)).into_response())
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

async fn login(
    State(web): State<Web>,
    axum::Extension(lang): axum::Extension<Lang>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    respond(lang, login_inner(&web, lang, &headers, form).await)
}

async fn login_inner(
    web: &Web,
    lang: Lang,
    headers: &HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, WebError> {
    let Form(form) = form.map_err(form_error)?;
    auth::check_csrf(auth::login_nonce(web, headers).unwrap_or_default(), &form.csrf)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 64 || form.password.is_empty() || form.password.len() > 1024 {
        let message = ("Nhập tên đăng nhập và mật khẩu.", "Enter your user name and password.");
        return login_page(web, lang, StatusCode::BAD_REQUEST, Some(message), name).await;
    }
    let store = web.gateway.store();
    let now = OffsetDateTime::now_utc();
    if let Some(until) = store.web_login_locked_until(name, now).await? {
        return locked_page(web, lang, name, until, now).await;
    }
    let user = store.web_user(name).await?;
    if !auth::check_password(web, user.as_ref(), &form.password).await? {
        if let Some(until) = store.web_login_failed(name, now, &LOGIN_LOCKOUT).await? {
            return locked_page(web, lang, name, until, now).await;
        }
        let message = (
            "Tên đăng nhập hoặc mật khẩu không đúng. Vui lòng thử lại.",
            "Wrong user name or password. Please try again.",
        );
        return login_page(web, lang, StatusCode::FORBIDDEN, Some(message), name).await;
    }
    store.web_login_succeeded(name).await?;
    let user = user.ok_or(WebError::Internal("verified without a user"))?;
    let session =
        HeaderValue::from_str(&auth::open_session(web, &user).await?).map_err(|_| WebError::Internal("cookie"))?;
    let clear = HeaderValue::from_str(&auth::clear_login_cookie(web)).map_err(|_| WebError::Internal("cookie"))?;
    let mut response = see_other("/web/inbox");
    response.headers_mut().append(header::SET_COOKIE, session);
    response.headers_mut().append(header::SET_COOKIE, clear);
    Ok(response)
}

/// The login page saying that `name` is locked until `until` (shown in Vietnam time, to the
/// minute after), with `Retry-After`.
async fn locked_page(
    web: &Web,
    lang: Lang,
    name: &str,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Response, WebError> {
    let shown = html::local_time(until.unix_timestamp() + 59);
    let max = LOGIN_LOCKOUT.max_failures;
    let vi = format!(
        "Tài khoản này đang tạm khóa vì nhập sai mật khẩu {max} lần liên tiếp. Vui lòng thử lại sau {shown} \
         (giờ Việt Nam, UTC+07:00), hoặc liên hệ quản trị cổng kết nối."
    );
    let en = format!(
        "This account is locked after {max} wrong passwords in a row. Try again after {shown} \
         (Vietnam time, UTC+07:00), or ask the gateway's administrator."
    );
    let mut response = login_page(web, lang, StatusCode::TOO_MANY_REQUESTS, Some((&vi, &en)), name).await?;
    let wait = (until - now).whole_seconds().max(1).to_string();
    let wait = HeaderValue::from_str(&wait).map_err(|_| WebError::Internal("retry-after"))?;
    response.headers_mut().insert(header::RETRY_AFTER, wait);
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(web): State<Web>,
    axum::Extension(lang): axum::Extension<Lang>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let clerk = auth::clerk(&web, &headers).await?;
        let Form(form) = form.map_err(form_error)?;
        auth::check_csrf(&clerk.csrf, &form.csrf)?;
        let cleared = HeaderValue::from_str(&auth::close_session(&web, &clerk).await?)
            .map_err(|_| WebError::Internal("cookie"))?;
        let mut response = see_other("/web/login");
        response.headers_mut().append(header::SET_COOKIE, cleared);
        Ok(response)
    };
    respond(lang, outcome.await)
}

/// Records that a clerk dealt with an inbox item (the gateway's message log names them).
async fn acknowledge(web: &Web, clerk: &auth::Clerk, package_id: &str) -> Result<(), WebError> {
    let actor = format!("web:{}", clerk.user.name);
    let now = OffsetDateTime::now_utc();
    web.gateway.store().acknowledge_incoming(package_id, clerk.agency.as_str(), &actor, now).await?;
    Ok(())
}
