//! Small local blobs as rows of one SQLite database under the blob root (`small-blobs.sqlite`),
//! not as files. A file per blob costs a file creation, two fsyncs (file and directory) and a
//! rename — on ext4 the creation alone scans for recently deleted inodes — and a document with
//! its receipt stores six blobs on its way. Here a blob is a row, and the rows written while a
//! commit is under way are committed together by the database's writer thread
//! (`crate::embedded`, group commit): one WAL fsync for all of them, `synchronous=FULL`, so a
//! blob is durable when `put` returns, as a file is. Reads run on its reader thread.
//!
//! Set aside (retention) is a flag on the row: storing the same content again clears it, and
//! discarding deletes only a row still set aside.

use std::path::Path;

use bytes::Bytes;
use rusqlite::Connection;

use super::BlobError;
use crate::StoreError;
use crate::embedded::{self, Embedded};

/// Blobs of at most this many bytes go into the pack; larger ones are files.
pub(crate) const PACK_AT_MOST: usize = 1024 * 1024;

/// The database's file name under the blob root.
const FILE: &str = "small-blobs.sqlite";

const SCHEMA: &str = "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS blobs (\
    name TEXT PRIMARY KEY NOT NULL, \
    size INTEGER NOT NULL, \
    content BLOB NOT NULL, \
    purging INTEGER NOT NULL DEFAULT 0)";

/// The pack of one blob root.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    embedded: Embedded,
}

impl Pack {
    /// Opens (creating if missing) the pack under `root` and starts its worker threads; they
    /// end when the last clone of the pack is dropped.
    pub(crate) async fn open(root: &Path) -> Result<Self, BlobError> {
        let file = root.join(FILE);
        let created = tokio::task::spawn_blocking(move || -> Result<Embedded, StoreError> {
            Connection::open(&file)?.execute_batch(SCHEMA)?;
            Embedded::open(&file)
        });
        let embedded = created.await.map_err(|e| BlobError::Pack(e.to_string()))?.map_err(pack_error)?;
        Ok(Self { embedded })
    }

    /// Stores `content` under `name` (its SHA-256, computed by the caller), durably on return
    /// (the writer commits the rows stored meanwhile together). Storing content already held,
    /// or set aside, leaves one row, live.
    pub(crate) async fn put(&self, name: String, content: Bytes) -> Result<(), BlobError> {
        let insert = move |c: &Connection| {
            let size = content.len() as i64;
            let sql = "INSERT INTO blobs (name, size, content) VALUES ($1, $2, $3) \
                       ON CONFLICT (name) DO UPDATE SET purging = 0";
            embedded::execute(c, sql, &[&name, &size, &content.as_ref()])
        };
        self.embedded.write(insert).await.map(drop).map_err(pack_error)
    }

    /// The content of a live blob, or `None` if the pack does not hold it.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Bytes>, BlobError> {
        let name = name.to_owned();
        let read = move |c: &Connection| {
            let sql = "SELECT content FROM blobs WHERE name = $1 AND purging = 0";
            embedded::query_one(c, sql, &[&name], |r| r.get::<_, Vec<u8>>(0))
        };
        Ok(self.embedded.read(read).await.map_err(pack_error)?.map(Bytes::from))
    }

    /// Whether the pack holds a live blob `name`.
    pub(crate) async fn holds(&self, name: &str) -> Result<bool, BlobError> {
        let name = name.to_owned();
        let read = move |c: &Connection| {
            let sql = "SELECT 1 FROM blobs WHERE name = $1 AND purging = 0";
            embedded::query_one(c, sql, &[&name], |r| r.get::<_, i64>(0))
        };
        Ok(self.embedded.read(read).await.map_err(pack_error)?.is_some())
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
        let read = |c: &Connection| {
            embedded::query_all(c, "SELECT name FROM blobs WHERE purging = 1 ORDER BY name", &[], |r| r.get(0))
        };
        self.embedded.read(read).await.map_err(pack_error)
    }

    /// Runs `sql` about blob `name` on the writer; the rows it changed.
    async fn execute(&self, sql: &'static str, name: &str) -> Result<usize, BlobError> {
        let name = name.to_owned();
        self.embedded.write(move |c| embedded::execute(c, sql, &[&name])).await.map_err(pack_error)
    }
}

fn pack_error(error: StoreError) -> BlobError {
    BlobError::Pack(error.to_string())
}
