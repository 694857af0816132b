//! `lienthong gateway log …`: checking a gateway's message log (its hash chain and the RFC 3161
//! time-stamp tokens that anchor it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use gateway::log::{LogFailure, LogReport};
use store::Store;
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Recompute the whole hash chain and check every time-stamp anchor (signature, chain to
    /// ROOT, timeStamping purpose, imprint). Exit 0 intact, 1 broken.
    Verify {
        /// The gateway's store: sqlite://PATH or postgres://…
        #[arg(long)]
        store: String,
        /// The root certificate(s) the time-stamp authority's tokens must chain to (PEM).
        #[arg(long)]
        root: PathBuf,
    },
}

pub(crate) fn run(args: LogArgs) -> Result<ExitCode> {
    let LogCommand::Verify { store, root } = args.command;
    let roots = read_roots(&root)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(verify(&store, &roots))
}

async fn verify(url: &str, roots: &[Vec<u8>]) -> Result<ExitCode> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        // Opening creates a missing SQLite file: an empty log must not pass for the gateway's.
        if !Path::new(path).is_file() {
            bail!("không có cơ sở dữ liệu {path} / no database at {path}");
        }
    }
    let store = Store::open(url).await.with_context(|| format!("opening the gateway's store {url}"))?;
    let outcome = gateway::log::verify(&store, roots).await;
    store.close().await;
    match outcome {
        Ok(report) => {
            println!("{}", intact(&report));
            Ok(ExitCode::SUCCESS)
        }
        Err(LogFailure::Store(error)) => Err(error).context("reading the message log"),
        Err(failure) => {
            println!("{}", broken(&failure));
            Ok(ExitCode::from(1))
        }
    }
}

fn intact(report: &LogReport) -> String {
    let (entries, anchors) = (report.entries, report.anchors);
    let (vi_anchor, en_anchor) = match (report.anchored_at, &report.authority) {
        (Some(at), Some(authority)) => (
            format!("neo thời gian đến mục {} lúc {} ({authority})", report.anchored_through, vn_time(at)),
            format!("anchored through entry {} at {} ({authority})", report.anchored_through, vn_time(at)),
        ),
        _ => ("chưa có dấu thời gian nào".to_owned(), "no time-stamp anchor yet".to_owned()),
    };
    let newer = entries - report.anchored_through;
    let (vi_newer, en_newer) = if newer > 0 {
        (format!("; {newer} mục mới hơn chưa được neo"), format!("; {newer} newer entries not yet anchored"))
    } else {
        (String::new(), String::new())
    };
    format!(
        "Nhật ký thông điệp nguyên vẹn: {entries} mục, {anchors} dấu thời gian, {vi_anchor}{vi_newer}.\n\
         Message log intact: {entries} entries, {anchors} time-stamp anchor(s), {en_anchor}{en_newer}."
    )
}

fn broken(failure: &LogFailure) -> String {
    let at = failure.seq().map(|seq| (format!(" tại mục {seq}"), format!(" at entry {seq}"))).unwrap_or_default();
    format!("Nhật ký thông điệp BỊ HỎNG{}: {}.\nMessage log BROKEN{}: {failure}.", at.0, failure.vietnamese(), at.1)
}

/// `2026-05-04 10:15:00 +07:00`.
fn vn_time(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    at.to_offset(edxml::VIETNAM_OFFSET).format(&format).unwrap_or_else(|_| at.to_string())
}

/// Every certificate in the PEM file at `path`.
fn read_roots(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut roots = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let block = block.with_context(|| format!("{} is not PEM", path.display()))?;
        if block.label == "CERTIFICATE" {
            roots.push(block.contents);
        }
    }
    if roots.is_empty() {
        bail!("{} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)", path.display());
    }
    Ok(roots)
}
