//! Small local blobs as rows of one SQLite database under the blob root (`small-blobs.sqlite`),
//! not as files. A file per blob costs a file creation, two fsyncs (file and directory) and a
//! rename — on ext4 the creation alone scans for recently deleted inodes — and a document with
//! its receipt stores six blobs on its way. Here a blob is a row, and the rows written while a
//! commit is under way are committed together by one writer task (group commit): one WAL fsync
//! for all of them, `synchronous=FULL`, so a blob is durable when `put` returns, as a file is.
//!
//! Set aside (retention) is a flag on the row: storing the same content again clears it, and
//! discarding deletes only a row still set aside.

use std::path::Path;
use std::str::FromStr as _;

use bytes::Bytes;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

use super::BlobError;

/// Blobs of at most this many bytes go into the pack; larger ones are files.
pub(crate) const PACK_AT_MOST: usize = 1024 * 1024;

/// The database's file name under the blob root.
const FILE: &str = "small-blobs.sqlite";

/// The most rows one commit takes (at most 64 MiB of content).
const BATCH: usize = 64;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS blobs (\
    name TEXT PRIMARY KEY NOT NULL, \
    size INTEGER NOT NULL, \
    content BLOB NOT NULL, \
    purging INTEGER NOT NULL DEFAULT 0)";

/// The pack of one blob root.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    pool: SqlitePool,
    writes: mpsc::Sender<Write>,
}

/// A row for the writer task, and where to say when it is committed.
struct Write {
    name: String,
    content: Bytes,
    done: oneshot::Sender<Result<(), String>>,
}

impl Pack {
    /// Opens (creating if missing) the pack under `root` and starts its writer task on the
    /// current runtime; the task ends when the last clone of the pack is dropped.
    pub(crate) async fn open(root: &Path) -> Result<Self, BlobError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(pack_error)?
            .filename(root.join(FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(pack_error)?;
        sqlx::query(SCHEMA).execute(&pool).await.map_err(pack_error)?;
        let (writes, queue) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(pool.clone(), queue));
        Ok(Self { pool, writes })
    }

    /// Stores `content` under `name` (its SHA-256, computed by the caller), durably on return.
    /// Storing content already held, or set aside, leaves one row, live.
    pub(crate) async fn put(&self, name: String, content: Bytes) -> Result<(), BlobError> {
        let (done, committed) = oneshot::channel();
        let stopped = || BlobError::Pack("the writer of small blobs has stopped".into());
        self.writes.send(Write { name, content, done }).await.map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?.map_err(BlobError::Pack)
    }

    /// The content of a live blob, or `None` if the pack does not hold it.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Bytes>, BlobError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT content FROM blobs WHERE name = $1 AND purging = 0")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(pack_error)?;
        Ok(row.map(|(content,)| Bytes::from(content)))
    }

    /// Whether the pack holds a live blob `name`.
    pub(crate) async fn holds(&self, name: &str) -> Result<bool, BlobError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM blobs WHERE name = $1 AND purging = 0")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(pack_error)?;
        Ok(row.is_some())
    }

    /// Deletes `name`, live or set aside.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), BlobError> {
        self.execute("DELETE FROM blobs WHERE name = $1", name).await.map(drop)
    }

    /// Sets a live blob aside; `false` if the pack holds no live blob `name`.
    pub(crate) async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        Ok(self.execute("UPDATE blobs SET purging = 1 WHERE name = $1 AND purging = 0", name).await? > 0)
    }

    /// Makes a blob set aside live again (nothing to do if it is not set aside).
    pub(crate) async fn restore(&self, name: &str) -> Result<(), BlobError> {
        self.execute("UPDATE blobs SET purging = 0 WHERE name = $1", name).await.map(drop)
    }

    /// Deletes a blob only if it is still set aside.
    pub(crate) async fn discard(&self, name: &str) -> Result<(), BlobError> {
        self.execute("DELETE FROM blobs WHERE name = $1 AND purging = 1", name).await.map(drop)
    }

    /// The blobs set aside.
    pub(crate) async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM blobs WHERE purging = 1 ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(pack_error)?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    async fn execute(&self, sql: &'static str, name: &str) -> Result<u64, BlobError> {
        let done = sqlx::query(sql).bind(name).execute(&self.pool).await.map_err(pack_error)?;
        Ok(done.rows_affected())
    }
}

/// The writer task: takes every row waiting (up to [`BATCH`]), commits them in one transaction
/// and tells each writer the outcome — all committed, or none.
async fn write_batches(pool: SqlitePool, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let outcome = insert_all(&pool, &batch).await.map_err(|e| e.to_string());
        for write in batch.drain(..) {
            // A writer that stopped waiting (its request was dropped) needs no answer.
            let _ = write.done.send(outcome.clone());
        }
    }
}

async fn insert_all(pool: &SqlitePool, batch: &[Write]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for write in batch {
        sqlx::query(
            "INSERT INTO blobs (name, size, content) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET purging = 0",
        )
        .bind(&write.name)
        .bind(write.content.len() as i64)
        .bind(write.content.as_ref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

fn pack_error(error: sqlx::Error) -> BlobError {
    BlobError::Pack(error.to_string())
}
