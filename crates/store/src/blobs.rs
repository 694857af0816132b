//! The blob store: sealed package content, kept out of the database. Local files by default, or
//! S3-compatible object storage (through the `object_store` crate) with `s3://BUCKET/PREFIX`.
//! A blob is streamed in (never held whole in memory), hashed and counted as it arrives, bounded
//! by a maximum size, and put under its name only when complete, so a crash leaves either the
//! whole blob or nothing under its name. Locally: written under `incoming/`, fsynced, renamed
//! into place. On object storage: a multipart upload under `incoming/<random>` (aborted past
//! the maximum or on a hash mismatch), then copied server-side to its name and deleted.
//!
//! Removal for retention goes through [`BlobStore::set_aside`]: the blob is first moved into
//! `purging/` (a rename; on object storage a copy then a delete), where [`BlobStore::restore`]
//! can put it back if it turns out to be needed after all (identical content accepted
//! meanwhile), and only then [`BlobStore::discard`]ed.

mod pack;
mod s3;

use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use bytes::Bytes;
use tokio::fs;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

pub use s3::S3Access;

use crate::spool::Spool;

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
    /// The database of small blobs failed.
    #[error("blob store (small blobs database): {0}")]
    Pack(String),
    /// Object storage failed or refused.
    #[error("blob store (object storage): {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A `blobs` setting that names no place blobs can be kept in.
    #[error("cài đặt blobs không hợp lệ / invalid blobs setting {setting:?}: {reason}")]
    BadLocation {
        /// The setting as given.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its name: the SHA-256 of the content, lowercase hexadecimal.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Blobs named by their SHA-256 (so storing the same content twice keeps one copy), as files
/// under one directory or as objects under a prefix of an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Backend,
    spool: Spool,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(Local),
    S3(s3::S3Blobs),
}

/// Files under one directory, and the small blobs in one database there (`pack.rs`).
#[derive(Debug, Clone)]
struct Local {
    root: PathBuf,
    pack: pack::Pack,
}

/// A blob being read out, from whichever backend.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

const CHUNK: usize = 64 * 1024;

/// The spool's directory under a local blob root.
const SPOOL: &str = "spool";

/// How much to read from a blob at a time when streaming it out: each read is a trip to a
/// blocking thread, so reads much smaller than this (tokio's default is 4 KiB) cost more in
/// thread hand-offs and TLS records than in copying.
pub const READ_CHUNK: usize = 64 * 1024;

/// Where blobs are kept, as read from a `blobs` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A local directory (the default).
    Directory(PathBuf),
    /// A prefix in an S3-compatible bucket: `s3://BUCKET/PREFIX`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl BlobLocation {
    /// Reads a `blobs` setting: `s3://BUCKET/PREFIX`, or a directory (a relative one under
    /// `base`). Any other `scheme://` is refused, never taken for a directory.
    pub fn parse(setting: &str, base: &Path) -> Result<Self, BlobError> {
        let bad = |reason: &str| BlobError::BadLocation { setting: setting.to_owned(), reason: reason.to_owned() };
        let Some((scheme, rest)) = setting.split_once("://") else {
            if setting.trim().is_empty() {
                return Err(bad("empty / trống"));
            }
            let path = Path::new(setting);
            return Ok(Self::Directory(if path.is_absolute() { path.to_owned() } else { base.join(path) }));
        };
        if scheme != "s3" {
            return Err(bad("chỉ nhận s3://BUCKET/PREFIX hoặc một thư mục / only s3://BUCKET/PREFIX or a directory"));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket(bucket) {
            return Err(bad("tên bucket / the bucket name must be 3 to 63 of a-z, 0-9, '-', '.'"));
        }
        let prefix = prefix.trim_matches('/');
        if object_store::path::Path::parse(prefix).is_err() {
            return Err(bad("tiền tố / the prefix is not a valid object key prefix"));
        }
        Ok(Self::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl BlobStore {
    /// A blob store under the local directory `root` (created if missing).
    pub async fn open(root: &Path) -> Result<Self, BlobError> {
        fs::create_dir_all(root.join("incoming")).await?;
        let spool = Spool::open(&root.join(SPOOL))?;
        let pack = pack::Pack::open(root).await?;
        Ok(Self { backend: Backend::Local(Local { root: root.to_owned(), pack }), spool })
    }

    /// A blob store under `prefix` in the S3-compatible bucket `bucket`, reached with `access`.
    /// The bucket must exist: this checks that it can be listed.
    pub async fn open_s3(bucket: &str, prefix: &str, access: &S3Access) -> Result<Self, BlobError> {
        if !valid_bucket(bucket) {
            return Err(BlobError::BadLocation { setting: bucket.to_owned(), reason: "not a bucket name".into() });
        }
        let spool = Spool::open(&std::env::temp_dir().join("lienthong-spool"))?;
        Ok(Self { backend: Backend::S3(s3::S3Blobs::open(bucket, prefix, access).await?), spool })
    }

    /// A blob store where `location` says; object storage is reached as the standard AWS
    /// environment variables say ([`S3Access::from_env`]).
    pub async fn open_location(location: &BlobLocation) -> Result<Self, BlobError> {
        match location {
            BlobLocation::Directory(root) => Self::open(root).await,
            BlobLocation::S3 { bucket, prefix } => Self::open_s3(bucket, prefix, &S3Access::from_env()).await,
        }
    }

    /// Streams `content` in, refusing more than `max` bytes and, when `announced` is given,
    /// content whose SHA-256 differs (nothing is kept then). Durable on return.
    pub async fn put(
        &self,
        content: impl AsyncRead + Unpin,
        max: u64,
        announced: Option<&str>,
    ) -> Result<StoredBlob, BlobError> {
        match &self.backend {
            Backend::Local(local) => local.put(content, max, announced).await,
            Backend::S3(s3) => s3.put(content, max, announced).await,
        }
    }

    /// Stores `content` already in memory, refusing more than `max` bytes. Durable on return,
    /// like [`BlobStore::put`]: locally in one trip to a blocking thread (write, fsync, rename
    /// into place, fsync of the directory) rather than one per step; on object storage in one
    /// request.
    pub async fn put_bytes(
        &self,
        content: impl AsRef<[u8]> + Send + 'static,
        max: u64,
    ) -> Result<StoredBlob, BlobError> {
        match &self.backend {
            Backend::Local(local) if content.as_ref().len() <= pack::PACK_AT_MOST => {
                local.put_small(Bytes::copy_from_slice(content.as_ref()), max, None).await
            }
            Backend::Local(local) => {
                let local = local.clone();
                tokio::task::spawn_blocking(move || local.put_blocking(content.as_ref(), max))
                    .await
                    .map_err(|e| BlobError::Io(io::Error::other(e)))?
            }
            Backend::S3(s3) => s3.put_bytes(content, max).await,
        }
    }

    /// Opens a blob for streaming out.
    pub async fn get(&self, name: &str) -> Result<BlobReader, BlobError> {
        match &self.backend {
            Backend::Local(local) => match local.pack.get(name).await? {
                Some(content) => Ok(Box::new(io::Cursor::new(content))),
                None => Ok(Box::new(local.get(name).await?)),
            },
            Backend::S3(s3) => s3.get(name).await,
        }
    }

    /// A blob's content as shared bytes without reading it onto the heap: a local file is
    /// mapped (blob files are never written again once in place), an object is downloaded
    /// into the spool (mapped when larger than [`crate::spool::SPOOL_ABOVE`]).
    pub async fn map(&self, name: &str) -> Result<Bytes, BlobError> {
        match &self.backend {
            Backend::Local(local) => {
                if let Some(content) = local.pack.get(name).await? {
                    return Ok(content);
                }
                let file = local.get(name).await?.into_std().await;
                tokio::task::spawn_blocking(move || crate::spool::map_read_only(&file))
                    .await
                    .map_err(|e| BlobError::Io(io::Error::other(e)))?
                    .map_err(BlobError::Io)
            }
            Backend::S3(s3) => {
                let reader = s3.get(name).await?;
                let chunks = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK);
                self.spool.gather(chunks, u64::MAX, None).await.map_err(|e| match e {
                    crate::spool::SpoolError::Source(e) | crate::spool::SpoolError::Io(e) => BlobError::Io(e),
                    crate::spool::SpoolError::TooLarge { max } => BlobError::TooLarge { max },
                })
            }
        }
    }

    /// Where content in transit waits off the heap: `spool/` beside local blobs, or the system's
    /// temporary directory (`lienthong-spool/`) for object storage.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Removes a blob (retention); a missing one is not an error.
    pub async fn remove(&self, name: &str) -> Result<(), BlobError> {
        match &self.backend {
            Backend::Local(local) => local.remove(name).await,
            Backend::S3(s3) => s3.remove(name).await,
        }
    }

    /// Whether a blob is in place.
    pub async fn exists(&self, name: &str) -> Result<bool, BlobError> {
        match &self.backend {
            Backend::Local(local) => local.exists(name).await,
            Backend::S3(s3) => s3.exists(name).await,
        }
    }

    /// Moves a blob out of reach into `purging/`, durably; `false` if it was not there.
    pub async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        match &self.backend {
            Backend::Local(local) => local.set_aside(name).await,
            Backend::S3(s3) => s3.set_aside(name).await,
        }
    }

    /// Puts a blob set aside back in place (identical content may be there already: same name,
    /// same bytes); nothing to do if it is not set aside.
    pub async fn restore(&self, name: &str) -> Result<(), BlobError> {
        match &self.backend {
            Backend::Local(local) => local.restore(name).await,
            Backend::S3(s3) => s3.restore(name).await,
        }
    }

    /// Deletes a blob set aside; nothing to do if it is not set aside.
    pub async fn discard(&self, name: &str) -> Result<(), BlobError> {
        match &self.backend {
            Backend::Local(local) => local.discard(name).await,
            Backend::S3(s3) => s3.discard(name).await,
        }
    }

    /// The blobs set aside and neither restored nor discarded (a removal was interrupted).
    pub async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        match &self.backend {
            Backend::Local(local) => local.set_aside_names().await,
            Backend::S3(s3) => s3.set_aside_names().await,
        }
    }
}

impl Local {
    /// Streams `content` in: into the pack if it ends within [`pack::PACK_AT_MOST`] bytes,
    /// else into a file.
    async fn put(
        &self,
        mut content: impl AsyncRead + Unpin,
        max: u64,
        announced: Option<&str>,
    ) -> Result<StoredBlob, BlobError> {
        let mut head = Vec::new();
        (&mut content).take(pack::PACK_AT_MOST as u64 + 1).read_to_end(&mut head).await?;
        if head.len() <= pack::PACK_AT_MOST {
            return self.put_small(Bytes::from(head), max, announced).await;
        }
        self.put_file(io::Cursor::new(head).chain(content), max, announced).await
    }

    /// Stores content of at most [`pack::PACK_AT_MOST`] bytes in the pack.
    async fn put_small(&self, content: Bytes, max: u64, announced: Option<&str>) -> Result<StoredBlob, BlobError> {
        let mut hashing = Hashing::new(max);
        hashing.add(&content)?;
        let blob = hashing.finish(announced)?;
        self.pack.put(blob.name.clone(), content).await?;
        Ok(blob)
    }

    async fn put_file(
        &self,
        mut content: impl AsyncRead + Unpin,
        max: u64,
        announced: Option<&str>,
    ) -> Result<StoredBlob, BlobError> {
        let temp = self.root.join("incoming").join(temporary_name());
        let result = async {
            let mut file = fs::File::create(&temp).await?;
            let mut hashing = Hashing::new(max);
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let read = fill(&mut content, &mut buffer).await?;
                if read == 0 {
                    break;
                }
                hashing.add(&buffer[..read])?;
                file.write_all(&buffer[..read]).await?;
            }
            file.sync_all().await?;
            hashing.finish(announced)
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

    async fn get(&self, name: &str) -> Result<fs::File, BlobError> {
        match fs::File::open(self.path(name)?).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::Missing(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BlobError> {
        let path = self.path(name)?;
        self.pack.remove(name).await?;
        match fs::remove_file(path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn exists(&self, name: &str) -> Result<bool, BlobError> {
        let path = self.path(name)?;
        Ok(self.pack.holds(name).await? || fs::try_exists(path).await?)
    }

    async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        let from = self.path(name)?;
        if self.pack.set_aside(name).await? {
            return Ok(true);
        }
        let aside = self.aside(name)?;
        fs::create_dir_all(self.root.join(PURGING)).await?;
        match fs::rename(&from, &aside).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            other => other?,
        }
        sync_dir(&self.root.join(PURGING)).await?;
        Ok(true)
    }

    async fn restore(&self, name: &str) -> Result<(), BlobError> {
        let to = self.path(name)?;
        self.pack.restore(name).await?;
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

    async fn discard(&self, name: &str) -> Result<(), BlobError> {
        let aside = self.aside(name)?;
        self.pack.discard(name).await?;
        match fs::remove_file(aside).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        let mut names = self.pack.set_aside_names().await?;
        match fs::read_dir(self.root.join(PURGING)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
            Ok(mut entries) => {
                while let Some(entry) = entries.next_entry().await? {
                    if let Some(name) = entry.file_name().to_str().filter(|n| valid_name(n)) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
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
pub(crate) const PURGING: &str = "purging";

pub(crate) fn valid_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn checked(name: &str) -> Result<(), BlobError> {
    if valid_name(name) { Ok(()) } else { Err(BlobError::BadName(name.chars().take(80).collect())) }
}

async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

/// A blob's SHA-256 and size as its content streams in, bounded by a maximum size.
pub(crate) struct Hashing {
    context: digest::Context,
    size: u64,
    max: u64,
}

impl Hashing {
    pub(crate) fn new(max: u64) -> Self {
        Self { context: digest::Context::new(&digest::SHA256), size: 0, max }
    }

    /// Counts and hashes `chunk`; past the maximum, [`BlobError::TooLarge`].
    pub(crate) fn add(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(BlobError::TooLarge { max: self.max });
        }
        self.context.update(chunk);
        Ok(())
    }

    /// The blob, unless `announced` names another hash.
    pub(crate) fn finish(self, announced: Option<&str>) -> Result<StoredBlob, BlobError> {
        let name = hex(self.context.finish().as_ref());
        if let Some(announced) = announced.filter(|a| !a.eq_ignore_ascii_case(&name)) {
            return Err(BlobError::HashMismatch { announced: announced.to_owned(), actual: name });
        }
        Ok(StoredBlob { name, size: self.size })
    }
}

/// Reads from `content` until `buffer` is full or the content ends; returns how much was read.
/// Network content arrives in pieces of a TLS record or less: writing whole buffers saves trips
/// to the blocking thread that writes the file.
pub(crate) async fn fill(content: &mut (impl AsyncRead + Unpin), buffer: &mut [u8]) -> io::Result<usize> {
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn temporary_name() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = nanos.to_le_bytes();
    }
    format!("{}.partial", hex(&bytes))
}
