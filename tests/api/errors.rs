use reqwest::Method;
use serde_json::json;

use crate::helpers::{MAX_BODY, assert_problem, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_problem_json() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/v1/accounts", Some(&app.support()))
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;
}

#[tokio::test]
async fn wrong_types_unknown_and_missing_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let support = app.support();
    let cases = [
        (json!({"name": 42}), "name"),
        (json!({"name": "Acme", "colour": "red"}), "colour"),
        (json!({}), "name"),
        (json!({"name": "Acme", "currency": "XYZ"}), "currency"),
        (
            json!({"name": "Acme", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (json!({"name": "   "}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let res = app.post("/v1/accounts", &support, &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} -> {problem}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().len() > 3);
    }
    let res = app.get("/v1/accounts", &support).await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["data"].as_array().unwrap().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/v1/accounts", Some(&app.support()))
        .header("Content-Type", "text/plain")
        .body("name=Acme")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_oversized_body_is_413_problem_json() {
    let app = spawn_app().await;
    let name = "x".repeat(MAX_BODY + 1);
    let res = app
        .post("/v1/accounts", &app.support(), &json!({ "name": name }))
        .await;
    assert_problem(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_as_problem_json() {
    let app = spawn_app().await;
    let res = app.get("/v1/nothing-here", &app.support()).await;
    assert_problem(res, 404, "route_not_found").await;
    let res = app
        .request(Method::DELETE, "/v1/plans", Some(&app.support()))
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_bad_query_string_is_a_problem_too() {
    let app = spawn_app().await;
    let support = app.support();
    let res = app.get("/v1/accounts?limit=abc", &support).await;
    assert_problem(res, 400, "invalid_query").await;
    let res = app.get("/v1/accounts?limit=0", &support).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "limit");
    let res = app.get("/v1/accounts?limit=101", &support).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .get("/v1/accounts?cursor=%27%20OR%201%3D1", &support)
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn account_routes_keep_their_404s_405s_and_static_segments() {
    let app = spawn_app().await;
    let support = app.support();
    let account = app.create_account("Acme").await;
    // A wrong method on an account route, and on a path with several methods.
    for (method, path) in [
        (Method::DELETE, format!("/v1/accounts/{account}/invoices")),
        (Method::PUT, format!("/v1/accounts/{account}/contacts")),
        (Method::POST, format!("/v1/accounts/{account}")),
    ] {
        let res = app
            .request(method, &path, Some(&support))
            .send()
            .await
            .unwrap();
        assert_problem(res, 405, "method_not_allowed").await;
    }
    for path in [
        format!("/v1/accounts/{account}/nothing-here"),
        format!("/v1/accounts/{account}/invoices/"),
        "/v1/accounts/".to_owned(),
    ] {
        let res = app.get(&path, &support).await;
        assert_problem(res, 404, "route_not_found").await;
    }
    // A malformed account id cannot exist.
    let res = app.get("/v1/accounts/not-an-id/invoices", &support).await;
    assert_problem(res, 404, "not_found").await;
    // A static segment wins over a parameter.
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &support,
        )
        .await;
    assert_eq!(res.status(), 200);
}
