//! An account: the customer company that is billed, with its currency and timezone.

use std::fmt;

/// An IANA timezone name known to the bundled tz database (`Europe/Paris`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timezone(String);

impl Timezone {
    pub const DEFAULT: &'static str = "Europe/Paris";

    pub fn parse(name: &str) -> Option<Self> {
        // jiff also accepts POSIX TZ strings and offsets; an account needs a real zone name.
        let looks_like_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
        (looks_like_name && jiff::tz::TimeZone::get(name).is_ok()).then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The civil date in this zone at `instant`.
    pub fn date_at(&self, instant: time::OffsetDateTime) -> time::Date {
        let zone = jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = jiff::Timestamp::from_second(instant.unix_timestamp())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(zone)
            .date();
        time::Month::try_from(local.month() as u8)
            .ok()
            .and_then(|m| {
                time::Date::from_calendar_date(i32::from(local.year()), m, local.day() as u8).ok()
            })
            .unwrap_or_else(|| instant.date())
    }
}

impl Timezone {
    /// The zone's rules, for code that converts many instants (exports).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The instant the civil day `date` starts in this zone (its midnight, or
    /// the first instant after a gap when the clocks jump at midnight).
    pub fn start_of(&self, date: time::Date) -> time::OffsetDateTime {
        let zone = jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC);
        let civil = jiff::civil::Date::new(
            date.year() as i16,
            u8::from(date.month()) as i8,
            date.day() as i8,
        );
        let seconds = civil
            .ok()
            .and_then(|d| d.to_zoned(zone).ok())
            .map(|z| z.timestamp().as_second());
        seconds
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or_else(|| date.midnight().assume_utc())
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name or free text: trimmed, 1 to `max` characters as sent, no
/// control character. Request schemas say the same (`maxLength` and a pattern).
pub fn clean_name(raw: &str, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    let ok = !trimmed.is_empty() && raw.chars().count() <= max && !trimmed.chars().any(is_unsafe);
    ok.then(|| trimmed.to_owned())
}

/// A character free text must not hold: a control character, or one that is
/// invisible or reorders what a person reads (zero-width characters,
/// bidirectional overrides and isolates, the byte-order mark), which could make
/// an invoice or an address read otherwise than it is stored.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: super::ids::AccountId,
    pub name: String,
    pub currency: super::money::Currency,
    pub timezone: Timezone,
    /// The language its invoices and credit notes are issued in.
    pub invoice_language: InvoiceLanguage,
    pub created_at: time::OffsetDateTime,
    /// The test clock it lives on; `None`: a live account.
    pub test_clock_id: Option<super::ids::TestClockId>,
}

impl Account {
    /// The series its invoices and credit notes are numbered in.
    pub fn series(&self) -> super::test_clock::Series<'_> {
        match &self.test_clock_id {
            Some(clock) => super::test_clock::Series::Test(clock),
            None => super::test_clock::Series::Live,
        }
    }
}

/// The language an account's documents are issued in: the stored legal PDF
/// (Factur-X) and the emails that carry it. French unless asked otherwise.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceLanguage {
    #[default]
    Fr,
    En,
}

impl InvoiceLanguage {
    pub fn code(self) -> &'static str {
        match self {
            InvoiceLanguage::Fr => "fr",
            InvoiceLanguage::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "fr" => Some(InvoiceLanguage::Fr),
            "en" => Some(InvoiceLanguage::En),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_refuses_controls_and_characters_that_hide_or_reorder_text() {
        assert_eq!(clean_name("  Acme SAS ", 200).as_deref(), Some("Acme SAS"));
        assert_eq!(
            clean_name("Société Générale", 200).as_deref(),
            Some("Société Générale")
        );
        for bad in [
            "Acme\u{202E}SAS",
            "Acme\u{200B}",
            "\u{2066}Acme\u{2069}",
            "\u{FEFF}Acme",
            "Acme\u{0007}",
        ] {
            assert_eq!(clean_name(bad, 200), None, "{bad:?}");
        }
    }

    #[test]
    fn iana_zone_names_are_accepted() {
        for name in ["Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata"] {
            assert!(Timezone::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn unknown_zones_and_posix_strings_are_refused() {
        for name in [
            "",
            "Mars/Olympus",
            "europe/paris ",
            "EST5EDT,M3.2.0,M11.1.0",
            "../etc",
        ] {
            assert!(Timezone::parse(name).is_none(), "{name}");
        }
    }

    #[test]
    fn dates_are_civil_dates_in_the_zone() {
        use time::macros::{date, datetime};
        let paris = Timezone::parse("Europe/Paris").unwrap();
        // 23:30 UTC on April 30 is already May 1 in Paris (UTC+2 in summer).
        assert_eq!(
            paris.date_at(datetime!(2026-04-30 23:30 UTC)),
            date!(2026 - 05 - 01)
        );
        assert_eq!(
            paris.date_at(datetime!(2026-04-30 21:59 UTC)),
            date!(2026 - 04 - 30)
        );
        let ny = Timezone::parse("America/New_York").unwrap();
        assert_eq!(
            ny.date_at(datetime!(2026-05-01 02:00 UTC)),
            date!(2026 - 04 - 30)
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Acme  ", 200).as_deref(), Some("Acme"));
        assert_eq!(clean_name("   ", 200), None);
        assert_eq!(clean_name("a\u{0}b", 200), None);
        assert_eq!(clean_name(&"é".repeat(201), 200), None);
        assert!(clean_name(&"é".repeat(200), 200).is_some());
    }
}
