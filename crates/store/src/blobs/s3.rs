//! Blobs as objects under a prefix of an S3-compatible bucket, through `object_store`.
//! Layout under the prefix: `<name>` for blobs, `incoming/<random>` for uploads in progress,
//! `purging/<name>` for blobs set aside.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutPayload, WriteMultipart};
use tokio::io::AsyncRead;

use super::{
    BlobError, BlobReader, CHUNK, Hashing, PURGING, StoredBlob, checked, fill, hex, temporary_name, valid_name,
};

/// How many parts of one upload may be in flight at once (each [`PART`] bytes): what bounds
/// the memory one upload takes.
const PARTS_IN_FLIGHT: usize = 2;

/// The size of an upload part (S3's minimum for all but the last).
const PART: usize = 5 * 1024 * 1024;

/// How to reach object storage. Whatever is left `None` comes from the standard AWS
/// environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, …).
#[derive(Clone, Default)]
pub struct S3Access {
    /// The service's URL (e.g. `http://127.0.0.1:9000` for a local test server).
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The access key's id.
    pub access_key_id: Option<String>,
    /// The access key's secret.
    pub secret_access_key: Option<String>,
    /// Whether plain HTTP is allowed (test endpoints only).
    pub allow_http: Option<bool>,
}

impl S3Access {
    /// Everything from the standard AWS environment variables.
    pub fn from_env() -> Self {
        Self::default()
    }

    fn builder(&self, bucket: &str) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(allow) = self.allow_http {
            builder = builder.with_allow_http(allow);
        }
        builder
    }
}

/// Never prints the secret.
impl fmt::Debug for S3Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Access")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "…"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub(super) struct S3Blobs {
    store: Arc<AmazonS3>,
    /// Without leading or trailing `/`; may be empty.
    prefix: String,
}

impl S3Blobs {
    pub(super) async fn open(bucket: &str, prefix: &str, access: &S3Access) -> Result<Self, BlobError> {
        let store = Arc::new(access.builder(bucket).build()?);
        let blobs = Self { store, prefix: prefix.trim_matches('/').to_owned() };
        // Reaches the bucket once, so that a wrong bucket, endpoint or key shows at start.
        blobs.store.list_with_delimiter(Some(&blobs.key(PURGING))).await?;
        Ok(blobs)
    }

    fn key(&self, relative: &str) -> Key {
        if self.prefix.is_empty() { Key::from(relative) } else { Key::from(format!("{}/{relative}", self.prefix)) }
    }

    fn blob(&self, name: &str) -> Result<Key, BlobError> {
        checked(name)?;
        Ok(self.key(name))
    }

    fn aside(&self, name: &str) -> Result<Key, BlobError> {
        checked(name)?;
        Ok(self.key(&format!("{PURGING}/{name}")))
    }

    /// A multipart upload under `incoming/`, aborted on any refusal; once complete, copied
    /// server-side to the blob's name and deleted.
    pub(super) async fn put(
        &self,
        mut content: impl AsyncRead + Unpin,
        max: u64,
        announced: Option<&str>,
    ) -> Result<StoredBlob, BlobError> {
        let temp = self.key(&format!("incoming/{}", temporary_name()));
        let mut upload = WriteMultipart::new_with_chunk_size(self.store.put_multipart(&temp).await?, PART);
        let blob = match stream_into(&mut upload, &mut content, max, announced).await {
            Ok(blob) => blob,
            Err(error) => {
                upload.abort().await.ok();
                return Err(error);
            }
        };
        upload.finish().await?;
        let placed = self.store.copy(&temp, &self.blob(&blob.name)?).await;
        self.store.delete(&temp).await.ok();
        placed?;
        Ok(blob)
    }

    pub(super) async fn put_bytes(
        &self,
        content: impl AsRef<[u8]> + Send + 'static,
        max: u64,
    ) -> Result<StoredBlob, BlobError> {
        let size = content.as_ref().len() as u64;
        if size > max {
            return Err(BlobError::TooLarge { max });
        }
        let name = hex(digest::digest(&digest::SHA256, content.as_ref()).as_ref());
        // One PUT: the object is there whole or not at all.
        self.store.put(&self.blob(&name)?, PutPayload::from(bytes::Bytes::from_owner(content))).await?;
        Ok(StoredBlob { name, size })
    }

    pub(super) async fn get(&self, name: &str) -> Result<BlobReader, BlobError> {
        match self.store.get(&self.blob(name)?).await {
            Ok(result) => {
                let stream = result.into_stream().map_err(std::io::Error::from);
                Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
            }
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::Missing(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn remove(&self, name: &str) -> Result<(), BlobError> {
        absent_is_fine(self.store.delete(&self.blob(name)?).await)
    }

    pub(super) async fn exists(&self, name: &str) -> Result<bool, BlobError> {
        match self.store.head(&self.blob(name)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A copy into `purging/`, then the blob deleted: a crash between leaves both, so at worst
    /// a blob no copy needs, never a copy without its blob.
    pub(super) async fn set_aside(&self, name: &str) -> Result<bool, BlobError> {
        let (blob, aside) = (self.blob(name)?, self.aside(name)?);
        match self.store.copy(&blob, &aside).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            other => other?,
        }
        absent_is_fine(self.store.delete(&blob).await)?;
        Ok(true)
    }

    pub(super) async fn restore(&self, name: &str) -> Result<(), BlobError> {
        let (blob, aside) = (self.blob(name)?, self.aside(name)?);
        match self.store.copy(&aside, &blob).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            other => other?,
        }
        absent_is_fine(self.store.delete(&aside).await)
    }

    pub(super) async fn discard(&self, name: &str) -> Result<(), BlobError> {
        absent_is_fine(self.store.delete(&self.aside(name)?).await)
    }

    pub(super) async fn set_aside_names(&self) -> Result<Vec<String>, BlobError> {
        let mut listing = self.store.list(Some(&self.key(PURGING)));
        let mut names = Vec::new();
        while let Some(meta) = listing.next().await {
            if let Some(name) = meta?.location.filename().filter(|n| valid_name(n)) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Reads `content` into `upload`, hashing and counting; at most [`PARTS_IN_FLIGHT`] parts and
/// one being filled wait in memory.
async fn stream_into(
    upload: &mut WriteMultipart,
    content: &mut (impl AsyncRead + Unpin),
    max: u64,
    announced: Option<&str>,
) -> Result<StoredBlob, BlobError> {
    let mut hashing = Hashing::new(max);
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = fill(content, &mut buffer).await?;
        if read == 0 {
            break;
        }
        hashing.add(&buffer[..read])?;
        upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        upload.write(&buffer[..read]);
    }
    hashing.finish(announced)
}

fn absent_is_fine(result: object_store::Result<()>) -> Result<(), BlobError> {
    match result {
        Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
