//! Why an envelope could not be sealed or opened.

use crate::{MAX_CONTENT_BYTES, MAX_ENVELOPE_BYTES, MAX_RECIPIENTS};

/// Why [`crate::seal`], [`crate::seal_to`] or [`crate::seal_to_recipients`] refused, or why
/// [`crate::Recipient`] cannot read a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The content is larger than [`MAX_CONTENT_BYTES`].
    #[error("the content is {0} bytes, more than {MAX_CONTENT_BYTES}")]
    TooLarge(usize),
    /// The envelope would be larger than [`MAX_ENVELOPE_BYTES`] (huge recipient certificates).
    #[error("the envelope would be {0} bytes, more than {MAX_ENVELOPE_BYTES}")]
    EnvelopeTooLarge(usize),
    /// No recipient, or more than [`MAX_RECIPIENTS`].
    #[error("an envelope is sealed for 1 to {MAX_RECIPIENTS} recipients, not {0}")]
    RecipientCount(usize),
    /// A recipient certificate that is not a DER X.509 certificate.
    #[error("recipient {index}: not an X.509 certificate: {reason}")]
    Certificate {
        /// The recipient's position in the list, from 0.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A recipient key that cannot receive a content key: not RSA of 2048 bits or more, nor P-256.
    #[error("recipient {index}: {reason}")]
    UnsupportedKey {
        /// The recipient's position in the list, from 0.
        index: usize,
        /// What the key is.
        reason: String,
    },
    /// The certificate's key usage does not allow encrypting to it (a signing certificate).
    #[error("recipient {index}: the certificate's key usage does not include {needed}")]
    KeyUsage {
        /// The recipient's position in the list, from 0.
        index: usize,
        /// The key usage required: keyEncipherment (RSA) or keyAgreement (P-256).
        needed: &'static str,
    },
    /// Writing the envelope to the caller's writer failed; what was written is incomplete.
    #[error("{what}: {message}")]
    Io {
        /// What was being written: the envelope's header, the ciphertext, the tag, or the flush.
        what: &'static str,
        /// The I/O error's kind.
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// The cryptographic library or the encoder failed (not the caller's fault).
    #[error("sealing failed: {0}")]
    Internal(&'static str),
}

/// Why [`crate::open`] or [`crate::open_to`] (or an [`crate::Opener`]) gave no content (or, for
/// `open_to`, why what it wrote must be discarded), or why an `Opener` cannot be made. Only [`OpenError::NotForUs`] and
/// [`OpenError::Tampered`] speak about an envelope that was well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope is larger than [`MAX_ENVELOPE_BYTES`].
    #[error("the envelope is {0} bytes, more than {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    /// Not a DER CMS ContentInfo holding an AuthEnvelopedData (truncated, garbage, BER).
    #[error("not a CMS AuthEnvelopedData: {0}")]
    Malformed(String),
    /// More than [`MAX_RECIPIENTS`] RecipientInfos (or encrypted keys in one of them).
    #[error("the envelope has {0} recipients, more than {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    /// No RecipientInfo names this certificate (by issuer and serial number or by subject key
    /// identifier): the envelope was sealed for someone else.
    #[error("the envelope is not addressed to this certificate")]
    NotForUs,
    /// An algorithm or parameter this crate does not implement (or refuses, such as a short tag).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The content key did not unwrap, or the content failed authentication: the envelope was
    /// altered after sealing, or was sealed for another key under our name. [`crate::open`]
    /// releases no content; what [`crate::open_to`] wrote before finding out must be discarded.
    #[error("the envelope failed authentication: it was altered or its key is not ours")]
    Tampered,
    /// Our certificate is not a DER X.509 certificate with an RSA or P-256 key.
    #[error("our certificate cannot be used: {0}")]
    Certificate(String),
    /// Our private key is not an unencrypted PKCS#8 key of the certificate's algorithm.
    #[error("our private key cannot be used: {0}")]
    Key(String),
    /// Our private key does not belong to our certificate.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// Writing the content to the caller's writer failed ([`crate::open_to`]); what was written
    /// is incomplete and unauthenticated.
    #[error("{what}: {message}")]
    Io {
        /// What was being written: the content, or the flush.
        what: &'static str,
        /// The I/O error's kind.
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// The cryptographic library failed (not the envelope's fault).
    #[error("opening failed: {0}")]
    Internal(&'static str),
}

impl SealError {
    /// An [`SealError::Io`] maker for `map_err`, naming what was being written.
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |error| Self::Io { what, kind: error.kind(), message: error.to_string() }
    }

    /// What is wrong, without the recipient's position: for a message about one certificate
    /// ([`crate::Recipient::parse`]), which names it otherwise.
    pub fn problem(&self) -> String {
        let text = self.to_string();
        match self {
            Self::Certificate { index, .. } | Self::UnsupportedKey { index, .. } | Self::KeyUsage { index, .. } => {
                text.strip_prefix(&format!("recipient {index}: ")).map_or_else(|| text.clone(), str::to_owned)
            }
            _ => text,
        }
    }
}

impl OpenError {
    /// An [`OpenError::Io`] maker for `map_err`, naming what was being written.
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |error| Self::Io { what, kind: error.kind(), message: error.to_string() }
    }
}
