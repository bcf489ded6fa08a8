//! Consumption records (calls and SMS): their checked fields, how a batch's
//! out-of-plan cost is split between credits and the invoice, and the
//! filters of the detailed consumption.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, UtcOffset};
use utoipa::ToSchema;

use super::account::Timezone;
use super::ids::{AccountId, ConsumptionId, TeamId, UserId};
use super::money::MoneyError;

/// A call or an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ConsumptionKind)]
pub enum Kind {
    Call,
    Sms,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Sms => "sms",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "call" => Some(Kind::Call),
            "sms" => Some(Kind::Sms),
            _ => None,
        }
    }
}

/// Whether the account's user placed the call (or sent the SMS) or received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CallDirection)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// One stored call or SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: ConsumptionId,
    pub account_id: AccountId,
    /// The platform's id, unique per account.
    pub external_id: String,
    /// Whole seconds, UTC.
    pub occurred_at: OffsetDateTime,
    pub user_id: UserId,
    /// The user's team when the record was ingested.
    pub team_id: Option<TeamId>,
    pub kind: Kind,
    pub direction: Direction,
    /// E.164.
    pub destination: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub duration_seconds: i64,
    /// Out-of-plan cost ("hors forfait"), zero when in the plan.
    pub cost_minor: i64,
    /// The part of the cost the credits did not cover: billed on the next invoice.
    pub billable_minor: i64,
    pub created_at: OffsetDateTime,
}

/// An external id: 1 to 100 visible ASCII characters.
pub fn valid_external_id(raw: &str) -> bool {
    (1..=100).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// The E.164 shape: `+`, a non-zero digit, 7 to 15 digits in all. Only the
/// shape is checked: the platform sends numbers it has already routed, and a
/// full numbering-plan check costs more than the rest of the ingestion.
pub fn valid_e164(raw: &str) -> bool {
    let Some(digits) = raw.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Records are kept to the second, in UTC, so that both databases order and
/// compare them the same way (SQLite compares instants as text).
pub fn to_stored_instant(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

/// Splits `covered` (what the credits paid for the batch) over the batch's
/// costs, in the order given: each record's billable part. The sum of the
/// billable parts is the total cost minus `covered`.
pub fn allocate_credits(costs: &[i64], covered: i64) -> Vec<i64> {
    let mut left = covered.max(0);
    costs
        .iter()
        .map(|&cost| {
            let paid = cost.min(left);
            left -= paid;
            cost - paid
        })
        .collect()
}

/// One end of a date range: a civil date in the account's timezone, or an
/// instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Date(Date),
    Instant(OffsetDateTime),
}

impl Bound {
    /// `2026-04-30` or `2026-04-30T21:30:00Z` (RFC 3339).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() == 10 {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            return Date::parse(raw, format).ok().map(Bound::Date);
        }
        OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(Bound::Instant)
    }

    /// `from`: the first instant included. A date starts at its midnight in the zone.
    pub fn start(self, zone: &Timezone) -> OffsetDateTime {
        match self {
            Bound::Date(d) => zone.start_of(d),
            Bound::Instant(at) => ceil_second(at),
        }
    }

    /// `to`: the first instant excluded. A date is included whole, so the
    /// range ends at the next day's midnight.
    pub fn end(self, zone: &Timezone) -> OffsetDateTime {
        match self {
            Bound::Date(d) => zone.start_of(d.next_day().unwrap_or(d)),
            Bound::Instant(at) => ceil_second(at),
        }
    }
}

/// Stored instants are whole seconds, so `>= 10:00:00.5` means `>= 10:00:01`.
fn ceil_second(at: OffsetDateTime) -> OffsetDateTime {
    let whole = to_stored_instant(at);
    if whole == at.to_offset(UtcOffset::UTC) {
        whole
    } else {
        whole + Duration::SECOND
    }
}

/// The selection of the detailed consumption, its totals and its exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Included.
    pub from: Option<OffsetDateTime>,
    /// Excluded.
    pub to: Option<OffsetDateTime>,
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub kind: Option<Kind>,
}

/// The selection as asked: date bounds are resolved in the account's zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub kind: Option<Kind>,
}

impl Selection {
    /// The filter in instants; `None` when `to` is before `from`.
    pub fn resolve(&self, zone: &Timezone) -> Option<Filter> {
        let filter = Filter {
            from: self.from.map(|b| b.start(zone)),
            to: self.to.map(|b| b.end(zone)),
            user_id: self.user_id.clone(),
            team_id: self.team_id.clone(),
            kind: self.kind,
        };
        match (filter.from, filter.to) {
            (Some(f), Some(t)) if f > t => None,
            _ => Some(filter),
        }
    }
}

/// Where a page of the list starts: after this record, in (occurred_at, id) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub occurred_at: OffsetDateTime,
    pub id: ConsumptionId,
}

impl Position {
    /// As a cursor body: letters, digits and `_` only.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.occurred_at.unix_timestamp(), self.id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (seconds, id) = raw.split_once('_')?;
        let occurred_at = OffsetDateTime::from_unix_timestamp(seconds.parse().ok()?).ok()?;
        Some(Position {
            occurred_at,
            id: ConsumptionId::parse(id)?,
        })
    }
}

/// Count, duration, cost and billable of a selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: i64,
    pub duration_seconds: i64,
    pub cost_minor: i64,
    pub billable_minor: i64,
}

impl Totals {
    /// Adds a record, checked: an error, never a wrap, when a total would
    /// leave the range (unreachable within the API's limits: about 9 x 10^12
    /// records at the largest cost), and then the totals are unchanged.
    pub fn add(&mut self, r: &Record) -> Result<(), MoneyError> {
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(MoneyError::Overflow);
        *self = Totals {
            count: add(self.count, 1)?,
            duration_seconds: add(self.duration_seconds, r.duration_seconds)?,
            cost_minor: add(self.cost_minor, r.cost_minor)?,
            billable_minor: add(self.billable_minor, r.billable_minor)?,
        };
        Ok(())
    }
}

/// `h:mm:ss`, for people reading an export.
pub struct Hms(pub i64);

impl fmt::Display for Hms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.max(0);
        write!(f, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Names of users and teams, for people reading totals and exports. A record
/// of a deleted user or team shows its id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub users: HashMap<UserId, String>,
    pub teams: HashMap<TeamId, String>,
}

impl Names {
    pub fn user<'a>(&'a self, id: &'a UserId) -> &'a str {
        self.users.get(id).map_or(id.as_str(), String::as_str)
    }

    pub fn team<'a>(&'a self, id: Option<&'a TeamId>) -> &'a str {
        id.map_or("", |t| self.teams.get(t).map_or(t.as_str(), String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn credits_pay_records_in_order_and_the_rest_is_billable() {
        let cases: [(&[i64], i64, &[i64]); 5] = [
            (&[100, 200, 300], 0, &[100, 200, 300]),
            (&[100, 200, 300], 250, &[0, 50, 300]),
            (&[100, 200, 300], 600, &[0, 0, 0]),
            (&[100, 0, 300], 1_000, &[0, 0, 0]),
            (&[0, 0], 50, &[0, 0]),
        ];
        for (costs, covered, billable) in cases {
            let got = allocate_credits(costs, covered);
            assert_eq!(got, billable, "costs {costs:?} covered {covered}");
            let total: i64 = costs.iter().sum();
            assert_eq!(
                got.iter().sum::<i64>(),
                total - covered.min(total),
                "billable is what was not covered"
            );
        }
    }

    #[test]
    fn late_evening_utc_on_the_last_day_belongs_to_the_next_month_in_paris() {
        let paris = Timezone::parse("Europe/Paris").unwrap();
        // April 30, 23:30 UTC is May 1, 01:30 in Paris (summer time).
        let at = datetime!(2026-04-30 23:30 UTC);
        let may = Bound::Date(date!(2026 - 05 - 01));
        let april_end = Bound::Date(date!(2026 - 04 - 30));
        assert!(at >= may.start(&paris));
        assert!(at >= april_end.end(&paris), "not in April's range");
        assert_eq!(may.start(&paris), datetime!(2026-04-30 22:00 UTC));
        // In winter Paris is UTC+1.
        assert_eq!(
            Bound::Date(date!(2026 - 01 - 31)).end(&paris),
            datetime!(2026-01-31 23:00 UTC)
        );
    }

    #[test]
    fn bounds_parse_dates_and_instants_and_round_fractions_up() {
        assert_eq!(
            Bound::parse("2026-04-30"),
            Some(Bound::Date(date!(2026 - 04 - 30)))
        );
        let utc = Timezone::parse("UTC").unwrap();
        let b = Bound::parse("2026-04-30T21:30:00.250+02:00").unwrap();
        assert_eq!(b.start(&utc), datetime!(2026-04-30 19:30:01 UTC));
        let b = Bound::parse("2026-04-30T21:30:00Z").unwrap();
        assert_eq!(b.end(&utc), datetime!(2026-04-30 21:30:00 UTC));
        for bad in ["2026-13-01", "yesterday", "", "2026-04-30T25:00:00Z"] {
            assert_eq!(Bound::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn e164_shape_and_external_ids_are_checked() {
        for good in ["+33184800123", "+14155550123", "+4420"] {
            assert_eq!(valid_e164(good), good.len() >= 8, "{good}");
        }
        for bad in [
            "33184800123",
            "+0184800123",
            "+33 1 84",
            "+3318480012345678",
            "",
        ] {
            assert!(!valid_e164(bad), "{bad}");
        }
        assert!(valid_external_id("cdr-2026-04-09/123"));
        assert!(!valid_external_id(""));
        assert!(!valid_external_id("with space"));
        assert!(!valid_external_id(&"x".repeat(101)));
    }

    #[test]
    fn positions_round_trip_through_the_cursor() {
        let p = Position {
            occurred_at: datetime!(2026-04-09 10:00:00 UTC),
            id: ConsumptionId::generate(),
        };
        assert_eq!(Position::decode(&p.encode()), Some(p));
        assert_eq!(Position::decode("nope"), None);
        assert_eq!(Position::decode("12_usr_abc"), None);
    }

    #[test]
    fn stored_instants_are_whole_seconds_in_utc() {
        let at = datetime!(2026-04-09 12:00:00.999 +02:00);
        assert_eq!(to_stored_instant(at), datetime!(2026-04-09 10:00:00 UTC));
        assert_eq!(Hms(3_725).to_string(), "1:02:05");
        assert_eq!(Hms(59).to_string(), "0:00:59");
    }
}
