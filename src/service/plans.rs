//! The catalog. A price change applies to billing periods starting after it,
//! so it is recorded for the first day of the next month; until then the
//! current price stays in force and the new one shows as `next_price`.
//! Prices are per currency; a plan's first price in a currency changes no
//! one's price, so it applies at once (from the current month's 1st).

use serde_json::json;
use tracing::instrument;

use super::{Ctx, audit};
use crate::domain::money::{Currency, Money, limits};
use crate::domain::plan::{Plan, next_period_start};
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::Store;

/// A validated change of a plan: its name now, its price from the next period.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub name: String,
    pub monthly_price: String,
    /// The currency of `monthly_price`.
    pub currency: Currency,
}

fn summary(p: &Plan) -> serde_json::Value {
    let prices: serde_json::Map<String, serde_json::Value> = p
        .prices
        .iter()
        .map(|c| {
            (
                c.monthly_price.currency().code().to_owned(),
                json!({
                    "monthly_price": c.monthly_price.amount(),
                    "next_price": c.next_price.map(|(from, price)| json!({
                        "monthly_price": price.amount(), "effective_from": from.to_string()
                    })),
                }),
            )
        })
        .collect();
    json!({
        "name": p.name,
        "monthly_price": p.monthly_price.amount(),
        "next_price": p.next_price.map(|(from, price)| json!({
            "monthly_price": price.amount(), "effective_from": from.to_string()
        })),
        "prices": prices,
    })
}

#[instrument(skip_all)]
pub async fn list(store: &Store, ctx: &Ctx) -> Result<Vec<Plan>, ApiError> {
    let mut tx = store.begin_read().await?;
    Ok(tx.plans(ctx.now.date()).await?)
}

#[instrument(skip_all, fields(plan = %code))]
pub async fn update(
    store: &Store,
    ctx: &Ctx,
    code: &str,
    change: PlanChange,
) -> Result<Plan, ApiError> {
    ctx.require(Need::Staff)?;
    let today = ctx.now.date();
    let mut tx = store.begin_write().await?;
    let before = tx
        .plan(code, today)
        .await?
        .ok_or(ApiError::NotFound("plan"))?;
    let price = Money::parse(&change.monthly_price, change.currency)
        .map_err(|e| ApiError::validation("monthly_price", e.to_string()))?;
    super::credits::check_between("monthly_price", price, 0, limits::PLAN_PRICE_MAX_MINOR)?;
    if change.name != before.name {
        tx.rename_plan(code, &change.name).await?;
    }
    // A change applies from the next period; a first price in a currency
    // changes no one's price (no account in it could buy the plan), so it
    // applies from this month's 1st: sold at once, a staff activation
    // backdated within the month included.
    let effective_from = if before.price_in(change.currency).is_some() {
        next_period_start(today)
    } else {
        today.replace_day(1).map_err(ApiError::internal)?
    };
    tx.set_plan_price(code, effective_from, price, ctx.now)
        .await?;
    let after = tx
        .plan(code, today)
        .await?
        .ok_or(ApiError::NotFound("plan"))?;
    let event = ctx.audit_event(
        None,
        "plan.updated",
        ("plan", code),
        Some(summary(&before)),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}
