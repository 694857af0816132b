//! The blob store through its public interface, written once and run on local files always and on
//! S3-compatible object storage when `LIENTHONG_TEST_S3` names a test server (moto's standalone
//! server: `http://127.0.0.1:PORT`), in a bucket of its own removed afterwards.

use std::path::Path;

use store::blobs::{BlobError, BlobLocation, BlobStore};
use store::testing::TestBucket;
use tokio::io::AsyncReadExt as _;

/// One backend under test, and what to clean up after it.
struct Backend {
    label: &'static str,
    blobs: BlobStore,
    dir: tempfile::TempDir,
    bucket: Option<TestBucket>,
}

impl Backend {
    /// What is left in the store besides blobs and blobs set aside (an upload's leftovers).
    async fn leftovers(&self) -> Vec<String> {
        match &self.bucket {
            Some(bucket) => bucket
                .keys()
                .await
                .expect("list the bucket")
                .into_iter()
                .filter(|key| key.starts_with("lienthong/incoming/") || !key.starts_with("lienthong/"))
                .collect(),
            None => std::fs::read_dir(self.dir.path().join("incoming"))
                .expect("incoming/")
                .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
                .collect(),
        }
    }

    async fn finish(self) {
        if let Some(bucket) = self.bucket {
            bucket.remove().await.expect("remove the test bucket");
        }
    }
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let local = BlobStore::open(dir.path()).await.expect("open a local blob store");
    let mut all = vec![Backend { label: "local", blobs: local, dir, bucket: None }];
    if let Ok(endpoint) = std::env::var("LIENTHONG_TEST_S3") {
        let bucket = TestBucket::create(&endpoint).await.expect("create a test bucket");
        let blobs = BlobStore::open_s3(bucket.name(), "lienthong", &bucket.access()).await.expect("open on S3");
        let dir = tempfile::tempdir().expect("temporary directory");
        all.push(Backend { label: "s3", blobs, dir, bucket: Some(bucket) });
    }
    all
}

async fn read_all(blobs: &BlobStore, name: &str) -> Vec<u8> {
    let mut back = Vec::new();
    blobs.get(name).await.expect("get").read_to_end(&mut back).await.expect("read");
    back
}

fn sha256(content: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn put_get_exists_and_the_same_content_twice_is_one_blob() {
    for backend in backends().await {
        let blobs = &backend.blobs;
        let content = b"<edXML>van ban</edXML>".repeat(10_000);
        let stored = blobs.put(&content[..], 1 << 20, None).await.expect("put");
        assert_eq!((stored.name.as_str(), stored.size), (sha256(&content).as_str(), content.len() as u64));
        assert!(blobs.exists(&stored.name).await.expect("exists?"), "{}", backend.label);
        assert_eq!(read_all(blobs, &stored.name).await, content, "{}", backend.label);
        let again = blobs.put(&content[..], 1 << 20, Some(&stored.name.to_uppercase())).await.expect("same content");
        assert_eq!(again, stored, "{}", backend.label);
        let from_memory = blobs.put_bytes(content.clone(), 1 << 20).await.expect("put_bytes");
        assert_eq!(from_memory, stored, "{}", backend.label);
        if let Some(bucket) = &backend.bucket {
            let keys = bucket.keys().await.expect("keys");
            assert_eq!(keys, vec![format!("lienthong/{}", stored.name)], "one object, under its hash");
        }
        assert!(backend.leftovers().await.is_empty(), "{}", backend.label);
        blobs.remove(&stored.name).await.expect("remove");
        blobs.remove(&stored.name).await.expect("removing twice is fine");
        assert!(!blobs.exists(&stored.name).await.expect("exists?"), "{}", backend.label);
        backend.finish().await;
    }
}

#[tokio::test]
async fn a_blob_of_several_upload_parts_comes_back_byte_identical() {
    for backend in backends().await {
        // 12 MiB of varied bytes: three parts on object storage.
        let content: Vec<u8> = (0..12u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let stored = backend.blobs.put(&content[..], 16 << 20, Some(&sha256(&content))).await.expect("put");
        assert_eq!(stored.size, content.len() as u64);
        assert!(read_all(&backend.blobs, &stored.name).await == content, "{}: not byte-identical", backend.label);
        assert!(backend.leftovers().await.is_empty(), "{}", backend.label);
        backend.finish().await;
    }
}

#[tokio::test]
async fn too_large_or_not_the_announced_hash_keeps_nothing() {
    for backend in backends().await {
        let blobs = &backend.blobs;
        // Past one upload part, so that an upload in progress is abandoned.
        let content = vec![7u8; 6 * 1024 * 1024];
        let too_large = blobs.put(&content[..], 6 * 1024 * 1024 - 1, None).await;
        assert!(
            matches!(too_large, Err(BlobError::TooLarge { max }) if max == 6 * 1024 * 1024 - 1),
            "{}",
            backend.label
        );
        let too_large = blobs.put_bytes(content.clone(), 1024).await;
        assert!(matches!(too_large, Err(BlobError::TooLarge { .. })), "{}", backend.label);
        let wrong = blobs.put(&content[..], 1 << 24, Some(&sha256(b"something else"))).await;
        assert!(matches!(wrong, Err(BlobError::HashMismatch { .. })), "{}", backend.label);
        assert!(!blobs.exists(&sha256(&content)).await.expect("exists?"), "{}", backend.label);
        assert!(backend.leftovers().await.is_empty(), "{}: nothing kept", backend.label);
        if let Some(bucket) = &backend.bucket {
            assert!(bucket.keys().await.expect("keys").is_empty(), "no object at all");
        }
        backend.finish().await;
    }
}

#[tokio::test]
async fn bad_and_missing_names() {
    for backend in backends().await {
        let blobs = &backend.blobs;
        assert!(matches!(blobs.get("../../etc/passwd").await, Err(BlobError::BadName(_))), "{}", backend.label);
        assert!(matches!(blobs.exists(&"A".repeat(64)).await, Err(BlobError::BadName(_))), "{}", backend.label);
        assert!(matches!(blobs.set_aside("purging").await, Err(BlobError::BadName(_))), "{}", backend.label);
        assert!(matches!(blobs.get(&"0".repeat(64)).await, Err(BlobError::Missing(_))), "{}", backend.label);
        backend.finish().await;
    }
}

#[tokio::test]
async fn set_aside_restore_discard_and_names() {
    set_aside_restore_discard(b"first".to_vec(), b"second".to_vec()).await;
}

/// Locally, blobs past 1 MiB are files and smaller ones rows of one database: both behave alike.
#[tokio::test]
async fn set_aside_restore_discard_and_names_past_a_mebibyte() {
    set_aside_restore_discard(vec![1u8; (1 << 20) + 1], vec![2u8; 3 << 20]).await;
}

async fn set_aside_restore_discard(first: Vec<u8>, second: Vec<u8>) {
    let max = 8 << 20;
    for backend in backends().await {
        let blobs = &backend.blobs;
        let a = blobs.put(&first[..], max, None).await.expect("put").name;
        let b = blobs.put_bytes(second.clone(), max).await.expect("put").name;
        assert!(blobs.set_aside_names().await.expect("names").is_empty(), "{}", backend.label);

        assert!(blobs.set_aside(&a).await.expect("aside"), "{}", backend.label);
        assert!(!blobs.exists(&a).await.expect("exists?"), "{}: out of reach", backend.label);
        assert!(matches!(blobs.get(&a).await, Err(BlobError::Missing(_))), "{}", backend.label);
        assert!(matches!(blobs.map(&a).await, Err(BlobError::Missing(_))), "{}", backend.label);
        assert_eq!(blobs.set_aside_names().await.expect("names"), vec![a.clone()], "{}", backend.label);
        assert!(!blobs.set_aside(&a).await.expect("aside again"), "{}: not there any more", backend.label);
        assert!(!blobs.set_aside(&"1".repeat(64)).await.expect("aside"), "{}: never there", backend.label);

        blobs.restore(&a).await.expect("restore");
        assert!(read_all(blobs, &a).await == first, "{}", backend.label);
        assert!(blobs.set_aside_names().await.expect("names").is_empty(), "{}", backend.label);
        blobs.restore(&a).await.expect("restoring what is not set aside is nothing to do");

        assert!(blobs.set_aside(&a).await.expect("aside"), "{}", backend.label);
        assert!(blobs.set_aside(&b).await.expect("aside"), "{}", backend.label);
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        assert_eq!(blobs.set_aside_names().await.expect("names"), both, "{}", backend.label);
        blobs.discard(&a).await.expect("discard");
        blobs.discard(&a).await.expect("discarding twice is fine");
        blobs.restore(&a).await.expect("nothing to restore");
        assert!(!blobs.exists(&a).await.expect("exists?"), "{}: gone", backend.label);
        assert_eq!(blobs.set_aside_names().await.expect("names"), vec![b.clone()], "{}", backend.label);

        // Identical content stored meanwhile: restoring puts the same bytes under the same name,
        // and discarding afterwards does not take the stored content away.
        blobs.put(&second[..], max, None).await.expect("put again");
        assert!(blobs.exists(&b).await.expect("exists?"), "{}: stored again", backend.label);
        blobs.restore(&b).await.expect("restore over identical content");
        assert!(read_all(blobs, &b).await == second, "{}", backend.label);
        assert!(blobs.set_aside_names().await.expect("names").is_empty(), "{}", backend.label);
        blobs.discard(&b).await.expect("discard what is live");
        assert!(blobs.map(&b).await.expect("still there")[..] == second[..], "{}", backend.label);
        backend.finish().await;
    }
}

#[tokio::test]
async fn blobs_settings_are_a_directory_or_s3_and_nothing_else() {
    let base = Path::new("/srv/hub");
    assert_eq!(BlobLocation::parse("blobs", base).expect("relative"), BlobLocation::Directory(base.join("blobs")));
    assert_eq!(
        BlobLocation::parse("/data/blobs", base).expect("absolute"),
        BlobLocation::Directory("/data/blobs".into())
    );
    assert_eq!(
        BlobLocation::parse("s3://lienthong-blobs/hub/packages/", base).expect("s3"),
        BlobLocation::S3 { bucket: "lienthong-blobs".into(), prefix: "hub/packages".into() }
    );
    assert_eq!(
        BlobLocation::parse("s3://lienthong-blobs", base).expect("s3 without a prefix"),
        BlobLocation::S3 { bucket: "lienthong-blobs".into(), prefix: String::new() }
    );
    for bad in ["gs://bucket/x", "file:///srv/blobs", "S3://bucket", "s3://", "s3://Bad_Bucket/x", "s3://b/x", ""] {
        assert!(matches!(BlobLocation::parse(bad, base), Err(BlobError::BadLocation { .. })), "{bad:?} refused");
    }
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_is_refused_at_open() {
    let Ok(endpoint) = std::env::var("LIENTHONG_TEST_S3") else { return };
    let bucket = TestBucket::create(&endpoint).await.expect("create a test bucket");
    let access = bucket.access();
    let missing = BlobStore::open_s3("lienthong-no-such-bucket", "x", &access).await;
    assert!(matches!(missing, Err(BlobError::ObjectStore(_))), "{missing:?}");
    bucket.remove().await.expect("remove the test bucket");
}

#[tokio::test]
async fn a_blob_is_mapped_byte_identical_small_or_large_and_a_missing_one_is_named() {
    for backend in backends().await {
        let blobs = &backend.blobs;
        let small = b"<edXML>nho</edXML>".repeat(100);
        let large: Vec<u8> = (0..store::spool::SPOOL_ABOVE + 12_345).map(|i| (i % 251) as u8).collect();
        for content in [small, large] {
            let stored = blobs.put_bytes(content.clone(), 1 << 30).await.expect("put");
            let mapped = blobs.map(&stored.name).await.expect("map");
            assert!(mapped[..] == content[..], "{}: {} bytes", backend.label, content.len());
        }
        let missing = "0".repeat(64);
        assert!(
            matches!(blobs.map(&missing).await, Err(BlobError::Missing(name)) if name == missing),
            "{}",
            backend.label
        );
        let spooled: Vec<_> = std::fs::read_dir(blobs.spool().dir()).expect("spool dir").collect();
        assert!(spooled.is_empty(), "{}: the spool keeps nothing: {spooled:?}", backend.label);
        backend.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_stored_at_the_same_moment_are_each_kept() {
    for backend in backends().await {
        let mut puts = tokio::task::JoinSet::new();
        for i in 0..64u32 {
            let blobs = backend.blobs.clone();
            let content = format!("<edXML>{i}</edXML>").repeat(1 + i as usize * 300).into_bytes();
            puts.spawn(async move { (blobs.put_bytes(content.clone(), 1 << 20).await.expect("put"), content) });
        }
        while let Some(joined) = puts.join_next().await {
            let (stored, content) = joined.expect("joined");
            assert_eq!(stored.name, sha256(&content), "{}", backend.label);
            assert!(read_all(&backend.blobs, &stored.name).await == content, "{}", backend.label);
        }
        backend.finish().await;
    }
}
