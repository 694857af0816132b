//! Attachment content: base64 of a ZIP archive holding the file. Kept encoded and shared with the
//! input buffer until someone asks for the file; unpacked only within [`ZipLimits`].

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

use base64::Engine as _;
use bytes::Bytes;
use serde::{Serialize, Serializer};

use crate::ZipLimits;
use crate::decoded::Decoded;

/// The `ContentTransferEncoded` text of an attachment: only base64 characters and white space.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedContent(Bytes);

/// A file taken out of an attachment's archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedFile {
    /// Entry name, checked to be a plain relative path.
    pub name: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// What an archive entry holds, learnt by streaming through it without keeping it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// Entry name.
    pub name: String,
    /// Uncompressed size actually read.
    pub size: u64,
}

/// Why an attachment's content could not be opened. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// A character that is not base64 or white space.
    #[error("character {found:?} at offset {offset} is not base64")]
    NotBase64 {
        /// The byte found.
        found: char,
        /// Its offset in the encoded text.
        offset: usize,
    },
    /// Base64 characters that do not decode (wrong padding or length).
    #[error("base64 does not decode: {reason}")]
    BadBase64 {
        /// The decoder's explanation.
        reason: String,
    },
    /// The decoded bytes are not a ZIP archive.
    #[error("content is not a readable ZIP archive: {reason}")]
    NotZip {
        /// The reader's explanation.
        reason: String,
    },
    /// The archive holds no file.
    #[error("the ZIP archive holds no file")]
    EmptyArchive,
    /// Too many entries.
    #[error("the ZIP archive has {found} entries, more than the {limit} allowed")]
    TooManyEntries {
        /// Entries found.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// An entry name that could escape the folder it is unpacked into, or is not a plain name.
    #[error("ZIP entry name {name:?} is unsafe: {reason}")]
    UnsafeEntryName {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An encrypted entry.
    #[error("ZIP entry {name:?} is encrypted")]
    Encrypted {
        /// The entry name.
        name: String,
    },
    /// Decompression ratio above the limit: a zip bomb.
    #[error("ZIP entry {name:?} expands more than {limit}:1 (a zip bomb?)")]
    RatioTooHigh {
        /// The entry name.
        name: String,
        /// The ratio limit.
        limit: u64,
    },
    /// Total uncompressed size above the limit.
    #[error("the ZIP archive unpacks to more than {limit} bytes")]
    TooLarge {
        /// The size limit.
        limit: u64,
    },
    /// The entry's data is corrupt or its sizes lie.
    #[error("ZIP entry {name:?} is corrupt: {reason}")]
    Corrupt {
        /// The entry name.
        name: String,
        /// The reader's explanation.
        reason: String,
    },
}

impl EncodedContent {
    /// Accepts encoded text, checking that it holds only base64 characters and white space.
    pub fn from_base64(text: Bytes) -> Result<Self, AttachmentError> {
        if let Some(offset) = first_non_base64(&text) {
            return Err(AttachmentError::NotBase64 { found: char::from(text[offset]), offset });
        }
        Ok(Self(text))
    }

    /// Encodes raw bytes (normally a ZIP archive) as one line of base64.
    pub fn encode(raw: &[u8]) -> Self {
        Self(Bytes::from(base64::engine::general_purpose::STANDARD.encode(raw)))
    }

    /// Puts one file into a ZIP archive (deflated, fixed timestamps) and encodes it.
    pub fn zip_file(name: &str, data: &[u8]) -> Self {
        Self::encode(&zip_one(name, data))
    }

    /// The encoded text as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length of the encoded text.
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }

    /// Decodes the base64, skipping white space, into the archive's bytes: the whole archive in
    /// memory (three quarters of the encoded length). [`Self::inspect`] and [`Self::unpack`] do
    /// not use it: they read the archive a block at a time.
    pub fn decode(&self) -> Result<Vec<u8>, AttachmentError> {
        let mut out = Vec::with_capacity(self.0.len() / 4 * 3);
        let engine = &base64::engine::general_purpose::STANDARD;
        base64::read::DecoderReader::new(SkipSpace(&self.0[..]), engine)
            .read_to_end(&mut out)
            .map_err(|e| AttachmentError::BadBase64 { reason: e.to_string() })?;
        Ok(out)
    }

    /// The archive as a seekable reader. Up to [`DECODED_IN_MEMORY`] of encoded text it is
    /// decoded once into memory (one pass; the block reader would decode it three times); a
    /// larger one is checked to decode whole first (streaming), then indexed and decoded a block
    /// at a time, so it is never held in memory.
    fn archive(&self) -> Result<Archive<'_>, AttachmentError> {
        if self.0.len() <= DECODED_IN_MEMORY {
            return Ok(Archive::Memory(io::Cursor::new(self.decode()?)));
        }
        let engine = &base64::engine::general_purpose::STANDARD;
        let len = io::copy(&mut base64::read::DecoderReader::new(SkipSpace(&self.0[..]), engine), &mut io::sink())
            .map_err(|e| AttachmentError::BadBase64 { reason: e.to_string() })?;
        Ok(Archive::Blocks(Decoded::new(&self.0, len)))
    }

    /// Streams through every entry without keeping it, checking every limit. The archive is
    /// decoded a block at a time as the ZIP reader seeks through it, never whole.
    pub fn inspect(&self, limits: &ZipLimits) -> Result<Vec<EntryInfo>, AttachmentError> {
        let mut entries = Vec::new();
        visit_entries(self.archive()?, limits, |name, reader| {
            let size = io::copy(reader, &mut io::sink())?;
            entries.push(EntryInfo { name: name.to_owned(), size });
            Ok(())
        })?;
        Ok(entries)
    }

    /// Unpacks every file, checking every limit.
    pub fn unpack(&self, limits: &ZipLimits) -> Result<Vec<UnpackedFile>, AttachmentError> {
        let mut files = Vec::new();
        visit_entries(self.archive()?, limits, |name, reader| {
            let mut data = Vec::new();
            reader.read_to_end(&mut data)?;
            files.push(UnpackedFile { name: name.to_owned(), data });
            Ok(())
        })?;
        Ok(files)
    }
}

impl EncodedContent {
    /// Hands each file to `visit` as it is unpacked, checking every limit as [`Self::unpack`]
    /// does, without keeping it: a caller streams a large file where it belongs.
    pub fn visit_files(
        &self,
        limits: &ZipLimits,
        visit: impl FnMut(&str, &mut dyn Read) -> io::Result<()>,
    ) -> Result<(), AttachmentError> {
        visit_entries(self.archive()?, limits, visit)
    }

    /// Writes the archive's bytes (the base64 decoded, white space skipped) to `out` as they are
    /// decoded, and returns how many. An error of kind `InvalidData` is the text's (not base64);
    /// any other is `out`'s.
    pub fn decode_to(&self, out: &mut impl Write) -> io::Result<u64> {
        let engine = &base64::engine::general_purpose::STANDARD;
        io::copy(&mut base64::read::DecoderReader::new(SkipSpace(&self.0[..]), engine), out)
    }
}

impl fmt::Debug for EncodedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncodedContent({} bytes)", self.0.len())
    }
}

impl Serialize for EncodedContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("EncodedContent", 1)?;
        s.serialize_field("encoded_bytes", &self.0.len())?;
        s.end()
    }
}

fn is_base64_or_space(b: u8) -> bool {
    (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'+')
        | (b == b'/')
        | (b == b'=')
        | (b == b' ')
        | (b.wrapping_sub(b'\t') < 2)
        | (b == b'\r')
}

/// Offset of the first byte that is neither base64 nor white space. Whole 64-byte chunks are
/// checked without branches, so the compiler vectorises; only a failing chunk is searched.
fn first_non_base64(text: &[u8]) -> Option<usize> {
    let chunks = text.chunks_exact(64);
    let tail = chunks.remainder();
    for (index, chunk) in chunks.enumerate() {
        if !chunk.iter().fold(true, |ok, &b| ok & is_base64_or_space(b)) {
            return chunk.iter().position(|&b| !is_base64_or_space(b)).map(|p| index * 64 + p);
        }
    }
    tail.iter().position(|&b| !is_base64_or_space(b)).map(|p| text.len() - tail.len() + p)
}

/// Encoded text up to this length is decoded into memory to be checked (at most 3 MiB held).
const DECODED_IN_MEMORY: usize = 4 * 1024 * 1024;

/// An archive being read: decoded in memory, or a block at a time.
enum Archive<'a> {
    Memory(io::Cursor<Vec<u8>>),
    Blocks(Decoded<'a>),
}

impl Read for Archive<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Memory(cursor) => cursor.read(buf),
            Self::Blocks(blocks) => blocks.read(buf),
        }
    }
}

impl Seek for Archive<'_> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        match self {
            Self::Memory(cursor) => cursor.seek(to),
            Self::Blocks(blocks) => blocks.seek(to),
        }
    }
}

/// A reader that drops ASCII white space, so base64 broken over lines decodes.
struct SkipSpace<'a>(&'a [u8]);

impl Read for SkipSpace<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < buf.len() && !self.0.is_empty() {
            let window = &self.0[..self.0.len().min(buf.len() - written)];
            let take = window.iter().position(u8::is_ascii_whitespace).unwrap_or(window.len());
            buf[written..written + take].copy_from_slice(&self.0[..take]);
            written += take;
            self.0 = &self.0[take..];
            let spaces = self.0.iter().take_while(|b| b.is_ascii_whitespace()).count();
            self.0 = &self.0[spaces..];
        }
        Ok(written)
    }
}

fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .large_file(data.len() as u64 >= u64::from(u32::MAX));
    let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    // Writing into memory cannot fail for IO reasons, and large files are declared as such.
    let written = writer.start_file(name, options).and_then(|()| Ok(writer.write_all(data)?));
    match written.and_then(|()| writer.finish()) {
        Ok(cursor) => cursor.into_inner(),
        Err(e) => unreachable!("zipping into memory failed: {e}"),
    }
}

type EntryVisitor<'v> = dyn FnMut(&str, &mut dyn Read) -> io::Result<()> + 'v;

/// How much more may be unpacked, and which limit set it.
#[derive(Debug, Clone, Copy)]
struct Budget {
    left: u64,
    /// The limit is the archive's size times the ratio (a bomb), not the size limit.
    from_ratio: bool,
}

/// Opens the archive and hands each file entry, bounded, to `visit`.
///
/// Three bounds hold whatever the archive's headers claim: the entry count (read from the end
/// record before the archive is indexed), each entry's output against its compressed size (never
/// more than the archive) times the ratio, and the whole output against the archive's size times
/// the ratio and the size limit — so entries that share one stored stream cannot multiply it.
fn visit_entries<R: Read + Seek>(
    mut archive: R,
    limits: &ZipLimits,
    mut visit: impl FnMut(&str, &mut dyn Read) -> io::Result<()>,
) -> Result<(), AttachmentError> {
    let declared = declared_entry_count(&mut archive)?;
    if declared > limits.max_entries {
        return Err(AttachmentError::TooManyEntries { found: declared, limit: limits.max_entries });
    }
    let not_zip = |e: zip::result::ZipError| AttachmentError::NotZip { reason: e.to_string() };
    let archive_len = archive.seek(SeekFrom::End(0)).map_err(|e| AttachmentError::NotZip { reason: e.to_string() })?;
    let mut zip = zip::ZipArchive::new(archive).map_err(not_zip)?;
    if zip.len() > limits.max_entries {
        return Err(AttachmentError::TooManyEntries { found: zip.len(), limit: limits.max_entries });
    }
    let ratio_total = archive_len.saturating_mul(limits.max_ratio).max(MIN_CAP);
    let mut budget = Budget {
        left: ratio_total.min(limits.max_unpacked_bytes),
        from_ratio: ratio_total < limits.max_unpacked_bytes,
    };
    let mut files = 0;
    for index in 0..zip.len() {
        let (name, is_dir) = inspect_header(&mut zip, index, limits)?;
        if is_dir {
            continue;
        }
        files += 1;
        let entry = zip.by_index(index).map_err(not_zip)?;
        budget.left = read_entry(entry, &name, limits, budget, archive_len, &mut visit)?;
    }
    if files == 0 {
        return Err(AttachmentError::EmptyArchive);
    }
    Ok(())
}

/// Smallest output cap, so that tiny entries are not refused for their header overhead.
const MIN_CAP: u64 = 64 * 1024;

/// Name, and whether it is a directory, from the raw entry: checked before any decryption or
/// decompression is attempted.
fn inspect_header<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    limits: &ZipLimits,
) -> Result<(String, bool), AttachmentError> {
    let raw = zip.by_index_raw(index).map_err(|e| AttachmentError::NotZip { reason: e.to_string() })?;
    let name = checked_entry_name(&raw, limits)?;
    if raw.encrypted() {
        return Err(AttachmentError::Encrypted { name });
    }
    Ok((name, raw.is_dir()))
}

/// The entry count the end-of-central-directory record declares, read without indexing anything
/// (only the archive's last 64 KiB are read).
fn declared_entry_count(archive: &mut (impl Read + Seek)) -> Result<usize, AttachmentError> {
    const END_RECORD: &[u8] = b"PK\x05\x06";
    let io_error = |e: io::Error| AttachmentError::NotZip { reason: e.to_string() };
    let len = archive.seek(SeekFrom::End(0)).map_err(io_error)?;
    archive.seek(SeekFrom::Start(len.saturating_sub(22 + 65_535))).map_err(io_error)?;
    let mut window = Vec::new();
    archive.read_to_end(&mut window).map_err(io_error)?;
    archive.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let at = window.windows(4).rposition(|w| w == END_RECORD).filter(|&at| at + 22 <= window.len());
    let Some(at) = at else {
        return Err(AttachmentError::NotZip { reason: "no end-of-central-directory record".into() });
    };
    let count = u16::from_le_bytes([window[at + 10], window[at + 11]]);
    // 0xFFFF means the real count is in a ZIP64 record: far more than any limit we set.
    Ok(if count == u16::MAX { usize::MAX } else { usize::from(count) })
}

/// Reads one entry through a cap that holds whatever its header claims; returns the budget left.
fn read_entry<R: Read>(
    entry: zip::read::ZipFile<'_, R>,
    name: &str,
    limits: &ZipLimits,
    budget: Budget,
    archive_len: u64,
    visit: &mut EntryVisitor<'_>,
) -> Result<u64, AttachmentError> {
    let entry_cap = entry.compressed_size().min(archive_len).saturating_mul(limits.max_ratio).max(MIN_CAP);
    let cap = entry_cap.min(budget.left);
    let mut capped = CountingReader { inner: entry, count: 0, cap };
    match visit(name, &mut capped) {
        Ok(()) => Ok(budget.left - capped.count),
        Err(e) if e.kind() == io::ErrorKind::FileTooLarge && cap == budget.left && !budget.from_ratio => {
            Err(AttachmentError::TooLarge { limit: limits.max_unpacked_bytes })
        }
        Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
            Err(AttachmentError::RatioTooHigh { name: name.to_owned(), limit: limits.max_ratio })
        }
        Err(e) => Err(AttachmentError::Corrupt { name: name.to_owned(), reason: e.to_string() }),
    }
}

/// Refuses names that are absolute, climb with `..`, carry drive letters, backslashes or NULs.
fn checked_entry_name<R: Read>(
    entry: &zip::read::ZipFile<'_, R>,
    limits: &ZipLimits,
) -> Result<String, AttachmentError> {
    let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
    let unsafe_name = |reason| Err(AttachmentError::UnsafeEntryName { name: raw.clone(), reason });
    if raw.len() > limits.max_name_bytes {
        return unsafe_name("the name is too long");
    }
    if let Some(reason) = unsafe_path_reason(&raw) {
        return unsafe_name(reason);
    }
    Ok(raw)
}

/// Why a file name given in a package is unsafe to use as a path, if it is.
pub fn unsafe_path_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name is empty");
    }
    if name.contains('\0') || name.chars().any(char::is_control) {
        return Some("it contains control characters");
    }
    if name.chars().any(is_bidi_control) {
        return Some("it contains bidirectional control characters that can disguise its extension");
    }
    if name.contains('\\') {
        return Some("it contains a backslash");
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Some("it is an absolute path");
    }
    if name.split('/').any(|part| part == "..") {
        return Some("it climbs out of its folder with '..'");
    }
    None
}

/// Counts bytes read and fails with `FileTooLarge` past `cap`, whatever the archive's headers say.
struct CountingReader<R> {
    inner: R,
    count: u64,
    cap: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.cap {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "entry exceeds its limit"));
        }
        Ok(n)
    }
}

/// Unicode bidirectional formatting characters (e.g. U+202E makes `x\u{202E}fdp.exe` look like a PDF).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The MIME type an attachment is declared with, from its file name's extension
/// (`application/octet-stream` when unknown).
pub fn content_type_for(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "zip" => "application/zip",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        _ => "application/octet-stream",
    }
}
