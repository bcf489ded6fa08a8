//! `/v1/accounts/{a}/license-quotes`, `/licenses` and `/phone-numbers`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::address::Country;
use crate::domain::ids::{LicenseId, PhoneNumberId, QuoteId, UserId};
use crate::domain::license::{License, LicenseStatus, PhoneNumberLine};
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, Problem};
use crate::service::licenses::{self, Pricing, RemovalPreview};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LicenseDto {
    pub id: String,
    #[schema(example = "ADVANCED")]
    pub plan: String,
    pub status: LicenseStatus,
    pub activation_date: Date,
    pub removal_date: Option<Date>,
    /// The user it is assigned to.
    pub user_id: Option<String>,
}

impl From<License> for LicenseDto {
    fn from(l: License) -> Self {
        LicenseDto {
            id: l.id.to_string(),
            status: l.status(),
            plan: l.plan,
            activation_date: l.activation_date,
            removal_date: l.removal_date,
            user_id: l.user_id.map(|u| u.to_string()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrepaidPeriodDto {
    pub start: Date,
    pub end: Date,
    /// Days charged, the activation day included.
    pub days: u8,
    pub days_in_month: u8,
}

/// The quote (SPEC.md section 3).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteDto {
    #[schema(example = "quo_0193c0ffee")]
    pub quote_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[schema(example = "ADVANCED")]
    pub plan: String,
    pub quantity: u32,
    pub currency: Currency,
    #[schema(example = "64.00")]
    pub unit_price: String,
    /// quantity x unit_price.
    #[schema(example = "128.00")]
    pub additional_monthly_total: String,
    #[schema(example = "463.00")]
    pub current_monthly_total: String,
    #[schema(example = "591.00")]
    pub new_monthly_total: String,
    /// The next invoice date.
    pub first_payment_date: Date,
    pub prepaid_period: PrepaidPeriodDto,
    #[schema(example = "46.93")]
    pub prorated_unit_amount: String,
    #[schema(example = "93.86")]
    pub prorated_total: String,
}

fn quote_fields(p: &Pricing, quote_id: String, expires_at: OffsetDateTime) -> QuoteDto {
    QuoteDto {
        quote_id,
        expires_at,
        plan: p.plan.code.clone(),
        quantity: p.quantity,
        currency: p.unit_price.currency(),
        unit_price: p.unit_price.amount(),
        additional_monthly_total: p.additional_monthly_total.amount(),
        current_monthly_total: p.current_monthly_total.amount(),
        new_monthly_total: p.new_monthly_total.amount(),
        first_payment_date: p.first_payment_date,
        prepaid_period: PrepaidPeriodDto {
            start: p.period.start,
            end: p.period.end,
            days: p.period.days,
            days_in_month: p.period.days_in_month,
        },
        prorated_unit_amount: p.prorated_unit.amount(),
        prorated_total: p.prorated_total.amount(),
    }
}

/// The licenses added and what their first month costs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddedDto {
    pub licenses: Vec<LicenseDto>,
    #[schema(example = "ADVANCED")]
    pub plan: String,
    pub quantity: u32,
    pub activation_date: Date,
    pub currency: Currency,
    #[schema(example = "64.00")]
    pub unit_price: String,
    pub prepaid_period: PrepaidPeriodDto,
    #[schema(example = "46.93")]
    pub prorated_unit_amount: String,
    /// The proration charged (on the next invoice).
    #[schema(example = "93.86")]
    pub prorated_total: String,
    pub first_payment_date: Date,
    #[schema(example = "591.00")]
    pub new_monthly_total: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanSummaryDto {
    #[schema(example = "ADVANCED")]
    pub plan: String,
    pub count: i64,
    pub assigned: i64,
    pub available: i64,
    #[schema(example = "64.00")]
    pub unit_price: String,
    #[schema(example = "448.00")]
    pub monthly_total: String,
    pub currency: Currency,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LicenseListDto {
    pub data: Vec<LicenseDto>,
    pub next_cursor: Option<String>,
    /// Active licenses by plan, over the whole account.
    pub summary: Vec<PlanSummaryDto>,
}

/// What the next invoice loses when this license goes, and from when.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemovalDto {
    pub license: LicenseDto,
    /// The license is billed through this day.
    pub removal_date: Date,
    pub next_invoice_date: Date,
    pub currency: Currency,
    /// The next period's recurring line for this license, no longer billed.
    #[schema(example = "64.00")]
    pub recurring_reduction: String,
    /// For a license activated this month: its prorated days after the removal day.
    #[schema(example = "0.00")]
    pub proration_reduction: String,
    #[schema(example = "64.00")]
    pub next_invoice_reduction: String,
}

fn removal_dto(p: RemovalPreview) -> RemovalDto {
    RemovalDto {
        currency: p.total_reduction.currency(),
        license: p.license.into(),
        removal_date: p.removal_date,
        next_invoice_date: p.next_invoice_date,
        recurring_reduction: p.recurring_reduction.amount(),
        proration_reduction: p.proration_reduction.amount(),
        next_invoice_reduction: p.total_reduction.amount(),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhoneNumberDto {
    pub id: String,
    /// ISO 3166-1 alpha-2.
    #[schema(value_type = Country, example = "FR")]
    pub country: String,
    /// E.164.
    #[schema(example = "+33184800123")]
    pub number: String,
    pub activation_date: Date,
    pub removal_date: Option<Date>,
    /// Its first month, prorated (on the next invoice).
    #[schema(example = "3.67")]
    pub prorated_amount: String,
    pub currency: Currency,
}

pub fn number_dto(n: PhoneNumberLine, currency: Currency) -> PhoneNumberDto {
    PhoneNumberDto {
        id: n.id.to_string(),
        country: n.country,
        number: n.number,
        activation_date: n.activation_date,
        removal_date: n.removal_date,
        prorated_amount: Money::from_minor(n.prorated_amount_minor, currency).amount(),
        currency,
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[validate(length(min = 1, max = 32, message = "must be a plan code"))]
    #[schema(min_length = 1, max_length = 32, example = "ADVANCED")]
    pub plan: String,
    #[validate(range(min = 1, max = 500, message = "must be between 1 and 500"))]
    #[schema(minimum = 1, maximum = 500, example = 2)]
    pub quantity: u32,
    /// Staff only: today or earlier in the current month. Default: today.
    #[schema(example = "2026-05-04")]
    pub activation_date: Option<Date>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLicensesRequest {
    #[validate(length(min = 1, max = 32, message = "must be a plan code"))]
    #[schema(min_length = 1, max_length = 32, example = "ADVANCED")]
    pub plan: String,
    #[validate(range(min = 1, max = 500, message = "must be between 1 and 500"))]
    #[schema(minimum = 1, maximum = 500, example = 2)]
    pub quantity: u32,
    /// A quote of this account: exactly its amounts are charged.
    #[validate(length(min = 1, max = 100, message = "must be a quote id"))]
    #[schema(min_length = 1, max_length = 100, example = "quo_0193c0ffee")]
    pub quote_id: Option<String>,
    /// Staff only: today or earlier in the current month.
    #[schema(example = "2026-05-04")]
    pub activation_date: Option<Date>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssigneeRequest {
    #[validate(length(min = 1, max = 100, message = "must be a user id"))]
    #[schema(min_length = 1, max_length = 100, example = "usr_0193c0ffee")]
    pub user_id: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberRequest {
    /// ISO 3166-1 alpha-2; needs a verified billing address there.
    #[validate(length(equal = 2, message = "must be an ISO 3166-1 alpha-2 code"))]
    #[schema(value_type = Country, example = "FR")]
    pub country: String,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    All,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LicenseFilter {
    /// `active` (default) or `all` (removed ones too).
    #[param(inline)]
    pub status: Option<StatusFilter>,
}

fn license_id(raw: &str) -> Result<LicenseId, ApiError> {
    LicenseId::parse(raw).ok_or(ApiError::NotFound("license"))
}

fn number_id(raw: &str) -> Result<PhoneNumberId, ApiError> {
    PhoneNumberId::parse(raw).ok_or(ApiError::NotFound("phone number"))
}

/// Quote licenses (admin): prices, proration from the activation day to the
/// end of its month, and a quote id valid 15 minutes.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/license-quotes", operation_id = "quote_licenses", tag = "licenses",
    request_body = QuoteRequest,
    responses(
        (status = 201, description = "The quote", body = QuoteDto),
        (status = 403, description = "Viewers cannot quote; only staff choose an activation date", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn quote(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    body: ValidJson<QuoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = body.value;
    let outcome = licenses::quote(
        &state.store,
        &ctx,
        &account,
        &r.plan,
        r.quantity,
        r.activation_date,
    )
    .await?;
    Ok(HttpResponse::Created().json(quote_fields(
        &outcome.pricing,
        outcome.quote.id.to_string(),
        outcome.quote.expires_at,
    )))
}

/// Add licenses (admin): 1 to 500 of a plan, with or without a quote.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/licenses", operation_id = "add_licenses", tag = "licenses",
    request_body = AddLicensesRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The licenses and the proration charged", body = AddedDto),
        (status = 403, description = "Viewers cannot add licenses; only staff choose an activation date", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "quote_expired or quote_used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, quote_mismatch or payment_method_required", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<AddLicensesRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = &body.value;
    let quote_id =
        match r.quote_id.as_deref() {
            None => None,
            Some(raw) => Some(QuoteId::parse(raw).ok_or_else(|| {
                ApiError::validation("quote_id", "is not a quote of this account")
            })?),
        };
    let req = licenses::AddRequest {
        plan: r.plan.clone(),
        quantity: r.quantity,
        quote_id,
        activation_date: r.activation_date,
    };
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let added = licenses::add(tx, &ctx, &account, req).await?;
        let p = &added.pricing;
        AddedDto {
            plan: p.plan.code.clone(),
            quantity: p.quantity,
            activation_date: p.activation_date,
            currency: p.unit_price.currency(),
            unit_price: p.unit_price.amount(),
            prepaid_period: PrepaidPeriodDto {
                start: p.period.start,
                end: p.period.end,
                days: p.period.days,
                days_in_month: p.period.days_in_month,
            },
            prorated_unit_amount: p.prorated_unit.amount(),
            prorated_total: p.prorated_total.amount(),
            first_payment_date: p.first_payment_date,
            new_monthly_total: p.new_monthly_total.amount(),
            licenses: added.licenses.into_iter().map(LicenseDto::from).collect(),
        }
    })
}

/// The licenses and a summary by plan.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/licenses", operation_id = "list_licenses", tag = "licenses",
    params(LicenseFilter, PageQuery),
    responses(
        (status = 200, description = "A page of licenses and the summary", body = LicenseListDto),
        (status = 403, description = "Integrations cannot read licenses", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    filter: web::Query<LicenseFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let all = matches!(filter.status, Some(StatusFilter::All));
    let (page, summary) = licenses::list(&state.store, &ctx, &account, all, &query.page()?).await?;
    let Paginated { data, next_cursor } = Paginated::<LicenseDto>::new(page, |l| l.id.to_string());
    Ok(HttpResponse::Ok().json(LicenseListDto {
        data,
        next_cursor,
        summary: summary
            .into_iter()
            .map(|s| PlanSummaryDto {
                currency: s.unit_price.currency(),
                available: s.count - s.assigned,
                plan: s.plan,
                count: s.count,
                assigned: s.assigned,
                unit_price: s.unit_price.amount(),
                monthly_total: s.monthly_total.amount(),
            })
            .collect(),
    }))
}

/// Remove one license (admin), after the frontend's confirmation. An assigned
/// license is 409 `license_assigned`, naming the user.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/licenses/{license_id}", operation_id = "remove_license", tag = "licenses",
    params(("license_id" = String, Path, description = "License id", example = "lic_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "Removed: what the next invoice loses", body = RemovalDto),
        (status = 403, description = "Viewers cannot remove licenses", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "license_assigned or license_removed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = license_id(&path)?;
    Ok(HttpResponse::Ok().json(removal_dto(
        licenses::remove(&state.store, &ctx, &account, &id).await?,
    )))
}

/// What the next invoice would lose if this license were removed today.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/licenses/{license_id}/removal-preview", operation_id = "license_removal_preview", tag = "licenses",
    params(("license_id" = String, Path, description = "License id", example = "lic_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The preview", body = RemovalDto),
        (status = 403, description = "Integrations cannot read licenses", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `license_removed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn removal_preview(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = license_id(&path)?;
    Ok(HttpResponse::Ok().json(removal_dto(
        licenses::removal_preview(&state.store, &ctx, &account, &id).await?,
    )))
}

/// Assign a license to a user of the account (admin).
#[utoipa::path(put, path = "/v1/accounts/{account_id}/licenses/{license_id}/assignee", operation_id = "assign_license", tag = "licenses",
    request_body = AssigneeRequest,
    params(("license_id" = String, Path, description = "License id", example = "lic_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The license", body = LicenseDto),
        (status = 403, description = "Viewers cannot assign", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "license_taken, user_has_license or license_removed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn assign(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<AssigneeRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = license_id(&path)?;
    let user = UserId::parse(&body.value.user_id)
        .ok_or_else(|| ApiError::validation("user_id", "is not a user of this account"))?;
    Ok(HttpResponse::Ok().json(LicenseDto::from(
        licenses::assign(&state.store, &ctx, &account, &id, Some(user)).await?,
    )))
}

/// Unassign a license (admin): it stays, available.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/licenses/{license_id}/assignee", operation_id = "unassign_license", tag = "licenses",
    params(("license_id" = String, Path, description = "License id", example = "lic_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The license", body = LicenseDto),
        (status = 403, description = "Viewers cannot unassign", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `license_removed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unassign(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = license_id(&path)?;
    Ok(HttpResponse::Ok().json(LicenseDto::from(
        licenses::assign(&state.store, &ctx, &account, &id, None).await?,
    )))
}

/// Add an additional phone number in a country (admin): 5.00 a month,
/// prorated like a license; needs a verified billing address in that country.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/phone-numbers", operation_id = "add_phone_number", tag = "licenses",
    request_body = PhoneNumberRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The number", body = PhoneNumberDto),
        (status = 403, description = "Viewers cannot add numbers", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid country, verified_address_required or payment_method_required", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_number(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<PhoneNumberRequest>,
) -> Result<HttpResponse, ApiError> {
    let country = Country::parse(&body.value.country).ok_or_else(|| {
        ApiError::validation(
            "country",
            "must be an ISO 3166-1 alpha-2 country code such as FR",
        )
    })?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        // The prorated amount is computed in the price's currency.
        let (line, price) = licenses::add_number(tx, &ctx, &account, country).await?;
        number_dto(line, price.currency())
    })
}

/// The account's additional numbers.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/phone-numbers", operation_id = "list_phone_numbers", tag = "licenses",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of numbers", body = Paginated<PhoneNumberDto>),
        (status = 403, description = "Integrations cannot read numbers", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_numbers(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (currency, page) = licenses::list_numbers(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |n| n.id.to_string(),
        |n| number_dto(n, currency),
    )))
}

/// An additional number.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/phone-numbers/{number_id}", operation_id = "get_phone_number", tag = "licenses",
    params(("number_id" = String, Path, description = "Phone number id", example = "num_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The number", body = PhoneNumberDto),
        (status = 403, description = "Integrations cannot read numbers", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_number(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = number_id(&path)?;
    let (currency, line) = licenses::get_number(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(number_dto(line, currency)))
}

/// Remove an additional number (admin).
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/phone-numbers/{number_id}", operation_id = "remove_phone_number", tag = "licenses",
    params(("number_id" = String, Path, description = "Phone number id", example = "num_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Viewers cannot remove numbers", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `phone_number_removed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_number(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = number_id(&path)?;
    licenses::remove_number(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
