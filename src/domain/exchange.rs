//! Exchange rates and the VAT of a non-EUR document stated in euros (CGI
//! art. 289-IV): the ECB reference rate, units of a currency for 1 EUR, and
//! the one conversion every invoice and credit note uses.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

use super::money::{Currency, Money, MoneyError};

/// Digits a rate may have after the decimal point (the ECB publishes 4 or 5).
pub const RATE_DIGITS: u32 = 6;
const MICROS_PER_UNIT: i64 = 1_000_000;
/// The largest rate recorded: 10,000 units of a currency for 1 EUR.
pub const RATE_MAX_MICROS: i64 = 10_000 * MICROS_PER_UNIT;

/// Why a rate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("must be a decimal number such as \"1.0523\"")]
    NotADecimal,
    #[error("has more than 6 digits after the decimal point")]
    TooPrecise,
    #[error("must be more than 0 and at most 10000")]
    OutOfRange,
}

/// An ECB reference rate: how many units of a currency make 1 EUR, exact
/// to the millionth, more than 0 and at most 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EurRate(i64);

impl EurRate {
    /// `"1.0523"`, `"1"`, `"0.85513"`: digits, then at most 6 decimals.
    pub fn parse(raw: &str) -> Result<Self, RateError> {
        let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (raw.contains('.') && frac.is_empty())
        {
            return Err(RateError::NotADecimal);
        }
        if frac.trim_end_matches('0').len() > RATE_DIGITS as usize {
            return Err(RateError::TooPrecise);
        }
        // Shape checked: only the size can fail here.
        let value = Decimal::from_str(raw).map_err(|_| RateError::OutOfRange)?;
        let micros = value
            .checked_mul(Decimal::from(MICROS_PER_UNIT))
            .and_then(|m| m.to_i64())
            .ok_or(RateError::OutOfRange)?;
        Self::from_micros(micros).ok_or(RateError::OutOfRange)
    }

    /// A rate in millionths, as stored; none outside the range.
    pub fn from_micros(micros: i64) -> Option<Self> {
        (1..=RATE_MAX_MICROS)
            .contains(&micros)
            .then_some(Self(micros))
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// `amount` (in any currency but EUR) in euros at this rate: amount /
    /// rate, rounded half away from zero to the cent. Exact: integer
    /// arithmetic on minor units and millionths, no rounding before the
    /// last; an error, never a wrap, when the result leaves the range.
    pub fn to_eur(self, amount: Money) -> Result<Money, MoneyError> {
        let pow = |digits: u32| 10_i128.pow(digits);
        // amount_minor / 10^from x 10^6 / micros x 10^eur, as one fraction.
        let numerator = i128::from(amount.minor()).abs()
            * i128::from(MICROS_PER_UNIT)
            * pow(Currency::Eur.digits());
        let denominator = i128::from(self.0) * pow(amount.currency().digits());
        let (quotient, remainder) = (numerator / denominator, numerator % denominator);
        let rounded = if 2 * remainder >= denominator {
            quotient + 1
        } else {
            quotient
        };
        let signed = if amount.is_negative() {
            -rounded
        } else {
            rounded
        };
        let minor = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, Currency::Eur))
    }
}

impl fmt::Display for EurRate {
    /// At least 4 decimals, as the ECB writes its rates (`1.0523`,
    /// `0.85513`, `1.1000`), and no trailing zero beyond them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = Decimal::new(self.0, RATE_DIGITS).normalize();
        if value.scale() < 4 {
            value.rescale(4);
        }
        write!(f, "{value}")
    }
}

impl Serialize for EurRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EurRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        EurRate::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A rate staff recorded: the ECB reference rate of `currency` on `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRate {
    pub currency: Currency,
    pub date: Date,
    pub rate: EurRate,
    /// When it was recorded (or last replaced).
    pub recorded_at: time::OffsetDateTime,
}

/// The first ECB euro reference rate was published on 4 January 1999.
pub const FIRST_RATE_DATE: Date = time::macros::date!(1999 - 01 - 04);

/// The currencies rates are recorded for: every one Comptoir bills in but EUR.
pub fn rated_currencies() -> impl Iterator<Item = Currency> {
    Currency::ALL.into_iter().filter(|c| *c != Currency::Eur)
}

/// Whether a document whose VAT total is `vat` must also state it in euros:
/// it is in another currency and there is VAT to state (zero is zero in
/// any currency: no rate converts it).
pub fn needs_statement(vat: Money) -> bool {
    vat.currency() != Currency::Eur && vat.minor() != 0
}

/// A document's VAT total stated in euros: the amount, and the rate it was
/// converted at with the day that rate is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatInEur {
    /// In EUR minor units.
    pub amount_minor: i64,
    pub rate: EurRate,
    pub rate_date: Date,
}

impl VatInEur {
    /// States `vat` in euros at `rate`, the rate of `rate_date`.
    pub fn state(vat: Money, rate: EurRate, rate_date: Date) -> Result<Self, MoneyError> {
        Ok(VatInEur {
            amount_minor: rate.to_eur(vat)?.minor(),
            rate,
            rate_date,
        })
    }

    pub fn amount(&self) -> Money {
        Money::from_minor(self.amount_minor, Currency::Eur)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Usd)
    }

    fn rate(raw: &str) -> EurRate {
        EurRate::parse(raw).unwrap()
    }

    #[test]
    fn vat_is_divided_by_the_rate_and_rounded_half_up_to_the_cent() {
        // 12.80 / 1.0523 = 12.16383...: 12.16 EUR.
        // 64.00 x 0.2 = 12.80 USD of VAT; 1,280 x 1,000,000 / 1,052,300 = 1,216.38.
        let cases = [
            (1_280, "1.0523", 1_216),
            // 100.00 / 0.8 = 125.00 exactly.
            (10_000, "0.8", 12_500),
            // Exactly half a cent goes up: 0.01 / 2 = 0.005, 0.03 / 2 = 0.015.
            (1, "2", 1),
            (3, "2", 2),
            // Under half a cent goes down: 0.01 / 3 = 0.00333.
            (1, "3", 0),
            // 0.05 / 3 = 0.016666...: up.
            (5, "3", 2),
            // The largest rate and the smallest one.
            (1_000_000, "10000", 100),
            (1, "0.000001", 1_000_000),
            (0, "1.0523", 0),
        ];
        for (vat, r, eur) in cases {
            assert_eq!(
                rate(r).to_eur(usd(vat)),
                Ok(Money::from_minor(eur, Currency::Eur)),
                "{vat} at {r}"
            );
        }
    }

    #[test]
    fn a_negative_amount_rounds_away_from_zero_like_a_positive_one() {
        assert_eq!(rate("1.0523").to_eur(usd(-1_280)).unwrap().minor(), -1_216);
        assert_eq!(rate("2").to_eur(usd(-1)).unwrap().minor(), -1);
    }

    #[test]
    fn a_conversion_past_the_range_is_an_error_never_a_wrap() {
        assert_eq!(
            rate("0.000001").to_eur(usd(i64::MAX)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            rate("0.000001").to_eur(usd(i64::MIN)),
            Err(MoneyError::Overflow)
        );
        // At a rate of 1 the largest amount still fits.
        assert_eq!(rate("1").to_eur(usd(i64::MAX)).unwrap().minor(), i64::MAX);
    }

    #[test]
    fn rates_are_positive_bounded_decimals_of_at_most_six_digits() {
        for (raw, micros) in [
            ("1.0523", 1_052_300),
            ("1", 1_000_000),
            ("0.85513", 855_130),
            ("0.000001", 1),
            ("10000", RATE_MAX_MICROS),
            ("10000.000000", RATE_MAX_MICROS),
            ("1.05230000", 1_052_300),
            ("001.5", 1_500_000),
        ] {
            assert_eq!(
                EurRate::parse(raw).map(EurRate::micros),
                Ok(micros),
                "{raw}"
            );
        }
        for (raw, error) in [
            ("", RateError::NotADecimal),
            ("abc", RateError::NotADecimal),
            ("-1", RateError::NotADecimal),
            ("+1", RateError::NotADecimal),
            ("1e3", RateError::NotADecimal),
            (".5", RateError::NotADecimal),
            ("1.", RateError::NotADecimal),
            ("1,05", RateError::NotADecimal),
            (" 1", RateError::NotADecimal),
            ("1.0000001", RateError::TooPrecise),
            ("0", RateError::OutOfRange),
            ("0.000000", RateError::OutOfRange),
            ("10000.000001", RateError::OutOfRange),
            ("99999999999999999999999999999", RateError::OutOfRange),
        ] {
            assert_eq!(EurRate::parse(raw), Err(error), "{raw:?}");
        }
        assert_eq!(EurRate::from_micros(0), None);
        assert_eq!(EurRate::from_micros(RATE_MAX_MICROS + 1), None);
    }

    #[test]
    fn a_rate_is_written_with_at_least_four_decimals_as_the_ecb_does() {
        assert_eq!(rate("1.0523").to_string(), "1.0523");
        assert_eq!(rate("0.85513").to_string(), "0.85513");
        assert_eq!(rate("1.1").to_string(), "1.1000");
        assert_eq!(rate("1").to_string(), "1.0000");
        assert_eq!(rate("0.000001").to_string(), "0.000001");
        assert_eq!(rate("10000").to_string(), "10000.0000");
        assert_eq!(
            serde_json::to_value(rate("1.0523")).unwrap(),
            serde_json::json!("1.0523")
        );
        let back: EurRate = serde_json::from_value(serde_json::json!("0.85513")).unwrap();
        assert_eq!(back, rate("0.85513"));
    }

    #[test]
    fn only_vat_in_another_currency_than_eur_is_stated_in_euros() {
        assert!(needs_statement(usd(1_280)));
        assert!(!needs_statement(usd(0)));
        assert!(!needs_statement(Money::from_minor(1_280, Currency::Eur)));
        assert_eq!(
            rated_currencies().collect::<Vec<_>>(),
            [Currency::Usd, Currency::Gbp, Currency::Chf]
        );
        let stated = VatInEur::state(usd(1_280), rate("1.0523"), date!(2026 - 06 - 01)).unwrap();
        assert_eq!(stated.amount().amount(), "12.16");
        assert_eq!(
            serde_json::to_value(stated).unwrap(),
            serde_json::json!({"amount_minor": 1216, "rate": "1.0523", "rate_date": "2026-06-01"})
        );
    }
}
