//! Content encryption: AES-GCM (RFC 5084) with a 12-byte nonce and a 16-byte tag, as the only
//! choice. Shorter tags are refused rather than honoured: they are what CVE-2026-34182 forged.

use aws_lc_rs::aead::{self, AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierRef;
use zeroize::{Zeroize, Zeroizing};

use crate::OpenError;
use crate::asn1::{AES128_GCM, AES192_GCM, AES256_GCM, GcmParameters};
use crate::stream::{CHUNK_BYTES, Decryptor};

/// The GCM nonce length (RFC 5084 recommends 12 bytes; aws-lc-rs takes nothing else).
pub(crate) const NONCE_BYTES: usize = aead::NONCE_LEN;
/// The GCM tag length.
pub(crate) const TAG_BYTES: usize = 16;
/// The AES-256 key length [`crate::seal`] uses.
pub(crate) const KEY_BYTES: usize = 32;

/// GCMParameters for AES-256-GCM with `nonce` and a 16-byte tag, DER-encoded.
pub(crate) fn aes256_gcm_parameters(nonce: &[u8; NONCE_BYTES]) -> der::Result<Vec<u8>> {
    GcmParameters { nonce: OctetStringRef::new(nonce)?, icv_len: TAG_BYTES as u8 }.to_der()
}

/// The AlgorithmIdentifier [`crate::seal`] writes, given its DER parameters.
pub(crate) fn aes256_gcm(parameters: &[u8]) -> der::Result<AlgorithmIdentifierRef<'_>> {
    Ok(AlgorithmIdentifierRef { oid: AES256_GCM, parameters: Some(AnyRef::from_der(parameters)?) })
}

/// Encrypts `in_out` in place with AES-256-GCM and no associated data; returns the tag.
pub(crate) fn seal_in_place(
    key: &[u8; KEY_BYTES],
    nonce: [u8; NONCE_BYTES],
    in_out: &mut [u8],
) -> Result<[u8; TAG_BYTES], aws_lc_rs::error::Unspecified> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let tag = key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), in_out)?;
    tag.as_ref().try_into().map_err(|_| aws_lc_rs::error::Unspecified)
}

/// The content-encryption algorithm of an envelope being opened.
#[derive(Debug)]
pub(crate) struct ContentCipher {
    algorithm: &'static aead::Algorithm,
    nonce: [u8; NONCE_BYTES],
}

impl ContentCipher {
    /// Reads contentEncryptionAlgorithm: AES-128/192/256-GCM with a 12-byte nonce and 16-byte tag.
    pub(crate) fn from_identifier(id: &AlgorithmIdentifierRef<'_>) -> Result<Self, OpenError> {
        let algorithm = match id.oid {
            AES128_GCM => &AES_128_GCM,
            AES192_GCM => &AES_192_GCM,
            AES256_GCM => &AES_256_GCM,
            other => return Err(OpenError::Unsupported(format!("content encryption {other}: only AES-GCM is"))),
        };
        let parameters = id.parameters.ok_or_else(|| OpenError::Malformed("AES-GCM without parameters".into()))?;
        let parameters = parameters
            .decode_as::<GcmParameters<'_>>()
            .map_err(|e| OpenError::Malformed(format!("GCMParameters: {e}")))?;
        let nonce = parameters.nonce.as_bytes().try_into().map_err(|_| {
            OpenError::Unsupported(format!("a GCM nonce of {} bytes: only 12", parameters.nonce.as_bytes().len()))
        })?;
        if usize::from(parameters.icv_len) != TAG_BYTES {
            return Err(OpenError::Unsupported(format!("a GCM tag of {} bytes: only 16", parameters.icv_len)));
        }
        Ok(Self { algorithm, nonce })
    }

    /// The content-encryption key length, in bytes.
    pub(crate) fn key_bytes(&self) -> usize {
        self.algorithm.key_len()
    }

    /// Decrypts and authenticates; the plaintext leaves only if the tag verifies.
    pub(crate) fn open(&self, key: &[u8], ciphertext: &[u8], aad: &[u8], tag: &[u8]) -> Result<Vec<u8>, OpenError> {
        if tag.len() != TAG_BYTES {
            return Err(OpenError::Malformed(format!("a {}-byte mac where the parameters say 16", tag.len())));
        }
        let key = UnboundKey::new(self.algorithm, key).map_err(|_| OpenError::Tampered)?;
        let key = LessSafeKey::new(key);
        let mut plaintext = ciphertext.to_vec();
        let nonce = Nonce::assume_unique_for_key(self.nonce);
        if key.open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut plaintext).is_err() {
            plaintext.zeroize();
            return Err(OpenError::Tampered);
        }
        Ok(plaintext)
    }

    /// Decrypts in chunks of [`CHUNK_BYTES`] into `out`, then checks the tag and flushes `out`.
    /// What was written is authenticated only if this returns `Ok`; returns the content length.
    pub(crate) fn open_to(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
        tag: &[u8],
        out: &mut impl std::io::Write,
    ) -> Result<u64, OpenError> {
        if tag.len() != TAG_BYTES {
            return Err(OpenError::Malformed(format!("a {}-byte mac where the parameters say 16", tag.len())));
        }
        if key.len() != self.key_bytes() {
            return Err(OpenError::Tampered);
        }
        let mut gcm = Decryptor::new(key, &self.nonce, aad).map_err(|_| OpenError::Tampered)?;
        let mut buffer = Zeroizing::new(vec![0; CHUNK_BYTES.min(ciphertext.len())]);
        for chunk in ciphertext.chunks(CHUNK_BYTES) {
            let piece = buffer.get_mut(..chunk.len()).ok_or(OpenError::Internal("the chunk buffer"))?;
            piece.copy_from_slice(chunk);
            gcm.decrypt(piece).map_err(|_| OpenError::Internal("AES-GCM"))?;
            out.write_all(piece).map_err(OpenError::io("writing the content"))?;
        }
        gcm.finish(tag).map_err(|_| OpenError::Tampered)?;
        out.flush().map_err(OpenError::io("flushing the content"))?;
        u64::try_from(ciphertext.len()).map_err(|_| OpenError::Internal("the content length"))
    }
}
