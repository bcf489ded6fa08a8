//! Prices per currency, exchange rates and the VAT of non-EUR invoices in
//! euros (issue 18): an account buys only what is priced in its currency,
//! its invoice is in that currency only, and states its VAT in euros at the
//! ECB rate of its issue date or the last one before (CGI art. 289-IV).

use comptoir::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::payments::{add_card, visa};

use crate::helpers::success_json as json_of;

/// An account in `currency` with a card and a verified billing address in
/// Paris (French VAT, and numbers in France).
async fn buyer_in(app: &TestApp, currency: &str) -> String {
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": format!("Acme {currency}"), "currency": currency}),
        )
        .await;
    let account = json_of(res).await["id"].as_str().unwrap().to_owned();
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    let address = json_of(
        app.post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(&account),
            &json!({"company_name": "Acme", "line1": "1 rue de la Paix", "postal_code": "75002",
                    "city": "Paris", "country": "FR"}),
        )
        .await,
    )
    .await;
    let verify = format!(
        "/v1/accounts/{account}/billing-addresses/{}/verify",
        address["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::POST, &verify, Some(&app.support()))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    account
}

async fn price_plan(app: &TestApp, code: &str, name: &str, price: &str, currency: &str) -> Value {
    json_of(
        app.put(
            &format!("/v1/plans/{code}"),
            &app.support(),
            &json!({"name": name, "monthly_price": price, "currency": currency}),
        )
        .await,
    )
    .await
}

async fn put_rate(app: &TestApp, currency: &str, date: &str, rate: &str) -> reqwest::Response {
    app.put(
        &format!("/v1/exchange-rates/{currency}/{date}"),
        &app.support(),
        &json!({ "eur_rate": rate }),
    )
    .await
}

async fn run(app: &TestApp, period: &str, account: &str) -> Value {
    json_of(
        app.post(
            "/v1/billing-runs",
            &app.support(),
            &json!({"period": period, "account_ids": [account]}),
        )
        .await,
    )
    .await
}

/// SMART priced 32.00 USD; one license activated by staff on April 1, so
/// May's invoice bills April in full (32.00) and May (32.00): 64.00, VAT
/// 20 % 12.80 USD.
async fn usd_account_with_a_smart_license(app: &TestApp) -> String {
    price_plan(app, "SMART", "Smart", "32.00", "USD").await;
    let account = buyer_in(app, "USD").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.support(),
            &json!({"plan": "SMART", "quantity": 1, "activation_date": "2026-04-01"}),
        )
        .await;
    let added = json_of(res).await;
    assert_eq!(added["prorated_total"], "32.00", "{added}");
    account
}

#[tokio::test]
async fn a_usd_account_cannot_quote_add_or_get_a_number_of_a_plan_priced_only_in_eur() {
    let app = spawn_app().await;
    let account = buyer_in(&app, "USD").await;
    let admin = app.admin(&account);
    let res = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &admin,
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    let body = assert_problem(res, 422, "plan_not_priced_in_currency").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("ADVANCED") && detail.contains("USD"),
        "{detail}"
    );
    // Staff are refused too: no one sells an EUR price to a USD account.
    for token in [admin.clone(), app.support()] {
        let res = app
            .post(
                &format!("/v1/accounts/{account}/licenses"),
                &token,
                &json!({"plan": "ADVANCED", "quantity": 2}),
            )
            .await;
        assert_problem(res, 422, "plan_not_priced_in_currency").await;
    }
    let res = app
        .post(
            &format!("/v1/accounts/{account}/phone-numbers"),
            &admin,
            &json!({"country": "FR"}),
        )
        .await;
    let body = assert_problem(res, 422, "plan_not_priced_in_currency").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("PHONE_NUMBER") && detail.contains("USD"),
        "{detail}"
    );
    // Nothing was bought, so nothing is billed.
    for list in ["licenses", "phone-numbers"] {
        let body = json_of(
            app.get(&format!("/v1/accounts/{account}/{list}"), &admin)
                .await,
        )
        .await;
        assert_eq!(body["data"], json!([]), "{list}");
    }
    let upcoming = json_of(
        app.get(&format!("/v1/accounts/{account}/invoices/upcoming"), &admin)
            .await,
    )
    .await;
    assert_eq!(
        (&upcoming["lines"], &upcoming["total"]),
        (&json!([]), &json!("0.00"))
    );
    // An EUR account buys the same plan as before.
    let eur = buyer_in(&app, "EUR").await;
    let res = app
        .post(
            &format!("/v1/accounts/{eur}/license-quotes"),
            &app.admin(&eur),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    let quote = json_of(res).await;
    assert_eq!(
        (&quote["unit_price"], &quote["currency"]),
        (&json!("64.00"), &json!("EUR"))
    );
}

#[tokio::test]
async fn staff_price_a_plan_in_usd_and_the_catalog_shows_each_currency_beside_the_eur_price() {
    let app = spawn_app().await;
    let first = price_plan(&app, "ADVANCED", "Advanced", "70.00", "USD").await;
    // The EUR price, a contract, is untouched; USD is sold at once.
    assert_eq!(first["monthly_price"], "64.00");
    assert_eq!(first["currency"], "EUR");
    assert_eq!(first["next_price"], Value::Null);
    assert_eq!(
        first["prices"],
        json!([
            {"currency": "EUR", "monthly_price": "64.00", "next_price": null},
            {"currency": "USD", "monthly_price": "70.00", "next_price": null},
        ])
    );
    // Once sold in USD, a change of its USD price applies from next month.
    let second = price_plan(&app, "ADVANCED", "Advanced", "72.50", "USD").await;
    assert_eq!(
        second["prices"][1],
        json!({"currency": "USD", "monthly_price": "70.00",
               "next_price": {"monthly_price": "72.50", "effective_from": "2026-05-01"}})
    );
    assert_eq!(second["next_price"], Value::Null, "EUR has no change");
    // Without `currency` the price is EUR, as before.
    let eur = json_of(
        app.put(
            "/v1/plans/ADVANCED",
            &app.support(),
            &json!({"name": "Advanced", "monthly_price": "66.00"}),
        )
        .await,
    )
    .await;
    assert_eq!(eur["next_price"]["monthly_price"], "66.00");
    assert_eq!(eur["prices"][0]["next_price"]["monthly_price"], "66.00");
    assert_eq!(eur["prices"][1]["next_price"]["monthly_price"], "72.50");
    // Any token reads the catalog; plans never priced in USD list EUR only.
    let account = app.create_account("Reader").await;
    let catalog = json_of(
        app.get("/v1/plans", &app.token(Role::Integration, Some(&account)))
            .await,
    )
    .await;
    let smart = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "SMART")
        .unwrap();
    assert_eq!(
        smart["prices"],
        json!([{"currency": "EUR", "monthly_price": "24.00", "next_price": null}])
    );
    app.clock.set(datetime!(2026-05-01 00:00 UTC));
    let catalog = json_of(app.get("/v1/plans", &app.support()).await).await;
    let advanced = &catalog["data"][2];
    assert_eq!(advanced["monthly_price"], "66.00");
    assert_eq!(advanced["prices"][1]["monthly_price"], "72.50");
    // The audit event keeps every currency's price before and after.
    let events = json_of(app.get("/v1/audit-events", &app.support()).await).await;
    let e = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "plan.updated")
        .unwrap();
    assert_eq!(
        e["before"]["prices"]["USD"]["next_price"]["monthly_price"],
        "72.50"
    );
    assert_eq!(
        e["after"]["prices"]["EUR"]["next_price"]["monthly_price"],
        "66.00"
    );
}

#[tokio::test]
async fn a_plan_price_names_a_bad_currency_and_a_bad_amount_and_only_staff_set_one() {
    let app = spawn_app().await;
    let res = app
        .put(
            "/v1/plans/SMART",
            &app.support(),
            &json!({"name": "Smart", "monthly_price": "1.005", "currency": "XYZ"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"currency"), "{body}");
    // A well-formed currency: the amount is checked in its digits and range.
    for price in ["1.005", "10000.01", "-1.00"] {
        let res = app
            .put(
                "/v1/plans/SMART",
                &app.support(),
                &json!({"name": "Smart", "monthly_price": price, "currency": "GBP"}),
            )
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "monthly_price", "{price}");
    }
    let account = app.create_account("Acme").await;
    let res = app
        .put(
            "/v1/plans/SMART",
            &app.admin(&account),
            &json!({"name": "Smart", "monthly_price": "30.00", "currency": "GBP"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let catalog = json_of(app.get("/v1/plans", &app.support()).await).await;
    assert_eq!(catalog["data"][0]["prices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_usd_account_buys_a_plan_priced_in_usd_and_is_invoiced_in_usd_only_with_its_vat_in_euros()
{
    let app = spawn_app().await;
    let account = usd_account_with_a_smart_license(&app).await;
    let admin = app.admin(&account);
    // The quote and the summary are in USD, at the USD price.
    let quote = json_of(
        app.post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &admin,
            &json!({"plan": "SMART", "quantity": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&quote["unit_price"], &quote["currency"]),
        (&json!("32.00"), &json!("USD"))
    );
    let licenses = json_of(
        app.get(&format!("/v1/accounts/{account}/licenses"), &admin)
            .await,
    )
    .await;
    assert_eq!(licenses["summary"][0]["unit_price"], "32.00", "{licenses}");
    // Numbers are still EUR-only: refused.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/phone-numbers"),
            &admin,
            &json!({"country": "FR"}),
        )
        .await;
    assert_problem(res, 422, "plan_not_priced_in_currency").await;
    // The ECB rate of Thursday April 30; none for Friday May 1 (a holiday).
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-04-30", "1.0523").await.status(),
        200
    );
    let report = run(&app, "2026-05", &account).await;
    let id = report["issued"][0]["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/accounts/{account}/invoices/{id}");
    let invoice = json_of(app.get(&path, &app.viewer(&account)).await).await;
    assert_eq!(invoice["currency"], "USD");
    let lines: Vec<(&str, &str, &str)> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["unit_amount"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    // SMART is 24.00 EUR: nothing of it is on a USD invoice.
    assert_eq!(
        lines,
        [
            ("license", "32.00", "32.00"),
            ("license_proration", "32.00", "32.00"),
        ]
    );
    assert_eq!(
        (
            &invoice["subtotal"],
            &invoice["tax_amount"],
            &invoice["total"]
        ),
        (&json!("64.00"), &json!("12.80"), &json!("76.80"))
    );
    // 12.80 / 1.0523 = 12.1638...: 12.16 EUR, at the last rate before May 1.
    assert_eq!(
        invoice["vat_in_eur"],
        json!({"amount": "12.16", "rate": "1.0523", "rate_date": "2026-04-30"})
    );
    let html = app
        .get(&format!("{path}/html"), &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("TVA en euros : 12,16\u{a0}€ (1 EUR = 1,0523 USD, taux BCE du 30/04/2026)"),
        "{html}"
    );
    // A rate recorded later changes nothing of an issued invoice.
    assert_eq!(
        put_rate(&app, "USD", "2026-05-01", "1.2000").await.status(),
        200
    );
    let again = json_of(app.get(&path, &admin).await).await;
    assert_eq!(again["vat_in_eur"], invoice["vat_in_eur"]);
    // Another tenant sees nothing of it.
    let other = app.create_account("Other").await;
    let res = app
        .get(
            &format!("/v1/accounts/{other}/invoices/{id}"),
            &app.admin(&other),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(&path.replace(&account, &other), &app.admin(&other))
        .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn an_eur_invoice_and_a_usd_invoice_without_vat_state_no_vat_in_euros() {
    let app = spawn_app().await;
    price_plan(&app, "SMART", "Smart", "32.00", "USD").await;
    // A USD buyer outside the EU: 0 % VAT, nothing to state, no rate needed.
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "NY Corp", "currency": "USD", "timezone": "America/New_York"}),
        )
        .await;
    let us = json_of(res).await["id"].as_str().unwrap().to_owned();
    assert_eq!(add_card(&app, &us, &visa()).await.status(), 201);
    let address = json_of(
        app.post(
            &format!("/v1/accounts/{us}/billing-addresses"),
            &app.admin(&us),
            &json!({"company_name": "NY Corp", "line1": "1 Broadway", "postal_code": "10004",
                    "city": "New York", "region": "NY", "country": "US"}),
        )
        .await,
    )
    .await;
    let verify = format!(
        "/v1/accounts/{us}/billing-addresses/{}/verify",
        address["id"].as_str().unwrap()
    );
    app.request(Method::POST, &verify, Some(&app.support()))
        .send()
        .await
        .unwrap();
    let eur = buyer_in(&app, "EUR").await;
    for account in [&us, &eur] {
        let plan = if account == &us { "SMART" } else { "ADVANCED" };
        json_of(
            app.post(
                &format!("/v1/accounts/{account}/licenses"),
                &app.admin(account),
                &json!({"plan": plan, "quantity": 1}),
            )
            .await,
        )
        .await;
    }
    app.clock.set(datetime!(2026-05-01 12:00 UTC));
    for account in [&us, &eur] {
        let report = run(&app, "2026-05", account).await;
        let id = report["issued"][0]["invoice_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{report}"));
        let invoice = json_of(
            app.get(
                &format!("/v1/accounts/{account}/invoices/{id}"),
                &app.admin(account),
            )
            .await,
        )
        .await;
        assert_eq!(invoice["vat_in_eur"], Value::Null, "{invoice}");
        let html = app
            .get(
                &format!("/v1/accounts/{account}/invoices/{id}/html"),
                &app.admin(account),
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(!html.contains("TVA en euros"));
    }
}

#[tokio::test]
async fn a_draft_shows_the_vat_in_euros_it_would_state_and_is_issued_at_the_rate_of_its_issue_date()
{
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let account = usd_account_with_a_smart_license(&app).await;
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-04-30", "1.0523").await.status(),
        200
    );
    let report = run(&app, "2026-05", &account).await;
    let id = report["drafted"][0]["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/accounts/{account}/invoices/{id}");
    let draft = json_of(app.get(&path, &app.admin(&account)).await).await;
    assert_eq!(draft["status"], "draft");
    // Issued on May 4 at the earliest: the last rate on or before is April 30's.
    assert_eq!(draft["issue_date"], "2026-05-04");
    assert_eq!(
        draft["vat_in_eur"],
        json!({"amount": "12.16", "rate": "1.0523", "rate_date": "2026-04-30"})
    );
    let upcoming = json_of(
        app.get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    assert_eq!(upcoming["vat_in_eur"], draft["vat_in_eur"]);
    // May 4's rate arrives before it is issued that day: 12.80 / 1.1 =
    // 11.6363...: 11.64 EUR.
    app.clock.set(datetime!(2026-05-04 09:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-05-04", "1.1").await.status(),
        200
    );
    let res = app
        .request(
            Method::POST,
            &format!("{path}/finalize"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    let issued = json_of(res).await;
    assert_eq!(issued["issue_date"], "2026-05-04");
    assert_eq!(
        issued["vat_in_eur"],
        json!({"amount": "11.64", "rate": "1.1000", "rate_date": "2026-05-04"})
    );
}

async fn finalize_due(app: &TestApp) -> comptoir::service::invoices::FinalizeReport {
    let ctx = comptoir::service::Ctx::system("test-finalizer", app.clock.now());
    comptoir::service::invoices::finalize_due(&app.store, &ctx, &app.billing())
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_rate_the_draft_is_held_with_exchange_rate_missing_and_issued_once_staff_record_one()
 {
    let app = spawn_app().await;
    let account = usd_account_with_a_smart_license(&app).await;
    // A rate of another currency does not count.
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    assert_eq!(
        put_rate(&app, "GBP", "2026-04-30", "0.85513")
            .await
            .status(),
        200
    );
    let report = run(&app, "2026-05", &account).await;
    assert_eq!(report["issued"], json!([]), "{report}");
    let held = &report["held"][0];
    assert_eq!(held["account_id"], account.as_str());
    assert_eq!(held["code"], "exchange_rate_missing");
    let detail = held["detail"].as_str().unwrap();
    assert!(
        detail.contains("USD") && detail.contains("2026-05-01"),
        "{detail}"
    );
    let id = held["invoice_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{account}/invoices/{id}");
    let draft = json_of(app.get(&path, &app.viewer(&account)).await).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["hold"]["code"], "exchange_rate_missing");
    assert_eq!(draft["vat_in_eur"], Value::Null);
    assert_eq!(draft["tax_amount"], "12.80");
    let upcoming = json_of(
        app.get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    assert_eq!(upcoming["hold"]["code"], "exchange_rate_missing");
    assert_eq!(upcoming["vat_in_eur"], Value::Null);
    // Staff cannot force it, and the finalizer leaves it waiting.
    let res = app
        .request(
            Method::POST,
            &format!("{path}/finalize"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "exchange_rate_missing").await;
    let pass = finalize_due(&app).await;
    assert_eq!(pass.issued, Vec::<String>::new());
    assert_eq!(pass.held, [(id.clone(), "exchange_rate_missing")]);
    // A rate of a day after the issue date does not count either.
    app.clock.set(datetime!(2026-05-02 08:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-05-02", "1.2").await.status(),
        200
    );
    app.clock.set(datetime!(2026-05-01 09:00 UTC));
    assert_eq!(finalize_due(&app).await.issued, Vec::<String>::new());
    // Staff record April 30's rate: the next pass issues it, stating it.
    assert_eq!(
        put_rate(&app, "USD", "2026-04-30", "1.0523").await.status(),
        200
    );
    let pass = finalize_due(&app).await;
    assert_eq!(pass.issued, ["F-2026-000001"]);
    let issued = json_of(app.get(&path, &app.admin(&account)).await).await;
    assert_eq!(issued["status"], "issued");
    assert_eq!(issued["hold"], Value::Null);
    assert_eq!(
        issued["vat_in_eur"],
        json!({"amount": "12.16", "rate": "1.0523", "rate_date": "2026-04-30"})
    );
}

#[tokio::test]
async fn a_credit_note_of_a_usd_invoice_states_its_vat_in_euros_at_the_rate_of_its_own_day() {
    let app = spawn_app().await;
    let account = usd_account_with_a_smart_license(&app).await;
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-04-30", "1.0523").await.status(),
        200
    );
    let report = run(&app, "2026-05", &account).await;
    let id = report["issued"][0]["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoice = json_of(
        app.get(
            &format!("/v1/accounts/{account}/invoices/{id}"),
            &app.admin(&account),
        )
        .await,
    )
    .await;
    // One line of 32.00 credited on May 6: VAT 6.40 USD. No rate of May 6:
    // the last before is May 5's, 1.0800: 6.40 / 1.08 = 5.9259...: 5.93 EUR.
    app.clock.set(datetime!(2026-05-06 10:00 UTC));
    assert_eq!(
        put_rate(&app, "USD", "2026-05-05", "1.08").await.status(),
        200
    );
    let line = invoice["lines"][0]["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/accounts/{account}/invoices/{id}/credit-notes"),
            &app.support(),
            &json!({"reason": "Licence facturée à tort", "lines": [{"invoice_line": line, "quantity": 1}]}),
        )
        .await;
    let note = json_of(res).await;
    assert_eq!(
        (&note["tax_amount"], &note["currency"]),
        (&json!("6.40"), &json!("USD"))
    );
    assert_eq!(
        note["vat_in_eur"],
        json!({"amount": "5.93", "rate": "1.0800", "rate_date": "2026-05-05"})
    );
    let html = app
        .get(
            &format!(
                "/v1/accounts/{account}/credit-notes/{}/html",
                note["id"].as_str().unwrap()
            ),
            &app.viewer(&account),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("TVA en euros : 5,93\u{a0}€ (1 EUR = 1,0800 USD, taux BCE du 05/05/2026)"),
        "{html}"
    );
}

#[tokio::test]
async fn staff_record_a_rate_put_again_replaces_it_and_both_are_audited() {
    let app = spawn_app().await;
    let res = put_rate(&app, "USD", "2026-04-08", "1.0523").await;
    let rate = json_of(res).await;
    assert_eq!(
        (&rate["currency"], &rate["date"], &rate["eur_rate"]),
        (&json!("USD"), &json!("2026-04-08"), &json!("1.0523"))
    );
    assert_eq!(rate["recorded_at"], "2026-04-09T10:00:00Z");
    // Same request again: still one rate. Another rate: it replaces it.
    json_of(put_rate(&app, "USD", "2026-04-08", "1.0523").await).await;
    let replaced = json_of(put_rate(&app, "USD", "2026-04-08", "1.05230").await).await;
    assert_eq!(replaced["eur_rate"], "1.0523");
    json_of(put_rate(&app, "USD", "2026-04-08", "1.061").await).await;
    json_of(put_rate(&app, "USD", "2026-04-09", "1.0612").await).await;
    json_of(put_rate(&app, "USD", "2026-04-07", "1.04").await).await;
    json_of(put_rate(&app, "GBP", "2026-04-08", "0.85513").await).await;
    let list = json_of(app.get("/v1/exchange-rates/USD", &app.support()).await).await;
    let rates: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["date"].as_str().unwrap(), r["eur_rate"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rates,
        [
            ("2026-04-09", "1.0612"),
            ("2026-04-08", "1.0610"),
            ("2026-04-07", "1.0400"),
        ]
    );
    assert_eq!(list["next_cursor"], Value::Null);
    // Pages, newest first.
    let page = json_of(
        app.get("/v1/exchange-rates/USD?limit=2", &app.support())
            .await,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], "2026-04-08");
    let rest = json_of(
        app.get(
            "/v1/exchange-rates/USD?limit=2&cursor=2026-04-08",
            &app.support(),
        )
        .await,
    )
    .await;
    assert_eq!(rest["data"][0]["date"], "2026-04-07");
    assert_eq!(rest["next_cursor"], Value::Null);
    let events = json_of(app.get("/v1/audit-events?limit=100", &app.support()).await).await;
    let of_usd_8: Vec<(&str, &Value, &Value)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == "USD/2026-04-08")
        .map(|e| (e["action"].as_str().unwrap(), &e["before"], &e["after"]))
        .collect();
    assert_eq!(
        of_usd_8,
        [
            (
                "exchange_rate.replaced",
                &json!({"eur_rate": "1.0523"}),
                &json!({"eur_rate": "1.0610"})
            ),
            (
                "exchange_rate.replaced",
                &json!({"eur_rate": "1.0523"}),
                &json!({"eur_rate": "1.0523"})
            ),
            (
                "exchange_rate.replaced",
                &json!({"eur_rate": "1.0523"}),
                &json!({"eur_rate": "1.0523"})
            ),
            (
                "exchange_rate.recorded",
                &Value::Null,
                &json!({"eur_rate": "1.0523"})
            ),
        ]
    );
}

#[tokio::test]
async fn only_staff_record_rates_and_every_token_reads_them() {
    let app = spawn_app().await;
    json_of(put_rate(&app, "CHF", "2026-04-08", "0.9421").await).await;
    let account = app.create_account("Acme").await;
    let tokens = [
        app.admin(&account),
        app.viewer(&account),
        app.token(Role::Integration, Some(&account)),
    ];
    for token in &tokens {
        let res = app
            .put(
                "/v1/exchange-rates/CHF/2026-04-08",
                token,
                &json!({"eur_rate": "2"}),
            )
            .await;
        assert_problem(res, 403, "forbidden").await;
        // A bad body changes nothing: the role is checked first.
        let res = app
            .put(
                "/v1/exchange-rates/EUR/tomorrow",
                token,
                &json!({"rate": 2}),
            )
            .await;
        assert_problem(res, 403, "forbidden").await;
        let list = json_of(app.get("/v1/exchange-rates/CHF", token).await).await;
        assert_eq!(list["data"][0]["eur_rate"], "0.9421");
    }
    let res = app
        .request(Method::GET, "/v1/exchange-rates/CHF", None)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthenticated").await;
    let res = app
        .request(Method::PUT, "/v1/exchange-rates/CHF/2026-04-08", None)
        .json(&json!({"eur_rate": "2"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthenticated").await;
}

fn fields(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bad_rate_names_its_currency_date_and_rate_at_once_and_records_nothing() {
    let app = spawn_app().await;
    let res = put_rate(&app, "EUR", "2026-13-01", "0").await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        fields(&body),
        [
            (
                "currency".to_owned(),
                "must be one of: USD, GBP, CHF".to_owned()
            ),
            (
                "date".to_owned(),
                "must be a date YYYY-MM-DD from 1999-01-04 (the first ECB reference rate) to today"
                    .to_owned()
            ),
            (
                "eur_rate".to_owned(),
                "must be more than 0 and at most 10000".to_owned()
            ),
        ]
    );
    // A day to come has no ECB rate yet; nor a day before the euro's first.
    for (date, rate, field, message) in [
        ("2026-04-10", "1.05", "date", None),
        ("1999-01-01", "1.05", "date", None),
        (
            "2026-04-09",
            "1.0000001",
            "eur_rate",
            Some("has more than 6 digits after the decimal point"),
        ),
        (
            "2026-04-09",
            "10000.01",
            "eur_rate",
            Some("must be more than 0 and at most 10000"),
        ),
        (
            "2026-04-09",
            "-1.05",
            "eur_rate",
            Some("must be a decimal number such as \"1.0523\""),
        ),
        (
            "2026-04-09",
            "1,05",
            "eur_rate",
            Some("must be a decimal number such as \"1.0523\""),
        ),
    ] {
        let body = assert_problem(
            put_rate(&app, "USD", date, rate).await,
            422,
            "validation_failed",
        )
        .await;
        let got = fields(&body);
        assert_eq!(got.len(), 1, "{date} {rate}: {got:?}");
        assert_eq!(got[0].0, field, "{date} {rate}");
        if let Some(message) = message {
            assert_eq!(got[0].1, message, "{rate}");
        }
    }
    // The body's own shape: a number, an unknown field.
    let res = app
        .put(
            "/v1/exchange-rates/USD/2026-04-09",
            &app.support(),
            &json!({"eur_rate": 1.05, "source": "ECB"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let mut named: Vec<String> = fields(&body).into_iter().map(|(f, _)| f).collect();
    named.sort();
    assert_eq!(named, ["eur_rate", "source"], "{body}");
    // The list names a currency it keeps no rate of, and a bad page.
    let res = app
        .get(
            "/v1/exchange-rates/EUR?limit=0&cursor=2026-13-01",
            &app.support(),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let named: Vec<String> = fields(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(named, ["currency", "limit", "cursor"]);
    for currency in ["USD", "GBP", "CHF"] {
        let list = json_of(
            app.get(&format!("/v1/exchange-rates/{currency}"), &app.support())
                .await,
        )
        .await;
        assert_eq!(list["data"], json!([]), "{currency}");
    }
    let events = json_of(app.get("/v1/audit-events", &app.support()).await).await;
    assert_eq!(events["data"], json!([]));
}

/// A database migrated up to, not including, `0016` (one file per
/// migration of this backend is copied, the later ones left out), then the
/// harness's way to reach it: SQLite file or PostgreSQL schema.
async fn store_before_0016(dir: &std::path::Path) -> (comptoir::store::Store, &'static str) {
    use std::str::FromStr;
    let (backend, url) = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => ("postgres", Some(url)),
        _ => ("sqlite", None),
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let before = dir.join("before-0016");
    std::fs::create_dir_all(&before).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().as_ref() < "0016" {
            std::fs::copy(source.join(&name), before.join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap();
    match url {
        Some(url) => {
            let schema = format!("cpt_t_{}", uuid::Uuid::now_v7().simple());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            (comptoir::store::Store::Pg(pool), backend)
        }
        None => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
                "sqlite://{}",
                dir.join("legacy.db").display()
            ))
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            (comptoir::store::Store::Sqlite(pool), backend)
        }
    }
}

#[tokio::test]
async fn the_migration_prices_what_accounts_in_another_currency_held_at_their_eur_amounts() {
    let dir = std::env::temp_dir().join(format!("comptoir-0016-{}", uuid::Uuid::now_v7()));
    let _cleanup = crate::helpers::TempDir(dir.clone());
    let (store, backend) = store_before_0016(&dir).await;
    // Before prices had a currency: a USD account holding two ADVANCED
    // licenses, a GBP one a number (removed since: still billable until
    // billed), an EUR one a SMART license.
    let now = time::macros::datetime!(2026-04-09 10:00 UTC);
    let day = time::macros::date!(2026 - 04 - 01);
    let licenses = [
        ("lic_1", "acc_usd", "ADVANCED"),
        ("lic_2", "acc_usd", "ADVANCED"),
        ("lic_3", "acc_eur", "SMART"),
    ];
    macro_rules! on_pool {
        ($pool:ident => $body:expr) => {
            match &store {
                comptoir::store::Store::Sqlite($pool) => $body,
                comptoir::store::Store::Pg($pool) => $body,
            }
        };
    }
    on_pool!(pool => {
        for (id, currency) in [("acc_usd", "USD"), ("acc_gbp", "GBP"), ("acc_eur", "EUR")] {
            sqlx::query(
                "INSERT INTO accounts (id, name, currency, timezone, created_at) \
                 VALUES ($1, $1, $2, 'Europe/Paris', $3)",
            )
            .bind(id)
            .bind(currency)
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
        }
        for (id, account, plan) in licenses {
            sqlx::query(
                "INSERT INTO licenses (id, account_id, plan_code, activation_date, \
                 prorated_amount_minor, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(id)
            .bind(account)
            .bind(plan)
            .bind(day)
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO phone_numbers (id, account_id, country, number, activation_date, \
             removal_date, prorated_amount_minor, created_at) \
             VALUES ('num_1', 'acc_gbp', 'FR', '+33612345678', $1, $1, 0, $2)",
        )
        .bind(day)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    });
    store.migrate().await.unwrap();
    let sql = "SELECT plan_code, currency, monthly_price_minor FROM plan_prices \
               ORDER BY plan_code, currency";
    let prices: Vec<(String, String, i64)> =
        on_pool!(pool => sqlx::query_as(sql).fetch_all(pool).await.unwrap());
    let prices: Vec<(&str, &str, i64)> = prices
        .iter()
        .map(|(p, c, m)| (p.as_str(), c.as_str(), *m))
        .collect();
    assert_eq!(
        prices,
        [
            ("ADVANCED", "EUR", 6400),
            ("ADVANCED", "USD", 6400),
            ("BUSINESS", "EUR", 4400),
            ("PHONE_NUMBER", "EUR", 500),
            ("PHONE_NUMBER", "GBP", 500),
            ("SMART", "EUR", 2400),
        ],
        "{backend}"
    );
    store.close().await;
}

#[tokio::test]
async fn a_usd_top_up_needs_a_rate_and_its_acompte_invoice_states_its_vat_in_euros() {
    let app = spawn_app().await;
    let account = buyer_in(&app, "USD").await;
    let top_up = |amount: &'static str| {
        let app = &app;
        let account = account.clone();
        async move {
            app.post(
                &format!("/v1/accounts/{account}/credits/top-ups"),
                &app.admin(&account),
                &json!({ "amount": amount }),
            )
            .await
        }
    };
    // No rate: its acompte could not state its VAT in euros.
    assert_problem(top_up("100.00").await, 409, "exchange_rate_missing").await;
    assert_eq!(
        put_rate(&app, "USD", "2026-04-08", "1.0523").await.status(),
        200
    );
    let pending = json_of(top_up("100.00").await).await;
    assert_eq!(pending["tax_amount"], "20.00", "{pending}");
    assert_eq!(pending["total"], "120.00", "{pending}");
    let res = app
        .post(
            &format!(
                "/v1/accounts/{account}/credits/top-ups/{}/confirm",
                pending["id"].as_str().unwrap()
            ),
            &app.support(),
            &json!({"status": "succeeded"}),
        )
        .await;
    let settled = json_of(res).await;
    let invoice_id = settled["invoice_id"].as_str().unwrap();
    let acompte = json_of(
        app.get(
            &format!("/v1/accounts/{account}/invoices/{invoice_id}"),
            &app.viewer(&account),
        )
        .await,
    )
    .await;
    assert_eq!(acompte["kind"], "advance");
    assert_eq!(acompte["currency"], "USD");
    assert_eq!(acompte["tax_amount"], "20.00");
    // 20.00 USD / 1.0523 = 19.0060819... -> 19.01 EUR, at the rate of April 8
    // (the last one on or before its issue date, April 9).
    assert_eq!(acompte["vat_in_eur"]["amount"], "19.01", "{acompte}");
    assert_eq!(acompte["vat_in_eur"]["rate"], "1.0523");
    assert_eq!(acompte["vat_in_eur"]["rate_date"], "2026-04-08");
}
