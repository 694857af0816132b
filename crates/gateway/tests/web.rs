//! The web inbox and outbox. In process (the router driven request by request, with a cookie
//! jar): logins, CSRF and origin checks, bad input, escaping. Then end to end: the hub and two
//! gateways over real mutual TLS, each serving its client API and web pages on HTTPS, driven by
//! headless Chromium at a phone's width (tests/web/e2e.mjs): the Government Office sends a
//! document to Nghệ An and the Ministry of Justice, Nghệ An's clerk reads it and answers 03, which
//! the Office then sees, and agrees (15) to the recall of an earlier document.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use base64::Engine as _;
use gateway::Gateway;
use http_body_util::BodyExt as _;
use store::{AuditStore, GatewayStore, PackageKind};
use time::OffsetDateTime;
use tower::ServiceExt as _;

mod common;

use common::{Network, serve, with_business};

const OFFICE: &str = "000.00.00.G22";
const NGHE_AN: &str = "000.00.00.H41";
const JUSTICE: &str = "000.00.00.G17";

/// Starts the hub and the gateways of the Office and Nghệ An (and two more the hub routes to).
async fn network() -> (Network, Arc<Gateway>, Arc<Gateway>) {
    let net = Network::start().await;
    let (office, _) = net.gateway(OFFICE, "Văn phòng Chính phủ").await;
    let (nghe_an, _) = net.gateway(NGHE_AN, "UBND tỉnh Nghệ An").await;
    (net, office, nghe_an)
}

/// A web clerk of `gateway`'s own agency (acting as a client system of its own); returns the
/// client's id.
async fn clerk(gateway: &Gateway, name: &str, password: &str) -> String {
    clerk_of(gateway, gateway.agency().as_str(), name, password).await
}

/// A web clerk of `agency` (the gateway's own, or a unit it serves) at `gateway`.
async fn clerk_of(gateway: &Gateway, agency: &str, name: &str, password: &str) -> String {
    let key = format!("unused-api-key-of-{name}");
    let client = gateway
        .store()
        .add_client(&format!("Web {name}"), &gateway::api::key_hash(&key), agency, OffsetDateTime::now_utc())
        .await
        .expect("client");
    gateway::web::add_user(gateway.store(), name, password, &client.id).await.expect("web user");
    client.id
}

/// A browser, as far as the router can tell: a cookie jar and the headers a browser sends.
struct Browser {
    router: Router,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The CSRF token of the page's (first) form.
    fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").map(|i| i + 19).expect("a form with a CSRF token");
        self.body[start..].split('"').next().expect("token").to_owned()
    }
}

impl Browser {
    fn new(gateway: &Arc<Gateway>) -> Self {
        Self { router: gateway::web::router(gateway.clone()), cookies: Vec::new() }
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let request = request.header(header::HOST, "localhost").header(header::COOKIE, cookie.join("; "));
        let response = self.router.clone().oneshot(request.body(body).expect("request")).await.expect("infallible");
        let (parts, body) = response.into_parts();
        for set in parts.headers.get_all(header::SET_COOKIE) {
            let pair = set.to_str().expect("ascii").split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let bytes = body.collect().await.expect("body").to_bytes();
        Page {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[]).await
    }

    async fn post_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body: Vec<String> = form.iter().map(|(n, v)| format!("{n}={}", urlencode(v))).collect();
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request, Body::from(body.join("&"))).await
    }

    async fn login(&mut self, name: &str, password: &str) -> Page {
        let csrf = self.get("/web/login").await.csrf();
        self.post("/web/login", &[("csrf", &csrf), ("name", name), ("password", password)]).await
    }

    /// Sends the send form as a browser does (multipart), with `file`.
    async fn send_form(&mut self, fields: &[(&str, &str)], file: (&str, &[u8])) -> Page {
        let boundary = "----lienthong-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        let (file_name, data) = file;
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/pdf\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(data);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        let request = Request::post("/web/send")
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
        self.send(request, Body::from(body)).await
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The send form's fields for a document to Nghệ An.
fn document_fields<'a>(csrf: &'a str, submission: &'a str, subject: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("submission", submission),
        ("to", NGHE_AN),
        ("number", "15/VPCP-TTĐT"),
        ("doc_type", "Công văn"),
        ("subject", subject),
        ("content", ""),
        ("signer", "Trần Văn Sơn"),
        ("position", ""),
        ("priority", "0"),
        ("due", ""),
    ]
}

fn submission_of(page: &Page) -> String {
    let start = page.body.find("name=\"submission\" value=\"").map(|i| i + 25).expect("a submission id");
    page.body[start..].split('"').next().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_says_so_and_changes_nothing() {
    let (_net, office, _) = network().await;
    clerk(&office, "van-thu", "mật khẩu văn thư 2026").await;
    let log_before = office.store().audit_entries(0, 100).await.expect("log").len();
    let mut browser = Browser::new(&office);

    let signed_out = browser.get("/web/inbox").await;
    assert_eq!((signed_out.status, signed_out.location()), (303, "/web/login"));
    let login = browser.get("/web/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("<meta name=\"viewport\""), "made for phones");
    for (name, password) in [("van-thu", "mật khẩu sai"), ("không-có-ai", "mật khẩu văn thư 2026")] {
        let refused = browser.login(name, password).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("Tên đăng nhập hoặc mật khẩu không đúng"), "{}", refused.body);
        assert!(!browser.cookies.iter().any(|(n, _)| n.contains("session")), "no session");
        assert_eq!(browser.get("/web/inbox").await.status, 303, "still signed out");
    }
    let csrf = browser.get("/web/login").await.csrf();
    let forged = browser
        .post("/web/login", &[("csrf", "not-the-token"), ("name", "van-thu"), ("password", "mật khẩu văn thư 2026")]);
    let forged = forged.await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("Biểu mẫu đã hết hạn"), "{}", forged.body);
    let mut stranger = Browser::new(&office);
    let no_cookie = stranger
        .post("/web/login", &[("csrf", &csrf), ("name", "van-thu"), ("password", "mật khẩu văn thư 2026")])
        .await;
    assert_eq!(no_cookie.status, 403, "the login form's token must match its cookie");
    assert_eq!(office.store().audit_entries(0, 100).await.expect("log").len(), log_before, "nothing changed");

    let signed_in = browser.login("van-thu", "mật khẩu văn thư 2026").await;
    assert_eq!((signed_in.status, signed_in.location()), (303, "/web/inbox"));
    let session = signed_in.headers.get_all(header::SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().expect("ascii");
        text.starts_with("__Host-lienthong-session-000.00.00.G22=").then(|| text.to_owned())
    });
    let session = session.expect("a session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let inbox = browser.get("/web/inbox").await;
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains("Chưa có văn bản đến."), "{}", inbox.body);
    let policy = inbox.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"), "{policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_sessions_token_and_this_origin() {
    let (_net, office, _) = network().await;
    clerk(&office, "van-thu", "mật khẩu văn thư 2026").await;
    let mut browser = Browser::new(&office);
    browser.login("van-thu", "mật khẩu văn thư 2026").await;
    let csrf = browser.get("/web/inbox").await.csrf();

    assert_eq!(browser.post("/web/logout", &[("csrf", "forged")]).await.status, 403);
    assert_eq!(browser.post("/web/logout", &[]).await.status, 403);
    let foreign = [("origin", "https://evil.example")];
    assert_eq!(browser.post_with("/web/logout", &[("csrf", &csrf)], &foreign).await.status, 403);
    let cross_site = [("sec-fetch-site", "cross-site")];
    assert_eq!(browser.post_with("/web/logout", &[("csrf", &csrf)], &cross_site).await.status, 403);
    assert_eq!(browser.get("/web/inbox").await.status, 200, "still signed in");

    let form = browser.get("/web/send").await;
    let fields = document_fields("forged", "0123456789abcdef0123", "Trích yếu");
    let refused = browser.send_form(&fields, ("van-ban.pdf", b"%PDF-1.7")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");
    assert_eq!(form.csrf(), csrf, "one token per session");

    let same_origin = [("origin", "https://localhost"), ("sec-fetch-site", "same-origin")];
    let out = browser.post_with("/web/logout", &[("csrf", &csrf)], &same_origin).await;
    assert_eq!((out.status, out.location()), (303, "/web/login"));
    assert_eq!(browser.get("/web/inbox").await.status, 303, "signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_page_that_says_what_is_wrong_and_changes_nothing() {
    let (_net, office, nghe_an) = network().await;
    clerk(&office, "van-thu.vpcp", "mật khẩu văn thư 2026").await;
    clerk(&nghe_an, "van-thu.nghean", "mật khẩu Nghệ An 2026").await;
    let mut sender = Browser::new(&office);
    sender.login("van-thu.vpcp", "mật khẩu văn thư 2026").await;
    let form = sender.get("/web/send").await;
    assert!(
        form.body.contains("value=\"000.00.00.H41\"> <span>UBND tỉnh Nghệ An</span>"),
        "recipients from the hub's registry"
    );
    let (csrf, submission) = (form.csrf(), submission_of(&form));

    let mut fields = document_fields(&csrf, &submission, "Về việc thử nghiệm");
    fields[3].1 = "mười lăm/VPCP";
    let wrong = sender.send_form(&fields, ("van-ban.pdf", b"%PDF-1.7")).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("Số, ký hiệu «mười lăm/VPCP» không hợp lệ"), "{}", wrong.body);
    assert!(wrong.body.contains(">Về việc thử nghiệm</textarea>"), "what was typed is kept");
    let empty_file = sender.send_form(&document_fields(&csrf, &submission, "Về việc thử nghiệm"), ("a.pdf", b"")).await;
    assert!(empty_file.body.contains("Chưa chọn tệp văn bản"), "{}", empty_file.body);
    assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");

    let sent =
        sender.send_form(&document_fields(&csrf, &submission, "Về việc thử nghiệm"), ("van-ban.pdf", b"%PDF")).await;
    assert_eq!((sent.status, sent.location().starts_with("/web/outbox?sent=")), (303, true), "{}", sent.body);
    let again =
        sender.send_form(&document_fields(&csrf, &submission, "Về việc thử nghiệm"), ("van-ban.pdf", b"%PDF")).await;
    assert_eq!(again.location(), sent.location(), "the same form sent twice is one document");
    assert_eq!(office.send_due().await.expect("sent"), 1);
    assert_eq!(nghe_an.receive(Duration::from_secs(5)).await.expect("received"), 1);
    let package_id = nghe_an.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox")[0]
        .package
        .package_id
        .clone();
    let path = format!("/web/inbox/{}", urlencode(&package_id));

    let mut reader = Browser::new(&nghe_an);
    reader.login("van-thu.nghean", "mật khẩu Nghệ An 2026").await;
    let page = reader.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Fields<'_>, u16, &str); 4] = [
        (&[("code", "07")], 400, "Chọn một trạng thái từ 02 đến 06"),
        (&[("code", "01")], 400, "Chọn một trạng thái từ 02 đến 06"),
        (&[("code", "02"), ("description", "  ")], 400, "phải nêu lý do"),
        (&[("description", "thiếu mã")], 403, "Biểu mẫu đã hết hạn"),
    ];
    for (form, status, says) in cases {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let refused = reader.post(&format!("{path}/status"), &fields).await;
        assert_eq!(refused.status, status, "{form:?}: {}", refused.body);
        assert!(refused.body.contains(says), "{form:?}: {}", refused.body);
    }
    let unknown = reader.post("/web/inbox/no-such-package/status", &[("csrf", &csrf), ("code", "03")]).await;
    assert_eq!(unknown.status, 404);
    let answers =
        nghe_an.store().statuses_sent(&received_document_id(&nghe_an).await, None, 10).await.expect("answers");
    let subjects: Vec<Option<String>> = answers.into_iter().map(|a| a.package.subject).collect();
    assert_eq!(subjects, [Some("01 Đã đến".to_owned())], "only the automatic receipt: nothing refused was queued");

    for (path, status) in [
        ("/web/inbox?before=abc", 400),
        ("/web/nothing-here", 404),
        ("/web/inbox/no-such-package", 404),
        (&format!("{path}/files/99"), 404),
        (&format!("{path}/files/x"), 404),
        ("/web/inbox/%FF%FE", 404),
    ] {
        let page = reader.get(path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.body.contains("class=\"error\""), "{path}: a page that says what is wrong");
    }
    let huge = "x".repeat(20 * 1024);
    let too_large =
        reader.post(&format!("{path}/status"), &[("csrf", &csrf), ("code", "03"), ("description", &huge)]).await;
    assert_eq!(too_large.status, 400, "{}", too_large.body);
    assert!(too_large.body.contains("quá dài"), "{}", too_large.body);
}

async fn received_document_id(gateway: &Gateway) -> String {
    let inbox = gateway.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox");
    inbox[0].package.document_id.clone().expect("document id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_escaped_wherever_they_are_shown() {
    let (_net, office, nghe_an) = network().await;
    clerk(&office, "van-thu", "mật khẩu văn thư 2026").await;
    clerk(&nghe_an, "van-thu", "mật khẩu Nghệ An 2026").await;
    let mut sender = Browser::new(&office);
    sender.login("van-thu", "mật khẩu văn thư 2026").await;
    let form = sender.get("/web/send").await;
    let subject = "<script>alert(\"x\")</script> & 'trích yếu'";
    let (csrf, submission) = (form.csrf(), submission_of(&form));
    let sent = sender.send_form(&document_fields(&csrf, &submission, subject), ("<i>tệp<i>.pdf", b"%PDF")).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;trích yếu&#39;";
    let outbox = sender.get(sent.location()).await;
    assert!(outbox.body.contains(escaped) && !outbox.body.contains("<script"), "{}", outbox.body);

    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(5)).await.expect("received");
    let mut reader = Browser::new(&nghe_an);
    reader.login("van-thu", "mật khẩu Nghệ An 2026").await;
    let inbox = reader.get("/web/inbox").await;
    assert!(inbox.body.contains(escaped) && !inbox.body.contains("<script"), "{}", inbox.body);
    let package_id =
        nghe_an.store().received(PackageKind::Document, None, 0, 1).await.expect("inbox")[0].package.package_id.clone();
    let read = reader.get(&format!("/web/inbox/{}", urlencode(&package_id))).await;
    assert!(read.body.contains(escaped) && !read.body.contains("<script"), "{}", read.body);
    assert!(read.body.contains("&lt;i&gt;tệp&lt;i&gt;.pdf") && !read.body.contains("<i>"), "{}", read.body);
    let download = reader.get(&format!("/web/inbox/{}/files/0", urlencode(&package_id))).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, "%PDF");
    let kind = download.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    assert_eq!(kind, Some("application/octet-stream"), "never rendered as the sender's HTML");
    let disposition =
        download.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.starts_with("attachment; filename=\"<i>t_p<i>.pdf\""), "{disposition}");
}

/// A large attachment is downloaded byte for byte: unpacked into the spool (a file, mapped and
/// unlinked), not onto the heap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_attachment_is_downloaded_byte_for_byte_through_the_spool() {
    let (_net, office, nghe_an) = network().await;
    clerk(&nghe_an, "van-thu", "mật khẩu Nghệ An 2026").await;
    // 7 MB of figures (past the 4 MiB kept on the heap), compressing about 2:1.
    let text: String =
        (0..700_000u32).map(|i| format!("{:09}\n", i.wrapping_mul(2_654_435_761) % 1_000_000_000)).collect();
    let parsed = edxml::parse(&bytes::Bytes::from(common::sample()), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let nghe_an_code = edxml::AgencyCode::parse(NGHE_AN).expect("code");
    document.header.to = vec![edxml::model::Organization::with_id(edxml::OrganId::from(nghe_an_code))];
    document.attachments[0].content = edxml::EncodedContent::zip_file("so-lieu.txt", text.as_bytes());
    let package = edxml::write(&edxml::Package::Document(document));
    office.submit("qlvb", "VPCP-LON-1", &package).await.expect("queued");
    office.send_due().await.expect("sent");
    nghe_an.receive(Duration::from_secs(10)).await.expect("received");

    let mut reader = Browser::new(&nghe_an);
    reader.login("van-thu", "mật khẩu Nghệ An 2026").await;
    let package_id =
        nghe_an.store().received(PackageKind::Document, None, 0, 1).await.expect("inbox")[0].package.package_id.clone();
    let download = reader.get(&format!("/web/inbox/{}/files/0", urlencode(&package_id))).await;
    assert_eq!(download.status, 200);
    assert!(download.body == text, "byte for byte ({} bytes back of {})", download.body.len(), text.len());
    let disposition =
        download.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.ends_with("filename*=UTF-8''1896_QD-TTg_m_294779.doc"), "{disposition}");
    let left: Vec<_> = std::fs::read_dir(nghe_an.blobs().spool().dir()).expect("spool").collect();
    assert!(left.is_empty(), "the spool file was unlinked once mapped: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_a_name_for_fifteen_minutes_and_a_success_resets_the_count() {
    let (_net, office, _) = network().await;
    clerk(&office, "van-thu", "mật khẩu văn thư 2026").await;
    clerk(&office, "ke-toan", "mật khẩu kế toán 2026").await;
    let mut browser = Browser::new(&office);
    for _ in 0..4 {
        assert_eq!(browser.login("ke-toan", "sai").await.status, 403);
    }
    let signed_in = browser.login("ke-toan", "mật khẩu kế toán 2026").await;
    assert_eq!(signed_in.status, 303, "four failures do not lock");
    let mut browser = Browser::new(&office);
    for _ in 0..4 {
        assert_eq!(browser.login("ke-toan", "sai").await.status, 403, "the success started the count again");
    }

    let started = OffsetDateTime::now_utc();
    for name in ["van-thu", "không-có-ai"] {
        let mut browser = Browser::new(&office);
        for _ in 0..4 {
            let refused = browser.login(name, "mật khẩu sai").await;
            assert!(refused.body.contains("Tên đăng nhập hoặc mật khẩu không đúng"), "{}", refused.body);
        }
        let locked = browser.login(name, "mật khẩu sai").await;
        assert_eq!(locked.status, 429, "{name}: {}", locked.body);
        assert!(locked.body.contains("tạm khóa vì nhập sai mật khẩu 5 lần liên tiếp"), "{}", locked.body);
        let until = html_time(started + time::Duration::minutes(15));
        let until_late = html_time(started + time::Duration::minutes(16));
        assert!(locked.body.contains(&until) || locked.body.contains(&until_late), "until {until}: {}", locked.body);
        assert!(locked.body.contains("giờ Việt Nam, UTC+07:00"), "{}", locked.body);
        let retry: i64 = locked.headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
        assert!((890..=900).contains(&retry), "{retry}");
    }
    // The count is in the store: a fresh router (as after a restart) still refuses, even the
    // right password, and says so in English too.
    let mut restarted = Browser::new(&office);
    let refused = restarted.login("van-thu", "mật khẩu văn thư 2026").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(!restarted.cookies.iter().any(|(n, _)| n.contains("session")), "no session");
    restarted.get("/web/login?lang=en").await;
    let english = restarted.login("van-thu", "mật khẩu văn thư 2026").await;
    assert!(english.body.contains("This account is locked after 5 wrong passwords in a row"), "{}", english.body);
    assert!(english.body.contains("Vietnam time, UTC+07:00"), "{}", english.body);
    let log = office.store().audit_entries(0, 100).await.expect("log");
    let locked: Vec<&str> = log.iter().filter(|e| e.action == "web-user.locked").map(|e| e.details.as_str()).collect();
    assert_eq!(locked.len(), 1, "the clerk's lockout is audited, the unknown name's is not: {locked:?}");
}

/// `dd/MM/yyyy HH:mm` in Vietnam time, as the pages show times.
fn html_time(at: OffsetDateTime) -> String {
    let t = at.to_offset(edxml::VIETNAM_OFFSET);
    format!("{:02}/{:02}/{:04} {:02}:{:02}", t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_is_answered_15_or_16_and_16_needs_a_reason() {
    let (net, office, nghe_an) = network().await;
    net.gateway("000.00.00.H14", "UBND tỉnh Cao Bằng").await;
    net.gateway("000.00.00.G17", "Bộ Tư pháp").await;
    clerk(&nghe_an, "van-thu", "mật khẩu Nghệ An 2026").await;
    let (first, document_id, recall_id) = common::document_then_recall(&office, &nghe_an, "VPCP-1").await;
    let inbox_recall = nghe_an.store().incoming(&recall_id).await.expect("read").expect("received").package;
    assert_eq!(inbox_recall.change, store::DocumentChange::Recall);

    let mut reader = Browser::new(&nghe_an);
    reader.login("van-thu", "mật khẩu Nghệ An 2026").await;
    let inbox = reader.get("/web/inbox").await;
    assert!(inbox.body.contains("Nơi gửi đề nghị thu hồi") && inbox.body.contains(">Thu hồi<"), "{}", inbox.body);
    let original_page = reader.get(&format!("/web/inbox/{}", urlencode(&first))).await;
    assert!(original_page.body.contains("Nơi gửi đã đề nghị thu hồi văn bản này"), "{}", original_page.body);
    let path = format!("/web/inbox/{}", urlencode(&recall_id));
    let page = reader.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for offered in ["15 — Đồng ý thu hồi", "16 — Từ chối thu hồi", "Văn bản ban hành nhầm"] {
        assert!(page.body.contains(offered), "{offered}: {}", page.body);
    }
    assert!(!page.body.contains("id=\"code\""), "no 02–06 for a recall");
    let csrf = page.csrf();
    let status = format!("{path}/status");
    let no_reason = reader.post(&status, &[("csrf", &csrf), ("code", "16"), ("description", "  ")]).await;
    assert_eq!(no_reason.status, 400, "{}", no_reason.body);
    assert!(no_reason.body.contains("Từ chối (16) phải nêu lý do"), "{}", no_reason.body);
    let not_for_a_recall = reader.post(&status, &[("csrf", &csrf), ("code", "03")]).await;
    assert!(not_for_a_recall.body.contains("Chọn đồng ý (15) hoặc từ chối (16)"), "{}", not_for_a_recall.body);
    let codes = |answers: Vec<store::OutgoingRecord>| -> Vec<String> {
        answers.into_iter().filter_map(|a| a.package.status_code).collect()
    };
    let sent = codes(nghe_an.store().statuses_sent(&document_id, None, 10).await.expect("answers"));
    assert_eq!(sent, ["01", "01"], "only the receipts: the refused answers queued nothing");
    assert!(
        nghe_an
            .store()
            .document_events(&first, None)
            .await
            .expect("events")
            .iter()
            .all(|e| e.event != "recall-refused")
    );

    let agreed = reader.post(&status, &[("csrf", &csrf), ("code", "15"), ("description", "")]).await;
    assert_eq!((agreed.status, agreed.location().ends_with("?answered=15")), (303, true), "{}", agreed.body);
    let answered = reader.get(agreed.location()).await;
    assert!(answered.body.contains("Đã gửi trạng thái 15 — Đồng ý thu hồi"), "{}", answered.body);
    assert!(answered.body.contains("Đã trả lời: 15 — Đồng ý thu hồi"), "the forms are gone: {}", answered.body);
    let again = reader.post(&status, &[("csrf", &csrf), ("code", "16"), ("description", "nhầm")]).await;
    assert!(again.body.contains("đã được trả lời (15)"), "{}", again.body);
    let gone = reader.get(&format!("/web/inbox/{}", urlencode(&first))).await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert!(gone.body.contains("đã được nơi gửi thu hồi; nội dung đã được hủy lúc"), "{}", gone.body);
    assert!(reader.get("/web/inbox").await.body.contains(">Đã thu hồi<"), "the list shows it recalled");
    let sent = codes(nghe_an.store().statuses_sent(&document_id, None, 10).await.expect("answers"));
    assert_eq!(sent, ["01", "01", "15"]);
    nghe_an.send_due().await.expect("sent");
    office.receive(Duration::from_secs(5)).await.expect("statuses");
    let statuses = office.store().statuses_for(&document_id, None).await.expect("statuses");
    assert!(statuses.iter().any(|s| s.package.subject.as_deref().is_some_and(|t| t.starts_with("15"))), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_document_goes_to_several_recipients_each_known_to_the_hub() {
    let (net, office, nghe_an) = network().await;
    let (justice, _) = net.gateway("000.00.00.G17", "Bộ Tư pháp").await;
    clerk(&office, "van-thu", "mật khẩu văn thư 2026").await;
    let mut sender = Browser::new(&office);
    sender.login("van-thu", "mật khẩu văn thư 2026").await;
    let form = sender.get("/web/send").await;
    assert!(form.body.contains("type=\"checkbox\" name=\"to\" value=\"000.00.00.G17\""), "{}", form.body);
    let (csrf, submission) = (form.csrf(), submission_of(&form));
    let base = document_fields(&csrf, &submission, "Gửi nhiều nơi");
    let without = |fields: &[(&str, &str)]| -> Vec<(String, String)> {
        fields.iter().filter(|(n, _)| *n != "to").map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    };
    let cases: [(&[&str], &str); 3] = [
        (&[], "Chọn ít nhất một đơn vị nhận"),
        (&[NGHE_AN, "000.00.00.X99"], "Đơn vị nhận 000.00.00.X99 không có trong danh sách"),
        (&[NGHE_AN, "khong-phai-ma"], "Đơn vị nhận «khong-phai-ma» không hợp lệ"),
    ];
    for (to, says) in cases {
        let mut fields = without(&base);
        fields.extend(to.iter().map(|code| ("to".to_owned(), (*code).to_owned())));
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let refused = sender.send_form(&borrowed, ("van-ban.pdf", b"%PDF")).await;
        assert_eq!(refused.status, 400, "{to:?}: {}", refused.body);
        assert!(refused.body.contains(says), "{to:?}: {}", refused.body);
        assert!(office.store().due(OffsetDateTime::now_utc(), 10).await.expect("due").is_empty(), "nothing queued");
    }
    let mut fields = without(&base);
    for code in [NGHE_AN, "000.00.00.G17", NGHE_AN] {
        fields.push(("to".to_owned(), code.to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let sent = sender.send_form(&borrowed, ("van-ban.pdf", b"%PDF")).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let queued = office.store().sent(PackageKind::Document, None, 0, 10).await.expect("outbox");
    assert_eq!(queued.len(), 1, "one package");
    assert_eq!(queued[0].package.recipients, [NGHE_AN, "000.00.00.G17"]);
    assert_eq!(office.send_due().await.expect("sent"), 1);
    for gateway in [&nghe_an, &justice] {
        assert_eq!(gateway.receive(Duration::from_secs(5)).await.expect("received"), 1, "{}", gateway.agency());
        let inbox = gateway.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox");
        assert_eq!(inbox[0].package.subject.as_deref(), Some("Gửi nhiều nơi"));
    }
    let outbox = sender.get("/web/outbox").await;
    assert!(outbox.body.contains("UBND tỉnh Nghệ An") && outbox.body.contains("Bộ Tư pháp"), "{}", outbox.body);
}

/// Chromium and the Node modules the end-to-end test needs, or why they are missing.
fn browser_tools() -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let chromium = std::path::PathBuf::from(std::env::var("LIENTHONG_CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/e2e.mjs");
    let modules = script.with_file_name("node_modules").join("playwright-core/package.json");
    if !chromium.exists() {
        return Err(format!("{} is missing (apt-get install chromium)", chromium.display()));
    }
    if !modules.exists() {
        return Err(format!("{} is missing (npm ci in {})", modules.display(), script.with_file_name("").display()));
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is missing (apt-get install nodejs npm)".into());
    }
    Ok((chromium, script))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerks_send_read_and_answer_in_headless_chromium_at_a_phones_width() {
    let (chromium, script) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("CI must run the browser test: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (net, office, nghe_an) = network().await;
    let (justice, _) = net.gateway(JUSTICE, "Bộ Tư pháp").await;
    net.gateway("000.00.00.H14", "UBND tỉnh Cao Bằng").await;
    for gateway in [&office, &nghe_an] {
        tokio::spawn(gateway.clone().run_sender());
        tokio::spawn(gateway.clone().run_receiver());
    }
    let (recall_subject, recalled_id) = recall_waiting_at(&office, &nghe_an).await;
    let office_client = clerk(&office, "van-thu.vpcp", "mật khẩu văn thư 2026").await;
    clerk(&nghe_an, "van-thu.nghean", "mật khẩu Nghệ An 2026").await;
    let (office_url, office_spki) = serve(&net, &office, "Văn phòng Chính phủ").await;
    let (nghe_an_url, nghe_an_spki) = serve(&net, &nghe_an, "UBND tỉnh Nghệ An").await;
    let screenshots = std::env::var("LIENTHONG_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| net.dir.path().join("screenshots"));
    let subject = "V/v thử nghiệm <b>\"liên thông\"</b> & kiểm tra trên điện thoại";
    let file = b"%PDF-1.7\n% lienthong web e2e\n".to_vec();
    let config = serde_json::json!({
        "chromium": chromium,
        "spki": [office_spki, nghe_an_spki],
        "screenshots": screenshots,
        "office": {"url": office_url, "code": OFFICE, "user": "van-thu.vpcp", "password": "mật khẩu văn thư 2026"},
        "ngheAn": {"url": nghe_an_url, "code": NGHE_AN, "user": "van-thu.nghean", "password": "mật khẩu Nghệ An 2026"},
        "second": {"code": JUSTICE, "name": "Bộ Tư pháp"},
        "recall": {"subject": recall_subject, "note": "Đã hủy bản lưu"},
        "document": {
            "number": "27/VPCP-KSTT",
            "subject": subject,
            "content": "Đề nghị UBND tỉnh Nghệ An phối hợp thử nghiệm.",
            "signer": "Trần Văn Sơn",
            "file_name": "cong-van-27.pdf",
            "file_base64": base64::engine::general_purpose::STANDARD.encode(&file),
            "note": "Đã vào sổ văn bản đến số 123",
        },
    });
    let output = run_node(&script, &config.to_string()).await;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser test failed (screenshots in {}):\n{text}", screenshots.display());
    eprintln!("{text}screenshots: {}", screenshots.display());

    let sent = office.store().sent(PackageKind::Document, Some(OFFICE), 0, 10).await.expect("outbox");
    let sent: Vec<_> = sent.into_iter().filter(|s| s.package.client == office_client).collect();
    assert_eq!(sent.len(), 1, "one package for both recipients");
    assert_eq!(
        (sent[0].package.client.as_str(), sent[0].package.recipients.as_slice(), sent[0].package.subject.as_deref()),
        (office_client.as_str(), [JUSTICE.to_owned(), NGHE_AN.to_owned()].as_slice(), Some(subject))
    );
    let document_id = sent[0].package.document_id.clone().expect("document id");
    assert!(document_id.ends_with(",27/VPCP-KSTT"), "{document_id}");
    let received = nghe_an.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox");
    let received: Vec<_> = received.iter().filter(|r| r.package.document_id.as_ref() == Some(&document_id)).collect();
    assert_eq!((received.len(), received[0].acknowledged), (1, true), "read and answered by a clerk");
    justice.receive(Duration::from_secs(5)).await.expect("collected");
    let at_justice = justice.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox");
    assert!(at_justice.iter().any(|r| r.package.subject.as_deref() == Some(subject)), "the second recipient has it");
    let answers: Vec<String> = nghe_an
        .store()
        .statuses_sent(&document_id, None, 10)
        .await
        .expect("answers")
        .into_iter()
        .filter_map(|a| a.package.subject)
        .collect();
    assert_eq!(
        answers,
        ["01 Đã đến", "03 Đã tiếp nhận: Đã vào sổ văn bản đến số 123"],
        "the refusal without a reason was not sent"
    );
    let statuses = office.store().statuses_for(&document_id, None).await.expect("statuses");
    assert_eq!(statuses.last().and_then(|s| s.package.subject.as_deref()), Some(answers[1].as_str()));
    let log = nghe_an.store().audit_entries(0, 100).await.expect("log");
    assert!(
        log.iter().any(|e| e.action == "package.acknowledged" && e.actor == "web:van-thu.nghean"),
        "the message log names the clerk who answered"
    );
    let recalled = nghe_an.store().incoming(&recalled_id).await.expect("read").expect("kept");
    assert!(recalled.destroyed_at.is_some(), "the clerk's 15 destroyed the recalled copy");
}

/// The Office sends the interop sample to Nghệ An (and Cao Bằng and Justice), then recalls it;
/// returns, once the recall is in Nghệ An's inbox, its subject and the recalled copy's package id.
async fn recall_waiting_at(office: &Gateway, nghe_an: &Gateway) -> (String, String) {
    let (original, _) = with_business(edxml::BusinessType::New);
    let (first, _) = office.submit("qlvb", "VPCP-e2e", &original).await.expect("queued");
    let (recall, _) = with_business(edxml::BusinessType::Recall);
    let (recall_id, _) = office.submit("qlvb", "VPCP-e2e-thu-hoi", &recall).await.expect("recall queued");
    for _ in 0..200 {
        if let Some(record) = nghe_an.store().incoming(&recall_id).await.expect("read") {
            return (record.package.subject.expect("subject"), first);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the recall did not reach Nghệ An in 20 s");
}

/// Runs the browser script with `config`, for at most three minutes.
async fn run_node(script: &std::path::Path, config: &str) -> std::process::Output {
    let mut command = std::process::Command::new("node");
    command.arg(script).env("LIENTHONG_E2E", config).current_dir(script.parent().expect("dir"));
    let child =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("node");
    let id = child.id();
    let waited =
        tokio::time::timeout(Duration::from_secs(180), tokio::task::spawn_blocking(move || child.wait_with_output()));
    match waited.await {
        Ok(output) => output.expect("joined").expect("node ran"),
        Err(_) => {
            std::process::Command::new("kill").arg("-9").arg(id.to_string()).status().ok();
            panic!("the browser test did not finish in three minutes");
        }
    }
}

const MINISTRY: &str = "000.00.00.G12";
const UNIT: &str = "000.00.04.G12";

/// The Ministry of Finance's gateway, which also serves its unit (known to the hub through its
/// parent).
async fn ministry_serving_its_unit(net: &Network) -> Arc<Gateway> {
    let now = OffsetDateTime::now_utc();
    for (code, name, parent, mailbox) in
        [(MINISTRY, "Bộ Tài chính", None, Some(MINISTRY)), (UNIT, "Cục Quản lý công sản", Some(MINISTRY), None)]
    {
        let agency = store::AgencyRecord {
            code: code.into(),
            name: name.into(),
            parent: parent.map(str::to_owned),
            mailbox: mailbox.map(str::to_owned),
        };
        store::ExchangeStore::put_agency(net.hub.store(), &agency, now).await.expect("agency");
    }
    net.hub.reload_registry().await.expect("registry");
    net.gateway(MINISTRY, "Bộ Tài chính").await.0
}

/// The sample (new, or a change of it) from the Office to the Ministry and its unit.
fn to_ministry_and_unit(business: edxml::BusinessType) -> Vec<u8> {
    let (package, _) = with_business(business);
    let parsed = edxml::parse(&bytes::Bytes::from(package), &edxml::Limits::default()).expect("parses");
    let edxml::Package::Document(mut document) = parsed.package else { panic!("a document") };
    let organ = |code: &str| edxml::OrganId::from(edxml::AgencyCode::parse(code).expect("code"));
    document.header.to = [MINISTRY, UNIT].map(|code| edxml::model::Organization::with_id(organ(code))).to_vec();
    edxml::write(&edxml::Package::Document(document))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ministrys_15_to_a_recall_leaves_its_units_copy_readable_and_answerable() {
    let (net, office, _) = network().await;
    let ministry = ministry_serving_its_unit(&net).await;
    clerk(&ministry, "van-thu.btc", "mật khẩu Bộ Tài chính").await;
    clerk_of(&ministry, UNIT, "van-thu.cuc", "mật khẩu Cục QLCS 2026").await;
    let wait = Duration::from_secs(5);
    let new = to_ministry_and_unit(edxml::BusinessType::New);
    let (first, _) = office.submit("qlvb", "VPCP-BTC-1", &new).await.expect("queued");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(wait).await.expect("received"), 2);
    let recall = to_ministry_and_unit(edxml::BusinessType::Recall);
    let (recall_id, _) = office.submit("qlvb", "VPCP-BTC-1-thu-hoi", &recall).await.expect("queued");
    office.send_due().await.expect("sent");
    assert_eq!(ministry.receive(wait).await.expect("received"), 2);

    let mut own = Browser::new(&ministry);
    own.login("van-thu.btc", "mật khẩu Bộ Tài chính").await;
    let recall_path = format!("/web/inbox/{}", urlencode(&recall_id));
    let csrf = own.get(&recall_path).await.csrf();
    let agreed =
        own.post(&format!("{recall_path}/status"), &[("csrf", &csrf), ("code", "15"), ("description", "")]).await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);

    let path = format!("/web/inbox/{}", urlencode(&first));
    let gone = own.get(&path).await;
    assert_eq!(gone.status, 410, "the Ministry's copy is destroyed: {}", gone.body);
    assert!(own.get("/web/inbox").await.body.contains("Đã thu hồi"), "shown as recalled to the Ministry");
    let mut unit = Browser::new(&ministry);
    unit.login("van-thu.cuc", "mật khẩu Cục QLCS 2026").await;
    let page = unit.get(&path).await;
    assert_eq!(page.status, 200, "the unit's copy is still there: {}", page.body);
    assert!(page.body.contains("Nơi gửi đã đề nghị thu hồi văn bản này"), "its recall still asked: {}", page.body);
    assert!(!unit.get("/web/inbox").await.body.contains("Đã thu hồi"), "not recalled for the unit");

    // The unit refuses the recall (with a reason): its copy stays.
    let csrf = unit.get(&recall_path).await.csrf();
    let form = [("csrf", csrf.as_str()), ("code", "16"), ("description", "Đang xử lý")];
    let refused = unit.post(&format!("{recall_path}/status"), &form).await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let page = unit.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Đã từ chối đề nghị thu hồi văn bản này"), "{}", page.body);
    assert_eq!(own.get(&path).await.status, 410, "the Ministry's copy stays destroyed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_clerk_reads_only_the_units_mail_and_sends_only_as_the_unit() {
    let (net, office, _) = network().await;
    let ministry = ministry_serving_its_unit(&net).await;
    clerk(&office, "van-thu.vpcp", "mật khẩu văn thư 2026").await;
    clerk(&ministry, "van-thu.btc", "mật khẩu Bộ Tài chính").await;
    clerk_of(&ministry, UNIT, "van-thu.cuc", "mật khẩu Cục QLCS 2026").await;

    let mut sender = Browser::new(&office);
    sender.login("van-thu.vpcp", "mật khẩu văn thư 2026").await;
    for (to, subject) in [(MINISTRY, "Gửi Bộ Tài chính"), (UNIT, "Gửi Cục Quản lý công sản")] {
        let form = sender.get("/web/send").await;
        let (csrf, submission) = (form.csrf(), submission_of(&form));
        let mut fields = document_fields(&csrf, &submission, subject);
        fields[2].1 = to;
        let sent = sender.send_form(&fields, ("van-ban.pdf", b"%PDF")).await;
        assert_eq!(sent.status, 303, "{}", sent.body);
    }
    assert_eq!(office.send_due().await.expect("sent"), 2);
    assert_eq!(ministry.receive(Duration::from_secs(5)).await.expect("received"), 2);
    let id_of = |subject: &'static str| {
        let ministry = ministry.clone();
        async move {
            let all = ministry.store().received(PackageKind::Document, None, 0, 10).await.expect("inbox");
            all.into_iter()
                .find(|r| r.package.subject.as_deref() == Some(subject))
                .expect("received")
                .package
                .package_id
        }
    };
    let ministry_mail = id_of("Gửi Bộ Tài chính").await;

    let mut unit = Browser::new(&ministry);
    unit.login("van-thu.cuc", "mật khẩu Cục QLCS 2026").await;
    let inbox = unit.get("/web/inbox").await;
    assert!(inbox.body.contains("Gửi Cục Quản lý công sản"), "{}", inbox.body);
    assert!(!inbox.body.contains("Gửi Bộ Tài chính"), "the Ministry's mail is not the unit's: {}", inbox.body);
    let path = format!("/web/inbox/{}", urlencode(&ministry_mail));
    let page = unit.get(&path).await;
    assert_eq!(page.status, 404, "as an unknown package");
    let csrf = unit.get("/web/inbox").await.csrf();
    let answer = unit.post(&format!("{path}/status"), &[("csrf", &csrf), ("code", "03")]).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(!ministry.store().incoming_for(&ministry_mail, MINISTRY).await.expect("read").expect("held").acknowledged);

    let form = unit.get("/web/send").await;
    let (csrf, submission) = (form.csrf(), submission_of(&form));
    let mut fields = document_fields(&csrf, &submission, "Báo cáo của Cục");
    fields[2].1 = OFFICE;
    let sent = unit.send_form(&fields, ("bao-cao.pdf", b"%PDF")).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let outbox = ministry.store().sent(PackageKind::Document, None, 0, 10).await.expect("outbox");
    assert_eq!(outbox.iter().map(|o| o.package.sender.as_str()).collect::<Vec<_>>(), [UNIT], "sent as the unit");
    let mut own = Browser::new(&ministry);
    own.login("van-thu.btc", "mật khẩu Bộ Tài chính").await;
    let outbox = own.get("/web/outbox").await;
    assert!(!outbox.body.contains("Báo cáo của Cục"), "the unit's outbox is not the Ministry's: {}", outbox.body);
    assert!(own.get("/web/inbox").await.body.contains("Gửi Bộ Tài chính"));

    // Once the hub gives the unit a gateway of its own, the Ministry's no longer sends for it
    // (restarted, so the hub's earlier answer is not reused from memory).
    net.gateway(UNIT, "Cục Quản lý công sản").await;
    let own_gateway = store::AgencyRecord {
        code: UNIT.into(),
        name: "Cục Quản lý công sản".into(),
        parent: Some(MINISTRY.into()),
        mailbox: Some(UNIT.into()),
    };
    store::ExchangeStore::put_agency(net.hub.store(), &own_gateway, OffsetDateTime::now_utc()).await.expect("agency");
    net.hub.reload_registry().await.expect("registry");
    let (store, blobs) = common::store(net.dir.path(), MINISTRY).await;
    let (restarted, _) = net.gateway_over(MINISTRY, "Bộ Tài chính", store, blobs).await;
    let mut unit = Browser::new(&restarted);
    unit.login("van-thu.cuc", "mật khẩu Cục QLCS 2026").await;
    let form = unit.get("/web/send").await;
    let (csrf, submission) = (form.csrf(), submission_of(&form));
    let mut fields = document_fields(&csrf, &submission, "Báo cáo thứ hai của Cục");
    fields[2].1 = OFFICE;
    let refused = unit.send_form(&fields, ("bao-cao.pdf", b"%PDF")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("không (còn) gửi văn bản thay đơn vị 000.00.04.G12"), "{}", refused.body);
    let outbox = restarted.store().sent(PackageKind::Document, None, 0, 10).await.expect("outbox");
    assert_eq!(outbox.len(), 1, "nothing more queued");
}
