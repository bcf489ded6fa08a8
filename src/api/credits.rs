//! `/v1/accounts/{a}/credits` (balance, ledger, top-ups, auto-recharge,
//! adjustments) and the payment webhook `/v1/webhooks/payments`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::ids::TopUpId;
use crate::domain::money::{Amount, Currency, Money};
use crate::domain::payment::{CreditState, LedgerKind, TopUp, TopUpOrigin, TopUpStatus};
use crate::domain::role::{Caller, Role};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::Ctx;
use crate::service::credits::{self, PaymentEvent, Settlement};
use crate::service::{invoice_payments, test_clocks};
use crate::store::credits::LedgerEntry;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AutoRechargeDto {
    pub enabled: bool,
    /// When a debit takes the balance under this, one top-up of `amount` is created.
    #[schema(example = "10.00")]
    pub threshold: String,
    #[schema(example = "50.00")]
    pub amount: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditsDto {
    #[schema(example = "42.50")]
    pub balance: String,
    pub currency: Currency,
    pub auto_recharge: AutoRechargeDto,
}

pub fn credits_dto(state: CreditState, currency: Currency) -> CreditsDto {
    let m = |minor| Money::from_minor(minor, currency).amount();
    CreditsDto {
        balance: m(state.balance_minor),
        currency,
        auto_recharge: AutoRechargeDto {
            enabled: state.auto_recharge_enabled,
            threshold: m(state.threshold_minor),
            amount: m(state.recharge_amount_minor),
        },
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopUpDto {
    pub id: String,
    /// The credits bought, excluding VAT.
    #[schema(example = "50.00")]
    pub amount: String,
    /// The VAT charged on top of `amount`, by the account's VAT treatment
    /// when the top-up was made (`0.00` for top-ups made before VAT was
    /// charged on them).
    #[schema(example = "10.00")]
    pub tax_amount: String,
    /// In percent; null for top-ups made before VAT was charged on them.
    #[schema(example = "20")]
    pub tax_rate: Option<String>,
    /// What the payment method is charged: `amount` plus `tax_amount`.
    #[schema(example = "60.00")]
    pub total: String,
    /// The advance payment invoice (facture d'acompte) issued when its
    /// payment succeeded.
    #[schema(example = json!(null))]
    pub invoice_id: Option<String>,
    pub currency: Currency,
    pub status: TopUpStatus,
    pub origin: TopUpOrigin,
    pub payment_method_id: String,
    pub failure_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub settled_at: Option<OffsetDateTime>,
}

pub fn top_up_dto(t: TopUp, currency: Currency) -> TopUpDto {
    TopUpDto {
        id: t.id.to_string(),
        amount: Money::from_minor(t.amount_minor, currency).amount(),
        tax_amount: Money::from_minor(t.tax_minor, currency).amount(),
        tax_rate: t.tax.as_ref().map(|x| x.rate.normalize().to_string()),
        total: Money::from_minor(t.amount_minor.saturating_add(t.tax_minor), currency).amount(),
        invoice_id: t.invoice_id,
        currency,
        status: t.status,
        origin: t.origin,
        payment_method_id: t.payment_method_id.to_string(),
        failure_reason: t.failure_reason,
        created_at: t.created_at,
        settled_at: t.settled_at,
    }
}

/// A line of the ledger: `amount` is signed, `balance_after` the balance it left.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryDto {
    pub id: String,
    pub kind: LedgerKind,
    #[schema(example = "-1.20")]
    pub amount: String,
    #[schema(example = "150.00")]
    pub balance_after: String,
    pub currency: Currency,
    /// The top-up id, the consumption reference, or the adjustment's reason.
    pub reference: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn ledger_dto(e: LedgerEntry, currency: Currency) -> LedgerEntryDto {
    LedgerEntryDto {
        id: e.id.to_string(),
        kind: e.kind,
        amount: Money::from_minor(e.amount_minor, currency).amount(),
        balance_after: Money::from_minor(e.balance_after_minor, currency).amount(),
        currency,
        reference: e.reference,
        created_at: e.created_at,
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    /// Between 10.00 and 10000.00 in the account's currency; the balance
    /// it would reach may not pass 100000000.00.
    #[validate(length(
        min = 1,
        max = 20,
        message = "must be a decimal amount such as \"50.00\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*((1[0-9]|[2-9][0-9]|[1-9][0-9]{2,3})(\.[0-9]{1,2})?|10000(\.0{1,2})?)$",
        example = "50.00"
    )]
    pub amount: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRechargeRequest {
    #[schema(example = true)]
    pub enabled: bool,
    /// 0.00 to 10000.00.
    #[validate(length(
        min = 1,
        max = 20,
        message = "must be a decimal amount such as \"10.00\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*([0-9]{1,4}(\.[0-9]{1,2})?|10000(\.0{1,2})?)$",
        example = "10.00"
    )]
    pub threshold: String,
    /// Between 10.00 and 10000.00 when enabled (0.00 to 10000.00 when not).
    #[validate(length(
        min = 1,
        max = 20,
        message = "must be a decimal amount such as \"50.00\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*([0-9]{1,4}(\.[0-9]{1,2})?|10000(\.0{1,2})?)$",
        example = "50.00"
    )]
    pub amount: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// Signed, -100000.00 to 100000.00, not zero: `"-5.00"` takes credits
    /// away (never below zero); the balance never goes past 100000000.00.
    #[validate(length(
        min = 1,
        max = 21,
        message = "must be a signed decimal amount such as \"-5.00\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 21,
        pattern = r"^-?0*([0-9]{1,5}(\.[0-9]{1,2})?|100000(\.0{1,2})?)$",
        example = "15.00"
    )]
    pub amount: String,
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 500,
        example = "Geste commercial"
    )]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmStatus {
    Succeeded,
    Failed,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTopUpRequest {
    pub status: ConfirmStatus,
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 500,
        example = "Card declined by the issuer"
    )]
    pub failure_reason: Option<String>,
}

/// A request's amount, its shape checked; the service puts it in the
/// account's currency.
fn amount(field: &str, raw: &str) -> Result<Amount, ApiError> {
    Amount::parse(raw).map_err(|e| ApiError::validation(field, e.to_string()))
}

/// The balance and the auto-recharge settings.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credits", operation_id = "get_credits", tag = "credits",
    responses(
        (status = 200, description = "Balance and auto-recharge", body = CreditsDto),
        (status = 403, description = "Integrations cannot read credits", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
) -> Result<HttpResponse, ApiError> {
    let (acc, credit) = credits::state(&state.store, &account).await?;
    Ok(HttpResponse::Ok().json(credits_dto(credit, acc.currency)))
}

/// The ledger, newest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credits/transactions", operation_id = "list_credit_transactions", tag = "credits",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of ledger lines", body = Paginated<LedgerEntryDto>),
        (status = 403, description = "Integrations cannot read credits", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn transactions(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (currency, page) = credits::ledger(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |e| e.id.to_string(),
        |e| ledger_dto(e, currency),
    )))
}

/// The top-ups, newest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credits/top-ups", operation_id = "list_top_ups", tag = "credits",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of top-ups", body = Paginated<TopUpDto>),
        (status = 403, description = "Integrations cannot read credits", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_top_ups(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (currency, page) = credits::top_ups(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |t| t.id.to_string(),
        |t| top_up_dto(t, currency),
    )))
}

/// Buy credits (admin): a `pending` top-up on the default payment method,
/// credited when the payment is confirmed. Credits are amounts excluding
/// VAT: the payment method is charged `amount` plus the VAT of the
/// account's treatment (its verified primary billing address), and the
/// payment, once it succeeds, issues an advance payment invoice (facture
/// d'acompte) in the invoice series.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/credits/top-ups", operation_id = "create_top_up", tag = "credits",
    request_body = TopUpRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The pending top-up", body = TopUpDto),
        (status = 403, description = "Viewers cannot top up", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "billing_address_unverified: no verified primary billing address, so no VAT treatment to charge it by; exchange_rate_missing: a non-EUR account and no ECB rate recorded to state its VAT in euros; vat_number_unchecked: an EU VAT number that would decide reverse charge has no conclusive check", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Amount out of bounds, or payment_method_required", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_top_up(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<TopUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = amount("amount", &body.value.amount)?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let (currency, top_up) = credits::create_top_up(tx, &ctx, &account, amount).await?;
        top_up_dto(top_up, currency)
    })
}

/// Confirm a top-up's payment by hand (staff): `succeeded` credits it once
/// and issues its advance payment invoice (facture d'acompte), paid.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/credits/top-ups/{top_up_id}/confirm", operation_id = "confirm_top_up", tag = "credits",
    request_body = ConfirmTopUpRequest,
    params(("top_up_id" = String, Path, description = "Top-up id", example = "tup_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The settled top-up", body = TopUpDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `top_up_settled`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_top_up(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<ConfirmTopUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = TopUpId::parse(&path).ok_or(ApiError::NotFound("top-up"))?;
    let outcome = match body.value.status {
        ConfirmStatus::Succeeded => Settlement::Succeeded,
        ConfirmStatus::Failed => Settlement::Failed(
            body.value
                .failure_reason
                .as_deref()
                .and_then(|r| clean_name(r, 500)),
        ),
    };
    let (currency, top_up) =
        credits::confirm(&state.store, &ctx, &state.issuer(), &account, &id, outcome).await?;
    Ok(HttpResponse::Ok().json(top_up_dto(top_up, currency)))
}

/// Set auto-recharge (admin).
#[utoipa::path(put, path = "/v1/accounts/{account_id}/credits/auto-recharge", operation_id = "set_auto_recharge", tag = "credits",
    request_body = AutoRechargeRequest,
    responses(
        (status = 200, description = "Balance and the new settings", body = CreditsDto),
        (status = 403, description = "Viewers cannot change settings", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_auto_recharge(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    body: ValidJson<AutoRechargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = body.value;
    let mut errors = FieldErrors::default();
    let threshold = errors.keep(amount("threshold", &r.threshold));
    let recharge = errors.keep(amount("amount", &r.amount));
    errors.finish()?;
    let (Some(threshold), Some(recharge)) = (threshold, recharge) else {
        return Err(ApiError::internal("auto-recharge amounts parsed"));
    };
    let (currency, credit) =
        credits::set_auto_recharge(&state.store, &ctx, &account, r.enabled, threshold, recharge)
            .await?;
    Ok(HttpResponse::Ok().json(credits_dto(credit, currency)))
}

/// Adjust the balance (staff): a signed amount and a reason; never below zero.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/credits/adjustments", operation_id = "adjust_credits", tag = "credits",
    request_body = AdjustmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The ledger line", body = LedgerEntryDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid amount, or insufficient_balance", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn adjust(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<AdjustmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = amount("amount", &body.value.amount)?;
    let reason = clean_name(&body.value.reason, 500)
        .ok_or_else(|| ApiError::validation("reason", "must be 1 to 500 characters"))?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let (currency, entry) = credits::adjust(tx, &ctx, &account, amount, &reason).await?;
        ledger_dto(entry, currency)
    })
}

/// A payment event from the provider.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentEventBody {
    /// The provider's event id: an event delivered again is ignored.
    #[schema(min_length = 1, max_length = 200, example = "evt_123")]
    pub id: String,
    /// `top_up.succeeded`, `top_up.failed`, `invoice.paid` or
    /// `invoice.payment_failed`; other types are acknowledged and ignored.
    #[serde(rename = "type")]
    #[schema(example = "top_up.succeeded")]
    pub kind: String,
    pub data: PaymentEventData,
}

/// What the event is about. `top_up.*`: `top_up_id` (and `failure_reason`).
/// `invoice.paid`: `invoice_id`, and the payment's `amount`, `currency`,
/// `paid_at`, `method` and `reference`, each optional (the amount due, the
/// invoice's currency, now, `other`, none). `invoice.payment_failed`:
/// `invoice_id` and `failure_reason`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentEventData {
    #[schema(example = "tup_0193c0ffee")]
    pub top_up_id: Option<String>,
    /// For `invoice.paid` and `invoice.payment_failed`.
    #[schema(example = "inv_0193c0ffee")]
    pub invoice_id: Option<String>,
    /// For `top_up.failed` and `invoice.payment_failed`: kept when it is 1 to
    /// 500 characters without control or invisible characters.
    #[schema(example = "Insufficient funds")]
    pub failure_reason: Option<String>,
    /// `invoice.paid`: the amount received, 0.01 to 100000000.00; the amount
    /// due when absent. More than is due pays the invoice and the rest goes
    /// to the customer balance; less lowers the amount due.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^(0*[1-9][0-9]{0,7}(\.[0-9]{1,2})?|0*100000000(\.0{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$",
        example = "600.00"
    )]
    pub amount: Option<String>,
    /// `invoice.paid`: the invoice's currency (another is refused).
    #[schema(value_type = Option<Currency>, example = "EUR")]
    pub currency: Option<String>,
    /// `invoice.paid`: when the money was received, RFC 3339, not in the
    /// future; now when absent.
    #[schema(format = DateTime, example = "2026-04-09T09:30:00Z")]
    pub paid_at: Option<String>,
    /// `invoice.paid`: `card`, `sepa_debit`, `transfer`, `cheque` or
    /// `other` (when absent).
    #[schema(value_type = Option<crate::domain::invoice_payment::InvoicePaymentMethod>, example = "sepa_debit")]
    pub method: Option<String>,
    /// `invoice.paid`: the provider's reference, 1 to 200 characters.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "pi_3P2x"
    )]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// False for an event already processed, of an ignored type, or about an
    /// invoice that is unknown or already paid or void (recorded, nothing
    /// else changes).
    pub applied: bool,
}

pub const SIGNATURE_HEADER: &str = "Comptoir-Signature";
/// How far a signature's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// A signed webhook's event: its `Comptoir-Signature` checked with
/// `secret` (`unset` names the variable when it is not configured: 503),
/// then its body read as JSON.
pub(super) fn signed_event<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    secret: Option<&crate::config::Secret>,
    unset: &'static str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<T, ApiError> {
    check_signature(req, secret, unset, body, now)?;
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// A webhook's caller, `subject`, as its changes are recorded.
pub(super) fn webhook_ctx(subject: &str, now: OffsetDateTime) -> Ctx {
    Ctx {
        caller: Caller {
            subject: subject.to_owned(),
            role: Role::Integration,
            account_id: None,
        },
        request_id: None,
        now,
    }
}

fn check_signature(
    req: &HttpRequest,
    secret: Option<&crate::config::Secret>,
    unset: &'static str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let secret = secret.ok_or(ApiError::NotConfigured(unset))?;
    let bad = || ApiError::BadSignature;
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(bad)?;
    // `abs_diff` cannot overflow, whatever `t` is (`t=-9223372036854775808`).
    if now.unix_timestamp().abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(bad());
    }
    signatures
        .iter()
        .any(|s| crate::crypto::verify_webhook_signature(secret.expose(), timestamp, body, s))
        .then_some(())
        .ok_or_else(bad)
}

/// The payment provider's callback. Signed, not bearer-authenticated:
/// `Comptoir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
/// with `COMPTOIR_WEBHOOK_SECRET`, within 5 minutes. A replayed event id is
/// acknowledged and changes nothing.
///
/// `invoice.paid` records a payment of the invoice with its amount (the
/// amount due when absent), currency, date, method and reference: a partial
/// payment lowers `amount_due`, the one that reaches zero makes the invoice
/// `paid`, an overpayment's excess goes to the customer balance.
/// `invoice.payment_failed` records the failed debit and its reason, shown
/// in the invoice's `payment_failures`. An event about an unknown invoice,
/// or one already paid or void, is recorded and answered 200 with
/// `applied: false`, so the provider stops retrying; a malformed field is a
/// 422 naming it (`data.amount`, `data.currency`...) and records nothing.
#[utoipa::path(post, path = "/v1/webhooks/payments", operation_id = "payment_webhook", tag = "credits",
    request_body = PaymentEventBody,
    responses(
        (status = 200, description = "Acknowledged", body = WebhookAck),
        (status = 401, description = "invalid_signature: missing, wrong or too old", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown top-up", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field of the event: `data.invoice_id`, `data.amount`, `data.currency` (not the invoice's), `data.paid_at` (in the future), `data.method`, `data.reference`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "COMPTOIR_WEBHOOK_SECRET is not set", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let event: PaymentEventBody = signed_event(
        &req,
        state.webhook_secret.as_ref(),
        "COMPTOIR_WEBHOOK_SECRET is not set",
        &body,
        now,
    )?;
    if event.id.is_empty() || event.id.len() > 200 {
        return Err(ApiError::validation("id", "must be 1 to 200 characters"));
    }
    let mut ctx = webhook_ctx("payment-webhook", now);
    if event.kind == "invoice.paid" || event.kind == "invoice.payment_failed" {
        let invoice = event
            .data
            .invoice_id
            .as_deref()
            .and_then(crate::domain::ids::InvoiceId::parse)
            .ok_or_else(|| ApiError::validation("data.invoice_id", "must be an invoice id"))?;
        // A test account's payments happen at its clock's time.
        let account = state
            .store
            .begin_read()
            .await?
            .invoice_by_id(&invoice)
            .await?;
        if let Some(row) = account {
            let account = crate::domain::ids::AccountId::from_trusted(row.account_id);
            ctx.now = test_clocks::time_of(&state.store, &account, now).await?;
        }
        let d = event.data;
        let applied = if event.kind == "invoice.paid" {
            let fields = invoice_payments::PaymentFields {
                amount: d.amount,
                currency: d.currency,
                paid_at: d.paid_at,
                method: d.method,
                reference: d.reference,
            };
            invoice_payments::apply_paid_event(&state.store, &ctx, &event.id, &invoice, fields)
                .await?
        } else {
            let reason = d.failure_reason.as_deref().and_then(|r| clean_name(r, 500));
            invoice_payments::apply_failed_event(&state.store, &ctx, &event.id, &invoice, reason)
                .await?
        };
        return Ok(HttpResponse::Ok().json(WebhookAck {
            received: true,
            applied,
        }));
    }
    let outcome = match event.kind.as_str() {
        "top_up.succeeded" => Settlement::Succeeded,
        "top_up.failed" => Settlement::Failed(
            event
                .data
                .failure_reason
                .as_deref()
                .and_then(|r| clean_name(r, 500)),
        ),
        _ => {
            return Ok(HttpResponse::Ok().json(WebhookAck {
                received: true,
                applied: false,
            }));
        }
    };
    let top_up_id = event
        .data
        .top_up_id
        .as_deref()
        .and_then(TopUpId::parse)
        .ok_or_else(|| ApiError::validation("data.top_up_id", "must be a top-up id"))?;
    let top_up = state.store.begin_read().await?.top_up(&top_up_id).await?;
    if let Some(top_up) = top_up {
        ctx.now = test_clocks::time_of(&state.store, &top_up.account_id, now).await?;
    }
    let applied = credits::apply_payment_event(
        &state.store,
        &ctx,
        &state.issuer(),
        PaymentEvent {
            id: event.id,
            top_up_id,
            outcome,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        applied,
    }))
}
