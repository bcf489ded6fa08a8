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
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
pub fn clean_name(raw: &str, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    let ok = !trimmed.is_empty()
        && trimmed.chars().count() <= max
        && !trimmed.chars().any(char::is_control);
    ok.then(|| trimmed.to_owned())
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: super::ids::AccountId,
    pub name: String,
    pub currency: super::money::Currency,
    pub timezone: Timezone,
    pub created_at: time::OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Acme  ", 200).as_deref(), Some("Acme"));
        assert_eq!(clean_name("   ", 200), None);
        assert_eq!(clean_name("a\u{0}b", 200), None);
        assert_eq!(clean_name(&"é".repeat(201), 200), None);
        assert!(clean_name(&"é".repeat(200), 200).is_some());
    }
}
