//! Payments with amounts on invoices (SPEC.md section 10): partial payments,
//! `paid` when nothing is due, overpayments to the customer balance,
//! `mark-paid`, the payment webhook's `invoice.paid` and
//! `invoice.payment_failed`, roles, tenants, validation and concurrency.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::credits::{deliver, signed};
use crate::helpers::{TestApp, WEBHOOK_SECRET, assert_problem, spawn_app};

/// When the tests bill May: the 2nd of May, in the morning.
pub(crate) const BILLED_AT: OffsetDateTime = datetime!(2026-05-02 08:00 UTC);

/// An account with 100.00 of April calls not covered by credits, and its
/// May invoice issued: 120.00 with VAT. Returns the account and invoice ids.
pub(crate) async fn issued_invoice(app: &TestApp, name: &str) -> (String, String) {
    let account = app.create_billable_account(name).await;
    let invoice = issue_may_invoice(app, &account, name).await;
    (account, invoice)
}

/// [`issued_invoice`] of an existing billable account: returns the invoice id.
pub(crate) async fn issue_may_invoice(app: &TestApp, account: &str, name: &str) -> String {
    let account = account.to_owned();
    let user = app
        .create_user(&account, "Léa", &format!("lea@{}.fr", name.to_lowercase()))
        .await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(comptoir::domain::role::Role::Integration, Some(&account)),
            &json!({"records": [{
                "external_id": "call-1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 3600, "cost": "100.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.clock.set(BILLED_AT);
    let run = crate::invoices::bill(app, "2026-05").await;
    let invoice = run["issued"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == account.as_str())
        .unwrap_or_else(|| panic!("no invoice issued for {account}: {run}"))["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = invoice_of(app, &account, &invoice).await;
    assert_eq!(body["total"], "120.00", "{body}");
    invoice
}

pub(crate) async fn invoice_of(app: &TestApp, account: &str, invoice: &str) -> Value {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{invoice}"),
            &app.viewer(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn payments_path(account: &str, invoice: &str) -> String {
    format!("/v1/accounts/{account}/invoices/{invoice}/payments")
}

pub(crate) async fn pay(
    app: &TestApp,
    account: &str,
    invoice: &str,
    body: &Value,
) -> reqwest::Response {
    app.post(&payments_path(account, invoice), &app.support(), body)
        .await
}

/// A transfer of `amount` received on May 2 at 07:30.
pub(crate) fn transfer(amount: &str) -> Value {
    json!({"amount": amount, "paid_at": "2026-05-02T07:30:00Z", "method": "transfer",
           "reference": "VIR SEPA ACME"})
}

/// `(status, amount_paid, amount_credited, amount_due)` of the invoice.
fn amounts(invoice: &Value) -> (String, String, String, String) {
    let s = |k: &str| invoice[k].as_str().unwrap_or_default().to_owned();
    (
        s("status"),
        s("amount_paid"),
        s("amount_credited"),
        s("amount_due"),
    )
}

fn row(status: &str, paid: &str, due: &str) -> (String, String, String, String) {
    (status.into(), paid.into(), "0.00".into(), due.into())
}

pub(crate) async fn balance(app: &TestApp, account: &str) -> Value {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/balance"),
            &app.viewer(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub(crate) async fn balance_entries(app: &TestApp, account: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/balance/entries"),
            &app.viewer(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Every audit event of the account with this action.
pub(crate) async fn events(app: &TestApp, account: &str, action: &str) -> Vec<Value> {
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

/// Delivers a signed payment event, signed now by the business clock.
async fn event(app: &TestApp, body: &Value) -> reqwest::Response {
    let (raw, header) = signed(body, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    deliver(app, raw, &header).await
}

/// Delivers it and returns `applied`.
async fn applied(app: &TestApp, body: &Value) -> bool {
    let res = event(app, body).await;
    let status = res.status();
    let ack: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["received"], true);
    ack["applied"].as_bool().unwrap()
}

#[tokio::test]
async fn a_partial_payment_lowers_the_amount_due_and_the_last_one_makes_the_invoice_paid() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let fresh = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&fresh), row("issued", "0.00", "120.00"));
    assert_eq!(fresh["payments"], json!([]));
    assert_eq!(fresh["payment_failures"], json!([]));

    let res = pay(&app, &a, &inv, &transfer("50.00")).await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert!(first["id"].as_str().unwrap().starts_with("pay_"), "{first}");
    assert_eq!(
        (
            &first["invoice_id"],
            &first["amount"],
            &first["currency"],
            &first["paid_at"],
            &first["method"],
            &first["reference"],
            &first["applied"],
            &first["overpayment"],
        ),
        (
            &json!(inv),
            &json!("50.00"),
            &json!("EUR"),
            &json!("2026-05-02T07:30:00Z"),
            &json!("transfer"),
            &json!("VIR SEPA ACME"),
            &json!(true),
            &json!("0.00"),
        )
    );
    let partly = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&partly), row("issued", "50.00", "70.00"));
    assert_eq!(partly["paid_at"], Value::Null);

    // The rest, by cheque, without a reference, an hour later: paid then.
    let res = pay(
        &app,
        &a,
        &inv,
        &json!({"amount": "70", "paid_at": "2026-05-02T09:45:00+02:00", "method": "cheque"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["amount"], "70.00");
    assert_eq!(second["reference"], Value::Null);
    let paid = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&paid), row("paid", "120.00", "0.00"));
    assert_eq!(paid["paid_at"], "2026-05-02T07:45:00Z");
    let listed: Vec<&Value> = paid["payments"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (&listed[0]["id"], &listed[1]["id"]),
        (&first["id"], &second["id"])
    );

    // A paid invoice takes no more payment.
    assert_problem(
        pay(&app, &a, &inv, &transfer("1.00")).await,
        409,
        "invoice_not_open",
    )
    .await;
    assert_eq!(
        balance(&app, &a).await,
        json!({"amount": "0.00", "currency": "EUR"})
    );
    assert_eq!(events(&app, &a, "invoice.payment_recorded").await.len(), 2);
    let paid_events = events(&app, &a, "invoice.paid").await;
    assert_eq!(paid_events.len(), 1);
    assert_eq!(paid_events[0]["after"]["payment_id"], second["id"]);

    // The payments list, a page at a time, oldest first; viewers read it.
    let page: Value = app
        .get(
            &format!("{}?limit=1", payments_path(&a, &inv)),
            &app.viewer(&a),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["id"], first["id"]);
    let next = page["next_cursor"].as_str().unwrap();
    let page: Value = app
        .get(
            &format!("{}?limit=1&cursor={next}", payments_path(&a, &inv)),
            &app.viewer(&a),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["id"], second["id"]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn an_overpayment_pays_the_invoice_and_its_excess_goes_to_the_customer_balance() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(
        balance(&app, &a).await,
        json!({"amount": "0.00", "currency": "EUR"})
    );
    let res = pay(&app, &a, &inv, &transfer("150.50")).await;
    assert_eq!(res.status(), 201);
    let payment: Value = res.json().await.unwrap();
    assert_eq!(payment["overpayment"], "30.50");
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "150.50", "0.00"));
    assert_eq!(
        balance(&app, &a).await,
        json!({"amount": "30.50", "currency": "EUR"})
    );
    let entries = balance_entries(&app, &a).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (
            &entries[0]["kind"],
            &entries[0]["amount"],
            &entries[0]["currency"],
            &entries[0]["invoice_id"],
            &entries[0]["payment_id"],
        ),
        (
            &json!("overpayment"),
            &json!("30.50"),
            &json!("EUR"),
            &json!(inv),
            &payment["id"],
        )
    );
}

#[tokio::test]
async fn mark_paid_records_a_payment_of_the_amount_due_today() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("20.00")).await.status(), 201);
    app.clock.set(datetime!(2026-05-03 14:00 UTC));
    let mark = format!("/v1/accounts/{a}/invoices/{inv}/mark-paid");
    let res = app.post(&mark, &app.support(), &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(amounts(&body), row("paid", "120.00", "0.00"));
    assert_eq!(body["paid_at"], "2026-05-03T14:00:00Z");
    let last = &body["payments"][1];
    assert_eq!(
        (
            &last["amount"],
            &last["method"],
            &last["reference"],
            &last["paid_at"]
        ),
        (
            &json!("100.00"),
            &json!("other"),
            &json!("mark-paid"),
            &json!("2026-05-03T14:00:00Z")
        )
    );
    assert_problem(
        app.post(&mark, &app.support(), &json!({})).await,
        409,
        "invoice_not_open",
    )
    .await;
    assert_eq!(balance(&app, &a).await["amount"], "0.00");
}

#[tokio::test]
async fn the_webhook_records_the_amount_date_method_and_reference_it_sends() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let first = json!({"id": "evt_p1", "type": "invoice.paid", "data": {
        "invoice_id": inv, "amount": "40.00", "currency": "EUR",
        "paid_at": "2026-05-02T06:00:00Z", "method": "sepa_debit", "reference": "pi_123"}});
    assert!(applied(&app, &first).await);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("issued", "40.00", "80.00"));
    let p = &body["payments"][0];
    assert_eq!(
        (
            &p["amount"],
            &p["currency"],
            &p["paid_at"],
            &p["method"],
            &p["reference"]
        ),
        (
            &json!("40.00"),
            &json!("EUR"),
            &json!("2026-05-02T06:00:00Z"),
            &json!("sepa_debit"),
            &json!("pi_123")
        )
    );
    // A replayed event id changes nothing.
    assert!(!applied(&app, &first).await);
    assert_eq!(
        amounts(&invoice_of(&app, &a, &inv).await),
        row("issued", "40.00", "80.00")
    );
    let rest = json!({"id": "evt_p2", "type": "invoice.paid", "data": {
        "invoice_id": inv, "amount": "80.00", "paid_at": "2026-05-02T07:00:00Z"}});
    assert!(applied(&app, &rest).await);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "120.00", "0.00"));
    assert_eq!(body["paid_at"], "2026-05-02T07:00:00Z");
    assert_eq!(body["payments"][1]["method"], "other");
    let recorded = events(&app, &a, "invoice.payment_recorded").await;
    assert_eq!(recorded.len(), 2);
    assert!(
        recorded
            .iter()
            .all(|e| e["actor"]["subject"] == "payment-webhook")
    );
}

#[tokio::test]
async fn a_webhook_without_an_amount_pays_the_amount_due_as_before() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("20.00")).await.status(), 201);
    let legacy = json!({"id": "evt_legacy", "type": "invoice.paid", "data": {"invoice_id": inv}});
    assert!(applied(&app, &legacy).await);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "120.00", "0.00"));
    let p = &body["payments"][1];
    assert_eq!(
        (&p["amount"], &p["method"], &p["paid_at"]),
        (
            &json!("100.00"),
            &json!("other"),
            &json!("2026-05-02T08:00:00Z")
        )
    );
}

#[tokio::test]
async fn a_failed_debit_is_recorded_with_its_reason_and_shown_on_the_invoice() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let failed = json!({"id": "evt_f1", "type": "invoice.payment_failed",
                        "data": {"invoice_id": inv, "failure_reason": "Insufficient funds"}});
    assert!(applied(&app, &failed).await);
    assert!(
        !applied(&app, &failed).await,
        "a replay records nothing more"
    );
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("issued", "0.00", "120.00"));
    let failures = body["payment_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert!(failures[0]["id"].as_str().unwrap().starts_with("pyf_"));
    assert_eq!(failures[0]["reason"], "Insufficient funds");
    assert_eq!(failures[0]["failed_at"], "2026-05-02T08:00:00Z");
    let audited = events(&app, &a, "invoice.payment_failed").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["after"]["reason"], "Insufficient funds");
    // The failure stays shown once the invoice is paid.
    assert_eq!(pay(&app, &a, &inv, &transfer("120.00")).await.status(), 201);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(body["status"], "paid");
    assert_eq!(body["payment_failures"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn events_about_an_unknown_or_settled_invoice_are_recorded_and_answered_not_applied() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let unknown = "inv_0000000000000000000000000000dead";
    let paid = json!({"id": "evt_u1", "type": "invoice.paid",
                      "data": {"invoice_id": unknown, "amount": "12.00", "currency": "EUR"}});
    assert!(!applied(&app, &paid).await);
    let failed = json!({"id": "evt_u2", "type": "invoice.payment_failed",
                        "data": {"invoice_id": unknown, "failure_reason": "Card expired"}});
    assert!(!applied(&app, &failed).await);
    // Staff find them in the staff-wide audit log, with what was sent.
    let log: Value = app
        .get("/v1/audit-events?limit=100", &app.support())
        .await
        .json()
        .await
        .unwrap();
    let about: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == unknown)
        .collect();
    let mut actions: Vec<&str> = about
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        ["invoice.payment_failed", "invoice.payment_recorded"]
    );
    let recorded = about
        .iter()
        .find(|e| e["action"] == "invoice.payment_recorded")
        .unwrap();
    assert_eq!(recorded["after"]["amount_minor"], 1200);
    assert_eq!(recorded["after"]["applied"], false);
    assert_eq!(recorded["account_id"], Value::Null);
    let mut tx = app.store.begin_read().await.unwrap();
    let (rows,): (i64,) = match &mut tx {
        comptoir::store::Tx::Sqlite(c) => sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM invoice_payments WHERE invoice_id = $1 AND NOT applied",
        )
        .bind(unknown)
        .fetch_one(&mut **c)
        .await
        .unwrap(),
        comptoir::store::Tx::Pg(c) => sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM invoice_payments WHERE invoice_id = $1 AND NOT applied",
        )
        .bind(unknown)
        .fetch_one(&mut **c)
        .await
        .unwrap(),
    };
    drop(tx);
    assert_eq!(rows, 1);

    // A second payment of an invoice already paid: kept, not applied, not
    // counted, not in the balance.
    assert_eq!(pay(&app, &a, &inv, &transfer("120.00")).await.status(), 201);
    let again = json!({"id": "evt_u3", "type": "invoice.paid",
                       "data": {"invoice_id": inv, "amount": "120.00", "method": "card"}});
    assert!(!applied(&app, &again).await);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "120.00", "0.00"));
    let late = &body["payments"][1];
    assert_eq!(
        (&late["applied"], &late["amount"], &late["method"]),
        (&json!(false), &json!("120.00"), &json!("card"))
    );
    assert_eq!(balance(&app, &a).await["amount"], "0.00");
    // Without an amount, it is kept with none.
    let bare = json!({"id": "evt_u4", "type": "invoice.paid", "data": {"invoice_id": inv}});
    assert!(!applied(&app, &bare).await);
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(body["payments"][2]["amount"], Value::Null);
    assert_eq!(body["payments"][2]["currency"], Value::Null);

    // A void invoice too.
    let (b, void) = issued_invoice(&app, "Bravo").await;
    let res = app
        .post(
            &format!("/v1/accounts/{b}/invoices/{void}/void"),
            &app.support(),
            &json!({"reason": "Wrong account"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let on_void = json!({"id": "evt_u5", "type": "invoice.paid", "data": {"invoice_id": void}});
    assert!(!applied(&app, &on_void).await);
    // `void` credits the invoice in full.
    assert_eq!(
        amounts(&invoice_of(&app, &b, &void).await),
        (
            "credited".into(),
            "0.00".into(),
            "120.00".into(),
            "0.00".into()
        )
    );
}

#[tokio::test]
async fn bad_webhook_fields_are_422_naming_each_and_record_nothing_so_a_fixed_delivery_applies() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let bad = json!({"id": "evt_bad", "type": "invoice.paid", "data": {
        "invoice_id": inv, "amount": "-5", "currency": "USD",
        "paid_at": "2026-06-01T00:00:00Z", "method": "paypal", "reference": " "}});
    let problem = assert_problem(event(&app, &bad).await, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "data.amount",
            "data.currency",
            "data.paid_at",
            "data.method",
            "data.reference"
        ]
    );
    let fixed = json!({"id": "evt_bad", "type": "invoice.paid", "data": {
        "invoice_id": inv, "amount": "5.00", "currency": "EUR"}});
    assert!(applied(&app, &fixed).await);
    assert_eq!(
        amounts(&invoice_of(&app, &a, &inv).await),
        row("issued", "5.00", "115.00")
    );
}

#[tokio::test]
async fn a_bad_payment_names_every_bad_field_at_once_and_changes_nothing() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let problem = assert_problem(
        pay(
            &app,
            &a,
            &inv,
            &json!({"amount": "0.00", "currency": "USD", "paid_at": "2026-05-02T08:00:01Z",
                    "method": "transfer", "reference": "a\u{202E}b"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let errors: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            ("amount", "must be between 0.01 and 100000000.00"),
            ("currency", "must be the invoice's currency, EUR"),
            ("paid_at", "must not be in the future"),
            (
                "reference",
                "must be 1 to 200 characters, not only spaces, without control or invisible characters"
            ),
        ]
    );
    // Shapes serde refuses: each field named too, from the request schema.
    let problem = assert_problem(
        pay(
            &app,
            &a,
            &inv,
            &json!({"amount": 5, "paid_at": "yesterday", "method": "paypal", "colour": "red"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert!(
        ["amount", "colour", "method"]
            .iter()
            .all(|f| fields.contains(f)),
        "{problem}"
    );
    for (amount, message) in [
        ("100000000.01", "must be between 0.01 and 100000000.00"),
        ("1.005", "has more than 2 digits after the decimal point"),
        ("1e3", "must be a decimal number such as \"64.00\""),
        (
            "000000000000000000001",
            "must be a decimal amount of at most 20 characters, such as \"120.00\"",
        ),
    ] {
        let problem = assert_problem(
            pay(&app, &a, &inv, &transfer(amount)).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            problem["errors"],
            json!([{"field": "amount", "message": message}]),
            "{amount}"
        );
    }
    let problem = assert_problem(
        pay(
            &app,
            &a,
            &inv,
            &json!({"amount": "1.00", "paid_at": "2 May 2026", "method": "cash"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "method")
    );
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("issued", "0.00", "120.00"));
    assert!(
        events(&app, &a, "invoice.payment_recorded")
            .await
            .is_empty()
    );
    // The largest payment is accepted.
    let res = pay(&app, &a, &inv, &transfer("100000000.00")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        balance(&app, &a).await["amount"],
        "99999880.00",
        "the excess went to the balance"
    );
}

#[tokio::test]
async fn a_retried_payment_with_its_idempotency_key_is_recorded_once() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let send = |body: Value| {
        let app = &app;
        let path = payments_path(&a, &inv);
        async move {
            app.request(Method::POST, &path, Some(&app.support()))
                .header("Idempotency-Key", "pay-1")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(transfer("30.00")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(transfer("30.00")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_problem(send(transfer("31.00")).await, 422, "idempotency_key_reused").await;
    assert_eq!(
        amounts(&invoice_of(&app, &a, &inv).await),
        row("issued", "30.00", "90.00")
    );
}

#[tokio::test]
async fn only_staff_record_payments_and_every_reader_of_invoices_sees_them() {
    use comptoir::domain::role::Role;
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let path = payments_path(&a, &inv);
    for token in [
        app.admin(&a),
        app.viewer(&a),
        app.token(Role::Integration, Some(&a)),
    ] {
        assert_problem(
            app.post(&path, &token, &transfer("10.00")).await,
            403,
            "forbidden",
        )
        .await;
    }
    for token in [app.admin(&a), app.viewer(&a), app.support()] {
        assert_eq!(app.get(&path, &token).await.status(), 200);
        let balance = format!("/v1/accounts/{a}/balance");
        assert_eq!(app.get(&balance, &token).await.status(), 200);
        assert_eq!(
            app.get(&format!("{balance}/entries"), &token)
                .await
                .status(),
            200
        );
    }
    let integration = app.token(Role::Integration, Some(&a));
    assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    assert_problem(
        app.get(&format!("/v1/accounts/{a}/balance"), &integration)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/accounts/{a}/invoices/{inv}/mark-paid"),
            &app.admin(&a),
            &json!({}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        amounts(&invoice_of(&app, &a, &inv).await),
        row("issued", "0.00", "120.00")
    );
}

#[tokio::test]
async fn another_accounts_invoice_payments_and_balance_are_404_and_change_nothing() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let (b, _) = issued_invoice(&app, "Bravo").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("150.00")).await.status(), 201);
    // B's admin and viewer on A's paths: A does not exist for them.
    for token in [app.admin(&b), app.viewer(&b)] {
        assert_problem(
            app.post(&payments_path(&a, &inv), &token, &transfer("10.00"))
                .await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            app.get(&payments_path(&a, &inv), &token).await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            app.get(&format!("/v1/accounts/{a}/balance"), &token).await,
            404,
            "not_found",
        )
        .await;
    }
    // A's invoice under B's account, even for staff: no such invoice.
    assert_problem(
        pay(&app, &b, &inv, &transfer("10.00")).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&payments_path(&b, &inv), &app.support()).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/accounts/{b}/invoices/{inv}/mark-paid"),
            &app.support(),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "150.00", "0.00"));
    assert_eq!(body["payments"].as_array().unwrap().len(), 1);
    assert_eq!(balance(&app, &a).await["amount"], "30.00");
    assert_eq!(balance(&app, &b).await["amount"], "0.00");
    assert!(balance_entries(&app, &b).await.is_empty());
}

#[tokio::test]
async fn concurrent_payments_of_one_invoice_are_all_recorded_and_summed() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    // Twelve payments of 10.00 at once, by staff and by the webhook: 120.00.
    let staff = (0..6).map(|_| {
        let (app, a, inv) = (&app, &a, &inv);
        async move { pay(app, a, inv, &transfer("10.00")).await.status().as_u16() }
    });
    let webhook = (0..6).map(|i| {
        let (app, inv) = (&app, &inv);
        async move {
            let body = json!({"id": format!("evt_c{i}"), "type": "invoice.paid",
                              "data": {"invoice_id": inv, "amount": "10.00"}});
            let res = event(app, &body).await;
            let status = res.status().as_u16();
            let ack: Value = res.json().await.unwrap();
            assert_eq!(ack["applied"], true, "{ack}");
            status
        }
    });
    let (staff, webhook) = tokio::join!(join_all(staff), join_all(webhook));
    assert!(staff.iter().all(|s| *s == 201), "{staff:?}");
    assert!(webhook.iter().all(|s| *s == 200), "{webhook:?}");
    let body = invoice_of(&app, &a, &inv).await;
    assert_eq!(amounts(&body), row("paid", "120.00", "0.00"));
    assert_eq!(body["payments"].as_array().unwrap().len(), 12);
    assert_eq!(events(&app, &a, "invoice.paid").await.len(), 1);
    assert_eq!(balance(&app, &a).await["amount"], "0.00");

    // Past the amount due: one of two concurrent 70.00 payments settles the
    // invoice (with 20.00 to the balance), the other is refused whole.
    let (b, inv_b) = issued_invoice(&app, "Bravo").await;
    let two = (0..2).map(|_| {
        let (app, b, inv_b) = (&app, &b, &inv_b);
        async move {
            pay(app, b, inv_b, &transfer("70.00"))
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = join_all(two).await;
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 201],
        "70 + 70 on 120: the second pays 50 and 20 goes to the balance"
    );
    let body = invoice_of(&app, &b, &inv_b).await;
    assert_eq!(amounts(&body), row("paid", "140.00", "0.00"));
    assert_eq!(balance(&app, &b).await["amount"], "20.00");
}

#[tokio::test]
async fn voiding_a_partly_paid_invoice_credits_it_and_owes_what_was_paid_to_the_customer() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("45.00")).await.status(), 201);
    let res = app
        .post(
            &format!("/v1/accounts/{a}/invoices/{inv}/void"),
            &app.support(),
            &json!({"reason": "Billed twice"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        amounts(&body),
        (
            "credited".into(),
            "45.00".into(),
            "120.00".into(),
            "0.00".into()
        )
    );
    assert_eq!(balance(&app, &a).await["amount"], "45.00");
    assert_eq!(balance_entries(&app, &a).await[0]["kind"], "credit_note");
    assert_problem(
        pay(&app, &a, &inv, &transfer("1.00")).await,
        409,
        "invoice_not_open",
    )
    .await;
}

#[tokio::test]
async fn the_invoice_list_shows_each_invoices_payments() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("12.34")).await.status(), 201);
    let list: Value = app
        .get(&format!("/v1/accounts/{a}/invoices"), &app.viewer(&a))
        .await
        .json()
        .await
        .unwrap();
    let item = &list["data"][0];
    assert_eq!(amounts(item), row("issued", "12.34", "107.66"));
    assert_eq!(item["payments"][0]["amount"], "12.34");
}

#[tokio::test]
async fn a_draft_takes_no_payment_until_it_is_issued() {
    let app = crate::helpers::spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let a = crate::invoices::account_with_april_calls(&app, "Grace").await;
    app.clock.set(BILLED_AT);
    let run = crate::invoices::bill(&app, "2026-05").await;
    let draft = run["drafted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["account_id"] == a.as_str())
        .unwrap_or_else(|| panic!("no draft for {a}: {run}"))["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = invoice_of(&app, &a, &draft).await;
    assert_eq!(amounts(&body), row("draft", "0.00", "1.20"));
    assert_eq!(body["payments"], json!([]));
    // The body is checked first, then the draft refuses.
    let problem = assert_problem(
        pay(&app, &a, &draft, &transfer("0")).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "amount");
    assert_problem(
        pay(&app, &a, &draft, &transfer("1.20")).await,
        409,
        "invoice_not_open",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/accounts/{a}/invoices/{draft}/mark-paid"),
            &app.support(),
            &json!({}),
        )
        .await,
        409,
        "invoice_not_open",
    )
    .await;
    let listed: Value = app
        .get(&payments_path(&a, &draft), &app.viewer(&a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    // The provider cannot pay a draft either: recorded, not applied.
    let early = json!({"id": "evt_d1", "type": "invoice.paid",
                       "data": {"invoice_id": draft, "amount": "1.20"}});
    assert!(!applied(&app, &early).await);
    let recorded = events(&app, &a, "invoice.payment_recorded").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["after"]["not_applied_because"], "invoice draft");
    let body = invoice_of(&app, &a, &draft).await;
    assert_eq!(amounts(&body), row("draft", "0.00", "1.20"));
    assert_eq!(body["payments"][0]["applied"], false);
    // Once issued, it is paid like any other.
    let res = app
        .post(
            &format!("/v1/accounts/{a}/invoices/{draft}/finalize"),
            &app.support(),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(pay(&app, &a, &draft, &transfer("1.20")).await.status(), 201);
    let body = invoice_of(&app, &a, &draft).await;
    assert_eq!(amounts(&body), row("paid", "1.20", "0.00"));
    // The event kept before it was issued is shown, not counted.
    let applied_flags: Vec<&Value> = body["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["applied"])
        .collect();
    assert_eq!(applied_flags, [&json!(false), &json!(true)]);
}
