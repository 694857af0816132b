//! `lienthong bench …`: figures, not pass/fail. Each figure is printed beside its peer, measured in
//! the same run on the same bytes.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use clap::{Args, Subcommand};
use edxml::model::{Attachment, DocumentPackage, Manifest};
use edxml::{Limits, Package};

use crate::edxml_cmd::{answer, build_package};
use crate::header::EXAMPLE;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: BenchKind,
}

#[derive(Debug, Subcommand)]
enum BenchKind {
    /// edXML parse, validate and write throughput, beside a bare quick-xml pass.
    Edxml {
        /// Size of the large package, in MB.
        #[arg(long, default_value_t = 10)]
        size_mb: usize,
        /// Time spent on each measurement, in seconds.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Also measure peak memory while parsing a package of this many MB (0 to skip).
        #[arg(long, default_value_t = 100)]
        memory_mb: usize,
    },
    /// Certificates issued per second (beside `openssl ca` in a loop) and CRL generation time.
    Ca {
        /// Certificates to issue in each measurement.
        #[arg(long, default_value_t = 2000)]
        certificates: usize,
        /// `openssl ca` runs for the peer figure.
        #[arg(long, default_value_t = 100)]
        openssl_runs: usize,
        /// Revoked entries in the large CRL.
        #[arg(long, default_value_t = 1_000_000)]
        revoked: usize,
    },
    /// Documents/s and latency end to end (gateway → hub → gateway, mutual TLS, signed, sealed,
    /// durable), beside NATS JetStream carrying the same bytes.
    Exchange(crate::bench_exchange::ExchangeArgs),
    /// The OCSP benchmark's ceiling: one fixed pre-signed answer to every request, nothing else
    /// (started by `bench ca`, in its own process).
    #[command(hide = true)]
    OcspCeiling {
        /// Address to listen on.
        #[arg(long)]
        listen: String,
        /// The DER OCSP response to answer with.
        #[arg(long)]
        response: std::path::PathBuf,
    },
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    match args.what {
        BenchKind::Edxml { size_mb, seconds, memory_mb } => {
            edxml_bench(size_mb, Duration::from_secs_f64(seconds), memory_mb)
        }
        BenchKind::Ca { certificates, openssl_runs, revoked } => {
            crate::bench_ca::run(certificates, openssl_runs, revoked)
        }
        BenchKind::Exchange(args) => crate::bench_exchange::run(args),
        BenchKind::OcspCeiling { listen, response } => crate::bench_ocsp_ceiling::run(&listen, &response),
    }
}

/// Runs `f` repeatedly for about `budget` (at least 3 times); returns the median time of one run.
fn median_time(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 3 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// Runs `f` in batches for about `budget`; returns calls per second (median over batches).
fn rate(budget: Duration, batch: usize, mut f: impl FnMut()) -> f64 {
    let per_batch = median_time(budget, || (0..batch).for_each(|_| f()));
    batch as f64 / per_batch.as_secs_f64()
}

/// The floor: check UTF-8 and walk every event with quick-xml, keeping nothing.
fn bare_quick_xml(bytes: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let mut reader = quick_xml::Reader::from_str(text);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return events,
            Ok(event) => {
                black_box(&event);
                events += 1;
            }
        }
    }
}

/// A valid document whose one attachment is incompressible, so that the package is about `mb` MB.
fn large_package(mb: usize) -> Result<DocumentPackage> {
    let mut doc = build_package(EXAMPLE, &[("seed.txt".into(), b"seed".to_vec())])?;
    let data = incompressible(mb * 1024 * 1024 / 4 * 3);
    doc.attachments = vec![Attachment::from_file("1", "bao-cao.pdf", "application/pdf", &data)];
    doc.manifest =
        Some(Manifest { version: Some("1.0".into()), references: vec![doc.attachments[0].manifest_reference()] });
    Ok(doc)
}

/// `len` bytes that no compressor shrinks (xorshift).
pub(crate) fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / time.as_secs_f64()
}

fn edxml_bench(size_mb: usize, budget: Duration, memory_mb: usize) -> Result<ExitCode> {
    let limits = Limits::default();
    let doc = large_package(size_mb)?;
    let bytes = Bytes::from(edxml::write(&Package::Document(doc)));
    let package = edxml::parse(&bytes, &limits).context("the generated package must parse")?.package;
    let size = bytes.len();
    println!(
        "edXML benchmark — {size} bytes document package ({:.1} MB), {} s per figure, median of runs",
        size as f64 / 1048576.0,
        budget.as_secs_f64()
    );
    println!("{:<44} {:>12} {:>16}", "operation", "MB/s", "vs quick-xml pass");
    let floor = mb_per_s(
        size,
        median_time(budget, || {
            black_box(bare_quick_xml(&bytes));
        }),
    );
    let row = |name: &str, value: f64| println!("{name:<44} {value:>12.1} {:>15.2}x", value / floor);
    row("quick-xml bare pass (UTF-8 check + events)", floor);
    row("edxml parse", mb_per_s(size, median_time(budget, || drop(black_box(edxml::parse(&bytes, &limits))))));
    row(
        "edxml parse + validate (unzips attachments)",
        mb_per_s(
            size,
            median_time(budget, || {
                let parsed = edxml::parse(&bytes, &limits);
                drop(black_box(parsed.map(|p| edxml::validate(&p.package, &limits.zip))));
            }),
        ),
    );
    row("edxml write", mb_per_s(size, median_time(budget, || drop(black_box(edxml::write(&package))))));

    let status = status_package()?;
    let status_bytes = Bytes::from(edxml::write(&status));
    println!("\nstatus packages — {} bytes each", status_bytes.len());
    println!("{:<44} {:>12} {:>16}", "operation", "packages/s", "vs quick-xml pass");
    let floor = rate(budget, 1000, || {
        black_box(bare_quick_xml(&status_bytes));
    });
    let row = |name: &str, value: f64| println!("{name:<44} {value:>12.0} {:>15.2}x", value / floor);
    row("quick-xml bare pass (UTF-8 check + events)", floor);
    row("edxml parse", rate(budget, 1000, || drop(black_box(edxml::parse(&status_bytes, &limits)))));
    row(
        "edxml parse + validate",
        rate(budget, 1000, || {
            let parsed = edxml::parse(&status_bytes, &limits);
            drop(black_box(parsed.map(|p| edxml::validate(&p.package, &limits.zip))));
        }),
    );
    row("edxml write", rate(budget, 1000, || drop(black_box(edxml::write(&status)))));
    if memory_mb > 0 {
        memory(memory_mb, &limits)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn status_package() -> Result<Package> {
    let doc = build_package(EXAMPLE, &[("van-ban.txt".into(), b"noi dung".to_vec())])?;
    Ok(Package::Status(answer(&doc, "03", "000.00.00.H41", None)?))
}

/// Peak resident memory added by parsing a `mb` MB package held in memory (Linux only).
fn memory(mb: usize, limits: &Limits) -> Result<()> {
    let bytes = Bytes::from(edxml::write(&Package::Document(large_package(mb)?)));
    let Some(before) = reset_peak_rss() else {
        println!("\npeak memory: not measurable on this system");
        return Ok(());
    };
    let parsed = edxml::parse(&bytes, limits)?;
    let parse_peak = peak_rss().unwrap_or(before).saturating_sub(before);
    let before = reset_peak_rss().unwrap_or(before);
    let findings = edxml::validate(&parsed.package, &limits.zip);
    let validate_peak = peak_rss().unwrap_or(before).saturating_sub(before);
    black_box((&parsed, &findings));
    let input = bytes.len() as f64 / 1048576.0;
    let mb = |bytes: u64| bytes as f64 / 1048576.0;
    println!("\npeak memory for a {input:.0} MB package already in memory:");
    println!("  edxml parse                 +{:.2} MB ({:.3}x the package)", mb(parse_peak), mb(parse_peak) / input);
    println!(
        "  edxml validate (unzips)     +{:.2} MB ({:.3}x the package)",
        mb(validate_peak),
        mb(validate_peak) / input
    );
    Ok(())
}

/// Resets the kernel's peak-RSS mark for this process; returns the current RSS in bytes.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_field("VmRSS:")
}

fn peak_rss() -> Option<u64> {
    status_field("VmHWM:")
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
