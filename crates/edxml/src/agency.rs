//! Agency codes ("mã định danh"): the 13-character QCVN 102 form and the Decision 20/2020 form.
//!
//! An [`AgencyCode`] exists only if its text conforms. Packages carry codes as [`OrganId`], which
//! keeps a non-conforming code (real traffic carries `vxp.saas.03`, `28.22.H17`, even `null`)
//! together with the reason it does not conform, so a package is never refused at parse time for
//! its codes: whether to accept them is the receiving side's policy.

use std::fmt;

use serde::{Serialize, Serializer};

/// Longest Decision 20/2020 code.
pub const MAX_DECISION20_LEN: usize = 35;

/// A conforming agency code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode {
    text: String,
    form: CodeForm,
}

/// Which regulation a code follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeForm {
    /// `V1V2V3.Z1Z2.Y1Y2.MX1X2`, levels read right to left.
    Qcvn102,
    /// `MX1X2.…`, up to 35 characters, levels growing left to right.
    Decision20,
}

/// Why a text is not a conforming agency code. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AgencyCodeError {
    /// Nothing (or only spaces) was given.
    #[error("the agency code is empty")]
    Empty,
    /// Agency codes are upper case.
    #[error("lower-case letter {letter:?} at position {position}: agency codes are upper case")]
    LowerCase {
        /// The offending letter.
        letter: char,
        /// 1-based character position.
        position: usize,
    },
    /// Only `A–Z`, `0–9` and `.` may appear.
    #[error("character {found:?} at position {position} is not allowed (only A-Z, 0-9 and '.')")]
    BadCharacter {
        /// The offending character.
        found: char,
        /// 1-based character position.
        position: usize,
    },
    /// A QCVN 102 code has 13 characters; this one is shorter.
    #[error("too short: {length} characters, a QCVN 102 code has 13 (e.g. 000.00.00.G22)")]
    TooShort {
        /// The length found.
        length: usize,
    },
    /// A QCVN 102 code has four groups separated by dots.
    #[error("{found} groups: a QCVN 102 code has 4 separated by dots (e.g. 000.00.00.G22)")]
    WrongGroupCount {
        /// The number of groups found.
        found: usize,
    },
    /// A QCVN 102 group has the wrong size.
    #[error("group {group} is {found:?}: it must have {expected} characters (form 000.00.00.G22)")]
    WrongGroupSize {
        /// 1-based group index, left to right.
        group: usize,
        /// The expected size.
        expected: usize,
        /// The group text found.
        found: String,
    },
    /// The level-1 group (`MX1X2`) must be a letter and two digits.
    #[error("level-1 group {found:?} must be a letter and two digits (e.g. G22, H41)")]
    BadLevel1 {
        /// The group text found.
        found: String,
    },
    /// Groups for levels 2–4 are digits.
    #[error("group {found:?} must be digits only")]
    NonDigitGroup {
        /// The group text found.
        found: String,
    },
    /// A lower level is set while a higher level above it is zero (e.g. `000.05.00.G22`).
    #[error("level {level} is set but level {missing} above it is zero")]
    LevelGap {
        /// The level that is set.
        level: u8,
        /// The higher level that is missing.
        missing: u8,
    },
    /// A Decision 20/2020 code is at most 35 characters.
    #[error("{length} characters: a Decision 20/2020 code has at most 35")]
    TooLong {
        /// The length found.
        length: usize,
    },
    /// A Decision 20/2020 code has an empty group (`..`, or a leading/trailing dot).
    #[error("empty group between dots")]
    EmptyGroup,
}

impl AgencyCode {
    /// Parses either form. Surrounding spaces are not accepted here: callers decide about trimming.
    pub fn parse(text: &str) -> Result<Self, AgencyCodeError> {
        check_characters(text)?;
        let groups: Vec<&str> = text.split('.').collect();
        let form = if looks_like_qcvn102(&groups) {
            check_qcvn102(text, &groups)?;
            CodeForm::Qcvn102
        } else {
            check_decision20(text, &groups)?;
            CodeForm::Decision20
        };
        Ok(Self { text: text.to_owned(), form })
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which regulation's form it follows.
    pub fn form(&self) -> CodeForm {
        self.form
    }

    /// The level-1 body's group, e.g. `G22` (the Government Office).
    pub fn level1(&self) -> &str {
        let mut groups = self.text.split('.');
        match self.form {
            CodeForm::Qcvn102 => groups.next_back().unwrap_or_default(),
            CodeForm::Decision20 => groups.next().unwrap_or_default(),
        }
    }

    /// Level in the hierarchy: 1 for a ministry or province, up to 4 (QCVN 102) or more (Decision 20).
    pub fn level(&self) -> u8 {
        match self.form {
            CodeForm::Qcvn102 => 1 + self.qcvn_lower_groups().filter(|g| !is_zero(g)).count() as u8,
            CodeForm::Decision20 => self.text.split('.').count() as u8,
        }
    }

    /// The managing unit one level up, or `None` for a level-1 body.
    pub fn parent(&self) -> Option<AgencyCode> {
        let text = match self.form {
            CodeForm::Qcvn102 => self.qcvn102_parent()?,
            CodeForm::Decision20 => self.text.rsplit_once('.')?.0.to_owned(),
        };
        Some(Self { text, form: self.form })
    }

    /// Whether `self` is `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &AgencyCode) -> bool {
        let mut current = Some(self.clone());
        while let Some(code) = current {
            if &code == ancestor {
                return true;
            }
            current = code.parent();
        }
        false
    }

    /// Groups Y, Z, V (levels 2, 3, 4) of a QCVN 102 code.
    fn qcvn_lower_groups(&self) -> impl Iterator<Item = &str> {
        self.text.split('.').take(3).collect::<Vec<_>>().into_iter().rev()
    }

    /// Zeroes the lowest non-zero group, i.e. the leftmost.
    fn qcvn102_parent(&self) -> Option<String> {
        let mut groups: Vec<String> = self.text.split('.').map(str::to_owned).collect();
        let lowest = groups[..3].iter().position(|g| !is_zero(g))?;
        groups[lowest] = "0".repeat(groups[lowest].len());
        Some(groups.join("."))
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_zero(group: &str) -> bool {
    group.bytes().all(|b| b == b'0')
}

fn is_level1(group: &str) -> bool {
    let b = group.as_bytes();
    b.len() == 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit()
}

fn check_characters(text: &str) -> Result<(), AgencyCodeError> {
    if text.trim().is_empty() {
        return Err(AgencyCodeError::Empty);
    }
    for (index, c) in text.chars().enumerate() {
        let position = index + 1;
        if c.is_lowercase() {
            return Err(AgencyCodeError::LowerCase { letter: c, position });
        }
        if !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.') {
            return Err(AgencyCodeError::BadCharacter { found: c, position });
        }
    }
    Ok(())
}

/// A Decision 20 code starts with its level-1 group (a letter); one that starts with digits, or has
/// four groups ending in a letter group, is meant as QCVN 102 and is judged by that form's rules.
fn looks_like_qcvn102(groups: &[&str]) -> bool {
    let first_is_digits = !groups[0].is_empty() && groups[0].bytes().all(|b| b.is_ascii_digit());
    let last_is_letter = groups.last().is_some_and(|g| g.starts_with(|c: char| c.is_ascii_uppercase()));
    first_is_digits || (groups.len() == 4 && last_is_letter)
}

fn check_qcvn102(text: &str, groups: &[&str]) -> Result<(), AgencyCodeError> {
    if text.len() < 13 {
        return Err(AgencyCodeError::TooShort { length: text.len() });
    }
    if groups.len() != 4 {
        return Err(AgencyCodeError::WrongGroupCount { found: groups.len() });
    }
    for (index, (group, expected)) in groups.iter().zip([3, 2, 2, 3]).enumerate() {
        if group.len() != expected {
            return Err(AgencyCodeError::WrongGroupSize { group: index + 1, expected, found: (*group).into() });
        }
    }
    if !is_level1(groups[3]) {
        return Err(AgencyCodeError::BadLevel1 { found: groups[3].into() });
    }
    if let Some(group) = groups[..3].iter().find(|g| !g.bytes().all(|b| b.is_ascii_digit())) {
        return Err(AgencyCodeError::NonDigitGroup { found: (*group).into() });
    }
    check_no_level_gap(groups)
}

/// Levels 2, 3, 4 are groups 3, 2, 1: a set level needs every level above it set.
fn check_no_level_gap(groups: &[&str]) -> Result<(), AgencyCodeError> {
    let set = [!is_zero(groups[2]), !is_zero(groups[1]), !is_zero(groups[0])];
    for (index, pair) in set.windows(2).enumerate() {
        if pair[1] && !pair[0] {
            return Err(AgencyCodeError::LevelGap { level: index as u8 + 3, missing: index as u8 + 2 });
        }
    }
    Ok(())
}

fn check_decision20(text: &str, groups: &[&str]) -> Result<(), AgencyCodeError> {
    if text.len() > MAX_DECISION20_LEN {
        return Err(AgencyCodeError::TooLong { length: text.len() });
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(AgencyCodeError::EmptyGroup);
    }
    if !is_level1(groups[0]) {
        return Err(AgencyCodeError::BadLevel1 { found: groups[0].into() });
    }
    Ok(())
}

/// An agency code as a package carries it: conforming, or kept as written with the reason it is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrganId {
    /// A conforming code.
    Valid(AgencyCode),
    /// A code that does not conform; the text is kept exactly as it was written.
    Nonconforming {
        /// The text as written.
        text: String,
        /// What is wrong with it.
        error: AgencyCodeError,
    },
}

impl OrganId {
    /// Classifies a text taken from a package. Never fails.
    pub fn from_text(text: &str) -> Self {
        match AgencyCode::parse(text) {
            Ok(code) => Self::Valid(code),
            Err(error) => Self::Nonconforming { text: text.to_owned(), error },
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Valid(code) => code.as_str(),
            Self::Nonconforming { text, .. } => text,
        }
    }

    /// The conforming code, if it is one.
    pub fn code(&self) -> Option<&AgencyCode> {
        match self {
            Self::Valid(code) => Some(code),
            Self::Nonconforming { .. } => None,
        }
    }
}

impl From<AgencyCode> for OrganId {
    fn from(code: AgencyCode) -> Self {
        Self::Valid(code)
    }
}

impl fmt::Display for OrganId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrganId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for AgencyCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
