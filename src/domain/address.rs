//! Billing addresses: the identity printed on invoices. A customer adds one
//! (pending verification) and asks for changes; staff verify and edit.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ids::{AccountId, BillingAddressId, ChangeRequestId, DocumentId};

/// An ISO 3166-1 alpha-2 country code, checked against the real list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(&'static str);

impl Country {
    /// Accepts an upper-case alpha-2 code of an existing country.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 2 || !raw.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        celes::Country::from_alpha2(raw)
            .ok()
            .map(|c| Self(c.alpha2))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    /// Member states of the European Union (VAT area), by ISO code.
    pub fn is_eu(self) -> bool {
        EU.contains(&self.0)
    }
}

/// In the OpenAPI document: one named `Country` schema, the codes
/// [`Country::parse`] accepts.
impl utoipa::PartialSchema for Country {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let codes: Vec<&str> = celes::Country::get_countries()
            .iter()
            .map(|c| c.alpha2)
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An ISO 3166-1 alpha-2 code of an existing country, upper case",
            ))
            .enum_values(Some(codes))
            .examples(["FR"])
            .into()
    }
}

impl ToSchema for Country {
    fn name() -> std::borrow::Cow<'static, str> {
        "Country".into()
    }
}

const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// Checks the shape of an EU VAT number for `country` (the VIES formats).
/// Spaces, dots and dashes are ignored; the result is upper case without them.
/// Numbers of non-EU countries are kept as given (trimmed, at most 20 characters).
pub fn normalise_vat(country: Country, raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.is_empty()
        || compact.len() > 20
        || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    if !country.is_eu() {
        return Some(compact);
    }
    // Greece's VAT prefix is EL, not its ISO code.
    let prefix = if country.code() == "GR" {
        "EL"
    } else {
        country.code()
    };
    let body = compact.strip_prefix(prefix)?;
    let digits = |n: usize| body.len() == n && body.bytes().all(|b| b.is_ascii_digit());
    let alnum = |n: usize| body.len() == n && body.bytes().all(|b| b.is_ascii_alphanumeric());
    let ok = match country.code() {
        "AT" => {
            body.len() == 9
                && body.starts_with('U')
                && body[1..].bytes().all(|b| b.is_ascii_digit())
        }
        "BE" => digits(10) && (body.starts_with('0') || body.starts_with('1')),
        "BG" => digits(9) || digits(10),
        "CY" => {
            alnum(9)
                && body[..8].bytes().all(|b| b.is_ascii_digit())
                && body.as_bytes()[8].is_ascii_alphabetic()
        }
        "CZ" => (8..=10).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit()),
        "DE" | "EE" | "GR" | "PT" => digits(9),
        "DK" | "FI" | "HU" | "LU" | "MT" | "SI" => digits(8),
        "ES" => alnum(9) && body.as_bytes()[1..8].iter().all(u8::is_ascii_digit),
        "FR" => alnum(11) && body.as_bytes()[2..].iter().all(u8::is_ascii_digit),
        "HR" | "IT" | "LV" => digits(11),
        "IE" => {
            (body.len() == 8 || body.len() == 9) && body.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        "LT" => digits(9) || digits(12),
        "NL" => {
            body.len() == 12
                && body.as_bytes()[9] == b'B'
                && body[..9].bytes().all(|b| b.is_ascii_digit())
                && body[10..].bytes().all(|b| b.is_ascii_digit())
        }
        "PL" | "SK" => digits(10),
        "RO" => (2..=10).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit()),
        "SE" => digits(12) && body.ends_with("01"),
        _ => false,
    };
    ok.then_some(compact)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressStatus {
    PendingVerification,
    Verified,
    Rejected,
}

impl AddressStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressStatus::PendingVerification => "pending_verification",
            AddressStatus::Verified => "verified",
            AddressStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::PendingVerification, Self::Verified, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The fields of an address that a change replaces, all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub company_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub region: Option<String>,
    pub country: Country,
    pub vat_number: Option<String>,
    /// French addresses: the company's SIREN (9 digits, Luhn key).
    pub siren: Option<String>,
    /// Where the company receives e-invoices (its directory address).
    pub e_invoicing_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAddress {
    pub id: BillingAddressId,
    pub account_id: AccountId,
    pub fields: AddressFields,
    pub status: AddressStatus,
    pub primary: bool,
    pub rejection_reason: Option<String>,
    /// Starts at 1; each change of the fields adds one (see the history).
    pub revision: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeRequestStatus {
    Pending,
    Approved,
    Rejected,
}

impl ChangeRequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeRequestStatus::Pending => "pending",
            ChangeRequestStatus::Approved => "approved",
            ChangeRequestStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A customer's request to change a stored address, decided by staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub id: ChangeRequestId,
    pub account_id: AccountId,
    pub address_id: BillingAddressId,
    pub fields: AddressFields,
    pub document_id: Option<DocumentId>,
    pub status: ChangeRequestStatus,
    pub reason: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub created_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
}

/// One past or present version of an address's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRevision {
    pub revision: i32,
    pub fields: AddressFields,
    pub changed_by: String,
    pub change_request_id: Option<ChangeRequestId>,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_checked_against_the_iso_list() {
        for code in ["FR", "ES", "DE", "US", "BE", "CH"] {
            assert!(Country::parse(code).is_some(), "{code}");
        }
        for code in ["", "F", "FRA", "fr", "XX", "ZZ", "UK"] {
            assert!(Country::parse(code).is_none(), "{code}");
        }
    }

    #[test]
    fn eu_vat_numbers_have_their_country_format() {
        let fr = Country::parse("FR").unwrap();
        assert_eq!(
            normalise_vat(fr, "FR 40 303 265 045").as_deref(),
            Some("FR40303265045")
        );
        let valid = [
            ("ES", "ESA12345674"),
            ("DE", "DE123456789"),
            ("BE", "BE0123456789"),
            ("NL", "NL123456789B01"),
            ("GR", "EL123456789"),
            ("IT", "IT12345678901"),
            ("AT", "ATU12345678"),
        ];
        for (country, vat) in valid {
            let c = Country::parse(country).unwrap();
            assert!(normalise_vat(c, vat).is_some(), "{vat}");
        }
        let invalid = [
            ("FR", "FR123"),
            ("FR", "DE123456789"),
            ("DE", "DE12345678"),
            ("NL", "NL123456789001"),
            ("GR", "GR123456789"),
            ("ES", "ES"),
            ("FR", "FR40 303/265 045"),
        ];
        for (country, vat) in invalid {
            let c = Country::parse(country).unwrap();
            assert!(normalise_vat(c, vat).is_none(), "{vat}");
        }
    }

    #[test]
    fn vat_numbers_outside_the_eu_are_kept_as_given() {
        let ch = Country::parse("CH").unwrap();
        assert_eq!(
            normalise_vat(ch, "CHE-123.456.789").as_deref(),
            Some("CHE123456789")
        );
    }
}
