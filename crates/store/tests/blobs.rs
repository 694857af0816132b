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

/// Locally, blobs past 4 MiB are files and smaller ones records of the pack: both behave alike.
#[tokio::test]
async fn set_aside_restore_discard_and_names_past_four_mebibytes() {
    set_aside_restore_discard(vec![1u8; (4 << 20) + 1], vec![2u8; 5 << 20]).await;
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

/// Locally, small blobs are appended to `small-blobs.pack`, each found through a row of
/// `small-blobs.sqlite`.
const PACK: &str = "small-blobs.pack";
/// The header of each record in the pack.
const RECORD_HEADER: u64 = 48;

/// `len` random bytes (so each call's content is its own).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    bytes
}

#[tokio::test]
async fn a_removed_small_blob_gives_its_disk_space_back() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let blobs = BlobStore::open(dir.path()).await.expect("open");
    let contents: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(512 * 1024)).collect();
    let mut names = Vec::new();
    for content in &contents {
        names.push(blobs.put_bytes(content.clone(), 1 << 20).await.expect("put").name);
    }
    let used = |path: &Path| std::fs::metadata(path).expect("pack").blocks() * 512;
    let pack = dir.path().join(PACK);
    let before = used(&pack);
    assert!(before >= 3 * 512 * 1024, "{before} bytes on disk");

    blobs.remove(&names[1]).await.expect("remove");
    assert!(blobs.set_aside(&names[2]).await.expect("aside"));
    blobs.discard(&names[2]).await.expect("discard");
    let after = used(&pack);
    assert!(after <= before - 2 * 500 * 1024, "{before} bytes on disk, then {after}: the space was not given back");
    assert!(read_all(&blobs, &names[0]).await == contents[0], "the blob left is intact");
    for gone in &names[1..] {
        assert!(!blobs.exists(gone).await.expect("exists?"));
    }
    // Stored again, the content is appended anew and reads back whole.
    let again = blobs.put_bytes(contents[1].clone(), 1 << 20).await.expect("put again").name;
    assert!(read_all(&blobs, &again).await == contents[1]);
}

#[tokio::test]
async fn bytes_no_row_points_at_are_cut_off_at_the_next_open() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let content = b"<edXML>giu lai</edXML>".repeat(50);
    let name = {
        let blobs = BlobStore::open(dir.path()).await.expect("open");
        blobs.put_bytes(content.clone(), 1 << 20).await.expect("put").name
    };
    let pack = dir.path().join(PACK);
    let length = std::fs::metadata(&pack).expect("pack").len();
    assert_eq!(length, RECORD_HEADER + content.len() as u64);
    // What a crash between an append and its commit leaves behind.
    let mut file = std::fs::OpenOptions::new().append(true).open(&pack).expect("open the pack");
    std::io::Write::write_all(&mut file, &[7u8; 4000]).expect("append");
    drop(file);

    let blobs = BlobStore::open(dir.path()).await.expect("reopen");
    assert_eq!(std::fs::metadata(&pack).expect("pack").len(), length, "cut back to the last blob's end");
    assert!(read_all(&blobs, &name).await == content);
    let next = b"<edXML>tiep</edXML>".to_vec();
    let stored = blobs.put_bytes(next.clone(), 1 << 20).await.expect("put").name;
    assert!(read_all(&blobs, &stored).await == next);
    assert_eq!(std::fs::metadata(&pack).expect("pack").len(), length + RECORD_HEADER + next.len() as u64);
}

#[tokio::test]
async fn a_pack_whose_file_was_cut_short_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let blobs = BlobStore::open(dir.path()).await.expect("open");
        blobs.put_bytes(vec![1u8; 5000], 1 << 20).await.expect("put");
    }
    std::fs::OpenOptions::new().write(true).open(dir.path().join(PACK)).expect("pack").set_len(100).expect("cut");
    let refused = BlobStore::open(dir.path()).await.expect_err("a pack missing bytes");
    assert!(matches!(&refused, BlobError::Pack(m) if m.contains(PACK) && m.contains("shorter")), "{refused}");
}

/// Two hubs may share one blob directory: each appends at the end while it holds the database's
/// write lock, never over the other's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_directory_append_one_after_the_other() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let stores = [
        BlobStore::open(dir.path()).await.expect("open the first"),
        BlobStore::open(dir.path()).await.expect("open the second"),
    ];
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..80u64 {
        let blobs = stores[i as usize % 2].clone();
        let content = random_bytes(1000 + i as usize * 997);
        puts.spawn(async move { (blobs.put_bytes(content.clone(), 1 << 20).await.expect("put").name, content) });
    }
    let stored = puts.join_all().await;
    let total: u64 = stored.iter().map(|(_, content)| RECORD_HEADER + content.len() as u64).sum();
    assert_eq!(std::fs::metadata(dir.path().join(PACK)).expect("pack").len(), total, "nothing written over");
    for (name, content) in &stored {
        for blobs in &stores {
            assert!(read_all(blobs, name).await == *content, "{name}");
        }
    }
}

#[tokio::test]
async fn small_blobs_stored_in_rows_before_the_pack_are_moved_into_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (live, aside) = (b"<edXML>cu</edXML>".repeat(40), b"<edXML>cu, de rieng</edXML>".repeat(40));
    {
        // The layout before the pack: the bytes in the rows.
        let old = rusqlite::Connection::open(dir.path().join("small-blobs.sqlite")).expect("old database");
        old.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE blobs (name TEXT PRIMARY KEY NOT NULL, size INTEGER NOT NULL, \
             content BLOB NOT NULL, purging INTEGER NOT NULL DEFAULT 0)",
        )
        .expect("old schema");
        for (content, purging) in [(&live, 0), (&aside, 1)] {
            let row = rusqlite::params![sha256(content), content.len() as i64, content, purging];
            old.execute("INSERT INTO blobs (name, size, content, purging) VALUES (?1, ?2, ?3, ?4)", row).expect("row");
        }
    }
    let blobs = BlobStore::open(dir.path()).await.expect("open");
    assert!(read_all(&blobs, &sha256(&live)).await == live);
    assert!(!blobs.exists(&sha256(&aside)).await.expect("exists?"), "set aside stays set aside");
    assert_eq!(blobs.set_aside_names().await.expect("names"), vec![sha256(&aside)]);
    blobs.restore(&sha256(&aside)).await.expect("restore");
    assert!(read_all(&blobs, &sha256(&aside)).await == aside);
    let length = std::fs::metadata(dir.path().join(PACK)).expect("pack").len();
    assert_eq!(length, 2 * RECORD_HEADER + (live.len() + aside.len()) as u64);
    drop(blobs);
    let reopened = BlobStore::open(dir.path()).await.expect("reopen: nothing left to move");
    assert_eq!(std::fs::metadata(dir.path().join(PACK)).expect("pack").len(), length);
    assert!(read_all(&reopened, &sha256(&live)).await == live);
}

/// The rows are committed without waiting for the disk (the pack's bytes are synced before
/// them): rows a power loss undid are found again from the records after the last row.
#[tokio::test]
async fn rows_a_power_loss_undid_are_found_again_from_the_pack() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let contents: Vec<Vec<u8>> = (0..4).map(|i| random_bytes(3000 + i * 100)).collect();
    let mut names = Vec::new();
    {
        let blobs = BlobStore::open(dir.path()).await.expect("open");
        for content in &contents {
            names.push(blobs.put_bytes(content.clone(), 1 << 20).await.expect("put").name);
        }
    }
    let length = std::fs::metadata(dir.path().join(PACK)).expect("pack").len();
    {
        // The last three rows lost, and a record cut short after them (a crash mid-write).
        let index = rusqlite::Connection::open(dir.path().join("small-blobs.sqlite")).expect("index");
        let kept = &names[0];
        index.execute("DELETE FROM packed WHERE name <> ?1", [kept]).expect("undo the rows");
        let mut file = std::fs::OpenOptions::new().append(true).open(dir.path().join(PACK)).expect("pack");
        std::io::Write::write_all(&mut file, b"ltblob1\n0123456789").expect("a partial header");
    }
    let blobs = BlobStore::open(dir.path()).await.expect("reopen");
    for (name, content) in names.iter().zip(&contents) {
        assert!(read_all(&blobs, name).await == *content, "{name} found again");
    }
    assert_eq!(std::fs::metadata(dir.path().join(PACK)).expect("pack").len(), length, "the partial record is cut");
}

#[tokio::test]
async fn a_record_whose_content_does_not_match_its_name_is_not_taken_back() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (first, second) = (random_bytes(2000), random_bytes(2000));
    let (a, b) = {
        let blobs = BlobStore::open(dir.path()).await.expect("open");
        let a = blobs.put_bytes(first.clone(), 1 << 20).await.expect("put").name;
        (a, blobs.put_bytes(second.clone(), 1 << 20).await.expect("put").name)
    };
    let pack = dir.path().join(PACK);
    let length = std::fs::metadata(&pack).expect("pack").len();
    {
        let index = rusqlite::Connection::open(dir.path().join("small-blobs.sqlite")).expect("index");
        index.execute("DELETE FROM packed WHERE name = ?1", [&b]).expect("undo the row");
        // One byte of the second record's content flipped.
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&pack).expect("pack");
        let mut byte = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, length - 10).expect("read");
        std::os::unix::fs::FileExt::write_all_at(&file, &[byte[0] ^ 1], length - 10).expect("write");
    }
    let blobs = BlobStore::open(dir.path()).await.expect("reopen");
    assert!(read_all(&blobs, &a).await == first);
    assert!(!blobs.exists(&b).await.expect("exists?"), "a damaged record is not a blob");
    assert_eq!(std::fs::metadata(&pack).expect("pack").len(), length - RECORD_HEADER - 2000, "and it is cut off");
}
