//! Payments of invoices, with amount, currency, date, method and reference:
//! recorded by staff (`POST .../payments`, `mark-paid`) or by the signed
//! payment webhook. A partial payment lowers the amount due; the payment
//! that brings it to zero makes the invoice paid; what a payment brings
//! beyond the amount due goes to the account's customer balance. Failed
//! debits are recorded with their reason. Every change to one account's
//! invoices queues on the account's row (`Tx::lock_account`), then reads the
//! invoice and its payments: concurrent payments are all recorded and summed.

use std::collections::BTreeMap;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::events::{self, Object};
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::clean_name;
use crate::domain::consumption::to_stored_instant;
use crate::domain::event::EventType;
use crate::domain::ids::{
    AccountId, BalanceEntryId, CreditNoteId, InvoiceId, InvoicePaymentFailureId, InvoicePaymentId,
};
use crate::domain::invoice_payment::{
    self, BalanceEntry, BalanceEntryKind, CreditNoteRef, InvoicePayment, InvoicePaymentMethod,
    PaymentFailure, Settlement,
};
use crate::domain::issued::{Deduction, Invoice, InvoiceStatus};
use crate::domain::money::{Amount, Currency, Money, limits};
use crate::error::{ApiError, Code, FieldErrors};
use crate::store::{Page, Store, Tx};

/// The longest amount a request may write (as the other amounts' schemas say).
const AMOUNT_MAX_CHARS: usize = 20;
/// The longest payment reference.
pub const REFERENCE_MAX_CHARS: usize = 200;
/// The reference of the payment `mark-paid` records.
pub const MARK_PAID_REFERENCE: &str = "mark-paid";

/// A payment as a request or a payment event states it, before it is
/// checked. The staff route always states `amount`, `paid_at` and `method`;
/// an event may leave them out (the amount due, now, `other`).
#[derive(Debug, Clone, Default)]
pub struct PaymentFields {
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub paid_at: Option<String>,
    pub method: Option<String>,
    pub reference: Option<String>,
}

/// A payment's fields, checked.
struct Checked {
    /// In the invoice's currency (the stated one for an unknown invoice).
    amount: Option<Money>,
    /// The currency the request or event named, if it named one.
    currency: Option<Currency>,
    paid_at: OffsetDateTime,
    method: InvoicePaymentMethod,
    reference: Option<String>,
}

const CURRENCY_MSG: &str = "must be one of: EUR, USD, GBP, CHF";
const PAID_AT_MSG: &str = "must be an RFC 3339 instant such as 2026-05-02T09:30:00Z";
const METHOD_MSG: &str = "must be one of: card, sepa_debit, transfer, cheque, other";
const REFERENCE_MSG: &str =
    "must be 1 to 200 characters, not only spaces, without control or invisible characters";

/// A payment's amount: positive, at most [`limits::PAYMENT_MAX_MINOR`], with
/// no more digits than `currency` has.
fn payment_amount(field: &str, raw: &str, currency: Currency) -> Result<Money, ApiError> {
    if raw.chars().count() > AMOUNT_MAX_CHARS {
        return Err(ApiError::validation(
            field,
            "must be a decimal amount of at most 20 characters, such as \"120.00\"",
        ));
    }
    let amount = Amount::parse(raw)
        .and_then(|a| a.in_currency(currency))
        .map_err(|e| ApiError::validation(field, e.to_string()))?;
    if amount.is_within(1, limits::PAYMENT_MAX_MINOR) {
        Ok(amount)
    } else {
        Err(ApiError::validation(
            field,
            format!(
                "must be between {} and {}",
                Money::from_minor(1, currency),
                Money::from_minor(limits::PAYMENT_MAX_MINOR, currency)
            ),
        ))
    }
}

/// Checks every field at once (a 422 names each bad one, under `prefix`):
/// the currency, when the invoice is known, must be the invoice's.
fn check(
    fields: PaymentFields,
    invoice_currency: Option<Currency>,
    now: OffsetDateTime,
    prefix: &str,
) -> Result<Checked, ApiError> {
    let name = |field: &str| format!("{prefix}{field}");
    let mut errors = FieldErrors::default();
    // Errors come in the request's order: the amount, read in the currency
    // parsed just below, first.
    let stated = fields.currency.map(|c| Currency::parse(&c).ok_or(c));
    let known = stated.as_ref().and_then(|c| c.as_ref().ok().copied());
    // Every currency Comptoir bills in has two digits: an event about an
    // unknown invoice that names none is read with them.
    let in_currency = invoice_currency.or(known).unwrap_or(Currency::Eur);
    let amount = fields
        .amount
        .and_then(|raw| errors.keep(payment_amount(&name("amount"), &raw, in_currency)));
    let currency = match (stated, invoice_currency) {
        (Some(Err(_)), _) => errors.check(&name("currency"), None, CURRENCY_MSG),
        (Some(Ok(stated)), Some(invoice)) if stated != invoice => errors.check(
            &name("currency"),
            None,
            &format!("must be the invoice's currency, {invoice}"),
        ),
        (stated, _) => stated.and_then(Result::ok),
    };
    let paid_at = match fields.paid_at {
        None => Some(now),
        Some(raw) => errors
            .check(
                &name("paid_at"),
                OffsetDateTime::parse(&raw, &Rfc3339).ok(),
                PAID_AT_MSG,
            )
            .and_then(|at| {
                errors.check(
                    &name("paid_at"),
                    (at <= now).then(|| to_stored_instant(at)),
                    "must not be in the future",
                )
            }),
    };
    let method = match fields.method {
        None => Some(InvoicePaymentMethod::Other),
        Some(raw) => errors.check(
            &name("method"),
            InvoicePaymentMethod::parse(&raw),
            METHOD_MSG,
        ),
    };
    let reference = errors.check_opt(
        &name("reference"),
        fields.reference,
        |r| clean_name(&r, REFERENCE_MAX_CHARS),
        REFERENCE_MSG,
    );
    errors.finish()?;
    let (Some(paid_at), Some(method)) = (paid_at, method) else {
        return Err(ApiError::internal("payment fields checked twice"));
    };
    Ok(Checked {
        amount,
        currency,
        paid_at,
        method,
        reference,
    })
}

/// A draft takes no payment before it is issued.
fn draft_not_open(id: &InvoiceId) -> ApiError {
    ApiError::rule(
        Code::InvoiceNotOpen,
        format!("invoice {id} is a draft, not issued: it takes no payment"),
    )
}

/// 409 `invoice_not_open` unless the invoice is `issued` (a paid or void
/// invoice is settled).
fn require_open(invoice: &Invoice) -> Result<(), ApiError> {
    if invoice.status == InvoiceStatus::Issued {
        Ok(())
    } else {
        Err(ApiError::rule(
            Code::InvoiceNotOpen,
            format!(
                "invoice {} is {}, not issued: it takes no payment",
                invoice.id,
                invoice.status.as_str()
            ),
        ))
    }
}

/// The settlement of each of `invoices` (one account's), read in two
/// queries whatever their number, and its stored e-invoice files.
pub async fn attach(tx: &mut Tx, invoices: &mut [Invoice]) -> Result<(), ApiError> {
    let mut ranges: BTreeMap<AccountId, (InvoiceId, InvoiceId)> = BTreeMap::new();
    for i in invoices.iter() {
        let range = ranges
            .entry(i.account_id.clone())
            .or_insert_with(|| (i.id.clone(), i.id.clone()));
        if i.id < range.0 {
            range.0 = i.id.clone();
        }
        if i.id > range.1 {
            range.1 = i.id.clone();
        }
    }
    let mut payments: BTreeMap<String, Vec<InvoicePayment>> = BTreeMap::new();
    let mut failures: BTreeMap<String, Vec<PaymentFailure>> = BTreeMap::new();
    let mut credit_notes: BTreeMap<String, Vec<CreditNoteRef>> = BTreeMap::new();
    for (account, (first, last)) in &ranges {
        for c in tx.credit_notes_between(account, first, last).await? {
            let currency = Currency::parse(&c.currency)
                .ok_or_else(|| ApiError::internal("credit note currency"))?;
            credit_notes
                .entry(c.invoice_id.clone())
                .or_default()
                .push(CreditNoteRef {
                    id: CreditNoteId::from_trusted(c.id),
                    number: c.number,
                    issue_date: c.issue_date,
                    total: Money::from_minor(c.total_minor, currency),
                });
        }
        for p in tx.invoice_payments_between(account, first, last).await? {
            payments.entry(p.invoice_id.clone()).or_default().push(p);
        }
        for f in tx.payment_failures_between(account, first, last).await? {
            failures.entry(f.invoice_id.clone()).or_default().push(f);
        }
    }
    for i in invoices.iter_mut() {
        i.settlement = Settlement::of(
            i.total,
            i.status == InvoiceStatus::Void,
            payments.remove(i.id.as_str()).unwrap_or_default(),
            failures.remove(i.id.as_str()).unwrap_or_default(),
            credit_notes.remove(i.id.as_str()).unwrap_or_default(),
        )
        .map_err(ApiError::internal)?;
    }
    super::einvoices::attach(tx, invoices).await
}

/// Writes `types` about the issued `invoice`, in `tx` (the transaction
/// that changed it), each carrying it as the API shows it: `invoice` as
/// read after the change with its settlement (`attach`), and where it
/// stands with the e-invoicing platform, read here.
pub async fn emit_shown(
    tx: &mut Tx,
    now: OffsetDateTime,
    invoice: &Invoice,
    types: &[EventType],
) -> Result<(), ApiError> {
    let summary = super::e_invoicing::summary_of(tx, invoice.id.as_str()).await?;
    for t in types {
        events::emit(
            tx,
            now,
            &invoice.account_id,
            *t,
            Object::Invoice(invoice, summary.as_ref()),
        )
        .await?;
    }
    Ok(())
}

/// [`emit_shown`] of the account's issued invoice `id`, read in `tx`.
pub async fn emit_invoice(
    tx: &mut Tx,
    now: OffsetDateTime,
    account: &AccountId,
    id: &InvoiceId,
    types: &[EventType],
) -> Result<(), ApiError> {
    let mut invoice: Invoice = tx
        .invoice(account, id)
        .await?
        .ok_or_else(|| ApiError::internal("an invoice changed in this transaction is gone"))?
        .try_into()?;
    attach(tx, std::slice::from_mut(&mut invoice)).await?;
    emit_shown(tx, now, &invoice, types).await
}

/// Writes `invoice.finalized` about `invoice`, just issued in `tx` and read
/// with its settlement (`attach`), and `invoice.paid` after it when it was
/// issued paid (what prepaid credits and the balance deducted covered it,
/// or an acompte): then it is read again, for its `paid_at` as stored.
pub async fn emit_issued(
    tx: &mut Tx,
    now: OffsetDateTime,
    invoice: &Invoice,
) -> Result<(), ApiError> {
    if invoice.status == InvoiceStatus::Paid {
        let types = [EventType::InvoiceFinalized, EventType::InvoicePaid];
        emit_invoice(tx, now, &invoice.account_id, &invoice.id, &types).await
    } else {
        emit_shown(tx, now, invoice, &[EventType::InvoiceFinalized]).await
    }
}

/// An invoice of the account, as the payments see it.
enum Found {
    /// Issued (or since paid or void), read with its settlement.
    Issued(Box<Invoice>),
    /// A draft: not issued yet, so it takes no payment.
    Draft,
}

/// The account's invoice `id`, or 404.
async fn find(tx: &mut Tx, account: &AccountId, id: &InvoiceId) -> Result<Found, ApiError> {
    if let Some(row) = tx.invoice(account, id).await? {
        let mut invoice: Invoice = row.try_into()?;
        attach(tx, std::slice::from_mut(&mut invoice)).await?;
        return Ok(Found::Issued(Box::new(invoice)));
    }
    match tx.draft_by_id(id.as_str()).await? {
        Some(d) if d.account_id == account.as_str() => Ok(Found::Draft),
        _ => Err(ApiError::NotFound("invoice")),
    }
}

/// The account's issued invoice `id` with its settlement; a draft is 409
/// `invoice_not_open`, anything else 404.
async fn load_invoice(
    tx: &mut Tx,
    account: &AccountId,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    match find(tx, account, id).await? {
        Found::Issued(invoice) => Ok(*invoice),
        Found::Draft => Err(draft_not_open(id)),
    }
}

fn payment_summary(p: &InvoicePayment) -> serde_json::Value {
    json!({
        "payment_id": p.id.as_str(),
        "applied": p.applied,
        "amount_minor": p.amount_minor,
        "currency": p.currency.map(Currency::code),
        "paid_at": p.paid_at.format(&Rfc3339).ok(),
        "method": p.method.as_str(),
        "reference": p.reference,
        "overpayment_minor": p.overpayment_minor,
        "event_id": p.event_id,
    })
}

/// Marks the invoice paid, at `paid_at`, by `payment` if one settled it.
async fn settle(
    tx: &mut Tx,
    ctx: &Ctx,
    invoice: &Invoice,
    payment: Option<&InvoicePaymentId>,
    paid_at: OffsetDateTime,
) -> Result<(), ApiError> {
    if !tx
        .close_invoice(invoice.id.as_str(), InvoiceStatus::Paid, paid_at, None)
        .await?
    {
        // The account's lock is held and the status was read under it.
        return Err(ApiError::internal(
            "an issued invoice under lock was not open",
        ));
    }
    let event = ctx.audit_event(
        Some(&invoice.account_id),
        "invoice.paid",
        ("invoice", invoice.id.as_str()),
        Some(json!({ "status": invoice.status.as_str() })),
        Some(json!({
            "status": InvoiceStatus::Paid.as_str(),
            "payment_id": payment.map(InvoicePaymentId::as_str),
            "paid_at": paid_at.format(&Rfc3339).ok(),
        })),
    );
    audit::record(tx, event).await
}

/// Records `amount` as paid on the open `invoice` with `due` left to pay:
/// the payment, its audit event, the overpayment's balance entry, and the
/// invoice paid when the payment reaches the amount due.
async fn apply(
    tx: &mut Tx,
    ctx: &Ctx,
    invoice: &Invoice,
    due: Money,
    amount: Money,
    checked: Checked,
    event_id: Option<&str>,
) -> Result<InvoicePayment, ApiError> {
    let application = invoice_payment::apply(due, amount).map_err(ApiError::internal)?;
    let payment = InvoicePayment {
        id: InvoicePaymentId::generate(),
        invoice_id: invoice.id.to_string(),
        account_id: Some(invoice.account_id.clone()),
        applied: true,
        amount_minor: Some(amount.minor()),
        currency: Some(amount.currency()),
        paid_at: checked.paid_at,
        method: checked.method,
        reference: checked.reference,
        overpayment_minor: application.overpayment.minor(),
        event_id: event_id.map(str::to_owned),
        created_at: ctx.now,
    };
    tx.insert_invoice_payment(&payment).await?;
    let event = ctx.audit_event(
        Some(&invoice.account_id),
        "invoice.payment_recorded",
        ("invoice", invoice.id.as_str()),
        None,
        Some(payment_summary(&payment)),
    );
    audit::record(tx, event).await?;
    if application.overpayment.minor() > 0 {
        tx.insert_balance_entry(&BalanceEntry {
            id: BalanceEntryId::generate(),
            account_id: invoice.account_id.clone(),
            amount: application.overpayment,
            kind: BalanceEntryKind::Overpayment,
            invoice_id: Some(invoice.id.to_string()),
            payment_id: Some(payment.id.clone()),
            created_at: ctx.now,
            credit_note_id: None,
            source_entry_id: None,
        })
        .await?;
    }
    if application.settles {
        settle(tx, ctx, invoice, Some(&payment.id), payment.paid_at).await?;
    }
    // Money received on an issued invoice: its 212 for the e-invoicing platform.
    super::e_invoicing::queue_collected(tx, invoice, &payment, ctx.now).await?;
    let types: &[EventType] = if application.settles {
        &[EventType::InvoicePaymentSucceeded, EventType::InvoicePaid]
    } else {
        &[EventType::InvoicePaymentSucceeded]
    };
    emit_invoice(tx, ctx.now, &invoice.account_id, &invoice.id, types).await?;
    Ok(payment)
}

/// Staff record a payment of an issued invoice, in `tx` (the
/// idempotent-create transaction). Every bad field is named at once; the
/// currency, when given, must be the invoice's; a paid or void invoice is
/// 409 `invoice_not_open`.
#[instrument(skip_all, fields(account = %account, invoice = %id))]
pub async fn record(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    id: &InvoiceId,
    fields: PaymentFields,
) -> Result<InvoicePayment, ApiError> {
    let currency = super::load_account(tx, account).await?.currency;
    // Payments of one account queue here; the invoice and its payments are
    // read after, so a concurrent payment is seen.
    tx.lock_account(account).await?;
    let invoice = match find(tx, account, id).await? {
        Found::Issued(invoice) => *invoice,
        // The body is checked first, as for an issued invoice.
        Found::Draft => {
            check(fields, Some(currency), ctx.now, "")?;
            return Err(draft_not_open(id));
        }
    };
    let checked = check(fields, Some(invoice.currency), ctx.now, "")?;
    let amount = checked
        .amount
        .ok_or_else(|| ApiError::internal("a staff payment states its amount"))?;
    require_open(&invoice)?;
    let due = invoice.settlement.amount_due;
    apply(tx, ctx, &invoice, due, amount, checked, None).await
}

/// Staff `mark-paid`: records a payment of the amount due, today (method
/// `other`, reference `mark-paid`), which makes the invoice paid. An issued
/// invoice with nothing due is marked paid without a payment; a paid or
/// void one is 409 `invoice_not_open`.
#[instrument(skip_all, fields(account = %account, invoice = %id))]
pub async fn mark_paid(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    let mut tx = store.begin_write().await?;
    super::load_account(&mut tx, account).await?;
    tx.lock_account(account).await?;
    let invoice = load_invoice(&mut tx, account, id).await?;
    require_open(&invoice)?;
    let due = invoice.settlement.amount_due;
    if due.minor() > 0 {
        let checked = Checked {
            amount: Some(due),
            currency: None,
            paid_at: ctx.now,
            method: InvoicePaymentMethod::Other,
            reference: Some(MARK_PAID_REFERENCE.to_owned()),
        };
        apply(&mut tx, ctx, &invoice, due, due, checked, None).await?;
    } else {
        settle(&mut tx, ctx, &invoice, None, ctx.now).await?;
        emit_invoice(&mut tx, ctx.now, account, id, &[EventType::InvoicePaid]).await?;
    }
    let invoice = load_invoice(&mut tx, account, id).await?;
    tx.commit().await?;
    Ok(invoice)
}

/// Why a payment event changed no invoice.
struct NotApplied<'a> {
    /// The invoice's account, when the invoice exists.
    account: Option<&'a AccountId>,
    /// Whether the invoice is known: the amount is in its currency.
    known: bool,
    why: String,
}

/// Keeps a payment event that changes no invoice (unknown, a draft, or
/// settled): the money received stays on record, and the provider gets its
/// 200.
async fn record_unapplied(
    tx: &mut Tx,
    ctx: &Ctx,
    named: &InvoiceId,
    not: NotApplied<'_>,
    checked: Checked,
    event_id: &str,
) -> Result<(), ApiError> {
    let why = not.why;
    tracing::warn!(event = event_id, invoice = %named, why = %why, "payment event recorded, not applied");
    let currency = checked
        .currency
        .or_else(|| checked.amount.filter(|_| not.known).map(|a| a.currency()));
    let payment = InvoicePayment {
        id: InvoicePaymentId::generate(),
        invoice_id: named.to_string(),
        account_id: not.account.cloned(),
        applied: false,
        amount_minor: checked.amount.map(Money::minor),
        currency,
        paid_at: checked.paid_at,
        method: checked.method,
        reference: checked.reference,
        overpayment_minor: 0,
        event_id: Some(event_id.to_owned()),
        created_at: ctx.now,
    };
    tx.insert_invoice_payment(&payment).await?;
    let mut after = payment_summary(&payment);
    after["not_applied_because"] = json!(why);
    let event = ctx.audit_event(
        not.account,
        "invoice.payment_recorded",
        ("invoice", named.as_str()),
        None,
        Some(after),
    );
    audit::record(tx, event).await
}

/// The payment webhook's `invoice.paid`, applied once per event id. The
/// amount defaults to the amount due, `paid_at` to now, `method` to
/// `other`. An event about an unknown invoice or one already paid or void
/// is recorded, not applied: `Ok(false)`, so that the provider stops
/// retrying. A bad field is a 422 that records nothing (not even the event
/// id), so a corrected delivery is applied.
#[instrument(skip_all, fields(event = %event_id, invoice = %id))]
pub async fn apply_paid_event(
    store: &Store,
    ctx: &Ctx,
    event_id: &str,
    id: &InvoiceId,
    fields: PaymentFields,
) -> Result<bool, ApiError> {
    let mut tx = store.begin_write().await?;
    if !tx.record_webhook_event(event_id, ctx.now).await? {
        return Ok(false);
    }
    let owner = match tx.invoice_by_id(id).await? {
        Some(row) => Some(row.account_id),
        None => tx.draft_by_id(id.as_str()).await?.map(|d| d.account_id),
    };
    let Some(account) = owner.map(AccountId::from_trusted) else {
        let checked = check(fields, None, ctx.now, "data.")?;
        let not = NotApplied {
            account: None,
            known: false,
            why: "unknown invoice".into(),
        };
        record_unapplied(&mut tx, ctx, id, not, checked, event_id).await?;
        tx.commit().await?;
        return Ok(false);
    };
    // Changes to one account's invoices queue here; the status is read after.
    tx.lock_account(&account).await?;
    let currency = super::load_account(&mut tx, &account).await?.currency;
    let invoice = match find(&mut tx, &account, id).await? {
        Found::Issued(invoice) => *invoice,
        Found::Draft => {
            let checked = check(fields, Some(currency), ctx.now, "data.")?;
            let not = NotApplied {
                account: Some(&account),
                known: true,
                why: "invoice draft".into(),
            };
            record_unapplied(&mut tx, ctx, id, not, checked, event_id).await?;
            tx.commit().await?;
            return Ok(false);
        }
    };
    let checked = check(fields, Some(invoice.currency), ctx.now, "data.")?;
    if invoice.status != InvoiceStatus::Issued {
        let not = NotApplied {
            account: Some(&account),
            known: true,
            why: format!("invoice {}", invoice.status.as_str()),
        };
        record_unapplied(&mut tx, ctx, id, not, checked, event_id).await?;
        tx.commit().await?;
        return Ok(false);
    }
    let due = invoice.settlement.amount_due;
    match checked.amount.or((due.minor() > 0).then_some(due)) {
        Some(amount) => {
            apply(&mut tx, ctx, &invoice, due, amount, checked, Some(event_id)).await?;
        }
        // Nothing due and no amount stated: paid as it is.
        None => {
            settle(&mut tx, ctx, &invoice, None, checked.paid_at).await?;
            emit_invoice(&mut tx, ctx.now, &account, id, &[EventType::InvoicePaid]).await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// The payment webhook's `invoice.payment_failed`: the failure is recorded
/// with its reason, once per event id, and shown on the invoice; the invoice
/// stays as it is. `Ok(true)` when it concerns an issued invoice; an unknown
/// invoice's failure is kept too (without an account).
#[instrument(skip_all, fields(event = %event_id, invoice = %id))]
pub async fn apply_failed_event(
    store: &Store,
    ctx: &Ctx,
    event_id: &str,
    id: &InvoiceId,
    reason: Option<String>,
) -> Result<bool, ApiError> {
    let mut tx = store.begin_write().await?;
    if !tx.record_webhook_event(event_id, ctx.now).await? {
        return Ok(false);
    }
    let (account, open, issued) = match tx.invoice_by_id(id).await? {
        Some(r) => {
            let open = InvoiceStatus::parse(&r.status) == Some(InvoiceStatus::Issued);
            (Some(r.account_id), open, true)
        }
        None => (
            tx.draft_by_id(id.as_str()).await?.map(|d| d.account_id),
            false,
            false,
        ),
    };
    let account = account.map(AccountId::from_trusted);
    if !open {
        tracing::warn!(event = event_id, invoice = %id, "payment failure of an invoice not open, recorded");
    }
    let failure = PaymentFailure {
        id: InvoicePaymentFailureId::generate(),
        invoice_id: id.to_string(),
        account_id: account.clone(),
        reason,
        failed_at: ctx.now,
        event_id: Some(event_id.to_owned()),
        created_at: ctx.now,
    };
    tx.insert_payment_failure(&failure).await?;
    let event = ctx.audit_event(
        account.as_ref(),
        "invoice.payment_failed",
        ("invoice", id.as_str()),
        None,
        Some(json!({
            "failure_id": failure.id.as_str(),
            "reason": failure.reason,
            "event_id": event_id,
            "invoice_open": open,
        })),
    );
    audit::record(&mut tx, event).await?;
    // An issued invoice shows the failure (a draft has no payments yet).
    if let Some(account) = account.as_ref().filter(|_| issued) {
        emit_invoice(
            &mut tx,
            ctx.now,
            account,
            id,
            &[EventType::InvoicePaymentFailed],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(open)
}

/// A page of the invoice's payments, oldest first.
pub async fn list(
    store: &Store,
    account: &Authorized,
    id: &InvoiceId,
    page: &PageRequest,
) -> Result<(Currency, Page<InvoicePayment>), ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::load_account(&mut tx, account).await?.currency;
    // A draft exists and has no payment yet: an empty list.
    if tx.invoice(account, id).await?.is_none() {
        match tx.draft_by_id(id.as_str()).await? {
            Some(d) if d.account_id == account.as_str() => {}
            _ => return Err(ApiError::NotFound("invoice")),
        }
    }
    let payments = tx
        .list_invoice_payments(account, id, page.after.as_deref(), page.limit)
        .await?;
    Ok((currency, payments))
}

/// The account's customer balance, in its currency.
pub async fn balance(store: &Store, account: &Authorized) -> Result<Money, ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::load_account(&mut tx, account).await?.currency;
    let minor = tx.customer_balance(account, currency).await?;
    Ok(Money::from_minor(minor, currency))
}

/// A page of the customer balance's entries, newest first.
pub async fn balance_entries(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<BalanceEntry>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    Ok(tx
        .balance_entries(account, page.after.as_deref(), page.limit)
        .await?)
}

/// What the customer balance would deduct from an invoice of `total` now:
/// its credits, oldest first, up to the total.
pub async fn planned_deductions(
    tx: &mut Tx,
    account: &AccountId,
    total: Money,
) -> Result<Vec<(String, Deduction)>, ApiError> {
    let mut left = total.minor();
    let mut out = Vec::new();
    if left <= 0 {
        return Ok(out);
    }
    for s in tx.balance_sources(account, total.currency().code()).await? {
        if left <= 0 {
            break;
        }
        let take = s.left_minor.min(left);
        left -= take;
        let number = match &s.credit_note_id {
            Some(cn) => tx
                .credit_note(account, &CreditNoteId::from_trusted(cn.clone()))
                .await?
                .map(|r| r.number),
            None => None,
        };
        out.push((
            s.id,
            Deduction {
                credit_note_number: number,
                amount_minor: take,
            },
        ));
    }
    Ok(out)
}

/// Deducts the customer balance from a newly issued invoice (under the
/// account's lock, in its issuing transaction): one balance entry going out
/// per credit drawn on, and one payment of the sum (method `other`), so the
/// amount due drops and the invoice is paid when the balance covers it.
pub async fn deduct(
    tx: &mut Tx,
    ctx: &Ctx,
    invoice: &str,
    account: &AccountId,
    planned: &[(String, Deduction)],
    currency: Currency,
) -> Result<Money, ApiError> {
    let total: i64 = planned.iter().map(|(_, d)| d.amount_minor).sum();
    if total <= 0 {
        return Ok(Money::zero(currency));
    }
    let payment = settled_by(
        invoice,
        account,
        Money::from_minor(total, currency),
        "customer balance",
        ctx.now,
    );
    tx.insert_invoice_payment(&payment).await?;
    for (source, d) in planned {
        tx.insert_balance_entry(&BalanceEntry {
            id: BalanceEntryId::generate(),
            account_id: account.clone(),
            amount: Money::from_minor(-d.amount_minor, currency),
            kind: BalanceEntryKind::Deduction,
            invoice_id: Some(invoice.to_owned()),
            payment_id: Some(payment.id.clone()),
            created_at: ctx.now,
            credit_note_id: None,
            source_entry_id: Some(BalanceEntryId::from_trusted(source.clone())),
        })
        .await?;
    }
    let event = ctx.audit_event(
        Some(account),
        "invoice.balance_deducted",
        ("invoice", invoice),
        None,
        Some(json!({ "payment_id": payment.id.as_str(), "amount_minor": total })),
    );
    audit::record(tx, event).await?;
    Ok(Money::from_minor(total, currency))
}

/// The payment that records what the issuer itself settled of an invoice
/// when it was issued (the customer balance, prepaid credits): applied at
/// once, method `other`, `reference` naming where it came from.
pub(super) fn settled_by(
    invoice: &str,
    account: &AccountId,
    amount: Money,
    reference: &str,
    now: time::OffsetDateTime,
) -> InvoicePayment {
    InvoicePayment {
        id: InvoicePaymentId::generate(),
        invoice_id: invoice.to_owned(),
        account_id: Some(account.clone()),
        applied: true,
        amount_minor: Some(amount.minor()),
        currency: Some(amount.currency()),
        paid_at: now,
        method: InvoicePaymentMethod::Other,
        reference: Some(reference.to_owned()),
        overpayment_minor: 0,
        event_id: None,
        created_at: now,
    }
}
