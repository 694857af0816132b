//! Signing and verifying the audit log: checkpoints are signed with the issuing CA's key; the
//! verifier walks the whole chain, recomputing every hash, and checks every checkpoint against
//! the chain and the CA certificate.

use store::{AuditEntry, AuditStore, Checkpoint, GENESIS, Store, StoreError};
use time::OffsetDateTime;

use crate::CaService;

/// What a verification found when the log is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries in the chain.
    pub entries: i64,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints: usize,
    /// The last entry covered by a signed checkpoint.
    pub signed_through: i64,
}

/// Where the log stops being trustworthy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditFailure {
    /// An entry's position is out of sequence (an entry deleted or inserted).
    #[error("audit entry {found} follows entry {previous}: an entry is missing or was inserted")]
    Gap {
        /// The entry before.
        previous: i64,
        /// The entry found.
        found: i64,
    },
    /// An entry does not point at the previous entry's hash.
    #[error("audit entry {0} does not chain to the entry before it")]
    BrokenLink(i64),
    /// An entry's fields do not produce its hash (it was edited).
    #[error("audit entry {0} was altered: its content does not match its hash")]
    Altered(i64),
    /// A checkpoint names a hash the chain does not have there.
    #[error("checkpoint at entry {0} does not match the chain")]
    CheckpointMismatch(i64),
    /// A checkpoint's signature does not verify with the CA certificate.
    #[error("checkpoint at entry {seq} has a bad signature: {reason}")]
    BadSignature {
        /// The entry it covers.
        seq: i64,
        /// Why.
        reason: String,
    },
    /// Reading the log failed.
    #[error("cannot read the audit log: {0}")]
    Store(#[from] StoreError),
}

const PAGE: u32 = 1000;

impl CaService {
    /// Signs a checkpoint at the head of the chain, unless the last one already covers it.
    /// Returns the entry covered by the new checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<i64>, StoreError> {
        sign_checkpoint(&self.store, &self.authority).await
    }
}

/// Signs a checkpoint at the head of `store`'s chain with `authority`'s key, if the head moved.
pub async fn sign_checkpoint(store: &Store, authority: &pki::Authority) -> Result<Option<i64>, StoreError> {
    let Some((seq, hash)) = store.audit_head().await? else {
        return Ok(None);
    };
    let last = store.checkpoints().await?.last().map_or(0, |c| c.seq);
    if last >= seq {
        return Ok(None);
    }
    let at = OffsetDateTime::now_utc().unix_timestamp();
    let statement = Checkpoint::statement(seq, &hash, at);
    let signature = authority.sign_statement(&statement).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.add_checkpoint(&Checkpoint { seq, hash, signature, at }).await?;
    Ok(Some(seq))
}

/// Walks the whole chain in `store` and every checkpoint, against the CA certificate `ca_der`.
pub async fn verify(store: &Store, ca_der: &[u8]) -> Result<AuditReport, AuditFailure> {
    let checkpoints = store.checkpoints().await?;
    let mut pending = checkpoints.iter().peekable();
    let (mut previous, mut prev_hash) = (0_i64, GENESIS.to_owned());
    loop {
        let page = store.audit_entries(previous, PAGE).await?;
        for entry in &page {
            check_entry(entry, previous, &prev_hash)?;
            while let Some(checkpoint) = pending.next_if(|c| c.seq <= entry.seq) {
                if checkpoint.seq != entry.seq || checkpoint.hash != entry.hash {
                    return Err(AuditFailure::CheckpointMismatch(checkpoint.seq));
                }
                let statement = Checkpoint::statement(checkpoint.seq, &checkpoint.hash, checkpoint.at);
                pki::verify_statement(ca_der, &statement, &checkpoint.signature)
                    .map_err(|reason| AuditFailure::BadSignature { seq: checkpoint.seq, reason })?;
            }
            (previous, prev_hash) = (entry.seq, entry.hash.clone());
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    if let Some(beyond) = pending.next() {
        return Err(AuditFailure::CheckpointMismatch(beyond.seq));
    }
    Ok(AuditReport {
        entries: previous,
        checkpoints: checkpoints.len(),
        signed_through: checkpoints.last().map_or(0, |c| c.seq),
    })
}

fn check_entry(entry: &AuditEntry, previous: i64, prev_hash: &str) -> Result<(), AuditFailure> {
    if entry.seq != previous + 1 {
        return Err(AuditFailure::Gap { previous, found: entry.seq });
    }
    if entry.prev_hash != prev_hash {
        return Err(AuditFailure::BrokenLink(entry.seq));
    }
    if entry.hash != entry.expected_hash() {
        return Err(AuditFailure::Altered(entry.seq));
    }
    Ok(())
}
