//! AES-GCM over content that arrives in pieces (NIST SP 800-38D, 96-bit nonces only), for
//! envelopes too large to hold: aws-lc-rs has one-shot GCM only. Built from RustCrypto's AES,
//! CTR and GHASH:
//! - H = AES_K(0^128), J0 = nonce || 0x00000001;
//! - the keystream is CTR from inc32(J0), a 32-bit big-endian counter that wraps (`Ctr32BE`);
//! - S = GHASH_H(A zero-padded || C zero-padded || len(A) || len(C), lengths in bits);
//! - tag = S ⊕ AES_K(J0), compared in constant time when opening.
//!
//! [`Encryptor`] and [`Decryptor`] take the content in pieces of any size; the bytes a
//! [`Decryptor`] gives back are not authenticated until [`Decryptor::finish`] says so.
//! Keys, H and AES_K(J0) are wiped on drop (the `zeroize` features of `aes`, `ctr` and `ghash`).

use aes::{Aes128, Aes192, Aes256};
use ctr::cipher::consts::U16;
use ctr::cipher::{Array, BlockCipherEncrypt, InnerIvInit, KeyInit, StreamCipher};
use ctr::{Ctr32BE, CtrCore};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use zeroize::{Zeroize, Zeroizing};

use crate::content::{NONCE_BYTES, TAG_BYTES};

/// The chunk [`crate::seal_to`] and [`crate::open_to`] encrypt or decrypt at a time: all the
/// memory they use for the content.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
const BLOCK: usize = 16;
/// The most GCM encrypts under one nonce: 2^39 - 256 bits (SP 800-38D §5.2.1.1).
const MAX_TEXT_BYTES: u64 = (1 << 36) - 32;

/// Why a streaming GCM operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GcmError {
    /// The key is not 16, 24 or 32 bytes long.
    KeyLength,
    /// More data than GCM allows under one nonce.
    TooLong,
    /// The tag does not verify.
    Tag,
}

/// AES-GCM encryption of content given in pieces.
pub(crate) struct Encryptor(Gcm);

impl Encryptor {
    /// Starts encrypting under `key` (16, 24 or 32 bytes) and `nonce`, authenticating `aad`.
    pub(crate) fn new(key: &[u8], nonce: &[u8; NONCE_BYTES], aad: &[u8]) -> Result<Self, GcmError> {
        Gcm::new(key, nonce, aad).map(Self)
    }

    /// Encrypts the next piece of the content in place.
    pub(crate) fn encrypt(&mut self, piece: &mut [u8]) -> Result<(), GcmError> {
        self.0.keystream(piece)?;
        self.0.hash.text(piece)
    }

    /// The tag, once the whole content has been encrypted.
    pub(crate) fn finish(self) -> [u8; TAG_BYTES] {
        self.0.tag()
    }
}

/// AES-GCM decryption of content given in pieces. What [`Decryptor::decrypt`] yields is not
/// authenticated until [`Decryptor::finish`] returns `Ok`.
pub(crate) struct Decryptor(Gcm);

impl Decryptor {
    /// Starts decrypting under `key` (16, 24 or 32 bytes) and `nonce`, authenticating `aad`.
    pub(crate) fn new(key: &[u8], nonce: &[u8; NONCE_BYTES], aad: &[u8]) -> Result<Self, GcmError> {
        Gcm::new(key, nonce, aad).map(Self)
    }

    /// Decrypts the next piece of the ciphertext in place (unauthenticated so far).
    pub(crate) fn decrypt(&mut self, piece: &mut [u8]) -> Result<(), GcmError> {
        self.0.hash.text(piece)?;
        self.0.keystream(piece)
    }

    /// Checks `tag` against the whole ciphertext, in constant time.
    pub(crate) fn finish(self, tag: &[u8]) -> Result<(), GcmError> {
        let computed = Zeroizing::new(self.0.tag());
        aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_slice(), tag).map_err(|_| GcmError::Tag)
    }
}

/// The keystream from counter block `first`, H and AES_K(`j0`), for one AES key size.
macro_rules! start {
    ($aes:ty, $variant:ident, $key:expr, $j0:expr, $first:expr) => {{
        let aes = <$aes>::new_from_slice($key).map_err(|_| GcmError::KeyLength)?;
        let h = Zeroizing::new(encrypt_block(&aes, [0; BLOCK]));
        let tag_mask = Zeroizing::new(encrypt_block(&aes, *$j0));
        let ctr = Ctr32BE::<$aes>::from_core(CtrCore::inner_iv_init(aes, &(*$first).into()));
        (Keystream::$variant(ctr), h, tag_mask)
    }};
}

/// The state both directions share: the keystream, the running GHASH and AES_K(J0).
struct Gcm {
    ctr: Keystream,
    hash: Hash,
    /// AES_K(J0): what masks GHASH's output into the tag.
    tag_mask: Zeroizing<[u8; BLOCK]>,
}

impl Gcm {
    fn new(key: &[u8], nonce: &[u8; NONCE_BYTES], aad: &[u8]) -> Result<Self, GcmError> {
        let mut j0 = [0; BLOCK];
        j0[..NONCE_BYTES].copy_from_slice(nonce);
        j0[BLOCK - 1] = 1;
        let mut first = j0;
        first[BLOCK - 1] = 2; // inc32(J0): J0's counter is 1, so no carry
        let (ctr, h, tag_mask) = match key.len() {
            16 => start!(Aes128, A128, key, &j0, &first),
            24 => start!(Aes192, A192, key, &j0, &first),
            32 => start!(Aes256, A256, key, &j0, &first),
            _ => return Err(GcmError::KeyLength),
        };
        let mut hash = Hash::new(&h);
        hash.aad(aad)?;
        Ok(Self { ctr, hash, tag_mask })
    }

    fn keystream(&mut self, piece: &mut [u8]) -> Result<(), GcmError> {
        self.ctr.apply(piece)
    }

    fn tag(self) -> [u8; TAG_BYTES] {
        let mut tag = self.hash.finish();
        tag.iter_mut().zip(self.tag_mask.iter()).for_each(|(t, m)| *t ^= m);
        tag
    }
}

/// CTR mode for the three AES key sizes.
enum Keystream {
    A128(Ctr32BE<Aes128>),
    A192(Ctr32BE<Aes192>),
    A256(Ctr32BE<Aes256>),
}

impl Keystream {
    fn apply(&mut self, piece: &mut [u8]) -> Result<(), GcmError> {
        let applied = match self {
            Self::A128(ctr) => ctr.try_apply_keystream(piece),
            Self::A192(ctr) => ctr.try_apply_keystream(piece),
            Self::A256(ctr) => ctr.try_apply_keystream(piece),
        };
        applied.map_err(|_| GcmError::TooLong)
    }
}

/// One AES block encryption.
fn encrypt_block<C: BlockCipherEncrypt<BlockSize = U16>>(aes: &C, block: [u8; BLOCK]) -> [u8; BLOCK] {
    let mut block = Array::from(block);
    aes.encrypt_block(&mut block);
    let out = block.into();
    block.zeroize();
    out
}

/// GHASH over the AAD then the ciphertext, each zero-padded to whole blocks, fed in pieces of any
/// size: a partial block waits in `pending` for the next piece.
struct Hash {
    ghash: GHash,
    pending: Zeroizing<[u8; BLOCK]>,
    pending_len: usize,
    aad_bytes: u64,
    text_bytes: u64,
}

impl Hash {
    fn new(h: &[u8; BLOCK]) -> Self {
        let mut key = ghash::Key::from(*h);
        let ghash = GHash::new(&key);
        key.zeroize();
        Self { ghash, pending: Zeroizing::new([0; BLOCK]), pending_len: 0, aad_bytes: 0, text_bytes: 0 }
    }

    /// The whole AAD, zero-padded (given once, before any text).
    fn aad(&mut self, aad: &[u8]) -> Result<(), GcmError> {
        self.aad_bytes = u64::try_from(aad.len()).map_err(|_| GcmError::TooLong)?;
        if self.aad_bytes > MAX_TEXT_BYTES {
            return Err(GcmError::TooLong);
        }
        self.ghash.update_padded(aad);
        Ok(())
    }

    /// The next piece of ciphertext.
    fn text(&mut self, mut piece: &[u8]) -> Result<(), GcmError> {
        let added = u64::try_from(piece.len()).map_err(|_| GcmError::TooLong)?;
        self.text_bytes =
            self.text_bytes.checked_add(added).filter(|n| *n <= MAX_TEXT_BYTES).ok_or(GcmError::TooLong)?;
        if self.pending_len > 0 {
            let taken = piece.len().min(BLOCK - self.pending_len);
            self.pending[self.pending_len..self.pending_len + taken].copy_from_slice(&piece[..taken]);
            self.pending_len += taken;
            piece = &piece[taken..];
            if self.pending_len < BLOCK {
                return Ok(());
            }
            self.ghash.update(&[ghash::Block::from(*self.pending)]);
            self.pending_len = 0;
        }
        let (blocks, tail) = ghash::Block::slice_as_chunks(piece);
        self.ghash.update(blocks);
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
        Ok(())
    }

    /// GHASH's output: the last partial block zero-padded, then len(A) || len(C) in bits.
    fn finish(mut self) -> [u8; BLOCK] {
        if self.pending_len > 0 {
            self.pending[self.pending_len..].fill(0);
            self.ghash.update(&[ghash::Block::from(*self.pending)]);
        }
        let mut lengths = [0; BLOCK];
        // At most 2^36 bytes each (checked as they came), so the bit counts fit in 64 bits.
        lengths[..8].copy_from_slice(&(self.aad_bytes * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.text_bytes * 8).to_be_bytes());
        self.ghash.update(&[ghash::Block::from(lengths)]);
        self.ghash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector of the GCM specification (McGrew and Viega, test case 16): AES-256,
    /// a 96-bit IV, 60 bytes of plaintext and 20 bytes of AAD.
    const KEY: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const IV: &str = "cafebabefacedbaddecaf888";
    const PLAIN: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const CIPHER: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
    const TAG: &str = "76fc6ece0f4e1768cddf8853bb2d551b";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
    }

    fn nonce() -> [u8; NONCE_BYTES] {
        hex(IV).try_into().expect("12 bytes")
    }

    #[test]
    fn the_reference_vector_passes_in_pieces_of_every_size() {
        let plain = hex(PLAIN);
        for piece in 1..=plain.len() {
            let mut text = plain.clone();
            let mut sealing = Encryptor::new(&hex(KEY), &nonce(), &hex(AAD)).expect("key");
            text.chunks_mut(piece).for_each(|chunk| sealing.encrypt(chunk).expect("encrypt"));
            assert_eq!(text, hex(CIPHER), "pieces of {piece}");
            let tag = sealing.finish();
            assert_eq!(tag.to_vec(), hex(TAG), "pieces of {piece}");
            let mut opening = Decryptor::new(&hex(KEY), &nonce(), &hex(AAD)).expect("key");
            text.chunks_mut(piece).for_each(|chunk| opening.decrypt(chunk).expect("decrypt"));
            assert_eq!(text, plain);
            assert_eq!(opening.finish(&tag), Ok(()));
        }
    }

    #[test]
    fn every_key_size_matches_aws_lc() {
        use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        for algorithm in [&AES_128_GCM, &AES_192_GCM, &AES_256_GCM] {
            let key: Vec<u8> = (0..algorithm.key_len()).map(|i| i as u8 * 7).collect();
            for len in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
                let aad = &plain[..len.min(21)];
                let mut expected = plain.clone();
                let sealer = LessSafeKey::new(UnboundKey::new(algorithm, &key).expect("key"));
                let nonce = Nonce::assume_unique_for_key(*b"nonce-nonce!");
                let tag = sealer.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut expected).expect("seal");
                let mut text = plain.clone();
                let mut sealing = Encryptor::new(&key, b"nonce-nonce!", aad).expect("key");
                text.chunks_mut(7).for_each(|chunk| sealing.encrypt(chunk).expect("encrypt"));
                assert_eq!(text, expected, "{} bytes", len);
                assert_eq!(sealing.finish().as_slice(), tag.as_ref(), "{} bytes", len);
                let mut opening = Decryptor::new(&key, b"nonce-nonce!", aad).expect("key");
                opening.decrypt(&mut text).expect("decrypt");
                let mut wrong = [0; TAG_BYTES];
                wrong.copy_from_slice(tag.as_ref());
                wrong[0] ^= 1;
                assert_eq!(text, plain);
                assert_eq!(opening.finish(&wrong), Err(GcmError::Tag));
            }
        }
    }

    #[test]
    fn a_key_of_another_length_is_refused() {
        assert!(matches!(Encryptor::new(&[0; 20], &[0; NONCE_BYTES], &[]), Err(GcmError::KeyLength)));
    }
}
