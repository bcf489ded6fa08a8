//! The catalog: license plans and the additional phone number, priced per month.
//!
//! A price change applies to billing periods starting after it: it takes
//! effect on the first day of the next month. Prices are per currency: an
//! account buys only plans priced in its own.

use serde::{Deserialize, Serialize};
use time::{Date, Month};
use utoipa::ToSchema;

use super::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    License,
    PhoneNumber,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::License => "license",
            PlanKind::PhoneNumber => "phone_number",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "license" => Some(PlanKind::License),
            "phone_number" => Some(PlanKind::PhoneNumber),
            _ => None,
        }
    }
}

/// A catalog entry with its prices in force on a given day and the next
/// ones, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub kind: PlanKind,
    /// The EUR price in force (every plan has one: the catalog's
    /// `monthly_price`, a contract).
    pub monthly_price: Money,
    /// A change of the EUR price already decided: the new price and the day
    /// it applies from.
    pub next_price: Option<(Date, Money)>,
    /// Its price in each currency it is sold in on that day, EUR first, then
    /// in [`Currency::ALL`] order.
    pub prices: Vec<CurrencyPrice>,
}

/// A plan's price in one currency: the one in force and the next one decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyPrice {
    pub monthly_price: Money,
    pub next_price: Option<(Date, Money)>,
}

impl Plan {
    /// Its price in `currency`, if it is sold in it.
    pub fn price_in(&self, currency: Currency) -> Option<&CurrencyPrice> {
        self.prices
            .iter()
            .find(|p| p.monthly_price.currency() == currency)
    }
}

/// A plan code: 1 to 32 of `A-Z`, `0-9`, `_`.
pub fn valid_code(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The price in force on `day`, from a plan's dated prices: the latest one
/// effective on or before it. The one rule for "the price on a date": the
/// catalog, quotes, license summaries and invoices all ask it here.
pub fn price_on<T: Copy>(prices: &[(Date, T)], day: Date) -> Option<T> {
    prices
        .iter()
        .filter(|(from, _)| *from <= day)
        .max_by_key(|(from, _)| *from)
        .map(|(_, price)| *price)
}

/// Plans' dated prices, per currency: what an invoice reads once to price
/// any month of any plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceList(std::collections::HashMap<(String, Currency), Vec<(Date, Money)>>);

impl PriceList {
    /// Adds `price` (in its currency), in force from `from`.
    pub fn insert(&mut self, plan: &str, from: Date, price: Money) {
        self.0
            .entry((plan.to_owned(), price.currency()))
            .or_default()
            .push((from, price));
    }

    /// The monthly price of `plan` in `currency` in force on `day`; none
    /// when the plan is not priced in that currency on that day.
    pub fn on(&self, plan: &str, currency: Currency, day: Date) -> Option<Money> {
        price_on(self.0.get(&(plan.to_owned(), currency))?, day)
    }
}

/// The first price that takes effect after `day`, with its date.
pub fn next_price_after<T: Copy>(prices: &[(Date, T)], day: Date) -> Option<(Date, T)> {
    prices
        .iter()
        .filter(|(from, _)| *from > day)
        .min_by_key(|(from, _)| *from)
        .copied()
}

/// The first day of the month after `today`: when a price change takes effect.
pub fn next_period_start(today: Date) -> Date {
    let (year, month) = match today.month() {
        Month::December => (today.year() + 1, Month::January),
        m => (today.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).expect("the 1st exists in every month")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_price_change_takes_effect_on_the_next_first_of_the_month() {
        assert_eq!(
            next_period_start(date!(2026 - 04 - 09)),
            date!(2026 - 05 - 01)
        );
        assert_eq!(
            next_period_start(date!(2026 - 04 - 01)),
            date!(2026 - 05 - 01)
        );
        assert_eq!(
            next_period_start(date!(2026 - 12 - 31)),
            date!(2027 - 01 - 01)
        );
        assert_eq!(
            next_period_start(date!(2028 - 02 - 29)),
            date!(2028 - 03 - 01)
        );
    }

    #[test]
    fn the_price_on_a_day_is_the_latest_one_effective_on_or_before_it() {
        // Out of order on purpose: the rule does not depend on the order read.
        let prices = [
            (date!(2026 - 05 - 01), 3000),
            (date!(2026 - 01 - 01), 2400),
            (date!(2026 - 03 - 01), 2600),
        ];
        assert_eq!(price_on(&prices, date!(2025 - 12 - 31)), None);
        assert_eq!(price_on(&prices, date!(2026 - 01 - 01)), Some(2400));
        assert_eq!(price_on(&prices, date!(2026 - 04 - 30)), Some(2600));
        assert_eq!(price_on(&prices, date!(2026 - 05 - 01)), Some(3000));
        assert_eq!(price_on::<i64>(&[], date!(2026 - 05 - 01)), None);
        assert_eq!(
            next_price_after(&prices, date!(2026 - 04 - 09)),
            Some((date!(2026 - 05 - 01), 3000))
        );
        assert_eq!(
            next_price_after(&prices, date!(2026 - 02 - 01)),
            Some((date!(2026 - 03 - 01), 2600))
        );
        assert_eq!(next_price_after(&prices, date!(2026 - 05 - 01)), None);
    }

    #[test]
    fn a_price_list_answers_in_one_currency_only() {
        let mut list = PriceList::default();
        list.insert(
            "ADVANCED",
            date!(2000 - 01 - 01),
            Money::from_minor(6400, Currency::Eur),
        );
        list.insert(
            "ADVANCED",
            date!(2026 - 04 - 01),
            Money::from_minor(7000, Currency::Usd),
        );
        list.insert(
            "ADVANCED",
            date!(2026 - 06 - 01),
            Money::from_minor(7200, Currency::Usd),
        );
        let on = |currency, day| list.on("ADVANCED", currency, day);
        assert_eq!(
            on(Currency::Eur, date!(2026 - 05 - 01)),
            Some(Money::from_minor(6400, Currency::Eur))
        );
        assert_eq!(
            on(Currency::Usd, date!(2026 - 05 - 01)),
            Some(Money::from_minor(7000, Currency::Usd))
        );
        assert_eq!(
            on(Currency::Usd, date!(2026 - 06 - 01)),
            Some(Money::from_minor(7200, Currency::Usd))
        );
        // Before its first USD price the plan is not sold in USD; never in GBP.
        assert_eq!(on(Currency::Usd, date!(2026 - 03 - 31)), None);
        assert_eq!(on(Currency::Gbp, date!(2026 - 05 - 01)), None);
        assert_eq!(list.on("SMART", Currency::Eur, date!(2026 - 05 - 01)), None);
    }
}
