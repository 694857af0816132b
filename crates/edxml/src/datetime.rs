//! Dates (`yyyy/MM/dd`) and timestamps (`yyyy/MM/dd HH:mm:ss`) as edXML writes them: Vietnam time, UTC+07:00.

use std::fmt;

use serde::{Serialize, Serializer};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Vietnam's offset from UTC. edXML carries local times without an offset; they all mean this one.
pub const VIETNAM_OFFSET: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("+07:00 is a valid offset"),
};

/// Why a date or timestamp text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// The text does not have the `yyyy/MM/dd` (or `yyyy/MM/dd HH:mm:ss`) shape.
    #[error("expected {expected}, found {found:?}")]
    Shape {
        /// The format that was expected.
        expected: &'static str,
        /// The text that was found.
        found: String,
    },
    /// The shape is right but the calendar has no such day or time (e.g. 2014/02/30).
    #[error("{found:?} is not a real date or time")]
    OutOfRange {
        /// The text that was found.
        found: String,
    },
}

/// A calendar date in Vietnam, written `yyyy/MM/dd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VnDate(Date);

impl VnDate {
    /// Parses the exact `yyyy/MM/dd` form.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let shape = || DateError::Shape { expected: "yyyy/MM/dd", found: text.to_owned() };
        let [y, m, d] = split_fixed::<3>(text, '/', [4, 2, 2]).ok_or_else(shape)?;
        date_from_parts(y, m, d).map(Self).ok_or_else(|| DateError::OutOfRange { found: text.to_owned() })
    }

    /// Wraps a calendar date.
    pub fn new(date: Date) -> Self {
        Self(date)
    }

    /// The calendar date.
    pub fn date(self) -> Date {
        self.0
    }

    /// ISO 8601 form, `yyyy-MM-dd`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

impl fmt::Display for VnDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}/{:02}/{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

impl Serialize for VnDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

/// A moment in Vietnam time, written `yyyy/MM/dd HH:mm:ss` (whole seconds, offset +07:00 implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VnTimestamp(PrimitiveDateTime);

impl VnTimestamp {
    /// Parses the exact `yyyy/MM/dd HH:mm:ss` form.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let shape = || DateError::Shape { expected: "yyyy/MM/dd HH:mm:ss", found: text.to_owned() };
        let (date, time) = text.split_once(' ').ok_or_else(shape)?;
        let [y, mo, d] = split_fixed::<3>(date, '/', [4, 2, 2]).ok_or_else(shape)?;
        let [h, mi, s] = split_fixed::<3>(time, ':', [2, 2, 2]).ok_or_else(shape)?;
        let out_of_range = || DateError::OutOfRange { found: text.to_owned() };
        let date = date_from_parts(y, mo, d).ok_or_else(out_of_range)?;
        let time = Time::from_hms(h as u8, mi as u8, s as u8).map_err(|_| out_of_range())?;
        Ok(Self(PrimitiveDateTime::new(date, time)))
    }

    /// The same instant expressed in Vietnam time, truncated to whole seconds.
    pub fn from_instant(instant: OffsetDateTime) -> Self {
        let local = instant.to_offset(VIETNAM_OFFSET);
        let time = Time::from_hms(local.hour(), local.minute(), local.second()).unwrap_or(Time::MIDNIGHT);
        Self(PrimitiveDateTime::new(local.date(), time))
    }

    /// The instant, with its +07:00 offset made explicit.
    pub fn instant(self) -> OffsetDateTime {
        self.0.assume_offset(VIETNAM_OFFSET)
    }

    /// The local calendar date.
    pub fn date(self) -> VnDate {
        VnDate(self.0.date())
    }

    /// ISO 8601 / RFC 3339 form with the offset, e.g. `2018-09-28T17:25:11+07:00`.
    pub fn iso(self) -> String {
        let t = self.0.time();
        format!("{}T{:02}:{:02}:{:02}+07:00", self.date().iso(), t.hour(), t.minute(), t.second())
    }
}

impl fmt::Display for VnTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.time();
        write!(f, "{} {:02}:{:02}:{:02}", self.date(), t.hour(), t.minute(), t.second())
    }
}

impl Serialize for VnTimestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

/// Splits `text` on `sep` into exactly `N` all-digit groups of the given widths.
fn split_fixed<const N: usize>(text: &str, sep: char, widths: [usize; N]) -> Option<[u32; N]> {
    let mut out = [0u32; N];
    let mut parts = text.split(sep);
    for (slot, width) in out.iter_mut().zip(widths) {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn date_from_parts(year: u32, month: u32, day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        assert_eq!(VnDate::parse("2018/09/28").map(|d| d.to_string()), Ok("2018/09/28".into()));
        assert!(matches!(VnDate::parse("2014/02/30"), Err(DateError::OutOfRange { .. })));
        assert!(matches!(VnDate::parse("2018-09-28"), Err(DateError::Shape { .. })));
        assert!(matches!(VnDate::parse("2018/9/28"), Err(DateError::Shape { .. })));
    }

    #[test]
    fn timestamps_are_vietnam_time() {
        let ts = VnTimestamp::parse("2018/09/28 17:25:11").expect("valid");
        assert_eq!(ts.iso(), "2018-09-28T17:25:11+07:00");
        assert_eq!(ts.instant().to_offset(UtcOffset::UTC).hour(), 10);
        assert_eq!(VnTimestamp::from_instant(ts.instant()), ts);
        assert!(VnTimestamp::parse("2018/09/28 24:00:00").is_err());
    }
}
