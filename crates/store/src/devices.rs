//! Subscribers' key devices the authority can unblock: each one's sealed unblock code, and what
//! was done with it (enrolment, unblocking, refusals), appended and audited.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{PendingEntry, audit_append, audit_begin};
use crate::{DeviceStore, Store, StoreError, is_unique_violation};

/// How a device came under the authority's care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    /// The authority initialised it, with an unblock code of its own making.
    Initialised,
    /// It was initialised elsewhere; its unblock code was handed to the authority.
    Registered,
}

/// A device about to be enrolled.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The token label.
    pub label: String,
    /// The PKCS#11 module that reaches it.
    pub module: String,
    /// Who holds it.
    pub holder: Option<String>,
    /// The holder's agency code.
    pub agency: Option<String>,
    /// Its unblock code, sealed under the authority's passphrase (never the code in clear).
    pub sealed_unblock_code: String,
    /// How.
    pub enrollment: Enrollment,
}

/// What happened to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceEventKind {
    /// Initialised by the authority.
    Initialised,
    /// Registered with an unblock code given to the authority.
    Registered,
    /// A new user PIN was set with the unblock code.
    Unblocked,
    /// The device refused to be unblocked (wrong or locked unblock code, refused PIN, …).
    UnblockRefused,
}

impl DeviceEventKind {
    /// The name used in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialised => "initialised",
            Self::Registered => "registered",
            Self::Unblocked => "unblocked",
            Self::UnblockRefused => "unblock_refused",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "initialised" => Ok(Self::Initialised),
            "registered" => Ok(Self::Registered),
            "unblocked" => Ok(Self::Unblocked),
            "unblock_refused" => Ok(Self::UnblockRefused),
            other => Err(StoreError::Corrupt(format!("device event {other:?}"))),
        }
    }
}

/// One step in a device's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEvent {
    /// What.
    pub kind: DeviceEventKind,
    /// Why it was refused, or a remark.
    pub note: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: OffsetDateTime,
}

/// An enrolled device, with its history.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// The token label.
    pub label: String,
    /// The PKCS#11 module that reaches it.
    pub module: String,
    /// Who holds it.
    pub holder: Option<String>,
    /// The holder's agency code.
    pub agency: Option<String>,
    /// Its unblock code, sealed under the authority's passphrase.
    pub sealed_unblock_code: String,
    /// Every step, oldest first.
    pub history: Vec<DeviceEvent>,
}

/// How an unblocking attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnblockOutcome {
    /// The device took a new user PIN.
    Unblocked,
    /// The device refused, for this reason.
    Refused(String),
}

type DeviceRow = (String, String, Option<String>, Option<String>, String);
type DeviceEventRow = (String, Option<String>, String, i64);

const INSERT_DEVICE: &str = "INSERT INTO ca_key_devices (label, module, holder, agency, sealed_unblock_code, enrolled_by, enrolled_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SELECT_DEVICE: &str =
    "SELECT label, module, holder, agency, sealed_unblock_code FROM ca_key_devices WHERE label = $1";
const LATEST_DEVICE: &str = "SELECT label FROM ca_key_devices ORDER BY enrolled_at DESC, label LIMIT 1";
const DEVICE_EXISTS: &str = "SELECT label FROM ca_key_devices WHERE label = $1";
const INSERT_DEVICE_EVENT: &str =
    "INSERT INTO ca_key_device_events (label, event, note, actor, at) VALUES ($1, $2, $3, $4, $5)";
const DEVICE_EVENTS: &str = "SELECT event, note, actor, at FROM ca_key_device_events WHERE label = $1 ORDER BY id";

fn device_record(row: DeviceRow, events: Vec<DeviceEventRow>) -> Result<DeviceRecord, StoreError> {
    let (label, module, holder, agency, sealed_unblock_code) = row;
    let history = events
        .into_iter()
        .map(|(event, note, actor, at)| {
            let at = OffsetDateTime::from_unix_timestamp(at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(DeviceEvent { kind: DeviceEventKind::parse(&event)?, note, actor, at })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(DeviceRecord { label, module, holder, agency, sealed_unblock_code, history })
}

impl DeviceStore for Store {
    async fn enroll_device(&self, device: &NewDevice, actor: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let d = device;
        let kind = match d.enrollment {
            Enrollment::Initialised => DeviceEventKind::Initialised,
            Enrollment::Registered => DeviceEventKind::Registered,
        };
        let details = json!({
            "label": d.label, "module": d.module, "holder": d.holder, "agency": d.agency, "how": kind.as_str(),
        });
        let entry = PendingEntry::new(actor, "device.enrolled", details, at);
        let result: Result<(), sqlx::Error> = on_backend!(self, pool => async {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            sqlx::query(INSERT_DEVICE)
                .bind(&d.label).bind(&d.module).bind(&d.holder).bind(&d.agency).bind(&d.sealed_unblock_code)
                .bind(actor).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            sqlx::query(INSERT_DEVICE_EVENT)
                .bind(&d.label).bind(kind.as_str()).bind(None::<String>).bind(actor).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await
        }.await);
        result.map_err(|e| if is_unique_violation(&e) { StoreError::DeviceExists(d.label.clone()) } else { e.into() })
    }

    async fn device(&self, label: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let (row, events) = on_backend!(self, pool => {
            let row: Option<DeviceRow> = sqlx::query_as(SELECT_DEVICE).bind(label).fetch_optional(pool).await?;
            let events: Vec<DeviceEventRow> = sqlx::query_as(DEVICE_EVENTS).bind(label).fetch_all(pool).await?;
            (row, events)
        });
        row.map(|row| device_record(row, events)).transpose()
    }

    async fn latest_device(&self) -> Result<Option<DeviceRecord>, StoreError> {
        let label: Option<(String,)> =
            on_backend!(self, pool => sqlx::query_as(LATEST_DEVICE).fetch_optional(pool).await?);
        match label {
            Some((label,)) => self.device(&label).await,
            None => Ok(None),
        }
    }

    async fn record_unblock(
        &self,
        label: &str,
        outcome: &UnblockOutcome,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (kind, note, entry) = match outcome {
            UnblockOutcome::Unblocked => (
                DeviceEventKind::Unblocked,
                None,
                PendingEntry::new(actor, "device.unblocked", json!({"label": label}), at),
            ),
            UnblockOutcome::Refused(reason) => (
                DeviceEventKind::UnblockRefused,
                Some(reason.as_str()),
                PendingEntry::new(actor, "device.unblock_refused", json!({"label": label, "reason": reason}), at),
            ),
        };
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let seq = audit_begin!(tx);
            let known: Option<(String,)> = sqlx::query_as(DEVICE_EXISTS).bind(label).fetch_optional(&mut *tx).await?;
            if known.is_none() {
                return Err(StoreError::UnknownDevice(label.to_owned()));
            }
            sqlx::query(INSERT_DEVICE_EVENT)
                .bind(label).bind(kind.as_str()).bind(note).bind(actor).bind(at.unix_timestamp())
                .execute(&mut *tx).await?;
            audit_append!(tx, seq, &entry);
            tx.commit().await?;
        });
        Ok(())
    }
}
