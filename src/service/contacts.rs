//! Useful contacts: full CRUD by the account's admins (and staff).

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::contact::{Contact, ContactRole, Email, PhoneNumber};
use crate::domain::ids::{AccountId, ContactId};
use crate::error::ApiError;
use crate::store::{Page, Store, Tx};

/// A validated new contact.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub name: String,
    pub email: Email,
    pub phone: PhoneNumber,
    pub role: ContactRole,
    pub note: Option<String>,
}

/// A validated partial change; `note: Some(None)` clears the note.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub role: Option<ContactRole>,
    pub note: Option<Option<String>>,
}

fn summary(c: &Contact) -> serde_json::Value {
    json!({
        "name": c.name, "email": c.email.as_str(), "phone": c.phone.as_str(),
        "role": c.role.as_str(), "note": c.note,
    })
}

async fn load(tx: &mut Tx, account: &AccountId, id: &ContactId) -> Result<Contact, ApiError> {
    tx.contact(account, id)
        .await?
        .ok_or(ApiError::NotFound("contact"))
}

#[instrument(skip_all, fields(account = %account))]
pub async fn create(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    new: NewContact,
) -> Result<Contact, ApiError> {
    super::accounts::load(tx, account).await?;
    let contact = Contact {
        id: ContactId::generate(),
        account_id: account.id().clone(),
        name: new.name,
        email: new.email,
        phone: new.phone,
        role: new.role,
        note: new.note,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.save_contact(&contact).await?;
    let event = ctx.audit_event(
        Some(account),
        "contact.created",
        ("contact", contact.id.as_str()),
        None,
        Some(summary(&contact)),
    );
    audit::record(tx, event).await?;
    Ok(contact)
}

#[instrument(skip_all, fields(account = %account))]
pub async fn list(
    store: &Store,
    account: &Authorized,
    role: Option<ContactRole>,
    page: &PageRequest,
) -> Result<Page<Contact>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .list_contacts(account, role, page.after.as_deref(), page.limit)
        .await?)
}

#[instrument(skip_all, fields(account = %account, contact = %id))]
pub async fn get(store: &Store, account: &Authorized, id: &ContactId) -> Result<Contact, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load(&mut tx, account, id).await
}

#[instrument(skip_all, fields(account = %account, contact = %id))]
pub async fn update(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &ContactId,
    patch: ContactPatch,
) -> Result<Contact, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    let after = Contact {
        name: patch.name.unwrap_or_else(|| before.name.clone()),
        email: patch.email.unwrap_or_else(|| before.email.clone()),
        phone: patch.phone.unwrap_or_else(|| before.phone.clone()),
        role: patch.role.unwrap_or(before.role),
        note: patch.note.unwrap_or_else(|| before.note.clone()),
        updated_at: ctx.now,
        ..before.clone()
    };
    tx.save_contact(&after).await?;
    let event = ctx.audit_event(
        Some(account),
        "contact.updated",
        ("contact", id.as_str()),
        Some(summary(&before)),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

#[instrument(skip_all, fields(account = %account, contact = %id))]
pub async fn delete(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &ContactId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_contact(id).await? {
        return Err(ApiError::NotFound("contact"));
    }
    let event = ctx.audit_event(
        Some(account),
        "contact.deleted",
        ("contact", id.as_str()),
        Some(summary(&before)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
