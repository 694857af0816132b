//! The spool: where a large package in transit lives while it is worked on, instead of the heap.
//!
//! A package larger than [`SPOOL_ABOVE`] is written into a file of the spool directory, then
//! mapped read-only into memory and the file unlinked at once. The bytes are then the kernel's
//! page cache: read from disk as they are touched, written back and dropped under memory
//! pressure, and gone when the last view of them is dropped (also after a crash: nothing of an
//! unlinked file survives the process). A crash while a file is being written leaves that file;
//! [`Spool::open`] removes what it finds.
//!
//! Smaller content stays on the heap: a file per package would cost more than it saves.
//!
//! This module holds the workspace's one exception to `unsafe_code`: mapping a file
//! ([`map_read_only`]), whose safety rests on no one changing the file while it is mapped.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};

/// Content up to this size is kept on the heap; larger content is spooled to a file and mapped.
pub const SPOOL_ABOVE: usize = 4 * 1024 * 1024;

/// Bytes gathered before each trip to a blocking thread that writes them to the file.
const WRITE_BATCH: usize = 1024 * 1024;

/// Why content could not be gathered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError<E> {
    /// More than the allowed bytes came; nothing was kept.
    #[error("the content is larger than {max} bytes")]
    TooLarge {
        /// The largest allowed.
        max: u64,
    },
    /// The source failed while it was read.
    #[error("the content could not be read: {0}")]
    Source(E),
    /// The spool file could not be written or mapped.
    #[error("the spool file could not be written: {0}")]
    Io(#[from] io::Error),
}

/// A directory of spool files, shared by clones.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: Arc<PathBuf>,
}

impl Spool {
    /// The spool under `dir` (created if missing). Files left there by a process that stopped
    /// while writing are removed; a file another process is still writing may go too, which does
    /// not disturb it (its writes and mapping go on through its open handle).
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "partial") {
                remove_if_present(&path)?;
            }
        }
        Ok(Self { dir: Arc::new(dir.to_owned()) })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new, empty spool file.
    pub fn create(&self) -> io::Result<SpoolFile> {
        let path = self.dir.join(crate::blobs::temporary_name());
        let file = File::options().read(true).write(true).create_new(true).open(&path)?;
        Ok(SpoolFile { file: Some(file), path, written: 0 })
    }

    /// Somewhere to write content of about `expected` bytes: the heap when that is within
    /// [`SPOOL_ABOVE`], else a spool file.
    pub fn scratch(&self, expected: usize) -> io::Result<Scratch> {
        Ok(if expected > SPOOL_ABOVE { Scratch::File(self.create()?) } else { Scratch::Heap(Vec::new()) })
    }

    /// Reads `source` to its end, refusing more than `max` bytes: on the heap while it stays
    /// within [`SPOOL_ABOVE`], else in a spool file, mapped. `expected` (a `Content-Length`, say)
    /// only decides at once where a large body goes.
    pub async fn gather<E>(
        &self,
        source: impl Stream<Item = Result<Bytes, E>>,
        max: u64,
        expected: Option<u64>,
    ) -> Result<Bytes, SpoolError<E>> {
        let mut source = std::pin::pin!(source);
        let mut held = BytesMut::new();
        let mut file: Option<SpoolFile> = None;
        let mut total: u64 = 0;
        if expected.is_some_and(|n| n > SPOOL_ABOVE as u64) {
            file = Some(self.create()?);
        }
        while let Some(chunk) = source.next().await {
            let chunk = chunk.map_err(SpoolError::Source)?;
            total += chunk.len() as u64;
            if total > max {
                return Err(SpoolError::TooLarge { max });
            }
            held.extend_from_slice(&chunk);
            if file.is_none() && held.len() > SPOOL_ABOVE {
                file = Some(self.create()?);
            }
            if held.len() >= WRITE_BATCH
                && let Some(spooled) = file.take()
            {
                file = Some(spooled.append(held.split().freeze()).await?);
            }
        }
        match file {
            None => Ok(held.freeze()),
            Some(spooled) => {
                let spooled = spooled.append(held.freeze()).await?;
                Ok(tokio::task::spawn_blocking(move || spooled.into_bytes()).await.map_err(io::Error::other)??)
            }
        }
    }
}

/// Content being written where [`Spool::scratch`] chose.
#[derive(Debug)]
pub enum Scratch {
    /// On the heap.
    Heap(Vec<u8>),
    /// In a spool file.
    File(SpoolFile),
}

impl Scratch {
    /// What was written, shared (a spool file mapped and unlinked).
    pub fn into_bytes(self) -> io::Result<Bytes> {
        match self {
            Self::Heap(bytes) => Ok(Bytes::from(bytes)),
            Self::File(file) => file.into_bytes(),
        }
    }
}

impl Write for Scratch {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Heap(bytes) => bytes.write(buf),
            Self::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A spool file being written. Dropped unfinished, it is removed.
#[derive(Debug)]
pub struct SpoolFile {
    file: Option<File>,
    path: PathBuf,
    written: u64,
}

impl SpoolFile {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// The content written, mapped read-only; the file is unlinked (its pages stay while the
    /// returned bytes, or any slice of them, live).
    pub fn into_bytes(mut self) -> io::Result<Bytes> {
        let file = self.file.take().ok_or_else(|| io::Error::other("the spool file is closed"))?;
        let result = if self.written == 0 { Ok(Bytes::new()) } else { map_read_only(&file) };
        remove_if_present(&self.path)?;
        result
    }

    /// Appends `bytes` on a blocking thread.
    async fn append(mut self, bytes: Bytes) -> io::Result<Self> {
        tokio::task::spawn_blocking(move || self.write_all(&bytes).map(|()| self)).await.map_err(io::Error::other)?
    }
}

impl Write for SpoolFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("the spool file is closed"))?;
        let written = file.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Maps the whole of `file` read-only, as shared bytes.
///
/// The caller guarantees that nothing writes to or truncates the file while it is mapped: a
/// spool file is written by its one owner, mapped, then unlinked, and no one else opens it; a blob
/// file is written under a temporary name and renamed into place, never opened for writing
/// again (removal only unlinks it). A change underneath would show through the mapping, or a
/// truncation fault the process.
#[allow(unsafe_code)]
pub(crate) fn map_read_only(file: &File) -> io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: see above — the file is never written or truncated while mapped.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Bytes::from_owner(map))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
