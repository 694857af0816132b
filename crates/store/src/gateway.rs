//! A gateway's records: its client systems, the durable outbox (held until the hub acknowledges,
//! retried with backoff), and the inbox (each package once, by id). Every package sent or
//! received is also appended to the hash-chained message log (the store's audit chain), in the
//! same transaction.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{PendingEntry, audit_append, audit_begin};
use crate::{GatewayStore, PackageKind, Store, StoreError};

/// A client system of the agency (its document-management system, or the web inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// Random identifier.
    pub id: String,
    /// Display name.
    pub name: String,
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
    /// Whether a client system acknowledged it.
    pub acknowledged: bool,
}

/// Whether [`GatewayStore::receive`] stored something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored now.
    New,
    /// Already in the inbox: nothing changed.
    Duplicate,
}

type OutgoingRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
);
type IncomingRow =
    (i64, String, i64, String, String, String, Option<String>, Option<String>, String, String, i64, i64, i64);

const INSERT_CLIENT: &str = "INSERT INTO gw_clients (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)";
const INSERT_SDK_SYSTEM: &str =
    "INSERT INTO gw_sdk_systems (system_id, client, secret, created_at) VALUES ($1, $2, $3, $4)";
const SDK_SYSTEM: &str = "SELECT client, secret FROM gw_sdk_systems WHERE system_id = $1";
const CLIENT_BY_KEY: &str = "SELECT id, name FROM gw_clients WHERE key_hash = $1";
const OUTGOING_COLUMNS: &str = "id, created_at, package_id, client, client_ref, kind, sender, recipients, document_id, \
     subject, blob, size, sha256, attempts, next_attempt_at, sent_at";
const EXISTING_REF: &str = "SELECT package_id FROM gw_outbox WHERE client = $1 AND client_ref = $2";
const INSERT_OUTGOING: &str = "INSERT INTO gw_outbox (package_id, client, client_ref, kind, sender, recipients, document_id, \
     blob, size, sha256, created_at, attempts, next_attempt_at, subject) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $11, $12)";
const INSERT_OUTBOX_EVENT: &str = "INSERT INTO gw_outbox_events (package_id, event, note, at) VALUES ($1, $2, $3, $4)";
const FAILED: &str =
    "UPDATE gw_outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE package_id = $2 AND sent_at IS NULL";
const SENT: &str = "UPDATE gw_outbox SET sent_at = $1 WHERE package_id = $2 AND sent_at IS NULL";
const INCOMING_COLUMNS: &str = "i.id, i.package_id, i.hub_delivery, i.kind, i.sender, i.recipient, i.document_id, i.subject, \
     i.signer, i.blob, i.size, i.received_at, \
     (SELECT COUNT(*) FROM gw_inbox_events e WHERE e.package_id = i.package_id AND e.event = 'acknowledged')";
const INBOX_HAS: &str = "SELECT id FROM gw_inbox WHERE package_id = $1";
const INSERT_INCOMING: &str = "INSERT INTO gw_inbox (package_id, hub_delivery, kind, sender, recipient, document_id, subject, \
     signer, blob, size, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const INSERT_INBOX_EVENT: &str = "INSERT INTO gw_inbox_events (package_id, event, actor, at) VALUES ($1, $2, $3, $4)";
const ACKNOWLEDGED: &str = "SELECT COUNT(*) FROM gw_inbox_events WHERE package_id = $1 AND event = 'acknowledged'";

fn kind(text: &str) -> Result<PackageKind, StoreError> {
    PackageKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("package kind {text:?}")))
}

fn outgoing(row: OutgoingRow) -> Result<OutgoingRecord, StoreError> {
    let (
        position,
        queued_at,
        package_id,
        client,
        client_ref,
        k,
        sender,
        recipients,
        document_id,
        subject,
        blob,
        size,
        sha256,
        attempts,
        next,
        sent,
    ) = row;
    let package = OutgoingPackage {
        package_id,
        client,
        client_ref,
        kind: kind(&k)?,
        sender,
        recipients: recipients.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        document_id,
        subject,
        blob,
        size,
        sha256,
    };
    Ok(OutgoingRecord { position, queued_at, package, attempts, next_attempt_at: next, sent_at: sent })
}

fn incoming(row: IncomingRow) -> Result<IncomingRecord, StoreError> {
    let (
        id,
        package_id,
        hub_delivery,
        k,
        sender,
        recipient,
        document_id,
        subject,
        signer,
        blob,
        size,
        received_at,
        acks,
    ) = row;
    let package = IncomingPackage {
        package_id,
        hub_delivery,
        kind: kind(&k)?,
        sender,
        recipient,
        document_id,
        subject,
        signer,
        blob,
        size,
    };
    Ok(IncomingRecord { id, package, received_at, acknowledged: acks > 0 })
}

impl GatewayStore for Store {
    async fn add_client(&self, name: &str, key_hash: &str, at: OffsetDateTime) -> Result<ClientRecord, StoreError> {
        let id: String = pki::CertSerial::random().to_hex().to_ascii_lowercase().chars().take(16).collect();
        let entry = PendingEntry::new("cli", "client.created", json!({"id": id, "name": name}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            sqlx::query(INSERT_CLIENT).bind(&id).bind(name).bind(key_hash).bind(at.unix_timestamp()).execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(ClientRecord { id, name: name.to_owned() })
    }

    async fn client_by_key(&self, key_hash: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row: Option<(String, String)> =
            on_backend!(self, pool => sqlx::query_as(CLIENT_BY_KEY).bind(key_hash).fetch_optional(pool).await?);
        Ok(row.map(|(id, name)| ClientRecord { id, name }))
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

    async fn enqueue(&self, package: &OutgoingPackage, at: OffsetDateTime) -> Result<Enqueued, StoreError> {
        let p = package;
        let now = at.unix_timestamp();
        let details = json!({
            "package": p.package_id, "kind": p.kind.as_str(), "from": p.sender, "to": p.recipients,
            "document": p.document_id, "sha256": p.sha256, "size": p.size, "client": p.client,
        });
        let entry = PendingEntry::new(&format!("client:{}", p.client), "package.queued", details, at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let existing: Option<(String,)> =
                sqlx::query_as(EXISTING_REF).bind(&p.client).bind(&p.client_ref).fetch_optional(&mut *tx).await?;
            if let Some((id,)) = existing {
                return Ok(Enqueued::Existing(id));
            }
            sqlx::query(INSERT_OUTGOING)
                .bind(&p.package_id).bind(&p.client).bind(&p.client_ref).bind(p.kind.as_str()).bind(&p.sender)
                .bind(p.recipients.join(",")).bind(&p.document_id).bind(&p.blob).bind(p.size).bind(&p.sha256).bind(now)
                .bind(&p.subject).execute(&mut *tx).await?;
            sqlx::query(INSERT_OUTBOX_EVENT).bind(&p.package_id).bind("queued").bind(None::<String>).bind(now)
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(Enqueued::New)
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
        let row: Option<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(client).bind(client_ref).fetch_optional(pool).await?);
        row.map(outgoing).transpose()
    }

    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(now.unix_timestamp()).bind(i64::from(limit)).fetch_all(pool).await?);
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

    async fn mark_sent(&self, package_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let entry = PendingEntry::new("gateway", "package.sent", json!({"package": package_id}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let changed = sqlx::query(SENT).bind(at.unix_timestamp()).bind(package_id).execute(&mut *tx).await?;
            if changed.rows_affected() == 0 {
                return Ok(());
            }
            sqlx::query(INSERT_OUTBOX_EVENT).bind(package_id).bind("sent").bind(None::<String>).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn receive(&self, package: &IncomingPackage, at: OffsetDateTime) -> Result<Received, StoreError> {
        let p = package;
        let details = json!({
            "package": p.package_id, "kind": p.kind.as_str(), "from": p.sender, "to": p.recipient,
            "document": p.document_id, "signer": p.signer, "size": p.size,
        });
        let entry = PendingEntry::new("gateway", "package.received", details, at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let held: Option<(i64,)> = sqlx::query_as(INBOX_HAS).bind(&p.package_id).fetch_optional(&mut *tx).await?;
            if held.is_some() {
                return Ok(Received::Duplicate);
            }
            sqlx::query(INSERT_INCOMING)
                .bind(&p.package_id).bind(p.hub_delivery).bind(p.kind.as_str()).bind(&p.sender).bind(&p.recipient)
                .bind(&p.document_id).bind(&p.subject).bind(&p.signer).bind(&p.blob).bind(p.size).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            sqlx::query(INSERT_INBOX_EVENT).bind(&p.package_id).bind("arrived").bind("gateway").bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(Received::New)
    }

    async fn inbox(&self, recipient: Option<&str>, after: i64, limit: u32) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.id > $1 AND ($2 IS NULL OR i.recipient = $2) \
             ORDER BY i.id LIMIT $3"
        );
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(after).bind(recipient).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn unacknowledged(&self, kind: PackageKind, limit: u32) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.kind = $1 AND NOT EXISTS \
             (SELECT 1 FROM gw_inbox_events e WHERE e.package_id = i.package_id AND e.event = 'acknowledged') \
             ORDER BY i.id LIMIT $2"
        );
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(kind.as_str()).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn incoming(&self, package_id: &str) -> Result<Option<IncomingRecord>, StoreError> {
        let sql = format!("SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.package_id = $1");
        let row: Option<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(package_id).fetch_optional(pool).await?);
        row.map(incoming).transpose()
    }

    async fn sent(&self, kind: PackageKind, before: i64, limit: u32) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE kind = $1 AND ($2 <= 0 OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(kind.as_str()).bind(before).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(outgoing).collect()
    }

    async fn received(&self, kind: PackageKind, before: i64, limit: u32) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.kind = $1 AND ($2 <= 0 OR i.id < $2) \
             ORDER BY i.id DESC LIMIT $3"
        );
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(kind.as_str()).bind(before).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn statuses_received(&self, document_id: &str, limit: u32) -> Result<Vec<IncomingRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCOMING_COLUMNS} FROM gw_inbox i WHERE i.document_id = $1 AND i.kind = 'status' \
             ORDER BY i.id LIMIT $2"
        );
        let rows: Vec<IncomingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(document_id).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(incoming).collect()
    }

    async fn statuses_sent(&self, document_id: &str, limit: u32) -> Result<Vec<OutgoingRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTGOING_COLUMNS} FROM gw_outbox WHERE document_id = $1 AND kind = 'status' ORDER BY id LIMIT $2"
        );
        let rows: Vec<OutgoingRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(document_id).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(outgoing).collect()
    }

    async fn acknowledge_incoming(&self, package_id: &str, actor: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let entry = PendingEntry::new(actor, "package.acknowledged", json!({"package": package_id}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let held: Option<(i64,)> = sqlx::query_as(INBOX_HAS).bind(package_id).fetch_optional(&mut *tx).await?;
            if held.is_none() {
                return Err(StoreError::UnknownPackage(package_id.to_owned()));
            }
            let (acks,): (i64,) = sqlx::query_as(ACKNOWLEDGED).bind(package_id).fetch_one(&mut *tx).await?;
            if acks > 0 {
                return Ok(());
            }
            sqlx::query(INSERT_INBOX_EVENT).bind(package_id).bind("acknowledged").bind(actor).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }
}
