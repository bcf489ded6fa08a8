use comptoir::domain::role::Role;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::{assert_problem, spawn_app};

async fn plan(app: &crate::helpers::TestApp, code: &str) -> Value {
    let body: Value = app
        .get("/v1/plans", &app.support())
        .await
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn the_catalog_holds_the_three_plans_and_the_additional_number_for_any_token() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let token = app.token(Role::Integration, Some(&account));
    let res = app.get("/v1/plans", &token).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SMART", "BUSINESS", "ADVANCED", "PHONE_NUMBER"]);
    let advanced = plan(&app, "ADVANCED").await;
    assert_eq!(advanced["monthly_price"], "64.00");
    assert_eq!(advanced["currency"], "EUR");
    assert_eq!(advanced["kind"], "license");
    let number = plan(&app, "PHONE_NUMBER").await;
    assert_eq!(number["monthly_price"], "5.00");
    assert_eq!(number["kind"], "phone_number");
}

#[tokio::test]
async fn a_price_change_applies_from_the_next_period_not_the_current_one() {
    let app = spawn_app().await;
    let res = app
        .put(
            "/v1/plans/ADVANCED",
            &app.support(),
            &json!({"name": "Advanced+", "monthly_price": "70.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Advanced+");
    assert_eq!(
        body["monthly_price"], "64.00",
        "April is still billed at 64.00"
    );
    assert_eq!(body["next_price"]["monthly_price"], "70.00");
    assert_eq!(body["next_price"]["effective_from"], "2026-05-01");

    app.clock.set(datetime!(2026-04-30 23:59 UTC));
    assert_eq!(plan(&app, "ADVANCED").await["monthly_price"], "64.00");
    app.clock.set(datetime!(2026-05-01 00:00 UTC));
    let advanced = plan(&app, "ADVANCED").await;
    assert_eq!(advanced["monthly_price"], "70.00");
    assert!(advanced["next_price"].is_null());
}

#[tokio::test]
async fn a_second_change_in_the_same_month_replaces_the_pending_one() {
    let app = spawn_app().await;
    let support = app.support();
    for price in ["70.00", "68.50"] {
        let res = app
            .put(
                "/v1/plans/SMART",
                &support,
                &json!({"name": "Smart", "monthly_price": price}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let smart = plan(&app, "SMART").await;
    assert_eq!(smart["next_price"]["monthly_price"], "68.50");
    app.clock.set(datetime!(2026-05-02 00:00 UTC));
    assert_eq!(plan(&app, "SMART").await["monthly_price"], "68.50");
}

#[tokio::test]
async fn invalid_prices_and_unknown_plans_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let support = app.support();
    for price in ["-1.00", "1.005", "abc", "1e3", ""] {
        let res = app
            .put(
                "/v1/plans/ADVANCED",
                &support,
                &json!({"name": "X", "monthly_price": price}),
            )
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "monthly_price", "{price}");
    }
    let res = app
        .put(
            "/v1/plans/GOLD",
            &support,
            &json!({"name": "Gold", "monthly_price": "1.00"}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let advanced = plan(&app, "ADVANCED").await;
    assert_eq!(advanced["name"], "Advanced");
    assert!(advanced["next_price"].is_null());
}
