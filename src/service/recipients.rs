//! Invoice recipients: add, list, change, remove; checked emails, no
//! duplicates (case-insensitive), at most 10 per account.

use serde_json::json;

use super::{Authorized, Ctx, audit};
use crate::domain::contact::Email;
use crate::domain::ids::{AccountId, RecipientId};
use crate::error::{ApiError, Code};
use crate::store::recipients::RecipientRow;
use crate::store::{Store, Tx};

pub const MAX_RECIPIENTS: usize = 10;

fn taken(email: &Email) -> ApiError {
    ApiError::rule(
        Code::RecipientExists,
        format!("{} already receives the invoices", email.as_str()),
    )
}

pub async fn add(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    email: Email,
) -> Result<RecipientRow, ApiError> {
    super::accounts::load(tx, account).await?;
    // Concurrent adds queue here, so the count below is the final one.
    tx.lock_account(account).await?;
    let existing = tx.recipients(account).await?;
    if existing
        .iter()
        .any(|r| r.email.eq_ignore_ascii_case(email.as_str()))
    {
        return Err(taken(&email));
    }
    if existing.len() >= MAX_RECIPIENTS {
        return Err(ApiError::rule(
            Code::TooManyRecipients,
            format!("an account has at most {MAX_RECIPIENTS} invoice recipients"),
        ));
    }
    let row = RecipientRow {
        id: RecipientId::generate().to_string(),
        account_id: account.to_string(),
        email: email.as_str().to_owned(),
        created_at: ctx.now,
    };
    tx.insert_recipient(&row).await?;
    let event = ctx.audit_event(
        Some(account),
        "invoice_recipient.added",
        ("invoice_recipient", &row.id),
        None,
        Some(json!({"email": row.email})),
    );
    audit::record(tx, event).await?;
    Ok(row)
}

pub async fn list(store: &Store, account: &Authorized) -> Result<Vec<RecipientRow>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx.recipients(account).await?)
}

async fn find(
    tx: &mut Tx,
    account: &AccountId,
    id: &RecipientId,
) -> Result<RecipientRow, ApiError> {
    tx.recipients(account)
        .await?
        .into_iter()
        .find(|r| r.id == id.as_str())
        .ok_or(ApiError::NotFound("invoice recipient"))
}

pub async fn get(
    store: &Store,
    account: &Authorized,
    id: &RecipientId,
) -> Result<RecipientRow, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    find(&mut tx, account, id).await
}

pub async fn change(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &RecipientId,
    email: Email,
) -> Result<RecipientRow, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let all = tx.recipients(account).await?;
    let before = all
        .iter()
        .find(|r| r.id == id.as_str())
        .cloned()
        .ok_or(ApiError::NotFound("invoice recipient"))?;
    if all
        .iter()
        .any(|r| r.id != before.id && r.email.eq_ignore_ascii_case(email.as_str()))
    {
        return Err(taken(&email));
    }
    tx.set_recipient_email(id, email.as_str()).await?;
    let event = ctx.audit_event(
        Some(account),
        "invoice_recipient.changed",
        ("invoice_recipient", id.as_str()),
        Some(json!({"email": before.email})),
        Some(json!({"email": email.as_str()})),
    );
    audit::record(&mut tx, event).await?;
    let after = find(&mut tx, account, id).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn remove(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &RecipientId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = find(&mut tx, account, id).await?;
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_recipient(id).await? {
        return Err(ApiError::NotFound("invoice recipient"));
    }
    let event = ctx.audit_event(
        Some(account),
        "invoice_recipient.removed",
        ("invoice_recipient", id.as_str()),
        Some(json!({"email": before.email})),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
