//! `lienthong edxml …`: the command-line face of the edxml crate. Its output is a contract:
//! other tools parse it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use edxml::model::{Attachment, DocumentPackage, Manifest};
use edxml::{Limits, Package, Parsed, Severity, StatusCode, VnTimestamp};

use crate::header::{self, HeaderFile};
use crate::inspect;

#[derive(Debug, Args)]
pub(crate) struct EdxmlArgs {
    #[command(subcommand)]
    command: EdxmlCommand,
}

#[derive(Debug, Subcommand)]
enum EdxmlCommand {
    /// Check packages; one line per file, `OK` or its errors. Exit 0 only if every file is valid.
    Validate {
        /// Accept agency codes that conform to neither QCVN 102 nor Decision 20/2020 (still reported).
        #[arg(long)]
        accept_nonconforming_codes: bool,
        /// Packages to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Summarise a package in Vietnamese with English alongside, or as JSON.
    Inspect {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The package.
        file: PathBuf,
    },
    /// Build a document package from a TOML header and files.
    Build {
        /// Print a complete example header file and exit.
        #[arg(long, conflicts_with_all = ["header", "attach", "out"])]
        example: bool,
        /// The header file (see --example).
        #[arg(long, required_unless_present = "example")]
        header: Option<PathBuf>,
        /// A file to attach; repeat for several.
        #[arg(long)]
        attach: Vec<PathBuf>,
        /// Where to write the package.
        #[arg(long, required_unless_present = "example")]
        out: Option<PathBuf>,
    },
    /// Build the status package that answers a document.
    Status {
        /// The document package answered.
        #[arg(long = "for")]
        document: PathBuf,
        /// Status code: 01–06, 13, 15, 16.
        #[arg(long)]
        code: String,
        /// Agency code of the reporting agency.
        #[arg(long)]
        from: String,
        /// Free text; defaults to the status's label. Required for 02 and 13 (the reason).
        #[arg(long)]
        description: Option<String>,
        /// Where to write the status package.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn run(args: EdxmlArgs) -> Result<ExitCode> {
    match args.command {
        EdxmlCommand::Validate { accept_nonconforming_codes, files } => {
            Ok(validate_files(&files, accept_nonconforming_codes))
        }
        EdxmlCommand::Inspect { json, file } => inspect_file(&file, json),
        EdxmlCommand::Build { example: true, .. } => {
            print!("{}", header::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        EdxmlCommand::Build { header, attach, out, .. } => {
            let (Some(header), Some(out)) = (header, out) else { bail!("--header and --out are required") };
            build(&header, &attach, &out)
        }
        EdxmlCommand::Status { document, code, from, description, out } => {
            status(&document, &code, &from, description, &out)
        }
    }
}

/// Reads a package file, stopping at the package limit whatever the file claims to be (a pipe or
/// device reports no size).
pub(crate) fn read_package_file(path: &Path, limits: &Limits) -> Result<Bytes> {
    read_bounded(path, limits.max_package_bytes, "a package").map(Bytes::from)
}

/// Reads at most `limit` bytes of `path`; a longer file is an error naming `what` it was meant to be.
fn read_bounded(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > limit {
        bail!("{} is larger than the {limit} bytes {what} may have", path.display());
    }
    Ok(bytes)
}

fn validate_files(files: &[PathBuf], accept_nonconforming: bool) -> ExitCode {
    let limits = Limits::default();
    let mut all_valid = true;
    for file in files {
        let (valid, line) = validate_one(file, &limits, accept_nonconforming);
        all_valid &= valid;
        println!("{}: {line}", file.display());
    }
    if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// One file's verdict and its line of output.
fn validate_one(file: &Path, limits: &Limits, accept_nonconforming: bool) -> (bool, String) {
    let bytes = match read_package_file(file, limits) {
        Ok(bytes) => bytes,
        Err(e) => return (false, format!("ERROR unreadable: {e:#}")),
    };
    let parsed = match edxml::parse(&bytes, limits) {
        Ok(parsed) => parsed,
        Err(e) => {
            return (false, format!("ERROR {} [{}] {e}", e.kind.code(), e.kind.title_vi()));
        }
    };
    let findings = edxml::validate(&parsed.package, &limits.zip);
    let blocking = |f: &&edxml::Finding| f.severity == Severity::Error || !accept_nonconforming;
    let valid = !findings.iter().any(|f| blocking(&f));
    let listed: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    match (valid, listed.is_empty()) {
        (true, true) => (true, "OK".into()),
        (true, false) => (true, format!("OK (accepted: {})", listed.join("; "))),
        (false, _) => (false, format!("ERROR {}", listed.join("; "))),
    }
}

fn parse_file(file: &Path) -> Result<Parsed> {
    let limits = Limits::default();
    let bytes = read_package_file(file, &limits)?;
    edxml::parse(&bytes, &limits)
        .map_err(|e| anyhow::anyhow!("{}: {} [{}] {e}", file.display(), e.kind.code(), e.kind.title_vi()))
}

fn inspect_file(file: &Path, json: bool) -> Result<ExitCode> {
    let limits = Limits::default();
    let bytes = read_package_file(file, &limits)?;
    let parsed = match edxml::parse(&bytes, &limits) {
        Ok(parsed) => parsed,
        Err(e) if json => {
            println!("{}", serde_json::to_string_pretty(&inspect::error_json(file, &e))?);
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => bail!("{}: {} [{}] {e}", file.display(), e.kind.code(), e.kind.title_vi()),
    };
    let report = inspect::Report::new(file, &parsed, &limits);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn now() -> VnTimestamp {
    VnTimestamp::from_instant(time::OffsetDateTime::now_utc())
}

/// Builds, validates and returns a document package from a header text and files.
pub(crate) fn build_package(header_text: &str, files: &[(String, Vec<u8>)]) -> Result<DocumentPackage> {
    let mut doc = HeaderFile::from_toml(header_text)?.into_package(now())?;
    doc.attachments = files
        .iter()
        .enumerate()
        .map(|(index, (name, data))| {
            Attachment::from_file(&(index + 1).to_string(), name, edxml::content_type_for(name), data)
        })
        .collect();
    doc.manifest = Some(Manifest {
        version: Some("1.0".into()),
        references: doc.attachments.iter().map(Attachment::manifest_reference).collect(),
    });
    let findings = edxml::validate(&Package::Document(doc.clone()), &Limits::default().zip);
    if !findings.is_empty() {
        let listed: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
        bail!("the package would not be valid, nothing written:\n  {}", listed.join("\n  "));
    }
    Ok(doc)
}

fn build(header_path: &Path, attach: &[PathBuf], out: &Path) -> Result<ExitCode> {
    let header_text =
        fs::read_to_string(header_path).with_context(|| format!("cannot read {}", header_path.display()))?;
    let mut files = Vec::new();
    for path in attach {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?;
        files.push((name.to_owned(), read_bounded(path, Limits::default().max_package_bytes, "an attachment")?));
    }
    let doc = build_package(&header_text, &files).with_context(|| format!("{}", header_path.display()))?;
    write_file(out, &edxml::write(&Package::Document(doc)))?;
    println!("{}: OK", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Answers a parsed document package with a validated status package.
pub(crate) fn answer(
    doc: &DocumentPackage,
    code: &str,
    from: &str,
    description: Option<String>,
) -> Result<edxml::model::StatusPackage> {
    let status = StatusCode::parse(code).context("--code")?;
    let from = header::agency_code(from, "--from")?;
    let package = edxml::answer(doc, &from, status, description, now())?;
    let findings = edxml::validate(&Package::Status(package.clone()), &Limits::default().zip);
    if !findings.is_empty() {
        let listed: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
        bail!("the status package would not be valid, nothing written:\n  {}", listed.join("\n  "));
    }
    Ok(package)
}

fn status(document: &Path, code: &str, from: &str, description: Option<String>, out: &Path) -> Result<ExitCode> {
    let parsed = parse_file(document)?;
    let Package::Document(doc) = parsed.package else {
        bail!("{} is a status package: a status answers a document package", document.display());
    };
    let package = answer(&doc, code, from, description)?;
    write_file(out, &edxml::write(&Package::Status(package)))?;
    println!("{}: OK", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes through a temporary file and a rename, so a reader never sees half a package.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("edxml.partial");
    fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}
