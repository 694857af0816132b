//! The registration side of the authority: accounts with roles, certificate requests and their
//! decisions, and the audit log's reading side. A request's state is its latest appended event.

use std::fmt;
use std::str::FromStr;

use pki::{CertSerial, IssuedCertificate, Profile, RevocationReason};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{AuditEntry, Checkpoint, PendingEntry, audit_append, audit_begin};
use crate::ca::{insert_certificate, issued_entry, revoke_in};
use crate::{AuditStore, RaStore, Store, StoreError};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Submits requests for itself and reads its own.
    Subscriber,
    /// A registration officer of a managing agency: approves or rejects requests of that agency
    /// and its sub-units.
    Officer,
    /// The authority's operator: issues approved requests, revokes, suspends, unblocks.
    Operator,
}

/// A role name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use subscriber, officer or operator")]
pub struct UnknownRole(pub String);

impl Role {
    /// The name used in the API, the command line and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscriber => "subscriber",
            Self::Officer => "officer",
            Self::Operator => "operator",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "subscriber" => Ok(Self::Subscriber),
            "officer" => Ok(Self::Officer),
            "operator" => Ok(Self::Operator),
            _ => Err(UnknownRole(text.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account that may use the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Random identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The agency it acts for (officers and subscribers).
    pub agency: Option<String>,
}

impl Account {
    /// How the audit log names it.
    pub fn actor(&self) -> String {
        format!("account:{} ({}, {})", self.id, self.name, self.role)
    }
}

/// The kind of a certificate request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A first certificate.
    New,
    /// A new certificate for the same subject; the old one stays valid until it expires.
    Renew,
    /// A new certificate with a changed subject (a new position); the old one is revoked as
    /// superseded in the same step.
    Reissue,
}

impl RequestKind {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Renew => "renew",
            Self::Reissue => "reissue",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "new" => Ok(Self::New),
            "renew" => Ok(Self::Renew),
            "reissue" => Ok(Self::Reissue),
            other => Err(StoreError::Corrupt(format!("request kind {other:?}"))),
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for the managing agency's registration officer.
    Submitted,
    /// Approved; waiting for issuance.
    Approved,
    /// Refused (final).
    Rejected,
    /// Issued (final).
    Issued,
}

impl RequestState {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Issued => "issued",
        }
    }

    /// Parses a state name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "submitted" => Some(Self::Submitted),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            "issued" => Some(Self::Issued),
            _ => None,
        }
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as submitted (already checked by the caller).
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Kind.
    pub kind: RequestKind,
    /// Profile.
    pub profile: Profile,
    /// Subject text (`CN=…,T=…,O=…`).
    pub subject: String,
    /// Agency code.
    pub agency: Option<String>,
    /// The key to certify, as a DER SubjectPublicKeyInfo (from the CSR, the generated key, or the
    /// certificate renewed).
    pub public_key: Vec<u8>,
    /// The subscriber's PKCS#10 request (DER), if the key is the subscriber's own.
    pub csr: Option<Vec<u8>>,
    /// A key generated for the subscriber, sealed under the subscriber's passphrase.
    pub sealed_key: Option<String>,
    /// The certificate renewed or re-issued.
    pub replaces: Option<CertSerial>,
    /// The requesting account.
    pub requested_by: String,
}

/// One step in a request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEvent {
    /// The state it led to.
    pub state: RequestState,
    /// Who.
    pub actor: String,
    /// A reason or remark.
    pub note: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// A request as stored, with its history.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Number.
    pub id: i64,
    /// What was asked.
    pub request: NewRequest,
    /// When it was submitted.
    pub created_at: OffsetDateTime,
    /// Every step, oldest first; the last one is the current state.
    pub history: Vec<RequestEvent>,
    /// The certificate issued for it.
    pub serial: Option<CertSerial>,
}

impl RequestRecord {
    /// The current state.
    pub fn state(&self) -> RequestState {
        self.history.last().map_or(RequestState::Submitted, |e| e.state)
    }
}

type RequestRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    String,
    i64,
);
type RequestEventRow = (String, String, Option<String>, Option<String>, i64);
type AccountRow = (String, String, String, Option<String>);
type AuditRow = (i64, i64, String, String, String, String, String);

const INSERT_ACCOUNT: &str =
    "INSERT INTO ca_accounts (id, name, role, agency, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
const ACCOUNT_BY_TOKEN: &str = "SELECT id, name, role, agency FROM ca_accounts WHERE token_hash = $1";
const INSERT_REQUEST: &str = "INSERT INTO ca_requests (kind, profile, subject, agency, public_key, csr, sealed_key, replaces, requested_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
const SELECT_REQUEST: &str = "SELECT id, kind, profile, subject, agency, public_key, csr, sealed_key, replaces, requested_by, created_at \
     FROM ca_requests WHERE id = $1";
const SELECT_REQUESTS: &str = "SELECT id, kind, profile, subject, agency, public_key, csr, sealed_key, replaces, requested_by, created_at \
     FROM ca_requests ORDER BY id DESC LIMIT $1";
const REQUEST_EVENTS: &str =
    "SELECT event, actor, note, serial, at FROM ca_request_events WHERE request_id = $1 ORDER BY id";
const LAST_REQUEST_EVENT: &str = "SELECT event FROM ca_request_events WHERE request_id = $1 ORDER BY id DESC LIMIT 1";
const INSERT_REQUEST_EVENT: &str =
    "INSERT INTO ca_request_events (request_id, event, actor, note, serial, at) VALUES ($1, $2, $3, $4, $5, $6)";
const AUDIT_AFTER: &str =
    "SELECT seq, at, actor, action, details, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2";
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (seq, hash, signature, at) VALUES ($1, $2, $3, $4)";
const CHECKPOINTS: &str = "SELECT seq, hash, signature, at FROM audit_checkpoints ORDER BY seq";
const CHECKPOINTS_IN: &str =
    "SELECT seq, hash, signature, at FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq";
const LAST_CHECKPOINT: &str = "SELECT seq, hash, signature, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";

fn time(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn account(row: AccountRow) -> Result<Account, StoreError> {
    let (id, name, role, agency) = row;
    let role = role.parse().map_err(|e: UnknownRole| StoreError::Corrupt(e.to_string()))?;
    Ok(Account { id, name, role, agency })
}

fn request_record(row: RequestRow, events: Vec<RequestEventRow>) -> Result<RequestRecord, StoreError> {
    let (id, kind, profile, subject, agency, public_key, csr, sealed_key, replaces, requested_by, created_at) = row;
    let corrupt = |what: String| StoreError::Corrupt(what);
    let mut serial = None;
    let mut history = Vec::with_capacity(events.len());
    for (event, actor, note, issued, at) in events {
        let state = RequestState::parse(&event).ok_or_else(|| corrupt(format!("request event {event:?}")))?;
        if let Some(hex) = issued {
            serial = Some(CertSerial::from_hex(&hex).map_err(|e| corrupt(e.to_string()))?);
        }
        history.push(RequestEvent { state, actor, note, at: time(at)? });
    }
    let request = NewRequest {
        kind: RequestKind::parse(&kind)?,
        profile: profile.parse().map_err(|e: pki::UnknownProfile| corrupt(e.to_string()))?,
        subject,
        agency,
        public_key,
        csr,
        sealed_key,
        replaces: replaces.map(|hex| CertSerial::from_hex(&hex)).transpose().map_err(|e| corrupt(e.to_string()))?,
        requested_by,
    };
    Ok(RequestRecord { id, request, created_at: time(created_at)?, history, serial })
}

/// Fails unless the request exists and its latest event is `expected`.
macro_rules! expect_state {
    ($tx:expr, $id:expr, $expected:expr) => {{
        let id: i64 = $id;
        let last: Option<(String,)> = sqlx::query_as(LAST_REQUEST_EVENT).bind(id).fetch_optional(&mut *$tx).await?;
        let Some((last,)) = last else {
            return Err(StoreError::UnknownRequest(id));
        };
        let state = RequestState::parse(&last).ok_or_else(|| StoreError::Corrupt(format!("request event {last:?}")))?;
        if state != $expected {
            return Err(StoreError::WrongState { id, state, expected: $expected });
        }
    }};
}

impl RaStore for Store {
    async fn add_account(
        &self,
        name: &str,
        role: Role,
        agency: Option<&str>,
        token_hash: &str,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        let id: String = CertSerial::random().to_hex().to_ascii_lowercase().chars().take(16).collect();
        let entry = PendingEntry::new(
            actor,
            "account.created",
            json!({"id": id, "name": name, "role": role.as_str(), "agency": agency}),
            at,
        );
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            sqlx::query(INSERT_ACCOUNT)
                .bind(&id).bind(name).bind(role.as_str()).bind(agency).bind(token_hash).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(Account { id, name: name.to_owned(), role, agency: agency.map(str::to_owned) })
    }

    async fn account_by_token(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> =
            on_backend!(self, pool => sqlx::query_as(ACCOUNT_BY_TOKEN).bind(token_hash).fetch_optional(pool).await?);
        row.map(account).transpose()
    }

    async fn submit(&self, request: &NewRequest, actor: &str, at: OffsetDateTime) -> Result<i64, StoreError> {
        let r = request;
        let replaces = r.replaces.as_ref().map(CertSerial::to_hex);
        let id = on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let (id,): (i64,) = sqlx::query_as(INSERT_REQUEST)
                .bind(r.kind.as_str()).bind(r.profile.as_str()).bind(&r.subject).bind(&r.agency)
                .bind(&r.public_key).bind(&r.csr).bind(&r.sealed_key).bind(&replaces).bind(&r.requested_by).bind(at.unix_timestamp())
                .fetch_one(&mut *tx).await?;
            sqlx::query(INSERT_REQUEST_EVENT)
                .bind(id).bind(RequestState::Submitted.as_str()).bind(actor).bind(None::<String>).bind(None::<String>)
                .bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            let details = json!({
                "request": id, "kind": r.kind.as_str(), "profile": r.profile.as_str(), "subject": r.subject,
                "agency": r.agency, "replaces": replaces, "key": if r.csr.is_some() { "csr" } else { "generated" },
            });
            audit_append!(tx, seq, &PendingEntry::new(actor, "request.submitted", details, at));
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    async fn request(&self, id: i64) -> Result<Option<RequestRecord>, StoreError> {
        let (row, events) = on_backend!(self, pool => {
            let row: Option<RequestRow> = sqlx::query_as(SELECT_REQUEST).bind(id).fetch_optional(pool).await?;
            let events: Vec<RequestEventRow> = sqlx::query_as(REQUEST_EVENTS).bind(id).fetch_all(pool).await?;
            (row, events)
        });
        row.map(|row| request_record(row, events)).transpose()
    }

    async fn requests(&self, limit: u32) -> Result<Vec<RequestRecord>, StoreError> {
        let rows: Vec<RequestRow> =
            on_backend!(self, pool => sqlx::query_as(SELECT_REQUESTS).bind(i64::from(limit)).fetch_all(pool).await?);
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let events: Vec<RequestEventRow> =
                on_backend!(self, pool => sqlx::query_as(REQUEST_EVENTS).bind(row.0).fetch_all(pool).await?);
            records.push(request_record(row, events)?);
        }
        Ok(records)
    }

    async fn decide(
        &self,
        id: i64,
        decision: RequestState,
        note: Option<&str>,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if !matches!(decision, RequestState::Approved | RequestState::Rejected) {
            return Err(StoreError::Corrupt(format!("{decision} is not a decision")));
        }
        let action = if decision == RequestState::Approved { "request.approved" } else { "request.rejected" };
        let entry = PendingEntry::new(actor, action, json!({"request": id, "note": note}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            expect_state!(tx, id, RequestState::Submitted);
            sqlx::query(INSERT_REQUEST_EVENT)
                .bind(id).bind(decision.as_str()).bind(actor).bind(note).bind(None::<String>).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn record_request_issued(
        &self,
        id: i64,
        certificate: &IssuedCertificate,
        supersedes: Option<&CertSerial>,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let c = certificate;
        let serial = c.serial.to_hex();
        let issued = issued_entry(c, actor, at);
        let old = supersedes.map(CertSerial::to_hex);
        let superseded = old.as_ref().map(|old| {
            PendingEntry::new(
                actor,
                "certificate.revoked",
                json!({"serial": old, "reason": RevocationReason::Superseded.as_str(), "by": serial}),
                at,
            )
        });
        let done = PendingEntry::new(actor, "request.issued", json!({"request": id, "serial": serial}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            expect_state!(tx, id, RequestState::Approved);
            insert_certificate!(tx, c, at);
            sqlx::query(INSERT_REQUEST_EVENT)
                .bind(id).bind(RequestState::Issued.as_str()).bind(actor).bind(None::<String>).bind(&serial)
                .bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &issued);
            if let (Some(old), Some(entry)) = (&old, &superseded) {
                revoke_in!(tx, old, RevocationReason::Superseded, at);
                let seq = audit_begin!(tx);
                audit_append!(tx, seq, entry);
            }
            let seq = audit_begin!(tx);
            audit_append!(tx, seq, &done);
            tx.commit().await?;
        });
        Ok(())
    }
}

impl AuditStore for Store {
    async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_backend!(self, pool => sqlx::query_as(AUDIT_AFTER)
            .bind(after).bind(i64::from(limit)).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(seq, at, actor, action, details, prev_hash, hash)| AuditEntry {
                seq,
                at,
                actor,
                action,
                details,
                prev_hash,
                hash,
            })
            .collect())
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(on_backend!(self, pool => sqlx::query_as(AUDIT_HEAD).fetch_optional(pool).await?))
    }

    async fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let c = checkpoint;
        on_backend!(self, pool => sqlx::query(INSERT_CHECKPOINT)
            .bind(c.seq).bind(&c.hash).bind(&c.signature).bind(c.at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = on_backend!(self, pool => sqlx::query_as(CHECKPOINTS).fetch_all(pool).await?);
        Ok(rows.into_iter().map(checkpoint).collect())
    }

    async fn checkpoints_in(&self, after: i64, through: i64) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = on_backend!(self, pool => sqlx::query_as(CHECKPOINTS_IN)
            .bind(after).bind(through).fetch_all(pool).await?);
        Ok(rows.into_iter().map(checkpoint).collect())
    }

    async fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<CheckpointRow> =
            on_backend!(self, pool => sqlx::query_as(LAST_CHECKPOINT).fetch_optional(pool).await?);
        Ok(row.map(checkpoint))
    }
}

type CheckpointRow = (i64, String, Vec<u8>, i64);

fn checkpoint((seq, hash, signature, at): CheckpointRow) -> Checkpoint {
    Checkpoint { seq, hash, signature, at }
}
