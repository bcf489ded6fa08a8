//! Test clocks (issue 21): test accounts live at their clock's time, and
//! advancing the clock runs what falls due on the way, in order, once.

use std::time::Duration;

use comptoir::domain::ids::TestClockId;
use comptoir::domain::role::Role;
use serde_json::{Value, json};
use time::macros::datetime;

pub use crate::events::add_licenses;
use crate::helpers::{TestApp, assert_problem, spawn_app_with, success_json};
use crate::payments::{add_card, visa};

/// The test clock worker looks often, so that advances end quickly.
pub const FAST: &[(&str, &str)] = &[("COMPTOIR_TEST_CLOCK_POLL", "20ms")];

pub async fn clock(app: &TestApp, frozen_time: &str) -> String {
    let res = app
        .post(
            "/v1/test-clocks",
            &app.support(),
            &json!({"name": "CI", "frozen_time": frozen_time}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    body["id"].as_str().unwrap().to_owned()
}

/// A test account on `clock` with a card and a verified address in Paris.
pub async fn test_account(app: &TestApp, clock: &str, name: &str) -> String {
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": name, "test_clock_id": clock}),
        )
        .await;
    let body = success_json(res).await;
    assert_eq!(body["test"], true, "{body}");
    assert_eq!(body["test_clock_id"], clock);
    let account = body["id"].as_str().unwrap().to_owned();
    assert!(account.starts_with("acc_test"), "{account}");
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    app.add_verified_address(
        &account,
        &json!({"company_name": format!("{name} SAS"), "line1": "1 rue de la Paix",
                "postal_code": "75002", "city": "Paris", "country": "FR"}),
    )
    .await;
    account
}

/// Advances `clock` to `to` and waits until it is ready again.
pub async fn advance(app: &TestApp, clock: &str, to: &str) -> Value {
    let res = app
        .post(
            &format!("/v1/test-clocks/{clock}/advance"),
            &app.support(),
            &json!({ "to": to }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "advancing");
    assert_eq!(body["advance_to"], to);
    wait_ready(app, clock).await
}

pub async fn wait_ready(app: &TestApp, clock: &str) -> Value {
    for _ in 0..600 {
        let body = success_json(
            app.get(&format!("/v1/test-clocks/{clock}"), &app.support())
                .await,
        )
        .await;
        if body["status"] == "ready" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("test clock {clock} did not get ready");
}

async fn invoices(app: &TestApp, account: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices?limit=100"),
            &app.admin(account),
        )
        .await;
    success_json(res).await["data"].as_array().unwrap().clone()
}

fn totals(invoice: &Value) -> (&str, &str, &str, &str, &str) {
    (
        invoice["number"].as_str().unwrap_or("-"),
        invoice["issue_date"].as_str().unwrap_or("-"),
        invoice["subtotal"].as_str().unwrap(),
        invoice["tax_amount"].as_str().unwrap(),
        invoice["total"].as_str().unwrap(),
    )
}

/// The help page's April example (SPEC.md section 6), driven only through
/// a test clock: 4 licenses and 3 numbers before April, 3 licenses added
/// on April 1, 1 on April 2 and 2 on April 9.
async fn april_example(app: &TestApp) -> (String, String) {
    let clock = clock(app, "2026-03-31T10:00:00Z").await;
    let account = test_account(app, &clock, "Avril").await;
    add_licenses(app, &account, 4).await;
    for _ in 0..3 {
        let res = app
            .post(
                &format!("/v1/accounts/{account}/phone-numbers"),
                &app.admin(&account),
                &json!({"country": "FR"}),
            )
            .await;
        success_json(res).await;
    }
    advance(app, &clock, "2026-04-01T08:00:00Z").await;
    let added = add_licenses(app, &account, 3).await;
    assert_eq!(
        added["licenses"][0]["activation_date"], "2026-04-01",
        "{added}"
    );
    advance(app, &clock, "2026-04-02T08:00:00Z").await;
    add_licenses(app, &account, 1).await;
    advance(app, &clock, "2026-04-09T08:00:00Z").await;
    add_licenses(app, &account, 2).await;
    let ready = advance(app, &clock, "2026-05-01T08:00:00Z").await;
    assert_eq!(ready["frozen_time"], "2026-05-01T08:00:00Z");
    (clock, account)
}

#[tokio::test]
async fn the_help_pages_april_example_through_a_test_clock_gives_the_may_invoice() {
    let app = spawn_app_with(FAST).await;
    // The real clock is elsewhere.
    app.clock.set(datetime!(2026-11-29 09:00 UTC));
    let (_, account) = april_example(&app).await;
    let list = invoices(&app, &account).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(totals(&list[0]).0, "TEST-F-2026-000001");
    assert_eq!(totals(&list[0]).1, "2026-04-01");
    assert_eq!(
        totals(&list[1]),
        (
            "TEST-F-2026-000002",
            "2026-05-01",
            "1002.73",
            "200.55",
            "1203.28"
        )
    );
    // Test documents never take a real number.
    let real = app
        .store
        .begin_read()
        .await
        .unwrap()
        .invoice_numbers(2026)
        .await
        .unwrap();
    assert!(real.is_empty(), "{real:?}");
    // Every response on the test account says so.
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices"),
            &app.viewer(&account),
        )
        .await;
    assert!(res.headers().get("comptoir-test-clock").is_some());
    assert_eq!(success_json(res).await["test"], true);
    let one = success_json(
        app.get(
            &format!(
                "/v1/accounts/{account}/invoices/{}",
                list[1]["id"].as_str().unwrap()
            ),
            &app.viewer(&account),
        )
        .await,
    )
    .await;
    assert_eq!(one["test"], true);
    // Its emails are queued and shown, never sent.
    let emails = success_json(
        app.get(
            &format!(
                "/v1/accounts/{account}/invoices/{}/emails",
                list[1]["id"].as_str().unwrap()
            ),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    for email in emails["data"].as_array().unwrap() {
        assert_ne!(email["status"], "sent", "{email}");
    }
    // The events are dated by the clock, and say they are a test's.
    let events = success_json(
        app.get(
            &format!("/v1/accounts/{account}/events?type=invoice.finalized"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    let dates: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["test"], true);
            e["created_at"].as_str().unwrap()
        })
        .collect();
    assert_eq!(dates, ["2026-04-30T22:00:00Z", "2026-03-31T22:00:00Z"]);
}

#[tokio::test]
async fn an_advance_across_three_month_starts_issues_three_invoices_in_order() {
    let app = spawn_app_with(FAST).await;
    let clock = clock(&app, "2026-01-15T12:00:00Z").await;
    let account = test_account(&app, &clock, "Trois").await;
    add_licenses(&app, &account, 2).await;
    // At most two months a call: three month starts take two calls.
    let res = app
        .post(
            &format!("/v1/test-clocks/{clock}/advance"),
            &app.support(),
            &json!({"to": "2026-04-15T12:00:00Z"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "to");
    advance(&app, &clock, "2026-03-15T12:00:00Z").await;
    advance(&app, &clock, "2026-04-02T12:00:00Z").await;
    let list = invoices(&app, &account).await;
    let seen: Vec<(&str, &str)> = list.iter().map(|i| (totals(i).0, totals(i).1)).collect();
    assert_eq!(
        seen,
        [
            ("TEST-F-2026-000001", "2026-02-01"),
            ("TEST-F-2026-000002", "2026-03-01"),
            ("TEST-F-2026-000003", "2026-04-01"),
        ]
    );
    // Backwards is refused, and changes nothing.
    let res = app
        .post(
            &format!("/v1/test-clocks/{clock}/advance"),
            &app.support(),
            &json!({"to": "2026-04-01T12:00:00Z"}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let body = wait_ready(&app, &clock).await;
    assert_eq!(body["frozen_time"], "2026-04-02T12:00:00Z");
}

#[tokio::test]
async fn two_clocks_do_not_see_each_others_time_and_a_live_account_is_unaffected() {
    let app = spawn_app_with(FAST).await;
    let january = clock(&app, "2026-01-10T09:00:00Z").await;
    let june = clock(&app, "2026-06-10T09:00:00Z").await;
    let a = test_account(&app, &january, "Janvier").await;
    let b = test_account(&app, &june, "Juin").await;
    let live = app.create_billable_account("Réel").await;
    assert_eq!(add_card(&app, &live, &visa()).await.status(), 201);
    let day = |v: &Value| {
        v["licenses"][0]["activation_date"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(day(&add_licenses(&app, &a, 1).await), "2026-01-10");
    assert_eq!(day(&add_licenses(&app, &b, 1).await), "2026-06-10");
    // The live account lives at the server's time (COMPTOIR_NOW here).
    assert_eq!(day(&add_licenses(&app, &live, 1).await), "2026-04-09");
    advance(&app, &january, "2026-02-10T09:00:00Z").await;
    assert_eq!(invoices(&app, &a).await.len(), 1);
    assert!(invoices(&app, &b).await.is_empty());
    assert!(invoices(&app, &live).await.is_empty());
    let b_clock = success_json(
        app.get(&format!("/v1/test-clocks/{june}"), &app.support())
            .await,
    )
    .await;
    assert_eq!(b_clock["frozen_time"], "2026-06-10T09:00:00Z");
    assert_eq!(day(&add_licenses(&app, &b, 1).await), "2026-06-10");
    assert_eq!(day(&add_licenses(&app, &a, 1).await), "2026-02-10");
    // The live account's responses carry no test mark.
    let res = app
        .get(&format!("/v1/accounts/{live}"), &app.admin(&live))
        .await;
    assert!(res.headers().get("comptoir-test-clock").is_none());
    assert_eq!(success_json(res).await["test"], false);
    // A billing run at the real time leaves test accounts alone.
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    let run = success_json(
        app.post(
            "/v1/billing-runs",
            &app.support(),
            &json!({"period": "2026-05"}),
        )
        .await,
    )
    .await;
    let billed: Vec<&str> = run["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(billed, [live.as_str()]);
    let res = app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({"period": "2026-05", "account_ids": [a]}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "account_ids[0]");
}

#[tokio::test]
async fn a_test_account_takes_no_change_while_its_clock_advances() {
    // The worker never runs here: the advance stays advancing.
    let app = spawn_app_with(&[("COMPTOIR_TEST_CLOCK_POLL", "24h")]).await;
    let clock = clock(&app, "2026-03-31T10:00:00Z").await;
    let account = test_account(&app, &clock, "Gelé").await;
    start_without_worker(&app, &clock, datetime!(2026-04-02 10:00 UTC)).await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    assert_problem(res, 409, "test_clock_advancing").await;
    // Reads are answered, at the time the advance got to.
    let res = app
        .get(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &format!("/v1/test-clocks/{clock}/advance"),
            &app.support(),
            &json!({"to": "2026-04-03T10:00:00Z"}),
        )
        .await;
    assert_problem(res, 409, "test_clock_advancing").await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "Late", "test_clock_id": clock}),
        )
        .await;
    assert_problem(res, 409, "test_clock_advancing").await;
}

/// Starts an advance as `POST .../advance` does, but wakes no worker.
async fn start_without_worker(app: &TestApp, clock: &str, to: time::OffsetDateTime) {
    let ctx = comptoir::service::Ctx::system("test", app.clock.now());
    comptoir::service::test_clocks::advance(
        &app.store,
        &ctx,
        &tokio::sync::Notify::new(),
        &TestClockId::parse(clock).unwrap(),
        to,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_server_killed_during_an_advance_resumes_it_on_restart_and_runs_nothing_twice() {
    // The first server's worker only looks once, at its start: it stands
    // for a server that died holding the advance.
    let first = spawn_app_with(&[("COMPTOIR_TEST_CLOCK_POLL", "24h")]).await;
    let clock = clock(&first, "2026-01-20T10:00:00Z").await;
    let a = test_account(&first, &clock, "Un").await;
    let b = test_account(&first, &clock, "Deux").await;
    add_licenses(&first, &a, 1).await;
    add_licenses(&first, &b, 2).await;
    start_without_worker(&first, &clock, datetime!(2026-03-20 10:00 UTC)).await;
    let id = TestClockId::parse(&clock).unwrap();
    let wall = comptoir::service::outbox::wall_now();
    {
        // It claimed the job, with a lease of one second...
        let mut tx = first.store.begin_write().await.unwrap();
        let claimed = tx
            .claim_advancing_clock(wall, wall + time::Duration::seconds(1))
            .await
            .unwrap();
        assert!(claimed.is_some());
        tx.commit().await.unwrap();
    }
    // ... ran the steps up to February's start and recorded them...
    let billing = first.billing();
    loop {
        let (from, at) = comptoir::service::test_clocks::next_stop(&first.store, &id)
            .await
            .unwrap()
            .unwrap();
        comptoir::service::test_clocks::run_due(&first.store, &billing, &id, from, at)
            .await
            .unwrap();
        if at >= datetime!(2026-01-31 23:00 UTC) {
            // ... and billed February, then died before recording it.
            break;
        }
        let mut tx = first.store.begin_write().await.unwrap();
        tx.move_test_clock(&id, at, wall + time::Duration::seconds(1))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(invoices(&first, &a).await.len(), 1);
    assert_eq!(invoices(&first, &b).await.len(), 1);
    let body = success_json(
        first
            .get(&format!("/v1/test-clocks/{clock}"), &first.support())
            .await,
    )
    .await;
    assert_eq!(body["status"], "advancing");
    // The restarted server takes the advance over once the lease is out.
    let second = first.restarted(FAST);
    let ready = wait_ready(&second, &clock).await;
    assert_eq!(ready["frozen_time"], "2026-03-20T10:00:00Z");
    let mut numbers = Vec::new();
    for account in [&a, &b] {
        let list = invoices(&second, account).await;
        let dates: Vec<&str> = list.iter().map(|i| totals(i).1).collect();
        assert_eq!(dates, ["2026-02-01", "2026-03-01"], "{account}");
        numbers.extend(list.iter().map(|i| totals(i).0.to_owned()));
        let events = success_json(
            second
                .get(
                    &format!("/v1/accounts/{account}/events?type=invoice.finalized"),
                    &second.admin(account),
                )
                .await,
        )
        .await;
        assert_eq!(events["data"].as_array().unwrap().len(), 2, "{account}");
    }
    numbers.sort();
    assert_eq!(
        numbers,
        [
            "TEST-F-2026-000001",
            "TEST-F-2026-000002",
            "TEST-F-2026-000003",
            "TEST-F-2026-000004"
        ]
    );
}

#[tokio::test]
async fn deleting_a_clock_deletes_its_test_accounts_and_everything_of_theirs() {
    // The matrix's fixture has a (disabled) webhook endpoint on loopback.
    let app = spawn_app_with(&[
        ("COMPTOIR_TEST_CLOCK_POLL", "20ms"),
        ("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let (clock, account) = april_example(&app).await;
    // A second test account with one of everything (the matrix's): users,
    // teams, documents, change requests, contacts, recipients, a top-up,
    // consumption, a webhook endpoint, a SEPA mandate...
    let rich = success_json(
        app.post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "Tout", "test_clock_id": clock}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = crate::matrix::fixture_for(&app, rich.clone()).await;
    let base = format!("/v1/accounts/{rich}");
    let support = app.support();
    let staff = |path: String, body: Value| {
        let support = &support;
        let app = &app;
        async move { success_json(app.post(&path, support, &body).await).await }
    };
    staff(
        format!("{base}/credits/top-ups/{}/confirm", ids["top_up_id"]),
        json!({"status": "succeeded"}),
    )
    .await;
    staff(
        format!("{base}/charges"),
        json!({"description": "Mise en service", "unit_amount": "49.00", "quantity": 1}),
    )
    .await;
    advance(&app, &clock, "2026-06-02T08:00:00Z").await;
    let rich_invoices = invoices(&app, &rich).await;
    let last = rich_invoices.last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    staff(
        format!("{base}/invoices/{last}/payments"),
        json!({"amount": "1.00", "paid_at": "2026-06-01T09:00:00Z", "method": "transfer", "reference": "VIR 42"}),
    )
    .await;
    let line = format!("il_{}0001", last.strip_prefix("inv_").unwrap());
    staff(
        format!("{base}/invoices/{last}/credit-notes"),
        json!({"reason": "Geste", "lines": [{"invoice_line": line, "amount": "0.01"}]}),
    )
    .await;
    let live = app.create_billable_account("Reste").await;
    let count = |table: String| {
        let sql =
            format!("SELECT COUNT(*) FROM {table} WHERE account_id IN ('{account}', '{rich}')");
        let app = &app;
        async move { app.rows::<(i64,)>(&sql).await[0].0 }
    };
    let mut filled = Vec::new();
    for table in app.account_tables().await {
        if count(table.clone()).await > 0 {
            filled.push(table);
        }
    }
    // What the deletion is checked on: 28 of the 36 tables hold rows of
    // theirs (not: drafts, refunds, balance entries, payment failures,
    // acompte allocations, covered hours, webhook deliveries and attempts).
    assert!(filled.len() >= 28, "{} {filled:?}", filled.len());
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/test-clocks/{clock}"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for gone in [&account, &rich] {
        let res = app
            .get(&format!("/v1/accounts/{gone}"), &app.support())
            .await;
        assert_problem(res, 404, "not_found").await;
    }
    let res = app
        .get(&format!("/v1/test-clocks/{clock}"), &app.support())
        .await;
    assert_problem(res, 404, "not_found").await;
    // Not a row of theirs is left, in any table that holds an account's rows.
    let tables = app.account_tables().await;
    for table in &tables {
        assert_eq!(count(table.clone()).await, 0, "{table}");
    }
    let mut listed: Vec<&str> = comptoir::store::test_clocks::ACCOUNT_TABLES.to_vec();
    listed.sort_unstable();
    let mut found: Vec<&str> = tables.iter().map(String::as_str).collect();
    found.retain(|t| *t != "accounts");
    found.sort_unstable();
    assert_eq!(listed, found, "every table with an account_id is emptied");
    // The live account is untouched.
    let res = app
        .get(&format!("/v1/accounts/{live}"), &app.support())
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_admin_of_a_test_account_moves_its_clock_and_no_other() {
    let app = spawn_app_with(FAST).await;
    let mine = clock(&app, "2026-03-31T10:00:00Z").await;
    let theirs = clock(&app, "2026-03-31T10:00:00Z").await;
    let account = test_account(&app, &mine, "Intégrateur").await;
    let admin = app.admin(&account);
    let res = app.get(&format!("/v1/test-clocks/{mine}"), &admin).await;
    assert_eq!(res.status(), 200);
    let res = app.get(&format!("/v1/test-clocks/{theirs}"), &admin).await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post(
            &format!("/v1/test-clocks/{theirs}/advance"),
            &admin,
            &json!({"to": "2026-04-02T00:00:00Z"}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post(
            &format!("/v1/test-clocks/{mine}/advance"),
            &admin,
            &json!({"to": "2026-04-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    wait_ready(&app, &mine).await;
    // It may make clocks of its own, which it sees beside its account's.
    let res = app
        .post(
            "/v1/test-clocks",
            &admin,
            &json!({"name": "mine too", "frozen_time": "2026-01-01T00:00:00Z"}),
        )
        .await;
    let own = success_json(res).await;
    assert_eq!(own["owner_account_id"], account.as_str());
    let list = success_json(app.get("/v1/test-clocks", &admin).await).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str(), own["id"].as_str().unwrap()]);
    // A live account's admin, a viewer and an integration may not.
    let live = app.create_account("Réel").await;
    for token in [
        app.admin(&live),
        app.viewer(&account),
        app.token(Role::Integration, Some(&account)),
    ] {
        let res = app
            .post(
                "/v1/test-clocks",
                &token,
                &json!({"name": "x", "frozen_time": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_problem(res, 403, "forbidden").await;
    }
}

#[tokio::test]
async fn bad_clock_requests_name_every_bad_field_and_change_nothing() {
    let app = spawn_app_with(FAST).await;
    let res = app
        .post(
            "/v1/test-clocks",
            &app.support(),
            &json!({"name": " ", "frozen_time": "yesterday"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "frozen_time"]);
    let res = app
        .post(
            "/v1/test-clocks",
            &app.support(),
            &json!({"name": "x", "frozen_time": "2100-01-01T00:00:00Z"}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "x", "test_clock_id": "clk_nope"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "test_clock_id");
    let list = success_json(app.get("/v1/test-clocks", &app.support()).await).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    let accounts = success_json(app.get("/v1/accounts", &app.support()).await).await;
    assert!(accounts["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_payment_webhook_for_a_test_account_happens_at_its_clocks_time() {
    use crate::credits::{deliver, signed};
    let app = spawn_app_with(FAST).await;
    let clock = clock(&app, "2026-02-10T09:00:00Z").await;
    let account = test_account(&app, &clock, "Paiement").await;
    let top_up = success_json(
        app.post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({"amount": "50.00"}),
        )
        .await,
    )
    .await;
    // Signed at the real time (the provider's), applied at the clock's.
    let (raw, header) = signed(
        &json!({"id": "evt_clock_1", "type": "top_up.succeeded", "data": {"top_up_id": top_up["id"]}}),
        app.clock.now().unix_timestamp(),
        crate::helpers::WEBHOOK_SECRET,
    );
    assert_eq!(deliver(&app, raw, &header).await.status(), 200);
    let events = success_json(
        app.get(
            &format!("/v1/accounts/{account}/events?type=credits.top_up_succeeded"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    assert_eq!(
        events["data"][0]["created_at"], "2026-02-10T09:00:00Z",
        "{events}"
    );
}

#[tokio::test]
async fn a_draft_waits_its_grace_on_the_clock_and_is_issued_when_it_ends() {
    let app = spawn_app_with(&[
        ("COMPTOIR_TEST_CLOCK_POLL", "20ms"),
        ("COMPTOIR_INVOICE_GRACE", "3d"),
    ])
    .await;
    let clock = clock(&app, "2026-04-20T10:00:00Z").await;
    let account = test_account(&app, &clock, "Grâce").await;
    add_licenses(&app, &account, 1).await;
    // May begins in Paris at 22:00 UTC on April 30: a draft, until May 3 22:00.
    advance(&app, &clock, "2026-05-02T10:00:00Z").await;
    let list = invoices(&app, &account).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "draft", "{}", list[0]);
    // The real time's finalizer, long past its grace, leaves it alone.
    let late = datetime!(2026-11-29 09:00 UTC);
    let ctx = comptoir::service::Ctx::system("invoice-finalizer", late);
    let report = comptoir::service::invoices::finalize_due(&app.store, &ctx, &app.billing())
        .await
        .unwrap();
    assert!(report.issued.is_empty(), "{report:?}");
    advance(&app, &clock, "2026-05-10T10:00:00Z").await;
    let list = invoices(&app, &account).await;
    assert_eq!(list.len(), 1);
    assert_eq!(totals(&list[0]).0, "TEST-F-2026-000001");
    // Dated the day its grace ended, in the account's timezone.
    assert_eq!(totals(&list[0]).1, "2026-05-04");
    let finalized = success_json(
        app.get(
            &format!("/v1/accounts/{account}/events?type=invoice.finalized"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    assert_eq!(finalized["data"][0]["created_at"], "2026-05-03T22:00:00Z");
}

#[tokio::test]
async fn a_test_accounts_credit_note_is_numbered_in_its_clocks_series_on_its_clocks_day() {
    let app = spawn_app_with(FAST).await;
    let clock = clock(&app, "2026-03-31T10:00:00Z").await;
    let account = test_account(&app, &clock, "Avoir").await;
    add_licenses(&app, &account, 2).await;
    advance(&app, &clock, "2026-04-03T10:00:00Z").await;
    let invoice = invoices(&app, &account).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = format!("il_{}0001", invoice.strip_prefix("inv_").unwrap());
    let note = success_json(
        app.post(
            &format!("/v1/accounts/{account}/invoices/{invoice}/credit-notes"),
            &app.support(),
            &json!({"reason": "Geste commercial", "lines": [{"invoice_line": line, "amount": "1.00"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(note["number"], "TEST-AV-2026-000001", "{note}");
    assert_eq!(note["issue_date"], "2026-04-03");
    assert_eq!(note["test"], true);
    // The real series stays untouched: a live credit note is still AV-...-000001.
    let live: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM credit_note_counters").await;
    assert_eq!(live[0].0, 0);
}

#[tokio::test]
async fn a_test_accounts_idempotency_key_lives_24_hours_of_the_servers_time_not_its_clocks() {
    let app = spawn_app_with(FAST).await;
    let clock = clock(&app, "2026-02-10T09:00:00Z").await;
    let account = test_account(&app, &clock, "Rejeu").await;
    let create = || async {
        app.request(
            reqwest::Method::POST,
            &format!("/v1/accounts/{account}/contacts"),
            Some(&app.admin(&account)),
        )
        .header("Idempotency-Key", "ci-retry-1")
        .json(&json!({"name": "Léa Martin", "email": "lea@example.fr", "phone": "+33 1 23 45 67 89", "role": "accounting"}))
        .send()
        .await
        .unwrap()
    };
    let first = success_json(create().await).await;
    // The hourly purge runs on the server's time, two months after the
    // clock's: the key is an hour old, not two months.
    app.clock
        .set(crate::helpers::START + time::Duration::hours(1));
    comptoir::service::purge::purge(&app.store, app.clock.now())
        .await
        .unwrap();
    let again = create().await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(success_json(again).await["id"], first["id"]);
}
