//! Opening: find the RecipientInfo addressed to our certificate, unwrap the content key with our
//! private key, decrypt and authenticate.

use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::PrivateDecryptingKey;
use der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::asn1::{
    AUTH_ENVELOPED_DATA, AUTH_ENVELOPED_VERSION, AuthEnvelopedData, ContentInfo, DATA, KARI_VERSION, RecipientInfo,
    SetOf, Undecoded,
};
use crate::certificate::{Party, PublicKey, Unusable};
use crate::content::ContentCipher;
use crate::{MAX_ENVELOPE_BYTES, MAX_RECIPIENTS, OpenError, kari, ktri};

/// Opens an envelope sealed for `my_certificate_der` (DER X.509) with the matching private key
/// (`my_private_key_pkcs8_der`: unencrypted PKCS#8, RSA or P-256) and returns the content, which
/// is released only once its GCM tag has verified.
///
/// Reads DER AuthEnvelopedData with AES-128/192/256-GCM (16-byte tags only) whose
/// RecipientInfo for us is a KeyTransRecipientInfo (RSAES-OAEP with one SHA-1/SHA-2 hash, or
/// PKCS#1 v1.5 `rsaEncryption`) or a KeyAgreeRecipientInfo (RFC 5753 ephemeral-static ECDH with
/// an X9.63 KDF, AES key wrap), naming us by issuer and serial number or by subject key
/// identifier. The content type must be id-data. Authenticated attributes are authenticated;
/// other attributes and originatorInfo are ignored.
///
/// The private key is software for now (a gateway's encryption key); decrypting with a key in a
/// PKCS#11 device can come later. Memory: the envelope plus one copy of the content; for a
/// large envelope, [`open_to`] streams the content instead.
pub fn open(envelope: &[u8], my_certificate_der: &[u8], my_private_key_pkcs8_der: &[u8]) -> Result<Vec<u8>, OpenError> {
    Opener::new(my_certificate_der, my_private_key_pkcs8_der)?.open(envelope)
}

/// Opens `envelope` as [`open`] does (same inputs, limits and checks) but writes the content to
/// `out` as it is decrypted, in chunks of 64 KiB, and returns its length: for envelopes of
/// 100 MB and more that the caller has memory-mapped. Memory: the recipient infos and one chunk,
/// nothing proportional to the content.
///
/// # The bytes written are NOT authenticated until this returns `Ok`
///
/// GCM's tag can only be checked after the last chunk, so the content reaches `out` before it
/// is known to be genuine. On **any** `Err` (above all [`OpenError::Tampered`], but also
/// [`OpenError::Io`] or any other), whatever was written to `out` may be forged, truncated or
/// garbage: the caller must discard it (delete the file, truncate it, never parse or forward
/// it). Write to a temporary file and rename it into place only after `Ok`. Errors found while
/// parsing (malformed, not for us, unsupported, wrong key) come before anything is written.
/// `out` is flushed after the tag verifies.
pub fn open_to(
    envelope: &[u8],
    my_certificate_der: &[u8],
    my_private_key_pkcs8_der: &[u8],
    out: &mut impl std::io::Write,
) -> Result<u64, OpenError> {
    Opener::new(my_certificate_der, my_private_key_pkcs8_der)?.open_to(envelope, out)
}

/// A certificate and its private key, read and matched once: opens envelope after envelope as
/// [`open`] and [`open_to`] do, without parsing either again.
pub struct Opener {
    me: Party,
    key: PrivateKey,
}

impl Opener {
    /// Reads `my_certificate_der` (DER X.509) and `my_private_key_pkcs8_der` (unencrypted
    /// PKCS#8, RSA or P-256) and checks that the key is the certificate's.
    pub fn new(my_certificate_der: &[u8], my_private_key_pkcs8_der: &[u8]) -> Result<Self, OpenError> {
        let me = Party::parse(my_certificate_der).map_err(|unusable| match unusable {
            Unusable::Certificate(reason) | Unusable::Key(reason) => OpenError::Certificate(reason),
        })?;
        let key = PrivateKey::new(&me.key, my_private_key_pkcs8_der)?;
        Ok(Self { me, key })
    }

    /// [`open`] with this certificate and key.
    pub fn open(&self, envelope: &[u8]) -> Result<Vec<u8>, OpenError> {
        let sealed = Sealed::prepare(envelope, self)?;
        sealed.cipher.open(&sealed.cek, sealed.ciphertext, &sealed.aad, sealed.mac)
    }

    /// [`open_to`] with this certificate and key: what it writes is authenticated only when it
    /// returns `Ok`.
    pub fn open_to(&self, envelope: &[u8], out: &mut impl std::io::Write) -> Result<u64, OpenError> {
        let sealed = Sealed::prepare(envelope, self)?;
        sealed.cipher.open_to(&sealed.cek, sealed.ciphertext, &sealed.aad, sealed.mac, out)
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}

/// An envelope parsed and its content key unwrapped: all that decrypting needs.
struct Sealed<'a> {
    cipher: ContentCipher,
    cek: Zeroizing<Vec<u8>>,
    ciphertext: &'a [u8],
    aad: Vec<u8>,
    mac: &'a [u8],
}

impl<'a> Sealed<'a> {
    fn prepare(envelope: &'a [u8], opener: &Opener) -> Result<Self, OpenError> {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(OpenError::TooLarge(envelope.len()));
        }
        let data = parse(envelope)?;
        let info = &data.auth_encrypted_content_info;
        let cipher = ContentCipher::from_identifier(&info.content_encryption_algorithm)?;
        let cek = content_key(&data.recipient_infos, &opener.me, &opener.key, cipher.key_bytes())?;
        let ciphertext = info
            .encrypted_content
            .ok_or_else(|| OpenError::Unsupported("detached content: the envelope carries no ciphertext".into()))?;
        let aad = associated_data(data.auth_attrs)?;
        Ok(Self { cipher, cek, ciphertext: ciphertext.as_bytes(), aad, mac: data.mac.as_bytes() })
    }
}

fn parse(envelope: &[u8]) -> Result<AuthEnvelopedData<'_>, OpenError> {
    let malformed = |e: der::Error| OpenError::Malformed(e.to_string());
    let info = ContentInfo::from_der(envelope).map_err(malformed)?;
    if info.content_type != AUTH_ENVELOPED_DATA {
        return Err(OpenError::Unsupported(format!(
            "content type {}: only AuthEnvelopedData ({AUTH_ENVELOPED_DATA})",
            info.content_type
        )));
    }
    let data = info.content.decode_as::<AuthEnvelopedData<'_>>().map_err(malformed)?;
    if data.version != AUTH_ENVELOPED_VERSION {
        return Err(OpenError::Malformed(format!("AuthEnvelopedData version {}, not 0", data.version)));
    }
    let count = data.recipient_infos.count();
    if count > MAX_RECIPIENTS {
        return Err(OpenError::TooManyRecipients(count));
    }
    if count == 0 {
        return Err(OpenError::Malformed("no RecipientInfo".into()));
    }
    let content_type = data.auth_encrypted_content_info.content_type;
    if content_type != DATA {
        return Err(OpenError::Unsupported(format!("encrypted content of type {content_type}: only id-data")));
    }
    Ok(data)
}

/// The content key from the first RecipientInfo for us that yields one; if none does, why the
/// last one for us failed, or [`OpenError::NotForUs`].
fn content_key(
    infos: &SetOf<'_>,
    me: &Party,
    key: &PrivateKey,
    key_bytes: usize,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let mut outcome = Err(OpenError::NotForUs);
    for der in infos.iter() {
        let attempt = match (recipient_info(der)?, key) {
            (Some(RecipientInfo::Ktri(info)), PrivateKey::Rsa(rsa)) if ktri::is_for(&info, me) => {
                ktri::unwrap(&info, rsa, key_bytes)
            }
            (Some(RecipientInfo::Ktri(info)), PrivateKey::P256(_)) if ktri::is_for(&info, me) => {
                Err(OpenError::Unsupported("key transport to our P-256 key".into()))
            }
            (Some(RecipientInfo::Kari(info)), key) => match (kari::encrypted_key_for(&info, me)?, key) {
                (None, _) => continue,
                (Some(wrapped), PrivateKey::P256(ec)) => kari::unwrap(&info, wrapped.as_bytes(), ec, key_bytes),
                (Some(_), PrivateKey::Rsa(_)) => Err(OpenError::Unsupported("key agreement with our RSA key".into())),
            },
            _ => continue,
        };
        match attempt {
            Ok(cek) => return Ok(cek),
            Err(error) => outcome = Err(error),
        }
    }
    outcome
}

/// A RecipientInfo of a kind certificates use, or `None` for the others (kekri, pwri, ori).
fn recipient_info(der: &[u8]) -> Result<Option<RecipientInfo<'_>>, OpenError> {
    const SEQUENCE: u8 = 0x30;
    const KARI: u8 = 0xA1; // [1], constructed
    if !matches!(der.first(), Some(&(SEQUENCE | KARI))) {
        return Ok(None);
    }
    let info = RecipientInfo::from_der(der).map_err(|e| OpenError::Malformed(format!("RecipientInfo: {e}")))?;
    let (version, expected) = match &info {
        RecipientInfo::Ktri(ktri) => (ktri.version, ktri::version(&ktri.rid)),
        RecipientInfo::Kari(kari) => (kari.version, KARI_VERSION),
    };
    if version != expected {
        return Err(OpenError::Malformed(format!("RecipientInfo version {version} where RFC 5652 says {expected}")));
    }
    Ok(Some(info))
}

/// RFC 5083 §2.1: the associated data is the DER of authAttrs with the SET OF tag, not [1].
fn associated_data(auth_attrs: Option<Undecoded<'_>>) -> Result<Vec<u8>, OpenError> {
    auth_attrs.map_or(Ok(Vec::new()), |set| set.to_der().map_err(|e| OpenError::Malformed(format!("authAttrs: {e}"))))
}

/// Our private key, checked to be the certificate's.
enum PrivateKey {
    Rsa(PrivateDecryptingKey),
    P256(agreement::PrivateKey),
}

impl PrivateKey {
    fn new(public: &PublicKey, pkcs8: &[u8]) -> Result<Self, OpenError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| OpenError::Key(e.to_string());
        match public {
            PublicKey::Rsa { bits, .. } => {
                let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(rejected)?;
                let own = key.public_key().as_der().map_err(|_| OpenError::Internal("RSA public key"))?;
                match PublicKey::from_spki(own.as_ref()) {
                    Ok(PublicKey::Rsa { bits: own, .. }) if own == *bits => Ok(Self::Rsa(key)),
                    _ => Err(OpenError::KeyMismatch),
                }
            }
            PublicKey::P256 { point } => {
                let key = agreement::PrivateKey::from_private_key_der(&ECDH_P256, pkcs8).map_err(rejected)?;
                let own = key.compute_public_key().map_err(|_| OpenError::Internal("ECDH public key"))?;
                if own.as_ref() != point.as_slice() {
                    return Err(OpenError::KeyMismatch);
                }
                Ok(Self::P256(key))
            }
        }
    }
}
