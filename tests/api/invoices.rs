use comptoir::domain::role::Role;
use serde_json::{Value, json};

use crate::helpers::{DATA_KEY, START, assert_problem, spawn_app};

#[tokio::test]
async fn the_upcoming_invoice_of_the_help_pages_account_comes_out_exactly() {
    let app = spawn_app().await;
    let key = comptoir::crypto::DataKey::from_base64(DATA_KEY).unwrap();
    comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), START)
        .await
        .unwrap();
    let res = app
        .get(
            "/v1/accounts/acc_demo/invoices/upcoming",
            &app.viewer("acc_demo"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let lines: Vec<(String, u64, String, String, Value)> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["unit_amount"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
                l["days"].clone(),
            )
        })
        .collect();
    let line = |kind: &str, q: u64, unit: &str, amount: &str, days: Value| {
        (kind.to_owned(), q, unit.to_owned(), amount.to_owned(), days)
    };
    assert_eq!(
        lines,
        vec![
            line("license", 10, "64.00", "640.00", Value::Null),
            line("phone_number", 3, "5.00", "15.00", Value::Null),
            line("license_proration", 3, "64.00", "192.00", json!(30)),
            line("license_proration", 1, "61.87", "61.87", json!(29)),
            line("license_proration", 2, "46.93", "93.86", json!(22)),
        ]
    );
    assert_eq!(body["subtotal"], "1002.73");
    assert_eq!(body["tax_rate"], "20");
    assert_eq!(body["tax_amount"], "200.55");
    assert_eq!(body["total"], "1203.28");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["number"], Value::Null);
    assert_eq!(body["issue_date"], "2026-05-01");
    assert_eq!(body["debit_date"], "2026-05-01");
    assert_eq!(body["period_start"], "2026-05-01");
    assert_eq!(body["period_end"], "2026-05-31");
    assert_eq!(body["payment_method"]["default"], true);
    let masked = body["payment_method"]["masked"].as_str().unwrap();
    assert!(masked.contains("****"), "{masked}");
}

#[tokio::test]
async fn march_consumption_not_covered_by_credits_is_on_aprils_invoice() {
    let app = spawn_app().await;
    let key = comptoir::crypto::DataKey::from_base64(DATA_KEY).unwrap();
    // The demo as of March 20: its March calls are billed on April 1.
    let march = time::macros::datetime!(2026-03-20 10:00 UTC);
    comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), march)
        .await
        .unwrap();
    app.clock.set(march);
    let body: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices/upcoming",
            &app.admin("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["issue_date"], "2026-04-01");
    let summary: Value = app
        .get(
            "/v1/accounts/acc_demo/consumption/summary?from=2026-03-01&to=2026-03-31",
            &app.admin("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    let consumption = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "consumption")
        .expect("a consumption line");
    assert_eq!(consumption["amount"], summary["total"]["billable"]);
    assert_ne!(consumption["amount"], "0.00");
}

#[tokio::test]
async fn another_accounts_upcoming_invoice_is_404_and_integrations_cannot_read_it() {
    let app = spawn_app().await;
    let a = app.create_billable_account("A").await;
    let b = app.create_billable_account("B").await;
    let path = format!("/v1/accounts/{a}/invoices/upcoming");
    assert_problem(app.get(&path, &app.admin(&b)).await, 404, "not_found").await;
    let integration = app.token(Role::Integration, Some(&a));
    assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    let body: Value = app.get(&path, &app.viewer(&a)).await.json().await.unwrap();
    assert_eq!(body["lines"], json!([]));
    assert_eq!(body["total"], "0.00");
    assert_eq!(body["payment_method"], Value::Null);
}

pub(crate) async fn demo_on_april_9(app: &crate::helpers::TestApp) {
    let key = comptoir::crypto::DataKey::from_base64(DATA_KEY).unwrap();
    comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), START)
        .await
        .unwrap();
}

/// Runs the billing of `period` as staff, first moving the clock to the
/// period's 1st (10:00 UTC) if it is earlier: a period is billed from its 1st.
pub(crate) async fn bill(app: &crate::helpers::TestApp, period: &str) -> Value {
    let first = time::Date::parse(
        &format!("{period}-01"),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap()
    .with_hms(10, 0, 0)
    .unwrap()
    .assume_utc();
    if app.clock.now() < first {
        app.clock.set(first);
    }
    let res = app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({ "period": period }),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// An account whose only billable item is 1.00 of April calls, not covered by credits.
pub(crate) async fn account_with_april_calls(app: &crate::helpers::TestApp, name: &str) -> String {
    let account = app.create_billable_account(name).await;
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(&account)),
            &json!({"records": [{
                "external_id": "x1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 60, "cost": "1.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    account
}

async fn numbers(app: &crate::helpers::TestApp) -> Vec<String> {
    let mut tx = app.store.begin_read().await.unwrap();
    tx.invoice_numbers(2026).await.unwrap()
}

fn gapless(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("F-2026-{n:06}")).collect()
}

#[tokio::test]
async fn a_billing_run_issues_the_upcoming_invoice_once() {
    let app = spawn_app().await;
    demo_on_april_9(&app).await;
    let upcoming: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices/upcoming",
            &app.admin("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    let first = bill(&app, "2026-05").await;
    assert_eq!(first["issued"].as_array().unwrap().len(), 1);
    // The demo holds the invoices of January to April and its top-up's
    // acompte already.
    assert_eq!(first["issued"][0]["number"], "F-2026-000006");
    let again = bill(&app, "2026-05").await;
    assert_eq!(again["issued"], json!([]));
    assert_eq!(again["already_issued"], 1);
    assert_eq!(numbers(&app).await, gapless(6));

    let list: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices?from=2026-05-01",
            &app.viewer("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    let invoice = &list["data"][0];
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(invoice["number"], "F-2026-000006");
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["issue_date"], "2026-05-01");
    // The same lines; the issued ones have ids, the upcoming's are null.
    let without_ids = |lines: &Value| {
        let mut lines = lines.clone();
        for l in lines.as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("id");
        }
        lines
    };
    assert_eq!(
        without_ids(&invoice["lines"]),
        without_ids(&upcoming["lines"])
    );
    assert!(upcoming["lines"][0]["id"].is_null());
    assert!(
        invoice["lines"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("il_")
    );
    for field in [
        "subtotal",
        "tax_amount",
        "total",
        "period_start",
        "period_end",
    ] {
        assert_eq!(invoice[field], upcoming[field], "{field}");
    }
    assert_eq!(invoice["total"], "1203.28");
    assert_eq!(invoice["billing_address"]["country"], "FR");
    // One payment_method shape: the issued invoice's fields are the upcoming's first ones.
    assert!(invoice["payment_method"].is_object(), "{invoice}");
    for field in ["type", "masked", "last4", "iban_last4"] {
        assert_eq!(
            invoice["payment_method"][field], upcoming["payment_method"][field],
            "{field}"
        );
    }
    // A field without a value is there, null.
    for field in ["paid_at", "voided_at", "void_reason"] {
        assert_eq!(invoice.get(field), Some(&Value::Null), "{field}");
    }
    let filtered: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices?status=paid&from=2026-04-01",
            &app.viewer("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    // April's and May's invoices are open: the one paid since April 1 is
    // the demo top-up's acompte.
    let paid: Vec<&str> = filtered["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(paid, ["advance"]);
    assert!(
        app.audit_actions("acc_demo")
            .await
            .contains(&"invoice.issued".to_owned())
    );
}

#[tokio::test]
async fn an_issued_invoice_does_not_change_when_the_address_or_prices_do() {
    let app = spawn_app().await;
    demo_on_april_9(&app).await;
    let run = bill(&app, "2026-05").await;
    let id = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/acc_demo/invoices/{id}");
    let before: Value = app
        .get(&path, &app.admin("acc_demo"))
        .await
        .json()
        .await
        .unwrap();

    let res = app
        .put(
            "/v1/plans/ADVANCED",
            &app.support(),
            &json!({"name": "Advanced", "monthly_price": "99.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let addresses: Value = app
        .get(
            "/v1/accounts/acc_demo/billing-addresses",
            &app.admin("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    let primary = addresses["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["primary"] == true)
        .unwrap();
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!(
                "/v1/accounts/acc_demo/billing-addresses/{}",
                primary["id"].as_str().unwrap()
            ),
            Some(&app.support()),
        )
        .json(&json!({"city": "Lyon", "company_name": "Nouveau Nom SAS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let after: Value = app
        .get(&path, &app.admin("acc_demo"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    assert_ne!(after["billing_address"]["city"], "Lyon");
}

#[tokio::test]
async fn concurrent_billing_runs_issue_each_invoice_once_with_no_gap() {
    let app = spawn_app().await;
    let mut accounts = Vec::new();
    for i in 0..6 {
        accounts.push(account_with_april_calls(&app, &format!("Client {i}")).await);
    }
    let runs = (0..3).map(|_| bill(&app, "2026-05"));
    let reports = futures_util::future::join_all(runs).await;
    let issued: usize = reports
        .iter()
        .map(|r| r["issued"].as_array().unwrap().len())
        .sum();
    assert_eq!(issued, 6);
    assert!(reports.iter().all(|r| r["failed"] == json!([])));
    assert_eq!(numbers(&app).await, gapless(6));
    for account in &accounts {
        let list: Value = app
            .get(
                &format!("/v1/accounts/{account}/invoices"),
                &app.admin(account),
            )
            .await
            .json()
            .await
            .unwrap();
        let lines = &list["data"][0]["lines"];
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert_eq!(lines[0]["kind"], "consumption");
        assert_eq!(list["data"][0]["total"], "1.20");
    }
}

#[tokio::test]
async fn an_account_that_fails_is_reported_leaves_nothing_and_the_others_are_billed() {
    let app = spawn_app().await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(account_with_april_calls(&app, &format!("Client {i}")).await);
    }
    crate::helpers::fail_inserts_of(&app, "invoices", &accounts[1]).await;
    let report = bill(&app, "2026-05").await;
    assert_eq!(report["issued"].as_array().unwrap().len(), 2);
    assert_eq!(report["failed"].as_array().unwrap().len(), 1);
    assert_eq!(report["failed"][0]["account_id"], accounts[1].as_str());
    // The failed transaction took a number and gave it back.
    assert_eq!(numbers(&app).await, gapless(2));
    let list: Value = app
        .get(
            &format!("/v1/accounts/{}/invoices", accounts[1]),
            &app.admin(&accounts[1]),
        )
        .await
        .json()
        .await
        .unwrap();
    // Its draft is left, whole, for the next run or the finalizer; no
    // invoice, no number.
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["status"], "draft");
    assert_eq!(data[0]["number"], Value::Null);
    assert_eq!(data[0]["total"], "1.20");
    assert!(
        !app.audit_actions(&accounts[1])
            .await
            .contains(&"invoice.issued".to_owned())
    );
}

#[tokio::test]
async fn invoices_are_404_from_another_account_and_runs_are_staff_only() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "A").await;
    let b = app.create_billable_account("B").await;
    let run = bill(&app, "2026-05").await;
    let id = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let res = app
        .get(&format!("/v1/accounts/{a}/invoices/{id}"), &app.admin(&b))
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(&format!("/v1/accounts/{b}/invoices/{id}"), &app.admin(&b))
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post(
            "/v1/billing-runs",
            &app.admin(&a),
            &json!({"period": "2026-05"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    for bad in ["2026-13", "May", "2026-5"] {
        let res = app
            .post("/v1/billing-runs", &app.support(), &json!({"period": bad}))
            .await;
        assert_problem(res, 422, "validation_failed").await;
    }
    assert_eq!(numbers(&app).await, gapless(1));
}

#[tokio::test]
async fn staff_mark_invoices_paid_or_void_once_and_customers_cannot() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "A").await;
    let b = account_with_april_calls(&app, "B").await;
    let run = bill(&app, "2026-05").await;
    let id_of = |account: &str| {
        run["issued"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["account_id"] == account)
            .unwrap()["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ia, ib) = (id_of(&a), id_of(&b));
    let paid = format!("/v1/accounts/{a}/invoices/{ia}/mark-paid");
    assert_problem(
        app.post(&paid, &app.admin(&a), &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let res = app.post(&paid, &app.support(), &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "paid");
    assert!(body["paid_at"].is_string());
    assert_problem(
        app.post(&paid, &app.support(), &json!({})).await,
        409,
        "invoice_not_open",
    )
    .await;

    let void = format!("/v1/accounts/{b}/invoices/{ib}/void");
    assert_problem(
        app.post(&void, &app.support(), &json!({"reason": ""}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let res = app
        .post(&void, &app.support(), &json!({"reason": "wrong account"}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    // An issued invoice is never voided: `void` credits it in full.
    assert_eq!(
        (body["status"].as_str(), body["amount_due"].as_str()),
        (Some("credited"), Some("0.00"))
    );
    assert_eq!(body["credit_notes"][0]["number"], "AV-2026-000001");
    assert_problem(
        app.post(
            &format!("/v1/accounts/{b}/invoices/{ib}/mark-paid"),
            &app.support(),
            &json!({}),
        )
        .await,
        409,
        "invoice_not_open",
    )
    .await;
    let voided: Value = app
        .get(
            &format!("/v1/accounts/{b}/invoices?status=credited"),
            &app.viewer(&b),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(voided["data"].as_array().unwrap().len(), 1);
    assert!(
        app.audit_actions(&b)
            .await
            .contains(&"credit_note.issued".to_owned())
    );
}

#[tokio::test]
async fn the_payment_webhook_marks_an_invoice_paid_once() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "A").await;
    let run = bill(&app, "2026-05").await;
    let id = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let event = json!({"id": "evt_inv_1", "type": "invoice.paid", "data": {"invoice_id": id}});
    let at = app.clock.now().unix_timestamp();
    for expected in [true, false] {
        let (raw, header) = crate::credits::signed(&event, at, crate::helpers::WEBHOOK_SECRET);
        let res = crate::credits::deliver(&app, raw, &header).await;
        assert_eq!(res.status(), 200);
        let ack: Value = res.json().await.unwrap();
        assert_eq!(ack["applied"], expected);
    }
    let invoice: Value = app
        .get(&format!("/v1/accounts/{a}/invoices/{id}"), &app.viewer(&a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invoice["status"], "paid");
    // An unknown invoice is recorded and acknowledged, not applied: the
    // provider stops retrying (it was 404 before payments had amounts).
    let unknown =
        json!({"id": "evt_inv_2", "type": "invoice.paid", "data": {"invoice_id": "inv_0000"}});
    let (raw, header) = crate::credits::signed(&unknown, at, crate::helpers::WEBHOOK_SECRET);
    let res = crate::credits::deliver(&app, raw, &header).await;
    assert_eq!(res.status(), 200);
    let ack: Value = res.json().await.unwrap();
    assert_eq!(ack, json!({"received": true, "applied": false}));
}

#[tokio::test]
async fn the_invoice_pdf_and_html_hold_the_number_lines_and_totals() {
    let app = spawn_app().await;
    demo_on_april_9(&app).await;
    let run = bill(&app, "2026-05").await;
    let id = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let base = format!("/v1/accounts/acc_demo/invoices/{id}");
    let res = app
        .get(&format!("{base}/pdf"), &app.viewer("acc_demo"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("F-2026-000006.pdf")
    );
    let bytes = res.bytes().await.unwrap();
    let text = crate::helpers::pdf_text_of(&bytes);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Facture n° F-2026-000006",
        "Date d'émission : 01/05/2026",
        "Licence ADVANCED, mai 2026",
        "Licence ADVANCED au prorata à partir du 09/04/2026 (22 jours sur 30)",
        "Numéro supplémentaire, mai 2026",
        "640,00 €",
        "93,86 €",
        "Total HT 1 002,73 €",
        "TVA 20 % 200,55 €",
        "Total TTC 1 203,28 €",
        "Comptoir Télécom SAS",
        "Démo Télécom SAS",
        "indemnité forfaitaire de 40 €",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let english = app
        .request(
            reqwest::Method::GET,
            &format!("{base}/html"),
            Some(&app.viewer("acc_demo")),
        )
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Invoice no. F-2026-000006"));
    assert!(english.contains("€1,203.28"));
    assert!(english.contains("ADVANCED license, May 2026"));
    let other = app.create_billable_account("Other").await;
    assert_problem(
        app.get(&format!("{base}/pdf"), &app.admin(&other)).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn invoice_recipients_are_checked_unique_and_at_most_ten() {
    let app = spawn_app().await;
    let a = app.create_billable_account("A").await;
    let admin = app.admin(&a);
    let path = format!("/v1/accounts/{a}/invoice-recipients");
    let res = app
        .post(&path, &admin, &json!({"email": "compta@acme.fr"}))
        .await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let res = app
        .post(&path, &admin, &json!({"email": "COMPTA@acme.fr"}))
        .await;
    assert_problem(res, 409, "recipient_exists").await;
    let res = app
        .post(&path, &admin, &json!({"email": "not an email"}))
        .await;
    assert_problem(res, 422, "validation_failed").await;
    assert_problem(
        app.post(&path, &app.viewer(&a), &json!({"email": "v@acme.fr"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    for i in 1..10 {
        let res = app
            .post(&path, &admin, &json!({"email": format!("r{i}@acme.fr")}))
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .post(&path, &admin, &json!({"email": "eleventh@acme.fr"}))
        .await;
    assert_problem(res, 422, "too_many_recipients").await;
    let list: Value = app.get(&path, &app.viewer(&a)).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 10);

    let one = format!("{path}/{}", first["id"].as_str().unwrap());
    let res = app
        .request(reqwest::Method::PATCH, &one, Some(&admin))
        .json(&json!({"email": "r1@acme.fr"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "recipient_exists").await;
    let res = app
        .request(reqwest::Method::PATCH, &one, Some(&admin))
        .json(&json!({"email": "factures@acme.fr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got: Value = app.get(&one, &app.viewer(&a)).await.json().await.unwrap();
    assert_eq!(got["email"], "factures@acme.fr");

    let b = app.create_billable_account("B").await;
    assert_problem(app.get(&one, &app.admin(&b)).await, 404, "not_found").await;
    let res = app
        .request(reqwest::Method::DELETE, &one, Some(&app.admin(&b)))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = app
        .request(reqwest::Method::DELETE, &one, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(&one, &admin).await, 404, "not_found").await;
    let list: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn concurrent_recipient_adds_stop_at_ten() {
    let app = spawn_app().await;
    let a = app.create_billable_account("A").await;
    let admin = app.admin(&a);
    let path = format!("/v1/accounts/{a}/invoice-recipients");
    let adds = (0..14).map(|i| {
        let (app, path, admin) = (&app, &path, &admin);
        async move {
            app.post(path, admin, &json!({"email": format!("r{i}@acme.fr")}))
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(adds).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![201; 10], vec![422; 4]].concat());
    let list: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 10);
}

/// The demo's invoices of January to April, as the runs of each 1st issued
/// them: the licenses added on April 1 and later are not on April's invoice
/// (they are prorated on May's), though they existed when it was issued.
#[tokio::test]
async fn the_demo_has_paid_invoices_up_to_march_and_an_open_april_one() {
    let app = spawn_app().await;
    demo_on_april_9(&app).await;
    let list: Value = app
        .get("/v1/accounts/acc_demo/invoices", &app.viewer("acc_demo"))
        .await
        .json()
        .await
        .unwrap();
    let summary: Vec<(String, String, String, String)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap().to_owned();
            (s("number"), s("status"), s("issue_date"), s("total"))
        })
        .collect();
    let row = |n: &str, st: &str, d: &str, t: &str| (n.into(), st.into(), d.into(), t.into());
    let expected = vec![
        row("F-2026-000001", "paid", "2026-01-01", "639.94"),
        row("F-2026-000002", "paid", "2026-02-01", "325.20"),
        row("F-2026-000003", "paid", "2026-03-01", "325.20"),
        row("F-2026-000004", "issued", "2026-04-01", "599.51"),
        // The demo's top-up of 100.00: its acompte, after the months'.
        row("F-2026-000005", "paid", "2026-04-09", "120.00"),
    ];
    // Newest first or oldest first, the five are these.
    let mut sorted = summary.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let april = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == "F-2026-000004")
        .unwrap();
    let lines: Vec<(String, u64, String)> = april["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("license".into(), 4, "256.00".into()),
            ("phone_number".into(), 3, "15.00".into()),
            ("consumption".into(), 1, "228.59".into()),
        ]
    );
    // Loading the demo again issues nothing more.
    demo_on_april_9(&app).await;
    assert_eq!(numbers(&app).await, gapless(5));
}

/// A Spanish address with a VAT number: reverse charge, 0 % and the mention.
/// A license removed in April (activated in March) is gone from May's invoice.
#[tokio::test]
async fn an_eu_vat_address_is_reverse_charged_and_a_removed_license_is_not_billed_next() {
    use reqwest::Method;
    let app = spawn_app().await;
    let a = app.create_account("Acme Iberia").await;
    let admin = app.admin(&a);
    let card = crate::payments::add_card(&app, &a, &crate::payments::visa()).await;
    assert_eq!(card.status(), 201);
    let address: Value = app
        .post(
            &format!("/v1/accounts/{a}/billing-addresses"),
            &admin,
            &json!({"company_name": "Acme Iberia SL", "line1": "Calle Mayor 1",
                    "postal_code": "28013", "city": "Madrid", "country": "ES",
                    "vat_number": "ESA12345674"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let verify = format!(
        "/v1/accounts/{a}/billing-addresses/{}/verify",
        address["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::POST, &verify, Some(&app.support()))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    // The tests' VIES is unreachable: staff verify the number by hand
    // (tests/api/vies.rs checks numbers against a stand-in VIES).
    let res = app
        .post(
            &verify.replace("/verify", "/vat-check"),
            &app.support(),
            &json!({"method": "manual", "reason": "Checked on the AEAT census"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.clock.set(time::macros::datetime!(2026-03-10 09:00 UTC));
    let res = app
        .post(
            &format!("/v1/accounts/{a}/licenses"),
            &admin,
            &json!({"plan": "SMART", "quantity": 2}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.clock.set(START);
    let licenses: Value = app
        .get(&format!("/v1/accounts/{a}/licenses"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let removed = licenses["data"][0]["id"].as_str().unwrap();
    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/accounts/{a}/licenses/{removed}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let run = bill(&app, "2026-05").await;
    let id = run["issued"][0]["invoice_id"].as_str().unwrap();
    let invoice: Value = app
        .get(&format!("/v1/accounts/{a}/invoices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let lines: Vec<(String, u64, String)> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // March and April were never invoiced: May's invoice bills them too
    // (nothing billable is lost), and May for the license left.
    assert_eq!(
        lines,
        vec![
            ("license".to_owned(), 1, "24.00".to_owned()),
            ("license".to_owned(), 2, "48.00".to_owned()),
            ("license_proration".to_owned(), 2, "34.06".to_owned()),
        ]
    );
    assert_eq!(
        invoice["lines"][1]["description"],
        "SMART license, April 2026"
    );
    assert_eq!(invoice["tax_treatment"], "reverse_charge");
    assert_eq!(invoice["tax_rate"], "0");
    assert_eq!(invoice["tax_amount"], "0.00");
    assert_eq!(invoice["total"], "106.06");
    assert!(
        invoice["tax_mention"]
            .as_str()
            .unwrap()
            .contains("Article 196"),
        "{}",
        invoice["tax_mention"]
    );
    assert_eq!(invoice["billing_address"]["vat_number"], "ESA12345674");
}

#[tokio::test]
async fn a_failed_account_is_reported_by_the_run_and_its_cause_is_in_the_log() {
    let app = crate::helpers::spawn_app().await;
    let good = account_with_april_calls(&app, "Good").await;
    let broken = account_with_april_calls(&app, "Broken").await;
    // A value the code cannot read back: that account alone fails.
    let sql = "UPDATE accounts SET timezone = 'Not/A_Zone' WHERE id = $1";
    match &app.store {
        comptoir::store::Store::Sqlite(pool) => {
            sqlx::query(sql).bind(&broken).execute(pool).await.unwrap();
        }
        comptoir::store::Store::Pg(pool) => {
            sqlx::query(sql).bind(&broken).execute(pool).await.unwrap();
        }
    }
    let report = bill(&app, "2026-05").await;
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["account_id"], broken.as_str(), "{report}");
    assert_eq!(report["issued"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["issued"][0]["account_id"], good.as_str(), "{report}");
    // The client sees no internals; the log has the cause, with the account.
    assert!(!report.to_string().contains("column timezone"), "{report}");
    assert!(crate::helpers::logs_contain(
        "invalid stored value in column timezone"
    ));
}

#[tokio::test]
async fn requests_after_the_database_is_gone_are_503_never_500() {
    let app = crate::helpers::spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    app.store.close().await;
    let res = app.get("/v1/plans", &app.support()).await;
    crate::helpers::assert_problem(res, 503, "database_unavailable").await;
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.admin(&account),
        )
        .await;
    crate::helpers::assert_problem(res, 503, "database_unavailable").await;
    let res = app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({ "period": "2026-04" }),
        )
        .await;
    crate::helpers::assert_problem(res, 503, "database_unavailable").await;
}
