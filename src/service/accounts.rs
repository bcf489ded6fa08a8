//! Accounts: created by staff, read by their own users.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::{Account, InvoiceLanguage, Timezone};
use crate::domain::ids::AccountId;
use crate::domain::money::Currency;
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::{Page, Store, Tx};

/// A validated request to open an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub currency: Currency,
    pub timezone: Timezone,
    pub invoice_language: InvoiceLanguage,
}

/// The audit summary of an account.
pub fn summary(a: &Account) -> serde_json::Value {
    json!({"name": a.name, "currency": a.currency.code(), "timezone": a.timezone.as_str()})
}

/// The account, or 404.
pub async fn load(tx: &mut Tx, id: &AccountId) -> Result<Account, ApiError> {
    super::load_account(tx, id).await
}

#[instrument(skip_all)]
pub async fn create(tx: &mut Tx, ctx: &Ctx, new: NewAccount) -> Result<Account, ApiError> {
    ctx.require(Need::Staff)?;
    let account = Account {
        id: AccountId::generate(),
        name: new.name,
        currency: new.currency,
        timezone: new.timezone,
        invoice_language: new.invoice_language,
        created_at: ctx.now,
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
