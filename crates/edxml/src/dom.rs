//! A small, bounded element tree over the input text. Texts borrow from the input; attachment
//! content is never copied. Namespaces are checked here; DTDs and unknown entities are refused.

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::Limits;
use crate::error::{ParseError, ParseErrorKind, Warning, line_col, push_warning};

/// The edXML namespace.
pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// The XML Signature namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Elements whose text may be as long as the package (attachment content).
const UNBOUNDED_TEXT: &str = "ContentTransferEncoded";

/// Where an element's name was bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Edxml,
    Dsig,
    Unbound,
}

#[derive(Debug)]
pub(crate) struct Element<'a> {
    pub(crate) name: String,
    pub(crate) ns: Ns,
    pub(crate) path: String,
    /// Inside a `Signature`, where XMLDSig (or no) namespace is expected and extensions are skipped.
    pub(crate) in_signature: bool,
    pub(crate) offset: usize,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) text: Cow<'a, str>,
    pub(crate) children: Vec<Element<'a>>,
}

impl Element<'_> {
    pub(crate) fn attribute(&self, local_name: &str) -> Option<&str> {
        self.attributes.iter().find(|(name, _)| name == local_name).map(|(_, value)| value.as_str())
    }
}

/// Reads `input` into a tree, enforcing `limits`. Tolerances are pushed onto `warnings`.
pub(crate) fn read_tree<'a>(
    input: &'a str,
    limits: &Limits,
    warnings: &mut Vec<Warning>,
) -> Result<Element<'a>, ParseError> {
    let mut builder = Builder { input, limits, warnings, stack: Vec::new(), root: None, elements: 0, skipping: 0 };
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    loop {
        let offset = reader.buffer_position() as usize;
        let result = reader.read_resolved_event().map(|(ns, event)| (resolve(&ns), event));
        let (ns, event) = result.map_err(|e| builder.xml_error(&e, reader.error_position() as usize))?;
        if !builder.handle(ns, event, offset)? {
            break;
        }
    }
    match builder.root.take() {
        Some(root) => Ok(root),
        None => Err(builder.error(ParseErrorKind::MissingElement { name: "edXML" }, 0)),
    }
}

type Resolved = Result<Ns, String>;

fn resolve(result: &ResolveResult<'_>) -> Resolved {
    match result {
        ResolveResult::Bound(ns) if ns.as_ref() == EDXML_NS => Ok(Ns::Edxml),
        ResolveResult::Bound(ns) if ns.as_ref() == DSIG_NS => Ok(Ns::Dsig),
        ResolveResult::Bound(ns) => Err(ns.as_ref().to_owned()),
        ResolveResult::Unbound => Ok(Ns::Unbound),
        ResolveResult::Unknown(prefix) => Err(format!("undeclared prefix {prefix}:")),
    }
}

struct Builder<'a, 'w> {
    input: &'a str,
    limits: &'w Limits,
    warnings: &'w mut Vec<Warning>,
    stack: Vec<Element<'a>>,
    root: Option<Element<'a>>,
    elements: usize,
    /// Depth inside a foreign-namespace subtree being skipped (0 = not skipping).
    skipping: usize,
}

/// Longest element name accepted; QCVN 102's longest is 22 bytes.
const MAX_NAME_BYTES: usize = 128;
/// Paths in messages keep at most this many trailing bytes.
const MAX_PATH_BYTES: usize = 256;

/// `parent/name`, cut from the left (at a character boundary) to stay bounded.
fn join_path(parent: &str, name: &str) -> String {
    let mut path = String::with_capacity(parent.len() + name.len() + 1);
    path.push_str(parent);
    path.push('/');
    path.push_str(name);
    if path.len() <= MAX_PATH_BYTES {
        return path;
    }
    let mut cut = path.len() - MAX_PATH_BYTES;
    while !path.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &path[cut..])
}

impl<'a> Builder<'a, '_> {
    /// Handles one event; returns false at the end of the input.
    fn handle(&mut self, ns: Resolved, event: Event<'a>, offset: usize) -> Result<bool, ParseError> {
        if self.skipping > 0 {
            return self.skip(&event, offset).map(|()| true);
        }
        match event {
            Event::Start(start) => self.open(ns, &start, offset)?,
            Event::Empty(start) => {
                self.open(ns, &start, offset)?;
                self.close();
            }
            Event::End(_) => self.close(),
            Event::Text(text) => self.push_text(text.into_inner(), Source::Literal, offset)?,
            Event::CData(data) => self.push_text(data.into_inner(), Source::Literal, offset)?,
            Event::GeneralRef(reference) => self.push_reference(&reference, offset)?,
            Event::DocType(_) => return Err(self.error(ParseErrorKind::Doctype, offset)),
            Event::Decl(decl) => self.check_declaration(&decl, offset)?,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => return self.finish(offset).map(|()| false),
        }
        Ok(true)
    }

    /// Inside a skipped subtree: count elements (the limit still holds), ignore the rest.
    fn skip(&mut self, event: &Event<'a>, offset: usize) -> Result<(), ParseError> {
        match event {
            Event::Start(_) | Event::Empty(_) => {
                self.count_element(offset)?;
                if matches!(event, Event::Start(_)) {
                    self.skipping += 1;
                }
            }
            Event::End(_) => self.skipping -= 1,
            Event::Eof => self.finish(offset)?,
            Event::DocType(_) => return Err(self.error(ParseErrorKind::Doctype, offset)),
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, ns: Resolved, start: &BytesStart<'a>, offset: usize) -> Result<(), ParseError> {
        let name = start.local_name().as_ref().to_owned();
        let (path, parent_in_signature) = match self.stack.last() {
            Some(parent) => (join_path(&parent.path, &name), parent.in_signature),
            None => (name.clone(), false),
        };
        if name.len() > MAX_NAME_BYTES {
            let kind = ParseErrorKind::Malformed {
                reason: format!("an element name of {} bytes (at most {MAX_NAME_BYTES})", name.len()),
            };
            return Err(self.error_at(kind, &path, offset));
        }
        self.check_bounds(&path, offset)?;
        let in_signature = parent_in_signature || name == "Signature";
        let Some(ns) = self.check_namespace(ns, &name, &path, in_signature, offset)? else {
            // A foreign extension inside the signature (e.g. XAdES): skipped, with a warning.
            self.skipping = 1;
            return Ok(());
        };
        let attributes = self.read_attributes(start, &path, offset)?;
        let element =
            Element { name, ns, path, in_signature, offset, attributes, text: Cow::Borrowed(""), children: Vec::new() };
        self.stack.push(element);
        Ok(())
    }

    fn check_bounds(&mut self, path: &str, offset: usize) -> Result<(), ParseError> {
        if self.root.is_some() {
            let kind = ParseErrorKind::Malformed { reason: "a second root element".into() };
            return Err(self.error_at(kind, path, offset));
        }
        self.count_element(offset)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.error_at(ParseErrorKind::TooDeep { limit: self.limits.max_depth }, path, offset));
        }
        Ok(())
    }

    fn count_element(&mut self, offset: usize) -> Result<(), ParseError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.error(ParseErrorKind::TooManyElements { limit: self.limits.max_elements }, offset));
        }
        Ok(())
    }

    /// edXML elements must be in the edXML namespace; the signature may be in XMLDSig's or none.
    /// `None`: a foreign element inside the signature, to be skipped.
    fn check_namespace(
        &mut self,
        ns: Resolved,
        name: &str,
        path: &str,
        in_signature: bool,
        offset: usize,
    ) -> Result<Option<Ns>, ParseError> {
        let wrong = |found: String| ParseErrorKind::WrongNamespace {
            element: name.to_owned(),
            found,
            expected: if in_signature { DSIG_NS } else { EDXML_NS },
        };
        match ns {
            Err(found) if in_signature && name != "Signature" && !found.starts_with("undeclared prefix") => {
                self.warn(
                    "foreign-namespace",
                    path,
                    offset,
                    format!("<{name}> in namespace {found:?} inside the signature; skipped"),
                );
                Ok(None)
            }
            Err(found) => Err(self.error_at(wrong(found), path, offset)),
            Ok(Ns::Unbound) if self.stack.is_empty() => Err(self.error_at(wrong(String::new()), path, offset)),
            Ok(Ns::Dsig) if !in_signature => Err(self.error_at(wrong(DSIG_NS.into()), path, offset)),
            Ok(Ns::Unbound) if !in_signature => {
                self.warn("no-namespace", path, offset, format!("<{name}> has no namespace; read as edXML"));
                Ok(Some(Ns::Unbound))
            }
            Ok(ns) => Ok(Some(ns)),
        }
    }

    fn read_attributes(
        &self,
        start: &BytesStart<'a>,
        path: &str,
        offset: usize,
    ) -> Result<Vec<(String, String)>, ParseError> {
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let malformed = |e: String| self.error_at(ParseErrorKind::Malformed { reason: e }, path, offset);
            let attribute = attribute.map_err(|e| malformed(e.to_string()))?;
            let key = attribute.key;
            if key.as_namespace_binding().is_some() {
                continue;
            }
            if attributes.len() >= self.limits.max_attributes {
                return Err(self.error_at(
                    ParseErrorKind::TooManyAttributes { limit: self.limits.max_attributes },
                    path,
                    offset,
                ));
            }
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.entity_error(&e.to_string(), path, offset))?;
            if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
                let reason = format!("character U+{:04X} is not allowed in an attribute value", c as u32);
                return Err(self.error_at(ParseErrorKind::Malformed { reason }, path, offset));
            }
            attributes.push((key.local_name().as_ref().to_owned(), value.into_owned()));
        }
        Ok(attributes)
    }

    fn close(&mut self) {
        let Some(element) = self.stack.pop() else {
            return;
        };
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(element),
            None => self.root = Some(element),
        }
    }

    fn push_text(&mut self, mut text: Cow<'a, str>, source: Source, offset: usize) -> Result<(), ParseError> {
        let Some(element) = self.stack.last_mut() else {
            if text.trim().is_empty() {
                return Ok(());
            }
            let kind = ParseErrorKind::Malformed { reason: "text outside the root element".into() };
            return Err(self.error(kind, offset));
        };
        if !element.children.is_empty() && text.trim().is_empty() {
            return Ok(());
        }
        if element.name != UNBOUNDED_TEXT {
            if source == Source::Literal && text.contains('\r') {
                text = Cow::Owned(normalize_eol(&text));
            }
            if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                let (kind, path) = (
                    ParseErrorKind::Malformed {
                        reason: format!("character U+{:04X} is not allowed in XML text", c as u32),
                    },
                    element.path.clone(),
                );
                return Err(self.error_at(kind, &path, offset));
            }
        }
        if element.text.is_empty() {
            element.text = text;
        } else {
            element.text.to_mut().push_str(&text);
        }
        if element.name != UNBOUNDED_TEXT && element.text.len() > self.limits.max_text_bytes {
            let path = element.path.clone();
            return Err(self.error_at(
                ParseErrorKind::TextTooLong { limit: self.limits.max_text_bytes },
                &path,
                offset,
            ));
        }
        Ok(())
    }

    /// Character references and the five predefined entities; anything else is refused.
    fn push_reference(&mut self, reference: &BytesRef<'a>, offset: usize) -> Result<(), ParseError> {
        let path = self.stack.last().map(|e| e.path.clone()).unwrap_or_default();
        let resolved = match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => c,
            Ok(Some(c)) => {
                return Err(self.entity_error(
                    &format!("character reference to U+{:04X}, which XML forbids", c as u32),
                    &path,
                    offset,
                ));
            }
            Ok(None) => predefined(reference).ok_or_else(|| {
                self.error_at(ParseErrorKind::UndeclaredEntity { name: reference.to_string() }, &path, offset)
            })?,
            Err(e) => return Err(self.entity_error(&e.to_string(), &path, offset)),
        };
        self.push_text(Cow::Owned(resolved.to_string()), Source::Reference, offset)
    }

    fn entity_error(&self, reason: &str, path: &str, offset: usize) -> ParseError {
        if let Some(name) =
            reason.split('&').nth(1).and_then(|rest| rest.split(';').next()).filter(|n| !n.starts_with('#'))
        {
            return self.error_at(ParseErrorKind::UndeclaredEntity { name: name.to_owned() }, path, offset);
        }
        self.error_at(ParseErrorKind::Malformed { reason: reason.to_owned() }, path, offset)
    }

    fn check_declaration(&self, decl: &quick_xml::events::BytesDecl<'_>, offset: usize) -> Result<(), ParseError> {
        if let Some(Ok(encoding)) = decl.encoding()
            && !encoding.eq_ignore_ascii_case("utf-8")
            && !encoding.eq_ignore_ascii_case("utf8")
        {
            return Err(self.error(ParseErrorKind::UnsupportedEncoding { found: encoding.into_owned() }, offset));
        }
        Ok(())
    }

    fn finish(&self, offset: usize) -> Result<(), ParseError> {
        match self.stack.last() {
            Some(open) => Err(self.error_at(ParseErrorKind::Truncated { open: open.name.clone() }, &open.path, offset)),
            None => Ok(()),
        }
    }

    fn xml_error(&self, error: &quick_xml::Error, offset: usize) -> ParseError {
        let path = self.stack.last().map(|e| e.path.clone()).unwrap_or_default();
        let truncated = matches!(error, quick_xml::Error::Syntax(_))
            && !self.input.as_bytes()[offset.min(self.input.len())..].contains(&b'>');
        match (truncated, self.stack.last()) {
            (true, Some(open)) => self.error_at(ParseErrorKind::Truncated { open: open.name.clone() }, &path, offset),
            _ => self.error_at(ParseErrorKind::Malformed { reason: error.to_string() }, &path, offset),
        }
    }

    fn warn(&mut self, code: &'static str, path: &str, offset: usize, message: String) {
        push_warning(self.warnings, self.input.as_bytes(), offset, code, path, message);
    }

    fn error(&self, kind: ParseErrorKind, offset: usize) -> ParseError {
        let path = self.stack.last().map(|e| e.path.clone()).unwrap_or_default();
        self.error_at(kind, &path, offset)
    }

    fn error_at(&self, kind: ParseErrorKind, path: &str, offset: usize) -> ParseError {
        let (line, column) = line_col(self.input.as_bytes(), offset);
        ParseError { kind, path: path.to_owned(), line: Some(line), column: Some(column) }
    }
}

/// Whether text was written as is (its line ends are normalised) or as a reference (kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Literal,
    Reference,
}

/// XML line-end normalisation of literal text: CR LF and lone CR become LF.
fn normalize_eol(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn predefined(reference: &BytesRef<'_>) -> Option<char> {
    match &**reference {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// XML 1.0 `Char`: no C0 controls but tab, line feed and carriage return.
pub(crate) fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}
