//! E-invoicing with the approved platform (PA): the platform's signed
//! webhook `POST /v1/webhooks/e-invoicing`, each invoice's and credit note's
//! `.../e-invoicing-events`, and the staff-wide list of documents to correct
//! `/v1/e-invoicing/attention`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::credits::{WebhookAck, signed_event, webhook_ctx};
use super::extract::{PageQuery, Paginated};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::consumption::to_stored_instant;
use crate::domain::e_invoicing::{
    DocumentStanding, DocumentType, EInvoiceStatus, EventKind, REASON_MAX_CHARS, needs_attention,
};
use crate::domain::ids::{CreditNoteId, InvoiceId};
use crate::domain::issued::InvoiceStatus;
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::Ctx;
use crate::service::e_invoicing::{self, Received, Summary};
use crate::store::e_invoicing::EventRow;

/// Where a document stands with the approved e-invoicing platform.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "rejected", "code": "213", "status_at": "2026-05-01T08:00:00Z",
    "reason": "BR-FR-11: the buyer's SIREN is missing", "platform_id": "pa-7f3a", "needs_credit_note": true}))]
pub struct EInvoicingDto {
    /// `pending` (queued: not deposited yet, also while no platform is
    /// configured or while it is retried), `transmitted` (deposited, no
    /// status yet), `failed` (not deposited after every retry), or the last
    /// lifecycle status: `deposited` (200), `refused` (210), `collected`
    /// (212), `rejected` (213)...
    pub status: EInvoiceStatus,
    /// The lifecycle code of the French norm (`200`, `210`, `212`, `213`...);
    /// null for `pending`, `transmitted` and `failed`.
    #[schema(example = "213")]
    pub code: Option<String>,
    /// When it took this status (the platform's date for its statuses).
    #[serde(with = "time::serde::rfc3339")]
    pub status_at: OffsetDateTime,
    /// The platform's or the buyer's reason; for `pending` after a failed
    /// attempt and for `failed`, the last error.
    #[schema(example = "BR-FR-11: the buyer's SIREN is missing")]
    pub reason: Option<String>,
    /// The platform's id of the document, once deposited.
    #[schema(example = "pa-7f3a")]
    pub platform_id: Option<String>,
    /// Rejected by the platform (213) or refused by the buyer (210), and
    /// not corrected yet: staff issue a credit note of the invoice (true
    /// until credit notes cover it entirely, or a later status replaces
    /// the rejection).
    pub needs_credit_note: bool,
}

/// `s` as the JSON shows it; `invoice`: the document's status when it is
/// an invoice.
pub fn summary_dto(s: Summary, invoice: Option<InvoiceStatus>) -> EInvoicingDto {
    EInvoicingDto {
        needs_credit_note: needs_attention(s.status, invoice),
        code: s.status.code().map(str::to_owned),
        status: s.status,
        status_at: s.status_at,
        reason: s.reason,
        platform_id: s.platform_id,
    }
}

/// Which kind of document an e-invoice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EInvoiceDocumentType {
    /// An invoice: of a period, reissued, or an advance payment invoice
    /// (acompte).
    Invoice,
    CreditNote,
}

/// An e-invoice's standing with the approved platform, as an
/// `e_invoice.status_changed` event carries it: the document, and the
/// `e_invoicing` summary its JSON shows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"document_id": "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70", "document_type": "invoice",
    "number": "F-2026-000123", "status": "rejected", "code": "213", "status_at": "2026-05-01T08:00:00Z",
    "reason": "BR-FR-11: the buyer's SIREN is missing", "platform_id": "pa-7f3a"}))]
pub struct EInvoiceStatusDto {
    /// The invoice's (`inv_...`) or credit note's (`cn_...`) id.
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub document_id: String,
    #[schema(inline)]
    pub document_type: EInvoiceDocumentType,
    #[schema(example = "F-2026-000123")]
    pub number: String,
    /// Its new status (as in the document's `e_invoicing`).
    pub status: EInvoiceStatus,
    /// The lifecycle code; null for `pending`, `transmitted` and `failed`.
    #[schema(example = "213")]
    pub code: Option<String>,
    /// When it took this status (the platform's date for its statuses).
    #[serde(with = "time::serde::rfc3339")]
    pub status_at: OffsetDateTime,
    /// The platform's or the buyer's reason; for `failed`, the last error.
    #[schema(example = "BR-FR-11: the buyer's SIREN is missing")]
    pub reason: Option<String>,
    /// The platform's id of the document, once deposited.
    #[schema(example = "pa-7f3a")]
    pub platform_id: Option<String>,
}

impl From<&DocumentStanding> for EInvoiceStatusDto {
    fn from(d: &DocumentStanding) -> Self {
        EInvoiceStatusDto {
            document_id: d.document_id.clone(),
            document_type: match d.document_type {
                DocumentType::Invoice | DocumentType::Advance => EInvoiceDocumentType::Invoice,
                DocumentType::CreditNote => EInvoiceDocumentType::CreditNote,
            },
            number: d.number.clone(),
            status: d.summary.status,
            code: d.summary.status.code().map(str::to_owned),
            status_at: d.summary.status_at,
            reason: d.summary.reason.clone(),
            platform_id: d.summary.platform_id.clone(),
        }
    }
}

/// One thing that happened to a document with the platform.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EInvoicingEventDto {
    #[schema(example = "eie_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    /// `queued` (when issued), `transmitted` (deposited: `reason` names the
    /// platform's id), `rejected` (refused at deposit, 213),
    /// `transmission_failed` (not deposited after every retry),
    /// `status_received` (from the platform's webhook), `status_queued`,
    /// `status_sent` and `status_failed` (a status Comptoir reports: 212
    /// when a payment is recorded).
    pub kind: EventKind,
    /// The lifecycle code, for statuses and rejections.
    #[schema(example = "212")]
    pub code: Option<String>,
    /// The status that code names.
    pub status: Option<EInvoiceStatus>,
    /// When it happened (the platform's date for the statuses it reports).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[schema(example = json!(null))]
    pub reason: Option<String>,
    /// A 212's amount collected, VAT included.
    #[schema(example = "120.00")]
    pub amount: Option<String>,
    pub currency: Option<Currency>,
    /// A 212's day of collection.
    pub collected_on: Option<Date>,
    /// The platform's event id, for statuses received.
    #[schema(example = json!(null))]
    pub platform_event_id: Option<String>,
    /// When Comptoir recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

fn event_dto(e: EventRow) -> EInvoicingEventDto {
    let currency = e.currency.as_deref().and_then(Currency::parse);
    EInvoicingEventDto {
        id: e.id,
        kind: EventKind::parse(&e.kind).unwrap_or(EventKind::StatusReceived),
        status: e.code.as_deref().and_then(EInvoiceStatus::from_code),
        code: e.code,
        occurred_at: e.occurred_at,
        reason: e.reason,
        amount: e
            .amount_minor
            .zip(currency)
            .map(|(minor, c)| Money::from_minor(minor, c).amount()),
        currency,
        collected_on: e.collected_on,
        platform_event_id: e.platform_event_id,
        recorded_at: e.created_at,
    }
}

async fn events_of(
    state: &AppState,
    scope: AccountScope,
    document_id: &str,
    query: &PageQuery,
) -> Result<HttpResponse, ApiError> {
    let page =
        e_invoicing::events(&state.store, &scope.account, document_id, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(page, |e| e.id.clone(), event_dto)))
}

/// What happened to the invoice with the approved e-invoicing platform,
/// oldest first: queued when issued, deposited (or rejected at deposit, or
/// failed after every retry), the lifecycle statuses the platform reported
/// (200 déposée, 210 refusée, 213 rejetée...) with their dates and reasons,
/// and the 212 (encaissée) statuses each payment queued, with the amount
/// and the day collected, and their delivery. A draft has none yet.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoices/{invoice_id}/e-invoicing-events", operation_id = "list_invoice_e_invoicing_events", tag = "e-invoicing",
    params(("invoice_id" = String, Path, description = "Invoice id", example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), PageQuery),
    responses(
        (status = 200, description = "A page of the invoice's e-invoicing events, oldest first", body = Paginated<EInvoicingEventDto>),
        (status = 403, description = "Integrations cannot read invoices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or invoice, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invoice_events(
    state: web::Data<AppState>,
    scope: AccountScope,
    path: ItemId,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = InvoiceId::parse(&path).ok_or(ApiError::NotFound("invoice"))?;
    events_of(&state, scope, id.as_str(), &query).await
}

/// What happened to the credit note with the approved e-invoicing
/// platform, oldest first (as for invoices).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/credit-notes/{credit_note_id}/e-invoicing-events", operation_id = "list_credit_note_e_invoicing_events", tag = "e-invoicing",
    params(("credit_note_id" = String, Path, description = "Credit note id", example = "cn_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), PageQuery),
    responses(
        (status = 200, description = "A page of the credit note's e-invoicing events, oldest first", body = Paginated<EInvoicingEventDto>),
        (status = 403, description = "Integrations cannot read credit notes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or credit note, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn credit_note_events(
    state: web::Data<AppState>,
    scope: AccountScope,
    path: ItemId,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = CreditNoteId::parse(&path).ok_or(ApiError::NotFound("credit note"))?;
    events_of(&state, scope, id.as_str(), &query).await
}

/// A document staff must correct or look into.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttentionDto {
    #[schema(example = "acc_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub account_id: String,
    /// The invoice's or credit note's id.
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub document_id: String,
    #[schema(example = "F-2026-000123")]
    pub number: String,
    /// `380` invoice, `381` credit note, `386` advance payment invoice.
    #[schema(example = "380")]
    pub type_code: String,
    pub e_invoicing: EInvoicingDto,
}

/// The documents staff must look at (staff), by id: invoices and credit
/// notes the platform rejected (213) or the buyer refused (210), and not
/// credited since (`needs_credit_note`: issue a credit note of the invoice;
/// an invoice leaves the list once credit notes cover it entirely), and
/// those never deposited (`failed`: the platform could not be reached after
/// every retry; the reason is the last error). Each rejection or refusal
/// is also in the audit log (`e_invoice.flagged`).
#[utoipa::path(get, path = "/v1/e-invoicing/attention", operation_id = "list_e_invoicing_attention", tag = "e-invoicing",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of documents, by id", body = Paginated<AttentionDto>),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn attention(
    state: web::Data<AppState>,
    ctx: Ctx,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = e_invoicing::attention(&state.store, &ctx, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |a| a.document.document_id.clone(),
        |a| AttentionDto {
            account_id: a.document.account_id,
            document_id: a.document.document_id,
            number: a.document.number,
            type_code: a.document.type_code,
            e_invoicing: summary_dto(a.summary, a.invoice_status),
        },
    )))
}

/// A lifecycle status reported by the approved platform.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"id": "evt_pa_0001", "document_id": "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70",
    "code": "213", "date": "2026-05-01T08:00:00Z", "reason": "BR-FR-11: the buyer's SIREN is missing"}))]
pub struct PlatformEventBody {
    /// The platform's event id: an event delivered again is acknowledged
    /// and changes nothing.
    #[schema(min_length = 1, max_length = 200, example = "evt_pa_0001")]
    pub id: String,
    /// Comptoir's id of the document (`inv_...`, `cn_...`), as deposited in
    /// its metadata; or give `platform_id`.
    #[schema(example = "inv_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub document_id: Option<String>,
    /// The platform's id of the document, as it answered the deposit.
    #[schema(example = json!(null))]
    pub platform_id: Option<String>,
    /// The lifecycle code of the French norm: `200` déposée, `201`...`209`,
    /// `210` refusée, `211`, `212` encaissée, `213` rejetée, `214`, `220`,
    /// `221`, `224`...`228`; a string (a number is read too).
    #[schema(value_type = String, example = "213")]
    pub code: serde_json::Value,
    /// When the status was taken, RFC 3339 (or a day, `2026-05-01`, read as
    /// its midnight UTC), not in the future; now when absent.
    #[schema(example = "2026-05-01T08:00:00Z")]
    pub date: Option<String>,
    /// Why (a rejection's rule, a refusal's motive): kept when it is 1 to
    /// 500 characters without control or invisible characters.
    #[schema(max_length = 500, example = "BR-FR-11: the buyer's SIREN is missing")]
    pub reason: Option<String>,
}

/// How far in the future a status's date may be (the clocks' skew).
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// The event's fields, all checked at once (a 422 names each bad one).
fn received(body: PlatformEventBody, now: OffsetDateTime) -> Result<Received, ApiError> {
    let mut errors = FieldErrors::default();
    let event_id = errors.check(
        "id",
        Some(body.id).filter(|id| (1..=200).contains(&id.chars().count())),
        "must be 1 to 200 characters",
    );
    let id_field = |raw: Option<String>| raw.filter(|s| (1..=200).contains(&s.chars().count()));
    let (document_id, platform_id) = (id_field(body.document_id), id_field(body.platform_id));
    if document_id.is_none() && platform_id.is_none() {
        errors.check::<()>(
            "document_id",
            None,
            "give the document's id (document_id) or the platform's (platform_id)",
        );
    }
    let code = match &body.code {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let status = errors.check(
        "code",
        code.as_deref().and_then(EInvoiceStatus::from_code),
        "must be a lifecycle code of the norm: 200 to 214, 220, 221, 224 to 228",
    );
    let at = match body.date {
        None => Some(now),
        Some(raw) => errors
            .check(
                "date",
                OffsetDateTime::parse(&raw, &Rfc3339).ok().or_else(|| {
                    Date::parse(&raw, &time::format_description::well_known::Iso8601::DATE)
                        .ok()
                        .map(|d| d.midnight().assume_utc())
                }),
                "must be an RFC 3339 instant such as 2026-05-01T08:00:00Z, or a day",
            )
            .and_then(|at| {
                errors.check(
                    "date",
                    (at <= now + FUTURE_TOLERANCE).then(|| to_stored_instant(at)),
                    "must not be in the future",
                )
            }),
    };
    let reason = errors.check_opt(
        "reason",
        body.reason,
        |r| clean_name(&r, REASON_MAX_CHARS),
        "must be 1 to 500 characters, without control or invisible characters",
    );
    errors.finish()?;
    let (Some(event_id), Some(status), Some(at)) = (event_id, status, at) else {
        return Err(ApiError::internal("platform event checked twice"));
    };
    Ok(Received {
        event_id,
        document_id,
        platform_id,
        status,
        at,
        reason,
    })
}

/// The approved e-invoicing platform's callback: a lifecycle status of a
/// deposited document. Signed, not bearer-authenticated:
/// `Comptoir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
/// with `COMPTOIR_PA_WEBHOOK_SECRET`, within 5 minutes.
///
/// The status is recorded on the document (its `e_invoicing` summary, unless
/// a status of a later date is recorded already) and listed in its
/// `e-invoicing-events`, with its date and reason. A rejection (213) or a
/// refusal (210) flags the document to staff: it needs a credit note
/// (`GET /v1/e-invoicing/attention`, audit event `e_invoice.flagged`). An
/// event id already received, or a document Comptoir does not know, is
/// answered 200 with `applied: false`, so the platform stops retrying; a
/// bad field is a 422 naming it and records nothing.
#[utoipa::path(post, path = "/v1/webhooks/e-invoicing", operation_id = "e_invoicing_webhook", tag = "e-invoicing",
    request_body = PlatformEventBody,
    responses(
        (status = 200, description = "Acknowledged", body = WebhookAck),
        (status = 401, description = "invalid_signature: missing, wrong or too old", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field: `id`, `document_id` (neither it nor `platform_id`), `code` (not a lifecycle code), `date` (unreadable or in the future), `reason`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "COMPTOIR_PA_WEBHOOK_SECRET is not set", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let event: PlatformEventBody = signed_event(
        &req,
        state.pa_webhook_secret.as_ref(),
        "COMPTOIR_PA_WEBHOOK_SECRET is not set",
        &body,
        now,
    )?;
    let received = received(event, now)?;
    let ctx = webhook_ctx("e-invoicing-webhook", now);
    let applied = e_invoicing::record_received(&state.store, &ctx, received).await?;
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        applied,
    }))
}
