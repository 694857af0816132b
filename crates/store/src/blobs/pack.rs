//! Small local blobs appended to one file under the blob root (`small-blobs.pack`), each found
//! through a row of one SQLite database beside it (`small-blobs.sqlite`: name, size, where its
//! bytes start), not as files of their own. A file per blob costs a file creation, two fsyncs
//! (file and directory) and a rename — on ext4 the creation alone scans for recently deleted
//! inodes — and a document with its receipt stores six blobs on its way. Rows holding the bytes
//! themselves (as before) cost four times the bytes in system calls: a 100 KB blob went into the
//! WAL as 25 page writes, was read back and written again by the checkpoint, and read out page by
//! page; here it is one write and one read.
//!
//! A blob is a record of the pack: a 48-byte header (`ltblob1\n`, the content's SHA-256, its
//! length) and the content. It is appended by the database's writer thread inside its group
//! transaction (`crate::embedded`, group commit), and the file is fdatasync'ed before that
//! transaction commits (`Embedded::open_with`): a row never points at bytes that are not
//! durable, and a blob is durable when `put` returns, as a file is. The rows are committed
//! without waiting for the disk (`Commit::Written`: one fdatasync per group, not two): a power
//! loss may undo the last rows, and the next open finds their records after the last row's end,
//! checks each against its SHA-256 and points a row at it again. The append goes at the file's
//! current end, read while the transaction holds the database's write lock, so several
//! processes sharing the directory (two hubs) append one after another and never over each
//! other. Bytes after the last whole, correct record (a group that did not commit, a crash
//! mid-write) are cut off at the next open, under the write lock too. If an fdatasync fails,
//! nothing more is appended until the process is restarted: after a failed fsync the kernel
//! may have dropped the pages, and a later fsync would not say so.
//!
//! Set aside (retention) is a flag on the row: storing the same content again clears it, and
//! discarding deletes only a row still set aside. These changes of a row (and a removal) are
//! made durable before they are reported (the WAL is synced after their commit): a power loss
//! must not bring back a row whose bytes are gone, nor undo a restore. Removing a row then
//! punches its record out of the file (`fallocate`, the file's size unchanged), which gives the
//! disk space back; a reader of this process holds the pack's lock while it looks a blob up and
//! reads it, so no read sees a hole. Another process sharing the directory may punch a record
//! between a lookup and its read: the record's header is read again after the content, and a
//! record no longer whole reads as missing, never as zeros. Where the file system cannot punch
//! holes the space stays used (the header is zeroed instead).
//!
//! A database written before the pack (the bytes in a `blobs` table) is moved into it at open,
//! in one transaction.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use rusqlite::Connection;

use super::BlobError;
use crate::StoreError;
use crate::embedded::{self, Commit, Embedded};

/// Blobs of at most this many bytes go into the pack; larger ones are files. What travels on
/// the heap (up to the spool's threshold) rests in the pack: at 2 MB a file per blob (creation,
/// two fsyncs, a rename) cost a tenth of the exchange's CPU.
pub(crate) const PACK_AT_MOST: usize = crate::spool::SPOOL_ABOVE;

/// The largest blob read on the caller's thread (a copy out of the page cache of a few tens of
/// microseconds); a larger one is read on a blocking thread, not to hold up the runtime.
const READ_IN_PLACE: u64 = 256 * 1024;

/// The database's file name under the blob root.
const FILE: &str = "small-blobs.sqlite";
/// The file the blobs' bytes are appended to, under the blob root.
const DATA: &str = "small-blobs.pack";
/// The database's write-ahead log, synced after a change that must not be undone.
const WAL: &str = "small-blobs.sqlite-wal";

/// How a record of the pack begins: then the content's SHA-256 (32 bytes) and its length (8
/// bytes, little-endian), then the content.
const MAGIC: &[u8; 8] = b"ltblob1\n";
const HEADER: u64 = 48;

const SCHEMA: &str = "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS packed (\
    name TEXT PRIMARY KEY NOT NULL, \
    size INTEGER NOT NULL, \
    at INTEGER NOT NULL, \
    purging INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID";

/// The pack of one blob root.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    embedded: Embedded,
    data: Arc<Data>,
}

/// The file the bytes are in.
#[derive(Debug)]
struct Data {
    file: File,
    /// The database's WAL.
    wal: std::path::PathBuf,
    /// Appended to since the last fdatasync.
    unsynced: AtomicBool,
    /// An fdatasync failed: nothing more is appended.
    failed: AtomicBool,
    /// Held to read (a lookup and the read it leads to), exclusively to punch a hole.
    holes: RwLock<()>,
}

/// Where a blob's content is in the file (its record's header just before).
#[derive(Debug, Clone, Copy)]
struct Extent {
    at: u64,
    size: u64,
}

/// What a lookup of a live blob found.
enum Found {
    Missing,
    Content(Vec<u8>),
    /// Larger than the limit the lookup was given: not read.
    Large,
}

/// What storing a blob did.
enum Stored {
    /// Appended, or already held live: nothing to undo if the row is lost.
    Kept,
    /// A row set aside made live again: must not be undone.
    Revived,
}

impl Pack {
    /// Opens (creating if missing) the pack under `root` and starts its worker threads; they
    /// end when the last clone of the pack is dropped.
    pub(crate) async fn open(root: &Path) -> Result<Self, BlobError> {
        let (database, data, wal) = (root.join(FILE), root.join(DATA), root.join(WAL));
        let opened = tokio::task::spawn_blocking(move || -> Result<Self, BlobError> {
            let file = File::options().read(true).write(true).create(true).truncate(false).open(&data)?;
            let data = Arc::new(Data {
                file,
                wal,
                unsynced: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                holes: RwLock::new(()),
            });
            prepare(&mut Connection::open(&database).map_err(sql_error)?, &data)?;
            let syncing = data.clone();
            let embedded =
                Embedded::open_with(&database, Commit::Written, move || syncing.sync()).map_err(pack_error)?;
            Ok(Self { embedded, data })
        });
        opened.await.map_err(|e| BlobError::Pack(e.to_string()))?
    }

    /// Stores `content` under `name` (its SHA-256, computed by the caller), durably on return
    /// (the writer commits the rows stored meanwhile together, the file synced first). Storing
    /// content already held, or set aside, leaves one row, live, and appends nothing.
    pub(crate) async fn put(&self, name: String, content: Bytes) -> Result<(), BlobError> {
        let digest = digest_of(&name)?;
        let data = self.data.clone();
        let insert = move |c: &Connection| {
            let held = embedded::query_one(c, "SELECT purging FROM packed WHERE name = $1", &[&name], |r| r.get(0))?;
            match held {
                Some(0) => return Ok(Stored::Kept),
                Some(_) => {
                    embedded::execute(c, "UPDATE packed SET purging = 0 WHERE name = $1", &[&name])?;
                    return Ok(Stored::Revived);
                }
                None => {}
            }
            let at = data.append(&digest, &content)?;
            let sql = "INSERT INTO packed (name, size, at) VALUES ($1, $2, $3)";
            embedded::execute(c, sql, &[&name, &(content.len() as i64), &(at as i64)])?;
            Ok(Stored::Kept)
        };
        match self.embedded.write(insert).await.map_err(pack_error)? {
            Stored::Kept => Ok(()),
            Stored::Revived => self.sync_rows().await,
        }
    }

    /// The content of a live blob, or `None` if the pack does not hold it. A blob of more than
    /// [`READ_IN_PLACE`] is read on a blocking thread.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Bytes>, BlobError> {
        let found = self.embedded.read(|c| self.data.live(c, name, Some(READ_IN_PLACE))).await;
        let found = match found.map_err(pack_error)? {
            Found::Large => {
                let (name, data) = (name.to_owned(), self.data.clone());
                self.embedded.read_blocking(move |c| data.live(c, &name, None)).await.map_err(pack_error)?
            }
            found => found,
        };
        Ok(match found {
            Found::Content(content) => Some(Bytes::from(content)),
            Found::Missing | Found::Large => None,
        })
    }

    /// Whether the pack holds a live blob `name`.
    pub(crate) async fn holds(&self, name: &str) -> Result<bool, BlobError> {
        let name = name.to_owned();
        let read = move |c: &Connection| {
            let sql = "SELECT 1 FROM packed WHERE name = $1 AND purging = 0";
            embedded::query_one(c, sql, &[&name], |r| r.get::<_, i64>(0))
        };
        Ok(self.embedded.read(read).await.map_err(pack_error)?.is_some())
    }

    /// Deletes `name`, live or set aside.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), BlobError> {
        self.delete("DELETE FROM packed WHERE name = $1 RETURNING at, size", name).await
    }

    /// Sets a live blob aside; `false` if the pack holds no live blob `name`.
    pub(crate) async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        Ok(self.change("UPDATE packed SET purging = 1 WHERE name = $1 AND purging = 0", name).await? > 0)
    }

    /// Makes a blob set aside live again (nothing to do if it is not set aside).
    pub(crate) async fn restore(&self, name: &str) -> Result<(), BlobError> {
        self.change("UPDATE packed SET purging = 0 WHERE name = $1 AND purging = 1", name).await.map(drop)
    }

    /// Deletes a blob only if it is still set aside.
    pub(crate) async fn discard(&self, name: &str) -> Result<(), BlobError> {
        self.delete("DELETE FROM packed WHERE name = $1 AND purging = 1 RETURNING at, size", name).await
    }

    /// The blobs set aside.
    pub(crate) async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        let read = |c: &Connection| {
            embedded::query_all(c, "SELECT name FROM packed WHERE purging = 1 ORDER BY name", &[], |r| r.get(0))
        };
        self.embedded.read(read).await.map_err(pack_error)
    }

    /// Runs `sql` about blob `name` on the writer, durably if it changed a row; the rows it
    /// changed.
    async fn change(&self, sql: &'static str, name: &str) -> Result<usize, BlobError> {
        let name = name.to_owned();
        let changed = self.embedded.write(move |c| embedded::execute(c, sql, &[&name])).await.map_err(pack_error)?;
        if changed > 0 {
            self.sync_rows().await?;
        }
        Ok(changed)
    }

    /// Runs a `DELETE … RETURNING at, size` about blob `name` on the writer and, once that is
    /// durable, punches the deleted blob's record out of the file.
    async fn delete(&self, sql: &'static str, name: &str) -> Result<(), BlobError> {
        let name = name.to_owned();
        let deleted = self.embedded.write(move |c| embedded::query_one(c, sql, &[&name], extent));
        if let Some(extent) = deleted.await.map_err(pack_error)? {
            self.sync_rows().await?;
            let data = self.data.clone();
            // Only space is at stake: the row is gone either way.
            let _ = tokio::task::spawn_blocking(move || data.punch(extent)).await;
        }
        Ok(())
    }

    /// Makes the rows committed so far durable (their commits did not wait for the disk).
    async fn sync_rows(&self) -> Result<(), BlobError> {
        let data = self.data.clone();
        tokio::task::spawn_blocking(move || data.sync_wal()).await.map_err(|e| BlobError::Pack(e.to_string()))?
    }
}

impl Data {
    /// Writes a record of `content` at the file's end (the caller holds the database's write
    /// lock, so no other process appends meanwhile); where the content starts.
    fn append(&self, digest: &[u8; 32], content: &[u8]) -> Result<u64, StoreError> {
        if self.failed.load(Ordering::Acquire) {
            let e = std::io::Error::other("an earlier fdatasync failed; no blob is stored until the process restarts");
            return Err(io_error("will not append to", e));
        }
        let at = self.file.metadata().map_err(|e| io_error("cannot read the size of", e))?.len();
        self.unsynced.store(true, Ordering::Release);
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..40].copy_from_slice(digest);
        header[40..].copy_from_slice(&(content.len() as u64).to_le_bytes());
        let append =
            |bytes: &[u8], at: u64| self.file.write_all_at(bytes, at).map_err(|e| io_error("cannot append to", e));
        append(&header, at)?;
        append(content, at + HEADER)?;
        Ok(at + HEADER)
    }

    /// Syncs the database's WAL (a missing one has nothing to sync: checkpointed and removed).
    fn sync_wal(&self) -> Result<(), BlobError> {
        match File::open(&self.wal) {
            Ok(wal) => wal.sync_data().map_err(|e| BlobError::Pack(format!("cannot fdatasync {WAL}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Pack(format!("cannot open {WAL}: {e}"))),
        }
    }

    /// Makes what was appended durable (before the rows pointing at it commit).
    fn sync(&self) -> std::io::Result<()> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| {
            self.failed.store(true, Ordering::Release);
            std::io::Error::new(e.kind(), format!("cannot fdatasync {DATA}: {e}"))
        })
    }

    /// Looks the live blob `name` up and reads it, unless it is larger than `limit`. The punch
    /// lock is held from the lookup to the end of the read: a removal in this process cannot
    /// punch the record out in between; one in another process sharing the directory can, and
    /// the read then finds the record gone (`read`).
    fn live(&self, c: &Connection, name: &str, limit: Option<u64>) -> Result<Found, StoreError> {
        let _reading = self.holes.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sql = "SELECT at, size FROM packed WHERE name = $1 AND purging = 0";
        // A record found no longer whole is looked up once more: the other process may have
        // stored the same content again meanwhile, at a new place.
        for _ in 0..2 {
            match embedded::query_one(c, sql, &[&name], extent)? {
                None => return Ok(Found::Missing),
                Some(extent) if limit.is_some_and(|limit| extent.size > limit) => return Ok(Found::Large),
                Some(extent) => {
                    // A name with a row is a well-formed one.
                    let digest = digest_of(name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if let Some(content) = self.read(extent, &digest)? {
                        return Ok(Found::Content(content));
                    }
                }
            }
        }
        Ok(Found::Missing)
    }

    /// The content at `extent`, or `None` if its record is no longer the blob `digest` names.
    /// The header is read after the content, and one punch covers both: content read (wholly
    /// or partly) from the hole is followed by a header read from it too, which is zeros.
    fn read(&self, extent: Extent, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let content = self.read_at(extent)?;
        let at = extent.at.checked_sub(HEADER).ok_or_else(|| corrupt_extent(extent))?;
        let mut header = [0u8; HEADER as usize];
        self.read_into(&mut header, at, extent)?;
        Ok(is_record_of(&header, digest, extent.size).then_some(content))
    }

    /// The bytes at `extent`, whatever they are.
    fn read_at(&self, extent: Extent) -> Result<Vec<u8>, StoreError> {
        let mut bytes = vec![0; usize::try_from(extent.size).map_err(|_| corrupt_extent(extent))?];
        self.read_into(&mut bytes, extent.at, extent)?;
        Ok(bytes)
    }

    /// Fills `bytes` from `at`, a part of the record of `extent`.
    fn read_into(&self, bytes: &mut [u8], at: u64, extent: Extent) -> Result<(), StoreError> {
        self.file.read_exact_at(bytes, at).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt_extent(extent),
            _ => io_error("cannot read", e),
        })
    }

    /// Gives the disk space of a deleted blob's record back. Where the file system cannot, the
    /// record's header is overwritten instead, so that the next open does not take it for a
    /// record whose row a power loss undid.
    fn punch(&self, extent: Extent) -> std::io::Result<()> {
        let _punching = self.holes.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let flags = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
        match rustix::fs::fallocate(&self.file, flags, extent.at - HEADER, extent.size + HEADER) {
            Ok(()) => Ok(()),
            Err(_) => self.file.write_all_at(&[0; HEADER as usize], extent.at - HEADER),
        }
    }
}

/// Creates the table, points rows at the whole records after the last row's end (rows a power
/// loss undid), cuts off what follows them (a group that did not commit, a crash mid-write) and
/// moves a database of the old layout (bytes in its rows) into the pack, all in one transaction
/// holding the write lock, so no other process is appending meanwhile.
fn prepare(connection: &mut Connection, data: &Data) -> Result<(), BlobError> {
    connection.execute_batch(SCHEMA).map_err(sql_error)?;
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql_error)?;
    let end: i64 =
        transaction.query_row("SELECT coalesce(max(at + size), 0) FROM packed", [], |r| r.get(0)).map_err(sql_error)?;
    let end = u64::try_from(end).map_err(|_| BlobError::Pack(format!("{FILE} names a blob past the end of {DATA}")))?;
    let length = data.file.metadata()?.len();
    if length < end {
        return Err(BlobError::Pack(format!("{DATA} is {length} bytes, shorter than its blobs ({end}): it was cut")));
    }
    let end = recover(&transaction, data, end, length)?;
    if length > end {
        data.file.set_len(end)?;
    }
    let old = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'blobs'";
    if transaction.query_row(old, [], |r| r.get::<_, i64>(0)).map_err(sql_error)? > 0 {
        move_old_rows(&transaction, data)?;
    }
    data.sync()?;
    transaction.commit().map_err(sql_error)
}

/// Appends every blob of the old `blobs` table to the pack, points a row at it, and drops the
/// table (committed by the caller once the file is synced).
fn move_old_rows(transaction: &rusqlite::Transaction<'_>, data: &Data) -> Result<(), BlobError> {
    let mut rows = transaction.prepare("SELECT name, content, purging FROM blobs").map_err(sql_error)?;
    let mut insert = transaction
        .prepare("INSERT INTO packed (name, size, at, purging) VALUES (?1, ?2, ?3, ?4)")
        .map_err(sql_error)?;
    let mut cursor = rows.query([]).map_err(sql_error)?;
    while let Some(row) = cursor.next().map_err(sql_error)? {
        let (name, content, purging): (String, Vec<u8>, i64) =
            (row.get(0).map_err(sql_error)?, row.get(1).map_err(sql_error)?, row.get(2).map_err(sql_error)?);
        let at = data.append(&digest_of(&name)?, &content).map_err(pack_error)?;
        insert.execute(rusqlite::params![name, content.len() as i64, at as i64, purging]).map_err(sql_error)?;
    }
    drop(cursor);
    transaction.execute_batch("DROP TABLE blobs").map_err(sql_error)
}

/// Reads the records from `from` to `length`, pointing a row at each whole one whose content
/// has the SHA-256 its header gives; where the first that is not begins.
fn recover(transaction: &rusqlite::Transaction<'_>, data: &Data, from: u64, length: u64) -> Result<u64, BlobError> {
    let mut insert =
        transaction.prepare("INSERT OR IGNORE INTO packed (name, size, at) VALUES (?1, ?2, ?3)").map_err(sql_error)?;
    let mut at = from;
    while let Some((name, size)) = whole_record(data, at, length)? {
        let row = rusqlite::params![name, size as i64, (at + HEADER) as i64];
        insert.execute(row).map_err(sql_error)?;
        at += HEADER + size;
    }
    Ok(at)
}

/// The record at `at` if it is whole and its content has the SHA-256 its header gives: the
/// content's name and size.
fn whole_record(data: &Data, at: u64, length: u64) -> Result<Option<(String, u64)>, BlobError> {
    if length.saturating_sub(at) < HEADER {
        return Ok(None);
    }
    let mut header = [0u8; HEADER as usize];
    data.file.read_exact_at(&mut header, at)?;
    let size = u64::from_le_bytes(header[40..].try_into().unwrap_or_default());
    if &header[..8] != MAGIC || size > PACK_AT_MOST as u64 || length - at - HEADER < size {
        return Ok(None);
    }
    let content = data.read_at(Extent { at: at + HEADER, size }).map_err(pack_error)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &content);
    Ok((digest.as_ref() == &header[8..40]).then(|| (super::hex(digest.as_ref()), size)))
}

/// Whether `header` begins the record of the content `digest` names, `size` bytes long.
fn is_record_of(header: &[u8; HEADER as usize], digest: &[u8; 32], size: u64) -> bool {
    header[..8] == MAGIC[..] && header[8..40] == digest[..] && header[40..] == size.to_le_bytes()
}

/// A blob's name (its SHA-256 in hex) as the 32 bytes a record's header holds.
fn digest_of(name: &str) -> Result<[u8; 32], BlobError> {
    super::checked(name)?;
    let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(name.as_bytes().chunks_exact(2)) {
        *byte = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    Ok(digest)
}

fn extent(row: &rusqlite::Row<'_>) -> rusqlite::Result<Extent> {
    let (at, size): (i64, i64) = (row.get(0)?, row.get(1)?);
    let bad = |_| rusqlite::Error::IntegralValueOutOfRange(0, at.min(size));
    Ok(Extent { at: u64::try_from(at).map_err(bad)?, size: u64::try_from(size).map_err(bad)? })
}

fn corrupt_extent(extent: Extent) -> StoreError {
    StoreError::Corrupt(format!("{FILE} points past the end of {DATA} ({} bytes at {})", extent.size, extent.at))
}

fn io_error(what: &str, error: std::io::Error) -> StoreError {
    let error = std::io::Error::new(error.kind(), format!("{what} {DATA}: {error}"));
    StoreError::Database(sqlx::Error::Io(error))
}

fn sql_error(error: rusqlite::Error) -> BlobError {
    pack_error(error.into())
}

fn pack_error(error: StoreError) -> BlobError {
    BlobError::Pack(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another process sharing the directory punches a record out between this process's
    /// lookup and read (its punch does not take this process's lock): the blob reads as
    /// missing, not as zeros.
    #[tokio::test]
    async fn a_record_punched_out_after_its_lookup_reads_as_missing_not_zeros() {
        let dir = tempfile::tempdir().expect("dir");
        let pack = Pack::open(dir.path()).await.expect("open");
        let name = "ab".repeat(32);
        let content = vec![7u8; 10_000];
        pack.put(name.clone(), Bytes::from(content.clone())).await.expect("put");
        let digest = digest_of(&name).expect("name");
        let looked_up = name.clone();
        let sql = "SELECT at, size FROM packed WHERE name = $1";
        let found = pack.embedded.read(move |c| embedded::query_one(c, sql, &[&looked_up], extent)).await;
        let at = found.expect("lookup").expect("a row");
        assert!(pack.data.read(at, &digest).expect("read") == Some(content), "whole: read");
        let wrong = digest_of(&"cd".repeat(32)).expect("name");
        assert!(pack.data.read(at, &wrong).expect("read").is_none(), "another blob's record is not this one");

        pack.data.punch(at).expect("punch");
        assert!(pack.data.read(at, &digest).expect("read").is_none(), "punched: missing");
        assert!(pack.get(&name).await.expect("get").is_none(), "the row still points at it, the content is gone");
    }
}
