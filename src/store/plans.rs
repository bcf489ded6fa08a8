//! The catalog: plans and their dated prices, per currency.

use time::{Date, OffsetDateTime};

use super::accounts::corrupt;
use super::{Tx, execute, fetch_all, sql};
use crate::domain::money::{Currency, Money};
use crate::domain::plan::{CurrencyPrice, Plan, PlanKind, next_price_after, price_on};

/// One dated price of a plan in one currency, with the plan.
#[derive(sqlx::FromRow)]
struct PlanPriceRow {
    code: String,
    name: String,
    kind: String,
    currency: String,
    effective_from: Date,
    monthly_price_minor: i64,
}

/// Every plan with all its dated prices, in catalog order, prices grouped by
/// currency and oldest first.
const SELECT_PLAN_PRICES: &str = "SELECT p.code, p.name, p.kind, pp.currency, \
    pp.effective_from, pp.monthly_price_minor \
    FROM plans p JOIN plan_prices pp ON pp.plan_code = p.code";

/// The plans of `rows` as they stand on `on` (rows grouped by plan, prices
/// oldest first): in each currency, the price in force and the next one, by
/// the catalog's rule. Every plan has an EUR price in force.
fn plans_on(rows: Vec<PlanPriceRow>, on: Date) -> Result<Vec<Plan>, sqlx::Error> {
    let mut plans = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while let Some(first) = rows.next() {
        let mut dated: Vec<(Currency, Date, i64)> = Vec::new();
        let mut push = |row: &PlanPriceRow| -> Result<(), sqlx::Error> {
            let currency = Currency::parse(&row.currency).ok_or_else(|| corrupt("currency"))?;
            dated.push((currency, row.effective_from, row.monthly_price_minor));
            Ok(())
        };
        push(&first)?;
        while let Some(row) = rows.next_if(|r| r.code == first.code) {
            push(&row)?;
        }
        let mut prices = Vec::new();
        for currency in Currency::ALL {
            let of: Vec<(Date, i64)> = dated
                .iter()
                .filter(|(c, _, _)| *c == currency)
                .map(|(_, from, minor)| (*from, *minor))
                .collect();
            // A currency whose first price is still to come is not sold yet.
            if let Some(minor) = price_on(&of, on) {
                prices.push(CurrencyPrice {
                    monthly_price: Money::from_minor(minor, currency),
                    next_price: next_price_after(&of, on)
                        .map(|(from, minor)| (from, Money::from_minor(minor, currency))),
                });
            }
        }
        let eur = prices
            .iter()
            .find(|p| p.monthly_price.currency() == Currency::Eur)
            .copied()
            .ok_or_else(|| corrupt("plan_prices"))?;
        plans.push(Plan {
            kind: PlanKind::parse(&first.kind).ok_or_else(|| corrupt("kind"))?,
            code: first.code,
            name: first.name,
            monthly_price: eur.monthly_price,
            next_price: eur.next_price,
            prices,
        });
    }
    Ok(plans)
}

impl Tx {
    /// The catalog as it stands on `on`.
    pub async fn plans(&mut self, on: Date) -> Result<Vec<Plan>, sqlx::Error> {
        let sql = sql!("{SELECT_PLAN_PRICES} ORDER BY p.position, p.code, pp.effective_from");
        let rows: Vec<PlanPriceRow> = fetch_all!(self, sqlx::query_as(sql))?;
        plans_on(rows, on)
    }

    pub async fn plan(&mut self, code: &str, on: Date) -> Result<Option<Plan>, sqlx::Error> {
        let sql = sql!("{SELECT_PLAN_PRICES} WHERE p.code = $1 ORDER BY pp.effective_from");
        let rows: Vec<PlanPriceRow> = fetch_all!(self, sqlx::query_as(sql).bind(code))?;
        Ok(plans_on(rows, on)?.pop())
    }

    pub async fn rename_plan(&mut self, code: &str, name: &str) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE plans SET name = $1 WHERE code = $2")
                .bind(name)
                .bind(code)
        )?;
        Ok(())
    }

    /// Sets the price in `price`'s currency that applies from
    /// `effective_from`, replacing one already set for that day.
    pub async fn set_plan_price(
        &mut self,
        code: &str,
        effective_from: Date,
        price: Money,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "INSERT INTO plan_prices (plan_code, currency, effective_from, monthly_price_minor, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (plan_code, currency, effective_from) \
             DO UPDATE SET monthly_price_minor = excluded.monthly_price_minor, created_at = excluded.created_at",
        )
        .bind(code)
        .bind(price.currency().code())
        .bind(effective_from)
        .bind(price.minor())
        .bind(now))?;
        Ok(())
    }
}
