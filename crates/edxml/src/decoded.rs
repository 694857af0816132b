//! The bytes a base64 text (broken by white space) stands for, read and sought without decoding
//! the whole text into memory: a checkpoint every [`STRIDE`] base64 characters and one decoded
//! block of [`BLOCK`] characters at a time. A ZIP archive is opened through it, so checking a
//! 100 MB attachment holds a few dozen kilobytes, not the 75 MB archive.

use std::io::{self, Read, Seek, SeekFrom};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Base64 characters between two checkpoints (a multiple of 4).
const STRIDE: usize = 64 * 1024;
/// Base64 characters decoded at a time (a multiple of 4).
const BLOCK: usize = 16 * 1024;

/// A seekable reader of the bytes `text` encodes. Build it with [`Decoded::new`] only on text
/// that decodes whole (the caller checks first), so every block decodes.
pub(crate) struct Decoded<'a> {
    text: &'a [u8],
    /// The text offset of base64 character `i * STRIDE`.
    checkpoints: Vec<usize>,
    /// How many bytes the text decodes to.
    len: u64,
    /// The read position, in decoded bytes.
    position: u64,
    /// The decoded block held, and the decoded offset it starts at.
    block: Vec<u8>,
    block_start: u64,
    /// Where the held block ends: its next base64 character's index and text offset.
    block_end: (usize, usize),
    /// The base64 characters of a block, without white space.
    scratch: Vec<u8>,
}

impl<'a> Decoded<'a> {
    /// Indexes `text`, which decodes to `len` bytes.
    pub(crate) fn new(text: &'a [u8], len: u64) -> Self {
        let mut checkpoints = Vec::new();
        let mut characters = 0usize;
        for (offset, byte) in text.iter().enumerate() {
            if byte.is_ascii_whitespace() {
                continue;
            }
            if characters.is_multiple_of(STRIDE) {
                checkpoints.push(offset);
            }
            characters += 1;
        }
        Self {
            text,
            checkpoints,
            len,
            position: 0,
            block: Vec::new(),
            block_start: 0,
            block_end: (0, 0),
            scratch: Vec::with_capacity(BLOCK),
        }
    }

    /// The text offset of base64 character `index` (a multiple of 4), from the held block's end
    /// when reading on, else from the nearest checkpoint before it.
    fn text_offset(&self, index: usize) -> usize {
        let (mut at, mut offset) = match self.block_end {
            (end, offset) if end == index && !self.block.is_empty() => return offset,
            _ => {
                let checkpoint = index / STRIDE;
                (checkpoint * STRIDE, self.checkpoints.get(checkpoint).copied().unwrap_or(self.text.len()))
            }
        };
        while at < index && offset < self.text.len() {
            if !self.text[offset].is_ascii_whitespace() {
                at += 1;
            }
            offset += 1;
        }
        // Land on the character itself, past any white space before it.
        while offset < self.text.len() && self.text[offset].is_ascii_whitespace() {
            offset += 1;
        }
        offset
    }

    /// Decodes the block holding decoded byte `position`.
    fn load(&mut self, position: u64) -> io::Result<()> {
        let quantum = usize::try_from(position / 3).map_err(|_| invalid("position out of range"))?;
        let index = quantum * 4;
        let mut offset = self.text_offset(index);
        self.scratch.clear();
        while self.scratch.len() < BLOCK && offset < self.text.len() {
            let byte = self.text[offset];
            if !byte.is_ascii_whitespace() {
                self.scratch.push(byte);
            }
            offset += 1;
        }
        self.block.clear();
        STANDARD.decode_vec(&self.scratch, &mut self.block).map_err(|e| invalid(&e.to_string()))?;
        self.block_start = quantum as u64 * 3;
        self.block_end = (index + self.scratch.len(), offset);
        Ok(())
    }
}

impl std::fmt::Debug for Decoded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded").field("len", &self.len).field("position", &self.position).finish_non_exhaustive()
    }
}

impl Read for Decoded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.len {
            return Ok(0);
        }
        let held = self.block_start..self.block_start + self.block.len() as u64;
        if !held.contains(&self.position) {
            self.load(self.position)?;
        }
        let from = usize::try_from(self.position - self.block_start).map_err(|_| invalid("position out of range"))?;
        let available = self.block.get(from..).unwrap_or_default();
        if available.is_empty() {
            return Err(invalid("the base64 text ends before its decoded length"));
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for Decoded<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = target.ok_or_else(|| invalid("seek before the start"))?;
        Ok(self.position)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random bytes, base64 in CR LF lines of 76 (and a stray space), and the bytes.
    fn sample(len: usize) -> (Vec<u8>, Vec<u8>) {
        let mut state = 0x2545_F491_4F6C_DD1Du64 ^ len as u64;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let encoded = STANDARD.encode(&data);
        let lines: Vec<&[u8]> = encoded.as_bytes().chunks(76).collect();
        let mut text = b"\r\n  ".to_vec();
        text.extend(lines.join(&b"\r\n"[..]));
        text.extend_from_slice(b" \n");
        (text, data)
    }

    fn read_at(reader: &mut Decoded<'_>, at: u64, len: usize) -> Vec<u8> {
        reader.seek(SeekFrom::Start(at)).expect("seek");
        let mut out = Vec::new();
        reader.take(len as u64).read_to_end(&mut out).expect("read");
        out
    }

    #[test]
    fn every_range_reads_as_the_decoded_bytes_whatever_the_order() {
        for len in [0, 1, 2, 3, 4, 5, 100, BLOCK / 4 * 3, BLOCK / 4 * 3 + 1, 3 * STRIDE + 7] {
            let (text, data) = sample(len);
            let mut reader = Decoded::new(&text, data.len() as u64);
            let mut whole = Vec::new();
            reader.read_to_end(&mut whole).expect("read");
            assert_eq!(whole, data, "{len}");
            let points =
                [0, 1, 2, 3, 1000, BLOCK / 4 * 3 - 1, STRIDE / 4 * 3 + 2, 2 * STRIDE + 5, len.saturating_sub(3)];
            for &at in points.iter().rev().chain(points.iter()) {
                let at = at.min(len);
                for size in [1, 2, 7, 4096, BLOCK] {
                    let end = (at + size).min(len);
                    assert_eq!(read_at(&mut reader, at as u64, size), &data[at..end], "{len} at {at} size {size}");
                }
            }
            assert_eq!(reader.seek(SeekFrom::End(0)).expect("seek"), len as u64);
            assert_eq!(read_at(&mut reader, len as u64, 10), Vec::<u8>::new(), "{len}: nothing past the end");
            assert!(reader.seek(SeekFrom::Current(-(len as i64) - 1)).is_err());
        }
    }
}
