//! Loading a PKCS#11 module, once per process.
//!
//! `C_Initialize` and login state belong to the process, not to a handle: a module loaded twice
//! is the same module, and finalising it under one user would pull it from under another. So
//! each module is loaded and initialised once and kept for the life of the process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};

use crate::TokenError;
use crate::error::describe;

static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

/// The module at `path`, loaded and initialised.
pub(crate) fn load(path: &Path) -> Result<Pkcs11, TokenError> {
    let mut modules = MODULES.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let failed = |reason: String| TokenError::Module { path: path.to_owned(), reason };
    let module = Pkcs11::new(path).map_err(|e| failed(describe(&e)))?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(describe(&e))),
    }
    modules.insert(path.to_owned(), module.clone());
    Ok(module)
}
