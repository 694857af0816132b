//! Documents sent: the send form (an edXML document package for one or several recipients, built
//! from the clerk's fields and file, then signed, sealed and queued like any package), and the outbox with each recipient's
//! latest status as it comes back. Also the hub's agency registry, for names and recipients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use edxml::model::{
    Attachment, Business, Code, DocumentHeader, DocumentPackage, DocumentType, Manifest, Organization, OtherInfo,
    PromulgationInfo, SignerInfo, TraceHeader, TraceHeaderList,
};
use edxml::{AgencyCode, BusinessType, DocumentNumber, OrganId, Package, Priority, VnDate, VnTimestamp};
use serde::Deserialize;
use store::{GatewayStore as _, IncomingRecord, OutgoingRecord, PackageKind};
use time::OffsetDateTime;

use super::auth::{self, Clerk};
use super::html::{self, Html, Lang, Nav, local_time};
use super::inbox::status_badge;
use super::{MAX_UPLOAD_BYTES, Web, WebError, chrome, html_page, respond, see_other};
use crate::{Gateway, GatewayError};

/// Documents per page.
const PAGE: u32 = 20;
/// How long the hub's registry is reused before it is asked again.
const DIRECTORY_TTL: Duration = Duration::from_secs(60);
/// How long to wait for the hub's registry.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most recipients of one document sent from the web.
const MAX_RECIPIENTS: usize = 200;
/// Longest text field (the content); the others are shorter.
const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Kinds of administrative documents (Decree 30/2020), Vietnamese and English.
const DOCUMENT_TYPES: [(&str, &str); 11] = [
    ("Công văn", "Official letter"),
    ("Quyết định", "Decision"),
    ("Thông báo", "Notice"),
    ("Tờ trình", "Submission"),
    ("Báo cáo", "Report"),
    ("Kế hoạch", "Plan"),
    ("Giấy mời", "Invitation"),
    ("Chỉ thị", "Directive"),
    ("Hướng dẫn", "Guidance"),
    ("Công điện", "Official dispatch"),
    ("Biên bản", "Minutes"),
];

/// An agency of the hub's registry.
#[derive(Debug, Clone)]
pub(crate) struct Agency {
    code: String,
    name: String,
}

/// The hub's registry, fetched at most once a minute.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    cache: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Agency>>)>>,
}

impl Directory {
    /// The registry; a stale copy if the hub cannot be reached now.
    async fn agencies(&self, gateway: &Gateway) -> Result<Arc<Vec<Agency>>, GatewayError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, list)) = cache.as_ref()
            && at.elapsed() < DIRECTORY_TTL
        {
            return Ok(list.clone());
        }
        let fetched = tokio::time::timeout(DIRECTORY_TIMEOUT, gateway.hub_agencies()).await;
        match fetched {
            Ok(Ok(value)) => {
                let list = Arc::new(parse_agencies(&value));
                *cache = Some((Instant::now(), list.clone()));
                Ok(list)
            }
            Ok(Err(error)) => cache.as_ref().map(|(_, list)| list.clone()).ok_or(error),
            Err(_) => cache
                .as_ref()
                .map(|(_, list)| list.clone())
                .ok_or_else(|| GatewayError::Hub("the registry did not answer in time".into())),
        }
    }

    /// Agency names, or none if the hub cannot be reached (pages then show codes).
    pub(crate) async fn names(&self, gateway: &Gateway) -> AgencyNames {
        AgencyNames(self.agencies(gateway).await.unwrap_or_default())
    }

    /// The name of the agency `code`.
    pub(crate) async fn name_of(&self, gateway: &Gateway, code: &str) -> Option<String> {
        self.names(gateway).await.name(code).map(str::to_owned)
    }
}

fn parse_agencies(value: &serde_json::Value) -> Vec<Agency> {
    let mut list: Vec<Agency> = value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| {
                    let code = a["code"].as_str()?.to_owned();
                    let name = a["name"].as_str().filter(|n| !n.trim().is_empty()).unwrap_or(&code).to_owned();
                    Some(Agency { code, name })
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// Names of the hub's agencies, by code.
#[derive(Debug, Default)]
pub(crate) struct AgencyNames(Arc<Vec<Agency>>);

impl AgencyNames {
    fn name(&self, code: &str) -> Option<&str> {
        self.0.iter().find(|a| a.code == code).map(|a| a.name.as_str()).filter(|n| *n != code)
    }

    /// `Name (code)`, or the code alone.
    pub(crate) fn describe(&self, code: &str) -> String {
        match self.name(code) {
            Some(name) => format!("{name} ({code})"),
            None => code.to_owned(),
        }
    }

    /// The name of the clerk's agency.
    pub(crate) fn own(&self, clerk: &Clerk) -> Option<&str> {
        self.name(clerk.agency.as_str())
    }
}

/// The number and notation of a DocumentId of the usual `OrganId,yyyy/MM/dd,Number/Notation`
/// shape.
pub(crate) fn number_of(document_id: Option<&str>) -> Option<String> {
    let number = document_id?.splitn(3, ',').nth(2)?;
    DocumentNumber::parse(number).ok().map(|n| n.to_string())
}

#[derive(Debug, Deserialize)]
pub(crate) struct OutboxQuery {
    before: Option<i64>,
    sent: Option<String>,
}

/// `GET /web/outbox`: the documents sent, with each recipient's latest status.
pub(crate) async fn list(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Response {
    respond(lang, list_page(&web, lang, &headers, query).await)
}

async fn list_page(
    web: &Web,
    lang: Lang,
    headers: &HeaderMap,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Response, WebError> {
    let clerk = auth::clerk(web, headers).await?;
    let Query(query) = query.map_err(|_| WebError::bad("Số trang không hợp lệ.", "Invalid page."))?;
    let sender = Some(clerk.agency.as_str());
    let items = web.gateway.store().sent(PackageKind::Document, sender, query.before.unwrap_or(0), PAGE).await?;
    let names = web.directory.names(&web.gateway).await;
    let mut h = html::begin(&chrome(lang, &clerk, names.own(&clerk), Nav::Outbox), lang.pick("Văn bản đi", "Outbox"));
    if query.sent.is_some() {
        let (vi, en) = (
            "Đã nhận văn bản để gửi. Trạng thái của nơi nhận sẽ hiện dưới đây khi họ phản hồi.",
            "The document is queued for sending. Each recipient's status shows below as it answers.",
        );
        h.el("<p class=\"notice\" role=\"status\">", lang.pick(vi, en), "</p>");
    }
    if items.is_empty() {
        h.el("<p class=\"empty\">", lang.pick("Chưa gửi văn bản nào.", "No documents sent yet."), "</p>");
    }
    h.raw("<ul class=\"items\">");
    for item in &items {
        let statuses = match item.package.document_id.as_deref() {
            Some(document_id) => web.gateway.store().statuses_for(document_id, sender).await?,
            None => Vec::new(),
        };
        sent_item(&mut h, lang, &names, item, &statuses);
    }
    h.raw("</ul>");
    if items.len() == PAGE as usize
        && let Some(last) = items.last()
    {
        h.raw("<p class=\"more\"><a href=\"/web/outbox?before=").text(&last.position.to_string()).raw("\">");
        h.raw(lang.pick("Cũ hơn →", "Older →")).raw("</a></p>");
    }
    Ok(html_page(html::end(h)))
}

fn sent_item(h: &mut Html, lang: Lang, names: &AgencyNames, item: &OutgoingRecord, statuses: &[IncomingRecord]) {
    let p = &item.package;
    h.raw("<li class=\"item sent\"><div class=\"meta\">");
    h.el("<span class=\"number\">", &number_of(p.document_id.as_deref()).unwrap_or_default(), "</span>");
    h.el("<time>", &local_time(item.queued_at), "</time></div>");
    h.el("<div class=\"subject\">", p.subject.as_deref().unwrap_or("—"), "</div>");
    let state = match (item.sent_at, item.attempts) {
        (Some(at), _) => format!("{} {}", lang.pick("Đã chuyển lên trục lúc", "Handed to the hub at"), local_time(at)),
        (None, 0) => lang.pick("Đang chờ gửi", "Waiting to be sent").to_owned(),
        (None, n) => match lang {
            Lang::Vi => format!("Đang thử gửi lại ({n} lần chưa được)"),
            Lang::En => format!("Retrying ({n} failed attempts)"),
        },
    };
    h.el("<div class=\"state\">", &state, "</div><ul class=\"recipients\">");
    for recipient in &p.recipients {
        h.el("<li><span class=\"to\">", &names.describe(recipient), "</span> ");
        match statuses.iter().rev().find(|s| &s.package.sender == recipient) {
            Some(latest) => {
                status_badge(h, lang, latest.package.subject.as_deref().unwrap_or_default());
                h.el(" <time>", &local_time(latest.received_at), "</time>");
            }
            None => {
                h.el("<span class=\"status\">", lang.pick("Chưa có phản hồi", "No answer yet"), "</span>");
            }
        }
        h.raw("</li>");
    }
    h.raw("</ul></li>");
}

/// What the clerk typed, kept to show the form again if something is wrong.
#[derive(Debug, Default)]
pub(crate) struct SendInput {
    csrf: String,
    submission: String,
    to: Vec<String>,
    number: String,
    doc_type: String,
    subject: String,
    content: String,
    signer: String,
    position: String,
    priority: String,
    due: String,
    file: Option<Upload>,
}

/// The attached file.
#[derive(Debug)]
struct Upload {
    name: String,
    data: Vec<u8>,
}

/// `GET /web/send`: the send form.
pub(crate) async fn form(State(web): State<Web>, Extension(lang): Extension<Lang>, headers: HeaderMap) -> Response {
    let outcome = async {
        let clerk = auth::clerk(&web, &headers).await?;
        let input = SendInput { submission: auth::random_token(16)?, ..SendInput::default() };
        form_page(&web, lang, &clerk, &input, None).await
    };
    respond(lang, outcome.await)
}

/// The send form, filled with `input`, with `error` above it.
async fn form_page(
    web: &Web,
    lang: Lang,
    clerk: &Clerk,
    input: &SendInput,
    error: Option<&WebError>,
) -> Result<Response, WebError> {
    let agencies = web.directory.agencies(&web.gateway).await?;
    let names = AgencyNames(agencies.clone());
    let mut h =
        html::begin(&chrome(lang, clerk, names.own(clerk), Nav::Send), lang.pick("Gửi văn bản", "Send a document"));
    if let Some(error) = error {
        let (vi, en) = error.message();
        h.el("<p class=\"error\" role=\"alert\">", lang.pick(&vi, &en), "</p>");
    }
    h.raw("<form method=\"post\" action=\"/web/send\" enctype=\"multipart/form-data\" class=\"card form\">");
    h.hidden("csrf", &clerk.csrf).hidden("submission", &input.submission);
    recipients(&mut h, lang, clerk.agency.as_str(), &agencies, &input.to);
    label(&mut h, "number", lang.pick("Số, ký hiệu", "Number"));
    h.raw("<input id=\"number\" name=\"number\" required maxlength=\"100\" placeholder=\"15/UBND-VP\" autocapitalize=\"characters\" value=\"");
    h.text(&input.number).raw("\">");
    label(&mut h, "doc_type", lang.pick("Loại văn bản", "Type"));
    h.raw("<select id=\"doc_type\" name=\"doc_type\" required>");
    for (vi, en) in DOCUMENT_TYPES {
        h.option(vi, lang.pick(vi, en), input.doc_type == vi);
    }
    h.raw("</select>");
    label(&mut h, "subject", lang.pick("Trích yếu", "Subject"));
    h.raw("<textarea id=\"subject\" name=\"subject\" required maxlength=\"1000\" rows=\"3\">");
    h.text(&input.subject).raw("</textarea>");
    label(&mut h, "content", lang.pick("Nội dung tóm tắt (không bắt buộc)", "Summary (optional)"));
    h.raw("<textarea id=\"content\" name=\"content\" maxlength=\"10000\" rows=\"4\">")
        .text(&input.content)
        .raw("</textarea>");
    label(&mut h, "signer", lang.pick("Người ký", "Signed by"));
    h.raw("<input id=\"signer\" name=\"signer\" required maxlength=\"200\" autocomplete=\"name\" value=\"");
    h.text(&input.signer).raw("\">");
    label(&mut h, "position", lang.pick("Chức vụ người ký (không bắt buộc)", "Signer's title (optional)"));
    h.raw("<input id=\"position\" name=\"position\" maxlength=\"200\" value=\"").text(&input.position).raw("\">");
    priority_and_due(&mut h, lang, input);
    label(&mut h, "file", lang.pick("Tệp văn bản (PDF, tối đa 40 MB)", "Document file (PDF, up to 40 MB)"));
    h.raw("<input id=\"file\" name=\"file\" type=\"file\" required>");
    h.el(
        "<p class=\"hint\">",
        lang.pick(
            "Không gửi văn bản có độ mật (Mật, Tối mật, Tuyệt mật) qua trục liên thông.",
            "Never send state-secret documents (Mật, Tối mật, Tuyệt mật) over the exchange.",
        ),
        "</p>",
    );
    h.raw("<button type=\"submit\">").raw(lang.pick("Ký số và gửi", "Seal and send")).raw("</button></form>");
    let status = error.map_or(StatusCode::OK, WebError::status);
    Ok((status, super::page_headers(), html::end(h)).into_response())
}

/// The recipients as checkboxes (several may be chosen; no script needed), `chosen` ticked.
fn recipients(h: &mut Html, lang: Lang, own: &str, agencies: &[Agency], chosen: &[String]) {
    h.raw("<fieldset class=\"recipients-choice\" id=\"to\"><legend>");
    h.text(lang.pick("Nơi nhận (chọn một hoặc nhiều đơn vị)", "To (one or more agencies)")).raw("</legend>");
    for agency in agencies.iter().filter(|a| a.code != own) {
        let ticked = chosen.iter().any(|c| c.trim() == agency.code);
        h.raw("<label class=\"choice\"><input type=\"checkbox\" name=\"to\" value=\"").text(&agency.code);
        h.raw(if ticked { "\" checked> " } else { "\"> " });
        h.el("<span>", &agency.name, "</span>").el(" <span class=\"code\">", &agency.code, "</span></label>");
    }
    h.raw("</fieldset>");
}

fn label(h: &mut Html, id: &'static str, text: &str) {
    h.raw("<label for=\"").raw(id).raw("\">").text(text).raw("</label>");
}

fn priority_and_due(h: &mut Html, lang: Lang, input: &SendInput) {
    h.raw("<div class=\"pair\"><div>");
    label(h, "priority", lang.pick("Độ khẩn", "Urgency"));
    h.raw("<select id=\"priority\" name=\"priority\">");
    for priority in Priority::ALL {
        let selected =
            input.priority == priority.as_str() || (input.priority.is_empty() && *priority == Priority::Normal);
        h.option(priority.as_str(), lang.pick(priority.label_vi(), priority.label_en()), selected);
    }
    h.raw("</select></div><div>");
    label(h, "due", lang.pick("Hạn xử lý", "Due"));
    h.raw("<input id=\"due\" name=\"due\" type=\"date\" value=\"").text(&input.due).raw("\"></div></div>");
}

/// `POST /web/send`: builds the document package, then signs, seals and queues it.
pub(crate) async fn send(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let outcome = async {
        let clerk = auth::clerk(&web, &headers).await?;
        let multipart = multipart.map_err(|_| WebError::StaleForm)?;
        let input = read_form(multipart).await?;
        auth::check_csrf(&clerk.csrf, &input.csrf)?;
        match submit(&web, &clerk, &input).await {
            Ok(package_id) => Ok(see_other(&format!("/web/outbox?sent={}", html::url_segment(&package_id)))),
            Err(error @ (WebError::BadInput(..) | WebError::Gateway(_))) => {
                form_page(&web, lang, &clerk, &input, Some(&error)).await
            }
            Err(other) => Err(other),
        }
    };
    respond(lang, outcome.await)
}

fn too_large(error: &MultipartError) -> WebError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::bad("Tệp quá lớn: tối đa 40 MB.", "The file is too large: 40 MB at most.")
    } else {
        WebError::bad("Biểu mẫu gửi lên bị hỏng; vui lòng thử lại.", "The form arrived damaged; please try again.")
    }
}

async fn read_form(mut multipart: Multipart) -> Result<SendInput, WebError> {
    let mut input = SendInput::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| too_large(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let data = read_field(field, MAX_UPLOAD_BYTES).await?;
            if !file_name.is_empty() || !data.is_empty() {
                input.file = Some(Upload { name: file_name, data });
            }
            continue;
        }
        let bytes = read_field(field, MAX_TEXT_BYTES).await?;
        let text = String::from_utf8(bytes)
            .map_err(|_| WebError::bad("Biểu mẫu có ký tự không hợp lệ.", "The form holds invalid characters."))?;
        if name == "to" {
            if input.to.len() >= MAX_RECIPIENTS {
                return Err(WebError::bad(
                    format!("Chọn tối đa {MAX_RECIPIENTS} đơn vị nhận trong một lần gửi."),
                    format!("Choose at most {MAX_RECIPIENTS} recipients in one send."),
                ));
            }
            input.to.push(text);
            continue;
        }
        let slot = match name.as_str() {
            "csrf" => &mut input.csrf,
            "submission" => &mut input.submission,
            "number" => &mut input.number,
            "doc_type" => &mut input.doc_type,
            "subject" => &mut input.subject,
            "content" => &mut input.content,
            "signer" => &mut input.signer,
            "position" => &mut input.position,
            "priority" => &mut input.priority,
            "due" => &mut input.due,
            _ => return Err(WebError::bad("Biểu mẫu có trường lạ.", "The form has an unknown field.")),
        };
        *slot = text;
    }
    Ok(input)
}

async fn read_field(mut field: Field<'_>, limit: usize) -> Result<Vec<u8>, WebError> {
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| too_large(&e))? {
        if data.len() + chunk.len() > limit {
            return Err(WebError::bad(
                "Một trường hoặc tệp của biểu mẫu quá lớn (tệp tối đa 40 MB).",
                "A field or the file is too large (files up to 40 MB).",
            ));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// Checks the form, builds the package and hands it to the gateway; the package id.
async fn submit(web: &Web, clerk: &Clerk, input: &SendInput) -> Result<String, WebError> {
    let now = OffsetDateTime::now_utc();
    let checked = check(input, &clerk.agency, VnTimestamp::from_instant(now).date())?;
    let agencies = web.directory.agencies(&web.gateway).await?;
    if let Some(unknown) = checked.to.iter().find(|code| !agencies.iter().any(|a| a.code == code.as_str())) {
        return Err(WebError::bad(
            format!("Đơn vị nhận {unknown} không có trong danh sách của trục liên thông; chưa gửi gì."),
            format!("Recipient {unknown} is not in the hub's registry; nothing was sent."),
        ));
    }
    let names = AgencyNames(agencies);
    let package = build(&checked, &clerk.agency, &names, VnTimestamp::from_instant(now));
    let edxml = edxml::write(&Package::Document(package));
    let reference = format!("web:{}", input.submission);
    Ok(web.gateway.submit_as(&clerk.user.client, clerk.agency.as_str(), &reference, edxml.into()).await?.0)
}

/// The form's values, each as the type that proves it is right.
#[derive(Debug)]
struct Checked<'a> {
    to: Vec<AgencyCode>,
    number: DocumentNumber,
    doc_type: &'static str,
    subject: &'a str,
    content: Option<&'a str>,
    signer: &'a str,
    position: Option<&'a str>,
    priority: Priority,
    due: Option<VnDate>,
    file: &'a Upload,
}

fn required<'a>(value: &'a str, max_chars: usize, vi: &str, en: &str) -> Result<&'a str, WebError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(WebError::bad(format!("Chưa nhập {vi}."), format!("{en} is required.")));
    }
    if value.chars().count() > max_chars {
        return Err(WebError::bad(
            format!("{vi} dài quá {max_chars} ký tự."),
            format!("{en} is longer than {max_chars} characters."),
        ));
    }
    Ok(value)
}

fn optional<'a>(value: &'a str, max_chars: usize, vi: &str, en: &str) -> Result<Option<&'a str>, WebError> {
    if value.trim().is_empty() { Ok(None) } else { required(value, max_chars, vi, en).map(Some) }
}

fn check<'a>(input: &'a SendInput, own: &AgencyCode, today: VnDate) -> Result<Checked<'a>, WebError> {
    let submission_ok = (16..=64).contains(&input.submission.len())
        && input.submission.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !submission_ok {
        return Err(WebError::StaleForm);
    }
    let to = recipients_of(&input.to, own)?;
    let number = DocumentNumber::parse(input.number.trim()).map_err(|e| {
        WebError::bad(
            format!("Số, ký hiệu «{}» không hợp lệ: cần dạng số/ký hiệu, ví dụ 15/UBND-VP.", input.number.trim()),
            format!("Number {:?}: {e}", input.number.trim()),
        )
    })?;
    let doc_type = DOCUMENT_TYPES
        .iter()
        .map(|(vi, _)| *vi)
        .find(|vi| *vi == input.doc_type)
        .ok_or_else(|| WebError::bad("Chọn loại văn bản trong danh sách.", "Choose the type from the list."))?;
    let priority = match input.priority.trim() {
        "" => Priority::Normal,
        text => Priority::parse(text)
            .map_err(|_| WebError::bad("Chọn độ khẩn trong danh sách.", "Choose the urgency from the list."))?,
    };
    Ok(Checked {
        to,
        number,
        doc_type,
        subject: required(&input.subject, 1000, "trích yếu", "The subject")?,
        content: optional(&input.content, 10_000, "Nội dung", "The summary")?,
        signer: required(&input.signer, 200, "người ký", "The signer")?,
        position: optional(&input.position, 200, "Chức vụ", "The signer's title")?,
        priority,
        due: due_date(&input.due, today)?,
        file: checked_file(input.file.as_ref())?,
    })
}

/// The chosen recipients, each once: at least one, each an agency code, not this agency.
fn recipients_of(chosen: &[String], own: &AgencyCode) -> Result<Vec<AgencyCode>, WebError> {
    let mut to: Vec<AgencyCode> = Vec::with_capacity(chosen.len());
    for text in chosen.iter().map(|t| t.trim()) {
        let code = AgencyCode::parse(text).ok().filter(|code| code != own).ok_or_else(|| {
            WebError::bad(
                format!("Đơn vị nhận «{text}» không hợp lệ: chọn đơn vị nhận trong danh sách."),
                format!("Recipient {text:?} is not valid: choose the recipients from the list."),
            )
        })?;
        if !to.contains(&code) {
            to.push(code);
        }
    }
    if to.is_empty() {
        return Err(WebError::bad("Chọn ít nhất một đơn vị nhận.", "Choose at least one recipient."));
    }
    Ok(to)
}

/// The due date from the form's `yyyy-mm-dd`; not before today.
fn due_date(text: &str, today: VnDate) -> Result<Option<VnDate>, WebError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        WebError::bad(format!("Hạn xử lý «{text}» không phải là ngày."), format!("Due date {text:?} is not a date."))
    };
    let date = VnDate::parse(&text.replace('-', "/")).map_err(|_| bad())?;
    if date < today {
        return Err(WebError::bad("Hạn xử lý không được trước hôm nay.", "The due date cannot be before today."));
    }
    Ok(Some(date))
}

fn checked_file(file: Option<&Upload>) -> Result<&Upload, WebError> {
    let file = file.filter(|f| !f.data.is_empty()).ok_or_else(|| {
        WebError::bad("Chưa chọn tệp văn bản (hoặc tệp rỗng).", "No file chosen (or the file is empty).")
    })?;
    let name = file.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.contains('/') || edxml::unsafe_path_reason(name).is_some()
    {
        return Err(WebError::bad(
            "Tên tệp không hợp lệ; hãy đổi tên tệp (không chứa / \\ hoặc ký tự đặc biệt) rồi chọn lại.",
            "The file name is not acceptable; rename the file (no / \\ or special characters) and choose it again.",
        ));
    }
    Ok(file)
}

/// The document package the form describes, sent by `agency` now.
fn build(c: &Checked<'_>, agency: &AgencyCode, names: &AgencyNames, now: VnTimestamp) -> DocumentPackage {
    let organization = |code: &AgencyCode| Organization {
        organ_name: names.name(code.as_str()).map(str::to_owned),
        ..Organization::with_id(OrganId::from(code.clone()))
    };
    let today = now.date();
    let document_id = format!("{agency},{today},{}", c.number);
    let attachment =
        Attachment::from_file("1", c.file.name.trim(), edxml::content_type_for(&c.file.name), &c.file.data);
    let header = DocumentHeader {
        from: Some(organization(agency)),
        to: c.to.iter().map(organization).collect(),
        document_id: Some(document_id.clone()),
        code: Some(Code {
            number: Some(c.number.number().to_string()),
            notation: Some(c.number.notation().to_owned()),
        }),
        promulgation: Some(PromulgationInfo { place: None, date: Some(today) }),
        document_type: Some(DocumentType { kind: Some(1), detail: None, name: Some(c.doc_type.to_owned()) }),
        subject: Some(c.subject.to_owned()),
        content: c.content.map(str::to_owned),
        signer: Some(SignerInfo {
            competence: None,
            position: c.position.map(str::to_owned),
            full_name: Some(c.signer.to_owned()),
        }),
        due_date: c.due,
        other_info: Some(OtherInfo { priority: Some(c.priority), ..OtherInfo::default() }),
        ..DocumentHeader::default()
    };
    let business =
        Business { document_id: Some(document_id), doc_type: Some(BusinessType::New), ..Business::default() };
    let trace = TraceHeaderList {
        traces: vec![TraceHeader { organ_id: Some(OrganId::from(agency.clone())), timestamp: Some(now) }],
        business: Some(business),
    };
    DocumentPackage {
        header,
        trace: Some(trace),
        signature: None,
        manifest: Some(Manifest { version: Some("1.0".into()), references: vec![attachment.manifest_reference()] }),
        attachments: vec![attachment],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SendInput {
        SendInput {
            submission: "0123456789abcdef0123".into(),
            to: vec!["000.00.00.H41".into(), "000.00.00.G17".into(), "000.00.00.H41".into()],
            number: "15/VPCP-TTĐT".into(),
            doc_type: "Công văn".into(),
            subject: "V/v kết nối <liên thông>".into(),
            signer: "Nguyễn Văn A".into(),
            file: Some(Upload { name: "cong-van.pdf".into(), data: b"%PDF-1.7".to_vec() }),
            ..SendInput::default()
        }
    }

    fn today() -> VnDate {
        VnDate::parse("2026/01/05").expect("date")
    }

    #[test]
    fn a_filled_form_builds_a_package_that_validates() {
        let own = AgencyCode::parse("000.00.00.G22").expect("code");
        let form = input();
        let checked = check(&form, &own, today()).expect("valid");
        let now = VnTimestamp::parse("2026/01/05 09:30:00").expect("time");
        let package = Package::Document(build(&checked, &own, &AgencyNames::default(), now));
        let findings = edxml::validate(&package, &edxml::ZipLimits::default());
        assert!(findings.is_empty(), "{findings:?}");
        let Package::Document(doc) = package else { unreachable!("built a document") };
        assert_eq!(doc.header.document_id.as_deref(), Some("000.00.00.G22,2026/01/05,15/VPCP-TTĐT"));
        assert_eq!(number_of(doc.header.document_id.as_deref()).as_deref(), Some("15/VPCP-TTĐT"));
        let to: Vec<String> = doc.header.to.iter().filter_map(|o| o.organ_id.as_ref()).map(|o| o.to_string()).collect();
        assert_eq!(to, ["000.00.00.H41", "000.00.00.G17"], "each chosen recipient once, in order");
    }

    #[test]
    fn each_mistake_is_named() {
        let own = AgencyCode::parse("000.00.00.G22").expect("code");
        type Mistake = fn(&mut SendInput);
        let cases: [(&str, Mistake); 10] = [
            ("đơn vị nhận", |i| i.to.push("000.00.00.G22".into())),
            ("đơn vị nhận", |i| i.to = vec!["Nghệ An".into()]),
            ("ít nhất một đơn vị nhận", |i| i.to.clear()),
            ("Số, ký hiệu", |i| i.number = "mười lăm".into()),
            ("loại văn bản", |i| i.doc_type = "Thư tình".into()),
            ("trích yếu", |i| i.subject = "  ".into()),
            ("người ký", |i| i.signer = String::new()),
            ("Hạn xử lý", |i| i.due = "2026-01-04".into()),
            ("tệp", |i| i.file = None),
            ("Tên tệp", |i| i.file = Some(Upload { name: "../x.pdf".into(), data: vec![1] })),
        ];
        for (named, mistake) in cases {
            let mut form = input();
            mistake(&mut form);
            match check(&form, &own, today()) {
                Err(WebError::BadInput(vi, _)) => assert!(vi.contains(named), "{named}: {vi}"),
                other => panic!("{named}: {other:?}"),
            }
        }
    }
}
