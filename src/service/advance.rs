//! Prepaid credits carry their VAT (SPEC.md section 10): the VAT a top-up
//! is charged, the advance payment invoice (facture d'acompte) its payment
//! issues, and what monthly invoices deduct of those acomptes.

use serde_json::json;
use time::OffsetDateTime;

use super::exchange_rates::VatStatement;
use super::issuing::Issuer;
use super::{Ctx, audit};
use crate::domain::advance::{self, ChargedTax, Prepaid};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, AdvanceAllocationId, InvoiceId, InvoicePaymentId};
use crate::domain::invoice::{Composition, Line, LineKind, Period};
use crate::domain::invoice_payment::{InvoicePayment, InvoicePaymentMethod};
use crate::domain::issued::{AdvanceOf, Invoice, InvoiceKind, InvoiceStatus};
use crate::domain::money::{Currency, Money};
use crate::domain::payment::{PaymentMethodKind, TopUp};
use crate::error::{ApiError, Code};
use crate::render::Lang;
use crate::store::Tx;
use crate::store::advance::Allocation;
use crate::store::invoices::InvoiceRow;

/// The reference of the payment that records what prepaid credits paid of
/// an invoice.
pub const PREPAID_REFERENCE: &str = "prepaid credits";

/// The VAT a top-up of `amount` is charged today: the treatment of the
/// account's verified primary billing address, by the invoices' one rule
/// (`issuing::tax_for`), and its amount. Without a verified primary
/// address the treatment is unknown: 409 `billing_address_unverified`.
pub async fn charged_tax(
    tx: &mut Tx,
    account: &AccountId,
    amount: Money,
    now: OffsetDateTime,
) -> Result<(ChargedTax, Money), ApiError> {
    let today = super::load_account(tx, account)
        .await?
        .timezone
        .date_at(now);
    let address = super::issuing::billing_address(tx, account).await?;
    let tax = super::issuing::tax_now(address.as_ref(), today, "a top-up")?;
    let vat = advance::vat(amount, tax.rate).map_err(ApiError::internal)?;
    // Its acompte invoice states its VAT in euros (CGI art. 289-IV) at the
    // rate of the day it is paid, or the last before: one must exist.
    if super::exchange_rates::vat_in_eur(tx, vat, today).await? == VatStatement::RateMissing {
        return Err(ApiError::rule(
            Code::ExchangeRateMissing,
            super::exchange_rates::missing_detail(amount.currency(), today),
        ));
    }
    Ok((tax.into(), vat))
}

/// How the payment method a top-up was charged on is recorded as the
/// payment of its acompte.
fn payment_method_of(kind: Option<PaymentMethodKind>) -> InvoicePaymentMethod {
    match kind {
        Some(PaymentMethodKind::Card) => InvoicePaymentMethod::Card,
        Some(PaymentMethodKind::SepaDebit) => InvoicePaymentMethod::SepaDebit,
        None => InvoicePaymentMethod::Other,
    }
}

/// Issues the acompte invoice of a top-up whose payment just succeeded, in
/// the settling transaction (the account's lock is held): numbered in the
/// invoice series, dated today in the account's timezone, one line of the
/// credits bought excluding VAT, the VAT the top-up was charged, paid by the
/// top-up (a payment of its total), emailed to the invoice recipients. A
/// top-up made before VAT was charged on top-ups issues none (its credits
/// are deducted without an acompte). Returns the invoice's id.
pub async fn issue(
    tx: &mut Tx,
    ctx: &Ctx,
    issuer: &Issuer,
    top_up: &TopUp,
    now: OffsetDateTime,
) -> Result<Option<InvoiceId>, ApiError> {
    let Some(tax) = &top_up.tax else {
        tracing::info!(top_up = %top_up.id, "top-up made before VAT was charged: no acompte");
        return Ok(None);
    };
    let account = super::load_account(tx, &top_up.account_id).await?;
    let currency = account.currency;
    let amount = Money::from_minor(top_up.amount_minor, currency);
    let tax_amount = Money::from_minor(top_up.tax_minor, currency);
    let total = amount.checked_add(tax_amount).map_err(ApiError::internal)?;
    let issue_date = account.timezone.date_at(now);
    let period = Period::of(issue_date);
    let composition = Composition {
        period,
        lines: vec![Line {
            kind: LineKind::AdvancePayment,
            description: advance::LINE_EN.to_owned(),
            plan: None,
            quantity: 1,
            unit_amount: amount,
            amount,
            days: None,
            days_in_period: None,
            activation_date: None,
            service_start: None,
            service_end: None,
        }],
        subtotal: amount,
        tax: tax.clone().into(),
        tax_amount,
        total,
        covered: Money::zero(currency),
    };
    let address = super::issuing::billing_address(tx, &account.id).await?;
    if address.is_none() {
        tracing::warn!(account = %account.id, top_up = %top_up.id, "acompte issued without a verified billing address");
    }
    let method = tx
        .payment_method(&account.id, &top_up.payment_method_id)
        .await?;
    let method_kind = method.as_ref().map(|m| m.kind);
    let mut snapshot =
        super::issuing::snapshot(&issuer.seller, &account, &composition, address, method);
    snapshot.vat_in_eur = super::exchange_rates::vat_in_eur(tx, tax_amount, issue_date)
        .await?
        .stated();
    snapshot.advance = Some(AdvanceOf {
        top_up_id: top_up.id.to_string(),
        paid_at: now,
    });
    let year = issue_date.year();
    let n = tx.next_invoice_number(account.series(), year).await?;
    let number = account.series().invoice_number(year, n);
    let id = InvoiceId::generate();
    let mut row = InvoiceRow {
        id: id.to_string(),
        account_id: account.id.to_string(),
        number: number.clone(),
        kind: InvoiceKind::Advance.as_str().into(),
        period: period.to_string(),
        status: InvoiceStatus::Issued.as_str().into(),
        issue_date,
        currency: currency.code().into(),
        subtotal_minor: amount.minor(),
        tax_minor: tax_amount.minor(),
        total_minor: total.minor(),
        snapshot: serde_json::to_string(&snapshot).map_err(ApiError::internal)?,
        created_at: now,
        paid_at: None,
        voided_at: None,
        void_reason: None,
    };
    tx.insert_invoice(&row).await?;
    let payment = InvoicePayment {
        id: InvoicePaymentId::generate(),
        invoice_id: row.id.clone(),
        account_id: Some(account.id.clone()),
        applied: true,
        amount_minor: Some(total.minor()),
        currency: Some(currency),
        paid_at: now,
        method: payment_method_of(method_kind),
        reference: Some(top_up.id.to_string()),
        overpayment_minor: 0,
        event_id: None,
        created_at: now,
    };
    tx.insert_invoice_payment(&payment).await?;
    tx.close_invoice(&row.id, InvoiceStatus::Paid, now, None)
        .await?;
    row.status = InvoiceStatus::Paid.as_str().into();
    row.paid_at = Some(now);
    tx.set_top_up_invoice(&top_up.id, &row.id).await?;
    let issued = Invoice::try_from(row.clone())?;
    super::einvoices::on_issued(
        tx,
        &issuer.files,
        super::einvoices::Issued::Invoice(&issued),
        now,
    )
    .await?;
    let emails = super::outbox::queue(tx, &row, Lang::Fr, now).await?;
    let event = ctx.audit_event(
        Some(&account.id),
        "invoice.issued",
        ("invoice", &row.id),
        None,
        Some(json!({
            "kind": InvoiceKind::Advance.as_str(),
            "number": number,
            "issue_date": issue_date.to_string(),
            "top_up_id": top_up.id.as_str(),
            "subtotal_minor": amount.minor(),
            "tax_minor": tax_amount.minor(),
            "total_minor": total.minor(),
            "payment_id": payment.id.as_str(),
            "emails_queued": emails,
        })),
    );
    audit::record(tx, event).await?;
    // Issued paid by its top-up.
    super::invoice_payments::emit_invoice(
        tx,
        now,
        &account.id,
        &id,
        &[EventType::InvoiceFinalized, EventType::InvoicePaid],
    )
    .await?;
    Ok(Some(id))
}

/// What prepaid credits paid of an invoice composed as `c`, were it issued
/// now: its covered consumption, drawn on the account's acomptes with an
/// amount left, oldest first, then without a reference (`advance::allocate`).
pub async fn planned(
    tx: &mut Tx,
    account: &AccountId,
    c: &Composition,
) -> Result<Vec<Prepaid>, ApiError> {
    if c.covered.minor() <= 0 {
        return Ok(Vec::new());
    }
    let advances = tx.advances_left(account, c.total.currency().code()).await?;
    advance::allocate(c.covered, &advances, c.tax.rate, c.total).map_err(ApiError::internal)
}

/// Deducts what prepaid credits paid from a newly issued invoice (under the
/// account's lock, in its issuing transaction): one allocation per acompte
/// drawn on, and one payment of the sum including VAT (method `other`,
/// reference `prepaid credits`), so the amount due drops by it.
pub async fn deduct(
    tx: &mut Tx,
    ctx: &Ctx,
    invoice: &str,
    account: &AccountId,
    planned: &[Prepaid],
    currency: Currency,
) -> Result<Money, ApiError> {
    let total = advance::total(planned);
    if total <= 0 {
        return Ok(Money::zero(currency));
    }
    for p in planned {
        let Some(advance_invoice) = &p.invoice_id else {
            continue;
        };
        tx.insert_advance_allocation(&Allocation {
            id: AdvanceAllocationId::generate(),
            account_id: account.clone(),
            advance_invoice_id: advance_invoice.clone(),
            invoice_id: invoice.to_owned(),
            amount_minor: p.amount_minor,
            tax_minor: p.tax_minor,
            created_at: ctx.now,
        })
        .await?;
    }
    let payment = super::invoice_payments::settled_by(
        invoice,
        account,
        Money::from_minor(total, currency),
        PREPAID_REFERENCE,
        ctx.now,
    );
    tx.insert_invoice_payment(&payment).await?;
    let event = ctx.audit_event(
        Some(account),
        "invoice.prepaid_deducted",
        ("invoice", invoice),
        None,
        Some(json!({
            "payment_id": payment.id.as_str(),
            "amount_minor": total,
            "acomptes": planned
                .iter()
                .map(|p| json!({
                    "invoice_id": p.invoice_id,
                    "amount_minor": p.amount_minor,
                    "tax_minor": p.tax_minor,
                }))
                .collect::<Vec<_>>(),
        })),
    );
    audit::record(tx, event).await?;
    Ok(Money::from_minor(total, currency))
}
