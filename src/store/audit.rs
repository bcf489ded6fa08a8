//! The audit log: append-only.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all};
use crate::domain::audit::AuditEvent;
use crate::domain::ids::{AccountId, AuditEventId};
use crate::domain::role::Role;

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    account_id: Option<String>,
    actor_subject: String,
    actor_role: String,
    action: String,
    target_type: String,
    target_id: String,
    before_state: Option<String>,
    after_state: Option<String>,
    request_id: Option<String>,
    occurred_at: OffsetDateTime,
}

fn parse_json(raw: Option<String>) -> Result<Option<serde_json::Value>, sqlx::Error> {
    raw.map(|s| serde_json::from_str(&s).map_err(|_| corrupt("audit state")))
        .transpose()
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = sqlx::Error;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        Ok(AuditEvent {
            id: AuditEventId::from_trusted(row.id),
            account_id: row.account_id.map(AccountId::from_trusted),
            actor_subject: row.actor_subject,
            actor_role: Role::parse(&row.actor_role).ok_or_else(|| corrupt("actor_role"))?,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            before: parse_json(row.before_state)?,
            after: parse_json(row.after_state)?,
            request_id: row.request_id,
            occurred_at: row.occurred_at,
        })
    }
}

impl Tx {
    pub async fn insert_audit_event(&mut self, e: &AuditEvent) -> Result<(), sqlx::Error> {
        let before = e.before.as_ref().map(|v| v.to_string());
        let after = e.after.as_ref().map(|v| v.to_string());
        execute!(
            self,
            sqlx::query(
                "INSERT INTO audit_events (id, account_id, actor_subject, actor_role, action, \
             target_type, target_id, before_state, after_state, request_id, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(e.id.as_str())
            .bind(e.account_id.as_ref().map(|a| a.as_str()))
            .bind(&e.actor_subject)
            .bind(e.actor_role.as_str())
            .bind(&e.action)
            .bind(&e.target_type)
            .bind(&e.target_id)
            .bind(&before)
            .bind(&after)
            .bind(&e.request_id)
            .bind(e.occurred_at)
        )?;
        Ok(())
    }

    /// Newest first, before the cursor id; one account's events, or all of them.
    pub async fn list_audit_events(
        &mut self,
        account: Option<&AccountId>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEvent>, sqlx::Error> {
        let rows: Vec<AuditRow> =
            fetch_all!(self, sqlx::query_as(
            "SELECT id, account_id, actor_subject, actor_role, action, target_type, target_id, \
             before_state, after_state, request_id, occurred_at FROM audit_events \
             WHERE (CAST($1 AS TEXT) IS NULL OR account_id = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(account.map(|a| a.as_str()))
        .bind(before)
        .bind(i64::from(limit) + 1))?;
        let events = rows
            .into_iter()
            .map(AuditEvent::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(events, limit))
    }
}
