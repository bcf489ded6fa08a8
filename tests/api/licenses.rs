use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::payments::{add_card, visa};

/// An account with a card, ready to buy.
async fn buyer(app: &TestApp) -> String {
    let account = app.create_account("Acme").await;
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    account
}

async fn add(app: &TestApp, account: &str, token: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/v1/accounts/{account}/licenses"), token, &body)
        .await
}

async fn license_ids(app: &TestApp, account: &str) -> Vec<String> {
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/licenses?limit=100"),
            &app.admin(account),
        )
        .await
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn count_all(app: &TestApp, account: &str) -> usize {
    let mut n = 0;
    let mut path = format!("/v1/accounts/{account}/licenses?status=all&limit=100");
    loop {
        let page: Value = app
            .get(&path, &app.admin(account))
            .await
            .json()
            .await
            .unwrap();
        n += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => {
                path = format!("/v1/accounts/{account}/licenses?status=all&limit=100&cursor={c}")
            }
            None => return n,
        }
    }
}

#[tokio::test]
async fn the_april_9_quote_of_the_help_page_and_adding_with_it_charges_exactly_that() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let res = add(
        &app,
        &account,
        &app.support(),
        json!({"plan": "ADVANCED", "quantity": 4, "activation_date": "2026-04-01"}),
    )
    .await;
    assert_eq!(res.status(), 201);

    let res = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 2}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let q: Value = res.json().await.unwrap();
    assert_eq!(q["unit_price"], "64.00");
    assert_eq!(q["prorated_unit_amount"], "46.93");
    assert_eq!(q["prorated_total"], "93.86");
    assert_eq!(
        q["prepaid_period"],
        json!({"start": "2026-04-09", "end": "2026-04-30", "days": 22, "days_in_month": 30})
    );
    assert_eq!(q["first_payment_date"], "2026-05-01");
    assert_eq!(q["current_monthly_total"], "256.00");
    assert_eq!(q["additional_monthly_total"], "128.00");
    assert_eq!(q["new_monthly_total"], "384.00");
    assert_eq!(q["currency"], "EUR");
    assert_eq!(q["expires_at"], "2026-04-09T10:15:00Z");

    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 2, "quote_id": q["quote_id"]}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let added: Value = res.json().await.unwrap();
    assert_eq!(added["prorated_total"], "93.86");
    assert_eq!(added["prorated_unit_amount"], "46.93");
    assert_eq!(added["licenses"].as_array().unwrap().len(), 2);
    assert_eq!(added["licenses"][0]["activation_date"], "2026-04-09");
    assert_eq!(added["new_monthly_total"], "384.00");

    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/licenses"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["summary"][0]["plan"], "ADVANCED");
    assert_eq!(list["summary"][0]["count"], 6);
    assert_eq!(list["summary"][0]["available"], 6);
    assert_eq!(list["summary"][0]["monthly_total"], "384.00");

    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 2, "quote_id": q["quote_id"]}),
    )
    .await;
    assert_problem(res, 409, "quote_used").await;
}

#[tokio::test]
async fn an_expired_or_mismatched_quote_is_refused() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let q: Value = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 3, "quote_id": q["quote_id"]}),
    )
    .await;
    assert_problem(res, 422, "quote_mismatch").await;
    app.clock.set(datetime!(2026-04-09 10:15 UTC));
    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 2, "quote_id": q["quote_id"]}),
    )
    .await;
    assert_problem(res, 409, "quote_expired").await;
    assert!(license_ids(&app, &account).await.is_empty());
}

#[tokio::test]
async fn a_leap_year_february_quote() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    app.clock.set(datetime!(2028-02-15 09:00 UTC));
    let q: Value = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        q["prepaid_period"],
        json!({"start": "2028-02-15", "end": "2028-02-29", "days": 15, "days_in_month": 29})
    );
    assert_eq!(q["prorated_unit_amount"], "33.10");
    assert_eq!(q["first_payment_date"], "2028-03-01");
}

#[tokio::test]
async fn bad_input_is_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    for (body, status, code) in [
        (
            json!({"plan": "ADVANCED", "quantity": 0}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "ADVANCED", "quantity": 501}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "GOLD", "quantity": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "PHONE_NUMBER", "quantity": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "ADVANCED", "quantity": 1, "colour": "red"}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "ADVANCED", "quantity": "two"}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "ADVANCED", "quantity": 1, "quote_id": "nope"}),
            422,
            "validation_failed",
        ),
        (
            json!({"plan": "ADVANCED", "quantity": 1, "activation_date": "2026-04-02"}),
            403,
            "requires_support",
        ),
    ] {
        let res = add(&app, &account, &admin, body.clone()).await;
        assert_problem(res, status, code).await;
    }
    for date in ["2026-03-31", "2026-04-10", "2026-05-01"] {
        let res = add(
            &app,
            &account,
            &app.support(),
            json!({"plan": "ADVANCED", "quantity": 1, "activation_date": date}),
        )
        .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "activation_date");
    }
    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/accounts/{account}/licenses/not-a-license"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    assert_eq!(count_all(&app, &account).await, 0);
}

#[tokio::test]
async fn no_usable_payment_method_no_licenses() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 1}),
    )
    .await;
    assert_problem(res, 422, "payment_method_required").await;
    let mut card = visa();
    card["exp_month"] = json!(4);
    card["exp_year"] = json!(2026);
    add_card(&app, &account, &card).await;
    app.clock.set(datetime!(2026-05-02 10:00 UTC));
    let res = add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "ADVANCED", "quantity": 1}),
    )
    .await;
    assert_problem(res, 422, "payment_method_required").await;
    assert_eq!(count_all(&app, &account).await, 0);
}

#[tokio::test]
async fn an_assigned_license_cannot_be_removed_and_deleting_its_user_frees_it() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    add(
        &app,
        &account,
        &admin,
        json!({"plan": "ADVANCED", "quantity": 2}),
    )
    .await;
    let ids = license_ids(&app, &account).await;
    let user = app
        .create_user(&account, "Claire Martin", "claire@acme.fr")
        .await;
    let lic = format!("/v1/accounts/{account}/licenses/{}", ids[0]);
    let res = app
        .put(
            &format!("{lic}/assignee"),
            &admin,
            &json!({"user_id": user}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let other = format!("/v1/accounts/{account}/licenses/{}", ids[1]);
    let res = app
        .put(
            &format!("{other}/assignee"),
            &admin,
            &json!({"user_id": user}),
        )
        .await;
    assert_problem(res, 409, "user_has_license").await;

    let res = app
        .request(Method::DELETE, &lic, Some(&admin))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 409, "license_assigned").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Claire Martin"),
        "{problem}"
    );
    assert_eq!(
        license_ids(&app, &account).await.len(),
        2,
        "nothing removed"
    );

    let user_path = format!("/v1/accounts/{account}/users/{user}");
    assert_eq!(
        app.request(Method::DELETE, &user_path, Some(&admin))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let list: Value = app
        .get(&format!("/v1/accounts/{account}/licenses"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["user_id"].is_null()),
        "freed, not removed"
    );
    assert_eq!(list["summary"][0]["count"], 2);
    let res = app
        .request(Method::DELETE, &lic, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let removed: Value = res.json().await.unwrap();
    assert_eq!(removed["license"]["status"], "removed");
    assert_eq!(removed["removal_date"], "2026-04-09");
}

#[tokio::test]
async fn twenty_concurrent_removals_of_one_license_remove_it_once() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    add(
        &app,
        &account,
        &admin,
        json!({"plan": "SMART", "quantity": 2}),
    )
    .await;
    let id = license_ids(&app, &account).await[0].clone();
    let path = format!("/v1/accounts/{account}/licenses/{id}");
    let removals = (0..20).map(|_| app.request(Method::DELETE, &path, Some(&admin)).send());
    let statuses: Vec<u16> = futures_util::future::join_all(removals)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(license_ids(&app, &account).await.len(), 1);
    let actions = app.audit_actions(&account).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "license.removed").count(),
        1
    );
}

#[tokio::test]
async fn twenty_concurrent_adds_lose_nothing_and_one_key_adds_once() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    let path = format!("/v1/accounts/{account}/licenses");
    let body = json!({"plan": "BUSINESS", "quantity": 5});
    let distinct = (0..20).map(|i| {
        app.request(Method::POST, &path, Some(&admin))
            .header("Idempotency-Key", format!("k-{i}"))
            .json(&body)
            .send()
    });
    for res in futures_util::future::join_all(distinct).await {
        assert_eq!(res.unwrap().status(), 201);
    }
    assert_eq!(count_all(&app, &account).await, 100);
    let same = (0..20).map(|_| {
        app.request(Method::POST, &path, Some(&admin))
            .header("Idempotency-Key", "one")
            .json(&body)
            .send()
    });
    for res in futures_util::future::join_all(same).await {
        assert_eq!(res.unwrap().status(), 201);
    }
    assert_eq!(count_all(&app, &account).await, 105);
}

#[tokio::test]
async fn the_removal_preview_says_what_the_next_invoice_loses() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    add(
        &app,
        &account,
        &app.support(),
        json!({"plan": "ADVANCED", "quantity": 1, "activation_date": "2026-04-02"}),
    )
    .await;
    let id = license_ids(&app, &account).await[0].clone();
    let preview: Value = app
        .get(
            &format!("/v1/accounts/{account}/licenses/{id}/removal-preview"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["next_invoice_date"], "2026-05-01");
    assert_eq!(preview["removal_date"], "2026-04-09");
    assert_eq!(preview["recurring_reduction"], "64.00");
    // Charged April 2 to 9 (8 days: 17.07) instead of 29 days (61.87).
    assert_eq!(preview["proration_reduction"], "44.80");
    assert_eq!(preview["next_invoice_reduction"], "108.80");
    assert_eq!(
        license_ids(&app, &account).await.len(),
        1,
        "a preview removes nothing"
    );
}

#[tokio::test]
async fn a_number_needs_a_verified_address_in_its_country() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    let path = format!("/v1/accounts/{account}/phone-numbers");
    let res = app.post(&path, &admin, &json!({"country": "FR"})).await;
    assert_problem(res, 422, "verified_address_required").await;
    let address: Value = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &admin,
            &json!({"company_name": "Acme", "line1": "1 rue A", "postal_code": "75001", "city": "Paris", "country": "FR"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app.post(&path, &admin, &json!({"country": "FR"})).await;
    assert_problem(res, 422, "verified_address_required").await;
    let verify = format!(
        "/v1/accounts/{account}/billing-addresses/{}/verify",
        address["id"].as_str().unwrap()
    );
    app.request(Method::POST, &verify, Some(&app.support()))
        .send()
        .await
        .unwrap();
    let res = app.post(&path, &admin, &json!({"country": "FR"})).await;
    assert_eq!(res.status(), 201);
    let number: Value = res.json().await.unwrap();
    assert!(
        number["number"].as_str().unwrap().starts_with("+33"),
        "{number}"
    );
    assert_eq!(number["prorated_amount"], "3.67", "5.00 x 22 / 30");
    let res = app.post(&path, &admin, &json!({"country": "ES"})).await;
    assert_problem(res, 422, "verified_address_required").await;
    let list: Value = app
        .get(&path, &app.viewer(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let one = format!("{path}/{}", number["id"].as_str().unwrap());
    assert_eq!(
        app.request(Method::DELETE, &one, Some(&admin))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let list: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
    // Removed the day it was added: May's invoice bills that one day, like a license.
    let upcoming: Value = app
        .get(&format!("/v1/accounts/{account}/invoices/upcoming"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let numbers: Vec<(String, Value, String)> = upcoming["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"].as_str().unwrap().starts_with("phone_number"))
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["days"].clone(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        numbers,
        vec![(
            "phone_number_proration".to_owned(),
            json!(1),
            "0.17".to_owned()
        )]
    );
}

#[tokio::test]
async fn another_accounts_license_is_404() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let other = buyer(&app).await;
    add(
        &app,
        &account,
        &app.admin(&account),
        json!({"plan": "SMART", "quantity": 1}),
    )
    .await;
    let id = license_ids(&app, &account).await[0].clone();
    let intruder = app.admin(&other);
    for path in [
        format!("/v1/accounts/{account}/licenses/{id}"),
        format!("/v1/accounts/{other}/licenses/{id}"),
    ] {
        let res = app
            .request(Method::DELETE, &path, Some(&intruder))
            .send()
            .await
            .unwrap();
        assert_problem(res, 404, "not_found").await;
        assert_problem(
            app.get(&format!("{path}/removal-preview"), &intruder).await,
            404,
            "not_found",
        )
        .await;
        let res = app
            .request(Method::DELETE, &format!("{path}/assignee"), Some(&intruder))
            .send()
            .await
            .unwrap();
        assert_problem(res, 404, "not_found").await;
    }
    let res = add(
        &app,
        &account,
        &intruder,
        json!({"plan": "SMART", "quantity": 1}),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = add(
        &app,
        &account,
        &app.viewer(&account),
        json!({"plan": "SMART", "quantity": 1}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(license_ids(&app, &account).await, [id]);
}

/// The page and its summary come from one statement: the summary counts the
/// active licenses by plan (code order), with the price in force on the
/// account's today, not UTC's; paging with `status=all` walks every license
/// once, in id order.
#[tokio::test]
async fn the_summary_counts_active_licenses_by_plan_at_the_price_of_the_accounts_day() {
    let app = spawn_app().await;
    let account = buyer(&app).await;
    let admin = app.admin(&account);
    for (plan, quantity) in [("SMART", 3), ("BUSINESS", 2)] {
        let res = add(
            &app,
            &account,
            &admin,
            json!({"plan": plan, "quantity": quantity}),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    let summary = |body: &Value| -> Vec<(String, i64, i64, String, String)> {
        body["summary"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["plan"].as_str().unwrap().to_owned(),
                    s["count"].as_i64().unwrap(),
                    s["assigned"].as_i64().unwrap(),
                    s["unit_price"].as_str().unwrap().to_owned(),
                    s["monthly_total"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let list = |path: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app.get(&path, &admin).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let base = format!("/v1/accounts/{account}/licenses");

    // One SMART removed, one BUSINESS assigned.
    let body = list(format!("{base}?limit=100")).await;
    let first_of = |plan: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["plan"] == plan)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (smart, business) = (first_of("SMART"), first_of("BUSINESS"));
    let res = app
        .request(Method::DELETE, &format!("{base}/{smart}"), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let user = app
        .create_user(&account, "Claire Martin", "claire@acme.fr")
        .await;
    let res = app
        .put(
            &format!("{base}/{business}/assignee"),
            &admin,
            &json!({"user_id": user}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let body = list(format!("{base}?limit=100")).await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        4,
        "the removed one is left out"
    );
    let expected = |smart_price: &str, smart_total: &str| {
        vec![
            (
                "BUSINESS".to_owned(),
                2,
                1,
                "44.00".to_owned(),
                "88.00".to_owned(),
            ),
            (
                "SMART".to_owned(),
                2,
                0,
                smart_price.to_owned(),
                smart_total.to_owned(),
            ),
        ]
    };
    assert_eq!(summary(&body), expected("24.00", "48.00"));

    // Every license once, in id order, two by two.
    let mut seen = Vec::new();
    let mut path = format!("{base}?status=all&limit=2");
    loop {
        let page = list(path.clone()).await;
        assert_eq!(
            summary(&page),
            expected("24.00", "48.00"),
            "each page has the summary"
        );
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("{base}?status=all&limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "id order, no repeat");
    assert_eq!(seen.len(), 5, "the removed one is there with status=all");

    // SMART costs 30.00 from May 1. At 22:30 UTC on April 30 it is already
    // May 1 in Paris, the account's timezone.
    let res = app
        .put(
            "/v1/plans/SMART",
            &app.support(),
            &json!({"name": "Smart", "monthly_price": "30.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.clock.set(datetime!(2026-04-30 21:30 UTC));
    assert_eq!(
        summary(&list(base.clone()).await),
        expected("24.00", "48.00")
    );
    app.clock.set(datetime!(2026-04-30 22:30 UTC));
    assert_eq!(
        summary(&list(base.clone()).await),
        expected("30.00", "60.00")
    );

    let empty = app.create_account("Empty").await;
    let res = app
        .get(
            &format!("/v1/accounts/{empty}/licenses"),
            &app.admin(&empty),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["summary"], json!([]));
    assert!(body["next_cursor"].is_null());

    let res = app
        .get("/v1/accounts/acc_nobody/licenses", &app.admin("acc_nobody"))
        .await;
    assert_problem(res, 404, "not_found").await;
}
