//! The peer of `lienthong bench exchange`: NATS JetStream carrying the same document bytes — a
//! file-backed work-queue stream, each message published with its acknowledgement awaited, and
//! consumed by a pull consumer that acknowledges each one (explicit ack).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use crate::bench_exchange::{Figures, Tracker};

const STREAM: &str = "LIENTHONG_BENCH";
const SUBJECT: &str = "lienthong-bench.documents";
const DOCUMENT_HEADER: &str = "Lienthong-Bench-Document";
/// Room left for headers under the server's largest message.
const HEADER_ROOM: usize = 4096;

/// Largest batch the consumer pulls at once: a pull of many 1 MB messages at once would make
/// the server treat it as a slow consumer.
const PULL_BYTES: usize = 8 * 1024 * 1024;

/// Two connections to one NATS server, as a producer and a consumer would each have their own.
#[derive(Debug)]
pub(crate) struct Nats {
    publisher: async_nats::Client,
    consumer: async_nats::Client,
    /// The server's port, when it is on this machine.
    port: Option<u16>,
}

impl Nats {
    /// Connects to the NATS server at `url`, failing within a few seconds if it is not there.
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let connect = || async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(3)).connect(url);
        let publisher = connect().await.context("connect")?;
        if !publisher.server_info().jetstream {
            bail!("the server has JetStream disabled");
        }
        let info = publisher.server_info();
        let local = ["127.0.0.1", "localhost", "::1"].contains(&info.host.as_str());
        let port = local.then_some(info.port);
        Ok(Self { publisher, consumer: connect().await.context("connect")?, port })
    }

    /// What the server says of itself.
    pub(crate) fn server_info(&self) -> async_nats::ServerInfo {
        self.publisher.server_info()
    }
}

/// Publishes `document` for `budget` with `window` documents in flight (published, not yet all
/// consumed); each counts when its last message is consumed.
pub(crate) async fn measure(nats: &Nats, document: Bytes, budget: Duration, window: usize) -> Result<Figures> {
    let js = jetstream::new(nats.publisher.clone());
    js.delete_stream(STREAM).await.ok();
    js.create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECT.into()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::WorkQueue,
        ..Default::default()
    })
    .await
    .context("create the stream")?;
    let consumer: consumer::PullConsumer = jetstream::new(nats.consumer.clone())
        .get_stream(STREAM)
        .await
        .context("the stream, from the consumer's connection")?
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .context("create the consumer")?;
    let chunk = nats.server_info().max_payload.saturating_sub(HEADER_ROOM).max(HEADER_ROOM);
    let chunks: Vec<Bytes> =
        (0..document.len()).step_by(chunk).map(|at| document.slice(at..(at + chunk).min(document.len()))).collect();
    let tracker = Arc::new(Tracker::default());
    let server = nats.port.and_then(local_server);
    let cpu_before = cpu(server.as_deref());
    let consuming = tokio::spawn(consume(consumer, tracker.clone(), chunks.len()));
    let result = publish(&js, &chunks, &tracker, budget, window).await;
    let cpu_after = cpu(server.as_deref());
    consuming.abort();
    js.delete_stream(STREAM).await.ok();
    result?;
    let mut figures = tracker.figures();
    figures.cpu = cpu_before.zip(cpu_after).map(|(before, after)| after.saturating_sub(before));
    Ok(figures)
}

/// The CPU time of this process (the producer and consumer) and of the NATS server's.
fn cpu(server: Option<&str>) -> Option<Duration> {
    Some(crate::bench_exchange::process_cpu()? + crate::bench_exchange::cpu_of(server?)?)
}

/// The process id of the server listening on `port` of this machine, if it is here: the socket
/// among the listening ones in `/proc/net/tcp`, and the process holding it.
fn local_server(port: u16) -> Option<String> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit_once(':')?.1;
            let listening = fields.get(3) == Some(&"0A");
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| fields.get(9).map(|i| i.to_string()))?
        })
    })?;
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let holds = std::fs::read_dir(entry.path().join("fd"))
            .ok()?
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == socket));
        holds.then(|| entry.file_name().to_string_lossy().into_owned())
    })
}

async fn publish(
    js: &jetstream::Context,
    chunks: &[Bytes],
    tracker: &Arc<Tracker>,
    budget: Duration,
    window: usize,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(window));
    let failures = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + budget;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let permit = crate::bench_exchange::place_in_window(&permits).await?;
        n += 1;
        tracker.submitted(n.to_string(), Instant::now(), permit);
        let mut acks = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(DOCUMENT_HEADER, n.to_string().as_str());
            acks.push(js.publish_with_headers(SUBJECT, headers, chunk.clone()).await?);
        }
        let failures = failures.clone();
        tokio::spawn(async move {
            for ack in acks {
                if let Err(e) = ack.await
                    && failures.fetch_add(1, Ordering::Relaxed) == 0
                {
                    eprintln!("lienthong bench: JetStream publish: {e}");
                }
            }
        });
    }
    let drained = tokio::time::timeout(Duration::from_secs(300), permits.acquire_many(u32::try_from(window)?)).await;
    let failed = failures.load(Ordering::Relaxed);
    if drained.is_err() || failed > 0 {
        bail!("JetStream: {failed} publications not acknowledged, drained: {}", drained.is_ok());
    }
    Ok(())
}

/// Consumes every message, acknowledging each; a document arrives with its last message.
async fn consume(consumer: consumer::PullConsumer, tracker: Arc<Tracker>, chunks: usize) -> Result<()> {
    let mut messages = consumer.stream().max_bytes_per_batch(PULL_BYTES).messages().await?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut errors = 0;
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            // Reported, and consuming goes on: what was not acknowledged is delivered again.
            Err(e) => {
                errors += 1;
                if errors == 1 {
                    eprintln!("lienthong bench: JetStream consumer: {e}");
                }
                continue;
            }
        };
        let document = message
            .headers
            .as_ref()
            .and_then(|h| h.get(DOCUMENT_HEADER))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let count = seen.entry(document.clone()).or_default();
        *count += 1;
        if *count == chunks {
            seen.remove(&document);
            tracker.arrived(document, Instant::now());
        }
        if let Err(e) = message.ack().await {
            eprintln!("lienthong bench: JetStream ack: {e}");
        }
    }
    Ok(())
}
