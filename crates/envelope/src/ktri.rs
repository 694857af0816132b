//! Key transport to RSA keys (RFC 5652 §6.2.1): RSAES-OAEP with SHA-256 and MGF1-SHA-256 when
//! sealing (RFC 8017, parameters as RFC 4055 writes them); when opening, also OAEP with SHA-1,
//! SHA-384 or SHA-512, and PKCS#1 v1.5 (`rsaEncryption`, what `openssl cms -encrypt` writes by
//! default).

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::asn1::{
    KTRI_SKI_VERSION, KTRI_VERSION, KeyTransRecipientInfo, MGF1, P_SPECIFIED, RSA_ENCRYPTION, RSAES_OAEP,
    RecipientIdentifier, RecipientInfo, RsaesOaepParams, SHA1, SHA256, SHA384, SHA512,
};
use crate::certificate::Party;
use crate::{OpenError, SealError};

/// The smallest RSA modulus [`crate::seal`] encrypts a content key to, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A KeyTransRecipientInfo, DER-encoded, carrying `cek` encrypted to `recipient`'s RSA key.
pub(crate) fn wrap(index: usize, recipient: &Party, spki: &[u8], cek: &[u8]) -> Result<Vec<u8>, SealError> {
    let unsupported = |reason: String| SealError::UnsupportedKey { index, reason };
    let key = PublicEncryptingKey::from_der(spki).map_err(|e| unsupported(format!("an unusable RSA key: {e}")))?;
    if key.key_size_bits() < MIN_RSA_BITS {
        return Err(unsupported(format!("an RSA-{} key: at least {MIN_RSA_BITS} bits", key.key_size_bits())));
    }
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| SealError::Internal("RSA-OAEP key"))?;
    let mut encrypted = vec![0; key.ciphertext_size()];
    let encrypted =
        key.encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut encrypted, None).map_err(|_| SealError::Internal("RSA-OAEP"))?;
    encode(recipient, encrypted).map_err(|_| SealError::Internal("encoding a KeyTransRecipientInfo"))
}

fn encode(recipient: &Party, encrypted_key: &[u8]) -> der::Result<Vec<u8>> {
    let sha256 = AlgorithmIdentifierRef { oid: SHA256, parameters: None }.to_der()?;
    let mgf1 = AlgorithmIdentifierRef { oid: MGF1, parameters: Some(AnyRef::from_der(&sha256)?) };
    let oaep = RsaesOaepParams {
        hash: Some(AlgorithmIdentifierRef { oid: SHA256, parameters: None }),
        mask_gen: Some(mgf1),
        p_source: None,
    }
    .to_der()?;
    RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: KTRI_VERSION,
        rid: RecipientIdentifier::IssuerAndSerialNumber(recipient.issuer_and_serial()?),
        key_encryption_algorithm: AlgorithmIdentifierRef {
            oid: RSAES_OAEP,
            parameters: Some(AnyRef::from_der(&oaep)?),
        },
        encrypted_key: OctetStringRef::new(encrypted_key)?,
    })
    .to_der()
}

/// The version RFC 5652 §6.2.1 gives a KeyTransRecipientInfo with this identifier.
pub(crate) fn version(rid: &RecipientIdentifier<'_>) -> u8 {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(_) => KTRI_VERSION,
        RecipientIdentifier::SubjectKeyIdentifier(_) => KTRI_SKI_VERSION,
    }
}

/// Whether this KeyTransRecipientInfo is addressed to `me`.
pub(crate) fn is_for(info: &KeyTransRecipientInfo<'_>, me: &Party) -> bool {
    match &info.rid {
        RecipientIdentifier::IssuerAndSerialNumber(id) => me.is(id),
        RecipientIdentifier::SubjectKeyIdentifier(ski) => me.has_key_id(ski.as_bytes()),
    }
}

/// The content key of `key_bytes` bytes that `info` carries for `key`.
///
/// Every failure after the algorithm is known is [`OpenError::Tampered`], and a PKCS#1 v1.5 block
/// that does not decrypt to a key of the right length yields a random key instead (RFC 3218
/// §2.3.2), so that no answer tells a padding oracle anything the GCM tag would not.
pub(crate) fn unwrap(
    info: &KeyTransRecipientInfo<'_>,
    key: &PrivateDecryptingKey,
    key_bytes: usize,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let mut plaintext = Zeroizing::new(vec![0; key.key_size_bytes()]);
    let encrypted = info.encrypted_key.as_bytes();
    let algorithm = &info.key_encryption_algorithm;
    let found = match algorithm.oid {
        RSAES_OAEP => {
            let oaep = oaep_algorithm(algorithm.parameters)?;
            let key = OaepPrivateDecryptingKey::new(key.clone()).map_err(|_| OpenError::Internal("RSA-OAEP key"))?;
            key.decrypt(oaep, encrypted, &mut plaintext, None).map_err(|_| OpenError::Tampered)?.len()
        }
        RSA_ENCRYPTION => {
            let key = Pkcs1PrivateDecryptingKey::new(key.clone()).map_err(|_| OpenError::Internal("RSA key"))?;
            match key.decrypt(encrypted, &mut plaintext) {
                Ok(found) if found.len() == key_bytes => key_bytes,
                _ => return random_key(key_bytes),
            }
        }
        other => return Err(OpenError::Unsupported(format!("key transport {other}: only RSA-OAEP and rsaEncryption"))),
    };
    if found != key_bytes {
        return Err(OpenError::Tampered);
    }
    plaintext.truncate(key_bytes);
    Ok(plaintext)
}

fn random_key(key_bytes: usize) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let mut key = Zeroizing::new(vec![0; key_bytes]);
    aws_lc_rs::rand::fill(&mut key).map_err(|_| OpenError::Internal("randomness"))?;
    Ok(key)
}

/// The OAEP variant of RSAES-OAEP-params: one hash for both the label and MGF1, an empty label.
fn oaep_algorithm(parameters: Option<AnyRef<'_>>) -> Result<&'static OaepAlgorithm, OpenError> {
    let unsupported = |what: &str| OpenError::Unsupported(format!("RSA-OAEP with {what}"));
    let parameters = match parameters {
        None => return Err(OpenError::Malformed("RSA-OAEP without parameters".into())),
        Some(p) => p.decode_as::<RsaesOaepParams<'_>>().map_err(|e| OpenError::Malformed(format!("OAEP: {e}")))?,
    };
    let hash = match &parameters.hash {
        None => SHA1,
        Some(hash) if is_absent_or_null(hash.parameters) => hash.oid,
        Some(_) => return Err(unsupported("hash parameters")),
    };
    let mgf_hash = match &parameters.mask_gen {
        None => SHA1,
        Some(mgf) if mgf.oid == MGF1 => mgf1_hash(mgf.parameters).ok_or_else(|| unsupported("bad MGF1 parameters"))?,
        Some(mgf) => return Err(unsupported(&format!("mask generation {}", mgf.oid))),
    };
    if let Some(source) = &parameters.p_source
        && !(source.oid == P_SPECIFIED && source.parameters.is_some_and(|p| p.value().is_empty()))
    {
        return Err(unsupported("a label"));
    }
    if hash != mgf_hash {
        return Err(unsupported("different hashes for OAEP and MGF1"));
    }
    match hash {
        SHA1 => Ok(&OAEP_SHA1_MGF1SHA1),
        SHA256 => Ok(&OAEP_SHA256_MGF1SHA256),
        SHA384 => Ok(&OAEP_SHA384_MGF1SHA384),
        SHA512 => Ok(&OAEP_SHA512_MGF1SHA512),
        other => Err(unsupported(&format!("hash {other}"))),
    }
}

fn mgf1_hash(parameters: Option<AnyRef<'_>>) -> Option<der::asn1::ObjectIdentifier> {
    let hash = parameters?.decode_as::<AlgorithmIdentifierRef<'_>>().ok()?;
    is_absent_or_null(hash.parameters).then_some(hash.oid)
}

fn is_absent_or_null(parameters: Option<AnyRef<'_>>) -> bool {
    parameters.is_none_or(|p| p.is_null())
}
