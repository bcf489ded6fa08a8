//! Proration (SPEC.md section 3): a license or phone number activated on day
//! `d` of a month of `N` days is charged for `N - d + 1` days (the activation
//! day counts): `unit = round(price x days / N)` to cents, half away from
//! zero; `line = unit x quantity` (round per unit, then multiply).

use rust_decimal::Decimal;
use time::Date;

use super::money::{Money, MoneyError};

/// The part of a month paid in advance from an activation day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepaidPeriod {
    pub start: Date,
    /// The last day of the month (included).
    pub end: Date,
    pub days: u8,
    pub days_in_month: u8,
}

/// From `activation` to the end of its month, both included.
pub fn prepaid_period(activation: Date) -> PrepaidPeriod {
    let days_in_month = activation.month().length(activation.year());
    let end = activation
        .replace_day(days_in_month)
        .expect("the last day exists in its month");
    PrepaidPeriod {
        start: activation,
        end,
        days: days_in_month - activation.day() + 1,
        days_in_month,
    }
}

/// `round(price x days / days_in_month)`, half away from zero, to the currency's digits.
pub fn prorate(price: Money, days: u8, days_in_month: u8) -> Result<Money, MoneyError> {
    let exact = price
        .to_decimal()
        .checked_mul(Decimal::from(days))
        .and_then(|d| d.checked_div(Decimal::from(days_in_month)))
        .ok_or(MoneyError::Overflow)?;
    Money::round(exact, price.currency())
}

/// The prorated amount of one unit activated on `activation`.
pub fn prorated_unit(price: Money, activation: Date) -> Result<Money, MoneyError> {
    let period = prepaid_period(activation);
    prorate(price, period.days, period.days_in_month)
}

/// `unit x quantity`, after the unit was rounded.
pub fn times(unit: Money, quantity: u32) -> Result<Money, MoneyError> {
    unit.times(quantity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use time::macros::date;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    const ADVANCED: i64 = 6400;

    #[test]
    fn the_april_rows_of_the_spec() {
        for (day, days, unit) in [(1, 30, 6400), (2, 29, 6187), (9, 22, 4693)] {
            let activation = Date::from_calendar_date(2026, time::Month::April, day).unwrap();
            let period = prepaid_period(activation);
            assert_eq!(
                (period.days, period.days_in_month),
                (days, 30),
                "April {day}"
            );
            assert_eq!(period.end, date!(2026 - 04 - 30));
            assert_eq!(
                prorated_unit(eur(ADVANCED), activation).unwrap(),
                eur(unit),
                "April {day}"
            );
        }
    }

    #[test]
    fn two_licenses_on_april_9_are_two_rounded_units() {
        let unit = prorated_unit(eur(ADVANCED), date!(2026 - 04 - 09)).unwrap();
        assert_eq!(times(unit, 2).unwrap(), eur(9386));
    }

    #[test]
    fn february_in_a_leap_year_and_not() {
        let leap = prepaid_period(date!(2028 - 02 - 15));
        assert_eq!((leap.days, leap.days_in_month), (15, 29));
        // 64 x 15 / 29 = 33.1034...
        assert_eq!(
            prorated_unit(eur(ADVANCED), date!(2028 - 02 - 15)).unwrap(),
            eur(3310)
        );
        let common = prepaid_period(date!(2026 - 02 - 15));
        assert_eq!((common.days, common.days_in_month), (14, 28));
        assert_eq!(
            prorated_unit(eur(ADVANCED), date!(2026 - 02 - 15)).unwrap(),
            eur(3200)
        );
        assert_eq!(prepaid_period(date!(2028 - 02 - 29)).days, 1);
    }

    #[test]
    fn thirty_one_day_months_and_the_first_and_last_days() {
        assert_eq!(
            prorated_unit(eur(ADVANCED), date!(2026 - 05 - 01)).unwrap(),
            eur(6400)
        );
        // 64 / 31 = 2.0645...
        assert_eq!(
            prorated_unit(eur(ADVANCED), date!(2026 - 05 - 31)).unwrap(),
            eur(206)
        );
        // 64 / 30 = 2.1333...
        assert_eq!(
            prorated_unit(eur(ADVANCED), date!(2026 - 04 - 30)).unwrap(),
            eur(213)
        );
        // A phone number at 5.00 from May 17: 5 x 15 / 31 = 2.419...
        assert_eq!(
            prorated_unit(eur(500), date!(2026 - 05 - 17)).unwrap(),
            eur(242)
        );
    }

    #[test]
    fn halves_round_away_from_zero() {
        // 1.00 x 1 / 8 = 0.125 -> 0.13 (a rounding to even would give 0.12).
        assert_eq!(prorate(eur(100), 1, 8).unwrap(), eur(13));
    }
}
