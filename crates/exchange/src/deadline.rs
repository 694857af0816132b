//! Decree 30/2020 deadlines: the recipient confirms receipt to the sender the same day.
//!
//! "The same day" is the calendar day in Vietnam (+07:00) on which the hub queued the delivery,
//! whatever time zone the hub's machine runs in; working days and public holidays do not enter.

use edxml::VIETNAM_OFFSET;
use time::{Duration, OffsetDateTime, Time};

/// The last whole second, 23:59:59 Vietnam time on the day of `queued_at`, by which a delivery
/// must be acknowledged or refused. A delivery settled after it is late; one still waiting after
/// it is overdue.
pub fn receipt_due(queued_at: OffsetDateTime) -> OffsetDateTime {
    let start_of_day = queued_at.to_offset(VIETNAM_OFFSET).replace_time(Time::MIDNIGHT);
    // Vietnam keeps no daylight saving time: every day there has 86,400 seconds.
    start_of_day.saturating_add(Duration::seconds(86_399))
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    fn check(queued_at: &str, due: &str) {
        let queued_at = OffsetDateTime::parse(queued_at, &Rfc3339).expect("RFC 3339");
        let got = receipt_due(queued_at).format(&Rfc3339).expect("format");
        assert_eq!(got, due, "queued at {queued_at}");
    }

    #[test]
    fn the_deadline_is_the_end_of_the_day_in_vietnam() {
        check("2026-11-24T08:30:00+07:00", "2026-11-24T23:59:59+07:00");
        check("2026-11-24T00:00:00+07:00", "2026-11-24T23:59:59+07:00");
        check("2026-11-24T23:59:59+07:00", "2026-11-24T23:59:59+07:00");
        // 17:00 UTC is already midnight in Hà Nội: the next day's deadline.
        check("2026-11-24T16:59:59Z", "2026-11-24T23:59:59+07:00");
        check("2026-11-24T17:00:00Z", "2026-11-25T23:59:59+07:00");
        // A hub whose clock reports another offset still counts Vietnam's day.
        check("2026-11-24T20:00:00-05:00", "2026-11-25T23:59:59+07:00");
        check("2026-12-31T23:10:00+07:00", "2026-12-31T23:59:59+07:00");
        check("2028-02-29T12:00:00+07:00", "2028-02-29T23:59:59+07:00");
    }
}
