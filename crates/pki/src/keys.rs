//! Key pairs, and the sealed keystore: a private key leaves memory only encrypted under a
//! passphrase, as a standard encrypted PKCS#8 file (PBES2: scrypt + AES-256-CBC) that OpenSSL
//! can also open. A key may instead live in a device (an HSM, a smart card) and never leave it:
//! such a key is an [`ExternalKey`], used through the same [`KeyPair`].

use std::fmt;

use pkcs8::der::Decode as _;
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rcgen::{PublicKeyData, SigningKey};
use x509_parser::prelude::FromDer as _;

use crate::KeyAlgorithm;

/// A private key usable to sign: held in memory, or in a device through an [`ExternalKey`].
/// Its `Debug` shows only the algorithm and, for a device key, where it is.
pub struct KeyPair {
    inner: Inner,
    algorithm: KeyAlgorithm,
}

enum Inner {
    Software(rcgen::KeyPair),
    External {
        key: Box<dyn ExternalKey>,
        /// The subjectPublicKey BIT STRING's content, which rcgen calls the key's DER bytes.
        public_key_raw: Vec<u8>,
    },
}

/// A private key that signs somewhere else (a PKCS#11 device, a remote signer) and cannot be
/// exported. Implementations must be usable from several threads at once.
pub trait ExternalKey: Send + Sync + fmt::Debug {
    /// The key's algorithm.
    fn algorithm(&self) -> KeyAlgorithm;

    /// The public key as a DER SubjectPublicKeyInfo.
    fn public_key_der(&self) -> &[u8];

    /// Signs `message` (not a digest: hashing it with SHA-256 is the signer's job) and returns
    /// what an X.509 signature holds: a DER ECDSA-Sig-Value for P-256, the PKCS#1 v1.5 block for
    /// RSA.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Why a key could not be made, opened or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The passphrase does not open the keystore file.
    #[error("wrong passphrase: the keystore could not be decrypted")]
    WrongPassphrase,
    /// The passphrase is too short to protect a key.
    #[error("the passphrase must have at least {min} characters")]
    WeakPassphrase {
        /// The minimum length.
        min: usize,
    },
    /// The file is not an encrypted PKCS#8 key.
    #[error("not an encrypted PKCS#8 private key: {0}")]
    NotAKeystore(String),
    /// The key is of an algorithm we do not use.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The crypto library refused an operation.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    /// The key lives in a device and cannot be written out, sealed or not.
    #[error("the private key is kept in a key device and cannot be exported")]
    NotExportable,
    /// The device holding the key failed to sign.
    #[error("the key device failed: {0}")]
    Device(String),
}

/// Shortest passphrase accepted for sealing a key.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

impl KeyPair {
    /// A fresh key of `algorithm`, from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let inner = match algorithm {
            KeyAlgorithm::P256 => rcgen::KeyPair::generate_for(algorithm.rcgen()),
            KeyAlgorithm::Rsa2048 => rcgen::KeyPair::generate_rsa_for(algorithm.rcgen(), rcgen::RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => rcgen::KeyPair::generate_rsa_for(algorithm.rcgen(), rcgen::RsaKeySize::_3072),
        }
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(Self { inner: Inner::Software(inner), algorithm })
    }

    /// A key held by a device; its public key must be one of ours and match its algorithm.
    pub fn external(key: Box<dyn ExternalKey>) -> Result<Self, KeyError> {
        let algorithm = key.algorithm();
        let (found, public_key_raw) = spki_algorithm(key.public_key_der())?;
        if found != algorithm {
            return Err(KeyError::Unsupported(format!("the device says {algorithm} but its public key is {found}")));
        }
        Ok(Self { inner: Inner::External { key, public_key_raw }, algorithm })
    }

    /// Whether the private key is in a device (and so cannot be sealed or exported).
    pub fn is_external(&self) -> bool {
        matches!(self.inner, Inner::External { .. })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Software(key) => key.subject_public_key_info(),
            Inner::External { key, .. } => key.public_key_der().to_vec(),
        }
    }

    fn software(&self) -> Result<&rcgen::KeyPair, KeyError> {
        match &self.inner {
            Inner::Software(key) => Ok(key),
            Inner::External { .. } => Err(KeyError::NotExportable),
        }
    }

    /// Encrypts the key under `passphrase` as an encrypted PKCS#8 PEM document.
    pub fn seal(&self, passphrase: &str) -> Result<String, KeyError> {
        let key = self.software()?;
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(KeyError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS });
        }
        let der = key.serialize_der();
        let info = PrivateKeyInfoRef::from_der(&der).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let sealed = info.encrypt(passphrase).map_err(|e| KeyError::Crypto(e.to_string()))?;
        sealed
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// Opens a key sealed by [`KeyPair::seal`] (or by OpenSSL's `pkcs8 -v2`).
    pub fn open(pem: &str, passphrase: &str) -> Result<Self, KeyError> {
        let (label, der) =
            pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| KeyError::NotAKeystore(e.to_string()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::NotAKeystore(format!("found a {label:?} PEM block")));
        }
        let sealed = EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|e| KeyError::NotAKeystore(e.to_string()))?;
        let secret = sealed.decrypt(passphrase).map_err(|_| KeyError::WrongPassphrase)?;
        Self::from_pkcs8_der(secret.as_bytes())
    }

    /// The key as an unencrypted PKCS#8 PEM: only for a subscriber's own new key (`--key-out`).
    pub fn to_unencrypted_pem(&self) -> Result<String, KeyError> {
        Ok(self.software()?.serialize_pem())
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec());
        let inner = rcgen::KeyPair::try_from(&key).map_err(|e| KeyError::Unsupported(e.to_string()))?;
        let (algorithm, _) = spki_algorithm(&inner.subject_public_key_info())?;
        Ok(Self { inner: Inner::Software(inner), algorithm })
    }
}

/// The algorithm of a DER SubjectPublicKeyInfo, and its subjectPublicKey bits.
fn spki_algorithm(spki: &[u8]) -> Result<(KeyAlgorithm, Vec<u8>), KeyError> {
    use x509_parser::public_key::PublicKey;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| KeyError::Unsupported(format!("not a SubjectPublicKeyInfo: {e}")))?;
    let unsupported = || KeyError::Unsupported("only P-256 and RSA-2048/3072 keys are used".into());
    let p256 = x509_parser::oid_registry::OID_EC_P256;
    let is_p256 = info.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).is_some_and(|o| o == p256);
    let algorithm = match info.parsed().map_err(|_| unsupported())? {
        PublicKey::EC(point) if is_p256 && point.key_size() == 256 => KeyAlgorithm::P256,
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => KeyAlgorithm::Rsa2048,
            3072 => KeyAlgorithm::Rsa3072,
            other => return Err(KeyError::Unsupported(format!("RSA-{other}"))),
        },
        _ => return Err(unsupported()),
    };
    Ok((algorithm, info.subject_public_key.data.to_vec()))
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Software(_) => write!(f, "KeyPair({}, private key redacted)", self.algorithm),
            Inner::External { key, .. } => write!(f, "KeyPair({}, in {key:?})", self.algorithm),
        }
    }
}

impl PublicKeyData for KeyPair {
    fn der_bytes(&self) -> &[u8] {
        match &self.inner {
            Inner::Software(key) => key.der_bytes(),
            Inner::External { public_key_raw, .. } => public_key_raw,
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match &self.inner {
            Inner::Software(key) => key.algorithm(),
            Inner::External { .. } => self.algorithm.rcgen(),
        }
    }
}

impl SigningKey for KeyPair {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.inner {
            Inner::Software(key) => key.sign(msg),
            // rcgen's error has no room for the device's reason.
            Inner::External { key, .. } => key.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A software key behind the external interface, as a device would present it.
    #[derive(Debug)]
    struct Device {
        key: KeyPair,
        claims: KeyAlgorithm,
        spki: Vec<u8>,
    }

    impl Device {
        fn new(algorithm: KeyAlgorithm, claims: KeyAlgorithm) -> Self {
            let key = KeyPair::generate(algorithm).expect("key");
            Self { spki: key.public_key_der(), key, claims }
        }
    }

    impl ExternalKey for Device {
        fn algorithm(&self) -> KeyAlgorithm {
            self.claims
        }

        fn public_key_der(&self) -> &[u8] {
            &self.spki
        }

        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
            SigningKey::sign(&self.key, message).map_err(|e| KeyError::Device(e.to_string()))
        }
    }

    #[test]
    fn an_external_key_presents_the_same_public_key_as_rcgen() {
        for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
            let device = Device::new(algorithm, algorithm);
            let raw = device.key.der_bytes().to_vec();
            let external = KeyPair::external(Box::new(device)).expect("external");
            assert_eq!(external.der_bytes(), raw, "{algorithm}");
            assert_eq!(PublicKeyData::algorithm(&external), algorithm.rcgen());
            assert!(external.is_external());
            let params = rcgen::CertificateParams::new(vec!["ca.example".into()]).expect("params");
            params.self_signed(&external).expect("signs a certificate");
        }
    }

    #[test]
    fn an_external_key_is_not_exportable() {
        let external = KeyPair::external(Box::new(Device::new(KeyAlgorithm::P256, KeyAlgorithm::P256))).expect("key");
        assert_eq!(external.seal("correct horse battery"), Err(KeyError::NotExportable));
        assert_eq!(external.to_unencrypted_pem(), Err(KeyError::NotExportable));
        assert!(format!("{external:?}").contains("Device"), "{external:?}");
    }

    #[test]
    fn an_external_key_whose_public_key_is_not_its_algorithm_is_refused() {
        let device = Device::new(KeyAlgorithm::P256, KeyAlgorithm::Rsa2048);
        let error = KeyPair::external(Box::new(device)).expect_err("mismatch");
        assert!(matches!(error, KeyError::Unsupported(_)), "{error}");
    }
}
