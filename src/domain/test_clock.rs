//! Test clocks: a time of their own for test accounts, moved forward by
//! an integrator's CI to watch billing happen (issue 21).

use time::{Date, Month, OffsetDateTime, UtcOffset};

use super::ids::{AccountId, TestClockId};

/// Whether a clock is still running what falls due up to its target.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    /// At rest: its accounts can be used.
    Ready,
    /// An advance is running: its accounts refuse changes until it is done.
    Advancing,
}

impl ClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStatus::Ready => "ready",
            ClockStatus::Advancing => "advancing",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ready" => Some(ClockStatus::Ready),
            "advancing" => Some(ClockStatus::Advancing),
            _ => None,
        }
    }
}

/// A test clock as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestClock {
    pub id: TestClockId,
    pub name: String,
    /// The time its accounts live at (while advancing: how far it got).
    pub frozen_time: OffsetDateTime,
    pub status: ClockStatus,
    /// Where the running advance goes.
    pub advance_to: Option<OffsetDateTime>,
    /// The test account whose admin made it; `None`: staff did.
    pub owner: Option<AccountId>,
    /// Real time.
    pub created_at: OffsetDateTime,
}

impl TestClock {
    /// Why its accounts take no change, while it runs an advance.
    pub fn advancing(&self) -> Option<String> {
        (self.status == ClockStatus::Advancing).then(|| advancing(&self.id))
    }
}

/// Why clock `id`'s accounts take no change while it advances.
pub fn advancing(id: &TestClockId) -> String {
    format!("test clock {id} is advancing: try again once it is ready")
}

/// How many calendar months one advance may cover.
pub const MAX_ADVANCE_MONTHS: u8 = 2;

/// The earliest time a clock may show (documented at the door).
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(2000-01-01 00:00 UTC);
/// The latest: past it, the yearly number series and dates stop being tested ground.
pub const LATEST: OffsetDateTime = time::macros::datetime!(2100-01-01 00:00 UTC);

/// `at` plus `months` calendar months, the day clamped to the month's
/// length (January 31 + 1 month is February 28), in UTC.
pub fn add_months(at: OffsetDateTime, months: u8) -> OffsetDateTime {
    let at = at.to_offset(UtcOffset::UTC);
    let index = i32::from(u8::from(at.month())) - 1 + i32::from(months);
    let year = at.year() + index.div_euclid(12);
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(Month::January);
    let day = at.day().min(month.length(year));
    Date::from_calendar_date(year, month, day)
        .map(|d| d.with_time(at.time()).assume_utc())
        .unwrap_or(LATEST)
}

/// Why an advance from `from` to `to` is refused, if it is.
pub fn refuse_advance(from: OffsetDateTime, to: OffsetDateTime) -> Option<String> {
    if to <= from {
        return Some("must be after the clock's frozen_time: clocks only go forward".into());
    }
    if to > LATEST {
        return Some("must be before 2100-01-01T00:00:00Z".into());
    }
    let limit = add_months(from, MAX_ADVANCE_MONTHS);
    (to > limit).then(|| {
        format!(
            "must be at most {MAX_ADVANCE_MONTHS} months after the clock's frozen_time, {}: advance in several calls",
            rfc3339(limit)
        )
    })
}

/// `at` in RFC 3339, UTC.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The number series a document of an account is numbered in: the real
/// one, gapless per year, or its test clock's own, prefixed `TEST-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series<'a> {
    Live,
    Test(&'a TestClockId),
}

impl Series<'_> {
    fn prefix(self) -> &'static str {
        match self {
            Series::Live => "",
            Series::Test(_) => "TEST-",
        }
    }

    /// `F-2026-000001` (or `TEST-F-2026-000001`).
    pub fn invoice_number(self, year: i32, n: i64) -> String {
        format!("{}F-{year:04}-{n:06}", self.prefix())
    }

    /// `AV-2026-000001` (or `TEST-AV-2026-000001`).
    pub fn credit_note_number(self, year: i32, n: i64) -> String {
        format!("{}AV-{year:04}-{n:06}", self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn two_months_later_keeps_the_time_and_clamps_the_day() {
        assert_eq!(
            add_months(datetime!(2026-04-01 00:00 UTC), 2),
            datetime!(2026-06-01 00:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2025-12-31 10:30 UTC), 2),
            datetime!(2026-02-28 10:30 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-15 08:00 +02:00), 2),
            datetime!(2027-01-15 06:00 UTC)
        );
    }

    #[test]
    fn an_advance_goes_forward_and_at_most_two_months() {
        let from = datetime!(2026-04-01 00:00 UTC);
        assert!(refuse_advance(from, from).is_some());
        assert!(refuse_advance(from, datetime!(2026-03-31 23:59 UTC)).is_some());
        assert!(refuse_advance(from, datetime!(2026-06-01 00:00 UTC)).is_none());
        let refused = refuse_advance(from, datetime!(2026-06-01 00:00:01 UTC)).unwrap();
        assert!(refused.contains("2026-06-01T00:00:00Z"), "{refused}");
        assert!(
            refuse_advance(
                datetime!(2099-12-01 00:00 UTC),
                datetime!(2100-01-02 00:00 UTC)
            )
            .is_some()
        );
    }

    #[test]
    fn test_documents_have_a_series_of_their_own() {
        let clock = TestClockId::generate();
        assert_eq!(Series::Live.invoice_number(2026, 123), "F-2026-000123");
        assert_eq!(
            Series::Test(&clock).invoice_number(2026, 1),
            "TEST-F-2026-000001"
        );
        assert_eq!(Series::Live.credit_note_number(2026, 7), "AV-2026-000007");
        assert_eq!(
            Series::Test(&clock).credit_note_number(2027, 2),
            "TEST-AV-2027-000002"
        );
    }
}
