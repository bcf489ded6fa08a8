//! Secrets at rest and what a viewer may read (issue 15): request bodies are
//! fingerprinted with a keyed HMAC, never a bare hash that candidate bodies
//! could be checked against; expired idempotency records and old webhook
//! event ids are purged; a viewer reads billing data, not documents,
//! contacts or users.

use comptoir::service::purge::{WEBHOOK_EVENT_TTL, purge};
use comptoir::store::Store;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::Duration;

use crate::credits::{deliver, signed};
use crate::helpers::{START, TestApp, WEBHOOK_SECRET, assert_problem, spawn_app};
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

#[tokio::test]
async fn a_purge_removes_idempotency_records_older_than_24_hours_and_keeps_younger_ones() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/contacts");
    let admin = app.admin(&account);
    let contact = |name: &str| json!({"name": name, "email": "compta@acme.fr", "phone": "01 42 68 53 00", "role": "accounting"});
    let res = post_with_key(&app, &path, &admin, "old", &contact("Old")).await;
    assert_eq!(res.status(), 201);
    app.clock.set(START + Duration::hours(20));
    let res = post_with_key(&app, &path, &admin, "young", &contact("Young")).await;
    assert_eq!(res.status(), 201);

    let purged = purge(
        &app.store,
        START + Duration::hours(24) + Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(purged.idempotency_keys, 1);
    assert_eq!(rows(&app, "idempotency_keys", "idem_key", "old").await, 0);
    assert_eq!(rows(&app, "idempotency_keys", "idem_key", "young").await, 1);
    let res = post_with_key(&app, &path, &admin, "young", &contact("Young")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_purge_forgets_webhook_events_past_their_replay_window_and_a_replay_inside_it_is_still_recognised()
 {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/payment-methods/card"),
            &app.admin(&account),
            &visa(),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.verified_french_address(&account).await;
    let top_up: Value = app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({"amount": "50.00"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let event =
        json!({"id": "evt_kept", "type": "top_up.succeeded", "data": {"top_up_id": top_up["id"]}});
    let (raw, header) = signed(&event, START.unix_timestamp(), WEBHOOK_SECRET);
    let ack: Value = deliver(&app, raw, &header).await.json().await.unwrap();
    assert_eq!(ack["applied"], true);

    // Inside the window the event id is kept, and a new delivery of it is a replay.
    let inside = START + WEBHOOK_EVENT_TTL - Duration::minutes(1);
    app.clock.set(inside);
    let purged = purge(&app.store, inside).await.unwrap();
    assert_eq!(purged.webhook_events, 0);
    assert_eq!(
        rows(&app, "webhook_events", "event_id", "evt_kept").await,
        1
    );
    let (raw, header) = signed(&event, inside.unix_timestamp(), WEBHOOK_SECRET);
    let ack: Value = deliver(&app, raw, &header).await.json().await.unwrap();
    assert_eq!(ack["applied"], false);
    assert_eq!(
        rows(&app, "webhook_events", "event_id", "evt_kept").await,
        1
    );

    let past = START + WEBHOOK_EVENT_TTL + Duration::minutes(1);
    let purged = purge(&app.store, past).await.unwrap();
    assert_eq!(purged.webhook_events, 1);
    assert_eq!(
        rows(&app, "webhook_events", "event_id", "evt_kept").await,
        0
    );
}

#[tokio::test]
async fn a_viewer_reads_billing_data_but_not_documents_contacts_or_users() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let viewer = app.viewer(&account);
    let user = app
        .create_user(&account, "Claire Martin", "claire@acme.fr")
        .await;
    let contact: Value = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &admin,
            &json!({"name": "Compta", "email": "compta@acme.fr", "phone": "01 42 68 53 00", "role": "accounting"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let form = Form::new()
        .text("name", "Kbis 2026")
        .text("type", "company_registration")
        .part(
            "file",
            Part::bytes(b"%PDF-1.7\nxxxx".to_vec()).file_name("kbis.pdf"),
        );
    let document: Value = app
        .request(
            Method::POST,
            &format!("/v1/accounts/{account}/documents"),
            Some(&admin),
        )
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base = format!("/v1/accounts/{account}");
    let private = [
        format!("{base}/documents"),
        format!("{base}/documents/{}", document["id"].as_str().unwrap()),
        format!(
            "{base}/documents/{}/content",
            document["id"].as_str().unwrap()
        ),
        format!("{base}/contacts"),
        format!("{base}/contacts/{}", contact["id"].as_str().unwrap()),
        format!("{base}/users"),
        format!("{base}/users/{user}"),
    ];
    for path in &private {
        assert_eq!(app.get(path, &admin).await.status(), 200, "admin {path}");
        assert_eq!(app.get(path, &app.support()).await.status(), 200, "{path}");
        let body = assert_problem(app.get(path, &viewer).await, 403, "forbidden").await;
        let text = body.to_string();
        assert!(!text.contains("acme.fr"), "{path}: {text}");
    }
    let billing = [
        base.clone(),
        format!("{base}/invoices"),
        format!("{base}/invoices/upcoming"),
        format!("{base}/licenses"),
        format!("{base}/phone-numbers"),
        format!("{base}/consumption"),
        format!("{base}/consumption/summary"),
        format!("{base}/credits"),
        format!("{base}/credits/transactions"),
        format!("{base}/payment-methods"),
        format!("{base}/billing-addresses"),
        format!("{base}/teams"),
    ];
    for path in &billing {
        assert_eq!(app.get(path, &viewer).await.status(), 200, "viewer {path}");
    }
}
