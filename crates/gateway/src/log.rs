//! The gateway's message log: the store's audit chain, to which every package queued, handed to
//! the hub, received, refused or acknowledged (and every status answered) is appended in the
//! same transaction as the change. From time to time the head's hash is anchored with an RFC 3161
//! time-stamp token from an outside authority, kept as a checkpoint of that head, so an edit
//! anywhere before the last anchor is detected even if every later hash were recomputed.
//! [`verify`] recomputes the whole chain and checks every anchor.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Uri, header};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use store::{AuditEntry, AuditStore, Checkpoint, GENESIS, Store, StoreError};
use time::OffsetDateTime;

/// How often the log is anchored unless told otherwise.
pub const DEFAULT_ANCHOR_PERIOD: Duration = Duration::from_secs(10 * 60);
/// Longest wait for the time-stamp authority's reply.
const TSA_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries read per query while verifying.
const PAGE: u32 = 1000;

/// Why the log could not be anchored now (it is tried again at the next period; sending and
/// receiving go on regardless).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The gateway was given no time-stamp authority.
    #[error("no time-stamp authority is configured for the message log")]
    NotConfigured,
    /// The time-stamp authority's URL is not usable.
    #[error("time-stamp authority URL {0:?}: use http://HOST[:PORT]/PATH (the token is signed; TLS adds nothing)")]
    BadUrl(String),
    /// The authority could not be reached, or answered with an HTTP error or a wrong type.
    #[error("the time-stamp authority at {url}: {reason}")]
    Unreachable {
        /// Its URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The reply holds no token, or a token that does not verify against the roots.
    #[error("the time-stamp authority's reply: {0}")]
    Token(#[from] pki::TokenError),
    /// The token does not echo the nonce sent (a replayed or misrouted reply).
    #[error("the time-stamp token does not echo the nonce sent")]
    NonceMismatch,
    /// Reading the head or storing the anchor failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the log is anchored, how often, and the roots each token is checked against before it
/// is kept.
#[derive(Debug, Clone)]
pub struct LogAnchoring {
    client: TsaClient,
    period: Duration,
}

impl LogAnchoring {
    /// Anchors with the authority at `tsa_url` (`http://…`, answering RFC 3161 over HTTP),
    /// whose tokens must chain to one of `roots_der`; every [`DEFAULT_ANCHOR_PERIOD`].
    pub fn new(tsa_url: &str, roots_der: Vec<Vec<u8>>) -> Result<Self, AnchorError> {
        Ok(Self { client: TsaClient::new(tsa_url, roots_der)?, period: DEFAULT_ANCHOR_PERIOD })
    }

    /// The same, anchoring every `period` instead.
    pub fn every(self, period: Duration) -> Self {
        Self { period, ..self }
    }

    /// How often the log is anchored.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time-stamp authority.
    pub fn client(&self) -> &TsaClient {
        &self.client
    }
}

/// A client of one RFC 3161 time-stamp authority over HTTP.
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: Uri,
    roots: Vec<Vec<u8>>,
    http: Client<HttpConnector, Body>,
}

impl TsaClient {
    /// A client of the authority at `url` (`http://` only), trusting tokens that chain to
    /// `roots_der`.
    pub fn new(url: &str, roots_der: Vec<Vec<u8>>) -> Result<Self, AnchorError> {
        let uri: Uri = url.parse().map_err(|_| AnchorError::BadUrl(url.to_owned()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(AnchorError::BadUrl(url.to_owned()));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(TSA_TIMEOUT));
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { url: uri, roots: roots_der, http })
    }

    /// Asks for a token over the SHA-256 digest `digest`, and returns it once it verifies
    /// (signature, chain to the roots, timeStamping purpose, imprint, nonce).
    pub async fn stamp(&self, digest: &[u8; 32]) -> Result<(Vec<u8>, pki::VerifiedTimeStamp), AnchorError> {
        let nonce = random_nonce()?;
        let request = pki::timestamp_request(digest, nonce)?;
        let reply = tokio::time::timeout(TSA_TIMEOUT, self.post(request))
            .await
            .map_err(|_| self.unreachable(format!("no reply within {} s", TSA_TIMEOUT.as_secs())))??;
        let token = pki::token_from_reply(&reply)?;
        let verified = pki::verify_token(&token, digest, &self.roots)?;
        if !verified.echoes(nonce) {
            return Err(AnchorError::NonceMismatch);
        }
        Ok((token, verified))
    }

    async fn post(&self, request: Vec<u8>) -> Result<Vec<u8>, AnchorError> {
        let mut http_request = Request::new(Body::from(request));
        *http_request.method_mut() = Method::POST;
        *http_request.uri_mut() = self.url.clone();
        let query = HeaderValue::from_static("application/timestamp-query");
        http_request.headers_mut().insert(header::CONTENT_TYPE, query);
        let response = self.http.request(http_request).await.map_err(|e| self.unreachable(e.to_string()))?;
        let (head, body) = response.into_parts();
        if !head.status.is_success() {
            return Err(self.unreachable(format!("HTTP {}", head.status)));
        }
        let reply_type = head.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !reply_type.starts_with("application/timestamp-reply") {
            return Err(self.unreachable(format!("a reply of type {reply_type:?}, not application/timestamp-reply")));
        }
        let limited = http_body_util::Limited::new(body, pki::MAX_TSP_REPLY_BYTES);
        let bytes = limited.collect().await.map_err(|e| self.unreachable(format!("reading the reply: {e}")))?;
        Ok(bytes.to_bytes().to_vec())
    }

    fn unreachable(&self, reason: String) -> AnchorError {
        AnchorError::Unreachable { url: self.url.to_string(), reason }
    }
}

fn random_nonce() -> Result<u64, AnchorError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Corrupt("no randomness available".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// An anchor just made: the head it covers and when the authority stamped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// The last entry covered.
    pub seq: i64,
    /// Its hash (hex SHA-256): the token's message imprint.
    pub hash: String,
    /// The token's time.
    pub at: OffsetDateTime,
}

/// Anchors the head of `store`'s log with a token from `tsa`, unless the last anchor already
/// covers it (or the log is empty): `None` then.
pub async fn anchor(store: &Store, tsa: &TsaClient) -> Result<Option<Anchored>, AnchorError> {
    let Some((seq, hash)) = store.audit_head().await? else {
        return Ok(None);
    };
    if store.last_checkpoint().await?.is_some_and(|c| c.seq >= seq) {
        return Ok(None);
    }
    let digest = digest_of(&hash).ok_or_else(|| StoreError::Corrupt(format!("log entry {seq} has hash {hash:?}")))?;
    let (token, verified) = tsa.stamp(&digest).await?;
    let at = verified.gen_time();
    store.add_checkpoint(&Checkpoint { seq, hash: hash.clone(), signature: token, at: at.unix_timestamp() }).await?;
    Ok(Some(Anchored { seq, hash, at }))
}

/// The 32 bytes of a hex SHA-256.
fn digest_of(hash: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    for (byte, pair) in digest.iter_mut().zip(hash.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

impl crate::Gateway {
    /// Anchors the message log with `anchoring`'s time-stamp authority from now on (see
    /// [`Gateway::run_log_anchoring`](crate::Gateway::run_log_anchoring)). The first setting
    /// stays: a gateway anchors with one authority.
    pub fn with_log_anchoring(self: Arc<Self>, anchoring: LogAnchoring) -> Arc<Self> {
        // Set once, at construction; a later call is ignored as documented.
        let _first = self.log_anchoring.set(anchoring);
        self
    }

    /// Anchors the head of the message log now, unless an anchor already covers it (`None`).
    pub async fn anchor_log_now(&self) -> Result<Option<Anchored>, AnchorError> {
        let anchoring = self.log_anchoring.get().ok_or(AnchorError::NotConfigured)?;
        anchor(self.store(), anchoring.client()).await
    }

    /// Anchors the log every period when its head moved, until the process ends; a failure is
    /// reported and tried again at the next period. Returns at once without a time-stamp
    /// authority.
    pub async fn run_log_anchoring(self: Arc<Self>) {
        let Some(period) = self.log_anchoring.get().map(LogAnchoring::period) else {
            return;
        };
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.anchor_log_now().await {
                eprintln!(
                    "lienthong gateway {}: message log not anchored (retried in {} s): {e}",
                    self.agency(),
                    period.as_secs()
                );
            }
        }
    }
}

/// What a verification found when the log is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Entries in the chain.
    pub entries: i64,
    /// Anchors whose token was checked.
    pub anchors: usize,
    /// The last entry covered by an anchor (0 if none).
    pub anchored_through: i64,
    /// When the last anchor was stamped, by its token.
    pub anchored_at: Option<OffsetDateTime>,
    /// The authority that stamped it (certificate subject).
    pub authority: Option<String>,
}

/// Where the log stops being trustworthy: the first entry (or anchor) found wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogFailure {
    /// An entry's position is out of sequence (an entry deleted or inserted).
    #[error("log entry {found} follows entry {previous}: an entry is missing or was inserted")]
    Gap {
        /// The entry before.
        previous: i64,
        /// The entry found.
        found: i64,
    },
    /// An entry does not point at the previous entry's hash.
    #[error("log entry {0} does not chain to the entry before it")]
    BrokenLink(i64),
    /// An entry's fields do not produce its hash (it was edited).
    #[error("log entry {0} was altered: its content does not match its hash")]
    Altered(i64),
    /// An anchor names a hash the chain does not have at its entry, or an entry it lacks.
    #[error("the anchor of entry {0} does not match the chain")]
    AnchorMismatch(i64),
    /// An anchor's token does not verify.
    #[error("the anchor of entry {seq} does not verify: {reason}")]
    BadAnchor {
        /// The entry it covers.
        seq: i64,
        /// Why.
        reason: pki::TokenError,
    },
    /// Reading the log failed.
    #[error("cannot read the message log: {0}")]
    Store(#[from] StoreError),
}

impl LogFailure {
    /// The entry where the log breaks, if the failure is in the log (not in reading it).
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Gap { found, .. } => Some(*found),
            Self::BrokenLink(seq) | Self::Altered(seq) | Self::AnchorMismatch(seq) => Some(*seq),
            Self::BadAnchor { seq, .. } => Some(*seq),
            Self::Store(_) => None,
        }
    }

    /// What is wrong, in Vietnamese.
    pub fn vietnamese(&self) -> String {
        match self {
            Self::Gap { previous, found } => {
                format!("mục {found} đứng sau mục {previous}: có mục bị xoá hoặc bị chèn thêm")
            }
            Self::BrokenLink(seq) => format!("mục {seq} không nối với mục trước nó"),
            Self::Altered(seq) => format!("mục {seq} đã bị sửa: nội dung không khớp với mã băm"),
            Self::AnchorMismatch(seq) => format!("dấu thời gian của mục {seq} không khớp với chuỗi"),
            Self::BadAnchor { seq, .. } => format!("dấu thời gian của mục {seq} không hợp lệ"),
            Self::Store(_) => "không đọc được nhật ký".to_owned(),
        }
    }
}

/// Walks the whole chain in `store`, recomputing every hash, and checks every anchor's token
/// against `roots_der` (signature, chain at the stamped time, timeStamping purpose, and that its
/// imprint is the anchored entry's hash).
pub async fn verify(store: &Store, roots_der: &[Vec<u8>]) -> Result<LogReport, LogFailure> {
    let mut report = LogReport { entries: 0, anchors: 0, anchored_through: 0, anchored_at: None, authority: None };
    let mut prev_hash = GENESIS.to_owned();
    loop {
        let page = store.audit_entries(report.entries, PAGE).await?;
        let through = page.last().map_or(report.entries, |e| e.seq);
        let anchors = store.checkpoints_in(report.entries, through).await?;
        let mut pending = anchors.iter().peekable();
        for entry in &page {
            check_entry(entry, report.entries, &prev_hash)?;
            while let Some(anchor) = pending.next_if(|a| a.seq <= entry.seq) {
                let verified = check_anchor(anchor, entry, roots_der)?;
                report.anchors += 1;
                report.anchored_through = anchor.seq;
                report.anchored_at = Some(verified.gen_time());
                report.authority = Some(verified.authority().to_owned());
            }
            (report.entries, prev_hash) = (entry.seq, entry.hash.clone());
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    // An anchor of an entry the chain does not have (the tail was cut off).
    if let Some(beyond) = store.checkpoints_in(report.entries, i64::MAX).await?.first() {
        return Err(LogFailure::AnchorMismatch(beyond.seq));
    }
    Ok(report)
}

fn check_entry(entry: &AuditEntry, previous: i64, prev_hash: &str) -> Result<(), LogFailure> {
    if entry.seq != previous + 1 {
        return Err(LogFailure::Gap { previous, found: entry.seq });
    }
    if entry.prev_hash != prev_hash {
        return Err(LogFailure::BrokenLink(entry.seq));
    }
    if entry.hash != entry.expected_hash() {
        return Err(LogFailure::Altered(entry.seq));
    }
    Ok(())
}

fn check_anchor(
    anchor: &Checkpoint,
    entry: &AuditEntry,
    roots_der: &[Vec<u8>],
) -> Result<pki::VerifiedTimeStamp, LogFailure> {
    if anchor.seq != entry.seq || anchor.hash != entry.hash {
        return Err(LogFailure::AnchorMismatch(anchor.seq));
    }
    let digest = digest_of(&entry.hash).ok_or(LogFailure::Altered(entry.seq))?;
    pki::verify_token(&anchor.signature, &digest, roots_der)
        .map_err(|reason| LogFailure::BadAnchor { seq: anchor.seq, reason })
}
