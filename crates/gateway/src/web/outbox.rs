//! Documents sent: the send form (an edXML document package for one or several recipients, built
//! from the clerk's fields and file, then signed, sealed and queued like any package), and the outbox with each recipient's
//! latest status as it comes back. Also the hub's agency registry, for names and recipients.

use axum::Extension;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use edxml::{DocumentNumber, Package, Priority, VnTimestamp};
use serde::Deserialize;
use store::{GatewayStore as _, IncomingRecord, OutgoingRecord, PackageKind};
use time::OffsetDateTime;

use super::auth::{self, Clerk};
use super::html::{self, Html, Lang, Nav, local_time};
use super::inbox::status_badge;
use super::{MAX_UPLOAD_BYTES, Web, WebError, chrome, html_page, respond, see_other};
use crate::compose::{self, ComposeError, DOCUMENT_TYPES, Fields, MAX_RECIPIENTS, Upload};
use crate::directory::{Agency, AgencyNames};

/// Documents per page.
const PAGE: u32 = 20;
/// Longest text field (the content); the others are shorter.
const MAX_TEXT_BYTES: usize = 16 * 1024;
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
    let names = web.gateway.agency_names().await;
    let mut h = html::begin(
        &chrome(lang, &clerk, names.name(clerk.agency.as_str()), Nav::Outbox),
        lang.pick("Văn bản đi", "Outbox"),
    );
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
    fields: Fields,
    file: Option<Upload>,
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
    let agencies = web.gateway.registered_agencies().await?;
    let names = AgencyNames(agencies.clone());
    let mut h = html::begin(
        &chrome(lang, clerk, names.name(clerk.agency.as_str()), Nav::Send),
        lang.pick("Gửi văn bản", "Send a document"),
    );
    if let Some(error) = error {
        let (vi, en) = error.message();
        h.el("<p class=\"error\" role=\"alert\">", lang.pick(&vi, &en), "</p>");
    }
    h.raw("<form method=\"post\" action=\"/web/send\" enctype=\"multipart/form-data\" class=\"card form\">");
    h.hidden("csrf", &clerk.csrf).hidden("submission", &input.submission);
    recipients(&mut h, lang, clerk.agency.as_str(), &agencies, &input.fields.to);
    label(&mut h, "number", lang.pick("Số, ký hiệu", "Number"));
    h.raw("<input id=\"number\" name=\"number\" required maxlength=\"100\" placeholder=\"15/UBND-VP\" autocapitalize=\"characters\" value=\"");
    h.text(&input.fields.number).raw("\">");
    label(&mut h, "doc_type", lang.pick("Loại văn bản", "Type"));
    h.raw("<select id=\"doc_type\" name=\"doc_type\" required>");
    for (vi, en) in DOCUMENT_TYPES {
        h.option(vi, lang.pick(vi, en), input.fields.doc_type == vi);
    }
    h.raw("</select>");
    label(&mut h, "subject", lang.pick("Trích yếu", "Subject"));
    h.raw("<textarea id=\"subject\" name=\"subject\" required maxlength=\"1000\" rows=\"3\">");
    h.text(&input.fields.subject).raw("</textarea>");
    label(&mut h, "content", lang.pick("Nội dung tóm tắt (không bắt buộc)", "Summary (optional)"));
    h.raw("<textarea id=\"content\" name=\"content\" maxlength=\"10000\" rows=\"4\">")
        .text(input.fields.content.as_deref().unwrap_or_default())
        .raw("</textarea>");
    label(&mut h, "signer", lang.pick("Người ký", "Signed by"));
    h.raw("<input id=\"signer\" name=\"signer\" required maxlength=\"200\" autocomplete=\"name\" value=\"");
    h.text(&input.fields.signer).raw("\">");
    label(&mut h, "position", lang.pick("Chức vụ người ký (không bắt buộc)", "Signer's title (optional)"));
    h.raw("<input id=\"position\" name=\"position\" maxlength=\"200\" value=\"")
        .text(input.fields.position.as_deref().unwrap_or_default())
        .raw("\">");
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
    let chosen = input.fields.priority.as_deref().unwrap_or_default();
    for priority in Priority::ALL {
        let selected = chosen == priority.as_str() || (chosen.is_empty() && *priority == Priority::Normal);
        h.option(priority.as_str(), lang.pick(priority.label_vi(), priority.label_en()), selected);
    }
    h.raw("</select></div><div>");
    label(h, "due", lang.pick("Hạn xử lý", "Due"));
    h.raw("<input id=\"due\" name=\"due\" type=\"date\" value=\"")
        .text(input.fields.due.as_deref().unwrap_or_default())
        .raw("\"></div></div>");
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
                input.file = Some(Upload { name: file_name, data: data.into() });
            }
            continue;
        }
        let bytes = read_field(field, MAX_TEXT_BYTES).await?;
        let text = String::from_utf8(bytes)
            .map_err(|_| WebError::bad("Biểu mẫu có ký tự không hợp lệ.", "The form holds invalid characters."))?;
        if name == "to" {
            if input.fields.to.len() >= MAX_RECIPIENTS {
                return Err(WebError::bad(
                    format!("Chọn tối đa {MAX_RECIPIENTS} đơn vị nhận trong một lần gửi."),
                    format!("Choose at most {MAX_RECIPIENTS} recipients in one send."),
                ));
            }
            input.fields.to.push(text);
            continue;
        }
        let fields = &mut input.fields;
        match name.as_str() {
            "csrf" => input.csrf = text,
            "submission" => input.submission = text,
            "number" => fields.number = text,
            "doc_type" => fields.doc_type = text,
            "subject" => fields.subject = text,
            "content" => fields.content = Some(text),
            "signer" => fields.signer = text,
            "position" => fields.position = Some(text),
            "priority" => fields.priority = Some(text),
            "due" => fields.due = Some(text),
            _ => return Err(WebError::bad("Biểu mẫu có trường lạ.", "The form has an unknown field.")),
        }
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
    let submission_ok = (16..=64).contains(&input.submission.len())
        && input.submission.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !submission_ok {
        return Err(WebError::StaleForm);
    }
    let now = OffsetDateTime::now_utc();
    let files = input.file.as_slice();
    let checked = compose::check(&input.fields, files, &clerk.agency, VnTimestamp::from_instant(now).date())?;
    let agencies = web.gateway.registered_agencies().await?;
    if let Some(unknown) = checked.to().iter().find(|code| !agencies.iter().any(|a| a.code == code.as_str())) {
        return Err(WebError::bad(
            format!("Đơn vị nhận {unknown} không có trong danh sách của trục liên thông; chưa gửi gì."),
            format!("Recipient {unknown} is not in the hub's registry; nothing was sent."),
        ));
    }
    let names = AgencyNames(agencies);
    let package = compose::build(
        &checked,
        &clerk.agency,
        |code| names.name(code).map(str::to_owned),
        VnTimestamp::from_instant(now),
    );
    let edxml = edxml::write(&Package::Document(package));
    let reference = format!("web:{}", input.submission);
    Ok(web.gateway.submit_as(&clerk.user.client, clerk.agency.as_str(), &reference, edxml.into()).await?.0)
}

impl From<ComposeError> for WebError {
    fn from(error: ComposeError) -> Self {
        WebError::bad(error.vietnamese(), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_is_read_from_a_document_id() {
        assert_eq!(number_of(Some("000.00.00.G22,2026/01/05,15/VPCP-TTĐT")).as_deref(), Some("15/VPCP-TTĐT"));
        assert_eq!(number_of(Some("000.00.00.G22,2026/01/05")), None);
        assert_eq!(number_of(None), None);
    }
}
