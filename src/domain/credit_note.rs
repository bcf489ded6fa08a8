//! Credit notes (factures d'avoir, SPEC.md section 10): what remains
//! creditable on an issued invoice, line by line, and the lines and totals
//! of a credit note asked for by quantities or amounts of those lines.
//!
//! Amounts are positive on a document of credit-note type. VAT follows the
//! invoice's treatment and is rounded once on the credit note's subtotal,
//! as the invoice's was; the credit note that credits the rest of the
//! invoice takes the rest of its VAT, so an invoice's credit notes add up
//! to its total to the cent and never beyond.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use super::exchange::VatInEur;
use super::ids::{AccountId, CreditNoteId, InvoiceId};
use super::invoice::{LineKind, TaxTreatment};
use super::issued::{AddressFieldsSnapshot, SnapshotLine};
use super::money::{Currency, Money, MoneyError};
use super::seller::Seller;

/// The most lines a credit note request may name.
pub const MAX_REQUEST_LINES: usize = 200;
/// The most a quantity of a request line may be.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// What an earlier credit note took off one line of the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credited {
    /// The invoice line's position (from 0).
    pub line: usize,
    /// The quantity credited at the line's unit price; `None` for an amount.
    pub quantity: Option<u32>,
    pub amount_minor: i64,
}

/// An issued invoice as credit notes see it: its lines and totals as
/// issued, its VAT treatment, and what earlier credit notes took off.
#[derive(Debug, Clone)]
pub struct Creditable<'a> {
    pub currency: Currency,
    pub lines: &'a [SnapshotLine],
    /// The invoice's VAT rate, in percent.
    pub tax_rate: Decimal,
    pub subtotal: Money,
    pub tax_amount: Money,
    pub total: Money,
    /// Every line of every earlier credit note of the invoice.
    pub credited: Vec<Credited>,
    /// The subtotal, VAT and total of the earlier credit notes.
    pub credited_subtotal: Money,
    pub credited_tax: Money,
    pub credited_total: Money,
}

/// What is left to credit on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRemaining {
    /// Units not credited yet (each credit of an amount counts none).
    pub quantity: u32,
    pub amount: Money,
}

/// One line of a request: `quantity` units at the line's unit price, or an
/// `amount` of it; exactly one of the two.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLine {
    /// The position of the invoice line the request names; `None` when the
    /// id names no line of this invoice.
    pub line: Option<usize>,
    /// As sent: must be a whole number.
    pub quantity: Option<f64>,
    pub amount: Option<Money>,
}

/// A line of a credit note: positive amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteLine {
    /// The credited invoice line's position (from 0); its id is
    /// `InvoiceLineId::of(invoice, line)`.
    pub invoice_line: usize,
    pub kind: LineKind,
    pub description: String,
    pub plan: Option<String>,
    pub quantity: u32,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    /// Whether the line credits units at the invoice line's unit price
    /// (false: an amount of the line).
    pub by_quantity: bool,
    /// The invoice line's proration and service days, for its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_in_period: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_start: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_end: Option<Date>,
}

/// A credit note's lines and totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub lines: Vec<CreditNoteLine>,
    pub subtotal: Money,
    pub tax_amount: Money,
    pub total: Money,
}

/// Why a credit note is refused; each has its own code in the error table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("lines[{index}].invoice_line is not a line of this invoice")]
    UnknownLine { index: usize },
    #[error("lines[{index}].quantity must be a whole number from 1 to {MAX_QUANTITY}")]
    QuantityNotWhole { index: usize },
    #[error("lines[{index}] must give either a quantity or an amount, not {what}")]
    QuantityOrAmount { index: usize, what: &'static str },
    #[error(
        "lines[{index}] credits more than remains creditable on that invoice line: {remaining} (quantity {quantity})"
    )]
    ExceedsLine {
        index: usize,
        remaining: String,
        quantity: u32,
    },
    #[error("nothing remains creditable on this invoice: its credit notes cover its total")]
    NothingRemains,
    #[error("the credit note would exceed what remains creditable on the invoice: {remaining}")]
    ExceedsInvoice { remaining: String },
    #[error("amounts out of range: {0}")]
    Money(#[from] MoneyError),
}

impl Creditable<'_> {
    /// What is left of line `line`.
    pub fn remaining_on(&self, line: usize) -> Result<LineRemaining, CreditError> {
        let l = &self.lines[line];
        let mut amount = Money::from_minor(l.amount_minor, self.currency);
        let mut quantity = l.quantity;
        for c in self.credited.iter().filter(|c| c.line == line) {
            amount = amount.checked_sub(Money::from_minor(c.amount_minor, self.currency))?;
            quantity = quantity.saturating_sub(c.quantity.unwrap_or(0));
        }
        // A whole unit more than the amount left cannot be credited.
        let by_amount = if l.unit_amount_minor > 0 {
            u32::try_from(amount.minor().max(0) / l.unit_amount_minor).unwrap_or(u32::MAX)
        } else {
            0
        };
        Ok(LineRemaining {
            quantity: quantity.min(by_amount),
            amount,
        })
    }

    /// What is left of the whole invoice (its total less its credit notes').
    pub fn remaining_total(&self) -> Result<Money, MoneyError> {
        self.total.checked_sub(self.credited_total)
    }

    /// Whether the credit notes cover the whole total.
    pub fn fully_credited(&self) -> Result<bool, MoneyError> {
        Ok(self.remaining_total()?.minor() <= 0)
    }

    /// Everything still creditable: each line's rest (its units when none
    /// were credited, otherwise the amount left), the rest of the VAT.
    pub fn full(&self) -> Result<Computed, CreditError> {
        if self.fully_credited()? {
            return Err(CreditError::NothingRemains);
        }
        let mut lines = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let left = self.remaining_on(i)?;
            if left.amount.minor() <= 0 {
                continue;
            }
            // Whole units left at the line's price (only units were credited
            // before, or nothing): credited as units; otherwise the amount left.
            let units = i64::from(left.quantity)
                .checked_mul(l.unit_amount_minor)
                .is_some_and(|m| m == left.amount.minor());
            lines.push(if units {
                line_of(
                    l,
                    i,
                    left.quantity,
                    l.unit_amount_minor,
                    left.amount.minor(),
                    true,
                )
            } else {
                line_of(l, i, 1, left.amount.minor(), left.amount.minor(), false)
            });
        }
        let subtotal = self.subtotal.checked_sub(self.credited_subtotal)?;
        let tax_amount = self.tax_amount.checked_sub(self.credited_tax)?;
        let total = self.remaining_total()?;
        Ok(Computed {
            lines,
            subtotal,
            tax_amount,
            total,
        })
    }

    /// The credit note of `request`'s lines (in their order; a line named
    /// twice is credited twice, within what remains of it).
    pub fn partial(&self, request: &[RequestLine]) -> Result<Computed, CreditError> {
        if self.fully_credited()? {
            return Err(CreditError::NothingRemains);
        }
        let mut taken: Vec<Credited> = Vec::new();
        let mut lines = Vec::new();
        for (index, r) in request.iter().enumerate() {
            let line = r
                .line
                .filter(|&l| l < self.lines.len())
                .ok_or(CreditError::UnknownLine { index })?;
            let l = &self.lines[line];
            let quantity = match (r.quantity, r.amount) {
                (Some(_), Some(_)) => {
                    return Err(CreditError::QuantityOrAmount {
                        index,
                        what: "both",
                    });
                }
                (None, None) => {
                    return Err(CreditError::QuantityOrAmount {
                        index,
                        what: "neither",
                    });
                }
                (Some(q), None) => Some(whole(q).ok_or(CreditError::QuantityNotWhole { index })?),
                (None, Some(_)) => None,
            };
            let mut seen = self.clone();
            seen.credited.extend(taken.iter().copied());
            let left = seen.remaining_on(line)?;
            let exceeds = || CreditError::ExceedsLine {
                index,
                remaining: left.amount.amount(),
                quantity: left.quantity,
            };
            let credited = match (quantity, r.amount) {
                (Some(q), _) => {
                    let amount = Money::from_minor(l.unit_amount_minor, self.currency).times(q)?;
                    if q > left.quantity || amount.minor() > left.amount.minor() {
                        return Err(exceeds());
                    }
                    line_of(l, line, q, l.unit_amount_minor, amount.minor(), true)
                }
                (None, Some(amount)) => {
                    if amount.currency() != self.currency
                        || amount.minor() <= 0
                        || amount.minor() > left.amount.minor()
                    {
                        return Err(exceeds());
                    }
                    line_of(l, line, 1, amount.minor(), amount.minor(), false)
                }
                (None, None) => unreachable!("checked above"),
            };
            taken.push(Credited {
                line,
                quantity: credited.by_quantity.then_some(credited.quantity),
                amount_minor: credited.amount_minor,
            });
            lines.push(credited);
        }
        let subtotal = Money::sum(
            self.currency,
            lines
                .iter()
                .map(|l| Money::from_minor(l.amount_minor, self.currency)),
        )?;
        let subtotal_left = self.subtotal.checked_sub(self.credited_subtotal)?;
        let tax_left = self.tax_amount.checked_sub(self.credited_tax)?;
        let tax_amount = if subtotal == subtotal_left {
            tax_left
        } else {
            let rounded = Money::round(
                subtotal
                    .to_decimal()
                    .checked_mul(self.tax_rate)
                    .ok_or(MoneyError::Overflow)?
                    / Decimal::from(100),
                self.currency,
            )?;
            if rounded.minor() > tax_left.minor() {
                tax_left
            } else {
                rounded
            }
        };
        let total = subtotal.checked_add(tax_amount)?;
        let remaining = self.remaining_total()?;
        if total.minor() > remaining.minor() {
            return Err(CreditError::ExceedsInvoice {
                remaining: remaining.amount(),
            });
        }
        Ok(Computed {
            lines,
            subtotal,
            tax_amount,
            total,
        })
    }
}

/// `q` as a whole number of units from 1 to [`MAX_QUANTITY`].
fn whole(q: f64) -> Option<u32> {
    (q.is_finite() && q.fract() == 0.0 && (1.0..=f64::from(MAX_QUANTITY)).contains(&q))
        .then_some(q as u32)
}

fn line_of(
    l: &SnapshotLine,
    line: usize,
    quantity: u32,
    unit_amount_minor: i64,
    amount_minor: i64,
    by_quantity: bool,
) -> CreditNoteLine {
    CreditNoteLine {
        invoice_line: line,
        kind: l.kind,
        description: l.description.clone(),
        plan: l.plan.clone(),
        quantity,
        unit_amount_minor,
        amount_minor,
        by_quantity,
        days: l.days,
        days_in_period: l.days_in_period,
        activation_date: l.activation_date,
        service_start: l.service_start,
        service_end: l.service_end,
    }
}

/// What a credit note keeps of the moment it was issued, never updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteSnapshot {
    pub seller: Seller,
    pub account_name: String,
    pub buyer: Option<AddressFieldsSnapshot>,
    pub invoice_number: String,
    pub invoice_issue_date: Date,
    pub period_start: Date,
    pub period_end: Date,
    pub lines: Vec<CreditNoteLine>,
    pub tax_treatment: TaxTreatment,
    /// In percent.
    pub tax_rate: String,
    /// The invoice's VAT mention (credit notes issued before it was kept:
    /// the treatment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_mention: Option<super::tax::Mention>,
    /// The invoice's category of operation (printed when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_category: Option<super::issued::OperationCategory>,
    /// A non-EUR credit note's VAT total in euros (CGI art. 289-IV): at the
    /// rate of its issue date or the last one before, else its invoice's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_in_eur: Option<VatInEur>,
}

/// An issued credit note.
#[derive(Debug, Clone)]
pub struct CreditNote {
    pub id: CreditNoteId,
    pub account_id: AccountId,
    pub invoice_id: InvoiceId,
    pub number: String,
    pub issue_date: Date,
    pub reason: String,
    pub currency: Currency,
    pub subtotal: Money,
    pub tax: Money,
    pub total: Money,
    /// The part that lowered the invoice's amount due.
    pub applied: Money,
    /// The part beyond the amount due, added to the customer balance.
    pub to_balance: Money,
    pub snapshot: CreditNoteSnapshot,
    pub created_at: time::OffsetDateTime,
    /// Its stored e-invoice files.
    pub e_invoice: Option<super::issued::EInvoiceFiles>,
}

impl CreditNote {
    /// Its lines as [`Credited`], for the next credit note of the invoice.
    pub fn credited(&self) -> impl Iterator<Item = Credited> + '_ {
        self.snapshot.lines.iter().map(|l| Credited {
            line: l.invoice_line,
            quantity: l.by_quantity.then_some(l.quantity),
            amount_minor: l.amount_minor,
        })
    }
}

/// How a credit note of `total` settles on an invoice with `due` left to
/// pay: what lowers the amount due, and the rest, owed to the customer.
pub fn settle(total: Money, due: Money) -> Result<(Money, Money), MoneyError> {
    let zero = Money::zero(total.currency());
    let due = if due.is_negative() { zero } else { due };
    if total.minor() <= due.minor() {
        Ok((total, zero))
    } else {
        Ok((due, total.checked_sub(due)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EUR: Currency = Currency::Eur;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, EUR)
    }

    fn line(kind: LineKind, quantity: u32, unit: i64) -> SnapshotLine {
        SnapshotLine {
            kind,
            description: format!("{kind:?}"),
            plan: Some("ADVANCED".into()),
            quantity,
            unit_amount_minor: unit,
            amount_minor: unit * i64::from(quantity),
            days: None,
            days_in_period: None,
            activation_date: None,
            service_start: None,
            service_end: None,
        }
    }

    /// The help page's May invoice: 1002.73 + 200.55 = 1203.28, with 10
    /// ADVANCED licenses at 64.00.
    fn may() -> Vec<SnapshotLine> {
        vec![
            line(LineKind::License, 10, 6400),
            line(LineKind::PhoneNumber, 3, 1000),
            line(LineKind::LicenseProration, 1, 23473),
            line(LineKind::Consumption, 1, 9800),
        ]
    }

    fn creditable<'a>(lines: &'a [SnapshotLine], earlier: &[&Computed]) -> Creditable<'a> {
        let subtotal = eur(lines.iter().map(|l| l.amount_minor).sum());
        let tax_amount = Money::round(
            subtotal.to_decimal() * Decimal::from(20) / Decimal::from(100),
            EUR,
        )
        .unwrap();
        let mut c = Creditable {
            currency: EUR,
            lines,
            tax_rate: Decimal::from(20),
            subtotal,
            tax_amount,
            total: subtotal.checked_add(tax_amount).unwrap(),
            credited: Vec::new(),
            credited_subtotal: eur(0),
            credited_tax: eur(0),
            credited_total: eur(0),
        };
        for e in earlier {
            for l in &e.lines {
                c.credited.push(Credited {
                    line: l.invoice_line,
                    quantity: l.by_quantity.then_some(l.quantity),
                    amount_minor: l.amount_minor,
                });
            }
            c.credited_subtotal = c.credited_subtotal.checked_add(e.subtotal).unwrap();
            c.credited_tax = c.credited_tax.checked_add(e.tax_amount).unwrap();
            c.credited_total = c.credited_total.checked_add(e.total).unwrap();
        }
        c
    }

    fn by_quantity(line: usize, q: f64) -> RequestLine {
        RequestLine {
            line: Some(line),
            quantity: Some(q),
            amount: None,
        }
    }

    fn by_amount(line: usize, minor: i64) -> RequestLine {
        RequestLine {
            line: Some(line),
            quantity: None,
            amount: Some(eur(minor)),
        }
    }

    #[test]
    fn the_may_invoice_adds_up_to_the_help_page() {
        let lines = may();
        let c = creditable(&lines, &[]);
        assert_eq!(
            (c.subtotal.amount(), c.tax_amount.amount(), c.total.amount()),
            ("1002.73".into(), "200.55".into(), "1203.28".into())
        );
    }

    #[test]
    fn a_full_credit_note_credits_the_whole_invoice() {
        let lines = may();
        let full = creditable(&lines, &[]).full().unwrap();
        assert_eq!(
            (
                full.subtotal.amount(),
                full.tax_amount.amount(),
                full.total.amount()
            ),
            ("1002.73".into(), "200.55".into(), "1203.28".into())
        );
        assert_eq!(full.lines.len(), 4);
        assert_eq!(
            (full.lines[0].quantity, full.lines[0].unit_amount_minor),
            (10, 6400)
        );
        assert!(full.lines.iter().all(|l| l.amount_minor > 0));
    }

    #[test]
    fn one_advanced_license_of_ten_is_64_plus_12_80() {
        let lines = may();
        let one = creditable(&lines, &[])
            .partial(&[by_quantity(0, 1.0)])
            .unwrap();
        assert_eq!(
            (
                one.subtotal.amount(),
                one.tax_amount.amount(),
                one.total.amount()
            ),
            ("64.00".into(), "12.80".into(), "76.80".into())
        );
        assert_eq!(one.lines[0].quantity, 1);
        assert!(one.lines[0].by_quantity);
    }

    #[test]
    fn a_line_is_never_credited_beyond_what_remains_of_it() {
        let lines = may();
        let nine = creditable(&lines, &[])
            .partial(&[by_quantity(0, 9.0)])
            .unwrap();
        let c = creditable(&lines, &[&nine]);
        assert_eq!(c.remaining_on(0).unwrap().quantity, 1);
        assert!(matches!(
            c.partial(&[by_quantity(0, 2.0)]),
            Err(CreditError::ExceedsLine { index: 0, .. })
        ));
        assert!(matches!(
            c.partial(&[by_amount(0, 6401)]),
            Err(CreditError::ExceedsLine { index: 0, .. })
        ));
        // Named twice in one request: the second sees the first.
        assert!(matches!(
            creditable(&lines, &[]).partial(&[by_quantity(0, 6.0), by_quantity(0, 5.0)]),
            Err(CreditError::ExceedsLine { index: 1, .. })
        ));
        // An amount of a line leaves fewer whole units to credit.
        let part = creditable(&lines, &[])
            .partial(&[by_amount(0, 3200)])
            .unwrap();
        let c = creditable(&lines, &[&part]);
        assert_eq!(c.remaining_on(0).unwrap().quantity, 9);
        assert_eq!(c.remaining_on(0).unwrap().amount, eur(60800));
    }

    #[test]
    fn two_partial_credit_notes_never_exceed_the_invoice() {
        let lines = may();
        let first = creditable(&lines, &[])
            .partial(&[
                by_quantity(0, 10.0),
                by_quantity(1, 3.0),
                by_amount(2, 23473),
            ])
            .unwrap();
        let c = creditable(&lines, &[&first]);
        let rest = c.full().unwrap();
        // What is left of a line credited by units is credited by units.
        let nine = creditable(&lines, &[])
            .partial(&[by_quantity(0, 9.0)])
            .unwrap();
        let after_nine = creditable(&lines, &[&nine]).full().unwrap();
        assert_eq!(
            (
                after_nine.lines[0].quantity,
                after_nine.lines[0].unit_amount_minor
            ),
            (1, 6400)
        );
        assert!(after_nine.lines[0].by_quantity);
        assert_eq!(
            first.total.checked_add(rest.total).unwrap().amount(),
            "1203.28"
        );
        assert_eq!(
            first
                .tax_amount
                .checked_add(rest.tax_amount)
                .unwrap()
                .amount(),
            "200.55"
        );
        let done = creditable(&lines, &[&first, &rest]);
        assert!(done.fully_credited().unwrap());
        assert_eq!(done.full(), Err(CreditError::NothingRemains));
        assert_eq!(
            done.partial(&[by_amount(3, 1)]),
            Err(CreditError::NothingRemains)
        );
    }

    #[test]
    fn the_last_credit_note_takes_the_rest_of_the_vat_so_rounding_never_exceeds() {
        // 0.03 + 0.03: the invoice's VAT is 0.01; each half alone rounds to 0.01.
        let lines = vec![line(LineKind::Charge, 1, 3), line(LineKind::Charge, 1, 3)];
        let c = creditable(&lines, &[]);
        assert_eq!(c.tax_amount, eur(1));
        let first = c.partial(&[by_amount(0, 3)]).unwrap();
        assert_eq!(first.tax_amount, eur(1));
        let c = creditable(&lines, &[&first]);
        let second = c.partial(&[by_amount(1, 3)]).unwrap();
        assert_eq!(second.tax_amount, eur(0));
        assert_eq!(first.total.minor() + second.total.minor(), 7);
    }

    #[test]
    fn a_request_line_gives_a_known_line_and_a_whole_quantity_or_an_amount() {
        let lines = may();
        let c = creditable(&lines, &[]);
        let unknown = RequestLine {
            line: None,
            quantity: Some(1.0),
            amount: None,
        };
        assert_eq!(
            c.partial(&[by_quantity(0, 1.0), unknown]),
            Err(CreditError::UnknownLine { index: 1 })
        );
        assert_eq!(
            c.partial(&[by_quantity(9, 1.0)]),
            Err(CreditError::UnknownLine { index: 0 })
        );
        for q in [1.5, 0.0, -1.0, f64::NAN, 2e9] {
            assert_eq!(
                c.partial(&[by_quantity(0, q)]),
                Err(CreditError::QuantityNotWhole { index: 0 }),
                "{q}"
            );
        }
        let both = RequestLine {
            line: Some(0),
            quantity: Some(1.0),
            amount: Some(eur(100)),
        };
        let neither = RequestLine {
            line: Some(0),
            quantity: None,
            amount: None,
        };
        assert!(matches!(
            c.partial(&[both]),
            Err(CreditError::QuantityOrAmount { index: 0, .. })
        ));
        assert!(matches!(
            c.partial(&[neither]),
            Err(CreditError::QuantityOrAmount { index: 0, .. })
        ));
        assert!(matches!(
            c.partial(&[by_amount(0, 0)]),
            Err(CreditError::ExceedsLine { .. })
        ));
    }

    #[test]
    fn reverse_charge_credit_notes_carry_no_vat() {
        let lines = may();
        let mut c = creditable(&lines, &[]);
        c.tax_rate = Decimal::ZERO;
        c.tax_amount = eur(0);
        c.total = c.subtotal;
        let one = c.partial(&[by_quantity(0, 1.0)]).unwrap();
        assert_eq!((one.tax_amount, one.total), (eur(0), eur(6400)));
    }

    #[test]
    fn a_credit_lowers_what_is_due_and_the_rest_goes_to_the_balance() {
        assert_eq!(settle(eur(7680), eur(120328)), Ok((eur(7680), eur(0))));
        assert_eq!(settle(eur(7680), eur(0)), Ok((eur(0), eur(7680))));
        assert_eq!(settle(eur(7680), eur(1000)), Ok((eur(1000), eur(6680))));
    }

    #[test]
    fn numbers_are_av_year_and_six_digits() {
        use crate::domain::test_clock::Series;
        assert_eq!(Series::Live.credit_note_number(2026, 1), "AV-2026-000001");
        assert_eq!(
            Series::Live.credit_note_number(2027, 123456),
            "AV-2027-123456"
        );
    }
}
