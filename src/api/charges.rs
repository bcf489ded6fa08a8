//! `/v1/accounts/{a}/charges`: one-off charges (porting fees, set-up) that
//! staff add and the next invoice bills.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::charge::Charge;
use crate::domain::ids::ChargeId;
use crate::domain::money::Currency;
use crate::error::{ApiError, Problem};
use crate::service::charges;

/// A one-off charge. `invoice_id` is null until an invoice bills it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeDto {
    #[schema(example = "chg_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "Portage de 3 numéros")]
    pub description: String,
    #[schema(example = "15.00")]
    pub unit_amount: String,
    #[schema(example = 3)]
    pub quantity: u32,
    /// `unit_amount` x `quantity`.
    #[schema(example = "45.00")]
    pub amount: String,
    pub currency: Currency,
    /// The invoice that billed it; null while unbilled (it can then be deleted).
    #[schema(example = json!(null))]
    pub invoice_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Charge> for ChargeDto {
    fn from(c: Charge) -> Self {
        ChargeDto {
            id: c.id.to_string(),
            description: c.description,
            unit_amount: c.terms.unit_amount().amount(),
            quantity: c.terms.quantity(),
            amount: c.terms.amount().amount(),
            currency: c.terms.amount().currency(),
            invoice_id: c.invoice_id.map(|i| i.to_string()),
            created_at: c.created_at,
        }
    }
}

/// A one-off charge to bill on the account's next invoice. Every field is
/// checked, and every bad one named, in one answer.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Portage de 3 numéros", "unit_amount": "15.00", "quantity": 3}))]
pub struct CreateChargeRequest {
    /// What the invoice line says: 1 to 200 characters.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Portage de 3 numéros"
    )]
    pub description: String,
    /// Decimal string in the account's currency, with at most its digits:
    /// more than 0, at most 10000.00.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*([1-9][0-9]{0,3}(\.[0-9]{1,2}0*)?|0\.(0[1-9]|[1-9][0-9]?)0*|10000(\.0+)?)$",
        example = "15.00"
    )]
    pub unit_amount: String,
    /// A whole number of units, 1 to 10000.
    #[schema(minimum = 1, maximum = 10000, example = 3)]
    pub quantity: u32,
}

impl From<CreateChargeRequest> for charges::ChargeInput {
    fn from(r: CreateChargeRequest) -> Self {
        charges::ChargeInput {
            description: r.description,
            unit_amount: r.unit_amount,
            quantity: r.quantity,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChargeFilter {
    /// `true`: only the billed charges; `false`: only the unbilled ones
    /// (what the next invoice bills). Absent: all.
    pub billed: Option<bool>,
}

fn charge_id(raw: &str) -> Result<ChargeId, ApiError> {
    ChargeId::parse(raw).ok_or(ApiError::NotFound("charge"))
}

/// Add a one-off charge (staff): billed on the account's next invoice.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/charges", operation_id = "create_charge", tag = "charges",
    request_body = CreateChargeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The charge, unbilled", body = ChargeDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each one in errors[]), or idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<CreateChargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = charges::ChargeInput::from(body.value);
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let charge = charges::create(tx, &ctx, &account, input).await?;
        ChargeDto::from(charge)
    })
}

/// List the account's one-off charges, oldest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/charges", operation_id = "list_charges", tag = "charges",
    params(ChargeFilter, PageQuery),
    responses(
        (status = 200, description = "A page of charges", body = Paginated<ChargeDto>),
        (status = 403, description = "Integrations cannot read charges", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<ChargeFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = charges::list(&state.store, &account, filter.billed, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<ChargeDto>::new(page, |c| c.id.to_string())))
}

/// A one-off charge.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/charges/{charge_id}", operation_id = "get_charge", tag = "charges",
    params(("charge_id" = String, Path, description = "Charge id", example = "chg_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The charge", body = ChargeDto),
        (status = 403, description = "Integrations cannot read charges", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charge on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = charge_id(&path)?;
    let charge = charges::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(ChargeDto::from(charge)))
}

/// Delete a one-off charge (staff) while no invoice has billed it.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/charges/{charge_id}", operation_id = "delete_charge", tag = "charges",
    params(("charge_id" = String, Path, description = "Charge id", example = "chg_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such charge on this account (or already deleted)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "charge_billed: an invoice has billed it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = charge_id(&path)?;
    charges::delete(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
