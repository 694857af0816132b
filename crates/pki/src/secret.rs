//! Small secrets the authority keeps for others (a key device's unblock code), sealed under the
//! authority's passphrase with the protection of its sealed keys: PBES2, scrypt + AES-256-CBC.
//!
//! A known prefix is sealed with the secret, so a wrong passphrase is always reported as one and
//! never yields garbage that would be tried on a device (and count towards locking it).

use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfoRef, pkcs5};

use crate::{KeyError, MIN_PASSPHRASE_CHARS};

/// The PEM label of a sealed secret.
const LABEL: &str = "LIENTHONG SEALED SECRET";
/// Sealed in front of the secret, checked when opening.
const PREFIX: &[u8] = b"lienthong sealed secret v1\n";

/// Seals `secret` under `passphrase`: a PEM document that only the passphrase opens.
pub fn seal_secret(secret: &str, passphrase: &str) -> Result<String, KeyError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(KeyError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS });
    }
    let crypto = |e: &dyn std::fmt::Display| KeyError::Crypto(e.to_string());
    let (mut salt, mut iv) = ([0u8; 16], [0u8; 16]);
    aws_lc_rs::rand::fill(&mut salt).map_err(|e| crypto(&e))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|e| crypto(&e))?;
    let params = pbes2::Parameters::generate_scrypt_aes256cbc(pkcs5::scrypt::Params::default(), &salt, iv)
        .map_err(|e| crypto(&e))?;
    let plaintext = [PREFIX, secret.as_bytes()].concat();
    let ciphertext = params.encrypt(passphrase, &plaintext).map_err(|e| crypto(&e))?;
    let sealed = EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: OctetStringRef::new(&ciphertext).map_err(|e| crypto(&e))?,
    };
    let der = sealed.to_der().map_err(|e| crypto(&e))?;
    pkcs8::der::pem::encode_string(LABEL, LineEnding::LF, &der).map_err(|e| crypto(&e))
}

/// Opens a secret sealed by [`seal_secret`].
pub fn open_secret(pem: &str, passphrase: &str) -> Result<String, KeyError> {
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| KeyError::NotAKeystore(e.to_string()))?;
    if label != LABEL {
        return Err(KeyError::NotAKeystore(format!("found a {label:?} PEM block, not a sealed secret")));
    }
    let sealed = EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|e| KeyError::NotAKeystore(e.to_string()))?;
    let plaintext = sealed
        .encryption_algorithm
        .decrypt(passphrase, sealed.encrypted_data.as_bytes())
        .map_err(|_| KeyError::WrongPassphrase)?;
    let secret = plaintext.strip_prefix(PREFIX).ok_or(KeyError::WrongPassphrase)?;
    String::from_utf8(secret.to_vec()).map_err(|_| KeyError::WrongPassphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSPHRASE: &str = "correct horse battery";

    #[test]
    fn a_sealed_secret_opens_with_its_passphrase_only() {
        let sealed = seal_secret("1234567890123456", PASSPHRASE).expect("seals");
        assert!(sealed.starts_with("-----BEGIN LIENTHONG SEALED SECRET-----"), "{sealed}");
        assert!(!sealed.contains("1234567890123456"));
        assert_eq!(open_secret(&sealed, PASSPHRASE).expect("opens"), "1234567890123456");
        assert_eq!(open_secret(&sealed, "wrong horse battery"), Err(KeyError::WrongPassphrase));
        assert_ne!(seal_secret("1234567890123456", PASSPHRASE).expect("seals"), sealed, "fresh salt and IV");
    }

    #[test]
    fn a_weak_passphrase_or_another_document_is_refused() {
        assert_eq!(seal_secret("x", "short"), Err(KeyError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS }));
        let key = crate::KeyPair::generate(crate::KeyAlgorithm::P256).expect("key").seal(PASSPHRASE).expect("seal");
        assert!(matches!(open_secret(&key, PASSPHRASE), Err(KeyError::NotAKeystore(_))));
    }
}
