//! `/v1/accounts/{a}/invoices/{id}/credit-notes` (issue a credit note of an
//! invoice), `/v1/accounts/{a}/credit-notes` (read them) and their refunds.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::invoices::{InvoiceDto, XmlSyntax, xml_file};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::credit_note::CreditNote;
use crate::domain::ids::{CreditNoteId, InvoiceId, InvoiceLineId};
use crate::domain::invoice::{LineKind, TaxTreatment};
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, Problem};
use crate::render::Lang;
use crate::service::credit_notes::{self, LineAsk, Refund};
use crate::service::einvoices::{self, Format, Issued};

/// One line to credit: a whole `quantity` of units of the invoice line at
/// its unit price, or an `amount` of it; exactly one of the two.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLineRequest {
    /// The invoice line's `id`.
    #[schema(
        example = "il_0197c5e2a4b07d3e9f1a2b3c4d5e6f700001",
        min_length = 1,
        max_length = 80
    )]
    pub invoice_line: String,
    /// Units to credit at the line's unit price: a whole number (422
    /// `credit_quantity_not_whole` otherwise).
    #[schema(example = 1, minimum = 1, maximum = 1000000)]
    pub quantity: Option<f64>,
    /// An amount of the line, in the invoice's currency (0.01 to
    /// 100000000.00, and at most what remains of the line).
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^(0*[1-9][0-9]{0,7}(\.[0-9]{1,2})?|0*100000000(\.0{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$",
        example = "64.00"
    )]
    pub amount: Option<String>,
}

/// Issue a credit note (staff).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "One license billed twice",
    "lines": [{"invoice_line": "il_0197c5e2a4b07d3e9f1a2b3c4d5e6f700001", "quantity": 1}]}))]
pub struct CreditNoteRequest {
    /// Why the invoice is corrected (printed on the credit note).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        example = "One license billed twice"
    )]
    pub reason: String,
    /// Left out: everything still creditable is credited.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Option<Vec<CreditLineRequest>>,
}

/// A line of a credit note: positive amounts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteLineDto {
    /// The credited invoice line's id.
    #[schema(example = "il_0197c5e2a4b07d3e9f1a2b3c4d5e6f700001")]
    pub invoice_line: String,
    pub kind: LineKind,
    #[schema(example = "ADVANCED license")]
    pub description: String,
    #[schema(example = "ADVANCED")]
    pub plan: Option<String>,
    #[schema(example = 1)]
    pub quantity: u32,
    #[schema(example = "64.00")]
    pub unit_amount: String,
    #[schema(example = "64.00")]
    pub amount: String,
}

/// A credit note (facture d'avoir): numbered in its own gapless series,
/// referencing the invoice it corrects; never changed once issued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteDto {
    #[schema(example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "AV-2026-000001")]
    pub number: String,
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub invoice_id: String,
    #[schema(example = "F-2026-000005")]
    pub invoice_number: String,
    pub invoice_issue_date: Date,
    pub issue_date: Date,
    #[schema(example = "One license billed twice")]
    pub reason: String,
    pub lines: Vec<CreditNoteLineDto>,
    #[schema(example = "64.00")]
    pub subtotal: String,
    /// In percent: the invoice's.
    #[schema(example = "20")]
    pub tax_rate: String,
    pub tax_treatment: TaxTreatment,
    #[schema(example = "12.80")]
    pub tax_amount: String,
    #[schema(example = "76.80")]
    pub total: String,
    pub currency: Currency,
    /// The part that lowered the invoice's amount due.
    #[schema(example = "76.80")]
    pub applied_to_invoice: String,
    /// The part beyond the invoice's amount due, put on the customer balance.
    #[schema(example = "0.00")]
    pub to_balance: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// For a credit note in another currency than EUR with VAT: its VAT
    /// total in euros, at the rate of its issue date or the last one
    /// before, else at its invoice's rate. Null in EUR or without VAT.
    #[schema(example = json!(null))]
    pub vat_in_eur: Option<super::invoices::VatInEurDto>,
    /// Its e-invoice, stored when it was issued (Factur-X PDF, CII, UBL),
    /// each with its SHA-256; the downloads return exactly these bytes.
    pub e_invoice: Option<super::invoices::EInvoiceDto>,
}

pub fn credit_note_dto(n: CreditNote) -> CreditNoteDto {
    let money = |minor| Money::from_minor(minor, n.currency).amount();
    let s = n.snapshot;
    CreditNoteDto {
        id: n.id.to_string(),
        number: n.number,
        invoice_id: n.invoice_id.to_string(),
        invoice_number: s.invoice_number,
        invoice_issue_date: s.invoice_issue_date,
        issue_date: n.issue_date,
        reason: n.reason,
        lines: s
            .lines
            .iter()
            .map(|l| CreditNoteLineDto {
                invoice_line: InvoiceLineId::of(&n.invoice_id, l.invoice_line).to_string(),
                kind: l.kind,
                description: l.description.clone(),
                plan: l.plan.clone(),
                quantity: l.quantity,
                unit_amount: money(l.unit_amount_minor),
                amount: money(l.amount_minor),
            })
            .collect(),
        subtotal: n.subtotal.amount(),
        tax_rate: s.tax_rate,
        tax_treatment: s.tax_treatment,
        tax_amount: n.tax.amount(),
        total: n.total.amount(),
        currency: n.currency,
        applied_to_invoice: n.applied.amount(),
        to_balance: n.to_balance.amount(),
        created_at: n.created_at,
        vat_in_eur: s.vat_in_eur.map(super::invoices::VatInEurDto::from),
        e_invoice: n.e_invoice.map(super::invoices::EInvoiceDto::from),
    }
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ApiError> {
    InvoiceId::parse(raw).ok_or(ApiError::NotFound("invoice"))
}

fn credit_note_id(raw: &str) -> Result<CreditNoteId, ApiError> {
    CreditNoteId::parse(raw).ok_or(ApiError::NotFound("credit note"))
}

/// Issue a credit note of an issued invoice (staff), with a reason:
/// without `lines`, of everything still creditable; with lines, of whole
/// quantities (at the line's unit price) or amounts of the invoice's
/// lines. VAT follows the invoice's treatment, rounded once on the
/// subtotal; the credit note that credits the rest takes the rest of the
/// VAT. Numbered `AV-YYYY-NNNNNN` (gapless, per year of issue), dated today
/// in the account's timezone. On an unpaid invoice it lowers `amount_due`;
/// what it takes off beyond the amount due goes to the customer balance.
/// The invoice becomes `credited` once its credit notes cover its total.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/credit-notes", operation_id = "create_credit_note", tag = "credit notes",
    request_body = CreditNoteRequest,
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The credit note", body = CreditNoteDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_open: voided before credit notes existed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field (reason, lines, a line's amount); unknown_invoice_line; credit_quantity_not_whole; credit_quantity_or_amount (both or neither); credit_exceeds_line; credit_exceeds_invoice (nothing, or not that much, remains creditable); credit_note_on_draft; idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    key: IdempotencyKey,
    body: ValidJson<CreditNoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let r = body.value;
    let lines = r.lines.map(|lines| {
        lines
            .into_iter()
            .map(|l| LineAsk {
                invoice_line: l.invoice_line,
                quantity: l.quantity,
                amount: l.amount,
            })
            .collect::<Vec<_>>()
    });
    let issuer = state.issuer();
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let note = credit_notes::issue(tx, &ctx, &issuer, &account, &id, &r.reason, lines).await?;
        credit_note_dto(note)
    })
}

/// The account's credit notes, oldest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes", operation_id = "list_credit_notes", tag = "credit notes",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of credit notes", body = Paginated<CreditNoteDto>),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = credit_notes::list(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(page, |n| n.id.to_string(), credit_note_dto)))
}

/// A credit note, as issued.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}", operation_id = "get_credit_note", tag = "credit notes",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The credit note", body = CreditNoteDto),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let note = credit_notes::get(&state.store, &account, &credit_note_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(credit_note_dto(note)))
}

/// Record a refund (staff).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "76.80", "refunded_at": "2026-04-09T09:30:00Z", "reference": "VIR REMB AV-2026-000001"}))]
pub struct RefundRequest {
    /// 0.01 up to what is left of the credit note's credit in the customer balance.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^(0*[1-9][0-9]{0,7}(\.[0-9]{1,2})?|0*100000000(\.0{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$",
        example = "76.80"
    )]
    pub amount: String,
    /// When the money was paid back: an RFC 3339 instant, not in the future.
    #[schema(format = DateTime, example = "2026-04-09T09:30:00Z")]
    pub refunded_at: String,
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "VIR REMB AV-2026-000001"
    )]
    pub reference: Option<String>,
}

/// A refund of part of a credit note's credit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundDto {
    #[schema(example = "rfd_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub credit_note_id: String,
    #[schema(example = "76.80")]
    pub amount: String,
    pub currency: Currency,
    #[serde(with = "time::serde::rfc3339")]
    pub refunded_at: OffsetDateTime,
    pub reference: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn refund_dto(r: Refund) -> RefundDto {
    RefundDto {
        id: r.id.to_string(),
        credit_note_id: r.credit_note_id.to_string(),
        amount: r.amount.amount(),
        currency: r.amount.currency(),
        refunded_at: r.refunded_at,
        reference: r.reference,
        created_at: r.created_at,
    }
}

/// Record that part of what a credit note put on the customer balance was
/// paid back to the customer (staff): never more than what is left of it
/// there (what later invoices deducted, or earlier refunds, is gone).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/refunds", operation_id = "create_credit_note_refund", tag = "credit notes",
    request_body = RefundRequest,
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The refund", body = RefundDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field (amount, refunded_at in the future, reference), refund_exceeds_credit, or idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refund(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    key: IdempotencyKey,
    body: ValidJson<RefundRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = credit_note_id(&path)?;
    let r = body.value;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let refund = credit_notes::refund(
            tx,
            &ctx,
            &account,
            &id,
            &r.amount,
            &r.refunded_at,
            r.reference,
        )
        .await?;
        refund_dto(refund)
    })
}

/// Re-invoice a fully credited invoice (staff): a new invoice for the same
/// period with a new number and today's issue date, billing what the
/// credited invoice billed (the same lines and amounts) under the account's
/// current billing address, VAT treatment and payment method, less the
/// customer balance; it names the invoice it replaces, and the items the
/// credited invoice billed are billed by it. Once per credited invoice.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/reissue", operation_id = "reissue_invoice", tag = "credit notes",
    params(("invoice_id" = String, Path, description = "The fully credited invoice's id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 201, description = "The new invoice", body = InvoiceDto),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invoice_not_credited: credit notes do not cover it in full (or a draft); already_exists: reissued already; billing_address_unverified: no verified primary billing address to decide its VAT; vat_number_unchecked: its EU VAT number has no conclusive check; exchange_rate_missing: a non-EUR invoice with VAT and no rate of its currency on or before today", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reissue(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = invoice_id(&path)?;
    let invoice = credit_notes::reissue(&state.store, &ctx, &state.issuer(), &account, &id).await?;
    Ok(HttpResponse::Created().json(super::invoices::invoice_dto(&state, invoice).await?))
}

/// A credit note's e-invoice in one XML syntax.
async fn e_invoice(
    state: &AppState,
    ctx: &crate::service::Ctx,
    account: &crate::service::Authorized,
    path: &ItemId,
    syntax: XmlSyntax,
) -> Result<HttpResponse, ApiError> {
    let note = credit_notes::get(&state.store, account, &credit_note_id(path)?).await?;
    let bytes = einvoices::file(
        &state.store,
        &state.blobs,
        Issued::CreditNote(&note),
        syntax.format(),
        ctx.now,
    )
    .await?;
    Ok(xml_file(syntax.file_name(&note.number), bytes))
}

/// The credit note's e-invoice as UN/CEFACT CII XML (type 381, EN 16931 with
/// the French CTC data: the XML its Factur-X PDF embeds).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/cii.xml", operation_id = "credit_note_cii", tag = "credit notes",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The CII XML (EN 16931)", content((crate::api::documents::FileBytes = "application/xml"))),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cii(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    e_invoice(&state, &ctx, &account, &path, XmlSyntax::Cii).await
}

/// The credit note's e-invoice as UBL 2.1 XML (a `CreditNote`, EN 16931 with
/// the French CTC data).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/ubl.xml", operation_id = "credit_note_ubl", tag = "credit notes",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The UBL 2.1 XML (EN 16931)", content((crate::api::documents::FileBytes = "application/xml"))),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ubl(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    e_invoice(&state, &ctx, &account, &path, XmlSyntax::Ubl).await
}

fn inline_file(name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(name)],
    }
}

/// The credit note as a standalone printable HTML page ("Facture d'avoir"
/// / "Credit note"): the invoice it corrects (number and issue date), the
/// reason, its lines, VAT and totals; French unless `Accept-Language`
/// prefers English.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/html", operation_id = "credit_note_html", tag = "credit notes",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"),
        ("Accept-Language" = Option<String>, Header, description = "`en` for English; French otherwise")),
    responses(
        (status = 200, description = "The credit note page", content_type = "text/html", body = String),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn html(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    req: HttpRequest,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let note = credit_notes::get(&state.store, &account, &credit_note_id(&path)?).await?;
    let lang = Lang::from_request(&req);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(inline_file(format!("{}.html", note.number)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            crate::render::HTML_CONTENT_SECURITY_POLICY,
        ))
        .body(crate::render::credit_note::html(&note, lang)))
}

/// The credit note as a PDF (A4, embedded font, real text); French unless
/// `Accept-Language` prefers English.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/pdf", operation_id = "credit_note_pdf", tag = "credit notes",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The credit note's e-invoice: the Factur-X PDF stored when it was issued, in the account's `invoice_language`, exactly the bytes whose SHA-256 is `e_invoice.pdf.sha256`", content((crate::api::documents::FileBytes = "application/pdf"))),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pdf(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let note = credit_notes::get(&state.store, &account, &credit_note_id(&path)?).await?;
    let bytes = einvoices::file(
        &state.store,
        &state.blobs,
        Issued::CreditNote(&note),
        Format::Pdf,
        ctx.now,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(inline_file(format!("{}.pdf", note.number)))
        .body(bytes))
}
