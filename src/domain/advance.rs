//! Prepaid credits and VAT (SPEC.md section 10): a top-up is charged its
//! amount plus VAT, and once paid it is invoiced as an advance payment
//! (facture d'acompte). The monthly invoice bills consumption in full and,
//! under its totals, deducts what the credits already paid: first from the
//! acomptes that have some amount left, oldest first, each with its own VAT;
//! then, for credits no acompte stands behind (staff adjustments, top-ups
//! made before VAT was charged on them), at the invoice's own rate, without
//! a reference. VAT on an advance payment for services is due when it is
//! collected (CGI art. 269-2-c); the final invoice deducts the acomptes,
//! excluding and including VAT.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::{Money, MoneyError};
use super::tax::{Tax, TaxTreatment};

/// The description of an acompte invoice's one line, in French and English.
pub const LINE_FR: &str = "Acompte sur crédits prépayés";
pub const LINE_EN: &str = "Advance payment on prepaid credits";

/// The VAT on `amount` at `rate` percent, rounded once, half away from zero.
pub fn vat(amount: Money, rate: Decimal) -> Result<Money, MoneyError> {
    Money::round(
        amount
            .to_decimal()
            .checked_mul(rate)
            .ok_or(MoneyError::Overflow)?
            / Decimal::from(100),
        amount.currency(),
    )
}

/// The VAT a top-up was charged: the account's treatment, its rate and the
/// territory it was decided from when the top-up was made (`tax::decide`).
/// Kept with the top-up, so its acompte invoice states exactly what was
/// charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargedTax {
    pub treatment: TaxTreatment,
    /// In percent.
    pub rate: Decimal,
    pub territory: String,
}

impl From<Tax> for ChargedTax {
    fn from(t: Tax) -> Self {
        ChargedTax {
            treatment: t.treatment,
            rate: t.rate,
            territory: t.territory,
        }
    }
}

impl From<ChargedTax> for Tax {
    fn from(t: ChargedTax) -> Self {
        Tax {
            treatment: t.treatment,
            rate: t.rate,
            territory: t.territory,
        }
    }
}

/// An acompte invoice as the deductions see it: its amount and VAT, and
/// what later invoices already deducted of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub invoice_id: String,
    pub number: String,
    /// Excluding VAT: the credits bought.
    pub amount_minor: i64,
    pub tax_minor: i64,
    /// What allocations took of the amount and of the VAT so far.
    pub used_minor: i64,
    pub used_tax_minor: i64,
}

impl Advance {
    fn left(&self) -> i64 {
        (self.amount_minor - self.used_minor).max(0)
    }

    fn tax_left(&self) -> i64 {
        (self.tax_minor - self.used_tax_minor).max(0)
    }
}

/// What prepaid credits paid of an invoice, shown under its totals: from an
/// acompte invoice, or (`invoice_id` none) from credits no acompte stands
/// behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepaid {
    pub invoice_id: Option<String>,
    pub invoice_number: Option<String>,
    /// Excluding VAT.
    pub amount_minor: i64,
    /// The VAT on it: the acompte's, or the invoice's rate when there is no acompte.
    pub tax_minor: i64,
}

impl Prepaid {
    /// Including VAT.
    pub fn total_minor(&self) -> i64 {
        self.amount_minor + self.tax_minor
    }
}

/// The sum, including VAT, of `prepaid`.
pub fn total(prepaid: &[Prepaid]) -> i64 {
    prepaid.iter().map(Prepaid::total_minor).sum()
}

/// What the credits paid of an invoice that bills `covered` of consumption
/// paid from credits (excluding VAT), at `rate` percent, for a total of
/// `cap` including VAT: the acomptes with an amount left, in the order
/// given (oldest first), each never beyond what is left of it, with its own
/// VAT (proportional, and the rest of it when the acompte is used up); then
/// the rest of `covered` at `rate`, without a reference. The deductions
/// never exceed `cap` (a rounding, or an acompte taxed at a higher rate than
/// the invoice): the last ones give up their VAT, then their amount.
pub fn allocate(
    covered: Money,
    advances: &[Advance],
    rate: Decimal,
    cap: Money,
) -> Result<Vec<Prepaid>, MoneyError> {
    let currency = covered.currency();
    let mut remaining = covered.minor().max(0);
    let mut out = Vec::new();
    for a in advances {
        if remaining == 0 {
            break;
        }
        let left = a.left();
        if left == 0 {
            continue;
        }
        let take = left.min(remaining);
        let tax = if take == left {
            a.tax_left()
        } else {
            let share = Decimal::from(a.tax_minor)
                .checked_mul(Decimal::from(take))
                .ok_or(MoneyError::Overflow)?
                / Decimal::from(a.amount_minor);
            Money::round(
                share / Decimal::from(10_i64.pow(currency.digits())),
                currency,
            )?
            .minor()
            .min(a.tax_left())
        };
        remaining -= take;
        out.push(Prepaid {
            invoice_id: Some(a.invoice_id.clone()),
            invoice_number: Some(a.number.clone()),
            amount_minor: take,
            tax_minor: tax,
        });
    }
    if remaining > 0 {
        out.push(Prepaid {
            invoice_id: None,
            invoice_number: None,
            amount_minor: remaining,
            tax_minor: vat(Money::from_minor(remaining, currency), rate)?.minor(),
        });
    }
    let mut excess = total(&out) - cap.minor().max(0);
    for p in out.iter_mut().rev() {
        if excess <= 0 {
            break;
        }
        let tax = p.tax_minor.min(excess);
        p.tax_minor -= tax;
        excess -= tax;
    }
    for p in out.iter_mut().rev() {
        if excess <= 0 {
            break;
        }
        let amount = p.amount_minor.min(excess);
        p.amount_minor -= amount;
        excess -= amount;
    }
    out.retain(|p| p.amount_minor > 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    fn advance(n: u32, amount: i64, tax: i64, used: i64, used_tax: i64) -> Advance {
        Advance {
            invoice_id: format!("inv_{n}"),
            number: format!("F-2026-00000{n}"),
            amount_minor: amount,
            tax_minor: tax,
            used_minor: used,
            used_tax_minor: used_tax,
        }
    }

    fn summary(p: &[Prepaid]) -> Vec<(Option<&str>, i64, i64)> {
        p.iter()
            .map(|p| (p.invoice_number.as_deref(), p.amount_minor, p.tax_minor))
            .collect()
    }

    #[test]
    fn a_top_up_of_100_is_charged_120_in_france() {
        assert_eq!(vat(eur(10_000), Decimal::from(20)), Ok(eur(2_000)));
        assert_eq!(vat(eur(10_000), Decimal::new(85, 1)), Ok(eur(850)));
        assert_eq!(vat(eur(10_000), Decimal::ZERO), Ok(eur(0)));
        // 12.34 x 20 % = 2.468: rounded once.
        assert_eq!(vat(eur(1_234), Decimal::from(20)), Ok(eur(247)));
    }

    #[test]
    fn the_issues_worked_example_deducts_36_from_the_acompte() {
        let a = [advance(1, 10_000, 2_000, 0, 0)];
        let p = allocate(eur(3_000), &a, Decimal::from(20), eur(100_000)).unwrap();
        assert_eq!(summary(&p), vec![(Some("F-2026-000001"), 3_000, 600)]);
        assert_eq!(total(&p), 3_600);
    }

    #[test]
    fn consumption_straddling_two_acomptes_draws_on_both_oldest_first() {
        let a = [
            advance(1, 10_000, 2_000, 8_000, 1_600),
            advance(2, 5_000, 1_000, 0, 0),
        ];
        let p = allocate(eur(3_000), &a, Decimal::from(20), eur(100_000)).unwrap();
        assert_eq!(
            summary(&p),
            vec![
                (Some("F-2026-000001"), 2_000, 400),
                (Some("F-2026-000002"), 1_000, 200)
            ]
        );
    }

    #[test]
    fn an_acompte_used_up_gives_the_rest_of_its_vat_so_its_deductions_add_up_to_its_total() {
        // 33.33 + 33.33 + 33.34 of 100.00 + 20.00: 6.67 + 6.67 + 6.66.
        let mut a = advance(1, 10_000, 2_000, 0, 0);
        let mut taxes = Vec::new();
        for covered in [3_333, 3_333, 3_334] {
            let p = allocate(eur(covered), &[a.clone()], Decimal::from(20), eur(100_000)).unwrap();
            a.used_minor += p[0].amount_minor;
            a.used_tax_minor += p[0].tax_minor;
            taxes.push(p[0].tax_minor);
        }
        assert_eq!(taxes, vec![667, 667, 666]);
        assert_eq!((a.used_minor, a.used_tax_minor), (10_000, 2_000));
        // Nothing is left of it: the next covered consumption has no acompte.
        let p = allocate(eur(1_000), &[a], Decimal::from(20), eur(100_000)).unwrap();
        assert_eq!(summary(&p), vec![(None, 1_000, 200)]);
    }

    #[test]
    fn credits_without_an_acompte_are_deducted_at_the_invoices_rate_without_a_reference() {
        let a = [advance(1, 1_000, 200, 0, 0)];
        let p = allocate(eur(2_500), &a, Decimal::new(85, 1), eur(100_000)).unwrap();
        assert_eq!(
            summary(&p),
            vec![(Some("F-2026-000001"), 1_000, 200), (None, 1_500, 128)]
        );
        assert!(
            allocate(eur(0), &a, Decimal::from(20), eur(100))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn deductions_never_exceed_the_invoices_total() {
        // An acompte at 20 % deducted from an invoice now at 0 %: 30.00 due
        // at most, so its VAT is not deducted.
        let a = [advance(1, 10_000, 2_000, 0, 0)];
        let p = allocate(eur(3_000), &a, Decimal::ZERO, eur(3_000)).unwrap();
        assert_eq!(summary(&p), vec![(Some("F-2026-000001"), 3_000, 0)]);
        // A total smaller than the amount itself takes the amount down too.
        let p = allocate(eur(3_000), &a, Decimal::ZERO, eur(2_500)).unwrap();
        assert_eq!(summary(&p), vec![(Some("F-2026-000001"), 2_500, 0)]);
        assert!(
            allocate(eur(3_000), &a, Decimal::ZERO, eur(0))
                .unwrap()
                .is_empty()
        );
    }
}
