//! `/v1/accounts/{a}/events`: what happened to an account, as its webhook
//! endpoints receive it; and the presenter that gives each event's object
//! its API shape (installed in the service layer at start).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, Paths, PathsBuilder, Ref, RefOr, ResponseBuilder,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::addresses::BillingAddressDto;
use super::credit_notes::{CreditNoteDto, credit_note_dto};
use super::credits::{CreditsDto, TopUpDto, credits_dto, top_up_dto};
use super::e_invoicing::{EInvoiceStatusDto, summary_dto};
use super::extract::{PageQuery, Paginated};
use super::invoices::InvoiceDto;
use super::licenses::{LicenseDto, PhoneNumberDto, number_dto};
use super::payments::PaymentMethodDto;
use super::scope::{AccountScope, ItemId};
use super::webhook_endpoints::WebhookEndpointDto;
use crate::AppState;
use crate::domain::event::EventType;
use crate::domain::ids::EventId;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::events::{self, Object};
use crate::store::events::EventRow;

/// The object of an event as the API returns it (the presenter the service
/// layer writes events with).
pub fn present(object: &Object<'_>) -> serde_json::Value {
    fn json<T: Serialize>(dto: T) -> serde_json::Value {
        serde_json::to_value(dto).unwrap_or(serde_json::Value::Null)
    }
    match *object {
        Object::Invoice(i, summary) => {
            let mut dto = InvoiceDto::from(i.clone());
            dto.e_invoicing = summary.map(|s| summary_dto(s.clone(), Some(i.status)));
            json(dto)
        }
        Object::CreditNote(n) => json(credit_note_dto(n.clone())),
        Object::License(l) => json(LicenseDto::from(l.clone())),
        Object::PhoneNumber(n, currency) => json(number_dto(n.clone(), currency)),
        Object::TopUp(t, currency) => json(top_up_dto(t.clone(), currency)),
        Object::Credits(state, currency) => json(credits_dto(state, currency)),
        Object::PaymentMethod(m) => json(PaymentMethodDto::from(m.clone())),
        Object::BillingAddress(a) => json(BillingAddressDto::from(a.clone())),
        Object::WebhookEndpoint(e) => json(WebhookEndpointDto::from(e)),
        Object::EInvoiceStatus(d) => json(EInvoiceStatusDto::from(d)),
    }
}

/// Installs [`present`] for the service layer.
pub fn install() {
    events::install(present);
}

/// An event: the body its webhook deliveries carry, byte for byte.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDto {
    /// Also the `webhook-id` header of its deliveries.
    #[schema(example = "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// RFC 3339.
    #[schema(example = "2026-04-09T10:00:00Z")]
    pub created_at: String,
    #[schema(example = "acc_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")]
    pub account_id: String,
    /// An event of a test account (dated by its test clock).
    #[serde(default)]
    #[schema(example = false)]
    pub test: bool,
    pub data: EventDataDto,
}

/// What the event is about.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDataDto {
    /// The resource as the API returned it when the event happened; which
    /// one depends on the type (see the `webhooks` section).
    #[schema(schema_with = any_object)]
    pub object: serde_json::Value,
}

/// One of the resources an event may carry.
fn any_object() -> utoipa::openapi::schema::Schema {
    let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.object()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .fold(utoipa::openapi::schema::OneOfBuilder::new(), |b, name| {
            b.item(Ref::from_schema_name(name))
        })
        .build()
        .into()
}

impl TryFrom<EventRow> for EventDto {
    type Error = ApiError;

    fn try_from(row: EventRow) -> Result<Self, ApiError> {
        serde_json::from_str(&row.body).map_err(ApiError::internal)
    }
}

/// The schemas events refer to (added to the document's components).
pub fn schemas() -> Vec<(String, RefOr<utoipa::openapi::schema::Schema>)> {
    vec![
        (EventDto::name().into(), EventDto::schema()),
        (EventDataDto::name().into(), EventDataDto::schema()),
        (EventType::name().into(), EventType::schema()),
        (InvoiceDto::name().into(), InvoiceDto::schema()),
        (CreditNoteDto::name().into(), CreditNoteDto::schema()),
        (LicenseDto::name().into(), LicenseDto::schema()),
        (PhoneNumberDto::name().into(), PhoneNumberDto::schema()),
        (TopUpDto::name().into(), TopUpDto::schema()),
        (CreditsDto::name().into(), CreditsDto::schema()),
        (PaymentMethodDto::name().into(), PaymentMethodDto::schema()),
        (
            BillingAddressDto::name().into(),
            BillingAddressDto::schema(),
        ),
        (
            WebhookEndpointDto::name().into(),
            WebhookEndpointDto::schema(),
        ),
        (
            EInvoiceStatusDto::name().into(),
            EInvoiceStatusDto::schema(),
        ),
    ]
}

/// The OpenAPI 3.1 `webhooks`: one request per event type, as an endpoint
/// receives it (its body, the Standard Webhooks headers, the answer wanted).
pub fn webhooks() -> Paths {
    EventType::ALL
        .iter()
        .fold(PathsBuilder::new(), |paths, t| {
            let body = AllOfBuilder::new()
                .item(Ref::from_schema_name("EventDto"))
                .item(
                    ObjectBuilder::new()
                        .property(
                            "type",
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some([t.as_str()])),
                        )
                        .property(
                            "data",
                            ObjectBuilder::new()
                                .property("object", Ref::from_schema_name(t.object()))
                                .required("object"),
                        ),
                );
            let header = |name: &str, description: &str, example: &str| {
                utoipa::openapi::path::ParameterBuilder::new()
                    .name(name)
                    .parameter_in(utoipa::openapi::path::ParameterIn::Header)
                    .required(utoipa::openapi::Required::True)
                    .description(Some(description))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .example(Some(serde_json::json!(example)))
                    .build()
            };
            let operation = OperationBuilder::new()
                .operation_id(Some(t.as_str()))
                .summary(Some(t.description()))
                .description(Some(format!(
                    "`data.object` is a `{}`. Verify the signature before trusting the body; \
                     answer 2xx within 10 s, or the delivery is retried.",
                    t.object()
                )))
                .tag("webhooks")
                .parameter(header(
                    "webhook-id",
                    "The event's id: the same on every retry (deduplicate on it).",
                    "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70",
                ))
                .parameter(header(
                    "webhook-timestamp",
                    "Unix seconds when this attempt was signed (refuse old ones).",
                    "1775728800",
                ))
                .parameter(header(
                    "webhook-signature",
                    "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` \
                     keyed by the endpoint's secret (base64 after `whsec_`); two, space-separated, \
                     for 24 h after a rotation.",
                    "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
                ))
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", ContentBuilder::new().schema(Some(body)).build())
                        .required(Some(utoipa::openapi::Required::True))
                        .build(),
                ))
                .response(
                    "2XX",
                    ResponseBuilder::new().description("Received: the delivery is done").build(),
                )
                .response(
                    "default",
                    ResponseBuilder::new()
                        .description("Anything else, or no answer within 10 s: retried with backoff for 3 days")
                        .build(),
                )
                .build();
            paths.path(t.as_str(), PathItem::new(HttpMethod::Post, operation))
        })
        .build()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only the events of this type.
    #[param(inline, value_type = Option<EventType>)]
    #[serde(rename = "type")]
    pub event_type: Option<String>,
}

fn event_id(raw: &str) -> Result<EventId, ApiError> {
    EventId::parse(raw).ok_or(ApiError::NotFound("event"))
}

/// The account's events, newest first (kept 30 days).
#[utoipa::path(get, path = "/v1/accounts/{account_id}/events", operation_id = "list_events", tag = "events",
    params(EventFilter, PageQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = Paginated<EventDto>),
        (status = 403, description = "Only admins and staff read events", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`type` is not an event type", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<EventFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let event_type = errors.check_opt(
        "type",
        filter.event_type.as_deref(),
        EventType::parse,
        "is not an event type (see the webhooks section of the OpenAPI document)",
    );
    let page = errors.keep(query.page());
    errors.finish()?;
    let page = page.ok_or_else(|| ApiError::internal("page checked"))?;
    let page = events::list(&state.store, &account, event_type, &page).await?;
    let next_cursor = page
        .has_more
        .then(|| {
            page.items
                .last()
                .map(|e| super::extract::encode_cursor(&e.id))
        })
        .flatten();
    let data = page
        .items
        .into_iter()
        .map(EventDto::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated { data, next_cursor }))
}

/// An event.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/events/{event_id}", operation_id = "get_event", tag = "events",
    params(("event_id" = String, Path, description = "Event id", example = "evt_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The event", body = EventDto),
        (status = 403, description = "Only admins and staff read events", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event on this account (or older than 30 days)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = event_id(&path)?;
    let event = events::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(EventDto::try_from(event)?))
}
