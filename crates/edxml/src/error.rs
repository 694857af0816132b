//! Parse errors and warnings: each with a stable code, the element path and the line.

use std::fmt;

use serde::Serialize;

use crate::AttachmentError;

/// A package that could not be read. Names what is wrong, where (element path) and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Element path, e.g. `edXML/edXMLEnvelope/edXMLHeader/MessageHeader/DueDate`; empty if none.
    pub path: String,
    /// 1-based line, if known.
    pub line: Option<u32>,
    /// 1-based column (in bytes), if known.
    pub column: Option<u32>,
}

/// What made a package unreadable. [`ParseErrorKind::code`] is stable; tools may match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Zero bytes, or only white space.
    #[error("the file is empty")]
    Empty,
    /// Larger than [`crate::Limits::max_package_bytes`].
    #[error("the package is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Size found.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes before the `<?xml` declaration.
    #[error(
        "{count} bytes of garbage before the XML declaration (starting {preview:?}): the file must start with <?xml"
    )]
    GarbageBeforeDeclaration {
        /// How many bytes precede the declaration.
        count: usize,
        /// The first of them.
        preview: String,
    },
    /// Not XML at all.
    #[error("this is not XML: it does not start with '<'")]
    NotXml,
    /// A byte sequence that is not UTF-8.
    #[error("invalid UTF-8 at byte offset {offset}: edXML packages are UTF-8")]
    InvalidUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// The declaration names an encoding other than UTF-8.
    #[error("the declaration says encoding {found:?}: only UTF-8 is accepted")]
    UnsupportedEncoding {
        /// The encoding named.
        found: String,
    },
    /// A `<!DOCTYPE …>`: refused, so no entity expansion can happen.
    #[error("a DOCTYPE (DTD) is not allowed in a package: entity definitions are refused")]
    Doctype,
    /// A reference to an entity other than the five XML predefines it.
    #[error("undeclared entity &{name};")]
    UndeclaredEntity {
        /// The entity name.
        name: String,
    },
    /// Not well-formed XML.
    #[error("not well-formed XML: {reason}")]
    Malformed {
        /// The XML reader's explanation.
        reason: String,
    },
    /// The file ends inside an element.
    #[error("the file ends before element <{open}> is closed: the package is truncated")]
    Truncated {
        /// The innermost open element.
        open: String,
    },
    /// The root element is not `edXML`.
    #[error("the root element is <{found}>, not <edXML>")]
    WrongRoot {
        /// The root element found.
        found: String,
    },
    /// An element in a namespace other than edXML's (or XMLDSig's, for the signature).
    #[error("element <{element}> is in namespace {found:?}, expected {expected}")]
    WrongNamespace {
        /// The element's local name.
        element: String,
        /// The namespace found ("" for none).
        found: String,
        /// The namespace expected.
        expected: &'static str,
    },
    /// A required structural element is absent.
    #[error("element <{name}> is missing")]
    MissingElement {
        /// The element's local name.
        name: &'static str,
    },
    /// An element that may appear once appears more often.
    #[error("element <{name}> appears more than once")]
    DuplicateElement {
        /// The element's local name.
        name: String,
    },
    /// A value that does not parse as its type (date, number, code).
    #[error("invalid value: {reason}")]
    InvalidValue {
        /// What is wrong with it.
        reason: String,
    },
    /// Nested deeper than [`crate::Limits::max_depth`].
    #[error("elements nest deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More elements than [`crate::Limits::max_elements`].
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// More attributes on one element than [`crate::Limits::max_attributes`].
    #[error("more than {limit} attributes on one element")]
    TooManyAttributes {
        /// The limit.
        limit: usize,
    },
    /// A text longer than [`crate::Limits::max_text_bytes`].
    #[error("text longer than {limit} bytes")]
    TextTooLong {
        /// The limit.
        limit: usize,
    },
    /// More attachments than [`crate::Limits::max_attachments`].
    #[error("more than {limit} attachments")]
    TooManyAttachments {
        /// The limit.
        limit: usize,
    },
    /// Attachment content that is not base64.
    #[error("attachment content: {0}")]
    AttachmentEncoding(AttachmentError),
}

impl ParseErrorKind {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::GarbageBeforeDeclaration { .. } => "garbage-before-declaration",
            Self::NotXml => "not-xml",
            Self::InvalidUtf8 { .. } => "invalid-utf8",
            Self::UnsupportedEncoding { .. } => "unsupported-encoding",
            Self::Doctype => "doctype-forbidden",
            Self::UndeclaredEntity { .. } => "undeclared-entity",
            Self::Malformed { .. } => "malformed-xml",
            Self::Truncated { .. } => "truncated",
            Self::WrongRoot { .. } => "wrong-root",
            Self::WrongNamespace { .. } => "wrong-namespace",
            Self::MissingElement { .. } => "missing-element",
            Self::DuplicateElement { .. } => "duplicate-element",
            Self::InvalidValue { .. } => "invalid-value",
            Self::TooDeep { .. } => "too-deep",
            Self::TooManyElements { .. } => "too-many-elements",
            Self::TooManyAttributes { .. } => "too-many-attributes",
            Self::TextTooLong { .. } => "text-too-long",
            Self::TooManyAttachments { .. } => "too-many-attachments",
            Self::AttachmentEncoding(_) => "attachment-not-base64",
        }
    }

    /// A short Vietnamese title for people.
    pub fn title_vi(&self) -> &'static str {
        match self {
            Self::Empty => "Tệp rỗng",
            Self::TooLarge { .. } => "Gói tin quá lớn",
            Self::GarbageBeforeDeclaration { .. } => "Có dữ liệu thừa trước khai báo XML",
            Self::NotXml => "Không phải XML",
            Self::InvalidUtf8 { .. } => "Mã hóa UTF-8 không hợp lệ",
            Self::UnsupportedEncoding { .. } => "Bảng mã không được hỗ trợ",
            Self::Doctype => "Không chấp nhận DTD",
            Self::UndeclaredEntity { .. } => "Thực thể chưa khai báo",
            Self::Malformed { .. } => "XML sai cú pháp",
            Self::Truncated { .. } => "Gói tin bị cắt cụt",
            Self::WrongRoot { .. } => "Sai phần tử gốc",
            Self::WrongNamespace { .. } => "Sai không gian tên",
            Self::MissingElement { .. } => "Thiếu phần tử",
            Self::DuplicateElement { .. } => "Phần tử bị lặp",
            Self::InvalidValue { .. } => "Giá trị không hợp lệ",
            Self::TooDeep { .. } => "Lồng quá sâu",
            Self::TooManyElements { .. } => "Quá nhiều phần tử",
            Self::TooManyAttributes { .. } => "Quá nhiều thuộc tính",
            Self::TextTooLong { .. } => "Nội dung quá dài",
            Self::TooManyAttachments { .. } => "Quá nhiều tệp đính kèm",
            Self::AttachmentEncoding(_) => "Tệp đính kèm không phải base64",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line}")?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Something real traffic does that the format does not say, accepted and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable code, e.g. `element-order`.
    pub code: &'static str,
    /// Element path.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// What was tolerated.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {} (line {}): {}", self.code, self.path, self.line, self.message)
    }
}

/// Most warnings kept for one package; past it, one last warning says more were dropped.
pub const MAX_WARNINGS: usize = 64;

/// Adds a warning unless the cap is reached (each costs a scan of the input for its line).
pub(crate) fn push_warning(
    warnings: &mut Vec<Warning>,
    input: &[u8],
    offset: usize,
    code: &'static str,
    path: &str,
    message: String,
) {
    if warnings.len() > MAX_WARNINGS {
        return;
    }
    let (line, _) = line_col(input, offset);
    let (code, message) = match warnings.len() {
        MAX_WARNINGS => ("warnings-truncated", format!("more than {MAX_WARNINGS} warnings; the rest are not listed")),
        _ => (code, message),
    };
    warnings.push(Warning { code, path: path.to_owned(), line, message });
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(input: &[u8], offset: usize) -> (u32, u32) {
    let before = &input[..offset.min(input.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line as u32, column as u32)
}
