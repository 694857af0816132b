//! The spool through its public interface: content gathered on the heap or in a mapped,
//! unlinked file, bounded, and nothing left behind whatever happens.

use bytes::Bytes;
use store::spool::{SPOOL_ABOVE, Spool, SpoolError};

fn files_in(spool: &Spool) -> Vec<String> {
    std::fs::read_dir(spool.dir())
        .expect("spool dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn chunks(content: &[u8], size: usize) -> Vec<Result<Bytes, std::io::Error>> {
    content.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect()
}

#[tokio::test]
async fn content_comes_back_byte_identical_on_the_heap_or_spooled_and_no_file_stays() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let spool = Spool::open(dir.path()).expect("open");
    for (length, expected) in
        [(0, None), (1000, None), (SPOOL_ABOVE, None), (SPOOL_ABOVE + 1, None), (3 * SPOOL_ABOVE + 7, Some(0))]
    {
        let content: Vec<u8> = (0..length).map(|i| (i % 253) as u8).collect();
        let gathered = spool
            .gather(futures_util::stream::iter(chunks(&content, 65_521)), u64::MAX, expected.map(|_| length as u64))
            .await
            .expect("gather");
        assert!(gathered[..] == content[..], "{length} bytes");
        assert!(files_in(&spool).is_empty(), "{length} bytes: the file is unlinked once mapped");
        let slice = gathered.slice(length / 2..);
        drop(gathered);
        assert!(slice[..] == content[length / 2..], "a slice outlives the whole");
    }
}

#[tokio::test]
async fn too_much_or_a_failing_source_is_an_error_that_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let spool = Spool::open(dir.path()).expect("open");
    let content = vec![7u8; 2 * SPOOL_ABOVE];
    let max = (SPOOL_ABOVE + SPOOL_ABOVE / 2) as u64;
    let result = spool.gather(futures_util::stream::iter(chunks(&content, 1 << 20)), max, None).await;
    assert!(matches!(result, Err(SpoolError::TooLarge { max: m }) if m == max), "{result:?}");
    assert!(files_in(&spool).is_empty());

    let mut failing = chunks(&content, 1 << 20);
    failing.push(Err(std::io::Error::other("connection reset")));
    let result = spool.gather(futures_util::stream::iter(failing), u64::MAX, Some(content.len() as u64 + 1)).await;
    assert!(matches!(&result, Err(SpoolError::Source(e)) if e.to_string() == "connection reset"), "{result:?}");
    assert!(files_in(&spool).is_empty());
}

#[tokio::test]
async fn a_file_written_and_mapped_by_hand_and_leftovers_removed_at_open() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("0123abcd.partial"), b"left by a crash").expect("leftover");
    std::fs::write(dir.path().join("README"), b"not ours").expect("other file");
    let spool = Spool::open(dir.path()).expect("open");
    assert_eq!(files_in(&spool), ["README"]);

    let mut file = spool.create().expect("create");
    assert!(file.is_empty());
    file.write_all(b"<edXML>").expect("write");
    file.write_all(&vec![b'A'; 1 << 20]).expect("write");
    assert_eq!(file.len(), 7 + (1 << 20));
    let bytes = file.into_bytes().expect("map");
    assert_eq!(&bytes[..7], b"<edXML>");
    assert_eq!(bytes.len(), 7 + (1 << 20));
    assert_eq!(files_in(&spool), ["README"]);

    let dropped = spool.create().expect("create");
    drop(dropped);
    assert_eq!(files_in(&spool), ["README"], "a file dropped unfinished is removed");
    assert!(spool.create().expect("create").into_bytes().expect("empty").is_empty());
}

#[tokio::test]
async fn scratch_space_is_the_heap_for_small_content_and_a_file_for_large() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let spool = Spool::open(dir.path()).expect("open");
    let mut small = spool.scratch(1000).expect("scratch");
    assert!(matches!(small, store::spool::Scratch::Heap(_)));
    small.write_all(b"nho").expect("write");
    assert_eq!(&small.into_bytes().expect("bytes")[..], b"nho");
    let mut large = spool.scratch(SPOOL_ABOVE + 1).expect("scratch");
    assert!(matches!(large, store::spool::Scratch::File(_)));
    assert_eq!(files_in(&spool).len(), 1, "the file exists while it is written");
    large.write_all(&vec![1u8; SPOOL_ABOVE + 1]).expect("write");
    let bytes = large.into_bytes().expect("bytes");
    assert_eq!(bytes.len(), SPOOL_ABOVE + 1);
    assert!(files_in(&spool).is_empty());
}
