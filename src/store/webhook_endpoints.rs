//! Webhook endpoints: where an account's events are sent, with their
//! signing secrets.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::event::Subscription;
use crate::domain::ids::{AccountId, WebhookEndpointId};
use crate::domain::webhook::{WebhookEndpoint, WebhookSecret};

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: String,
    account_id: String,
    url: String,
    events: String,
    description: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = sqlx::Error;

    fn try_from(r: EndpointRow) -> Result<Self, Self::Error> {
        let names: Vec<String> = serde_json::from_str(&r.events).map_err(|_| corrupt("events"))?;
        let previous_secret = match (r.previous_secret, r.previous_secret_expires_at) {
            (Some(s), Some(until)) => Some((
                WebhookSecret::parse(&s).ok_or_else(|| corrupt("previous_secret"))?,
                until,
            )),
            _ => None,
        };
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            url: url::Url::parse(&r.url).map_err(|_| corrupt("url"))?,
            events: Subscription::parse(&names).map_err(|_| corrupt("events"))?,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            secret: WebhookSecret::parse(&r.secret).ok_or_else(|| corrupt("secret"))?,
            previous_secret,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const COLUMNS: &str = "id, account_id, url, events, description, enabled, \
    disabled_reason, secret, previous_secret, previous_secret_expires_at, created_at, updated_at";

fn events_json(s: &Subscription) -> String {
    serde_json::Value::from(s.names()).to_string()
}

impl Tx {
    /// Inserts or, for an existing id, rewrites an endpoint.
    pub async fn save_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO webhook_endpoints ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, \
             description = excluded.description, enabled = excluded.enabled, \
             disabled_reason = excluded.disabled_reason, secret = excluded.secret, \
             previous_secret = excluded.previous_secret, \
             previous_secret_expires_at = excluded.previous_secret_expires_at, \
             updated_at = excluded.updated_at"
        );
        let (previous, until) = match &e.previous_secret {
            Some((s, until)) => (Some(s.expose()), Some(*until)),
            None => (None, None),
        };
        execute!(
            self,
            sqlx::query(sql)
                .bind(e.id.as_str())
                .bind(e.account_id.as_str())
                .bind(e.url.as_str())
                .bind(events_json(&e.events))
                .bind(&e.description)
                .bind(e.enabled)
                .bind(&e.disabled_reason)
                .bind(e.secret.expose())
                .bind(previous)
                .bind(until)
                .bind(e.created_at)
                .bind(e.updated_at)
        )?;
        Ok(())
    }

    pub async fn webhook_endpoint(
        &mut self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2");
        let row: Option<EndpointRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(WebhookEndpoint::try_from).transpose()
    }

    /// A page of an account's endpoints, oldest first.
    pub async fn list_webhook_endpoints(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<WebhookEndpoint>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<EndpointRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(WebhookEndpoint::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// The endpoints of these ids, whatever their account (the delivery
    /// worker's batch).
    pub async fn webhook_endpoints_by_ids(
        &mut self,
        ids: &[&str],
    ) -> Result<Vec<WebhookEndpoint>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = sql!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE id IN ({})",
            placeholders(ids.len())
        );
        let rows: Vec<EndpointRow> = super::on_tx!(self, c => {
            let mut q = sqlx::query_as(sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **c).await
        })?;
        rows.into_iter().map(WebhookEndpoint::try_from).collect()
    }

    /// Disables an enabled endpoint for `reason`: `false` when it was not
    /// enabled (disabled meanwhile, or gone).
    pub async fn disable_webhook_endpoint(
        &mut self,
        id: &WebhookEndpointId,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let n = execute!(
            self,
            sqlx::query(
                "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, \
                 updated_at = $3 WHERE id = $1 AND enabled"
            )
            .bind(id.as_str())
            .bind(reason)
            .bind(now)
        )?;
        Ok(n == 1)
    }

    /// Deletes an endpoint with its deliveries and their log.
    pub async fn delete_webhook_endpoint(
        &mut self,
        id: &WebhookEndpointId,
    ) -> Result<bool, sqlx::Error> {
        for table in ["webhook_attempts", "webhook_deliveries"] {
            let sql = sql!("DELETE FROM {table} WHERE endpoint_id = $1");
            execute!(self, sqlx::query(sql).bind(id.as_str()))?;
        }
        let deleted = execute!(
            self,
            sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id.as_str())
        )?;
        Ok(deleted == 1)
    }
}

/// `$1, $2, ..., $n`: the placeholders of an `IN` list of `n` bound values.
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
