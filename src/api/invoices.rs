//! `/v1/accounts/{a}/invoices`: the upcoming invoice.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use super::accounts::account_id;
use super::payments::PaymentMethodDto;
use crate::AppState;
use crate::domain::invoice::{Composition, Line, LineKind, TaxTreatment};
use crate::domain::money::Currency;
use crate::error::{ApiError, Problem};
use crate::service::Ctx;
use crate::service::invoices;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineDto {
    pub kind: LineKind,
    #[schema(example = "ADVANCED license, May 2026")]
    pub description: String,
    pub plan: Option<String>,
    pub quantity: u32,
    #[schema(example = "64.00")]
    pub unit_amount: String,
    #[schema(example = "640.00")]
    pub amount: String,
    /// Proration lines: days charged.
    pub days: Option<u8>,
    /// Proration lines: days in the month prorated.
    pub days_in_period: Option<u8>,
}

fn line_dto(l: &Line) -> LineDto {
    LineDto {
        kind: l.kind,
        description: l.description.clone(),
        plan: l.plan.clone(),
        quantity: l.quantity,
        unit_amount: l.unit_amount.amount(),
        amount: l.amount.amount(),
        days: l.days,
        days_in_period: l.days_in_period,
    }
}

/// The invoice the next billing run would issue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpcomingInvoiceDto {
    /// None until issued.
    pub number: Option<String>,
    #[schema(example = "upcoming")]
    pub status: String,
    pub issue_date: Date,
    pub period_start: Date,
    pub period_end: Date,
    pub lines: Vec<LineDto>,
    #[schema(example = "1002.73")]
    pub subtotal: String,
    /// In percent.
    #[schema(example = "20")]
    pub tax_rate: String,
    pub tax_treatment: TaxTreatment,
    /// The legal mention printed on the invoice (reverse charge, outside the EU).
    pub tax_mention: Option<String>,
    #[schema(example = "200.55")]
    pub tax_amount: String,
    #[schema(example = "1203.28")]
    pub total: String,
    pub currency: Currency,
    /// The default payment method is debited on this day.
    pub debit_date: Date,
    /// The default payment method, masked; none when the account has no usable one.
    pub payment_method: Option<PaymentMethodDto>,
}

fn totals(c: &Composition) -> (String, String, String, String) {
    (
        c.subtotal.amount(),
        c.tax.rate().normalize().to_string(),
        c.tax_amount.amount(),
        c.total.amount(),
    )
}

/// The upcoming invoice: what the next billing run (on the 1st of next
/// month) would issue, computed now from the licenses, numbers, consumption
/// and billing address, with the debit date and the masked default payment
/// method.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/upcoming", operation_id = "upcoming_invoice", tag = "invoices",
    params(("account_id" = String, Path, description = "Account id")),
    responses(
        (status = 200, description = "The upcoming invoice", body = UpcomingInvoiceDto),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upcoming(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&path)?;
    let u = invoices::upcoming(&state.store, &ctx, &account).await?;
    let c = &u.composition;
    let (subtotal, tax_rate, tax_amount, total) = totals(c);
    Ok(HttpResponse::Ok().json(UpcomingInvoiceDto {
        number: None,
        status: "upcoming".into(),
        issue_date: u.issue_date,
        period_start: c.period.start(),
        period_end: c.period.end(),
        lines: c.lines.iter().map(line_dto).collect(),
        subtotal,
        tax_rate,
        tax_treatment: c.tax,
        tax_mention: c.tax.mention().map(|(_, en)| en.to_owned()),
        tax_amount,
        total,
        currency: u.account.currency,
        debit_date: u.issue_date,
        payment_method: u.payment_method.map(PaymentMethodDto::from),
    }))
}
