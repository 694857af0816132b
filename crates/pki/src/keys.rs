//! Key pairs, and the sealed keystore: a private key leaves memory only encrypted under a
//! passphrase, as a standard encrypted PKCS#8 file (PBES2: scrypt + AES-256-CBC) that OpenSSL
//! can also open.

use std::fmt;

use pkcs8::der::Decode as _;
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rcgen::{PublicKeyData, SigningKey};

use crate::KeyAlgorithm;

/// A private key held in memory, usable to sign. Its `Debug` shows only the algorithm.
pub struct KeyPair {
    inner: rcgen::KeyPair,
    algorithm: KeyAlgorithm,
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
        Ok(Self { inner, algorithm })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.inner.subject_public_key_info()
    }

    /// Encrypts the key under `passphrase` as an encrypted PKCS#8 PEM document.
    pub fn seal(&self, passphrase: &str) -> Result<String, KeyError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(KeyError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS });
        }
        let der = self.inner.serialize_der();
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
    pub fn to_unencrypted_pem(&self) -> String {
        self.inner.serialize_pem()
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec());
        let inner = rcgen::KeyPair::try_from(&key).map_err(|e| KeyError::Unsupported(e.to_string()))?;
        let algorithm = algorithm_of(&inner)?;
        Ok(Self { inner, algorithm })
    }
}

fn algorithm_of(key: &rcgen::KeyPair) -> Result<KeyAlgorithm, KeyError> {
    if key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Ok(KeyAlgorithm::P256);
    }
    if key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
        let spki = key.subject_public_key_info();
        let bits = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki)
            .ok()
            .and_then(|(_, info)| info.parsed().ok().map(|k| k.key_size()))
            .unwrap_or(0);
        return match bits {
            2048 => Ok(KeyAlgorithm::Rsa2048),
            3072 => Ok(KeyAlgorithm::Rsa3072),
            other => Err(KeyError::Unsupported(format!("RSA-{other}"))),
        };
    }
    Err(KeyError::Unsupported("only P-256 and RSA-2048/3072 keys are used".into()))
}

use x509_parser::prelude::FromDer as _;

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, private key redacted)", self.algorithm)
    }
}

impl PublicKeyData for KeyPair {
    fn der_bytes(&self) -> &[u8] {
        self.inner.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.inner.algorithm()
    }
}

impl SigningKey for KeyPair {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.inner.sign(msg)
    }
}
