//! Documents received: the list (newest first, with the latest status the agency reported), one
//! document with its attachments, and the clerk's answer: a status (02–06) to a document, or to
//! a recall, update or replacement 15 (agreed) or 16 (refused, with its reason). A document whose
//! recall the clerk agreed to shows as recalled, its content destroyed.

use axum::Extension;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use edxml::model::{DocumentPackage, Organization};
use edxml::{Limits, Package, StatusCode as Status, ZipLimits};
use serde::Deserialize;
use store::{DocumentChange, GatewayStore as _, IncomingRecord, OutgoingRecord, PackageKind};

use super::auth::{self, Clerk};
use super::html::{self, Html, Lang, Nav, local_time, url_segment};
use super::outbox::number_of;
use super::{Web, WebError, chrome, html_page, respond, see_other};
use crate::directory::AgencyNames;

/// Documents per page.
const PAGE: u32 = 20;
/// The statuses a clerk may answer a document with.
const ANSWERS: [Status; 5] =
    [Status::Refused, Status::Accepted, Status::Assigned, Status::Processing, Status::Finished];
/// The statuses a clerk may answer a recall, update or replacement with.
const CHANGE_ANSWERS: [Status; 2] = [Status::ChangeAccepted, Status::ChangeRefused];
/// Longest note or reason.
const MAX_DESCRIPTION: usize = 2000;

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    before: Option<i64>,
}

/// `GET /web/inbox`: the documents received.
pub(crate) async fn list(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    respond(lang, list_page(&web, lang, &headers, query).await)
}

async fn list_page(
    web: &Web,
    lang: Lang,
    headers: &HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, WebError> {
    let clerk = auth::clerk(web, headers).await?;
    let Query(query) = query.map_err(|_| WebError::bad("Số trang không hợp lệ.", "Invalid page."))?;
    let recipient = Some(clerk.agency.as_str());
    let items = web.gateway.store().received(PackageKind::Document, recipient, query.before.unwrap_or(0), PAGE).await?;
    let names = web.gateway.agency_names().await;
    let mut h = html::begin(
        &chrome(lang, &clerk, names.name(clerk.agency.as_str()), Nav::Inbox),
        lang.pick("Văn bản đến", "Inbox"),
    );
    if items.is_empty() {
        h.el("<p class=\"empty\">", lang.pick("Chưa có văn bản đến.", "No documents received yet."), "</p>");
    }
    h.raw("<ul class=\"items\">");
    for item in &items {
        let latest = latest_answer(web, &clerk, item).await?;
        list_item(&mut h, lang, &names, item, latest.as_ref());
    }
    h.raw("</ul>");
    if items.len() == PAGE as usize
        && let Some(last) = items.last()
    {
        h.raw("<p class=\"more\"><a href=\"/web/inbox?before=").text(&last.id.to_string()).raw("\">");
        h.raw(lang.pick("Cũ hơn →", "Older →")).raw("</a></p>");
    }
    Ok(html_page(html::end(h)))
}

/// The last status the clerk's agency reported on a received document.
async fn latest_answer(web: &Web, clerk: &Clerk, item: &IncomingRecord) -> Result<Option<OutgoingRecord>, WebError> {
    let Some(document_id) = item.package.document_id.as_deref() else { return Ok(None) };
    Ok(web.gateway.store().statuses_sent(document_id, Some(clerk.agency.as_str()), 100).await?.pop())
}

fn list_item(h: &mut Html, lang: Lang, names: &AgencyNames, item: &IncomingRecord, latest: Option<&OutgoingRecord>) {
    let p = &item.package;
    let fresh = latest.and_then(|l| l.package.subject.as_deref()).is_none_or(|s| s.starts_with("01"));
    h.raw(if fresh { "<li class=\"item fresh\">" } else { "<li class=\"item\">" });
    h.raw("<a href=\"/web/inbox/").text(&url_segment(&p.package_id)).raw("\"><div class=\"meta\">");
    h.el("<span class=\"number\">", &number_of(p.document_id.as_deref()).unwrap_or_default(), "</span>");
    h.el("<time>", &local_time(item.received_at), "</time></div>");
    h.el("<div class=\"subject\">", p.subject.as_deref().unwrap_or("—"), "</div>");
    h.raw("<div class=\"from\">").raw(lang.pick("Từ: ", "From: ")).text(&names.describe(&p.sender)).raw("</div>");
    if let Some(change) = change_label(lang, item) {
        h.el("<span class=\"status s02\">", &change, "</span> ");
    }
    match latest.and_then(|l| l.package.subject.as_deref()) {
        Some(subject) => status_badge(h, lang, subject),
        None => {
            h.el("<span class=\"status\">", lang.pick("Chưa báo trạng thái", "No status reported"), "</span>");
        }
    }
    h.raw("</a></li>");
}

/// What a recall, update or replacement does, or that the document was recalled (or its recall
/// asked for or refused).
fn change_label(lang: Lang, item: &IncomingRecord) -> Option<String> {
    if item.destroyed_at.is_some() {
        return Some(lang.pick("Đã thu hồi", "Recalled").to_owned());
    }
    match item.latest_event.as_deref() {
        Some("recall-requested") => return Some(lang.pick("Nơi gửi đề nghị thu hồi", "Recall requested").to_owned()),
        Some("recall-refused") => return Some(lang.pick("Đã từ chối thu hồi", "Recall refused").to_owned()),
        _ => {}
    }
    let business = match item.package.change {
        DocumentChange::New => return None,
        DocumentChange::Recall => edxml::BusinessType::Recall,
        DocumentChange::Update => edxml::BusinessType::Update,
        DocumentChange::Replace => edxml::BusinessType::Replace,
    };
    Some(lang.pick(business.label_vi(), business.label_en()).to_owned())
}

/// A status as a coloured badge: its code, its label in `lang`, and its description if any.
pub(crate) fn status_badge(h: &mut Html, lang: Lang, subject: &str) {
    let code = subject.get(..2).and_then(|c| Status::parse(c).ok());
    h.raw(match code {
        Some(Status::Arrived) => "<span class=\"status s01\">",
        Some(Status::Refused | Status::ChangeRefused) => "<span class=\"status s02\">",
        Some(Status::Finished) => "<span class=\"status s06\">",
        _ => "<span class=\"status s03\">",
    });
    h.text(&status_text(lang, subject, code)).raw("</span>");
}

/// The status subject (`03 Đã tiếp nhận`, `02 Từ chối tiếp nhận: lý do`) in `lang`.
fn status_text(lang: Lang, subject: &str, code: Option<Status>) -> String {
    match (lang, code) {
        (Lang::En, Some(code)) => {
            let prefix = format!("{} {}", code.as_str(), code.label_vi());
            match subject.strip_prefix(&prefix).and_then(|rest| rest.strip_prefix(": ")) {
                Some(note) => format!("{} {}: {note}", code.as_str(), code.label_en()),
                None => format!("{} {}", code.as_str(), code.label_en()),
            }
        }
        _ => subject.to_owned(),
    }
}

/// The clerk's agency's copy of a received document, and its parsed package; another agency's
/// is not found.
async fn document(web: &Web, clerk: &Clerk, package_id: &str) -> Result<(IncomingRecord, DocumentPackage), WebError> {
    let record = web.gateway.store().incoming_for(package_id, clerk.agency.as_str()).await?;
    let record = record.filter(|r| r.package.kind == PackageKind::Document).ok_or(WebError::NotFound)?;
    if record.destroyed_at.is_some() {
        return Err(WebError::Recalled);
    }
    // Mapped, not read onto the heap: a document may carry 100 MB of attachments.
    let bytes = web.gateway.blobs().map(&record.package.blob).await.map_err(crate::GatewayError::Blob)?;
    let parsed =
        edxml::parse(&bytes, &Limits::default()).map_err(|_| WebError::Internal("a stored package does not parse"))?;
    match parsed.package {
        Package::Document(document) => Ok((record, document)),
        Package::Status(_) => Err(WebError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReadQuery {
    answered: Option<String>,
}

/// `GET /web/inbox/{id}`: one document, its attachments, its statuses and the answer form.
pub(crate) async fn read(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Response {
    let answered = query.ok().and_then(|Query(q)| q.answered).and_then(|c| Status::parse(&c).ok());
    let outcome = async {
        let clerk = auth::clerk(&web, &headers).await?;
        let Path(id) = id.map_err(|_| WebError::NotFound)?;
        read_page(&web, lang, &clerk, &id, &Shown { answered, ..Shown::default() }).await
    };
    respond(lang, outcome.await)
}

/// What the read page shows besides the document: the status just sent, or why the last answer
/// was refused (with what the clerk had chosen and typed).
#[derive(Debug, Default)]
struct Shown<'a> {
    answered: Option<Status>,
    error: Option<&'a WebError>,
    code: &'a str,
    description: &'a str,
}

async fn read_page(web: &Web, lang: Lang, clerk: &Clerk, id: &str, shown: &Shown<'_>) -> Result<Response, WebError> {
    let record = web.gateway.store().incoming_for(id, clerk.agency.as_str()).await?;
    let record = record.filter(|r| r.package.kind == PackageKind::Document).ok_or(WebError::NotFound)?;
    if record.destroyed_at.is_some() {
        return recalled_page(web, lang, clerk, &record).await;
    }
    let (record, doc) = document(web, clerk, id).await?;
    let names = web.gateway.agency_names().await;
    let title = doc.header.subject.clone().unwrap_or_else(|| lang.pick("Văn bản", "Document").to_owned());
    let mut h = html::begin(&chrome(lang, clerk, names.name(clerk.agency.as_str()), Nav::Inbox), &title);
    if let Some(code) = shown.answered {
        let label = answer_label(lang, record.package.change, code);
        let (vi, en) = (format!("Đã gửi trạng thái {label}."), format!("Status {label} sent."));
        h.el("<p class=\"notice\" role=\"status\">", lang.pick(&vi, &en), "</p>");
    }
    recall_notice(web, &mut h, lang, &record).await?;
    let answers = match record.package.document_id.as_deref() {
        Some(document_id) => web.gateway.store().statuses_sent(document_id, Some(clerk.agency.as_str()), 100).await?,
        None => Vec::new(),
    };
    let change_answered = change_answer(&record, &answers);
    if change_answered.is_none() && record.package.change != DocumentChange::New && shown.error.is_none() {
        let reason = doc.trace.as_ref().and_then(|t| t.business.as_ref()).and_then(|b| b.reason.as_deref());
        change_notice(&mut h, lang, record.package.change, reason.unwrap_or_default());
    }
    if let Some(error) = shown.error {
        let (vi, en) = error.message();
        h.el("<p class=\"error\" role=\"alert\">", lang.pick(&vi, &en), "</p>");
        answer_forms(&mut h, lang, clerk, &record, change_answered, shown);
    }
    details(&mut h, lang, &names, &record, &doc);
    attachments(&mut h, lang, &record, &doc);
    history(&mut h, lang, &answers);
    if shown.error.is_none() {
        answer_forms(&mut h, lang, clerk, &record, change_answered, shown);
    }
    let status = shown.error.map_or(axum::http::StatusCode::OK, WebError::status);
    Ok((status, super::page_headers(), html::end(h)).into_response())
}

/// A document recalled by its sender with the clerk's agreement: what is left of it (the
/// record, not the content, which was destroyed), as 410 Gone.
async fn recalled_page(web: &Web, lang: Lang, clerk: &Clerk, record: &IncomingRecord) -> Result<Response, WebError> {
    let names = web.gateway.agency_names().await;
    let p = &record.package;
    let title = p.subject.clone().unwrap_or_else(|| lang.pick("Văn bản", "Document").to_owned());
    let mut h = html::begin(&chrome(lang, clerk, names.name(clerk.agency.as_str()), Nav::Inbox), &title);
    let destroyed = local_time(record.destroyed_at.unwrap_or_default());
    let (vi, en) = (
        format!("Văn bản này đã được nơi gửi thu hồi; nội dung đã được hủy lúc {destroyed} (giờ Việt Nam)."),
        format!("This document was recalled by its sender; its content was destroyed at {destroyed} (Vietnam time)."),
    );
    h.el("<p class=\"error recalled\" role=\"status\">", lang.pick(&vi, &en), "</p>");
    h.raw("<dl class=\"card details\">");
    row(&mut h, lang.pick("Số, ký hiệu", "Number"), &number_of(p.document_id.as_deref()).unwrap_or_default());
    row(&mut h, lang.pick("Cơ quan gửi", "From"), &names.describe(&p.sender));
    row(&mut h, lang.pick("Trích yếu", "Subject"), p.subject.as_deref().unwrap_or_default());
    row(&mut h, lang.pick("Nhận lúc (giờ Việt Nam)", "Received (Vietnam time)"), &local_time(record.received_at));
    h.raw("</dl>");
    Ok((axum::http::StatusCode::GONE, super::page_headers(), html::end(h)).into_response())
}

/// On a document whose sender asked to recall it: that, with a link to the recall to answer.
async fn recall_notice(web: &Web, h: &mut Html, lang: Lang, record: &IncomingRecord) -> Result<(), WebError> {
    let (vi, en) = match record.latest_event.as_deref() {
        Some("recall-requested") => (
            "Nơi gửi đã đề nghị thu hồi văn bản này. Xem và trả lời đề nghị thu hồi →",
            "The sender asks to recall this document. See and answer the recall →",
        ),
        Some("recall-refused") => {
            ("Đã từ chối đề nghị thu hồi văn bản này.", "The recall of this document was refused.")
        }
        _ => return Ok(()),
    };
    let events =
        web.gateway.store().document_events(&record.package.package_id, Some(&record.package.recipient)).await?;
    let recall = events.iter().rev().find(|e| e.event == "recall-requested").map(|e| e.by_package.as_str());
    match (record.latest_event.as_deref(), recall) {
        (Some("recall-requested"), Some(recall)) => {
            h.raw("<p class=\"error\" role=\"status\"><a href=\"/web/inbox/").text(&url_segment(recall)).raw("\">");
            h.text(lang.pick(vi, en)).raw("</a></p>");
        }
        _ => {
            h.el("<p class=\"notice\" role=\"status\">", lang.pick(vi, en), "</p>");
        }
    }
    Ok(())
}

/// The statuses a clerk may answer `change` with.
fn answers_for(change: DocumentChange) -> &'static [Status] {
    match change {
        DocumentChange::New => &ANSWERS,
        DocumentChange::Recall | DocumentChange::Update | DocumentChange::Replace => &CHANGE_ANSWERS,
    }
}

/// `15 Đồng ý thu hồi`, `16 Từ chối cập nhật`, `03 Đã tiếp nhận`: a status as an answer to `change`.
fn answer_label(lang: Lang, change: DocumentChange, status: Status) -> String {
    let what = match change {
        DocumentChange::New => return format!("{status} {}", lang.pick(status.label_vi(), status.label_en())),
        DocumentChange::Recall => lang.pick("thu hồi", "the recall"),
        DocumentChange::Update => lang.pick("cập nhật", "the update"),
        DocumentChange::Replace => lang.pick("thay thế", "the replacement"),
    };
    let verb = match (status, lang) {
        (Status::ChangeAccepted, Lang::Vi) => "Đồng ý",
        (Status::ChangeAccepted, Lang::En) => "Agree to",
        (Status::ChangeRefused, Lang::Vi) => "Từ chối",
        (Status::ChangeRefused, Lang::En) => "Refuse",
        _ => return format!("{status} {}", lang.pick(status.label_vi(), status.label_en())),
    };
    format!("{status} — {verb} {what}")
}

/// The 15 or 16 already sent for a recall, update or replacement (answers sent since it came).
fn change_answer(record: &IncomingRecord, answers: &[OutgoingRecord]) -> Option<Status> {
    if record.package.change == DocumentChange::New {
        return None;
    }
    crate::service::statuses_since(record, answers).find(|code| CHANGE_ANSWERS.contains(code))
}

fn row(h: &mut Html, term: &str, value: &str) {
    if !value.trim().is_empty() {
        h.el("<dt>", term, "</dt>").el("<dd>", value, "</dd>");
    }
}

fn organization(names: &AgencyNames, org: &Organization) -> String {
    let code = org.organ_id.as_ref().map(|o| o.as_str().to_owned()).unwrap_or_default();
    match org.organ_name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => format!("{name} ({code})"),
        None => names.describe(&code),
    }
}

fn details(h: &mut Html, lang: Lang, names: &AgencyNames, record: &IncomingRecord, doc: &DocumentPackage) {
    let header = &doc.header;
    h.raw("<dl class=\"card details\">");
    row(h, lang.pick("Số, ký hiệu", "Number"), &doc.number_notation().unwrap_or_default());
    let date = header.promulgation.as_ref().and_then(|p| p.date).map(html::local_date).unwrap_or_default();
    row(h, lang.pick("Ngày ban hành", "Issued on"), &date);
    let kind = header.document_type.as_ref().and_then(|t| t.name.clone()).unwrap_or_default();
    row(h, lang.pick("Loại văn bản", "Type"), &kind);
    let from = header.from.as_ref().map(|f| organization(names, f)).unwrap_or_else(|| record.package.sender.clone());
    row(h, lang.pick("Cơ quan gửi", "From"), &from);
    row(h, lang.pick("Trích yếu", "Subject"), header.subject.as_deref().unwrap_or_default());
    row(h, lang.pick("Nội dung", "Content"), header.content.as_deref().unwrap_or_default());
    let signer = header.signer.as_ref().map(|s| {
        [s.competence.as_deref(), s.position.as_deref(), s.full_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|t| !t.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" · ")
    });
    row(h, lang.pick("Người ký", "Signed by"), &signer.unwrap_or_default());
    let priority = header.other_info.as_ref().and_then(|o| o.priority).filter(|p| *p != edxml::Priority::Normal);
    row(
        h,
        lang.pick("Độ khẩn", "Urgency"),
        priority.map(|p| lang.pick(p.label_vi(), p.label_en())).unwrap_or_default(),
    );
    row(h, lang.pick("Hạn xử lý", "Due"), &header.due_date.map(html::local_date).unwrap_or_default());
    let to: Vec<String> = header.to.iter().map(|o| organization(names, o)).collect();
    row(h, lang.pick("Nơi nhận", "To"), &to.join("; "));
    row(h, lang.pick("Chữ ký số (đã kiểm tra)", "Digital seal (verified)"), &seal_holder(&record.package.signer));
    row(h, lang.pick("Nhận lúc (giờ Việt Nam)", "Received (Vietnam time)"), &local_time(record.received_at));
    if let Some(business) = doc.trace.as_ref().and_then(|t| t.business.as_ref())
        && record.package.change != DocumentChange::New
    {
        let kind = change_label(lang, record).unwrap_or_default();
        row(h, lang.pick("Đề nghị của nơi gửi", "The sender asks for"), &kind);
        row(h, lang.pick("Văn bản liên quan", "About the document"), &record.package.refers_to.join("; "));
        row(h, lang.pick("Lý do", "Reason"), business.reason.as_deref().unwrap_or_default());
    }
    h.raw("</dl>");
}

/// The seal's holder from its certificate subject (`CN=…, O=…, …=GOVVN-<code>`): its common
/// name and agency code, or the subject as it is.
fn seal_holder(subject: &str) -> String {
    let name = subject.split(", ").find_map(|part| part.strip_prefix("CN="));
    let code = subject.split("GOVVN-").nth(1).and_then(|rest| rest.split([',', ' ']).next());
    match (name, code) {
        (Some(name), Some(code)) => format!("{name} ({code})"),
        (Some(name), None) => name.to_owned(),
        _ => subject.to_owned(),
    }
}

fn attachments(h: &mut Html, lang: Lang, record: &IncomingRecord, doc: &DocumentPackage) {
    h.el("<h2>", lang.pick("Tệp đính kèm", "Attachments"), "</h2>");
    if doc.attachments.is_empty() {
        h.el("<p class=\"empty\">", lang.pick("Không có tệp.", "No files."), "</p>");
        return;
    }
    h.raw("<ul class=\"files\">");
    for (index, attachment) in doc.attachments.iter().enumerate() {
        let name = attachment.name.clone().unwrap_or_else(|| format!("tep-{}", index + 1));
        h.raw("<li><a href=\"/web/inbox/").text(&url_segment(&record.package.package_id));
        h.raw("/files/").text(&index.to_string()).raw("\" download>").text(&name).raw("</a></li>");
    }
    h.raw("</ul>");
}

fn history(h: &mut Html, lang: Lang, answers: &[OutgoingRecord]) {
    h.el("<h2>", lang.pick("Trạng thái đã báo", "Statuses reported"), "</h2>");
    if answers.is_empty() {
        h.el("<p class=\"empty\">", lang.pick("Chưa báo trạng thái.", "No status reported yet."), "</p>");
        return;
    }
    h.raw("<ol class=\"history\">");
    for answer in answers {
        h.raw("<li>");
        status_badge(h, lang, answer.package.subject.as_deref().unwrap_or_default());
        h.el(" <time>", &local_time(answer.queued_at), "</time>");
        let state = match answer.sent_at {
            Some(_) => lang.pick("đã chuyển lên trục", "handed to the hub"),
            None => lang.pick("đang chờ gửi", "waiting to be sent"),
        };
        h.el(" <span class=\"state\">", state, "</span></li>");
    }
    h.raw("</ol>");
}

/// The forms that answer the document: a status (02–06) for a document; for a recall, update
/// or replacement not yet answered, one form to agree (15) and one to refuse with a reason (16).
fn answer_forms(
    h: &mut Html,
    lang: Lang,
    clerk: &Clerk,
    record: &IncomingRecord,
    answered: Option<Status>,
    shown: &Shown<'_>,
) {
    let change = record.package.change;
    if change == DocumentChange::New {
        return answer_form(h, lang, clerk, record, shown);
    }
    h.el("<h2>", &change_heading(lang, change), "</h2>");
    if let Some(code) = answered {
        let label = answer_label(lang, change, code);
        let (vi, en) = (format!("Đã trả lời: {label}."), format!("Answered: {label}."));
        h.el("<p class=\"notice\">", lang.pick(&vi, &en), "</p>");
        return;
    }
    for status in CHANGE_ANSWERS {
        let refuse = status == Status::ChangeRefused;
        h.raw(if refuse {
            "<form method=\"post\" class=\"card form refuse\" action=\"/web/inbox/"
        } else {
            "<form method=\"post\" class=\"card form agree\" action=\"/web/inbox/"
        });
        h.text(&url_segment(&record.package.package_id)).raw("/status\">").hidden("csrf", &clerk.csrf);
        h.hidden("code", status.as_str());
        let id = if refuse { "reason" } else { "note" };
        h.raw("<label for=\"").raw(id).raw("\">");
        h.raw(if refuse {
            lang.pick("Lý do từ chối (bắt buộc)", "Why you refuse (required)")
        } else {
            lang.pick("Ghi chú (không bắt buộc)", "Note (optional)")
        });
        h.raw("</label><textarea id=\"").raw(id).raw("\" name=\"description\" rows=\"2\" maxlength=\"2000\"");
        h.raw(if refuse { " required>" } else { ">" });
        if shown.code == status.as_str() {
            h.text(shown.description);
        }
        h.raw("</textarea><button type=\"submit\"").raw(if refuse { " class=\"secondary\">" } else { ">" });
        h.text(&answer_label(lang, change, status)).raw("</button></form>");
    }
}

/// At the top of a recall, update or replacement not yet answered: what the sender asks, why,
/// and that the answer is at the bottom.
fn change_notice(h: &mut Html, lang: Lang, change: DocumentChange, reason: &str) {
    let heading = change_heading(lang, change);
    let (vi, en) = (
        format!(
            "Nơi gửi đề nghị {}. Lý do: {}. {heading} (15 hoặc 16) ở cuối trang.",
            what_vi(change),
            or_dash(reason)
        ),
        format!(
            "The sender asks for a {}. Reason: {}. {heading} (15 or 16) at the bottom.",
            what_en(change),
            or_dash(reason)
        ),
    );
    h.el("<p class=\"error\" role=\"status\">", lang.pick(&vi, &en), "</p>");
}

fn or_dash(text: &str) -> &str {
    if text.trim().is_empty() { "—" } else { text.trim() }
}

fn what_vi(change: DocumentChange) -> &'static str {
    match change {
        DocumentChange::Recall => "thu hồi",
        DocumentChange::Update => "cập nhật",
        DocumentChange::New | DocumentChange::Replace => "thay thế",
    }
}

fn what_en(change: DocumentChange) -> &'static str {
    match change {
        DocumentChange::Recall => "recall",
        DocumentChange::Update => "update",
        DocumentChange::New | DocumentChange::Replace => "replacement",
    }
}

fn change_heading(lang: Lang, change: DocumentChange) -> String {
    let what = lang.pick(what_vi(change), what_en(change));
    match lang {
        Lang::Vi => format!("Trả lời đề nghị {what}"),
        Lang::En => format!("Answer the {what}"),
    }
}

fn answer_form(h: &mut Html, lang: Lang, clerk: &Clerk, record: &IncomingRecord, shown: &Shown<'_>) {
    h.el("<h2>", lang.pick("Báo trạng thái xử lý", "Report a status"), "</h2>");
    h.raw("<form method=\"post\" class=\"card form\" action=\"/web/inbox/");
    h.text(&url_segment(&record.package.package_id)).raw("/status\">").hidden("csrf", &clerk.csrf);
    h.raw("<label for=\"code\">").raw(lang.pick("Trạng thái", "Status")).raw("</label>");
    h.raw("<select id=\"code\" name=\"code\" required>");
    h.option("", lang.pick("— Chọn trạng thái —", "— Choose a status —"), shown.code.is_empty());
    for status in ANSWERS {
        let label = format!("{} {}", status.as_str(), lang.pick(status.label_vi(), status.label_en()));
        h.option(status.as_str(), &label, shown.code == status.as_str());
    }
    h.raw("</select><label for=\"description\">");
    h.raw(lang.pick("Ghi chú (bắt buộc nêu lý do khi từ chối)", "Note (a refusal must give its reason)"));
    h.raw("</label><textarea id=\"description\" name=\"description\" rows=\"3\" maxlength=\"2000\">");
    h.text(shown.description).raw("</textarea>");
    h.raw("<button type=\"submit\">").raw(lang.pick("Gửi trạng thái", "Send status")).raw("</button></form>");
}

/// `GET /web/inbox/{id}/files/{index}`: an attachment, unpacked from its ZIP within limits, as a
/// download (never shown inline: its content is the sender's, not ours).
pub(crate) async fn download(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((id, index))) = path else { return WebError::NotFound.page(lang) };
    respond(lang, download_file(&web, &headers, &id, &index).await)
}

async fn download_file(web: &Web, headers: &HeaderMap, id: &str, index: &str) -> Result<Response, WebError> {
    let clerk = auth::clerk(web, headers).await?;
    let index: usize = index.parse().map_err(|_| WebError::NotFound)?;
    let (_, doc) = document(web, &clerk, id).await?;
    let attachment = doc.attachments.get(index).ok_or(WebError::NotFound)?;
    let name = attachment.name.clone().unwrap_or_else(|| format!("tep-{}", index + 1));
    let unreadable = || {
        WebError::bad(
            "Tệp đính kèm hỏng hoặc vượt giới hạn giải nén; không tải được.",
            "The attachment is corrupt or unpacks beyond the limits; it cannot be downloaded.",
        )
    };
    let (content, spool) = (attachment.content.clone(), web.gateway.blobs().spool().clone());
    // Off the runtime whatever its size: a small archive may unpack to a large file.
    let (whole_archive, data) = tokio::task::spawn_blocking(move || unpacked(&content, &spool))
        .await
        .map_err(|_| WebError::Internal("unpacking an attachment"))?
        .map_err(|e| match e {
            Unpacked::Unreadable => unreadable(),
            Unpacked::Spool(e) => WebError::Gateway(crate::service::spool_failed(e)),
        })?;
    // Several files in one attachment: the archive itself.
    let name = if whole_archive { format!("{name}.zip") } else { name };
    let disposition =
        HeaderValue::from_str(&content_disposition(&name)).map_err(|_| WebError::Internal("file name"))?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
    ];
    Ok((headers, data).into_response())
}

/// Why an attachment could not be made ready for download.
enum Unpacked {
    /// Corrupt, or beyond the unpacking limits.
    Unreadable,
    /// The spool could not hold it (the gateway's trouble).
    Spool(std::io::Error),
}

/// What a clerk downloads from an attachment — its one file, or the archive itself when it
/// holds several (then `true`) — written into the spool as it is unpacked or decoded (a file,
/// mapped, past `SPOOL_ABOVE`), so a large attachment is never held on the heap.
fn unpacked(content: &edxml::EncodedContent, spool: &store::spool::Spool) -> Result<(bool, bytes::Bytes), Unpacked> {
    let limits = ZipLimits::default();
    let files = content.inspect(&limits).map_err(|_| Unpacked::Unreadable)?;
    let (whole_archive, size) = match files.as_slice() {
        [one] => (false, usize::try_from(one.size).unwrap_or(usize::MAX)),
        _ => (true, content.encoded_len() / 4 * 3),
    };
    let mut out = Noting { inner: spool.scratch(size).map_err(Unpacked::Spool)?, failed: None };
    let written = if whole_archive {
        content.decode_to(&mut out).is_ok()
    } else {
        content.visit_files(&limits, |_, reader| std::io::copy(reader, &mut out).map(drop)).is_ok()
    };
    match (written, out.failed) {
        (_, Some(failed)) => Err(Unpacked::Spool(failed)),
        (false, None) => Err(Unpacked::Unreadable),
        (true, None) => Ok((whole_archive, out.inner.into_bytes().map_err(Unpacked::Spool)?)),
    }
}

/// A writer that remembers its own failure, so that it is told apart from the reader's (a
/// corrupt archive) when a copy fails.
struct Noting<W> {
    inner: W,
    failed: Option<std::io::Error>,
}

impl<W: std::io::Write> std::io::Write for Noting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.failed = Some(std::io::Error::new(e.kind(), e.to_string())))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.failed = Some(std::io::Error::new(e.kind(), e.to_string())))
    }
}

/// `attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266, RFC 8187).
fn content_disposition(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%') { c } else { '_' }).collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", url_segment(name))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnswerForm {
    csrf: String,
    code: String,
    description: Option<String>,
}

/// `POST /web/inbox/{id}/status`: answers the document with a status, signed and sent back to
/// its sender like any package; a mistake shows the document again with what is wrong.
pub(crate) async fn answer(
    State(web): State<Web>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<AnswerForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let clerk = auth::clerk(&web, &headers).await?;
        let Path(id) = id.map_err(|_| WebError::NotFound)?;
        let Form(form) = form.map_err(super::form_error)?;
        auth::check_csrf(&clerk.csrf, &form.csrf)?;
        let description = form.description.as_deref().unwrap_or_default();
        match answer_document(&web, &clerk, &id, &form.code, description).await {
            Ok(status) => Ok(see_other(&format!("/web/inbox/{}?answered={}", url_segment(&id), status.as_str()))),
            Err(error @ (WebError::BadInput(..) | WebError::Gateway(_))) => {
                let shown = Shown { error: Some(&error), code: form.code.trim(), description, ..Shown::default() };
                read_page(&web, lang, &clerk, &id, &shown).await
            }
            Err(other) => Err(other),
        }
    };
    respond(lang, outcome.await)
}

/// `GET /web/inbox/{id}/status` (e.g. the language link of a refused answer): the document.
pub(crate) async fn to_document(id: Result<Path<String>, PathRejection>) -> Response {
    match id {
        Ok(Path(id)) => see_other(&format!("/web/inbox/{}", url_segment(&id))),
        Err(_) => see_other("/web/inbox"),
    }
}

async fn answer_document(
    web: &Web,
    clerk: &Clerk,
    id: &str,
    code: &str,
    description: &str,
) -> Result<Status, WebError> {
    let record = web.gateway.store().incoming_for(id, clerk.agency.as_str()).await?;
    let record = record.filter(|r| r.package.kind == PackageKind::Document).ok_or(WebError::NotFound)?;
    if record.destroyed_at.is_some() {
        return Err(WebError::Recalled);
    }
    let change = record.package.change;
    let status = Status::parse(code.trim()).ok().filter(|s| answers_for(change).contains(s)).ok_or_else(|| {
        if change == DocumentChange::New {
            WebError::bad("Chọn một trạng thái từ 02 đến 06.", "Choose a status from 02 to 06.")
        } else {
            WebError::bad("Chọn đồng ý (15) hoặc từ chối (16).", "Choose to agree (15) or to refuse (16).")
        }
    })?;
    let description = Some(description.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(WebError::bad("Ghi chú dài quá 2000 ký tự.", "The note is longer than 2000 characters."));
    }
    match status {
        Status::Refused if description.is_none() => {
            return Err(WebError::bad(
                "Từ chối tiếp nhận (02) phải nêu lý do trong ô ghi chú.",
                "A refusal (02) must give its reason in the note.",
            ));
        }
        Status::ChangeRefused if description.is_none() => {
            return Err(WebError::bad(
                "Từ chối (16) phải nêu lý do trong ô lý do.",
                "A refusal (16) must give its reason.",
            ));
        }
        _ => {}
    }
    if let Some(document_id) = record.package.document_id.as_deref() {
        let answers = web.gateway.store().statuses_sent(document_id, Some(clerk.agency.as_str()), 100).await?;
        if let Some(given) = change_answer(&record, &answers) {
            return Err(WebError::bad(
                format!("Đề nghị này đã được trả lời ({given}); không trả lời lại được."),
                format!("This request was already answered ({given}); it cannot be answered again."),
            ));
        }
    }
    web.gateway.answer_as(&clerk.user.client, id, Some(clerk.agency.as_str()), status, description).await?;
    super::acknowledge(web, clerk, id).await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_in_either_language() {
        let refused = "02 Từ chối tiếp nhận: gửi nhầm đơn vị";
        assert_eq!(status_text(Lang::En, refused, Some(Status::Refused)), "02 Refused: gửi nhầm đơn vị");
        assert_eq!(status_text(Lang::Vi, refused, Some(Status::Refused)), refused);
        assert_eq!(status_text(Lang::En, "03 Đã tiếp nhận", Some(Status::Accepted)), "03 Accepted");
    }

    #[test]
    fn the_seal_is_shown_by_its_holder() {
        let subject = "CN=Văn phòng Chính phủ, O=Văn phòng Chính phủ, OID(2.5.4.97)=GOVVN-000.00.00.G22";
        assert_eq!(seal_holder(subject), "Văn phòng Chính phủ (000.00.00.G22)");
        assert_eq!(seal_holder("O=x"), "O=x");
    }

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(
            content_disposition("Báo cáo \"quý\".pdf"),
            "attachment; filename=\"B_o_c_o__qu__.pdf\"; filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20%22qu%C3%BD%22.pdf"
        );
    }
}
