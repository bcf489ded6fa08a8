//! `/v1/accounts/{a}/webhook-endpoints`: where an account's events are sent.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::event::Subscription;
use crate::domain::ids::WebhookEndpointId;
use crate::domain::webhook::WebhookEndpoint;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::webhook_endpoints::{self, EndpointPatch, NewEndpoint, WithSecret};
use crate::webhooks::TargetPolicy;

/// A webhook endpoint. Its signing secret is never shown here: only once,
/// in the answer that creates it or rotates it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointDto {
    #[schema(example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[schema(example = "https://hooks.acme.fr/comptoir")]
    pub url: String,
    /// The event types sent, or `["*"]` for all.
    #[schema(example = json!(["invoice.finalized", "license.added"]))]
    pub events: Vec<String>,
    #[schema(example = "Our ERP")]
    pub description: Option<String>,
    pub enabled: bool,
    /// Why Comptoir disabled it (its deliveries failed for 3 days), if it did.
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&WebhookEndpoint> for WebhookEndpointDto {
    fn from(e: &WebhookEndpoint) -> Self {
        WebhookEndpointDto {
            id: e.id.to_string(),
            url: e.url.to_string(),
            events: e.events.names(),
            description: e.description.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A webhook endpoint with its signing secret: the answer of a creation or
/// a rotation, the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointWithSecretDto {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointDto,
    /// Verifies the `webhook-signature` of the requests sent (Standard
    /// Webhooks): `whsec_` and 32 random bytes in base64. Keep it now: it is
    /// not shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=")]
    pub secret: String,
}

impl From<&WithSecret> for WebhookEndpointWithSecretDto {
    fn from(w: &WithSecret) -> Self {
        WebhookEndpointWithSecretDto {
            endpoint: WebhookEndpointDto::from(&w.endpoint),
            secret: w.secret.expose().to_owned(),
        }
    }
}

const URL_MAX: usize = 2048;
const DESCRIPTION_MAX: usize = 200;
const EVENTS_MSG: &str = "must be event types of the catalog (see the `webhooks` section of the \
    OpenAPI document), or [\"*\"] alone for all";
const DESCRIPTION_MSG: &str =
    "must be at most 200 characters without control or invisible characters";
/// How long the check of a URL's host may take (a name server that does not answer).
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    /// Where events are POSTed: https, to a host that resolves to public
    /// addresses only (a server allowing private targets also takes http to
    /// a loopback address).
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://hooks.acme.fr/comptoir"
    )]
    pub url: String,
    /// The event types to send, or `["*"]` for all of them.
    #[schema(min_items = 1, max_items = 50, example = json!(["invoice.finalized", "license.added"]))]
    pub events: Vec<String>,
    #[schema(max_length = 200, example = "Our ERP")]
    pub description: Option<String>,
    /// Whether events are sent to it (default true).
    #[schema(example = true)]
    pub enabled: Option<bool>,
}

/// Changes some fields of an endpoint; absent fields stay. An empty
/// `description` clears it; `enabled: true` also re-enables an endpoint
/// Comptoir disabled (its waiting deliveries then go out).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://hooks.acme.fr/comptoir"
    )]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 50, example = json!(["*"]))]
    pub events: Option<Vec<String>>,
    #[schema(max_length = 200, example = "Our ERP")]
    pub description: Option<String>,
    #[schema(example = true)]
    pub enabled: Option<bool>,
}

/// The URL, parsed and checked against the server's target policy (its
/// host resolved): `Err` says why not, for the `url` field.
async fn check_target(policy: TargetPolicy, raw: &str) -> Result<url::Url, String> {
    if raw.is_empty() || raw.len() > URL_MAX {
        return Err(format!("must be a URL of 1 to {URL_MAX} characters"));
    }
    let url = url::Url::parse(raw)
        .map_err(|_| "must be an absolute URL such as https://hooks.acme.fr/comptoir".to_owned())?;
    match tokio::time::timeout(RESOLVE_TIMEOUT, policy.check(&url)).await {
        Ok(Ok(())) => Ok(url),
        Ok(Err(why)) => Err(why),
        Err(_) => Err("its host could not be resolved in time".to_owned()),
    }
}

fn parse_events(names: &[String]) -> Option<Subscription> {
    Subscription::parse(names).ok()
}

/// `Some(None)` for an empty description (none).
fn parse_description(raw: &str) -> Option<Option<String>> {
    if raw.trim().is_empty() {
        return Some(None);
    }
    clean_name(raw, DESCRIPTION_MAX).map(Some)
}

fn policy(state: &AppState) -> TargetPolicy {
    TargetPolicy {
        allow_private: state.webhook_allow_private,
    }
}

/// Every field of a creation, checked together (the URL's host resolved).
async fn new_endpoint(
    state: &AppState,
    r: CreateWebhookEndpointRequest,
) -> Result<NewEndpoint, ApiError> {
    let mut v = FieldErrors::default();
    let url = match check_target(policy(state), &r.url).await {
        Ok(url) => Some(url),
        Err(why) => v.check::<url::Url>("url", None, &why),
    };
    let events = v.check("events", parse_events(&r.events), EVENTS_MSG);
    let description = v.check_opt(
        "description",
        r.description.as_deref(),
        parse_description,
        DESCRIPTION_MSG,
    );
    v.finish()?;
    match (url, events) {
        (Some(url), Some(events)) => Ok(NewEndpoint {
            url,
            events,
            description: description.flatten(),
            enabled: r.enabled.unwrap_or(true),
        }),
        _ => Err(ApiError::internal("webhook endpoint fields checked twice")),
    }
}

/// Every field of a change, checked together.
async fn patch(
    state: &AppState,
    r: UpdateWebhookEndpointRequest,
) -> Result<EndpointPatch, ApiError> {
    let mut v = FieldErrors::default();
    let url = match &r.url {
        None => None,
        Some(raw) => match check_target(policy(state), raw).await {
            Ok(url) => Some(url),
            Err(why) => v.check::<url::Url>("url", None, &why),
        },
    };
    let events = v.check_opt("events", r.events.as_deref(), parse_events, EVENTS_MSG);
    let description = v.check_opt(
        "description",
        r.description.as_deref(),
        parse_description,
        DESCRIPTION_MSG,
    );
    v.finish()?;
    Ok(EndpointPatch {
        url,
        events,
        description,
        enabled: r.enabled,
    })
}

fn endpoint_id(raw: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(raw).ok_or(ApiError::NotFound("webhook endpoint"))
}

/// Add a webhook endpoint (admin). The answer carries its signing secret,
/// shown this once.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhook-endpoints",
    request_body = CreateWebhookEndpointRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe (the retry gets the same secret)")),
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown once)", body = WebhookEndpointWithSecretDto),
        (status = 403, description = "Only admins and staff manage webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `url` (not https, or a host resolving to a loopback, private, link-local or metadata address), unknown `events` or a bad `description`: each named", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<CreateWebhookEndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = new_endpoint(&state, body.value).await?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let created = webhook_endpoints::create(tx, &ctx, &account, new).await?;
        WebhookEndpointWithSecretDto::from(&created)
    })
}

/// The account's webhook endpoints, oldest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhook-endpoints",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of webhook endpoints", body = Paginated<WebhookEndpointDto>),
        (status = 403, description = "Only admins and staff read webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = webhook_endpoints::list(&state.store, &account, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |e| e.id.to_string(),
        |e| WebhookEndpointDto::from(&e),
    )))
}

/// A webhook endpoint.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/webhook-endpoints/{endpoint_id}", operation_id = "get_webhook_endpoint", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path, description = "Webhook endpoint id", example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointDto),
        (status = 403, description = "Only admins and staff read webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let endpoint = webhook_endpoints::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointDto::from(&endpoint)))
}

/// Change a webhook endpoint (admin): only the fields sent.
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/webhook-endpoints/{endpoint_id}", operation_id = "update_webhook_endpoint", tag = "webhook-endpoints",
    request_body = UpdateWebhookEndpointRequest,
    params(("endpoint_id" = String, Path, description = "Webhook endpoint id", example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The endpoint after the change", body = WebhookEndpointDto),
        (status = 403, description = "Only admins and staff manage webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint on this account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `url`, unknown `events` or a bad `description`: each named", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<UpdateWebhookEndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let patch = patch(&state, body.value).await?;
    let endpoint = webhook_endpoints::update(&state.store, &ctx, &account, &id, patch).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointDto::from(&endpoint)))
}

/// Delete a webhook endpoint (admin), with its waiting deliveries and its
/// delivery log.
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/webhook-endpoints/{endpoint_id}", operation_id = "delete_webhook_endpoint", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path, description = "Webhook endpoint id", example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only admins and staff manage webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    webhook_endpoints::delete(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give a webhook endpoint a new signing secret (admin), shown this once.
/// The previous secret keeps signing beside it for 24 hours (the
/// `webhook-signature` header then carries both signatures), so that the
/// receiver can switch without losing an event.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/webhook-endpoints/{endpoint_id}/rotate-secret", operation_id = "rotate_webhook_endpoint_secret", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path, description = "Webhook endpoint id", example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The endpoint, with its new signing secret (shown once)", body = WebhookEndpointWithSecretDto),
        (status = 403, description = "Only admins and staff manage webhook endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let rotated = webhook_endpoints::rotate_secret(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointWithSecretDto::from(&rotated)))
}
