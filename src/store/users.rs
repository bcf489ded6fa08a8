//! Users and teams.

use time::OffsetDateTime;

use super::{Page, Tx, execute, fetch_all, fetch_optional};
use crate::domain::contact::Email;
use crate::domain::ids::{AccountId, TeamId, UserId};
use crate::domain::user::{Team, User};

#[derive(sqlx::FromRow)]
struct TeamRow {
    id: String,
    account_id: String,
    name: String,
    created_at: OffsetDateTime,
}

impl From<TeamRow> for Team {
    fn from(r: TeamRow) -> Self {
        Team {
            id: TeamId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    account_id: String,
    name: String,
    email: String,
    team_id: Option<String>,
    created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: r.name,
            email: Email::from_trusted(r.email),
            team_id: r.team_id.map(TeamId::from_trusted),
            created_at: r.created_at,
        }
    }
}

impl Tx {
    pub async fn save_team(&mut self, t: &Team) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO teams (id, account_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            )
            .bind(t.id.as_str())
            .bind(t.account_id.as_str())
            .bind(&t.name)
            .bind(t.created_at)
        )?;
        Ok(())
    }

    pub async fn team(
        &mut self,
        account: &AccountId,
        id: &TeamId,
    ) -> Result<Option<Team>, sqlx::Error> {
        let row: Option<TeamRow> = fetch_optional!(self, sqlx::query_as(
            "SELECT id, account_id, name, created_at FROM teams WHERE account_id = $1 AND id = $2",
        )
        .bind(account.as_str())
        .bind(id.as_str()))?;
        Ok(row.map(Team::from))
    }

    pub async fn list_teams(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Team>, sqlx::Error> {
        let rows: Vec<TeamRow> = fetch_all!(
            self,
            sqlx::query_as(
                "SELECT id, account_id, name, created_at FROM teams WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3",
            )
            .bind(account.as_str())
            .bind(after)
            .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(
            rows.into_iter().map(Team::from).collect(),
            limit,
        ))
    }

    /// Deletes a team; its users stay, without a team.
    pub async fn delete_team(&mut self, id: &TeamId) -> Result<bool, sqlx::Error> {
        let mut changed = 0;
        for sql in [
            "UPDATE users SET team_id = NULL WHERE team_id = $1",
            "DELETE FROM teams WHERE id = $1",
        ] {
            changed = execute!(self, sqlx::query(sql).bind(id.as_str()))?;
        }
        // The last statement deletes the row itself.
        Ok(changed == 1)
    }

    pub async fn save_user(&mut self, u: &User) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO users (id, account_id, name, email, team_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             email = excluded.email, team_id = excluded.team_id",
            )
            .bind(u.id.as_str())
            .bind(u.account_id.as_str())
            .bind(&u.name)
            .bind(u.email.as_str())
            .bind(u.team_id.as_ref().map(|t| t.as_str()))
            .bind(u.created_at)
        )?;
        Ok(())
    }

    pub async fn user(
        &mut self,
        account: &AccountId,
        id: &UserId,
    ) -> Result<Option<User>, sqlx::Error> {
        let row: Option<UserRow> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT id, account_id, name, email, team_id, created_at FROM users \
             WHERE account_id = $1 AND id = $2",
            )
            .bind(account.as_str())
            .bind(id.as_str())
        )?;
        Ok(row.map(User::from))
    }

    pub async fn list_users(
        &mut self,
        account: &AccountId,
        team: Option<&TeamId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<User>, sqlx::Error> {
        let rows: Vec<UserRow> = fetch_all!(self, sqlx::query_as(
            "SELECT id, account_id, name, email, team_id, created_at FROM users WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR team_id = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(account.as_str())
        .bind(team.map(|t| t.as_str()))
        .bind(after)
        .bind(i64::from(limit) + 1))?;
        Ok(Page::from_rows(
            rows.into_iter().map(User::from).collect(),
            limit,
        ))
    }

    /// Deletes a user; its license stays on the account, unassigned.
    pub async fn delete_user(&mut self, id: &UserId) -> Result<bool, sqlx::Error> {
        self.free_licenses_of(id).await?;
        let deleted = execute!(
            self,
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id.as_str())
        )?;
        Ok(deleted == 1)
    }

    /// The user of the account with this email (case-insensitive), if any.
    pub async fn user_with_email(
        &mut self,
        account: &AccountId,
        email: &str,
    ) -> Result<Option<UserId>, sqlx::Error> {
        let row: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT id FROM users WHERE account_id = $1 AND lower(email) = lower($2)",
            )
            .bind(account.as_str())
            .bind(email)
        )?;
        Ok(row.map(|(id,)| UserId::from_trusted(id)))
    }

    /// The team of the account with this name, if any.
    pub async fn team_named(
        &mut self,
        account: &AccountId,
        name: &str,
    ) -> Result<Option<TeamId>, sqlx::Error> {
        let row: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as("SELECT id FROM teams WHERE account_id = $1 AND name = $2",)
                .bind(account.as_str())
                .bind(name)
        )?;
        Ok(row.map(|(id,)| TeamId::from_trusted(id)))
    }

    /// Every user of the account as (id, name, team): small enough to hold
    /// whole, it lets a batch or an export resolve users without a query each.
    pub async fn user_directory(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<(UserId, String, Option<TeamId>)>, sqlx::Error> {
        let rows: Vec<(String, String, Option<String>)> = fetch_all!(
            self,
            sqlx::query_as("SELECT id, name, team_id FROM users WHERE account_id = $1",)
                .bind(account.as_str())
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, name, team)| {
                (
                    UserId::from_trusted(id),
                    name,
                    team.map(TeamId::from_trusted),
                )
            })
            .collect())
    }

    /// Every team of the account as (id, name).
    pub async fn team_directory(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<(TeamId, String)>, sqlx::Error> {
        let rows: Vec<(String, String)> = fetch_all!(
            self,
            sqlx::query_as("SELECT id, name FROM teams WHERE account_id = $1",)
                .bind(account.as_str())
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| (TeamId::from_trusted(id), name))
            .collect())
    }
}
