//! Accounts: created by staff, read by their own users.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::{Account, InvoiceLanguage, Timezone};
use crate::domain::ids::{AccountId, TestClockId};
use crate::domain::money::Currency;
use crate::domain::role::Need;
use crate::error::{ApiError, Code};
use crate::store::{Page, Store, Tx};

/// A validated request to open an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub currency: Currency,
    pub timezone: Timezone,
    pub invoice_language: InvoiceLanguage,
    /// The test clock it lives on: a test account.
    pub test_clock_id: Option<TestClockId>,
}

/// The audit summary of an account.
pub fn summary(a: &Account) -> serde_json::Value {
    json!({"name": a.name, "currency": a.currency.code(), "timezone": a.timezone.as_str(),
           "test_clock_id": a.test_clock_id.as_ref().map(TestClockId::as_str)})
}

/// The account, or 404.
pub async fn load(tx: &mut Tx, id: &AccountId) -> Result<Account, ApiError> {
    super::load_account(tx, id).await
}

#[instrument(skip_all)]
pub async fn create(tx: &mut Tx, ctx: &Ctx, new: NewAccount) -> Result<Account, ApiError> {
    ctx.require(Need::Staff)?;
    // A test account is born at its clock's time, with an id saying so.
    let (id, created_at) = match &new.test_clock_id {
        None => (AccountId::generate(), ctx.now),
        Some(clock_id) => {
            let clock = tx
                .test_clock(clock_id)
                .await?
                .ok_or_else(|| ApiError::validation("test_clock_id", "no such test clock"))?;
            if let Some(detail) = clock.advancing() {
                return Err(ApiError::rule(Code::TestClockAdvancing, detail));
            }
            (AccountId::generate_test(), clock.frozen_time)
        }
    };
    let account = Account {
        id,
        name: new.name,
        currency: new.currency,
        timezone: new.timezone,
        invoice_language: new.invoice_language,
        created_at,
        test_clock_id: new.test_clock_id,
    };
    open(tx, ctx, &account).await?;
    Ok(account)
}

/// Stores a new account and audits it (the caller's rights are checked by the caller).
pub(crate) async fn open(tx: &mut Tx, ctx: &Ctx, account: &Account) -> Result<(), ApiError> {
    tx.insert_account(account).await?;
    let event = ctx.audit_event(
        Some(&account.id),
        "account.created",
        ("account", account.id.as_str()),
        None,
        Some(summary(account)),
    );
    audit::record(tx, event).await
}

#[instrument(skip_all, fields(account = %id))]
pub async fn get(store: &Store, id: &Authorized) -> Result<Account, ApiError> {
    let mut tx = store.begin_read().await?;
    load(&mut tx, id).await
}

#[instrument(skip_all)]
pub async fn list(store: &Store, ctx: &Ctx, page: &PageRequest) -> Result<Page<Account>, ApiError> {
    ctx.require(Need::Staff)?;
    let mut tx = store.begin_read().await?;
    Ok(tx.list_accounts(page.after.as_deref(), page.limit).await?)
}
