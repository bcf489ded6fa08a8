//! One-off charges: staff add them (porting fees, set-up), every reader of the
//! account sees them, the next invoice bills them, staff delete them while
//! they are unbilled.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::clean_name;
use crate::domain::charge::{
    Charge, ChargeTerms, DESCRIPTION_MAX_CHARS, QUANTITY_MAX, valid_quantity, valid_unit_amount,
};
use crate::domain::ids::{AccountId, ChargeId};
use crate::domain::money::{Currency, Money, MoneyError, limits};
use crate::error::{ApiError, Code, FieldErrors};
use crate::store::{Page, Store, Tx};

/// A charge as the request wrote it. Its fields are checked together, once
/// the account's currency is known, so that a 422 names every bad one.
#[derive(Debug, Clone)]
pub struct ChargeInput {
    pub description: String,
    /// A decimal string in the account's currency (`"25.00"`).
    pub unit_amount: String,
    pub quantity: u32,
}

/// The longest `unit_amount` string (the request schema's `maxLength`).
const UNIT_AMOUNT_MAX_LEN: usize = 20;

/// The audit summary of a charge.
fn summary(c: &Charge) -> serde_json::Value {
    json!({
        "description": c.description,
        "unit_amount": c.terms.unit_amount().amount(),
        "quantity": c.terms.quantity(),
        "amount": c.terms.amount().amount(),
        "currency": c.terms.amount().currency().code(),
        "invoice_id": c.invoice_id.as_ref().map(|i| i.as_str()),
    })
}

/// The description and the terms of `input` in `currency`, or a 422 naming
/// every bad field.
fn parse(input: &ChargeInput, currency: Currency) -> Result<(String, ChargeTerms), ApiError> {
    let mut errors = FieldErrors::default();
    let description = errors.check(
        "description",
        clean_name(&input.description, DESCRIPTION_MAX_CHARS),
        &format!(
            "must be 1 to {DESCRIPTION_MAX_CHARS} characters, not only spaces, without control \
             or invisible characters"
        ),
    );
    let unit_amount = errors.keep(
        Some(input.unit_amount.as_str())
            .filter(|raw| raw.len() <= UNIT_AMOUNT_MAX_LEN)
            .ok_or(MoneyError::NotADecimal)
            .and_then(|raw| Money::parse(raw, currency))
            .map_err(|e| ApiError::validation("unit_amount", e.to_string()))
            .and_then(|unit| {
                if valid_unit_amount(unit) {
                    Ok(unit)
                } else {
                    let max = Money::from_minor(limits::CHARGE_UNIT_MAX_MINOR, currency);
                    Err(ApiError::validation(
                        "unit_amount",
                        format!("must be more than 0 and at most {max}"),
                    ))
                }
            }),
    );
    let quantity = errors.check(
        "quantity",
        Some(input.quantity).filter(|q| valid_quantity(*q)),
        &format!("must be a whole number between 1 and {QUANTITY_MAX}"),
    );
    errors.finish()?;
    let (Some(description), Some(unit_amount), Some(quantity)) =
        (description, unit_amount, quantity)
    else {
        return Err(ApiError::internal("charge fields checked"));
    };
    let terms = ChargeTerms::new(unit_amount, quantity)
        .ok_or_else(|| ApiError::internal("charge terms within their limits"))?;
    Ok((description, terms))
}

async fn load(tx: &mut Tx, account: &AccountId, id: &ChargeId) -> Result<Charge, ApiError> {
    tx.charge(account, id)
        .await?
        .ok_or(ApiError::NotFound("charge"))
}

/// 409 `charge_billed`.
fn billed(c: &Charge) -> ApiError {
    let invoice = c.invoice_id.as_ref().map_or("an invoice", |i| i.as_str());
    ApiError::rule(
        Code::ChargeBilled,
        format!(
            "charge {} is billed on {invoice}: a billed charge cannot be deleted",
            c.id
        ),
    )
}

#[instrument(skip_all, fields(account = %account))]
pub async fn create(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    input: ChargeInput,
) -> Result<Charge, ApiError> {
    let currency = super::load_account(tx, account).await?.currency;
    let (description, terms) = parse(&input, currency)?;
    let charge = Charge {
        id: ChargeId::generate(),
        account_id: account.id().clone(),
        description,
        terms,
        invoice_id: None,
        created_at: ctx.now,
        created_by: ctx.caller.subject.clone(),
    };
    tx.insert_charge(&charge).await?;
    let event = ctx.audit_event(
        Some(account),
        "charge.created",
        ("charge", charge.id.as_str()),
        None,
        Some(summary(&charge)),
    );
    audit::record(tx, event).await?;
    Ok(charge)
}

#[instrument(skip_all, fields(account = %account))]
pub async fn list(
    store: &Store,
    account: &Authorized,
    billed: Option<bool>,
    page: &PageRequest,
) -> Result<Page<Charge>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    Ok(tx
        .list_charges(account, billed, page.after.as_deref(), page.limit)
        .await?)
}

#[instrument(skip_all, fields(account = %account, charge = %id))]
pub async fn get(store: &Store, account: &Authorized, id: &ChargeId) -> Result<Charge, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    load(&mut tx, account, id).await
}

#[instrument(skip_all, fields(account = %account, charge = %id))]
pub async fn delete(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &ChargeId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::load_account(&mut tx, account).await?;
    // A finalizing invoice holds the account: a charge it bills is deleted
    // before it (and not billed) or after it (409), never in between.
    tx.lock_account(account).await?;
    let before = load(&mut tx, account, id).await?;
    if before.is_billed() {
        return Err(billed(&before));
    }
    // Concurrent deletes both read the row; only the one whose DELETE removed
    // it goes on (the others roll back, audit event included). A billing run
    // that billed it in between keeps it: 409, as if it had been billed first.
    if tx.delete_unbilled_charge(account, id).await? == 0 {
        return Err(match tx.charge(account, id).await? {
            Some(now) if now.is_billed() => billed(&now),
            _ => ApiError::NotFound("charge"),
        });
    }
    let event = ctx.audit_event(
        Some(account),
        "charge.deleted",
        ("charge", id.as_str()),
        Some(summary(&before)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
