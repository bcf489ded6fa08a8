//! Credit notes (factures d'avoir, SPEC.md section 10): an issued invoice is
//! corrected, never voided, by a credit note with its own gapless number
//! (`AV-YYYY-NNNNNN`) that references it. Issuing one takes the account's
//! lock before reading what remains creditable, so concurrent credit notes
//! of one invoice never add up to more than it. What a credit note takes
//! off beyond the invoice's amount due goes to the customer balance, which
//! later invoices deduct from their amount due and staff may refund.

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::events::{self, Object};
use super::issuing::Issuer;
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::clean_name;
use crate::domain::consumption::to_stored_instant;
use crate::domain::credit_note::{
    self, CreditError, CreditNote, CreditNoteSnapshot, Creditable, Credited, RequestLine,
};
use crate::domain::event::EventType;
use crate::domain::ids::{
    AccountId, BalanceEntryId, CreditNoteId, InvoiceId, InvoiceLineId, RefundId,
};
use crate::domain::invoice_payment::{BalanceEntry, BalanceEntryKind};
use crate::domain::issued::{Invoice, InvoiceKind, InvoiceStatus};
use crate::domain::money::{Amount, Currency, Money, limits};
use crate::error::{ApiError, Code, FieldErrors};
use crate::store::credit_notes::{CreditNoteRow, RefundRow};
use crate::store::{Page, Store, Tx};

/// The longest reason.
pub const REASON_MAX_CHARS: usize = 500;
/// The longest refund reference.
pub const REFERENCE_MAX_CHARS: usize = 200;

/// A line of a credit note request, as sent.
#[derive(Debug, Clone)]
pub struct LineAsk {
    pub invoice_line: String,
    pub quantity: Option<f64>,
    pub amount: Option<String>,
}

impl TryFrom<CreditNoteRow> for CreditNote {
    type Error = ApiError;

    fn try_from(r: CreditNoteRow) -> Result<Self, ApiError> {
        let currency =
            Currency::parse(&r.currency).ok_or_else(|| ApiError::internal("currency"))?;
        let money = |minor| Money::from_minor(minor, currency);
        Ok(CreditNote {
            id: CreditNoteId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            invoice_id: InvoiceId::from_trusted(r.invoice_id),
            number: r.number,
            issue_date: r.issue_date,
            reason: r.reason,
            currency,
            subtotal: money(r.subtotal_minor),
            tax: money(r.tax_minor),
            total: money(r.total_minor),
            applied: money(r.applied_minor),
            to_balance: money(r.to_balance_minor),
            snapshot: serde_json::from_str(&r.snapshot).map_err(ApiError::internal)?,
            created_at: r.created_at,
            e_invoice: None,
        })
    }
}

fn refused(e: CreditError) -> ApiError {
    let code = match &e {
        CreditError::UnknownLine { .. } => Code::UnknownInvoiceLine,
        CreditError::QuantityNotWhole { .. } => Code::CreditQuantityNotWhole,
        CreditError::QuantityOrAmount { .. } => Code::CreditQuantityOrAmount,
        CreditError::ExceedsLine { .. } => Code::CreditExceedsLine,
        CreditError::NothingRemains | CreditError::ExceedsInvoice { .. } => {
            Code::CreditExceedsInvoice
        }
        CreditError::Money(m) => return ApiError::internal(m),
    };
    ApiError::rule(code, e.to_string())
}

/// Each request line's amount, checked (`None` for a line by quantity).
type LineAmounts = Option<Vec<Option<Money>>>;

/// Checks the shape of the request: the reason, and each line's amount in
/// the invoice's currency. Every bad field is named at once.
fn check(
    reason: &str,
    lines: Option<&[LineAsk]>,
    currency: Currency,
) -> Result<(String, LineAmounts), ApiError> {
    let mut errors = FieldErrors::default();
    let reason = errors.check(
        "reason",
        clean_name(reason, REASON_MAX_CHARS),
        "must be 1 to 500 characters, not only spaces, without control or invisible characters",
    );
    let amounts = lines.map(|lines| {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                l.amount.as_ref().and_then(|raw| {
                    let parsed = Amount::parse(raw)
                        .and_then(|a| a.in_currency(currency))
                        .ok()
                        .filter(|m| m.is_within(1, limits::PAYMENT_MAX_MINOR));
                    errors.check(
                        &format!("lines.{i}.amount"),
                        parsed,
                        &format!(
                            "must be a decimal amount from 0.01 to {}, such as \"64.00\"",
                            Money::from_minor(limits::PAYMENT_MAX_MINOR, currency)
                        ),
                    )
                })
            })
            .collect::<Vec<_>>()
    });
    if lines.is_some_and(|l| l.is_empty() || l.len() > credit_note::MAX_REQUEST_LINES) {
        errors.check::<()>("lines", None, "must name 1 to 200 lines, or be left out");
    }
    for (i, l) in lines.unwrap_or_default().iter().enumerate() {
        let n = l.invoice_line.chars().count();
        if n == 0 || n > 80 {
            errors.check::<()>(
                &format!("lines.{i}.invoice_line"),
                None,
                "must be an invoice line's id, 1 to 80 characters",
            );
        }
    }
    errors.finish()?;
    Ok((reason.unwrap_or_default(), amounts))
}

/// What is creditable on `invoice` given its earlier credit notes.
fn creditable<'a>(
    invoice: &'a Invoice,
    earlier: &[CreditNote],
) -> Result<Creditable<'a>, ApiError> {
    let c = invoice.currency;
    let sum = |f: fn(&CreditNote) -> Money| {
        Money::sum(c, earlier.iter().map(f)).map_err(ApiError::internal)
    };
    Ok(Creditable {
        currency: c,
        lines: &invoice.snapshot.lines,
        tax_rate: invoice
            .snapshot
            .tax_rate
            .parse()
            .map_err(ApiError::internal)?,
        subtotal: invoice.subtotal,
        tax_amount: invoice.tax,
        total: invoice.total,
        credited: earlier
            .iter()
            .flat_map(CreditNote::credited)
            .collect::<Vec<Credited>>(),
        credited_subtotal: sum(|n| n.subtotal)?,
        credited_tax: sum(|n| n.tax)?,
        credited_total: sum(|n| n.total)?,
    })
}

/// Issues a credit note of the account's invoice `id` in `tx`: every
/// line still creditable without `lines`, or those asked for. The
/// account's lock is taken before what remains is read.
#[instrument(skip_all, fields(account = %account, invoice = %id))]
pub async fn issue(
    tx: &mut Tx,
    ctx: &Ctx,
    issuer: &Issuer,
    account: &AccountId,
    id: &InvoiceId,
    reason: &str,
    lines: Option<Vec<LineAsk>>,
) -> Result<CreditNote, ApiError> {
    let acc = super::load_account(tx, account).await?;
    // Credit notes, payments and finalizations of one account queue here;
    // what remains creditable is read after.
    tx.lock_account(account).await?;
    let Some(row) = tx.invoice(account, id).await? else {
        return match tx.draft_by_id(id.as_str()).await? {
            Some(d) if d.account_id == account.as_str() => {
                check(reason, lines.as_deref(), acc.currency)?;
                Err(ApiError::rule(
                    Code::CreditNoteOnDraft,
                    "the invoice is a draft: it is not issued, so there is nothing to credit",
                ))
            }
            _ => Err(ApiError::NotFound("invoice")),
        };
    };
    let mut invoice: Invoice = row.try_into()?;
    super::invoice_payments::attach(tx, std::slice::from_mut(&mut invoice)).await?;
    let (reason, amounts) = check(reason, lines.as_deref(), invoice.currency)?;
    if invoice.kind == InvoiceKind::Advance {
        return Err(ApiError::rule(
            Code::AdvanceInvoiceNotCreditable,
            format!(
                "invoice {} is an advance payment invoice (acompte): the invoices that bill the \
                 consumption deduct it, it is not credited",
                invoice.number.as_deref().unwrap_or_default()
            ),
        ));
    }
    if invoice.status == InvoiceStatus::Void {
        return Err(ApiError::rule(
            Code::InvoiceNotOpen,
            format!(
                "invoice {} was voided before credit notes existed: nothing is left to credit",
                invoice.number.as_deref().unwrap_or_default()
            ),
        ));
    }
    let earlier: Vec<CreditNote> = tx
        .credit_notes_of(account, id)
        .await?
        .into_iter()
        .map(CreditNote::try_from)
        .collect::<Result<_, _>>()?;
    let creditable = creditable(&invoice, &earlier)?;
    let computed = match (&lines, amounts) {
        (Some(lines), Some(amounts)) => {
            let ids: Vec<String> = (0..invoice.snapshot.lines.len())
                .map(|n| InvoiceLineId::of(id, n).to_string())
                .collect();
            let request: Vec<RequestLine> = lines
                .iter()
                .zip(amounts)
                .map(|(l, amount)| RequestLine {
                    line: ids.iter().position(|i| *i == l.invoice_line),
                    quantity: l.quantity,
                    amount,
                })
                .collect();
            creditable.partial(&request)
        }
        _ => creditable.full(),
    }
    .map_err(refused)?;
    let fully = computed.total.minor()
        >= creditable
            .remaining_total()
            .map_err(ApiError::internal)?
            .minor();
    let (applied, to_balance) = credit_note::settle(computed.total, invoice.settlement.amount_due)
        .map_err(ApiError::internal)?;
    let issue_date = acc.timezone.date_at(ctx.now);
    let year = issue_date.year();
    let n = tx.next_credit_note_number(acc.series(), year).await?;
    let number = acc.series().credit_note_number(year, n);
    let vat_in_eur = super::exchange_rates::credit_note_vat_in_eur(
        tx,
        computed.tax_amount,
        issue_date,
        invoice.snapshot.vat_in_eur,
    )
    .await?;
    let snapshot = CreditNoteSnapshot {
        seller: issuer.seller.clone(),
        account_name: invoice.snapshot.account_name.clone(),
        buyer: invoice.snapshot.buyer.clone(),
        invoice_number: invoice.number.clone().unwrap_or_default(),
        invoice_issue_date: invoice.issue_date,
        period_start: invoice.snapshot.period_start,
        period_end: invoice.snapshot.period_end,
        lines: computed.lines,
        tax_treatment: invoice.snapshot.tax_treatment,
        tax_rate: invoice.snapshot.tax_rate.clone(),
        tax_mention: invoice.snapshot.mention(),
        operation_category: invoice.snapshot.operation_category,
        vat_in_eur,
    };
    let row = CreditNoteRow {
        id: CreditNoteId::generate().to_string(),
        account_id: account.to_string(),
        invoice_id: id.to_string(),
        number: number.clone(),
        issue_date,
        reason,
        currency: invoice.currency.code().into(),
        subtotal_minor: computed.subtotal.minor(),
        tax_minor: computed.tax_amount.minor(),
        total_minor: computed.total.minor(),
        applied_minor: applied.minor(),
        to_balance_minor: to_balance.minor(),
        snapshot: serde_json::to_string(&snapshot).map_err(ApiError::internal)?,
        created_at: ctx.now,
    };
    tx.insert_credit_note(&row).await?;
    if to_balance.minor() > 0 {
        tx.insert_balance_entry(&BalanceEntry {
            id: BalanceEntryId::generate(),
            account_id: account.clone(),
            amount: to_balance,
            kind: BalanceEntryKind::CreditNote,
            invoice_id: Some(id.to_string()),
            payment_id: None,
            created_at: ctx.now,
            credit_note_id: Some(CreditNoteId::from_trusted(row.id.clone())),
            source_entry_id: None,
        })
        .await?;
    }
    if fully {
        tx.mark_credited(id.as_str()).await?;
    }
    let note: CreditNote = row.clone().try_into()?;
    super::einvoices::on_issued(
        tx,
        &issuer.files,
        super::einvoices::Issued::CreditNote(&note),
        ctx.now,
    )
    .await?;
    // Emailed like an invoice, to the same recipients, in this transaction.
    let emails =
        super::outbox::queue_credit_note(tx, &note, crate::render::Lang::Fr, ctx.now).await?;
    let event = ctx.audit_event(
        Some(account),
        "credit_note.issued",
        ("credit_note", &row.id),
        None,
        Some(json!({
            "number": number,
            "invoice_id": id.as_str(),
            "invoice_number": invoice.number,
            "issue_date": issue_date.to_string(),
            "reason": row.reason,
            "total_minor": row.total_minor,
            "applied_minor": row.applied_minor,
            "to_balance_minor": row.to_balance_minor,
            "invoice_fully_credited": fully,
            "emails_queued": emails,
        })),
    );
    audit::record(tx, event).await?;
    // As the API shows it: read back, with its e-invoice files.
    let mut note: CreditNote = tx
        .credit_note(account, &note.id)
        .await?
        .ok_or_else(|| ApiError::internal("the credit note just issued is not there"))?
        .try_into()?;
    super::einvoices::attach_credit_notes(tx, std::slice::from_mut(&mut note)).await?;
    events::emit(
        tx,
        ctx.now,
        account,
        EventType::CreditNoteIssued,
        Object::CreditNote(&note),
    )
    .await?;
    Ok(note)
}

/// A page of the account's credit notes, oldest first.
pub async fn list(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<CreditNote>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    let rows = tx
        .list_credit_notes(account, page.after.as_deref(), page.limit)
        .await?;
    let mut items: Vec<CreditNote> = rows
        .items
        .into_iter()
        .map(CreditNote::try_from)
        .collect::<Result<_, _>>()?;
    super::einvoices::attach_credit_notes(&mut tx, &mut items).await?;
    Ok(Page {
        items,
        has_more: rows.has_more,
    })
}

/// One of the account's credit notes.
pub async fn get(
    store: &Store,
    account: &Authorized,
    id: &CreditNoteId,
) -> Result<CreditNote, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    let mut note: CreditNote = tx
        .credit_note(account, id)
        .await?
        .ok_or(ApiError::NotFound("credit note"))?
        .try_into()?;
    super::einvoices::attach_credit_notes(&mut tx, std::slice::from_mut(&mut note)).await?;
    Ok(note)
}

/// A refund of part of a credit note's credit, as recorded.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: RefundId,
    pub credit_note_id: CreditNoteId,
    pub amount: Money,
    pub refunded_at: OffsetDateTime,
    pub reference: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Staff record that part of what a credit note put on the customer
/// balance was paid back: never more than what is left of it there.
#[instrument(skip_all, fields(account = %account, credit_note = %id))]
pub async fn refund(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &AccountId,
    id: &CreditNoteId,
    amount: &str,
    refunded_at: &str,
    reference: Option<String>,
) -> Result<Refund, ApiError> {
    let acc = super::load_account(tx, account).await?;
    tx.lock_account(account).await?;
    let note: CreditNote = tx
        .credit_note(account, id)
        .await?
        .ok_or(ApiError::NotFound("credit note"))?
        .try_into()?;
    let mut errors = FieldErrors::default();
    let amount = errors.check(
        "amount",
        Amount::parse(amount)
            .and_then(|a| a.in_currency(note.currency))
            .ok()
            .filter(|m| m.is_within(1, limits::PAYMENT_MAX_MINOR)),
        &format!(
            "must be a decimal amount from 0.01 to {}, such as \"64.00\"",
            Money::from_minor(limits::PAYMENT_MAX_MINOR, acc.currency)
        ),
    );
    let at = errors
        .check(
            "refunded_at",
            OffsetDateTime::parse(refunded_at, &Rfc3339).ok(),
            "must be an RFC 3339 instant such as 2026-05-02T09:30:00Z",
        )
        .and_then(|at| {
            errors.check(
                "refunded_at",
                (at <= ctx.now).then(|| to_stored_instant(at)),
                "must not be in the future",
            )
        });
    let reference = errors.check_opt(
        "reference",
        reference,
        |r| clean_name(&r, REFERENCE_MAX_CHARS),
        "must be 1 to 200 characters, not only spaces, without control or invisible characters",
    );
    errors.finish()?;
    let (Some(amount), Some(refunded_at)) = (amount, at) else {
        return Err(ApiError::internal("refund fields checked twice"));
    };
    let source = tx
        .balance_sources(account, note.currency.code())
        .await?
        .into_iter()
        .find(|s| s.credit_note_id.as_deref() == Some(note.id.as_str()));
    let left = source.as_ref().map_or(0, |s| s.left_minor);
    if amount.minor() > left {
        return Err(ApiError::rule(
            Code::RefundExceedsCredit,
            format!(
                "{} is left of credit note {} in the customer balance: {} cannot be refunded",
                Money::from_minor(left, note.currency),
                note.number,
                amount
            ),
        ));
    }
    let Some(source) = source else {
        return Err(ApiError::internal("a refundable credit has its entry"));
    };
    let refund = Refund {
        id: RefundId::generate(),
        credit_note_id: note.id.clone(),
        amount,
        refunded_at,
        reference,
        created_at: ctx.now,
    };
    tx.insert_refund(&RefundRow {
        id: refund.id.to_string(),
        account_id: account.to_string(),
        credit_note_id: note.id.to_string(),
        amount_minor: amount.minor(),
        currency: note.currency.code().into(),
        refunded_at,
        reference: refund.reference.clone(),
        created_at: ctx.now,
    })
    .await?;
    tx.insert_balance_entry(&BalanceEntry {
        id: BalanceEntryId::generate(),
        account_id: account.clone(),
        amount: Money::from_minor(-amount.minor(), note.currency),
        kind: BalanceEntryKind::Refund,
        invoice_id: Some(note.invoice_id.to_string()),
        payment_id: None,
        created_at: ctx.now,
        credit_note_id: Some(note.id.clone()),
        source_entry_id: Some(BalanceEntryId::from_trusted(source.id)),
    })
    .await?;
    let event = ctx.audit_event(
        Some(account),
        "credit_note.refunded",
        ("credit_note", note.id.as_str()),
        None,
        Some(json!({
            "refund_id": refund.id.as_str(),
            "amount_minor": amount.minor(),
            "refunded_at": refunded_at.format(&Rfc3339).ok(),
            "reference": refund.reference,
        })),
    );
    audit::record(tx, event).await?;
    Ok(refund)
}

/// Staff re-invoice a fully credited invoice: a new invoice, with a new
/// number and today's issue date, for the same period and the same lines
/// (what the credited invoice billed, at the amounts it billed them), made
/// from the account's current state: today's billing address and VAT
/// treatment, seller, payment method and customer balance. It says which
/// invoice it replaces. Every item the credited invoice billed is marked
/// billed by the new one, so nothing is billed twice or lost. Once per
/// credited invoice.
#[instrument(skip_all, fields(account = %account, invoice = %id))]
pub async fn reissue(
    store: &Store,
    ctx: &Ctx,
    issuer: &Issuer,
    account: &Authorized,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    use crate::domain::invoice::{Composition, Line, Period};
    use crate::domain::issued::Replaced;
    use crate::render::Lang;
    use crate::store::invoices::InvoiceRow;

    let mut tx = store.begin_write().await?;
    let acc = super::load_account(&mut tx, account).await?;
    tx.lock_account(account).await?;
    let Some(row) = tx.invoice(account, id).await? else {
        return match tx.draft_by_id(id.as_str()).await? {
            Some(d) if d.account_id == account.as_str() => Err(ApiError::rule(
                Code::InvoiceNotCredited,
                "the invoice is a draft: it is not issued, nor credited",
            )),
            _ => Err(ApiError::NotFound("invoice")),
        };
    };
    if row.status != InvoiceStatus::Credited.as_str() {
        return Err(ApiError::rule(
            Code::InvoiceNotCredited,
            format!(
                "invoice {} is {}: only an invoice credit notes cover in full is reissued",
                row.number, row.status
            ),
        ));
    }
    if let Some(number) = tx.reissued(&row.id).await? {
        return Err(ApiError::rule(
            Code::AlreadyExists,
            format!("invoice {} was reissued already, as {number}", row.number),
        ));
    }
    let old: Invoice = row.clone().try_into()?;
    let period = Period::parse(&old.period)
        .ok_or_else(|| ApiError::internal(format!("invoice period {}", old.period)))?;
    let address = super::issuing::billing_address(&mut tx, account).await?;
    let issue_date = acc.timezone.date_at(ctx.now);
    let tax = super::issuing::tax_now(address.as_ref(), issue_date, "a reissued invoice")?;
    let c = old.currency;
    let lines: Vec<Line> = old
        .snapshot
        .lines
        .iter()
        .map(|l| Line {
            kind: l.kind,
            description: l.description.clone(),
            plan: l.plan.clone(),
            quantity: l.quantity,
            unit_amount: Money::from_minor(l.unit_amount_minor, c),
            amount: Money::from_minor(l.amount_minor, c),
            days: l.days,
            days_in_period: l.days_in_period,
            activation_date: l.activation_date,
            service_start: l.service_start,
            service_end: l.service_end,
        })
        .collect();
    let subtotal = Money::sum(c, lines.iter().map(|l| l.amount)).map_err(ApiError::internal)?;
    let tax_amount = Money::round(
        subtotal
            .to_decimal()
            .checked_mul(tax.rate)
            .ok_or_else(|| ApiError::internal("tax overflow"))?
            / rust_decimal::Decimal::from(100),
        c,
    )
    .map_err(ApiError::internal)?;
    let total = subtotal
        .checked_add(tax_amount)
        .map_err(ApiError::internal)?;
    let composition = Composition {
        period,
        lines,
        subtotal,
        tax,
        tax_amount,
        total,
        // What credits paid of it went to the balance with the credit note.
        covered: Money::zero(c),
    };
    let payment_method = super::payments::usable_default(&mut tx, account, ctx.now).await?;
    let mut snapshot =
        super::issuing::snapshot(&issuer.seller, &acc, &composition, address, payment_method);
    let deductions = super::invoice_payments::planned_deductions(&mut tx, account, total).await?;
    snapshot.deductions = deductions.iter().map(|(_, d)| d.clone()).collect();
    snapshot.replaces = Some(Replaced {
        invoice_id: old.id.to_string(),
        number: row.number.clone(),
        issue_date: old.issue_date,
    });
    let deducted: i64 = deductions.iter().map(|(_, d)| d.amount_minor).sum();
    let covered = deducted > 0 && deducted >= total.minor();
    // Issued at once, so never held: without a rate it is refused.
    snapshot.vat_in_eur =
        match super::exchange_rates::vat_in_eur(&mut tx, tax_amount, issue_date).await? {
            super::exchange_rates::VatStatement::RateMissing => {
                return Err(ApiError::rule(
                    Code::ExchangeRateMissing,
                    super::exchange_rates::missing_detail(c, issue_date),
                ));
            }
            statement => statement.stated(),
        };
    let year = issue_date.year();
    let n = tx.next_invoice_number(acc.series(), year).await?;
    let number = acc.series().invoice_number(year, n);
    let new = InvoiceRow {
        id: InvoiceId::generate().to_string(),
        account_id: account.to_string(),
        number: number.clone(),
        kind: InvoiceKind::Period.as_str().into(),
        period: old.period.clone(),
        status: InvoiceStatus::Issued.as_str().into(),
        issue_date,
        currency: c.code().into(),
        subtotal_minor: subtotal.minor(),
        tax_minor: tax_amount.minor(),
        total_minor: total.minor(),
        snapshot: serde_json::to_string(&snapshot).map_err(ApiError::internal)?,
        created_at: ctx.now,
        paid_at: None,
        voided_at: None,
        void_reason: None,
    };
    tx.insert_invoice(&new).await?;
    tx.set_reissue_of(&new.id, &row.id).await?;
    tx.move_billed_items(&row.id, &new.id).await?;
    super::invoice_payments::deduct(&mut tx, ctx, &new.id, account, &deductions, c).await?;
    if covered {
        tx.close_invoice(&new.id, InvoiceStatus::Paid, ctx.now, None)
            .await?;
    }
    let issued = Invoice::try_from(new.clone())?;
    super::einvoices::on_issued(
        &mut tx,
        &issuer.files,
        super::einvoices::Issued::Invoice(&issued),
        ctx.now,
    )
    .await?;
    let emails = super::outbox::queue(&mut tx, &new, Lang::Fr, ctx.now).await?;
    let event = ctx.audit_event(
        Some(account),
        "invoice.reissued",
        ("invoice", &new.id),
        None,
        Some(json!({
            "number": number,
            "replaces": row.number,
            "replaces_invoice_id": row.id,
            "issue_date": issue_date.to_string(),
            "total_minor": total.minor(),
            "emails_queued": emails,
        })),
    );
    audit::record(&mut tx, event).await?;
    let new_id = InvoiceId::from_trusted(new.id.clone());
    let mut invoice: Invoice = tx
        .invoice(account, &new_id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?
        .try_into()?;
    super::invoice_payments::attach(&mut tx, std::slice::from_mut(&mut invoice)).await?;
    super::invoice_payments::emit_issued(&mut tx, ctx.now, &invoice).await?;
    tx.commit().await?;
    Ok(invoice)
}

/// Staff: voids an issued invoice with a reason. An issued invoice is
/// never voided any more: this issues a credit note of everything still
/// creditable, with that reason (`credit_notes::issue`). An invoice voided
/// before credit notes existed, or fully credited, is 409 `invoice_not_open`.
pub async fn void(
    store: &Store,
    ctx: &Ctx,
    issuer: &Issuer,
    account_id: &Authorized,
    id: &InvoiceId,
    reason: &str,
) -> Result<Invoice, ApiError> {
    let mut tx = store.begin_write().await?;
    super::load_account(&mut tx, account_id).await?;
    tx.lock_account(account_id).await?;
    let Some(row) = tx.invoice(account_id, id).await? else {
        return match tx.draft_by_id(id.as_str()).await? {
            Some(d) if d.account_id == account_id.as_str() => Err(ApiError::rule(
                Code::InvoiceNotOpen,
                "the invoice is a draft: it is not issued yet",
            )),
            _ => Err(ApiError::NotFound("invoice")),
        };
    };
    if row.status == InvoiceStatus::Void.as_str() || row.status == InvoiceStatus::Credited.as_str()
    {
        return Err(ApiError::rule(
            Code::InvoiceNotOpen,
            format!(
                "invoice {} is {}: nothing is left to credit",
                row.number, row.status
            ),
        ));
    }
    issue(&mut tx, ctx, issuer, account_id, id, reason, None).await?;
    let mut invoice: Invoice = tx
        .invoice(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?
        .try_into()?;
    super::invoice_payments::attach(&mut tx, std::slice::from_mut(&mut invoice)).await?;
    tx.commit().await?;
    Ok(invoice)
}
