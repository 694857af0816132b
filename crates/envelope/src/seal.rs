//! Sealing: the content encrypted once under a random AES-256-GCM key, that key wrapped for each
//! recipient certificate.

use der::Encode;
use der::asn1::OctetStringRef;
use zeroize::Zeroizing;

use crate::asn1::{
    AUTH_ENVELOPED_DATA, AUTH_ENVELOPED_VERSION, AuthEnvelopedContentInfo, AuthEnvelopedData, DATA, Elements,
    EncryptedContentInfo,
};
use crate::certificate::{Party, PublicKey, Unusable};
use crate::content::{self, KEY_BYTES, NONCE_BYTES, TAG_BYTES};
use crate::{MAX_CONTENT_BYTES, MAX_ENVELOPE_BYTES, MAX_RECIPIENTS, SealError, kari, ktri};

/// Seals `content` for `recipients` (DER certificates): a DER CMS ContentInfo holding an
/// AuthEnvelopedData (RFC 5083) encrypted with AES-256-GCM (RFC 5084, 12-byte nonce, 16-byte
/// tag) under a fresh random key, with one RecipientInfo per certificate, identified by issuer
/// and serial number:
/// - RSA (2048 bits or more): KeyTransRecipientInfo, RSAES-OAEP with SHA-256 and MGF1-SHA-256;
/// - P-256: KeyAgreeRecipientInfo, ephemeral-static ECDH with the X9.63 SHA-256 KDF
///   (dhSinglePass-stdDH-sha256kdf-scheme) and id-aes256-wrap (RFC 5753).
///
/// A certificate whose key usage lacks keyEncipherment (RSA) or keyAgreement (P-256) is refused:
/// it is a signing certificate. Certificates are not validated here (chain, validity,
/// revocation): the caller decides whom it trusts. Memory: the envelope, built once, plus
/// nothing proportional to the content.
pub fn seal(content: &[u8], recipients: &[&[u8]]) -> Result<Vec<u8>, SealError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(SealError::TooLarge(content.len()));
    }
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(SealError::RecipientCount(recipients.len()));
    }
    let mut cek = Zeroizing::new([0; KEY_BYTES]);
    let mut nonce = [0; NONCE_BYTES];
    aws_lc_rs::rand::fill(cek.as_mut_slice()).map_err(|_| SealError::Internal("randomness"))?;
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Internal("randomness"))?;
    let infos = recipients
        .iter()
        .enumerate()
        .map(|(index, der)| recipient_info(index, der, cek.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut envelope =
        encode_with_plaintext(content, &infos, &nonce).map_err(|_| SealError::Internal("encoding the envelope"))?;
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(SealError::EnvelopeTooLarge(envelope.len()));
    }
    encrypt_in_place(&mut envelope, content, &cek, nonce)?;
    Ok(envelope)
}

fn recipient_info(index: usize, der: &[u8], cek: &[u8]) -> Result<Vec<u8>, SealError> {
    let party = Party::parse(der).map_err(|unusable| match unusable {
        Unusable::Certificate(reason) => SealError::Certificate { index, reason },
        Unusable::Key(reason) => SealError::UnsupportedKey { index, reason },
    })?;
    if let Some(needed) = party.missing_key_usage() {
        return Err(SealError::KeyUsage { index, needed });
    }
    match &party.key {
        PublicKey::Rsa { spki, .. } => ktri::wrap(index, &party, spki, cek),
        PublicKey::P256 { point } => kari::wrap(index, &party, point, cek),
    }
}

/// The whole envelope with the content still in clear where its ciphertext goes, and a zero mac:
/// encoding it once around the content is what keeps a 100 MB document from being copied twice.
fn encode_with_plaintext(content: &[u8], infos: &[Vec<u8>], nonce: &[u8; NONCE_BYTES]) -> der::Result<Vec<u8>> {
    let gcm = content::aes256_gcm_parameters(nonce)?;
    AuthEnvelopedContentInfo {
        content_type: AUTH_ENVELOPED_DATA,
        content: AuthEnvelopedData {
            version: AUTH_ENVELOPED_VERSION,
            originator_info: None,
            recipient_infos: Elements::new(infos.iter().map(Vec::as_slice).collect()),
            auth_encrypted_content_info: EncryptedContentInfo {
                content_type: DATA,
                content_encryption_algorithm: content::aes256_gcm(&gcm)?,
                encrypted_content: Some(OctetStringRef::new(content)?),
            },
            auth_attrs: None,
            mac: OctetStringRef::new(&[0; TAG_BYTES])?,
            unauth_attrs: None,
        },
    }
    .to_der()
}

/// Encrypts the content where [`encode_with_plaintext`] wrote it and puts the tag in the mac.
/// DER leaves no choice about where they are: the mac is the last field (its 16 bytes after an
/// OCTET STRING tag and length), and the encryptedContent octets end right before it. The layout
/// is checked, not assumed.
fn encrypt_in_place(
    envelope: &mut [u8],
    content: &[u8],
    cek: &[u8; KEY_BYTES],
    nonce: [u8; NONCE_BYTES],
) -> Result<(), SealError> {
    let layout = SealError::Internal("the envelope's layout");
    let mac_start = envelope.len().checked_sub(TAG_BYTES).ok_or(layout.clone())?;
    let content_end = mac_start.checked_sub(2).ok_or(layout.clone())?;
    let content_start = content_end.checked_sub(content.len()).ok_or(layout.clone())?;
    let mac_header = [0x04, TAG_BYTES as u8];
    if envelope.get(content_end..mac_start) != Some(&mac_header[..])
        || envelope.get(content_start..content_end) != Some(content)
    {
        return Err(layout);
    }
    let (body, mac) = envelope.split_at_mut(mac_start);
    let tag = content::seal_in_place(cek, nonce, &mut body[content_start..content_end])
        .map_err(|_| SealError::Internal("AES-GCM"))?;
    mac.copy_from_slice(&tag);
    Ok(())
}
