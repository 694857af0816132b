//! Key agreement with P-256 keys (RFC 5753 §3.1): ephemeral-static ECDH, the ANSI X9.63 KDF over
//! ECC-CMS-SharedInfo, and AES key wrap (RFC 3394).
//!
//! Sealing writes dhSinglePass-stdDH-sha256kdf-scheme with id-aes256-wrap and a fresh ephemeral
//! key per recipient. Opening also accepts the SHA-1, SHA-224, SHA-384 and SHA-512 KDFs (OpenSSL
//! 3.0 writes SHA-1 by default), their cofactor-DH twins (the same computation on P-256, whose
//! cofactor is 1), and id-aes128-wrap.

use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_128, AES_256, AesBlockCipher, AesKek, KeyWrap as _};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::asn1::{
    AES128_WRAP, AES256_WRAP, EC_PUBLIC_KEY, ECDH_STD_SHA256_KDF, EccCmsSharedInfo, Elements, KARI_VERSION,
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey, OriginatorPublicKey, P256,
    RecipientEncryptedKey, RecipientInfo,
};
use crate::certificate::Party;
use crate::{MAX_RECIPIENTS, OpenError, SealError};

/// The key-agreement schemes accepted when opening, with their KDF hash.
const SCHEMES: &[(ObjectIdentifier, &digest::Algorithm)] = &[
    (oid("1.3.133.16.840.63.0.2"), &digest::SHA1_FOR_LEGACY_USE_ONLY), // stdDH-sha1kdf
    (oid("1.3.132.1.11.0"), &digest::SHA224),
    (ECDH_STD_SHA256_KDF, &digest::SHA256),
    (oid("1.3.132.1.11.2"), &digest::SHA384),
    (oid("1.3.132.1.11.3"), &digest::SHA512),
    (oid("1.3.133.16.840.63.0.3"), &digest::SHA1_FOR_LEGACY_USE_ONLY), // cofactorDH-sha1kdf
    (oid("1.3.132.1.14.0"), &digest::SHA224),
    (oid("1.3.132.1.14.1"), &digest::SHA256),
    (oid("1.3.132.1.14.2"), &digest::SHA384),
    (oid("1.3.132.1.14.3"), &digest::SHA512),
];

const fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(dotted)
}

/// A KeyAgreeRecipientInfo, DER-encoded, carrying `cek` wrapped for `recipient`'s P-256 `point`.
pub(crate) fn wrap(index: usize, recipient: &Party, point: &[u8], cek: &[u8]) -> Result<Vec<u8>, SealError> {
    let internal = SealError::Internal;
    let ephemeral = agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| internal("ECDH key generation"))?;
    let ephemeral_public = ephemeral.compute_public_key().map_err(|_| internal("ECDH public key"))?;
    let key_wrap = AlgorithmIdentifierRef { oid: AES256_WRAP, parameters: None };
    let bad_point = SealError::UnsupportedKey { index, reason: "the P-256 public key is not a valid point".into() };
    let kek = agreement::agree(&ephemeral, UnparsedPublicKey::new(&ECDH_P256, point), bad_point, |z| {
        kdf(&digest::SHA256, z, &key_wrap, None, 32).map_err(|_| internal("X9.63 KDF"))
    })?;
    let wrapped = aes_wrap(&AES_256, &kek, cek).ok_or(internal("AES key wrap"))?;
    encode(recipient, ephemeral_public.as_ref(), &key_wrap, &wrapped)
        .map_err(|_| internal("encoding a KeyAgreeRecipientInfo"))
}

fn encode(
    recipient: &Party,
    ephemeral_public: &[u8],
    key_wrap: &AlgorithmIdentifierRef<'_>,
    wrapped: &[u8],
) -> der::Result<Vec<u8>> {
    let encrypted_key = RecipientEncryptedKey {
        rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(recipient.issuer_and_serial()?),
        encrypted_key: OctetStringRef::new(wrapped)?,
    }
    .to_der()?;
    let key_wrap = key_wrap.to_der()?;
    RecipientInfo::Kari(KeyAgreeRecipientInfo {
        version: KARI_VERSION,
        originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
            // RFC 5753 and OpenSSL leave the curve out: it is the recipient's.
            algorithm: AlgorithmIdentifierRef { oid: EC_PUBLIC_KEY, parameters: None },
            public_key: BitStringRef::from_bytes(ephemeral_public)?,
        }),
        ukm: None,
        key_encryption_algorithm: AlgorithmIdentifierRef {
            oid: ECDH_STD_SHA256_KDF,
            parameters: Some(AnyRef::from_der(&key_wrap)?),
        },
        recipient_encrypted_keys: Elements::new(vec![&encrypted_key]),
    })
    .to_der()
}

/// The encrypted key in `info` addressed to `me`, if any.
pub(crate) fn encrypted_key_for<'a>(
    info: &KeyAgreeRecipientInfo<'a>,
    me: &Party,
) -> Result<Option<&'a OctetStringRef>, OpenError> {
    let keys = &info.recipient_encrypted_keys;
    if keys.count() > MAX_RECIPIENTS {
        return Err(OpenError::TooManyRecipients(keys.count()));
    }
    for der in keys.iter() {
        let key = RecipientEncryptedKey::from_der(der)
            .map_err(|e| OpenError::Malformed(format!("RecipientEncryptedKey: {e}")))?;
        let ours = match &key.rid {
            KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(id) => me.is(id),
            KeyAgreeRecipientIdentifier::RKeyId(id) => me.has_key_id(id.subject_key_identifier.as_bytes()),
        };
        if ours {
            return Ok(Some(key.encrypted_key));
        }
    }
    Ok(None)
}

/// The content key of `key_bytes` bytes wrapped in `encrypted_key` for our static `key`.
pub(crate) fn unwrap(
    info: &KeyAgreeRecipientInfo<'_>,
    encrypted_key: &[u8],
    key: &agreement::PrivateKey,
    key_bytes: usize,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let scheme = info.key_encryption_algorithm.oid;
    let hash = SCHEMES
        .iter()
        .find(|(known, _)| *known == scheme)
        .map(|(_, hash)| *hash)
        .ok_or_else(|| OpenError::Unsupported(format!("key agreement {scheme}: only dhSinglePass ECDH schemes")))?;
    let key_wrap = info
        .key_encryption_algorithm
        .parameters
        .ok_or_else(|| OpenError::Malformed("key agreement without a key-wrap algorithm".into()))?
        .decode_as::<AlgorithmIdentifierRef<'_>>()
        .map_err(|e| OpenError::Malformed(format!("key-wrap algorithm: {e}")))?;
    let (cipher, kek_bytes) = match key_wrap.oid {
        AES128_WRAP => (&AES_128, 16),
        AES256_WRAP => (&AES_256, 32),
        other => return Err(OpenError::Unsupported(format!("key wrap {other}: only AES-128 and AES-256 wrap"))),
    };
    let point = originator_point(&info.originator)?;
    let bad_point = OpenError::Malformed("the originator's key is not a P-256 point".into());
    let kek = agreement::agree(key, UnparsedPublicKey::new(&ECDH_P256, point), bad_point, |z| {
        kdf(hash, z, &key_wrap, info.ukm, kek_bytes).map_err(|_| OpenError::Internal("X9.63 KDF"))
    })?;
    if encrypted_key.len() != key_bytes + 8 {
        return Err(OpenError::Tampered);
    }
    let mut cek = Zeroizing::new(vec![0; key_bytes]);
    AesKek::new(cipher, &kek)
        .and_then(|kek| kek.unwrap(encrypted_key, &mut cek).map(|_| ()))
        .map_err(|_| OpenError::Tampered)?;
    Ok(cek)
}

/// The sender's ephemeral P-256 point: RFC 5753 allows no other originator.
fn originator_point<'a>(originator: &OriginatorIdentifierOrKey<'a>) -> Result<&'a [u8], OpenError> {
    let OriginatorIdentifierOrKey::OriginatorKey(key) = originator else {
        return Err(OpenError::Unsupported("a static originator key: RFC 5753 uses ephemeral ones".into()));
    };
    let curve_ok = key
        .algorithm
        .parameters
        .is_none_or(|p| p.is_null() || p.decode_as::<ObjectIdentifier>().is_ok_and(|curve| curve == P256));
    if key.algorithm.oid != EC_PUBLIC_KEY || !curve_ok {
        return Err(OpenError::Unsupported(format!("an originator key of algorithm {}", key.algorithm.oid)));
    }
    key.public_key.as_bytes().ok_or_else(|| OpenError::Malformed("the originator's key has unused bits".into()))
}

/// ANSI X9.63 KDF (SEC 1 §3.6.1) of the shared secret `z`, with ECC-CMS-SharedInfo naming the
/// key-wrap algorithm, the user keying material and the key length.
fn kdf(
    hash: &'static digest::Algorithm,
    z: &[u8],
    key_wrap: &AlgorithmIdentifierRef<'_>,
    ukm: Option<&OctetStringRef>,
    key_bytes: usize,
) -> der::Result<Zeroizing<Vec<u8>>> {
    let key_bits = u32::try_from(key_bytes * 8).map_err(|_| der::ErrorKind::Overflow)?.to_be_bytes();
    let shared_info =
        EccCmsSharedInfo { key_info: *key_wrap, entity_u_info: ukm, supp_pub_info: OctetStringRef::new(&key_bits)? }
            .to_der()?;
    // Room for the last block, so the key is never moved (and left behind) by a reallocation.
    let mut key = Zeroizing::new(Vec::with_capacity(key_bytes + digest::MAX_OUTPUT_LEN));
    let mut counter: u32 = 1;
    while key.len() < key_bytes {
        let mut context = digest::Context::new(hash);
        context.update(z);
        context.update(&counter.to_be_bytes());
        context.update(&shared_info);
        key.extend_from_slice(context.finish().as_ref());
        counter += 1;
    }
    key.truncate(key_bytes);
    Ok(key)
}

fn aes_wrap(cipher: &'static AesBlockCipher, kek: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let mut wrapped = vec![0; key.len() + 8];
    let kek = AesKek::new(cipher, kek).ok()?;
    kek.wrap(key, &mut wrapped).ok()?;
    Some(wrapped)
}
