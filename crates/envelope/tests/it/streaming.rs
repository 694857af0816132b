//! `seal_to` and `open_to`: the streaming GCM agrees with aws-lc-rs's one-shot GCM both ways, at
//! every chunk boundary and for content in many segments; tampering and truncation are caught;
//! OpenSSL reads what `seal_to` writes and `open_to` reads what OpenSSL writes.

use std::io::{self, Write};

use envelope::{MAX_CONTENT_BYTES, OpenError, SealError, open, open_to, seal, seal_to};
use pki::{KeyAlgorithm, Profile};

use crate::interop::openssl_encrypt;
use crate::{Holder, Setup, content, openssl_decrypt, p, run};

/// The chunk `seal_to` and `open_to` work in (64 KiB, not public: the lengths around it are what
/// matters here).
const CHUNK: usize = 64 * 1024;

/// Lengths at and around every boundary: GCM's blocks, the chunk, several chunks and a tail.
const LENGTHS: [usize; 13] =
    [0, 1, 15, 16, 17, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK + 4097];

fn seal_streamed(segments: &[&[u8]], recipients: &[&[u8]]) -> Vec<u8> {
    let mut envelope = Vec::new();
    let written = seal_to(segments, recipients, &mut envelope).expect("sealed");
    assert_eq!(written, envelope.len() as u64, "seal_to's count");
    envelope
}

fn open_streamed(envelope: &[u8], holder: &Holder) -> Result<Vec<u8>, OpenError> {
    let mut content = Vec::new();
    let length = open_to(envelope, &holder.cert_der, &holder.key_der, &mut content)?;
    assert_eq!(length, content.len() as u64, "open_to's count");
    Ok(content)
}

#[test]
fn streamed_and_one_shot_envelopes_open_each_other() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let holder = setup.gateway("gw", algorithm);
        for length in LENGTHS {
            let document = content(length);
            let streamed = seal_streamed(&[&document], &[&holder.cert_der]);
            let one_shot = seal(&document, &[&holder.cert_der]).expect("sealed");
            assert_eq!(streamed.len(), one_shot.len(), "{algorithm}, {length} bytes: the same structure");
            assert!(
                open(&streamed, &holder.cert_der, &holder.key_der) == Ok(document.clone()),
                "{algorithm}, {length}"
            );
            assert!(open_streamed(&one_shot, &holder) == Ok(document.clone()), "{algorithm}, {length}");
            assert!(open_streamed(&streamed, &holder) == Ok(document), "{algorithm}, {length}");
        }
    }
}

/// Segment sizes from a fixed pseudo-random sequence (odd sizes, empty ones, some larger than a
/// chunk), so that segment and chunk boundaries fall everywhere relative to each other.
fn segment_sizes(seed: u64, count: usize) -> Vec<usize> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            match (state >> 33) % 10 {
                0 => 0,
                1 => CHUNK + (state >> 40) as usize % 999,
                2 => 1,
                _ => (state >> 40) as usize % 5000,
            }
        })
        .collect()
}

#[test]
fn content_in_many_segments_of_odd_sizes_is_sealed_as_their_concatenation() {
    let setup = Setup::new();
    let holder = setup.gateway("gw", KeyAlgorithm::P256);
    for seed in 1..=8 {
        let sizes = segment_sizes(seed, 40);
        let document = content(sizes.iter().sum());
        let mut segments = Vec::new();
        let mut rest = document.as_slice();
        for size in sizes {
            let (segment, later) = rest.split_at(size);
            segments.push(segment);
            rest = later;
        }
        let envelope = seal_streamed(&segments, &[&holder.cert_der]);
        assert!(open(&envelope, &holder.cert_der, &holder.key_der) == Ok(document.clone()), "seed {seed}");
        assert!(open_streamed(&envelope, &holder) == Ok(document), "seed {seed}");
    }
    // Segments that end exactly at the chunk boundary, and a content of empty segments only.
    let document = content(2 * CHUNK + 3);
    let segments = [&document[..CHUNK], &document[CHUNK..2 * CHUNK], &[], &document[2 * CHUNK..]];
    let envelope = seal_streamed(&segments, &[&holder.cert_der]);
    assert!(open(&envelope, &holder.cert_der, &holder.key_der) == Ok(document), "chunk-sized segments");
    let envelope = seal_streamed(&[&[][..], &[][..]], &[&holder.cert_der]);
    assert_eq!(open(&envelope, &holder.cert_der, &holder.key_der), Ok(Vec::new()));
    let envelope = seal_streamed(&[], &[&holder.cert_der]);
    assert_eq!(open(&envelope, &holder.cert_der, &holder.key_der), Ok(Vec::new()));
}

#[test]
fn open_to_refuses_a_tampered_or_truncated_envelope() {
    let setup = Setup::new();
    for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let holder = setup.gateway("gw", algorithm);
        let length = 3 * CHUNK + 4097;
        let envelope = seal_streamed(&[&content(length)], &[&holder.cert_der]);
        let tag_start = envelope.len() - 16;
        let content_start = tag_start - 2 - length;
        let positions = [
            ("first ciphertext byte", content_start),
            ("a byte in the second chunk", content_start + CHUNK + 1234),
            ("the first byte of the last chunk", content_start + 3 * CHUNK),
            ("last ciphertext byte", tag_start - 3),
            ("first tag byte", tag_start),
            ("last tag byte", envelope.len() - 1),
        ];
        for (what, position) in positions {
            let mut tampered = envelope.clone();
            tampered[position] ^= 0x01;
            // What open_to wrote before the tag failed is the caller's to discard: only the
            // result counts.
            let mut discarded = Vec::new();
            let opened = open_to(&tampered, &holder.cert_der, &holder.key_der, &mut discarded);
            assert_eq!(opened, Err(OpenError::Tampered), "{algorithm}, {what}");
        }
        for kept in [envelope.len() - 1, envelope.len() - 16, content_start + CHUNK, 100, 1, 0] {
            let mut written = Vec::new();
            let opened = open_to(&envelope[..kept], &holder.cert_der, &holder.key_der, &mut written);
            assert!(matches!(opened, Err(OpenError::Malformed(_))), "{algorithm}, truncated to {kept}: {opened:?}");
            assert!(written.is_empty(), "a malformed envelope is refused before anything is written");
        }
    }
}

/// A writer that accepts `room` bytes, then fails.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "the disk is full"));
        }
        let taken = bytes.len().min(self.room);
        self.room -= taken;
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_is_an_io_error_naming_what_was_written() {
    let setup = Setup::new();
    let holder = setup.gateway("gw", KeyAlgorithm::P256);
    let document = content(2 * CHUNK + 5);
    for (room, what) in [(0, "writing the envelope's header"), (1000, "writing the ciphertext")] {
        let sealed = seal_to(&[&document], &[&holder.cert_der], &mut Full { room });
        assert!(
            matches!(&sealed, Err(SealError::Io { what: named, kind: io::ErrorKind::StorageFull, .. }) if *named == what),
            "{sealed:?}"
        );
    }
    let envelope = seal(&document, &[&holder.cert_der]).expect("sealed");
    let opened = open_to(&envelope, &holder.cert_der, &holder.key_der, &mut Full { room: CHUNK + 1 });
    assert!(
        matches!(&opened, Err(OpenError::Io { what: "writing the content", kind: io::ErrorKind::StorageFull, .. })),
        "{opened:?}"
    );
    assert!(opened.expect_err("failed").to_string().contains("the disk is full"));
}

#[test]
fn seal_to_has_seals_limits_and_writes_nothing_when_it_refuses() {
    let setup = Setup::new();
    let gateway = setup.gateway("gw", KeyAlgorithm::P256);
    let signing = setup.holder("org", Profile::Organization, "CN=Van phong,O=Van phong,C=VN", KeyAlgorithm::P256);
    let mebibyte = vec![0x42; 1024 * 1024];
    let too_much = vec![mebibyte.as_slice(); MAX_CONTENT_BYTES / mebibyte.len() + 1];
    let total = too_much.len() * mebibyte.len();
    let mut out = Vec::new();
    assert_eq!(seal_to(&too_much, &[&gateway.cert_der], &mut out), Err(SealError::TooLarge(total)));
    // The size is refused first, as `seal` refuses it, whatever the certificates.
    assert_eq!(seal_to(&too_much, &[b"garbage"], &mut out), Err(SealError::TooLarge(total)));
    assert_eq!(seal_to(&[&b"x"[..]], &[], &mut out), Err(SealError::RecipientCount(0)));
    let refused = seal_to(&[&b"x"[..]], &[&gateway.cert_der, &signing.cert_der], &mut out);
    assert_eq!(refused, Err(SealError::KeyUsage { index: 1, needed: "keyAgreement" }));
    let refused = seal_to(&[&b"x"[..]], &[&gateway.cert_der, b"garbage"], &mut out);
    assert!(matches!(refused, Err(SealError::Certificate { index: 1, .. })), "{refused:?}");
    assert!(out.is_empty());
    let envelope = seal(b"secret", &[&gateway.cert_der]).expect("sealed");
    let other = setup.gateway("other", KeyAlgorithm::P256);
    assert_eq!(open_to(&envelope, &other.cert_der, &other.key_der, &mut out), Err(OpenError::NotForUs));
    assert_eq!(open_to(&envelope, &gateway.cert_der, &other.key_der, &mut out), Err(OpenError::KeyMismatch));
    assert!(out.is_empty());
}

#[test]
fn openssl_decrypts_a_few_megabytes_sealed_to_rsa_and_p256() {
    let setup = Setup::new();
    let holders = [setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048)];
    let document = content(3_000_017);
    let (first, rest) = document.split_at(1_234_567);
    let envelope = seal_streamed(&[first, rest], &[&holders[0].cert_der, &holders[1].cert_der]);
    for holder in &holders {
        assert!(openssl_decrypt(&setup, &envelope, holder) == Ok(document.clone()), "{}", holder.cert_pem.display());
    }
}

/// `openssl cms -encrypt` with another GCM key size, for one recipient.
fn openssl_encrypt_with(setup: &Setup, document: &[u8], cipher: &str, holder: &Holder) -> Vec<u8> {
    let input = setup.write("plain-gcm.bin", document);
    let output = setup.path("openssl-gcm.der");
    let args = ["cms", "-encrypt", cipher, "-binary", "-outform", "DER", "-in", p(&input), "-out", p(&output)];
    let (code, text) = run("openssl", &[&args[..], &["-recip", p(&holder.cert_pem)]].concat());
    assert_eq!(code, 0, "openssl cms -encrypt {cipher}: {text}");
    std::fs::read(&output).expect("openssl's envelope")
}

#[test]
fn open_to_opens_every_gcm_key_size_openssl_writes() {
    let setup = Setup::new();
    let holders = [setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048)];
    let document = content(CHUNK + 77);
    for cipher in ["-aes-128-gcm", "-aes-192-gcm", "-aes-256-gcm"] {
        for holder in &holders {
            let envelope = openssl_encrypt_with(&setup, &document, cipher, holder);
            let case = format!("{cipher}, {}", holder.cert_pem.display());
            let one_shot = open(&envelope, &holder.cert_der, &holder.key_der);
            let streamed = open_streamed(&envelope, holder);
            assert!(streamed == one_shot, "{case}: open_to and open disagree");
            if cipher == "-aes-192-gcm" && holder.cert_pem.ends_with("ec.crt") {
                // For a P-256 recipient OpenSSL wraps an AES-192 key with id-aes192-wrap, which
                // the key agreement (aws-lc-rs's key wrap) does not do: open refuses it alike.
                assert!(matches!(streamed, Err(OpenError::Unsupported(_))), "{case}");
            } else {
                assert!(streamed == Ok(document.clone()), "{case}");
            }
        }
    }
}

#[test]
fn open_to_opens_a_few_megabytes_openssl_encrypted() {
    let setup = Setup::new();
    let holders = [setup.gateway("ec", KeyAlgorithm::P256), setup.gateway("rsa", KeyAlgorithm::Rsa2048)];
    let document = content(2_000_003);
    let envelope = openssl_encrypt(&setup, &document, &[], &[&holders[0], &holders[1]]);
    for holder in &holders {
        assert!(open_streamed(&envelope, holder) == Ok(document.clone()), "{}", holder.cert_pem.display());
    }
}

/// The figure for the report: `cargo test -p envelope --release -- --ignored --nocapture
/// streaming_speed` (set `LIENTHONG_ENVELOPE_MB`, 100 by default). Meaningless in debug builds.
#[test]
#[ignore = "a timing, for release builds"]
fn streaming_speed() {
    let megabytes: usize = std::env::var("LIENTHONG_ENVELOPE_MB").ok().and_then(|m| m.parse().ok()).unwrap_or(100);
    let setup = Setup::new();
    let holder = setup.gateway("gw", KeyAlgorithm::P256);
    let document = content(megabytes * 1_000_000);
    let time = |what: &str, work: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        work();
        let elapsed = started.elapsed();
        println!("{megabytes} MB {what}: {elapsed:?} ({:.0} MB/s)", megabytes as f64 / elapsed.as_secs_f64());
    };
    let mut one_shot = Vec::new();
    time("seal (one-shot aws-lc-rs)", &mut || one_shot = seal(&document, &[&holder.cert_der]).expect("sealed"));
    let mut streamed = Vec::with_capacity(one_shot.len());
    time("seal_to (streaming, into a Vec)", &mut || {
        seal_to(&[&document], &[&holder.cert_der], &mut streamed).expect("sealed");
    });
    let mut opened = Vec::new();
    time("open (one-shot aws-lc-rs)", &mut || {
        opened = open(&streamed, &holder.cert_der, &holder.key_der).expect("opened")
    });
    assert!(opened == document);
    let mut written = Vec::with_capacity(document.len());
    time("open_to (streaming, into a Vec)", &mut || {
        open_to(&one_shot, &holder.cert_der, &holder.key_der, &mut written).expect("opened");
    });
    assert!(written == document);
    let mut sink = io::sink();
    time("seal_to (streaming, into io::sink)", &mut || {
        seal_to(&[&document], &[&holder.cert_der], &mut sink).expect("sealed");
    });
    time("open_to (streaming, into io::sink)", &mut || {
        open_to(&one_shot, &holder.cert_der, &holder.key_der, &mut sink).expect("opened");
    });
}
