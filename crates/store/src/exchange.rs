//! The hub's records: agencies and the mailboxes serving them, sealed packages held for delivery
//! (only their outer envelope: identifiers, sizes, hashes), and each recipient's delivery state as
//! appended events. Accepting a package is idempotent on its id; acknowledging is idempotent too,
//! so a retried call after a crash changes nothing twice. Each delivery carries its receipt
//! deadline (given when it is queued) and when it was settled; retention marks a package purged
//! once its content is removed, keeping the row and the history.

use std::fmt;

use time::OffsetDateTime;

use crate::{ExchangeStore, Store, StoreError, embedded};

/// What a package carries, as far as routing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// A document package (new, recall, update, replace).
    Document,
    /// A status package (01–06, 13, 15, 16).
    Status,
}

impl PackageKind {
    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Document => "document",
            Self::Status => "status",
        }
    }

    /// Parses a kind name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "document" => Some(Self::Document),
            "status" => Some(Self::Status),
            _ => None,
        }
    }
}

impl fmt::Display for PackageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the hub knows of a package: never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterEnvelope {
    /// The package id (chosen by the sender, unique).
    pub id: String,
    /// The sending agency's code.
    pub sender: String,
    /// Document or status.
    pub kind: PackageKind,
    /// Size of the sealed blob, in bytes.
    pub size: i64,
    /// SHA-256 of the sealed blob, lowercase hexadecimal.
    pub sha256: String,
    /// The blob's name in the blob store.
    pub blob: String,
}

/// Where one recipient's copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The recipient agency's code.
    pub recipient: String,
    /// The mailbox that collects for it (its gateway, its parent's, or the hub's SDK mailbox).
    pub mailbox: String,
}

/// Whether [`ExchangeStore::accept`] stored something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now.
    Stored,
    /// Already held, identical: nothing changed.
    Duplicate,
}

/// Where one recipient's copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its mailbox to collect and acknowledge it.
    Queued,
    /// The recipient's side stored it durably.
    Acknowledged,
    /// The recipient's side refused it (with a reason).
    Refused,
}

impl DeliveryState {
    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Acknowledged => "acknowledged",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "queued" => Ok(Self::Queued),
            "acknowledged" => Ok(Self::Acknowledged),
            "refused" => Ok(Self::Refused),
            other => Err(StoreError::Corrupt(format!("delivery state {other:?}"))),
        }
    }
}

/// One recipient's copy of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The delivery's number (a mailbox's cursor).
    pub id: i64,
    /// The package.
    pub package: OuterEnvelope,
    /// The recipient agency.
    pub recipient: String,
    /// The mailbox collecting it.
    pub mailbox: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the hub received the package and queued this copy (Unix seconds).
    pub received_at: i64,
    /// The receipt deadline (Unix seconds): settled after it is late, waiting after it overdue.
    pub due_at: i64,
    /// When it was acknowledged or refused (Unix seconds).
    pub settled_at: Option<i64>,
    /// When retention removed the package's content (Unix seconds); the records stay.
    pub purged_at: Option<i64>,
}

impl DeliveryRecord {
    /// Whether it was acknowledged or refused after its deadline.
    pub fn late(&self) -> bool {
        self.settled_at.is_some_and(|at| at > self.due_at)
    }

    /// Whether it is still waiting at `now` although its deadline has passed.
    pub fn overdue(&self, now: OffsetDateTime) -> bool {
        self.state == DeliveryState::Queued && now.unix_timestamp() > self.due_at
    }

    /// How long past its deadline it is at `now` while still waiting (zero if it is not
    /// overdue).
    pub fn overdue_seconds(&self, now: OffsetDateTime) -> i64 {
        if self.overdue(now) { now.unix_timestamp() - self.due_at } else { 0 }
    }
}

/// A package whose content retention has just marked for removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedPackage {
    /// The package id.
    pub id: String,
    /// The blob holding its sealed content (other packages with the same bytes may name it too).
    pub blob: String,
}

/// An agency as the hub's registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyRecord {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The agency above it, if any.
    pub parent: Option<String>,
    /// The mailbox serving it directly (`None`: served through its parent's).
    pub mailbox: Option<String>,
}

row_type! {
/// The columns of [`SELECT_DELIVERIES`], in order.
struct DeliveryRow {
    id: i64,
    package_id: String,
    recipient: String,
    mailbox: String,
    state: String,
    due_at: i64,
    settled_at: Option<i64>,
    sender: String,
    size: i64,
    sha256: String,
    blob: String,
    kind: String,
    received_at: i64,
    purged_at: Option<i64>,
}
}

const UPSERT_AGENCY: &str = "INSERT INTO ex_agencies (code, name, parent, mailbox, created_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, mailbox = excluded.mailbox";
const AGENCY: &str = "SELECT code, name, parent, mailbox FROM ex_agencies WHERE code = $1";
const AGENCIES: &str = "SELECT code, name, parent, mailbox FROM ex_agencies ORDER BY code";
const UPSERT_MAILBOX: &str = "INSERT INTO ex_mailboxes (id, certificate, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET certificate = excluded.certificate, updated_at = excluded.updated_at";
const MAILBOX_CERTIFICATE: &str = "SELECT certificate FROM ex_mailboxes WHERE id = $1";
const PACKAGE: &str = "SELECT sender, kind, size, sha256 FROM ex_packages WHERE id = $1";
const INSERT_PACKAGE: &str = "INSERT INTO ex_packages (id, sender, kind, size, sha256, blob, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";
const INSERT_DELIVERY: &str = "INSERT INTO ex_deliveries (package_id, recipient, mailbox, state, due_at) \
     VALUES ($1, $2, $3, 'queued', $4) RETURNING id";
const INSERT_DELIVERY_EVENT: &str =
    "INSERT INTO ex_delivery_events (delivery_id, event, note, at) VALUES ($1, $2, $3, $4)";
const SELECT_DELIVERIES: &str = "SELECT d.id, d.package_id, d.recipient, d.mailbox, d.state, d.due_at, d.settled_at, \
     p.sender, p.size, p.sha256, p.blob, p.kind, p.received_at, p.purged_at \
     FROM ex_deliveries d JOIN ex_packages p ON p.id = d.package_id";
const DELIVERY_STATE: &str = "SELECT state FROM ex_deliveries WHERE id = $1 AND mailbox = $2";
const SETTLE_QUEUED: &str =
    "UPDATE ex_deliveries SET state = $1, settled_at = $4 WHERE id = $2 AND mailbox = $3 AND state = 'queued'";
/// Marks up to `$3` packages purged at `$1` (oldest first) whose every delivery was settled
/// before `$2`. A package with a delivery still waiting, or settled at an unknown time, is never
/// chosen; the condition on `purged_at` lets concurrent hubs each take a package once.
const MARK_PURGED: &str = "UPDATE ex_packages SET purged_at = $1 WHERE purged_at IS NULL AND id IN (\
     SELECT p.id FROM ex_packages p WHERE p.purged_at IS NULL AND p.received_at < $2 \
     AND EXISTS (SELECT 1 FROM ex_deliveries d WHERE d.package_id = p.id) \
     AND NOT EXISTS (SELECT 1 FROM ex_deliveries d WHERE d.package_id = p.id \
         AND (d.state = 'queued' OR d.settled_at IS NULL OR d.settled_at >= $2)) \
     ORDER BY p.received_at, p.id LIMIT $3) RETURNING id, blob";
const BLOB_HELD: &str = "SELECT 1 FROM ex_packages WHERE blob = $1 AND purged_at IS NULL LIMIT 1";

fn delivery(row: DeliveryRow) -> Result<DeliveryRecord, StoreError> {
    let kind =
        PackageKind::parse(&row.kind).ok_or_else(|| StoreError::Corrupt(format!("package kind {:?}", row.kind)))?;
    Ok(DeliveryRecord {
        id: row.id,
        package: OuterEnvelope {
            id: row.package_id,
            sender: row.sender,
            kind,
            size: row.size,
            sha256: row.sha256,
            blob: row.blob,
        },
        recipient: row.recipient,
        mailbox: row.mailbox,
        state: DeliveryState::parse(&row.state)?,
        received_at: row.received_at,
        due_at: row.due_at,
        settled_at: row.settled_at,
        purged_at: row.purged_at,
    })
}

/// What accepting a package whose id is already held answers: the same package is a duplicate,
/// anything different a conflict.
fn duplicate_or_conflict(
    e: &OuterEnvelope,
    held: Option<(String, String, i64, String)>,
) -> Result<Accepted, StoreError> {
    match held {
        Some((sender, kind, size, sha256))
            if (sender.as_str(), kind.as_str(), size, sha256.as_str())
                == (e.sender.as_str(), e.kind.as_str(), e.size, e.sha256.as_str()) =>
        {
            Ok(Accepted::Duplicate)
        }
        _ => Err(StoreError::PackageConflict(e.id.clone())),
    }
}

/// What acknowledging delivery `id`, no longer queued, answers from its `state`: acknowledged
/// before is fine, refused before or unknown is not.
fn acknowledged_before(id: i64, state: Option<String>) -> Result<Result<(), StoreError>, StoreError> {
    Ok(match state {
        None => Err(StoreError::UnknownDelivery(id)),
        Some(state) => match DeliveryState::parse(&state)? {
            DeliveryState::Acknowledged => Ok(()),
            other => Err(StoreError::DeliverySettled { id, state: other.as_str() }),
        },
    })
}

/// [`ExchangeStore::accept`] on the SQLite writer, with the same statements as on PostgreSQL
/// (the writer's group transaction already holds the write lock).
fn accept_embedded(
    c: &rusqlite::Connection,
    e: &OuterEnvelope,
    routes: &[Route],
    at: i64,
    due: i64,
) -> Result<Accepted, StoreError> {
    let inserted =
        embedded::execute(c, INSERT_PACKAGE, &[&e.id, &e.sender, &e.kind.as_str(), &e.size, &e.sha256, &e.blob, &at])?;
    if inserted == 0 {
        let held = embedded::query_one(c, PACKAGE, &[&e.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        return duplicate_or_conflict(e, held);
    }
    for route in routes {
        let id: i64 =
            embedded::query_one(c, INSERT_DELIVERY, &[&e.id, &route.recipient, &route.mailbox, &due], |r| r.get(0))?
                .ok_or_else(|| StoreError::Corrupt("a delivery inserted returned no id".into()))?;
        embedded::execute(c, INSERT_DELIVERY_EVENT, &[&id, &"queued", &None::<String>, &at])?;
    }
    Ok(Accepted::Stored)
}

/// [`ExchangeStore::acknowledge`] on the SQLite writer.
fn acknowledge_embedded(
    c: &rusqlite::Connection,
    ids: &[i64],
    mailbox: &str,
    at: i64,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let acknowledged = DeliveryState::Acknowledged.as_str();
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        if embedded::execute(c, SETTLE_QUEUED, &[&acknowledged, &id, &mailbox, &at])? > 0 {
            embedded::execute(c, INSERT_DELIVERY_EVENT, &[&id, &acknowledged, &None::<String>, &at])?;
            outcomes.push(Ok(()));
            continue;
        }
        let state = embedded::query_one(c, DELIVERY_STATE, &[&id, &mailbox], |r| r.get(0))?;
        outcomes.push(acknowledged_before(id, state)?);
    }
    Ok(outcomes)
}

impl ExchangeStore for Store {
    async fn put_agency(&self, agency: &AgencyRecord, at: OffsetDateTime) -> Result<(), StoreError> {
        let a = agency;
        on_backend!(self, pool => sqlx::query(UPSERT_AGENCY)
            .bind(&a.code).bind(&a.name).bind(&a.parent).bind(&a.mailbox).bind(at.unix_timestamp())
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    async fn agency(&self, code: &str) -> Result<Option<AgencyRecord>, StoreError> {
        let row: Option<(String, String, Option<String>, Option<String>)> =
            on_backend!(self, pool => sqlx::query_as(AGENCY).bind(code).fetch_optional(pool).await?);
        Ok(row.map(|(code, name, parent, mailbox)| AgencyRecord { code, name, parent, mailbox }))
    }

    async fn agencies(&self) -> Result<Vec<AgencyRecord>, StoreError> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> =
            on_backend!(self, pool => sqlx::query_as(AGENCIES).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(code, name, parent, mailbox)| AgencyRecord { code, name, parent, mailbox }).collect())
    }

    async fn put_mailbox(&self, id: &str, certificate_der: &[u8], at: OffsetDateTime) -> Result<(), StoreError> {
        on_backend!(self, pool => sqlx::query(UPSERT_MAILBOX)
            .bind(id).bind(certificate_der).bind(at.unix_timestamp())
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    async fn mailbox_certificate(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            on_backend!(self, pool => sqlx::query_as(MAILBOX_CERTIFICATE).bind(id).fetch_optional(pool).await?);
        Ok(row.map(|(der,)| der))
    }

    async fn accept(
        &self,
        envelope: &OuterEnvelope,
        routes: &[Route],
        at: OffsetDateTime,
        receipt_due: OffsetDateTime,
    ) -> Result<Accepted, StoreError> {
        let e = envelope;
        let at = at.unix_timestamp();
        let due = receipt_due.unix_timestamp();
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let (e, routes) = (e.clone(), routes.to_vec());
                return sqlite.embedded.write(move |c| accept_embedded(c, &e, &routes, at, due)).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut tx = pool.begin().await?;
        let inserted = sqlx::query(INSERT_PACKAGE)
            .bind(&e.id)
            .bind(&e.sender)
            .bind(e.kind.as_str())
            .bind(e.size)
            .bind(&e.sha256)
            .bind(&e.blob)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 0 {
            let held: Option<(String, String, i64, String)> =
                sqlx::query_as(PACKAGE).bind(&e.id).fetch_optional(&mut *tx).await?;
            return duplicate_or_conflict(e, held);
        }
        for route in routes {
            let (id,): (i64,) = sqlx::query_as(INSERT_DELIVERY)
                .bind(&e.id)
                .bind(&route.recipient)
                .bind(&route.mailbox)
                .bind(due)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(INSERT_DELIVERY_EVENT)
                .bind(id)
                .bind("queued")
                .bind(None::<String>)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Accepted::Stored)
    }

    async fn pending(&self, mailbox: &str, after: i64, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "{SELECT_DELIVERIES} WHERE d.mailbox = $1 AND d.state = 'queued' AND d.id > $2 ORDER BY d.id LIMIT $3"
        );
        let limit = i64::from(limit);
        let rows: Vec<DeliveryRow> = match self {
            Store::Sqlite(sqlite) => {
                let mailbox = mailbox.to_owned();
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_all(c, &sql, &[&mailbox, &after, &limit], DeliveryRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(mailbox).bind(after).bind(limit).fetch_all(pool).await?
            }
        };
        rows.into_iter().map(delivery).collect()
    }

    async fn settle(
        &self,
        delivery_id: i64,
        mailbox: &str,
        outcome: DeliveryState,
        note: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if outcome == DeliveryState::Queued {
            return Err(StoreError::Corrupt("a delivery is settled as acknowledged or refused".into()));
        }
        // The conditional update comes first, for the same reason as in `accept`.
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(SETTLE_QUEUED)
                .bind(outcome.as_str()).bind(delivery_id).bind(mailbox).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            if changed.rows_affected() == 0 {
                let state: Option<(String,)> =
                    sqlx::query_as(DELIVERY_STATE).bind(delivery_id).bind(mailbox).fetch_optional(&mut *tx).await?;
                let Some((state,)) = state else {
                    return Err(StoreError::UnknownDelivery(delivery_id));
                };
                let state = DeliveryState::parse(&state)?;
                return if state == outcome {
                    Ok(())
                } else {
                    Err(StoreError::DeliverySettled { id: delivery_id, state: state.as_str() })
                };
            }
            sqlx::query(INSERT_DELIVERY_EVENT).bind(delivery_id).bind(outcome.as_str()).bind(note).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn acknowledge(
        &self,
        delivery_ids: &[i64],
        mailbox: &str,
        at: OffsetDateTime,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let acknowledged = DeliveryState::Acknowledged.as_str();
        let at = at.unix_timestamp();
        let pool = match self {
            Store::Sqlite(sqlite) => {
                let (ids, mailbox) = (delivery_ids.to_vec(), mailbox.to_owned());
                return sqlite.embedded.write(move |c| acknowledge_embedded(c, &ids, &mailbox, at)).await;
            }
            Store::Postgres(pool) => pool,
        };
        let mut outcomes = Vec::with_capacity(delivery_ids.len());
        let mut tx = pool.begin().await?;
        for &id in delivery_ids {
            let changed =
                sqlx::query(SETTLE_QUEUED).bind(acknowledged).bind(id).bind(mailbox).bind(at).execute(&mut *tx).await?;
            if changed.rows_affected() > 0 {
                sqlx::query(INSERT_DELIVERY_EVENT)
                    .bind(id)
                    .bind(acknowledged)
                    .bind(None::<String>)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                outcomes.push(Ok(()));
                continue;
            }
            let state: Option<(String,)> =
                sqlx::query_as(DELIVERY_STATE).bind(id).bind(mailbox).fetch_optional(&mut *tx).await?;
            outcomes.push(acknowledged_before(id, state.map(|(state,)| state))?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn deliveries(&self, package_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!("{SELECT_DELIVERIES} WHERE d.package_id = $1 ORDER BY d.id");
        let rows: Vec<DeliveryRow> = match self {
            Store::Sqlite(sqlite) => {
                let package_id = package_id.to_owned();
                let read = move |c: &rusqlite::Connection| {
                    embedded::query_all(c, &sql, &[&package_id], DeliveryRow::from_embedded)
                };
                sqlite.embedded.read(read).await?
            }
            Store::Postgres(pool) => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(package_id).fetch_all(pool).await?,
        };
        rows.into_iter().map(delivery).collect()
    }

    async fn overdue(&self, now: OffsetDateTime, after: i64, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "{SELECT_DELIVERIES} WHERE d.state = 'queued' AND d.due_at < $1 AND d.id > $2 ORDER BY d.id LIMIT $3"
        );
        let rows: Vec<DeliveryRow> = on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(now.unix_timestamp()).bind(after).bind(i64::from(limit)).fetch_all(pool).await?);
        rows.into_iter().map(delivery).collect()
    }

    async fn mark_purged(
        &self,
        settled_before: OffsetDateTime,
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PurgedPackage>, StoreError> {
        let rows: Vec<(String, String)> = on_backend!(self, pool => sqlx::query_as(MARK_PURGED)
            .bind(at.unix_timestamp()).bind(settled_before.unix_timestamp()).bind(i64::from(limit))
            .fetch_all(pool).await?);
        let mut purged: Vec<PurgedPackage> = rows.into_iter().map(|(id, blob)| PurgedPackage { id, blob }).collect();
        // RETURNING follows no ORDER BY: give the caller the packages in a stable order.
        purged.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(purged)
    }

    async fn blob_held(&self, blob: &str) -> Result<bool, StoreError> {
        let row: Option<(i32,)> =
            on_backend!(self, pool => sqlx::query_as(BLOB_HELD).bind(blob).fetch_optional(pool).await?);
        Ok(row.is_some())
    }
}
