//! Events (issue 20): written with the change that makes them, listed and
//! read by the account's admins and staff only.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::payments::{add_card, visa};

/// An account with a card, ready to buy.
pub async fn buyer(app: &TestApp) -> String {
    let account = app.create_account("Acme").await;
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    account
}

/// Adds `quantity` ADVANCED licenses as the account's admin.
pub async fn add_licenses(app: &TestApp, account: &str, quantity: u32) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(account),
            &json!({"plan": "ADVANCED", "quantity": quantity}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Every event of the account of one type, oldest first.
pub async fn events_of(app: &TestApp, account: &str, event_type: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = format!("/v1/accounts/{account}/events?type={event_type}&limit=100");
    loop {
        let res = app.get(&path, &app.admin(account)).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                path =
                    format!("/v1/accounts/{account}/events?type={event_type}&limit=100&cursor={c}")
            }
            None => break,
        }
    }
    all.reverse();
    all
}

#[tokio::test]
async fn adding_licenses_writes_one_license_added_event_per_license_with_the_license_as_the_api_shows_it()
 {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let added = add_licenses(&app, &account, 2).await;

    let events = events_of(&app, &account, "license.added").await;
    assert_eq!(events.len(), 2);
    for (event, license) in events.iter().zip(added["licenses"].as_array().unwrap()) {
        assert_eq!(event["type"], "license.added");
        assert_eq!(event["account_id"], account.as_str());
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(&event["data"]["object"], license);
        let one = app
            .get(
                &format!(
                    "/v1/accounts/{account}/events/{}",
                    event["id"].as_str().unwrap()
                ),
                &app.support(),
            )
            .await;
        assert_eq!(one.status(), 200);
        assert_eq!(&one.json::<Value>().await.unwrap(), event);
    }
    assert!(
        events_of(&app, &account, "license.removed")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_refused_change_writes_no_event() {
    let app = spawn_app().await;
    let account = app.create_account("No card").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let page: Value = app
        .get(
            &format!("/v1/accounts/{account}/events"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"], json!([]));
}

#[tokio::test]
async fn events_are_the_account_admins_and_staffs_only() {
    let app = spawn_app().await;
    let a = buyer(&app).await;
    let b = app.create_account("Other").await;
    add_licenses(&app, &a, 1).await;
    let event = events_of(&app, &a, "license.added").await.remove(0);
    let id = event["id"].as_str().unwrap();

    let res = app
        .get(&format!("/v1/accounts/{a}/events"), &app.viewer(&a))
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .get(&format!("/v1/accounts/{a}/events/{id}"), &app.admin(&b))
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(&format!("/v1/accounts/{b}/events/{id}"), &app.admin(&b))
        .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn an_unknown_type_filter_and_a_bad_limit_are_named_together() {
    let app = spawn_app().await;
    let a = app.create_account("Acme").await;
    let res = app
        .get(
            &format!("/v1/accounts/{a}/events?type=license.exploded&limit=0"),
            &app.admin(&a),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["type", "limit"]);
}

#[tokio::test]
async fn events_are_kept_30_days_then_purged() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    app.clock.set(time::macros::datetime!(2026-04-01 10:00 UTC));
    add_licenses(&app, &account, 1).await;
    app.clock.set(time::macros::datetime!(2026-04-20 10:00 UTC));
    add_licenses(&app, &account, 1).await;

    let purge = |at| comptoir::service::purge::purge(&app.store, at);
    let purged = purge(time::macros::datetime!(2026-05-01 09:59 UTC))
        .await
        .unwrap();
    assert_eq!(purged.events, 0);
    assert_eq!(events_of(&app, &account, "license.added").await.len(), 2);
    let purged = purge(time::macros::datetime!(2026-05-01 10:01 UTC))
        .await
        .unwrap();
    assert_eq!(purged.events, 1);
    let left = events_of(&app, &account, "license.added").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["created_at"], "2026-04-20T10:00:00Z");
}

/// The fan-out matches an endpoint's types exactly (`_` included) and
/// skips disabled endpoints.
#[tokio::test]
async fn an_event_is_queued_for_each_enabled_endpoint_subscribed_to_its_type_only() {
    let app = crate::helpers::spawn_app_with(&[("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let account = buyer(&app).await;
    let mut ids = Vec::new();
    for (events, enabled) in [
        (json!(["*"]), true),
        (json!(["license.added"]), true),
        (json!(["invoice.draft_created", "license.removed"]), true),
        (json!(["license.added"]), false),
    ] {
        let res = app
            .post(
                &format!("/v1/accounts/{account}/webhook-endpoints"),
                &app.admin(&account),
                &json!({"url": "http://127.0.0.1:1/hooks", "events": events, "enabled": enabled}),
            )
            .await;
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    add_licenses(&app, &account, 1).await;
    let event = events_of(&app, &account, "license.added").await.remove(0);
    let queued: Vec<(String, String)> = app
        .rows(&format!(
            "SELECT endpoint_id, id FROM webhook_deliveries WHERE event_id = '{}' ORDER BY endpoint_id",
            event["id"].as_str().unwrap()
        ))
        .await;
    let endpoints: Vec<&str> = queued.iter().map(|(e, _)| e.as_str()).collect();
    let mut want = vec![ids[0].as_str(), ids[1].as_str()];
    want.sort();
    assert_eq!(endpoints, want);
    for (_, delivery) in &queued {
        assert!(delivery.starts_with("whd_"), "{delivery}");
        assert!(
            comptoir::domain::ids::WebhookDeliveryId::parse(delivery).is_some(),
            "{delivery}"
        );
    }
}
