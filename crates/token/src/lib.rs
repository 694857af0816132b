//! The authority's keys in a PKCS#11 device (an HSM, a smart card; SoftHSM in tests): generated
//! on the device, used through it, never exported. A key found or made here is a
//! [`pki::KeyPair`] like any other, so certificates, CRLs and OCSP responses are signed the same
//! way whether the key is in a file or in a device.
//!
//! Architecture invariant: no private key material crosses this crate's boundary. Keys are
//! generated with `CKA_SENSITIVE` and without `CKA_EXTRACTABLE`, and nothing here asks a device
//! for a private attribute.

mod encoding;
mod error;
mod key;
mod module;
mod token;

pub use error::TokenError;
pub use token::{KeyProtection, Token, UNBLOCK_CODE_DIGITS, check_unblock_code, init_token, new_unblock_code, unblock};

/// Where Debian's SoftHSM2 package puts its PKCS#11 module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
