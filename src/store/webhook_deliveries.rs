//! Webhook deliveries: the outbox of one event to one endpoint, claimed by
//! the delivery worker with the lease every outbox shares, and the log of
//! every attempt.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::outbox::{Attempt, Outbox};
use super::webhook_endpoints::placeholders;
use super::{Backend, Page, Tx, execute, fetch_all, fetch_optional, on_tx, sql};
use crate::domain::ids::{AccountId, WebhookEndpointId};

/// A delivery as the worker claims it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    /// Counting the attempt being made now.
    pub attempts: i32,
    pub created_at: OffsetDateTime,
}

/// Only the deliveries of enabled endpoints are due: those of a disabled
/// one wait, neither sent nor failed, until it is enabled again.
const WEBHOOK_DELIVERIES: Outbox = Outbox {
    table: "webhook_deliveries",
    columns: "id, account_id, endpoint_id, event_id, attempts, created_at",
    ready: " AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = endpoint_id AND e.enabled)",
};

/// One attempt at a delivery, as its endpoint's log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub attempt: i32,
    pub attempted_at: OffsetDateTime,
    /// The HTTP status answered; none when no answer came.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The first 1 KiB of the answer's body.
    pub response: Option<String>,
}

/// An attempt of the log with its event's type.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LoggedAttempt {
    #[sqlx(flatten)]
    pub attempt: AttemptRow,
    pub event_type: String,
}

const ATTEMPT_COLUMNS: &str = "id, account_id, endpoint_id, delivery_id, event_id, attempt, \
    attempted_at, status_code, latency_ms, error, response";
/// The columns of [`ATTEMPT_COLUMNS`], bound per row.
const ATTEMPT_FIELDS: usize = 11;
/// Attempts recorded per statement (11 values each: far under either
/// database's limit of bound values).
const RECORD_CHUNK: usize = 500;

impl Tx {
    /// Whether a delivery is due at `now` (read before claiming, so that an
    /// idle worker never takes the write lock).
    pub async fn webhook_delivery_due(&mut self, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        let Outbox { table, ready, .. } = WEBHOOK_DELIVERIES;
        let sql = sql!(
            "SELECT 1 FROM {table} WHERE status = 'pending' \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $1){ready} LIMIT 1"
        );
        let row: Option<(i32,)> = fetch_optional!(self, sqlx::query_as(sql).bind(now))?;
        Ok(row.is_some())
    }

    /// Claims up to `limit` deliveries due at `now`, oldest first (see
    /// [`Tx::claim_due`]).
    pub async fn claim_webhook_deliveries(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        let mut rows: Vec<DeliveryRow> = self
            .claim_due(&WEBHOOK_DELIVERIES, now, lease_until, limit)
            .await?;
        // In the order queued (`RETURNING` keeps none).
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    }

    /// The bodies of these events, by id.
    pub async fn event_bodies(
        &mut self,
        ids: &[&str],
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = sql!(
            "SELECT id, body FROM events WHERE id IN ({})",
            placeholders(ids.len())
        );
        on_tx!(self, c => {
            let mut q = sqlx::query_as(sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **c).await
        })
    }

    /// Records a pass's attempts at claimed deliveries: how each ended, and
    /// its line in the log, in a few statements (the sent ones together).
    /// Nothing is written for a delivery deleted meanwhile (with its
    /// endpoint): on PostgreSQL the deliveries are locked first, so a
    /// deletion waits for this transaction or comes before it.
    pub async fn record_webhook_attempts(
        &mut self,
        attempts: &[(AttemptRow, Attempt)],
        sent_at: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        for chunk in attempts.chunks(RECORD_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|(l, _)| l.delivery_id.as_str()).collect();
            let lock = match self.backend() {
                Backend::Postgres => " FOR UPDATE",
                Backend::Sqlite => "",
            };
            let sql = sql!(
                "SELECT id FROM webhook_deliveries WHERE id IN ({}){lock}",
                placeholders(ids.len())
            );
            let existing: Vec<(String,)> = on_tx!(self, c => {
                let mut q = sqlx::query_as(sql);
                for id in &ids {
                    q = q.bind(*id);
                }
                q.fetch_all(&mut **c).await
            })?;
            let existing: BTreeSet<String> = existing.into_iter().map(|(id,)| id).collect();
            let kept: Vec<&(AttemptRow, Attempt)> = chunk
                .iter()
                .filter(|(l, _)| existing.contains(&l.delivery_id))
                .collect();
            let sent: Vec<&str> = kept
                .iter()
                .filter(|(_, a)| matches!(a, Attempt::Sent { .. }))
                .map(|(l, _)| l.delivery_id.as_str())
                .collect();
            if !sent.is_empty() {
                let sql = sql!(
                    "UPDATE webhook_deliveries SET status = 'sent', next_attempt_at = NULL, \
                     last_error = NULL, sent_at = $1 WHERE id IN ({})",
                    (2..sent.len() + 2)
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                on_tx!(self, c => {
                    let mut q = sqlx::query(sql).bind(sent_at);
                    for id in &sent {
                        q = q.bind(*id);
                    }
                    q.execute(&mut **c).await.map(|r| r.rows_affected())
                })?;
            }
            for (logged, attempt) in &kept {
                if !matches!(attempt, Attempt::Sent { .. }) {
                    self.record_attempt(&WEBHOOK_DELIVERIES, &logged.delivery_id, attempt)
                        .await?;
                }
            }
            if kept.is_empty() {
                continue;
            }
            let rows = (0..kept.len())
                .map(|r| {
                    let first = r * ATTEMPT_FIELDS + 1;
                    let params: Vec<String> = (first..first + ATTEMPT_FIELDS)
                        .map(|i| format!("${i}"))
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = sql!("INSERT INTO webhook_attempts ({ATTEMPT_COLUMNS}) VALUES {rows}");
            on_tx!(self, c => {
                let mut q = sqlx::query(sql);
                for (l, _) in &kept {
                    q = q
                        .bind(&l.id)
                        .bind(&l.account_id)
                        .bind(&l.endpoint_id)
                        .bind(&l.delivery_id)
                        .bind(&l.event_id)
                        .bind(l.attempt)
                        .bind(l.attempted_at)
                        .bind(l.status_code)
                        .bind(l.latency_ms)
                        .bind(&l.error)
                        .bind(&l.response);
                }
                q.execute(&mut **c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Gives back a claimed delivery that was not attempted: due at `next`,
    /// its attempt not counted.
    pub async fn release_webhook_delivery(
        &mut self,
        id: &str,
        next: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = $2 \
                 WHERE id = $1 AND status = 'pending'"
            )
            .bind(id)
            .bind(next)
        )?;
        Ok(())
    }

    /// A page of an endpoint's attempts, newest first.
    pub async fn list_webhook_attempts(
        &mut self,
        account: &AccountId,
        endpoint: &WebhookEndpointId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<LoggedAttempt>, sqlx::Error> {
        let columns = ATTEMPT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = sql!(
            "SELECT {columns}, e.type AS event_type FROM webhook_attempts a \
             JOIN events e ON e.id = a.event_id \
             WHERE a.account_id = $1 AND a.endpoint_id = $2 \
             AND (CAST($3 AS TEXT) IS NULL OR a.id < $3) ORDER BY a.id DESC LIMIT $4"
        );
        let rows = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(endpoint.as_str())
                .bind(before)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }
}
