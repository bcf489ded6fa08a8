use comptoir::auth::JwtKeys;
use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{SECRET, assert_problem, jwt_config, spawn_app};

async fn assert_unauthenticated(res: reqwest::Response) {
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_with_www_authenticate() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/v1/plans", None)
        .send()
        .await
        .unwrap();
    assert_unauthenticated(res).await;
    let res = app
        .request(Method::GET, "/v1/accounts/acc_demo", None)
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_unauthenticated(res).await;
}

#[tokio::test]
async fn bad_expired_foreign_and_misaddressed_tokens_get_401() {
    let app = spawn_app().await;
    let account = AccountId::parse("acc_demo").unwrap();
    let hour = time::Duration::hours(1);
    let expired = app
        .keys
        .issue("u", Role::Admin, Some(&account), time::Duration::hours(-2))
        .unwrap();
    let other_secret = JwtKeys::from_config(&jwt_config(
        "another-secret-0123456789abcdef0123",
        "comptoir-api",
    ))
    .unwrap()
    .issue("u", Role::Admin, Some(&account), hour)
    .unwrap();
    let other_audience = JwtKeys::from_config(&jwt_config(SECRET, "another-api"))
        .unwrap()
        .issue("u", Role::Admin, Some(&account), hour)
        .unwrap();
    let mut other_issuer_config = jwt_config(SECRET, "comptoir-api");
    other_issuer_config.issuer = "someone-else".into();
    let other_issuer = JwtKeys::from_config(&other_issuer_config)
        .unwrap()
        .issue("u", Role::Admin, Some(&account), hour)
        .unwrap();
    // Each refusal says which check failed, and never the expected value.
    for (token, says) in [
        ("garbage".to_owned(), "malformed"),
        (expired, "expired"),
        (other_secret, "signature"),
        (other_audience, "not meant for this API"),
        (other_issuer, "unknown issuer"),
    ] {
        let res = app.get("/v1/plans", &token).await;
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(res.status(), 401);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unauthenticated");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail} should say {says}");
        for secret in ["comptoir-api", "comptoir", SECRET] {
            assert!(!detail.contains(secret), "{detail} leaks {secret}");
        }
    }
}

#[tokio::test]
async fn a_customer_token_on_another_account_gets_404_as_if_it_did_not_exist() {
    let app = spawn_app().await;
    let mine = app.create_account("Mine").await;
    let theirs = app.create_account("Theirs").await;
    for token in [app.admin(&mine), app.viewer(&mine)] {
        let res = app.get(&format!("/v1/accounts/{theirs}"), &token).await;
        let other = assert_problem(res, 404, "not_found").await;
        let res = app.get("/v1/accounts/acc_doesnotexist", &token).await;
        let missing = assert_problem(res, 404, "not_found").await;
        assert_eq!(
            other["detail"], missing["detail"],
            "the two 404s must look alike"
        );
        let res = app
            .get(&format!("/v1/accounts/{theirs}/audit-events"), &token)
            .await;
        assert_problem(res, 404, "not_found").await;
    }
    let res = app
        .get(&format!("/v1/accounts/{mine}"), &app.viewer(&mine))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_role_without_the_right_gets_403_and_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let viewer = app.viewer(&account);
    let integration = app.token(Role::Integration, Some(&account));

    let res = app
        .post("/v1/accounts", &admin, &json!({"name": "Sneaky"}))
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app.get("/v1/accounts", &admin).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .put(
            "/v1/plans/ADVANCED",
            &admin,
            &json!({"name": "Advanced", "monthly_price": "1.00"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    for token in [&viewer, &integration] {
        let res = app
            .get(&format!("/v1/accounts/{account}/audit-events"), token)
            .await;
        assert_problem(res, 403, "forbidden").await;
    }
    let res = app
        .get(&format!("/v1/accounts/{account}"), &integration)
        .await;
    assert_problem(res, 403, "forbidden").await;

    let res = app.get("/v1/accounts?limit=100", &app.support()).await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        1,
        "no account was created"
    );
    let res = app.get("/v1/plans", &viewer).await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"][2]["monthly_price"], "64.00");
    assert!(
        body["data"][2]["next_price"].is_null(),
        "no price was changed"
    );
}

#[tokio::test]
async fn a_403_names_the_roles_the_route_needs_and_the_tokens_role() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.viewer(&account),
            &json!({"name": "X"}),
        )
        .await;
    let body = assert_problem(res, 403, "forbidden").await;
    assert_eq!(
        body["detail"],
        "this operation needs one of the roles: admin, support (your token's role: viewer)"
    );
    let res = app.get("/v1/accounts", &app.admin(&account)).await;
    let body = assert_problem(res, 403, "forbidden").await;
    assert_eq!(
        body["detail"],
        "this operation needs one of the roles: support (your token's role: admin)"
    );
}
