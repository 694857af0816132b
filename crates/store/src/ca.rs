//! The certification authority's records: issued certificates and their status events.

use pki::{CertSerial, IssuedCertificate, Profile, RevocationReason, RevokedEntry};
use time::OffsetDateTime;

use serde_json::json;

use crate::audit::{PendingEntry, audit_append, audit_begin};
use crate::{CaStore, Store, StoreError};

/// A certificate as stored, with its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Serial.
    pub serial: CertSerial,
    /// Profile issued under.
    pub profile: Profile,
    /// Subject text.
    pub subject: String,
    /// Agency code.
    pub agency: Option<String>,
    /// Validity.
    pub not_before: OffsetDateTime,
    /// Validity.
    pub not_after: OffsetDateTime,
    /// DER.
    pub der: Vec<u8>,
    /// Current status.
    pub status: CertificateStatus,
}

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    /// Valid (as far as revocation goes).
    Good,
    /// Revoked for `reason` at `at`.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When.
        at: OffsetDateTime,
    },
}

type CertificateRow = (String, String, String, Option<String>, i64, i64, Vec<u8>);
pub(crate) type EventRow = (String, i64, i64);

pub(crate) const SELECT_CERTIFICATE: &str =
    "SELECT serial, profile, subject, agency, not_before, not_after, der FROM ca_certificates WHERE serial = $1";
pub(crate) const LAST_EVENT: &str =
    "SELECT event, reason, at FROM ca_status_events WHERE serial = $1 ORDER BY id DESC LIMIT 1";
pub(crate) const INSERT_CERTIFICATE: &str = "INSERT INTO ca_certificates (serial, profile, subject, agency, not_before, not_after, der, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO ca_status_events (serial, event, reason, at) VALUES ($1, $2, $3, $4)";
const REVOKED: &str = "SELECT e.serial, e.reason, e.at FROM ca_status_events e \
     WHERE e.id = (SELECT MAX(id) FROM ca_status_events WHERE serial = e.serial) AND e.event IN ('revoked', 'suspended') \
     ORDER BY e.id";
const STATUS: &str = "SELECT c.serial, e.event, e.reason, e.at FROM ca_certificates c \
     LEFT JOIN ca_status_events e ON e.id = (SELECT MAX(id) FROM ca_status_events WHERE serial = c.serial) \
     WHERE c.serial = $1";
const STATUS_VERSION: &str = "SELECT MAX(id) FROM ca_status_events";
pub(crate) const KNOWN: &str = "SELECT serial FROM ca_certificates WHERE serial = $1";
const NEXT_CRL_NUMBER: &str = "UPDATE ca_counters SET value = value + 1 WHERE name = 'crl_number' RETURNING value";

fn timestamp(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn reason(code: i64) -> Result<RevocationReason, StoreError> {
    u8::try_from(code)
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| StoreError::Corrupt(format!("revocation reason {code}")))
}

fn serial(text: &str) -> Result<CertSerial, StoreError> {
    CertSerial::from_hex(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn record(row: CertificateRow, event: Option<EventRow>) -> Result<CertificateRecord, StoreError> {
    let (serial_hex, profile, subject, agency, not_before, not_after, der) = row;
    let status = match event {
        Some((kind, code, at)) if kind == "revoked" || kind == "suspended" => {
            CertificateStatus::Revoked { reason: reason(code)?, at: timestamp(at)? }
        }
        _ => CertificateStatus::Good,
    };
    Ok(CertificateRecord {
        serial: serial(&serial_hex)?,
        profile: profile.parse().map_err(|e: pki::UnknownProfile| StoreError::Corrupt(e.to_string()))?,
        subject,
        agency,
        not_before: timestamp(not_before)?,
        not_after: timestamp(not_after)?,
        der,
        status,
    })
}

fn revocation_action(reason: RevocationReason) -> &'static str {
    if reason == RevocationReason::CertificateHold { "certificate.suspended" } else { "certificate.revoked" }
}

pub(crate) fn issued_entry(c: &IssuedCertificate, actor: &str, at: OffsetDateTime) -> PendingEntry {
    let details = json!({
        "serial": c.serial.to_hex(),
        "profile": c.profile.as_str(),
        "subject": c.subject,
        "agency": c.agency,
    });
    PendingEntry::new(actor, "certificate.issued", details, at)
}

/// Inserts an issued certificate inside an open transaction.
macro_rules! insert_certificate {
    ($tx:expr, $c:expr, $at:expr) => {{
        let c: &IssuedCertificate = $c;
        let at: OffsetDateTime = $at;
        sqlx::query($crate::ca::INSERT_CERTIFICATE)
            .bind(c.serial.to_hex())
            .bind(c.profile.as_str())
            .bind(&c.subject)
            .bind(&c.agency)
            .bind(c.not_before.unix_timestamp())
            .bind(c.not_after.unix_timestamp())
            .bind(&c.der)
            .bind(at.unix_timestamp())
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Appends a revocation (or suspension) inside an open transaction; refuses an unknown or
/// already revoked certificate by returning early.
macro_rules! revoke_in {
    ($tx:expr, $hex:expr, $why:expr, $at:expr) => {{
        let hex: &String = $hex;
        let why: RevocationReason = $why;
        let known: Option<(String,)> = sqlx::query_as($crate::ca::KNOWN).bind(hex).fetch_optional(&mut *$tx).await?;
        if known.is_none() {
            return Err(StoreError::UnknownCertificate(hex.clone()));
        }
        let last: Option<$crate::ca::EventRow> =
            sqlx::query_as($crate::ca::LAST_EVENT).bind(hex).fetch_optional(&mut *$tx).await?;
        if let Some((_, code, _)) = last.as_ref().filter(|(kind, _, _)| kind == "revoked") {
            return Err(StoreError::AlreadyRevoked { serial: hex.clone(), reason: $crate::ca::reason(*code)? });
        }
        if why == RevocationReason::CertificateHold && matches!(last, Some((ref kind, _, _)) if kind == "suspended") {
            return Err(StoreError::AlreadySuspended(hex.clone()));
        }
        let event = if why == RevocationReason::CertificateHold { "suspended" } else { "revoked" };
        sqlx::query($crate::ca::INSERT_EVENT)
            .bind(hex)
            .bind(event)
            .bind(i64::from(why.code()))
            .bind($at.unix_timestamp())
            .execute(&mut *$tx)
            .await?;
    }};
}

pub(crate) use {insert_certificate, revoke_in};

impl CaStore for Store {
    async fn record_issued(&self, c: &IssuedCertificate, at: OffsetDateTime, actor: &str) -> Result<(), StoreError> {
        let entry = issued_entry(c, actor, at);
        let result: Result<(), sqlx::Error> = on_backend!(self, pool => async {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            insert_certificate!(tx, c, at);
            audit_append!(tx, seq, &entry);
            tx.commit().await
        }.await);
        result.map_err(
            |e| if crate::is_unique_violation(&e) { StoreError::Duplicate(c.serial.to_hex()) } else { e.into() },
        )
    }

    async fn certificate(&self, serial: &CertSerial) -> Result<Option<CertificateRecord>, StoreError> {
        let hex = serial.to_hex();
        let (row, event) = on_backend!(self, pool => {
            let row: Option<CertificateRow> = sqlx::query_as(SELECT_CERTIFICATE).bind(&hex).fetch_optional(pool).await?;
            let event: Option<EventRow> = sqlx::query_as(LAST_EVENT).bind(&hex).fetch_optional(pool).await?;
            (row, event)
        });
        row.map(|row| record(row, event)).transpose()
    }

    async fn status(&self, serial: &CertSerial) -> Result<Option<CertificateStatus>, StoreError> {
        type StatusRow = (String, Option<String>, Option<i64>, Option<i64>);
        let row: Option<StatusRow> =
            on_backend!(self, pool => sqlx::query_as(STATUS).bind(serial.to_hex()).fetch_optional(pool).await?);
        row.map(|(_, event, code, at)| match (event.as_deref(), code, at) {
            (Some("revoked" | "suspended"), Some(code), Some(at)) => {
                Ok(CertificateStatus::Revoked { reason: reason(code)?, at: timestamp(at)? })
            }
            _ => Ok(CertificateStatus::Good),
        })
        .transpose()
    }

    async fn revoke(
        &self,
        serial: &CertSerial,
        why: RevocationReason,
        at: OffsetDateTime,
        actor: &str,
    ) -> Result<(), StoreError> {
        let hex = serial.to_hex();
        let entry =
            PendingEntry::new(actor, revocation_action(why), json!({"serial": hex, "reason": why.as_str()}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            revoke_in!(tx, &hex, why, at);
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn unsuspend(&self, serial: &CertSerial, at: OffsetDateTime, actor: &str) -> Result<(), StoreError> {
        let hex = serial.to_hex();
        let entry = PendingEntry::new(actor, "certificate.unsuspended", json!({"serial": hex}), at);
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let known: Option<(String,)> = sqlx::query_as(KNOWN).bind(&hex).fetch_optional(&mut *tx).await?;
            if known.is_none() {
                return Err(StoreError::UnknownCertificate(hex));
            }
            let last: Option<EventRow> = sqlx::query_as(LAST_EVENT).bind(&hex).fetch_optional(&mut *tx).await?;
            if !matches!(last, Some((ref kind, _, _)) if kind == "suspended") {
                return Err(StoreError::NotSuspended(hex));
            }
            sqlx::query(INSERT_EVENT).bind(&hex).bind("unsuspended").bind(0_i64).bind(at.unix_timestamp()).execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn revoked(&self) -> Result<Vec<RevokedEntry>, StoreError> {
        let rows: Vec<EventRow> = on_backend!(self, pool => sqlx::query_as(REVOKED).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(s, code, at)| {
                Ok(RevokedEntry { serial: serial(&s)?, reason: reason(code)?, revoked_at: timestamp(at)? })
            })
            .collect()
    }

    async fn status_version(&self) -> Result<i64, StoreError> {
        let (version,): (Option<i64>,) =
            on_backend!(self, pool => sqlx::query_as(STATUS_VERSION).fetch_one(pool).await?);
        Ok(version.unwrap_or(0))
    }

    async fn next_crl_number(&self) -> Result<u64, StoreError> {
        let (value,): (i64,) = on_backend!(self, pool => sqlx::query_as(NEXT_CRL_NUMBER).fetch_one(pool).await?);
        u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("CRL number {value}")))
    }
}
