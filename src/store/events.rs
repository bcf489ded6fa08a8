//! Events, and the fan-out that queues their webhook deliveries.

use time::OffsetDateTime;

use super::{LIVE_ACCOUNT, Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::ids::{AccountId, EventId, WebhookDeliveryId, WebhookEndpointId};

/// An event as stored: `body` is the JSON delivered.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub account_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub created_at: OffsetDateTime,
    pub body: String,
    pub once_key: Option<String>,
}

const COLUMNS: &str = "id, account_id, type, created_at, body, once_key";

/// An enabled endpoint of an account, as the fan-out reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Subscriber {
    pub id: String,
    /// The JSON array of the types it receives (`["*"]` for all).
    pub events: String,
}

impl Tx {
    /// Inserts an event. With a `once_key` already used, nothing is
    /// inserted and `false` is returned.
    pub async fn insert_event(&mut self, e: &EventRow) -> Result<bool, sqlx::Error> {
        let sql = sql!(
            "INSERT INTO events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT DO NOTHING"
        );
        let n = execute!(
            self,
            sqlx::query(sql)
                .bind(&e.id)
                .bind(&e.account_id)
                .bind(&e.event_type)
                .bind(e.created_at)
                .bind(&e.body)
                .bind(&e.once_key)
        )?;
        Ok(n == 1)
    }

    pub async fn event(
        &mut self,
        account: &AccountId,
        id: &EventId,
    ) -> Result<Option<EventRow>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM events WHERE account_id = $1 AND id = $2");
        fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )
    }

    /// A page of an account's events, newest first, of one type or all.
    pub async fn list_events(
        &mut self,
        account: &AccountId,
        event_type: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<EventRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM events WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR type = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(event_type)
                .bind(before)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }

    /// The account's enabled webhook endpoints.
    pub async fn webhook_subscribers(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<Subscriber>, sqlx::Error> {
        fetch_all!(
            self,
            sqlx::query_as(
                "SELECT id, events FROM webhook_endpoints WHERE account_id = $1 AND enabled \
                 ORDER BY id"
            )
            .bind(account.as_str())
        )
    }

    /// Queues the delivery of event `event` (of `event_type`) to each
    /// enabled endpoint of the account subscribed to its type, in one
    /// statement (the change that writes an event pays no extra round trip
    /// for its endpoints). A delivery's id is `whd_`, the event's UUID and
    /// the endpoint's: ordered like the events. Returns how many.
    pub async fn fan_out_event(
        &mut self,
        event: &EventId,
        account: &AccountId,
        event_type: &str,
        now: OffsetDateTime,
    ) -> Result<u64, sqlx::Error> {
        let prefix = format!(
            "{}_{}",
            WebhookDeliveryId::PREFIX,
            event
                .as_str()
                .trim_start_matches(EventId::PREFIX)
                .trim_start_matches('_')
        );
        // The endpoint's `events` is the JSON array of its types' names
        // (`["*"]` for all); `_` is a LIKE wildcard, hence the escape.
        let pattern = format!("%\"{}\"%", event_type.replace('_', "\\_"));
        let sql = sql!(
            "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_id, status, \
             attempts, next_attempt_at, last_error, sent_at, created_at) \
             SELECT $1 || substr(id, {start}), account_id, id, $2, 'pending', 0, NULL, NULL, NULL, $3 \
             FROM webhook_endpoints WHERE account_id = $4 AND enabled \
             AND (events = '[\"*\"]' OR events LIKE $5 ESCAPE '\\')",
            start = WebhookEndpointId::PREFIX.len() + 2
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(prefix)
                .bind(event.as_str())
                .bind(now)
                .bind(account.as_str())
                .bind(pattern)
        )
    }

    /// Queues the delivery of an event to an endpoint.
    pub async fn queue_webhook_delivery(
        &mut self,
        id: &str,
        account: &str,
        endpoint: &str,
        event: &str,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_id, status, \
                 attempts, next_attempt_at, last_error, sent_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, NULL, NULL, NULL, $5)"
            )
            .bind(id)
            .bind(account)
            .bind(endpoint)
            .bind(event)
            .bind(now)
        )?;
        Ok(())
    }

    /// Deletes the live accounts' events written before `before`, with
    /// their deliveries and the log of those. Returns how many events. (A
    /// test account's events are dated by its clock: they go with it.)
    pub async fn purge_events(&mut self, before: OffsetDateTime) -> Result<u64, sqlx::Error> {
        let old = format!("SELECT id FROM events WHERE created_at < $1 AND {LIVE_ACCOUNT}");
        let sql = sql!("DELETE FROM webhook_attempts WHERE event_id IN ({old})");
        execute!(self, sqlx::query(sql).bind(before))?;
        let sql = sql!("DELETE FROM webhook_deliveries WHERE event_id IN ({old})");
        execute!(self, sqlx::query(sql).bind(before))?;
        let sql = sql!("DELETE FROM events WHERE id IN ({old})");
        execute!(self, sqlx::query(sql).bind(before))
    }
}
