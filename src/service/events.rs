//! Events for integrators: every change worth reacting to calls [`emit`] in
//! the transaction that makes the change, so the event commits, or rolls
//! back, with it. The same call queues one webhook delivery per enabled
//! endpoint of the account that subscribes to the type (the outbox the
//! webhook worker drains).
//!
//! An event's `data.object` is the resource as the API returns it at that
//! moment. The API's representations live in `api/`, which this layer may
//! not use; so, like a logger, the API installs its presenter once at start
//! ([`install`], called by `Application::build` and the `comptoir`
//! commands), and [`emit`] refuses to write an event without one.

use std::sync::OnceLock;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::{Authorized, PageRequest};
use crate::domain::address::BillingAddress;
use crate::domain::credit_note::CreditNote;
use crate::domain::e_invoicing::{DocumentStanding, Summary};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, EventId};
use crate::domain::issued::Invoice;
use crate::domain::license::{License, PhoneNumberLine};
use crate::domain::money::Currency;
use crate::domain::payment::{CreditState, PaymentMethod, TopUp};
use crate::domain::webhook::WebhookEndpoint;
use crate::error::ApiError;
use crate::store::events::EventRow;
use crate::store::{Page, Store, Tx};

/// The resource an event carries, as the domain knows it.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    /// An invoice, with where it stands with the e-invoicing platform (its
    /// `e_invoicing`; none for a draft).
    Invoice(&'a Invoice, Option<&'a Summary>),
    CreditNote(&'a CreditNote),
    License(&'a License),
    PhoneNumber(&'a PhoneNumberLine, Currency),
    TopUp(&'a TopUp, Currency),
    Credits(CreditState, Currency),
    PaymentMethod(&'a PaymentMethod),
    BillingAddress(&'a BillingAddress),
    WebhookEndpoint(&'a WebhookEndpoint),
    /// An e-invoice's standing with the platform.
    EInvoiceStatus(&'a DocumentStanding),
}

/// Turns an object into its JSON as the API returns it.
pub type Present = fn(&Object<'_>) -> serde_json::Value;

static PRESENT: OnceLock<Present> = OnceLock::new();

/// Installs the API's presenter (the first call wins; every caller passes
/// the same function).
pub fn install(present: Present) {
    let _ = PRESENT.set(present);
}

/// The JSON body of an event, as stored and delivered.
fn body(
    id: &EventId,
    event_type: EventType,
    now: OffsetDateTime,
    account: &AccountId,
    object: &Object<'_>,
) -> Result<String, ApiError> {
    let present = PRESENT
        .get()
        .ok_or_else(|| ApiError::internal("events: the API's presenter is not installed"))?;
    let created_at = now.format(&Rfc3339).map_err(ApiError::internal)?;
    let body = json!({
        "id": id.as_str(),
        "type": event_type.as_str(),
        "created_at": created_at,
        "account_id": account.as_str(),
        "test": account.is_test(),
        "data": { "object": present(object) },
    });
    serde_json::to_string(&body).map_err(ApiError::internal)
}

/// Writes an event in `tx` and queues its deliveries. Returns its id.
pub async fn emit(
    tx: &mut Tx,
    now: OffsetDateTime,
    account: &AccountId,
    event_type: EventType,
    object: Object<'_>,
) -> Result<EventId, ApiError> {
    let id = EventId::generate();
    write(tx, &id, now, account, event_type, &object, None).await?;
    Ok(id)
}

/// Writes an event that happens once for `once_key` (a card's
/// `payment_method.expiring`): `None` when it was written before.
pub async fn emit_once(
    tx: &mut Tx,
    now: OffsetDateTime,
    account: &AccountId,
    event_type: EventType,
    object: Object<'_>,
    once_key: &str,
) -> Result<Option<EventId>, ApiError> {
    let id = EventId::generate();
    let written = write(tx, &id, now, account, event_type, &object, Some(once_key)).await?;
    Ok(written.then_some(id))
}

async fn write(
    tx: &mut Tx,
    id: &EventId,
    now: OffsetDateTime,
    account: &AccountId,
    event_type: EventType,
    object: &Object<'_>,
    once_key: Option<&str>,
) -> Result<bool, ApiError> {
    let row = EventRow {
        id: id.to_string(),
        account_id: account.to_string(),
        event_type: event_type.as_str().to_owned(),
        created_at: now,
        body: body(id, event_type, now, account, object)?,
        once_key: once_key.map(str::to_owned),
    };
    if !tx.insert_event(&row).await? {
        return Ok(false);
    }
    // A test account's event is dated by its clock, but its deliveries
    // are queued now: their retry window runs on the real time.
    let queued_at = if account.is_test() {
        crate::clock::wall_now()
    } else {
        now
    };
    tx.fan_out_event(id, account, event_type.as_str(), queued_at)
        .await?;
    Ok(true)
}

/// A page of the account's events, newest first (admins and staff).
#[instrument(skip_all, fields(account = %account))]
pub async fn list(
    store: &Store,
    account: &Authorized,
    event_type: Option<EventType>,
    page: &PageRequest,
) -> Result<Page<EventRow>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    Ok(tx
        .list_events(
            account,
            event_type.map(EventType::as_str),
            page.after.as_deref(),
            page.limit,
        )
        .await?)
}

#[instrument(skip_all, fields(account = %account, event = %id))]
pub async fn get(store: &Store, account: &Authorized, id: &EventId) -> Result<EventRow, ApiError> {
    let mut tx = store.begin_read().await?;
    super::load_account(&mut tx, account).await?;
    tx.event(account, id)
        .await?
        .ok_or(ApiError::NotFound("event"))
}
