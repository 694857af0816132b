//! The audit log: every change the authority makes is appended, in the same transaction as the
//! change, to a hash chain. Each entry's hash covers the previous entry's hash and every field of
//! its own, so editing, inserting or deleting an entry breaks the chain from there on. Signed
//! checkpoints ("the chain up to `seq` ends in `hash`") make a rewrite of the whole tail
//! detectable too.

use aws_lc_rs::digest;
use time::OffsetDateTime;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who: `account:ID (name)`, or `cli` for the operator at the authority's console.
    pub actor: String,
    /// What, e.g. `certificate.revoked`.
    pub action: String,
    /// The facts, as a JSON object.
    pub details: String,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry should carry, recomputed from its fields.
    pub fn expected_hash(&self) -> String {
        chain_hash(&self.prev_hash, self.seq, self.at, &self.actor, &self.action, &self.details)
    }
}

/// A signed statement that the chain up to `seq` ends in `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last entry covered.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// The authority's signature over [`Checkpoint::statement`].
    pub signature: Vec<u8>,
    /// When it was signed (Unix seconds).
    pub at: i64,
}

impl Checkpoint {
    /// What is signed: text, so it can never be read as a certificate or CRL.
    pub fn statement(seq: i64, hash: &str, at: i64) -> String {
        format!("lienthong audit checkpoint v1\nseq={seq}\nhash={hash}\nat={at}\n")
    }
}

/// What a change appends: who did what, with which facts.
#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub(crate) at: i64,
    pub(crate) actor: String,
    pub(crate) action: &'static str,
    pub(crate) details: String,
}

impl PendingEntry {
    pub(crate) fn new(actor: &str, action: &'static str, details: serde_json::Value, at: OffsetDateTime) -> Self {
        Self { at: at.unix_timestamp(), actor: actor.to_owned(), action, details: details.to_string() }
    }
}

/// SHA-256 over the previous hash and each field, every field length-prefixed so no two
/// different entries encode alike.
pub fn chain_hash(prev_hash: &str, seq: i64, at: i64, actor: &str, action: &str, details: &str) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    let seq = seq.to_string();
    let at = at.to_string();
    for field in [prev_hash, &seq, &at, actor, action, details] {
        context.update(&(field.len() as u64).to_be_bytes());
        context.update(field.as_bytes());
    }
    context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) const NEXT_AUDIT_SEQ: &str =
    "UPDATE ca_counters SET value = value + 1 WHERE name = 'audit_seq' RETURNING value";
pub(crate) const PREVIOUS_HASH: &str = "SELECT hash FROM audit_log WHERE seq = $1";
pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (seq, at, actor, action, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Takes the next audit position as the transaction's first statement: its write lock
/// serialises every change to the authority (SQLite and PostgreSQL alike).
macro_rules! audit_begin {
    ($tx:expr) => {{
        let (seq,): (i64,) = sqlx::query_as($crate::audit::NEXT_AUDIT_SEQ).fetch_one(&mut *$tx).await?;
        seq
    }};
}

/// Appends `entry` at `seq` (from [`audit_begin!`]), chained to the entry before it.
macro_rules! audit_append {
    ($tx:expr, $seq:expr, $entry:expr) => {{
        let seq: i64 = $seq;
        let entry: &$crate::audit::PendingEntry = $entry;
        let prev: Option<(String,)> =
            sqlx::query_as($crate::audit::PREVIOUS_HASH).bind(seq - 1).fetch_optional(&mut *$tx).await?;
        let prev = prev.map_or_else(|| $crate::audit::GENESIS.to_owned(), |(hash,)| hash);
        let hash = $crate::audit::chain_hash(&prev, seq, entry.at, &entry.actor, entry.action, &entry.details);
        sqlx::query($crate::audit::INSERT_AUDIT)
            .bind(seq)
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(entry.action)
            .bind(&entry.details)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *$tx)
            .await?;
    }};
}

pub(crate) use {audit_append, audit_begin};

/// Appends `entry` at the next position, chained to the entry before it, on the SQLite writer
/// (whose group transaction already holds the write lock, so the position may be taken last).
pub(crate) fn append_embedded(c: &rusqlite::Connection, entry: &PendingEntry) -> Result<(), crate::StoreError> {
    use crate::embedded::{execute, query_one};
    let seq: i64 = query_one(c, NEXT_AUDIT_SEQ, &[], |r| r.get(0))?
        .ok_or_else(|| crate::StoreError::Corrupt("the audit position counter is missing".into()))?;
    let prev: Option<String> = query_one(c, PREVIOUS_HASH, &[&(seq - 1)], |r| r.get(0))?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let hash = chain_hash(&prev, seq, entry.at, &entry.actor, entry.action, &entry.details);
    execute(c, INSERT_AUDIT, &[&seq, &entry.at, &entry.actor, &entry.action, &entry.details, &prev, &hash])?;
    Ok(())
}
