//! Payment methods: a card (the customer sets or replaces it) or a SEPA
//! debit (staff only); one is the default used for debits.

use serde_json::json;
use time::{Date, OffsetDateTime};
use tracing::instrument;

use super::events::{self, Object};
use super::{Authorized, Ctx, PageRequest, audit};
use crate::crypto::DataKey;
use crate::domain::card::{CardNumber, Expiry};
use crate::domain::event::EventType;
use crate::domain::iban::Iban;
use crate::domain::ids::{AccountId, PaymentMethodId};
use crate::domain::payment::{PaymentMethod, PaymentMethodKind};
use crate::error::{ApiError, Code};
use crate::store::{Page, Store, Tx};

/// A checked card; the CVC was checked for shape and is already gone.
pub struct NewCard {
    pub number: CardNumber,
    pub expiry: Expiry,
    pub holder_name: String,
}

pub struct NewSepa {
    pub iban: Iban,
    pub bic: Option<String>,
    pub account_holder: String,
    pub mandate_reference: String,
    pub mandate_signed_on: Date,
}

/// What the audit log keeps of a method: what the API shows, nothing more.
fn summary(m: &PaymentMethod) -> serde_json::Value {
    json!({"type": m.kind.as_str(), "masked": m.masked(), "brand": m.brand.map(|b| b.as_str()),
        "default": m.default, "holder_name": m.holder_name})
}

pub fn require_key(key: Option<&DataKey>) -> Result<&DataKey, ApiError> {
    key.ok_or(ApiError::NotConfigured("COMPTOIR_DATA_KEY is not set"))
}

async fn load(
    tx: &mut Tx,
    account: &AccountId,
    id: &PaymentMethodId,
) -> Result<PaymentMethod, ApiError> {
    tx.payment_method(account, id)
        .await?
        .ok_or(ApiError::NotFound("payment method"))
}

/// Every live method of the account (a handful at most).
async fn all(tx: &mut Tx, account: &AccountId) -> Result<Vec<PaymentMethod>, ApiError> {
    Ok(tx.payment_methods(account, None, 1000).await?.items)
}

async fn save_as_default(tx: &mut Tx, method: &mut PaymentMethod) -> Result<(), ApiError> {
    tx.clear_default_payment_method(&method.account_id).await?;
    method.default = true;
    tx.save_payment_method(method).await?;
    Ok(())
}

/// Sets the account's card: a new card becomes the default; the same card
/// again (same fingerprint) is updated in place. Returns it and whether it is new.
#[instrument(skip_all, fields(account = %account))]
pub async fn add_card(
    tx: &mut Tx,
    ctx: &Ctx,
    key: &DataKey,
    account: &Authorized,
    card: NewCard,
) -> Result<(PaymentMethod, bool), ApiError> {
    super::accounts::load(tx, account).await?;
    let fingerprint = key.fingerprint(card.number.expose_digits());
    let existing = tx.card_by_fingerprint(account, &fingerprint).await?;
    let created = existing.is_none();
    let before = existing.as_ref().map(summary);
    let mut method = existing.unwrap_or_else(|| PaymentMethod {
        id: PaymentMethodId::generate(),
        account_id: account.id().clone(),
        kind: PaymentMethodKind::Card,
        default: true,
        brand: Some(card.number.brand()),
        last4: card.number.last4().to_owned(),
        expiry: None,
        holder_name: String::new(),
        fingerprint: Some(fingerprint),
        iban_ciphertext: None,
        iban_prefix: None,
        bic: None,
        mandate_reference: None,
        mandate_signed_on: None,
        created_at: ctx.now,
    });
    method.expiry = Some(card.expiry);
    method.holder_name = card.holder_name;
    save_as_default(tx, &mut method).await?;
    let action = if created {
        "payment_method.card_added"
    } else {
        "payment_method.card_updated"
    };
    let event = ctx.audit_event(
        Some(account),
        action,
        ("payment_method", method.id.as_str()),
        before,
        Some(summary(&method)),
    );
    audit::record(tx, event).await?;
    if created {
        emit_added(tx, ctx.now, &method).await?;
    }
    Ok((method, created))
}

/// Writes `payment_method.added` with the method as the API shows it (read
/// back in `tx`).
async fn emit_added(
    tx: &mut Tx,
    now: OffsetDateTime,
    method: &PaymentMethod,
) -> Result<(), ApiError> {
    let shown = load(tx, &method.account_id, &method.id).await?;
    events::emit(
        tx,
        now,
        &method.account_id,
        EventType::PaymentMethodAdded,
        Object::PaymentMethod(&shown),
    )
    .await?;
    Ok(())
}

/// Staff set up a SEPA debit; it becomes the default when there is none.
#[instrument(skip_all, fields(account = %account))]
pub async fn add_sepa(
    tx: &mut Tx,
    ctx: &Ctx,
    key: &DataKey,
    account: &Authorized,
    sepa: NewSepa,
) -> Result<PaymentMethod, ApiError> {
    super::accounts::load(tx, account).await?;
    let has_default = all(tx, account).await?.iter().any(|m| m.default);
    let method = PaymentMethod {
        id: PaymentMethodId::generate(),
        account_id: account.id().clone(),
        kind: PaymentMethodKind::SepaDebit,
        default: !has_default,
        brand: None,
        last4: sepa.iban.last4().to_owned(),
        expiry: None,
        holder_name: sepa.account_holder,
        fingerprint: None,
        iban_ciphertext: Some(key.encrypt(sepa.iban.expose())),
        iban_prefix: Some(sepa.iban.expose()[..4].to_owned()),
        bic: sepa.bic,
        mandate_reference: Some(sepa.mandate_reference),
        mandate_signed_on: Some(sepa.mandate_signed_on),
        created_at: ctx.now,
    };
    tx.save_payment_method(&method).await?;
    let event = ctx.audit_event(
        Some(account),
        "payment_method.sepa_added",
        ("payment_method", method.id.as_str()),
        None,
        Some(summary(&method)),
    );
    audit::record(tx, event).await?;
    emit_added(tx, ctx.now, &method).await?;
    Ok(method)
}

pub async fn list(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<PaymentMethod>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .payment_methods(account, page.after.as_deref(), page.limit)
        .await?)
}

#[instrument(skip_all, fields(account = %account, method = %id))]
pub async fn make_default(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &PaymentMethodId,
) -> Result<PaymentMethod, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let mut method = load(&mut tx, account, id).await?;
    if method.default {
        return Ok(method);
    }
    if !method.is_usable(ctx.now.date()) {
        return Err(ApiError::rule(
            Code::PaymentMethodExpired,
            "an expired card cannot become the default payment method",
        ));
    }
    let before = summary(&method);
    save_as_default(&mut tx, &mut method).await?;
    let event = ctx.audit_event(
        Some(account),
        "payment_method.made_default",
        ("payment_method", id.as_str()),
        Some(before),
        Some(summary(&method)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(method)
}

/// Removes a method; the default one only when it is the last one.
#[instrument(skip_all, fields(account = %account, method = %id))]
pub async fn delete(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &PaymentMethodId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let method = load(&mut tx, account, id).await?;
    if method.default && all(&mut tx, account).await?.len() > 1 {
        return Err(ApiError::rule(
            Code::DefaultPaymentMethod,
            "make another payment method the default before removing this one",
        ));
    }
    tx.delete_payment_method(id, ctx.now).await?;
    let event = ctx.audit_event(
        Some(account),
        "payment_method.removed",
        ("payment_method", id.as_str()),
        Some(summary(&method)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Does the account have a payment method that can be debited today (not
/// none, not only an expired card)? Accounts without one cannot buy.
pub async fn has_usable_payment_method(
    tx: &mut Tx,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    Ok(all(tx, account)
        .await?
        .iter()
        .any(|m| m.is_usable(now.date())))
}

/// The default method, if it can be debited today.
pub async fn usable_default(
    tx: &mut Tx,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<Option<PaymentMethod>, ApiError> {
    Ok(all(tx, account)
        .await?
        .into_iter()
        .find(|m| m.default && m.is_usable(now.date())))
}

/// A card is announced `payment_method.expiring` when it stops working
/// within this long: its last day is before `today + EXPIRING_WITHIN`.
pub const EXPIRING_WITHIN: time::Duration = time::Duration::days(30);

/// The once-key of a card's `payment_method.expiring`: one per card and
/// expiry (a card renewed in place with a later expiry is announced again).
fn expiring_key(card: &PaymentMethod, expiry: Expiry) -> String {
    format!(
        "payment_method.expiring:{}:{:04}-{:02}",
        card.id, expiry.year, expiry.month
    )
}

/// Writes `payment_method.expiring` once for every live card that stops
/// working within 30 days of `now`'s day (UTC, as `is_usable` reads it) and
/// still works today. Run hourly by the purge (`serve`, `comptoir purge`);
/// safe to run twice or on several instances at once (`events::emit_once`).
/// Of the accounts living on `clock` (`None`: the live ones; a test
/// clock runs it for its own as it advances). Returns how many events it wrote.
#[instrument(skip_all)]
pub async fn announce_expiring_cards(
    store: &Store,
    now: OffsetDateTime,
    clock: Option<&crate::domain::ids::TestClockId>,
) -> Result<u64, ApiError> {
    const BATCH: u32 = 200;
    let today = now.date();
    let until = today
        .checked_add(EXPIRING_WITHIN)
        .ok_or_else(|| ApiError::internal("date out of range"))?;
    let month = |d: Date| d.year() * 12 + i32::from(u8::from(d.month())) - 1;
    let mut written = 0;
    let mut after: Option<String> = None;
    loop {
        let mut tx = store.begin_write().await?;
        let page = tx
            .cards_expiring_between(month(today), month(until), after.as_deref(), BATCH, clock)
            .await?;
        for card in &page.items {
            let Some(expiry) = card.expiry else { continue };
            let Some(last_day) = expiry.last_day() else {
                continue;
            };
            if last_day < today || last_day >= until {
                continue;
            }
            let once = events::emit_once(
                &mut tx,
                now,
                &card.account_id,
                EventType::PaymentMethodExpiring,
                Object::PaymentMethod(card),
                &expiring_key(card, expiry),
            )
            .await?;
            written += u64::from(once.is_some());
        }
        tx.commit().await?;
        if !page.has_more {
            return Ok(written);
        }
        after = page.items.last().map(|c| c.id.to_string());
    }
}
