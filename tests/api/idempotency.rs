use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

async fn create_with_key(
    app: &crate::helpers::TestApp,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, "/v1/accounts", Some(&app.support()))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn account_count(app: &crate::helpers::TestApp) -> usize {
    let body: Value = app
        .get("/v1/accounts?limit=100", &app.support())
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_same_key_and_body_replay_the_first_response() {
    let app = spawn_app().await;
    let body = json!({"name": "Acme", "currency": "EUR"});
    let first = create_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // Same JSON, other key order and spacing: the same request.
    let again = app
        .request(Method::POST, "/v1/accounts", Some(&app.support()))
        .header("Idempotency-Key", "key-1")
        .header("Content-Type", "application/json")
        .body(r#"{ "currency": "EUR",   "name": "Acme" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_with_422() {
    let app = spawn_app().await;
    let res = create_with_key(&app, "key-2", &json!({"name": "Acme"})).await;
    assert_eq!(res.status(), 201);
    let res = create_with_key(&app, "key-2", &json!({"name": "Other"})).await;
    assert_problem(res, 422, "idempotency_key_reused").await;
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn a_failed_request_does_not_burn_its_key() {
    let app = spawn_app().await;
    let res = create_with_key(
        &app,
        "key-3",
        &json!({"name": "Acme", "timezone": "Nowhere/City"}),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = create_with_key(&app, "key-3", &json!({"name": "Acme"})).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = spawn_app().await;
    let body = json!({"name": "Acme"});
    let mine = create_with_key(&app, "shared", &body).await;
    let mine: Value = mine.json().await.unwrap();
    let other_staff = app
        .keys
        .issue(
            "another_agent",
            comptoir::domain::role::Role::Support,
            None,
            time::Duration::hours(1),
        )
        .unwrap();
    let theirs = app
        .request(Method::POST, "/v1/accounts", Some(&other_staff))
        .header("Idempotency-Key", "shared")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(mine["id"], theirs["id"]);
}

#[tokio::test]
async fn a_key_expires_after_24_hours() {
    let app = spawn_app().await;
    let body = json!({"name": "Acme"});
    let first: Value = create_with_key(&app, "old", &body)
        .await
        .json()
        .await
        .unwrap();
    app.clock
        .set(crate::helpers::START + time::Duration::hours(25));
    let second: Value = create_with_key(&app, "old", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(first["id"], second["id"]);
}

#[tokio::test]
async fn an_invalid_key_is_refused() {
    let app = spawn_app().await;
    let res = create_with_key(&app, &"k".repeat(256), &json!({"name": "Acme"})).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(account_count(&app).await, 0);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_account() {
    let app = spawn_app().await;
    let body = json!({"name": "Racing Corp"});
    let requests = (0..12).map(|_| create_with_key(&app, "race", &body));
    let responses = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    for res in responses {
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the same account");
    assert_eq!(account_count(&app).await, 1);
    let actions = app.audit_actions(&ids[0]).await;
    assert_eq!(actions, ["account.created"], "created and audited once");
}

#[tokio::test]
async fn concurrent_creates_without_a_key_lose_nothing() {
    let app = spawn_app().await;
    let support = app.support();
    let bodies: Vec<Value> = (0..12)
        .map(|i| json!({ "name": format!("Corp {i}") }))
        .collect();
    let requests = bodies.iter().map(|b| app.post("/v1/accounts", &support, b));
    for res in futures_util::future::join_all(requests).await {
        assert_eq!(res.status(), 201);
    }
    assert_eq!(account_count(&app).await, 12);
}
