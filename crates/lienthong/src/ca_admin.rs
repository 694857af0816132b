//! `lienthong ca account …` and `lienthong ca audit …`: the authority's console for API accounts
//! and for checking the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use store::{RaStore, Role};
use time::OffsetDateTime;

use crate::ca_cmd::{CLI_ACTOR, open};

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Create an account and print its API token (shown once; only its hash is kept).
    Add {
        #[arg(long)]
        dir: PathBuf,
        /// The person or system, e.g. "Nguyễn Thị B, Vụ Tổ chức cán bộ".
        #[arg(long)]
        name: String,
        /// subscriber, officer (registration officer of a managing agency) or operator.
        #[arg(long)]
        role: Role,
        /// The agency it acts for: required for subscribers and officers.
        #[arg(long)]
        agency: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute the whole hash chain and check every signed checkpoint. Exit 0 intact, 1 broken.
    Verify {
        #[arg(long)]
        dir: PathBuf,
    },
}

pub(crate) async fn account(command: AccountCommand) -> Result<()> {
    let AccountCommand::Add { dir, name, role, agency } = command;
    let agency = agency.map(|a| crate::header::agency_code(&a, "--agency")).transpose()?.map(|a| a.to_string());
    if role != Role::Operator && agency.is_none() {
        anyhow::bail!("a {role} acts for an agency: give --agency CODE");
    }
    if name.trim().is_empty() || name.chars().count() > 200 {
        anyhow::bail!("--name must have 1 to 200 characters");
    }
    let (authority, store, _) = open(&dir).await?;
    let token = ca::new_token()?;
    let account = store
        .add_account(
            name.trim(),
            role,
            agency.as_deref(),
            &ca::token_hash(&token),
            CLI_ACTOR,
            OffsetDateTime::now_utc(),
        )
        .await?;
    ca::audit::sign_checkpoint(&store, &authority).await?;
    println!("account {} ({role}) created; API token (shown only now): {token}", account.id);
    Ok(())
}

pub(crate) async fn audit(command: AuditCommand) -> Result<ExitCode> {
    let AuditCommand::Verify { dir } = command;
    let (authority, store, _) = open(&dir).await.context("opening the CA")?;
    match ca::audit::verify(&store, authority.certificate()).await {
        Ok(report) => {
            let unsigned = report.entries - report.signed_through;
            println!(
                "audit log intact: {} entries, {} signed checkpoints, signed through entry {}{}",
                report.entries,
                report.checkpoints,
                report.signed_through,
                if unsigned > 0 {
                    format!(" ({unsigned} newer entries not yet in a checkpoint)")
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            println!("audit log BROKEN: {failure}");
            Ok(ExitCode::from(1))
        }
    }
}
