//! Mutual TLS between the gateways and the hub, with certificates from the government CA.
//!
//! - [`serve`] runs an axum [`Router`](axum::Router) over HTTPS (HTTP/1.1, TLS 1.3 only). Client
//!   certificates are verified against the configured roots and the CA's current CRLs, which
//!   [`ServerTls::set_crls`] replaces at runtime: new handshakes use them at once, and open
//!   connections whose certificate they now refuse are closed after their current request. A
//!   handler learns who is calling from [`PeerIdentity`] and [`PeerCertificate`].
//! - [`Client`] is an HTTPS client for a gateway talking to the hub: it trusts only the given
//!   roots (never the system's), presents the gateway's certificate, pools connections, streams
//!   request bodies and bounds what it reads back.
//!
//! Both sides take their key as an [`Identity`]: a software key (PKCS#8) or a [`pki::KeyPair`],
//! whose key may be in a device (PKCS#11): then every handshake signature is made by the device.
//!
//! The crypto provider is aws-lc-rs; TLS 1.2 is not offered, nor is session resumption on the
//! server (a resumed session would skip the revocation check).

mod client;
mod identity;
mod peer;
mod server;
mod watched;

pub use client::{Client, ClientError, ClientLimits, ClientTls, Response};
pub use identity::Identity;
pub use peer::{PeerCertificate, PeerIdentity};
pub use server::{ClientAuth, RevocationDepth, RevocationPolicy, ServerLimits, ServerTls, ServerTlsBuilder, serve};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate chain was empty.
    #[error("the certificate chain is empty")]
    EmptyChain,
    /// A root certificate could not be used as a trust anchor.
    #[error("root certificate {index} is not usable as a trust anchor: {reason}")]
    BadRoot {
        /// Its position in the list.
        index: usize,
        /// What rustls said.
        reason: String,
    },
    /// No root certificate was given, where some are needed.
    #[error("no trusted root certificate was given")]
    NoRoots,
    /// The private key could not be loaded or is of a kind this crate cannot use.
    #[error("unusable private key: {0}")]
    Key(String),
    /// The private key does not belong to the first certificate of the chain.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// Client certificates are checked but no CRL was given (and revocation checking was not
    /// explicitly turned off).
    #[error("client certificates are verified but no CRL was given")]
    NoCrls,
    /// A CRL could not be parsed.
    #[error("a CRL could not be used: {0}")]
    BadCrl(String),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The only protocol version offered on either side.
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn root_store(roots: &[Vec<u8>]) -> Result<std::sync::Arc<rustls::RootCertStore>, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let mut store = rustls::RootCertStore::empty();
    for (index, der) in roots.iter().enumerate() {
        let cert = rustls_pki_types::CertificateDer::from(der.clone());
        store.add(cert).map_err(|e| TlsError::BadRoot { index, reason: e.to_string() })?;
    }
    Ok(std::sync::Arc::new(store))
}
