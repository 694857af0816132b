//! Retention: the sealed content of packages whose deliveries were all acknowledged or refused
//! long enough ago is removed; the package rows and every delivery's history stay, marked purged
//! with the time, so the sender's view and the records are unchanged.
//!
//! Blobs are named by their content's hash, so packages with identical bytes share one. A blob is
//! removed only when no package still holding its content names it, and that is checked twice:
//! before the blob is set aside and again after, since another hub process may accept identical
//! bytes meanwhile; if one did, the blob is put back. A removal interrupted by a crash is finished
//! (or undone) by the next run.

use store::ExchangeStore;
use time::{Duration, OffsetDateTime};

use crate::HubService;
use crate::api::HubError;

/// How many packages one store call marks.
const BATCH: u32 = 200;

/// What one retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Packages marked purged.
    pub packages: usize,
    /// Blobs removed.
    pub blobs_removed: usize,
    /// Blobs kept because a package still holding its content shares them.
    pub blobs_shared: usize,
}

impl HubService {
    /// Removes the content of packages whose deliveries were all settled more than `retention`
    /// before `now`, and marks them purged at `now`. Unsettled packages and blobs another held
    /// package names are never touched. Safe to run from several hub processes at once.
    pub async fn purge_settled(&self, now: OffsetDateTime, retention: Duration) -> Result<PurgeReport, HubError> {
        if retention.is_negative() {
            return Err(HubError::BadRequest("the retention period cannot be negative".into()));
        }
        let mut report = PurgeReport::default();
        for name in self.blobs.set_aside_names().await? {
            self.remove_unless_held(&name).await?;
        }
        let settled_before = now.saturating_sub(retention);
        loop {
            let marked = self.store.mark_purged(settled_before, now, BATCH).await?;
            report.packages += marked.len();
            for package in &marked {
                match self.remove_unless_held(&package.blob).await? {
                    Removal::Removed => report.blobs_removed += 1,
                    Removal::Shared => report.blobs_shared += 1,
                    Removal::Absent => {}
                }
            }
            if marked.len() < BATCH as usize {
                return Ok(report);
            }
        }
    }

    /// Removes `blob` unless a package still holding its content names it; a blob set aside is
    /// put back if one appeared meanwhile.
    pub(crate) async fn remove_unless_held(&self, blob: &str) -> Result<Removal, HubError> {
        if self.store.blob_held(blob).await? {
            self.blobs.restore(blob).await?;
            return Ok(Removal::Shared);
        }
        let set_aside = self.blobs.set_aside(blob).await?;
        if self.store.blob_held(blob).await? {
            self.blobs.restore(blob).await?;
            return Ok(Removal::Shared);
        }
        self.blobs.discard(blob).await?;
        Ok(if set_aside { Removal::Removed } else { Removal::Absent })
    }
}

/// What became of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Removed,
    Shared,
    Absent,
}
