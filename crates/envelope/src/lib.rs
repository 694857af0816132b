//! Documents sealed for their recipients (issue 5): CMS AuthEnvelopedData (RFC 5652, RFC 5083)
//! with AES-256-GCM (RFC 5084), so that only the gateways a document is addressed to can read it
//! and the hub that relays it never can.
//!
//! [`seal`] encrypts the content once under a random key and wraps that key for each recipient
//! certificate: RSA keys by RSAES-OAEP with SHA-256 (RFC 8017, RFC 4055), P-256 keys by
//! ephemeral-static ECDH with the X9.63 SHA-256 KDF and AES-256 key wrap (RFC 5753). [`open`]
//! finds the RecipientInfo addressed to a certificate, unwraps the key and releases the content
//! only if it authenticates. `openssl cms -decrypt` opens what `seal` writes, and `open` opens what
//! `openssl cms -encrypt -aes-256-gcm` writes (including its PKCS#1 v1.5 and SHA-1 KDF defaults).
//!
//! For large documents (100 MB and more, in memory-mapped files), [`seal_to`] and [`open_to`]
//! stream: `seal_to` takes the content as segments and writes the same DER envelope `seal` would
//! to a [`std::io::Write`], `open_to` writes the content to one; both hold the RecipientInfos and
//! a 64 KiB buffer, nothing proportional to the content. Their AES-GCM is built from RustCrypto's
//! `aes`, `ctr` and `ghash` (aws-lc-rs has one-shot GCM only); `seal` and `open` keep aws-lc-rs.
//! What `open_to` writes is authenticated only when it returns `Ok`: on any error the caller
//! discards it.
//!
//! The decryption key is a software PKCS#8 key for now (a gateway's encryption key); decrypting
//! with a key in a PKCS#11 device can come later.
//!
//! Architecture invariant: no IO of its own (`seal_to` and `open_to` write only to the writer they
//! are given), and nothing unbounded: an envelope is at most [`MAX_ENVELOPE_BYTES`] and names at
//! most [`MAX_RECIPIENTS`] recipients; every input, however broken, gets a typed error, never a
//! panic.

mod asn1;
mod certificate;
mod content;
mod error;
mod kari;
mod ktri;
mod open;
mod seal;
mod stream;

pub use error::{OpenError, SealError};
pub use ktri::MIN_RSA_BITS;
pub use open::{Opener, open, open_to};
pub use seal::{Recipient, seal, seal_to, seal_to_recipients};

/// Largest envelope [`open`] and [`open_to`] read, in bytes (256 MiB).
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024 * 1024;
/// Largest content [`seal`] (and [`seal_to`], its segments together) encrypts, in bytes: 1 MiB less than [`MAX_ENVELOPE_BYTES`], room for
/// [`MAX_RECIPIENTS`] RecipientInfos (one is under 3 KiB even for RSA-16384). `seal` also refuses
/// an envelope that would exceed [`MAX_ENVELOPE_BYTES`], so every envelope sealed here opens.
pub const MAX_CONTENT_BYTES: usize = MAX_ENVELOPE_BYTES - 1024 * 1024;
/// Most recipients in one envelope (and encrypted keys in one KeyAgreeRecipientInfo).
pub const MAX_RECIPIENTS: usize = 64;
