//! Comptoir: the billing back-office API of a cloud-telephony customer dashboard.
//!
//! Requests flow `api` -> `service` -> `store`, and every layer may use `domain`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod render;
pub mod service;
pub mod store;
pub mod telemetry;

/// What every request handler shares.
pub struct AppState {
    pub store: store::Store,
    pub clock: clock::Clock,
    pub keys: Arc<auth::JwtKeys>,
    pub max_body_bytes: usize,
    /// Documents' bytes.
    pub blobs: store::blobs::BlobStore,
    /// Encrypts IBANs and keys card fingerprints; payment methods need it.
    pub data_key: Option<crypto::DataKey>,
    /// Verifies the payment provider's webhook signatures.
    pub webhook_secret: Option<config::Secret>,
    /// Who issues the invoices.
    pub seller: domain::seller::Seller,
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::ApiDoc::openapi()
}

/// The OpenAPI document as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().expect("the spec serialises");
    text.push('\n');
    text
}

fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static(telemetry::REQUEST_ID_HEADER),
        ])
        .expose_headers([
            header::CONTENT_DISPOSITION,
            header::HeaderName::from_static(telemetry::REQUEST_ID_HEADER),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600)
}

/// Serves the API on `listener`. CORS is on only for `cors_origins`.
pub fn run(
    listener: TcpListener,
    state: AppState,
    cors_origins: Vec<String>,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let spec = openapi();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(api::extractor_config)
            .configure(api::configure)
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .url("/api-docs/openapi.json", spec.clone())
                    .config(utoipa_swagger_ui::Config::default().persist_authorization(true)),
            )
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(error::ApiError::RouteNotFound)
            }))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(from_fn(error::problem_for_bare_errors))
            .wrap(from_fn(telemetry::request_id))
    })
    .listen(listener)?
    .run();
    Ok(server)
}
