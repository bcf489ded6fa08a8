//! The audit log: every change is recorded in the transaction that makes it.

use tracing::instrument;

use super::{Authorized, Ctx, PageRequest};
use crate::domain::audit::AuditEvent;
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::{Page, Store, Tx};

/// Records `event` in `tx`: it commits, or rolls back, with the change it describes.
pub async fn record(tx: &mut Tx, event: AuditEvent) -> Result<(), ApiError> {
    tx.insert_audit_event(&event).await?;
    Ok(())
}

/// One account's events, newest first (account admins and staff).
#[instrument(skip_all, fields(account = %account))]
pub async fn list_for_account(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    Ok(tx
        .list_audit_events(Some(account), page.after.as_deref(), page.limit)
        .await?)
}

/// Every event, catalog changes included (staff).
#[instrument(skip_all)]
pub async fn list_all(
    store: &Store,
    ctx: &Ctx,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, ApiError> {
    ctx.require(Need::Staff)?;
    let mut tx = store.begin_read().await?;
    Ok(tx
        .list_audit_events(None, page.after.as_deref(), page.limit)
        .await?)
}
