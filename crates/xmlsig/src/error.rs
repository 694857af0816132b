//! Typed errors: what was wrong, and where.

/// Why a document is not XML we can canonicalize.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct XmlError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub kind: XmlErrorKind,
}

impl XmlError {
    pub(crate) fn new(offset: usize, kind: XmlErrorKind) -> Self {
        Self { offset, kind }
    }
}

/// What makes a document unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// Not well-formed XML.
    #[error("not well-formed: {0}")]
    Syntax(String),
    /// Not UTF-8 (or declared in another encoding).
    #[error("the document is not UTF-8")]
    Encoding,
    /// A document type declaration: refused (entities and default attributes would change what is signed).
    #[error("a DOCTYPE is not allowed")]
    Dtd,
    /// A reference to an entity that does not exist, or to a character XML forbids.
    #[error("unknown or invalid reference &{0};")]
    Reference(String),
    /// A namespace rule broken (undeclared prefix, reserved name, duplicate expanded attribute).
    #[error("namespace error: {0}")]
    Namespace(String),
    /// Content where XML allows none (text outside the root, a second root…).
    #[error("{0}")]
    Structure(&'static str),
    /// A bound exceeded.
    #[error("too large: {0}")]
    Limit(&'static str),
}

/// Why a package could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The package is not well-formed XML we can canonicalize.
    #[error("the package is not usable XML: {0}")]
    Malformed(#[from] XmlError),
    /// The package has no `edXML:edXMLHeader` to put the signature in.
    #[error("the package has no edXML:edXMLHeader element")]
    NoHeader,
    /// The package already carries more than one signature.
    #[error("the package carries {0} Signature elements; at most one is replaced")]
    TooManySignatures(usize),
    /// The certificate cannot be parsed.
    #[error("the signing certificate is not a valid X.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate does not certify this key.
    #[error("the signing certificate is not for this key")]
    CertificateMismatch,
    /// The key (or its device) failed to sign.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Why a package's signature is not accepted. Each variant names one failure; checks run in the
/// order: document, signature structure, algorithms, certificate, digest, signature value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The package is not well-formed XML we can canonicalize.
    #[error("the package is not usable XML: {0}")]
    Malformed(#[from] XmlError),
    /// No `Signature` element.
    #[error("the package is not signed")]
    Unsigned,
    /// More than one `Signature` element (we accept exactly one).
    #[error("the package carries {0} Signature elements; exactly one is accepted")]
    TooManySignatures(usize),
    /// The `Signature` element is not shaped as XMLDSig says (a missing or repeated part, bad base64).
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// An algorithm we do not implement or no longer accept.
    #[error("unsupported {role} algorithm {uri:?}")]
    UnsupportedAlgorithm {
        /// Which element named it (`SignatureMethod`, `DigestMethod`, `CanonicalizationMethod`, `Transform`).
        role: &'static str,
        /// The algorithm URI as written.
        uri: String,
    },
    /// A reference other than a single `URI=""` with the enveloped-signature transform.
    #[error("unsupported reference: {0}")]
    UnsupportedReference(String),
    /// `KeyInfo` carries no `X509Certificate`.
    #[error("the signature carries no X509Certificate in KeyInfo")]
    MissingCertificate,
    /// An `X509Certificate` that is not a certificate.
    #[error("a KeyInfo certificate cannot be parsed: {0}")]
    BadCertificate(String),
    /// The certificate's key cannot make this kind of signature (or is too weak).
    #[error("unsupported signer key: {0}")]
    UnsupportedKey(String),
    /// The document was changed after signing: its digest is not the one signed.
    #[error("digest mismatch: the package was changed after it was signed")]
    DigestMismatch,
    /// `SignatureValue` does not verify with the certificate's key over `SignedInfo`.
    #[error("bad signature: SignatureValue does not verify with the certificate's key")]
    BadSignature,
    /// `SignatureValue` does not verify, and the `Signature` is not in the XMLDSig namespace: its
    /// `SignedInfo` was canonicalized in the namespace the document gives it, but the signer may
    /// have canonicalized it in another, so a forgery and a namespace mix-up cannot be told apart.
    #[error(
        "the signature does not verify and its Signature element is in namespace {namespace:?}, not XMLDSig's: \
         it cannot be verified reliably"
    )]
    UnverifiableNamespace {
        /// The namespace the `Signature` element is in (`""`: none).
        namespace: String,
    },
}
