//! Use cases, one file per resource. Transactions begin here. Authorization
//! (the tenant rule, then the role) is checked once, by [`Ctx::authorize`],
//! before any data is read: account services take its [`Authorized`] value.

use time::OffsetDateTime;

use crate::domain::audit::AuditEvent;
use crate::domain::ids::{AccountId, AuditEventId};
use crate::domain::role::{Caller, Denied, Need, Role};
use crate::error::ApiError;

pub mod accounts;
pub mod addresses;
pub mod advance;
pub mod audit;
pub mod charges;
pub mod consumption;
pub mod contacts;
pub mod credit_notes;
pub mod credits;
pub mod demo;
pub mod documents;
pub mod e_invoicing;
pub mod einvoices;
pub mod events;
pub mod exchange_rates;
pub mod idempotency;
pub mod invoice_payments;
pub mod invoices;
pub mod issuing;
pub mod licenses;
pub mod outbox;
pub mod pa_delivery;
pub mod payments;
pub mod plans;
pub mod purge;
pub mod recipients;
pub mod test_clocks;
pub mod users;
pub mod vat_checks;
pub mod webhook_delivery;
pub mod webhook_endpoints;

/// Who is asking, under which request id, and the one "now" of this request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub request_id: Option<String>,
    pub now: OffsetDateTime,
}

/// An account the caller may act on with a need. Only [`Ctx::authorize`]
/// builds one, after the tenant rule and the role: a service taking it does
/// not check them again, it only loads the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    account: AccountId,
    need: Need,
}

impl Authorized {
    pub fn id(&self) -> &AccountId {
        &self.account
    }

    /// The need the caller was checked for.
    pub fn need(&self) -> Need {
        self.need
    }
}

impl std::ops::Deref for Authorized {
    type Target = AccountId;

    fn deref(&self) -> &AccountId {
        &self.account
    }
}

impl std::fmt::Display for Authorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.account.fmt(f)
    }
}

/// 403 naming the roles that `need` grants and the caller's.
fn role_not_allowed(need: Need, role: Role) -> ApiError {
    let needs: Vec<&str> = need.roles().iter().map(|r| r.as_str()).collect();
    ApiError::RoleNotAllowed {
        needs: needs.join(", "),
        role: role.as_str(),
    }
}

impl Ctx {
    /// A background task acting as staff (the finalizer, `comptoir` commands).
    pub fn system(subject: &str, now: OffsetDateTime) -> Self {
        Ctx {
            caller: Caller {
                subject: subject.to_owned(),
                role: crate::domain::role::Role::Support,
                account_id: None,
            },
            request_id: None,
            now,
        }
    }

    /// The tenant rule (another account: 404), then the role (403): the one
    /// check of every route under `/v1/accounts/{account_id}`.
    pub fn authorize(&self, account: &AccountId, need: Need) -> Result<Authorized, ApiError> {
        match self.caller.check(account, need) {
            Ok(()) => Ok(Authorized {
                account: account.clone(),
                need,
            }),
            Err(Denied::OtherAccount) => Err(ApiError::NotFound("account")),
            Err(Denied::Role { needs, has }) => Err(role_not_allowed(needs, has)),
        }
    }

    /// A route that is not under an account (catalog, staff-wide lists).
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        if self.caller.has(need) {
            Ok(())
        } else {
            Err(role_not_allowed(need, self.caller.role))
        }
    }

    /// An audit event by this caller, now.
    pub fn audit_event(
        &self,
        account: Option<&AccountId>,
        action: &str,
        target: (&str, &str),
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> AuditEvent {
        AuditEvent {
            id: AuditEventId::generate(),
            account_id: account.cloned(),
            actor_subject: self.caller.subject.clone(),
            actor_role: self.caller.role,
            action: action.to_owned(),
            target_type: target.0.to_owned(),
            target_id: target.1.to_owned(),
            before,
            after,
            request_id: self.request_id.clone(),
            occurred_at: self.now,
        }
    }
}

/// A page request: at most `limit` items after an opaque cursor position.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

/// The account, or 404 `not_found`: the one existence check every service
/// runs after the tenant and role checks (here, beside `Ctx`, so that every
/// service module can use it without depending on another).
pub async fn load_account(
    tx: &mut crate::store::Tx,
    id: &AccountId,
) -> Result<crate::domain::account::Account, ApiError> {
    tx.account(id).await?.ok_or(ApiError::NotFound("account"))
}
