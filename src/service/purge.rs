//! Forgetting what is kept only for a while: idempotency records past their
//! 24 hours ([`super::idempotency::KEY_TTL`]) and payment webhook event ids
//! past their replay window ([`WEBHOOK_EVENT_TTL`]), events past their 30
//! days ([`EVENT_TTL`]). Run by a background task
//! of `comptoir serve` and by `comptoir purge`; a plain `DELETE` of old rows,
//! so several instances may run it at once. The same hourly pass announces
//! the cards about to expire (`payment_method.expiring`, once per card).

use time::{Duration, OffsetDateTime};
use tracing::instrument;

use super::idempotency::KEY_TTL;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::Store;

/// How long a processed webhook event id is remembered. One delivery's
/// signature is only accepted within 5 minutes of its timestamp, but a
/// provider redelivers an event it believes failed (our answer lost), newly
/// signed, for up to three days: a week covers both.
pub const WEBHOOK_EVENT_TTL: Duration = Duration::days(7);

/// How long an account's events are kept (`GET .../events`), with their
/// webhook deliveries and delivery log. Deliveries are retried for 3 days,
/// so none is pending when its event goes (but those of an endpoint left
/// disabled, which are dropped with it).
pub const EVENT_TTL: Duration = Duration::days(30);

/// How often `serve` purges.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub webhook_events: u64,
    /// Events older than [`EVENT_TTL`].
    pub events: u64,
    /// `payment_method.expiring` events written by the same pass.
    pub expiring_cards: u64,
}

/// Deletes the idempotency records older than 24 hours, the webhook event
/// ids older than their replay window and the events older than 30 days,
/// as of `now`; then announces
/// the cards expiring within 30 days, once each
/// ([`super::payments::announce_expiring_cards`]): the same hourly pass.
#[instrument(skip_all)]
pub async fn purge(store: &Store, now: OffsetDateTime) -> Result<Purged, ApiError> {
    let mut tx = store.begin_write().await?;
    let mut purged = Purged {
        idempotency_keys: tx.purge_idempotency_keys(now - KEY_TTL).await?,
        webhook_events: tx.purge_webhook_events(now - WEBHOOK_EVENT_TTL).await?,
        events: tx.purge_events(now - EVENT_TTL).await?,
        expiring_cards: 0,
    };
    tx.commit().await?;
    purged.expiring_cards = super::payments::announce_expiring_cards(store, now, None).await?;
    Ok(purged)
}

/// `serve`'s background task: a purge now, then every [`EVERY`].
pub async fn worker(store: Store, clock: Clock) {
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        ticks.tick().await;
        match purge(&store, clock.now()).await {
            Ok(purged) => tracing::info!(
                idempotency_keys = purged.idempotency_keys,
                webhook_events = purged.webhook_events,
                events = purged.events,
                expiring_cards = purged.expiring_cards,
                "purged expired records"
            ),
            Err(e) => tracing::error!(error = %e, "purge failed"),
        }
    }
}
