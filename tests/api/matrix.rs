//! The tenant-isolation and role matrix, driven by the committed OpenAPI
//! document: every operation of `openapi/openapi.json` is called with another
//! account's tokens, a viewer's, an integration's, no token, and a customer
//! admin's on staff-only operations. Each refusal must carry exactly the
//! status and code the API promises, be documented in the spec, and change
//! nothing stored (every row of every table and every document file is
//! compared before and after). A control test sends the same requests as
//! staff and checks that they are accepted, so that the refusals are the
//! tenant and role checks, not a missing fixture or a malformed body.
//!
//! Who may call an operation is read from its declared access: the role names
//! the route table puts in its `bearer` security scopes (plus a documented
//! `requires_support` 403, a staff-only use of an operation customers reach).
//!
//! A route added to the spec is covered without editing this file, as long as
//! its path parameters and request body are known here (or the spec carries a
//! request example); when they are not, the test fails and says what to add.

use std::collections::{BTreeMap, BTreeSet};

use comptoir::auth::JwtKeys;
use comptoir::domain::role::Role;
use comptoir::store::Store;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{PA_WEBHOOK_SECRET, TestApp, WEBHOOK_SECRET, jwt_config, spawn_app_with};

// ---------------------------------------------------------------------------
// Known exceptions
// ---------------------------------------------------------------------------

/// Cases that fail today because of a server bug that has been reported but
/// not fixed yet: `(test/case, operationId, check, why)`. Such a failure is
/// printed but does not fail the test; a listed case that passes again fails
/// the test, so that its entry is removed once the bug is fixed.
const KNOWN_EXCEPTIONS: &[(&str, &str, Check, &str)] = &[];

/// What a case checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// The status and problem code of the answer.
    Answer,
    /// Nothing stored changed.
    Unchanged,
    /// The spec documents the status the operation answers.
    Documented,
    /// The answer shows nothing of another account.
    NoLeak,
}

// ---------------------------------------------------------------------------
// The operations, read from the committed spec
// ---------------------------------------------------------------------------

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// One operation of the spec, with what the spec says about who may call it.
#[derive(Debug, Clone)]
struct Op {
    id: String,
    method: Method,
    path: String,
    /// The security schemes that admit a caller (one of them suffices).
    schemes: Vec<String>,
    /// The spec lets anyone call it (an empty security requirement).
    public: bool,
    /// The request body's content type, if the operation takes one.
    body: Option<String>,
    required_query: Vec<String>,
    /// The roles its `bearer` security requirement admits (the route's
    /// declared access), empty when it takes no token.
    roles: Vec<String>,
    /// Reserved to staff: only `support` among its roles, or a 403 documented
    /// as "requires_support: ..." (a 403 that only mentions
    /// `requires_support` is a staff-only use of an operation customers may
    /// call: see `staff_only_uses`).
    staff_only: bool,
    /// The documented 403, if any.
    forbidden_doc: String,
    /// The statuses the spec documents.
    responses: BTreeSet<String>,
    /// A whole request body example from the spec, if it has one.
    body_example: Option<Value>,
}

impl Op {
    fn label(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.id)
    }

    fn bearer(&self) -> bool {
        self.schemes.iter().any(|s| s == "bearer")
    }

    fn account_scoped(&self) -> bool {
        self.path.contains("{account_id}")
    }

    fn is_read(&self) -> bool {
        self.method == Method::GET
    }

    fn path_params(&self) -> Vec<String> {
        self.path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    /// Has a path parameter naming a resource of the account.
    fn has_resource_param(&self) -> bool {
        self.account_scoped() && self.path_params().len() > 1
    }

    /// What a customer gets on a staff-only operation: `requires_support`
    /// where the spec documents it (the help page's "contact customer
    /// service" actions), else `forbidden`.
    fn staff_code(&self) -> &'static str {
        if self.forbidden_doc.contains("requires_support") {
            "requires_support"
        } else {
            "forbidden"
        }
    }

    fn admits(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }

    /// A viewer may call it: its roles include `viewer`.
    fn viewer_may(&self) -> bool {
        self.admits(Role::Viewer) && !self.staff_only
    }

    fn integration_may(&self) -> bool {
        self.admits(Role::Integration) && !self.staff_only
    }
}

/// The example of a media type: its `example`, its first `examples` entry,
/// or the `example` of its (referenced) schema.
fn spec_example(doc: &Value, media: &Value) -> Option<Value> {
    if let Some(e) = media.get("example") {
        return Some(e.clone());
    }
    if let Some(e) = media["examples"]
        .as_object()
        .and_then(|all| all.values().find_map(|e| e.get("value")))
    {
        return Some(e.clone());
    }
    let schema = &media["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(r) => doc.pointer(r.trim_start_matches('#'))?,
        None => schema,
    };
    schema.get("example").filter(|e| e.is_object()).cloned()
}

/// The scheme names of a list of security requirements.
fn schemes_of(security: &[Value]) -> Vec<String> {
    security
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().cloned())
        .collect()
}

struct Spec {
    ops: Vec<Op>,
    /// Security scheme name -> the header that carries it (API-key schemes).
    scheme_headers: BTreeMap<String, String>,
}

fn spec() -> Spec {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(file).expect("openapi/openapi.json is committed");
    let doc: Value = serde_json::from_str(&text).expect("the committed spec is JSON");
    let global = doc.get("security").cloned();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            let security = op
                .get("security")
                .or(global.as_ref())
                .and_then(Value::as_array)
                .unwrap_or_else(|| {
                    panic!(
                        "{method} {path}: the spec says nothing about its security \
                         (no operation or global `security`)"
                    )
                });
            let public = security
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
            let schemes = schemes_of(security);
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.keys().next().cloned());
            let body_example = body
                .as_ref()
                .and_then(|ct| spec_example(&doc, &op["requestBody"]["content"][ct]));
            let required_query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            let roles: Vec<String> = security
                .iter()
                .filter_map(|r| r.get("bearer"))
                .filter_map(Value::as_array)
                .flatten()
                .map(|r| r.as_str().expect("a role name").to_owned())
                .collect();
            assert!(
                !schemes_of(security).contains(&"bearer".to_owned()) || !roles.is_empty(),
                "{method} {path}: a bearer requirement without its roles as scopes"
            );
            let responses = op["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            let forbidden_doc = op["responses"]["403"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let staff_only =
                roles == [Role::Support.as_str()] || forbidden_doc.starts_with("requires_support:");
            ops.push(Op {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path: path.clone(),
                schemes,
                public,
                body,
                required_query,
                roles,
                staff_only,
                forbidden_doc,
                responses,
                body_example,
                id,
            });
        }
    }
    let scheme_headers = doc["components"]["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, s)| s["type"] == "apiKey" && s["in"] == "header")
        .map(|(name, s)| (name.clone(), s["name"].as_str().unwrap().to_owned()))
        .collect();
    assert!(
        ops.len() > 50,
        "the spec lists only {} operations",
        ops.len()
    );
    Spec {
        ops,
        scheme_headers,
    }
}

/// What a caller without credentials gets, per security scheme.
const SCHEME_CODES: &[(&str, &str)] = &[
    ("bearer", "unauthenticated"),
    ("webhook_signature", "invalid_signature"),
];

/// Values for required query parameters.
const QUERY_VALUES: &[(&str, &str)] = &[("format", "csv")];

// ---------------------------------------------------------------------------
// Fixtures: two accounts holding one of everything
// ---------------------------------------------------------------------------

/// Path parameter name (and a few body references) -> an id of one account.
pub type Ids = BTreeMap<&'static str, String>;

struct World {
    a: Ids,
    b: Ids,
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

async fn call_ok(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = app.request(method.clone(), path, Some(token));
    if let Some(b) = &body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(
        status.is_success(),
        "fixture {method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(2048, b'x');
    bytes
}

fn upload_form(doc_type: &str) -> Form {
    Form::new()
        .text("name", format!("Matrix {doc_type}"))
        .text("type", doc_type.to_owned())
        .part("file", Part::bytes(pdf()).file_name("matrix.pdf"))
}

async fn upload(app: &TestApp, account: &str, token: &str, doc_type: &str) -> String {
    let path = format!("/v1/accounts/{account}/documents");
    let res = app
        .request(Method::POST, &path, Some(token))
        .multipart(upload_form(doc_type))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "fixture upload {doc_type}: {body}");
    id_of(&body)
}

fn visa() -> Value {
    json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030,
           "cvc": "123", "holder_name": "Claire Martin"})
}

fn sepa() -> Value {
    json!({"iban": "FR76 3000 6000 0112 3456 7890 189", "bic": "BNPAFRPP",
           "account_holder": "Acme SAS", "mandate_reference": "RUM-2026-0001",
           "mandate_signed_on": "2026-04-01"})
}

fn paris() -> Value {
    json!({"company_name": "Acme SAS", "line1": "12 rue de la Paix", "postal_code": "75002",
           "city": "Paris", "country": "FR", "vat_number": "FR 40 303 265 045"})
}

fn madrid() -> Value {
    json!({"company_name": "Acme Iberia SL", "line1": "Calle Mayor 1", "postal_code": "28013",
           "city": "Madrid", "country": "ES", "vat_number": "ESA12345674"})
}

fn lyon() -> Value {
    json!({"company_name": "Acme Lyon", "line1": "1 place Bellecour", "postal_code": "69002",
           "city": "Lyon", "country": "FR"})
}

/// An account with one of each resource a path parameter can name.
async fn account_fixture(app: &TestApp, name: &str) -> Ids {
    let account = app.create_account(name).await;
    fixture_for(app, account).await
}

/// One of everything on `account` (a test account too: the test clock
/// tests delete one).
pub async fn fixture_for(app: &TestApp, account: String) -> Ids {
    let admin = app.admin(&account);
    let support = app.support();
    let base = format!("/v1/accounts/{account}");
    let post = |path: String, token: String, body: Option<Value>| async move {
        call_ok(app, Method::POST, &path, &token, body).await
    };

    let team = id_of(
        &post(
            format!("{base}/teams"),
            admin.clone(),
            Some(json!({"name": "Ventes"})),
        )
        .await,
    );
    let user = id_of(
        &post(
            format!("{base}/users"),
            admin.clone(),
            Some(json!({"name": "Léa Martin", "email": "lea@example.fr", "team_id": team})),
        )
        .await,
    );
    let holder = id_of(
        &post(
            format!("{base}/users"),
            admin.clone(),
            Some(json!({"name": "Hugo Bernard", "email": "hugo@example.fr"})),
        )
        .await,
    );
    post(
        format!("{base}/payment-methods/card"),
        admin.clone(),
        Some(visa()),
    )
    .await;
    let sepa = id_of(
        &post(
            format!("{base}/payment-methods/sepa"),
            support.clone(),
            Some(sepa()),
        )
        .await,
    );

    // The primary address, verified (numbers need one); a pending one; and a
    // verified one that is not primary (a customer may not delete it).
    let primary = id_of(
        &post(
            format!("{base}/billing-addresses"),
            admin.clone(),
            Some(paris()),
        )
        .await,
    );
    post(
        format!("{base}/billing-addresses/{primary}/verify"),
        support.clone(),
        None,
    )
    .await;
    let pending = id_of(
        &post(
            format!("{base}/billing-addresses"),
            admin.clone(),
            Some(madrid()),
        )
        .await,
    );
    let verified = id_of(
        &post(
            format!("{base}/billing-addresses"),
            admin.clone(),
            Some(lyon()),
        )
        .await,
    );
    post(
        format!("{base}/billing-addresses/{verified}/verify"),
        support.clone(),
        None,
    )
    .await;

    let document = upload(app, &account, &admin, "company_registration").await;
    let contract = upload(app, &account, &support, "contract").await;
    let mut change = madrid();
    change["line1"] = json!("Calle Mayor 2");
    change["document_id"] = json!(document);
    let request = id_of(
        &post(
            format!("{base}/billing-addresses/{pending}/change-requests"),
            admin.clone(),
            Some(change),
        )
        .await,
    );

    let contact = id_of(
        &post(
            format!("{base}/contacts"),
            admin.clone(),
            Some(json!({"name": "Marc Dubois", "email": "marc@example.fr",
                        "phone": "+33612345678", "role": "accounting"})),
        )
        .await,
    );
    let recipient = id_of(
        &post(
            format!("{base}/invoice-recipients"),
            admin.clone(),
            Some(json!({"email": "factures@example.fr"})),
        )
        .await,
    );
    let added = post(
        format!("{base}/licenses"),
        admin.clone(),
        Some(json!({"plan": "ADVANCED", "quantity": 1})),
    )
    .await;
    let license = id_of(&added["licenses"][0]);
    let events = call_ok(app, Method::GET, &format!("{base}/events"), &admin, None).await;
    let event = id_of(&events["data"][0]);
    call_ok(
        app,
        Method::PUT,
        &format!("{base}/licenses/{license}/assignee"),
        &admin,
        Some(json!({"user_id": holder})),
    )
    .await;
    let quote = post(
        format!("{base}/license-quotes"),
        admin.clone(),
        Some(json!({"plan": "ADVANCED", "quantity": 1})),
    )
    .await["quote_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let number = id_of(
        &post(
            format!("{base}/phone-numbers"),
            admin.clone(),
            Some(json!({"country": "FR"})),
        )
        .await,
    );
    let top_up = id_of(
        &post(
            format!("{base}/credits/top-ups"),
            admin.clone(),
            Some(json!({"amount": "20.00"})),
        )
        .await,
    );
    post(
        format!("{base}/consumption"),
        app.token(Role::Integration, Some(&account)),
        Some(json!({"records": [{
            "external_id": "fixture-1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
            "kind": "call", "direction": "outbound", "destination": "+32470123456",
            "country": "BE", "duration_seconds": 60, "cost": "1.00"
        }]})),
    )
    .await;

    // A webhook endpoint, disabled: no delivery writes in the background
    // while the matrix compares what is stored.
    let endpoint = id_of(
        &post(
            format!("{base}/webhook-endpoints"),
            admin.clone(),
            Some(json!({"url": "http://127.0.0.1:9/matrix", "events": ["*"], "enabled": false})),
        )
        .await,
    );

    // A test clock (staff's), for the test clock routes: an advance to the
    // spec's example (2026-05-01) is within its two months.
    let test_clock = id_of(
        &post(
            "/v1/test-clocks".to_owned(),
            app.support(),
            Some(json!({"name": "Matrix", "frozen_time": "2026-04-09T10:00:00Z"})),
        )
        .await,
    );

    Ids::from([
        ("account_id", account),
        ("test_clock_id", test_clock),
        ("endpoint_id", endpoint),
        ("address_id", pending),
        ("verified_address_id", verified),
        ("request_id", request),
        ("document_id", document),
        ("contract_id", contract),
        ("contact_id", contact),
        ("recipient_id", recipient),
        ("license_id", license),
        ("event_id", event),
        ("quote_id", quote),
        ("number_id", number),
        ("top_up_id", top_up),
        ("method_id", sepa),
        ("team_id", team),
        ("user_id", user),
        ("code", "ADVANCED".to_owned()),
        // Exchange rates are not an account's: any currency rates are kept
        // for, and a day before the world's clock.
        ("currency", "USD".to_owned()),
        ("date", "2026-04-30".to_owned()),
    ])
}

/// Accounts A and B, each with one of everything, an issued invoice and an
/// unbilled one-off charge.
async fn world(app: &TestApp) -> World {
    let mut a = account_fixture(app, "Alpha Télécom").await;
    let mut b = account_fixture(app, "Bravo Télécom").await;
    app.clock.set(time::macros::datetime!(2026-05-01 10:00 UTC));
    let run = call_ok(
        app,
        Method::POST,
        "/v1/billing-runs",
        &app.support(),
        Some(json!({"period": "2026-05"})),
    )
    .await;
    for ids in [&mut a, &mut b] {
        let issued = run["issued"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["account_id"] == ids["account_id"].as_str())
            .unwrap_or_else(|| panic!("no invoice issued for {}: {run}", ids["account_id"]));
        ids.insert(
            "invoice_id",
            issued["invoice_id"].as_str().unwrap().to_owned(),
        );
    }
    // A credit note of a cent of the invoice's first line; the credit note
    // names the line by its id (the invoice's id and the position).
    for ids in [&mut a, &mut b] {
        let line = format!("il_{}0001", ids["invoice_id"].strip_prefix("inv_").unwrap());
        let note = call_ok(
            app,
            Method::POST,
            &format!(
                "/v1/accounts/{}/invoices/{}/credit-notes",
                ids["account_id"], ids["invoice_id"]
            ),
            &app.support(),
            Some(json!({"reason": "Matrix fixture", "lines": [{"invoice_line": line, "amount": "0.01"}]})),
        )
        .await;
        ids.insert("credit_note_id", id_of(&note));
        ids.insert("invoice_line_id", line);
    }
    // A one-off charge added after the run: unbilled, so staff may delete it.
    for ids in [&mut a, &mut b] {
        let charge = call_ok(
            app,
            Method::POST,
            &format!("/v1/accounts/{}/charges", ids["account_id"]),
            &app.support(),
            Some(json!({"description": "Frais de portage", "unit_amount": "15.00", "quantity": 2})),
        )
        .await;
        ids.insert("charge_id", id_of(&charge));
    }
    World { a, b }
}

// ---------------------------------------------------------------------------
// Requests: a valid one per operation
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Body {
    None,
    Json(Value),
    /// A document upload of this type.
    Multipart(&'static str),
}

fn reference(ids: &Ids, key: &str) -> String {
    ids.get(key)
        .unwrap_or_else(|| panic!("no fixture `{key}`: add it to `account_fixture`"))
        .clone()
}

/// A minimal valid request body per operation, taking the ids it refers to
/// from `refs`. The spec has examples for some fields only, and its ids are
/// not the fixtures' ids, so the known operations use this table; an
/// operation missing from it falls back to the spec's own request example.
fn example(op: &Op, refs: &Ids) -> Result<Body, String> {
    let Some(content) = &op.body else {
        return Ok(Body::None);
    };
    let r = |key: &str| reference(refs, key);
    let json = match op.id.as_str() {
        "upload_document" => return Ok(Body::Multipart("company_registration")),
        "create_account" => json!({"name": "Matrix Télécom"}),
        "reject_change_request" | "reject_billing_address" => json!({"reason": "Kbis missing"}),
        "create_billing_address" => paris(),
        "update_billing_address" => json!({"city": "Lyon"}),
        "create_billing_address_change_request" => {
            let mut change = paris();
            change["city"] = json!("Nice");
            change["document_id"] = json!(r("document_id"));
            change
        }
        "ingest_consumption" => json!({"records": [{
            "external_id": "matrix-1", "occurred_at": "2026-04-09T08:00:00Z",
            "user_id": r("user_id"), "kind": "call", "direction": "outbound",
            "destination": "+33184800123", "country": "FR", "duration_seconds": 125,
            "cost": "0.35"
        }]}),
        "create_contact" => json!({"name": "Inès Leroy", "email": "ines@example.fr",
                                   "phone": "+33698765432", "role": "technical"}),
        "update_contact" => json!({"note": "Call in the morning"}),
        "adjust_credits" => json!({"amount": "15.00", "reason": "Geste commercial"}),
        "set_auto_recharge" => json!({"enabled": true, "threshold": "10.00", "amount": "50.00"}),
        "create_top_up" => json!({"amount": "30.00"}),
        "confirm_top_up" => json!({"status": "succeeded"}),
        "add_invoice_recipient" => json!({"email": "compta@example.fr"}),
        "change_invoice_recipient" => json!({"email": "finance@example.fr"}),
        "void_invoice" => json!({"reason": "Issued on the wrong account"}),
        "create_credit_note" => json!({"reason": "One license billed twice",
            "lines": [{"invoice_line": r("invoice_line_id"), "amount": "0.01"}]}),
        "create_credit_note_refund" => json!({"amount": "0.01",
            "refunded_at": "2026-04-09T09:00:00Z", "reference": "VIR REMB"}),
        "record_invoice_payment" => json!({"amount": "1.00", "paid_at": "2026-04-09T09:00:00Z",
                                           "method": "transfer", "reference": "VIR 42"}),
        "create_charge" => {
            json!({"description": "Mise en service", "unit_amount": "49.00", "quantity": 1})
        }
        "quote_licenses" => json!({"plan": "ADVANCED", "quantity": 1}),
        "add_licenses" => json!({"plan": "ADVANCED", "quantity": 1, "quote_id": r("quote_id")}),
        "assign_license" => json!({"user_id": r("user_id")}),
        "add_card" => visa(),
        "add_sepa_debit" => sepa(),
        "add_phone_number" => json!({"country": "FR"}),
        "create_team" => json!({"name": "Support"}),
        "update_team" => json!({"name": "Ventes Ouest"}),
        "create_user" => json!({"name": "Nora Petit", "email": "nora@example.fr",
                                "team_id": r("team_id")}),
        "update_user" => json!({"name": "Léa Martin-Roux", "team_id": r("team_id")}),
        "run_billing" => json!({"period": "2026-05"}),
        "update_plan" => json!({"name": "Advanced", "monthly_price": "64.00"}),
        "put_exchange_rate" => json!({"eur_rate": "1.0523"}),
        "payment_webhook" => json!({"id": "evt_matrix_1", "type": "top_up.succeeded",
                                    "data": {"top_up_id": r("top_up_id")}}),
        "e_invoicing_webhook" => json!({"id": "evt_matrix_pa_1", "document_id": r("invoice_id"),
                                        "code": "200"}),
        "create_webhook_endpoint" => {
            json!({"url": "http://127.0.0.1:9/erp", "events": ["invoice.paid"], "enabled": false})
        }
        "update_webhook_endpoint" => json!({"description": "ERP"}),
        "redeliver_event" => json!({"endpoint_id": r("endpoint_id")}),
        // A new operation: the spec's own example (the control test checks
        // that it is accepted), else ask for one.
        other => match &op.body_example {
            Some(e) if content == "application/json" => e.clone(),
            _ => {
                return Err(format!(
                    "no request body for operation `{other}` ({content}) and no example \
                     in the spec: add a minimal valid example to `example()` in \
                     tests/api/matrix.rs (or a request example to the operation)"
                ));
            }
        },
    };
    Ok(Body::Json(json))
}

/// The operation's URL with `ids` in its path (and its required query).
fn url(op: &Op, ids: &Ids) -> Result<String, String> {
    let mut url = op.path.clone();
    for name in op.path_params() {
        let id = ids.get(name.as_str()).ok_or_else(|| {
            format!(
                "no fixture for path parameter `{name}` of {}: create such a resource \
                 in `account_fixture` (tests/api/matrix.rs) and map `{name}` to its id",
                op.label()
            )
        })?;
        url = url.replace(&format!("{{{name}}}"), id);
    }
    let mut query = Vec::new();
    for name in &op.required_query {
        let (_, value) = QUERY_VALUES
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| {
                format!(
                    "no value for the required query parameter `{name}` of {}: add one \
                     to QUERY_VALUES",
                    op.label()
                )
            })?;
        query.push(format!("{name}={value}"));
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    Ok(url)
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    Bearer(&'a str),
    /// Signed for this API-key scheme, as the payment provider does.
    Signed(&'a str),
}

#[derive(Debug)]
struct Outcome {
    status: u16,
    content_type: String,
    code: String,
    /// The problem's own `status` member.
    problem_status: Option<u64>,
    detail: String,
    /// The body, as text (lossy for binary bodies).
    text: String,
}

impl Outcome {
    fn show(&self) -> String {
        if self.code.is_empty() {
            format!("{} ({})", self.status, self.content_type)
        } else {
            format!("{} {} ({})", self.status, self.code, self.detail)
        }
    }

    fn is(&self, status: u16, code: &str) -> bool {
        self.status == status
            && self.content_type == "application/problem+json"
            && self.code == code
            && self.problem_status == Some(u64::from(status))
    }
}

async fn send(
    app: &TestApp,
    spec: &Spec,
    op: &Op,
    url: &str,
    body: &Body,
    auth: Auth<'_>,
) -> Outcome {
    let token = match auth {
        Auth::Bearer(t) => Some(t),
        _ => None,
    };
    let mut req = app.request(op.method.clone(), url, token);
    if op.method != Method::GET {
        // A change with a fresh key: a refusal must not store the key either.
        let key = uuid::Uuid::new_v4().simple().to_string();
        req = req.header("Idempotency-Key", format!("matrix-{key}"));
    }
    match body {
        Body::None => {}
        Body::Json(value) => {
            let raw = value.to_string();
            if let Auth::Signed(scheme) = auth {
                let at = app.clock.now().unix_timestamp();
                // Each webhook has its own secret.
                let secret = match op.id.as_str() {
                    "e_invoicing_webhook" => PA_WEBHOOK_SECRET,
                    _ => WEBHOOK_SECRET,
                };
                let sig = comptoir::crypto::webhook_signature(secret, at, raw.as_bytes());
                let header = spec
                    .scheme_headers
                    .get(scheme)
                    .unwrap_or_else(|| panic!("scheme {scheme} has no header"));
                req = req.header(header.as_str(), format!("t={at},v1={sig}"));
            }
            req = req.header(CONTENT_TYPE, "application/json").body(raw);
        }
        Body::Multipart(doc_type) => req = req.multipart(upload_form(doc_type)),
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = res.bytes().await.unwrap_or_default();
    let (code, problem_status, detail) = if content_type == "application/problem+json" {
        let p: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (
            p["code"].as_str().unwrap_or_default().to_owned(),
            p["status"].as_u64(),
            p["detail"].as_str().unwrap_or_default().to_owned(),
        )
    } else {
        (String::new(), None, String::new())
    };
    Outcome {
        status,
        content_type,
        code,
        problem_status,
        detail,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// "Changes nothing": every row of every table, and every stored file
// ---------------------------------------------------------------------------

type Snapshot = BTreeMap<String, Vec<String>>;

/// One query per table, prepared once, that renders each row as text.
struct Fingerprint {
    queries: Vec<(String, String)>,
}

impl Fingerprint {
    async fn new(app: &TestApp) -> Self {
        let mut queries = Vec::new();
        match &app.store {
            Store::Sqlite(pool) => {
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for (table,) in tables {
                    let columns: Vec<(String,)> =
                        sqlx::query_as("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                            .bind(&table)
                            .fetch_all(pool)
                            .await
                            .unwrap();
                    let row = columns
                        .iter()
                        .map(|(c,)| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || '|' || ");
                    queries.push((table.clone(), format!("SELECT {row} FROM \"{table}\"")));
                }
            }
            Store::Pg(pool) => {
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     AND table_name <> '_sqlx_migrations' ORDER BY table_name",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for (table,) in tables {
                    queries.push((table.clone(), format!("SELECT t::text FROM \"{table}\" t")));
                }
            }
        }
        assert!(queries.len() > 10, "only {} tables found", queries.len());
        Self { queries }
    }

    async fn take(&self, app: &TestApp) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for (table, sql) in &self.queries {
            let rows: Vec<(String,)> = match &app.store {
                Store::Sqlite(pool) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .fetch_all(pool)
                        .await
                }
                Store::Pg(pool) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .fetch_all(pool)
                        .await
                }
            }
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut rows: Vec<String> = rows.into_iter().map(|(r,)| r).collect();
            rows.sort();
            snapshot.insert(table.clone(), rows);
        }
        let mut files = Vec::new();
        list_files(app.blobs.root(), &mut files);
        files.sort();
        snapshot.insert("(stored files)".into(), files);
        snapshot
    }
}

fn list_files(dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            list_files(&path, out);
        } else {
            let size = entry.metadata().map(|m| m.len()).unwrap_or_default();
            out.push(format!("{} ({size} bytes)", path.display()));
        }
    }
}

/// Which tables changed, and how.
fn diff(before: &Snapshot, after: &Snapshot) -> String {
    let cut = |s: &String| s.chars().take(160).collect::<String>();
    let mut out = Vec::new();
    for (table, rows) in after {
        let old = before.get(table).cloned().unwrap_or_default();
        if &old == rows {
            continue;
        }
        let old_set: BTreeSet<&String> = old.iter().collect();
        let new_set: BTreeSet<&String> = rows.iter().collect();
        let added: Vec<String> = new_set.difference(&old_set).map(|r| cut(r)).collect();
        let removed: Vec<String> = old_set.difference(&new_set).map(|r| cut(r)).collect();
        out.push(format!(
            "{table}: {} -> {} rows; now {added:?}; was {removed:?}",
            old.len(),
            rows.len()
        ));
    }
    out.join("; ")
}

// ---------------------------------------------------------------------------
// Collecting every failure of a test
// ---------------------------------------------------------------------------

struct Report {
    test: &'static str,
    checked: usize,
    failures: Vec<String>,
    excused: Vec<String>,
    hit: BTreeSet<(String, String, Check)>,
}

impl Report {
    fn new(test: &'static str) -> Self {
        Self {
            test,
            checked: 0,
            failures: Vec::new(),
            excused: Vec::new(),
            hit: BTreeSet::new(),
        }
    }

    fn fail(&mut self, case: &str, op: &Op, check: Check, message: String) {
        let case = format!("{}/{case}", self.test);
        let line = format!("[{case}] {}: {message}", op.label());
        match KNOWN_EXCEPTIONS
            .iter()
            .find(|(c, id, k, _)| *c == case && *id == op.id && *k == check)
        {
            Some((_, _, _, why)) => {
                self.hit.insert((case, op.id.clone(), check));
                self.excused
                    .push(format!("{line} -- known exception: {why}"));
            }
            None => self.failures.push(line),
        }
    }

    /// A setup problem (a missing fixture or example): always a failure.
    fn missing(&mut self, message: String) {
        let line = format!("[{}] {message}", self.test);
        if !self.failures.contains(&line) {
            self.failures.push(line);
        }
    }

    fn finish(mut self) {
        for (case, id, check, _) in KNOWN_EXCEPTIONS {
            if case.starts_with(&format!("{}/", self.test))
                && !self
                    .hit
                    .contains(&(case.to_string(), id.to_string(), *check))
            {
                self.failures.push(format!(
                    "[{case}] {id} ({check:?}): listed in KNOWN_EXCEPTIONS but passes now: \
                     remove the entry"
                ));
            }
        }
        eprintln!(
            "{}: {} cases checked, {} known exceptions, {} failures",
            self.test,
            self.checked,
            self.excused.len(),
            self.failures.len()
        );
        for line in &self.excused {
            eprintln!("  excused: {line}");
        }
        assert!(
            self.failures.is_empty(),
            "{} failure(s) in {}:\n{}",
            self.failures.len(),
            self.test,
            self.failures.join("\n")
        );
    }
}

/// One app, its world, its spec and the state of its database.
struct Bench {
    app: TestApp,
    spec: Spec,
    world: World,
    fingerprint: Fingerprint,
    baseline: Snapshot,
    report: Report,
}

impl Bench {
    async fn new(test: &'static str) -> Self {
        // Webhook endpoints on loopback (nothing listens there: the
        // fixtures' endpoints are disabled, so no delivery runs meanwhile).
        let app = spawn_app_with(&[("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        let spec = spec();
        let world = world(&app).await;
        let fingerprint = Fingerprint::new(&app).await;
        let baseline = fingerprint.take(&app).await;
        Self {
            app,
            spec,
            world,
            fingerprint,
            baseline,
            report: Report::new(test),
        }
    }

    /// The operations: reads, then changes, then deletions (deepest path
    /// first), so that an operation that wrongly deletes a fixture is
    /// reported without hiding what the operations after it do.
    fn ops(&self) -> Vec<Op> {
        let mut ops = self.spec.ops.clone();
        let rank = |op: &Op| match op.method {
            Method::GET => (0, 0),
            Method::DELETE => (2, usize::MAX - op.path.matches('/').count()),
            _ => (1, 0),
        };
        ops.sort_by_key(rank);
        ops
    }

    /// Sends `op` to the resources `path_ids` with a body referring to
    /// `body_ids`; expects a refusal `status`/`code` and no change at all.
    async fn refused(
        &mut self,
        case: &str,
        op: &Op,
        (path_ids, body): (&Ids, Body),
        auth: Auth<'_>,
        (status, code): (u16, &str),
    ) {
        let url = match url(op, path_ids) {
            Ok(u) => u,
            Err(e) => return self.report.missing(e),
        };
        self.report.checked += 1;
        let got = send(&self.app, &self.spec, op, &url, &body, auth).await;
        if !got.is(status, code) {
            self.report.fail(
                case,
                op,
                Check::Answer,
                format!("expected {status} {code}, got {}", got.show()),
            );
        }
        // Integrators read the spec to know what to handle.
        if got.status == status && !op.responses.contains(&status.to_string()) {
            self.report.fail(
                case,
                op,
                Check::Documented,
                format!("answers {status} {code}, a status its spec entry does not document"),
            );
        }
        let after = self.fingerprint.take(&self.app).await;
        if after != self.baseline {
            let changes = diff(&self.baseline, &after);
            self.report.fail(
                case,
                op,
                Check::Unchanged,
                format!("a refused request ({}) changed data: {changes}", got.show()),
            );
            self.baseline = after;
        }
    }

    /// Sends `op` and expects it to succeed (2xx); the data may change.
    async fn allowed(
        &mut self,
        case: &str,
        op: &Op,
        path_ids: &Ids,
        body: Body,
        auth: Auth<'_>,
    ) -> Option<Outcome> {
        let url = match url(op, path_ids) {
            Ok(u) => u,
            Err(e) => {
                self.report.missing(e);
                return None;
            }
        };
        self.report.checked += 1;
        let got = send(&self.app, &self.spec, op, &url, &body, auth).await;
        if !(200..300).contains(&got.status) {
            self.report.fail(
                case,
                op,
                Check::Answer,
                format!("expected success, got {}", got.show()),
            );
        }
        self.baseline = self.fingerprint.take(&self.app).await;
        Some(got)
    }

    fn body(&mut self, op: &Op, refs: &Ids) -> Option<Body> {
        match example(op, refs) {
            Ok(b) => Some(b),
            Err(e) => {
                self.report.missing(e);
                None
            }
        }
    }
}

/// `ids` with its account replaced: another account's resources under this path.
fn under_account(ids: &Ids, account: &str) -> Ids {
    let mut mixed = ids.clone();
    mixed.insert("account_id", account.to_owned());
    mixed
}

// ---------------------------------------------------------------------------
// 1. Another account's tokens: 404, nothing changes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cross_tenant_is_404_and_changes_nothing() {
    let mut bench = Bench::new("cross_tenant").await;
    let (a, b) = (bench.world.a.clone(), bench.world.b.clone());
    let tokens = [
        ("admin_of_a", bench.app.admin(&a["account_id"])),
        ("viewer_of_a", bench.app.viewer(&a["account_id"])),
        (
            "integration_of_a",
            bench.app.token(Role::Integration, Some(&a["account_id"])),
        ),
    ];
    let support = bench.app.support();
    let admin_a = bench.app.admin(&a["account_id"]);
    let integration_a = bench.app.token(Role::Integration, Some(&a["account_id"]));
    let mut scoped = 0;
    for op in bench.ops() {
        if !op.bearer() || !op.account_scoped() {
            continue;
        }
        scoped += 1;
        let Some(body_b) = bench.body(&op, &b) else {
            continue;
        };
        // A's tokens on B's resources, with a body valid for B.
        for (case, token) in &tokens {
            bench
                .refused(
                    case,
                    &op,
                    (&b, body_b.clone()),
                    Auth::Bearer(token),
                    (404, "not_found"),
                )
                .await;
        }
        // B's resources under A's path, even for staff: a resource is found
        // only under its own account.
        if op.has_resource_param() {
            let mixed = under_account(&b, &a["account_id"]);
            let body_a = bench.body(&op, &a).unwrap_or(Body::None);
            bench
                .refused(
                    "b_resource_under_a_path_as_support",
                    &op,
                    (&mixed, body_a),
                    Auth::Bearer(&support),
                    (404, "not_found"),
                )
                .await;
        }
        // A's own resources, with a body naming B's: refused on that field.
        let body_a = bench.body(&op, &a).unwrap_or(Body::None);
        if body_a != body_b {
            let token = if op.staff_only {
                &support
            } else if op.integration_may() {
                &integration_a
            } else {
                &admin_a
            };
            // A credit note names an invoice line by id: another invoice's
            // line is not one of this invoice's.
            let refusal = if op.id == "create_credit_note" {
                (422, "unknown_invoice_line")
            } else {
                (422, "validation_failed")
            };
            bench
                .refused(
                    "b_reference_in_a_body",
                    &op,
                    (&a, body_b),
                    Auth::Bearer(token),
                    refusal,
                )
                .await;
        }
    }
    assert!(scoped > 40, "only {scoped} account-scoped operations");
    // What A reads (every read under A's path, by staff so that no role
    // check stands in the way) names nothing of B's.
    let needles: BTreeSet<&String> = b.values().filter(|id| id.contains('_')).collect();
    for op in bench.ops() {
        if !op.bearer() || !op.account_scoped() || !op.is_read() {
            continue;
        }
        let Some(got) = bench
            .allowed(
                "a_reads_show_nothing_of_b",
                &op,
                &a,
                Body::None,
                Auth::Bearer(&support),
            )
            .await
        else {
            continue;
        };
        let leaked: Vec<&&String> = needles
            .iter()
            .filter(|id| got.text.contains(id.as_str()))
            .collect();
        if !leaked.is_empty() {
            bench.report.fail(
                "a_reads_show_nothing_of_b",
                &op,
                Check::NoLeak,
                format!("A's answer names B's {leaked:?}"),
            );
        }
    }
    bench.report.finish();
}

// ---------------------------------------------------------------------------
// 2. Viewers read and change nothing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn viewers_cannot_change_anything() {
    let mut bench = Bench::new("viewer").await;
    let b = bench.world.b.clone();
    let viewer = bench.app.viewer(&b["account_id"]);
    for op in bench.ops() {
        if !op.bearer() {
            continue;
        }
        let Some(body) = bench.body(&op, &b) else {
            continue;
        };
        if op.viewer_may() {
            bench
                .allowed("reads", &op, &b, body, Auth::Bearer(&viewer))
                .await;
        } else {
            bench
                .refused(
                    if op.is_read() { "reads" } else { "changes" },
                    &op,
                    (&b, body),
                    Auth::Bearer(&viewer),
                    (403, "forbidden"),
                )
                .await;
        }
    }
    bench.report.finish();
}

// ---------------------------------------------------------------------------
// 3. Integrations reach their routes only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn integration_reaches_only_its_routes() {
    let mut bench = Bench::new("integration").await;
    let b = bench.world.b.clone();
    let integration = bench.app.token(Role::Integration, Some(&b["account_id"]));
    let allowed: BTreeSet<String> = bench
        .spec
        .ops
        .iter()
        .filter(|op| op.bearer() && op.integration_may())
        .map(|op| op.id.clone())
        .collect();
    // SPEC.md section 1: integrations ingest consumption; they confirm
    // payments through the signed webhook, which takes no bearer token.
    assert!(
        allowed.contains("ingest_consumption"),
        "the spec no longer says that integrations ingest consumption: {allowed:?}"
    );
    for op in bench.ops() {
        if !op.bearer() {
            continue;
        }
        let Some(body) = bench.body(&op, &b) else {
            continue;
        };
        if allowed.contains(&op.id) {
            bench
                .allowed("its_routes", &op, &b, body, Auth::Bearer(&integration))
                .await;
        } else {
            // Its own account: the tenant rule passes, the role does not.
            bench
                .refused(
                    "other_routes",
                    &op,
                    (&b, body),
                    Auth::Bearer(&integration),
                    (403, "forbidden"),
                )
                .await;
        }
    }
    bench.report.finish();
}

// ---------------------------------------------------------------------------
// 4. No credentials: 401, except on public operations
// ---------------------------------------------------------------------------

#[tokio::test]
async fn no_token_is_401() {
    let mut bench = Bench::new("no_token").await;
    let b = bench.world.b.clone();
    let forged = JwtKeys::from_config(&jwt_config(
        "another-secret-0123456789abcdef0123456789",
        "comptoir-api",
    ))
    .unwrap()
    .issue("usr_test", Role::Support, None, time::Duration::hours(1))
    .unwrap();
    let support = bench.app.support();
    let mut public = Vec::new();
    for op in bench.ops() {
        let Some(body) = bench.body(&op, &b) else {
            continue;
        };
        if op.public {
            public.push(op.id.clone());
            bench
                .allowed("public", &op, &b, body, Auth::Anonymous)
                .await;
            continue;
        }
        // The code of the first scheme that admits a caller.
        let Some(code) = op.schemes.iter().find_map(|s| {
            SCHEME_CODES
                .iter()
                .find(|(name, _)| name == s)
                .map(|(_, c)| *c)
        }) else {
            bench.report.missing(format!(
                "{}: unknown security schemes {:?}: add them to SCHEME_CODES",
                op.label(),
                op.schemes
            ));
            continue;
        };
        bench
            .refused(
                "anonymous",
                &op,
                (&b, body.clone()),
                Auth::Anonymous,
                (401, code),
            )
            .await;
        if op.bearer() {
            bench
                .refused(
                    "forged_token",
                    &op,
                    (&b, body),
                    Auth::Bearer(&forged),
                    (401, code),
                )
                .await;
        } else {
            // A bearer token, even staff's, does not stand for a signature.
            bench
                .refused(
                    "bearer_instead_of_signature",
                    &op,
                    (&b, body),
                    Auth::Bearer(&support),
                    (401, code),
                )
                .await;
        }
    }
    assert!(
        public.iter().any(|id| id == "healthz"),
        "the spec marks no public operation: {public:?}"
    );
    // Served beside the API but not operations of the spec.
    for path in ["/api-docs/openapi.json", "/swagger-ui/"] {
        let res = bench
            .app
            .request(Method::GET, path, None)
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            bench
                .report
                .missing(format!("GET {path} without a token: {}", res.status()));
        }
    }
    bench.report.finish();
}

// ---------------------------------------------------------------------------
// 5. Staff-only operations refuse customer admins
// ---------------------------------------------------------------------------

/// Operations a customer admin may call, but not in these staff-only ways:
/// `(operationId, case, ids overriding B's, body, code)`.
fn staff_only_uses(b: &Ids) -> Vec<(&'static str, &'static str, Ids, Body, &'static str)> {
    let with = |key: &'static str, from: &str| {
        let mut ids = b.clone();
        ids.insert(key, b[from].clone());
        ids
    };
    vec![
        (
            "upload_document",
            "upload_a_contract",
            b.clone(),
            Body::Multipart("contract"),
            "requires_support",
        ),
        (
            "delete_document",
            "delete_a_contract",
            with("document_id", "contract_id"),
            Body::None,
            "requires_support",
        ),
        (
            "delete_billing_address",
            "delete_a_verified_address",
            with("address_id", "verified_address_id"),
            Body::None,
            "requires_support",
        ),
        (
            "add_licenses",
            "choose_an_activation_date",
            b.clone(),
            Body::Json(json!({"plan": "ADVANCED", "quantity": 1, "activation_date": "2026-04-01"})),
            "requires_support",
        ),
        (
            "quote_licenses",
            "choose_an_activation_date",
            b.clone(),
            Body::Json(json!({"plan": "ADVANCED", "quantity": 1, "activation_date": "2026-04-01"})),
            "requires_support",
        ),
    ]
}

#[tokio::test]
async fn staff_only_operations_refuse_customers() {
    let mut bench = Bench::new("staff_only").await;
    let b = bench.world.b.clone();
    let admin = bench.app.admin(&b["account_id"]);
    let staff: BTreeSet<String> = bench
        .spec
        .ops
        .iter()
        .filter(|op| op.staff_only)
        .map(|op| op.id.clone())
        .collect();
    // What SPEC.md sections 1 and 9 reserve to staff must be found in the spec.
    let expected = [
        "run_billing",
        "mark_invoice_paid",
        "record_invoice_payment",
        "void_invoice",
        "verify_billing_address",
        "reject_billing_address",
        "approve_change_request",
        "reject_change_request",
        "update_billing_address",
        "add_sepa_debit",
        "adjust_credits",
        "confirm_top_up",
        "update_plan",
        "put_exchange_rate",
        "create_account",
        "list_accounts",
        "list_audit_events",
    ];
    for id in expected {
        if !staff.contains(id) {
            bench.report.missing(format!(
                "{id} is staff-only (SPEC.md) but its declared roles are not only support \
                 and it documents no requires_support 403"
            ));
        }
    }
    for op in bench.ops() {
        if !op.bearer() || !op.staff_only {
            continue;
        }
        let Some(body) = bench.body(&op, &b) else {
            continue;
        };
        let code = op.staff_code();
        bench
            .refused("admin", &op, (&b, body), Auth::Bearer(&admin), (403, code))
            .await;
    }
    for (id, case, ids, body, code) in staff_only_uses(&b) {
        let Some(op) = bench.spec.ops.iter().find(|op| op.id == id).cloned() else {
            bench
                .report
                .missing(format!("staff_only_uses names {id}, which the spec lacks"));
            continue;
        };
        bench
            .refused(case, &op, (&ids, body), Auth::Bearer(&admin), (403, code))
            .await;
    }
    eprintln!("staff-only operations: {staff:?}");
    bench.report.finish();
}

// ---------------------------------------------------------------------------
// The control: the fixtures and bodies above are real
// ---------------------------------------------------------------------------

/// Every operation, called by staff on B's resources with the same ids and
/// bodies as above, gets past authentication, authorization, lookup and
/// validation: so the refusals above are the isolation and role checks, not
/// a missing resource or a malformed body.
#[tokio::test]
async fn the_matrix_fixtures_and_bodies_are_accepted_by_staff() {
    let mut bench = Bench::new("control").await;
    let b = bench.world.b.clone();
    let support = bench.app.support();
    for op in bench.ops() {
        let Some(body) = bench.body(&op, &b) else {
            continue;
        };
        let auth = if op.public {
            Auth::Anonymous
        } else if op.bearer() {
            Auth::Bearer(&support)
        } else {
            match op.schemes.first() {
                Some(scheme) if bench.spec.scheme_headers.contains_key(scheme) => {
                    Auth::Signed(scheme)
                }
                _ => {
                    bench.report.missing(format!(
                        "{}: the control cannot authenticate {:?}",
                        op.label(),
                        op.schemes
                    ));
                    continue;
                }
            }
        };
        let url = match url(&op, &b) {
            Ok(u) => u,
            Err(e) => {
                bench.report.missing(e);
                continue;
            }
        };
        bench.report.checked += 1;
        let got = send(&bench.app, &bench.spec, &op, &url, &body, auth).await;
        // A conflict or a business refusal comes after the lookup and the
        // body checks; anything else means the fixture or the example is wrong.
        let accepted = (200..300).contains(&got.status)
            || got.status == 409
            || (got.status == 422 && got.code != "validation_failed");
        if !accepted {
            bench.report.fail(
                "staff",
                &op,
                Check::Answer,
                format!("not accepted: {}", got.show()),
            );
        }
    }
    bench.report.finish();
}
