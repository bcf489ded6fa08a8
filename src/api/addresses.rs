//! `/v1/accounts/{a}/billing-addresses` and their change requests.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::address::{
    AddressFields, AddressRevision, AddressStatus, BillingAddress, ChangeRequest,
    ChangeRequestStatus, Country, normalise_vat,
};
use crate::domain::ids::{BillingAddressId, ChangeRequestId, DocumentId};
use crate::domain::tax::{is_french, parse_siren};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::addresses;

/// The fields of an address, as printed on invoices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressFieldsDto {
    #[schema(example = "Démo Télécom SAS")]
    pub company_name: String,
    #[schema(example = "12 rue de la Paix")]
    pub line1: String,
    pub line2: Option<String>,
    #[schema(example = "75002")]
    pub postal_code: String,
    #[schema(example = "Paris")]
    pub city: String,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(value_type = Country, example = "FR")]
    pub country: String,
    #[schema(example = "FR40303265045")]
    pub vat_number: Option<String>,
    /// The buyer's SIREN (French addresses): 9 digits, printed on invoices.
    #[schema(example = "732829320")]
    pub siren: Option<String>,
    /// Where the buyer receives e-invoices (its directory address).
    #[schema(example = "0225:732829320")]
    pub e_invoicing_address: Option<String>,
}

impl From<AddressFields> for AddressFieldsDto {
    fn from(f: AddressFields) -> Self {
        AddressFieldsDto {
            company_name: f.company_name,
            line1: f.line1,
            line2: f.line2,
            postal_code: f.postal_code,
            city: f.city,
            region: f.region,
            country: f.country.code().to_owned(),
            vat_number: f.vat_number,
            siren: f.siren,
            e_invoicing_address: f.e_invoicing_address,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BillingAddressDto {
    pub id: String,
    #[serde(flatten)]
    pub fields: AddressFieldsDto,
    pub status: AddressStatus,
    /// The address printed on invoices.
    pub primary: bool,
    pub rejection_reason: Option<String>,
    /// 1, then one more at each change of the fields (see the history).
    pub revision: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<BillingAddress> for BillingAddressDto {
    fn from(a: BillingAddress) -> Self {
        BillingAddressDto {
            id: a.id.to_string(),
            fields: a.fields.into(),
            status: a.status,
            primary: a.primary,
            rejection_reason: a.rejection_reason,
            revision: a.revision,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeRequestDto {
    pub id: String,
    pub address_id: String,
    /// The fields asked for.
    pub fields: AddressFieldsDto,
    pub document_id: Option<String>,
    pub status: ChangeRequestStatus,
    /// Why staff rejected it.
    pub reason: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
}

impl From<ChangeRequest> for ChangeRequestDto {
    fn from(r: ChangeRequest) -> Self {
        ChangeRequestDto {
            id: r.id.to_string(),
            address_id: r.address_id.to_string(),
            fields: r.fields.into(),
            document_id: r.document_id.map(|d| d.to_string()),
            status: r.status,
            reason: r.reason,
            requested_by: r.requested_by,
            decided_by: r.decided_by,
            created_at: r.created_at,
            decided_at: r.decided_at,
        }
    }
}

/// One version of an address's fields.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressRevisionDto {
    pub revision: i32,
    pub fields: AddressFieldsDto,
    pub changed_by: String,
    /// The change request this version came from, if any.
    pub change_request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<AddressRevision> for AddressRevisionDto {
    fn from(r: AddressRevision) -> Self {
        AddressRevisionDto {
            revision: r.revision,
            fields: r.fields.into(),
            changed_by: r.changed_by,
            change_request_id: r.change_request_id.map(|c| c.to_string()),
            created_at: r.created_at,
        }
    }
}

/// Address fields as sent, before parsing. Empty optional fields mean none.
struct RawAddress<'a> {
    company_name: &'a str,
    line1: &'a str,
    line2: Option<&'a str>,
    postal_code: &'a str,
    city: &'a str,
    region: Option<&'a str>,
    country: &'a str,
    vat_number: Option<&'a str>,
    siren: Option<&'a str>,
    e_invoicing_address: Option<&'a str>,
}

/// An optional text: absent, empty or only spaces is none; otherwise a
/// [`clean_name`]. No control character either way.
fn optional(raw: Option<&str>, max: usize) -> Option<Option<String>> {
    match raw {
        None => Some(None),
        Some(r) if r.trim().is_empty() => (r.chars().count() <= max
            && !r.chars().any(crate::domain::account::is_unsafe))
        .then_some(None),
        Some(r) => clean_name(r, max).map(Some),
    }
}

fn postal_code(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let ok = (1..=16).contains(&trimmed.len())
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
    ok.then(|| trimmed.to_ascii_uppercase())
}

impl RawAddress<'_> {
    fn parse(self) -> Result<AddressFields, ApiError> {
        let mut v = FieldErrors::default();
        let company_name = v.check(
            "company_name",
            clean_name(self.company_name, 200),
            "must be 1 to 200 characters",
        );
        let line1 = v.check(
            "line1",
            clean_name(self.line1, 200),
            "must be 1 to 200 characters",
        );
        let line2 = v.check(
            "line2",
            optional(self.line2, 200),
            "must be at most 200 characters",
        );
        let postal = v.check(
            "postal_code",
            postal_code(self.postal_code),
            "must be 1 to 16 letters, digits, spaces or dashes",
        );
        let city = v.check(
            "city",
            clean_name(self.city, 100),
            "must be 1 to 100 characters",
        );
        let region = v.check(
            "region",
            optional(self.region, 100),
            "must be at most 100 characters",
        );
        let country = v.check(
            "country",
            Country::parse(self.country),
            "must be an ISO 3166-1 alpha-2 country code such as FR",
        );
        let vat = match (
            country,
            self.vat_number.map(str::trim).filter(|s| !s.is_empty()),
        ) {
            (Some(c), Some(raw)) => v
                .check(
                    "vat_number",
                    normalise_vat(c, raw).map(Some),
                    "is not a VAT number of this country (for France: FR and 11 characters)",
                )
                .flatten(),
            _ => None,
        };
        let siren = v.check_opt(
            "siren",
            self.siren.map(str::trim).filter(|s| !s.is_empty()),
            parse_siren,
            "must be a SIREN: 9 digits with a valid key",
        );
        v.check(
            "siren",
            (siren.is_none() || country.is_none_or(|c| is_french(c, self.postal_code)))
                .then_some(()),
            "is only for French addresses (France and its overseas departments)",
        );
        let e_invoicing_address = v.check(
            "e_invoicing_address",
            optional(self.e_invoicing_address, 125),
            "must be at most 125 characters",
        );
        v.finish()?;
        match (
            company_name,
            line1,
            line2,
            postal,
            city,
            region,
            country,
            e_invoicing_address,
        ) {
            (
                Some(company_name),
                Some(line1),
                Some(line2),
                Some(postal_code),
                Some(city),
                Some(region),
                Some(country),
                Some(e_invoicing_address),
            ) => Ok(AddressFields {
                company_name,
                line1,
                line2,
                postal_code,
                city,
                region,
                country,
                vat_number: vat,
                siren,
                e_invoicing_address,
            }),
            _ => Err(ApiError::internal("address fields checked twice")),
        }
    }
}

/// A new billing address.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Acme SAS"
    )]
    pub company_name: String,
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "12 rue de la Paix"
    )]
    pub line1: String,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 200,
        example = "Bâtiment B"
    )]
    pub line2: Option<String>,
    #[validate(length(min = 1, max = 16, message = "must be 1 to 16 characters"))]
    #[schema(min_length = 1, max_length = 16, example = "75002")]
    pub postal_code: String,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Paris"
    )]
    pub city: String,
    #[validate(length(max = 100, message = "must be at most 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 100,
        example = "Île-de-France"
    )]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[validate(length(equal = 2, message = "must be an ISO 3166-1 alpha-2 code"))]
    #[schema(value_type = Country, example = "FR")]
    pub country: String,
    /// Checked against the country's format for EU countries.
    #[validate(length(max = 20, message = "must be at most 20 characters"))]
    #[schema(max_length = 20, example = "FR40303265045")]
    pub vat_number: Option<String>,
    /// French addresses: the company's SIREN (9 digits, Luhn key checked).
    #[validate(length(max = 11, message = "must be 9 digits"))]
    #[schema(max_length = 11, example = "732829320")]
    pub siren: Option<String>,
    /// Where the company receives e-invoices (its directory address).
    #[validate(length(max = 125, message = "must be at most 125 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 125,
        example = "0225:732829320"
    )]
    pub e_invoicing_address: Option<String>,
}

impl AddressRequest {
    fn raw(&self) -> RawAddress<'_> {
        RawAddress {
            company_name: &self.company_name,
            line1: &self.line1,
            line2: self.line2.as_deref(),
            postal_code: &self.postal_code,
            city: &self.city,
            region: self.region.as_deref(),
            country: &self.country,
            vat_number: self.vat_number.as_deref(),
            siren: self.siren.as_deref(),
            e_invoicing_address: self.e_invoicing_address.as_deref(),
        }
    }
}

/// The new fields of an address, and optionally the document proving them
/// (the new Kbis, uploaded first).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequestBody {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Acme Group SAS"
    )]
    pub company_name: String,
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "12 rue de la Paix"
    )]
    pub line1: String,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 200,
        example = "Bâtiment B"
    )]
    pub line2: Option<String>,
    #[validate(length(min = 1, max = 16, message = "must be 1 to 16 characters"))]
    #[schema(min_length = 1, max_length = 16, example = "75002")]
    pub postal_code: String,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Paris"
    )]
    pub city: String,
    #[validate(length(max = 100, message = "must be at most 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 100,
        example = "Île-de-France"
    )]
    pub region: Option<String>,
    #[validate(length(equal = 2, message = "must be an ISO 3166-1 alpha-2 code"))]
    #[schema(value_type = Country, example = "FR")]
    pub country: String,
    #[validate(length(max = 20, message = "must be at most 20 characters"))]
    #[schema(max_length = 20, example = "FR40303265045")]
    pub vat_number: Option<String>,
    /// French addresses: the company's SIREN (9 digits, Luhn key checked).
    #[validate(length(max = 11, message = "must be 9 digits"))]
    #[schema(max_length = 11, example = "732829320")]
    pub siren: Option<String>,
    /// Where the company receives e-invoices (its directory address).
    #[validate(length(max = 125, message = "must be at most 125 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 125,
        example = "0225:732829320"
    )]
    pub e_invoicing_address: Option<String>,
    /// A document of this account (e.g. the new Kbis).
    #[validate(length(min = 1, max = 100, message = "must be a document id"))]
    #[schema(min_length = 1, max_length = 100, example = "doc_0193c0ffee")]
    pub document_id: Option<String>,
}

/// Staff's direct edit: only the fields sent change. An empty optional field clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAddressRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Acme Group SAS"
    )]
    pub company_name: Option<String>,
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "12 rue de la Paix"
    )]
    pub line1: Option<String>,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 200,
        example = "Bâtiment B"
    )]
    pub line2: Option<String>,
    #[validate(length(min = 1, max = 16, message = "must be 1 to 16 characters"))]
    #[schema(min_length = 1, max_length = 16, example = "75002")]
    pub postal_code: Option<String>,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Paris"
    )]
    pub city: Option<String>,
    #[validate(length(max = 100, message = "must be at most 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 100,
        example = "Île-de-France"
    )]
    pub region: Option<String>,
    #[validate(length(equal = 2, message = "must be an ISO 3166-1 alpha-2 code"))]
    #[schema(value_type = Option<Country>, example = "FR")]
    pub country: Option<String>,
    #[validate(length(max = 20, message = "must be at most 20 characters"))]
    #[schema(max_length = 20, example = "FR40303265045")]
    pub vat_number: Option<String>,
    /// French addresses: the company's SIREN (9 digits, Luhn key checked).
    #[validate(length(max = 11, message = "must be 9 digits"))]
    #[schema(max_length = 11, example = "732829320")]
    pub siren: Option<String>,
    /// Where the company receives e-invoices (its directory address).
    #[validate(length(max = 125, message = "must be at most 125 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        max_length = 125,
        example = "0225:732829320"
    )]
    pub e_invoicing_address: Option<String>,
}

/// Why staff refuse.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        example = "The Kbis is older than three months"
    )]
    pub reason: String,
}

impl RejectRequest {
    fn reason(self) -> Result<String, ApiError> {
        clean_name(&self.reason, 500)
            .ok_or_else(|| ApiError::validation("reason", "must be 1 to 500 characters"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeRequestFilter {
    /// Only the requests in this status.
    pub status: Option<ChangeRequestStatus>,
}

fn address_id(raw: &str) -> Result<BillingAddressId, ApiError> {
    BillingAddressId::parse(raw).ok_or(ApiError::NotFound("billing address"))
}

fn request_id(raw: &str) -> Result<ChangeRequestId, ApiError> {
    ChangeRequestId::parse(raw).ok_or(ApiError::NotFound("change request"))
}

fn ok_address(a: BillingAddress) -> HttpResponse {
    HttpResponse::Ok().json(BillingAddressDto::from(a))
}

/// Add a billing address (admin). It starts `pending_verification`; the
/// account's first address becomes its primary one.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-addresses", operation_id = "create_billing_address", tag = "billing-addresses",
    request_body = AddressRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The address, pending verification", body = BillingAddressDto),
        (status = 403, description = "Viewers cannot add addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<AddressRequest>,
) -> Result<HttpResponse, ApiError> {
    let fields = body.value.raw().parse()?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let address = addresses::create(tx, &ctx, &account, fields).await?;
        BillingAddressDto::from(address)
    })
}

/// List the account's billing addresses.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/billing-addresses", operation_id = "list_billing_addresses", tag = "billing-addresses",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of addresses", body = Paginated<BillingAddressDto>),
        (status = 403, description = "Integrations cannot read addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = addresses::list(&state.store, &account, &query.page()?).await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<BillingAddressDto>::new(page, |a| {
            a.id.to_string()
        })),
    )
}

/// A billing address.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}", operation_id = "get_billing_address", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The address", body = BillingAddressDto),
        (status = 403, description = "Integrations cannot read addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    Ok(ok_address(
        addresses::get(&state.store, &account, &id).await?,
    ))
}

/// Edit an address directly (staff). A customer gets 403 `requires_support`
/// and submits a change request instead.
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}", operation_id = "update_billing_address", tag = "billing-addresses",
    request_body = UpdateAddressRequest,
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The address after the edit (a new revision)", body = BillingAddressDto),
        (status = 403, description = "requires_support: customers ask for a change instead", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<UpdateAddressRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    let patch = body.value;
    let address = addresses::edit(&state.store, &ctx, &account, &id, |current| {
        let country = current.country.code();
        RawAddress {
            company_name: patch
                .company_name
                .as_deref()
                .unwrap_or(&current.company_name),
            line1: patch.line1.as_deref().unwrap_or(&current.line1),
            line2: patch.line2.as_deref().or(current.line2.as_deref()),
            postal_code: patch.postal_code.as_deref().unwrap_or(&current.postal_code),
            city: patch.city.as_deref().unwrap_or(&current.city),
            region: patch.region.as_deref().or(current.region.as_deref()),
            country: patch.country.as_deref().unwrap_or(country),
            vat_number: patch
                .vat_number
                .as_deref()
                .or(current.vat_number.as_deref()),
            siren: patch.siren.as_deref().or(current.siren.as_deref()),
            e_invoicing_address: patch
                .e_invoicing_address
                .as_deref()
                .or(current.e_invoicing_address.as_deref()),
        }
        .parse()
    })
    .await?;
    Ok(ok_address(address))
}

/// Delete a billing address: never the primary one; a customer only an
/// unverified one (a verified one: 403 `requires_support`).
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}", operation_id = "delete_billing_address", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete; a verified address needs customer service", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `address_is_primary`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    addresses::delete(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make a verified address the primary one (admin).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/make-primary", operation_id = "make_billing_address_primary", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The address, now primary", body = BillingAddressDto),
        (status = 403, description = "Viewers cannot change addresses", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `address_not_verified`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn make_primary(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    Ok(ok_address(
        addresses::make_primary(&state.store, &ctx, &account, &id).await?,
    ))
}

/// Verify an address (staff).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/verify", operation_id = "verify_billing_address", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The address, verified", body = BillingAddressDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    Ok(ok_address(
        addresses::decide(&state.store, &ctx, &account, &id, None).await?,
    ))
}

/// Reject an address (staff), with a reason.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/reject", operation_id = "reject_billing_address", tag = "billing-addresses",
    request_body = RejectRequest,
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The address, rejected", body = BillingAddressDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<RejectRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    let reason = body.value.reason()?;
    Ok(ok_address(
        addresses::decide(&state.store, &ctx, &account, &id, Some(reason)).await?,
    ))
}

/// The versions of an address's fields, newest first.
/// `?limit=&cursor=` on an address's history, whose cursor is a revision number.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionPageQuery {
    /// How many revisions to return: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,9}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/history", operation_id = "billing_address_history", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), RevisionPageQuery),
    responses(
        (status = 200, description = "A page of revisions, newest first", body = Paginated<AddressRevisionDto>),
        (status = 403, description = "Integrations cannot read addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn history(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
    query: web::Query<RevisionPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    let query = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let page = addresses::history(&state.store, &account, &id, &query.page()?).await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<AddressRevisionDto>::new(page, |r| {
            r.revision.to_string()
        })),
    )
}

/// Ask for a change of a stored address (admin); staff decide. One pending
/// request per address.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/change-requests", operation_id = "create_billing_address_change_request", tag = "billing-addresses",
    request_body = ChangeRequestBody,
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The pending change request", body = ChangeRequestDto),
        (status = 403, description = "Viewers cannot ask for changes", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `change_request_pending`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_change(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    key: IdempotencyKey,
    body: ValidJson<ChangeRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    let b = &body.value;
    let fields = RawAddress {
        company_name: &b.company_name,
        line1: &b.line1,
        line2: b.line2.as_deref(),
        postal_code: &b.postal_code,
        city: &b.city,
        region: b.region.as_deref(),
        country: &b.country,
        vat_number: b.vat_number.as_deref(),
        siren: b.siren.as_deref(),
        e_invoicing_address: b.e_invoicing_address.as_deref(),
    }
    .parse()?;
    let document = match &b.document_id {
        None => None,
        Some(raw) => Some(DocumentId::parse(raw).ok_or_else(|| {
            ApiError::validation("document_id", "is not a document of this account")
        })?),
    };
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let request = addresses::request_change(tx, &ctx, &account, &id, fields, document).await?;
        ChangeRequestDto::from(request)
    })
}

/// An address's change requests.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/billing-addresses/{address_id}/change-requests", operation_id = "list_address_change_requests", tag = "billing-addresses",
    params(("address_id" = String, Path, description = "Address id", example = "adr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), ChangeRequestFilter, PageQuery),
    responses(
        (status = 200, description = "A page of change requests", body = Paginated<ChangeRequestDto>),
        (status = 403, description = "Integrations cannot read addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_address_change_requests(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
    filter: web::Query<ChangeRequestFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = address_id(&path)?;
    let page = addresses::list_change_requests(
        &state.store,
        &account,
        Some(&id),
        filter.status,
        &query.page()?,
    )
    .await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<ChangeRequestDto>::new(page, |r| {
            r.id.to_string()
        })),
    )
}

/// All the account's change requests (staff's queue with `status=pending`).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/billing-address-change-requests", operation_id = "list_change_requests", tag = "billing-addresses",
    params(ChangeRequestFilter, PageQuery),
    responses(
        (status = 200, description = "A page of change requests", body = Paginated<ChangeRequestDto>),
        (status = 403, description = "Integrations cannot read addresses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_change_requests(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<ChangeRequestFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = addresses::list_change_requests(
        &state.store,
        &account,
        None,
        filter.status,
        &query.page()?,
    )
    .await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<ChangeRequestDto>::new(page, |r| {
            r.id.to_string()
        })),
    )
}

/// Approve a change request (staff): the change is applied as a new revision
/// and the address becomes verified.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-address-change-requests/{request_id}/approve", operation_id = "approve_change_request", tag = "billing-addresses",
    params(("request_id" = String, Path, description = "Change request id", example = "bcr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The approved request", body = ChangeRequestDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `change_request_decided`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_change(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(&path)?;
    let decided = addresses::decide_change_request(&state.store, &ctx, &account, &id, None).await?;
    Ok(HttpResponse::Ok().json(ChangeRequestDto::from(decided)))
}

/// Reject a change request (staff), with a reason.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/billing-address-change-requests/{request_id}/reject", operation_id = "reject_change_request", tag = "billing-addresses",
    request_body = RejectRequest,
    params(("request_id" = String, Path, description = "Change request id", example = "bcr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The rejected request", body = ChangeRequestDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `change_request_decided`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject_change(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<RejectRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(&path)?;
    let reason = body.value.reason()?;
    let decided =
        addresses::decide_change_request(&state.store, &ctx, &account, &id, Some(reason)).await?;
    Ok(HttpResponse::Ok().json(ChangeRequestDto::from(decided)))
}
