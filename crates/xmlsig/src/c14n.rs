//! Canonical XML 1.0 (inclusive) and Exclusive XML Canonicalization 1.0, both without comments,
//! in one streaming pass: output goes to a [`Sink`] (a buffer, or a digest), so a 10 MB package
//! is hashed without building its canonical form in memory.

use std::borrow::Cow;

use crate::error::XmlError;
use crate::xml::{Attribute, Binding, Node, Scanner, Start, document_text};

/// A canonicalization method, without comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canonicalization {
    /// Exclusive XML Canonicalization 1.0: an element renders only the namespaces it visibly
    /// uses, plus those whose prefixes are listed (`InclusiveNamespaces PrefixList`; `#default`
    /// stands for the default namespace).
    Exclusive {
        /// The `InclusiveNamespaces PrefixList`, split.
        inclusive_prefixes: Vec<String>,
    },
    /// Canonical XML 1.0: an element renders every namespace in scope its output parent did not.
    Inclusive,
}

impl Canonicalization {
    /// Exclusive canonicalization with an empty prefix list.
    pub fn exclusive() -> Self {
        Self::Exclusive { inclusive_prefixes: Vec::new() }
    }
}

/// The canonical form of a whole document.
pub fn canonicalize(xml: &[u8], method: &Canonicalization) -> Result<Vec<u8>, XmlError> {
    let mut out = Vec::with_capacity(xml.len());
    canonicalize_into(document_text(xml)?, method, Selection::Document { except: None }, &mut out)?;
    Ok(out)
}

/// Which nodes are canonicalized. Elements are named by the offset of their start tag.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Selection {
    /// The whole document, without one element's subtree (the enveloped-signature transform).
    Document { except: Option<usize> },
    /// One element's subtree.
    Subtree { at: usize },
}

/// Where canonical bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for aws_lc_rs::digest::Context {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// What a pass over a document also finds (this pass and [`crate::outline`]'s, with the same
/// code, so the two agree): enough to sign a document that has no signature yet without a second
/// pass, and to refuse a second signature where verifying reads no outline.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Landmarks {
    /// How many elements named `Signature` (in any namespace) there are.
    pub(crate) signatures: usize,
    /// The offset of the first `edXML:edXMLHeader`'s end tag.
    pub(crate) header_end: Option<usize>,
    /// The depth of that header while it is open.
    header_depth: Option<usize>,
}

impl Landmarks {
    /// Notes an element's start tag (`depth` its depth).
    pub(crate) fn started(&mut self, start: &Start<'_>, depth: usize) {
        if start.local == "Signature" {
            self.signatures += 1;
        }
        if self.header_depth.is_none() && start.local == "edXMLHeader" && start.ns == edxml::EDXML_NS {
            self.header_depth = Some(depth);
        }
    }

    /// Notes the end tag at `at` of the element at `depth`.
    pub(crate) fn ended(&mut self, at: usize, depth: usize) {
        if self.header_end.is_none() && self.header_depth == Some(depth) {
            self.header_end = Some(at);
        }
    }
}

/// Canonicalizes the selected nodes of `text` into `sink`; with the [`Landmarks`] of what was
/// read (the whole document unless a subtree is selected: its reading stops where it closes).
pub(crate) fn canonicalize_into(
    text: &str,
    method: &Canonicalization,
    selection: Selection,
    sink: &mut dyn Sink,
) -> Result<Landmarks, XmlError> {
    let mut c14n = Canonicalizer { method, sink, rendered: Vec::new(), open: Vec::new(), skip_depth: None };
    let mut scanner = Scanner::new(text);
    let mut inside = matches!(selection, Selection::Document { .. });
    let mut landmarks = Landmarks::default();
    while let Some(node) = scanner.next()? {
        match node {
            Node::Start(start) => {
                landmarks.started(&start, scanner.depth());
                let apex = matches!(selection, Selection::Subtree { at } if at == start.span.0);
                inside |= apex;
                let excluded = matches!(selection, Selection::Document { except: Some(at) } if at == start.span.0);
                if c14n.skip_depth.is_none() && excluded {
                    c14n.skip_depth = Some(scanner.depth());
                }
                c14n.start(&scanner, &start, inside && c14n.skip_depth.is_none(), apex);
            }
            Node::End { span } => {
                landmarks.ended(span.0, scanner.depth() + 1);
                let closed = c14n.end(scanner.depth() + 1);
                // A subtree is done when its apex closes: the rest of the document is not read.
                if closed && c14n.open.is_empty() && inside && matches!(selection, Selection::Subtree { .. }) {
                    return Ok(landmarks);
                }
            }
            Node::Text { text, as_written, .. } if inside && c14n.skip_depth.is_none() && !c14n.open.is_empty() => {
                match as_written {
                    true => escape_text_as_written(&text, c14n.sink),
                    false => escape_text(&text, c14n.sink),
                }
            }
            Node::Text { .. } => {}
            Node::Pi { target, content, after_root } if inside && c14n.skip_depth.is_none() => {
                c14n.pi(&target, &content, after_root);
            }
            Node::Pi { .. } => {}
        }
    }
    Ok(landmarks)
}

struct Canonicalizer<'m, 's, 'a> {
    method: &'m Canonicalization,
    sink: &'s mut dyn Sink,
    /// Namespaces rendered by output ancestors, innermost last, with their depth.
    rendered: Vec<(usize, Binding<'a>)>,
    /// Output elements still open: depth and qualified name.
    open: Vec<(usize, &'a str)>,
    /// The depth of the excluded element while inside it.
    skip_depth: Option<usize>,
}

impl<'a> Canonicalizer<'_, '_, 'a> {
    fn start(&mut self, scanner: &Scanner<'a>, start: &Start<'a>, output: bool, apex: bool) {
        if !output {
            return;
        }
        let depth = scanner.depth();
        let mut declarations = Vec::new();
        for binding in self.candidates(scanner, start) {
            let rendered = self.rendered_uri(&binding.prefix);
            if rendered != binding.uri {
                declarations.push(binding);
            }
        }
        let mut attributes: Vec<&Attribute<'_>> = start.attributes.iter().collect();
        let inherited = match (self.method, apex) {
            (Canonicalization::Inclusive, true) => scanner.inherited_xml_attributes(),
            _ => Vec::new(),
        };
        for attribute in &inherited {
            if !attributes.iter().any(|a| a.prefix == "xml" && a.local == attribute.local) {
                attributes.push(attribute);
            }
        }
        attributes.sort_by(|a, b| (&a.ns, &a.local).cmp(&(&b.ns, &b.local)));
        self.write_start_tag(start.qname, &declarations, &attributes);
        self.rendered.extend(declarations.into_iter().map(|b| (depth, b)));
        self.open.push((depth, start.qname));
    }

    /// The namespaces this element may render: all in scope (inclusive), or those it visibly
    /// uses plus the listed prefixes (exclusive). Sorted by prefix, the default first.
    fn candidates(&self, scanner: &Scanner<'a>, start: &Start<'a>) -> Vec<Binding<'a>> {
        let Canonicalization::Exclusive { inclusive_prefixes } = self.method else {
            let mut all = scanner.in_scope();
            all.retain(|b| !(b.prefix.is_empty() && b.uri.is_empty()));
            all.push(Binding { prefix: Cow::Borrowed(""), uri: scanner.resolve("").unwrap_or_default() });
            return dedup_sorted(all);
        };
        let mut used: Vec<Cow<'a, str>> = vec![Cow::Borrowed(start.prefix)];
        used.extend(start.attributes.iter().filter(|a| !a.prefix.is_empty()).map(|a| Cow::Borrowed(a.prefix)));
        for listed in inclusive_prefixes {
            used.push(if listed == "#default" { Cow::Borrowed("") } else { Cow::Owned(listed.clone()) });
        }
        let bindings = used
            .into_iter()
            .filter(|prefix| prefix != "xml")
            .filter_map(|prefix| scanner.resolve(&prefix).map(|uri| Binding { uri, prefix }))
            .collect();
        dedup_sorted(bindings)
    }

    fn rendered_uri(&self, prefix: &str) -> &str {
        self.rendered.iter().rev().find(|(_, b)| b.prefix == prefix).map_or("", |(_, b)| &*b.uri)
    }

    fn write_start_tag(&mut self, qname: &str, declarations: &[Binding<'_>], attributes: &[&Attribute<'_>]) {
        self.sink.put(b"<");
        self.sink.put(qname.as_bytes());
        for binding in declarations {
            self.sink.put(if binding.prefix.is_empty() { b" xmlns" } else { b" xmlns:" });
            self.sink.put(binding.prefix.as_bytes());
            self.sink.put(b"=\"");
            escape_attribute(&binding.uri, self.sink);
            self.sink.put(b"\"");
        }
        for attribute in attributes {
            self.sink.put(b" ");
            self.sink.put(attribute.qname.as_bytes());
            self.sink.put(b"=\"");
            escape_attribute(&attribute.value, self.sink);
            self.sink.put(b"\"");
        }
        self.sink.put(b">");
    }

    /// Closes the element at `depth`; true when it was an output element.
    fn end(&mut self, depth: usize) -> bool {
        if self.skip_depth == Some(depth) {
            self.skip_depth = None;
            return false;
        }
        self.rendered.retain(|(d, _)| *d < depth);
        match self.open.last() {
            Some((open_depth, qname)) if *open_depth == depth => {
                self.sink.put(b"</");
                self.sink.put(qname.as_bytes());
                self.sink.put(b">");
                self.open.pop();
                true
            }
            _ => false,
        }
    }

    fn pi(&mut self, target: &str, content: &str, after_root: Option<bool>) {
        if after_root == Some(true) {
            self.sink.put(b"\n");
        }
        self.sink.put(b"<?");
        self.sink.put(target.as_bytes());
        if !content.is_empty() {
            self.sink.put(b" ");
            self.sink.put(content.as_bytes());
        }
        self.sink.put(b"?>");
        if after_root == Some(false) {
            self.sink.put(b"\n");
        }
    }
}

fn dedup_sorted(mut bindings: Vec<Binding<'_>>) -> Vec<Binding<'_>> {
    bindings.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    bindings.dedup_by(|a, b| a.prefix == b.prefix);
    bindings
}

/// Text as written, its line ends normalised on the way (CR LF and a lone CR become LF, so no
/// CR is left to escape), then escaped: no copy of the text is made.
fn escape_text_as_written(text: &str, sink: &mut dyn Sink) {
    let mut lines = text.split('\r');
    if let Some(first) = lines.next() {
        escape_text(first, sink);
    }
    for line in lines {
        // This segment followed a CR: a CR LF is its LF alone, a lone CR becomes one.
        if !line.starts_with('\n') {
            sink.put(b"\n");
        }
        escape_text(line, sink);
    }
}

/// Text node escaping: `&`, `<`, `>` and carriage return.
fn escape_text(text: &str, sink: &mut dyn Sink) {
    escape(text, sink, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Attribute value escaping: `&`, `<`, `"`, tab, line feed and carriage return.
fn escape_attribute(text: &str, sink: &mut dyn Sink) {
    escape(text, sink, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Writes `text`, replacing the bytes `replacement` names, in runs (linear in the text's length).
/// Blocks of [`BLOCK`] bytes none of which is replaced are passed over whole, tested without a
/// branch per byte (so the compiler vectorises the test): a document's text is mostly base64,
/// where nothing is.
fn escape(text: &str, sink: &mut dyn Sink, replacement: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        let block = bytes.get(at..at + BLOCK).and_then(|b| <&[u8; BLOCK]>::try_from(b).ok());
        if block.is_some_and(|block| !block.iter().fold(false, |any, &b| any | replacement(b).is_some())) {
            at += BLOCK;
            continue;
        }
        let end = (at + BLOCK).min(bytes.len());
        for (i, &b) in bytes.iter().enumerate().take(end).skip(at) {
            if let Some(escaped) = replacement(b) {
                sink.put(&bytes[run..i]);
                sink.put(escaped);
                run = i + 1;
            }
        }
        at = end;
    }
    sink.put(&bytes[run..]);
}

const BLOCK: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaping as the recommendation states it, one byte at a time.
    fn reference(text: &str, attribute: bool) -> String {
        text.chars()
            .map(|c| match (c, attribute) {
                ('&', _) => "&amp;".into(),
                ('<', _) => "&lt;".into(),
                ('>', false) => "&gt;".into(),
                ('"', true) => "&quot;".into(),
                ('\t', true) => "&#x9;".into(),
                ('\n', true) => "&#xA;".into(),
                ('\r', _) => "&#xD;".into(),
                (c, _) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn text_as_written_has_its_line_ends_normalised_while_escaped() {
        for (written, expected) in [
            ("a\r\nb", "a\nb"),
            ("a\rb", "a\nb"),
            ("a\r\r\nb\r", "a\n\nb\n"),
            ("\r\n\r\n", "\n\n"),
            ("x<&>\r\ny", "x&lt;&amp;&gt;\ny"),
            ("no line end", "no line end"),
            ("", ""),
        ] {
            let mut streamed = Vec::new();
            escape_text_as_written(written, &mut streamed);
            let mut copied = Vec::new();
            escape_text(&crate::xml::normalize_line_ends(written.into()), &mut copied);
            assert_eq!(String::from_utf8(streamed).expect("utf-8"), expected, "{written:?}");
            assert_eq!(String::from_utf8(copied).expect("utf-8"), expected, "{written:?}");
        }
    }

    #[test]
    fn escaping_in_blocks_matches_escaping_byte_by_byte_wherever_the_special_bytes_fall() {
        let filler = "QUJDRGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo0NTY3ODkrLw==ệ";
        for special in ["&", "<", ">", "\"", "\t", "\n", "\r", "&<", "\r\n>"] {
            for len in [0, 1, 31, 32, 33, 63, 64, 65, 200] {
                for at in [0, 1, 30, 31, 32, 33, 64, len] {
                    let base: String = filler.chars().cycle().take(len).collect();
                    let cut = base.char_indices().map(|(i, _)| i).nth(at).unwrap_or(base.len());
                    let text = format!("{}{special}{}", &base[..cut], &base[cut..]);
                    let mut text_out = Vec::new();
                    escape_text(&text, &mut text_out);
                    assert_eq!(String::from_utf8(text_out).expect("utf-8"), reference(&text, false), "{text:?}");
                    let mut attribute_out = Vec::new();
                    escape_attribute(&text, &mut attribute_out);
                    assert_eq!(String::from_utf8(attribute_out).expect("utf-8"), reference(&text, true), "{text:?}");
                }
            }
        }
    }
}
