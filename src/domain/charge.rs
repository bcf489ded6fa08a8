//! One-off charges (SPEC.md section 10): a porting fee, a set-up, added by
//! staff and billed once, on the account's next invoice.

use time::OffsetDateTime;

use super::ids::{AccountId, ChargeId, InvoiceId};
use super::money::{Money, limits};

/// The longest description, in characters as sent.
pub const DESCRIPTION_MAX_CHARS: usize = 200;

/// The most units one charge bills.
pub const QUANTITY_MAX: u32 = 10_000;

/// What a charge bills: a unit amount within its limits (more than zero, at
/// most [`limits::CHARGE_UNIT_MAX_MINOR`]), a quantity of 1 to
/// [`QUANTITY_MAX`], and their product. A request's terms are built by
/// [`ChargeTerms::new`]; stored ones are read back with [`ChargeTerms::from_trusted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeTerms {
    unit_amount: Money,
    quantity: u32,
    amount: Money,
}

impl ChargeTerms {
    /// `unit_amount x quantity`, or `None` when either is out of its limits.
    /// The product of the largest of both (10^10 minor units) is far inside
    /// `i64`; it is computed checked all the same.
    pub fn new(unit_amount: Money, quantity: u32) -> Option<ChargeTerms> {
        let in_limits = valid_unit_amount(unit_amount) && valid_quantity(quantity);
        let amount = unit_amount.times(quantity).ok()?;
        in_limits.then_some(ChargeTerms {
            unit_amount,
            quantity,
            amount,
        })
    }

    /// Terms read back from the store, which only holds terms once built by
    /// [`ChargeTerms::new`] (and checks `amount = unit_amount x quantity`):
    /// they stay readable should the limits change.
    pub fn from_trusted(unit_amount: Money, quantity: u32, amount: Money) -> ChargeTerms {
        ChargeTerms {
            unit_amount,
            quantity,
            amount,
        }
    }

    pub fn unit_amount(&self) -> Money {
        self.unit_amount
    }

    pub fn quantity(&self) -> u32 {
        self.quantity
    }

    pub fn amount(&self) -> Money {
        self.amount
    }
}

/// More than zero and at most [`limits::CHARGE_UNIT_MAX_MINOR`].
pub fn valid_unit_amount(unit_amount: Money) -> bool {
    unit_amount.is_within(1, limits::CHARGE_UNIT_MAX_MINOR)
}

/// 1 to [`QUANTITY_MAX`].
pub fn valid_quantity(quantity: u32) -> bool {
    (1..=QUANTITY_MAX).contains(&quantity)
}

/// A charge of an account. `invoice_id` is set, once, by the invoice that
/// bills it; until then staff may delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: ChargeId,
    pub account_id: AccountId,
    pub description: String,
    pub terms: ChargeTerms,
    pub invoice_id: Option<InvoiceId>,
    pub created_at: OffsetDateTime,
    /// The subject of the staff token that added it.
    pub created_by: String,
}

impl Charge {
    pub fn is_billed(&self) -> bool {
        self.invoice_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    #[test]
    fn the_amount_is_the_unit_amount_times_the_quantity_to_the_cent() {
        for (unit, quantity, amount) in [
            (2500, 1, 2500),
            (1250, 3, 3750),
            (1, 10_000, 10_000),
            (333, 7, 2331),
            (1_000_000, 10_000, 10_000_000_000),
        ] {
            let terms = ChargeTerms::new(eur(unit), quantity).unwrap();
            assert_eq!(terms.amount(), eur(amount), "{unit} x {quantity}");
            assert_eq!(terms.unit_amount(), eur(unit));
            assert_eq!(terms.quantity(), quantity);
        }
    }

    #[test]
    fn a_unit_amount_of_zero_or_less_or_above_10000_is_refused() {
        for unit in [0, -1, -2500, 1_000_001, i64::MAX] {
            assert_eq!(ChargeTerms::new(eur(unit), 1), None, "{unit}");
        }
        assert!(ChargeTerms::new(eur(1_000_000), 1).is_some());
        assert!(ChargeTerms::new(eur(1), 1).is_some());
    }

    #[test]
    fn a_quantity_of_zero_or_above_10000_is_refused() {
        for quantity in [0, 10_001, u32::MAX] {
            assert_eq!(ChargeTerms::new(eur(100), quantity), None, "{quantity}");
        }
    }
}
