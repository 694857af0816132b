//! Certificate serial numbers: 128 random bits, positive, never zero (CA/B and RFC 5280).

use std::fmt;

/// A certificate serial number as issued: 16 bytes, high bit clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertSerial(Vec<u8>);

/// A serial given as text that is not hexadecimal, or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serial {0:?} is not a hexadecimal certificate serial (1 to 20 bytes)")]
pub struct BadSerial(pub String);

impl CertSerial {
    /// A fresh random serial with at least 120 bits of entropy.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; 16];
        // The operating system's random source failing is not recoverable for a CA.
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            panic!("the operating system's random source failed");
        }
        bytes[0] &= 0x7F;
        bytes[0] |= 0x40;
        Self(bytes)
    }

    /// Parses hexadecimal (colons and a `0x` prefix allowed), as `openssl` prints serials.
    pub fn from_hex(text: &str) -> Result<Self, BadSerial> {
        let bad = || BadSerial(text.to_owned());
        let clean: String = text.trim().trim_start_matches("0x").chars().filter(|&c| c != ':').collect();
        if clean.is_empty() || clean.len() > 40 || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let padded = if clean.len() % 2 == 1 { format!("0{clean}") } else { clean };
        let bytes: Vec<u8> =
            (0..padded.len()).step_by(2).map(|i| u8::from_str_radix(&padded[i..i + 2], 16).unwrap_or(0)).collect();
        let first = bytes.iter().position(|&b| b != 0).ok_or_else(bad)?;
        Ok(Self(bytes[first..].to_vec()))
    }

    /// From the big-endian bytes of a parsed certificate (leading zero bytes dropped).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
        Self(bytes[first..].to_vec())
    }

    /// Big-endian bytes, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hexadecimal, as stored and as `openssl x509 -serial` prints it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl fmt::Display for CertSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
