//! Whose signatures a gateway accepts: certificates that chain to the government root through
//! the known intermediates, are valid now, carry the document-signing purpose, and are not
//! revoked according to the current CRLs (which the gateway refreshes from the authority).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

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
///
/// A signer that passed is remembered until the CRLs are replaced, its certificate expires or
/// the earliest CRL's next update, whichever comes first: a gateway taking in thousands of
/// packages from the same agencies does not verify the same chain and CRL signatures each time,
/// and a revocation still takes effect with the CRL that carries it.
#[derive(Debug)]
pub struct Trust {
    roots: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    crls: RwLock<Crls>,
    passed: Mutex<HashMap<Vec<u8>, (i64, i64)>>,
}

/// The current CRLs, and the earliest next update among them (Unix seconds).
#[derive(Debug, Default)]
struct Crls {
    lists: Vec<CertRevocationList<'static>>,
    next_update: Option<i64>,
}

/// More signers than any national exchange has: past it the memory is emptied, not grown.
const MAX_REMEMBERED_SIGNERS: usize = 4096;

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
        Ok(Self { roots, intermediates, crls: RwLock::default(), passed: Mutex::default() })
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
        let next_update = crls.iter().filter_map(|der| crl_next_update(der)).min();
        let mut current = self.crls.write().unwrap_or_else(|e| e.into_inner());
        *current = Crls { lists: parsed, next_update };
        // Under the write lock, so no check against the old CRLs is remembered after this.
        self.passed.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }

    /// Checks that `signer_der` may sign documents now.
    pub fn check_signer(&self, signer_der: &[u8], now: time::OffsetDateTime) -> Result<(), TrustError> {
        let crls = self.crls.read().unwrap_or_else(|e| e.into_inner());
        let now_seconds = now.unix_timestamp();
        let remembered = self.passed.lock().unwrap_or_else(|e| e.into_inner()).get(signer_der).copied();
        // Remembered for the span from when it passed to when something it relied on ends.
        if remembered.is_some_and(|(from, until)| from <= now_seconds && now_seconds < until) {
            return Ok(());
        }
        self.verify_signer(signer_der, &crls.lists, now)?;
        let until = [certificate_not_after(signer_der), crls.next_update].into_iter().flatten().min();
        if let Some(until) = until {
            let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
            if passed.len() >= MAX_REMEMBERED_SIGNERS {
                passed.clear();
            }
            passed.insert(signer_der.to_vec(), (now_seconds, until));
        }
        Ok(())
    }

    /// The full check: chain, validity, purpose and revocation against `crls`.
    fn verify_signer(
        &self,
        signer_der: &[u8],
        crls: &[CertRevocationList<'static>],
        now: time::OffsetDateTime,
    ) -> Result<(), TrustError> {
        let der = CertificateDer::from(signer_der);
        let cert = EndEntityCert::try_from(&der).map_err(|e| TrustError::Malformed(format!("{e:?}")))?;
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

/// When the certificate stops being valid (Unix seconds).
fn certificate_not_after(der: &[u8]) -> Option<i64> {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// When the CRL is to be replaced (Unix seconds); `None` when it does not say.
fn crl_next_update(der: &[u8]) -> Option<i64> {
    use x509_parser::prelude::FromDer as _;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).ok()?;
    crl.next_update().map(|t| t.timestamp())
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
