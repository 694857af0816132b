//! The gateway as a running service: its link to the hub (mutual TLS), the outbox sender (retries
//! with backoff until the hub acknowledges), the inbox receiver (collects, opens, verifies,
//! stores each package once, acknowledges, answers 01 — or refuses with 02), and what the client
//! API calls to send documents and statuses.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use bytes::Bytes;
use edxml::{AgencyCode, Package, StatusCode as Status, VnTimestamp};
use futures_util::StreamExt as _;
use pki::KeyPair;
use serde_json::Value;
use store::blobs::BlobStore;
use store::spool::{SPOOL_ABOVE, Spool, SpoolError};
use store::{
    ChangeAnswer, ClientRecord, DocumentChange, Enqueued, GatewayStore, IncomingPackage, OutgoingPackage,
    OutgoingRecord, PackageKind, Received, RefusedPackage, Store, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::incoming::{Unsealing, check_package, unseal};
use crate::outgoing::AnswerToChange;
use crate::{Opened, Refusal, Signer, Trust};

/// Largest sealed package the gateway sends or collects.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest wait between attempts to hand a package to the hub.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why the gateway could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The package was refused before anything was queued.
    #[error(transparent)]
    Outgoing(#[from] crate::OutgoingError),
    /// The hub refused or could not be reached.
    #[error("the hub: {0}")]
    Hub(String),
    /// A recipient is unknown to the hub, or has no certificate.
    #[error("recipient {code}: {reason}")]
    Recipient {
        /// The recipient.
        code: String,
        /// What the hub said.
        reason: String,
    },
    /// The status cannot be built for that package.
    #[error("cannot answer: {0}")]
    Answer(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] store::blobs::BlobError),
    /// An update or replacement of a document this agency has recalled.
    #[error("document {0} was recalled: it can no longer be updated or replaced")]
    Recalled(String),
    /// The content was destroyed after a recall the recipient agreed to.
    #[error("package {0} was recalled and its content destroyed")]
    Destroyed(String),
    /// The package cannot be verified for now (the signer's revocation status is unknown):
    /// neither kept nor refused, it is tried again, up to the gateway's [`crate::IntakeLimit`].
    #[error("the package cannot be verified for now: {0}")]
    Unverified(Refusal),
    /// An answer (a status) to a document whose recall this agency agreed to: the document no
    /// longer exists here, so nothing is sent or stored.
    #[error("document {0} was recalled and destroyed: it can no longer be answered; nothing was sent")]
    AnswerToDestroyed(String),
    /// A refusal (16) of a recall, update or replacement this agency already agreed to (15):
    /// an agreement stands (a recall agreed to destroyed the copy); nothing was sent.
    #[error("request {0} was already agreed to (15): it cannot be refused (16) afterwards; nothing was sent")]
    AlreadyAgreed(String),
    /// A key given to the gateway is not its certificate's, or one of them does not parse.
    #[error("{0}")]
    Keys(String),
    /// A client system submitted a package from another agency than its own; nothing was queued.
    #[error("the package is sent as {sender}, but this client system sends only as {agency}; nothing was queued")]
    WrongSender {
        /// The package's sender (From).
        sender: String,
        /// The client system's agency.
        agency: String,
    },
    /// A client system submitted a package from an agency whose copies the hub does not route
    /// to this gateway (any more: the unit got a gateway of its own, say), so this gateway does
    /// not sign and send for it; nothing was queued.
    #[error("this gateway does not send for agency {sender}: {reason}; nothing was queued")]
    SenderNotServed {
        /// The package's sender (From).
        sender: String,
        /// Why not (the hub's routing, or its last answer known while it cannot be reached).
        reason: String,
    },
    /// A client system cannot be bound to an agency this gateway does not serve.
    #[error("this gateway does not serve agency {code}: {reason}")]
    NotServed {
        /// The agency asked for.
        code: String,
        /// Why not (the hub's routing).
        reason: String,
    },
}

/// The keys and certificates of one gateway, each key checked once against its certificate.
#[derive(Debug)]
pub struct GatewayKeys {
    /// The agency's seal: signs outgoing packages.
    seal: Signer,
    /// The gateway's certificate and private key: packages for this gateway are encrypted to it.
    opener: envelope::Opener,
}

impl GatewayKeys {
    /// The agency's seal key with its certificate (DER), and the gateway's certificate (DER)
    /// with its private key (PKCS#8 DER); an error if a key is not its certificate's.
    pub fn new(
        seal_key: KeyPair,
        seal_certificate_der: Vec<u8>,
        certificate_der: &[u8],
        key_pkcs8_der: &[u8],
    ) -> Result<Self, GatewayError> {
        let seal = Signer::new(seal_key, seal_certificate_der)
            .map_err(|e| GatewayError::Keys(format!("the seal key and its certificate: {e}")))?;
        let opener = envelope::Opener::new(certificate_der, key_pkcs8_der)
            .map_err(|e| GatewayError::Keys(format!("the gateway's certificate and its key: {e}")))?;
        Ok(Self { seal, opener })
    }
}

/// One agency's gateway.
#[derive(Debug)]
pub struct Gateway {
    agency: AgencyCode,
    store: Store,
    blobs: BlobStore,
    keys: Arc<GatewayKeys>,
    trust: Arc<Trust>,
    hub: tls::Client,
    hub_url: String,
    outbox_ready: Notify,
    inbox_changed: Notify,
    /// Where the next poll starts: 0, or past a whole page of deliveries that failed to be taken
    /// in, so they do not hold up the rest (they are tried again once the rest is collected).
    skip_through: std::sync::atomic::AtomicI64,
    /// Recipient certificates last given by the hub, with when: reused for a minute, and
    /// whenever the hub cannot be reached, so documents are still sealed and queued then.
    certificates: std::sync::Mutex<std::collections::HashMap<String, KnownCertificate>>,
    /// The hub's last answers about where agencies' copies go, with when (`served.rs`).
    pub(crate) routes: std::sync::Mutex<std::collections::HashMap<String, (store::AgencyRoute, std::time::Instant)>>,
    /// Where the message log is anchored, if anywhere (`log.rs`).
    pub(crate) log_anchoring: std::sync::OnceLock<crate::log::LogAnchoring>,
    /// When (Unix seconds) this process last pruned stale SDK signatures (`sdk_api.rs`).
    pub(crate) sdk_signatures_pruned_at: std::sync::atomic::AtomicI64,
    /// When a delivery that keeps failing is refused (`intake.rs`); the default if unset.
    pub(crate) intake_limit: std::sync::OnceLock<crate::IntakeLimit>,
    /// How long a download from the hub may go without a byte ([`DOWNLOAD_IDLE`] unless set).
    download_idle: std::sync::OnceLock<Duration>,
    /// Bytes of submitted packages held at once (`admission.rs`).
    pub(crate) submissions: crate::admission::SubmissionBudget,
    /// The hub's registry, for agency names.
    directory: crate::directory::Directory,
}

/// How long a recipient certificate from the hub is used without asking again.
const CERTIFICATE_FRESH: Duration = Duration::from_secs(60);

/// Who reports a status: one of the package's recipients this gateway serves, and whether it is
/// the one the package was first stored for (its statuses keep the plain reference).
#[derive(Debug, Clone, Copy)]
struct Report<'a> {
    reporter: &'a str,
    first_recipient: bool,
}

/// Deliveries the hub returns per poll (its default).
const MAILBOX_PAGE: usize = 100;
/// Packages handed to the hub, or taken in from it, at once: each transfer waits mostly on the
/// network and on fsyncs, so a few in parallel keep the cores busy.
const CONCURRENT_TRANSFERS: usize = 16;

/// How long a package's download from the hub may go without a byte before it is given up.
const DOWNLOAD_IDLE: Duration = Duration::from_secs(60);

/// The client system the gateway itself acts as (automatic statuses).
pub const GATEWAY_CLIENT: &str = "gateway";

impl Gateway {
    /// A gateway for `agency`, talking to the hub at `hub_url` through `hub`.
    pub fn new(
        agency: AgencyCode,
        store: Store,
        blobs: BlobStore,
        keys: GatewayKeys,
        trust: Arc<Trust>,
        hub: tls::Client,
        hub_url: &str,
    ) -> Arc<Self> {
        Arc::new(Self {
            agency,
            store,
            blobs,
            keys: Arc::new(keys),
            trust,
            hub,
            hub_url: hub_url.trim_end_matches('/').to_owned(),
            outbox_ready: Notify::new(),
            inbox_changed: Notify::new(),
            skip_through: std::sync::atomic::AtomicI64::new(0),
            certificates: std::sync::Mutex::default(),
            routes: std::sync::Mutex::default(),
            log_anchoring: std::sync::OnceLock::new(),
            sdk_signatures_pruned_at: std::sync::atomic::AtomicI64::new(0),
            intake_limit: std::sync::OnceLock::new(),
            download_idle: std::sync::OnceLock::new(),
            submissions: crate::admission::SubmissionBudget::default(),
            directory: crate::directory::Directory::default(),
        })
    }

    /// Sets how long a package's download from the hub may go without a byte before it is given
    /// up and collected again later (once, at construction; a later call is ignored). Without
    /// it, 60 s.
    pub fn with_download_idle(self: Arc<Self>, idle: Duration) -> Arc<Self> {
        let _first = self.download_idle.set(idle);
        self
    }

    /// Names of the hub's agencies (cached; codes alone while the hub cannot be reached).
    pub(crate) async fn agency_names(&self) -> crate::directory::AgencyNames {
        self.directory.names(self).await
    }

    /// The hub's registry of agencies (cached; a stale copy while the hub cannot be reached).
    pub(crate) async fn registered_agencies(&self) -> Result<Arc<Vec<crate::directory::Agency>>, GatewayError> {
        self.directory.agencies(self).await
    }

    /// The agency this gateway serves.
    pub fn agency(&self) -> &AgencyCode {
        &self.agency
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The trust store (its CRLs are refreshed from the authority).
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Wakes when the inbox changes (for long-polls and server-sent events).
    pub fn inbox_changed(&self) -> &Notify {
        &self.inbox_changed
    }

    /// The agency `client` reads and sends for: the one it was bound to, or (a client from before
    /// clients were bound) this gateway's own.
    pub fn agency_of(&self, client: &ClientRecord) -> String {
        client.agency.clone().unwrap_or_else(|| self.agency.to_string())
    }

    /// Reads a submitted package's body, after its caller was authenticated: bounded by
    /// [`crate::api::MAX_SUBMIT_BYTES`], and waiting for its share of the gateway's budget of
    /// bodies held at once (`admission.rs`).
    pub async fn read_submission(
        &self,
        headers: &axum::http::HeaderMap,
        body: axum::body::Body,
    ) -> Result<crate::admission::Admitted, crate::admission::AdmissionError> {
        self.submissions.read(headers, body, self.blobs.spool()).await
    }

    /// Whether this gateway serves `code`: its own agency, or an agency whose copies the hub
    /// routes to this gateway (a level 2–4 unit without a gateway of its own). Asks the hub (its
    /// answer is reused for a minute, and the last one known serves while it cannot be reached).
    pub async fn serves(&self, code: &AgencyCode) -> Result<(), GatewayError> {
        self.acts_for(code.as_str()).await?.map_err(|reason| GatewayError::NotServed { code: code.to_string(), reason })
    }

    /// Like [`Gateway::submit`], for a client system of `agency`: a package whose sender (From)
    /// is another agency is refused ([`GatewayError::WrongSender`]), and so is one from an agency
    /// this gateway does not serve (any more) ([`GatewayError::SenderNotServed`]); nothing is
    /// queued then.
    pub async fn submit_as(
        &self,
        client: &str,
        agency: &str,
        client_ref: &str,
        edxml: Bytes,
    ) -> Result<(String, bool), GatewayError> {
        self.submit_checked(client, Some(agency), client_ref, edxml).await
    }

    /// Validates, signs and seals `edxml` for its recipients and queues it; the same
    /// `client_ref` from the same client again returns the first package's id and queues nothing.
    /// The sender is not checked: this is the gateway acting for the agencies it serves (client
    /// systems go through [`Gateway::submit_as`]).
    pub async fn submit(&self, client: &str, client_ref: &str, edxml: &[u8]) -> Result<(String, bool), GatewayError> {
        self.submit_checked(client, None, client_ref, Bytes::copy_from_slice(edxml)).await
    }

    /// [`Gateway::submit`] for content already shared (a large package mapped from a spool
    /// file, say): not copied.
    pub async fn submit_shared(
        &self,
        client: &str,
        client_ref: &str,
        edxml: Bytes,
    ) -> Result<(String, bool), GatewayError> {
        self.submit_checked(client, None, client_ref, edxml).await
    }

    async fn submit_checked(
        &self,
        client: &str,
        agency: Option<&str>,
        client_ref: &str,
        edxml: Bytes,
    ) -> Result<(String, bool), GatewayError> {
        if let Some(existing) = self.existing(client, client_ref).await? {
            return Ok((existing, false));
        }
        let (described, parsed) = crate::outgoing::preview(&edxml)?;
        if let Some(agency) = agency
            && described.sender != agency
        {
            return Err(GatewayError::WrongSender { sender: described.sender, agency: agency.to_owned() });
        }
        if agency.is_some() {
            // The hub's routing may have changed since the client was bound (the unit got a
            // gateway of its own): this gateway no longer signs for an agency it does not serve.
            self.check_sender(&described.sender).await?;
        }
        if let Some(document) = &described.answers {
            // Whether the answering agency's own copy was destroyed: another recipient's agreeing
            // to the recall does not stop it from answering.
            for sender in &described.recipients {
                if self.store.is_destroyed(sender, document, &described.sender).await? {
                    return Err(GatewayError::AnswerToDestroyed(document.clone()));
                }
            }
        }
        // A 15 or 16 a client system built itself is held to what an answer made here is held to
        // (`answer_as`): a refusal after an agreement is refused, and the answer is recorded on
        // the copy it answers once queued (an agreed recall destroys the recalled copies).
        let answered = match (&described.answers_change, agency) {
            (Some(about), Some(_)) => {
                self.copy_answered(about, &described.sender).await?.map(|copy| (copy, about.answer))
            }
            _ => None,
        };
        if let Some((copy, ChangeAnswer::Refused)) = &answered
            && self.refusal_after_agreement(copy).await?
        {
            return Err(GatewayError::AlreadyAgreed(copy.package.package_id.clone()));
        }
        if matches!(described.change, DocumentChange::Update | DocumentChange::Replace) {
            for document in &described.refers_to {
                if self.store.is_frozen(document).await? {
                    return Err(GatewayError::Recalled(document.clone()));
                }
            }
        }
        let package = self.seal_for_outbox(client, client_ref, edxml, parsed, &described).await?;
        let (queued, new) = match self.store.enqueue(&package, OffsetDateTime::now_utc()).await? {
            Enqueued::New => {
                self.outbox_ready.notify_one();
                (package.package_id, true)
            }
            Enqueued::Existing(first) => (first, false),
        };
        if described.change == DocumentChange::Recall {
            // The sender's copy is frozen (idempotent: a retried submission freezes it too).
            for document in &described.refers_to {
                self.store.freeze_outgoing(document, &queued, OffsetDateTime::now_utc()).await?;
            }
        }
        if let Some((copy, answer)) = answered {
            self.record_change_answer(&copy.package.package_id, &copy.package.recipient, answer, client).await?;
        }
        Ok((queued, new))
    }

    /// Signs `edxml` (checked, `parsed` and `described` from it) with the agency's seal and
    /// seals it for each recipient's gateway into a blob: the package to queue.
    async fn seal_for_outbox(
        &self,
        client: &str,
        client_ref: &str,
        edxml: Bytes,
        parsed: Package,
        described: &crate::outgoing::Preview,
    ) -> Result<OutgoingPackage, GatewayError> {
        let mut recipients = Vec::with_capacity(described.recipients.len());
        for recipient in &described.recipients {
            recipients.push(self.recipient_certificate(recipient).await?);
        }
        // A large package is sealed into a spool file, not onto the heap.
        let mut envelope = self.blobs.spool().scratch(edxml.len()).map_err(spool_failed)?;
        let keys = self.keys.clone();
        let (sealed, envelope) = off_the_runtime(edxml.len(), move || {
            let sealed = crate::outgoing::seal_parsed(&edxml, &parsed, &keys.seal, &recipients, &mut envelope)?;
            Ok::<_, GatewayError>((sealed, envelope.into_bytes().map_err(spool_failed)?))
        })
        .await??;
        let blob = self.blobs.put_bytes(envelope, MAX_PACKAGE_BYTES).await?;
        Ok(OutgoingPackage {
            package_id: new_package_id(&self.agency),
            client: client.to_owned(),
            client_ref: client_ref.to_owned(),
            kind: if sealed.is_status { PackageKind::Status } else { PackageKind::Document },
            sender: described.sender.clone(),
            recipients: sealed.recipients,
            document_id: sealed.document_id,
            subject: described.subject.clone(),
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            sha256: blob.name.clone(),
            blob: blob.name,
            status_code: sealed.status_code,
        })
    }

    /// `reporter`'s copy of the latest recall, update or replacement a 15 or 16 answers, if held.
    async fn copy_answered(
        &self,
        about: &AnswerToChange,
        reporter: &str,
    ) -> Result<Option<store::IncomingRecord>, GatewayError> {
        let Some(package_id) = self.store.latest_change(&about.sender, &about.document_id, reporter).await? else {
            return Ok(None);
        };
        Ok(self.store.incoming_for(&package_id, reporter).await?)
    }

    /// Records `reporter`'s agreement or refusal on its copy of the change `package_id` (an
    /// agreed recall destroys the recalled copies), then removes the blobs no copy needs now.
    async fn record_change_answer(
        &self,
        package_id: &str,
        reporter: &str,
        answer: ChangeAnswer,
        client: &str,
    ) -> Result<(), GatewayError> {
        let actor = format!("client:{client}");
        let now = OffsetDateTime::now_utc();
        let unused = self.store.answer_change(package_id, reporter, answer, &actor, now).await?;
        for blob in unused {
            self.remove_if_unused(&blob).await?;
        }
        Ok(())
    }

    async fn existing(&self, client: &str, client_ref: &str) -> Result<Option<String>, GatewayError> {
        Ok(self.store.outgoing_by_reference(client, client_ref).await?.map(|o| o.package.package_id))
    }

    /// The certificate the hub gives for `recipient` (its gateway's, or its parent's): asked
    /// again after a minute; the last one known (in memory, else in the store, so also after a
    /// restart) while the hub cannot be reached.
    async fn recipient_certificate(&self, recipient: &str) -> Result<Arc<envelope::Recipient>, GatewayError> {
        let known = match self.certificates.lock().unwrap_or_else(|e| e.into_inner()).get(recipient) {
            // The usual case, on every submission: only the shared reading is cloned.
            Some((_, sealable, at)) if at.elapsed() < CERTIFICATE_FRESH => return Ok(sealable.clone()),
            known => known.cloned(),
        };
        match self.fetch_recipient_certificate(recipient).await {
            Ok(der) => {
                // Only what can be sealed to is kept: a broken entry at the hub is not remembered
                // once the hub repairs it, and sealing to it fails with a clear error.
                let sealable = sealable(recipient, &der)?;
                // Kept in the store too, so a gateway restarted while the hub is down still knows it.
                if known.as_ref().is_none_or(|(old, ..)| *old != der) {
                    self.store.remember_recipient_certificate(recipient, &der, OffsetDateTime::now_utc()).await?;
                }
                let mut cache = self.certificates.lock().unwrap_or_else(|e| e.into_inner());
                cache.insert(recipient.to_owned(), (der, sealable.clone(), std::time::Instant::now()));
                Ok(sealable)
            }
            Err(GatewayError::Hub(reason)) => match known {
                Some((_, sealable, _)) => Ok(sealable),
                None => {
                    let der =
                        self.store.last_recipient_certificate(recipient).await?.ok_or(GatewayError::Hub(reason))?;
                    sealable(recipient, &der)
                }
            },
            Err(e) => Err(e),
        }
    }

    /// The hub's answer for `code`'s certificate: status, the mailbox it names, and the body.
    pub(crate) async fn hub_certificate(
        &self,
        code: &str,
    ) -> Result<(StatusCode, Option<String>, Bytes), GatewayError> {
        let response = self.hub_get(&format!("/v1/agencies/{code}/certificate")).await?;
        let status = response.status();
        let mailbox = response.headers().get("lienthong-mailbox").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().await.map_err(|e| GatewayError::Hub(e.to_string()))?;
        Ok((status, mailbox, body))
    }

    async fn fetch_recipient_certificate(&self, recipient: &str) -> Result<Vec<u8>, GatewayError> {
        let (status, _, body) = self.hub_certificate(recipient).await?;
        if status == StatusCode::OK {
            return Ok(body.to_vec());
        }
        let reason = hub_reason(&body);
        if status.is_client_error() {
            return Err(GatewayError::Recipient { code: recipient.to_owned(), reason });
        }
        Err(GatewayError::Hub(format!("{status}: {reason}")))
    }

    /// The hub's agency registry (for the SDK's agency list).
    pub async fn hub_agencies(&self) -> Result<Value, GatewayError> {
        let list = self.hub_json(Method::GET, &format!("{}/v1/agencies", self.hub_url), Body::empty()).await?;
        Ok(list["agencies"].clone())
    }

    /// Answers a received document with `status` (01–06, 15, 16), signed and sealed for its
    /// sender, queued like any package.
    pub async fn answer(
        &self,
        client: &str,
        package_id: &str,
        status: Status,
        description: Option<String>,
    ) -> Result<String, GatewayError> {
        self.answer_as(client, package_id, None, status, description).await
    }

    /// Like [`Gateway::answer`], reported by `reporter` — one of the package's recipients this
    /// gateway serves (a unit, say) — instead of the recipient it was first stored for. A package
    /// not addressed to `reporter` is answered as one not in the inbox.
    pub async fn answer_as(
        &self,
        client: &str,
        package_id: &str,
        reporter: Option<&str>,
        status: Status,
        description: Option<String>,
    ) -> Result<String, GatewayError> {
        let first = self.store.incoming(package_id).await?.map(|held| held.package.recipient);
        let copy = match reporter.or(first.as_deref()) {
            Some(reporter) => self.store.incoming_for(package_id, reporter).await?,
            None => None,
        };
        let received = copy.ok_or_else(|| GatewayError::Answer(format!("no package {package_id} in the inbox")))?;
        // This reporter's copy: another recipient's agreeing to a recall destroyed only its own.
        if received.destroyed_at.is_some() {
            return Err(GatewayError::AnswerToDestroyed(package_id.to_owned()));
        }
        // An agreement stands (a refusal may still turn into an agreement).
        if status == Status::ChangeRefused && self.refusal_after_agreement(&received).await? {
            return Err(GatewayError::AlreadyAgreed(package_id.to_owned()));
        }
        let reporter = received.package.recipient.as_str();
        let first = first.as_deref().unwrap_or(reporter);
        // Mapped, not read onto the heap.
        let bytes = self.blobs.map(&received.package.blob).await?;
        let parsed =
            edxml::parse(&bytes, &edxml::Limits::default()).map_err(|e| GatewayError::Answer(e.to_string()))?;
        let Package::Document(document) = parsed.package else {
            return Err(GatewayError::Answer(format!("package {package_id} is a status, not a document")));
        };
        let report = Report { reporter, first_recipient: reporter == first };
        self.answer_document(client, package_id, report, &document, status, description).await
    }

    /// Whether a refusal (16) of this copy — a recall, update or replacement — would be new after
    /// an agreement (15) its recipient sent since the copy came. A 16 sent before the 15 and
    /// asked for again is that same package (idempotent), not a new refusal.
    async fn refusal_after_agreement(&self, copy: &store::IncomingRecord) -> Result<bool, GatewayError> {
        let Some(document_id) = copy.package.document_id.as_deref() else {
            return Ok(false);
        };
        if copy.package.change == DocumentChange::New {
            return Ok(false);
        }
        let answers = self.store.statuses_sent(document_id, Some(&copy.package.recipient), 1000).await?;
        let given: Vec<Status> = statuses_since(copy, &answers).collect();
        Ok(given.contains(&Status::ChangeAccepted) && !given.contains(&Status::ChangeRefused))
    }

    /// Answers `document`, received as `package_id`, as [`Gateway::answer`] does; for the receipt
    /// of a package just taken in, which is at hand rather than read back.
    async fn answer_document(
        &self,
        client: &str,
        package_id: &str,
        report: Report<'_>,
        document: &edxml::model::DocumentPackage,
        status: Status,
        description: Option<String>,
    ) -> Result<String, GatewayError> {
        let (reference, edxml, _) = answer_to(package_id, report, document, status, description)?;
        let queued = self.submit_shared(client, &reference, edxml).await?.0;
        let answer = match status {
            Status::ChangeAccepted => Some(ChangeAnswer::Agreed),
            Status::ChangeRefused => Some(ChangeAnswer::Refused),
            _ => None,
        };
        if let Some(answer) = answer {
            self.record_change_answer(package_id, report.reporter, answer, client).await?;
        }
        Ok(queued)
    }

    /// Removes a destroyed copy's blob unless a copy not destroyed uses it, after the
    /// destruction has committed: a crash before leaves a file no copy needs, never a copy
    /// without its file. The blob is set aside before the last check, so a package with the
    /// same content stored meanwhile either is seen (and the blob put back) or finds its file
    /// missing after committing and writes it again (`keep`).
    async fn remove_if_unused(&self, blob: &str) -> Result<(), GatewayError> {
        if self.store.inbox_blob_held(blob).await? || !self.blobs.set_aside(blob).await? {
            return Ok(());
        }
        if self.store.inbox_blob_held(blob).await? {
            self.blobs.restore(blob).await?;
        } else {
            self.blobs.discard(blob).await?;
        }
        Ok(())
    }

    /// Finishes blob removals a crash interrupted (blobs left set aside): each is put back if a
    /// copy not destroyed uses it, else deleted.
    pub async fn finish_blob_removals(&self) -> Result<(), GatewayError> {
        for blob in self.blobs.set_aside_names().await? {
            if self.store.inbox_blob_held(&blob).await? {
                self.blobs.restore(&blob).await?;
            } else {
                self.blobs.discard(&blob).await?;
            }
        }
        Ok(())
    }

    /// Hands every due package to the hub once, several at a time; returns how many the hub
    /// acknowledged.
    pub async fn send_due(&self) -> Result<usize, GatewayError> {
        let now = OffsetDateTime::now_utc();
        let due = self.store.due(now, 64).await?;
        let outcomes: Vec<Result<Option<String>, GatewayError>> = futures_util::stream::iter(due)
            .map(|item| self.send_one(item, now))
            .buffer_unordered(CONCURRENT_TRANSFERS)
            .collect()
            .await;
        let mut handed_over = Vec::with_capacity(outcomes.len());
        let mut failure = None;
        for outcome in outcomes {
            match outcome {
                Ok(Some(package_id)) => handed_over.push(package_id),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        // One transaction for everything the hub acknowledged. If it is lost (a crash), the
        // packages are handed over again and the hub answers that it has them.
        let ids: Vec<&str> = handed_over.iter().map(String::as_str).collect();
        if !ids.is_empty() {
            self.store.mark_sent(&ids, OffsetDateTime::now_utc()).await?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(ids.len()),
        }
    }

    /// Hands `item` to the hub; its id when the hub acknowledged it, else records the failure.
    async fn send_one(&self, item: OutgoingRecord, now: OffsetDateTime) -> Result<Option<String>, GatewayError> {
        match self.hand_over(&item).await {
            Ok(()) => Ok(Some(item.package.package_id)),
            Err(reason) => {
                let wait = backoff(item.attempts);
                let retry_at = now + time::Duration::try_from(wait).unwrap_or(time::Duration::MINUTE);
                self.store.attempt_failed(&item.package.package_id, &reason, retry_at, now).await?;
                Ok(None)
            }
        }
    }

    async fn hand_over(&self, item: &OutgoingRecord) -> Result<(), String> {
        let p = &item.package;
        let mut headers = HeaderMap::new();
        let pairs = [
            ("lienthong-package-id", p.package_id.as_str()),
            ("lienthong-kind", p.kind.as_str()),
            ("lienthong-sender", p.sender.as_str()),
            ("lienthong-sha256", p.sha256.as_str()),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).map_err(|e| e.to_string())?);
        }
        let recipients = HeaderValue::from_str(&p.recipients.join(",")).map_err(|e| e.to_string())?;
        headers.insert(HeaderName::from_static("lienthong-recipients"), recipients);
        let file = self.blobs.get(&p.blob).await.map_err(|e| e.to_string())?;
        let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, store::blobs::READ_CHUNK));
        let url = format!("{}/v1/packages", self.hub_url);
        let response = self.hub.request(Method::POST, &url, headers, body).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.bytes().await.unwrap_or_default();
        if status.is_success() { Ok(()) } else { Err(format!("{status}: {}", hub_reason(&text))) }
    }

    /// Collects what the hub holds for this gateway (waiting up to `wait` for something to
    /// arrive), and takes each in; returns how many were taken in or refused.
    pub async fn receive(&self, wait: Duration) -> Result<usize, GatewayError> {
        use std::sync::atomic::Ordering;
        let after = self.skip_through.load(Ordering::Relaxed);
        let url = format!("{}/v1/mailbox?after={after}&wait={}", self.hub_url, wait.as_secs());
        let mut list = self.hub_json(Method::GET, &url, Body::empty()).await?;
        let deliveries = match list["deliveries"].take() {
            Value::Array(deliveries) => deliveries,
            _ => Vec::new(),
        };
        let last = deliveries.last().and_then(|d| d["id"].as_i64()).unwrap_or(after);
        let full_page = deliveries.len() >= MAILBOX_PAGE;
        let intakes: Vec<Vec<Intake>> = futures_util::stream::iter(same_package_together(deliveries))
            .map(|copies| self.take_in_each(copies))
            .buffer_unordered(CONCURRENT_TRANSFERS)
            .collect()
            .await;
        let mut taken_in = Vec::new();
        let mut handled = 0;
        for intake in intakes.into_iter().flatten() {
            match intake {
                Intake::Acknowledge(delivery) => taken_in.push(delivery),
                Intake::Settled => handled += 1,
                Intake::Waiting => {}
            }
        }
        // One acknowledgement (one transaction at the hub) for everything taken in from the page.
        // If it fails, the deliveries are collected again and taking them in again changes nothing.
        self.acknowledge(&taken_in).await?;
        handled += taken_in.len();
        if full_page && handled == 0 {
            // A whole page that keeps failing would hold up everything behind it: the next poll
            // looks past it; once past the end, polls start from the front again.
            self.skip_through.store(last, Ordering::Relaxed);
        } else if !full_page && after > 0 {
            self.skip_through.store(0, Ordering::Relaxed);
        }
        Ok(handled)
    }

    /// Takes in `copies` (deliveries of one package) one after the other.
    async fn take_in_each(&self, copies: Vec<Value>) -> Vec<Intake> {
        let mut intakes = Vec::with_capacity(copies.len());
        for delivery in copies {
            match self.take_in(&delivery).await {
                Ok(intake) => intakes.push(intake),
                // Left unacknowledged at the hub: collected again on a later poll.
                Err(e) => eprintln!("lienthong gateway {}: delivery {}: {e}", self.agency, delivery["id"]),
            }
        }
        intakes
    }

    /// Takes in one delivery.
    async fn take_in(&self, delivery: &Value) -> Result<Intake, GatewayError> {
        let text = |key: &str| delivery[key].as_str().unwrap_or_default().to_owned();
        let id = delivery["id"].as_i64().unwrap_or_default();
        let kind = PackageKind::parse(&text("kind"))
            .ok_or_else(|| GatewayError::Hub(format!("delivery {id} names no package kind")))?;
        let arrival = Arrival {
            delivery: id,
            package_id: text("package_id"),
            kind,
            sender: text("sender"),
            recipient: text("recipient"),
            sealed_sha256: text("sha256"),
            content: delivery["content"].as_str().and_then(|b64| {
                use base64::Engine as _;
                // Undecodable: asked for like any other package's content.
                base64::engine::general_purpose::STANDARD.decode(b64).ok().map(Bytes::from)
            }),
        };
        if let Some(held) = self.store.incoming(&arrival.package_id).await?
            && self.content_at_hand(&held, &arrival.recipient).await?
        {
            self.take_in_again(&arrival, &held).await?;
            return Ok(Intake::Acknowledge(id));
        }
        let now = OffsetDateTime::now_utc();
        let failures = self.store.intake_failures(&arrival.package_id, &arrival.recipient).await?;
        if failures.as_ref().is_some_and(|f| f.next_attempt_at > now.unix_timestamp()) {
            return Ok(Intake::Waiting);
        }
        match self.take_in_new(&arrival).await {
            Ok(intake) => Ok(intake),
            Err(error) => {
                let attempts = failures.map_or(0, |f| f.attempts);
                self.intake_failed(&arrival, error, attempts, now).await.map(|()| Intake::Settled)
            }
        }
    }

    /// Whether a package stored before can be given to `recipient` from what is here: its copy
    /// was destroyed (nothing more to give), or the content is still held. Otherwise every other
    /// copy was destroyed on a recall and the blob removed, and the package is fetched and
    /// verified again.
    async fn content_at_hand(&self, held: &store::IncomingRecord, recipient: &str) -> Result<bool, GatewayError> {
        let copy = self.store.incoming_for(&held.package.package_id, recipient).await?;
        if copy.is_some_and(|c| c.destroyed_at.is_some()) {
            return Ok(true);
        }
        Ok(self.blobs.exists(&held.package.blob).await?)
    }

    /// A package stored before: for another recipient this gateway serves (the package is listed
    /// for it too), or not acknowledged at the hub (a crash, or the receipt could not be queued).
    /// Makes sure of this recipient's receipt; the caller acknowledges.
    async fn take_in_again(&self, arrival: &Arrival, held: &store::IncomingRecord) -> Result<(), GatewayError> {
        let Arrival { delivery, package_id, recipient, .. } = arrival;
        if held.package.recipient != *recipient {
            let copy =
                IncomingPackage { recipient: recipient.clone(), hub_delivery: *delivery, ..held.package.clone() };
            if self.store.receive(&copy, OffsetDateTime::now_utc()).await? == Received::AnotherRecipient {
                self.inbox_changed.notify_waiters();
            }
            // The last other copy's blob may have been removed meanwhile: the delivery stays at
            // the hub, and the next poll fetches the content again.
            if !self.blobs.exists(&held.package.blob).await? {
                return Err(GatewayError::Blob(store::blobs::BlobError::Missing(held.package.blob.clone())));
            }
        }
        // A copy destroyed on a recall is not answered again; the delivery is settled.
        let copy = self.store.incoming_for(package_id, recipient).await?;
        if held.package.kind == PackageKind::Document && copy.is_some_and(|c| c.destroyed_at.is_none()) {
            self.answer_as(GATEWAY_CLIENT, package_id, Some(recipient.as_str()), Status::Arrived, None).await?;
        }
        Ok(())
    }

    /// Fetches, opens and verifies a package not held yet, then keeps (to be acknowledged) or
    /// refuses it. A signer whose revocation status is unknown for now is neither: the error says so.
    async fn take_in_new(&self, arrival: &Arrival) -> Result<Intake, GatewayError> {
        let Arrival { delivery: id, package_id, kind, sender, recipient, .. } = arrival;
        let sealed = match &arrival.content {
            Some(content) => content.clone(),
            None => self.fetch_content(package_id).await?,
        };
        let (keys, trust, spool, from) =
            (self.keys.clone(), self.trust.clone(), self.blobs.spool().clone(), sender.clone());
        let (sealed_sha256, opened) = off_the_runtime(sealed.len(), move || {
            let opened = match unseal_into(&sealed, &keys, &spool)? {
                Ok(edxml) => check_package(edxml, &trust, &from, OffsetDateTime::now_utc()),
                Err(refusal) => Err(refusal),
            };
            Ok::<_, GatewayError>((sha256_hex(&sealed), opened))
        })
        .await??;
        match opened {
            Ok(opened) => {
                self.keep(*id, package_id, sender, recipient, &sealed_sha256, &opened).await?;
                Ok(Intake::Acknowledge(*id))
            }
            // No current CRL: the signer's status is unknown now, not bad; try again later.
            Err(unknown @ Refusal::Signer(crate::TrustError::StatusUnknown)) => Err(GatewayError::Unverified(unknown)),
            Err(refusal) => {
                let reason = format!("{} ({refusal})", refusal.vietnamese());
                let refused = RefusedPackage {
                    package_id: package_id.clone(),
                    hub_delivery: *id,
                    kind: *kind,
                    sender: sender.clone(),
                    recipient: recipient.clone(),
                    sealed_sha256,
                    reason: format!("02: {reason}"),
                };
                self.refuse(&refused, &reason).await?;
                Ok(Intake::Settled)
            }
        }
    }

    /// `GET` of `path` at the hub; the response head, whatever its status.
    async fn hub_get(&self, path: &str) -> Result<tls::Response, GatewayError> {
        let url = format!("{}{path}", self.hub_url);
        self.hub
            .request(Method::GET, &url, HeaderMap::new(), Body::empty())
            .await
            .map_err(|e| GatewayError::Hub(e.to_string()))
    }

    /// Asks the hub for a package's content (one too large to come with its mailbox entry).
    async fn fetch_content(&self, package_id: &str) -> Result<Bytes, GatewayError> {
        let response = self.hub_get(&format!("/v1/packages/{package_id}/content")).await?;
        let status = response.status();
        if status != StatusCode::OK {
            // Not the package: the delivery stays at the hub and is collected again.
            let reason = response.bytes().await.map_err(|e| GatewayError::Hub(e.to_string()))?;
            return Err(GatewayError::Hub(format!("content of {package_id}: {status}: {}", hub_reason(&reason))));
        }
        self.download(response).await
    }

    /// A package's content from the hub, at most [`MAX_PACKAGE_BYTES`]: a large one into the
    /// spool, not onto the heap.
    async fn download(&self, response: tls::Response) -> Result<Bytes, GatewayError> {
        let expected = response
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = response.into_body(MAX_PACKAGE_BYTES).into_data_stream();
        // A hub that stops sending mid-body fails the download (the delivery is collected again
        // later) rather than holding one of the intake's places for ever.
        let idle = self.download_idle.get().copied().unwrap_or(DOWNLOAD_IDLE);
        let chunks = futures_util::stream::unfold(body, move |mut body| async move {
            match tokio::time::timeout(idle, body.next()).await {
                Ok(None) => None,
                Ok(Some(chunk)) => Some((chunk.map_err(|e| e.to_string()), body)),
                Err(_) => Some((Err(format!("nothing arrived for {} ms", idle.as_millis())), body)),
            }
        });
        self.blobs.spool().gather(chunks, MAX_PACKAGE_BYTES, expected).await.map_err(|e| match e {
            SpoolError::Io(e) => spool_failed(e),
            other => GatewayError::Hub(format!("content: {other}")),
        })
    }

    async fn keep(
        &self,
        delivery: i64,
        package_id: &str,
        sender: &str,
        recipient: &str,
        sealed_sha256: &str,
        opened: &Opened,
    ) -> Result<(), GatewayError> {
        let (change, refers_to) = crate::outgoing::document_change(opened.package());
        // A new document's receipt (status 01) is sealed while the document is stored, and queued
        // in the transaction that keeps it: one commit for both, and a receipt that cannot be
        // queued keeps the document from being stored too (the delivery is collected again). If
        // it cannot be sealed now, the document is kept alone and answered below as any other
        // copy, which fails with the reason.
        let receipt = async {
            match opened.package() {
                Package::Document(document) if change == DocumentChange::New => {
                    match self.sealed_receipt(package_id, recipient, document).await {
                        Ok(receipt) => Some(receipt),
                        Err(e) => {
                            eprintln!(
                                "lienthong gateway {}: receipt for {package_id} not sealed yet: {e}",
                                self.agency
                            );
                            None
                        }
                    }
                }
                _ => None,
            }
        };
        let (blob, receipt) = tokio::join!(self.blobs.put_bytes(opened.shared_edxml(), MAX_PACKAGE_BYTES), receipt);
        let blob = match blob {
            Ok(blob) => blob,
            Err(e) => {
                self.forget_receipt(receipt.as_ref()).await;
                return Err(e.into());
            }
        };
        let (document_id, _, is_status) = opened.describe();
        let due_date = match opened.package() {
            Package::Document(document) => document.header.due_date.map(|d| d.iso()),
            Package::Status(_) => None,
        };
        let subject = crate::outgoing::subject(opened.package());
        let incoming = IncomingPackage {
            package_id: package_id.to_owned(),
            hub_delivery: delivery,
            kind: if is_status { PackageKind::Status } else { PackageKind::Document },
            sender: sender.to_owned(),
            recipient: recipient.to_owned(),
            document_id,
            subject,
            signer: opened.signer_subject().to_owned(),
            blob: blob.name,
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            change,
            refers_to,
            due_date,
            sealed_sha256: sealed_sha256.to_owned(),
        };
        let now = OffsetDateTime::now_utc();
        let stored = match &receipt {
            Some(receipt) => self.store.receive_answered(&incoming, receipt, now).await,
            None => self.store.receive(&incoming, now).await.map(|received| (received, None)),
        };
        if !matches!(stored, Ok((_, Some(Enqueued::New)))) {
            self.forget_receipt(receipt.as_ref()).await;
        }
        let (received, answered) = stored?;
        if received != Received::Duplicate {
            self.inbox_changed.notify_waiters();
        }
        if answered == Some(Enqueued::New) {
            self.outbox_ready.notify_one();
        }
        // A destroyed copy's blob of the same content may have been removed between the put
        // and the commit (see `remove_if_unused`): this copy needs it, so it is written again.
        if !self.blobs.exists(&incoming.blob).await? {
            self.blobs.put_bytes(opened.shared_edxml(), MAX_PACKAGE_BYTES).await?;
        }
        // Otherwise the receipt is queued (once: its reference is fixed) before the hub is told;
        // if it cannot be, the delivery stays at the hub and is collected again, and the receipt
        // retried then.
        if answered.is_none()
            && let Package::Document(document) = opened.package()
        {
            let first_recipient = match received {
                Received::New => true,
                Received::AnotherRecipient => false,
                Received::Duplicate => {
                    self.store.incoming(package_id).await?.is_some_and(|held| held.package.recipient == recipient)
                }
            };
            let report = Report { reporter: recipient, first_recipient };
            self.answer_document(GATEWAY_CLIENT, package_id, report, document, Status::Arrived, None).await?;
        }
        Ok(())
    }

    /// Removes the blob of a receipt sealed but not queued, best effort: nothing else can use it
    /// (sealed with a key of its own, its name is its alone).
    async fn forget_receipt(&self, receipt: Option<&OutgoingPackage>) {
        if let Some(receipt) = receipt
            && let Err(e) = self.blobs.remove(&receipt.blob).await
        {
            eprintln!("lienthong gateway {}: unused receipt blob {} left: {e}", self.agency, receipt.blob);
        }
    }

    /// `recipient`'s receipt (status 01) for `document`, new here as `package_id`, signed and
    /// sealed for its sender: the package to queue with the document
    /// ([`store::GatewayStore::receive_answered`]). Of `submit_checked`'s checks, the reference
    /// already queued is the store's (`Enqueued::Existing`), and a copy just stored is not
    /// destroyed; a check added there must be weighed here too.
    async fn sealed_receipt(
        &self,
        package_id: &str,
        recipient: &str,
        document: &edxml::model::DocumentPackage,
    ) -> Result<OutgoingPackage, GatewayError> {
        let report = Report { reporter: recipient, first_recipient: true };
        let (reference, edxml, parsed) = answer_to(package_id, report, document, Status::Arrived, None)?;
        let described = crate::outgoing::preview_of(&parsed)?;
        self.seal_for_outbox(GATEWAY_CLIENT, &reference, edxml, parsed, &described).await
    }

    /// Refuses a delivery: records the refusal in the message log, queues a signed status 02 with
    /// the reason for the sender (once: its reference is fixed), then tells the hub, so the
    /// sender sees it either way. If the record cannot be made, the delivery stays at the hub and
    /// is refused again when collected.
    pub(crate) async fn refuse(&self, refused: &RefusedPackage, reason: &str) -> Result<(), GatewayError> {
        let delivery = refused.hub_delivery;
        eprintln!("lienthong gateway {}: refused delivery {delivery}: {}", self.agency, refused.reason);
        self.store.record_refusal(refused, OffsetDateTime::now_utc()).await?;
        if let Err(e) = self.send_refusal(&refused.package_id, &refused.sender, &refused.recipient, reason).await {
            // The sender may be unknown or unreachable; the hub still records the refusal.
            eprintln!("lienthong gateway {}: status 02 for {} not queued: {e}", self.agency, refused.package_id);
        }
        self.settle_refused(delivery, &refused.reason).await
    }

    /// A signed status 02 about a package that could not be accepted. Its content may be
    /// unreadable, so the status names the package by its id (the hub's reference too).
    async fn send_refusal(
        &self,
        package_id: &str,
        sender: &str,
        recipient: &str,
        reason: &str,
    ) -> Result<String, GatewayError> {
        let sender = AgencyCode::parse(sender).map_err(|e| GatewayError::Answer(format!("sender code: {e}")))?;
        let reporter = AgencyCode::parse(recipient).unwrap_or_else(|_| self.agency.clone());
        let status = edxml::model::StatusPackage {
            header: edxml::model::StatusHeader {
                from: Some(edxml::model::Organization {
                    organ_id: Some(edxml::OrganId::from(reporter)),
                    ..edxml::model::Organization::default()
                }),
                response_for: Some(edxml::model::ResponseFor {
                    organ_id: Some(edxml::OrganId::from(sender)),
                    code: None,
                    promulgation_date: None,
                    document_id: Some(package_id.to_owned()),
                }),
                staff: None,
                status: Status::Refused,
                description: Some(reason.to_owned()),
                timestamp: Some(VnTimestamp::from_instant(OffsetDateTime::now_utc())),
            },
            trace: None,
            signature: None,
        };
        let edxml = edxml::write(&Package::Status(status));
        Ok(self.submit(GATEWAY_CLIENT, &format!("refusal:{package_id}"), &edxml).await?.0)
    }

    /// Tells the hub a delivery is refused, with the reason.
    async fn settle_refused(&self, delivery: i64, reason: &str) -> Result<(), GatewayError> {
        let url = format!("{}/v1/deliveries/{delivery}/refuse", self.hub_url);
        let body = Body::from(serde_json::json!({ "reason": reason }).to_string());
        self.hub_json(Method::POST, &url, body).await.map(|_| ())
    }

    /// Acknowledges deliveries taken in, many per request (one transaction at the hub). One the
    /// hub no longer holds as waiting (settled otherwise meanwhile) is reported, not retried.
    async fn acknowledge(&self, deliveries: &[i64]) -> Result<(), GatewayError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let url = format!("{}/v1/deliveries/ack", self.hub_url);
        for chunk in deliveries.chunks(exchange::MAX_ACKNOWLEDGED_AT_ONCE) {
            let body = Body::from(serde_json::json!({ "ids": chunk }).to_string());
            let answer = self.hub_json(Method::POST, &url, body).await?;
            for refused in answer["deliveries"].as_array().into_iter().flatten().filter(|d| d["error"].is_string()) {
                eprintln!(
                    "lienthong gateway {}: delivery {} not acknowledged: {}",
                    self.agency, refused["id"], refused["message_en"]
                );
            }
        }
        Ok(())
    }

    async fn hub_json(&self, method: Method, url: &str, body: Body) -> Result<Value, GatewayError> {
        let response = self
            .hub
            .request(method, url, HeaderMap::new(), body)
            .await
            .map_err(|e| GatewayError::Hub(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| GatewayError::Hub(e.to_string()))?;
        if !status.is_success() {
            return Err(GatewayError::Hub(format!("{status}: {}", hub_reason(&bytes))));
        }
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::Hub(format!("not JSON: {e}")))
    }

    /// Runs the outbox sender until the process ends.
    pub async fn run_sender(self: Arc<Self>) {
        loop {
            match self.send_due().await {
                Ok(0) => {
                    tokio::time::timeout(Duration::from_secs(1), self.outbox_ready.notified()).await.ok();
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("lienthong gateway {}: outbox: {e}", self.agency);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Runs the inbox receiver until the process ends, first finishing blob removals a crash
    /// interrupted.
    pub async fn run_receiver(self: Arc<Self>) {
        if let Err(e) = self.finish_blob_removals().await {
            eprintln!("lienthong gateway {}: unfinished blob removals: {e}", self.agency);
        }
        loop {
            let started = std::time::Instant::now();
            match self.receive(Duration::from_secs(25)).await {
                // Deliveries are waiting (the hub answered at once) but none could be taken in
                // now: wait a little rather than ask again at once.
                Ok(0) if started.elapsed() < Duration::from_millis(500) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("lienthong gateway {}: inbox: {e}", self.agency);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// What became of one delivery taken from the hub's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intake {
    /// Taken in (now, or before): to be acknowledged with the rest of its page.
    Acknowledge(i64),
    /// Refused, and the hub told.
    Settled,
    /// Waiting for its next attempt after failures.
    Waiting,
}

/// A delivery as the hub lists it.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    /// The hub's delivery number.
    pub(crate) delivery: i64,
    pub(crate) package_id: String,
    pub(crate) kind: PackageKind,
    /// The sender the hub recorded.
    pub(crate) sender: String,
    pub(crate) recipient: String,
    /// The SHA-256 (hex) of the sealed bytes, as the hub recorded them.
    pub(crate) sealed_sha256: String,
    /// The sealed bytes, when the hub sent them with the entry (small packages).
    pub(crate) content: Option<Bytes>,
}

/// Deliveries grouped by package, in order of first appearance: a package addressed to several
/// agencies this gateway serves comes as several deliveries, taken in one after the other.
fn same_package_together(deliveries: Vec<Value>) -> Vec<Vec<Value>> {
    let mut groups: Vec<Vec<Value>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for delivery in deliveries {
        let package = delivery["package_id"].as_str().unwrap_or_default().to_owned();
        match index.get(&package) {
            Some(&at) => groups[at].push(delivery),
            None => {
                index.insert(package, groups.len());
                groups.push(vec![delivery]);
            }
        }
    }
    groups
}

/// 1 s, 2 s, 4 s … up to five minutes.
pub(crate) fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

pub(crate) fn hub_reason(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message_en"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

/// The status codes among `answers` (statuses sent about a document) sent since `copy` came.
pub(crate) fn statuses_since<'a>(
    copy: &'a store::IncomingRecord,
    answers: &'a [OutgoingRecord],
) -> impl Iterator<Item = Status> + 'a {
    answers
        .iter()
        .filter(|a| a.queued_at >= copy.received_at)
        .filter_map(|a| a.package.status_code.as_deref().and_then(|c| Status::parse(c).ok()))
}

/// A recipient's certificate as the hub gave it (DER), read for sealing, and when it came.
type KnownCertificate = (Vec<u8>, Arc<envelope::Recipient>, std::time::Instant);

/// `recipient`'s certificate read for sealing, or why packages cannot be sealed to it.
fn sealable(recipient: &str, der: &[u8]) -> Result<Arc<envelope::Recipient>, GatewayError> {
    let sealable = envelope::Recipient::parse(der)
        .map_err(|e| crate::OutgoingError::Seal(format!("the certificate of {recipient}: {}", e.problem())))?;
    Ok(Arc::new(sealable))
}

/// Opens `sealed` with the gateway's key: the content (in the spool when large), or why it is
/// refused. A failure of the spool is the gateway's, not the package's.
fn unseal_into(sealed: &[u8], keys: &GatewayKeys, spool: &Spool) -> Result<Result<Bytes, Refusal>, GatewayError> {
    let mut content = spool.scratch(sealed.len()).map_err(spool_failed)?;
    match unseal(sealed, &keys.opener, &mut content) {
        Ok(()) => Ok(Ok(content.into_bytes().map_err(spool_failed)?)),
        Err(Unsealing::Refused(refusal)) => Ok(Err(refusal)),
        Err(Unsealing::Local(e)) => Err(spool_failed(e)),
    }
}

/// The status package `report.reporter` answers `document` (received as `package_id`) with, the
/// reference it is queued under (fixed per package, reporter and status, so answering again
/// queues nothing new), and the package as written.
fn answer_to(
    package_id: &str,
    report: Report<'_>,
    document: &edxml::model::DocumentPackage,
    status: Status,
    description: Option<String>,
) -> Result<(String, Bytes, Package), GatewayError> {
    let reporter = report.reporter;
    let recipient = AgencyCode::parse(reporter).map_err(|e| GatewayError::Answer(format!("recipient code: {e}")))?;
    let now = VnTimestamp::from_instant(OffsetDateTime::now_utc());
    let reply = edxml::answer(document, &recipient, status, description, now)
        .map_err(|e| GatewayError::Answer(e.to_string()))?;
    let reference = if report.first_recipient {
        format!("status:{package_id}:{}", status.as_str())
    } else {
        format!("status:{package_id}:{reporter}:{}", status.as_str())
    };
    let package = Package::Status(reply);
    Ok((reference, Bytes::from(edxml::write(&package)), package))
}

/// Runs the signing, sealing, opening or checking of a package of `size` bytes: on a blocking
/// thread when it is large (a second of CPU for 100 MB would stall the runtime's worker and every
/// request on it), in place when small (the hand-off would cost more than the work).
pub(crate) async fn off_the_runtime<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, GatewayError> {
    if size <= SPOOL_ABOVE {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| spool_failed(std::io::Error::other(format!("working on a large package: {e}"))))
}

/// The spool could not hold a package: the gateway's trouble (a full disk, say), never the
/// package's.
pub(crate) fn spool_failed(error: std::io::Error) -> GatewayError {
    GatewayError::Blob(store::blobs::BlobError::Io(error))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `<agency>:<milliseconds since 1970, 12 hex digits><80 random bits, 20 hex digits>`: unique
/// without coordination, and in the order made, so the indexes keyed by package id take a new
/// row at the end of this sender's range (the whole index for this gateway's outbox; the hub's
/// packages and deliveries and the recipients' inboxes have one such end per sender), not on a
/// random page: fewer pages written per commit and per checkpoint as the stores grow.
fn new_package_id(agency: &AgencyCode) -> String {
    // A clock before 1970 gives 0: the id stays unique (the random part), only out of order.
    let millis = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    // A serial's 16 random bytes, the first two bits fixed: its last ten bytes are random.
    let serial = pki::CertSerial::random().to_hex().to_ascii_lowercase();
    format!("{agency}:{millis:012x}{}", &serial[12..])
}
