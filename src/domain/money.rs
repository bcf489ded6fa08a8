//! Exact money: integer minor units with an ISO 4217 currency (SPEC.md section 2).
//!
//! Amounts cross the API as decimal strings with exactly the currency's digits
//! (`"64.00"`); arithmetic is done in `rust_decimal`, never in floating point.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest amounts the API accepts, in minor units (README, "Amount
/// limits"). They keep every sum Comptoir computes far inside `i64`
/// (9,223,372,036,854,775,807 minor units, about 9.2 x 10^16 euros): the
/// largest batch is 10,000 x 10,000.00 = 10^10 minor units, an invoice of
/// 10,000 licenses at the largest price with their proration and VAT is about
/// 2.4 x 10^10, a balance at most 10^10 plus pending top-ups. Reaching `i64`
/// would take about 9 x 10^12 records at the largest cost. Sums are checked
/// all the same ([`Money::checked_add`], [`Money::sum`], [`Money::times`]).
pub mod limits {
    /// A consumption record's cost: 0.00 to 10,000.00 (a 24-hour call at
    /// about 7.00 a minute).
    pub const RECORD_COST_MAX_MINOR: i64 = 1_000_000;
    /// A plan's monthly unit price: 0.00 to 10,000.00.
    pub const PLAN_PRICE_MAX_MINOR: i64 = 1_000_000;
    /// A staff adjustment of the credits: -100,000.00 to 100,000.00.
    pub const ADJUSTMENT_MAX_MINOR: i64 = 10_000_000;
    /// The auto-recharge threshold: 0.00 to 10,000.00.
    pub const THRESHOLD_MAX_MINOR: i64 = 1_000_000;
    /// The credit balance an adjustment or a new top-up may bring it to:
    /// 100,000,000.00.
    pub const BALANCE_MAX_MINOR: i64 = 10_000_000_000;
    /// One payment of an invoice (staff route, payment webhook): 0.01 to
    /// 100,000,000.00, the largest credit balance. An invoice is smaller
    /// except past about 4,000 licenses at the largest price; such a one is
    /// paid in several payments, or by `mark-paid`, which records the amount
    /// due whatever it is. An invoice takes payments only while something
    /// is due, so what it was paid stays under its total plus one payment.
    pub const PAYMENT_MAX_MINOR: i64 = 10_000_000_000;
    /// A one-off charge's unit amount: 0.01 to 10,000.00 (a porting or set-up
    /// fee). With at most 10,000 units, a charge is at most 10^10 minor units.
    pub const CHARGE_UNIT_MAX_MINOR: i64 = 1_000_000;
}

/// The currencies Comptoir bills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Currency {
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "GBP")]
    Gbp,
    #[serde(rename = "CHF")]
    Chf,
}

impl Currency {
    pub const ALL: [Currency; 4] = [Currency::Eur, Currency::Usd, Currency::Gbp, Currency::Chf];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Chf => "CHF",
        }
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn digits(self) -> u32 {
        2
    }

    pub fn parse(code: &str) -> Option<Currency> {
        Currency::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as \"64.00\"")]
    NotADecimal,
    #[error("has more than {0} digits after the decimal point")]
    TooPrecise(u32),
    #[error("is too large")]
    Overflow,
    #[error("mixes {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An amount as a request writes it (`"64.00"`), before the currency it is
/// in is known: the API parses the shape at the door, the service that reads
/// the account turns it into [`Money`] of the account's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(Decimal);

impl Amount {
    /// `"64.00"`, `"64"` or `"-3.5"`.
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let valid_shape = {
            let body = raw.strip_prefix('-').unwrap_or(raw);
            let (int, frac) = body.split_once('.').unwrap_or((body, ""));
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && (!body.contains('.') || !frac.is_empty())
                && frac.bytes().all(|b| b.is_ascii_digit())
        };
        if !valid_shape {
            return Err(MoneyError::NotADecimal);
        }
        Decimal::from_str(raw)
            .map(Amount)
            .map_err(|_| MoneyError::Overflow)
    }

    /// The amount in `currency`; more digits than the currency has are refused.
    pub fn in_currency(self, currency: Currency) -> Result<Money, MoneyError> {
        if self.0.normalize().scale() > currency.digits() {
            return Err(MoneyError::TooPrecise(currency.digits()));
        }
        Money::from_decimal_exact(self.0, currency)
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    /// Parses `"64.00"`, `"64"` or `"-3.5"`; refuses more digits than the currency has.
    pub fn parse(raw: &str, currency: Currency) -> Result<Self, MoneyError> {
        Amount::parse(raw)?.in_currency(currency)
    }

    fn from_decimal_exact(value: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let scaled = value
            .checked_mul(Decimal::from(10_i64.pow(currency.digits())))
            .ok_or(MoneyError::Overflow)?;
        let minor = scaled.trunc().to_i64().ok_or(MoneyError::Overflow)?;
        Ok(Self { minor, currency })
    }

    /// Rounds a computed amount to the currency's digits, half away from zero
    /// (the only rounding rule of SPEC.md section 2).
    pub fn round(value: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let rounded =
            value.round_dp_with_strategy(currency.digits(), RoundingStrategy::MidpointAwayFromZero);
        Self::from_decimal_exact(rounded, currency)
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, self.currency.digits())
    }

    pub fn is_negative(self) -> bool {
        self.minor < 0
    }

    /// Whether `min_minor <= self <= max_minor`.
    pub fn is_within(self, min_minor: i64, max_minor: i64) -> bool {
        (min_minor..=max_minor).contains(&self.minor)
    }

    /// `self + other`: an error, never a wrap or a panic, when the sum leaves
    /// the range or the currencies differ.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    /// `self - other`, checked like [`Money::checked_add`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    /// `self x quantity`, checked.
    pub fn times(self, quantity: u32) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    /// The sum of `amounts`, all in `currency`, checked.
    pub fn sum(
        currency: Currency,
        amounts: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    /// The amount as the API writes it: `"64.00"`.
    pub fn amount(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EUR: Currency = Currency::Eur;

    #[test]
    fn amounts_are_written_with_the_currency_digits() {
        assert_eq!(Money::from_minor(6400, EUR).amount(), "64.00");
        assert_eq!(Money::from_minor(5, EUR).amount(), "0.05");
        assert_eq!(Money::from_minor(-4693, EUR).amount(), "-46.93");
        assert_eq!(Money::from_minor(0, EUR).amount(), "0.00");
    }

    #[test]
    fn decimal_strings_parse_to_exact_minor_units() {
        for (raw, minor) in [
            ("64.00", 6400),
            ("64", 6400),
            ("64.5", 6450),
            ("0.01", 1),
            ("-3.50", -350),
            ("100000000.00", 10_000_000_000),
        ] {
            assert_eq!(Money::parse(raw, EUR).unwrap().minor(), minor, "{raw}");
        }
    }

    #[test]
    fn malformed_or_too_precise_amounts_are_refused() {
        for raw in [
            "", "abc", "1e3", "1.", ".5", "1,5", " 1", "+1", "--1", "NaN", "1.2.3",
        ] {
            assert_eq!(
                Money::parse(raw, EUR),
                Err(MoneyError::NotADecimal),
                "{raw:?}"
            );
        }
        assert_eq!(Money::parse("1.005", EUR), Err(MoneyError::TooPrecise(2)));
        assert!(Money::parse("99999999999999999999999", EUR).is_err());
    }

    #[test]
    fn trailing_zeros_beyond_the_digits_are_not_extra_precision() {
        assert_eq!(Money::parse("1.500", EUR).unwrap().minor(), 150);
    }

    #[test]
    fn rounding_is_half_away_from_zero_to_cents() {
        let cases = [
            ("46.925", 4693),
            ("46.9249", 4692),
            ("-46.925", -4693),
            ("61.866666", 6187),
            ("0.005", 1),
        ];
        for (raw, minor) in cases {
            let value = Decimal::from_str(raw).unwrap();
            assert_eq!(Money::round(value, EUR).unwrap().minor(), minor, "{raw}");
        }
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert_eq!(Currency::parse("EUR"), Some(Currency::Eur));
        assert_eq!(Currency::parse("eur"), None);
        assert_eq!(Currency::parse("XYZ"), None);
    }

    #[test]
    fn sums_and_products_refuse_to_overflow_or_mix_currencies() {
        let max = Money::from_minor(i64::MAX, Currency::Eur);
        let cent = Money::from_minor(1, Currency::Eur);
        assert_eq!(max.checked_add(cent), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_minor(i64::MIN, Currency::Eur).checked_sub(cent),
            Err(MoneyError::Overflow)
        );
        assert_eq!(max.times(2), Err(MoneyError::Overflow));
        assert_eq!(
            cent.checked_add(Money::from_minor(1, Currency::Usd)),
            Err(MoneyError::CurrencyMismatch(Currency::Eur, Currency::Usd))
        );
        let price = Money::from_minor(6400, Currency::Eur);
        assert_eq!(price.times(10).unwrap().amount(), "640.00");
        assert_eq!(
            Money::sum(Currency::Eur, [price, cent, cent])
                .unwrap()
                .minor(),
            6402
        );
        assert_eq!(
            Money::sum(Currency::Eur, [max, cent]),
            Err(MoneyError::Overflow)
        );
        assert_eq!(price.checked_sub(cent).unwrap().minor(), 6399);
    }

    /// A small deterministic generator (SplitMix64): the property test below
    /// needs no crate and fails the same way every run.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// An amount near one of the limits that matter: zero, the API's
        /// maxima, `i64`'s ends, or anywhere.
        fn amount(&mut self) -> i64 {
            let anchors = [
                0,
                1,
                limits::RECORD_COST_MAX_MINOR,
                limits::ADJUSTMENT_MAX_MINOR,
                limits::BALANCE_MAX_MINOR,
                i64::MAX,
                i64::MIN,
                i64::MAX / 2,
                i64::MIN / 2,
            ];
            let pick = self.next();
            let base = match pick % 4 {
                0 => self.next() as i64,
                _ => anchors[(self.next() % anchors.len() as u64) as usize],
            };
            let jitter = (self.next() % 2001) as i64 - 1000;
            let signed = if pick.is_multiple_of(3) {
                base.wrapping_neg()
            } else {
                base
            };
            signed.saturating_add(jitter)
        }
    }

    #[test]
    fn checked_arithmetic_never_wraps_and_equals_wide_arithmetic_in_range() {
        let mut rng = SplitMix(0x00C0_FFEE);
        let in_range = |wide: i128| i64::try_from(wide).ok();
        for _ in 0..200_000 {
            let (a, b) = (rng.amount(), rng.amount());
            let (ma, mb) = (Money::from_minor(a, EUR), Money::from_minor(b, EUR));
            let sum = in_range(i128::from(a) + i128::from(b));
            assert_eq!(ma.checked_add(mb).ok().map(Money::minor), sum, "{a} + {b}");
            let difference = in_range(i128::from(a) - i128::from(b));
            assert_eq!(
                ma.checked_sub(mb).ok().map(Money::minor),
                difference,
                "{a} - {b}"
            );
            let quantity = (rng.next() % 20_001) as u32;
            let product = in_range(i128::from(a) * i128::from(quantity));
            assert_eq!(
                ma.times(quantity).ok().map(Money::minor),
                product,
                "{a} x {quantity}"
            );
            if sum.is_none() {
                assert_eq!(ma.checked_add(mb), Err(MoneyError::Overflow));
            }
        }
    }

    #[test]
    fn sums_of_many_random_amounts_are_exact_or_refused() {
        let mut rng = SplitMix(42);
        for round in 0..2_000 {
            let n = (rng.next() % 64) as usize;
            let amounts: Vec<i64> = (0..n).map(|_| rng.amount()).collect();
            // The checked fold refuses as soon as a partial sum leaves the
            // range, as i128 arithmetic tells.
            let mut wide = 0_i128;
            let mut expected = Some(0_i64);
            for &a in &amounts {
                wide += i128::from(a);
                if expected.is_some() {
                    expected = i64::try_from(wide).ok();
                }
            }
            let got = Money::sum(EUR, amounts.iter().map(|&a| Money::from_minor(a, EUR)));
            assert_eq!(got.ok().map(Money::minor), expected, "round {round}");
        }
    }

    #[test]
    fn sums_at_the_api_maxima_stay_far_inside_the_range() {
        let record = Money::from_minor(limits::RECORD_COST_MAX_MINOR, EUR);
        // A full batch of records at the largest cost.
        let batch = record.times(10_000).unwrap();
        assert_eq!(batch.amount(), "100000000.00");
        // 10,000 licenses at the largest price, the same again in proration,
        // and 20 % VAT on a month of 1,000 full batches.
        let licenses = Money::from_minor(limits::PLAN_PRICE_MAX_MINOR, EUR)
            .times(10_000)
            .unwrap();
        let consumption = batch.times(1_000).unwrap();
        let subtotal = Money::sum(EUR, [licenses, licenses, consumption]).unwrap();
        let total = Money::round(subtotal.to_decimal() * Decimal::new(12, 1), EUR).unwrap();
        assert!(total.minor() < i64::MAX / 1_000, "{total}");
        let balance = Money::from_minor(limits::BALANCE_MAX_MINOR, EUR);
        assert!(
            balance
                .checked_add(Money::from_minor(limits::ADJUSTMENT_MAX_MINOR, EUR))
                .is_ok()
        );
    }
}
