//! Amount limits: every amount a request carries has a maximum, one cent
//! over it is a 422 naming the field, and an account holding the maximum
//! values everywhere still gets its invoice, summary, export and billing run.

use comptoir::domain::role::Role;
use comptoir::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn record(id: &str, at: &str, user: &str, cost: &str) -> Value {
    json!({
        "external_id": id,
        "occurred_at": at,
        "user_id": user,
        "kind": "call",
        "direction": "outbound",
        "destination": "+33184800123",
        "country": "FR",
        "duration_seconds": 86_400,
        "cost": cost,
    })
}

/// `n` records at the largest cost, `prefix0`, `prefix1`, ... in April.
fn max_records(prefix: &str, n: usize, user: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let at = time::macros::datetime!(2026-04-01 00:00 UTC)
                + time::Duration::seconds(17 * i as i64);
            let at = at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            record(&format!("{prefix}{i}"), &at, user, "10000.00")
        })
        .collect()
}

async fn ingest(app: &TestApp, account: &str, records: Vec<Value>) -> reqwest::Response {
    app.post(
        &format!("/v1/accounts/{account}/consumption"),
        &app.token(Role::Integration, Some(account)),
        &json!({ "records": records }),
    )
    .await
}

use crate::helpers::success_json as ok;

/// The fields a 422 `validation_failed` names.
async fn refused_fields(res: reqwest::Response) -> Vec<String> {
    let body = assert_problem(res, 422, "validation_failed").await;
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn add_card(app: &TestApp, account: &str) {
    ok(app
        .post(
            &format!("/v1/accounts/{account}/payment-methods/card"),
            &app.admin(account),
            &json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030,
                "cvc": "123", "holder_name": "Claire Martin"}),
        )
        .await)
    .await;
}

/// Buys `amount` of credits and confirms the payment (staff).
async fn top_up(app: &TestApp, account: &str, amount: &str) {
    let created = ok(app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(account),
            &json!({ "amount": amount }),
        )
        .await)
    .await;
    let id = created["id"].as_str().unwrap();
    ok(app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups/{id}/confirm"),
            &app.support(),
            &json!({"status": "succeeded"}),
        )
        .await)
    .await;
}

/// Sets the balance directly, as if years of top-ups had brought it there.
async fn set_balance(app: &TestApp, account: &str, minor: i64) {
    let sql = "INSERT INTO credit_accounts (account_id, balance_minor, auto_recharge_enabled, \
        threshold_minor, recharge_amount_minor) VALUES ($2, $1, FALSE, 0, 0) \
        ON CONFLICT (account_id) DO UPDATE SET balance_minor = excluded.balance_minor";
    let done = match &app.store {
        Store::Sqlite(pool) => sqlx::query(sql)
            .bind(minor)
            .bind(account)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        Store::Pg(pool) => sqlx::query(sql)
            .bind(minor)
            .bind(account)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(done, 1);
}

#[tokio::test]
async fn the_maximum_amounts_everywhere_still_invoice_summarise_export_and_bill_exactly() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Grand Compte").await;
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;
    add_card(&app, &account).await;

    // The largest plan price, from May 1.
    ok(app
        .put(
            "/v1/plans/ADVANCED",
            &app.support(),
            &json!({"name": "Advanced", "monthly_price": "10000.00"}),
        )
        .await)
    .await;
    // 500 licenses added on April 9 (at April's 64.00).
    ok(app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 500}),
        )
        .await)
    .await;

    // The largest top-ups and the largest adjustment: 120,000.00 of credits.
    top_up(&app, &account, "10000.00").await;
    top_up(&app, &account, "10000.00").await;
    ok(app
        .post(
            &format!("/v1/accounts/{account}/credits/adjustments"),
            &app.support(),
            &json!({"amount": "100000.00", "reason": "Migration"}),
        )
        .await)
    .await;

    // A full batch, a half one and a single record, every one at the
    // largest cost: 15,001 x 10,000.00 = 150,010,000.00.
    let first = ok(ingest(&app, &account, max_records("a", 10_000, &user)).await).await;
    assert_eq!(first["covered_by_credits"], "120000.00");
    assert_eq!(first["billable"], "99880000.00");
    let second = ok(ingest(&app, &account, max_records("b", 5_000, &user)).await).await;
    assert_eq!(second["billable"], "50000000.00");
    let third = ok(ingest(&app, &account, max_records("c", 1, &user)).await).await;
    assert_eq!(third["billable"], "10000.00");

    // SQLite keeps the costs and the hourly aggregates as integers (a sum
    // past `i64` would have turned into a float).
    if let Store::Sqlite(pool) = &app.store {
        for sql in [
            "SELECT COUNT(*) FROM consumption_billable_hours \
             WHERE typeof(billable_minor) <> 'integer' OR typeof(records) <> 'integer'",
            "SELECT COUNT(*) FROM consumption_records \
             WHERE typeof(cost_minor) <> 'integer' OR typeof(billable_minor) <> 'integer'",
        ] {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.unwrap();
            assert_eq!(n, 0, "{sql}");
        }
    }

    let admin = app.admin(&account);
    let summary = ok(app
        .get(
            &format!("/v1/accounts/{account}/consumption/summary?from=2026-04-01&to=2026-04-30"),
            &admin,
        )
        .await)
    .await;
    assert_eq!(summary["total"]["count"], 15_001);
    assert_eq!(summary["total"]["duration_seconds"], 15_001 * 86_400_i64);
    assert_eq!(summary["total"]["cost"], "150010000.00");
    assert_eq!(summary["total"]["billable"], "149890000.00");
    assert_eq!(summary["by_user"][0]["cost"], "150010000.00");
    assert_eq!(summary["by_team"][0]["billable"], "149890000.00");

    let csv = app
        .get(
            &format!("/v1/accounts/{account}/consumption/export?format=csv"),
            &admin,
        )
        .await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 15_001);
    assert_eq!(
        rows[1..]
            .iter()
            .filter(|r| r.contains(",10000.00,"))
            .count(),
        15_001
    );

    // May: 500 x 10,000.00 recurring, 500 x 46.93 of April's proration,
    // April's consumption in full; 20 % VAT (a French address). Under the
    // totals, what the credits paid: the two acomptes (10,000.00 + 2,000.00
    // each) and the staff's 100,000.00 at 20 %, without an acompte.
    let upcoming = ok(app
        .get(&format!("/v1/accounts/{account}/invoices/upcoming"), &admin)
        .await)
    .await;
    let lines: Vec<(&str, &str)> = upcoming["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            ("license", "5000000.00"),
            ("license_proration", "23465.00"),
            ("consumption", "150010000.00"),
        ]
    );
    assert_eq!(upcoming["subtotal"], "155033465.00");
    assert_eq!(upcoming["tax_amount"], "31006693.00");
    assert_eq!(upcoming["total"], "186040158.00");
    let prepaid: Vec<(&str, &str)> = upcoming["prepaid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["amount_excluding_tax"].as_str().unwrap(),
                p["amount_including_tax"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prepaid,
        [
            ("10000.00", "12000.00"),
            ("10000.00", "12000.00"),
            ("100000.00", "120000.00")
        ]
    );
    assert_eq!(upcoming["amount_due"], "185896158.00");

    app.clock.set(time::macros::datetime!(2026-05-01 10:00 UTC));
    let run = ok(app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({"period": "2026-05"}),
        )
        .await)
    .await;
    assert_eq!(run["issued"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["failed"], json!([]), "{run}");
    let invoices = ok(app
        .get(&format!("/v1/accounts/{account}/invoices"), &admin)
        .await)
    .await;
    let may = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "period")
        .unwrap();
    assert_eq!(may["total"], "186040158.00");
    assert_eq!(may["subtotal"], "155033465.00");
    assert_eq!(may["amount_due"], "185896158.00");
}

#[tokio::test]
async fn one_cent_over_each_maximum_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Limites").await;
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;
    add_card(&app, &account).await;
    let (admin, support) = (app.admin(&account), app.support());
    let base = format!("/v1/accounts/{account}");

    // Consumption: the record's cost, at the door; nothing stored.
    for cost in ["10000.01", "92233720368547758.07", "99999999999999999999"] {
        let res = ingest(
            &app,
            &account,
            vec![
                record("ok", "2026-04-08T09:00:00Z", &user, "10000.00"),
                record("over", "2026-04-08T09:00:01Z", &user, cost),
            ],
        )
        .await;
        assert_eq!(refused_fields(res).await, ["records.1.cost"], "{cost}");
    }
    let summary = ok(app
        .get(&format!("{base}/consumption/summary"), &admin)
        .await)
    .await;
    assert_eq!(summary["total"]["count"], 0);

    // A top-up.
    let res = app
        .post(
            &format!("{base}/credits/top-ups"),
            &admin,
            &json!({"amount": "10000.01"}),
        )
        .await;
    assert_eq!(refused_fields(res).await, ["amount"]);

    // An adjustment, either way.
    for amount in ["100000.01", "-100000.01", "92233720368547758.07"] {
        let res = app
            .post(
                &format!("{base}/credits/adjustments"),
                &support,
                &json!({"amount": amount, "reason": "Geste"}),
            )
            .await;
        assert_eq!(refused_fields(res).await, ["amount"], "{amount}");
    }

    // Auto-recharge: the threshold, and the amount even when disabled.
    let res = app
        .request(
            Method::PUT,
            &format!("{base}/credits/auto-recharge"),
            Some(&admin),
        )
        .json(&json!({"enabled": true, "threshold": "10000.01", "amount": "10000.01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused_fields(res).await, ["threshold", "amount"]);
    let res = app
        .put(
            &format!("{base}/credits/auto-recharge"),
            &admin,
            &json!({"enabled": false, "threshold": "0", "amount": "10000.01"}),
        )
        .await;
    assert_eq!(refused_fields(res).await, ["amount"]);
    ok(app
        .put(
            &format!("{base}/credits/auto-recharge"),
            &admin,
            &json!({"enabled": true, "threshold": "10000.00", "amount": "10000.00"}),
        )
        .await)
    .await;

    // A plan price; the catalog keeps its price.
    let res = app
        .put(
            "/v1/plans/ADVANCED",
            &support,
            &json!({"name": "Advanced", "monthly_price": "10000.01"}),
        )
        .await;
    assert_eq!(refused_fields(res).await, ["monthly_price"]);
    let plans = ok(app.get("/v1/plans", &admin).await).await;
    let advanced = plans["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "ADVANCED")
        .unwrap();
    assert_eq!(advanced["next_price"], Value::Null);
}

#[tokio::test]
async fn the_balance_never_passes_its_maximum_and_a_settled_payment_is_still_credited() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Solde").await;
    add_card(&app, &account).await;
    let (admin, support) = (app.admin(&account), app.support());
    let base = format!("/v1/accounts/{account}");
    // A top-up created before the balance reached its maximum.
    let pending = ok(app
        .post(
            &format!("{base}/credits/top-ups"),
            &admin,
            &json!({"amount": "10000.00"}),
        )
        .await)
    .await;
    // One cent under 100,000,000.00.
    set_balance(&app, &account, 9_999_999_999).await;
    let adjust = |amount: &'static str| {
        let (path, support) = (format!("{base}/credits/adjustments"), support.clone());
        let app = &app;
        async move {
            app.post(
                &path,
                &support,
                &json!({"amount": amount, "reason": "Test"}),
            )
            .await
        }
    };
    assert_eq!(refused_fields(adjust("0.02").await).await, ["amount"]);
    let reached = ok(adjust("0.01").await).await;
    assert_eq!(reached["balance_after"], "100000000.00");
    assert_eq!(refused_fields(adjust("0.01").await).await, ["amount"]);
    let res = app
        .post(
            &format!("{base}/credits/top-ups"),
            &admin,
            &json!({"amount": "10.00"}),
        )
        .await;
    assert_eq!(refused_fields(res).await, ["amount"]);
    // The payment of the earlier top-up succeeded: it is credited.
    let id = pending["id"].as_str().unwrap();
    let settled = ok(app
        .post(
            &format!("{base}/credits/top-ups/{id}/confirm"),
            &support,
            &json!({"status": "succeeded"}),
        )
        .await)
    .await;
    assert_eq!(settled["status"], "succeeded");
    let credits = ok(app.get(&format!("{base}/credits"), &admin).await).await;
    assert_eq!(credits["balance"], "100010000.00");
    // Taking credits away is still possible.
    ok(adjust("-100000.00").await).await;
}
