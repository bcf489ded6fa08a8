//! `/v1/accounts/{a}/invoices/{id}/payments` (payments of an invoice, with
//! amounts) and `/v1/accounts/{a}/balance` (the customer balance that
//! overpayments go to).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::ids::InvoiceId;
use crate::domain::invoice_payment::{
    BalanceEntry, BalanceEntryKind, InvoicePayment, InvoicePaymentMethod, PaymentFailure,
};
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, Problem};
use crate::service::invoice_payments::{self, PaymentFields};

/// A payment received for an invoice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentDto {
    #[schema(example = "pay_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub invoice_id: String,
    /// Null only for a payment event that was not applied and named no amount.
    #[schema(example = "600.00")]
    pub amount: Option<String>,
    pub currency: Option<Currency>,
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
    pub method: InvoicePaymentMethod,
    #[schema(example = "VIR SEPA ACME 2026-05")]
    pub reference: Option<String>,
    /// Whether it counts in the invoice's `amount_paid`. A payment event
    /// about an invoice already paid or void is kept, not applied.
    pub applied: bool,
    /// The part beyond the amount due, added to the customer balance.
    #[schema(example = "0.00")]
    pub overpayment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `p` as the API shows it; `currency` is the invoice's.
pub fn payment_dto(p: &InvoicePayment, currency: Currency) -> PaymentDto {
    let in_currency = p.currency.unwrap_or(currency);
    PaymentDto {
        id: p.id.to_string(),
        invoice_id: p.invoice_id.clone(),
        amount: p
            .amount_minor
            .map(|minor| Money::from_minor(minor, in_currency).amount()),
        currency: p.currency,
        paid_at: p.paid_at,
        method: p.method,
        reference: p.reference.clone(),
        applied: p.applied,
        overpayment: Money::from_minor(p.overpayment_minor, in_currency).amount(),
        created_at: p.created_at,
    }
}

/// A failed debit of an invoice, as the payment provider reported it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentFailureDto {
    #[schema(example = "pyf_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    /// The provider's reason; null when it gave none that could be kept.
    #[schema(example = "Insufficient funds")]
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub failed_at: OffsetDateTime,
}

pub fn failure_dto(f: &PaymentFailure) -> PaymentFailureDto {
    PaymentFailureDto {
        id: f.id.to_string(),
        reason: f.reason.clone(),
        failed_at: f.failed_at,
    }
}

/// Record a payment (staff). Every bad field is named at once.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "600.00", "paid_at": "2026-04-09T09:30:00Z",
    "method": "transfer", "reference": "VIR SEPA ACME 2026-05"}))]
pub struct RecordPaymentRequest {
    /// 0.01 to 100000000.00, in the invoice's currency. More than the
    /// amount due pays the invoice, and the rest goes to the customer balance.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^(0*[1-9][0-9]{0,7}(\.[0-9]{1,2})?|0*100000000(\.0{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$",
        example = "600.00"
    )]
    pub amount: String,
    /// The invoice's currency; another is refused (422 on `currency`).
    pub currency: Option<Currency>,
    /// When the money was received: an RFC 3339 instant, not in the future.
    #[schema(format = DateTime, example = "2026-04-09T09:30:00Z")]
    pub paid_at: String,
    pub method: InvoicePaymentMethod,
    /// The bank's or the provider's reference, free text.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "VIR SEPA ACME 2026-05"
    )]
    pub reference: Option<String>,
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ApiError> {
    InvoiceId::parse(raw).ok_or(ApiError::NotFound("invoice"))
}

/// Record a payment of an issued invoice (staff): amount, date, method and
/// reference. A partial payment lowers `amount_due` and leaves the invoice
/// `issued`; the payment that brings `amount_due` to zero makes it `paid`
/// (its `paid_at` is the invoice's); what a payment brings beyond the
/// amount due goes to the account's customer balance (`overpayment`).
/// Concurrent payments are all recorded and summed.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/payments", operation_id = "record_invoice_payment", tag = "invoices",
    request_body = RecordPaymentRequest,
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The payment", body = PaymentDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_open: the invoice is paid or void (or a draft)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field (amount, currency other than the invoice's, paid_at in the future, method, reference), or idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn record(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    key: IdempotencyKey,
    body: ValidJson<RecordPaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let r = body.value;
    let fields = PaymentFields {
        amount: Some(r.amount),
        currency: r.currency.map(|c| c.code().to_owned()),
        paid_at: Some(r.paid_at),
        method: Some(r.method.as_str().to_owned()),
        reference: r.reference,
    };
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let payment = invoice_payments::record(tx, &ctx, &account, &id, fields).await?;
        let currency = payment
            .currency
            .ok_or_else(|| ApiError::internal("an applied payment has a currency"))?;
        payment_dto(&payment, currency)
    })
}

/// The payments recorded for an invoice, oldest first: by staff, by
/// `mark-paid` and by the payment webhook (those not applied included).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/payments", operation_id = "list_invoice_payments", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), PageQuery),
    responses(
        (status = 200, description = "A page of the invoice's payments", body = Paginated<PaymentDto>),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let (currency, page) =
        invoice_payments::list(&state.store, &account, &id, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |p| p.id.to_string(),
        |p| payment_dto(&p, currency),
    )))
}

/// What the account is owed: overpayments and what was paid on invoices
/// staff voided. Credit notes will add to it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceDto {
    /// Positive: owed to the customer.
    #[schema(example = "15.50")]
    pub amount: String,
    pub currency: Currency,
}

/// A line of the customer balance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceEntryDto {
    #[schema(example = "cbe_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    pub kind: BalanceEntryKind,
    /// Signed: positive adds to what the customer is owed.
    #[schema(example = "15.50")]
    pub amount: String,
    pub currency: Currency,
    /// The invoice it comes from.
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub invoice_id: Option<String>,
    /// The payment it comes from (an overpayment).
    #[schema(example = "pay_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub payment_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn balance_entry_dto(e: BalanceEntry) -> BalanceEntryDto {
    BalanceEntryDto {
        id: e.id.to_string(),
        kind: e.kind,
        amount: e.amount.amount(),
        currency: e.amount.currency(),
        invoice_id: e.invoice_id,
        payment_id: e.payment_id.map(|p| p.to_string()),
        created_at: e.created_at,
    }
}

/// The customer balance: what the account is owed (the sum of its entries,
/// `GET .../balance/entries`).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/balance", operation_id = "get_customer_balance", tag = "invoices",
    responses(
        (status = 200, description = "The customer balance", body = BalanceDto),
        (status = 403, description = "Integrations cannot read the balance", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn balance(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
) -> Result<HttpResponse, ApiError> {
    let amount = invoice_payments::balance(&state.store, &account).await?;
    Ok(HttpResponse::Ok().json(BalanceDto {
        amount: amount.amount(),
        currency: amount.currency(),
    }))
}

/// The customer balance's ledger, newest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/balance/entries", operation_id = "list_customer_balance_entries", tag = "invoices",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of balance entries", body = Paginated<BalanceEntryDto>),
        (status = 403, description = "Integrations cannot read the balance", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn balance_entries(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = invoice_payments::balance_entries(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |e| e.id.to_string(),
        balance_entry_dto,
    )))
}
