//! Useful contacts ("Contacts utiles"): who to call about what.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ids::{AccountId, ContactId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    Technical,
    Accounting,
    Operational,
    Other,
}

impl ContactRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::Technical => "technical",
            ContactRole::Accounting => "accounting",
            ContactRole::Operational => "operational",
            ContactRole::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            ContactRole::Technical,
            ContactRole::Accounting,
            ContactRole::Operational,
            ContactRole::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// An email address: trimmed, at most 254 characters, `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Option<Self> {
        use validator::ValidateEmail;
        let trimmed = raw.trim();
        let domain_has_dot = trimmed
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.contains('.') && !d.ends_with('.'));
        (trimmed.len() <= 254 && domain_has_dot && trimmed.validate_email())
            .then(|| Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 (`+33142685300`), parsed with libphonenumber's
/// metadata. Numbers without a `+` are read as French.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 40 {
            return None;
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::FR), raw).ok()?;
        phonenumber::is_valid(&number)
            .then(|| Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value read back from the store, which holds only parsed numbers.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub account_id: AccountId,
    pub name: String,
    pub email: Email,
    pub phone: PhoneNumber,
    pub role: ContactRole,
    pub note: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Email {
    /// A value read back from the store.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_to_e164() {
        for (raw, e164) in [
            ("+33 1 42 68 53 00", "+33142685300"),
            ("01 42 68 53 00", "+33142685300"),
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("+34 912 345 678", "+34912345678"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), e164, "{raw}");
        }
    }

    #[test]
    fn impossible_phone_numbers_are_refused() {
        for raw in [
            "",
            "12",
            "+33 1",
            "+999 123456",
            "not a number",
            "+33 1 42 68 53 00 00 00",
        ] {
            assert!(PhoneNumber::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            Email::parse(" compta@acme.fr ").unwrap().as_str(),
            "compta@acme.fr"
        );
        for raw in [
            "",
            "compta",
            "compta@",
            "@acme.fr",
            "compta@acme",
            "a b@acme.fr",
        ] {
            assert!(Email::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn roles_are_the_four_of_the_help_page() {
        assert_eq!(
            ContactRole::parse("accounting"),
            Some(ContactRole::Accounting)
        );
        assert_eq!(ContactRole::parse("boss"), None);
    }
}
