//! The delivery log of a webhook endpoint
//! (`/v1/accounts/{a}/webhook-endpoints/{id}/deliveries`) and the
//! redelivery of an event (`/v1/accounts/{a}/events/{id}/redeliver`).

use std::future::ready;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::extract::{PageQuery, Paginated};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::event::EventType;
use crate::domain::ids::{EventId, WebhookEndpointId};
use crate::error::{ApiError, Problem};
use crate::service::webhook_delivery::{self, Queued};
use crate::store::webhook_deliveries::LoggedAttempt;

/// One attempt at delivering an event to the endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttemptDto {
    #[schema(example = "wha_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    /// The delivery of the event to this endpoint (a redelivery is another).
    #[schema(example = "whd_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub delivery_id: String,
    /// The event sent: the `webhook-id` of the request.
    #[schema(example = "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub event_id: String,
    #[schema(example = "license.added")]
    pub event_type: String,
    /// 1 for the first attempt at the delivery, 2 for its first retry...
    #[schema(example = 1)]
    pub attempt: i32,
    /// The HTTP status answered; null when no answer came.
    #[schema(example = 200)]
    pub status_code: Option<i32>,
    /// From sending the request to the answer's body.
    #[schema(example = 42)]
    pub latency_ms: i64,
    /// Why it is not a success (a status other than 2xx, no answer within
    /// 10 s, a refused target); null on success.
    #[schema(example = json!(null))]
    pub error: Option<String>,
    /// The first 1 KiB of the answer's body.
    #[schema(example = "ok")]
    pub response: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
}

impl From<LoggedAttempt> for WebhookAttemptDto {
    fn from(l: LoggedAttempt) -> Self {
        let a = l.attempt;
        WebhookAttemptDto {
            id: a.id,
            delivery_id: a.delivery_id,
            event_id: a.event_id,
            event_type: l.event_type,
            attempt: a.attempt,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response: a.response,
            attempted_at: a.attempted_at,
        }
    }
}

/// To which endpoint the event goes again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    /// This endpoint only (whatever the types it subscribes to); without
    /// it, every enabled endpoint subscribed to the event's type.
    #[schema(example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub endpoint_id: Option<String>,
}

/// The body of a redelivery: none at all, `null`, or a [`RedeliverRequest`].
pub struct OptionalRedeliverRequest(Option<RedeliverRequest>);

/// The most a redelivery's body may weigh.
const REDELIVER_BODY_MAX: usize = 4096;

fn read_redeliver(raw: &[u8]) -> Result<Option<RedeliverRequest>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let parsed: Option<RedeliverRequest> =
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return ApiError::MalformedJson(inner.to_string());
            }
            let field = if path == "." { "body" } else { path.as_str() };
            ApiError::validation(field, super::validate::humanize_serde(&inner.to_string()))
        })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(parsed)
}

impl FromRequest for OptionalRedeliverRequest {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        if !chunked && length.unwrap_or(0) == 0 {
            return Box::pin(ready(Ok(OptionalRedeliverRequest(None))));
        }
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::MalformedJson(e.to_string()))?;
                if body.len() + chunk.len() > REDELIVER_BODY_MAX {
                    super::extract::drain(&mut payload).await;
                    return Err(ApiError::PayloadTooLarge(REDELIVER_BODY_MAX));
                }
                body.extend_from_slice(&chunk);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType("application/json"));
            }
            Ok(OptionalRedeliverRequest(read_redeliver(&body)?))
        })
    }
}

/// A delivery queued by a redelivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueuedDeliveryDto {
    #[schema(example = "whd_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub delivery_id: String,
    #[schema(example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub endpoint_id: String,
}

/// What a redelivery queued: one delivery per endpoint, sent by the worker
/// like any other (and logged in each endpoint's deliveries).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedeliveryDto {
    #[schema(example = "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Empty when no enabled endpoint subscribes to the event's type.
    pub deliveries: Vec<QueuedDeliveryDto>,
}

/// The deliveries of the endpoint, attempt by attempt, newest first.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/webhook-endpoints/{endpoint_id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhook-endpoints",
    params(("endpoint_id" = String, Path, description = "Webhook endpoint id", example = "we_0197c5e2a4b07d3e9f1a2b3c4d5e6f70"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts, newest first", body = Paginated<WebhookAttemptDto>),
        (status = 403, description = "Only admins and staff read webhook deliveries", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookEndpointId::parse(&path).ok_or(ApiError::NotFound("webhook endpoint"))?;
    let page = webhook_delivery::attempts(&state.store, &account, &id, &query.page()?).await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<WebhookAttemptDto>::new(page, |a| {
            a.attempt.id.clone()
        })),
    )
}

/// Send an event again (admin): to one endpoint, or to every enabled
/// endpoint subscribed to its type. The body is optional.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/events/{event_id}/redeliver", operation_id = "redeliver_event", tag = "events",
    request_body(content = Option<RedeliverRequest>, description = "Optional: `{}` or no body sends to every subscribed endpoint"),
    params(("event_id" = String, Path, description = "Event id", example = "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 202, description = "Queued: the deliveries go out like any other", body = RedeliveryDto),
        (status = 403, description = "Only admins and staff redeliver events", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event on this account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`endpoint_id` is not a webhook endpoint of this account, or the body is not `{}`, `null` or `{\"endpoint_id\": ...}`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn redeliver(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: OptionalRedeliverRequest,
) -> Result<HttpResponse, ApiError> {
    let event_id = EventId::parse(&path).ok_or(ApiError::NotFound("event"))?;
    let endpoint = match body.0.and_then(|b| b.endpoint_id) {
        Some(raw) => Some(WebhookEndpointId::parse(&raw).ok_or_else(|| {
            ApiError::validation(
                webhook_delivery::ENDPOINT_FIELD,
                webhook_delivery::NOT_AN_ENDPOINT,
            )
        })?),
        None => None,
    };
    let (event_type, queued) =
        webhook_delivery::redeliver(&state.store, &ctx, &account, &event_id, endpoint.as_ref())
            .await?;
    Ok(HttpResponse::Accepted().json(RedeliveryDto {
        event_id: event_id.to_string(),
        event_type,
        deliveries: queued
            .into_iter()
            .map(
                |Queued {
                     delivery_id,
                     endpoint_id,
                 }| QueuedDeliveryDto {
                    delivery_id: delivery_id.to_string(),
                    endpoint_id: endpoint_id.to_string(),
                },
            )
            .collect(),
    }))
}
