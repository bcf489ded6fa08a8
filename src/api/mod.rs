//! HTTP: one file per resource (handlers, DTOs, `#[utoipa::path]`), the
//! route table and the OpenAPI document built from the handlers.

use actix_web::web;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, FieldError, Problem};

pub mod accounts;
pub mod addresses;
pub mod audit;
pub mod charges;
pub mod consumption;
pub mod contacts;
pub mod credit_notes;
pub mod credits;
pub mod documents;
pub mod e_invoicing;
pub mod events;
pub mod exchange_rates;
pub mod extract;
pub mod health;
pub mod invoice_payments;
pub mod invoices;
pub mod licenses;
pub mod payments;
pub mod plans;
pub mod recipients;
pub mod routes;
pub mod scope;
pub mod test_clocks;
pub mod users;
pub mod validate;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

/// Registers the route table. Each path is one resource, so a wrong method
/// gets 405. The routes of one account share a scope: actix tries resources
/// in order, one regex each, and the scope's prefix is matched once instead
/// of once per account route (5 % of the server's time under load went to
/// routing). Within each, static segments come before parameters.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut resources: Vec<(String, Vec<routes::Route>)> = Vec::new();
    for route in routes::table() {
        match resources.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, same_path)) => same_path.push(route),
            None => resources.push((route.path.clone(), vec![route])),
        }
    }
    resources.sort_by(|(a, _), (b, _)| routes::routing_key(a).cmp(&routes::routing_key(b)));
    let resource = |path: &str, routes: &[routes::Route]| {
        routes
            .iter()
            .fold(web::resource(path), |r, route| r.route(route.actix()))
    };
    let mut scope = web::scope(routes::ACCOUNT_SCOPE);
    let mut top = Vec::new();
    for (path, same_path) in &resources {
        match path.strip_prefix(routes::ACCOUNT_SCOPE) {
            Some(rest) => scope = scope.service(resource(rest, same_path)),
            None => top.push(resource(path, same_path)),
        }
    }
    cfg.service(scope);
    for r in top {
        cfg.service(r);
    }
}

/// Extractor errors (query, path) as problem+json.
pub fn extractor_config(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::InvalidPath(e.to_string()).into()),
        );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Comptoir",
        description = "Billing back-office API (Facturation) of a cloud-telephony customer dashboard: \
plans, accounts, licenses, credits, consumption and invoices.\n\n\
Authenticate with a bearer JWT (`Authorize` button). Errors are RFC 9457 problem+json documents \
with a stable `code`. Amounts are decimal strings with a `currency` beside them.\n\n\
Test accounts (`acc_test...`, opened on a test clock: see `POST /v1/test-clocks`) live at their \
clock's time; every response about one carries the header `Comptoir-Test-Clock` and, in a JSON \
object body, `\"test\": true`.",
        version = env!("CARGO_PKG_VERSION"),
    ),
    components(schemas(Problem, FieldError, exchange_rates::RatedCurrency)),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "plans", description = "The catalog of plans and prices"),
        (name = "exchange-rates", description = "ECB reference rates that state the VAT of non-EUR invoices in euros"),
        (name = "accounts", description = "Customer accounts"),
        (name = "audit", description = "Who changed what, and when"),
        (name = "contacts", description = "Useful contacts of an account"),
        (name = "consumption", description = "Calls and SMS: batch ingestion, detailed consumption, totals and exports"),
        (name = "invoices", description = "Invoices and the upcoming invoice"),
        (name = "credit notes", description = "Credit notes (factures d'avoir) correcting issued invoices, and refunds of their credit"),
        (name = "e-invoicing", description = "The approved e-invoicing platform (PA): what was deposited, the lifecycle statuses it reports (signed webhook), and the documents staff must correct"),
        (name = "charges", description = "One-off charges (porting, set-up) that staff add, billed on the next invoice"),
        (name = "licenses", description = "License quotes, licenses, assignment and additional phone numbers"),
        (name = "users", description = "Users and teams (licenses are assigned to users)"),
        (name = "payment-methods", description = "Card and SEPA debit, shown masked"),
        (name = "credits", description = "Prepaid credits: balance, ledger, top-ups, auto-recharge, payment webhook"),
        (name = "documents", description = "Kbis, identity, contracts and other documents"),
        (name = "billing-addresses", description = "Billing addresses, their verification, history and change requests"),
        (name = "events", description = "What happened to an account (kept 30 days), as its webhook endpoints receive it"),
        (name = "webhook-endpoints", description = "Where an account's events are sent: signed (Standard Webhooks), retried for 3 days, with a delivery log"),
        (name = "test-clocks", description = "Test clocks: test accounts living at a time a CI script moves forward, to watch a billing cycle happen (recipe in POST /v1/test-clocks)"),
        (name = "webhooks", description = "The requests Comptoir sends to webhook endpoints, one per event type"),
    )
)]
struct BaseDoc;

/// The OpenAPI document: the base above, the paths of the route table with
/// their access, then the shared security schemes and error responses.
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = BaseDoc::openapi();
        let mut schemas = Vec::new();
        for route in routes::table() {
            doc.paths.add_path_operation(
                &route.path,
                vec![route.method.clone()],
                route.operation(),
            );
            route.schemas(&mut schemas);
        }
        schemas.extend(events::schemas());
        doc.components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        doc.webhooks = Some(events::webhooks());
        SecurityAndErrors.modify(&mut doc);
        doc
    }
}

/// Adds the bearer scheme and, to every operation, the error responses that
/// the shared machinery can produce for it (authentication, body parsing,
/// path lookups, pagination, internal errors).
struct SecurityAndErrors;

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                crate::error::PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// The `Idempotency-Key` header as the extractor checks it: 1 to 255
/// printable ASCII characters, no spaces.
fn constrain_idempotency_key(op: &mut Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && p.name == extract::IDEMPOTENCY_HEADER
        {
            p.schema = Some(RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[!-~]{1,255}$"))
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .into(),
            ));
        }
    }
}

/// Realistic examples for the parameters every list or export shares (the
/// path ids have theirs on each handler). A cursor has none: it is the
/// position a previous page returned, whose shape differs per list.
fn add_parameter_examples(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        let RefOr::T(p) = p else { continue };
        let has_one = serde_json::to_value(&*p).is_ok_and(|v| v.get("example").is_some());
        let example = match p.name.as_str() {
            "limit" => serde_json::json!(20),
            "from" => serde_json::json!("2026-04-01"),
            "to" => serde_json::json!("2026-04-30"),
            "Accept-Language" => serde_json::json!("en"),
            extract::IDEMPOTENCY_HEADER => {
                serde_json::json!("b8f1c2d4-5e6a-4b7c-9d0e-1f2a3b4c5d6e")
            }
            _ => continue,
        };
        if !has_one {
            let builder: utoipa::openapi::path::ParameterBuilder = p.clone().into();
            *p = builder.example(Some(example)).build();
        }
    }
}

fn add_errors(op: &mut Operation) {
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    let params: Vec<ParameterIn> = op
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p.parameter_in.clone()),
            RefOr::Ref(_) => None,
        })
        .collect();
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if !public {
        wanted.push(("401", "Missing, invalid or expired bearer token"));
        // Every role is refused something: a token may be valid and still
        // not allowed here (an integration reading an account, say).
        wanted.push(("403", "The token's role does not allow this operation"));
    }
    if op.request_body.is_some() {
        wanted.extend([
            ("400", "The body is not valid JSON"),
            ("413", "The body is too large"),
            ("415", "The body is not application/json"),
            ("422", "Invalid fields: see errors[]"),
        ]);
    }
    if params.contains(&ParameterIn::Query) {
        wanted.extend([
            ("400", "The query string cannot be read"),
            ("422", "Invalid query parameters: see errors[]"),
        ]);
    }
    if params.contains(&ParameterIn::Path) {
        wanted.push(("404", "Not found"));
    }
    wanted.push(("500", "Internal error (details are only logged)"));
    if !public {
        wanted.push((
            "503",
            "The database is not reachable (database_unavailable): retry later",
        ));
    }
    for (status, description) in wanted {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    }
}

/// `Paginated<T>` is generic: utoipa inlines `T` in each `Paginated_T`.
/// A page's `data` refers to the item's own schema instead, so a generated
/// client has one `InvoiceDto` type whether it comes alone or in a page.
fn pages_reference_their_items(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let mut moved = Vec::new();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name.strip_prefix("Paginated_") else {
            continue;
        };
        let RefOr::T(Schema::Object(page)) = schema else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data") else {
            continue;
        };
        let ArrayItems::RefOrSchema(items) = &mut data.items else {
            continue;
        };
        if let RefOr::T(inline) =
            std::mem::replace(items.as_mut(), RefOr::Ref(Ref::from_schema_name(item)))
        {
            moved.push((item.to_owned(), inline));
        }
    }
    for (item, inline) in moved {
        components.schemas.entry(item).or_insert(RefOr::T(inline));
    }
}

/// Response objects carry every field, `null` when there is no value (no
/// response field is skipped when serialised): the document says so, so a
/// generated client types them `T | null`, never "maybe absent". Schemas
/// that requests use keep their optional fields; `Problem` keeps `errors`
/// optional (present on 422 only).
fn every_response_field_present(openapi: &mut utoipa::openapi::OpenApi) {
    use std::collections::BTreeSet;

    use utoipa::openapi::schema::Schema;

    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                map.values().for_each(|x| refs(x, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    fn require_all(schema: &mut Schema) {
        match schema {
            Schema::Object(o) => o.required = o.properties.keys().cloned().collect(),
            Schema::AllOf(all) => {
                for item in &mut all.items {
                    if let RefOr::T(s) = item {
                        require_all(s);
                    }
                }
            }
            _ => {}
        }
    }

    let Ok(doc) = serde_json::to_value(&*openapi) else {
        return;
    };
    let schemas = &doc["components"]["schemas"];
    // What requests reach (bodies and parameters, through references).
    let mut roots = Vec::new();
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            refs(&op["requestBody"], &mut roots);
            refs(&op["parameters"], &mut roots);
        }
    }
    let mut in_requests = BTreeSet::new();
    while let Some(name) = roots.pop() {
        if in_requests.insert(name.clone()) {
            refs(&schemas[&name], &mut roots);
        }
    }
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for (name, schema) in components.schemas.iter_mut() {
        if name == "Problem" || in_requests.contains(name) {
            continue;
        }
        if let RefOr::T(schema) = schema {
            require_all(schema);
        }
    }
}

impl Modify for SecurityAndErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed by Comptoir (`comptoir token --role admin --account acc_demo`) \
                         or by the configured identity provider",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "webhook_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                credits::SIGNATURE_HEADER,
                "The payment provider signs each webhook call instead of sending a token. \
                 The `Comptoir-Signature` header reads `t=<unix seconds>,v1=<signature>`, where the \
                 signature is the hex HMAC-SHA256 of `<t>.<raw request body>` keyed with the shared \
                 webhook secret (`COMPTOIR_WEBHOOK_SECRET`). A call whose signature does not match, \
                 or whose timestamp is more than 5 minutes away from the server's clock, is refused \
                 with 401 `invalid_signature`.",
            ))),
        );
        pages_reference_their_items(openapi);
        every_response_field_present(openapi);
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                constrain_idempotency_key(op);
                add_parameter_examples(op);
                add_errors(op);
            }
        }
    }
}
