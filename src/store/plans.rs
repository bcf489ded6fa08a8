//! The catalog: plans and their dated prices.

use time::{Date, OffsetDateTime};

use super::accounts::corrupt;
use super::{Tx, on_tx};
use crate::domain::money::{Currency, Money};
use crate::domain::plan::{Plan, PlanKind};

#[derive(sqlx::FromRow)]
struct PlanRow {
    code: String,
    name: String,
    kind: String,
    currency: String,
    monthly_price_minor: Option<i64>,
    next_effective_from: Option<Date>,
    next_price_minor: Option<i64>,
}

impl TryFrom<PlanRow> for Plan {
    type Error = sqlx::Error;

    fn try_from(row: PlanRow) -> Result<Self, Self::Error> {
        let currency = Currency::parse(&row.currency).ok_or_else(|| corrupt("currency"))?;
        let price = row
            .monthly_price_minor
            .ok_or_else(|| corrupt("plan_prices"))?;
        Ok(Plan {
            code: row.code,
            name: row.name,
            kind: PlanKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
            monthly_price: Money::from_minor(price, currency),
            next_price: row
                .next_effective_from
                .zip(row.next_price_minor)
                .map(|(from, minor)| (from, Money::from_minor(minor, currency))),
        })
    }
}

/// Each plan with the price in force on `$1` and the first later one.
const SELECT_PLANS: &str = "SELECT p.code, p.name, p.kind, p.currency, \
    (SELECT pp.monthly_price_minor FROM plan_prices pp \
      WHERE pp.plan_code = p.code AND pp.effective_from <= $1 \
      ORDER BY pp.effective_from DESC LIMIT 1) AS monthly_price_minor, \
    (SELECT pp.effective_from FROM plan_prices pp \
      WHERE pp.plan_code = p.code AND pp.effective_from > $1 \
      ORDER BY pp.effective_from LIMIT 1) AS next_effective_from, \
    (SELECT pp.monthly_price_minor FROM plan_prices pp \
      WHERE pp.plan_code = p.code AND pp.effective_from > $1 \
      ORDER BY pp.effective_from LIMIT 1) AS next_price_minor \
    FROM plans p";

impl Tx {
    /// The catalog as it stands on `on`.
    pub async fn plans(&mut self, on: Date) -> Result<Vec<Plan>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_PLANS} ORDER BY p.position, p.code"));
        let rows: Vec<PlanRow> =
            on_tx!(self, c => sqlx::query_as(sql).bind(on).fetch_all(&mut **c).await)?;
        rows.into_iter().map(Plan::try_from).collect()
    }

    pub async fn plan(&mut self, code: &str, on: Date) -> Result<Option<Plan>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT_PLANS} WHERE p.code = $2"));
        let row: Option<PlanRow> = on_tx!(self, c => sqlx::query_as(sql)
            .bind(on)
            .bind(code)
            .fetch_optional(&mut **c)
            .await)?;
        row.map(Plan::try_from).transpose()
    }

    pub async fn rename_plan(&mut self, code: &str, name: &str) -> Result<(), sqlx::Error> {
        on_tx!(self, c => sqlx::query("UPDATE plans SET name = $1 WHERE code = $2")
            .bind(name)
            .bind(code)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets the price that applies from `effective_from`, replacing one
    /// already set for that day.
    pub async fn set_plan_price(
        &mut self,
        code: &str,
        effective_from: Date,
        price: Money,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO plan_prices (plan_code, effective_from, monthly_price_minor, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (plan_code, effective_from) \
             DO UPDATE SET monthly_price_minor = excluded.monthly_price_minor, created_at = excluded.created_at",
        )
        .bind(code)
        .bind(effective_from)
        .bind(price.minor())
        .bind(now)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
