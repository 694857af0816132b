//! HTML escaped by construction: markup comes only from string literals in this crate
//! ([`Html::raw`] takes `&'static str`), and every other value goes through [`Html::text`], which
//! escapes it for element content and double-quoted attribute values alike. Also the page chrome,
//! the two languages, and times shown in Vietnam time.

use edxml::VIETNAM_OFFSET;
use time::OffsetDateTime;

/// A page being written.
#[derive(Debug, Default)]
pub(crate) struct Html(String);

impl Html {
    /// Markup written in this crate's source.
    pub(crate) fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Any value: `&`, `<`, `>`, `"` and `'` are escaped.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// `open`, the escaped `text`, `close`.
    pub(crate) fn el(&mut self, open: &'static str, text: &str, close: &'static str) -> &mut Self {
        self.raw(open).text(text).raw(close)
    }

    /// A hidden form field.
    pub(crate) fn hidden(&mut self, name: &'static str, value: &str) -> &mut Self {
        self.raw("<input type=\"hidden\" name=\"").raw(name).raw("\" value=\"").text(value).raw("\">")
    }

    /// An `<option>`, selected when `selected`.
    pub(crate) fn option(&mut self, value: &str, label: &str, selected: bool) -> &mut Self {
        self.raw("<option value=\"").text(value).raw(if selected { "\" selected>" } else { "\">" });
        self.text(label).raw("</option>")
    }

    /// The finished markup.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// The language pages are shown in: Vietnamese first, English available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    /// Tiếng Việt.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// `vi` or `en`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "vi" => Some(Self::Vi),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The language's code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Vi => "vi",
            Self::En => "en",
        }
    }

    /// The text in this language.
    pub(crate) fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Vi => vi,
            Self::En => en,
        }
    }
}

/// Percent-encodes one URL path segment (or query value): everything but unreserved characters.
pub(crate) fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `dd/MM/yyyy HH:mm` in Vietnam time (UTC+07:00).
pub(crate) fn local_time(unix_seconds: i64) -> String {
    let Ok(instant) = OffsetDateTime::from_unix_timestamp(unix_seconds) else {
        return String::new();
    };
    let t = instant.to_offset(VIETNAM_OFFSET);
    format!("{:02}/{:02}/{:04} {:02}:{:02}", t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute())
}

/// `dd/MM/yyyy`.
pub(crate) fn local_date(date: edxml::VnDate) -> String {
    let d = date.date();
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

/// What the top of a signed-in page shows.
#[derive(Debug)]
pub(crate) struct Chrome<'a> {
    /// The page's language.
    pub(crate) lang: Lang,
    /// The agency's code.
    pub(crate) agency: &'a str,
    /// The agency's name, if the hub's registry gave one.
    pub(crate) agency_name: Option<&'a str>,
    /// The clerk's name and the session's CSRF token (for the logout form); none when signed out.
    pub(crate) clerk: Option<(&'a str, &'a str)>,
    /// Which navigation entry is the current page.
    pub(crate) here: Nav,
}

/// The navigation entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    /// Documents received.
    Inbox,
    /// Documents sent.
    Outbox,
    /// The send form.
    Send,
    /// None of them (login, errors).
    None,
}

/// Starts a page: head, top bar, navigation; the caller writes the body of `<main>`, then calls
/// [`end`].
pub(crate) fn begin(chrome: &Chrome<'_>, title: &str) -> Html {
    let lang = chrome.lang;
    let mut h = Html::default();
    h.raw("<!doctype html>\n<html lang=\"").raw(lang.code()).raw("\"><head><meta charset=\"utf-8\">");
    h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.raw("<title>").text(title).raw(" · ").raw(lang.pick("Liên thông văn bản", "Document exchange"));
    h.raw("</title><link rel=\"stylesheet\" href=\"/web/style.css\"></head><body><header class=\"top\">");
    h.raw("<div class=\"brand\"><span class=\"product\">").raw(lang.pick("Liên thông văn bản", "Document exchange"));
    h.raw("</span><span class=\"agency\">").text(chrome.agency_name.unwrap_or(chrome.agency));
    if chrome.agency_name.is_some() {
        h.el(" <span class=\"code\">", chrome.agency, "</span>");
    }
    h.raw("</span></div><div class=\"tools\">");
    h.raw(match lang {
        Lang::Vi => "<a class=\"lang\" href=\"?lang=en\" hreflang=\"en\" lang=\"en\">English</a>",
        Lang::En => "<a class=\"lang\" href=\"?lang=vi\" hreflang=\"vi\" lang=\"vi\">Tiếng Việt</a>",
    });
    if let Some((name, csrf)) = chrome.clerk {
        h.raw("<form method=\"post\" action=\"/web/logout\" class=\"logout\">").hidden("csrf", csrf);
        h.el("<span class=\"user\">", name, "</span>");
        h.raw("<button type=\"submit\" class=\"link\">").raw(lang.pick("Đăng xuất", "Log out"));
        h.raw("</button></form>");
    }
    h.raw("</div></header>");
    if chrome.clerk.is_some() {
        nav(&mut h, lang, chrome.here);
    }
    h.raw("<main>");
    h.el("<h1>", title, "</h1>");
    h
}

fn nav(h: &mut Html, lang: Lang, here: Nav) {
    h.raw("<nav>");
    let entries = [
        (Nav::Inbox, "/web/inbox", lang.pick("Văn bản đến", "Inbox")),
        (Nav::Outbox, "/web/outbox", lang.pick("Văn bản đi", "Outbox")),
        (Nav::Send, "/web/send", lang.pick("Gửi văn bản", "Send")),
    ];
    for (entry, href, label) in entries {
        h.raw("<a href=\"").raw(href).raw(if entry == here { "\" aria-current=\"page\">" } else { "\">" });
        h.text(label).raw("</a>");
    }
    h.raw("</nav>");
}

/// Ends a page begun with [`begin`].
pub(crate) fn end(mut h: Html) -> String {
    h.raw("</main></body></html>\n");
    h.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_that_could_open_markup_or_close_an_attribute_is_escaped() {
        let mut h = Html::default();
        h.raw("<p title=\"").text("\"><script>alert('x')</script>&").raw("\">");
        assert_eq!(h.into_string(), "<p title=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\">");
    }

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(url_segment("000.00.00.G22:ab/../c d"), "000.00.00.G22%3Aab%2F..%2Fc%20d");
        assert_eq!(url_segment("Đ"), "%C4%90");
    }

    #[test]
    fn times_are_shown_in_vietnam_time() {
        assert_eq!(local_time(0), "01/01/1970 07:00");
    }
}
