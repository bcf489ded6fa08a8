//! Idempotency keys and the response each one produced.

use time::OffsetDateTime;

use super::{Tx, execute, fetch_optional};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: i32,
    pub body: String,
    pub created_at: OffsetDateTime,
}

impl Tx {
    /// Claims `(scope, key)`; false when it is already taken. On PostgreSQL a
    /// concurrent claim of the same key waits here until the first transaction
    /// ends, so one key runs once.
    pub async fn claim_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let done = execute!(self, sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, status, body, created_at) \
             VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (scope, idem_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(fingerprint)
        .bind(now))?;
        Ok(done == 1)
    }

    pub async fn idempotency_record(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, sqlx::Error> {
        fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT fingerprint, status, body, created_at FROM idempotency_keys \
             WHERE scope = $1 AND idem_key = $2",
            )
            .bind(scope)
            .bind(key)
        )
    }

    /// Takes over an expired key for a new request.
    pub async fn reclaim_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "UPDATE idempotency_keys SET fingerprint = $3, status = 0, body = '', created_at = $4 \
             WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(fingerprint)
        .bind(now))?;
        Ok(())
    }

    pub async fn complete_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "UPDATE idempotency_keys SET status = $3, body = $4 WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(i32::from(status))
        .bind(body))?;
        Ok(())
    }

    /// Deletes the records created before `before` (expired keys); returns
    /// how many. Safe to run from several instances at once.
    pub async fn purge_idempotency_keys(
        &mut self,
        before: OffsetDateTime,
    ) -> Result<u64, sqlx::Error> {
        execute!(
            self,
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before)
        )
    }
}
