use comptoir::domain::ids::AccountId;
use comptoir::domain::role::{Caller, Role};
use comptoir::service::Ctx;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{START, TestApp, WEBHOOK_SECRET, assert_problem, spawn_app};
use crate::payments::{add_card, visa};

async fn credits(app: &TestApp, account: &str) -> Value {
    app.get(
        &format!("/v1/accounts/{account}/credits"),
        &app.viewer(account),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// The balance is the sum of the ledger, always.
async fn assert_ledger_matches(app: &TestApp, account: &str) {
    let id = AccountId::parse(account).unwrap();
    let mut tx = app.store.begin_read().await.unwrap();
    let state = tx.credits(&id).await.unwrap();
    let sum = tx.ledger_sum(&id).await.unwrap();
    assert_eq!(state.balance_minor, sum, "balance and ledger disagree");
    assert!(state.balance_minor >= 0);
}

async fn top_up(app: &TestApp, account: &str, amount: &str) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(account),
            &json!({ "amount": amount }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

pub fn signed(body: &Value, at: i64, secret: &str) -> (String, String) {
    let raw = body.to_string();
    let sig = comptoir::crypto::webhook_signature(secret, at, raw.as_bytes());
    (raw, format!("t={at},v1={sig}"))
}

pub async fn deliver(app: &TestApp, raw: String, header: &str) -> reqwest::Response {
    app.request(Method::POST, "/v1/webhooks/payments", None)
        .header("Content-Type", "application/json")
        .header("Comptoir-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap()
}

fn event(id: &str, kind: &str, top_up: &Value) -> Value {
    json!({"id": id, "type": kind, "data": {"top_up_id": top_up["id"]}})
}

async fn funded(app: &TestApp, balance: &str) -> String {
    let account = app.create_account("Acme").await;
    add_card(app, &account, &visa()).await;
    app.verified_french_address(&account).await;
    let t = top_up(app, &account, balance).await;
    let (raw, header) = signed(
        &event(&format!("evt_fund_{account}"), "top_up.succeeded", &t),
        START.unix_timestamp(),
        WEBHOOK_SECRET,
    );
    assert_eq!(deliver(app, raw, &header).await.status(), 200);
    account
}

#[tokio::test]
async fn a_top_up_is_pending_until_the_signed_webhook_credits_it_once() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({"amount": "50.00"}),
        )
        .await;
    assert_problem(res, 422, "payment_method_required").await;
    add_card(&app, &account, &visa()).await;
    app.verified_french_address(&account).await;
    let t = top_up(&app, &account, "50.00").await;
    assert_eq!(t["status"], "pending");
    assert_eq!(t["amount"], "50.00");
    assert_eq!(credits(&app, &account).await["balance"], "0.00");

    let (raw, header) = signed(
        &event("evt_1", "top_up.succeeded", &t),
        START.unix_timestamp(),
        WEBHOOK_SECRET,
    );
    let deliveries = (0..5).map(|_| deliver(&app, raw.clone(), &header));
    let mut applied = 0;
    for res in futures_util::future::join_all(deliveries).await {
        assert_eq!(res.status(), 200);
        let ack: Value = res.json().await.unwrap();
        applied += usize::from(ack["applied"] == true);
    }
    assert_eq!(applied, 1, "five deliveries, one credit");
    assert_eq!(credits(&app, &account).await["balance"], "50.00");
    let ledger: Value = app
        .get(
            &format!("/v1/accounts/{account}/credits/transactions"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["data"].as_array().unwrap().len(), 1);
    assert_eq!(ledger["data"][0]["kind"], "top_up");
    assert_eq!(ledger["data"][0]["balance_after"], "50.00");

    // Another event id for the same top-up changes nothing either.
    let (raw, header) = signed(
        &event("evt_2", "top_up.succeeded", &t),
        START.unix_timestamp(),
        WEBHOOK_SECRET,
    );
    assert_eq!(deliver(&app, raw, &header).await.status(), 200);
    assert_eq!(credits(&app, &account).await["balance"], "50.00");
    assert_ledger_matches(&app, &account).await;
}

#[tokio::test]
async fn a_bad_signature_or_an_old_timestamp_is_401_and_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    add_card(&app, &account, &visa()).await;
    app.verified_french_address(&account).await;
    let t = top_up(&app, &account, "20.00").await;
    let body = event("evt_x", "top_up.succeeded", &t);
    let now = START.unix_timestamp();
    let cases = [
        signed(&body, now, "wrong-secret"),
        signed(&body, now - 301, WEBHOOK_SECRET),
        signed(&body, now + 301, WEBHOOK_SECRET),
        (body.to_string(), "t=1,v1=00".to_owned()),
        (body.to_string(), "garbage".to_owned()),
    ];
    for (raw, header) in cases {
        assert_problem(deliver(&app, raw, &header).await, 401, "invalid_signature").await;
    }
    // A body changed after signing.
    let (_, header) = signed(&body, now, WEBHOOK_SECRET);
    let tampered = event("evt_x", "top_up.succeeded", &json!({"id": "tup_other"})).to_string();
    assert_problem(
        deliver(&app, tampered, &header).await,
        401,
        "invalid_signature",
    )
    .await;
    let res = app
        .request(Method::POST, "/v1/webhooks/payments", None)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_signature").await;
    assert_eq!(credits(&app, &account).await["balance"], "0.00");

    // The event was never recorded: a correct delivery still applies.
    let (raw, header) = signed(&body, now - 299, WEBHOOK_SECRET);
    assert_eq!(deliver(&app, raw, &header).await.status(), 200);
    assert_eq!(credits(&app, &account).await["balance"], "20.00");
}

#[tokio::test]
async fn a_failed_payment_credits_nothing_and_staff_can_settle_by_hand() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    add_card(&app, &account, &visa()).await;
    app.verified_french_address(&account).await;
    let failed = top_up(&app, &account, "30.00").await;
    let mut body = event("evt_f", "top_up.failed", &failed);
    body["data"]["failure_reason"] = json!("card_declined");
    let (raw, header) = signed(&body, START.unix_timestamp(), WEBHOOK_SECRET);
    deliver(&app, raw, &header).await;
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["status"], "failed");
    assert_eq!(list["data"][0]["failure_reason"], "card_declined");

    let pending = top_up(&app, &account, "40.00").await;
    let confirm = format!(
        "/v1/accounts/{account}/credits/top-ups/{}/confirm",
        pending["id"].as_str().unwrap()
    );
    let res = app
        .post(
            &confirm,
            &app.admin(&account),
            &json!({"status": "succeeded"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .post(&confirm, &app.support(), &json!({"status": "succeeded"}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(&confirm, &app.support(), &json!({"status": "succeeded"}))
        .await;
    assert_problem(res, 409, "top_up_settled").await;
    assert_eq!(credits(&app, &account).await["balance"], "40.00");
    assert_ledger_matches(&app, &account).await;
}

#[tokio::test]
async fn top_up_amounts_are_bounded_and_a_viewer_cannot_top_up() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    add_card(&app, &account, &visa()).await;
    let path = format!("/v1/accounts/{account}/credits/top-ups");
    for amount in ["9.99", "10000.01", "-10.00", "10.001", "abc"] {
        let res = app
            .post(&path, &app.admin(&account), &json!({ "amount": amount }))
            .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "amount", "{amount}");
    }
    let res = app
        .post(&path, &app.viewer(&account), &json!({"amount": "50.00"}))
        .await;
    assert_problem(res, 403, "forbidden").await;
    let list: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn staff_adjust_the_balance_with_a_reason_never_below_zero() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/credits/adjustments");
    let res = app
        .post(
            &path,
            &app.admin(&account),
            &json!({"amount": "15.00", "reason": "Gift"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .post(
            &path,
            &app.support(),
            &json!({"amount": "15.00", "reason": "Geste commercial"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let entry: Value = res.json().await.unwrap();
    assert_eq!(
        (
            entry["kind"].as_str(),
            entry["amount"].as_str(),
            entry["balance_after"].as_str()
        ),
        (Some("adjustment"), Some("15.00"), Some("15.00"))
    );
    let res = app
        .post(
            &path,
            &app.support(),
            &json!({"amount": "-15.01", "reason": "Too much"}),
        )
        .await;
    assert_problem(res, 422, "insufficient_balance").await;
    let res = app
        .post(
            &path,
            &app.support(),
            &json!({"amount": "-5.00", "reason": "Correction"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &path,
            &app.support(),
            &json!({"amount": "1.00", "reason": " "}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    assert_eq!(credits(&app, &account).await["balance"], "10.00");
    assert_ledger_matches(&app, &account).await;
}

fn system_ctx() -> Ctx {
    Ctx {
        caller: Caller {
            subject: "telephony".into(),
            role: Role::Integration,
            account_id: None,
        },
        request_id: None,
        now: START,
    }
}

async fn debit(
    app: &TestApp,
    account: &str,
    minor: i64,
) -> comptoir::service::credits::DebitOutcome {
    let id = AccountId::parse(account).unwrap();
    let mut tx = app.store.begin_write().await.unwrap();
    let outcome = comptoir::service::credits::debit(&mut tx, &system_ctx(), &id, minor, "calls")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    outcome
}

#[tokio::test]
async fn fifty_concurrent_debits_never_take_the_balance_below_zero() {
    let app = spawn_app().await;
    let account = funded(&app, "10.00").await;
    let debits = (0..50).map(|_| debit(&app, &account, 30));
    let outcomes = futures_util::future::join_all(debits).await;
    let covered: i64 = outcomes.iter().map(|o| o.covered_minor).sum();
    let billable: i64 = outcomes.iter().map(|o| o.billable_minor).sum();
    assert_eq!(covered, 1000, "exactly the balance is used");
    assert_eq!(covered + billable, 50 * 30, "nothing lost, nothing doubled");
    assert_eq!(credits(&app, &account).await["balance"], "0.00");
    assert_ledger_matches(&app, &account).await;
}

#[tokio::test]
async fn a_debit_takes_what_the_balance_covers_and_returns_the_rest() {
    let app = spawn_app().await;
    let account = funded(&app, "10.00").await;
    let first = debit(&app, &account, 400).await;
    assert_eq!((first.covered_minor, first.billable_minor), (400, 0));
    let second = debit(&app, &account, 800).await;
    assert_eq!((second.covered_minor, second.billable_minor), (600, 200));
    assert_eq!(credits(&app, &account).await["balance"], "0.00");
    assert_ledger_matches(&app, &account).await;
}

#[tokio::test]
async fn auto_recharge_fires_once_when_the_balance_goes_under_the_threshold() {
    let app = spawn_app().await;
    let account = funded(&app, "20.00").await;
    let res = app
        .put(
            &format!("/v1/accounts/{account}/credits/auto-recharge"),
            &app.admin(&account),
            &json!({"enabled": true, "threshold": "10.00", "amount": "50.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["auto_recharge"],
        json!({"enabled": true, "threshold": "10.00", "amount": "50.00"})
    );

    assert!(
        debit(&app, &account, 900).await.auto_recharge.is_none(),
        "11.00 left: above the threshold"
    );
    let crossing = debit(&app, &account, 200).await;
    let recharge = crossing
        .auto_recharge
        .expect("under 10.00: one auto top-up");
    assert_eq!(recharge.amount_minor, 5000);
    assert!(
        debit(&app, &account, 100).await.auto_recharge.is_none(),
        "one pending at a time"
    );
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    let autos = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["origin"] == "auto_recharge")
        .count();
    assert_eq!(autos, 1);
    assert_ledger_matches(&app, &account).await;
}

#[tokio::test]
async fn auto_recharge_settings_are_checked() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/credits/auto-recharge");
    let res = app
        .put(
            &path,
            &app.admin(&account),
            &json!({"enabled": true, "threshold": "10.00", "amount": "5.00"}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .put(
            &path,
            &app.admin(&account),
            &json!({"enabled": true, "threshold": "-1.00", "amount": "50.00"}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .put(
            &path,
            &app.viewer(&account),
            &json!({"enabled": false, "threshold": "0", "amount": "0"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(
        credits(&app, &account).await["auto_recharge"]["enabled"],
        false
    );
}

#[tokio::test]
async fn another_account_cannot_read_or_move_credits() {
    let app = spawn_app().await;
    let account = funded(&app, "10.00").await;
    let other = app.create_account("Other").await;
    let intruder = app.admin(&other);
    for path in ["credits", "credits/transactions", "credits/top-ups"] {
        assert_problem(
            app.get(&format!("/v1/accounts/{account}/{path}"), &intruder)
                .await,
            404,
            "not_found",
        )
        .await;
    }
    let res = app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &intruder,
            &json!({"amount": "50.00"}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(credits(&app, &account).await["balance"], "10.00");
}

#[tokio::test]
async fn auto_recharge_names_every_bad_amount_at_once_in_the_accounts_currency() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/credits/auto-recharge");
    // A negative threshold and a recharge below the top-up minimum.
    let res = app
        .put(
            &path,
            &app.admin(&account),
            &json!({"enabled": true, "threshold": "-1.00", "amount": "5.00"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["threshold", "amount"], "{body}");
    // Three decimals are more than the euro has: the account's currency decides.
    let res = app
        .put(
            &path,
            &app.admin(&account),
            &json!({"enabled": false, "threshold": "10.005", "amount": "0"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "threshold", "{body}");
}

#[tokio::test]
async fn a_new_event_about_a_settled_top_up_answers_applied_false_and_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    add_card(&app, &account, &visa()).await;
    app.verified_french_address(&account).await;
    let t = top_up(&app, &account, "50.00").await;
    let mut acks = Vec::new();
    // Another event id each time: the replay guard does not see them.
    for (id, kind) in [
        ("evt_ok", "top_up.succeeded"),
        ("evt_again", "top_up.succeeded"),
        ("evt_late_failure", "top_up.failed"),
    ] {
        let (raw, header) = signed(&event(id, kind, &t), START.unix_timestamp(), WEBHOOK_SECRET);
        let res = deliver(&app, raw, &header).await;
        assert_eq!(res.status(), 200);
        let ack: Value = res.json().await.unwrap();
        acks.push(ack["applied"].clone());
    }
    assert_eq!(acks, [json!(true), json!(false), json!(false)]);
    assert_eq!(credits(&app, &account).await["balance"], "50.00");
}
