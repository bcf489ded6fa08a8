//! Invoice composition (SPEC.md section 6): the invoice of period M, issued on
//! M's 1st, holds the recurring lines of M (in advance), the proration of
//! what was activated during M-1, the out-of-plan consumption of M-1 that
//! credits did not cover, then subtotal, VAT and total. Pure and exact.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, Month};
use utoipa::ToSchema;

use super::address::Country;
use super::money::{Currency, Money, MoneyError};
use super::proration::{prepaid_period, prorate, times};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    License,
    LicenseProration,
    PhoneNumber,
    PhoneNumberProration,
    Consumption,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::License => "license",
            LineKind::LicenseProration => "license_proration",
            LineKind::PhoneNumber => "phone_number",
            LineKind::PhoneNumberProration => "phone_number_proration",
            LineKind::Consumption => "consumption",
        }
    }
}

/// A calendar month: the billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: Month,
}

impl Period {
    /// `2026-05`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (year, month) = raw.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
        (2000..=2999)
            .contains(&year)
            .then_some(Period { year, month })
    }

    /// The period containing `day`.
    pub fn of(day: Date) -> Self {
        Period {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn start(self) -> Date {
        Date::from_calendar_date(self.year, self.month, 1).expect("the 1st exists")
    }

    pub fn end(self) -> Date {
        self.start()
            .replace_day(self.month.length(self.year))
            .expect("the last day exists")
    }

    pub fn days(self) -> u8 {
        self.month.length(self.year)
    }

    pub fn previous(self) -> Self {
        match self.month {
            Month::January => Period {
                year: self.year - 1,
                month: Month::December,
            },
            m => Period {
                year: self.year,
                month: m.previous(),
            },
        }
    }

    pub fn next(self) -> Self {
        match self.month {
            Month::December => Period {
                year: self.year + 1,
                month: Month::January,
            },
            m => Period {
                year: self.year,
                month: m.next(),
            },
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// What is billed: `quantity` licenses or additional phone numbers that
/// share everything an invoice reads of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub quantity: u32,
    pub phone_number: bool,
    /// The plan code (`ADVANCED`, `PHONE_NUMBER`).
    pub plan: String,
    pub activation_date: Date,
    /// Billed through this day.
    pub removal_date: Option<Date>,
    /// The proration charged when it was added (activation to month end).
    pub prorated_amount_minor: i64,
    /// The monthly price on the activation day (to prorate an early removal).
    pub price_at_activation: Money,
}

/// Everything an invoice is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub period: Period,
    pub currency: Currency,
    pub items: Vec<Item>,
    /// Monthly price of each plan for the period (the price in force on its 1st).
    pub prices: BTreeMap<String, Money>,
    /// Out-of-plan consumption of M-1 that credits did not cover.
    pub consumption_records: i64,
    pub consumption_billable_minor: i64,
    pub buyer_country: Option<Country>,
    pub buyer_vat_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub description: String,
    pub plan: Option<String>,
    pub quantity: u32,
    pub unit_amount: Money,
    pub amount: Money,
    /// Proration lines: days charged and days in the month.
    pub days: Option<u8>,
    pub days_in_period: Option<u8>,
    /// Proration lines: the activation day.
    pub activation_date: Option<Date>,
}

/// How VAT applies to the buyer (SPEC.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// French VAT at 20 %: a French address, an EU address without a VAT
    /// number, or no billing address yet.
    FrenchVat,
    /// 0 %, reverse charge: an EU address outside France with a VAT number.
    ReverseCharge,
    /// 0 %: a buyer outside the EU (services taxed where the buyer is).
    OutsideEu,
}

impl TaxTreatment {
    pub fn of(country: Option<Country>, vat_number: Option<&str>) -> Self {
        match country {
            Some(c)
                if c.code() != "FR" && c.is_eu() && vat_number.is_some_and(|v| !v.is_empty()) =>
            {
                TaxTreatment::ReverseCharge
            }
            Some(c) if !c.is_eu() => TaxTreatment::OutsideEu,
            _ => TaxTreatment::FrenchVat,
        }
    }

    /// The rate in percent.
    pub fn rate(self) -> Decimal {
        match self {
            TaxTreatment::FrenchVat => Decimal::from(20),
            TaxTreatment::ReverseCharge | TaxTreatment::OutsideEu => Decimal::ZERO,
        }
    }

    /// The legal mention the invoice must carry, in French and English.
    pub fn mention(self) -> Option<(&'static str, &'static str)> {
        match self {
            TaxTreatment::FrenchVat => None,
            TaxTreatment::ReverseCharge => Some((
                "Autoliquidation : TVA due par le preneur (article 283-2 du CGI, article 196 de la directive 2006/112/CE).",
                "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Council Directive 2006/112/EC).",
            )),
            TaxTreatment::OutsideEu => Some((
                "TVA non applicable, article 259-1 du CGI.",
                "VAT not applicable, article 259-1 of the French General Tax Code.",
            )),
        }
    }
}

/// A composed invoice: lines and totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    pub period: Period,
    pub lines: Vec<Line>,
    pub subtotal: Money,
    pub tax: TaxTreatment,
    pub tax_amount: Money,
    pub total: Money,
}

fn month_name(m: Month) -> &'static str {
    match m {
        Month::January => "January",
        Month::February => "February",
        Month::March => "March",
        Month::April => "April",
        Month::May => "May",
        Month::June => "June",
        Month::July => "July",
        Month::August => "August",
        Month::September => "September",
        Month::October => "October",
        Month::November => "November",
        Month::December => "December",
    }
}

/// `1 day of 30`, `22 days of 30`: a proration line's share of its month.
fn days_of(days: u8, in_month: u8) -> String {
    let unit = if days == 1 { "day" } else { "days" };
    format!("{days} {unit} of {in_month}")
}

/// Composes the invoice of `inputs.period`.
///
/// - Recurring: items active on the period's 1st (activated before it, not
///   removed before it), by plan, at the period's price. An item activated on
///   the 1st or later owes its proration, billed on the next invoice.
/// - Proration: items activated during the previous month, by plan,
///   activation day and unit: the proration charged when added; an item also
///   removed that month is prorated from activation to removal instead.
/// - Consumption: the previous month's billable out-of-plan cost, one line.
pub fn compose(inputs: &Inputs) -> Result<Composition, MoneyError> {
    let period = inputs.period;
    let first = period.start();
    let previous = period.previous();
    let zero = Money::zero(inputs.currency);
    let mut lines = Vec::new();

    // Recurring, in advance.
    let mut recurring: BTreeMap<(bool, &str), u32> = BTreeMap::new();
    for item in &inputs.items {
        let active = item.activation_date < first && item.removal_date.is_none_or(|d| d >= first);
        if active {
            let count = recurring
                .entry((item.phone_number, &item.plan))
                .or_default();
            *count = count
                .checked_add(item.quantity)
                .ok_or(MoneyError::Overflow)?;
        }
    }
    for ((phone_number, plan), quantity) in recurring {
        let unit = inputs.prices.get(plan).copied().unwrap_or(zero);
        let (kind, what) = if phone_number {
            (LineKind::PhoneNumber, "Additional phone number".to_owned())
        } else {
            (LineKind::License, format!("{plan} license"))
        };
        lines.push(Line {
            kind,
            description: format!("{what}, {} {}", month_name(period.month), period.year),
            plan: Some(plan.to_owned()),
            quantity,
            unit_amount: unit,
            amount: times(unit, quantity)?,
            days: None,
            days_in_period: None,
            activation_date: None,
        });
    }

    // Proration of what was activated last month.
    let mut prorated: BTreeMap<(bool, &str, Date, u8, i64), u32> = BTreeMap::new();
    for item in &inputs.items {
        if Period::of(item.activation_date) != previous {
            continue;
        }
        let full = prepaid_period(item.activation_date);
        let (days, unit) = match item.removal_date {
            Some(removed) if removed < full.end => {
                let days = (removed - item.activation_date).whole_days() as u8 + 1;
                let unit = prorate(item.price_at_activation, days, full.days_in_month)?;
                (days, unit.minor())
            }
            _ => (full.days, item.prorated_amount_minor),
        };
        let count = prorated
            .entry((
                item.phone_number,
                &item.plan,
                item.activation_date,
                days,
                unit,
            ))
            .or_default();
        *count = count
            .checked_add(item.quantity)
            .ok_or(MoneyError::Overflow)?;
    }
    for ((phone_number, plan, activation, days, unit), quantity) in prorated {
        let unit = Money::from_minor(unit, inputs.currency);
        let (kind, what) = if phone_number {
            (
                LineKind::PhoneNumberProration,
                "Additional phone number".to_owned(),
            )
        } else {
            (LineKind::LicenseProration, format!("{plan} license"))
        };
        lines.push(Line {
            kind,
            description: format!(
                "{what}, prorated from {activation} ({})",
                days_of(days, previous.days())
            ),
            plan: Some(plan.to_owned()),
            quantity,
            unit_amount: unit,
            amount: times(unit, quantity)?,
            days: Some(days),
            days_in_period: Some(previous.days()),
            activation_date: Some(activation),
        });
    }

    if inputs.consumption_billable_minor > 0 {
        let amount = Money::from_minor(inputs.consumption_billable_minor, inputs.currency);
        lines.push(Line {
            kind: LineKind::Consumption,
            description: format!(
                "Out-of-plan consumption, {} {} ({} not covered by credits)",
                month_name(previous.month),
                previous.year,
                match inputs.consumption_records {
                    1 => "1 call or SMS".to_owned(),
                    n => format!("{n} calls and SMS"),
                }
            ),
            plan: None,
            quantity: 1,
            unit_amount: amount,
            amount,
            days: None,
            days_in_period: None,
            activation_date: None,
        });
    }

    let subtotal = Money::sum(inputs.currency, lines.iter().map(|l| l.amount))?;
    let tax = TaxTreatment::of(inputs.buyer_country, inputs.buyer_vat_number.as_deref());
    let tax_amount = Money::round(
        subtotal
            .to_decimal()
            .checked_mul(tax.rate())
            .ok_or(MoneyError::Overflow)?
            / Decimal::from(100),
        inputs.currency,
    )?;
    let total = subtotal.checked_add(tax_amount)?;
    Ok(Composition {
        period,
        lines,
        subtotal,
        tax,
        tax_amount,
        total,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::domain::proration::prorated_unit;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    fn license(activation: Date, removal: Option<Date>) -> Item {
        let price = eur(6_400);
        Item {
            quantity: 1,
            phone_number: false,
            plan: "ADVANCED".into(),
            activation_date: activation,
            removal_date: removal,
            prorated_amount_minor: prorated_unit(price, activation).unwrap().minor(),
            price_at_activation: price,
        }
    }

    fn number(activation: Date) -> Item {
        let price = eur(500);
        Item {
            quantity: 1,
            phone_number: true,
            plan: "PHONE_NUMBER".into(),
            activation_date: activation,
            removal_date: None,
            prorated_amount_minor: prorated_unit(price, activation).unwrap().minor(),
            price_at_activation: price,
        }
    }

    /// The help page's account: 4 ADVANCED and 3 numbers from before April,
    /// then 3 ADVANCED on April 1, 1 on April 2, 2 on April 9.
    fn april() -> Inputs {
        let mut items = Vec::new();
        for (day, quantity) in [
            (date!(2026 - 03 - 01), 4),
            (date!(2026 - 04 - 01), 3),
            (date!(2026 - 04 - 02), 1),
            (date!(2026 - 04 - 09), 2),
        ] {
            items.extend((0..quantity).map(|_| license(day, None)));
        }
        items.extend((0..3).map(|_| number(date!(2026 - 03 - 01))));
        Inputs {
            period: Period::parse("2026-05").unwrap(),
            currency: Currency::Eur,
            items,
            prices: BTreeMap::from([
                ("ADVANCED".to_owned(), eur(6_400)),
                ("PHONE_NUMBER".to_owned(), eur(500)),
            ]),
            consumption_records: 0,
            consumption_billable_minor: 0,
            buyer_country: Country::parse("FR"),
            buyer_vat_number: Some("FR40303265045".into()),
        }
    }

    fn summary(c: &Composition) -> Vec<(LineKind, u32, String, String, Option<u8>)> {
        c.lines
            .iter()
            .map(|l| {
                (
                    l.kind,
                    l.quantity,
                    l.unit_amount.amount(),
                    l.amount.amount(),
                    l.days,
                )
            })
            .collect()
    }

    #[test]
    fn the_help_pages_may_invoice_comes_out_exactly() {
        let c = compose(&april()).unwrap();
        let s = |x: &str| x.to_owned();
        assert_eq!(
            summary(&c),
            vec![
                (LineKind::License, 10, s("64.00"), s("640.00"), None),
                (LineKind::PhoneNumber, 3, s("5.00"), s("15.00"), None),
                (
                    LineKind::LicenseProration,
                    3,
                    s("64.00"),
                    s("192.00"),
                    Some(30)
                ),
                (
                    LineKind::LicenseProration,
                    1,
                    s("61.87"),
                    s("61.87"),
                    Some(29)
                ),
                (
                    LineKind::LicenseProration,
                    2,
                    s("46.93"),
                    s("93.86"),
                    Some(22)
                ),
            ]
        );
        assert_eq!(c.subtotal.amount(), "1002.73");
        assert_eq!(c.tax, TaxTreatment::FrenchVat);
        assert_eq!(c.tax_amount.amount(), "200.55");
        assert_eq!(c.total.amount(), "1203.28");
        assert!(
            c.lines
                .iter()
                .all(|l| l.days.is_none() || l.days_in_period == Some(30))
        );
    }

    #[test]
    fn vat_follows_the_buyers_address() {
        let cases = [
            (
                Some("FR"),
                Some("FR40303265045"),
                TaxTreatment::FrenchVat,
                "200.55",
            ),
            (
                Some("DE"),
                Some("DE123456789"),
                TaxTreatment::ReverseCharge,
                "0.00",
            ),
            (Some("DE"), None, TaxTreatment::FrenchVat, "200.55"),
            (Some("CH"), None, TaxTreatment::OutsideEu, "0.00"),
            (None, None, TaxTreatment::FrenchVat, "200.55"),
        ];
        for (country, vat, treatment, tax) in cases {
            let mut inputs = april();
            inputs.buyer_country = country.and_then(Country::parse);
            inputs.buyer_vat_number = vat.map(str::to_owned);
            let c = compose(&inputs).unwrap();
            assert_eq!(c.tax, treatment, "{country:?} {vat:?}");
            assert_eq!(c.tax_amount.amount(), tax, "{country:?} {vat:?}");
            assert_eq!(c.total.minor(), c.subtotal.minor() + c.tax_amount.minor());
        }
        assert!(
            TaxTreatment::ReverseCharge
                .mention()
                .unwrap()
                .0
                .contains("Autoliquidation")
        );
    }

    #[test]
    fn a_removed_license_is_not_billed_for_the_next_period() {
        let mut inputs = april();
        // One of the March licenses removed on April 20: billed through April 20 (already paid).
        inputs.items[0].removal_date = Some(date!(2026 - 04 - 20));
        let c = compose(&inputs).unwrap();
        assert_eq!(c.lines[0].quantity, 9);
        assert_eq!(c.subtotal.amount(), "938.73");
        // Removed on May 1, it is still billed for May (billed through the removal day).
        let mut inputs = april();
        inputs.items[0].removal_date = Some(date!(2026 - 05 - 01));
        assert_eq!(compose(&inputs).unwrap().lines[0].quantity, 10);
    }

    #[test]
    fn a_license_added_and_removed_in_the_same_month_is_prorated_to_its_removal() {
        let mut inputs = april();
        // One of the April 9 licenses removed April 15: 7 days of 30 = 14.93.
        let last = inputs.items.len() - 4;
        inputs.items[last].removal_date = Some(date!(2026 - 04 - 15));
        let c = compose(&inputs).unwrap();
        let lines = summary(&c);
        assert!(lines.contains(&(
            LineKind::LicenseProration,
            1,
            "14.93".into(),
            "14.93".into(),
            Some(7)
        )));
        assert!(lines.contains(&(
            LineKind::LicenseProration,
            1,
            "46.93".into(),
            "46.93".into(),
            Some(22)
        )));
        assert_eq!(c.lines[0].quantity, 9);
    }

    /// The same inputs with equal items merged into one of a larger
    /// quantity, as the store reads them.
    fn grouped(mut inputs: Inputs) -> Inputs {
        let mut groups: Vec<Item> = Vec::new();
        for item in inputs.items.drain(..) {
            let same = |g: &&mut Item| {
                Item {
                    quantity: 1,
                    ..(**g).clone()
                } == item
            };
            match groups.iter_mut().find(same) {
                Some(group) => group.quantity += item.quantity,
                None => groups.push(item),
            }
        }
        inputs.items = groups;
        inputs
    }

    #[test]
    fn items_with_a_quantity_compose_like_as_many_single_items() {
        let inputs = grouped(april());
        let quantities: Vec<u32> = inputs.items.iter().map(|i| i.quantity).collect();
        assert_eq!(quantities, vec![4, 3, 1, 2, 3]);
        assert_eq!(compose(&inputs).unwrap(), compose(&april()).unwrap());

        // Both April 9 licenses removed April 15: one item of 2, prorated
        // to the removal (7 days of 30 = 14.93 each), and not recurring.
        let mut single = april();
        let n = single.items.len();
        for item in &mut single.items[n - 5..n - 3] {
            assert_eq!(item.activation_date, date!(2026 - 04 - 09));
            item.removal_date = Some(date!(2026 - 04 - 15));
        }
        let inputs = grouped(single.clone());
        assert_eq!(inputs.items.len(), 5);
        let c = compose(&inputs).unwrap();
        assert_eq!(c, compose(&single).unwrap());
        assert!(summary(&c).contains(&(
            LineKind::LicenseProration,
            2,
            "14.93".into(),
            "29.86".into(),
            Some(7)
        )));
        assert_eq!(c.lines[0].quantity, 8);
        assert_eq!(c.subtotal.amount(), "810.73");
    }

    #[test]
    fn recurring_lines_use_the_periods_price_and_consumption_is_billed_once() {
        let mut inputs = april();
        inputs.prices.insert("ADVANCED".into(), eur(7_000));
        inputs.consumption_records = 12;
        inputs.consumption_billable_minor = 1_234;
        let c = compose(&inputs).unwrap();
        assert_eq!(c.lines[0].amount.amount(), "700.00");
        // Proration keeps the price charged when the licenses were added.
        assert_eq!(c.lines[2].unit_amount.amount(), "64.00");
        let last = c.lines.last().unwrap();
        assert_eq!(last.kind, LineKind::Consumption);
        assert_eq!(last.amount.amount(), "12.34");
        assert!(last.description.contains("April 2026"));
        assert_eq!(c.subtotal.amount(), "1075.07");
    }

    #[test]
    fn descriptions_name_the_month_the_activation_day_and_count_days_in_the_singular_or_plural() {
        let mut inputs = april();
        // One of the April 9 licenses removed that same day: 1 day of 30.
        let last = inputs.items.len() - 4;
        inputs.items[last].removal_date = Some(date!(2026 - 04 - 09));
        inputs.consumption_records = 1;
        inputs.consumption_billable_minor = 25;
        let c = compose(&inputs).unwrap();
        let descriptions: Vec<&str> = c.lines.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(
            descriptions,
            [
                "ADVANCED license, May 2026",
                "Additional phone number, May 2026",
                "ADVANCED license, prorated from 2026-04-01 (30 days of 30)",
                "ADVANCED license, prorated from 2026-04-02 (29 days of 30)",
                "ADVANCED license, prorated from 2026-04-09 (1 day of 30)",
                "ADVANCED license, prorated from 2026-04-09 (22 days of 30)",
                "Out-of-plan consumption, April 2026 (1 call or SMS not covered by credits)",
            ]
        );
        inputs.consumption_records = 12;
        let c = compose(&inputs).unwrap();
        assert!(
            c.lines
                .last()
                .unwrap()
                .description
                .ends_with("(12 calls and SMS not covered by credits)")
        );
    }

    #[test]
    fn periods_parse_and_step_over_years() {
        let p = Period::parse("2026-01").unwrap();
        assert_eq!(p.previous().to_string(), "2025-12");
        assert_eq!(p.previous().next(), p);
        assert_eq!(
            Period::parse("2024-02").unwrap().end(),
            date!(2024 - 02 - 29)
        );
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "1999-12"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }
}
