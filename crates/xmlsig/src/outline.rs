//! One pass over a package that finds what signing and verifying need: the first element named
//! `Signature` (by local name, in any namespace) with its subtree as a small tree, how many
//! there are, and where the `edXML:edXMLHeader` ends ([`Landmarks`], as the canonicalizer's
//! pass counts them).

use std::borrow::Cow;

use crate::c14n::Landmarks;
use crate::error::{XmlError, XmlErrorKind};
use crate::xml::{Node, Scanner, is_blank, normalize_line_ends};

/// Bounds on a signature's subtree.
const MAX_SIGNATURE_BYTES: usize = 512 * 1024;
const MAX_SIGNATURE_ELEMENTS: usize = 512;

/// An element of a signature's subtree.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) local: String,
    pub(crate) ns: String,
    /// Unprefixed attributes (XMLDSig's own), by local name.
    pub(crate) attributes: Vec<(String, String)>,
    /// The element's own character data, concatenated.
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
    /// Offset of the start tag.
    pub(crate) start: usize,
}

impl Element {
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Children with this local name.
    pub(crate) fn children_named<'e, 'n>(&'e self, local: &'n str) -> impl Iterator<Item = &'e Element> + use<'e, 'n> {
        self.children.iter().filter(move |c| c.local == local)
    }
}

/// A `Signature` element: its tree and where it sits in the input.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) tree: Element,
    /// From its start tag's `<` to just after its end tag.
    pub(crate) span: (usize, usize),
    /// Where the whitespace-only text just before it begins (its `span.0` when there is none).
    pub(crate) leading_space: usize,
}

/// What the pass found.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    /// The first `Signature` (its tree; later ones are only counted).
    pub(crate) signatures: Vec<Found>,
    /// How many `Signature` elements there are and where the header ends, counted as the
    /// canonicalizer counts them (the same code), in what was read.
    pub(crate) landmarks: Landmarks,
}

/// Reads the whole document (so it is also checked to be well-formed).
pub(crate) fn outline(text: &str) -> Result<Outline, XmlError> {
    read(text, Extent::Whole)
}

/// Reads the document up to the end of its first `Signature` (the whole document when it has
/// none): what verifying needs, as its digest's pass reads the rest and counts the signatures
/// there ([`Landmarks`]). The landmarks cover only what was read.
pub(crate) fn through_first_signature(text: &str) -> Result<Outline, XmlError> {
    read(text, Extent::ThroughFirstSignature)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Extent {
    Whole,
    ThroughFirstSignature,
}

fn read(text: &str, extent: Extent) -> Result<Outline, XmlError> {
    let mut scanner = Scanner::new(text);
    let mut outline = Outline::default();
    let mut stack: Vec<Element> = Vec::new();
    let mut signature_depth = None;
    let mut space_start: Option<usize> = None;
    let mut signature_space = 0;
    let mut signature_elements = 0;
    let mut signature_text = 0;
    while let Some(node) = scanner.next()? {
        match node {
            Node::Start(start) => {
                let depth = scanner.depth();
                outline.landmarks.started(&start, depth);
                if start.local == "Signature" && signature_depth.is_none() {
                    signature_depth = Some(depth);
                    signature_space = space_start.unwrap_or(start.span.0);
                }
                // Only the first signature's tree is kept: more than one is refused anyway.
                if signature_depth.is_some() && outline.signatures.is_empty() {
                    signature_elements += 1;
                    if signature_elements > MAX_SIGNATURE_ELEMENTS {
                        return Err(XmlError::new(start.span.0, XmlErrorKind::Limit("signature elements")));
                    }
                    let attributes = start
                        .attributes
                        .into_iter()
                        .filter(|a| a.prefix.is_empty())
                        .map(|a| (a.local.to_owned(), a.value.into_owned()))
                        .collect();
                    stack.push(Element {
                        local: start.local.to_owned(),
                        ns: start.ns.into_owned(),
                        attributes,
                        start: start.span.0,
                        ..Element::default()
                    });
                }
                space_start = None;
            }
            Node::End { span } => {
                let depth = scanner.depth() + 1;
                outline.landmarks.ended(span.0, depth);
                if let Some(element) = stack.pop() {
                    close(&mut stack, element, &mut outline, (signature_space, span.1));
                    if extent == Extent::ThroughFirstSignature && !outline.signatures.is_empty() {
                        return Ok(outline);
                    }
                }
                if signature_depth == Some(depth) {
                    signature_depth = None;
                }
                space_start = None;
            }
            Node::Text { text, as_written, span } => {
                if let Some(element) = stack.last_mut() {
                    signature_text += text.len();
                    if signature_text > MAX_SIGNATURE_BYTES {
                        return Err(XmlError::new(span.0, XmlErrorKind::Limit("signature size")));
                    }
                    match as_written {
                        true => element.text.push_str(&normalize_line_ends(Cow::Borrowed(&text))),
                        false => element.text.push_str(&text),
                    }
                }
                // As written, a CR stands for LF; a resolved reference is taken as is.
                let blank = match as_written {
                    true => is_blank(&text),
                    false => text.chars().all(|c| matches!(c, ' ' | '\t' | '\n')),
                };
                space_start = match (blank, space_start) {
                    (true, None) => Some(span.0),
                    (true, kept) => kept,
                    (false, _) => None,
                };
            }
            Node::Pi { .. } => space_start = None,
        }
    }
    Ok(outline)
}

/// Attaches a finished element to its parent, or records a finished `Signature`.
fn close(stack: &mut [Element], element: Element, outline: &mut Outline, span: (usize, usize)) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => {
            let found = Found { span: (element.start, span.1), leading_space: span.0, tree: element };
            outline.signatures.push(found);
        }
    }
}
