//! `/v1/accounts/{a}/audit-events` and the staff-wide `/v1/audit-events`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::extract::{PageQuery, Paginated};
use super::scope::AccountScope;
use crate::AppState;
use crate::domain::audit::AuditEvent;
use crate::domain::role::Role;
use crate::error::{ApiError, Problem};
use crate::service::{Ctx, audit};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActorDto {
    /// The token's subject.
    pub subject: String,
    pub role: Role,
}

/// One change: who, what, when, and a summary before and after.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventDto {
    pub id: String,
    /// Null for catalog-wide changes.
    pub account_id: Option<String>,
    pub actor: ActorDto,
    #[schema(example = "account.created")]
    pub action: String,
    #[schema(example = "account")]
    pub target_type: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// The request that made the change (`X-Request-Id`).
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

impl From<AuditEvent> for AuditEventDto {
    fn from(e: AuditEvent) -> Self {
        AuditEventDto {
            id: e.id.to_string(),
            account_id: e.account_id.map(|a| a.to_string()),
            actor: ActorDto {
                subject: e.actor_subject,
                role: e.actor_role,
            },
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
            occurred_at: e.occurred_at,
        }
    }
}

/// An account's audit log, newest first (account admins and staff).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/audit-events", operation_id = "list_account_audit_events", tag = "audit",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = Paginated<AuditEventDto>),
        (status = 403, description = "Viewers and integrations cannot read the audit log", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_for_account(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = audit::list_for_account(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<AuditEventDto>::new(page, |e| e.id.to_string())))
}

/// Every audit event, catalog changes included, newest first (staff).
#[utoipa::path(get, path = "/v1/audit-events", operation_id = "list_audit_events", tag = "audit", params(PageQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = Paginated<AuditEventDto>),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_all(
    state: web::Data<AppState>,
    ctx: Ctx,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = audit::list_all(&state.store, &ctx, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<AuditEventDto>::new(page, |e| e.id.to_string())))
}
