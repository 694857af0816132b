//! The blob store: sealed package content, kept out of the database. Local files by default.
//! A blob is streamed in (never held whole in memory), hashed and counted as it arrives, bounded
//! by a maximum size, flushed to disk and renamed into place only when complete, so a crash
//! leaves either the whole blob or nothing under its name.
//!
//! Removal for retention goes through [`BlobStore::set_aside`]: the blob is first renamed into
//! `purging/`, where [`BlobStore::restore`] can put it back if it turns out to be needed after
//! all (identical content accepted meanwhile), and only then [`BlobStore::discard`]ed.

use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use tokio::fs;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The content is larger than allowed; nothing was kept.
    #[error("the content is larger than {max} bytes; nothing was stored")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The content does not have the hash it was announced with; nothing was kept.
    #[error("the content's SHA-256 is {actual}, not the announced {announced}; nothing was stored")]
    HashMismatch {
        /// What the sender said.
        announced: String,
        /// What arrived.
        actual: String,
    },
    /// A blob name that is not one of ours.
    #[error("not a blob name: {0:?}")]
    BadName(String),
    /// No blob with this name.
    #[error("no blob named {0:?}")]
    Missing(String),
    /// The file system failed.
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its name: the SHA-256 of the content, lowercase hexadecimal.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Blobs as files under one directory, named by their SHA-256 (so storing the same content
/// twice keeps one copy).
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

const CHUNK: usize = 64 * 1024;

/// How much to read from a blob at a time when streaming it out: each read is a trip to a
/// blocking thread, so reads much smaller than this (tokio's default is 4 KiB) cost more in
/// thread hand-offs and TLS records than in copying.
pub const READ_CHUNK: usize = 64 * 1024;

impl BlobStore {
    /// A blob store under `root` (created if missing).
    pub async fn open(root: &Path) -> Result<Self, BlobError> {
        fs::create_dir_all(root.join("incoming")).await?;
        Ok(Self { root: root.to_owned() })
    }

    /// Streams `content` in, refusing more than `max` bytes and, when `announced` is given,
    /// content whose SHA-256 differs. Durable on return.
    pub async fn put(
        &self,
        mut content: impl AsyncRead + Unpin,
        max: u64,
        announced: Option<&str>,
    ) -> Result<StoredBlob, BlobError> {
        let temp = self.root.join("incoming").join(temporary_name());
        let result = async {
            let mut file = fs::File::create(&temp).await?;
            let mut context = digest::Context::new(&digest::SHA256);
            let mut buffer = vec![0u8; CHUNK];
            let mut size = 0u64;
            loop {
                let read = fill(&mut content, &mut buffer).await?;
                if read == 0 {
                    break;
                }
                size += read as u64;
                if size > max {
                    return Err(BlobError::TooLarge { max });
                }
                context.update(&buffer[..read]);
                file.write_all(&buffer[..read]).await?;
            }
            file.sync_all().await?;
            let name = hex(context.finish().as_ref());
            if let Some(announced) = announced.filter(|a| !a.eq_ignore_ascii_case(&name)) {
                return Err(BlobError::HashMismatch { announced: announced.to_owned(), actual: name });
            }
            Ok(StoredBlob { name, size })
        }
        .await;
        match result {
            Ok(blob) => {
                let path = self.path(&blob.name)?;
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).await?;
                }
                fs::rename(&temp, &path).await?;
                if let Some(dir) = path.parent() {
                    fs::File::open(dir).await?.sync_all().await?;
                }
                Ok(blob)
            }
            Err(error) => {
                fs::remove_file(&temp).await.ok();
                Err(error)
            }
        }
    }

    /// Stores `content` already in memory, refusing more than `max` bytes. Durable on return,
    /// like [`BlobStore::put`], in one trip to a blocking thread (write, fsync, rename into place,
    /// fsync of the directory) rather than one per step.
    pub async fn put_bytes(
        &self,
        content: impl AsRef<[u8]> + Send + 'static,
        max: u64,
    ) -> Result<StoredBlob, BlobError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.put_blocking(content.as_ref(), max))
            .await
            .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    fn put_blocking(&self, content: &[u8], max: u64) -> Result<StoredBlob, BlobError> {
        use std::io::Write as _;
        let size = content.len() as u64;
        if size > max {
            return Err(BlobError::TooLarge { max });
        }
        let name = hex(digest::digest(&digest::SHA256, content).as_ref());
        let path = self.path(&name)?;
        let temp = self.root.join("incoming").join(temporary_name());
        let placed = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(content)?;
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&temp, &path)
        })();
        if let Err(error) = placed {
            std::fs::remove_file(&temp).ok();
            return Err(error.into());
        }
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(StoredBlob { name, size })
    }

    /// Opens a blob for streaming out.
    pub async fn get(&self, name: &str) -> Result<fs::File, BlobError> {
        match fs::File::open(self.path(name)?).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::Missing(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a blob (retention); a missing one is not an error.
    pub async fn remove(&self, name: &str) -> Result<(), BlobError> {
        match fs::remove_file(self.path(name)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Whether a blob is in place.
    pub async fn exists(&self, name: &str) -> Result<bool, BlobError> {
        Ok(fs::try_exists(self.path(name)?).await?)
    }

    /// Moves a blob out of reach into `purging/`, durably; `false` if it was not there.
    pub async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        let from = self.path(name)?;
        let aside = self.aside(name)?;
        fs::create_dir_all(self.root.join(PURGING)).await?;
        match fs::rename(&from, &aside).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            other => other?,
        }
        sync_dir(&self.root.join(PURGING)).await?;
        Ok(true)
    }

    /// Puts a blob set aside back in place (identical content may be there already: same name,
    /// same bytes); nothing to do if it is not set aside.
    pub async fn restore(&self, name: &str) -> Result<(), BlobError> {
        let to = self.path(name)?;
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).await?;
        }
        match fs::rename(self.aside(name)?, &to).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => {
                other?;
                if let Some(dir) = to.parent() {
                    sync_dir(dir).await?;
                }
                Ok(())
            }
        }
    }

    /// Deletes a blob set aside; nothing to do if it is not set aside.
    pub async fn discard(&self, name: &str) -> Result<(), BlobError> {
        match fs::remove_file(self.aside(name)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The blobs set aside and neither restored nor discarded (a removal was interrupted).
    pub async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        let mut names = Vec::new();
        let mut entries = match fs::read_dir(self.root.join(PURGING)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
            other => other?,
        };
        while let Some(entry) = entries.next_entry().await? {
            if let Some(name) = entry.file_name().to_str().filter(|n| valid_name(n)) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// `root/ab/abcdef…`: only 64 lowercase hexadecimal digits are names.
    fn path(&self, name: &str) -> Result<PathBuf, BlobError> {
        checked(name)?;
        Ok(self.root.join(&name[..2]).join(name))
    }

    /// `root/purging/abcdef…`.
    fn aside(&self, name: &str) -> Result<PathBuf, BlobError> {
        checked(name)?;
        Ok(self.root.join(PURGING).join(name))
    }
}

/// Where blobs wait between [`BlobStore::set_aside`] and [`BlobStore::discard`].
const PURGING: &str = "purging";

fn valid_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn checked(name: &str) -> Result<(), BlobError> {
    if valid_name(name) { Ok(()) } else { Err(BlobError::BadName(name.chars().take(80).collect())) }
}

async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

/// Reads from `content` until `buffer` is full or the content ends; returns how much was read.
/// Network content arrives in pieces of a TLS record or less: writing whole buffers saves trips
/// to the blocking thread that writes the file.
async fn fill(content: &mut (impl AsyncRead + Unpin), buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = content.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn temporary_name() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = nanos.to_le_bytes();
    }
    format!("{}.partial", hex(&bytes))
}
