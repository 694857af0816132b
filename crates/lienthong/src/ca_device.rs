//! `lienthong ca device …`: subscribers' key devices (smart cards, USB tokens) whose unblock code
//! the authority keeps, sealed under `LIENTHONG_CA_PASSPHRASE` and never shown; a holder who has
//! locked their PIN gets a new one through the authority. Every step goes to the audit log.
//!
//! PINs and codes come from the environment, never from arguments (which other users can read
//! in the process list), and are printed nowhere.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Subcommand;
use store::{DeviceStore, Enrollment, NewDevice, UnblockOutcome};
use time::OffsetDateTime;
use token::TokenError;

use crate::ca_cmd::{CLI_ACTOR, open};
use crate::ca_keys::{PASSPHRASE_VAR, passphrase};

const DEVICE_PIN_VAR: &str = "LIENTHONG_DEVICE_PIN";
const UNBLOCK_CODE_VAR: &str = "LIENTHONG_UNBLOCK_CODE";
const NEW_PIN_VAR: &str = "LIENTHONG_NEW_PIN";

#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Initialise a subscriber's token in a free slot, with the user PIN in LIENTHONG_DEVICE_PIN
    /// and a fresh unblock code that only the authority keeps. With LIENTHONG_UNBLOCK_CODE set,
    /// register a token initialised elsewhere instead, keeping that unblock code.
    Enroll {
        #[arg(long)]
        dir: PathBuf,
        /// The token's label.
        #[arg(long)]
        token: String,
        /// The PKCS#11 module that reaches the token.
        #[arg(long, default_value = token::SOFTHSM2_MODULE)]
        module: PathBuf,
        /// Who holds the device, e.g. "Nguyễn Văn A".
        #[arg(long)]
        holder: Option<String>,
        /// The holder's agency code.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Set a new user PIN (from LIENTHONG_NEW_PIN) on an enrolled token, with the unblock code
    /// the authority keeps for it.
    Unblock {
        #[arg(long)]
        dir: PathBuf,
        /// The token's label.
        #[arg(long)]
        token: String,
        /// The PKCS#11 module that reaches the token (the one it was enrolled with if absent).
        #[arg(long)]
        module: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Enroll { dir, token, module, holder, agency } => {
            let holder = holder.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty());
            if holder.as_ref().is_some_and(|h| h.chars().count() > 200) {
                bail!("--holder must have at most 200 characters");
            }
            let agency = agency.map(|a| crate::header::agency_code(&a, "--agency")).transpose()?.map(|a| a.to_string());
            enroll(&dir, &token, &module, holder, agency).await
        }
        DeviceCommand::Unblock { dir, token, module } => unblock(&dir, &token, module).await,
    }
}

fn secret_from_env(var: &str, what: &str) -> Result<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| anyhow!("set {var}: {what}"))
}

async fn enroll(dir: &Path, label: &str, module: &Path, holder: Option<String>, agency: Option<String>) -> Result<()> {
    let passphrase = passphrase()?;
    let (authority, store, _) = open(dir).await?;
    if store.device(label).await?.is_some() {
        bail!("key device {label:?} is already enrolled: nothing was changed");
    }
    // A CA in a token never checked the passphrase: a mistyped one would seal a code nobody opens.
    if let Some(other) = store.latest_device().await? {
        pki::open_secret(&other.sealed_unblock_code, &passphrase).with_context(|| {
            format!("{} does not open the unblock code kept for {:?}: nothing was changed", PASSPHRASE_VAR, other.label)
        })?;
    }
    let given_code = std::env::var(UNBLOCK_CODE_VAR).ok().filter(|c| !c.is_empty());
    let mut pin_refused = None;
    let (enrollment, code) = match given_code {
        Some(code) => (Enrollment::Registered, code),
        None => (Enrollment::Initialised, token::new_unblock_code()?),
    };
    // Sealed before the device is touched: a passphrase that cannot seal leaves it as it was.
    let sealed_unblock_code = pki::seal_secret(&code, &passphrase)?;
    match enrollment {
        Enrollment::Registered => token::check_unblock_code(module, label, &code)
            .with_context(|| format!("cannot register token {label:?} (nothing was recorded)"))?,
        Enrollment::Initialised => {
            let pin = secret_from_env(DEVICE_PIN_VAR, "the holder's new user PIN for the device")?;
            match token::init_token(module, label, &code, &pin) {
                Ok(()) => {}
                Err(e @ TokenError::TokenExists(_)) => {
                    bail!("{e}: to register a token initialised elsewhere, set {UNBLOCK_CODE_VAR} to its unblock code")
                }
                // The token is initialised with our unblock code but took no PIN: keep the code.
                Err(e @ TokenError::PinRejected { .. }) if token::check_unblock_code(module, label, &code).is_ok() => {
                    pin_refused = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let device = NewDevice {
        label: label.to_owned(),
        module: module.display().to_string(),
        holder,
        agency,
        sealed_unblock_code,
        enrollment,
    };
    store.enroll_device(&device, CLI_ACTOR, OffsetDateTime::now_utc()).await.with_context(|| {
        format!("token {label:?} is ready but the authority could not record its unblock code: enroll it again")
    })?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    if let Some(e) = pin_refused {
        bail!(
            "{e}: the token is initialised and enrolled, without a user PIN; set one with `lienthong ca device unblock`"
        );
    }
    let how = if enrollment == Enrollment::Initialised { "initialised" } else { "registered" };
    println!("key device {label:?} {how} and enrolled; the authority keeps its unblock code sealed");
    Ok(())
}

async fn unblock(dir: &Path, label: &str, module: Option<PathBuf>) -> Result<()> {
    let new_pin = secret_from_env(NEW_PIN_VAR, "the new user PIN for the device")?;
    let passphrase = passphrase()?;
    let (authority, store, _) = open(dir).await?;
    let device = store.device(label).await?.ok_or_else(|| {
        anyhow!("no key device labelled {label:?} is enrolled with this authority (see `lienthong ca device enroll`)")
    })?;
    let code = pki::open_secret(&device.sealed_unblock_code, &passphrase)
        .with_context(|| format!("cannot open the unblock code kept for key device {label:?}"))?;
    let module = module.unwrap_or_else(|| PathBuf::from(&device.module));
    let result = token::unblock(&module, label, &code, &new_pin);
    let outcome = match &result {
        Ok(()) => UnblockOutcome::Unblocked,
        Err(e) => UnblockOutcome::Refused(e.to_string()),
    };
    store.record_unblock(label, &outcome, CLI_ACTOR, OffsetDateTime::now_utc()).await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    match result {
        Ok(()) => {
            println!("key device {label:?} unblocked: the holder's new PIN is set");
            Ok(())
        }
        Err(e) => Err(anyhow!("{e}{}", hint(&e))),
    }
}

/// What the operator can do about a refusal.
fn hint(error: &TokenError) -> &'static str {
    match error {
        TokenError::WrongUnblockCode { .. } => {
            ": the device does not take the unblock code the authority keeps for it (was it re-initialised, or its unblock code changed, elsewhere?)"
        }
        TokenError::UnblockCodeLocked { .. } => {
            ": only re-initialising the device helps, which destroys its keys; enroll it again afterwards"
        }
        TokenError::InUse { .. } => ": close the programs using the device and try again",
        TokenError::PinRejected { .. } => ": choose another PIN (the device decides its length and characters)",
        _ => "",
    }
}
