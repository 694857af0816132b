//! edXML (QCVN 102:2016) packages: the format in which Vietnamese state agencies exchange official
//! documents and processing statuses.
//!
//! - [`parse`] reads a package tolerantly (reporting each tolerance as a [`Warning`]) and strictly
//!   where a value cannot mean anything ([`ParseError`] names the element path and line);
//! - [`write`] writes one deterministically, in the layout of the official samples;
//! - [`validate`] checks what a receiving clerk relies on ([`Finding`]s with stable codes).
//!
//! Architecture invariant: this crate does no IO. It takes bytes and returns values or typed errors.

mod agency;
mod attachment;
mod build;
mod codes;
mod datetime;
mod decoded;
mod dom;
mod error;
mod limits;
pub mod model;
mod number;
mod parse;
mod validate;
mod write;

pub use agency::{AgencyCode, AgencyCodeError, CodeForm, MAX_DECISION20_LEN, OrganId};
pub use attachment::{AttachmentError, EncodedContent, EntryInfo, UnpackedFile, content_type_for, unsafe_path_reason};
pub use build::{AnswerError, answer};
pub use codes::{BusinessType, Priority, StatusCode, UnknownCode};
pub use datetime::{DateError, VIETNAM_OFFSET, VnDate, VnTimestamp};
pub use dom::{DSIG_NS, EDXML_NS};
pub use error::{MAX_WARNINGS, ParseError, ParseErrorKind, Warning};
pub use limits::{Limits, ZipLimits};
pub use model::Package;
pub use number::{DocumentNumber, DocumentNumberError};
pub use parse::{Parsed, parse};
pub use validate::{Finding, FindingCode, Severity, validate};
pub use write::write;
