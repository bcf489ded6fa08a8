//! E-invoicing through the seller's approved platform (PA): every issued
//! invoice, acompte invoice and credit note is queued for the platform in
//! the transaction that issues it, and every payment recorded on an issued
//! invoice queues a 212 (encaissée) status, in the transaction that records
//! it. `pa_delivery` sends them; the signed webhook records the lifecycle
//! statuses the platform reports. Each document's standing is summarised
//! on its JSON, its history listed, and what the platform rejected (213) or
//! the buyer refused (210) is flagged to staff: it needs a credit note.

use std::collections::HashMap;

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use super::events::{self, Object};
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::credit_note::CreditNote;
use crate::domain::e_invoicing::{
    DocumentStanding, DocumentType, EInvoiceStatus, EventKind, Metadata, StatusReport,
};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, CreditNoteId, EInvoiceEventId, EInvoiceMessageId, InvoiceId};
use crate::domain::invoice_payment::InvoicePayment;
use crate::domain::issued::{Invoice, InvoiceKind, InvoiceStatus};
use crate::domain::money::Money;
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::e_invoicing::{AttentionRow, DocumentRow, EventRow, MessageRow, Standing};
use crate::store::{Page, Store, Tx};

/// A message kind: the document itself.
pub const DOCUMENT: &str = "document";
/// A message kind: a status Comptoir reports.
pub const STATUS: &str = "status";

pub use crate::domain::e_invoicing::Summary;

impl TryFrom<&DocumentRow> for Summary {
    type Error = ApiError;

    fn try_from(d: &DocumentRow) -> Result<Self, ApiError> {
        Ok(Summary {
            status: EInvoiceStatus::parse(&d.status)
                .ok_or_else(|| ApiError::internal("e-invoice status"))?,
            status_at: d.status_at,
            reason: d.reason.clone(),
            platform_id: d.platform_id.clone(),
        })
    }
}

impl TryFrom<&DocumentRow> for DocumentStanding {
    type Error = ApiError;

    fn try_from(d: &DocumentRow) -> Result<Self, ApiError> {
        Ok(DocumentStanding {
            document_id: d.document_id.clone(),
            document_type: DocumentType::from_code(&d.type_code)
                .ok_or_else(|| ApiError::internal("e-invoice type code"))?,
            number: d.number.clone(),
            summary: Summary::try_from(d)?,
        })
    }
}

/// Where the document `document_id` stands with the platform, read in `tx`
/// (none for a draft, or a document issued before e-invoicing was kept).
pub async fn summary_of(tx: &mut Tx, document_id: &str) -> Result<Option<Summary>, ApiError> {
    tx.e_invoice_document(document_id)
        .await?
        .as_ref()
        .map(Summary::try_from)
        .transpose()
}

/// Writes `e_invoice.status_changed` when the document's status, read in
/// `tx` after a change, is no longer `before`.
async fn emit_if_changed(
    tx: &mut Tx,
    now: OffsetDateTime,
    document_id: &str,
    before: &str,
) -> Result<(), ApiError> {
    let Some(after) = tx.e_invoice_document(document_id).await? else {
        return Ok(());
    };
    if after.status == before {
        return Ok(());
    }
    let standing = DocumentStanding::try_from(&after)?;
    events::emit(
        tx,
        now,
        &AccountId::from_trusted(after.account_id.clone()),
        EventType::EInvoiceStatusChanged,
        Object::EInvoiceStatus(&standing),
    )
    .await?;
    Ok(())
}

fn event(
    account: &str,
    document: &str,
    kind: EventKind,
    code: Option<&str>,
    occurred_at: OffsetDateTime,
    reason: Option<String>,
) -> EventRow {
    EventRow {
        id: EInvoiceEventId::generate().to_string(),
        account_id: account.to_owned(),
        document_id: document.to_owned(),
        kind: kind.as_str().to_owned(),
        code: code.map(str::to_owned),
        occurred_at,
        reason,
        amount_minor: None,
        currency: None,
        collected_on: None,
        platform_event_id: None,
        created_at: occurred_at,
    }
}

fn message(
    account: &str,
    document: &str,
    kind: &str,
    payload: String,
    now: OffsetDateTime,
) -> MessageRow {
    MessageRow {
        id: EInvoiceMessageId::generate().to_string(),
        account_id: account.to_owned(),
        document_id: document.to_owned(),
        kind: kind.to_owned(),
        payload,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        sent_at: None,
        created_at: now,
    }
}

/// The document `document_id` (`inv_...` or `cn_...`) of `account`, just
/// issued in `tx`, as sent to the platform.
async fn issued(tx: &mut Tx, account: &AccountId, document_id: &str) -> Result<Issued, ApiError> {
    if let Some(id) = InvoiceId::parse(document_id) {
        let row = tx
            .invoice(account, &id)
            .await?
            .ok_or_else(|| ApiError::internal("the invoice just issued is not there"))?;
        return Ok(Issued::Invoice(Box::new(Invoice::try_from(row)?)));
    }
    let id = CreditNoteId::parse(document_id)
        .ok_or_else(|| ApiError::internal("an issued document is an invoice or a credit note"))?;
    let row = tx
        .credit_note(account, &id)
        .await?
        .ok_or_else(|| ApiError::internal("the credit note just issued is not there"))?;
    Ok(Issued::CreditNote(Box::new(CreditNote::try_from(row)?)))
}

enum Issued {
    Invoice(Box<Invoice>),
    CreditNote(Box<CreditNote>),
}

/// Queues the document `document_id` of `account`, just issued, for the
/// platform, in `tx` (the transaction that issues it): its standing
/// (`pending`), the message carrying its metadata (its Factur-X is read
/// when sent), and the `queued` event. An acompte invoice is issued paid:
/// its 212 is queued too. Nothing is sent while `COMPTOIR_PA_URL` is unset:
/// the messages wait for a server that has it.
#[instrument(skip_all, fields(document = %document_id))]
pub async fn queue(
    tx: &mut Tx,
    account: &str,
    document_id: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let account_id = AccountId::from_trusted(account.to_owned());
    let document = issued(tx, &account_id, document_id).await?;
    let metadata = match &document {
        Issued::Invoice(i) => Metadata::of_invoice(i),
        Issued::CreditNote(n) => Metadata::of_credit_note(n),
    };
    tx.insert_e_invoice_document(&DocumentRow {
        document_id: document_id.to_owned(),
        account_id: account.to_owned(),
        number: metadata.number.clone(),
        type_code: metadata.type_code.clone(),
        platform_id: None,
        status: EInvoiceStatus::Pending.as_str().into(),
        status_code: None,
        status_at: now,
        reason: None,
        created_at: now,
    })
    .await?;
    let payload = serde_json::to_string(&metadata).map_err(ApiError::internal)?;
    tx.insert_e_invoice_message(&message(account, document_id, DOCUMENT, payload, now))
        .await?;
    tx.insert_e_invoice_event(&event(
        account,
        document_id,
        EventKind::Queued,
        None,
        now,
        None,
    ))
    .await?;
    if let Issued::Invoice(i) = &document
        && i.kind == InvoiceKind::Advance
        && i.status == InvoiceStatus::Paid
    {
        let paid_at = i
            .snapshot
            .advance
            .as_ref()
            .map(|a| a.paid_at)
            .or(i.paid_at)
            .unwrap_or(now);
        let payment = i
            .snapshot
            .advance
            .as_ref()
            .map(|a| a.top_up_id.clone())
            .unwrap_or_default();
        let timezone = super::load_account(tx, &account_id).await?.timezone;
        let report = StatusReport::collected(
            document_id,
            &metadata.number,
            i.total,
            timezone.date_at(paid_at),
            &payment,
        );
        queue_report(tx, account, document_id, report, now).await?;
    }
    Ok(())
}

/// Queues a 212 (encaissée) for the payment just recorded on `invoice`, in
/// `tx` (the transaction that records it): the amount it settles of the
/// invoice (an overpayment's excess goes to the customer balance, not to
/// this invoice), VAT included, and the day it was paid in the account's
/// timezone. Nothing for an invoice issued before e-invoicing was kept.
pub async fn queue_collected(
    tx: &mut Tx,
    invoice: &Invoice,
    payment: &InvoicePayment,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let settled = payment.amount_minor.unwrap_or(0) - payment.overpayment_minor;
    if settled <= 0 {
        return Ok(());
    }
    let Some(document) = tx.e_invoice_document(invoice.id.as_str()).await? else {
        return Ok(());
    };
    let timezone = super::load_account(tx, &invoice.account_id).await?.timezone;
    let report = StatusReport::collected(
        &document.document_id,
        &document.number,
        Money::from_minor(settled, invoice.currency),
        timezone.date_at(payment.paid_at),
        payment.id.as_str(),
    );
    queue_report(tx, &document.account_id, &document.document_id, report, now).await?;
    // A document that will never be deposited takes no status.
    if document.platform_id.is_none()
        && matches!(
            EInvoiceStatus::parse(&document.status),
            Some(EInvoiceStatus::Failed | EInvoiceStatus::Rejected)
        )
    {
        fail_pending_statuses(tx, &document.document_id, not_deposited(&document), now).await?;
    }
    Ok(())
}

async fn queue_report(
    tx: &mut Tx,
    account: &str,
    document_id: &str,
    report: StatusReport,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let amount = report.money();
    let payload = serde_json::to_string(&report).map_err(ApiError::internal)?;
    tx.insert_e_invoice_message(&message(account, document_id, STATUS, payload, now))
        .await?;
    let mut queued = event(
        account,
        document_id,
        EventKind::StatusQueued,
        Some(&report.code),
        now,
        None,
    );
    queued.amount_minor = amount.map(Money::minor);
    queued.currency = Some(report.currency.clone());
    queued.collected_on = Some(report.collected_on);
    tx.insert_e_invoice_event(&queued).await?;
    Ok(())
}

fn not_deposited(document: &DocumentRow) -> String {
    format!(
        "the document was not deposited on the platform ({})",
        document.status
    )
}

/// Fails the document's pending statuses, each with a `status_failed` event.
async fn fail_pending_statuses(
    tx: &mut Tx,
    document_id: &str,
    why: String,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    for m in tx
        .fail_pending_e_invoice_statuses(document_id, &why)
        .await?
    {
        let report: Option<StatusReport> = serde_json::from_str(&m.payload).ok();
        let mut failed = event(
            &m.account_id,
            document_id,
            EventKind::StatusFailed,
            report.as_ref().map(|r| r.code.as_str()),
            now,
            Some(why.clone()),
        );
        if let Some(r) = &report {
            failed.amount_minor = r.money().map(Money::minor);
            failed.currency = Some(r.currency.clone());
            failed.collected_on = Some(r.collected_on);
        }
        tx.insert_e_invoice_event(&failed).await?;
    }
    Ok(())
}

/// How sending a message to the platform ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The document was deposited, under the platform's id.
    Deposited { platform_id: String },
    /// The status was delivered.
    Delivered,
    /// The platform refused the message for good (a document: 213).
    Refused { reason: String },
    /// Not delivered, and not retried any more.
    GaveUp { error: String },
    /// Not delivered; tried again later.
    Retry { error: String },
}

fn audit_event(
    ctx: &Ctx,
    document: &DocumentRow,
    action: &str,
    after: serde_json::Value,
) -> crate::domain::audit::AuditEvent {
    let target = if document.document_id.starts_with(CreditNoteId::PREFIX) {
        "credit_note"
    } else {
        "invoice"
    };
    ctx.audit_event(
        Some(&AccountId::from_trusted(document.account_id.clone())),
        action,
        (target, &document.document_id),
        None,
        Some(after),
    )
}

/// Records, in `tx`, how sending the claimed message `m` ended: its
/// document's standing, the events, and the audit log. A document rejected
/// at deposit (213) is flagged; one never deposited fails its statuses. A
/// new status writes `e_invoice.status_changed`.
pub async fn record_outcome(
    tx: &mut Tx,
    ctx: &Ctx,
    m: &MessageRow,
    outcome: &Outcome,
) -> Result<(), ApiError> {
    let before = tx
        .e_invoice_document(&m.document_id)
        .await?
        .map(|d| d.status);
    apply_outcome(tx, ctx, m, outcome).await?;
    if let Some(before) = before {
        emit_if_changed(tx, ctx.now, &m.document_id, &before).await?;
    }
    Ok(())
}

async fn apply_outcome(
    tx: &mut Tx,
    ctx: &Ctx,
    m: &MessageRow,
    outcome: &Outcome,
) -> Result<(), ApiError> {
    let now = ctx.now;
    let Some(document) = tx.e_invoice_document(&m.document_id).await? else {
        return Err(ApiError::internal("a message without its document"));
    };
    let id = &m.document_id;
    let account = &m.account_id;
    if m.kind == DOCUMENT {
        match outcome {
            Outcome::Deposited { platform_id } => {
                tx.set_e_invoice_deposited(id, platform_id, now).await?;
                let mut e = event(account, id, EventKind::Transmitted, None, now, None);
                e.reason = Some(format!("platform id {platform_id}"));
                tx.insert_e_invoice_event(&e).await?;
                let after = json!({ "platform_id": platform_id, "number": document.number });
                audit::record(
                    tx,
                    audit_event(ctx, &document, "e_invoice.transmitted", after),
                )
                .await?;
            }
            Outcome::Refused { reason } => {
                let code = EInvoiceStatus::Rejected.code();
                let standing = Standing {
                    status: EInvoiceStatus::Rejected.as_str(),
                    code,
                    at: now,
                    reason: Some(reason),
                };
                tx.set_e_invoice_standing(id, standing).await?;
                let e = event(
                    account,
                    id,
                    EventKind::Rejected,
                    code,
                    now,
                    Some(reason.clone()),
                );
                tx.insert_e_invoice_event(&e).await?;
                flag(tx, ctx, &document, EInvoiceStatus::Rejected, Some(reason)).await?;
                fail_pending_statuses(
                    tx,
                    id,
                    format!("the platform rejected the document: {reason}"),
                    now,
                )
                .await?;
            }
            Outcome::GaveUp { error } => {
                let standing = Standing {
                    status: EInvoiceStatus::Failed.as_str(),
                    code: None,
                    at: now,
                    reason: Some(error),
                };
                tx.set_e_invoice_standing(id, standing).await?;
                let e = event(
                    account,
                    id,
                    EventKind::TransmissionFailed,
                    None,
                    now,
                    Some(error.clone()),
                );
                tx.insert_e_invoice_event(&e).await?;
                let after = json!({ "error": error, "attempts": m.attempts });
                audit::record(
                    tx,
                    audit_event(ctx, &document, "e_invoice.transmission_failed", after),
                )
                .await?;
                fail_pending_statuses(
                    tx,
                    id,
                    format!("the document was not deposited: {error}"),
                    now,
                )
                .await?;
            }
            Outcome::Retry { error } => tx.set_e_invoice_retry_reason(id, error).await?,
            Outcome::Delivered => return Err(ApiError::internal("a document is deposited")),
        }
        return Ok(());
    }
    let report: StatusReport = serde_json::from_str(&m.payload).map_err(ApiError::internal)?;
    let amount = report.money().map(Money::minor);
    let mut e = match outcome {
        Outcome::Delivered | Outcome::Deposited { .. } => {
            if let Some(status) = EInvoiceStatus::from_code(&report.code) {
                let standing = Standing {
                    status: status.as_str(),
                    code: status.code(),
                    at: now,
                    reason: None,
                };
                tx.set_e_invoice_standing(id, standing).await?;
            }
            let after = json!({ "code": report.code, "amount": report.amount,
                "currency": report.currency, "collected_on": report.collected_on.to_string() });
            audit::record(
                tx,
                audit_event(ctx, &document, "e_invoice.status_sent", after),
            )
            .await?;
            event(
                account,
                id,
                EventKind::StatusSent,
                Some(&report.code),
                now,
                None,
            )
        }
        Outcome::Refused { reason: error } | Outcome::GaveUp { error } => event(
            account,
            id,
            EventKind::StatusFailed,
            Some(&report.code),
            now,
            Some(error.clone()),
        ),
        Outcome::Retry { .. } => return Ok(()),
    };
    e.amount_minor = amount;
    e.currency = Some(report.currency);
    e.collected_on = Some(report.collected_on);
    tx.insert_e_invoice_event(&e).await?;
    Ok(())
}

/// The audit event telling staff that a document was rejected (213) or
/// refused (210) and needs a credit note.
async fn flag(
    tx: &mut Tx,
    ctx: &Ctx,
    document: &DocumentRow,
    status: EInvoiceStatus,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let after = json!({
        "status": status.as_str(),
        "code": status.code(),
        "reason": reason,
        "number": document.number,
        "needs": "a credit note",
    });
    audit::record(tx, audit_event(ctx, document, "e_invoice.flagged", after)).await
}

/// A lifecycle status the platform reports (the webhook's body, checked).
#[derive(Debug, Clone)]
pub struct Received {
    /// The platform's event id: a status received again is ignored.
    pub event_id: String,
    /// Comptoir's id of the document, or the platform's.
    pub document_id: Option<String>,
    pub platform_id: Option<String>,
    pub status: EInvoiceStatus,
    pub at: OffsetDateTime,
    pub reason: Option<String>,
}

/// Records a status the platform reports, once per event id: its event,
/// the document's standing (unless a later status is recorded), the audit
/// log, and the flag of a rejection (213) or refusal (210). `Ok(false)`
/// for an event already recorded or about a document Comptoir does not know.
#[instrument(skip_all, fields(event = %r.event_id))]
pub async fn record_received(store: &Store, ctx: &Ctx, r: Received) -> Result<bool, ApiError> {
    let mut tx = store.begin_write().await?;
    let document = match (&r.document_id, &r.platform_id) {
        (Some(id), _) => tx.e_invoice_document(id).await?,
        (None, Some(platform)) => tx.e_invoice_document_by_platform_id(platform).await?,
        (None, None) => None,
    };
    let Some(document) = document else {
        tracing::warn!(document = ?r.document_id, platform = ?r.platform_id,
            "an e-invoicing status about an unknown document is ignored");
        return Ok(false);
    };
    let code = r.status.code();
    let mut e = event(
        &document.account_id,
        &document.document_id,
        EventKind::StatusReceived,
        code,
        r.at,
        r.reason.clone(),
    );
    e.platform_event_id = Some(r.event_id.clone());
    e.created_at = ctx.now;
    if !tx.insert_e_invoice_event(&e).await? {
        return Ok(false);
    }
    let standing = Standing {
        status: r.status.as_str(),
        code,
        at: r.at,
        reason: r.reason.as_deref(),
    };
    let current = tx
        .set_e_invoice_standing(&document.document_id, standing)
        .await?;
    let after = json!({
        "status": r.status.as_str(),
        "code": code,
        "at": r.at.format(&time::format_description::well_known::Rfc3339).ok(),
        "reason": r.reason,
        "event_id": r.event_id,
        "current": current,
    });
    audit::record(
        &mut tx,
        audit_event(ctx, &document, "e_invoice.status_received", after),
    )
    .await?;
    if current && r.status.flags() {
        flag(&mut tx, ctx, &document, r.status, r.reason.as_deref()).await?;
    }
    if current {
        emit_if_changed(&mut tx, ctx.now, &document.document_id, &document.status).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The standing of each of the account's documents `ids` (a page of its
/// invoices or credit notes) that is e-invoiced, in one query.
pub async fn summaries(
    store: &Store,
    account: &AccountId,
    ids: &[&str],
) -> Result<HashMap<String, Summary>, ApiError> {
    let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(HashMap::new());
    };
    let mut tx = store.begin_read().await?;
    let mut out = HashMap::new();
    for d in tx.e_invoice_documents_between(account, first, last).await? {
        if ids.contains(&d.document_id.as_str()) {
            out.insert(d.document_id.clone(), Summary::try_from(&d)?);
        }
    }
    Ok(out)
}

/// A page of what happened to the account's invoice or credit note
/// `document_id` with the platform, oldest first. A draft has none yet;
/// another account's document is 404.
pub async fn events(
    store: &Store,
    account: &Authorized,
    document_id: &str,
    page: &PageRequest,
) -> Result<Page<EventRow>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    let known = if let Some(id) = InvoiceId::parse(document_id) {
        tx.invoice(account, &id).await?.is_some()
            || tx
                .draft_by_id(id.as_str())
                .await?
                .is_some_and(|d| d.account_id == account.as_str())
    } else if let Some(id) = CreditNoteId::parse(document_id) {
        tx.credit_note(account, &id).await?.is_some()
    } else {
        false
    };
    if !known {
        let what = if document_id.starts_with(CreditNoteId::PREFIX) {
            "credit note"
        } else {
            "invoice"
        };
        return Err(ApiError::NotFound(what));
    }
    Ok(tx
        .e_invoice_events(document_id, page.after.as_deref(), page.limit)
        .await?)
}

/// A document staff must look at.
#[derive(Debug, Clone)]
pub struct Attention {
    pub document: DocumentRow,
    pub summary: Summary,
    /// The document's status when it is an invoice (none for a credit note).
    pub invoice_status: Option<InvoiceStatus>,
}

/// A page of the documents staff must look at (staff): rejected by the
/// platform (213) or refused by the buyer (210) and not credited yet, and
/// those never deposited (`failed`), by id.
pub async fn attention(
    store: &Store,
    ctx: &Ctx,
    page: &PageRequest,
) -> Result<Page<Attention>, ApiError> {
    ctx.require(Need::Staff)?;
    let mut tx = store.begin_read().await?;
    let rows = tx
        .e_invoice_attention(page.after.as_deref(), page.limit)
        .await?;
    let mut items = Vec::with_capacity(rows.items.len());
    for AttentionRow {
        document,
        invoice_status,
    } in rows.items
    {
        items.push(Attention {
            summary: Summary::try_from(&document)?,
            invoice_status: invoice_status.as_deref().and_then(InvoiceStatus::parse),
            document,
        });
    }
    Ok(Page {
        items,
        has_more: rows.has_more,
    })
}
