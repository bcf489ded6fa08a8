//! Secrets at rest (issue 15): request bodies are fingerprinted with a
//! keyed HMAC, never a bare hash that candidate bodies could be checked
//! against.

use comptoir::store::Store;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::payments::{sepa, visa};

/// What the fingerprint was before issue 15: the bare SHA-256 of the
/// method, the path and the canonical body.
fn bare_fingerprint(path: &str, body: &Value) -> String {
    hex::encode(Sha256::digest(format!("POST {path}\n{body}")))
}

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, path, Some(token))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Rows of `table` whose `column` is `value`.
async fn rows(app: &TestApp, table: &str, column: &str, value: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table} WHERE {column} = $1");
    let (n,): (i64,) = match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_one(pool)
            .await
            .unwrap(),
        Store::Pg(pool) => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_one(pool)
            .await
            .unwrap(),
    };
    n
}

#[tokio::test]
async fn no_iban_or_card_number_can_be_found_in_any_table_by_hashing_candidate_bodies() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let sepa_path = format!("/v1/accounts/{account}/payment-methods/sepa");
    let res = post_with_key(&app, &sepa_path, &app.support(), "sepa-1", &sepa()).await;
    assert_eq!(res.status(), 201);
    let card_path = format!("/v1/accounts/{account}/payment-methods/card");
    let res = post_with_key(&app, &card_path, &app.admin(&account), "card-1", &visa()).await;
    assert_eq!(res.status(), 201);

    // The key was recorded: the same request replays, another body is refused.
    let res = post_with_key(&app, &sepa_path, &app.support(), "sepa-1", &sepa()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(
        rows(&app, "idempotency_keys", "idem_key", "sepa-1").await,
        1
    );
    let mut other = sepa();
    other["iban"] = json!("DE89370400440532013000");
    let res = post_with_key(&app, &sepa_path, &app.support(), "sepa-1", &other).await;
    assert_problem(res, 422, "idempotency_key_reused").await;

    for (path, body) in [(&sepa_path, sepa()), (&card_path, visa())] {
        let digest = bare_fingerprint(path, &body);
        assert!(
            !app.database_contains(&digest).await,
            "the SHA-256 of {path}'s body is stored"
        );
    }
    for secret in [
        "FR7630006000011234567890189",
        "fr76 3000 6000 0112 3456 7890 189",
        "4242424242424242",
        "4242 4242 4242 4242",
    ] {
        assert!(!app.database_contains(secret).await, "{secret} is stored");
    }
}
