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
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let path = format!("/v1/accounts/{a}/invoices/upcoming");
    assert_problem(app.get(&path, &app.admin(&b)).await, 404, "not_found").await;
    let integration = app.token(Role::Integration, Some(&a));
    assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    let body: Value = app.get(&path, &app.viewer(&a)).await.json().await.unwrap();
    assert_eq!(body["lines"], json!([]));
    assert_eq!(body["total"], "0.00");
    assert_eq!(body["payment_method"], Value::Null);
}
