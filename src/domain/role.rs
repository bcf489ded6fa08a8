//! Who a caller is (SPEC.md section 1) and what each role may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::AccountId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer's billing administrator.
    Admin,
    /// A customer user: reads its own account's billing data.
    Viewer,
    /// Staff (customer service): every account.
    Support,
    /// A back-office system: ingests consumption, confirms payments.
    Integration,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Integration => "integration",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            "support" => Some(Role::Support),
            "integration" => Some(Role::Integration),
            _ => None,
        }
    }

    pub fn is_staff(self) -> bool {
        self == Role::Support
    }
}

/// What an operation needs, checked after the tenant rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// Read the account's billing data: admin, viewer, support.
    Read,
    /// Read the audit log: admin, support.
    ReadAudit,
    /// Read the account's private records (documents and their content,
    /// contacts, users and their emails): admin, support. SPEC.md section 9
    /// reserves them to admins; a viewer reads billing data only.
    ReadPrivate,
    /// Change the account's billing data: admin, support.
    Manage,
    /// Staff only.
    Staff,
    /// Machine ingestion: integration, support.
    Ingest,
}

impl Need {
    /// The roles granted this need: the one table of who may do what.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Need::Read => &[Admin, Viewer, Support],
            Need::ReadAudit | Need::ReadPrivate | Need::Manage => &[Admin, Support],
            Need::Staff => &[Support],
            Need::Ingest => &[Integration, Support],
        }
    }
}

/// How a route is entered: declared beside its handler in the route table,
/// shown in the OpenAPI document, checked by the extractors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// No credentials (health probes).
    Public,
    /// The payment provider's HMAC signature, no token.
    WebhookSignature,
    /// Any valid token, whatever its role (the catalog of plans).
    AnyToken,
    /// A token whose role grants this need.
    Role(Need),
}

impl From<Need> for Access {
    fn from(need: Need) -> Self {
        Access::Role(need)
    }
}

impl Access {
    /// The roles that may call the route; empty when no token is involved.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Access::Public | Access::WebhookSignature => &[],
            Access::AnyToken => &[Role::Admin, Role::Viewer, Role::Support, Role::Integration],
            Access::Role(need) => need.roles(),
        }
    }

    /// The need checked against the token's role, if any.
    pub fn need(self) -> Option<Need> {
        match self {
            Access::Role(need) => Some(need),
            _ => None,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`.
    pub subject: String,
    pub role: Role,
    /// Absent for staff; a customer or integration token is bound to one account.
    pub account_id: Option<AccountId>,
}

/// Why a caller may not act on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The account is not the caller's: answered as "not found", never revealing it exists.
    OtherAccount,
    /// The caller's role is not among the roles the need grants.
    Role { needs: Need, has: Role },
}

impl Caller {
    /// The tenant rule first (another account: `OtherAccount`), then the role.
    pub fn check(&self, account: &AccountId, need: Need) -> Result<(), Denied> {
        if !self.role.is_staff() && self.account_id.as_ref() != Some(account) {
            return Err(Denied::OtherAccount);
        }
        if self.has(need) {
            Ok(())
        } else {
            Err(Denied::Role {
                needs: need,
                has: self.role,
            })
        }
    }

    /// Whether the role grants `need`, regardless of the account.
    pub fn has(&self, need: Need) -> bool {
        need.roles().contains(&self.role)
    }

    /// The key an idempotency record is scoped to: one caller identity.
    pub fn scope(&self) -> String {
        format!(
            "{}:{}:{}",
            self.role.as_str(),
            self.account_id.as_ref().map_or("", |a| a.as_str()),
            self.subject
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, account: Option<&AccountId>) -> Caller {
        Caller {
            subject: "usr_1".into(),
            role,
            account_id: account.cloned(),
        }
    }

    #[test]
    fn a_customer_token_on_another_account_is_told_not_found_before_any_role_check() {
        let mine = AccountId::generate();
        let other = AccountId::generate();
        for role in [Role::Admin, Role::Viewer, Role::Integration] {
            let c = caller(role, Some(&mine));
            for need in [Need::Read, Need::Manage, Need::Staff, Need::Ingest] {
                assert_eq!(c.check(&other, need), Err(Denied::OtherAccount));
            }
        }
    }

    #[test]
    fn roles_grant_what_section_1_says() {
        let a = AccountId::generate();
        let table = [
            (Role::Admin, [true, true, true, true, false, false]),
            (Role::Viewer, [true, false, false, false, false, false]),
            (Role::Support, [true, true, true, true, true, true]),
            (Role::Integration, [false, false, false, false, false, true]),
        ];
        let needs = [
            Need::Read,
            Need::ReadAudit,
            Need::ReadPrivate,
            Need::Manage,
            Need::Staff,
            Need::Ingest,
        ];
        for (role, expected) in table {
            let account = (!role.is_staff()).then_some(&a);
            let c = caller(role, account);
            for (need, ok) in needs.iter().zip(expected) {
                assert_eq!(c.check(&a, *need).is_ok(), ok, "{role:?} {need:?}");
            }
        }
    }

    #[test]
    fn a_refused_role_names_the_need_and_the_callers_role() {
        let a = AccountId::generate();
        let c = caller(Role::Viewer, Some(&a));
        assert_eq!(
            c.check(&a, Need::Manage),
            Err(Denied::Role {
                needs: Need::Manage,
                has: Role::Viewer
            })
        );
        assert_eq!(Access::from(Need::Manage).roles(), Need::Manage.roles());
        assert!(Access::Public.roles().is_empty());
        assert_eq!(Access::AnyToken.roles().len(), 4);
    }

    #[test]
    fn staff_reach_every_account() {
        let c = caller(Role::Support, None);
        assert!(c.check(&AccountId::generate(), Need::Manage).is_ok());
    }
}
