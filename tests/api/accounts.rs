use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn staff_open_an_account_with_defaults_and_its_users_read_it() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "  Acme Téléphonie  "}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("acc_"));
    assert_eq!(created["name"], "Acme Téléphonie");
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["timezone"], "Europe/Paris");
    assert_eq!(created["created_at"], "2026-04-09T10:00:00Z");

    let res = app
        .get(&format!("/v1/accounts/{id}"), &app.viewer(id))
        .await;
    assert_eq!(res.status(), 200);
    let read: Value = res.json().await.unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn an_account_keeps_the_currency_and_timezone_it_was_opened_with() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "NY Corp", "currency": "USD", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["timezone"], "America/New_York");
}

#[tokio::test]
async fn the_account_list_is_cursor_paginated_in_a_stable_order() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for name in ["A", "B", "C", "D", "E"] {
        created.push(app.create_account(name).await);
    }
    let support = app.support();
    let mut seen = Vec::new();
    let mut path = "/v1/accounts?limit=2".to_owned();
    loop {
        let page: Value = app.get(&path, &support).await.json().await.unwrap();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/accounts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected = created.clone();
    expected.sort();
    assert_eq!(seen, expected, "every account exactly once, in id order");
}

#[tokio::test]
async fn a_malformed_account_id_is_simply_not_found() {
    let app = spawn_app().await;
    let res = app.get("/v1/accounts/not-an-id", &app.support()).await;
    crate::helpers::assert_problem(res, 404, "not_found").await;
}
