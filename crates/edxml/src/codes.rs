//! Closed code lists of the format: processing statuses, business types, urgency.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a code text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{found:?} is not one of {allowed}")]
pub struct UnknownCode {
    /// The text found.
    pub found: String,
    /// The allowed values, for the message.
    pub allowed: &'static str,
}

macro_rules! code_list {
    ($(#[$meta:meta])* $name:ident, $allowed:literal, $( $(#[$vmeta:meta])* $variant:ident = $text:literal, $vi:literal, $en:literal; )+) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Parses the code as written in a package.
            pub fn parse(text: &str) -> Result<Self, UnknownCode> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownCode { found: text.to_owned(), allowed: $allowed }),
                }
            }

            /// The code as written in a package.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }

            /// The Vietnamese label.
            pub fn label_vi(self) -> &'static str {
                match self { $(Self::$variant => $vi,)+ }
            }

            /// The English label.
            pub fn label_en(self) -> &'static str {
                match self { $(Self::$variant => $en,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

code_list! {
    /// Processing status reported back to the sender (QCVN 102 status package `StatusCode`).
    StatusCode, "01-06, 13, 15, 16",
    /// The recipient's software has it; the clerk has not acted.
    Arrived = "01", "Đã đến", "Arrived";
    /// Refused: fails authenticity or integrity checks, or misaddressed.
    Refused = "02", "Từ chối tiếp nhận", "Refused";
    /// Accepted and registered in the incoming register.
    Accepted = "03", "Đã tiếp nhận", "Accepted";
    /// Assigned for handling by a leader.
    Assigned = "04", "Phân công", "Assigned";
    /// Being handled.
    Processing = "05", "Đang xử lý", "Being handled";
    /// Handling finished.
    Finished = "06", "Hoàn thành", "Finished";
    /// The sender's clerk asks to recall the document.
    RecallRequested = "13", "Lấy lại", "Recall requested";
    /// The recipient agrees to a recall or update.
    ChangeAccepted = "15", "Đồng ý lấy lại / cập nhật", "Recall or update accepted";
    /// The recipient refuses a recall or update.
    ChangeRefused = "16", "Từ chối lấy lại / cập nhật", "Recall or update refused";
}

code_list! {
    /// What a document package does (`Bussiness/BussinessDocType`).
    BusinessType, "0, 1, 2, 3",
    /// A new document.
    New = "0", "Văn bản mới", "New document";
    /// Recall of a document sent earlier.
    Recall = "1", "Thu hồi", "Recall";
    /// Update of a document sent earlier.
    Update = "2", "Cập nhật", "Update";
    /// Replacement of a document sent earlier.
    Replace = "3", "Thay thế", "Replacement";
}

code_list! {
    /// Urgency (`OtherInfo/Priority`), Decree 30/2020.
    Priority, "0, 1, 2, 3",
    /// No particular urgency.
    Normal = "0", "Thường", "Normal";
    /// Urgent.
    Urgent = "1", "Khẩn", "Urgent";
    /// Very urgent.
    VeryUrgent = "2", "Thượng khẩn", "Very urgent";
    /// Flash: handled at once.
    Flash = "3", "Hỏa tốc", "Flash";
}

impl StatusCode {
    /// Whether this status answers a recall or update request rather than a document.
    pub fn answers_change(self) -> bool {
        matches!(self, Self::ChangeAccepted | Self::ChangeRefused)
    }

    /// Whether the sender (not a recipient) reports this status.
    pub fn is_sent_by_sender(self) -> bool {
        self == Self::RecallRequested
    }
}
