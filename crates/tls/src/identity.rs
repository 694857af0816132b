//! A certificate chain with its private key, as either side presents it: a software key loaded
//! by rustls, or a [`pki::KeyPair`] whose key may live in a device and signs there.

use std::fmt;
use std::sync::Arc;

use pki::{KeyAlgorithm, KeyPair};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};

use crate::TlsError;

/// A certificate chain (end-entity first, then intermediates; the root may be left out) and the
/// key of its first certificate. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    certified: Arc<CertifiedKey>,
}

impl Identity {
    /// From DER certificates and a software key as unencrypted PKCS#8 DER (P-256 or RSA).
    pub fn from_pkcs8(chain: Vec<Vec<u8>>, pkcs8_der: Vec<u8>) -> Result<Self, TlsError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_der));
        let signing_key =
            crate::provider().key_provider.load_private_key(key).map_err(|e| TlsError::Key(e.to_string()))?;
        Self::new(chain, signing_key)
    }

    /// From DER certificates and a [`KeyPair`]. A software key is handed to rustls (as PKCS#8).
    /// A key in a device signs each handshake there, which rustls's `SigningKey` trait allows;
    /// only P-256 device keys are usable, because TLS 1.3 signs with RSA only in RSA-PSS and
    /// [`pki::ExternalKey`] signs RSA in PKCS#1 v1.5.
    pub fn from_key_pair(chain: Vec<Vec<u8>>, key: KeyPair) -> Result<Self, TlsError> {
        if !key.is_external() {
            let pem = key.to_unencrypted_pem().map_err(|e| TlsError::Key(e.to_string()))?;
            let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Key(e.to_string()))?;
            return Self::from_pkcs8(chain, der.secret_pkcs8_der().to_vec());
        }
        if key.algorithm() != KeyAlgorithm::P256 {
            return Err(TlsError::Key(format!(
                "a {} key in a device cannot sign TLS 1.3 handshakes (RSA-PSS is needed)",
                key.algorithm()
            )));
        }
        let spki = key.public_key_der();
        Self::new(chain, Arc::new(DeviceKey { key: Arc::new(key), spki }))
    }

    fn new(chain: Vec<Vec<u8>>, key: Arc<dyn SigningKey>) -> Result<Self, TlsError> {
        if chain.is_empty() {
            return Err(TlsError::EmptyChain);
        }
        let chain = chain.into_iter().map(CertificateDer::from).collect();
        let certified = CertifiedKey::new(chain, key);
        certified.keys_match().map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
            other => TlsError::Key(other.to_string()),
        })?;
        Ok(Self { certified: Arc::new(certified) })
    }

    pub(crate) fn certified(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.certified.cert.len())
            .field("key", &self.certified.key.algorithm())
            .finish()
    }
}

/// A P-256 key in a device, signing TLS handshakes through [`KeyPair`] (which returns the DER
/// ECDSA-Sig-Value TLS wants).
struct DeviceKey {
    key: Arc<KeyPair>,
    spki: Vec<u8>,
}

impl SigningKey for DeviceKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = SignatureScheme::ECDSA_NISTP256_SHA256;
        offered.contains(&scheme).then(|| Box::new(DeviceSigner { key: self.key.clone() }) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({:?})", self.key)
    }
}

struct DeviceSigner {
    key: Arc<KeyPair>,
}

impl Signer for DeviceSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        // The device's reason is not carried by rcgen's error; the handshake just fails.
        rcgen::SigningKey::sign(self.key.as_ref(), message)
            .map_err(|e| rustls::Error::General(format!("the key device failed to sign: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

impl fmt::Debug for DeviceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceSigner({:?})", self.key)
    }
}
