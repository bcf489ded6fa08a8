//! `/v1/accounts/{a}/webhook-endpoints`: where an account's events are sent.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::webhook::WebhookEndpoint;

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
