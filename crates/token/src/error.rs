//! What can go wrong with a key device, in words an operator can act on.

use std::path::PathBuf;

/// Why a token could not be opened, or a key made, found or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot use the PKCS#11 module {path}: {reason}")]
    Module {
        /// The module's path.
        path: PathBuf,
        /// What the loader or the module said.
        reason: String,
    },
    /// No token has this label.
    #[error("no token labelled {label:?} (tokens present: {})", list(present))]
    NoSuchToken {
        /// The label asked for.
        label: String,
        /// The labels of the tokens that are present.
        present: Vec<String>,
    },
    /// A token with this label already exists.
    #[error("a token labelled {0:?} already exists")]
    TokenExists(String),
    /// Every slot holds an initialised token.
    #[error("no free slot to initialise a token in")]
    NoFreeSlot,
    /// The user PIN is wrong; nothing was changed on the token beyond its failed-login count.
    #[error("wrong PIN for token {token:?}")]
    WrongPin {
        /// The token's label.
        token: String,
    },
    /// Too many wrong PINs: the token must be unblocked with its unblock code.
    #[error("the PIN of token {token:?} is locked: unblock it with the unblock code")]
    PinLocked {
        /// The token's label.
        token: String,
    },
    /// The unblock code (the security officer's PIN) is wrong.
    #[error("wrong unblock code for token {token:?}")]
    WrongUnblockCode {
        /// The token's label.
        token: String,
    },
    /// Too many wrong unblock codes: only re-initialising the token (losing its keys) helps.
    #[error("the unblock code of token {token:?} is locked")]
    UnblockCodeLocked {
        /// The token's label.
        token: String,
    },
    /// The token refused a new PIN (too short, too long, or characters it does not take).
    #[error("token {token:?} refused the new PIN")]
    PinRejected {
        /// The token's label.
        token: String,
    },
    /// This process is already logged in to the token: share that [`crate::Token`] (it is
    /// `Clone`) instead of opening it again.
    #[error("token {token:?} is already open in this process")]
    AlreadyOpen {
        /// The token's label.
        token: String,
    },
    /// Another session holds the token (e.g. a security officer's login while a user is in).
    #[error("token {token:?} is in use by another login")]
    InUse {
        /// The token's label.
        token: String,
    },
    /// No key pair has this label.
    #[error("token {token:?} has no key pair labelled {label:?}")]
    NoSuchKey {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// A key with this label exists already; a second one would make the label ambiguous.
    #[error("token {token:?} already has a key labelled {label:?}")]
    KeyExists {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// The key is of a kind the authority does not use.
    #[error("key {label:?} is not usable: {reason}")]
    UnsupportedKey {
        /// The key's label.
        label: String,
        /// Why.
        reason: String,
    },
    /// Any other refusal by the module.
    #[error("PKCS#11 {operation} failed: {detail}")]
    Pkcs11 {
        /// What was being done.
        operation: &'static str,
        /// The module's return value.
        detail: String,
    },
}

fn list(labels: &[String]) -> String {
    if labels.is_empty() { "none".into() } else { format!("{labels:?}") }
}

/// A short description of a cryptoki error: the CKR_ name, not its paragraph-long explanation.
pub(crate) fn describe(error: &cryptoki::error::Error) -> String {
    match error {
        cryptoki::error::Error::Pkcs11(rv, function) => format!("{function}: {rv:?}"),
        other => other.to_string(),
    }
}

/// The catch-all mapping, for errors with no variant of their own.
pub(crate) fn pkcs11(operation: &'static str) -> impl Fn(cryptoki::error::Error) -> TokenError {
    move |error| TokenError::Pkcs11 { operation, detail: describe(&error) }
}
