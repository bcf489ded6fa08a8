//! VAT numbers checked against VIES: a stand-in of the EU's REST service,
//! spawned by each test, answers by VAT number (valid with a consultation
//! number, invalid, too slow, 500, an error body) and records what it
//! received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

/// The seller's VAT number in these tests: VIES is asked as this requester.
const SELLER_VAT: &str = "FR61954506077";

/// What the stand-in answers for a number.
#[derive(Debug, Clone)]
enum Answer {
    /// `valid: true` with this consultation number.
    Valid(&'static str),
    Invalid,
    /// Answers after 3 s, past the 1 s timeout of the tests.
    Slow,
    /// HTTP 500.
    ServerError,
    /// `{actionSucceed: false, errorWrappers: [{error}]}`.
    ErrorBody(&'static str),
}

#[derive(Clone, Default)]
struct Shared {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    received: Arc<Mutex<Vec<Value>>>,
}

/// The stand-in VIES: `POST {url}/check-vat-number`.
struct StandIn {
    url: String,
    shared: Shared,
}

async fn check_vat_number(shared: web::Data<Shared>, body: web::Json<Value>) -> HttpResponse {
    shared.received.lock().unwrap().push(body.0.clone());
    let country = body["countryCode"].as_str().unwrap_or_default().to_owned();
    let number = body["vatNumber"].as_str().unwrap_or_default().to_owned();
    let answer = shared
        .answers
        .lock()
        .unwrap()
        .get(&format!("{country}{number}"))
        .cloned()
        .unwrap_or(Answer::Invalid);
    let verdict = |valid: bool, id: &str| {
        json!({"countryCode": country, "vatNumber": number,
            "requestDate": "2026-04-09T10:00:00.123Z", "valid": valid,
            "requestIdentifier": id, "name": "---", "address": "---"})
    };
    match answer {
        Answer::Valid(id) => HttpResponse::Ok().json(verdict(true, id)),
        Answer::Invalid => HttpResponse::Ok().json(verdict(false, "")),
        Answer::Slow => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            HttpResponse::Ok().json(verdict(true, "WAPI-TOO-LATE"))
        }
        Answer::ServerError => HttpResponse::InternalServerError().body("Internal Server Error"),
        Answer::ErrorBody(error) => HttpResponse::Ok()
            .json(json!({"actionSucceed": false, "errorWrappers": [{"error": error}]})),
    }
}

impl StandIn {
    async fn start() -> StandIn {
        let shared = Shared::default();
        for (number, answer) in [
            ("DE123456789", Answer::Valid("WAPIAAAAVALID0001")),
            ("DE987654321", Answer::Invalid),
            ("DE111111111", Answer::Slow),
            ("DE222222222", Answer::ServerError),
            ("DE333333333", Answer::ErrorBody("MS_UNAVAILABLE")),
            ("EL123456789", Answer::Valid("WAPIAAAAGREECE01")),
        ] {
            shared
                .answers
                .lock()
                .unwrap()
                .insert(number.to_owned(), answer);
        }
        let data = web::Data::new(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route(
                "/vies/rest-api/check-vat-number",
                web::post().to(check_vat_number),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        StandIn {
            url: format!("http://127.0.0.1:{port}/vies/rest-api"),
            shared,
        }
    }

    fn answer(&self, number: &str, answer: Answer) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(number.to_owned(), answer);
    }

    /// The bodies received, oldest first.
    fn received(&self) -> Vec<Value> {
        self.shared.received.lock().unwrap().clone()
    }
}

/// The API over a fresh database, asking the stand-in as [`SELLER_VAT`].
async fn spawn() -> (TestApp, StandIn) {
    let vies = StandIn::start().await;
    let app = spawn_app_with(&[
        ("COMPTOIR_VIES_URL", &vies.url),
        ("COMPTOIR_VIES_TIMEOUT", "1"),
        ("COMPTOIR_SELLER_VAT_NUMBER", SELLER_VAT),
    ])
    .await;
    (app, vies)
}

fn berlin(vat: Option<&str>) -> Value {
    json!({"company_name": "Beispiel GmbH", "line1": "Friedrichstraße 1",
        "postal_code": "10117", "city": "Berlin", "country": "DE", "vat_number": vat})
}

fn paris() -> Value {
    json!({"company_name": "Acme SAS", "line1": "12 rue de la Paix", "postal_code": "75002",
        "city": "Paris", "country": "FR", "vat_number": "FR40303265045"})
}

/// Adds an address (as the account's admin) and returns its path.
async fn add(app: &TestApp, account: &str, body: &Value) -> String {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(account),
            body,
        )
        .await;
    assert_eq!(res.status(), 201);
    let address: Value = res.json().await.unwrap();
    assert_eq!(address["vat_check"], Value::Null, "never checked");
    format!(
        "/v1/accounts/{account}/billing-addresses/{}",
        address["id"].as_str().unwrap()
    )
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.request(method, path, Some(token));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// Staff verify the address; returns it as answered.
async fn verify(app: &TestApp, path: &str) -> Value {
    let res = call(
        app,
        Method::POST,
        &format!("{path}/verify"),
        &app.support(),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let address: Value = res.json().await.unwrap();
    assert_eq!(address["status"], "verified");
    address
}

/// Staff's VAT check of the address (200), as answered.
async fn vat_check(app: &TestApp, path: &str, body: Value) -> Value {
    let res = call(
        app,
        Method::POST,
        &format!("{path}/vat-check"),
        &app.support(),
        Some(body),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The instant the test clock shows, as the API writes it.
fn at(app: &TestApp) -> String {
    app.clock
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The account's audit events of `action`, newest first.
async fn audit_events(app: &TestApp, account: &str, action: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/audit-events?limit=100"),
            &app.support(),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test]
async fn verifying_a_valid_german_number_stores_the_check_with_its_consultation_number() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE 123 456 789"))).await;
    assert!(vies.received().is_empty(), "adding an address asks nothing");

    let address = verify(&app, &path).await;
    let now = at(&app);
    assert_eq!(
        address["vat_check"],
        json!({"status": "valid", "checked_at": now, "consultation_number": "WAPIAAAAVALID0001",
            "reason": null, "last_attempt_at": now, "last_attempt_error": null})
    );
    // The seller asks, as the requester, about the number without its prefix.
    assert_eq!(
        vies.received(),
        vec![json!({"countryCode": "DE", "vatNumber": "123456789",
            "requesterMemberStateCode": "FR", "requesterNumber": "61954506077"})]
    );
    // Every role that reads addresses sees the check; it is stored.
    for token in [app.viewer(&account), app.admin(&account), app.support()] {
        let read: Value = app.get(&path, &token).await.json().await.unwrap();
        assert_eq!(read["vat_check"], address["vat_check"]);
    }
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["vat_check"]["status"], "valid");
    let verified = &audit_events(&app, &account, "billing_address.verified").await[0];
    assert_eq!(verified["before"]["vat_check"], Value::Null);
    assert_eq!(
        verified["after"]["vat_check"]["consultation_number"],
        "WAPIAAAAVALID0001"
    );
}

#[tokio::test]
async fn an_invalid_number_is_stored_invalid_and_the_address_is_still_verified() {
    let (app, _vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE987654321"))).await;
    let address = verify(&app, &path).await;
    assert_eq!(address["vat_check"]["status"], "invalid");
    assert_eq!(address["vat_check"]["consultation_number"], Value::Null);
    assert_eq!(address["vat_check"]["last_attempt_error"], Value::Null);
}

#[tokio::test]
async fn vies_timing_out_answering_500_or_an_error_body_is_unavailable_and_never_blocks_the_verification()
 {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    for (number, error) in [
        ("DE111111111", "timeout"),
        ("DE222222222", "HTTP 500"),
        ("DE333333333", "MS_UNAVAILABLE"),
    ] {
        let path = add(&app, &account, &berlin(Some(number))).await;
        let started = std::time::Instant::now();
        let address = verify(&app, &path).await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(2900),
            "COMPTOIR_VIES_TIMEOUT=1 cuts the wait"
        );
        let now = at(&app);
        assert_eq!(
            address["vat_check"],
            json!({"status": "unavailable", "checked_at": now, "consultation_number": null,
                "reason": null, "last_attempt_at": now, "last_attempt_error": error}),
            "{number}"
        );
    }
    assert_eq!(vies.received().len(), 3);
}

#[tokio::test]
async fn vies_unavailable_keeps_the_last_conclusive_result_and_notes_the_attempt() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE123456789"))).await;
    let verified = verify(&app, &path).await;
    let first = at(&app);

    app.clock.set(app.clock.now() + time::Duration::days(3));
    vies.answer("DE123456789", Answer::ServerError);
    let address = vat_check(&app, &path, json!({"method": "vies"})).await;
    let later = at(&app);
    assert_eq!(
        address["vat_check"],
        json!({"status": "valid", "checked_at": first, "consultation_number": "WAPIAAAAVALID0001",
            "reason": null, "last_attempt_at": later, "last_attempt_error": "HTTP 500"})
    );
    assert_ne!(address["vat_check"], verified["vat_check"]);

    // VIES answers again: a new consultation number, the attempt error gone.
    app.clock.set(app.clock.now() + time::Duration::days(1));
    vies.answer("DE123456789", Answer::Valid("WAPIAAAAVALID0002"));
    let address = vat_check(&app, &path, json!({"method": "vies"})).await;
    let now = at(&app);
    assert_eq!(
        address["vat_check"],
        json!({"status": "valid", "checked_at": now, "consultation_number": "WAPIAAAAVALID0002",
            "reason": null, "last_attempt_at": now, "last_attempt_error": null})
    );
    let checks = audit_events(&app, &account, "billing_address.vat_checked").await;
    assert_eq!(checks.len(), 2);
    assert_eq!(
        checks[1]["after"]["vat_check"]["last_attempt_error"],
        "HTTP 500"
    );
    assert_eq!(
        checks[0]["before"]["vat_check"]["last_attempt_error"],
        "HTTP 500"
    );
    assert_eq!(vies.received().len(), 3);
}

#[tokio::test]
async fn a_manual_verification_counts_as_valid_and_is_audited_with_its_reason() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE111111111"))).await;
    verify(&app, &path).await;

    app.clock.set(app.clock.now() + time::Duration::hours(2));
    let reason = "VIES down; number checked on the Bundeszentralamt für Steuern's register";
    let address = vat_check(&app, &path, json!({"method": "manual", "reason": reason})).await;
    let check = &address["vat_check"];
    assert_eq!(check["status"], "manual");
    assert_eq!(check["checked_at"], at(&app));
    assert_eq!(check["reason"], reason);
    assert_eq!(check["consultation_number"], Value::Null);
    // The VIES attempt that failed stays noted.
    assert_eq!(check["last_attempt_error"], "timeout");
    assert_eq!(
        vies.received().len(),
        1,
        "a manual verification asks nothing"
    );

    let events = audit_events(&app, &account, "billing_address.vat_verified_manually").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["role"], "support");
    assert_eq!(events[0]["after"]["vat_check"]["reason"], reason);
    assert_eq!(events[0]["after"]["vat_check"]["status"], "manual");
    assert_eq!(events[0]["before"]["vat_check"]["status"], "unavailable");
}

#[tokio::test]
async fn greece_is_asked_as_el() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Paradeigma").await;
    let athens = json!({"company_name": "Paradeigma AE", "line1": "Odos Ermou 1",
        "postal_code": "10563", "city": "Athina", "country": "GR", "vat_number": "EL123456789"});
    let path = add(&app, &account, &athens).await;
    let address = verify(&app, &path).await;
    assert_eq!(
        address["vat_check"]["consultation_number"],
        "WAPIAAAAGREECE01"
    );
    assert_eq!(vies.received()[0]["countryCode"], "EL");
    assert_eq!(vies.received()[0]["vatNumber"], "123456789");
}

#[tokio::test]
async fn a_french_address_or_one_without_a_vat_number_is_not_asked_about() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Acme").await;
    let french = add(&app, &account, &paris()).await;
    let no_number = add(&app, &account, &berlin(None)).await;
    for path in [&french, &no_number] {
        let address = verify(&app, path).await;
        assert_eq!(address["vat_check"], Value::Null);
        for body in [
            json!({"method": "vies"}),
            json!({"method": "manual", "reason": "Checked"}),
        ] {
            let res = call(
                &app,
                Method::POST,
                &format!("{path}/vat-check"),
                &app.support(),
                Some(body),
            )
            .await;
            assert_problem(res, 409, "vat_check_not_applicable").await;
        }
    }
    assert!(vies.received().is_empty());
}

#[tokio::test]
async fn a_new_vat_number_drops_the_old_numbers_check() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE123456789"))).await;
    verify(&app, &path).await;
    let support = app.support();

    // Staff edit another field: the check stays.
    let res = call(
        &app,
        Method::PATCH,
        &path,
        &support,
        Some(json!({"line2": "Hinterhaus"})),
    )
    .await;
    let edited: Value = res.json().await.unwrap();
    assert_eq!(edited["vat_check"]["status"], "valid");
    // Staff edit the number: no check until it is asked for.
    let res = call(
        &app,
        Method::PATCH,
        &path,
        &support,
        Some(json!({"vat_number": "DE987654321"})),
    )
    .await;
    let edited: Value = res.json().await.unwrap();
    assert_eq!(edited["vat_check"], Value::Null);
    assert_eq!(vies.received().len(), 1, "an edit asks nothing");
    let read: Value = app.get(&path, &support).await.json().await.unwrap();
    assert_eq!(read["vat_check"], Value::Null);

    // An approved change request with a new number: VIES is asked about it.
    let mut change = berlin(Some("DE123456789"));
    change["city"] = json!("Potsdam");
    change["postal_code"] = json!("14467");
    let res = app
        .post(
            &format!("{path}/change-requests"),
            &app.admin(&account),
            &change,
        )
        .await;
    assert_eq!(res.status(), 201);
    let request: Value = res.json().await.unwrap();
    let res = call(
        &app,
        Method::POST,
        &format!(
            "/v1/accounts/{account}/billing-address-change-requests/{}/approve",
            request["id"].as_str().unwrap()
        ),
        &support,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let read: Value = app.get(&path, &support).await.json().await.unwrap();
    assert_eq!(read["city"], "Potsdam");
    assert_eq!(read["vat_check"]["status"], "valid");
    assert_eq!(
        read["vat_check"]["consultation_number"],
        "WAPIAAAAVALID0001"
    );
    assert_eq!(vies.received().len(), 2);
    assert_eq!(vies.received()[1]["vatNumber"], "123456789");

    // A rejected change request asks nothing.
    let res = app
        .post(
            &format!("{path}/change-requests"),
            &app.admin(&account),
            &berlin(Some("DE987654321")),
        )
        .await;
    let request: Value = res.json().await.unwrap();
    let res = call(
        &app,
        Method::POST,
        &format!(
            "/v1/accounts/{account}/billing-address-change-requests/{}/reject",
            request["id"].as_str().unwrap()
        ),
        &support,
        Some(json!({"reason": "No Handelsregister extract"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(vies.received().len(), 2);
}

#[tokio::test]
async fn a_vat_check_request_names_every_bad_field() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let path = add(&app, &account, &berlin(Some("DE123456789"))).await;
    let url = format!("{path}/vat-check");
    let fields = |problem: &Value| -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    for (body, expected) in [
        (json!({}), vec!["method"]),
        (
            json!({"method": "fax", "reason": "", "note": "x"}),
            vec!["method", "note", "reason"],
        ),
        (json!({"method": "manual"}), vec!["reason"]),
        (json!({"method": "manual", "reason": "  "}), vec!["reason"]),
        (
            json!({"method": "manual", "reason": "a\u{202E}b"}),
            vec!["reason"],
        ),
        (
            json!({"method": "vies", "reason": "Because"}),
            vec!["reason"],
        ),
    ] {
        let res = call(&app, Method::POST, &url, &app.support(), Some(body.clone())).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        let mut found = fields(&problem);
        found.sort();
        assert_eq!(found, expected, "{body}: {problem}");
    }
    assert!(vies.received().is_empty(), "a refused request asks nothing");
    let read: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    assert_eq!(read["vat_check"], Value::Null);
}

#[tokio::test]
async fn only_staff_check_vat_numbers_and_other_accounts_are_not_found() {
    let (app, vies) = spawn().await;
    let account = app.create_account("Beispiel").await;
    let other = app.create_account("Other").await;
    let path = add(&app, &account, &berlin(Some("DE123456789"))).await;
    let url = format!("{path}/vat-check");
    let body = json!({"method": "vies"});
    for token in [
        app.admin(&account),
        app.viewer(&account),
        app.token(comptoir::domain::role::Role::Integration, Some(&account)),
    ] {
        let res = call(&app, Method::POST, &url, &token, Some(body.clone())).await;
        assert_problem(res, 403, "forbidden").await;
    }
    let res = call(
        &app,
        Method::POST,
        &url,
        &app.admin(&other),
        Some(body.clone()),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    // The address under another account's path is not found either.
    let elsewhere = url.replace(&account, &other);
    let res = call(&app, Method::POST, &elsewhere, &app.support(), Some(body)).await;
    assert_problem(res, 404, "not_found").await;
    assert!(vies.received().is_empty());
}

// ---------------------------------------------------------------------------
// Before finalizing: the treatment follows the check, a stale check is
// refreshed, and a number VIES never answered for holds the draft.
// ---------------------------------------------------------------------------

/// A German account with a card, one ADVANCED license from 9 April, and its
/// primary address (`vat`) verified by staff on 9 April; returns the
/// account and the address's path.
async fn german_buyer(app: &TestApp, vat: &str) -> (String, String) {
    let account = app.create_account("Beispiel").await;
    let res = crate::payments::add_card(app, &account, &crate::payments::visa()).await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let path = add(app, &account, &berlin(Some(vat))).await;
    verify(app, &path).await;
    (account, path)
}

/// The billing run of May at `at` (UTC), as staff.
async fn run_may(app: &TestApp, at: time::OffsetDateTime) -> Value {
    app.clock.set(at);
    let res = app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({"period": "2026-05"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn invoice(app: &TestApp, account: &str, id: &str) -> Value {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}"),
            &app.admin(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The invoice the run issued for `account`.
async fn issued(app: &TestApp, run: &Value, account: &str) -> Value {
    let entry = run["issued"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == account)
        .unwrap_or_else(|| panic!("nothing issued for {account}: {run}"));
    invoice(app, account, entry["invoice_id"].as_str().unwrap()).await
}

/// Asserts a reverse-charge invoice: 0 %, the mention in both languages.
async fn assert_reverse_charge(app: &TestApp, account: &str, invoice: &Value) {
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["tax_treatment"], "reverse_charge");
    assert_eq!(invoice["tax_rate"], "0");
    assert_eq!(invoice["tax_territory"], "DE");
    assert_eq!(invoice["subtotal"], "110.93");
    assert_eq!(invoice["tax_amount"], "0.00");
    assert_eq!(invoice["total"], "110.93");
    assert!(
        invoice["tax_mention"]
            .as_str()
            .unwrap()
            .starts_with("Reverse charge"),
        "{invoice}"
    );
    let html = app
        .get(
            &format!(
                "/v1/accounts/{account}/invoices/{}/html",
                invoice["id"].as_str().unwrap()
            ),
            &app.admin(account),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Autoliquidation"), "the French mention");
}

const MAY_1ST: time::OffsetDateTime = time::macros::datetime!(2026-05-01 10:00 UTC);

#[tokio::test]
async fn a_valid_german_number_is_invoiced_with_reverse_charge_and_the_autoliquidation_mention() {
    let (app, vies) = spawn().await;
    let (account, _) = german_buyer(&app, "DE123456789").await;
    // 22 days after the check: still fresh, VIES is not asked again.
    let run = run_may(&app, MAY_1ST).await;
    assert!(run["held"].as_array().unwrap().is_empty(), "{run}");
    let invoice = issued(&app, &run, &account).await;
    assert_reverse_charge(&app, &account, &invoice).await;
    assert_eq!(vies.received().len(), 1);
}

#[tokio::test]
async fn an_invalid_number_is_invoiced_at_germanys_rate() {
    let (app, vies) = spawn().await;
    let (account, _) = german_buyer(&app, "DE987654321").await;
    let run = run_may(&app, MAY_1ST).await;
    let invoice = issued(&app, &run, &account).await;
    assert_eq!(invoice["tax_treatment"], "eu_oss");
    assert_eq!(invoice["tax_rate"], "19");
    assert_eq!(invoice["tax_territory"], "DE");
    // 110.93 x 19 % = 21.0767, rounded half away from zero.
    assert_eq!(invoice["subtotal"], "110.93");
    assert_eq!(invoice["tax_amount"], "21.08");
    assert_eq!(invoice["total"], "132.01");
    assert_eq!(invoice["tax_mention"], Value::Null);
    assert_eq!(vies.received().len(), 1, "an invalid answer is conclusive");
}

#[tokio::test]
async fn a_timeout_with_no_earlier_check_holds_the_draft_until_staff_verify_the_number_by_hand() {
    let (app, vies) = spawn().await;
    let (account, path) = german_buyer(&app, "DE111111111").await;

    // VIES is asked again before finalizing (nothing conclusive is known),
    // times out again: the draft is held, and the run says why.
    let run = run_may(&app, MAY_1ST).await;
    assert!(run["issued"].as_array().unwrap().is_empty(), "{run}");
    let held = &run["held"][0];
    assert_eq!(held["account_id"], account);
    assert_eq!(held["code"], "vat_number_unchecked");
    let detail = held["detail"].as_str().unwrap();
    assert!(
        detail.contains("DE111111111") && detail.contains("timeout"),
        "{detail}"
    );
    assert_eq!(vies.received().len(), 2);
    let draft_id = held["invoice_id"].as_str().unwrap().to_owned();

    // Staff see the code and detail on the draft; their finalize is refused
    // with the same code. VIES failed a minute ago: it is not asked again
    // before 15 minutes.
    let draft = invoice(&app, &account, &draft_id).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["hold"]["code"], "vat_number_unchecked");
    assert_eq!(draft["hold"]["detail"], held["detail"]);
    let finalize = format!("/v1/accounts/{account}/invoices/{draft_id}/finalize");
    app.clock.set(MAY_1ST + time::Duration::minutes(1));
    let res = call(&app, Method::POST, &finalize, &app.support(), None).await;
    assert_problem(res, 409, "vat_number_unchecked").await;
    assert_eq!(vies.received().len(), 2);
    app.clock.set(MAY_1ST + time::Duration::minutes(20));
    let res = call(&app, Method::POST, &finalize, &app.support(), None).await;
    assert_problem(res, 409, "vat_number_unchecked").await;
    assert_eq!(vies.received().len(), 3);
    let address: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    assert_eq!(address["vat_check"]["status"], "unavailable");

    // A manual verification: the draft is issued with reverse charge, and
    // VIES is not asked (the manual check is fresh).
    vat_check(
        &app,
        &path,
        json!({"method": "manual", "reason": "Certificate of the Bundeszentralamt für Steuern"}),
    )
    .await;
    let res = call(&app, Method::POST, &finalize, &app.support(), None).await;
    assert_eq!(res.status(), 200);
    let invoice: Value = res.json().await.unwrap();
    assert_eq!(invoice["id"], draft_id.as_str());
    assert_eq!(invoice["hold"], Value::Null);
    assert_reverse_charge(&app, &account, &invoice).await;
    assert_eq!(vies.received().len(), 3);
}

#[tokio::test]
async fn a_500_before_finalizing_with_no_earlier_check_holds_the_draft_too() {
    let (app, vies) = spawn().await;
    let (account, path) = german_buyer(&app, "DE222222222").await;
    let run = run_may(&app, MAY_1ST).await;
    assert_eq!(run["held"][0]["account_id"], account);
    assert_eq!(run["held"][0]["code"], "vat_number_unchecked");
    assert!(
        run["held"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    let address: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    assert_eq!(address["vat_check"]["status"], "unavailable");
    assert_eq!(address["vat_check"]["last_attempt_error"], "HTTP 500");

    // VIES answers again: running the billing again issues it.
    vies.answer("DE222222222", Answer::Valid("WAPIAAAABACK0001"));
    let run = run_may(&app, MAY_1ST + time::Duration::hours(1)).await;
    let invoice = issued(&app, &run, &account).await;
    assert_reverse_charge(&app, &account, &invoice).await;
}

#[tokio::test]
async fn a_check_older_than_30_days_is_asked_again_before_finalizing() {
    let (app, vies) = spawn().await;
    let (account, path) = german_buyer(&app, "DE123456789").await;
    vies.answer("DE123456789", Answer::Valid("WAPIAAAAVALID0002"));

    // 36 days after the check made on verification.
    let run = run_may(&app, time::macros::datetime!(2026-05-15 10:00 UTC)).await;
    let invoice = issued(&app, &run, &account).await;
    assert_eq!(invoice["tax_treatment"], "reverse_charge");
    let received = vies.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1],
        json!({"countryCode": "DE", "vatNumber": "123456789",
            "requesterMemberStateCode": "FR", "requesterNumber": "61954506077"})
    );
    let address: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    assert_eq!(address["vat_check"]["status"], "valid");
    assert_eq!(
        address["vat_check"]["consultation_number"],
        "WAPIAAAAVALID0002"
    );
    assert_eq!(address["vat_check"]["checked_at"], "2026-05-15T10:00:00Z");
    // The refresh is audited, by the staff member who ran the billing.
    let checks = audit_events(&app, &account, "billing_address.vat_checked").await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["actor"]["role"], "support");
}

#[tokio::test]
async fn vies_unavailable_before_finalizing_keeps_the_last_valid_result() {
    let (app, vies) = spawn().await;
    let (account, path) = german_buyer(&app, "DE123456789").await;
    vies.answer("DE123456789", Answer::Slow);
    let run = run_may(&app, time::macros::datetime!(2026-05-15 10:00 UTC)).await;
    assert!(run["held"].as_array().unwrap().is_empty(), "{run}");
    let invoice = issued(&app, &run, &account).await;
    assert_eq!(invoice["tax_treatment"], "reverse_charge");
    let address: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    let check = &address["vat_check"];
    assert_eq!(check["status"], "valid");
    assert_eq!(check["consultation_number"], "WAPIAAAAVALID0001");
    assert_eq!(check["checked_at"], "2026-04-09T10:00:00Z");
    assert_eq!(check["last_attempt_at"], "2026-05-15T10:00:00Z");
    assert_eq!(check["last_attempt_error"], "timeout");
    assert_eq!(vies.received().len(), 2);
}

#[tokio::test]
async fn the_finalizer_refreshes_a_stale_check_before_issuing_a_draft() {
    let vies = StandIn::start().await;
    let app = spawn_app_with(&[
        ("COMPTOIR_VIES_URL", &vies.url),
        ("COMPTOIR_VIES_TIMEOUT", "1"),
        ("COMPTOIR_SELLER_VAT_NUMBER", SELLER_VAT),
        ("COMPTOIR_INVOICE_GRACE", "3d"),
    ])
    .await;
    let (account, path) = german_buyer(&app, "DE123456789").await;
    let run = run_may(&app, MAY_1ST).await;
    assert_eq!(run["drafted"][0]["account_id"], account, "{run}");
    assert_eq!(vies.received().len(), 1, "a draft relies on nothing yet");

    // The worker (and `comptoir finalize`) finalize due drafts 40 days
    // after the check: VIES says the number is no longer valid.
    vies.answer("DE123456789", Answer::Invalid);
    let at = time::macros::datetime!(2026-05-19 10:00 UTC);
    app.clock.set(at);
    let billing = comptoir::service::invoices::Billing {
        seller: comptoir::domain::seller::Seller {
            vat_number: SELLER_VAT.into(),
            ..Default::default()
        },
        grace: time::Duration::days(3),
        files: app.blobs.clone(),
        vies: Some(
            comptoir::vies::Vies::new(&vies.url, std::time::Duration::from_secs(1), SELLER_VAT)
                .unwrap(),
        ),
    };
    let ctx = comptoir::service::Ctx::system("invoice-finalizer", at);
    let report = comptoir::service::invoices::finalize_due(&app.store, &ctx, &billing)
        .await
        .unwrap();
    assert_eq!(report.issued.len(), 1, "{report:?}");
    let invoice = invoice(
        &app,
        &account,
        run["drafted"][0]["invoice_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(invoice["tax_treatment"], "eu_oss");
    assert_eq!(invoice["tax_rate"], "19");
    assert_eq!(vies.received().len(), 2);
    let address: Value = app.get(&path, &app.support()).await.json().await.unwrap();
    assert_eq!(address["vat_check"]["status"], "invalid");
    let checks = audit_events(&app, &account, "billing_address.vat_checked").await;
    assert_eq!(checks[0]["actor"]["subject"], "invoice-finalizer");
}

#[tokio::test]
async fn a_top_up_by_a_buyer_whose_number_was_never_conclusively_checked_is_refused_not_charged_germanys_rate()
 {
    let (app, _vies) = spawn().await;
    // Verified while VIES timed out: no conclusive check of DE111111111.
    let (account, path) = german_buyer(&app, "DE111111111").await;
    let url = format!("/v1/accounts/{account}/credits/top-ups");
    let admin = app.admin(&account);
    let body = json!({"amount": "100.00"});
    let top_up = || app.post(&url, &admin, &body);
    let problem = assert_problem(top_up().await, 409, "vat_number_unchecked").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("DE111111111"),
        "{problem}"
    );
    // Checked by hand: reverse charge, no VAT on the top-up.
    vat_check(
        &app,
        &path,
        json!({"method": "manual", "reason": "Certificate of the Bundeszentralamt für Steuern"}),
    )
    .await;
    let res = top_up().await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["tax_amount"], "0.00", "{created}");
    assert_eq!(created["total"], "100.00", "{created}");
}
