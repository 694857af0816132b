//! Whose signatures a gateway accepts: certificates that chain to the government root through
//! the known intermediates, are valid now, carry the document-signing purpose, and are not
//! revoked according to the current CRLs (which the gateway refreshes from the authority).

use std::sync::RwLock;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList, RevocationOptionsBuilder};

/// Why a signer is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The certificate does not parse.
    #[error("the signer's certificate is malformed: {0}")]
    Malformed(String),
    /// It does not chain to the trusted root, is expired, or lacks the signing purpose.
    #[error("the signer's certificate is not trusted: {0}")]
    Untrusted(String),
    /// It is revoked.
    #[error("the signer's certificate is revoked")]
    Revoked,
    /// No current CRL covers it, so its status is unknown.
    #[error("the signer's revocation status is unknown (no current CRL from its issuer)")]
    StatusUnknown,
    /// A CRL given to the trust store does not parse.
    #[error("a CRL is malformed: {0}")]
    BadCrl(String),
}

/// The roots, intermediates and current CRLs a gateway verifies signers against.
#[derive(Debug)]
pub struct Trust {
    roots: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    crls: RwLock<Vec<CertRevocationList<'static>>>,
}

/// id-kp-documentSigning (RFC 9336), DER content of the OID.
const DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

impl Trust {
    /// Trusts `roots` (DER), with `intermediates` available for chain building.
    pub fn new(roots: &[Vec<u8>], intermediates: &[Vec<u8>]) -> Result<Self, TrustError> {
        let roots = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| TrustError::Malformed(format!("root: {e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let intermediates = intermediates.iter().map(|der| CertificateDer::from(der.clone())).collect();
        Ok(Self { roots, intermediates, crls: RwLock::default() })
    }

    /// Replaces the CRLs revocation is checked against (DER).
    pub fn set_crls(&self, crls: &[Vec<u8>]) -> Result<(), TrustError> {
        let parsed = crls
            .iter()
            .map(|der| {
                OwnedCertRevocationList::from_der(der)
                    .map(CertRevocationList::from)
                    .map_err(|e| TrustError::BadCrl(format!("{e:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        *self.crls.write().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(())
    }

    /// Checks that `signer_der` may sign documents now.
    pub fn check_signer(&self, signer_der: &[u8], now: time::OffsetDateTime) -> Result<(), TrustError> {
        let der = CertificateDer::from(signer_der);
        let cert = EndEntityCert::try_from(&der).map_err(|e| TrustError::Malformed(format!("{e:?}")))?;
        let crls = self.crls.read().unwrap_or_else(|e| e.into_inner());
        let refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&refs)
            .map_err(|_| TrustError::StatusUnknown)?
            .with_depth(webpki::RevocationCheckDepth::EndEntity)
            .with_status_policy(webpki::UnknownStatusPolicy::Deny)
            .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
            .build();
        let seconds = u64::try_from(now.unix_timestamp()).unwrap_or_default();
        let result = cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.roots,
            &self.intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
            // "If present" because the CA certificates carry no EKU; the signer's own is checked
            // to be present below.
            KeyUsage::required_if_present(DOCUMENT_SIGNING),
            Some(revocation),
            None,
        );
        match result {
            Ok(_) if has_document_signing(signer_der) => Ok(()),
            Ok(_) => Err(TrustError::Untrusted("the certificate is not for signing documents".into())),
            Err(webpki::Error::CertRevoked) => Err(TrustError::Revoked),
            Err(webpki::Error::UnknownRevocationStatus) | Err(webpki::Error::CrlExpired { .. }) => {
                Err(TrustError::StatusUnknown)
            }
            Err(other) => Err(TrustError::Untrusted(format!("{other:?}"))),
        }
    }
}

/// Whether the certificate states the document-signing purpose.
fn has_document_signing(der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer as _;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else {
        return false;
    };
    let wanted = x509_parser::oid_registry::Oid::from(&[1, 3, 6, 1, 5, 5, 7, 3, 36]);
    matches!(cert.extended_key_usage(), Ok(Some(eku)) if wanted.is_ok_and(|oid| eku.value.other.contains(&oid)))
}
