//! Invoice composition (SPEC.md sections 6 and 10): the invoice of period M
//! bills everything still unbilled that is due by M's 1st, each item once:
//! the recurring lines of M (in advance) and of any earlier month not billed
//! yet, the proration of what was activated before M and not billed yet, the
//! out-of-plan consumption of M-1 and any late records of earlier months
//! that credits did not cover, the staff's one-off charges, then subtotal,
//! VAT and total. Pure and exact.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, Month};
use utoipa::ToSchema;

use super::money::{Currency, Money, MoneyError};
use super::plan::PriceList;
use super::proration::{prepaid_period, prorate, times};
use super::tax::Tax;
pub use super::tax::TaxTreatment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    License,
    LicenseProration,
    PhoneNumber,
    PhoneNumberProration,
    Consumption,
    /// Consumption of a month already invoiced, recorded after its invoice.
    LateConsumption,
    /// A one-off charge added by staff (porting fees, setup).
    Charge,
    /// The one line of an advance payment invoice (facture d'acompte): the
    /// prepaid credits a top-up bought.
    AdvancePayment,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::License => "license",
            LineKind::LicenseProration => "license_proration",
            LineKind::PhoneNumber => "phone_number",
            LineKind::PhoneNumberProration => "phone_number_proration",
            LineKind::Consumption => "consumption",
            LineKind::LateConsumption => "late_consumption",
            LineKind::Charge => "charge",
            LineKind::AdvancePayment => "advance_payment",
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
    /// The proration is not billed yet.
    pub proration_due: bool,
    /// The 1st of the first month not settled in advance yet; `None`: none
    /// is, so the first is the month after activation.
    pub billed_until: Option<Date>,
}

/// Consumption with a cost not billed yet, of one month (the account's
/// months): what credits did not cover and what they paid, both billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthUsage {
    pub month: Period,
    /// Records with a cost.
    pub records: i64,
    pub billable_minor: i64,
    /// Paid from prepaid credits: billed too, and deducted under the totals.
    pub covered_minor: i64,
}

/// A one-off charge not billed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub description: String,
    pub unit_amount: Money,
    pub quantity: u32,
}

/// Everything an invoice is made from: what is still unbilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub period: Period,
    pub currency: Currency,
    pub items: Vec<Item>,
    /// Every plan's dated prices: a month is billed at the price of its 1st.
    pub prices: PriceList,
    /// Unbilled out-of-plan consumption of the months before the period,
    /// oldest first: M-1's, and late records of earlier months.
    pub consumption: Vec<MonthUsage>,
    pub charges: Vec<Charge>,
    /// The VAT that applies (`tax::decide`, from the buyer's address).
    pub tax: Tax,
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
    /// The days the line bills (a month, or a prorated part of one); none
    /// for charges.
    pub service_start: Option<Date>,
    pub service_end: Option<Date>,
}

/// Why an invoice could not be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("no price of {plan} in {currency} on {on}")]
    NoPrice {
        plan: String,
        currency: Currency,
        on: Date,
    },
}

/// A composed invoice: lines and totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    pub period: Period,
    pub lines: Vec<Line>,
    pub subtotal: Money,
    pub tax: Tax,
    pub tax_amount: Money,
    pub total: Money,
    /// The consumption it bills that prepaid credits paid (excluding VAT),
    /// deducted under the totals (`domain::advance`).
    pub covered: Money,
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

/// Composes the invoice of `inputs.period` from what is still unbilled.
///
/// - Recurring, in advance: for each item activated before the period's 1st,
///   every month from its first unsettled one through the period that it
///   was active on (activated before the 1st, not removed before it), by
///   month and plan, at the price of the month's 1st. Months before the
///   period are catch-up lines that name their month.
/// - Proration: items activated before the period whose proration is not
///   billed yet, by plan, activation day and unit: the proration charged
///   when added; an item removed in its activation month is prorated from
///   activation to removal instead.
/// - Consumption: the previous month's unbilled out-of-plan cost, one line;
///   late records of earlier months, one line per month.
/// - Charges: one line each.
pub fn compose(inputs: &Inputs) -> Result<Composition, ComposeError> {
    let period = inputs.period;
    let first = period.start();
    let previous = period.previous();
    let mut lines = Vec::new();

    // Recurring, in advance: the period's months first, then catch-up months.
    let mut recurring: BTreeMap<(bool, Period, bool, &str), u32> = BTreeMap::new();
    for item in &inputs.items {
        if item.activation_date >= first {
            continue;
        }
        let earliest = Period::of(item.activation_date).next();
        let mut month = item
            .billed_until
            .map(Period::of)
            .map_or(earliest, |m| m.max(earliest));
        while month <= period {
            if item.removal_date.is_some_and(|r| r < month.start()) {
                break;
            }
            let count = recurring
                .entry((month != period, month, item.phone_number, &item.plan))
                .or_default();
            *count = count
                .checked_add(item.quantity)
                .ok_or(MoneyError::Overflow)?;
            month = month.next();
        }
    }
    for ((_, month, phone_number, plan), quantity) in recurring {
        // In the invoice's currency only: an invoice never mixes currencies.
        let unit = inputs
            .prices
            .on(plan, inputs.currency, month.start())
            .ok_or_else(|| ComposeError::NoPrice {
                plan: plan.to_owned(),
                currency: inputs.currency,
                on: month.start(),
            })?;
        let (kind, what) = if phone_number {
            (LineKind::PhoneNumber, "Additional phone number".to_owned())
        } else {
            (LineKind::License, format!("{plan} license"))
        };
        lines.push(Line {
            kind,
            description: format!("{what}, {} {}", month_name(month.month), month.year),
            plan: Some(plan.to_owned()),
            quantity,
            unit_amount: unit,
            amount: times(unit, quantity)?,
            days: None,
            days_in_period: None,
            activation_date: None,
            service_start: Some(month.start()),
            service_end: Some(month.end()),
        });
    }

    // Proration of what was activated before the period and not billed yet.
    // (number?, plan, activation, days, unit) -> (quantity, last day billed)
    type Key<'a> = (bool, &'a str, Date, u8, i64);
    let mut prorated: BTreeMap<Key, (u32, Date)> = BTreeMap::new();
    for item in &inputs.items {
        if !item.proration_due || item.activation_date >= first {
            continue;
        }
        let full = prepaid_period(item.activation_date);
        let (days, unit, end) = match item.removal_date {
            Some(removed) if removed < full.end => {
                let days = u8::try_from((removed - item.activation_date).whole_days() + 1)
                    .map_err(|_| MoneyError::Overflow)?;
                let unit = prorate(item.price_at_activation, days, full.days_in_month)?;
                (days, unit.minor(), removed)
            }
            _ => (full.days, item.prorated_amount_minor, full.end),
        };
        let entry = prorated
            .entry((
                item.phone_number,
                &item.plan,
                item.activation_date,
                days,
                unit,
            ))
            .or_insert((0, end));
        entry.0 = entry
            .0
            .checked_add(item.quantity)
            .ok_or(MoneyError::Overflow)?;
    }
    for ((phone_number, plan, activation, days, unit), (quantity, end)) in prorated {
        let unit = Money::from_minor(unit, inputs.currency);
        let in_month = Period::of(activation).days();
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
                days_of(days, in_month)
            ),
            plan: Some(plan.to_owned()),
            quantity,
            unit_amount: unit,
            amount: times(unit, quantity)?,
            days: Some(days),
            days_in_period: Some(in_month),
            activation_date: Some(activation),
            service_start: Some(activation),
            service_end: Some(end),
        });
    }

    // Consumption, in full whether credits paid it or not: the previous
    // month's, then late records of earlier months.
    let mut usage: Vec<&MonthUsage> = inputs
        .consumption
        .iter()
        .filter(|u| (u.billable_minor > 0 || u.covered_minor > 0) && u.month < period)
        .collect();
    usage.sort_by_key(|u| (u.month != previous, u.month));
    let mut covered = Money::zero(inputs.currency);
    for u in usage {
        let paid = Money::from_minor(u.covered_minor, inputs.currency);
        let amount = Money::from_minor(u.billable_minor, inputs.currency).checked_add(paid)?;
        covered = covered.checked_add(paid)?;
        let count = match u.records {
            1 => "1 call or SMS".to_owned(),
            n => format!("{n} calls and SMS"),
        };
        let (kind, description) = if u.month == previous {
            (
                LineKind::Consumption,
                format!(
                    "Out-of-plan consumption, {} {} ({count})",
                    month_name(u.month.month),
                    u.month.year
                ),
            )
        } else {
            (
                LineKind::LateConsumption,
                format!(
                    "Out-of-plan consumption, {} {} (late records: {count})",
                    month_name(u.month.month),
                    u.month.year
                ),
            )
        };
        lines.push(Line {
            kind,
            description,
            plan: None,
            quantity: 1,
            unit_amount: amount,
            amount,
            days: None,
            days_in_period: None,
            activation_date: None,
            service_start: Some(u.month.start()),
            service_end: Some(u.month.end()),
        });
    }

    for c in &inputs.charges {
        lines.push(Line {
            kind: LineKind::Charge,
            description: c.description.clone(),
            plan: None,
            quantity: c.quantity,
            unit_amount: c.unit_amount,
            amount: times(c.unit_amount, c.quantity)?,
            days: None,
            days_in_period: None,
            activation_date: None,
            service_start: None,
            service_end: None,
        });
    }

    let subtotal = Money::sum(inputs.currency, lines.iter().map(|l| l.amount))?;
    let tax = inputs.tax.clone();
    let tax_amount = Money::round(
        subtotal
            .to_decimal()
            .checked_mul(tax.rate)
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
        covered,
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
            // As the invoice of April left them: what was activated before
            // April is prorated, and April is paid in advance.
            proration_due: activation >= date!(2026 - 04 - 01),
            billed_until: (activation < date!(2026 - 04 - 01)).then_some(date!(2026 - 05 - 01)),
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
            // As the invoice of April left them: what was activated before
            // April is prorated, and April is paid in advance.
            proration_due: activation >= date!(2026 - 04 - 01),
            billed_until: (activation < date!(2026 - 04 - 01)).then_some(date!(2026 - 05 - 01)),
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
            prices: prices(),
            consumption: Vec::new(),
            charges: Vec::new(),
            tax: Tax::provisional(),
        }
    }

    fn prices() -> PriceList {
        let mut prices = PriceList::default();
        prices.insert("ADVANCED", date!(2025 - 01 - 01), eur(6_400));
        prices.insert("PHONE_NUMBER", date!(2025 - 01 - 01), eur(500));
        prices
    }

    fn usage(month: &str, records: i64, billable_minor: i64) -> MonthUsage {
        MonthUsage {
            month: Period::parse(month).unwrap(),
            records,
            billable_minor,
            covered_minor: 0,
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
        assert_eq!(c.tax.treatment, TaxTreatment::FrenchVat);
        assert_eq!(c.tax_amount.amount(), "200.55");
        assert_eq!(c.total.amount(), "1203.28");
        assert!(
            c.lines
                .iter()
                .all(|l| l.days.is_none() || l.days_in_period == Some(30))
        );
    }

    #[test]
    fn vat_is_the_decided_rate_on_the_subtotal_rounded_once() {
        use crate::domain::address::Country;
        use crate::domain::tax::{Buyer, decide};
        // 1002.73 HT: 20 % = 200.546 -> 200.55; 19 % = 190.5187 -> 190.52;
        // 8.5 % = 85.23205 -> 85.23; 25.5 % = 255.69615 -> 255.70; 0 %.
        let cases = [
            ("FR", "75002", false, TaxTreatment::FrenchVat, "200.55"),
            ("DE", "10115", true, TaxTreatment::ReverseCharge, "0.00"),
            ("DE", "10115", false, TaxTreatment::EuOss, "190.52"),
            (
                "RE",
                "97400",
                false,
                TaxTreatment::FrenchOverseasVat,
                "85.23",
            ),
            ("FI", "00100", false, TaxTreatment::EuOss, "255.70"),
            ("CH", "1201", false, TaxTreatment::OutsideEu, "0.00"),
        ];
        for (country, postal, valid, treatment, tax) in cases {
            let mut inputs = april();
            inputs.tax = decide(
                Buyer {
                    country: Country::parse(country).unwrap(),
                    postal_code: postal,
                    vat_number_valid: valid,
                },
                date!(2026 - 05 - 01),
            );
            let c = compose(&inputs).unwrap();
            assert_eq!(c.subtotal.amount(), "1002.73");
            assert_eq!(c.tax.treatment, treatment, "{country}");
            assert_eq!(c.tax_amount.amount(), tax, "{country}");
            assert_eq!(c.total.minor(), c.subtotal.minor() + c.tax_amount.minor());
        }
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
    fn an_invoice_is_priced_in_its_own_currency_only_never_in_another() {
        let usd = |minor| Money::from_minor(minor, Currency::Usd);
        let mut inputs = Inputs {
            period: Period::parse("2026-05").unwrap(),
            currency: Currency::Usd,
            items: vec![Item {
                price_at_activation: usd(7_000),
                ..license(date!(2026 - 03 - 01), None)
            }],
            prices: prices(),
            consumption: Vec::new(),
            charges: Vec::new(),
            tax: Tax::provisional(),
        };
        // ADVANCED has an EUR price only: no USD line is made from it.
        assert_eq!(
            compose(&inputs),
            Err(ComposeError::NoPrice {
                plan: "ADVANCED".into(),
                currency: Currency::Usd,
                on: date!(2026 - 05 - 01),
            })
        );
        inputs
            .prices
            .insert("ADVANCED", date!(2026 - 04 - 01), usd(7_000));
        let c = compose(&inputs).unwrap();
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].unit_amount, usd(7_000));
        assert_eq!(c.total.currency(), Currency::Usd);
    }

    #[test]
    fn recurring_lines_use_the_periods_price_and_consumption_is_billed_once() {
        let mut inputs = april();
        inputs
            .prices
            .insert("ADVANCED", date!(2026 - 05 - 01), eur(7_000));
        inputs.consumption = vec![usage("2026-04", 12, 1_234)];
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
        inputs.consumption = vec![usage("2026-04", 1, 25)];
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
                "Out-of-plan consumption, April 2026 (1 call or SMS)",
            ]
        );
        inputs.consumption = vec![usage("2026-04", 12, 25)];
        let c = compose(&inputs).unwrap();
        assert!(
            c.lines
                .last()
                .unwrap()
                .description
                .ends_with("(12 calls and SMS)")
        );
    }

    #[test]
    fn consumption_paid_from_credits_is_billed_in_full_and_counted_as_covered() {
        let mut inputs = april();
        inputs.items.clear();
        // 30.00 paid from credits and 12.50 not: one line of 42.50.
        inputs.consumption = vec![MonthUsage {
            covered_minor: 3_000,
            ..usage("2026-04", 7, 1_250)
        }];
        let c = compose(&inputs).unwrap();
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].kind, LineKind::Consumption);
        assert_eq!(c.lines[0].amount.amount(), "42.50");
        assert_eq!(c.covered.amount(), "30.00");
        assert_eq!(c.subtotal.amount(), "42.50");
        assert_eq!(c.tax_amount.amount(), "8.50");
        // Covered whole: still billed.
        inputs.consumption = vec![MonthUsage {
            covered_minor: 3_000,
            ..usage("2026-04", 2, 0)
        }];
        let c = compose(&inputs).unwrap();
        assert_eq!(c.total.amount(), "36.00");
        assert_eq!(c.covered.amount(), "30.00");
    }

    fn lines_of(c: &Composition) -> Vec<(LineKind, u32, String, String)> {
        c.lines
            .iter()
            .map(|l| (l.kind, l.quantity, l.description.clone(), l.amount.amount()))
            .collect()
    }

    #[test]
    fn months_never_billed_are_caught_up_and_name_their_month() {
        // Billed through April; no invoice for May: June's invoice bills
        // June, then May, each at the price of its 1st.
        let mut item = license(date!(2026 - 03 - 01), None);
        item.billed_until = Some(date!(2026 - 05 - 01));
        let mut prices = prices();
        prices.insert("ADVANCED", date!(2026 - 06 - 01), eur(7_000));
        let inputs = Inputs {
            period: Period::parse("2026-06").unwrap(),
            items: vec![item.clone()],
            prices,
            ..april()
        };
        let c = compose(&inputs).unwrap();
        let l = |kind, d: &str, a: &str| (kind, 1, d.to_owned(), a.to_owned());
        assert_eq!(
            lines_of(&c),
            vec![
                l(LineKind::License, "ADVANCED license, June 2026", "70.00"),
                l(LineKind::License, "ADVANCED license, May 2026", "64.00"),
            ]
        );
        assert_eq!(c.lines[1].service_start, Some(date!(2026 - 05 - 01)));
        assert_eq!(c.lines[1].service_end, Some(date!(2026 - 05 - 31)));

        // Removed on April 20: May is not owed, so nothing is.
        let removed = Item {
            removal_date: Some(date!(2026 - 04 - 20)),
            ..item.clone()
        };
        let c = compose(&Inputs {
            items: vec![removed],
            ..inputs.clone()
        })
        .unwrap();
        assert!(c.lines.is_empty());

        // Billed through June already: nothing is billed twice.
        let paid = Item {
            billed_until: Some(date!(2026 - 07 - 01)),
            ..item
        };
        let c = compose(&Inputs {
            items: vec![paid],
            ..inputs
        })
        .unwrap();
        assert!(c.lines.is_empty());
    }

    #[test]
    fn a_license_activated_in_a_month_already_invoiced_gets_its_proration_and_every_month() {
        // Quoted on November 30 at 23:55, accepted after the December
        // invoice was issued: January's invoice bills its November day,
        // December and January.
        let mut item = license(date!(2026 - 11 - 30), None);
        item.proration_due = true;
        item.billed_until = None;
        let inputs = Inputs {
            period: Period::parse("2027-01").unwrap(),
            items: vec![item],
            ..april()
        };
        let c = compose(&inputs).unwrap();
        let l = |kind, d: &str, a: &str| (kind, 1, d.to_owned(), a.to_owned());
        assert_eq!(
            lines_of(&c),
            vec![
                l(LineKind::License, "ADVANCED license, January 2027", "64.00"),
                l(
                    LineKind::License,
                    "ADVANCED license, December 2026",
                    "64.00"
                ),
                l(
                    LineKind::LicenseProration,
                    "ADVANCED license, prorated from 2026-11-30 (1 day of 30)",
                    "2.13"
                ),
            ]
        );
        // Activated on the period's 1st or later: nothing is owed yet.
        let later = Inputs {
            period: Period::parse("2026-11").unwrap(),
            ..inputs
        };
        assert!(compose(&later).unwrap().lines.is_empty());
    }

    #[test]
    fn late_records_are_billed_as_their_months_usage_and_charges_line_by_line() {
        let mut inputs = april();
        inputs.items.clear();
        inputs.consumption = vec![
            usage("2026-02", 1, 40),
            usage("2026-04", 3, 300),
            usage("2026-03", 2, 0),
        ];
        inputs.charges = vec![Charge {
            description: "Number porting".into(),
            unit_amount: eur(1_500),
            quantity: 2,
        }];
        let c = compose(&inputs).unwrap();
        assert_eq!(
            lines_of(&c),
            vec![
                (
                    LineKind::Consumption,
                    1,
                    "Out-of-plan consumption, April 2026 (3 calls and SMS)".to_owned(),
                    "3.00".to_owned()
                ),
                (
                    LineKind::LateConsumption,
                    1,
                    "Out-of-plan consumption, February 2026 (late records: 1 call or SMS)"
                        .to_owned(),
                    "0.40".to_owned()
                ),
                (
                    LineKind::Charge,
                    2,
                    "Number porting".to_owned(),
                    "30.00".to_owned()
                ),
            ]
        );
        assert_eq!(c.subtotal.amount(), "33.40");
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
