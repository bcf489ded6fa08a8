//! Users and teams: created and changed by the account's admins, read by its
//! users.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::contact::Email;
use crate::domain::ids::{AccountId, TeamId, UserId};
use crate::domain::user::{Team, User};
use crate::error::{ApiError, Code};
use crate::store::{Page, Store, Tx};

fn user_summary(u: &User) -> serde_json::Value {
    json!({"name": u.name, "email": u.email.as_str(), "team_id": u.team_id.as_ref().map(|t| t.as_str())})
}

fn email_taken() -> ApiError {
    ApiError::rule(
        Code::EmailTaken,
        "another user of this account has this email",
    )
}

async fn load_user(tx: &mut Tx, account: &AccountId, id: &UserId) -> Result<User, ApiError> {
    tx.user(account, id)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

async fn load_team(tx: &mut Tx, account: &AccountId, id: &TeamId) -> Result<Team, ApiError> {
    tx.team(account, id)
        .await?
        .ok_or(ApiError::NotFound("team"))
}

/// A team given in a request must be one of the account's (else 422 on `team_id`).
async fn check_team(
    tx: &mut Tx,
    account: &AccountId,
    team: Option<&TeamId>,
) -> Result<(), ApiError> {
    match team {
        Some(t) if tx.team(account, t).await?.is_none() => Err(ApiError::validation(
            "team_id",
            "is not a team of this account",
        )),
        _ => Ok(()),
    }
}

/// Unique emails per account, checked before writing so the answer is a clear 409.
async fn check_email_free(
    tx: &mut Tx,
    account: &AccountId,
    email: &Email,
    except: Option<&UserId>,
) -> Result<(), ApiError> {
    let holder = tx.user_with_email(account, email.as_str()).await?;
    if holder.is_some_and(|h| Some(&h) != except) {
        Err(email_taken())
    } else {
        Ok(())
    }
}

pub struct NewUser {
    pub name: String,
    pub email: Email,
    pub team_id: Option<TeamId>,
}

/// A partial change; `team_id: Some(None)` removes the user from its team.
#[derive(Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub team_id: Option<Option<TeamId>>,
}

#[instrument(skip_all, fields(account = %account))]
pub async fn create_user(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    new: NewUser,
) -> Result<User, ApiError> {
    super::accounts::load(tx, account).await?;
    check_team(tx, account, new.team_id.as_ref()).await?;
    check_email_free(tx, account, &new.email, None).await?;
    let user = User {
        id: UserId::generate(),
        account_id: account.id().clone(),
        name: new.name,
        email: new.email,
        team_id: new.team_id,
        created_at: ctx.now,
    };
    tx.save_user(&user).await?;
    let event = ctx.audit_event(
        Some(account),
        "user.created",
        ("user", user.id.as_str()),
        None,
        Some(user_summary(&user)),
    );
    audit::record(tx, event).await?;
    Ok(user)
}

pub async fn list_users(
    store: &Store,
    account: &Authorized,
    team: Option<&TeamId>,
    page: &PageRequest,
) -> Result<Page<User>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .list_users(account, team, page.after.as_deref(), page.limit)
        .await?)
}

pub async fn get_user(store: &Store, account: &Authorized, id: &UserId) -> Result<User, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load_user(&mut tx, account, id).await
}

#[instrument(skip_all, fields(account = %account, user = %id))]
pub async fn update_user(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &UserId,
    patch: UserPatch,
) -> Result<User, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load_user(&mut tx, account, id).await?;
    if let Some(team) = &patch.team_id {
        check_team(&mut tx, account, team.as_ref()).await?;
    }
    if let Some(email) = &patch.email {
        check_email_free(&mut tx, account, email, Some(id)).await?;
    }
    let after = User {
        name: patch.name.unwrap_or_else(|| before.name.clone()),
        email: patch.email.unwrap_or_else(|| before.email.clone()),
        team_id: patch.team_id.unwrap_or_else(|| before.team_id.clone()),
        ..before.clone()
    };
    tx.save_user(&after).await?;
    let event = ctx.audit_event(
        Some(account),
        "user.updated",
        ("user", id.as_str()),
        Some(user_summary(&before)),
        Some(user_summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a user. (Its license, once licenses exist, is freed, not removed.)
#[instrument(skip_all, fields(account = %account, user = %id))]
pub async fn delete_user(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &UserId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load_user(&mut tx, account, id).await?;
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_user(id).await? {
        return Err(ApiError::NotFound("user"));
    }
    let event = ctx.audit_event(
        Some(account),
        "user.deleted",
        ("user", id.as_str()),
        Some(user_summary(&before)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

async fn check_team_name_free(
    tx: &mut Tx,
    account: &AccountId,
    name: &str,
    except: Option<&TeamId>,
) -> Result<(), ApiError> {
    let holder = tx.team_named(account, name).await?;
    if holder.is_some_and(|h| Some(&h) != except) {
        Err(ApiError::rule(
            Code::TeamNameTaken,
            "another team of this account has this name",
        ))
    } else {
        Ok(())
    }
}

#[instrument(skip_all, fields(account = %account))]
pub async fn create_team(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    name: String,
) -> Result<Team, ApiError> {
    super::accounts::load(tx, account).await?;
    check_team_name_free(tx, account, &name, None).await?;
    let team = Team {
        id: TeamId::generate(),
        account_id: account.id().clone(),
        name,
        created_at: ctx.now,
    };
    tx.save_team(&team).await?;
    let event = ctx.audit_event(
        Some(account),
        "team.created",
        ("team", team.id.as_str()),
        None,
        Some(json!({"name": team.name})),
    );
    audit::record(tx, event).await?;
    Ok(team)
}

pub async fn list_teams(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<Team>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .list_teams(account, page.after.as_deref(), page.limit)
        .await?)
}

pub async fn get_team(store: &Store, account: &Authorized, id: &TeamId) -> Result<Team, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load_team(&mut tx, account, id).await
}

#[instrument(skip_all, fields(account = %account, team = %id))]
pub async fn rename_team(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &TeamId,
    name: String,
) -> Result<Team, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load_team(&mut tx, account, id).await?;
    check_team_name_free(&mut tx, account, &name, Some(id)).await?;
    let after = Team {
        name,
        ..before.clone()
    };
    tx.save_team(&after).await?;
    let event = ctx.audit_event(
        Some(account),
        "team.renamed",
        ("team", id.as_str()),
        Some(json!({"name": before.name})),
        Some(json!({"name": after.name})),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a team; its users stay, without a team.
#[instrument(skip_all, fields(account = %account, team = %id))]
pub async fn delete_team(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &TeamId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load_team(&mut tx, account, id).await?;
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_team(id).await? {
        return Err(ApiError::NotFound("team"));
    }
    let event = ctx.audit_event(
        Some(account),
        "team.deleted",
        ("team", id.as_str()),
        Some(json!({"name": before.name})),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
