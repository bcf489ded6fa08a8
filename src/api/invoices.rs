//! `/v1/accounts/{a}/invoices` (issued invoices and the upcoming one) and
//! `/v1/billing-runs`.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::documents::FileBytes;
use super::e_invoicing::{EInvoicingDto, summary_dto};
use super::extract::{PageQuery, Paginated, ValidJson};
use super::invoice_payments::{PaymentDto, PaymentFailureDto, failure_dto, payment_dto};
use super::payments::{MaskedPaymentMethodDto, PaymentMethodDto};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::advance::Prepaid;
use crate::domain::exchange::VatInEur;
use crate::domain::ids::{AccountId, InvoiceId, InvoiceLineId};
use crate::domain::invoice::{Composition, Line, LineKind, Period, TaxTreatment};
use crate::domain::issued::{EInvoiceFiles, Hold, Invoice, InvoiceKind, InvoiceStatus, StoredFile};
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, Code, Problem};
use crate::render::Lang;
use crate::render::invoice::number;
use crate::service::einvoices::{self, Format, Issued};
use crate::service::invoices::{self, RunReport};
use crate::service::{Authorized, Ctx};
use crate::service::{e_invoicing, invoice_payments};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineDto {
    /// The line's id (credit notes name lines by it); a draft's lines keep
    /// theirs while their order does. Null on an upcoming invoice that is
    /// not a draft yet.
    #[schema(example = "il_0197c5e2a4b07d3e9f1a2b3c4d5e6f700001")]
    pub id: Option<String>,
    pub kind: LineKind,
    #[schema(example = "ADVANCED license, May 2026")]
    pub description: String,
    #[schema(example = "ADVANCED")]
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
    /// The first and last days the line bills (a month, or the prorated
    /// days); null for one-off charges and on invoices issued before lines
    /// kept them.
    pub service_start: Option<Date>,
    pub service_end: Option<Date>,
}

fn line_dto(invoice: Option<&InvoiceId>, index: usize, l: &Line) -> LineDto {
    LineDto {
        id: invoice.map(|i| InvoiceLineId::of(i, index).to_string()),
        kind: l.kind,
        description: l.description.clone(),
        plan: l.plan.clone(),
        quantity: l.quantity,
        unit_amount: l.unit_amount.amount(),
        amount: l.amount.amount(),
        days: l.days,
        days_in_period: l.days_in_period,
        service_start: l.service_start,
        service_end: l.service_end,
    }
}

/// A non-EUR invoice's or credit note's VAT total stated in euros (CGI art.
/// 289-IV).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VatInEurDto {
    /// The VAT total in EUR: the VAT divided by the rate, rounded half up
    /// to the cent.
    #[schema(example = "12.16")]
    pub amount: String,
    /// The ECB reference rate it was converted at: units of the document's
    /// currency for 1 EUR.
    #[schema(example = "1.0523")]
    pub rate: String,
    /// The day of that rate: the issue date, or the last day before it
    /// with a rate recorded.
    #[schema(example = "2026-06-01")]
    pub rate_date: Date,
}

impl From<VatInEur> for VatInEurDto {
    fn from(v: VatInEur) -> Self {
        VatInEurDto {
            amount: v.amount().amount(),
            rate: v.rate.to_string(),
            rate_date: v.rate_date,
        }
    }
}

/// The invoice the next billing run would issue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpcomingInvoiceDto {
    /// The draft's id when a billing run made it (`status` `draft`); null
    /// for an invoice no run made yet.
    #[schema(example = json!(null))]
    pub id: Option<String>,
    /// Null until issued.
    #[schema(example = json!(null))]
    pub number: Option<String>,
    /// `upcoming`, or `draft` when it is the account's current draft.
    #[schema(value_type = UpcomingStatus, example = "upcoming")]
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
    #[schema(example = json!(null))]
    pub tax_mention: Option<String>,
    /// The buyer's territory the VAT treatment was decided from.
    #[schema(example = "FR")]
    pub tax_territory: Option<String>,
    /// Why it could not be issued now (no verified billing address...):
    /// null when it could.
    pub hold: Option<HoldDto>,
    #[schema(example = "200.55")]
    pub tax_amount: String,
    #[schema(example = "1203.28")]
    pub total: String,
    pub currency: Currency,
    /// The default payment method is debited on this day.
    pub debit_date: Date,
    /// The default payment method, masked; none when the account has no usable one.
    pub payment_method: Option<PaymentMethodDto>,
    /// What prepaid credits already paid of its consumption, deducted
    /// from the amount due if it were issued now, each acompte drawn on.
    pub prepaid: Vec<PrepaidDto>,
    /// What the customer balance (credit notes, overpayments) would deduct
    /// from the amount due if it were issued now, each credit drawn on.
    pub balance_deductions: Vec<DeductionDto>,
    /// `total` less `prepaid` (including VAT) and `balance_deductions`:
    /// what the payment method would be debited.
    #[schema(example = "1203.28")]
    pub amount_due: String,
    /// For an invoice in another currency than EUR with VAT: its VAT in
    /// euros at the last rate recorded on or before `issue_date`; null
    /// without one (a draft then waits for it, hold `exchange_rate_missing`).
    #[schema(example = json!(null))]
    pub vat_in_eur: Option<VatInEurDto>,
}

/// What prepaid credits paid of an invoice's consumption, deducted under
/// its totals: drawn on an advance payment invoice (facture d'acompte), or
/// (`invoice_id` null) on credits no acompte stands behind (granted by
/// staff, or bought before top-ups were charged VAT).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrepaidDto {
    /// The acompte invoice drawn on.
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub invoice_id: Option<String>,
    #[schema(example = "F-2026-000001")]
    pub invoice_number: Option<String>,
    #[schema(example = "30.00")]
    pub amount_excluding_tax: String,
    /// With the acompte's VAT (the invoice's rate without an acompte).
    #[schema(example = "36.00")]
    pub amount_including_tax: String,
}

fn prepaid_dto(p: &Prepaid, currency: Currency) -> PrepaidDto {
    PrepaidDto {
        invoice_id: p.invoice_id.clone(),
        invoice_number: p.invoice_number.clone(),
        amount_excluding_tax: Money::from_minor(p.amount_minor, currency).amount(),
        amount_including_tax: Money::from_minor(p.total_minor(), currency).amount(),
    }
}

fn totals(c: &Composition) -> (String, String, String, String) {
    (
        c.subtotal.amount(),
        c.tax.rate.normalize().to_string(),
        c.tax_amount.amount(),
        c.total.amount(),
    )
}

/// The upcoming invoice: the account's current draft when a billing run
/// made one (recomputed now), otherwise what the next billing run (on the
/// 1st of next month) would bill, computed now from everything not billed
/// yet: licenses, numbers, consumption, charges; with the billing address,
/// the debit date and the masked default payment method.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/upcoming", operation_id = "upcoming_invoice", tag = "invoices",
    responses(
        (status = 200, description = "The upcoming invoice", body = UpcomingInvoiceDto),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upcoming(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
) -> Result<HttpResponse, ApiError> {
    let u = invoices::upcoming(&state.store, &ctx, &account).await?;
    let c = &u.composition;
    let (subtotal, tax_rate, tax_amount, total) = totals(c);
    let draft = u.draft_id.as_ref();
    Ok(HttpResponse::Ok().json(UpcomingInvoiceDto {
        id: draft.map(ToString::to_string),
        number: None,
        status: if draft.is_some() { "draft" } else { "upcoming" }.into(),
        issue_date: u.issue_date,
        period_start: c.period.start(),
        period_end: c.period.end(),
        lines: c
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| line_dto(draft, i, l))
            .collect(),
        subtotal,
        tax_rate,
        tax_treatment: c.tax.treatment,
        tax_mention: c.tax.mention().map(|m| m.en),
        tax_territory: Some(c.tax.territory.clone()),
        hold: u.hold.map(HoldDto::from),
        tax_amount,
        total,
        currency: u.account.currency,
        debit_date: u.issue_date,
        payment_method: u.payment_method.map(PaymentMethodDto::from),
        prepaid: u
            .prepaid
            .iter()
            .map(|p| prepaid_dto(p, u.account.currency))
            .collect(),
        balance_deductions: u
            .deductions
            .iter()
            .map(|d| DeductionDto {
                credit_note_number: d.credit_note_number.clone(),
                amount: Money::from_minor(d.amount_minor, u.account.currency).amount(),
            })
            .collect(),
        amount_due: Money::from_minor(
            c.total.minor()
                - crate::domain::advance::total(&u.prepaid)
                - u.deductions.iter().map(|d| d.amount_minor).sum::<i64>(),
            u.account.currency,
        )
        .amount(),
        vat_in_eur: u.vat_in_eur.map(VatInEurDto::from),
    }))
}

/// The status of the upcoming invoice: it is not issued yet.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum UpcomingStatus {
    /// No billing run made it yet.
    Upcoming,
    /// The account's current draft.
    Draft,
}

/// An invoice: a draft (no number, recomputed whenever read) or an issued
/// one (what was issued, never changed since).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceDto {
    #[schema(example = "inv_0193c0ffee")]
    pub id: String,
    /// Null for a draft.
    #[schema(example = "F-2026-000123")]
    pub number: Option<String>,
    /// `period`: the invoice of a month (billing runs); `advance`: an
    /// advance payment invoice (facture d'acompte) for prepaid credits a
    /// top-up bought, issued paid when its payment succeeded.
    pub kind: InvoiceKind,
    /// `draft`, `issued`, `paid`, `credited` (credit notes cover its whole
    /// total) or `void` (voided before credit notes existed).
    pub status: InvoiceStatus,
    /// The day it was issued; for a draft, the day it will be finalized at
    /// the earliest.
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
    /// The legal VAT mention it prints (in English; the French one is on
    /// the PDF).
    #[schema(example = json!(null))]
    pub tax_mention: Option<String>,
    /// The buyer's territory the VAT treatment was decided from (`FR`,
    /// `MC`, `RE`, `DE`...); null on invoices issued before it was kept.
    #[schema(example = "FR")]
    pub tax_territory: Option<String>,
    /// A draft that cannot be finalized yet: why, and what to do. Null
    /// otherwise.
    pub hold: Option<HoldDto>,
    #[schema(example = "200.55")]
    pub tax_amount: String,
    #[schema(example = "1203.28")]
    pub total: String,
    pub currency: Currency,
    /// The buyer's billing address as it was on the issue date.
    pub billing_address: Option<AddressSnapshotDto>,
    /// The payment method debited, masked, as it was on the issue date
    /// (the fields the upcoming invoice's `payment_method` starts with).
    pub payment_method: Option<MaskedPaymentMethodDto>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub voided_at: Option<OffsetDateTime>,
    #[schema(example = json!(null))]
    pub void_reason: Option<String>,
    /// The sum of the applied payments; more than `total` after an
    /// overpayment, whose excess went to the customer balance.
    #[schema(example = "600.00")]
    pub amount_paid: String,
    /// What its credit notes took off (the sum of their totals).
    #[schema(example = "0.00")]
    pub amount_credited: String,
    /// `total - amount_paid - amount_credited`, never below zero; `0.00` for
    /// a void invoice.
    #[schema(example = "603.28")]
    pub amount_due: String,
    /// Every payment recorded for the invoice, oldest first.
    pub payments: Vec<PaymentDto>,
    /// Every failed debit reported by the payment provider, oldest first.
    pub payment_failures: Vec<PaymentFailureDto>,
    /// Its credit notes, oldest first.
    pub credit_notes: Vec<CreditNoteRefDto>,
    /// What prepaid credits already paid of its consumption, deducted
    /// from the amount due (excluding and including VAT), each acompte
    /// drawn on; for a draft, what would be deducted if it were issued now.
    pub prepaid: Vec<PrepaidDto>,
    /// What the customer balance took off the amount due when it was
    /// issued, each credit drawn on (shown under the totals, never as a line).
    pub balance_deductions: Vec<DeductionDto>,
    /// For a reissued invoice: the fully credited invoice it replaces.
    pub replaces: Option<ReplacedDto>,
    /// For an invoice in another currency than EUR with VAT: its VAT total
    /// in euros (CGI art. 289-IV), at the rate of its issue date or the last
    /// one before, as stated when it was issued. A draft shows what it would
    /// state if issued on its `issue_date`, or null when no rate is recorded
    /// (it then waits, hold `exchange_rate_missing`). Null in EUR or without VAT.
    #[schema(example = json!(null))]
    pub vat_in_eur: Option<VatInEurDto>,
    /// Its e-invoice, stored when it was issued: the Factur-X PDF
    /// (`.../pdf`), the CII (`.../cii.xml`) and the UBL (`.../ubl.xml`),
    /// each with its SHA-256; the downloads return exactly these bytes.
    /// Null for a draft.
    pub e_invoice: Option<EInvoiceDto>,
    /// Where the issued invoice stands with the approved e-invoicing
    /// platform (PA): queued, deposited, its last lifecycle status (200
    /// déposée, 210 refusée, 212 encaissée, 213 rejetée...), and whether it
    /// needs a credit note. Null for a draft and for invoices issued before
    /// e-invoicing.
    #[schema(example = json!({"status": "deposited", "code": "200", "status_at": "2026-05-01T08:00:00Z",
        "reason": null, "platform_id": "pa-7f3a", "needs_credit_note": false}))]
    pub e_invoicing: Option<EInvoicingDto>,
}

/// An issued document's e-invoice files (EN 16931 profile, with the French
/// CTC data), stored once when it was issued and never rewritten.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EInvoiceDto {
    /// Always `factur-x`: the PDF is a Factur-X (PDF/A-3B) with the CII embedded.
    #[schema(example = "factur-x")]
    pub format: String,
    /// Always `EN 16931`.
    #[schema(example = "EN 16931")]
    pub profile: String,
    pub pdf: StoredFileDto,
    pub cii: StoredFileDto,
    pub ubl: StoredFileDto,
    #[serde(with = "time::serde::rfc3339")]
    pub stored_at: OffsetDateTime,
}

/// A stored file: what a download's bytes hash to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredFileDto {
    /// Hex SHA-256 of the exact bytes the download returns.
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: String,
    /// In bytes.
    #[schema(example = 48213)]
    pub size: u64,
}

impl From<EInvoiceFiles> for EInvoiceDto {
    fn from(f: EInvoiceFiles) -> Self {
        let file = |f: StoredFile| StoredFileDto {
            sha256: f.sha256,
            size: f.size,
        };
        EInvoiceDto {
            format: "factur-x".into(),
            profile: "EN 16931".into(),
            pdf: file(f.pdf),
            cii: file(f.cii),
            ubl: file(f.ubl),
            stored_at: f.stored_at,
        }
    }
}

/// The invoice a reissued invoice replaces.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplacedDto {
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub invoice_id: String,
    #[schema(example = "F-2026-000005")]
    pub number: String,
    pub issue_date: Date,
}

/// A credit note of an invoice, as the invoice lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteRefDto {
    #[schema(example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "AV-2026-000001")]
    pub number: String,
    pub issue_date: Date,
    #[schema(example = "76.80")]
    pub total: String,
}

/// An amount of the customer balance deducted from an invoice's amount due.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeductionDto {
    /// The credit note the credit came from; null for an overpayment.
    #[schema(example = "AV-2026-000003")]
    pub credit_note_number: Option<String>,
    #[schema(example = "76.80")]
    pub amount: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressSnapshotDto {
    #[schema(example = "Acme Group SAS")]
    pub company_name: String,
    #[schema(example = "12 rue de la Paix")]
    pub line1: String,
    #[schema(example = "Bâtiment B")]
    pub line2: Option<String>,
    #[schema(example = "75002")]
    pub postal_code: String,
    #[schema(example = "Paris")]
    pub city: String,
    #[schema(example = "Île-de-France")]
    pub region: Option<String>,
    #[schema(value_type = crate::domain::address::Country, example = "FR")]
    pub country: String,
    #[schema(example = "FR40303265045")]
    pub vat_number: Option<String>,
    /// French buyers: the SIREN printed on the invoice.
    #[schema(example = "303265045")]
    pub siren: Option<String>,
    /// Where the buyer receives e-invoices.
    #[schema(example = json!(null))]
    pub e_invoicing_address: Option<String>,
}

/// Why a draft is not finalized yet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldDto {
    /// The same code a staff finalize of it answers with.
    pub code: Code,
    #[schema(
        example = "the account has no verified primary billing address: its VAT treatment cannot be decided (staff verify one, then the draft is issued)"
    )]
    pub detail: String,
}

impl From<Hold> for HoldDto {
    fn from(h: Hold) -> Self {
        HoldDto {
            code: h.reason.into(),
            detail: h.detail,
        }
    }
}

impl From<Invoice> for InvoiceDto {
    fn from(i: Invoice) -> Self {
        let s = i.snapshot;
        let money = |minor| Money::from_minor(minor, i.currency).amount();
        let tax_mention = s.mention().map(|m| m.en);
        InvoiceDto {
            id: i.id.to_string(),
            number: i.number,
            kind: i.kind,
            status: i.status,
            issue_date: i.issue_date,
            period_start: s.period_start,
            period_end: s.period_end,
            lines: s
                .lines
                .iter()
                .enumerate()
                .map(|(n, l)| LineDto {
                    id: Some(InvoiceLineId::of(&i.id, n).to_string()),
                    kind: l.kind,
                    description: l.description.clone(),
                    plan: l.plan.clone(),
                    quantity: l.quantity,
                    unit_amount: money(l.unit_amount_minor),
                    amount: money(l.amount_minor),
                    days: l.days,
                    days_in_period: l.days_in_period,
                    service_start: l.service_start,
                    service_end: l.service_end,
                })
                .collect(),
            subtotal: i.subtotal.amount(),
            tax_rate: s.tax_rate,
            tax_treatment: s.tax_treatment,
            tax_mention,
            tax_territory: s.tax_territory.clone(),
            hold: i.hold.map(HoldDto::from),
            tax_amount: i.tax.amount(),
            total: i.total.amount(),
            currency: i.currency,
            billing_address: s.buyer.map(|b| AddressSnapshotDto {
                company_name: b.company_name,
                line1: b.line1,
                line2: b.line2,
                postal_code: b.postal_code,
                city: b.city,
                region: b.region,
                country: b.country,
                vat_number: b.vat_number,
                siren: b.siren,
                e_invoicing_address: b.e_invoicing_address,
            }),
            payment_method: s.payment_method.map(MaskedPaymentMethodDto::from_masked),
            paid_at: i.paid_at,
            voided_at: i.voided_at,
            void_reason: i.void_reason,
            amount_paid: i.settlement.amount_paid.amount(),
            amount_credited: i.settlement.amount_credited.amount(),
            amount_due: i.settlement.amount_due.amount(),
            payments: i
                .settlement
                .payments
                .iter()
                .map(|p| payment_dto(p, i.currency))
                .collect(),
            payment_failures: i.settlement.failures.iter().map(failure_dto).collect(),
            credit_notes: i
                .settlement
                .credit_notes
                .iter()
                .map(|c| CreditNoteRefDto {
                    id: c.id.to_string(),
                    number: c.number.clone(),
                    issue_date: c.issue_date,
                    total: c.total.amount(),
                })
                .collect(),
            prepaid: s
                .prepaid
                .iter()
                .map(|p| prepaid_dto(p, i.currency))
                .collect(),
            balance_deductions: s
                .deductions
                .iter()
                .map(|d| DeductionDto {
                    credit_note_number: d.credit_note_number.clone(),
                    amount: money(d.amount_minor),
                })
                .collect(),
            replaces: s.replaces.as_ref().map(|r| ReplacedDto {
                invoice_id: r.invoice_id.clone(),
                number: r.number.clone(),
                issue_date: r.issue_date,
            }),
            vat_in_eur: s.vat_in_eur.map(VatInEurDto::from),
            e_invoice: i.e_invoice.map(EInvoiceDto::from),
            e_invoicing: None,
        }
    }
}

/// The invoices as the API shows them, each with its e-invoicing summary
/// (read in one query).
pub async fn invoice_dtos(
    state: &AppState,
    account: &AccountId,
    invoices: Vec<Invoice>,
) -> Result<Vec<InvoiceDto>, ApiError> {
    let ids: Vec<&str> = invoices
        .iter()
        .filter(|i| i.status != InvoiceStatus::Draft)
        .map(|i| i.id.as_str())
        .collect();
    let mut summaries = e_invoicing::summaries(&state.store, account, &ids).await?;
    Ok(invoices
        .into_iter()
        .map(|i| {
            let summary = summaries.remove(i.id.as_str());
            let status = i.status;
            let mut dto = InvoiceDto::from(i);
            dto.e_invoicing = summary.map(|s| summary_dto(s, Some(status)));
            dto
        })
        .collect())
}

/// One invoice as the API shows it, with its e-invoicing summary.
pub async fn invoice_dto(state: &AppState, invoice: Invoice) -> Result<InvoiceDto, ApiError> {
    let account = invoice.account_id.clone();
    let mut dtos = invoice_dtos(state, &account, vec![invoice]).await?;
    dtos.pop()
        .ok_or_else(|| ApiError::internal("one invoice shown"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    /// Issued on or after this day.
    pub from: Option<Date>,
    /// Issued on or before this day.
    pub to: Option<Date>,
}

/// List the account's invoices, oldest first: drafts (composed now) and
/// issued ones. Drafts have no issue date yet: `from`/`to` leave them out.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices", operation_id = "list_invoices", tag = "invoices",
    params(InvoiceFilter, PageQuery),
    responses(
        (status = 200, description = "A page of invoices", body = Paginated<InvoiceDto>),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    filter: web::Query<InvoiceFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = invoices::list(
        &state.store,
        &ctx,
        &state.seller,
        &account,
        filter.status,
        filter.from,
        filter.to,
        &query.page()?,
    )
    .await?;
    let has_more = page.has_more;
    let dtos = invoice_dtos(&state, &account, page.items).await?;
    let page = crate::store::Page {
        items: dtos,
        has_more,
    };
    Ok(HttpResponse::Ok().json(Paginated::<InvoiceDto>::new(page, |i| i.id.clone())))
}

/// An invoice: issued, or a draft composed now.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}", operation_id = "get_invoice", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The invoice", body = InvoiceDto),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let invoice = invoices::get(&state.store, &ctx, &state.seller, &account, &id).await?;
    Ok(HttpResponse::Ok().json(invoice_dto(&state, invoice).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRunRequest {
    /// The month to bill, `YYYY-MM`; its invoices are issued on its 1st.
    #[validate(length(equal = 7, message = "must be a month such as 2026-05"))]
    #[schema(
        min_length = 7,
        max_length = 7,
        pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$",
        example = "2026-05"
    )]
    pub period: String,
    /// Only these accounts (at most 1,000); every account when absent.
    #[validate(length(min = 1, max = 1000, message = "must list 1 to 1,000 account ids"))]
    #[schema(min_items = 1, max_items = 1000, example = json!(null))]
    pub account_ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedDto {
    pub account_id: String,
    pub invoice_id: String,
    #[schema(example = "F-2026-000123")]
    pub number: String,
}

/// A draft a run made: finalized when the grace period ends.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DraftedDto {
    pub account_id: String,
    pub invoice_id: String,
}

/// An account a run skipped: the period's 1st has not begun in its timezone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SkippedDto {
    pub account_id: String,
    /// The error code of why: `period_not_started`.
    #[schema(value_type = crate::error::Code)]
    pub code: String,
}

/// A draft a run could not finalize: it stays a draft until what `code`
/// says is resolved (the finalizer then issues it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HeldDto {
    pub account_id: String,
    pub invoice_id: String,
    #[serde(flatten)]
    pub hold: HoldDto,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailedDto {
    pub account_id: String,
    pub error: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BillingRunDto {
    #[schema(example = "2026-05")]
    pub period: String,
    /// Invoices issued (finalized at once: no grace period).
    pub issued: Vec<IssuedDto>,
    /// Drafts made, finalized when `COMPTOIR_INVOICE_GRACE` has passed.
    pub drafted: Vec<DraftedDto>,
    /// Accounts whose invoice of the period already existed.
    pub already_issued: usize,
    /// Accounts whose draft of the period already existed.
    pub already_drafted: usize,
    /// Accounts skipped: the period's 1st has not begun in their timezone
    /// yet (run again later: nothing is made twice).
    pub skipped: Vec<SkippedDto>,
    /// Drafts that could not be finalized (no verified billing address...),
    /// with why: they stay drafts.
    pub held: Vec<HeldDto>,
    /// Accounts with nothing to bill.
    pub nothing_to_bill: usize,
    /// Accounts whose invoice could not be issued; the run went on.
    pub failed: Vec<FailedDto>,
}

/// Bill a period (staff): every account (or the ones listed), one
/// transaction each. Each account with something to bill gets a draft,
/// finalized once `COMPTOIR_INVOICE_GRACE` has passed (at once by default,
/// then reported as issued): numbered `F-YYYY-NNNNNN` from the sequence of
/// its issue date's year, dated the day it is finalized, without gaps also
/// under concurrent runs. A period is billed from its 1st in each account's
/// timezone (others are skipped and reported); a past period may still be
/// billed. Running it again makes nothing twice.
#[utoipa::path(post, path = "/v1/billing-runs", operation_id = "run_billing", tag = "invoices",
    request_body = BillingRunRequest,
    responses(
        (status = 200, description = "What the run did", body = BillingRunDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "period_not_started: the period's 1st has begun nowhere yet; validation_failed: a bad period or account id, or a test account's (billed by its clock)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn run(
    state: web::Data<AppState>,
    ctx: Ctx,
    body: ValidJson<BillingRunRequest>,
) -> Result<HttpResponse, ApiError> {
    let period = Period::parse(&body.value.period)
        .ok_or_else(|| ApiError::validation("period", "must be a month such as 2026-05"))?;
    let only = match &body.value.account_ids {
        Some(ids) => {
            let mut parsed = Vec::with_capacity(ids.len());
            for (i, raw) in ids.iter().enumerate() {
                let id = AccountId::parse(raw).ok_or_else(|| {
                    ApiError::validation(format!("account_ids[{i}]"), "must be an account id")
                })?;
                // Its billing runs happen at its clock's time, when the
                // clock is advanced past the 1st.
                if id.is_test() {
                    return Err(ApiError::validation(
                        format!("account_ids[{i}]"),
                        "is a test account: it is billed when its test clock is advanced past the 1st",
                    ));
                }
                parsed.push(id);
            }
            Some(parsed)
        }
        None => None,
    };
    let report = invoices::run(
        &state.store,
        &ctx,
        &state.billing(),
        period,
        only.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(run_dto(period, report)))
}

pub fn run_dto(period: Period, r: RunReport) -> BillingRunDto {
    BillingRunDto {
        period: period.to_string(),
        issued: r
            .issued
            .into_iter()
            .map(|(account, number, id)| IssuedDto {
                account_id: account.to_string(),
                invoice_id: id.to_string(),
                number,
            })
            .collect(),
        drafted: r
            .drafted
            .into_iter()
            .map(|(account, id)| DraftedDto {
                account_id: account.to_string(),
                invoice_id: id.to_string(),
            })
            .collect(),
        already_issued: r.already_issued,
        already_drafted: r.already_drafted,
        skipped: r
            .not_started
            .into_iter()
            .map(|account| SkippedDto {
                account_id: account.to_string(),
                code: Code::PeriodNotStarted.as_str().to_owned(),
            })
            .collect(),
        held: r
            .held
            .into_iter()
            .map(|(account, id, hold)| HeldDto {
                account_id: account.to_string(),
                invoice_id: id.to_string(),
                hold: hold.into(),
            })
            .collect(),
        nothing_to_bill: r.nothing_to_bill,
        failed: r
            .failed
            .into_iter()
            .map(|(account, error)| FailedDto {
                account_id: account.to_string(),
                error,
            })
            .collect(),
    }
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ApiError> {
    InvoiceId::parse(raw).ok_or(ApiError::NotFound("invoice"))
}

/// Finalize a draft now (staff), whatever its grace period: it gets its
/// number from the sequence of today's year, today's date in the account's
/// timezone, and its frozen snapshot; everything it bills is marked billed
/// and its emails are queued, in one transaction. Before it, a buyer's VAT
/// number of another EU state whose last conclusive check is absent or
/// older than 30 days is checked in VIES again.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/finalize", operation_id = "finalize_invoice", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The invoice, issued", body = InvoiceDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_draft: issued already; draft_empty: the draft has nothing to bill any more; billing_address_unverified: held, the account has no verified primary billing address; vat_number_unchecked: held, the buyer's EU VAT number has no conclusive VIES or manual check; exchange_rate_missing: held, no rate of its currency on or before today", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn finalize(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let invoice =
        invoices::finalize_by_staff(&state.store, &ctx, &state.billing(), &account, &id).await?;
    Ok(HttpResponse::Ok().json(invoice_dto(&state, invoice).await?))
}

/// Mark an issued invoice paid (staff), e.g. after a bank transfer: records
/// a payment of the amount due, today (method `other`, reference
/// `mark-paid`). To record the amount, date and reference received, post a
/// payment instead (`.../payments`).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/mark-paid", operation_id = "mark_invoice_paid", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The invoice, paid", body = InvoiceDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_open: already paid or void, or a draft", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_paid(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let invoice = invoice_payments::mark_paid(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::Ok().json(invoice_dto(&state, invoice).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// Why the invoice is void (kept with it).
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        example = "Issued on the wrong account"
    )]
    pub reason: String,
}

/// Void an invoice (staff), with a reason: an issued invoice is never
/// voided, so this issues a credit note of everything still creditable on
/// it, with that reason (as `POST .../credit-notes` without lines), and
/// answers the invoice, now `credited`.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/void", operation_id = "void_invoice", tag = "invoices",
    request_body = VoidRequest,
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The invoice, credited", body = InvoiceDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_open: already fully credited, voided before credit notes existed, or a draft", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn void(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<VoidRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let reason = crate::domain::account::clean_name(&body.value.reason, 500)
        .ok_or_else(|| ApiError::validation("reason", "must be 1 to 500 characters"))?;
    let invoice = crate::service::credit_notes::void(
        &state.store,
        &ctx,
        &state.issuer(),
        &account,
        &id,
        &reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(invoice_dto(&state, invoice).await?))
}

async fn rendering(
    state: &AppState,
    ctx: &Ctx,
    account: &Authorized,
    path: &ItemId,
) -> Result<Invoice, ApiError> {
    invoices::get(
        &state.store,
        ctx,
        &state.seller,
        account,
        &invoice_id(path)?,
    )
    .await
}

fn inline_file(name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(name)],
    }
}

/// The invoice as a standalone printable HTML page; French unless
/// `Accept-Language` prefers English. A draft is marked BROUILLON/DRAFT
/// where its number will be.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/html", operation_id = "invoice_html", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Accept-Language" = Option<String>, Header, description = "`en` for English; French otherwise")),
    responses(
        (status = 200, description = "The invoice page", content_type = "text/html", body = String),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn html(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    req: HttpRequest,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let invoice = rendering(&state, &ctx, &account, &path).await?;
    let lang = Lang::from_request(&req);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(inline_file(format!("{}.html", number(&invoice, lang))))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            crate::render::HTML_CONTENT_SECURITY_POLICY,
        ))
        .body(crate::render::invoice::html(&invoice, lang)))
}

/// The invoice as a PDF (A4, embedded fonts, real text). An issued invoice
/// is its e-invoice: the Factur-X PDF (PDF/A-3B with the CII embedded)
/// stored when it was issued, in the account's `invoice_language`, exactly
/// the bytes whose SHA-256 is `e_invoice.pdf.sha256`, forever. A draft is a
/// preview rendered now, French unless `Accept-Language` prefers English,
/// marked BROUILLON/DRAFT where its number will be.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/pdf", operation_id = "invoice_pdf", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Accept-Language" = Option<String>, Header, description = "Drafts only: `en` for English; French otherwise")),
    responses(
        (status = 200, description = "The invoice PDF: the stored Factur-X of an issued invoice, a preview of a draft", content((FileBytes = "application/pdf"))),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pdf(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    req: HttpRequest,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let invoice = rendering(&state, &ctx, &account, &path).await?;
    let lang = Lang::from_request(&req);
    let bytes = if invoice.number.is_some() {
        einvoices::file(
            &state.store,
            &state.blobs,
            Issued::Invoice(&invoice),
            Format::Pdf,
            ctx.now,
        )
        .await?
    } else {
        crate::render::invoice::pdf(&invoice, lang)
    };
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(inline_file(format!("{}.pdf", number(&invoice, lang))))
        .body(bytes))
}

/// An e-invoice's two XML syntaxes.
#[derive(Debug, Clone, Copy)]
pub(super) enum XmlSyntax {
    /// UN/CEFACT CII D16B, the XML the Factur-X PDF embeds.
    Cii,
    /// UBL 2.1.
    Ubl,
}

impl XmlSyntax {
    /// `F-2026-000001.cii.xml`.
    pub(super) fn file_name(self, number: &str) -> String {
        match self {
            XmlSyntax::Cii => format!("{number}.cii.xml"),
            XmlSyntax::Ubl => format!("{number}.ubl.xml"),
        }
    }

    /// The stored file it is.
    pub(super) fn format(self) -> Format {
        match self {
            XmlSyntax::Cii => Format::Cii,
            XmlSyntax::Ubl => Format::Ubl,
        }
    }
}

/// An XML download, named after its document.
pub(super) fn xml_file(name: String, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml")
        .insert_header(inline_file(name))
        .body(body)
}

/// An issued invoice's e-invoice in one XML syntax; a draft has none.
async fn e_invoice(
    state: &AppState,
    ctx: &Ctx,
    account: &Authorized,
    path: &ItemId,
    syntax: XmlSyntax,
) -> Result<HttpResponse, ApiError> {
    let invoice = rendering(state, ctx, account, path).await?;
    let number = match (&invoice.number, invoice.status) {
        (Some(n), status) if status != InvoiceStatus::Draft => n.clone(),
        _ => {
            return Err(ApiError::rule(
                Code::DraftHasNoEInvoice,
                "this invoice is a draft: its e-invoice exists once it is finalized",
            ));
        }
    };
    let bytes = einvoices::file(
        &state.store,
        &state.blobs,
        Issued::Invoice(&invoice),
        syntax.format(),
        ctx.now,
    )
    .await?;
    Ok(xml_file(syntax.file_name(&number), bytes))
}

/// The invoice's e-invoice as UN/CEFACT CII XML (EN 16931 with the French
/// CTC data: the XML its Factur-X PDF embeds).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/cii.xml", operation_id = "invoice_cii", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The CII XML (EN 16931)", content((FileBytes = "application/xml"))),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft has no e-invoice (`draft_has_no_e_invoice`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cii(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    e_invoice(&state, &ctx, &account, &path, XmlSyntax::Cii).await
}

/// The invoice's e-invoice as UBL 2.1 XML (EN 16931 with the French CTC data).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/ubl.xml", operation_id = "invoice_ubl", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The UBL 2.1 XML (EN 16931)", content((FileBytes = "application/xml"))),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft has no e-invoice (`draft_has_no_e_invoice`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ubl(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    e_invoice(&state, &ctx, &account, &path, XmlSyntax::Ubl).await
}

/// Where an invoice email's delivery stands.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum InvoiceEmailStatus {
    /// Queued, or waiting for a retry.
    Pending,
    Sent,
    /// Refused for good, or tried too often.
    Failed,
}

/// One email of an invoice: to whom, and how its delivery went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceEmailDto {
    pub id: String,
    #[schema(example = "compta@example.fr")]
    pub recipient: String,
    #[schema(example = "Votre facture F-2026-000123 - Comptoir Télécom SAS")]
    pub subject: String,
    /// `pending` (queued, or waiting for a retry), `sent` or `failed`.
    #[schema(value_type = InvoiceEmailStatus, example = "sent")]
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due, for a pending email already tried.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Why the last attempt failed (the mail server's answer).
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The credit note the email carries (its PDF attached); null for the
    /// invoice's own emails.
    #[schema(example = json!(null))]
    pub credit_note_id: Option<String>,
}

/// The invoice's emails: one per recipient when it was issued, and one per
/// recipient for each of its credit notes, with their delivery status. The
/// PDF (the invoice's, or the credit note's) is attached to each.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/emails", operation_id = "list_invoice_emails", tag = "invoices",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), PageQuery),
    responses(
        (status = 200, description = "A page of the invoice's emails, oldest first", body = Paginated<InvoiceEmailDto>),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn emails(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let page = invoices::emails(&state.store, &account, &id, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |r| r.id.clone(),
        |r| InvoiceEmailDto {
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.filter(|_| r.attempts > 0),
            last_error: r.last_error,
            sent_at: r.sent_at,
            created_at: r.created_at,
            credit_note_id: r.credit_note_id,
        },
    )))
}
