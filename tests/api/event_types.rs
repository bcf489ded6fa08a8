//! Every event type of the catalog (issue 20): the action that writes it,
//! how many it writes, and that its `data.object` is the resource as the
//! API returns it right after; a change rolled back after its event was
//! written leaves none; `payment_method.expiring` is written once per card
//! however often the scan runs, `credits.low_balance` once per crossing.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use comptoir::config::Secret;
use comptoir::domain::role::Role;
use comptoir::service::outbox::Settings;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::credits::signed;
use crate::events::{add_licenses, buyer, events_of};
use crate::helpers::{
    PA_WEBHOOK_SECRET, TestApp, WEBHOOK_SECRET, fail_inserts_of, spawn_app, spawn_app_with,
    success_json,
};
use crate::invoice_payments::{invoice_of, issued_invoice, pay, transfer};
use crate::payments::{add_card, sepa, visa};

/// The objects of the account's events of one type, oldest first.
async fn objects(app: &TestApp, account: &str, event_type: &str) -> Vec<Value> {
    events_of(app, account, event_type)
        .await
        .into_iter()
        .map(|e| {
            assert_eq!(e["type"], event_type);
            assert_eq!(e["account_id"], account);
            e["data"]["object"].clone()
        })
        .collect()
}

/// The one event of this type: its object.
async fn only(app: &TestApp, account: &str, event_type: &str) -> Value {
    let mut all = objects(app, account, event_type).await;
    assert_eq!(all.len(), 1, "{event_type}: {all:?}");
    all.remove(0)
}

async fn read(app: &TestApp, path: &str) -> Value {
    success_json(app.get(path, &app.support()).await).await
}

/// The license as the list (removed ones included) shows it.
async fn license(app: &TestApp, account: &str, id: &str) -> Value {
    let list = read(
        app,
        &format!("/v1/accounts/{account}/licenses?status=all&limit=100"),
    )
    .await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no license {id} in {list}"))
}

async fn payment_method(app: &TestApp, account: &str, id: &str) -> Value {
    let list = read(app, &format!("/v1/accounts/{account}/payment-methods")).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no payment method {id} in {list}"))
}

async fn credits(app: &TestApp, account: &str) -> Value {
    read(app, &format!("/v1/accounts/{account}/credits")).await
}

async fn post_ok(app: &TestApp, path: &str, body: &Value) -> Value {
    let res = app.post(path, &app.support(), body).await;
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// Posts `records` of consumption (calls of the account's user `user`).
async fn consume(app: &TestApp, account: &str, user: &str, external_id: &str, cost: &str) {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(account)),
            &json!({"records": [{
                "external_id": external_id, "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+33612345678",
                "country": "FR", "duration_seconds": 60, "cost": cost
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// An account with `balance` of credits, paid by a top-up the payment
/// webhook confirmed, and auto-recharge at `threshold`.
async fn funded(app: &TestApp, balance: &str, threshold: &str, enabled: bool) -> String {
    let account = buyer(app).await;
    app.verified_french_address(&account).await;
    let t = success_json(
        app.post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({ "amount": balance }),
        )
        .await,
    )
    .await;
    let event = json!({"id": format!("evt_fund_{account}"), "type": "top_up.succeeded",
                       "data": {"top_up_id": t["id"]}});
    let (raw, header) = signed(&event, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    assert_eq!(
        crate::credits::deliver(app, raw, &header).await.status(),
        200
    );
    let res = app
        .put(
            &format!("/v1/accounts/{account}/credits/auto-recharge"),
            &app.admin(&account),
            &json!({"enabled": enabled, "threshold": threshold, "amount": "50.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    account
}

#[tokio::test]
async fn removing_assigning_and_unassigning_a_license_each_write_one_event_with_the_license_as_listed()
 {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let added = add_licenses(&app, &account, 2).await;
    let (kept, gone) = (
        added["licenses"][0]["id"].as_str().unwrap().to_owned(),
        added["licenses"][1]["id"].as_str().unwrap().to_owned(),
    );
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;

    let assignee = format!("/v1/accounts/{account}/licenses/{kept}/assignee");
    let res = app
        .put(&assignee, &app.admin(&account), &json!({ "user_id": user }))
        .await;
    assert_eq!(res.status(), 200);
    let assigned = only(&app, &account, "license.assigned").await;
    assert_eq!(assigned, license(&app, &account, &kept).await);
    assert_eq!(assigned["user_id"], user.as_str());
    // Assigning it to the same user again changes nothing: no event.
    let res = app
        .put(&assignee, &app.admin(&account), &json!({ "user_id": user }))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(objects(&app, &account, "license.assigned").await.len(), 1);

    let res = app
        .request(Method::DELETE, &assignee, Some(&app.admin(&account)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let unassigned = only(&app, &account, "license.unassigned").await;
    assert_eq!(unassigned, license(&app, &account, &kept).await);
    assert_eq!(unassigned["user_id"], Value::Null);

    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/accounts/{account}/licenses/{gone}"),
            Some(&app.admin(&account)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let removed = only(&app, &account, "license.removed").await;
    assert_eq!(removed, license(&app, &account, &gone).await);
    assert_eq!(removed["status"], "removed");
    assert_eq!(objects(&app, &account, "license.added").await.len(), 2);
}

#[tokio::test]
async fn adding_and_removing_a_phone_number_write_one_event_each_with_the_number_as_the_api_shows_it()
 {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    app.verified_french_address(&account).await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/phone-numbers"),
            &app.admin(&account),
            &json!({"country": "FR"}),
        )
        .await;
    let created = success_json(res).await;
    let path = format!(
        "/v1/accounts/{account}/phone-numbers/{}",
        created["id"].as_str().unwrap()
    );
    let added = only(&app, &account, "phone_number.added").await;
    assert_eq!(added, created);
    assert_eq!(added, read(&app, &path).await);

    let res = app
        .request(Method::DELETE, &path, Some(&app.admin(&account)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let removed = only(&app, &account, "phone_number.removed").await;
    assert_eq!(removed, read(&app, &path).await);
    assert_eq!(removed["removal_date"], "2026-04-09");
}

#[tokio::test]
async fn a_billing_run_with_a_grace_period_writes_draft_created_and_staff_finalizing_writes_finalized()
 {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let account = buyer(&app).await;
    app.verified_french_address(&account).await;
    add_licenses(&app, &account, 2).await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let id = run["drafted"][0]["invoice_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no draft: {run}"))
        .to_owned();

    let draft = only(&app, &account, "invoice.draft_created").await;
    assert_eq!(draft, invoice_of(&app, &account, &id).await);
    assert_eq!(draft["status"], "draft");
    assert!(
        objects(&app, &account, "invoice.finalized")
            .await
            .is_empty()
    );
    // A second run makes nothing twice.
    crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(
        objects(&app, &account, "invoice.draft_created").await.len(),
        1
    );

    post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{id}/finalize"),
        &json!({}),
    )
    .await;
    let finalized = only(&app, &account, "invoice.finalized").await;
    assert_eq!(finalized, invoice_of(&app, &account, &id).await);
    assert_eq!(finalized["status"], "issued");
    assert_eq!(finalized["e_invoicing"]["status"], "pending");
    assert!(objects(&app, &account, "invoice.paid").await.is_empty());
}

#[tokio::test]
async fn a_run_without_grace_writes_draft_created_then_finalized_and_the_finalizer_finalizes_a_due_draft()
 {
    // Without a grace period: a draft, issued at once.
    let app = spawn_app().await;
    let (account, id) = issued_invoice(&app, "Acme").await;
    let draft = only(&app, &account, "invoice.draft_created").await;
    assert_eq!(
        (&draft["id"], &draft["status"]),
        (&json!(id), &json!("draft"))
    );
    assert_eq!(draft["number"], Value::Null);
    let finalized = only(&app, &account, "invoice.finalized").await;
    assert_eq!(finalized, invoice_of(&app, &account, &id).await);

    // With one: the finalizer issues the draft once its grace is over.
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "1h")]).await;
    let account = crate::invoices::account_with_april_calls(&app, "Late").await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let id = run["drafted"][0]["invoice_id"].as_str().unwrap().to_owned();
    app.clock.set(app.clock.now() + time::Duration::hours(2));
    let ctx = comptoir::service::Ctx::system("test-finalizer", app.clock.now());
    let report = comptoir::service::invoices::finalize_due(&app.store, &ctx, &app.billing())
        .await
        .unwrap();
    assert_eq!(report.issued.len(), 1);
    let finalized = only(&app, &account, "invoice.finalized").await;
    assert_eq!(finalized, invoice_of(&app, &account, &id).await);
}

#[tokio::test]
async fn payments_write_payment_succeeded_each_and_invoice_paid_once_when_nothing_is_due() {
    let app = spawn_app().await;
    let (account, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(
        pay(&app, &account, &inv, &transfer("50.00")).await.status(),
        201
    );
    let first = only(&app, &account, "invoice.payment_succeeded").await;
    assert_eq!(first, invoice_of(&app, &account, &inv).await);
    assert_eq!(first["amount_due"], "70.00");
    assert!(objects(&app, &account, "invoice.paid").await.is_empty());

    assert_eq!(
        pay(&app, &account, &inv, &transfer("70.00")).await.status(),
        201
    );
    let succeeded = objects(&app, &account, "invoice.payment_succeeded").await;
    assert_eq!(succeeded.len(), 2);
    let now = invoice_of(&app, &account, &inv).await;
    assert_eq!(succeeded[1], now);
    assert_eq!(only(&app, &account, "invoice.paid").await, now);
    assert_eq!(now["status"], "paid");

    // Paid already: refused, nothing written.
    let res = pay(&app, &account, &inv, &transfer("1.00")).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        objects(&app, &account, "invoice.payment_succeeded")
            .await
            .len(),
        2
    );
    assert_eq!(objects(&app, &account, "invoice.paid").await.len(), 1);
}

#[tokio::test]
async fn mark_paid_writes_payment_succeeded_and_invoice_paid() {
    let app = spawn_app().await;
    let (account, inv) = issued_invoice(&app, "Acme").await;
    post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{inv}/mark-paid"),
        &json!({}),
    )
    .await;
    let now = invoice_of(&app, &account, &inv).await;
    assert_eq!(only(&app, &account, "invoice.payment_succeeded").await, now);
    assert_eq!(only(&app, &account, "invoice.paid").await, now);
}

#[tokio::test]
async fn the_payment_webhook_writes_payment_failed_then_payment_succeeded_and_paid_once_per_event()
{
    let app = spawn_app().await;
    let (account, inv) = issued_invoice(&app, "Acme").await;
    let deliver = |body: Value| {
        let app = &app;
        async move {
            let (raw, header) = signed(&body, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
            let res = crate::credits::deliver(app, raw, &header).await;
            assert_eq!(res.status(), 200);
        }
    };
    let failed = json!({"id": "evt_f1", "type": "invoice.payment_failed",
                        "data": {"invoice_id": inv, "failure_reason": "Insufficient funds"}});
    deliver(failed.clone()).await;
    deliver(failed).await;
    let object = only(&app, &account, "invoice.payment_failed").await;
    assert_eq!(object, invoice_of(&app, &account, &inv).await);
    assert_eq!(
        object["payment_failures"][0]["reason"],
        "Insufficient funds"
    );

    let paid = json!({"id": "evt_p1", "type": "invoice.paid", "data": {"invoice_id": inv}});
    deliver(paid.clone()).await;
    deliver(paid).await;
    let now = invoice_of(&app, &account, &inv).await;
    assert_eq!(only(&app, &account, "invoice.payment_succeeded").await, now);
    assert_eq!(only(&app, &account, "invoice.paid").await, now);
}

#[tokio::test]
async fn an_invoice_the_customer_balance_covers_is_finalized_paid_and_says_both() {
    let app = spawn_app().await;
    let (account, may) = issued_invoice(&app, "Acme").await;
    // Paid, then credited in full: its 120.00 go to the customer balance.
    assert_eq!(
        pay(&app, &account, &may, &transfer("120.00"))
            .await
            .status(),
        201
    );
    post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{may}/credit-notes"),
        &json!({"reason": "Goodwill"}),
    )
    .await;
    let user = app.create_user(&account, "Marc", "marc@example.fr").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(&account)),
            &json!({"records": [{
                "external_id": "june-1", "occurred_at": "2026-05-10T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+33612345678",
                "country": "FR", "duration_seconds": 60, "cost": "1.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let run = crate::invoices::bill(&app, "2026-06").await;
    let june = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();

    let finalized = objects(&app, &account, "invoice.finalized").await;
    assert_eq!(finalized.len(), 2);
    let now = invoice_of(&app, &account, &june).await;
    assert_eq!(now["status"], "paid");
    assert_eq!(finalized[1], now);
    let paid = objects(&app, &account, "invoice.paid").await;
    assert_eq!(paid.len(), 2, "May by its payment, June at its issue");
    assert_eq!(paid[1], now);
}

#[tokio::test]
async fn a_credit_note_writes_credit_note_issued_and_its_reissue_writes_invoice_finalized() {
    let app = spawn_app().await;
    let (account, inv) = issued_invoice(&app, "Acme").await;
    let note = post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{inv}/credit-notes"),
        &json!({"reason": "Wrong address"}),
    )
    .await;
    let issued = only(&app, &account, "credit_note.issued").await;
    assert_eq!(issued, note);
    assert_eq!(
        issued,
        read(
            &app,
            &format!(
                "/v1/accounts/{account}/credit-notes/{}",
                note["id"].as_str().unwrap()
            )
        )
        .await
    );

    let reissued = post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{inv}/reissue"),
        &json!({}),
    )
    .await;
    let finalized = objects(&app, &account, "invoice.finalized").await;
    assert_eq!(finalized.len(), 2, "the invoice, then its reissue");
    let id = reissued["id"].as_str().unwrap();
    assert_eq!(finalized[1], invoice_of(&app, &account, id).await);
    assert_eq!(finalized[1]["replaces"]["invoice_id"], inv.as_str());
}

#[tokio::test]
async fn a_confirmed_top_up_writes_top_up_succeeded_and_its_acompte_finalized_and_paid() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    app.verified_french_address(&account).await;
    let top_ups = format!("/v1/accounts/{account}/credits/top-ups");
    let create = |amount: &'static str| {
        let app = &app;
        let top_ups = &top_ups;
        let account = &account;
        async move {
            success_json(
                app.post(top_ups, &app.admin(account), &json!({ "amount": amount }))
                    .await,
            )
            .await
        }
    };
    let declined = create("30.00").await;
    post_ok(
        &app,
        &format!("{top_ups}/{}/confirm", declined["id"].as_str().unwrap()),
        &json!({"status": "failed", "failure_reason": "Card declined"}),
    )
    .await;
    assert!(
        objects(&app, &account, "credits.top_up_succeeded")
            .await
            .is_empty()
    );

    let t = create("50.00").await;
    post_ok(
        &app,
        &format!("{top_ups}/{}/confirm", t["id"].as_str().unwrap()),
        &json!({"status": "succeeded"}),
    )
    .await;
    let succeeded = only(&app, &account, "credits.top_up_succeeded").await;
    let listed = read(&app, &top_ups).await;
    let shown = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == t["id"])
        .unwrap()
        .clone();
    assert_eq!(succeeded, shown);
    assert_eq!(succeeded["status"], "succeeded");
    let acompte = succeeded["invoice_id"].as_str().unwrap();
    let now = invoice_of(&app, &account, acompte).await;
    assert_eq!(only(&app, &account, "invoice.finalized").await, now);
    assert_eq!(only(&app, &account, "invoice.paid").await, now);
    assert_eq!(now["kind"], "advance");
}

#[tokio::test]
async fn credits_low_balance_is_written_once_per_crossing_of_the_threshold() {
    let app = spawn_app().await;
    let account = funded(&app, "50.00", "20.00", false).await;
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;
    consume(&app, &account, &user, "c1", "25.00").await;
    assert!(
        objects(&app, &account, "credits.low_balance")
            .await
            .is_empty(),
        "25.00 left: not under 20.00"
    );
    consume(&app, &account, &user, "c2", "10.00").await;
    let crossed = only(&app, &account, "credits.low_balance").await;
    assert_eq!(crossed, credits(&app, &account).await);
    assert_eq!(crossed["balance"], "15.00");
    consume(&app, &account, &user, "c3", "5.00").await;
    assert_eq!(
        objects(&app, &account, "credits.low_balance").await.len(),
        1,
        "under it already: no second one"
    );

    // Back above it, then under again (a staff adjustment): a second one.
    let adjust = format!("/v1/accounts/{account}/credits/adjustments");
    post_ok(
        &app,
        &adjust,
        &json!({"amount": "30.00", "reason": "Goodwill"}),
    )
    .await;
    assert_eq!(credits(&app, &account).await["balance"], "40.00");
    post_ok(
        &app,
        &adjust,
        &json!({"amount": "-25.00", "reason": "Correction"}),
    )
    .await;
    let all = objects(&app, &account, "credits.low_balance").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], credits(&app, &account).await);
    assert_eq!(all[1]["balance"], "15.00");
}

#[tokio::test]
async fn adding_a_card_or_an_iban_writes_payment_method_added_and_the_same_card_again_does_not() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let card = success_json(add_card(&app, &account, &visa()).await).await;
    let added = only(&app, &account, "payment_method.added").await;
    assert_eq!(added, card);
    assert_eq!(
        added,
        payment_method(&app, &account, card["id"].as_str().unwrap()).await
    );
    // The same card again is updated in place: not added.
    let mut again = visa();
    again["exp_year"] = json!(2031);
    assert!(add_card(&app, &account, &again).await.status().is_success());
    assert_eq!(
        objects(&app, &account, "payment_method.added").await.len(),
        1
    );

    let iban = post_ok(
        &app,
        &format!("/v1/accounts/{account}/payment-methods/sepa"),
        &sepa(),
    )
    .await;
    let all = objects(&app, &account, "payment_method.added").await;
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1],
        payment_method(&app, &account, iban["id"].as_str().unwrap()).await
    );
}

#[tokio::test]
async fn a_card_expiring_within_30_days_is_announced_once_however_often_the_scan_runs() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let mut may = visa();
    may["exp_month"] = json!(5);
    may["exp_year"] = json!(2026);
    let card = success_json(add_card(&app, &account, &may).await).await;
    let purge = || comptoir::service::purge::purge(&app.store, app.clock.now());

    // April 9: it works until May 31, more than 30 days away.
    assert_eq!(purge().await.unwrap().expiring_cards, 0);
    assert!(
        objects(&app, &account, "payment_method.expiring")
            .await
            .is_empty()
    );
    // May 2: 30 days left (May 2 to May 31).
    app.clock.set(datetime!(2026-05-02 10:00 UTC));
    assert_eq!(purge().await.unwrap().expiring_cards, 1);
    assert_eq!(purge().await.unwrap().expiring_cards, 0);
    app.clock.set(datetime!(2026-05-20 10:00 UTC));
    assert_eq!(purge().await.unwrap().expiring_cards, 0);
    let expiring = only(&app, &account, "payment_method.expiring").await;
    assert_eq!(
        expiring,
        payment_method(&app, &account, card["id"].as_str().unwrap()).await
    );
    assert_eq!(expiring["exp_month"], 5);
}

#[tokio::test]
async fn staff_verifying_an_address_or_approving_its_change_writes_billing_address_verified() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let paris = json!({"company_name": "Acme SAS", "line1": "1 rue de la Paix",
                       "postal_code": "75002", "city": "Paris", "country": "FR"});
    let id = app.add_verified_address(&account, &paris).await;
    let path = format!("/v1/accounts/{account}/billing-addresses/{id}");
    let verified = only(&app, &account, "billing_address.verified").await;
    assert_eq!(verified, read(&app, &path).await);
    assert_eq!(verified["status"], "verified");

    // A rejected address writes none.
    let other = success_json(
        app.post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(&account),
            &paris,
        )
        .await,
    )
    .await;
    post_ok(
        &app,
        &format!(
            "/v1/accounts/{account}/billing-addresses/{}/reject",
            other["id"].as_str().unwrap()
        ),
        &json!({"reason": "Unreadable Kbis"}),
    )
    .await;
    assert_eq!(
        objects(&app, &account, "billing_address.verified")
            .await
            .len(),
        1
    );

    let mut lyon = paris.clone();
    lyon["city"] = json!("Lyon");
    lyon["postal_code"] = json!("69002");
    let request = success_json(
        app.post(
            &format!("{path}/change-requests"),
            &app.admin(&account),
            &lyon,
        )
        .await,
    )
    .await;
    let res = app
        .request(
            Method::POST,
            &format!(
                "/v1/accounts/{account}/billing-address-change-requests/{}/approve",
                request["id"].as_str().unwrap()
            ),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let all = objects(&app, &account, "billing_address.verified").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], read(&app, &path).await);
    assert_eq!(all[1]["city"], "Lyon");
}

/// A stand-in e-invoicing platform taking every deposit (`pa-1`, `pa-2`...).
async fn platform() -> comptoir::pa::Platform {
    async fn deposit(
        count: web::Data<std::sync::atomic::AtomicUsize>,
        mut body: web::Payload,
    ) -> HttpResponse {
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
        }
        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        HttpResponse::Created().json(json!({ "id": format!("pa-{n}") }))
    }
    let count = web::Data::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(count.clone())
            .route("/pa/invoices", web::post().to(deposit))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    comptoir::pa::Platform::new(
        &format!("http://127.0.0.1:{port}/pa/invoices"),
        Some(Secret::new("pa-token")),
        Duration::from_secs(5),
    )
    .unwrap()
}

async fn pa_event(app: &TestApp, body: &Value) -> bool {
    let (raw, header) = signed(body, app.clock.now().unix_timestamp(), PA_WEBHOOK_SECRET);
    let res = app
        .request(Method::POST, "/v1/webhooks/e-invoicing", None)
        .header("Content-Type", "application/json")
        .header("Comptoir-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap();
    success_json(res).await["applied"].as_bool().unwrap()
}

/// The event's object against the document's `e_invoicing` as its JSON shows it.
fn assert_standing(object: &Value, document: &Value, document_type: &str) {
    assert_eq!(object["document_id"], document["id"]);
    assert_eq!(object["document_type"], document_type);
    assert_eq!(object["number"], document["number"]);
    let shown = &document["e_invoicing"];
    for field in ["status", "code", "status_at", "reason", "platform_id"] {
        assert_eq!(object[field], shown[field], "{field}: {object} / {shown}");
    }
}

#[tokio::test]
async fn each_new_e_invoice_status_writes_e_invoice_status_changed_once() {
    let app = spawn_app().await;
    let (account, inv) = issued_invoice(&app, "Acme").await;
    // Queued at its issue: `pending` is no change.
    assert!(
        objects(&app, &account, "e_invoice.status_changed")
            .await
            .is_empty()
    );

    // Deposited by the delivery worker: `transmitted`.
    let settings = Settings {
        batch: 20,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(300),
        retry_base: Duration::from_secs(1),
        max_attempts: 4,
    };
    let pa = platform().await;
    while comptoir::service::pa_delivery::deliver_due(
        &app.store, &app.blobs, &pa, &app.clock, &settings,
    )
    .await
    .unwrap()
    .claimed
        > 0
    {}
    let transmitted = only(&app, &account, "e_invoice.status_changed").await;
    assert_eq!(transmitted["status"], "transmitted");
    assert_standing(
        &transmitted,
        &invoice_of(&app, &account, &inv).await,
        "invoice",
    );

    // The platform's webhook, a day later: 200, then the same event again,
    // then an older status (recorded, not current).
    app.clock.set(datetime!(2026-05-03 10:00 UTC));
    let deposited = json!({"id": "pa_evt_1", "document_id": inv, "code": "200",
                           "date": "2026-05-03T09:00:00Z"});
    assert!(pa_event(&app, &deposited).await);
    assert!(!pa_event(&app, &deposited).await);
    let older = json!({"id": "pa_evt_0", "document_id": inv, "code": "213",
                       "date": "2026-05-03T08:30:00Z", "reason": "late news"});
    assert!(pa_event(&app, &older).await);
    let all = objects(&app, &account, "e_invoice.status_changed").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["status"], "deposited");
    assert_eq!(all[1]["code"], "200");
    assert_standing(&all[1], &invoice_of(&app, &account, &inv).await, "invoice");

    // A credit note's deposit too.
    let note = post_ok(
        &app,
        &format!("/v1/accounts/{account}/invoices/{inv}/credit-notes"),
        &json!({"reason": "Rejected by the buyer"}),
    )
    .await;
    while comptoir::service::pa_delivery::deliver_due(
        &app.store, &app.blobs, &pa, &app.clock, &settings,
    )
    .await
    .unwrap()
    .claimed
        > 0
    {}
    let all = objects(&app, &account, "e_invoice.status_changed").await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(
        (
            &all[2]["document_id"],
            &all[2]["document_type"],
            &all[2]["number"]
        ),
        (&note["id"], &json!("credit_note"), &note["number"])
    );
    assert_eq!(
        (&all[2]["status"], &all[2]["platform_id"], &all[2]["code"]),
        (&json!("transmitted"), &json!("pa-2"), &Value::Null)
    );
}

#[tokio::test]
async fn a_license_removal_that_fails_after_its_event_was_written_leaves_no_event() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let added = add_licenses(&app, &account, 1).await;
    let id = added["licenses"][0]["id"].as_str().unwrap();
    // The removal's audit record is written after its event: it fails.
    fail_inserts_of(&app, "audit_events", &account).await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/accounts/{account}/licenses/{id}"),
            Some(&app.admin(&account)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert!(objects(&app, &account, "license.removed").await.is_empty());
    assert_eq!(license(&app, &account, id).await["status"], "active");
}

#[tokio::test]
async fn a_debit_whose_auto_recharge_cannot_be_written_leaves_no_low_balance_event() {
    let app = spawn_app().await;
    let account = funded(&app, "30.00", "20.00", true).await;
    let user = app.create_user(&account, "Léa", "lea@example.fr").await;
    // The auto-recharge top-up is written after the low-balance event.
    fail_inserts_of(&app, "top_ups", &account).await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(&account)),
            &json!({"records": [{
                "external_id": "c1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+33612345678",
                "country": "FR", "duration_seconds": 60, "cost": "15.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 500);
    assert!(
        objects(&app, &account, "credits.low_balance")
            .await
            .is_empty()
    );
    assert_eq!(credits(&app, &account).await["balance"], "30.00");
}
