//! Webhook endpoints: created, changed, rotated and deleted by the
//! account's admins (and staff). The signing secret leaves this module only
//! in [`WithSecret`], the answer of a creation or a rotation; the audit log
//! never holds it.

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit, load_account};
use crate::domain::event::Subscription;
use crate::domain::ids::WebhookEndpointId;
use crate::domain::webhook::{WebhookEndpoint, WebhookSecret};
use crate::error::ApiError;
use crate::store::{Page, Store, Tx};

/// How long the secret before a rotation keeps signing beside the new one.
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);

/// A validated new endpoint (its URL checked against the target policy).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: url::Url,
    pub events: Subscription,
    pub description: Option<String>,
    pub enabled: bool,
}

/// A validated partial change: absent fields stay; `description:
/// Some(None)` clears it; `enabled: Some(true)` also re-enables an endpoint
/// Comptoir disabled.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<url::Url>,
    pub events: Option<Subscription>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint and its new secret: shown once.
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: WebhookSecret,
}

/// What the audit log keeps of an endpoint: never its secrets.
pub fn summary(e: &WebhookEndpoint) -> serde_json::Value {
    json!({
        "url": e.url.as_str(), "events": e.events.names(), "description": e.description,
        "enabled": e.enabled, "disabled_reason": e.disabled_reason,
    })
}

async fn load(
    tx: &mut Tx,
    account: &Authorized,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint, ApiError> {
    tx.webhook_endpoint(account, id)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

#[instrument(skip_all, fields(account = %account))]
pub async fn create(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    new: NewEndpoint,
) -> Result<WithSecret, ApiError> {
    load_account(tx, account).await?;
    let secret = WebhookSecret::generate();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        account_id: account.id().clone(),
        url: new.url,
        events: new.events,
        description: new.description,
        enabled: new.enabled,
        disabled_reason: None,
        secret: secret.clone(),
        previous_secret: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.save_webhook_endpoint(&endpoint).await?;
    let event = ctx.audit_event(
        Some(account),
        "webhook_endpoint.created",
        ("webhook_endpoint", endpoint.id.as_str()),
        None,
        Some(summary(&endpoint)),
    );
    audit::record(tx, event).await?;
    Ok(WithSecret { endpoint, secret })
}

#[instrument(skip_all, fields(account = %account))]
pub async fn list(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<WebhookEndpoint>, ApiError> {
    let mut tx = store.begin_read().await?;
    load_account(&mut tx, account).await?;
    Ok(tx
        .list_webhook_endpoints(account, page.after.as_deref(), page.limit)
        .await?)
}

#[instrument(skip_all, fields(account = %account, endpoint = %id))]
pub async fn get(
    store: &Store,
    account: &Authorized,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpoint, ApiError> {
    let mut tx = store.begin_read().await?;
    load_account(&mut tx, account).await?;
    load(&mut tx, account, id).await
}

#[instrument(skip_all, fields(account = %account, endpoint = %id))]
pub async fn update(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &WebhookEndpointId,
    patch: EndpointPatch,
) -> Result<WebhookEndpoint, ApiError> {
    let mut tx = store.begin_write().await?;
    load_account(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    let enabled = patch.enabled.unwrap_or(before.enabled);
    let after = WebhookEndpoint {
        url: patch.url.unwrap_or_else(|| before.url.clone()),
        events: patch.events.unwrap_or_else(|| before.events.clone()),
        description: patch
            .description
            .unwrap_or_else(|| before.description.clone()),
        enabled,
        // Comptoir's reason goes with any change of `enabled` by a person:
        // enabling again, or disabling for a reason of their own.
        disabled_reason: match patch.enabled {
            Some(_) => None,
            None => before.disabled_reason.clone(),
        },
        updated_at: ctx.now,
        ..before.clone()
    };
    tx.save_webhook_endpoint(&after).await?;
    let event = ctx.audit_event(
        Some(account),
        "webhook_endpoint.updated",
        ("webhook_endpoint", id.as_str()),
        Some(summary(&before)),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

/// A new secret; the one before keeps signing beside it for
/// [`ROTATION_OVERLAP`] (a secret older than that stops at once).
#[instrument(skip_all, fields(account = %account, endpoint = %id))]
pub async fn rotate_secret(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &WebhookEndpointId,
) -> Result<WithSecret, ApiError> {
    let mut tx = store.begin_write().await?;
    load_account(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    let secret = WebhookSecret::generate();
    let until: OffsetDateTime = ctx.now + ROTATION_OVERLAP;
    let after = WebhookEndpoint {
        secret: secret.clone(),
        previous_secret: Some((before.secret.clone(), until)),
        updated_at: ctx.now,
        ..before
    };
    tx.save_webhook_endpoint(&after).await?;
    let event = ctx.audit_event(
        Some(account),
        "webhook_endpoint.secret_rotated",
        ("webhook_endpoint", id.as_str()),
        None,
        Some(json!({ "previous_secret_signs_until": until.format(&Rfc3339).ok() })),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(WithSecret {
        endpoint: after,
        secret,
    })
}

/// Deletes an endpoint, with its pending deliveries and its log.
#[instrument(skip_all, fields(account = %account, endpoint = %id))]
pub async fn delete(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &WebhookEndpointId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    load_account(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    if !tx.delete_webhook_endpoint(id).await? {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    let event = ctx.audit_event(
        Some(account),
        "webhook_endpoint.deleted",
        ("webhook_endpoint", id.as_str()),
        Some(summary(&before)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
