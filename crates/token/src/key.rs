//! A key pair in a token, signing through it: the [`pki::ExternalKey`] behind a device's
//! [`pki::KeyPair`].

use std::fmt;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use pki::{ExternalKey, KeyAlgorithm, KeyError};

use crate::encoding;
use crate::error::{TokenError, describe, pkcs11};
use crate::token::Inner;

/// A private key found on a token, with its public key read once.
pub(crate) struct TokenKey {
    token: Arc<Inner>,
    label: String,
    private_key: ObjectHandle,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
}

impl TokenKey {
    /// The key pair labelled `label`: its private key, and its public key for the SPKI.
    pub(crate) fn find(token: Arc<Inner>, label: &str) -> Result<Self, TokenError> {
        let private_key = token.private_key(label)?;
        let public_key = token.find(ObjectClass::PUBLIC_KEY, label)?.ok_or_else(|| token.no_such_key(label))?;
        let (algorithm, spki) = public_key_info(&token, public_key, label)?;
        Ok(Self { token, label: label.to_owned(), private_key, algorithm, spki })
    }

    fn device_error(&self, detail: String) -> KeyError {
        KeyError::Device(format!("{:?}, key {:?}: {detail}", self.token, self.label))
    }
}

/// The algorithm and SubjectPublicKeyInfo of the public key `handle`.
fn public_key_info(token: &Inner, handle: ObjectHandle, label: &str) -> Result<(KeyAlgorithm, Vec<u8>), TokenError> {
    let unsupported = |reason: String| TokenError::UnsupportedKey { label: label.to_owned(), reason };
    let attributes = |wanted: &[AttributeType]| {
        token.with_session(|s| s.get_attributes(handle, wanted)).map_err(pkcs11("C_GetAttributeValue"))
    };
    let key_type = attributes(&[AttributeType::KeyType])?.into_iter().find_map(|a| match a {
        Attribute::KeyType(kind) => Some(kind),
        _ => None,
    });
    let bytes = |found: &[Attribute], wanted: AttributeType| {
        found.iter().find(|a| a.attribute_type() == wanted).and_then(byte_value).unwrap_or_default()
    };
    match key_type {
        Some(KeyType::EC) => {
            let found = attributes(&[AttributeType::EcParams, AttributeType::EcPoint])?;
            let params = encoding::p256_params().map_err(|e| unsupported(e.to_string()))?;
            if bytes(&found, AttributeType::EcParams) != params {
                return Err(unsupported("an EC key on a curve other than P-256".into()));
            }
            let spki = encoding::p256_spki(&bytes(&found, AttributeType::EcPoint))
                .map_err(|e| unsupported(format!("its EC point is malformed: {e}")))?;
            Ok((KeyAlgorithm::P256, spki))
        }
        Some(KeyType::RSA) => {
            let found = attributes(&[AttributeType::Modulus, AttributeType::PublicExponent])?;
            let modulus = bytes(&found, AttributeType::Modulus);
            let algorithm = match modulus.iter().skip_while(|b| **b == 0).count() * 8 {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                bits => return Err(unsupported(format!("RSA-{bits}: only RSA-2048 and RSA-3072 are used"))),
            };
            let spki = encoding::rsa_spki(&modulus, &bytes(&found, AttributeType::PublicExponent))
                .map_err(|e| unsupported(e.to_string()))?;
            Ok((algorithm, spki))
        }
        other => Err(unsupported(format!("key type {other:?}: only P-256 and RSA keys are used"))),
    }
}

fn byte_value(attribute: &Attribute) -> Option<Vec<u8>> {
    match attribute {
        Attribute::EcParams(v) | Attribute::EcPoint(v) | Attribute::Modulus(v) | Attribute::PublicExponent(v) => {
            Some(v.clone())
        }
        _ => None,
    }
}

impl ExternalKey for TokenKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sign = |mechanism: &Mechanism<'_>, data: &[u8]| {
            self.token
                .with_session(|s| s.sign(mechanism, self.private_key, data))
                .map_err(|e| self.device_error(describe(&e)))
        };
        match self.algorithm {
            KeyAlgorithm::P256 => {
                // CKM_ECDSA signs a digest; not every device has CKM_ECDSA_SHA256 (SoftHSM 2.6 has not).
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
                let raw = sign(&Mechanism::Ecdsa, digest.as_ref())?;
                if raw.len() != 64 {
                    return Err(self.device_error(format!("a P-256 signature of {} bytes", raw.len())));
                }
                encoding::ecdsa_der(&raw).map_err(|e| self.device_error(e.to_string()))
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => sign(&Mechanism::Sha256RsaPkcs, message),
        }
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}, key {:?}", self.token, self.label)
    }
}
