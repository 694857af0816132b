//! Where the authority's own keys live: sealed files in `DIR/keys/` (opened with
//! `LIENTHONG_CA_PASSPHRASE`), or a PKCS#11 token (logged in with `LIENTHONG_CA_PIN`) where they
//! were generated and which they never leave.
//!
//! On a token the keys are labelled `lienthong-root`, `lienthong-issuing`, `lienthong-ocsp` and
//! `lienthong-tsa`. A service key (OCSP responder, time-stamp authority) that is replaced gets a
//! fresh label and the old one stays, so another `ca serve` still signing with it is not cut off;
//! `DIR/<service>.key-label` names the current one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pki::{KeyAlgorithm, KeyPair, Profile};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use token::{Token, TokenError};

use crate::ca_cmd::{write_atomic, write_private};

/// Where the keys are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyProvider {
    /// Sealed files in `DIR/keys/`.
    #[default]
    File,
    /// A PKCS#11 token.
    Pkcs11,
}

/// The token holding the keys.
#[derive(Debug, Clone)]
pub(crate) struct TokenSettings {
    pub(crate) module: PathBuf,
    pub(crate) label: String,
}

pub(crate) const PASSPHRASE_VAR: &str = "LIENTHONG_CA_PASSPHRASE";
const PIN_VAR: &str = "LIENTHONG_CA_PIN";
pub(crate) const ROOT_LABEL: &str = "lienthong-root";
pub(crate) const ISSUING_LABEL: &str = "lienthong-issuing";

/// The authority's keys, ready to be taken.
pub(crate) enum CaKeys {
    /// Sealed files, and the passphrase that opens them.
    Files { dir: PathBuf, passphrase: String },
    /// A token, logged in; `dir` holds the labels of the service keys.
    Token { dir: PathBuf, token: Token },
}

pub(crate) fn passphrase() -> Result<String> {
    std::env::var(PASSPHRASE_VAR).with_context(|| {
        format!(
            "set {PASSPHRASE_VAR}: the passphrase that seals the CA keys (at least {} characters)",
            pki::MIN_PASSPHRASE_CHARS
        )
    })
}

/// Logs in to the token with the PIN in `LIENTHONG_CA_PIN`.
pub(crate) fn open_token(settings: &TokenSettings) -> Result<Token> {
    let label = &settings.label;
    let pin =
        std::env::var(PIN_VAR).with_context(|| format!("set {PIN_VAR}: the user PIN of the CA's token {label:?}"))?;
    Token::open(&settings.module, label, &pin)
        .with_context(|| format!("cannot log in to the CA's token {label:?} ({})", settings.module.display()))
}

impl CaKeys {
    /// The keys of the CA in `dir`: a token when `token` is given, else sealed files.
    pub(crate) fn open(dir: &Path, token: Option<&TokenSettings>) -> Result<Self> {
        match token {
            Some(settings) => Ok(Self::Token { dir: dir.to_owned(), token: open_token(settings)? }),
            None => Ok(Self::Files { dir: dir.to_owned(), passphrase: passphrase()? }),
        }
    }

    /// The issuing CA's key.
    pub(crate) fn issuing(&self) -> Result<KeyPair> {
        match self {
            Self::Files { dir, passphrase } => {
                let sealed = fs::read_to_string(dir.join("keys/issuing.key.pem"))
                    .with_context(|| format!("cannot read the issuing key in {}", dir.display()))?;
                Ok(KeyPair::open(&sealed, passphrase)?)
            }
            Self::Token { token, .. } => Ok(token.key(ISSUING_LABEL)?),
        }
    }

    /// The current key of `service` (ocsp, tsa), if there is one.
    pub(crate) fn service(&self, service: Profile) -> Result<Option<KeyPair>> {
        match self {
            Self::Files { dir, passphrase } => match fs::read_to_string(service_key_file(dir, service)) {
                Ok(sealed) => Ok(Some(KeyPair::open(&sealed, passphrase)?)),
                Err(_) => Ok(None),
            },
            Self::Token { dir, token } => {
                let Ok(label) = fs::read_to_string(label_file(dir, service)) else { return Ok(None) };
                match token.key(label.trim()) {
                    Ok(key) => Ok(Some(key)),
                    Err(TokenError::NoSuchKey { .. }) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// A new key for `service`, not yet its current one (see [`CaKeys::keep_service`]).
    pub(crate) fn new_service(&self, service: Profile, algorithm: KeyAlgorithm) -> Result<NewServiceKey> {
        match self {
            Self::Files { .. } => Ok(NewServiceKey { key: KeyPair::generate(algorithm)?, label: None }),
            Self::Token { token, .. } => {
                let first = format!("lienthong-{service}");
                let label = match token.key(&first) {
                    Err(TokenError::NoSuchKey { .. }) => first,
                    _ => format!("{first}-{}", OffsetDateTime::now_utc().unix_timestamp()),
                };
                Ok(NewServiceKey { key: token.generate(&label, algorithm)?, label: Some(label) })
            }
        }
    }

    /// Makes `new` the current key of `service` (its certificate is written by the caller).
    pub(crate) fn keep_service(&self, service: Profile, new: &NewServiceKey) -> Result<()> {
        match (self, &new.label) {
            (Self::Files { dir, passphrase }, None) => {
                let path = service_key_file(dir, service);
                fs::remove_file(&path).ok();
                write_private(&path, &new.key.seal(passphrase)?)
            }
            (Self::Token { dir, .. }, Some(label)) => {
                write_atomic(&label_file(dir, service), format!("{label}\n").as_bytes())
            }
            _ => bail!("a {service} key was made by another key provider"),
        }
    }
}

fn service_key_file(dir: &Path, service: Profile) -> PathBuf {
    dir.join(format!("keys/{service}.key.pem"))
}

/// Names the token key of `service` (a label is no secret).
fn label_file(dir: &Path, service: Profile) -> PathBuf {
    dir.join(format!("{service}.key-label"))
}

/// A service key just made, and its label on the token.
pub(crate) struct NewServiceKey {
    pub(crate) key: KeyPair,
    label: Option<String>,
}

/// Refuses a token that already holds the CA's keys (from another CA), changing nothing.
pub(crate) fn check_free(token: &Token) -> Result<()> {
    for label in [ROOT_LABEL, ISSUING_LABEL] {
        match token.key(label) {
            Err(TokenError::NoSuchKey { .. }) => {}
            Ok(_) => bail!(
                "token {:?} already holds a key labelled {label:?} (a CA was created on it before): nothing was changed",
                token.label()
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
