//! Who is on the other end of a connection: the client certificate the server verified, put into
//! every request's extensions for handlers to extract.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// The prefix of the agency code in a subject's organizationIdentifier.
const AGENCY_PREFIX: &str = "GOVVN-";

/// The client's end-entity certificate (DER), as verified during the handshake. Present in a
/// request's extensions only if the client presented a certificate; extract it with
/// `axum::Extension<PeerCertificate>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate(pub Arc<[u8]>);

impl PeerCertificate {
    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.0
    }
}

/// What a handler needs to know about a verified client certificate. As an extractor, it
/// refuses a request without one with `401 Unauthorized`; `Option<PeerIdentity>` does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The agency code from the subject's organizationIdentifier (`GOVVN-<code>`), as written.
    pub agency_code: Option<String>,
    /// The subject distinguished name, as text.
    pub subject: String,
    /// The serial, upper-case hexadecimal without leading zeros (as the CA stores it).
    pub serial: String,
}

impl PeerIdentity {
    /// Reads a certificate's subject, agency code and serial; `None` if it cannot be parsed.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let organization_identifier = x509_parser::oid_registry::Oid::from(pki::ORGANIZATION_IDENTIFIER).ok()?;
        let agency_code = cert
            .subject()
            .iter_attributes()
            .find(|attribute| attribute.attr_type() == &organization_identifier)
            .and_then(|attribute| attribute.as_str().ok())
            .and_then(|value| value.strip_prefix(AGENCY_PREFIX))
            .map(str::to_owned);
        Some(Self {
            agency_code,
            subject: cert.subject().to_string(),
            serial: pki::CertSerial::from_bytes(cert.raw_serial()).to_hex(),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PeerIdentity {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or((StatusCode::UNAUTHORIZED, "a client certificate issued by the government CA is required"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for PeerIdentity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}
