//! Deliveries the gateway keeps failing to take in (the signer's revocation status stays
//! unknown, a transient error repeats): each failure is recorded in the store with when to try
//! again (backoff), and past the [`IntakeLimit`] the delivery is refused with a signed status 02
//! naming why it could not be verified, as a package that fails its checks is. The outbox is
//! not limited: it retries until the hub acknowledges.

use std::time::Duration;

use store::{FailedIntake, GatewayStore, IntakeFailures, RefusedPackage};
use time::OffsetDateTime;

use crate::service::{Arrival, backoff};
use crate::{Gateway, GatewayError};

/// When the gateway stops retrying a delivery it cannot take in, and refuses it: after
/// `max_attempts` failed attempts, or `give_up_after` since the first failure, whichever comes
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimit {
    /// Failed attempts after which the delivery is refused.
    pub max_attempts: u32,
    /// Time since the first failure after which the delivery is refused.
    pub give_up_after: Duration,
}

impl Default for IntakeLimit {
    /// A day, or 300 attempts (about a day of retries at the five-minute backoff ceiling).
    fn default() -> Self {
        Self { max_attempts: 300, give_up_after: Duration::from_secs(24 * 60 * 60) }
    }
}

impl IntakeLimit {
    /// Whether `failures` reach the limit at `now`.
    pub fn reached(&self, failures: &IntakeFailures, now: OffsetDateTime) -> bool {
        let waited = u64::try_from(now.unix_timestamp() - failures.first_failed_at).unwrap_or(0);
        failures.attempts >= i64::from(self.max_attempts) || waited >= self.give_up_after.as_secs()
    }
}

impl Gateway {
    /// Sets when a delivery that keeps failing is refused (once, at construction; a later call
    /// is ignored). Without it, [`IntakeLimit::default`].
    pub fn with_intake_limit(self: std::sync::Arc<Self>, limit: IntakeLimit) -> std::sync::Arc<Self> {
        let _first = self.intake_limit.set(limit);
        self
    }

    fn intake_limit(&self) -> IntakeLimit {
        self.intake_limit.get().copied().unwrap_or_default()
    }

    /// Records that taking in `arrival` failed with `error` (after `attempts` earlier failures);
    /// past the limit, refuses it with a status 02 (`Ok`), else returns the error (retried after
    /// a backoff). A package stored meanwhile is never refused: only its receipt is pending.
    pub(crate) async fn intake_failed(
        &self,
        arrival: &Arrival,
        error: GatewayError,
        attempts: i64,
        now: OffsetDateTime,
    ) -> Result<(), GatewayError> {
        let failure = FailedIntake {
            package_id: arrival.package_id.clone(),
            recipient: arrival.recipient.clone(),
            hub_delivery: arrival.delivery,
            error: error.to_string(),
        };
        let retry_at = now + time::Duration::try_from(backoff(attempts)).unwrap_or(time::Duration::MINUTE);
        let failures = self.store().record_intake_failure(&failure, now, retry_at).await?;
        if !self.intake_limit().reached(&failures, now) || self.store().incoming(&arrival.package_id).await?.is_some() {
            return Err(error);
        }
        let reason = gave_up_reason(&error, &failures, now);
        let refused = RefusedPackage {
            package_id: arrival.package_id.clone(),
            hub_delivery: arrival.delivery,
            kind: arrival.kind,
            sender: arrival.sender.clone(),
            recipient: arrival.recipient.clone(),
            sealed_sha256: arrival.sealed_sha256.clone(),
            reason: format!("02: {reason}"),
        };
        self.refuse(&refused, &reason).await
    }
}

/// Why a delivery is given up, Vietnamese first, English in brackets (as other refusals).
fn gave_up_reason(error: &GatewayError, failures: &IntakeFailures, now: OffsetDateTime) -> String {
    let (why_vi, why_en) = match error {
        GatewayError::Unverified(refusal) => (refusal.vietnamese(), refusal.to_string()),
        other => ("lỗi lặp lại khi nhận gói tin".to_owned(), other.to_string()),
    };
    let n = failures.attempts;
    let (span_vi, span_en) = span(now.unix_timestamp() - failures.first_failed_at);
    format!(
        "Không xác minh được gói tin sau {n} lần thử trong {span_vi}: {why_vi} \
         (could not be verified after {n} attempts over {span_en}: {why_en})"
    )
}

/// `seconds` in hours, or minutes below an hour: (Vietnamese, English).
fn span(seconds: i64) -> (String, String) {
    let seconds = seconds.max(0);
    if seconds >= 3600 {
        (format!("{} giờ", seconds / 3600), format!("{} h", seconds / 3600))
    } else {
        (format!("{} phút", seconds / 60), format!("{} min", seconds / 60))
    }
}
