//! An audit event: who changed what, when, with a before/after summary.

use serde_json::Value;
use time::OffsetDateTime;

use super::ids::{AccountId, AuditEventId};
use super::role::Role;

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    /// The account concerned; `None` for catalog-wide changes.
    pub account_id: Option<AccountId>,
    pub actor_subject: String,
    pub actor_role: Role,
    /// `account.created`, `plan.price_changed`, ...
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub occurred_at: OffsetDateTime,
}
