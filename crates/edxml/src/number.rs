//! Document numbers ("số, ký hiệu"): `number/notation`, e.g. `44/NQ-CP`, `7816/VPCP-TTĐT`.

use std::fmt;

/// A document's number and notation. Built only by [`DocumentNumber::parse`] or [`DocumentNumber::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentNumber {
    number: u32,
    notation: String,
}

/// Why a text is not a document number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentNumberError {
    /// No `/` between number and notation.
    #[error("{found:?} has no '/' between number and notation (e.g. 44/NQ-CP)")]
    NoSlash {
        /// The text found.
        found: String,
    },
    /// The number is not a positive whole number.
    #[error("number {found:?} must be a positive whole number")]
    BadNumber {
        /// The number part found.
        found: String,
    },
    /// The notation is empty, starts with '-', or has spaces or other characters.
    #[error("notation {found:?} must be letters, digits and '-' with no spaces (e.g. NQ-CP, QĐ-TTg)")]
    BadNotation {
        /// The notation part found.
        found: String,
    },
}

impl DocumentNumber {
    /// Parses `number/notation`.
    pub fn parse(text: &str) -> Result<Self, DocumentNumberError> {
        let (number, notation) =
            text.split_once('/').ok_or_else(|| DocumentNumberError::NoSlash { found: text.to_owned() })?;
        Self::new(number, notation)
    }

    /// Checks the two parts as a package's `Code` element carries them.
    pub fn new(number: &str, notation: &str) -> Result<Self, DocumentNumberError> {
        let bad_number = || DocumentNumberError::BadNumber { found: number.to_owned() };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_number());
        }
        let number: u32 = number.parse().map_err(|_| bad_number())?;
        if number == 0 {
            return Err(bad_number());
        }
        if !is_notation(notation) {
            return Err(DocumentNumberError::BadNotation { found: notation.to_owned() });
        }
        Ok(Self { number, notation: notation.to_owned() })
    }

    /// The number, restarting at 1 each year.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The notation, e.g. `NQ-CP`.
    pub fn notation(&self) -> &str {
        &self.notation
    }
}

/// Letters (Vietnamese ones, either case: `QĐ-TTg`), digits, `-`, `/` and `.`; no spaces.
fn is_notation(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | '.'))
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.notation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_numbers() {
        for text in ["44/NQ-CP", "7816/VPCP-TTĐT", "15/QĐ-BNV", "05/BNV-VP", "1896/QĐ-TTg", "12/TTr-BTC"] {
            let parsed = DocumentNumber::parse(text).expect(text);
            assert_eq!(parsed.to_string(), text.trim_start_matches('0'));
        }
    }

    #[test]
    fn refuses_malformed_numbers() {
        assert!(matches!(DocumentNumber::parse("NQ-CP"), Err(DocumentNumberError::NoSlash { .. })));
        assert!(matches!(DocumentNumber::parse("74fass22/VPCP"), Err(DocumentNumberError::BadNumber { .. })));
        assert!(matches!(DocumentNumber::parse("44/NQ CP"), Err(DocumentNumberError::BadNotation { .. })));
        assert!(matches!(DocumentNumber::parse("0/NQ-CP"), Err(DocumentNumberError::BadNumber { .. })));
    }
}
