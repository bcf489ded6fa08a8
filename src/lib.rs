//! Comptoir: the billing back-office API of a cloud-telephony customer dashboard.
//!
//! Requests flow `api` -> `service` -> `store`, and every layer may use `domain`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
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
pub mod pa;
pub mod render;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod vies;
pub mod webhooks;

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
    /// Keys the fingerprints of idempotent request bodies.
    pub body_key: crypto::BodyKey,
    /// Verifies the payment provider's webhook signatures.
    pub webhook_secret: Option<config::Secret>,
    /// Who issues the invoices.
    pub seller: domain::seller::Seller,
    /// How long a billing run's drafts wait before they are finalized.
    pub invoice_grace: time::Duration,
    /// Checks buyers' VAT numbers.
    pub vies: vies::Vies,
    /// Verifies the e-invoicing platform's webhook signatures.
    pub pa_webhook_secret: Option<config::Secret>,
    /// Webhook endpoints may target private addresses (development, tests).
    pub webhook_allow_private: bool,
    /// Wakes this server's test clock worker when an advance starts.
    pub test_clock_wake: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// How this server makes invoices: the seller, the grace period and VIES.
    pub fn billing(&self) -> service::invoices::Billing {
        service::invoices::Billing {
            seller: self.seller.clone(),
            grace: self.invoice_grace,
            vies: Some(self.vies.clone()),
            files: self.blobs.clone(),
        }
    }

    /// Who issues credit notes and acompte invoices: the seller, and where
    /// their e-invoice files go.
    pub fn issuer(&self) -> service::issuing::Issuer {
        service::issuing::Issuer {
            seller: self.seller.clone(),
            files: self.blobs.clone(),
        }
    }
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

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("COMPTOIR_DATA_KEY: {0}")]
    DataKey(#[from] crypto::CryptoError),
    #[error(
        "COMPTOIR_DATA_KEY is required with RS256/ES256: it keys the fingerprints of request bodies"
    )]
    NoBodyKey,
    #[error("the VIES client: {0}")]
    Vies(#[from] reqwest::Error),
    #[error("the e-invoicing platform's client (COMPTOIR_PA_URL): {0}")]
    Platform(reqwest::Error),
    #[error("the webhook delivery client: {0}")]
    WebhookClient(reqwest::Error),
    #[error("SMTP_URL or COMPTOIR_MAIL_FROM: {0}")]
    Mailer(#[from] service::outbox::MailerError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The running API and what its tests look into. `main` and the test suite
/// both start Comptoir through [`Application::build`], so the tests run the
/// server that ships.
pub struct Application {
    pub port: u16,
    pub server: Server,
    pub store: store::Store,
    pub clock: clock::Clock,
    pub keys: Arc<auth::JwtKeys>,
    pub blobs: store::blobs::BlobStore,
}

impl Application {
    /// Builds the server from `config` over an open, migrated `store`: the
    /// keys, the clock (`COMPTOIR_NOW` or the system's), the documents'
    /// directory, the SMTP worker when `SMTP_URL` is set, the e-invoicing
    /// worker when `COMPTOIR_PA_URL` is set, the webhook delivery worker
    /// (always), and the listener
    /// on `COMPTOIR_ADDR` (`127.0.0.1:0` takes a free port).
    pub fn build(config: &config::Config, store: store::Store) -> Result<Self, StartError> {
        api::events::install();
        let keys = Arc::new(auth::JwtKeys::from_config(&config.jwt)?);
        let clock = config
            .now
            .map_or_else(clock::Clock::system, clock::Clock::fixed);
        let blobs = store::blobs::BlobStore::new(&config.data_dir);
        match blobs.clear_temp() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(files = n, "removed uploads left half-written by a crash"),
            Err(e) => {
                tracing::warn!(error = %e, "could not clear the uploads' temporary directory")
            }
        }
        let data_key = config
            .data_key
            .as_ref()
            .map(|k| crypto::DataKey::from_base64(k.expose()))
            .transpose()?;
        let body_key = crypto::BodyKey::derive(
            data_key.as_ref(),
            config.jwt.secret.as_ref().map(config::Secret::expose),
        )
        .ok_or(StartError::NoBodyKey)?;
        match &config.smtp_url {
            Some(url) => {
                let mailer = service::outbox::Mailer::new(url.expose(), &config.mail_from)?;
                let settings = service::outbox::Settings::default();
                tokio::spawn(service::outbox::worker(
                    store.clone(),
                    blobs.clone(),
                    mailer,
                    settings,
                ));
                tracing::info!("invoice emails are delivered through SMTP_URL");
            }
            None => tracing::warn!("SMTP_URL is not set: invoice emails are queued, not sent"),
        }
        match &config.pa {
            Some(pa) => {
                let platform = pa::Platform::new(&pa.url, pa.token.clone(), pa.timeout)
                    .map_err(StartError::Platform)?;
                let settings = service::outbox::Settings::default();
                tokio::spawn(service::pa_delivery::worker(
                    store.clone(),
                    blobs.clone(),
                    platform,
                    clock.clone(),
                    settings,
                ));
                tracing::info!(url = %pa.url, "e-invoices are deposited on the approved platform");
            }
            None => tracing::warn!(
                "COMPTOIR_PA_URL is not set: e-invoices are queued for the approved platform, not sent"
            ),
        }
        // Always: events are written whether or not an endpoint waits for
        // them, and an account may add one at any time.
        let webhook_settings = service::webhook_delivery::Settings::new(&config.webhook_delivery);
        let sender = service::webhook_delivery::Sender::new(
            webhooks::TargetPolicy {
                allow_private: config.webhook_allow_private,
            },
            webhook_settings.timeout,
        )
        .map_err(StartError::WebhookClient)?;
        tokio::spawn(service::webhook_delivery::worker(
            store.clone(),
            sender,
            clock.clone(),
            webhook_settings,
        ));
        let vies = vies::Vies::new(
            &config.vies_url,
            config.vies_timeout,
            &config.seller.vat_number,
        )?;
        // Always: test clocks are advanced by whichever server claims them.
        let test_clock_wake = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(service::test_clocks::worker(
            store.clone(),
            service::invoices::Billing {
                seller: config.seller.clone(),
                grace: config.invoice_grace,
                vies: Some(vies.clone()),
                files: blobs.clone(),
            },
            config.test_clocks,
            test_clock_wake.clone(),
        ));
        let listener = TcpListener::bind(&config.addr).map_err(|source| StartError::Bind {
            addr: config.addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.addr.clone(),
                source,
            })?
            .port();
        let state = AppState {
            store: store.clone(),
            clock: clock.clone(),
            keys: keys.clone(),
            max_body_bytes: config.max_body_bytes,
            blobs: blobs.clone(),
            data_key,
            body_key,
            webhook_secret: config.webhook_secret.clone(),
            seller: config.seller.clone(),
            invoice_grace: config.invoice_grace,
            vies,
            pa_webhook_secret: config.pa_webhook_secret.clone(),
            webhook_allow_private: config.webhook_allow_private,
            test_clock_wake,
        };
        let server = run(listener, state, config.cors_origins.clone()).map_err(|source| {
            StartError::Bind {
                addr: config.addr.clone(),
                source,
            }
        })?;
        Ok(Self {
            port,
            server,
            store,
            clock,
            keys,
            blobs,
        })
    }
}

async fn to_swagger_ui() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Found()
        .insert_header((header::LOCATION, "/swagger-ui/"))
        .finish()
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
            // A person typing the host, or the UI's path without its slash,
            // lands on the Swagger UI.
            .service(web::resource(["/", "/swagger-ui"]).route(web::get().to(to_swagger_ui)))
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .url("/api-docs/openapi.json", spec.clone())
                    .config(utoipa_swagger_ui::Config::default().persist_authorization(true)),
            )
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(error::ApiError::RouteNotFound)
            }))
            .wrap(from_fn(api::scope::mark_test_responses))
            // Inside CORS, so that a browser's frontend can read the 431.
            .wrap(from_fn(error::limit_headers))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(from_fn(error::problem_for_bare_errors))
            .wrap(from_fn(telemetry::request_id))
            // Outermost, so errors, the Swagger UI and health checks carry it
            // too: a browser never guesses another type than the one sent.
            .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
    })
    .listen(listener)?
    .run();
    Ok(server)
}
