//! A gateway's records: its client systems, the durable outbox (held until the hub acknowledges,
//! retried with backoff), the inbox (each package once, by id) and the packages refused on the
//! way in. Every package queued, handed to the hub, received, refused or acknowledged (and every
//! status answered) is also appended to the hash-chained message log (the store's audit chain),
//! in the same transaction, with its id, kind, sender, recipients and the SHA-256 of its sealed
//! bytes.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{PendingEntry, append_embedded, audit_append, audit_begin};
use crate::{GatewayStore, PackageKind, Store, StoreError, embedded};

/// A client system of the agency (its document-management system, or the web inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// Random identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The agency it reads and sends for; `None` for a client created before clients were bound
    /// to agencies, which acts for the gateway's own agency.
    pub agency: Option<String>,
}

/// A package to send, already signed and sealed into a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPackage {
    /// The package id (unique network-wide).
    pub package_id: String,
    /// The client system that submitted it.
    pub client: String,
    /// The client's own reference for the submission (its idempotency key).
    pub client_ref: String,
    /// Document or status.
    pub kind: PackageKind,
    /// The sending agency.
    pub sender: String,
    /// The recipient agencies.
    pub recipients: Vec<String>,
    /// The edXML DocumentId, if any (a status's: the document it answers).
    pub document_id: Option<String>,
    /// What it is about, for the sender's own view (it cannot read the sealed blob back): a
    /// document's abstract ("trích yếu"), a status's code and label.
    pub subject: Option<String>,
    /// The sealed blob's name.
    pub blob: String,
    /// Its size.
    pub size: i64,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// For a status package, the status it reports (`01`…`16`).
    pub status_code: Option<String>,
}

/// An outgoing package and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// The outbox position (newest is highest).
    pub position: i64,
    /// When it was queued (Unix seconds).
    pub queued_at: i64,
    /// What is sent.
    pub package: OutgoingPackage,
    /// Attempts that failed so far.
    pub attempts: i64,
    /// When the next attempt is due (Unix seconds).
    pub next_attempt_at: i64,
    /// When the hub acknowledged it (Unix seconds).
    pub sent_at: Option<i64>,
}

/// Whether [`GatewayStore::enqueue`] queued something new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued now.
    New,
    /// The client already submitted this reference: the earlier package's id.
    Existing(String),
}

/// A package received, verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPackage {
    /// The package id.
    pub package_id: String,
    /// The hub's delivery number (to acknowledge it).
    pub hub_delivery: i64,
    /// Document or status.
    pub kind: PackageKind,
    /// The sending agency.
    pub sender: String,
    /// The recipient agency (this gateway's agency or a unit it serves).
    pub recipient: String,
    /// The edXML DocumentId.
    pub document_id: Option<String>,
    /// The abstract ("trích yếu").
    pub subject: Option<String>,
    /// The signer's certificate subject.
    pub signer: String,
    /// The verified edXML's blob name.
    pub blob: String,
    /// Its size.
    pub size: i64,
    /// What it does to earlier documents.
    pub change: DocumentChange,
    /// The DocumentIds of the earlier documents it recalls, updates or replaces.
    pub refers_to: Vec<String>,
    /// The handling deadline the sender set (yyyy-mm-dd).
    pub due_date: Option<String>,
    /// The SHA-256 (hex) of the sealed bytes as they travelled: what the sender's outbox and
    /// the hub hold for this package.
    pub sealed_sha256: String,
}

/// What a document package does (edXML `BussinessDocType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentChange {
    /// A new document (also every status package).
    New,
    /// Recalls earlier documents ("thu hồi").
    Recall,
    /// Updates earlier documents ("cập nhật").
    Update,
    /// Replaces earlier documents ("thay thế").
    Replace,
}

impl DocumentChange {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Recall => "recall",
            Self::Update => "update",
            Self::Replace => "replace",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "new" => Ok(Self::New),
            "recall" => Ok(Self::Recall),
            "update" => Ok(Self::Update),
            "replace" => Ok(Self::Replace),
            other => Err(StoreError::Corrupt(format!("document change {other:?}"))),
        }
    }

    /// The event recorded on each earlier document it refers to.
    fn event(self) -> Option<&'static str> {
        match self {
            Self::New => None,
            Self::Recall => Some("recall-requested"),
            Self::Update => Some("updated"),
            Self::Replace => Some("replaced"),
        }
    }
}

/// What the hub last said about where an agency's copies go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgencyRoute {
    /// To this mailbox (the agency of the gateway that collects them).
    Mailbox(String),
    /// Nowhere: the hub routes none (it does not know the agency), for this reason.
    Unrouted(String),
}

/// A package refused on the way in; its reason goes back to the sender as status 02.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedPackage {
    /// The package id.
    pub package_id: String,
    /// The hub's delivery number.
    pub hub_delivery: i64,
    /// Document or status, as the hub recorded it.
    pub kind: PackageKind,
    /// The sending agency, as the hub recorded it.
    pub sender: String,
    /// The recipient agency.
    pub recipient: String,
    /// The SHA-256 (hex) of the sealed bytes received.
    pub sealed_sha256: String,
    /// Why it was refused.
    pub reason: String,
}

/// A failed attempt to take in a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedIntake {
    /// The package id.
    pub package_id: String,
    /// The recipient agency the delivery is for.
    pub recipient: String,
    /// The hub's delivery number.
    pub hub_delivery: i64,
    /// What went wrong.
    pub error: String,
}

/// The failures so far taking in one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeFailures {
    /// Failed attempts.
    pub attempts: i64,
    /// When the first failed (Unix seconds).
    pub first_failed_at: i64,
    /// When to try again (Unix seconds).
    pub next_attempt_at: i64,
    /// The latest error.
    pub last_error: String,
}

/// An incoming package as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRecord {
    /// The inbox position (a client's cursor).
    pub id: i64,
    /// The package.
    pub package: IncomingPackage,
    /// When it arrived (Unix seconds).
    pub received_at: i64,
    /// Whether it was acknowledged: this recipient's copy (read for one recipient), or every copy
    /// (read as a package).
    pub acknowledged: bool,
    /// When its content was destroyed (a recall the recipient agreed to): this recipient's copy
    /// (read for one recipient), or every copy, at the last one (read as a package).
    pub destroyed_at: Option<i64>,
    /// The latest change event on it (`recall-requested`, `destroyed`, `replaced`, …): on this
    /// recipient's copy (read for one recipient), or on any copy (read as a package).
    pub latest_event: Option<String>,
}

/// One entry of a document's change history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentEvent {
    /// The event.
    pub event: String,
    /// The package that caused it (a recall, update or replacement, or the answer to one).
    pub by_package: String,
    /// Whose copy it concerns: the recipient that received or answered the change; `None` for
    /// the sender's own events (`frozen`) and for events recorded before copies were told apart
    /// (they concerned every copy).
    pub recipient: Option<String>,
    /// When (Unix seconds).
    pub at: i64,
}

/// Which answer a clerk gave to a recall, update or replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAnswer {
    /// 15: agreed (a recalled document's content is destroyed).
    Agreed,
    /// 16: refused.
    Refused,
}

/// Whether [`GatewayStore::receive`] stored something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored now.
    New,
    /// Already in the inbox for this recipient: nothing changed.
    Duplicate,
    /// Already in the inbox, now also listed for this recipient (a unit the gateway serves).
    AnotherRecipient,
}

row_type! {
struct OutgoingRow {
    id: i64,
    created_at: i64,
    package_id: String,
    client: String,
    client_ref: String,
    kind: String,
    sender: String,
    recipients: String,
    document_id: Option<String>,
    subject: Option<String>,
    blob: String,
    size: i64,
    sha256: String,
    status_code: Option<String>,
    attempts: i64,
    next_attempt_at: i64,
    sent_at: Option<i64>,
}
}
row_type! {
struct IncomingRow {
    id: i64,
    package_id: String,
    hub_delivery: i64,
    kind: String,
    sender: String,
    recipient: String,
    document_id: Option<String>,
    subject: Option<String>,
    signer: String,
    blob: String,
    size: i64,
    sealed_sha256: String,
    received_at: i64,
    change: String,
    refers_to: String,
    due_date: Option<String>,
    destroyed_at: Option<i64>,
    waiting: i64,
    latest_event: Option<String>,
}
}

const INSERT_CLIENT: &str =
    "INSERT INTO gw_clients (id, name, key_hash, agency, created_at) VALUES ($1, $2, $3, $4, $5)";
const INSERT_SDK_SYSTEM: &str =
    "INSERT INTO gw_sdk_systems (system_id, client, secret, created_at) VALUES ($1, $2, $3, $4)";
const SDK_SYSTEM: &str = "SELECT client, secret FROM gw_sdk_systems WHERE system_id = $1";
const REMEMBER_SDK_SIGNATURE: &str = "INSERT INTO gw_sdk_signatures (system_id, signature, seen_at, valid_until) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (system_id, signature) DO NOTHING";
const FORGET_SDK_SIGNATURES: &str = "DELETE FROM gw_sdk_signatures WHERE valid_until < $1";
const CLIENT_BY_KEY: &str = "SELECT id, name, agency FROM gw_clients WHERE key_hash = $1";
const CLIENT: &str = "SELECT id, name, agency FROM gw_clients WHERE id = $1";
const OUTGOING_COLUMNS: &str = "id, created_at, package_id, client, client_ref, kind, sender, recipients, document_id, \
     subject, blob, size, sha256, status_code, attempts, next_attempt_at, sent_at";
const EXISTING_REF: &str = "SELECT package_id FROM gw_outbox WHERE client = $1 AND client_ref = $2";
const INSERT_OUTGOING: &str = "INSERT INTO gw_outbox (package_id, client, client_ref, kind, sender, recipients, document_id, \
     blob, size, sha256, status_code, created_at, attempts, next_attempt_at, subject) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $12, $13)";
const INSERT_OUTBOX_EVENT: &str = "INSERT INTO gw_outbox_events (package_id, event, note, at) VALUES ($1, $2, $3, $4)";
const FAILED: &str =
    "UPDATE gw_outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE package_id = $2 AND sent_at IS NULL";
const SENT: &str = "UPDATE gw_outbox SET sent_at = $1 WHERE package_id = $2 AND sent_at IS NULL";
/// A package as stored (first recipient), acknowledged when no copy waits, destroyed when every
/// copy is (at the last one).
const INCOMING_COLUMNS: &str = "i.id, i.package_id, i.hub_delivery, i.kind, i.sender, i.recipient, i.document_id, i.subject, \
     i.signer, i.blob, i.size, i.sealed_sha256, i.received_at, i.change, i.refers_to, i.due_date, \
     (SELECT CASE WHEN COUNT(w.destroyed_at) = COUNT(*) THEN MAX(w.destroyed_at) END \
     FROM gw_inbox_recipients w WHERE w.package_id = i.package_id) AS destroyed_at, \
     (SELECT COUNT(*) FROM gw_inbox_recipients w WHERE w.package_id = i.package_id AND w.acknowledged_at IS NULL) \
     AS waiting, \
     (SELECT d.event FROM gw_document_events d WHERE d.package_id = i.package_id ORDER BY d.id DESC LIMIT 1) \
     AS latest_event";
/// One recipient's copy of a package (`gw_inbox i JOIN gw_inbox_recipients r`), with the events
/// on that copy (and those on every copy).
const COPY_COLUMNS: &str = "i.id, i.package_id, r.hub_delivery, i.kind, i.sender, r.recipient, i.document_id, i.subject, \
     i.signer, i.blob, i.size, i.sealed_sha256, i.received_at, i.change, i.refers_to, i.due_date, r.destroyed_at, \
     CAST(CASE WHEN r.acknowledged_at IS NULL THEN 1 ELSE 0 END AS BIGINT) AS waiting, \
     (SELECT d.event FROM gw_document_events d WHERE d.package_id = i.package_id \
     AND (d.recipient IS NULL OR d.recipient = r.recipient) ORDER BY d.id DESC LIMIT 1) AS latest_event";
/// The copies of one recipient.
const COPIES: &str = "gw_inbox i JOIN gw_inbox_recipients r ON r.package_id = i.package_id AND r.recipient = $1";
const INBOX_HAS: &str = "SELECT id FROM gw_inbox WHERE package_id = $1";
const INSERT_INCOMING: &str = "INSERT INTO gw_inbox (package_id, hub_delivery, kind, sender, recipient, document_id, subject, \
     signer, blob, size, sealed_sha256, received_at, change, refers_to, due_date) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
const INSERT_DOCUMENT_EVENT: &str =
    "INSERT INTO gw_document_events (package_id, event, by_package, at, recipient) VALUES ($1, $2, $3, $4, $5)";
/// The sender's earlier documents with a given DocumentId of which recipient `$4` has a copy here.
const EARLIER: &str = "SELECT i.package_id FROM gw_inbox i JOIN gw_inbox_recipients r \
     ON r.package_id = i.package_id AND r.recipient = $4 WHERE i.sender = $1 AND i.document_id = $2 \
     AND i.kind = 'document' AND i.change = 'new' AND i.package_id <> $3";
/// Recipient `$4`'s copies of those not destroyed: an answer repeated after the copy was destroyed
/// (the same answer retried, or another) changes nothing.
const EARLIER_UNDESTROYED: &str = "SELECT i.package_id FROM gw_inbox i JOIN gw_inbox_recipients r \
     ON r.package_id = i.package_id AND r.recipient = $4 WHERE i.sender = $1 AND i.document_id = $2 \
     AND i.kind = 'document' AND i.change = 'new' AND i.package_id <> $3 AND r.destroyed_at IS NULL";
/// The latest recall, update or replacement of document `$2` from `$1` held for `$3`.
const LATEST_CHANGE: &str = "SELECT i.package_id FROM gw_inbox i JOIN gw_inbox_recipients r \
     ON r.package_id = i.package_id AND r.recipient = $3 WHERE i.sender = $1 AND i.document_id = $2 \
     AND i.kind = 'document' AND i.change <> 'new' ORDER BY i.id DESC LIMIT 1";
/// Destroys one recipient's copy; the other copies of the package stay as they are.
const DESTROY: &str = "UPDATE gw_inbox_recipients SET destroyed_at = $1 \
     WHERE package_id = $2 AND recipient = $3 AND destroyed_at IS NULL";
/// A destroyed copy's blob, unless a copy not destroyed (of any package: blobs are named by
/// hash) still uses it.
const UNUSED_BLOB: &str = "SELECT i.blob FROM gw_inbox i WHERE i.package_id = $1 AND NOT EXISTS \
     (SELECT 1 FROM gw_inbox o JOIN gw_inbox_recipients r ON r.package_id = o.package_id \
     WHERE o.blob = i.blob AND r.destroyed_at IS NULL)";
const BLOB_HELD: &str = "SELECT COUNT(*) FROM gw_inbox o JOIN gw_inbox_recipients r ON r.package_id = o.package_id \
     WHERE o.blob = $1 AND r.destroyed_at IS NULL";
const REMEMBER_RECIPIENT_CERTIFICATE: &str = "INSERT INTO gw_recipient_certificates (recipient, certificate, \
     fetched_at) VALUES ($1, $2, $3) ON CONFLICT (recipient) DO UPDATE SET certificate = excluded.certificate, \
     fetched_at = excluded.fetched_at";
const LAST_RECIPIENT_CERTIFICATE: &str = "SELECT certificate FROM gw_recipient_certificates WHERE recipient = $1";
const REMEMBER_AGENCY_ROUTE: &str = "INSERT INTO gw_agency_routes (agency, mailbox, unrouted, answered_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (agency) DO UPDATE SET mailbox = excluded.mailbox, \
     unrouted = excluded.unrouted, answered_at = excluded.answered_at";
const LAST_AGENCY_ROUTE: &str = "SELECT mailbox, unrouted FROM gw_agency_routes WHERE agency = $1";
const FROZEN: &str = "SELECT COUNT(*) FROM gw_document_events d JOIN gw_outbox o ON o.package_id = d.package_id \
     WHERE o.document_id = $1 AND d.event = 'frozen'";
/// Whether `$3`'s copy of document `$2` sent by `$1` was destroyed, and whether a copy of it sent
/// again as new lives (a recall or change carrying the same DocumentId is not the document):
/// each an `EXISTS` that stops at its first row. The first starts from the
/// recipient's destroyed copies (`CROSS JOIN` keeps SQLite on that side, through the partial
/// index `gw_inbox_recipients_destroyed`), so neither reads every copy sharing the document id.
const DESTROYED: &str = "SELECT \
     EXISTS (SELECT 1 FROM gw_inbox_recipients r CROSS JOIN gw_inbox i \
         WHERE r.recipient = $3 AND r.destroyed_at IS NOT NULL AND i.package_id = r.package_id \
         AND i.sender = $1 AND i.document_id = $2 AND i.kind = 'document'), \
     EXISTS (SELECT 1 FROM gw_inbox i JOIN gw_inbox_recipients r ON r.package_id = i.package_id \
         WHERE i.sender = $1 AND i.document_id = $2 AND i.kind = 'document' AND i.change = 'new' \
         AND r.recipient = $3 AND r.destroyed_at IS NULL)";
const RECORD_INTAKE_FAILURE: &str = "INSERT INTO gw_intake_failures (package_id, recipient, hub_delivery, \
     first_failed_at, last_failed_at, attempts, next_attempt_at, last_error) VALUES ($1, $2, $3, $4, $4, 1, $5, $6) \
     ON CONFLICT (package_id, recipient) DO UPDATE SET hub_delivery = excluded.hub_delivery, \
     last_failed_at = excluded.last_failed_at, attempts = gw_intake_failures.attempts + 1, \
     next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error \
     RETURNING attempts, first_failed_at, next_attempt_at, last_error";
const INTAKE_FAILURES: &str = "SELECT attempts, first_failed_at, next_attempt_at, last_error FROM gw_intake_failures \
     WHERE package_id = $1 AND recipient = $2";
const INBOX_FACTS: &str = "SELECT i.kind, i.sender, i.sealed_sha256 FROM gw_inbox i \
     JOIN gw_inbox_recipients r ON r.package_id = i.package_id WHERE i.package_id = $1 AND r.recipient = $2";
const OUTBOX_FACTS: &str = "SELECT kind, sender, recipients, sha256, attempts FROM gw_outbox WHERE package_id = $1";
const REFUSED: &str = "SELECT id FROM gw_refusals WHERE package_id = $1 AND recipient = $2";
const INSERT_REFUSAL: &str = "INSERT INTO gw_refusals (package_id, hub_delivery, kind, sender, recipient, sealed_sha256, \
     reason, refused_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const INSERT_RECIPIENT_IF_NEW: &str = "INSERT INTO gw_inbox_recipients (package_id, recipient, hub_delivery, at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (package_id, recipient) DO NOTHING";
const INSERT_INBOX_EVENT: &str =
    "INSERT INTO gw_inbox_events (package_id, event, actor, at, recipient) VALUES ($1, $2, $3, $4, $5)";
const ACKNOWLEDGE_COPY: &str = "UPDATE gw_inbox_recipients SET acknowledged_at = $1 \
     WHERE package_id = $2 AND recipient = $3 AND acknowledged_at IS NULL";

/// `attempts, first_failed_at, next_attempt_at, last_error`.
type IntakeFailureRow = (i64, i64, i64, String);

fn intake_failures((attempts, first_failed_at, next_attempt_at, last_error): IntakeFailureRow) -> IntakeFailures {
    IntakeFailures { attempts, first_failed_at, next_attempt_at, last_error }
}

fn kind(text: &str) -> Result<PackageKind, StoreError> {
    PackageKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("package kind {text:?}")))
}

fn outgoing(row: OutgoingRow) -> Result<OutgoingRecord, StoreError> {
    let package = OutgoingPackage {
        package_id: row.package_id,
        client: row.client,
        client_ref: row.client_ref,
        kind: kind(&row.kind)?,
        sender: row.sender,
        recipients: row.recipients.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        document_id: row.document_id,
        subject: row.subject,
        blob: row.blob,
        size: row.size,
        sha256: row.sha256,
        status_code: row.status_code,
    };
    Ok(OutgoingRecord {
        position: row.id,
        queued_at: row.created_at,
        package,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        sent_at: row.sent_at,
    })
}

fn incoming(row: IncomingRow) -> Result<IncomingRecord, StoreError> {
    let package = IncomingPackage {
        package_id: row.package_id,
        hub_delivery: row.hub_delivery,
        kind: kind(&row.kind)?,
        sender: row.sender,
        recipient: row.recipient,
        document_id: row.document_id,
        subject: row.subject,
        signer: row.signer,
        blob: row.blob,
        size: row.size,
        sealed_sha256: row.sealed_sha256,
        change: DocumentChange::parse(&row.change)?,
        refers_to: row.refers_to.split('\n').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        due_date: row.due_date,
    };
    Ok(IncomingRecord {
        id: row.id,
        package,
        received_at: row.received_at,
        acknowledged: row.waiting == 0,
        destroyed_at: row.destroyed_at,
        latest_event: row.latest_event,
    })
}

/// What the message log says of a package sent: [`OUTBOX_FACTS`]'s columns.
type OutboxFacts = (String, String, String, String, i64);

fn sent_entry(package_id: &str, facts: OutboxFacts, at: OffsetDateTime) -> PendingEntry {
    let (kind, sender, recipients, sha256, attempts) = facts;
    let details = json!({
        "package": package_id, "kind": kind, "from": sender,
        "to": recipients.split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>(),
        "sha256": sha256, "failed_attempts": attempts,
    });
    PendingEntry::new("gateway", "package.sent", details, at)
}

/// [`GatewayStore::enqueue`] on the SQLite writer: nothing is written for a reference already
/// used, so the audit position is taken only for a package queued.
fn enqueue_embedded(
    c: &rusqlite::Connection,
    p: &OutgoingPackage,
    now: i64,
    entry: &PendingEntry,
) -> Result<Enqueued, StoreError> {
    if let Some(id) = embedded::query_one(c, EXISTING_REF, &[&p.client, &p.client_ref], |r| r.get(0))? {
        return Ok(Enqueued::Existing(id));
    }
    let recipients = p.recipients.join(",");
    embedded::execute(
        c,
        INSERT_OUTGOING,
        &[
            &p.package_id,
            &p.client,
            &p.client_ref,
            &p.kind.as_str(),
            &p.sender,
            &recipients,
            &p.document_id,
            &p.blob,
            &p.size,
            &p.sha256,
            &p.status_code,
            &now,
            &p.subject,
        ],
    )?;
    embedded::execute(c, INSERT_OUTBOX_EVENT, &[&p.package_id, &"queued", &None::<String>, &now])?;
    append_embedded(c, entry)?;
    Ok(Enqueued::New)
}

/// [`GatewayStore::mark_sent`] on the SQLite writer.
fn mark_sent_embedded(c: &rusqlite::Connection, package_ids: &[String], at: OffsetDateTime) -> Result<(), StoreError> {
    let now = at.unix_timestamp();
    for package_id in package_ids {
        if embedded::execute(c, SENT, &[&now, package_id])? == 0 {
            continue;
        }
        embedded::execute(c, INSERT_OUTBOX_EVENT, &[package_id, &"sent", &None::<String>, &now])?;
        let facts = embedded::query_one(c, OUTBOX_FACTS, &[package_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .ok_or_else(|| StoreError::UnknownPackage(package_id.clone()))?;
        append_embedded(c, &sent_entry(package_id, facts, at))?;
    }
    Ok(())
}

/// [`GatewayStore::receive`] on the SQLite writer: a copy already held is found before anything
/// is written.
fn receive_embedded(
    c: &rusqlite::Connection,
    p: &IncomingPackage,
    now: i64,
    entry: &PendingEntry,
) -> Result<Received, StoreError> {
    let held: Option<i64> = embedded::query_one(c, INBOX_HAS, &[&p.package_id], |r| r.get(0))?;
    if held.is_none() {
        let refers_to = p.refers_to.join("\n");
        embedded::execute(
            c,
            INSERT_INCOMING,
            &[
                &p.package_id,
                &p.hub_delivery,
                &p.kind.as_str(),
                &p.sender,
                &p.recipient,
                &p.document_id,
                &p.subject,
                &p.signer,
                &p.blob,
                &p.size,
                &p.sealed_sha256,
                &now,
                &p.change.as_str(),
                &refers_to,
                &p.due_date,
            ],
        )?;
    }
    let added = embedded::execute(c, INSERT_RECIPIENT_IF_NEW, &[&p.package_id, &p.recipient, &p.hub_delivery, &now])?;
    if added == 0 {
        // Only possible for a package held: nothing was written.
        return Ok(Received::Duplicate);
    }
    // What a recall, update or replacement asks is recorded on this recipient's copies.
    if let Some(event) = p.change.event() {
        for document in &p.refers_to {
            let earlier: Vec<String> =
                embedded::query_all(c, EARLIER, &[&p.sender, document, &p.package_id, &p.recipient], |r| r.get(0))?;
            for affected in earlier {
                embedded::execute(c, INSERT_DOCUMENT_EVENT, &[&affected, &event, &p.package_id, &now, &p.recipient])?;
            }
        }
    }
    if held.is_none() {
        embedded::execute(c, INSERT_INBOX_EVENT, &[&p.package_id, &"arrived", &"gateway", &now, &p.recipient])?;
    }
    append_embedded(c, entry)?;
    Ok(if held.is_some() { Received::AnotherRecipient } else { Received::New })
}

/// The message-log entry of a package queued. A status package queued is this agency answering
/// the document it names.
fn queued_entry(p: &OutgoingPackage, at: OffsetDateTime) -> PendingEntry {
    let details = json!({
        "package": p.package_id, "kind": p.kind.as_str(), "from": p.sender, "to": p.recipients,
        "document": p.document_id, "status": p.status_code, "sha256": p.sha256, "size": p.size,
        "client": p.client,
    });
    let action = if p.kind == PackageKind::Status { "status.answered" } else { "package.queued" };
    PendingEntry::new(&format!("client:{}", p.client), action, details, at)
}

/// The message-log entry of a package received.
fn received_entry(p: &IncomingPackage, at: OffsetDateTime) -> PendingEntry {
    let details = json!({
        "package": p.package_id, "kind": p.kind.as_str(), "from": p.sender, "to": p.recipient,
        "document": p.document_id, "signer": p.signer, "sha256": p.sealed_sha256, "size": p.size,
        "content_sha256": p.blob, "delivery": p.hub_delivery,
    });
    PendingEntry::new("gateway", "package.received", details, at)
}

/// [`GatewayStore::enqueue`] in a PostgreSQL transaction; for a reference already queued it
/// takes a message-log position but writes nothing (the caller then rolls that back).
async fn enqueue_pg(
    tx: &mut sqlx::PgConnection,
    p: &OutgoingPackage,
    now: i64,
    entry: &PendingEntry,
) -> Result<Enqueued, StoreError> {
    let seq = audit_begin!(tx);
    let existing: Option<(String,)> =
        sqlx::query_as(EXISTING_REF).bind(&p.client).bind(&p.client_ref).fetch_optional(&mut *tx).await?;
    if let Some((id,)) = existing {
        return Ok(Enqueued::Existing(id));
    }
    sqlx::query(INSERT_OUTGOING)
        .bind(&p.package_id)
        .bind(&p.client)
        .bind(&p.client_ref)
        .bind(p.kind.as_str())
        .bind(&p.sender)
        .bind(p.recipients.join(","))
        .bind(&p.document_id)
        .bind(&p.blob)
        .bind(p.size)
        .bind(&p.sha256)
        .bind(&p.status_code)
        .bind(now)
        .bind(&p.subject)
        .execute(&mut *tx)
        .await?;
    sqlx::query(INSERT_OUTBOX_EVENT)
        .bind(&p.package_id)
        .bind("queued")
        .bind(None::<String>)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    audit_append!(tx, seq, entry);
    Ok(Enqueued::New)
}

/// [`GatewayStore::receive`] in a PostgreSQL transaction; for a duplicate it takes a
/// message-log position but writes nothing (the caller then rolls that back).
async fn receive_pg(
    tx: &mut sqlx::PgConnection,
    p: &IncomingPackage,
    now: i64,
    entry: &PendingEntry,
) -> Result<Received, StoreError> {
    let seq = audit_begin!(tx);
    let held: Option<(i64,)> = sqlx::query_as(INBOX_HAS).bind(&p.package_id).fetch_optional(&mut *tx).await?;
    if held.is_none() {
        sqlx::query(INSERT_INCOMING)
            .bind(&p.package_id)
            .bind(p.hub_delivery)
            .bind(p.kind.as_str())
            .bind(&p.sender)
            .bind(&p.recipient)
            .bind(&p.document_id)
            .bind(&p.subject)
            .bind(&p.signer)
            .bind(&p.blob)
            .bind(p.size)
            .bind(&p.sealed_sha256)
            .bind(now)
            .bind(p.change.as_str())
            .bind(p.refers_to.join("\n"))
            .bind(&p.due_date)
            .execute(&mut *tx)
            .await?;
    }
    let added = sqlx::query(INSERT_RECIPIENT_IF_NEW)
        .bind(&p.package_id)
        .bind(&p.recipient)
        .bind(p.hub_delivery)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if added.rows_affected() == 0 {
        return Ok(Received::Duplicate);
    }
    // What a recall, update or replacement asks is recorded on this recipient's copies.
    if let Some(event) = p.change.event() {
        for document in &p.refers_to {
            let earlier: Vec<(String,)> = sqlx::query_as(EARLIER)
                .bind(&p.sender)
                .bind(document)
                .bind(&p.package_id)
                .bind(&p.recipient)
                .fetch_all(&mut *tx)
                .await?;
            for (affected,) in earlier {
                sqlx::query(INSERT_DOCUMENT_EVENT)
                    .bind(&affected)
                    .bind(event)
                    .bind(&p.package_id)
                    .bind(now)
                    .bind(&p.recipient)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    if held.is_none() {
        sqlx::query(INSERT_INBOX_EVENT)
            .bind(&p.package_id)
            .bind("arrived")
            .bind("gateway")
            .bind(now)
            .bind(&p.recipient)
            .execute(&mut *tx)
            .await?;
    }
    audit_append!(tx, seq, entry);
    Ok(if held.is_some() { Received::AnotherRecipient } else { Received::New })
}

impl GatewayStore for Store {
    async fn add_client(
        &self,
        name: &str,
        key_hash: &str,
        agency: &str,
        at: OffsetDateTime,
    ) -> Result<ClientRecord, StoreError> {
        let id: String = pki::CertSerial::random().to_hex().to_ascii_lowercase().chars().take(16).collect();
        let entry = PendingEntry::new("cli", "client.created", json!({"id": id, "name": name, "agency": agency}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            sqlx::query(INSERT_CLIENT).bind(&id).bind(name).bind(key_hash).bind(agency).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(ClientRecord { id, name: name.to_owned(), agency: Some(agency.to_owned()) })
    }

    async fn client_by_key(&self, key_hash: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row: Option<(String, String, Option<String>)> =
            on_backend!(self, pool => sqlx::query_as(CLIENT_BY_KEY).bind(key_hash).fetch_optional(pool).await?);
        Ok(row.map(|(id, name, agency)| ClientRecord { id, name, agency }))
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row: Option<(String, String, Option<String>)> =
            on_backend!(self, pool => sqlx::query_as(CLIENT).bind(id).fetch_optional(pool).await?);
        Ok(row.map(|(id, name, agency)| ClientRecord { id, name, agency }))
    }

    async fn add_sdk_system(
        &self,
        client: &str,
        system_id: &str,
        secret: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let entry = PendingEntry::new("cli", "sdk-system.created", json!({"system": system_id, "client": client}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            sqlx::query(INSERT_SDK_SYSTEM).bind(system_id).bind(client).bind(secret).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn sdk_system(&self, system_id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(on_backend!(self, pool => sqlx::query_as(SDK_SYSTEM).bind(system_id).fetch_optional(pool).await?))
    }

    async fn remember_sdk_signature(
        &self,
        system_id: &str,
        signature: &str,
        at: OffsetDateTime,
        valid_until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let inserted = on_backend!(self, pool => sqlx::query(REMEMBER_SDK_SIGNATURE).bind(system_id).bind(signature)
            .bind(at.unix_timestamp()).bind(valid_until.unix_timestamp()).execute(pool).await?.rows_affected());
        Ok(inserted == 1)
    }

    async fn forget_sdk_signatures(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(on_backend!(self, pool => sqlx::query(FORGET_SDK_SIGNATURES).bind(now.unix_timestamp())
            .execute(pool).await?.rows_affected()))
    }

    async fn enqueue(&self, package: &OutgoingPackage, at: OffsetDateTime) -> Result<Enqueued, StoreError> {
        let (now, entry) = (at.unix_timestamp(), queued_entry(package, at));
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let p = package.clone();
                return sqlite.embedded.write(move |c| enqueue_embedded(c, &p, now, &entry)).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut tx = pool.begin().await?;
        let enqueued = enqueue_pg(&mut tx, package, now, &entry).await?;
        if enqueued == Enqueued::New {
            tx.commit().await?;
        }
        Ok(enqueued)
    }

    async fn outgoing(&self, package_id: &str) -> Result<Option<OutgoingRecord>, StoreError> {
        let sql = format!("SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE package_id = $1");
        let row: Option<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(package_id).fetch_optional(pool).await?);
        row.map(outgoing).transpose()
    }

    async fn outgoing_by_reference(
        &self,
        client: &str,
        client_ref: &str,
    ) -> Result<Option<OutgoingRecord>, StoreError> {
        let sql = format!("SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE client = $1 AND client_ref = $2");
        let row: Option<OutgoingRow> = match self {
            Store::Sqlite(sqlite) => {
                let (client, client_ref) = (client.to_owned(), client_ref.to_owned());
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_one(c, &sql, &[&client, &client_ref], OutgoingRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(client).bind(client_ref).fetch_optional(pool).await?
            }
        };
        row.map(outgoing).transpose()
    }

    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        let (now, limit) = (now.unix_timestamp(), i64::from(limit));
        let rows: Vec<OutgoingRow> = match self {
            Store::Sqlite(sqlite) => {
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_all(c, &sql, &[&now, &limit], OutgoingRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(pool).await?
            }
        };
        rows.into_iter().map(outgoing).collect()
    }

    async fn attempt_failed(
        &self,
        package_id: &str,
        reason: &str,
        retry_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(FAILED).bind(retry_at.unix_timestamp()).bind(package_id).execute(&mut *tx).await?;
            sqlx::query(INSERT_OUTBOX_EVENT).bind(package_id).bind("failed").bind(reason).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn mark_sent(&self, package_ids: &[&str], at: OffsetDateTime) -> Result<(), StoreError> {
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let ids: Vec<String> = package_ids.iter().map(|&id| id.to_owned()).collect();
                return sqlite.embedded.write(move |c| mark_sent_embedded(c, &ids, at)).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut tx = pool.begin().await?;
        // The first position is taken first, as in every audited change (its lock orders
        // them); each further entry takes the next.
        let mut seq = Some(audit_begin!(tx));
        let mut changed_any = false;
        for &package_id in package_ids {
            let changed = sqlx::query(SENT).bind(at.unix_timestamp()).bind(package_id).execute(&mut *tx).await?;
            if changed.rows_affected() == 0 {
                continue;
            }
            sqlx::query(INSERT_OUTBOX_EVENT)
                .bind(package_id)
                .bind("sent")
                .bind(None::<String>)
                .bind(at.unix_timestamp())
                .execute(&mut *tx)
                .await?;
            let facts: OutboxFacts = sqlx::query_as(OUTBOX_FACTS).bind(package_id).fetch_one(&mut *tx).await?;
            let entry = sent_entry(package_id, facts, at);
            let position = match seq.take() {
                Some(first) => first,
                None => audit_begin!(tx),
            };
            audit_append!(tx, position, &entry);
            changed_any = true;
        }
        if changed_any {
            tx.commit().await?;
        }
        Ok(())
    }

    async fn receive(&self, package: &IncomingPackage, at: OffsetDateTime) -> Result<Received, StoreError> {
        let (now, entry) = (at.unix_timestamp(), received_entry(package, at));
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let p = package.clone();
                return sqlite.embedded.write(move |c| receive_embedded(c, &p, now, &entry)).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut tx = pool.begin().await?;
        let received = receive_pg(&mut tx, package, now, &entry).await?;
        if received != Received::Duplicate {
            tx.commit().await?;
        }
        Ok(received)
    }

    async fn receive_answered(
        &self,
        package: &IncomingPackage,
        answer: &OutgoingPackage,
        at: OffsetDateTime,
    ) -> Result<(Received, Option<Enqueued>), StoreError> {
        let now = at.unix_timestamp();
        let (received_entry, queued_entry) = (received_entry(package, at), queued_entry(answer, at));
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let (p, a) = (package.clone(), answer.clone());
                let write = move |c: &rusqlite::Connection| {
                    let received = receive_embedded(c, &p, now, &received_entry)?;
                    let queued = match received {
                        Received::New => Some(enqueue_embedded(c, &a, now, &queued_entry)?),
                        _ => None,
                    };
                    Ok((received, queued))
                };
                return sqlite.embedded.write(write).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut tx = pool.begin().await?;
        let received = receive_pg(&mut tx, package, now, &received_entry).await?;
        let queued = match received {
            Received::Duplicate => return Ok((received, None)),
            Received::AnotherRecipient => None,
            Received::New => {
                // In a savepoint: a reference already queued leaves no message-log position taken.
                let mut answering = sqlx::Acquire::begin(&mut *tx).await?;
                let queued = enqueue_pg(&mut answering, answer, now, &queued_entry).await?;
                if queued == Enqueued::New {
                    answering.commit().await?;
                } else {
                    answering.rollback().await?;
                }
                Some(queued)
            }
        };
        tx.commit().await?;
        Ok((received, queued))
    }

    async fn inbox(&self, recipient: Option<&str>, after: i64, limit: u32) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = match recipient {
            Some(_) => format!("SELECT {COPY_COLUMNS} FROM {COPIES} WHERE i.id > $2 ORDER BY i.id LIMIT $3"),
            None => format!(
                "SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE $1 IS NULL AND i.id > $2 ORDER BY i.id LIMIT $3"
            ),
        };
        let limit = i64::from(limit);
        let rows: Vec<IncomingRow> = match self {
            Store::Sqlite(sqlite) => {
                let recipient = recipient.map(str::to_owned);
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_all(c, &sql, &[&recipient, &after, &limit], IncomingRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(recipient).bind(after).bind(limit).fetch_all(pool).await?
            }
        };
        rows.into_iter().map(incoming).collect()
    }

    async fn unacknowledged(
        &self,
        kind: PackageKind,
        recipient: &str,
        limit: u32,
    ) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = format!(
            "SELECT {COPY_COLUMNS} FROM {COPIES} WHERE i.kind = $2 AND r.destroyed_at IS NULL AND r.acknowledged_at IS NULL ORDER BY i.id LIMIT $3"
        );
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(recipient).bind(kind.as_str()).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn incoming(&self, package_id: &str) -> Result<Option<IncomingRecord>, StoreError> {
        let sql = format!("SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.package_id = $1");
        let row: Option<IncomingRow> = match self {
            Store::Sqlite(sqlite) => {
                let package_id = package_id.to_owned();
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_one(c, &sql, &[&package_id], IncomingRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(package_id).fetch_optional(pool).await?
            }
        };
        row.map(incoming).transpose()
    }

    async fn incoming_for(&self, package_id: &str, recipient: &str) -> Result<Option<IncomingRecord>, StoreError> {
        let sql = format!("SELECT {COPY_COLUMNS} FROM {COPIES} WHERE i.package_id = $2");
        let row: Option<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(recipient).bind(package_id).fetch_optional(pool).await?);
        row.map(incoming).transpose()
    }

    async fn sent(
        &self,
        kind: PackageKind,
        sender: Option<&str>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE kind = $1 AND ($2 IS NULL OR sender = $2) \
             AND ($3 <= 0 OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(kind.as_str()).bind(sender).bind(before).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(outgoing).collect()
    }

    async fn received(
        &self,
        kind: PackageKind,
        recipient: Option<&str>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<IncomingRecord>, StoreError> {
        let filter = "i.kind = $2 AND ($3 <= 0 OR i.id < $3) ORDER BY i.id DESC LIMIT $4";
        let sql = match recipient {
            Some(_) => format!("SELECT {COPY_COLUMNS} FROM {COPIES} WHERE {filter}"),
            None => format!("SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE $1 IS NULL AND {filter}"),
        };
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(recipient).bind(kind.as_str()).bind(before).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn statuses_sent(
        &self,
        document_id: &str,
        sender: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE document_id = $1 AND kind = 'status' \
             AND ($2 IS NULL OR sender = $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(document_id).bind(sender).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(outgoing).collect()
    }

    async fn statuses_for(
        &self,
        document_id: &str,
        recipient: Option<&str>,
    ) -> Result<Vec<IncomingRecord>, StoreError> {
        let filter = "i.kind = 'status' AND i.document_id = $2 ORDER BY i.id";
        let sql = match recipient {
            Some(_) => format!("SELECT {COPY_COLUMNS} FROM {COPIES} WHERE {filter}"),
            None => format!("SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE $1 IS NULL AND {filter}"),
        };
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(recipient).bind(document_id).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn answer_change(
        &self,
        change_package: &str,
        recipient: &str,
        answer: ChangeAnswer,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let Some(change) = self.incoming_for(change_package, recipient).await? else {
            return Err(StoreError::UnknownPackage(change_package.to_owned()));
        };
        let p = &change.package;
        let (event, destroys) = match (p.change, answer) {
            (DocumentChange::New, _) => return Ok(Vec::new()),
            (DocumentChange::Recall, ChangeAnswer::Agreed) => ("recall-agreed", true),
            (DocumentChange::Recall, ChangeAnswer::Refused) => ("recall-refused", false),
            (_, ChangeAnswer::Agreed) => ("change-agreed", false),
            (_, ChangeAnswer::Refused) => ("change-refused", false),
        };
        let details =
            json!({"package": change_package, "recipient": recipient, "answer": event, "documents": p.refers_to});
        let entry = PendingEntry::new(actor, "document.change-answered", details, at);
        let mut unused = Vec::new();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            for document in &p.refers_to {
                let earlier: Vec<(String,)> = sqlx::query_as(EARLIER_UNDESTROYED).bind(&p.sender).bind(document)
                    .bind(&p.package_id).bind(recipient).fetch_all(&mut *tx).await?;
                for (affected,) in earlier {
                    sqlx::query(INSERT_DOCUMENT_EVENT).bind(&affected).bind(event).bind(&p.package_id)
                        .bind(at.unix_timestamp()).bind(recipient).execute(&mut *tx).await?;
                    if destroys {
                        let done = sqlx::query(DESTROY).bind(at.unix_timestamp()).bind(&affected).bind(recipient)
                            .execute(&mut *tx).await?;
                        if done.rows_affected() > 0 {
                            sqlx::query(INSERT_DOCUMENT_EVENT).bind(&affected).bind("destroyed").bind(&p.package_id)
                                .bind(at.unix_timestamp()).bind(recipient).execute(&mut *tx).await?;
                        }
                        let blob: Option<(String,)> = sqlx::query_as(UNUSED_BLOB).bind(&affected).fetch_optional(&mut *tx).await?;
                        unused.extend(blob.map(|(b,)| b));
                    }
                }
            }
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        unused.sort();
        unused.dedup();
        Ok(unused)
    }

    async fn inbox_blob_held(&self, blob: &str) -> Result<bool, StoreError> {
        let (count,): (i64,) = on_backend!(self, pool => sqlx::query_as(BLOB_HELD).bind(blob).fetch_one(pool).await?);
        Ok(count > 0)
    }

    async fn document_events(
        &self,
        package_id: &str,
        recipient: Option<&str>,
    ) -> Result<Vec<DocumentEvent>, StoreError> {
        const SQL: &str = "SELECT event, by_package, at, recipient FROM gw_document_events WHERE package_id = $1 \
             AND ($2 IS NULL OR recipient IS NULL OR recipient = $2) ORDER BY id";
        let rows: Vec<(String, String, i64, Option<String>)> =
            on_backend!(self, pool => sqlx::query_as(SQL).bind(package_id).bind(recipient).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(event, by_package, at, recipient)| DocumentEvent { event, by_package, at, recipient })
            .collect())
    }

    async fn freeze_outgoing(&self, document_id: &str, by_package: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        const DOCUMENTS: &str = "SELECT o.package_id FROM gw_outbox o WHERE o.document_id = $1 AND o.kind = 'document' \
             AND o.package_id <> $2 AND NOT EXISTS (SELECT 1 FROM gw_document_events d \
             WHERE d.package_id = o.package_id AND d.event = 'frozen')";
        let entry =
            PendingEntry::new("gateway", "document.frozen", json!({"document": document_id, "by": by_package}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let rows: Vec<(String,)> = sqlx::query_as(DOCUMENTS).bind(document_id).bind(by_package).fetch_all(&mut *tx).await?;
            if rows.is_empty() {
                return Ok(());
            }
            for (package,) in rows {
                sqlx::query(INSERT_DOCUMENT_EVENT).bind(&package).bind("frozen").bind(by_package)
                    .bind(at.unix_timestamp()).bind(None::<String>).execute(&mut *tx).await?;
            }
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn remember_recipient_certificate(
        &self,
        recipient: &str,
        certificate: &[u8],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, pool => { sqlx::query(REMEMBER_RECIPIENT_CERTIFICATE).bind(recipient).bind(certificate)
            .bind(at.unix_timestamp()).execute(pool).await?; });
        Ok(())
    }

    async fn last_recipient_certificate(&self, recipient: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = on_backend!(self, pool =>
            sqlx::query_as(LAST_RECIPIENT_CERTIFICATE).bind(recipient).fetch_optional(pool).await?);
        Ok(row.map(|(der,)| der))
    }

    async fn remember_agency_route(
        &self,
        agency: &str,
        route: &AgencyRoute,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (mailbox, unrouted) = match route {
            AgencyRoute::Mailbox(mailbox) => (Some(mailbox), None),
            AgencyRoute::Unrouted(reason) => (None, Some(reason)),
        };
        on_backend!(self, pool => { sqlx::query(REMEMBER_AGENCY_ROUTE).bind(agency).bind(mailbox).bind(unrouted)
            .bind(at.unix_timestamp()).execute(pool).await?; });
        Ok(())
    }

    async fn last_agency_route(&self, agency: &str) -> Result<Option<AgencyRoute>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> = on_backend!(self, pool =>
            sqlx::query_as(LAST_AGENCY_ROUTE).bind(agency).fetch_optional(pool).await?);
        match row {
            None => Ok(None),
            Some((Some(mailbox), None)) => Ok(Some(AgencyRoute::Mailbox(mailbox))),
            Some((None, Some(reason))) => Ok(Some(AgencyRoute::Unrouted(reason))),
            Some(_) => Err(StoreError::Corrupt(format!("the route kept for agency {agency}"))),
        }
    }

    async fn is_frozen(&self, document_id: &str) -> Result<bool, StoreError> {
        let (count,): (i64,) =
            on_backend!(self, pool => sqlx::query_as(FROZEN).bind(document_id).fetch_one(pool).await?);
        Ok(count > 0)
    }

    async fn is_destroyed(&self, sender: &str, document_id: &str, recipient: &str) -> Result<bool, StoreError> {
        let (destroyed, live): (bool, bool) = match self {
            Store::Sqlite(sqlite) => {
                let args = [sender, document_id, recipient].map(str::to_owned);
                let read = move |c: &rusqlite::Connection| {
                    let [sender, document_id, recipient] = &args;
                    embedded::query_one(c, DESTROYED, &[sender, document_id, recipient], |r| Ok((r.get(0)?, r.get(1)?)))
                };
                sqlite
                    .embedded
                    .read(read)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("an EXISTS query returned no row".into()))?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(DESTROYED).bind(sender).bind(document_id).bind(recipient).fetch_one(pool).await?
            }
        };
        // The document sent again after its recall (a new package, received since) lives again.
        Ok(destroyed && !live)
    }

    async fn latest_change(
        &self,
        sender: &str,
        document_id: &str,
        recipient: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_backend!(self, pool => sqlx::query_as(LATEST_CHANGE).bind(sender)
            .bind(document_id).bind(recipient).fetch_optional(pool).await?);
        Ok(row.map(|(package_id,)| package_id))
    }

    async fn acknowledge_incoming(
        &self,
        package_id: &str,
        recipient: &str,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let held: Option<(String, String, String)> =
                sqlx::query_as(INBOX_FACTS).bind(package_id).bind(recipient).fetch_optional(&mut *tx).await?;
            let Some((kind, sender, sha256)) = held else {
                return Err(StoreError::UnknownPackage(package_id.to_owned()));
            };
            let details =
                json!({"package": package_id, "kind": kind, "from": sender, "to": recipient, "sha256": sha256});
            let entry = PendingEntry::new(actor, "package.acknowledged", details, at);
            let changed = sqlx::query(ACKNOWLEDGE_COPY).bind(at.unix_timestamp()).bind(package_id).bind(recipient)
                .execute(&mut *tx).await?;
            if changed.rows_affected() == 0 {
                return Ok(());
            }
            sqlx::query(INSERT_INBOX_EVENT).bind(package_id).bind("acknowledged").bind(actor).bind(at.unix_timestamp())
                .bind(recipient).execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn record_intake_failure(
        &self,
        failure: &FailedIntake,
        at: OffsetDateTime,
        retry_at: OffsetDateTime,
    ) -> Result<IntakeFailures, StoreError> {
        let f = failure;
        let row: IntakeFailureRow = on_backend!(self, pool => sqlx::query_as::<_, IntakeFailureRow>(RECORD_INTAKE_FAILURE)
            .bind(&f.package_id).bind(&f.recipient).bind(f.hub_delivery).bind(at.unix_timestamp())
            .bind(retry_at.unix_timestamp()).bind(&f.error).fetch_one(pool).await?);
        Ok(intake_failures(row))
    }

    async fn intake_failures(&self, package_id: &str, recipient: &str) -> Result<Option<IntakeFailures>, StoreError> {
        let row: Option<IntakeFailureRow> = match self {
            Store::Sqlite(sqlite) => {
                let (package_id, recipient) = (package_id.to_owned(), recipient.to_owned());
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_one(c, INTAKE_FAILURES, &[&package_id, &recipient], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(INTAKE_FAILURES).bind(package_id).bind(recipient).fetch_optional(pool).await?
            }
        };
        Ok(row.map(intake_failures))
    }

    async fn record_refusal(&self, package: &RefusedPackage, at: OffsetDateTime) -> Result<bool, StoreError> {
        let p = package;
        let details = json!({
            "package": p.package_id, "kind": p.kind.as_str(), "from": p.sender, "to": p.recipient,
            "sha256": p.sealed_sha256, "reason": p.reason, "delivery": p.hub_delivery,
        });
        let entry = PendingEntry::new("gateway", "package.refused", details, at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let held: Option<(i64,)> =
                sqlx::query_as(REFUSED).bind(&p.package_id).bind(&p.recipient).fetch_optional(&mut *tx).await?;
            if held.is_some() {
                return Ok(false);
            }
            sqlx::query(INSERT_REFUSAL)
                .bind(&p.package_id).bind(p.hub_delivery).bind(p.kind.as_str()).bind(&p.sender).bind(&p.recipient)
                .bind(&p.sealed_sha256).bind(&p.reason).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(true)
    }
}
