//! Bounded intake of submitted packages (client API and SDK-compatible `/sendEdoc`).
//!
//! A package is read only after its caller is authenticated, never past
//! [`MAX_SUBMIT_BYTES`](crate::api::MAX_SUBMIT_BYTES), and every body held at once counts against
//! one budget per gateway ([`SUBMISSION_BUDGET_BYTES`]): a body announced with `Content-Length`
//! reserves that much before it is read, one without reserves the maximum. A body larger than
//! [`store::spool::SPOOL_ABOVE`] goes to a spool file (mapped, never on the heap), so the budget
//! bounds the spool's disk and the heap's share of the small ones; a caller that cannot get its
//! share within [`BUDGET_WAIT`] is told the gateway is busy and nothing is read or stored.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use store::spool::{Spool, SpoolError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::MAX_SUBMIT_BYTES;

/// Bytes of submitted bodies one gateway holds at once: two of the largest.
pub const SUBMISSION_BUDGET_BYTES: usize = 2 * MAX_SUBMIT_BYTES;

/// How long a submission waits for its share of the budget before it is refused as busy.
pub const BUDGET_WAIT: Duration = Duration::from_secs(30);

/// The budget is counted in KiB so that it fits a semaphore's `u32` permits.
const UNIT: usize = 1024;

/// Why a submitted body was not read; nothing was stored or queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The body is (or is announced as) larger than the gateway accepts.
    #[error("the package is larger than {limit} bytes{}", announced.map(|n| format!(" (announced {n} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The largest accepted.
        limit: usize,
        /// What `Content-Length` announced, if it did.
        announced: Option<u64>,
    },
    /// Other submissions hold the budget; the caller should try again.
    #[error("the gateway is busy reading other large packages; try again in a minute")]
    Busy,
    /// `Content-Length` is not a number.
    #[error("Content-Length is not a number")]
    BadLength,
    /// The body could not be read (the connection failed).
    #[error("the package could not be read: {0}")]
    Read(String),
    /// The gateway could not write the body to its spool (the disk is full, say).
    #[error("the gateway could not hold the package: {0}")]
    Spool(std::io::Error),
}

/// A submitted body, and its share of the budget (given back when this is dropped).
#[derive(Debug)]
pub struct Admitted {
    /// The body.
    pub bytes: Bytes,
    _share: OwnedSemaphorePermit,
}

/// The budget of one gateway.
#[derive(Debug)]
pub(crate) struct SubmissionBudget {
    permits: std::sync::Arc<Semaphore>,
    /// How long to wait for a share; [`BUDGET_WAIT`] if unset.
    wait: std::sync::OnceLock<Duration>,
}

impl Default for SubmissionBudget {
    fn default() -> Self {
        Self {
            permits: std::sync::Arc::new(Semaphore::new(units(SUBMISSION_BUDGET_BYTES))),
            wait: std::sync::OnceLock::new(),
        }
    }
}

impl crate::Gateway {
    /// Sets how long a submission waits for its share of the budget before it is refused as
    /// busy (once, at construction; a later call is ignored). Without it, [`BUDGET_WAIT`].
    pub fn with_submission_wait(self: std::sync::Arc<Self>, wait: Duration) -> std::sync::Arc<Self> {
        let _first = self.submissions.wait.set(wait);
        self
    }
}

impl SubmissionBudget {
    /// Reads `body` once its share of the budget is free, bounded by `MAX_SUBMIT_BYTES`.
    pub(crate) async fn read(
        &self,
        headers: &HeaderMap,
        body: Body,
        spool: &Spool,
    ) -> Result<Admitted, AdmissionError> {
        let announced = announced_length(headers)?;
        let claim = match announced {
            Some(length) if length > MAX_SUBMIT_BYTES as u64 => {
                return Err(AdmissionError::TooLarge { limit: MAX_SUBMIT_BYTES, announced: Some(length) });
            }
            Some(length) => usize::try_from(length).unwrap_or(MAX_SUBMIT_BYTES),
            None => MAX_SUBMIT_BYTES,
        };
        let wanted = u32::try_from(units(claim)).unwrap_or(u32::MAX);
        let share = tokio::time::timeout(
            self.wait.get().copied().unwrap_or(BUDGET_WAIT),
            self.permits.clone().acquire_many_owned(wanted),
        )
        .await
        .map_err(|_| AdmissionError::Busy)?
        .map_err(|_| AdmissionError::Busy)?;
        let bytes = spool.gather(body.into_data_stream(), claim as u64, announced).await.map_err(|e| match e {
            SpoolError::TooLarge { .. } => AdmissionError::TooLarge { limit: MAX_SUBMIT_BYTES, announced },
            SpoolError::Source(e) => AdmissionError::Read(e.to_string()),
            SpoolError::Io(e) => AdmissionError::Spool(e),
            other => AdmissionError::Read(other.to_string()),
        })?;
        Ok(Admitted { bytes, _share: share })
    }
}

fn announced_length(headers: &HeaderMap) -> Result<Option<u64>, AdmissionError> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| AdmissionError::BadLength)?;
    text.trim().parse::<u64>().map(Some).map_err(|_| AdmissionError::BadLength)
}

/// Whole KiB covering `bytes` (at least one).
fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}
