//! The catalog. A price change applies to billing periods starting after it,
//! so it is recorded for the first day of the next month; until then the
//! current price stays in force and the new one shows as `next_price`.

use serde_json::json;
use tracing::instrument;

use super::{Ctx, audit};
use crate::domain::money::{Money, limits};
use crate::domain::plan::{Plan, next_period_start};
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::Store;

/// A validated change of a plan: its name now, its price from the next period.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub name: String,
    pub monthly_price: String,
}

fn summary(p: &Plan) -> serde_json::Value {
    json!({
        "name": p.name,
        "monthly_price": p.monthly_price.amount(),
        "next_price": p.next_price.map(|(from, price)| json!({
            "monthly_price": price.amount(), "effective_from": from.to_string()
        })),
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
    let price = Money::parse(&change.monthly_price, before.monthly_price.currency())
        .map_err(|e| ApiError::validation("monthly_price", e.to_string()))?;
    super::credits::check_between("monthly_price", price, 0, limits::PLAN_PRICE_MAX_MINOR)?;
    if change.name != before.name {
        tx.rename_plan(code, &change.name).await?;
    }
    tx.set_plan_price(code, next_period_start(today), price, ctx.now)
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
