//! Payments of an invoice: what was received, how, and what is still due;
//! failed debits; the customer balance an overpayment goes to.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ids::{
    AccountId, BalanceEntryId, CreditNoteId, InvoicePaymentFailureId, InvoicePaymentId,
};
use super::money::{Currency, Money, MoneyError};

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoicePaymentMethod {
    Card,
    SepaDebit,
    Transfer,
    Cheque,
    Other,
}

impl InvoicePaymentMethod {
    pub const ALL: [InvoicePaymentMethod; 5] = [
        Self::Card,
        Self::SepaDebit,
        Self::Transfer,
        Self::Cheque,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::SepaDebit => "sepa_debit",
            Self::Transfer => "transfer",
            Self::Cheque => "cheque",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

/// A payment received for an invoice. `applied` payments count in the
/// invoice's amount paid; one that came for an invoice already settled, or
/// unknown, is kept on record and counts nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePayment {
    pub id: InvoicePaymentId,
    /// The invoice the payment names (it may not exist, for a webhook event).
    pub invoice_id: String,
    /// None when no invoice has that id.
    pub account_id: Option<AccountId>,
    pub applied: bool,
    /// None only for a webhook event not applied that named no amount.
    pub amount_minor: Option<i64>,
    pub currency: Option<Currency>,
    pub paid_at: OffsetDateTime,
    pub method: InvoicePaymentMethod,
    pub reference: Option<String>,
    /// What the payment brought beyond the amount due, added to the
    /// customer balance.
    pub overpayment_minor: i64,
    /// The payment webhook's event id, when it recorded the payment.
    pub event_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A failed debit of an invoice, with the provider's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFailure {
    pub id: InvoicePaymentFailureId,
    pub invoice_id: String,
    pub account_id: Option<AccountId>,
    pub reason: Option<String>,
    pub failed_at: OffsetDateTime,
    pub event_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Where an invoice stands with its payments (SPEC.md section 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The applied payments' sum; more than the total after an overpayment.
    pub amount_paid: Money,
    /// What credit notes took off; zero until they exist.
    pub amount_credited: Money,
    /// `total - paid - credited`, never below zero; zero for a void invoice.
    pub amount_due: Money,
    /// Every payment recorded for the invoice, oldest first.
    pub payments: Vec<InvoicePayment>,
    /// Every failed debit, oldest first.
    pub failures: Vec<PaymentFailure>,
    /// The invoice's credit notes, oldest first.
    pub credit_notes: Vec<CreditNoteRef>,
}

/// A credit note as its invoice lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteRef {
    pub id: CreditNoteId,
    pub number: String,
    pub issue_date: time::Date,
    pub total: Money,
}

impl Settlement {
    /// Nothing paid, nothing credited: the whole total due (nothing, when
    /// the invoice is `void`).
    pub fn unpaid(total: Money, void: bool) -> Self {
        let zero = Money::zero(total.currency());
        Settlement {
            amount_paid: zero,
            amount_credited: zero,
            amount_due: amount_due(total, zero, zero, void).unwrap_or(total),
            payments: Vec::new(),
            failures: Vec::new(),
            credit_notes: Vec::new(),
        }
    }

    /// The settlement of an invoice of `total` (`void` or not) with these
    /// payments (those of another currency or not applied count nowhere)
    /// and credit notes.
    pub fn of(
        total: Money,
        void: bool,
        payments: Vec<InvoicePayment>,
        failures: Vec<PaymentFailure>,
        credit_notes: Vec<CreditNoteRef>,
    ) -> Result<Self, MoneyError> {
        let currency = total.currency();
        let amount_paid = paid(currency, &payments)?;
        let amount_credited = Money::sum(currency, credit_notes.iter().map(|c| c.total))?;
        Ok(Settlement {
            amount_paid,
            amount_credited,
            amount_due: amount_due(total, amount_paid, amount_credited, void)?,
            payments,
            failures,
            credit_notes,
        })
    }
}

/// The sum of the applied payments in `currency`, checked.
pub fn paid(currency: Currency, payments: &[InvoicePayment]) -> Result<Money, MoneyError> {
    Money::sum(
        currency,
        payments
            .iter()
            .filter(|p| p.applied && p.currency == Some(currency))
            .filter_map(|p| p.amount_minor)
            .map(|minor| Money::from_minor(minor, currency)),
    )
}

/// `total - paid - credited`, never below zero (an overpayment went to the
/// customer balance); nothing is due on a void invoice.
pub fn amount_due(
    total: Money,
    paid: Money,
    credited: Money,
    void: bool,
) -> Result<Money, MoneyError> {
    let zero = Money::zero(total.currency());
    if void {
        return Ok(zero);
    }
    let due = total.checked_sub(paid)?.checked_sub(credited)?;
    Ok(if due.is_negative() { zero } else { due })
}

/// How a payment meets the amount due: what it settles, and what it
/// brings beyond, which goes to the customer balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    /// The invoice is paid once this payment is recorded.
    pub settles: bool,
    /// The part of the payment beyond the amount due.
    pub overpayment: Money,
}

/// Applies `payment` to an invoice with `due` left to pay.
pub fn apply(due: Money, payment: Money) -> Result<Application, MoneyError> {
    let rest = payment.checked_sub(due)?;
    let zero = Money::zero(due.currency());
    Ok(Application {
        settles: !rest.is_negative(),
        overpayment: if rest.is_negative() { zero } else { rest },
    })
}

/// What a line of the customer balance comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceEntryKind {
    /// The part of a payment beyond the amount due of its invoice.
    Overpayment,
    /// What was paid on an invoice that staff then voided.
    VoidedInvoice,
    /// The part of a credit note beyond its invoice's amount due.
    CreditNote,
    /// Paid back to the customer out of a credit note's credit (negative).
    Refund,
    /// Deducted from a later invoice's amount due (negative).
    Deduction,
}

impl BalanceEntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overpayment => "overpayment",
            Self::VoidedInvoice => "voided_invoice",
            Self::CreditNote => "credit_note",
            Self::Refund => "refund",
            Self::Deduction => "deduction",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Overpayment,
            Self::VoidedInvoice,
            Self::CreditNote,
            Self::Refund,
            Self::Deduction,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// A line of the customer balance: a signed amount, positive when owed to
/// the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceEntry {
    pub id: BalanceEntryId,
    pub account_id: AccountId,
    pub amount: Money,
    pub kind: BalanceEntryKind,
    pub invoice_id: Option<String>,
    pub payment_id: Option<InvoicePaymentId>,
    pub created_at: OffsetDateTime,
    /// The credit note it comes from (kinds `credit_note`, `refund`).
    pub credit_note_id: Option<CreditNoteId>,
    /// For an entry going out: the entry it draws on.
    pub source_entry_id: Option<BalanceEntryId>,
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const EUR: Currency = Currency::Eur;

    fn eur(amount: &str) -> Money {
        Money::parse(amount, EUR).unwrap()
    }

    fn payment(minor: i64, applied: bool) -> InvoicePayment {
        InvoicePayment {
            id: InvoicePaymentId::generate(),
            invoice_id: "inv_1".into(),
            account_id: Some(AccountId::from_trusted("acc_1".into())),
            applied,
            amount_minor: Some(minor),
            currency: Some(EUR),
            paid_at: datetime!(2026-05-02 09:00 UTC),
            method: InvoicePaymentMethod::Transfer,
            reference: None,
            overpayment_minor: 0,
            event_id: None,
            created_at: datetime!(2026-05-02 09:00 UTC),
        }
    }

    #[test]
    fn a_method_reads_back_what_it_writes_and_nothing_else() {
        for m in InvoicePaymentMethod::ALL {
            assert_eq!(InvoicePaymentMethod::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert_eq!(InvoicePaymentMethod::parse("Card"), None);
        assert_eq!(InvoicePaymentMethod::parse("paypal"), None);
    }

    #[test]
    fn the_amount_due_is_the_total_less_payments_and_credits_never_below_zero() {
        let issued = false;
        assert_eq!(
            amount_due(eur("120.00"), eur("0"), eur("0"), issued),
            Ok(eur("120.00"))
        );
        assert_eq!(
            amount_due(eur("120.00"), eur("50.00"), eur("0"), issued),
            Ok(eur("70.00"))
        );
        assert_eq!(
            amount_due(eur("120.00"), eur("50.00"), eur("70.00"), issued),
            Ok(eur("0"))
        );
        assert_eq!(
            amount_due(eur("120.00"), eur("150.00"), eur("0"), false),
            Ok(eur("0"))
        );
        assert_eq!(
            amount_due(eur("120.00"), eur("0"), eur("0"), true),
            Ok(eur("0"))
        );
        assert!(
            amount_due(
                Money::from_minor(i64::MIN, EUR),
                eur("0.01"),
                eur("0"),
                issued
            )
            .is_err()
        );
    }

    #[test]
    fn only_applied_payments_count_in_the_amount_paid() {
        let s = Settlement::of(
            eur("100.00"),
            false,
            vec![
                payment(3000, true),
                payment(2500, true),
                payment(9900, false),
            ],
            Vec::new(),
            Vec::new(),
        )
        .unwrap();
        assert_eq!((s.amount_paid, s.amount_due), (eur("55.00"), eur("45.00")));
        assert_eq!(s.amount_credited, eur("0"));
        let unpaid = Settlement::unpaid(eur("100.00"), false);
        assert_eq!(
            (unpaid.amount_paid, unpaid.amount_due),
            (eur("0"), eur("100.00"))
        );
    }

    #[test]
    fn a_payment_settles_when_it_reaches_the_amount_due_and_the_excess_is_an_overpayment() {
        let partial = apply(eur("100.00"), eur("40.00")).unwrap();
        assert_eq!((partial.settles, partial.overpayment), (false, eur("0")));
        let exact = apply(eur("60.00"), eur("60.00")).unwrap();
        assert_eq!((exact.settles, exact.overpayment), (true, eur("0")));
        let over = apply(eur("60.00"), eur("75.50")).unwrap();
        assert_eq!((over.settles, over.overpayment), (true, eur("15.50")));
        // Nothing due (a zero total): the whole payment is an overpayment.
        let nothing_due = apply(eur("0"), eur("10.00")).unwrap();
        assert_eq!(
            (nothing_due.settles, nothing_due.overpayment),
            (true, eur("10.00"))
        );
    }
}
