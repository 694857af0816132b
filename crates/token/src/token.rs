//! A token, logged in once per process: making and finding its keys; initialising a token and
//! unblocking its PIN with the unblock code.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use pki::{KeyAlgorithm, KeyPair};

use crate::error::{TokenError, describe, pkcs11};
use crate::key::TokenKey;
use crate::{encoding, module};

/// A logged-in token. Cheap to clone; keys taken from it keep it open. Usable from many threads:
/// each signature borrows a session from a small pool.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

/// How well a private key is kept in its device (PKCS#11 attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProtection {
    /// CKA_SENSITIVE: the device never reveals the key in clear.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE: the device would wrap (export) the key.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE: it has been sensitive since it was made.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE: it has never been extractable.
    pub never_extractable: bool,
}

impl KeyProtection {
    /// Made in the device and never able to leave it.
    pub fn never_left_the_device(&self) -> bool {
        self.sensitive && !self.extractable && self.always_sensitive && self.never_extractable
    }
}

pub(crate) struct Inner {
    module: Pkcs11,
    slot: Slot,
    label: String,
    /// SHA-256 of a per-process salt and the PIN that logged in, so that opening the token again
    /// in this process still checks the PIN.
    pin_digest: Vec<u8>,
    /// Open sessions; the login lasts as long as one of them does.
    sessions: Mutex<Vec<Session>>,
}

/// Tokens open in this process, by module and label: PKCS#11 logs in a process, not a handle.
type OpenTokens = HashMap<(PathBuf, String), Weak<Inner>>;
static OPEN: OnceLock<Mutex<OpenTokens>> = OnceLock::new();

impl Token {
    /// Opens the token labelled `token_label` in the PKCS#11 module at `module_path` and logs in
    /// with `user_pin`. Opening a token that is already open in this process shares its login.
    pub fn open(module_path: &Path, token_label: &str, user_pin: &str) -> Result<Self, TokenError> {
        let mut open = OPEN.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
        let key = (module_path.to_owned(), token_label.to_owned());
        if let Some(inner) = open.get(&key).and_then(Weak::upgrade) {
            if aws_lc_rs::constant_time::verify_slices_are_equal(&inner.pin_digest, &pin_digest(user_pin)).is_err() {
                return Err(TokenError::WrongPin { token: token_label.to_owned() });
            }
            return Ok(Self { inner });
        }
        let inner = Arc::new(login(module_path, token_label, user_pin)?);
        open.insert(key, Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Generates a key pair on the device: the private key is sensitive and not extractable, so
    /// it never leaves the device. Refuses a label that a key already has.
    pub fn generate(&self, label: &str, algorithm: KeyAlgorithm) -> Result<KeyPair, TokenError> {
        if self.inner.find(ObjectClass::PRIVATE_KEY, label)?.is_some() {
            return Err(TokenError::KeyExists { token: self.inner.label.clone(), label: label.to_owned() });
        }
        let (mechanism, public, private) = templates(label, algorithm)?;
        let session = self.inner.module.open_rw_session(self.inner.slot).map_err(pkcs11("C_OpenSession"))?;
        session.generate_key_pair(&mechanism, &public, &private).map_err(pkcs11("C_GenerateKeyPair"))?;
        self.key(label)
    }

    /// The key pair labelled `label` (CKA_LABEL of both its private and its public key).
    pub fn key(&self, label: &str) -> Result<KeyPair, TokenError> {
        let key = TokenKey::find(self.inner.clone(), label)?;
        KeyPair::external(Box::new(key))
            .map_err(|e| TokenError::UnsupportedKey { label: label.to_owned(), reason: e.to_string() })
    }

    /// How the private key labelled `label` is protected.
    pub fn protection(&self, label: &str) -> Result<KeyProtection, TokenError> {
        let handle = self.inner.private_key(label)?;
        let wanted = [
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
        ];
        let attributes =
            self.inner.with_session(|s| s.get_attributes(handle, &wanted)).map_err(pkcs11("C_GetAttributeValue"))?;
        let mut protection =
            KeyProtection { sensitive: false, extractable: true, always_sensitive: false, never_extractable: false };
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(value) => protection.sensitive = value,
                Attribute::Extractable(value) => protection.extractable = value,
                Attribute::AlwaysSensitive(value) => protection.always_sensitive = value,
                Attribute::NeverExtractable(value) => protection.never_extractable = value,
                _ => {}
            }
        }
        Ok(protection)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("label", &self.inner.label).finish_non_exhaustive()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {:?}", self.label)
    }
}

fn pin_digest(pin: &str) -> Vec<u8> {
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    let salt = SALT.get_or_init(|| {
        let mut salt = [0; 32];
        // Without a random salt the digest is still never stored or shown; it only compares.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        salt
    });
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(salt);
    context.update(pin.as_bytes());
    context.finish().as_ref().to_vec()
}

fn login(module_path: &Path, token_label: &str, user_pin: &str) -> Result<Inner, TokenError> {
    let module = module::load(module_path)?;
    let slot = find_slot(&module, token_label)?;
    let info = module.get_token_info(slot).map_err(pkcs11("C_GetTokenInfo"))?;
    let token = || token_label.to_owned();
    if info.user_pin_locked() {
        return Err(TokenError::PinLocked { token: token() });
    }
    let session = module.open_ro_session(slot).map_err(pkcs11("C_OpenSession"))?;
    session.login(UserType::User, Some(&AuthPin::from(user_pin))).map_err(|e| match e {
        Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _) => TokenError::WrongPin { token: token() },
        Error::Pkcs11(RvError::PinLocked, _) => TokenError::PinLocked { token: token() },
        Error::Pkcs11(RvError::UserAlreadyLoggedIn, _) => TokenError::AlreadyOpen { token: token() },
        Error::Pkcs11(RvError::UserAnotherAlreadyLoggedIn, _) => TokenError::InUse { token: token() },
        other => pkcs11("C_Login")(other),
    })?;
    Ok(Inner { module, slot, label: token(), pin_digest: pin_digest(user_pin), sessions: Mutex::new(vec![session]) })
}

/// The slot holding the initialised token labelled `label`.
fn find_slot(module: &Pkcs11, label: &str) -> Result<Slot, TokenError> {
    let mut present = Vec::new();
    for slot in module.get_slots_with_initialized_token().map_err(pkcs11("C_GetSlotList"))? {
        let info = module.get_token_info(slot).map_err(pkcs11("C_GetTokenInfo"))?;
        if info.label() == label {
            return Ok(slot);
        }
        present.push(info.label().to_owned());
    }
    Err(TokenError::NoSuchToken { label: label.to_owned(), present })
}

/// The mechanism and templates of a key pair that never leaves the device.
fn templates(
    label: &str,
    algorithm: KeyAlgorithm,
) -> Result<(Mechanism<'static>, Vec<Attribute>, Vec<Attribute>), TokenError> {
    let label_bytes = label.as_bytes().to_vec();
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Label(label_bytes.clone()),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label_bytes),
    ];
    let mechanism = match algorithm {
        KeyAlgorithm::P256 => {
            let params = encoding::p256_params()
                .map_err(|e| TokenError::Pkcs11 { operation: "CKA_EC_PARAMS", detail: e.to_string() })?;
            public.push(Attribute::EcParams(params));
            Mechanism::EccKeyPairGen
        }
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
            let bits: u64 = if algorithm == KeyAlgorithm::Rsa2048 { 2048 } else { 3072 };
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    Ok((mechanism, public, private))
}

impl Inner {
    /// Runs `operation` on a pooled session (opening one if all are busy), and returns the
    /// session to the pool unless the device says it is gone.
    pub(crate) fn with_session<T>(
        &self,
        operation: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let pooled = self.sessions.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let session = match pooled {
            Some(session) => session,
            None => self.module.open_ro_session(self.slot)?,
        };
        let result = operation(&session);
        let gone = matches!(
            result,
            Err(Error::Pkcs11(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent,
                _
            ))
        );
        if !gone {
            self.sessions.lock().unwrap_or_else(PoisonError::into_inner).push(session);
        }
        result
    }

    /// The one object of `class` labelled `label`, if any.
    pub(crate) fn find(&self, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>, TokenError> {
        let template = [Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())];
        let found = self.with_session(|s| s.find_objects(&template)).map_err(pkcs11("C_FindObjects"))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(TokenError::UnsupportedKey {
                label: label.to_owned(),
                reason: format!("{} objects of the same kind have this label", found.len()),
            }),
        }
    }

    pub(crate) fn private_key(&self, label: &str) -> Result<ObjectHandle, TokenError> {
        self.find(ObjectClass::PRIVATE_KEY, label)?.ok_or_else(|| self.no_such_key(label))
    }

    pub(crate) fn no_such_key(&self, label: &str) -> TokenError {
        TokenError::NoSuchKey { token: self.label.clone(), label: label.to_owned() }
    }
}

/// Sets a new user PIN on the token labelled `token_label`, logging in as its security officer
/// with `unblock_code`: how a locked key device is unblocked with the authority's unblock code.
pub fn unblock(
    module_path: &Path,
    token_label: &str,
    unblock_code: &str,
    new_user_pin: &str,
) -> Result<(), TokenError> {
    let session = so_login(module_path, token_label, unblock_code)?;
    let result = session.init_pin(&AuthPin::from(new_user_pin)).map_err(|e| match e {
        Error::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => {
            TokenError::PinRejected { token: token_label.to_owned() }
        }
        other => pkcs11("C_InitPIN")(other),
    });
    // Closing the session logs the security officer out in any case.
    let _ = session.logout();
    result
}

/// Checks that `unblock_code` is the unblock code of the token labelled `token_label`, by
/// logging in as its security officer and out again. A wrong code counts towards locking it.
pub fn check_unblock_code(module_path: &Path, token_label: &str, unblock_code: &str) -> Result<(), TokenError> {
    let session = so_login(module_path, token_label, unblock_code)?;
    let _ = session.logout();
    Ok(())
}

/// A read-write session on the token labelled `token_label`, logged in as its security officer.
fn so_login(module_path: &Path, token_label: &str, unblock_code: &str) -> Result<Session, TokenError> {
    let module = module::load(module_path)?;
    let slot = find_slot(&module, token_label)?;
    let token = || token_label.to_owned();
    let info = module.get_token_info(slot).map_err(pkcs11("C_GetTokenInfo"))?;
    if info.so_pin_locked() {
        return Err(TokenError::UnblockCodeLocked { token: token() });
    }
    let session = module.open_rw_session(slot).map_err(pkcs11("C_OpenSession"))?;
    session.login(UserType::So, Some(&AuthPin::from(unblock_code))).map_err(|e| match e {
        Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _) => {
            TokenError::WrongUnblockCode { token: token() }
        }
        Error::Pkcs11(RvError::PinLocked, _) => TokenError::UnblockCodeLocked { token: token() },
        Error::Pkcs11(
            RvError::UserAlreadyLoggedIn | RvError::UserAnotherAlreadyLoggedIn | RvError::SessionReadOnlyExists,
            _,
        ) => TokenError::InUse { token: token() },
        other => pkcs11("C_Login")(other),
    })?;
    Ok(session)
}

/// Digits in an unblock code made by [`new_unblock_code`]: about 53 bits, which a device that
/// locks after a few wrong tries does not let anyone guess, and short enough for every card.
pub const UNBLOCK_CODE_DIGITS: usize = 16;

/// A fresh random unblock code (security officer PIN): decimal digits, which every device takes.
pub fn new_unblock_code() -> Result<String, TokenError> {
    let mut code = String::with_capacity(UNBLOCK_CODE_DIGITS);
    while code.len() < UNBLOCK_CODE_DIGITS {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| TokenError::Pkcs11 { operation: "random unblock code", detail: "no randomness".into() })?;
        // 250 is the largest multiple of 10 below 256: taking only smaller bytes keeps digits uniform.
        code.extend(bytes.iter().filter(|b| **b < 250).map(|b| char::from(b'0' + b % 10)));
        code.truncate(UNBLOCK_CODE_DIGITS);
    }
    Ok(code)
}

/// Initialises a new token labelled `label` in a free slot, with security officer PIN (unblock
/// code) `so_pin` and user PIN `user_pin`. Refuses a label another token already has.
pub fn init_token(module_path: &Path, label: &str, so_pin: &str, user_pin: &str) -> Result<(), TokenError> {
    let module = module::load(module_path)?;
    if find_slot(&module, label).is_ok() {
        return Err(TokenError::TokenExists(label.to_owned()));
    }
    let slots = module.get_slots_with_token().map_err(pkcs11("C_GetSlotList"))?;
    let free = slots
        .into_iter()
        .find(|slot| module.get_token_info(*slot).is_ok_and(|info| !info.token_initialized()))
        .ok_or(TokenError::NoFreeSlot)?;
    let so_pin = AuthPin::from(so_pin);
    module.init_token(free, &so_pin, label).map_err(|e| match e {
        Error::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => {
            TokenError::PinRejected { token: label.to_owned() }
        }
        other => TokenError::Pkcs11 { operation: "C_InitToken", detail: describe(&other) },
    })?;
    // Some modules (SoftHSM) give an initialised token a new slot.
    let slot = find_slot(&module, label)?;
    let session = module.open_rw_session(slot).map_err(pkcs11("C_OpenSession"))?;
    session.login(UserType::So, Some(&so_pin)).map_err(pkcs11("C_Login"))?;
    let result = session.init_pin(&AuthPin::from(user_pin)).map_err(|e| match e {
        Error::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => {
            TokenError::PinRejected { token: label.to_owned() }
        }
        other => pkcs11("C_InitPIN")(other),
    });
    let _ = session.logout();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unblock_codes_are_fresh_decimal_digits() {
        let (a, b) = (new_unblock_code().expect("code"), new_unblock_code().expect("code"));
        assert_eq!(a.len(), UNBLOCK_CODE_DIGITS);
        assert!(a.bytes().all(|b| b.is_ascii_digit()), "{a}");
        assert_ne!(a, b);
    }
}
