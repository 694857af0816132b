//! Subject names given as text, `CN=…,O=…`, parsed into typed attributes.

use std::fmt;

/// One attribute of a subject name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameAttribute {
    /// `CN`: common name — a person's full name, an agency's name, a gateway's host name.
    CommonName,
    /// `O`: organisation.
    Organization,
    /// `OU`: unit within the organisation.
    OrganizationalUnit,
    /// `T` or `TITLE`: an official's position.
    Title,
    /// `L`: locality.
    Locality,
    /// `ST`: province.
    Province,
    /// `C`: two-letter country code.
    Country,
}

/// A subject name: attributes in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectName {
    attributes: Vec<(NameAttribute, String)>,
}

/// Why a subject text is not a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A part without `=`.
    #[error("{0:?} is not KEY=VALUE (e.g. CN=Nguyễn Văn A)")]
    NotKeyValue(String),
    /// A key we do not issue.
    #[error("unknown attribute {0:?}: use CN, O, OU, T, L, ST or C")]
    UnknownKey(String),
    /// An empty value.
    #[error("attribute {0} has an empty value")]
    Empty(&'static str),
    /// A value too long for X.520.
    #[error("attribute {key} is {length} characters, more than {max}")]
    TooLong {
        /// The attribute.
        key: &'static str,
        /// Its length.
        length: usize,
        /// The X.520 upper bound.
        max: usize,
    },
    /// `C` must be two upper-case letters.
    #[error("country {0:?} must be two upper-case letters (VN)")]
    BadCountry(String),
    /// The same single-valued attribute twice.
    #[error("attribute {0} appears twice")]
    Duplicate(&'static str),
}

impl NameAttribute {
    /// The short key used in text.
    pub fn key(self) -> &'static str {
        match self {
            Self::CommonName => "CN",
            Self::Organization => "O",
            Self::OrganizationalUnit => "OU",
            Self::Title => "T",
            Self::Locality => "L",
            Self::Province => "ST",
            Self::Country => "C",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Some(match key.trim().to_ascii_uppercase().as_str() {
            "CN" => Self::CommonName,
            "O" => Self::Organization,
            "OU" => Self::OrganizationalUnit,
            "T" | "TITLE" => Self::Title,
            "L" => Self::Locality,
            "ST" => Self::Province,
            "C" => Self::Country,
            _ => return None,
        })
    }

    /// X.520 upper bounds.
    fn max_len(self) -> usize {
        match self {
            Self::Country => 2,
            Self::CommonName | Self::Organization | Self::OrganizationalUnit | Self::Title => 64,
            Self::Locality | Self::Province => 128,
        }
    }
}

impl SubjectName {
    /// Parses `KEY=VALUE` pairs separated by commas; `\,` is a literal comma.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let mut attributes: Vec<(NameAttribute, String)> = Vec::new();
        for part in split_unescaped(text) {
            let (key, value) = part.split_once('=').ok_or_else(|| NameError::NotKeyValue(part.clone()))?;
            let attribute = NameAttribute::parse(key).ok_or_else(|| NameError::UnknownKey(key.trim().to_owned()))?;
            let value = value.trim().to_owned();
            check_value(attribute, &value)?;
            if attributes.iter().any(|(a, _)| *a == attribute) {
                return Err(NameError::Duplicate(attribute.key()));
            }
            attributes.push((attribute, value));
        }
        Ok(Self { attributes })
    }

    /// The first value of `attribute`.
    pub fn get(&self, attribute: NameAttribute) -> Option<&str> {
        self.attributes.iter().find(|(a, _)| *a == attribute).map(|(_, v)| v.as_str())
    }

    /// The same name with `attribute` set to `value` (replaced in place, or added after CN).
    pub fn with(mut self, attribute: NameAttribute, value: &str) -> Result<Self, NameError> {
        let value = value.trim().to_owned();
        check_value(attribute, &value)?;
        if let Some(slot) = self.attributes.iter_mut().find(|(a, _)| *a == attribute) {
            slot.1 = value;
        } else {
            let after_cn =
                self.attributes.iter().position(|(a, _)| *a == NameAttribute::CommonName).map_or(0, |i| i + 1);
            self.attributes.insert(after_cn, (attribute, value));
        }
        Ok(self)
    }

    /// Every attribute, in order.
    pub fn attributes(&self) -> &[(NameAttribute, String)] {
        &self.attributes
    }
}

fn check_value(attribute: NameAttribute, value: &str) -> Result<(), NameError> {
    let length = value.chars().count();
    if length == 0 {
        return Err(NameError::Empty(attribute.key()));
    }
    if length > attribute.max_len() {
        return Err(NameError::TooLong { key: attribute.key(), length, max: attribute.max_len() });
    }
    if attribute == NameAttribute::Country && !value.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(NameError::BadCountry(value.to_owned()));
    }
    Ok(())
}

fn split_unescaped(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut().map(|p| p.extend(chars.next())).unwrap_or_default(),
            ',' => parts.push(String::new()),
            _ => parts.last_mut().map(|p| p.push(c)).unwrap_or_default(),
        }
    }
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

impl fmt::Display for SubjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.attributes.iter().map(|(a, v)| format!("{}={}", a.key(), v.replace(',', "\\,"))).collect();
        f.write_str(&parts.join(","))
    }
}
