//! `/v1/accounts/{a}/invoice-recipients`: who receives each issued invoice.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::contact::Email;
use crate::domain::ids::RecipientId;
use crate::error::{ApiError, Problem};
use crate::service::recipients;
use crate::store::recipients::RecipientRow;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecipientDto {
    pub id: String,
    #[schema(example = "compta@acme.fr")]
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<RecipientRow> for RecipientDto {
    fn from(r: RecipientRow) -> Self {
        RecipientDto {
            id: r.id,
            email: r.email,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientListDto {
    pub data: Vec<RecipientDto>,
    /// Always null: an account has at most 10 recipients.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientRequest {
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    #[schema(min_length = 3, max_length = 254, format = Email, example = "compta@acme.fr")]
    pub email: String,
}

fn email(r: &RecipientRequest) -> Result<Email, ApiError> {
    Email::parse(&r.email).ok_or_else(|| ApiError::validation("email", "must be an email address"))
}

fn recipient_id(raw: &str) -> Result<RecipientId, ApiError> {
    RecipientId::parse(raw).ok_or(ApiError::NotFound("invoice recipient"))
}

/// Add an invoice recipient (admin): at most 10, no duplicates.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/invoice-recipients", operation_id = "add_invoice_recipient", tag = "invoices",
    request_body = RecipientRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The recipient", body = RecipientDto),
        (status = 403, description = "Viewers cannot change recipients", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `recipient_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or too_many_recipients", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<RecipientRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = email(&body.value)?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        RecipientDto::from(recipients::add(tx, &ctx, &account, email).await?)
    })
}

/// The invoice recipients.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoice-recipients", operation_id = "list_invoice_recipients", tag = "invoices",
    responses(
        (status = 200, description = "Every recipient (at most 10)", body = RecipientListDto),
        (status = 403, description = "Integrations cannot read recipients", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
) -> Result<HttpResponse, ApiError> {
    let rows = recipients::list(&state.store, &account).await?;
    Ok(HttpResponse::Ok().json(RecipientListDto {
        data: rows.into_iter().map(RecipientDto::from).collect(),
        next_cursor: None,
    }))
}

/// An invoice recipient.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/invoice-recipients/{recipient_id}", operation_id = "get_invoice_recipient", tag = "invoices",
    params(("recipient_id" = String, Path, description = "Recipient id", example = "rcp_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The recipient", body = RecipientDto),
        (status = 403, description = "Integrations cannot read recipients", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = recipient_id(&path)?;
    let row = recipients::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(RecipientDto::from(row)))
}

/// Change a recipient's email (admin).
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/invoice-recipients/{recipient_id}", operation_id = "change_invoice_recipient", tag = "invoices",
    request_body = RecipientRequest,
    params(("recipient_id" = String, Path, description = "Recipient id", example = "rcp_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The recipient", body = RecipientDto),
        (status = 403, description = "Viewers cannot change recipients", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `recipient_exists`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<RecipientRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = recipient_id(&path)?;
    let row = recipients::change(&state.store, &ctx, &account, &id, email(&body.value)?).await?;
    Ok(HttpResponse::Ok().json(RecipientDto::from(row)))
}

/// Remove a recipient (admin).
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/invoice-recipients/{recipient_id}", operation_id = "remove_invoice_recipient", tag = "invoices",
    params(("recipient_id" = String, Path, description = "Recipient id", example = "rcp_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Viewers cannot change recipients", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = recipient_id(&path)?;
    recipients::remove(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
