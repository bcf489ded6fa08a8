//! `/v1/accounts/{a}/users` and `/v1/accounts/{a}/teams`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::contact::Email;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::user::{Team, User};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::users;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    #[schema(example = "Claire Martin")]
    pub name: String,
    #[schema(example = "claire@acme.fr")]
    pub email: String,
    pub team_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        UserDto {
            id: u.id.to_string(),
            name: u.name,
            email: u.email.as_str().to_owned(),
            team_id: u.team_id.map(|t| t.to_string()),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamDto {
    pub id: String,
    #[schema(example = "Support N1")]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Team> for TeamDto {
    fn from(t: Team) -> Self {
        TeamDto {
            id: t.id.to_string(),
            name: t.name,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Claire Martin"
    )]
    pub name: String,
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    #[schema(min_length = 3, max_length = 254, format = Email, example = "claire@acme.fr")]
    pub email: String,
    #[validate(length(min = 1, max = 100, message = "must be a team id"))]
    #[schema(min_length = 1, max_length = 100, example = "tea_0193c0ffee")]
    pub team_id: Option<String>,
}

/// `null` and absent differ: `"team_id": null` removes the user from its team.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Claire Martin"
    )]
    pub name: Option<String>,
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    #[schema(min_length = 3, max_length = 254, format = Email, example = "claire.martin@acme.fr")]
    pub email: Option<String>,
    /// A team id, or null to leave the team.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, example = "tea_0193c0ffee")]
    pub team_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 100,
        example = "Support N1"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only the users of this team.
    pub team_id: Option<String>,
}

const NAME_MSG: &str = "must be 1 to 200 characters, not only spaces";
const EMAIL_MSG: &str = "must be an email address such as claire@acme.fr";
const TEAM_MSG: &str = "is not a team of this account";

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or(ApiError::NotFound("user"))
}

fn team_id(raw: &str) -> Result<TeamId, ApiError> {
    TeamId::parse(raw).ok_or(ApiError::NotFound("team"))
}

fn team_name(raw: &str) -> Result<String, ApiError> {
    clean_name(raw, 100)
        .ok_or_else(|| ApiError::validation("name", "must be 1 to 100 characters, not only spaces"))
}

/// Add a user (admin).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/users", operation_id = "create_user", tag = "users",
    request_body = CreateUserRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The user", body = UserDto),
        (status = 403, description = "Viewers cannot add users", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `email_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = &body.value;
    let mut v = FieldErrors::default();
    let name = v.check("name", clean_name(&r.name, 200), NAME_MSG);
    let email = v.check("email", Email::parse(&r.email), EMAIL_MSG);
    let team = v.check_opt(
        "team_id",
        r.team_id.clone(),
        |t| TeamId::parse(&t),
        TEAM_MSG,
    );
    v.finish()?;
    let (Some(name), Some(email)) = (name, email) else {
        return Err(ApiError::internal("user fields checked twice"));
    };
    let new = users::NewUser {
        name,
        email,
        team_id: team,
    };
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let user = users::create_user(tx, &ctx, &account, new).await?;
        UserDto::from(user)
    })
}

/// List users, optionally of one team.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/users", operation_id = "list_users", tag = "users",
    params(UserFilter, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = Paginated<UserDto>),
        (status = 403, description = "Viewers and integrations cannot read users", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_users(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<UserFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let team = match filter.team_id.as_deref() {
        None => None,
        Some(raw) => {
            Some(TeamId::parse(raw).ok_or_else(|| ApiError::validation("team_id", TEAM_MSG))?)
        }
    };
    let page = users::list_users(&state.store, &account, team.as_ref(), &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<UserDto>::new(page, |u| u.id.to_string())))
}

/// A user.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/users/{user_id}", operation_id = "get_user", tag = "users",
    params(("user_id" = String, Path, description = "User id", example = "usr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The user", body = UserDto),
        (status = 403, description = "Viewers and integrations cannot read users", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_user(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    Ok(HttpResponse::Ok().json(UserDto::from(
        users::get_user(&state.store, &account, &id).await?,
    )))
}

/// Change a user (admin): name, email, team.
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/users/{user_id}", operation_id = "update_user", tag = "users",
    request_body = UpdateUserRequest,
    params(("user_id" = String, Path, description = "User id", example = "usr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The user after the change", body = UserDto),
        (status = 403, description = "Viewers cannot change users", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `email_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let r = body.value;
    let mut v = FieldErrors::default();
    let patch = users::UserPatch {
        name: v.check_opt("name", r.name, |n| clean_name(&n, 200), NAME_MSG),
        email: v.check_opt("email", r.email, |e| Email::parse(&e), EMAIL_MSG),
        team_id: match r.team_id {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => v.check("team_id", TeamId::parse(&raw), TEAM_MSG).map(Some),
        },
    };
    v.finish()?;
    Ok(HttpResponse::Ok().json(UserDto::from(
        users::update_user(&state.store, &ctx, &account, &id, patch).await?,
    )))
}

/// Delete a user (admin). Its license is freed, not removed: it stays on the
/// account, available.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/users/{user_id}", operation_id = "delete_user", tag = "users",
    params(("user_id" = String, Path, description = "User id", example = "usr_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete users", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_user(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    users::delete_user(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a team (admin).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/teams", operation_id = "create_team", tag = "users",
    request_body = TeamRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The team", body = TeamDto),
        (status = 403, description = "Viewers cannot add teams", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `team_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_team(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<TeamRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = team_name(&body.value.name)?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let team = users::create_team(tx, &ctx, &account, name).await?;
        TeamDto::from(team)
    })
}

/// List teams.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/teams", operation_id = "list_teams", tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of teams", body = Paginated<TeamDto>),
        (status = 403, description = "Integrations cannot read teams", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_teams(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = users::list_teams(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<TeamDto>::new(page, |t| t.id.to_string())))
}

/// A team.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/teams/{team_id}", operation_id = "get_team", tag = "users",
    params(("team_id" = String, Path, description = "Team id", example = "tea_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The team", body = TeamDto),
        (status = 403, description = "Integrations cannot read teams", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_team(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = team_id(&path)?;
    Ok(HttpResponse::Ok().json(TeamDto::from(
        users::get_team(&state.store, &account, &id).await?,
    )))
}

/// Rename a team (admin).
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/teams/{team_id}", operation_id = "update_team", tag = "users",
    request_body = TeamRequest,
    params(("team_id" = String, Path, description = "Team id", example = "tea_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The team", body = TeamDto),
        (status = 403, description = "Viewers cannot change teams", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `team_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_team(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<TeamRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = team_id(&path)?;
    let name = team_name(&body.value.name)?;
    Ok(HttpResponse::Ok().json(TeamDto::from(
        users::rename_team(&state.store, &ctx, &account, &id, name).await?,
    )))
}

/// Delete a team (admin); its users stay, without a team.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/teams/{team_id}", operation_id = "delete_team", tag = "users",
    params(("team_id" = String, Path, description = "Team id", example = "tea_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete teams", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_team(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = team_id(&path)?;
    users::delete_team(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
