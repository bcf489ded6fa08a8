//! `/v1/plans`: the catalog of license plans and the additional phone number.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::ValidJson;
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::money::{Currency, Money};
use crate::domain::plan::{Plan, PlanKind, valid_code};
use crate::error::{ApiError, Problem};
use crate::service::{Ctx, plans};

/// A price change already decided, applying from `effective_from`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceChangeDto {
    #[schema(example = "70.00")]
    pub monthly_price: String,
    pub effective_from: Date,
}

/// A plan's price in one currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrencyPriceDto {
    pub currency: Currency,
    /// The monthly unit price in force today, in `currency`.
    #[schema(example = "64.00")]
    pub monthly_price: String,
    /// The next price in `currency`, when a change has been decided.
    pub next_price: Option<PriceChangeDto>,
}

/// A catalog entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanDto {
    #[schema(example = "ADVANCED")]
    pub code: String,
    #[schema(example = "Advanced")]
    pub name: String,
    pub kind: PlanKind,
    /// The monthly unit price in force today, in EUR (every plan has one).
    #[schema(example = "64.00")]
    pub monthly_price: String,
    /// The currency of `monthly_price` and `next_price`: always EUR.
    pub currency: Currency,
    /// The next EUR price, when a change has been decided.
    pub next_price: Option<PriceChangeDto>,
    /// Its price in each currency it is sold in today, EUR first: an
    /// account buys only plans priced in its own currency.
    pub prices: Vec<CurrencyPriceDto>,
}

fn price_change(next: Option<(Date, Money)>) -> Option<PriceChangeDto> {
    next.map(|(from, price)| PriceChangeDto {
        monthly_price: price.amount(),
        effective_from: from,
    })
}

impl From<Plan> for PlanDto {
    fn from(p: Plan) -> Self {
        PlanDto {
            code: p.code,
            name: p.name,
            kind: p.kind,
            monthly_price: p.monthly_price.amount(),
            currency: p.monthly_price.currency(),
            next_price: price_change(p.next_price),
            prices: p
                .prices
                .iter()
                .map(|c| CurrencyPriceDto {
                    currency: c.monthly_price.currency(),
                    monthly_price: c.monthly_price.amount(),
                    next_price: price_change(c.next_price),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<PlanDto>,
    /// Always null: the catalog fits in one page.
    pub next_cursor: Option<String>,
}

/// Changes a plan: the name at once, the price in a currency (EUR unless
/// `currency` says otherwise) from the next billing period, or at once
/// when it is the plan's first price in that currency.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlanRequest {
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Advanced"
    )]
    pub name: String,
    /// Decimal string with the currency's digits: 0.00 to 10000.00.
    #[validate(length(
        min = 1,
        max = 20,
        message = "must be a decimal amount such as \"70.00\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*([0-9]{1,4}(\.[0-9]{1,2})?|10000(\.0{1,2})?)$",
        example = "70.00"
    )]
    pub monthly_price: String,
    /// The currency of `monthly_price`; EUR when absent.
    #[schema(example = "EUR")]
    pub currency: Option<Currency>,
}

/// The catalog (any token).
#[utoipa::path(get, path = "/v1/plans", operation_id = "list_plans", tag = "plans",
    responses((status = 200, description = "Every plan with its current price", body = PlanList)))]
pub async fn list(state: web::Data<AppState>, ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let plans = plans::list(&state.store, &ctx).await?;
    Ok(HttpResponse::Ok().json(PlanList {
        data: plans.into_iter().map(PlanDto::from).collect(),
        next_cursor: None,
    }))
}

/// Change a plan's name and its price in a currency (staff).
///
/// The new price applies to billing periods starting after the change: from
/// the first day of next month (UTC). Until then it shows as `next_price`
/// (in `prices`, and at the top level for EUR). A plan's first price in a
/// currency applies at once, from the first day of the current month (UTC):
/// accounts in that currency may buy the plan from then on.
#[utoipa::path(put, path = "/v1/plans/{code}", operation_id = "update_plan", tag = "plans",
    params(("code" = String, Path, description = "Plan code", example = "ADVANCED")),
    request_body = UpdatePlanRequest,
    responses(
        (status = 200, description = "The plan after the change", body = PlanDto),
        (status = 403, description = "Only staff change prices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plan", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
    body: ValidJson<UpdatePlanRequest>,
) -> Result<HttpResponse, ApiError> {
    if !valid_code(&path) {
        return Err(ApiError::NotFound("plan"));
    }
    let request = body.value;
    let name = clean_name(&request.name, 100).ok_or_else(|| {
        ApiError::validation("name", "must be 1 to 100 characters, not only spaces")
    })?;
    let change = plans::PlanChange {
        name,
        monthly_price: request.monthly_price,
        currency: request.currency.unwrap_or(Currency::Eur),
    };
    let plan = plans::update(&state.store, &ctx, &path, change).await?;
    Ok(HttpResponse::Ok().json(PlanDto::from(plan)))
}
