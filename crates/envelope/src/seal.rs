//! Sealing: the content encrypted once under a random AES-256-GCM key, that key wrapped for each
//! recipient certificate.

use std::borrow::Borrow;
use std::io::Write;

use der::asn1::OctetStringRef;
use der::{Encode, ErrorKind, Header, Length, Tag, TagNumber};
use zeroize::Zeroizing;

use crate::asn1::{
    AUTH_ENVELOPED_DATA, AUTH_ENVELOPED_VERSION, AuthEnvelopedContentInfo, AuthEnvelopedData, DATA, Elements,
    EncryptedContentInfo,
};
use crate::certificate::{Party, PublicKey, Unusable};
use crate::content::{self, KEY_BYTES, NONCE_BYTES, TAG_BYTES};
use crate::stream::{CHUNK_BYTES, Encryptor};
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
    let Keys { cek, nonce, infos } = keys_for(&Recipient::parse_all(recipients)?)?;
    let mut envelope =
        encode_with_plaintext(content, &infos, &nonce).map_err(|_| SealError::Internal("encoding the envelope"))?;
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(SealError::EnvelopeTooLarge(envelope.len()));
    }
    encrypt_in_place(&mut envelope, content, &cek, nonce)?;
    Ok(envelope)
}

/// Seals the concatenation of `content`'s segments (parts of a document, which may live in
/// memory-mapped files) for `recipients` as [`seal`] does, writing the envelope to `out` as it is
/// encrypted; returns the number of bytes written. The output is exactly the DER envelope `seal`
/// writes for the same bytes (with its own random key and nonce): same structure, same limits
/// ([`MAX_CONTENT_BYTES`] for the segments together, [`MAX_ENVELOPE_BYTES`], 1 to
/// [`MAX_RECIPIENTS`] recipients) and the same refusals of certificates, checked before anything
/// is written. `out` is flushed at the end.
///
/// Memory: the RecipientInfos and a 64 KiB buffer, nothing proportional to the content: the
/// envelope's lengths are computed from the segments' lengths, then the content is encrypted a
/// chunk at a time with a streaming AES-256-GCM (`seal` keeps aws-lc-rs's one-shot GCM).
///
/// On [`SealError::Io`] what was written is an incomplete envelope: discard it.
pub fn seal_to(content: &[&[u8]], recipients: &[&[u8]], out: &mut impl Write) -> Result<u64, SealError> {
    // The content's size is refused before the certificates are read, as `seal` does.
    content_length(content)?;
    seal_to_recipients(content, &Recipient::parse_all(recipients)?, out)
}

/// A recipient certificate read and checked once (its key is RSA or P-256, its key usage allows
/// encrypting to it), to seal envelope after envelope for it without parsing it again.
#[derive(Debug)]
pub struct Recipient(Party);

impl Recipient {
    /// Reads a DER certificate as [`seal`] does; an error names it recipient 0
    /// ([`SealError::problem`] says what is wrong without it).
    pub fn parse(der: &[u8]) -> Result<Self, SealError> {
        Self::at(0, der)
    }

    /// Reads a list of 1 to [`MAX_RECIPIENTS`] DER certificates as [`seal`] does; an error names
    /// the certificate by its position.
    pub fn parse_all(ders: &[&[u8]]) -> Result<Vec<Self>, SealError> {
        check_count(ders.len())?;
        ders.iter().enumerate().map(|(index, der)| Self::at(index, der)).collect()
    }

    /// Reads the certificate at `index` in a list.
    fn at(index: usize, der: &[u8]) -> Result<Self, SealError> {
        let party = Party::parse(der).map_err(|unusable| match unusable {
            Unusable::Certificate(reason) => SealError::Certificate { index, reason },
            Unusable::Key(reason) => SealError::UnsupportedKey { index, reason },
        })?;
        if let Some(needed) = party.missing_key_usage() {
            return Err(SealError::KeyUsage { index, needed });
        }
        Ok(Self(party))
    }
}

/// [`seal_to`] for recipients already read (owned, borrowed or shared).
pub fn seal_to_recipients<R: Borrow<Recipient>>(
    content: &[&[u8]],
    recipients: &[R],
    out: &mut impl Write,
) -> Result<u64, SealError> {
    let length = content_length(content)?;
    let Keys { cek, nonce, infos } = keys_for(recipients)?;
    let head = encode_head(length, &infos, &nonce).map_err(|_| SealError::Internal("encoding the envelope"))?;
    let total = head.len() + length + MAC_HEADER.len() + TAG_BYTES;
    if total > MAX_ENVELOPE_BYTES {
        return Err(SealError::EnvelopeTooLarge(total));
    }
    let mut gcm = Encryptor::new(cek.as_slice(), &nonce, &[]).map_err(|_| SealError::Internal("AES-GCM"))?;
    out.write_all(&head).map_err(SealError::io("writing the envelope's header"))?;
    encrypt_segments(content, length, &mut gcm, out)?;
    out.write_all(&MAC_HEADER).map_err(SealError::io("writing the tag"))?;
    out.write_all(&gcm.finish()).map_err(SealError::io("writing the tag"))?;
    out.flush().map_err(SealError::io("flushing the envelope"))?;
    u64::try_from(total).map_err(|_| SealError::Internal("the envelope's length"))
}

/// The mac's header: an OCTET STRING of [`TAG_BYTES`], the last field of the envelope.
const MAC_HEADER: [u8; 2] = [0x04, TAG_BYTES as u8];

/// A fresh content key and nonce, and the key wrapped for each recipient (their RecipientInfos).
struct Keys {
    cek: Zeroizing<[u8; KEY_BYTES]>,
    nonce: [u8; NONCE_BYTES],
    infos: Vec<Vec<u8>>,
}

/// The segments' total length, at most [`MAX_CONTENT_BYTES`].
fn content_length(content: &[&[u8]]) -> Result<usize, SealError> {
    let length = content
        .iter()
        .try_fold(0_usize, |total, segment| total.checked_add(segment.len()))
        .ok_or(SealError::TooLarge(usize::MAX))?;
    match length {
        0..=MAX_CONTENT_BYTES => Ok(length),
        _ => Err(SealError::TooLarge(length)),
    }
}

fn check_count(count: usize) -> Result<(), SealError> {
    match count {
        1..=MAX_RECIPIENTS => Ok(()),
        _ => Err(SealError::RecipientCount(count)),
    }
}

fn keys_for<R: Borrow<Recipient>>(recipients: &[R]) -> Result<Keys, SealError> {
    check_count(recipients.len())?;
    let mut cek = Zeroizing::new([0; KEY_BYTES]);
    let mut nonce = [0; NONCE_BYTES];
    aws_lc_rs::rand::fill(cek.as_mut_slice()).map_err(|_| SealError::Internal("randomness"))?;
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Internal("randomness"))?;
    let infos = recipients
        .iter()
        .enumerate()
        .map(|(index, recipient)| recipient_info(index, recipient.borrow(), cek.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Keys { cek, nonce, infos })
}

/// Encrypts the segments' `length` bytes through one [`CHUNK_BYTES`] buffer into `out`.
fn encrypt_segments(
    content: &[&[u8]],
    length: usize,
    gcm: &mut Encryptor,
    out: &mut impl Write,
) -> Result<(), SealError> {
    let mut buffer = Zeroizing::new(vec![0; CHUNK_BYTES.min(length)]);
    let mut filled = 0;
    for segment in content {
        let mut rest = *segment;
        while !rest.is_empty() {
            let taken = rest.len().min(buffer.len() - filled);
            let (now, later) = rest.split_at(taken);
            buffer[filled..filled + taken].copy_from_slice(now);
            filled += taken;
            rest = later;
            if filled == buffer.len() {
                encrypt_chunk(&mut buffer[..filled], gcm, out)?;
                filled = 0;
            }
        }
    }
    if filled > 0 {
        encrypt_chunk(&mut buffer[..filled], gcm, out)?;
    }
    Ok(())
}

fn encrypt_chunk(chunk: &mut [u8], gcm: &mut Encryptor, out: &mut impl Write) -> Result<(), SealError> {
    gcm.encrypt(chunk).map_err(|_| SealError::Internal("AES-GCM"))?;
    out.write_all(chunk).map_err(SealError::io("writing the ciphertext"))
}

/// The envelope [`encode_with_plaintext`] writes, up to the first byte of the content, for a
/// content of `length` bytes: the headers of the enclosing structures are computed from the
/// lengths, so the content is not needed. What follows the content is [`MAC_HEADER`] and the tag.
fn encode_head(length: usize, infos: &[Vec<u8>], nonce: &[u8; NONCE_BYTES]) -> der::Result<Vec<u8>> {
    let gcm = content::aes256_gcm_parameters(nonce)?;
    let content_header = Header::new(context_specific(0, false), Length::try_from(length)?).to_der()?;
    let content_info = [DATA.to_der()?, content::aes256_gcm(&gcm)?.to_der()?, content_header].concat();
    let content_info = with_header(Tag::Sequence, content_info, length)?;
    let recipient_infos = Elements::<true>::new(infos.iter().map(Vec::as_slice).collect()).to_der()?;
    let data = [AUTH_ENVELOPED_VERSION.to_der()?, recipient_infos, content_info].concat();
    let after = length.checked_add(MAC_HEADER.len() + TAG_BYTES).ok_or(ErrorKind::Overflow)?;
    let data = with_header(Tag::Sequence, data, after)?;
    let explicit = with_header(context_specific(0, true), data, after)?;
    with_header(Tag::Sequence, [AUTH_ENVELOPED_DATA.to_der()?, explicit].concat(), after)
}

/// A TLV's header and the first part of its value, `known`, for a value of `known` followed by
/// `later` bytes not yet written.
fn with_header(tag: Tag, known: Vec<u8>, later: usize) -> der::Result<Vec<u8>> {
    let value_len = known.len().checked_add(later).ok_or(ErrorKind::Overflow)?;
    let mut encoded = Header::new(tag, Length::try_from(value_len)?).to_der()?;
    encoded.extend_from_slice(&known);
    Ok(encoded)
}

fn context_specific(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific { constructed, number: TagNumber(number) }
}

fn recipient_info(index: usize, Recipient(party): &Recipient, cek: &[u8]) -> Result<Vec<u8>, SealError> {
    match &party.key {
        PublicKey::Rsa { spki, .. } => ktri::wrap(index, party, spki, cek),
        PublicKey::P256 { point } => kari::wrap(index, party, point, cek),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RecipientInfos of a few sizes (their content does not matter to the layout), so that the
    /// lengths cross DER's one-, two- and three-byte length forms.
    fn infos(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes
            .iter()
            .map(|&size| {
                let mut info =
                    Header::new(Tag::Sequence, Length::try_from(size).expect("length")).to_der().expect("header");
                info.extend((0..size).map(|i| i as u8));
                info
            })
            .collect()
    }

    #[test]
    fn the_streamed_head_is_the_one_shot_envelope_up_to_the_content() {
        let nonce = [7; NONCE_BYTES];
        for sizes in [&[10][..], &[100, 3], &[300], &[70_000, 5]] {
            let infos = infos(sizes);
            for length in [0, 1, 15, 16, 17, 60, 100, 127, 128, 200, 255, 256, 65_535, 65_536, 70_000] {
                let content: Vec<u8> = (0..length).map(|i| (i % 253) as u8).collect();
                let whole = encode_with_plaintext(&content, &infos, &nonce).expect("one shot");
                let head = encode_head(length, &infos, &nonce).expect("head");
                let expected = [head, content, MAC_HEADER.to_vec(), vec![0; TAG_BYTES]].concat();
                assert!(whole == expected, "infos {sizes:?}, content {length}");
            }
        }
    }
}
