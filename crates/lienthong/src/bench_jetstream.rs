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

/// Connects to the NATS server at `url`, failing within a few seconds if it is not there.
pub(crate) async fn connect(url: &str) -> Result<async_nats::Client> {
    let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(3));
    let client = options.connect(url).await.context("connect")?;
    if !client.server_info().jetstream {
        bail!("the server has JetStream disabled");
    }
    Ok(client)
}

/// Publishes `document` for `budget` with `window` documents in flight (published, not yet all
/// consumed); each counts when its last message is consumed.
pub(crate) async fn measure(
    client: &async_nats::Client,
    document: Bytes,
    budget: Duration,
    window: usize,
) -> Result<Figures> {
    let js = jetstream::new(client.clone());
    js.delete_stream(STREAM).await.ok();
    let stream = js
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECT.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .context("create the stream")?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .context("create the consumer")?;
    let chunk = client.server_info().max_payload.saturating_sub(HEADER_ROOM).max(HEADER_ROOM);
    let chunks: Vec<Bytes> =
        (0..document.len()).step_by(chunk).map(|at| document.slice(at..(at + chunk).min(document.len()))).collect();
    let tracker = Arc::new(Tracker::default());
    let consuming = tokio::spawn(consume(consumer, tracker.clone(), chunks.len()));
    let result = publish(&js, &chunks, &tracker, budget, window).await;
    consuming.abort();
    js.delete_stream(STREAM).await.ok();
    result?;
    Ok(tracker.figures())
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
        let permit = permits.clone().acquire_owned().await?;
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
                if ack.await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
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
    let mut messages = consumer.messages().await?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("consume: {e}"))?;
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
        message.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
    }
    Ok(())
}
