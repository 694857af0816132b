//! `lienthong bench exchange`: documents per second and latency end to end through the whole
//! exchange — a sending gateway, the hub and a receiving gateway, all in this process, over
//! mutual TLS, signed, sealed and stored durably at each hop — beside NATS JetStream carrying the
//! same bytes (a file-backed stream, publish with ack, consume with explicit ack), measured in
//! the same run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use clap::Args;
use edxml::Package;
use gateway::Gateway;
use pki::Profile;
use store::blobs::BlobStore;
use store::{AgencyRecord, ExchangeStore, GatewayStore, PackageKind, Store};
use time::OffsetDateTime;
use tls::{ClientAuth, Identity, ServerTls};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::demo_network::{Ca, Running, Serve, start_gateway};

#[derive(Debug, Args)]
pub(crate) struct ExchangeArgs {
    /// Seconds of submitting per figure; each figure then waits for what is still in flight.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Documents in flight at once (submitted and not yet stored at the recipient).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Document sizes, in KiB.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 2048])]
    size_kb: Vec<usize>,
    /// The NATS server for the peer figures.
    #[arg(long, default_value = "127.0.0.1:4222")]
    nats: String,
    /// Rounds per size, each lienthong then JetStream; with more than one, the medians too (on a
    /// shared machine one 10 s figure moves by up to a third). Later rounds find lienthong's
    /// stores fuller; JetStream's stream is made anew each round.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Where the network keeps its databases and blobs (default: a new directory under the
    /// system's temporary directory, removed afterwards). A real disk, or "durable" means nothing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const SENDER: (&str, &str) = ("000.00.00.G22", "Văn phòng Chính phủ");
const RECIPIENT: (&str, &str) = ("000.00.00.H41", "UBND tỉnh Nghệ An");
/// How long what is in flight may take to arrive once submitting stops.
const DRAIN: Duration = Duration::from_secs(300);

pub(crate) fn run(args: ExchangeArgs) -> Result<ExitCode> {
    if args.window == 0 || args.size_kb.is_empty() || args.rounds == 0 {
        bail!("--window, --size-kb and --rounds need at least 1");
    }
    let (dir, remove) = match &args.data_dir {
        Some(dir) => (dir.join(format!("bench-{}", OffsetDateTime::now_utc().unix_timestamp())), false),
        None => (crate::bench_ca::tempfile_dir()?, true),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(bench(&args, &dir));
    runtime.shutdown_timeout(Duration::from_secs(1));
    if remove {
        std::fs::remove_dir_all(&dir).ok();
    }
    result.map(|()| ExitCode::SUCCESS)
}

async fn bench(args: &ExchangeArgs, dir: &Path) -> Result<()> {
    let budget = Duration::from_secs_f64(args.seconds);
    let network = Network::start(dir).await?;
    let nats = crate::bench_jetstream::Nats::connect(&args.nats).await;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "Exchange benchmark — end to end in one process, {cores} cores, {} documents in flight, {} s of submitting per figure",
        args.window,
        budget.as_secs_f64()
    );
    println!("  lienthong: submit at the sending gateway → hub → stored in the recipient gateway's inbox;");
    println!("    each document has its own number (and document id), as an agency's documents do");
    println!("  JetStream: edXML bytes of the same size published to a file-backed stream (ack awaited) → consumed");
    println!("  CPU ms/doc: this process (gateways, hub, driver; for JetStream its client) and, for JetStream,");
    println!("    the local nats-server's");
    if let Err(e) = &nats {
        println!("  NATS JetStream is unreachable at {}: {e:#} — its figures are left out", args.nats);
    }
    network.measure(&Documents::new(args.size_kb[0] * 1024)?, Duration::from_secs(1), args.window).await?;
    network.quiesce().await?;
    println!(
        "\n{:<8} {:<44} {:>9} {:>9} {:>9} {:>10} {:>11}",
        "size", "system", "docs/s", "p50 ms", "p99 ms", "documents", "CPU ms/doc"
    );
    for &kb in &args.size_kb {
        let documents = Documents::new(kb * 1024)?;
        let label = size_label(kb);
        let mut rounds = Rounds::default();
        for _ in 0..args.rounds {
            let ours = network.measure(&documents, budget, args.window).await?;
            row(&label, "lienthong (mTLS, signed, sealed, fsync'd)", &ours);
            if let Some(memory) = &ours.memory {
                println!(
                    "{:<8} {:<44} peak resident {} MB: anonymous (heap…) {} MB, mapped files {} MB",
                    "", "  memory of this process", memory.resident_mb, memory.anonymous_mb, memory.file_mb
                );
            }
            network.quiesce().await?;
            rounds.ours.push(ours.rate());
            if let Ok(nats) = &nats {
                let mut bytes = Vec::with_capacity(documents.template.len());
                documents.write_numbered(0, &mut bytes)?;
                let bytes = Bytes::from(bytes);
                match crate::bench_jetstream::measure(nats, bytes, budget, args.window).await {
                    Ok(theirs) => {
                        row(&label, "NATS JetStream (file stream, pub ack, consume)", &theirs);
                        let ratio = ours.rate() / theirs.rate();
                        println!("{:<8} {:<44} {:>8.2}x", label, "lienthong / JetStream", ratio);
                        rounds.theirs.push(theirs.rate());
                        rounds.ratios.push(ratio);
                    }
                    Err(e) => println!("{label:<8} NATS JetStream: no figure: {e:#}"),
                }
            }
        }
        if args.rounds > 1 {
            rounds.print(&label);
        }
        println!("{:<8} ({} bytes of edXML per document, each its own number)", "", documents.template.len());
    }
    print_durability(nats.as_ref().ok());
    Ok(())
}

fn row(size: &str, system: &str, figures: &Figures) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let cpu = match figures.cpu {
        Some(cpu) if !figures.latencies.is_empty() => format!("{:.2}", ms(cpu) / figures.latencies.len() as f64),
        _ => "-".into(),
    };
    println!(
        "{size:<8} {system:<44} {:>9.0} {:>9.1} {:>9.1} {:>10} {cpu:>11}",
        figures.rate(),
        ms(figures.percentile(0.50)),
        ms(figures.percentile(0.99)),
        figures.latencies.len()
    );
}

/// The rates (documents/s) and ratios of a size's rounds.
#[derive(Default)]
struct Rounds {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Rounds {
    fn print(mut self, label: &str) {
        let n = self.ours.len();
        println!("{label:<8} {:<44} {:>9.0}", format!("lienthong, median of {n} rounds"), median(&mut self.ours));
        if !self.ratios.is_empty() {
            let m = self.ratios.len();
            println!("{label:<8} {:<44} {:>9.0}", format!("JetStream, median of {m} rounds"), median(&mut self.theirs));
            println!("{label:<8} {:<44} {:>8.2}x", "lienthong / JetStream, median ratio", median(&mut self.ratios));
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn size_label(kb: usize) -> String {
    if kb >= 1024 && kb.is_multiple_of(1024) { format!("{} MB", kb / 1024) } else { format!("{kb} KB") }
}

fn print_durability(nats: Option<&crate::bench_jetstream::Nats>) {
    println!("\nWhat \"durable\" means at each hop:");
    println!("  lienthong: every hop fsyncs before it acknowledges — the sending gateway's sealed blob (up to 4 MiB");
    println!("    appended to the blob pack and fdatasync'd, larger a file: file and directory fsync) and outbox row");
    println!("    (SQLite WAL, synchronous=FULL: the commit fsyncs the WAL) before submit returns; the hub's blob and");
    println!("    rows before its 201; the recipient's blob and inbox row before it acknowledges to the hub. Each");
    println!("    document also sends a signed, sealed receipt (status 01) back.");
    if let Some(nats) = nats {
        let info = nats.server_info();
        println!(
            "  JetStream {}: acknowledges once the message is written to its files; the server fsyncs them on",
            info.version
        );
        println!(
            "    its sync_interval (default 2 minutes), not per message. Largest message {} bytes, so",
            info.max_payload
        );
        println!("    larger documents travel as several messages; a document counts when its last one is consumed.");
    }
}

/// Documents of about `size` bytes from the Government Office to Nghệ An, their one attachment
/// incompressible, each with a number (and so a document id) of its own, as an agency's documents
/// have: the same bytes but for [`NUMBER_MARK`], which `write_numbered` replaces.
struct Documents {
    template: Vec<u8>,
    marks: Vec<usize>,
}

/// The template's document number: nine digits, the width of every number put in its place.
const NUMBER_MARK: &[u8] = b"900000000";

impl Documents {
    fn new(size: usize) -> Result<Self> {
        let number = std::str::from_utf8(NUMBER_MARK)?;
        let build = |files: &[(String, Vec<u8>)]| -> Result<Vec<u8>> {
            let mut doc = crate::edxml_cmd::build_package(crate::header::EXAMPLE, files)?;
            doc.header.to.truncate(1);
            if doc.header.to.first().and_then(|t| t.organ_id.as_ref()).map(|o| o.as_str()) != Some(RECIPIENT.0) {
                bail!("the example header's first recipient is not {}", RECIPIENT.0);
            }
            if let Some(code) = doc.header.code.as_mut() {
                code.number = Some(number.into());
            }
            doc.header.document_id = Some(format!("{},2026/11/24,{number}/VPCP-KSTT", SENDER.0));
            Ok(edxml::write(&Package::Document(doc)))
        };
        let overhead = build(&[("a.pdf".into(), Vec::new())])?.len() + 400;
        let data = crate::bench::incompressible(size.saturating_sub(overhead) / 4 * 3);
        let template = build(&[("bao-cao.pdf".into(), data)])?;
        let marks: Vec<usize> = template
            .windows(NUMBER_MARK.len())
            .enumerate()
            .filter(|(_, w)| *w == NUMBER_MARK)
            .map(|(i, _)| i)
            .collect();
        // The number and the document id; a third would be the attachment's data by chance.
        if marks.len() != 2 {
            bail!("the template holds its document number {} times, not twice", marks.len());
        }
        Ok(Self { template, marks })
    }

    /// Document `n` (the template with `NUMBER_MARK + n` for its number), written to `out`.
    fn write_numbered(&self, n: usize, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let number = format!("{:09}", 900_000_000 + n % 100_000_000);
        let mut from = 0;
        for &at in &self.marks {
            out.write_all(&self.template[from..at])?;
            out.write_all(number.as_bytes())?;
            from = at + NUMBER_MARK.len();
        }
        out.write_all(&self.template[from..])
    }
}

/// The CA, the hub and two gateways, all on loopback with SQLite.
struct Network {
    hub: Arc<hub::HubService>,
    sender: Running,
    recipient: Running,
    submitted: AtomicUsize,
    _ca: Ca,
}

impl Network {
    async fn start(dir: &Path) -> Result<Self> {
        let ca = Ca::start(dir).await?;
        let (hub, hub_url) = start_hub(&ca, dir).await?;
        let sender = start_gateway(&ca, &hub, &hub_url, dir, SENDER, Serve::OwnListener).await?;
        let recipient = start_gateway(&ca, &hub, &hub_url, dir, RECIPIENT, Serve::OwnListener).await?;
        Ok(Self { hub, sender, recipient, submitted: AtomicUsize::new(0), _ca: ca })
    }

    /// Submits `documents` for `budget` with `window` documents in flight; each counts when it is
    /// in the recipient's inbox. Each is built, then kept as the client API keeps a submission
    /// (see `as_submitted`), while the others move: that work is counted too.
    async fn measure(&self, documents: &Documents, budget: Duration, window: usize) -> Result<Figures> {
        let memory = MemoryWatch::start();
        let tracker = Arc::new(Tracker::default());
        let permits = Arc::new(Semaphore::new(window));
        let failures = Arc::new(AtomicUsize::new(0));
        let start = inbox_end(&self.recipient.gateway).await?;
        let watcher = tokio::spawn(watch_inbox(self.recipient.gateway.clone(), tracker.clone(), start));
        let cpu_before = process_cpu();
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            let permit = crate::bench_exchange::place_in_window(&permits).await?;
            let n = self.submitted.fetch_add(1, Ordering::Relaxed);
            let document = self.as_submitted(documents, n)?;
            let gateway = self.sender.gateway.clone();
            let (tracker, failures) = (tracker.clone(), failures.clone());
            tokio::spawn(async move {
                let submitted_at = Instant::now();
                match gateway.submit_shared("bench", &format!("bench-{n}"), document).await {
                    Ok((id, true)) => tracker.submitted(id, submitted_at, permit),
                    Ok((_, false)) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("lienthong bench: submit: {e}");
                        }
                    }
                }
            });
        }
        let drained = tokio::time::timeout(DRAIN, permits.acquire_many(u32::try_from(window)?)).await;
        watcher.abort();
        let failed = failures.load(Ordering::Relaxed);
        if drained.is_err() || failed > 0 {
            bail!("lienthong: {failed} submissions failed, drained: {}", drained.is_ok());
        }
        let mut figures = tracker.figures();
        figures.cpu = cpu_before.zip(process_cpu()).map(|(before, after)| after.saturating_sub(before));
        figures.memory = memory.stop();
        Ok(figures)
    }

    /// Document `n` of `documents` as the sending gateway's client API holds a submission: on
    /// the heap when small, else in a mapped spool file (so the figures are the gateway's, not a
    /// copy the driver keeps).
    fn as_submitted(&self, documents: &Documents, n: usize) -> Result<Bytes> {
        let mut scratch = self.sender.gateway.blobs().spool().scratch(documents.template.len())?;
        documents.write_numbered(n, &mut scratch)?;
        Ok(scratch.into_bytes()?)
    }

    /// Waits until nothing is left to move: both outboxes sent (receipts included) and the hub
    /// holding nothing for either gateway.
    async fn quiesce(&self) -> Result<()> {
        let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
        for _ in 0..600 {
            let mut busy = false;
            for running in [&self.sender, &self.recipient] {
                let store = running.gateway.store();
                busy |= !store.due(later, 1).await?.is_empty();
                busy |= !self.hub.store().pending(running.gateway.agency().as_str(), 0, 1).await?.is_empty();
            }
            if !busy {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("the exchange did not settle within 120 s")
    }
}

async fn start_hub(ca: &Ca, dir: &Path) -> Result<(Arc<hub::HubService>, String)> {
    let store = Store::open(&format!("sqlite://{}", dir.join("hub.sqlite").display())).await?;
    for (code, name) in [SENDER, RECIPIENT] {
        let agency = AgencyRecord { code: code.into(), name: name.into(), parent: None, mailbox: Some(code.into()) };
        store.put_agency(&agency, OffsetDateTime::now_utc()).await?;
    }
    let blobs = BlobStore::open(&dir.join("hub-blobs")).await?;
    let hub = hub::HubService::new(store, blobs, hub::Limits::default()).await?;
    let (cert, key) =
        ca.issue(Profile::Gateway, "CN=localhost,O=Trục liên thông văn bản quốc gia", Some(SENDER.0)).await?;
    let tls = ServerTls::builder(Identity::from_key_pair(ca.chain(&cert), key)?)
        .client_auth(ClientAuth::Required, vec![ca.root.clone()])
        .crls(vec![ca.service.current_crl().to_vec()])
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://localhost:{}", listener.local_addr()?.port());
    tokio::spawn(tls::serve(listener, hub::router_over_mutual_tls(hub.clone()), tls, std::future::pending()));
    Ok((hub, url))
}

/// A place in the window, once a document in flight has arrived; an error if none arrives for
/// [`DRAIN`] (the other side has stalled).
pub(crate) async fn place_in_window(permits: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit> {
    match tokio::time::timeout(DRAIN, permits.clone().acquire_owned()).await {
        Ok(permit) => Ok(permit?),
        Err(_) => bail!("no document arrived for {} s: stalled", DRAIN.as_secs()),
    }
}

/// The last inbox position now.
async fn inbox_end(gateway: &Gateway) -> Result<i64> {
    let mut after = 0;
    loop {
        let page = gateway.store().inbox(None, after, 500).await?;
        match page.last() {
            Some(last) => after = last.id,
            None => return Ok(after),
        }
    }
}

/// Reports each document stored in `gateway`'s inbox after position `after` to `tracker`.
async fn watch_inbox(gateway: Arc<Gateway>, tracker: Arc<Tracker>, mut after: i64) -> Result<()> {
    loop {
        let changed = gateway.inbox_changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let page = gateway.store().inbox(None, after, 500).await?;
        let now = Instant::now();
        for item in &page {
            after = item.id;
            if item.package.kind == PackageKind::Document {
                tracker.arrived(item.package.package_id.clone(), now);
            }
        }
        if page.is_empty() {
            tokio::time::timeout(Duration::from_millis(20), changed).await.ok();
        }
    }
}

/// Latencies of the documents that arrived, and the span they cover.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    latencies: Vec<Duration>,
    first_submitted: Option<Instant>,
    last_arrived: Option<Instant>,
    /// CPU time spent meanwhile (user and system, every thread), where it is known.
    pub(crate) cpu: Option<Duration>,
    /// Peak memory meanwhile, where it is known.
    pub(crate) memory: Option<Memory>,
}

/// The process's peak memory over a figure, sampled from `/proc/self/status` (Linux only).
#[derive(Debug, Default, Clone)]
pub(crate) struct Memory {
    /// Peak resident set.
    resident_mb: u64,
    /// Peak anonymous memory (the heap, stacks): what the process itself holds.
    anonymous_mb: u64,
    /// Peak pages of mapped files resident (spool and blob files): the kernel's page cache,
    /// which it writes back or drops under memory pressure.
    file_mb: u64,
}

/// Samples the process's memory every 10 ms on a thread of its own until stopped.
struct MemoryWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<Memory>>,
}

impl MemoryWatch {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak: Option<Memory> = None;
            while !stopped.load(Ordering::Relaxed) {
                if let Some(now) = memory_now() {
                    let p = peak.get_or_insert_with(Memory::default);
                    p.resident_mb = p.resident_mb.max(now.resident_mb);
                    p.anonymous_mb = p.anonymous_mb.max(now.anonymous_mb);
                    p.file_mb = p.file_mb.max(now.file_mb);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        Self { stop, thread }
    }

    fn stop(self) -> Option<Memory> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// This process's resident memory now, from `/proc/self/status` (kB figures, given in MB).
fn memory_now() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| line.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    };
    Some(Memory {
        resident_mb: field("VmRSS:")? / 1024,
        anonymous_mb: field("RssAnon:")? / 1024,
        file_mb: (field("RssFile:")? + field("RssShmem:").unwrap_or(0)) / 1024,
    })
}

impl Figures {
    /// Documents per second from the first submission to the last arrival.
    pub(crate) fn rate(&self) -> f64 {
        match (self.first_submitted, self.last_arrived) {
            (Some(first), Some(last)) if last > first => self.latencies.len() as f64 / (last - first).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// The `p` quantile (0..=1) of the latencies.
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = (p * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied().unwrap_or_default()
    }

    fn record(&mut self, submitted: Instant, arrived: Instant) {
        self.latencies.push(arrived.saturating_duration_since(submitted));
        self.first_submitted = Some(self.first_submitted.map_or(submitted, |f| f.min(submitted)));
        self.last_arrived = Some(self.last_arrived.map_or(arrived, |l| l.max(arrived)));
    }
}

/// CPU time used by this process so far, user and system, all threads (Linux only).
pub(crate) fn process_cpu() -> Option<Duration> {
    cpu_of("self")
}

/// CPU time used so far by the process `pid` ("self" for this one), as [`process_cpu`].
pub(crate) fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the name), in 1/100 s.
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// A document between submission and arrival, in whichever order the two are seen; its permit
/// (a place in the window) is released when both are.
enum Slot {
    Submitted(Instant, OwnedSemaphorePermit),
    Arrived(Instant),
}

/// Matches submissions with arrivals by id.
#[derive(Default)]
pub(crate) struct Tracker {
    state: Mutex<(HashMap<String, Slot>, Figures)>,
}

impl Tracker {
    pub(crate) fn submitted(&self, id: String, at: Instant, permit: OwnedSemaphorePermit) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, figures) = &mut *state;
        match slots.remove(&id) {
            Some(Slot::Arrived(arrived)) => figures.record(at, arrived),
            _ => drop(slots.insert(id, Slot::Submitted(at, permit))),
        }
    }

    pub(crate) fn arrived(&self, id: String, at: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, figures) = &mut *state;
        match slots.remove(&id) {
            Some(Slot::Submitted(submitted, _permit)) => figures.record(submitted, at),
            _ => drop(slots.insert(id, Slot::Arrived(at))),
        }
    }

    pub(crate) fn figures(&self) -> Figures {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.1)
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
