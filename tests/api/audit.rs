use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn opening_an_account_is_audited_with_actor_target_and_after_state() {
    let app = spawn_app().await;
    let res = app
        .request(reqwest::Method::POST, "/v1/accounts", Some(&app.support()))
        .header("X-Request-Id", "req-audit-1")
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    let account: Value = res.json().await.unwrap();
    let id = account["id"].as_str().unwrap();

    let res = app
        .get(&format!("/v1/accounts/{id}/audit-events"), &app.admin(id))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let events = body["data"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["action"], "account.created");
    assert_eq!(e["account_id"], id);
    assert_eq!(e["target_type"], "account");
    assert_eq!(e["target_id"], id);
    assert_eq!(e["actor"]["role"], "support");
    assert_eq!(e["actor"]["subject"], "usr_test");
    assert!(e["before"].is_null());
    assert_eq!(e["after"]["name"], "Acme");
    assert_eq!(e["request_id"], "req-audit-1");
    assert_eq!(e["occurred_at"], "2026-04-09T10:00:00Z");
}

#[tokio::test]
async fn a_price_change_is_audited_with_before_and_after_in_the_staff_log() {
    let app = spawn_app().await;
    let support = app.support();
    app.put(
        "/v1/plans/ADVANCED",
        &support,
        &json!({"name": "Advanced", "monthly_price": "70.00"}),
    )
    .await;
    let body: Value = app
        .get("/v1/audit-events", &support)
        .await
        .json()
        .await
        .unwrap();
    let e = &body["data"][0];
    assert_eq!(e["action"], "plan.updated");
    assert_eq!(e["target_id"], "ADVANCED");
    assert!(e["account_id"].is_null());
    assert_eq!(e["before"]["monthly_price"], "64.00");
    assert_eq!(e["after"]["next_price"]["monthly_price"], "70.00");
}

#[tokio::test]
async fn an_account_sees_only_its_own_events_and_customers_never_the_staff_log() {
    let app = spawn_app().await;
    let a = app.create_account("A").await;
    let b = app.create_account("B").await;
    let body: Value = app
        .get(&format!("/v1/accounts/{a}/audit-events"), &app.admin(&a))
        .await
        .json()
        .await
        .unwrap();
    let targets: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [a.as_str()]);
    assert!(!targets.contains(&b.as_str()));
    let res = app.get("/v1/audit-events", &app.admin(&a)).await;
    assert_problem(res, 403, "forbidden").await;
}

#[tokio::test]
async fn the_audit_log_is_newest_first_and_paginated() {
    let app = spawn_app().await;
    let support = app.support();
    for price in ["65.00", "66.00", "67.00"] {
        app.put(
            "/v1/plans/ADVANCED",
            &support,
            &json!({"name": "Advanced", "monthly_price": price}),
        )
        .await;
    }
    let first: Value = app
        .get("/v1/audit-events?limit=2", &support)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["data"][0]["after"]["next_price"]["monthly_price"],
        "67.00"
    );
    assert_eq!(
        first["data"][1]["after"]["next_price"]["monthly_price"],
        "66.00"
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/v1/audit-events?limit=2&cursor={cursor}"),
            &support,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        second["data"][0]["after"]["next_price"]["monthly_price"],
        "65.00"
    );
    assert!(second["next_cursor"].is_null());
}
