//! Bounds on everything read from a package, so that no input can exhaust memory or time.

/// Bounds applied while parsing a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest package accepted, in bytes.
    pub max_package_bytes: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Most elements in one package.
    pub max_elements: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
    /// Longest text of any element other than attachment content, in bytes.
    pub max_text_bytes: usize,
    /// Most attachments in one package.
    pub max_attachments: usize,
    /// Bounds on each attachment's ZIP archive.
    pub zip: ZipLimits,
}

/// Bounds applied when an attachment's ZIP archive is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most entries in one archive.
    pub max_entries: usize,
    /// Largest uncompressed size of the whole archive, in bytes.
    pub max_unpacked_bytes: u64,
    /// Largest ratio of uncompressed to compressed size, for any entry.
    pub max_ratio: u64,
    /// Longest entry name, in bytes.
    pub max_name_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_package_bytes: 256 * 1024 * 1024,
            max_depth: 32,
            max_elements: 50_000,
            max_attributes: 32,
            max_text_bytes: 1024 * 1024,
            max_attachments: 500,
            zip: ZipLimits::default(),
        }
    }
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self { max_entries: 64, max_unpacked_bytes: 512 * 1024 * 1024, max_ratio: 200, max_name_bytes: 255 }
    }
}
