//! `/v1/accounts/{a}/payment-methods`: card and SEPA debit, masked.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::card::{CardBrand, CardError, CardNumber, Expiry};
use crate::domain::iban::{Iban, parse_bic};
use crate::domain::ids::PaymentMethodId;
use crate::domain::payment::{PaymentMethod, PaymentMethodKind};
use crate::error::{ApiError, FieldError, Problem};
use crate::service::{Ctx, payments};

/// A payment method as an invoice shows it, masked: the fields every
/// payment method shares. The issued invoice's `payment_method` is this;
/// the upcoming invoice's is a full [`PaymentMethodDto`], which has all of
/// these fields and more.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MaskedPaymentMethodDto {
    #[serde(rename = "type")]
    pub kind: PaymentMethodKind,
    /// `**** 4242` or `FR76 **** ... 0189`.
    #[schema(example = "**** 4242")]
    pub masked: String,
    /// Cards: the network. Null for a SEPA debit, and on an issued invoice
    /// (its snapshot keeps the masked form only).
    pub brand: Option<CardBrand>,
    /// Cards: the last four digits of the number.
    #[schema(example = "4242")]
    pub last4: Option<String>,
    /// Cards: the expiry month (1 to 12); null on an issued invoice.
    #[schema(example = 12)]
    pub exp_month: Option<u8>,
    /// Cards: the expiry year; null on an issued invoice.
    #[schema(example = 2028)]
    pub exp_year: Option<i32>,
    /// SEPA debits: the last four characters of the IBAN.
    #[schema(example = json!(null))]
    pub iban_last4: Option<String>,
}

impl MaskedPaymentMethodDto {
    /// The masked form an issued invoice kept (`**** 4242`, `FR76 **** ... 0189`)
    /// read back into fields; what it does not hold (brand, expiry) is null.
    pub fn from_masked(masked: String) -> Self {
        let card = masked.starts_with("****");
        let tail: String = masked
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        MaskedPaymentMethodDto {
            kind: if card {
                PaymentMethodKind::Card
            } else {
                PaymentMethodKind::SepaDebit
            },
            brand: None,
            last4: card.then(|| tail.clone()),
            exp_month: None,
            exp_year: None,
            iban_last4: (!card).then_some(tail),
            masked,
        }
    }
}

/// A payment method as shown: never the full number or IBAN.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodDto {
    pub id: String,
    #[serde(flatten)]
    pub shown: MaskedPaymentMethodDto,
    /// The one used for debits.
    pub default: bool,
    #[schema(example = "Claire Martin")]
    pub holder_name: String,
    pub bic: Option<String>,
    pub mandate_reference: Option<String>,
    pub mandate_signed_on: Option<Date>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<PaymentMethod> for PaymentMethodDto {
    fn from(m: PaymentMethod) -> Self {
        let card = m.kind == PaymentMethodKind::Card;
        PaymentMethodDto {
            id: m.id.to_string(),
            shown: MaskedPaymentMethodDto {
                kind: m.kind,
                masked: m.masked(),
                brand: m.brand,
                last4: card.then(|| m.last4.clone()),
                exp_month: m.expiry.map(|e| e.month),
                exp_year: m.expiry.map(|e| e.year),
                iban_last4: (!card).then_some(m.last4.clone()),
            },
            default: m.default,
            holder_name: m.holder_name,
            bic: m.bic,
            mandate_reference: m.mandate_reference,
            mandate_signed_on: m.mandate_signed_on,
            created_at: m.created_at,
        }
    }
}

/// A card. The number and CVC are checked, then dropped: only the brand, the
/// last four digits, the expiry, the holder and a keyed fingerprint are kept.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    /// Digits, spaces allowed.
    #[validate(length(min = 12, max = 23, message = "must be a card number"))]
    #[schema(
        min_length = 12,
        max_length = 23,
        pattern = "^[0-9 ]+$",
        example = "4242 4242 4242 4242"
    )]
    pub number: String,
    #[validate(range(min = 1, max = 12, message = "must be between 1 and 12"))]
    #[schema(minimum = 1, maximum = 12, example = 12)]
    pub exp_month: u32,
    #[validate(range(min = 0, max = 2100, message = "must be a year such as 2028"))]
    #[schema(minimum = 0, maximum = 2100, example = 2030)]
    pub exp_year: u32,
    #[validate(length(min = 3, max = 4, message = "must be 3 or 4 digits"))]
    #[schema(
        min_length = 3,
        max_length = 4,
        pattern = "^[0-9]{3,4}$",
        example = "123"
    )]
    pub cvc: String,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "CLAIRE MARTIN"
    )]
    pub holder_name: String,
}

/// A SEPA direct debit mandate (customer service only).
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SepaRequest {
    /// Spaces and lower case accepted.
    #[validate(length(min = 15, max = 42, message = "must be an IBAN"))]
    #[schema(
        min_length = 15,
        max_length = 42,
        example = "FR76 3000 6000 0112 3456 7890 189"
    )]
    pub iban: String,
    #[validate(length(min = 8, max = 11, message = "must be a BIC"))]
    #[schema(min_length = 8, max_length = 11, example = "BNPAFRPP")]
    pub bic: Option<String>,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Démo Télécom SAS"
    )]
    pub account_holder: String,
    #[validate(length(min = 1, max = 35, message = "must be 1 to 35 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 35,
        example = "RUM-2026-0001"
    )]
    pub mandate_reference: String,
    #[schema(example = "2026-04-02")]
    pub mandate_signed_on: Date,
}

fn method_id(raw: &str) -> Result<PaymentMethodId, ApiError> {
    PaymentMethodId::parse(raw).ok_or(ApiError::NotFound("payment method"))
}

fn card_field(e: CardError) -> &'static str {
    match e {
        CardError::NotDigits | CardError::Luhn | CardError::UnknownBrand => "number",
        CardError::Month => "exp_month",
        CardError::Year | CardError::Expired => "exp_year",
        CardError::Cvc => "cvc",
    }
}

fn parse_card(r: CardRequest, ctx: &Ctx) -> Result<payments::NewCard, ApiError> {
    let mut errors = Vec::new();
    let mut fail = |e: CardError| errors.push(FieldError::new(card_field(e), e.to_string()));
    let number = CardNumber::parse(&r.number).map_err(&mut fail).ok();
    let expiry = Expiry::parse(r.exp_month, r.exp_year, ctx.now.date())
        .map_err(&mut fail)
        .ok();
    if let Some(n) = &number {
        let _ = n.check_cvc(&r.cvc).map_err(&mut fail);
    }
    let holder = clean_name(&r.holder_name, 100);
    if holder.is_none() {
        errors.push(FieldError::new(
            "holder_name",
            "must be 1 to 100 characters",
        ));
    }
    match (number, expiry, holder) {
        (Some(number), Some(expiry), Some(holder_name)) if errors.is_empty() => {
            Ok(payments::NewCard {
                number,
                expiry,
                holder_name,
            })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// List payment methods, masked.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/payment-methods", operation_id = "list_payment_methods", tag = "payment-methods",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of payment methods", body = Paginated<PaymentMethodDto>),
        (status = 403, description = "Integrations cannot read payment methods", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = payments::list(&state.store, &account, &query.page()?).await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<PaymentMethodDto>::new(page, |m| {
            m.id.to_string()
        })),
    )
}

/// Set the card (admin): it becomes the default. The same card again
/// (recognised by its fingerprint) is updated in place (200).
///
/// No `Idempotency-Key` here: a key's record would hold a digest of the card
/// number, and the fingerprint already makes a retry harmless.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/payment-methods/card", operation_id = "add_card", tag = "payment-methods",
    request_body = CardRequest,
    responses(
        (status = 201, description = "The new card, now the default", body = PaymentMethodDto),
        (status = 200, description = "The same card, updated", body = PaymentMethodDto),
        (status = 403, description = "Viewers cannot change payment methods", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "COMPTOIR_DATA_KEY is not set", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_card(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    body: ValidJson<CardRequest>,
) -> Result<HttpResponse, ApiError> {
    let card = parse_card(body.value, &ctx)?;
    let key = payments::require_key(state.data_key.as_ref())?;
    let mut tx = state.store.begin_write().await?;
    let (method, created) = payments::add_card(&mut tx, &ctx, key, &account, card).await?;
    tx.commit().await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(PaymentMethodDto::from(method)))
}

/// Set up a SEPA debit (customer service only: a customer gets 403
/// `requires_support`). The IBAN is stored encrypted and shown masked.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/payment-methods/sepa", operation_id = "add_sepa_debit", tag = "payment-methods",
    request_body = SepaRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The SEPA debit", body = PaymentMethodDto),
        (status = 403, description = "requires_support: only customer service sets an IBAN", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "COMPTOIR_DATA_KEY is not set", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_sepa(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<SepaRequest>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.caller.role.is_staff() {
        return Err(ApiError::RequiresSupport("set an IBAN"));
    }
    let r = &body.value;
    let mut v = crate::error::FieldErrors::default();
    let iban = v.check(
        "iban",
        Iban::parse(&r.iban).ok(),
        "is not a valid IBAN (country, length or check digits)",
    );
    let bic = v.check_opt(
        "bic",
        r.bic.clone(),
        |b| parse_bic(&b).ok(),
        "is not a valid BIC (8 or 11 characters)",
    );
    let holder = v.check(
        "account_holder",
        clean_name(&r.account_holder, 100),
        "must be 1 to 100 characters",
    );
    let mandate = v.check(
        "mandate_reference",
        clean_name(&r.mandate_reference, 35),
        "must be 1 to 35 characters",
    );
    let signed_on = v.check(
        "mandate_signed_on",
        Some(r.mandate_signed_on).filter(|d| *d <= ctx.now.date()),
        "must not be in the future",
    );
    v.finish()?;
    let (Some(iban), Some(account_holder), Some(mandate_reference), Some(mandate_signed_on)) =
        (iban, holder, mandate, signed_on)
    else {
        return Err(ApiError::internal("SEPA fields checked twice"));
    };
    let sepa = payments::NewSepa {
        iban,
        bic,
        account_holder,
        mandate_reference,
        mandate_signed_on,
    };
    let data_key = payments::require_key(state.data_key.as_ref())?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let method = payments::add_sepa(tx, &ctx, data_key, &account, sepa).await?;
        PaymentMethodDto::from(method)
    })
}

/// Make a payment method the default one (admin).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/payment-methods/{method_id}/make-default", operation_id = "make_payment_method_default", tag = "payment-methods",
    params(("method_id" = String, Path, description = "Payment method id", example = "pm_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The method, now the default", body = PaymentMethodDto),
        (status = 403, description = "Viewers cannot change payment methods", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused: code `payment_method_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn make_default(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = method_id(&path)?;
    let method = payments::make_default(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::Ok().json(PaymentMethodDto::from(method)))
}

/// Remove a payment method (admin); the default one only when it is the last.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/payment-methods/{method_id}", operation_id = "delete_payment_method", tag = "payment-methods",
    params(("method_id" = String, Path, description = "Payment method id", example = "pm_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Viewers cannot change payment methods", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `default_payment_method`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = method_id(&path)?;
    payments::delete(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
