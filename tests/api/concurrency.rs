//! Concurrent requests lose nothing and do nothing twice: license adds (with
//! and without one quote), adds mixed with removals, assignments, credit
//! top-ups with and without one `Idempotency-Key`, and payment webhooks
//! delivering one event many times or many events at once.
//!
//! Existing tests elsewhere cover concurrent removals of one license, adds
//! with one key (licenses.rs), concurrent copies of one batch
//! (consumption.rs), debits (credits.rs), billing runs and recipient adds
//! (invoices.rs), and one top-up event delivered five times (credits.rs).

use std::collections::BTreeSet;

use comptoir::domain::ids::AccountId;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::credits::{deliver, signed};
use crate::helpers::{START, TestApp, WEBHOOK_SECRET, assert_problem, spawn_app};
use crate::payments::{add_card, visa};

/// An account with a card, ready to buy.
async fn buyer(app: &TestApp) -> String {
    let account = app.create_billable_account("Acme").await;
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    account
}

/// Every page of a list route, following the cursors.
async fn all_pages(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{sep}limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&url, token).await;
        assert_eq!(res.status(), 200, "{url}");
        let page: Value = res.json().await.unwrap();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Every license of the account, removed ones included.
async fn licenses(app: &TestApp, account: &str) -> Vec<Value> {
    all_pages(
        app,
        &format!("/v1/accounts/{account}/licenses?status=all"),
        &app.admin(account),
    )
    .await
}

/// The account's audit events with this action.
async fn events(app: &TestApp, account: &str, action: &str) -> Vec<Value> {
    all_pages(
        app,
        &format!("/v1/accounts/{account}/audit-events"),
        &app.support(),
    )
    .await
    .into_iter()
    .filter(|e| e["action"] == action)
    .collect()
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// An invoice line: kind, plan, quantity, unit amount, amount, days.
type Line = (String, String, u64, String, String, Option<u64>);

fn line(
    kind: &str,
    plan: &str,
    quantity: u64,
    unit: &str,
    amount: &str,
    days: Option<u64>,
) -> Line {
    (
        kind.into(),
        plan.into(),
        quantity,
        unit.into(),
        amount.into(),
        days,
    )
}

/// The upcoming invoice's lines, sorted.
async fn upcoming_lines(app: &TestApp, account: &str) -> Vec<Line> {
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.admin(account),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut lines: Vec<Line> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (
                s("kind"),
                s("plan"),
                l["quantity"].as_u64().unwrap(),
                s("unit_amount"),
                s("amount"),
                l["days"].as_u64(),
            )
        })
        .collect();
    lines.sort();
    lines
}

fn sorted(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort();
    lines
}

#[tokio::test]
async fn twelve_concurrent_adds_create_every_license_once_with_its_proration_and_event() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    let path = format!("/v1/accounts/{account}/licenses");
    let body = json!({"plan": "ADVANCED", "quantity": 3});
    let adds = (0..12).map(|_| app.post(&path, &admin, &body));
    let mut added = BTreeSet::new();
    for res in join_all(adds).await {
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["prorated_total"], "140.79", "3 x 46.93");
        added.extend(ids(body["licenses"].as_array().unwrap()));
    }
    assert_eq!(added.len(), 36, "every response names its own licenses");
    assert_eq!(ids(&licenses(&app, &account).await), added);

    // Each license is billed once for May and prorated once for April.
    assert_eq!(
        upcoming_lines(&app, &account).await,
        sorted(vec![
            line("license", "ADVANCED", 36, "64.00", "2304.00", None),
            line(
                "license_proration",
                "ADVANCED",
                36,
                "46.93",
                "1689.48",
                Some(22)
            ),
        ])
    );
    // One event per request, naming each license once.
    let events = events(&app, &account, "licenses.added").await;
    assert_eq!(events.len(), 12);
    let mut audited: Vec<String> = events
        .iter()
        .flat_map(|e| e["after"]["license_ids"].as_array().unwrap().clone())
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    audited.sort();
    assert_eq!(audited, added.into_iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn ten_concurrent_adds_with_one_quote_charge_it_once() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    let quote: Value = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &admin,
            &json!({"plan": "ADVANCED", "quantity": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/accounts/{account}/licenses");
    let body = json!({"plan": "ADVANCED", "quantity": 2, "quote_id": quote["quote_id"]});
    let adds = (0..10).map(|_| app.post(&path, &admin, &body));
    let mut created = 0;
    for res in join_all(adds).await {
        if res.status() == 201 {
            created += 1;
        } else {
            assert_problem(res, 409, "quote_used").await;
        }
    }
    assert_eq!(created, 1, "one quote, one add");
    assert_eq!(licenses(&app, &account).await.len(), 2);
    assert_eq!(events(&app, &account, "licenses.added").await.len(), 1);
    assert_eq!(
        upcoming_lines(&app, &account).await,
        sorted(vec![
            line("license", "ADVANCED", 2, "64.00", "128.00", None),
            line(
                "license_proration",
                "ADVANCED",
                2,
                "46.93",
                "93.86",
                Some(22)
            ),
        ])
    );
}

#[tokio::test]
async fn adds_and_removals_at_once_lose_nothing_and_remove_each_license_once() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    let path = format!("/v1/accounts/{account}/licenses");
    let first = app
        .post(&path, &admin, &json!({"plan": "SMART", "quantity": 10}))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let initial: Vec<String> = ids(first["licenses"].as_array().unwrap())
        .into_iter()
        .collect();
    let removed: BTreeSet<String> = initial[..6].iter().cloned().collect();

    // Six removals and six adds of two, interleaved.
    let requests = (0..12).map(|i| {
        let (app, path, admin) = (&app, &path, &admin);
        let remove = initial.get(i / 2).filter(|_| i % 2 == 0).cloned();
        async move {
            match remove {
                Some(id) => {
                    let res = app
                        .request(Method::DELETE, &format!("{path}/{id}"), Some(admin))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200, "remove {id}");
                    BTreeSet::new()
                }
                None => {
                    let res = app
                        .post(path, admin, &json!({"plan": "SMART", "quantity": 2}))
                        .await;
                    assert_eq!(res.status(), 201);
                    let body: Value = res.json().await.unwrap();
                    ids(body["licenses"].as_array().unwrap())
                }
            }
        }
    });
    let added: BTreeSet<String> = join_all(requests).await.into_iter().flatten().collect();
    assert_eq!(added.len(), 12);

    let all = licenses(&app, &account).await;
    assert_eq!(all.len(), 22);
    let gone: BTreeSet<String> = ids(&all
        .iter()
        .filter(|l| l["status"] == "removed")
        .cloned()
        .collect::<Vec<_>>());
    assert_eq!(gone, removed);
    assert!(
        all.iter()
            .filter(|l| l["status"] == "removed")
            .all(|l| l["removal_date"] == "2026-04-09")
    );
    let active: BTreeSet<String> = ids(&all
        .iter()
        .filter(|l| l["status"] == "active")
        .cloned()
        .collect::<Vec<_>>());
    let expected: BTreeSet<String> = initial[6..].iter().cloned().chain(added).collect();
    assert_eq!(active, expected);

    let removals = events(&app, &account, "license.removed").await;
    let audited: Vec<String> = removals
        .iter()
        .map(|e| e["target_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(audited.len(), 6, "one event per removal");
    assert_eq!(audited.into_iter().collect::<BTreeSet<_>>(), removed);
    assert_eq!(events(&app, &account, "licenses.added").await.len(), 7);
    // May bills the 16 left; April prorates the 6 removed for their one day.
    assert_eq!(
        upcoming_lines(&app, &account).await,
        sorted(vec![
            line("license", "SMART", 16, "24.00", "384.00", None),
            line(
                "license_proration",
                "SMART",
                16,
                "17.60",
                "281.60",
                Some(22)
            ),
            line("license_proration", "SMART", 6, "0.80", "4.80", Some(1)),
        ])
    );
}

/// `count` users of the account, and their ids.
async fn users(app: &TestApp, account: &str, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..count {
        out.push(
            app.create_user(account, &format!("User {i}"), &format!("u{i}@acme.fr"))
                .await,
        );
    }
    out
}

async fn add_licenses(app: &TestApp, account: &str, quantity: u32) -> Vec<String> {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(account),
            &json!({"plan": "SMART", "quantity": quantity}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    ids(body["licenses"].as_array().unwrap())
        .into_iter()
        .collect()
}

async fn assign(app: &TestApp, account: &str, license: &str, user: &str) -> reqwest::Response {
    app.put(
        &format!("/v1/accounts/{account}/licenses/{license}/assignee"),
        &app.admin(account),
        &json!({ "user_id": user }),
    )
    .await
}

#[tokio::test]
async fn eight_users_assigned_one_license_at_once_leave_it_with_one() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let license = add_licenses(&app, &account, 1).await.remove(0);
    let users = users(&app, &account, 8).await;
    let attempts = users.iter().map(|u| {
        let (app, account, license) = (&app, &account, &license);
        async move { (u.clone(), assign(app, account, license, u).await) }
    });
    let mut winners = Vec::new();
    for (user, res) in join_all(attempts).await {
        if res.status() == 200 {
            winners.push(user);
        } else {
            assert_problem(res, 409, "license_taken").await;
        }
    }
    assert_eq!(winners.len(), 1, "one license, one holder: {winners:?}");
    let all = licenses(&app, &account).await;
    assert_eq!(all[0]["user_id"], winners[0].as_str());
    assert_eq!(events(&app, &account, "license.assigned").await.len(), 1);
}

#[tokio::test]
async fn one_user_assigned_eight_licenses_at_once_holds_one() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let licenses_ids = add_licenses(&app, &account, 8).await;
    let user = users(&app, &account, 1).await.remove(0);
    let attempts = licenses_ids
        .iter()
        .map(|l| assign(&app, &account, l, &user));
    let mut granted = 0;
    for res in join_all(attempts).await {
        if res.status() == 200 {
            granted += 1;
        } else {
            assert_eq!(res.status(), 409, "{}", res.text().await.unwrap());
        }
    }
    assert_eq!(granted, 1);
    let held = licenses(&app, &account)
        .await
        .into_iter()
        .filter(|l| l["user_id"] == user.as_str())
        .count();
    assert_eq!(held, 1);
    assert_eq!(events(&app, &account, "license.assigned").await.len(), 1);
}

#[tokio::test]
async fn assigning_and_removing_a_license_at_once_never_leaves_it_removed_and_assigned() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let licenses_ids = add_licenses(&app, &account, 8).await;
    let users = users(&app, &account, 8).await;
    let races = licenses_ids.iter().zip(&users).map(|(license, user)| {
        let (app, account) = (&app, &account);
        async move {
            let remove = app
                .request(
                    Method::DELETE,
                    &format!("/v1/accounts/{account}/licenses/{license}"),
                    Some(&app.admin(account)),
                )
                .send();
            let (assigned, removed) = tokio::join!(assign(app, account, license, user), remove);
            (
                license.clone(),
                assigned.status().as_u16(),
                removed.unwrap().status().as_u16(),
            )
        }
    });
    let outcomes = join_all(races).await;
    let all = licenses(&app, &account).await;
    for (license, assigned, removed) in outcomes {
        let stored = all.iter().find(|l| l["id"] == license.as_str()).unwrap();
        assert!(
            stored["status"] != "removed" || stored["user_id"].is_null(),
            "{license} is removed and assigned: {stored}"
        );
        // Exactly one of the two won, and the stored license says which.
        assert!(
            (assigned == 200) != (removed == 200),
            "{license}: assign {assigned}, remove {removed}"
        );
        if removed == 200 {
            assert_eq!(stored["status"], "removed");
        } else {
            assert_eq!(stored["status"], "active");
            assert!(!stored["user_id"].is_null());
        }
    }
}

async fn balance(app: &TestApp, account: &str) -> String {
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/credits"),
            &app.viewer(account),
        )
        .await
        .json()
        .await
        .unwrap();
    body["balance"].as_str().unwrap().to_owned()
}

/// The balance is the sum of the ledger, never below zero; returns the ledger.
async fn ledger(app: &TestApp, account: &str) -> Vec<Value> {
    let id = AccountId::parse(account).unwrap();
    let mut tx = app.store.begin_read().await.unwrap();
    let state = tx.credits(&id).await.unwrap();
    let sum = tx.ledger_sum(&id).await.unwrap();
    assert_eq!(state.balance_minor, sum, "balance and ledger disagree");
    assert!(state.balance_minor >= 0);
    all_pages(
        app,
        &format!("/v1/accounts/{account}/credits/transactions"),
        &app.admin(account),
    )
    .await
}

async fn top_up(app: &TestApp, account: &str, key: Option<&str>, amount: &str) -> Value {
    let mut req = app
        .request(
            Method::POST,
            &format!("/v1/accounts/{account}/credits/top-ups"),
            Some(&app.admin(account)),
        )
        .json(&json!({ "amount": amount }));
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Delivers a signed `top_up.succeeded` event; returns whether it was applied.
async fn succeeded(app: &TestApp, event: &str, top_up: &Value) -> bool {
    let body =
        json!({"id": event, "type": "top_up.succeeded", "data": {"top_up_id": top_up["id"]}});
    let (raw, header) = signed(&body, START.unix_timestamp(), WEBHOOK_SECRET);
    let res = deliver(app, raw, &header).await;
    assert_eq!(res.status(), 200, "{event}");
    let ack: Value = res.json().await.unwrap();
    ack["applied"] == true
}

#[tokio::test]
async fn concurrent_top_ups_with_one_key_make_one_and_with_distinct_keys_make_all_credited_exactly()
{
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let same = (0..10).map(|_| top_up(&app, &account, Some("one"), "25.00"));
    let replies = join_all(same).await;
    assert_eq!(ids(&replies).len(), 1, "one key, one top-up");
    let distinct = (0..10).map(|i| {
        let (app, account) = (&app, &account);
        async move {
            top_up(
                app,
                account,
                Some(&format!("k-{i}")),
                &format!("{}.00", 10 + i),
            )
            .await
        }
    });
    let mut created = join_all(distinct).await;
    assert_eq!(ids(&created).len(), 10);
    created.push(replies[0].clone());
    let listed = all_pages(
        &app,
        &format!("/v1/accounts/{account}/credits/top-ups"),
        &app.admin(&account),
    )
    .await;
    assert_eq!(ids(&listed), ids(&created));
    assert!(listed.iter().all(|t| t["status"] == "pending"));
    assert_eq!(
        events(&app, &account, "credits.top_up_created").await.len(),
        11
    );

    // Each settled by its own event, all at once: every one credited once.
    let settlements = created.iter().enumerate().map(|(i, t)| {
        let app = &app;
        async move { succeeded(app, &format!("evt_{i}"), t).await }
    });
    assert!(
        join_all(settlements)
            .await
            .into_iter()
            .all(|applied| applied)
    );
    assert_eq!(
        balance(&app, &account).await,
        "170.00",
        "25 + 10 + ... + 19"
    );
    let entries = ledger(&app, &account).await;
    assert_eq!(entries.len(), 11);
    assert!(entries.iter().all(|e| e["kind"] == "top_up"));
}

#[tokio::test]
async fn a_top_up_confirmed_by_several_events_and_by_staff_at_once_is_credited_once() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let t = top_up(&app, &account, None, "50.00").await;
    let confirm = format!(
        "/v1/accounts/{account}/credits/top-ups/{}/confirm",
        t["id"].as_str().unwrap()
    );
    // The provider sends the outcome under several event ids (a retry with
    // a new id), while customer service confirms it by hand.
    let webhooks = (0..6).map(|i| {
        let (app, t) = (&app, &t);
        async move { u16::from(succeeded(app, &format!("evt_dup_{i}"), t).await) }
    });
    let staff = (0..2).map(|_| {
        let (app, confirm) = (&app, &confirm);
        async move {
            let res = app
                .post(confirm, &app.support(), &json!({"status": "succeeded"}))
                .await;
            match res.status().as_u16() {
                200 => 1,
                _ => {
                    assert_problem(res, 409, "top_up_settled").await;
                    0
                }
            }
        }
    });
    let (webhooks, staff) = tokio::join!(join_all(webhooks), join_all(staff));
    let settled: u16 = webhooks.iter().chain(&staff).sum();
    assert_eq!(balance(&app, &account).await, "50.00", "credited once");
    let entries = ledger(&app, &account).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(settled >= 1);
    assert_eq!(
        events(&app, &account, "credits.top_up_settled").await.len(),
        1
    );
}

async fn paid(app: &TestApp, event: &str, invoice: &str) -> reqwest::Response {
    let body = json!({"id": event, "type": "invoice.paid", "data": {"invoice_id": invoice}});
    let (raw, header) = signed(&body, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    deliver(app, raw, &header).await
}

#[tokio::test]
async fn one_invoice_paid_event_delivered_ten_times_at_once_is_applied_once() {
    let app = spawn_app().await;
    let account = crate::invoices::account_with_april_calls(&app, "A").await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let invoice = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let deliveries = (0..10).map(|_| paid(&app, "evt_paid_once", &invoice));
    let mut applied = 0;
    for res in join_all(deliveries).await {
        assert_eq!(res.status(), 200);
        let ack: Value = res.json().await.unwrap();
        applied += usize::from(ack["applied"] == true);
    }
    assert_eq!(applied, 1);
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{invoice}"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "paid");
    assert_eq!(events(&app, &account, "invoice.paid").await.len(), 1);
}

#[tokio::test]
async fn distinct_invoice_paid_events_at_once_pay_it_once_and_are_all_acknowledged() {
    let app = spawn_app().await;
    let account = crate::invoices::account_with_april_calls(&app, "A").await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let invoice = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let deliveries = (0..10).map(|i| {
        let (app, invoice) = (&app, &invoice);
        async move { paid(app, &format!("evt_paid_{i}"), invoice).await }
    });
    let mut applied = 0;
    for res in join_all(deliveries).await {
        // As when they come one after another: 200, applied or not.
        let status = res.status();
        let ack: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{ack}");
        applied += usize::from(ack["applied"] == true);
    }
    assert_eq!(applied, 1);
    assert_eq!(events(&app, &account, "invoice.paid").await.len(), 1);
}

#[tokio::test]
async fn concurrent_deletes_of_a_user_give_one_204_the_rest_404_and_one_event() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let token = app.admin(&account);
    // Ten users, each deleted five times at once: fifty racing requests.
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(
            app.create_user(&account, &format!("User {i}"), &format!("u{i}@acme.fr"))
                .await,
        );
    }
    let deletes: Vec<_> = users
        .iter()
        .flat_map(|user| {
            let path = format!("/v1/accounts/{account}/users/{user}");
            (0..5)
                .map(|_| {
                    app.request(reqwest::Method::DELETE, &path, Some(&token))
                        .send()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut statuses: Vec<u16> = join_all(deletes)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        40,
        "{statuses:?}"
    );
    assert_eq!(events(&app, &account, "user.deleted").await.len(), 10);
}
