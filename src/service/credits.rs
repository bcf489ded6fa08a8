//! Prepaid credits: a balance that never goes negative and is always the sum
//! of its ledger; top-ups (pending until the payment is confirmed by the
//! signed webhook or by staff), staff adjustments, consumption debits and
//! auto-recharge.

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use super::events::{self, Object};
use super::issuing::Issuer;
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, TopUpId};
use crate::domain::money::{Amount, Currency, Money, limits};
use crate::domain::payment::{
    CreditState, LedgerKind, TopUp, TopUpOrigin, TopUpStatus, crosses_threshold, split_debit,
};
use crate::error::{ApiError, Code, FieldErrors};
use crate::store::credits::LedgerEntry;
use crate::store::{Page, Store, Tx};

/// Bounds of one top-up and of an auto-recharge amount, in minor units.
pub const TOP_UP_MIN_MINOR: i64 = 1_000;
pub const TOP_UP_MAX_MINOR: i64 = 1_000_000;

pub fn check_top_up_amount(field: &str, amount: Money) -> Result<(), ApiError> {
    check_between(field, amount, TOP_UP_MIN_MINOR, TOP_UP_MAX_MINOR).map(|_| ())
}

/// `amount` if it lies in `[min_minor, max_minor]`, or a 422 naming `field`
/// with both bounds: every amount a request carries has one (README,
/// "Amount limits"; `domain::money::limits`).
pub fn check_between(
    field: &str,
    amount: Money,
    min_minor: i64,
    max_minor: i64,
) -> Result<Money, ApiError> {
    if amount.is_within(min_minor, max_minor) {
        Ok(amount)
    } else {
        let (min, max) = (
            Money::from_minor(min_minor, amount.currency()),
            Money::from_minor(max_minor, amount.currency()),
        );
        Err(ApiError::validation(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// The balance after adding `amount_minor`, or a 422 naming `field` when it
/// would pass [`limits::BALANCE_MAX_MINOR`].
fn balance_after(
    field: &str,
    balance_minor: i64,
    amount_minor: i64,
    currency: Currency,
) -> Result<i64, ApiError> {
    balance_minor
        .checked_add(amount_minor)
        .filter(|after| *after <= limits::BALANCE_MAX_MINOR)
        .ok_or_else(|| {
            ApiError::validation(
                field,
                format!(
                    "would take the balance ({}) past {}, the largest balance",
                    Money::from_minor(balance_minor, currency),
                    Money::from_minor(limits::BALANCE_MAX_MINOR, currency)
                ),
            )
        })
}

fn top_up_summary(t: &TopUp) -> serde_json::Value {
    json!({
        "amount_minor": t.amount_minor,
        "tax_minor": t.tax_minor,
        "status": t.status.as_str(),
        "origin": t.origin.as_str(),
        "invoice_id": t.invoice_id,
    })
}

pub async fn state(
    store: &Store,
    account: &Authorized,
) -> Result<(crate::domain::account::Account, CreditState), ApiError> {
    let mut tx = store.begin_read().await?;
    let acc = super::accounts::load(&mut tx, account).await?;
    let state = tx.credits(account).await?;
    Ok((acc, state))
}

/// An amount of a request in the account's currency, or a 422 naming `field`.
pub fn money_in(field: &str, amount: Amount, currency: Currency) -> Result<Money, ApiError> {
    amount
        .in_currency(currency)
        .map_err(|e| ApiError::validation(field, e.to_string()))
}

/// The ledger, and the account's currency to show it in.
pub async fn ledger(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<(Currency, Page<LedgerEntry>), ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::accounts::load(&mut tx, account).await?.currency;
    Ok((
        currency,
        tx.ledger(account, page.after.as_deref(), page.limit)
            .await?,
    ))
}

pub async fn top_ups(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<(Currency, Page<TopUp>), ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::accounts::load(&mut tx, account).await?.currency;
    Ok((
        currency,
        tx.list_top_ups(account, page.after.as_deref(), page.limit)
            .await?,
    ))
}

/// A pending top-up of `amount` (the credits, excluding VAT) on the default
/// payment method, charged `amount` plus the VAT of the account's treatment:
/// 422 `payment_method_required` without a usable method, 409
/// `billing_address_unverified` without a verified primary address.
async fn open_top_up(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &AccountId,
    amount: Money,
    origin: TopUpOrigin,
) -> Result<TopUp, ApiError> {
    let method = super::payments::usable_default(tx, account, ctx.now)
        .await?
        .ok_or_else(|| {
            ApiError::rule(
                Code::PaymentMethodRequired,
                "the account has no usable default payment method (none, or an expired card)",
            )
        })?;
    let (tax, tax_amount) = super::advance::charged_tax(tx, account, amount, ctx.now).await?;
    let amount_minor = amount.minor();
    let top_up = TopUp {
        id: TopUpId::generate(),
        account_id: account.clone(),
        amount_minor,
        status: TopUpStatus::Pending,
        origin,
        payment_method_id: method.id,
        failure_reason: None,
        created_at: ctx.now,
        settled_at: None,
        tax_minor: tax_amount.minor(),
        tax: Some(tax),
        invoice_id: None,
    };
    tx.save_top_up(&top_up).await?;
    let event = ctx.audit_event(
        Some(account),
        "credits.top_up_created",
        ("top_up", top_up.id.as_str()),
        None,
        Some(top_up_summary(&top_up)),
    );
    audit::record(tx, event).await?;
    Ok(top_up)
}

/// An admin buys credits: a pending top-up on the default payment method.
#[instrument(skip_all, fields(account = %account))]
pub async fn create_top_up(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    amount: Amount,
) -> Result<(Currency, TopUp), ApiError> {
    let currency = super::accounts::load(tx, account).await?.currency;
    let amount = money_in("amount", amount, currency)?;
    check_top_up_amount("amount", amount)?;
    let balance = tx.credits(account).await?.balance_minor;
    balance_after("amount", balance, amount.minor(), currency)?;
    let top_up = open_top_up(tx, ctx, account, amount, TopUpOrigin::Manual).await?;
    Ok((currency, top_up))
}

#[instrument(skip_all, fields(account = %account))]
pub async fn set_auto_recharge(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    enabled: bool,
    threshold: Amount,
    amount: Amount,
) -> Result<(Currency, CreditState), ApiError> {
    let mut tx = store.begin_write().await?;
    let currency = super::accounts::load(&mut tx, account).await?.currency;
    let mut errors = FieldErrors::default();
    let non_negative = |field: &str, amount: Amount, errors: &mut FieldErrors| {
        let parsed = money_in(field, amount, currency).and_then(|m| {
            if m.is_negative() {
                Err(ApiError::validation(field, "must not be negative"))
            } else {
                Ok(m)
            }
        });
        errors.keep(parsed)
    };
    let threshold = non_negative("threshold", threshold, &mut errors).filter(|t| {
        errors
            .keep(check_between(
                "threshold",
                *t,
                0,
                limits::THRESHOLD_MAX_MINOR,
            ))
            .is_some()
    });
    // Disabled, the amount may be zero; it is never above a top-up's maximum.
    let min = if enabled { TOP_UP_MIN_MINOR } else { 0 };
    let amount = non_negative("amount", amount, &mut errors).filter(|a| {
        errors
            .keep(check_between("amount", *a, min, TOP_UP_MAX_MINOR))
            .is_some()
    });
    errors.finish()?;
    let (Some(threshold), Some(amount)) = (threshold, amount) else {
        return Err(ApiError::internal("auto-recharge amounts checked"));
    };
    let before = tx.lock_credits(account).await?;
    let after = CreditState {
        auto_recharge_enabled: enabled,
        threshold_minor: threshold.minor(),
        recharge_amount_minor: amount.minor(),
        ..before
    };
    tx.set_auto_recharge(account, &after).await?;
    let summary = |s: &CreditState| json!({"enabled": s.auto_recharge_enabled, "threshold_minor": s.threshold_minor, "amount_minor": s.recharge_amount_minor});
    let event = ctx.audit_event(
        Some(account),
        "credits.auto_recharge_set",
        ("account", account.as_str()),
        Some(summary(&before)),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((currency, after))
}

/// Staff move the balance by a signed amount, with a reason; never below zero.
#[instrument(skip_all, fields(account = %account))]
pub async fn adjust(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    amount: Amount,
    reason: &str,
) -> Result<(Currency, LedgerEntry), ApiError> {
    let currency = super::accounts::load(tx, account).await?.currency;
    let amount = money_in("amount", amount, currency)?;
    if amount.minor() == 0 {
        return Err(ApiError::validation("amount", "must not be zero"));
    }
    check_between(
        "amount",
        amount,
        -limits::ADJUSTMENT_MAX_MINOR,
        limits::ADJUSTMENT_MAX_MINOR,
    )?;
    let state = tx.lock_credits(account).await?;
    let after = balance_after("amount", state.balance_minor, amount.minor(), currency)?;
    if after < 0 {
        return Err(ApiError::rule(
            Code::InsufficientBalance,
            format!(
                "the balance is {}: it cannot go below zero",
                Money::from_minor(state.balance_minor, amount.currency())
            ),
        ));
    }
    let entry = tx
        .post_ledger(
            account,
            LedgerKind::Adjustment,
            amount.minor(),
            after,
            Some(reason),
            ctx.now,
        )
        .await?;
    low_balance(tx, ctx.now, account, &state, after).await?;
    let event = ctx.audit_event(
        Some(account),
        "credits.adjusted",
        ("ledger_entry", entry.id.as_str()),
        Some(json!({"balance_minor": state.balance_minor})),
        Some(json!({"balance_minor": after, "reason": reason})),
    );
    audit::record(tx, event).await?;
    Ok((currency, entry))
}

/// What a consumption debit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitOutcome {
    /// Paid from the balance.
    pub covered_minor: i64,
    /// Not covered: billable on the next invoice.
    pub billable_minor: i64,
    /// The auto-recharge this debit triggered, if any.
    pub auto_recharge: Option<TopUp>,
}

/// Writes `credits.low_balance` when a debit that took the balance from
/// `state`'s to `after` crossed under the auto-recharge threshold: once per
/// crossing (a balance already under it falls further without a new one),
/// whether auto-recharge is enabled or not. The object is the credits as
/// they read after the debit.
async fn low_balance(
    tx: &mut Tx,
    now: OffsetDateTime,
    account: &AccountId,
    state: &CreditState,
    after: i64,
) -> Result<(), ApiError> {
    if !(state.balance_minor >= state.threshold_minor && after < state.threshold_minor) {
        return Ok(());
    }
    let currency = super::load_account(tx, account).await?.currency;
    let credits = CreditState {
        balance_minor: after,
        ..*state
    };
    events::emit(
        tx,
        now,
        account,
        EventType::CreditsLowBalance,
        Object::Credits(credits, currency),
    )
    .await?;
    Ok(())
}

/// Takes what the balance covers of `amount_minor`, returns the rest, and
/// triggers auto-recharge once when the balance goes under the threshold (no
/// second pending auto top-up while one is pending). For the consumption
/// ingestion; runs in the caller's write transaction.
pub async fn debit(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &AccountId,
    amount_minor: i64,
    reference: &str,
) -> Result<DebitOutcome, ApiError> {
    let state = tx.lock_credits(account).await?;
    let (covered, billable) = split_debit(state.balance_minor, amount_minor);
    // `covered` is at most the balance (split_debit): this cannot leave the range.
    let after = state
        .balance_minor
        .checked_sub(covered)
        .ok_or_else(|| ApiError::internal("credit balance out of range"))?;
    if covered > 0 {
        tx.post_ledger(
            account,
            LedgerKind::Consumption,
            -covered,
            after,
            Some(reference),
            ctx.now,
        )
        .await?;
    }
    low_balance(tx, ctx.now, account, &state, after).await?;
    let mut auto_recharge = None;
    if crosses_threshold(&state, state.balance_minor, after)
        && !tx.has_pending_auto_recharge(account).await?
    {
        // No usable payment method, or no verified address to tax it by:
        // no recharge, the debit still stands.
        let currency = super::load_account(tx, account).await?.currency;
        let amount = Money::from_minor(state.recharge_amount_minor, currency);
        match open_top_up(tx, ctx, account, amount, TopUpOrigin::AutoRecharge).await {
            Ok(top_up) => auto_recharge = Some(top_up),
            Err(ApiError::Rule {
                code: Code::PaymentMethodRequired,
                ..
            }) => {
                tracing::warn!(account = %account, "auto-recharge skipped: no usable payment method")
            }
            Err(ApiError::Rule {
                code: Code::BillingAddressUnverified,
                ..
            }) => {
                tracing::warn!(account = %account, "auto-recharge skipped: no verified billing address")
            }
            Err(ApiError::Rule {
                code: Code::VatNumberUnchecked,
                ..
            }) => {
                tracing::warn!(account = %account, "auto-recharge skipped: its VAT number has no conclusive check")
            }
            Err(ApiError::Rule {
                code: Code::ExchangeRateMissing,
                ..
            }) => {
                tracing::warn!(account = %account, "auto-recharge skipped: no exchange rate to state its VAT in euros")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(DebitOutcome {
        covered_minor: covered,
        billable_minor: billable,
        auto_recharge,
    })
}

/// The outcome of a top-up's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Succeeded,
    Failed(Option<String>),
}

/// Settles a pending top-up: success credits the balance (once) and issues
/// its acompte invoice (`advance::issue`), failure records why. A top-up
/// already settled is returned as it is.
pub async fn settle(
    tx: &mut Tx,
    ctx: &Ctx,
    issuer: &Issuer,
    top_up: TopUp,
    outcome: Settlement,
    now: OffsetDateTime,
) -> Result<Settled, ApiError> {
    // Settlements of one top-up (webhook events, staff) queue here, then
    // read its status again: only the first one credits it.
    tx.lock_account(&top_up.account_id).await?;
    let top_up = tx
        .top_up(&top_up.id)
        .await?
        .ok_or(ApiError::NotFound("top-up"))?;
    if top_up.status != TopUpStatus::Pending {
        return Ok(Settled {
            top_up,
            changed: false,
        });
    }
    let before = top_up_summary(&top_up);
    let settled = match outcome {
        Settlement::Succeeded => {
            let state = tx.lock_credits(&top_up.account_id).await?;
            // A payment that succeeded is always credited, even past the
            // largest balance a new top-up may aim at (several were pending):
            // the balance stays within 10^10 plus 10^6 a pending top-up.
            let after = state
                .balance_minor
                .checked_add(top_up.amount_minor)
                .ok_or_else(|| {
                    ApiError::validation("amount", "would take the balance out of range")
                })?;
            tx.post_ledger(
                &top_up.account_id,
                LedgerKind::TopUp,
                top_up.amount_minor,
                after,
                Some(top_up.id.as_str()),
                now,
            )
            .await?;
            let succeeded = TopUp {
                status: TopUpStatus::Succeeded,
                settled_at: Some(now),
                ..top_up
            };
            // In this transaction: the credits are never granted without
            // the acompte that carries their VAT.
            let invoice = super::advance::issue(tx, ctx, issuer, &succeeded, now).await?;
            TopUp {
                invoice_id: invoice.map(|i| i.to_string()),
                ..succeeded
            }
        }
        Settlement::Failed(reason) => TopUp {
            status: TopUpStatus::Failed,
            failure_reason: reason,
            settled_at: Some(now),
            ..top_up
        },
    };
    tx.save_top_up(&settled).await?;
    let event = ctx.audit_event(
        Some(&settled.account_id),
        "credits.top_up_settled",
        ("top_up", settled.id.as_str()),
        Some(before),
        Some(top_up_summary(&settled)),
    );
    audit::record(tx, event).await?;
    if settled.status == TopUpStatus::Succeeded {
        // As the API shows it: read back, with its settlement as stored.
        let shown = tx
            .top_up(&settled.id)
            .await?
            .ok_or_else(|| ApiError::internal("the top-up just settled is not there"))?;
        let currency = super::load_account(tx, &settled.account_id).await?.currency;
        events::emit(
            tx,
            now,
            &settled.account_id,
            EventType::CreditsTopUpSucceeded,
            Object::TopUp(&shown, currency),
        )
        .await?;
    }
    Ok(Settled {
        top_up: settled,
        changed: true,
    })
}

/// A settlement's outcome: the top-up as it stands, and whether this
/// settlement changed it (false when another one settled it first).
pub struct Settled {
    pub top_up: TopUp,
    pub changed: bool,
}

/// Staff confirm a top-up's payment by hand.
#[instrument(skip_all, fields(account = %account, top_up = %id))]
pub async fn confirm(
    store: &Store,
    ctx: &Ctx,
    issuer: &Issuer,
    account: &Authorized,
    id: &TopUpId,
    outcome: Settlement,
) -> Result<(Currency, TopUp), ApiError> {
    let mut tx = store.begin_write().await?;
    let currency = super::accounts::load(&mut tx, account).await?.currency;
    let top_up = tx
        .top_up(id)
        .await?
        .filter(|t| &t.account_id == account.id())
        .ok_or(ApiError::NotFound("top-up"))?;
    if top_up.status != TopUpStatus::Pending {
        return Err(ApiError::rule(
            Code::TopUpSettled,
            format!("this top-up is already {}", top_up.status.as_str()),
        ));
    }
    let settled = settle(&mut tx, ctx, issuer, top_up, outcome, ctx.now).await?;
    if !settled.changed {
        // Another settlement won the race after the check above.
        return Err(ApiError::rule(
            Code::TopUpSettled,
            format!("this top-up is already {}", settled.top_up.status.as_str()),
        ));
    }
    let settled = settled.top_up;
    tx.commit().await?;
    Ok((currency, settled))
}

/// A payment event from the provider, signature already checked.
pub struct PaymentEvent {
    pub id: String,
    pub top_up_id: TopUpId,
    pub outcome: Settlement,
}

/// Applies a webhook event once: a replayed event id changes nothing.
/// Returns whether it was applied now.
#[instrument(skip_all, fields(event = %event.id))]
pub async fn apply_payment_event(
    store: &Store,
    ctx: &Ctx,
    issuer: &Issuer,
    event: PaymentEvent,
) -> Result<bool, ApiError> {
    let mut tx = store.begin_write().await?;
    if !tx.record_webhook_event(&event.id, ctx.now).await? {
        return Ok(false);
    }
    let top_up = tx
        .top_up(&event.top_up_id)
        .await?
        .ok_or(ApiError::NotFound("top-up"))?;
    // A new event about a top-up already settled changes nothing.
    let changed = settle(&mut tx, ctx, issuer, top_up, event.outcome, ctx.now)
        .await?
        .changed;
    tx.commit().await?;
    Ok(changed)
}
