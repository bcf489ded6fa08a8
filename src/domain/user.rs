//! Users and teams of the customer's telephony: what licenses are assigned to
//! and consumption is filtered by.

use time::OffsetDateTime;

use super::contact::Email;
use super::ids::{AccountId, TeamId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub account_id: AccountId,
    pub name: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub name: String,
    pub email: Email,
    pub team_id: Option<TeamId>,
    pub created_at: OffsetDateTime,
}
