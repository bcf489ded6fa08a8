//! `Idempotency-Key` (SPEC.md section 7), in one place for every create route.
//!
//! The key is claimed in the same write transaction as the change it guards,
//! and the response is stored there before commit. So:
//! - the same key and body replays the stored response;
//! - the same key with another body (or another route) is refused (422);
//! - two concurrent requests with one key run once: the second waits on the
//!   claim until the first commits, then replays (SQLite: `BEGIN IMMEDIATE`
//!   serialises them; PostgreSQL: the unique key's insert waits);
//! - a request that fails rolls back its claim: the key can be retried.
//!
//! Keys are scoped to the caller (role, account, subject) and kept 24 hours
//! of the server's time (its clock, which `COMPTOIR_NOW` may fix), not of a
//! test account's clock: retries are a matter of the network's time, and
//! the hourly purge reads the same clock.

use serde::Serialize;
use time::Duration;

use super::Ctx;
use crate::error::ApiError;
use crate::store::{Store, Tx};

pub const KEY_TTL: Duration = Duration::hours(24);

/// A response as it was first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// True when this is a replay of an earlier request.
    pub replayed: bool,
}

/// A write transaction, holding the claim of its idempotency key if any.
pub struct Op {
    tx: Tx,
    claim: Option<(String, String)>,
}

pub enum Begun {
    /// The key was used before with this request: here is its response.
    Replay(StoredResponse),
    /// Go ahead: do the work in `op.tx()`, then `op.finish(...)`.
    Fresh(Op),
}

/// Starts a create: replays it if `key` was already used for the same request
/// (`fingerprint`), or refuses it if that key was used for another one.
/// `now` is the server's time (see the module's documentation).
pub async fn begin(
    store: &Store,
    ctx: &Ctx,
    now: time::OffsetDateTime,
    key: Option<&str>,
    fingerprint: &str,
) -> Result<Begun, ApiError> {
    let mut tx = store.begin_write().await?;
    let Some(key) = key else {
        return Ok(Begun::Fresh(Op { tx, claim: None }));
    };
    let scope = ctx.caller.scope();
    if !tx
        .claim_idempotency_key(&scope, key, fingerprint, now)
        .await?
    {
        let record = tx
            .idempotency_record(&scope, key)
            .await?
            .ok_or_else(|| ApiError::internal("idempotency key vanished"))?;
        if record.created_at + KEY_TTL <= now {
            tx.reclaim_idempotency_key(&scope, key, fingerprint, now)
                .await?;
        } else if record.fingerprint != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        } else {
            return Ok(Begun::Replay(StoredResponse {
                status: u16::try_from(record.status)
                    .map_err(|_| ApiError::internal("stored status out of range"))?,
                body: record.body,
                replayed: true,
            }));
        }
    }
    Ok(Begun::Fresh(Op {
        tx,
        claim: Some((scope, key.to_owned())),
    }))
}

impl Op {
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Stores the response under the key and commits everything at once.
    pub async fn finish<T: Serialize>(
        mut self,
        status: u16,
        body: &T,
    ) -> Result<StoredResponse, ApiError> {
        let body = serde_json::to_string(body).map_err(ApiError::internal)?;
        if let Some((scope, key)) = &self.claim {
            self.tx
                .complete_idempotency_key(scope, key, status, &body)
                .await?;
        }
        self.tx.commit().await?;
        Ok(StoredResponse {
            status,
            body,
            replayed: false,
        })
    }
}
