//! Prepaid credits carry their VAT (SPEC.md section 10, issue 18): a
//! top-up is charged its amount plus VAT, its payment issues an advance
//! payment invoice (facture d'acompte) in the invoice series, and the
//! monthly invoice bills consumption in full and deducts what the credits
//! already paid, referencing the acomptes drawn on.

use comptoir::domain::role::Role;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::credits::{deliver, signed};
use crate::helpers::{TestApp, WEBHOOK_SECRET, assert_problem, spawn_app, spawn_app_with};
use crate::payments::{add_card, visa};

use crate::helpers::success_json as ok;

/// A French company with a card and a verified address in Paris, whose
/// accountant receives the invoices.
async fn french_buyer(app: &TestApp) -> String {
    let account = app.create_account("Acme").await;
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    app.verified_french_address(&account).await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/invoice-recipients"),
            &app.admin(&account),
            &json!({"email": "compta@acme.fr"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    account
}

async fn top_up(app: &TestApp, account: &str, amount: &str) -> Value {
    ok(app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(account),
            &json!({ "amount": amount }),
        )
        .await)
    .await
}

/// The signed `top_up.<outcome>` webhook event `id`, delivered now.
async fn webhook(app: &TestApp, id: &str, outcome: &str, top_up: &Value) -> reqwest::Response {
    let event = json!({"id": id, "type": format!("top_up.{outcome}"),
        "data": {"top_up_id": top_up["id"], "failure_reason": "card_declined"}});
    let (raw, header) = signed(&event, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    deliver(app, raw, &header).await
}

/// Tops up `amount` and has the payment succeed: returns the top-up, settled.
async fn paid_top_up(app: &TestApp, account: &str, amount: &str) -> Value {
    let t = top_up(app, account, amount).await;
    let res = webhook(
        app,
        &format!("evt_{}", t["id"].as_str().unwrap()),
        "succeeded",
        &t,
    )
    .await;
    assert_eq!(res.status(), 200);
    top_ups(app, account)
        .await
        .into_iter()
        .find(|x| x["id"] == t["id"])
        .unwrap()
}

async fn top_ups(app: &TestApp, account: &str) -> Vec<Value> {
    ok(app
        .get(
            &format!("/v1/accounts/{account}/credits/top-ups?limit=100"),
            &app.viewer(account),
        )
        .await)
    .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn invoices(app: &TestApp, account: &str) -> Vec<Value> {
    ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices?limit=100"),
            &app.viewer(account),
        )
        .await)
    .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn invoice(app: &TestApp, account: &str, id: &str) -> Value {
    ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}"),
            &app.viewer(account),
        )
        .await)
    .await
}

/// Calls of `cost` each, made by a new user of the account, at `at`.
async fn calls(app: &TestApp, account: &str, prefix: &str, at: &str, costs: &[&str]) -> Value {
    let user = app
        .create_user(account, "Léa", &format!("lea.{prefix}@acme.fr"))
        .await;
    let records: Vec<Value> = costs
        .iter()
        .enumerate()
        .map(|(i, cost)| {
            json!({"external_id": format!("{prefix}-{i}"), "occurred_at": at, "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 600, "cost": cost})
        })
        .collect();
    ok(app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(account)),
            &json!({ "records": records }),
        )
        .await)
    .await
}

/// Runs the billing of `period` on its 1st at 10:00 UTC.
async fn bill(app: &TestApp, period: &str, at: time::OffsetDateTime) -> Value {
    app.clock.set(at);
    ok(app
        .post(
            "/v1/billing-runs",
            &app.support(),
            &json!({ "period": period }),
        )
        .await)
    .await
}

fn prepaid(invoice: &Value) -> Vec<(Option<String>, String, String)> {
    invoice["prepaid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["invoice_number"].as_str().map(str::to_owned),
                p["amount_excluding_tax"].as_str().unwrap().to_owned(),
                p["amount_including_tax"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn numbers(app: &TestApp) -> Vec<String> {
    let mut tx = app.store.begin_read().await.unwrap();
    tx.invoice_numbers(2026).await.unwrap()
}

fn gapless(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("F-2026-{n:06}")).collect()
}

async fn rendering(app: &TestApp, account: &str, id: &str, what: &str, lang: &str) -> String {
    let res = app
        .request(
            Method::GET,
            &format!("/v1/accounts/{account}/invoices/{id}/{what}"),
            Some(&app.viewer(account)),
        )
        .header("Accept-Language", lang)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let text = if what == "pdf" {
        crate::helpers::pdf_text_of(&bytes)
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_french_top_up_of_100_is_charged_120_and_its_acompte_is_deducted_from_the_next_invoice() {
    let app = spawn_app().await;
    let account = french_buyer(&app).await;

    // Credits are amounts excluding VAT: 100.00 is charged 120.00.
    let t = top_up(&app, &account, "100.00").await;
    assert_eq!(
        (&t["amount"], &t["tax_rate"], &t["tax_amount"], &t["total"]),
        (
            &json!("100.00"),
            &json!("20"),
            &json!("20.00"),
            &json!("120.00")
        )
    );
    assert_eq!(t["status"], "pending");
    assert_eq!(t["invoice_id"], Value::Null);
    assert!(
        invoices(&app, &account).await.is_empty(),
        "nothing before the payment"
    );

    assert_eq!(
        webhook(&app, "evt_paid", "succeeded", &t).await.status(),
        200
    );
    let settled = &top_ups(&app, &account).await[0];
    assert_eq!(settled["status"], "succeeded");
    let acompte_id = settled["invoice_id"]
        .as_str()
        .expect("its acompte")
        .to_owned();
    let credits = ok(app
        .get(
            &format!("/v1/accounts/{account}/credits"),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(credits["balance"], "100.00");

    // The acompte: in the invoice series, today, 100.00 + 20.00, paid by the top-up.
    let acompte = invoice(&app, &account, &acompte_id).await;
    assert_eq!(acompte["kind"], "advance");
    assert_eq!(acompte["number"], "F-2026-000001");
    assert_eq!(acompte["issue_date"], "2026-04-09");
    assert_eq!(acompte["status"], "paid");
    assert_eq!(
        (
            &acompte["subtotal"],
            &acompte["tax_rate"],
            &acompte["tax_amount"],
            &acompte["total"]
        ),
        (
            &json!("100.00"),
            &json!("20"),
            &json!("20.00"),
            &json!("120.00")
        )
    );
    assert_eq!(acompte["tax_treatment"], "french_vat");
    let lines = acompte["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "advance_payment");
    assert_eq!(lines[0]["amount"], "100.00");
    assert_eq!(acompte["billing_address"]["city"], "Paris");
    assert_eq!(
        (&acompte["amount_paid"], &acompte["amount_due"]),
        (&json!("120.00"), &json!("0.00"))
    );
    let payment = &acompte["payments"][0];
    assert_eq!(
        (
            &payment["amount"],
            &payment["method"],
            &payment["reference"]
        ),
        (&json!("120.00"), &json!("card"), &t["id"])
    );
    assert_eq!(acompte["prepaid"], json!([]));

    // Emailed to the recipients, through the outbox.
    let emails = ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices/{acompte_id}/emails"),
            &app.viewer(&account),
        )
        .await)
    .await;
    let emails = emails["data"].as_array().unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["recipient"], "compta@acme.fr");
    assert!(
        emails[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Votre facture d'acompte F-2026-000001"),
        "{}",
        emails[0]["subject"]
    );
    for (lang, title) in [
        ("fr", "Facture d'acompte n° F-2026-000001"),
        ("en", "Advance payment invoice no. F-2026-000001"),
    ] {
        // The PDF is the stored e-invoice, in the account's language
        // (French) whatever the reader's.
        let pdf = rendering(&app, &account, &acompte_id, "pdf", lang).await;
        assert!(
            pdf.contains("Facture d'acompte n° F-2026-000001"),
            "{title}: {pdf}"
        );
        let html = rendering(&app, &account, &acompte_id, "html", lang).await;
        assert!(
            html.contains(title) || html.contains(&title.replace('\'', "&#39;")),
            "{title} in {html}"
        );
    }
    let pdf = rendering(&app, &account, &acompte_id, "pdf", "fr").await;
    assert!(pdf.contains("Acompte sur crédits prépayés"), "{pdf}");
    assert!(pdf.contains("art. 269-2-c du CGI"), "{pdf}");

    // 30.00 of April calls, paid from the credits; 50.00 of a charge.
    let ingested = calls(
        &app,
        &account,
        "apr",
        "2026-04-09T09:00:00Z",
        &["12.50", "17.50"],
    )
    .await;
    assert_eq!(ingested["covered_by_credits"], "30.00");
    assert_eq!(ingested["billable"], "0.00");
    let res = app
        .post(
            &format!("/v1/accounts/{account}/charges"),
            &app.support(),
            &json!({"description": "Mise en service", "unit_amount": "50.00", "quantity": 1}),
        )
        .await;
    assert_eq!(res.status(), 201);

    // The upcoming invoice bills them in full and shows the deduction.
    let upcoming = ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(
        (
            &upcoming["subtotal"],
            &upcoming["tax_amount"],
            &upcoming["total"]
        ),
        (&json!("80.00"), &json!("16.00"), &json!("96.00"))
    );
    assert_eq!(
        prepaid(&upcoming),
        [(Some("F-2026-000001".into()), "30.00".into(), "36.00".into())]
    );
    assert_eq!(upcoming["prepaid"][0]["invoice_id"], json!(acompte_id));
    assert_eq!(upcoming["amount_due"], "60.00");

    // May's invoice: 30.00 HT in the consumption line, 36.00 deducted.
    bill(&app, "2026-05", datetime!(2026-05-01 10:00 UTC)).await;
    let may = invoices(&app, &account)
        .await
        .into_iter()
        .find(|i| i["kind"] == "period")
        .unwrap();
    assert_eq!(may["number"], "F-2026-000002");
    let consumption = may["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "consumption")
        .unwrap()
        .clone();
    assert_eq!(consumption["amount"], "30.00");
    assert_eq!(
        consumption["description"],
        "Out-of-plan consumption, April 2026 (2 calls and SMS)"
    );
    assert_eq!(
        (&may["subtotal"], &may["tax_amount"], &may["total"]),
        (&json!("80.00"), &json!("16.00"), &json!("96.00"))
    );
    assert_eq!(
        prepaid(&may),
        [(Some("F-2026-000001".into()), "30.00".into(), "36.00".into())]
    );
    assert_eq!(
        (&may["status"], &may["amount_paid"], &may["amount_due"]),
        (&json!("issued"), &json!("36.00"), &json!("60.00"))
    );
    let deduction = &may["payments"][0];
    assert_eq!(
        (
            &deduction["amount"],
            &deduction["method"],
            &deduction["reference"]
        ),
        (&json!("36.00"), &json!("other"), &json!("prepaid credits"))
    );
    let may_id = may["id"].as_str().unwrap();
    for (lang, expected) in [
        (
            "fr",
            [
                "Acompte F-2026-000001 déduit (30,00 € HT)",
                "36,00 €",
                "Net à payer 60,00 €",
            ],
        ),
        (
            "en",
            [
                "Advance payment F-2026-000001 deducted (€30.00 excl. VAT)",
                "€36.00",
                "Amount due</td><td class=\"n\">€60.00",
            ],
        ),
    ] {
        // The PDF is the stored e-invoice, in French; the HTML follows the
        // reader's language.
        let what = if lang == "fr" { "pdf" } else { "html" };
        let shown = rendering(&app, &account, may_id, what, lang).await;
        for text in expected {
            assert!(shown.contains(text), "{text} in {shown}");
        }
    }
    // Nothing is billed twice: the next month has nothing of April's calls.
    let june = ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(june["lines"], json!([]));
    assert_eq!(june["prepaid"], json!([]));
    assert_eq!(numbers(&app).await, gapless(2));
}

#[tokio::test]
async fn consumption_straddling_two_acomptes_references_both_and_credits_without_one_are_deducted_bare()
 {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "1d")]).await;
    let account = french_buyer(&app).await;
    paid_top_up(&app, &account, "20.00").await;
    let second = paid_top_up(&app, &account, "50.00").await;
    assert_eq!(
        invoice(&app, &account, second["invoice_id"].as_str().unwrap()).await["number"],
        "F-2026-000002"
    );
    calls(&app, &account, "apr", "2026-04-09T09:00:00Z", &["30.00"]).await;

    // May's draft draws on both acomptes, the oldest first.
    bill(&app, "2026-05", datetime!(2026-05-01 10:00 UTC)).await;
    let draft = invoices(&app, &account)
        .await
        .into_iter()
        .find(|i| i["status"] == "draft")
        .unwrap();
    let expected = [
        (
            Some("F-2026-000001".to_owned()),
            "20.00".to_owned(),
            "24.00".to_owned(),
        ),
        (
            Some("F-2026-000002".to_owned()),
            "10.00".to_owned(),
            "12.00".to_owned(),
        ),
    ];
    assert_eq!(prepaid(&draft), expected);
    let res = app
        .post(
            &format!(
                "/v1/accounts/{account}/invoices/{}/finalize",
                draft["id"].as_str().unwrap()
            ),
            &app.support(),
            &json!({}),
        )
        .await;
    let may = ok(res).await;
    assert_eq!(may["number"], "F-2026-000003");
    assert_eq!(prepaid(&may), expected);
    // Covered whole: 30.00 + 6.00 = 36.00, all deducted, so it is paid.
    assert_eq!(
        (&may["total"], &may["amount_due"], &may["status"]),
        (&json!("36.00"), &json!("0.00"), &json!("paid"))
    );

    // 40.00 is left of the second acompte; staff grant 5.00 more; May's
    // calls of 50.00 use the 45.00 of credits and leave 5.00 billable.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/credits/adjustments"),
            &app.support(),
            &json!({"amount": "5.00", "reason": "Geste commercial"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ingested = calls(&app, &account, "may", "2026-05-20T09:00:00Z", &["50.00"]).await;
    assert_eq!(ingested["covered_by_credits"], "45.00");
    bill(&app, "2026-06", datetime!(2026-06-01 10:00 UTC)).await;
    let draft = invoices(&app, &account)
        .await
        .into_iter()
        .find(|i| i["status"] == "draft")
        .unwrap();
    let res = app
        .post(
            &format!(
                "/v1/accounts/{account}/invoices/{}/finalize",
                draft["id"].as_str().unwrap()
            ),
            &app.support(),
            &json!({}),
        )
        .await;
    let june = ok(res).await;
    assert_eq!(june["lines"][0]["amount"], "50.00");
    // The rest of the second acompte, with the rest of its VAT, then the
    // staff's credits at the invoice's rate, without a reference.
    assert_eq!(
        prepaid(&june),
        [
            (Some("F-2026-000002".into()), "40.00".into(), "48.00".into()),
            (None, "5.00".into(), "6.00".into()),
        ]
    );
    assert_eq!(june["prepaid"][1]["invoice_id"], Value::Null);
    assert_eq!(
        (&june["total"], &june["amount_due"]),
        (&json!("60.00"), &json!("6.00"))
    );

    // What was drawn on each acompte never exceeds it, to the cent.
    let drawn: Vec<(String, i64, i64)> = app
        .rows(
            "SELECT i.number, CAST(SUM(a.amount_minor) AS BIGINT), CAST(SUM(a.tax_minor) AS BIGINT) \
             FROM advance_allocations a JOIN invoices i ON i.id = a.advance_invoice_id \
             GROUP BY i.number ORDER BY i.number",
        )
        .await;
    assert_eq!(
        drawn,
        [
            ("F-2026-000001".to_owned(), 2_000, 400),
            ("F-2026-000002".to_owned(), 5_000, 1_000)
        ]
    );
    assert_eq!(numbers(&app).await, gapless(4));
}

#[tokio::test]
async fn a_failed_top_up_issues_nothing_and_a_replayed_success_issues_one_acompte() {
    let app = spawn_app().await;
    let account = french_buyer(&app).await;
    let failed = top_up(&app, &account, "40.00").await;
    assert_eq!(
        webhook(&app, "evt_fail", "failed", &failed).await.status(),
        200
    );
    let listed = &top_ups(&app, &account).await[0];
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["invoice_id"], Value::Null);
    assert!(invoices(&app, &account).await.is_empty());
    assert!(numbers(&app).await.is_empty(), "no number used");
    // A success reported after the failure changes nothing either.
    assert_eq!(
        webhook(&app, "evt_late", "succeeded", &failed)
            .await
            .status(),
        200
    );
    assert!(invoices(&app, &account).await.is_empty());

    // Five deliveries of one event, another event and staff, all at once.
    let t = top_up(&app, &account, "40.00").await;
    let confirm = format!(
        "/v1/accounts/{account}/credits/top-ups/{}/confirm",
        t["id"].as_str().unwrap()
    );
    let (support, succeeded) = (app.support(), json!({"status": "succeeded"}));
    let deliveries = (0..5)
        .map(|_| webhook(&app, "evt_ok", "succeeded", &t))
        .chain([webhook(&app, "evt_ok_again", "succeeded", &t)]);
    let (results, staff) = futures_util::join!(
        join_all(deliveries),
        app.post(&confirm, &support, &succeeded)
    );
    assert!(results.iter().all(|r| r.status() == 200));
    assert!(
        staff.status() == 200 || staff.status() == 409,
        "{}",
        staff.status()
    );
    let issued = invoices(&app, &account).await;
    assert_eq!(issued.len(), 1, "one acompte: {issued:?}");
    assert_eq!(issued[0]["total"], "48.00");
    assert_eq!(numbers(&app).await, gapless(1));
    let credits = ok(app
        .get(
            &format!("/v1/accounts/{account}/credits"),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(credits["balance"], "40.00");
    let emails = ok(app
        .get(
            &format!(
                "/v1/accounts/{account}/invoices/{}/emails",
                issued[0]["id"].as_str().unwrap()
            ),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(emails["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn numbers_stay_gapless_and_grow_with_issue_dates_across_monthly_and_acompte_invoices() {
    let app = spawn_app().await;
    let a = french_buyer(&app).await;
    let b = french_buyer(&app).await;
    paid_top_up(&app, &a, "10.00").await;
    calls(&app, &b, "apr", "2026-04-09T09:00:00Z", &["3.00"]).await;
    let res = app
        .post(
            &format!("/v1/accounts/{a}/charges"),
            &app.support(),
            &json!({"description": "Mise en service", "unit_amount": "20.00", "quantity": 1}),
        )
        .await;
    assert_eq!(res.status(), 201);
    bill(&app, "2026-05", datetime!(2026-05-01 10:00 UTC)).await;
    app.clock.set(datetime!(2026-05-03 08:00 UTC));
    paid_top_up(&app, &b, "25.00").await;
    paid_top_up(&app, &a, "10.00").await;
    calls(&app, &a, "may", "2026-05-04T09:00:00Z", &["15.00"]).await;
    bill(&app, "2026-06", datetime!(2026-06-01 10:00 UTC)).await;

    let numbers = numbers(&app).await;
    assert_eq!(numbers, gapless(6));
    let mut dated: Vec<(String, String, String)> = Vec::new();
    for account in [&a, &b] {
        for i in invoices(&app, account).await {
            let s = |k: &str| i[k].as_str().unwrap().to_owned();
            dated.push((s("number"), s("issue_date"), s("kind")));
        }
    }
    dated.sort();
    let dates: Vec<&str> = dated.iter().map(|d| d.1.as_str()).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "numbers and dates grow together: {dated:?}");
    let kinds: Vec<&str> = dated.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "advance", "period", "period", "advance", "advance", "period"
        ]
    );
    // A's June invoice: 15.00 of May calls, 10.00 from the second acompte and
    // 5.00 left from the first.
    let june = invoices(&app, &a)
        .await
        .into_iter()
        .find(|i| i["number"] == "F-2026-000006")
        .unwrap();
    assert_eq!(
        prepaid(&june),
        [
            (Some("F-2026-000001".into()), "10.00".into(), "12.00".into()),
            (Some("F-2026-000005".into()), "5.00".into(), "6.00".into()),
        ]
    );
}

#[tokio::test]
async fn a_top_up_needs_a_verified_primary_address_and_auto_recharge_waits_for_one() {
    let app = spawn_app().await;
    let account = app.create_account("Sans adresse").await;
    assert_eq!(add_card(&app, &account, &visa()).await.status(), 201);
    let path = format!("/v1/accounts/{account}/credits/top-ups");
    let res = app
        .post(&path, &app.admin(&account), &json!({"amount": "50.00"}))
        .await;
    assert_problem(res, 409, "billing_address_unverified").await;
    // An address waiting for verification does not decide the VAT either.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(&account),
            &json!({"company_name": "Acme SAS", "line1": "12 rue de la Paix",
                    "postal_code": "75002", "city": "Paris", "country": "FR"}),
        )
        .await;
    let pending = ok(res).await;
    let res = app
        .post(&path, &app.admin(&account), &json!({"amount": "50.00"}))
        .await;
    assert_problem(res, 409, "billing_address_unverified").await;
    assert!(top_ups(&app, &account).await.is_empty());

    // Credits granted by staff, auto-recharge on: a debit under the
    // threshold creates no top-up without a verified address; the calls
    // are taken all the same.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/credits/adjustments"),
            &app.support(),
            &json!({"amount": "20.00", "reason": "Bienvenue"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .put(
            &format!("/v1/accounts/{account}/credits/auto-recharge"),
            &app.admin(&account),
            &json!({"enabled": true, "threshold": "10.00", "amount": "50.00"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ingested = calls(&app, &account, "a", "2026-04-09T09:00:00Z", &["15.00"]).await;
    assert_eq!(ingested["covered_by_credits"], "15.00");
    assert!(top_ups(&app, &account).await.is_empty());
    assert!(crate::helpers::logs_contain(
        "auto-recharge skipped: no verified billing address"
    ));

    // Verified, the next crossing recharges, charged with the VAT.
    let res = app
        .request(
            Method::POST,
            &format!(
                "/v1/accounts/{account}/billing-addresses/{}/verify",
                pending["id"].as_str().unwrap()
            ),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    calls(&app, &account, "b", "2026-04-09T09:30:00Z", &["1.00"]).await;
    let recharges = top_ups(&app, &account).await;
    assert_eq!(recharges.len(), 1);
    assert_eq!(
        (
            &recharges[0]["origin"],
            &recharges[0]["amount"],
            &recharges[0]["total"]
        ),
        (&json!("auto_recharge"), &json!("50.00"), &json!("60.00"))
    );
}

#[tokio::test]
async fn acomptes_are_read_like_invoices_by_their_account_only_and_never_credited() {
    let app = spawn_app().await;
    let account = french_buyer(&app).await;
    let other = french_buyer(&app).await;
    let t = paid_top_up(&app, &account, "10.00").await;
    let id = t["invoice_id"].as_str().unwrap();
    let path = format!("/v1/accounts/{account}/invoices/{id}");

    // The account's admin and viewer read it, and staff; nobody else.
    for token in [app.admin(&account), app.viewer(&account), app.support()] {
        assert_eq!(app.get(&path, &token).await.status(), 200);
        assert_eq!(app.get(&format!("{path}/pdf"), &token).await.status(), 200);
    }
    assert_problem(app.get(&path, &app.admin(&other)).await, 404, "not_found").await;
    assert_problem(
        app.get(
            &format!("/v1/accounts/{other}/invoices/{id}"),
            &app.admin(&other),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let integration = app.token(Role::Integration, Some(&account));
    assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    let top_ups_path = format!("/v1/accounts/{account}/credits/top-ups");
    assert_problem(
        app.get(&top_ups_path, &app.admin(&other)).await,
        404,
        "not_found",
    )
    .await;
    assert!(top_ups(&app, &other).await.is_empty());

    // A customer cannot credit it, and staff are told why they cannot.
    let credit = format!("{path}/credit-notes");
    let res = app
        .post(
            &credit,
            &app.admin(&account),
            &json!({"reason": "Remboursement"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .post(&credit, &app.support(), &json!({"reason": "Remboursement"}))
        .await;
    assert_problem(res, 409, "advance_invoice_not_creditable").await;
    let res = app
        .post(
            &format!("{path}/void"),
            &app.support(),
            &json!({"reason": "Erreur"}),
        )
        .await;
    assert_problem(res, 409, "advance_invoice_not_creditable").await;
    assert_eq!(invoice(&app, &account, id).await["status"], "paid");
}

#[tokio::test]
async fn covered_calls_at_the_edge_of_a_half_hour_zones_month_are_billed_once_each() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "Kolkata", "timezone": "Asia/Kolkata"}),
        )
        .await;
    let account = ok(res).await["id"].as_str().unwrap().to_owned();
    assert_eq!(add_card(&app, &account, &visa()).await.status(), 201);
    app.verified_french_address(&account).await;
    paid_top_up(&app, &account, "100.00").await;
    // 23:45 on April 30 and 00:15 on May 1 in Kolkata: one UTC hour.
    app.clock.set(datetime!(2026-04-30 19:00 UTC));
    calls(&app, &account, "a", "2026-04-30T18:15:00Z", &["10.00"]).await;
    calls(&app, &account, "b", "2026-04-30T18:45:00Z", &["20.00"]).await;

    bill(&app, "2026-05", datetime!(2026-05-01 10:00 UTC)).await;
    bill(&app, "2026-06", datetime!(2026-06-01 10:00 UTC)).await;
    type Deductions = Vec<(Option<String>, String, String)>;
    let mut issued: Vec<(String, String, Deductions)> = invoices(&app, &account)
        .await
        .into_iter()
        .filter(|i| i["kind"] == "period")
        .map(|i| {
            (
                i["period_start"].as_str().unwrap().to_owned(),
                i["lines"][0]["amount"].as_str().unwrap().to_owned(),
                prepaid(&i),
            )
        })
        .collect();
    issued.sort();
    let acompte = Some("F-2026-000001".to_owned());
    assert_eq!(
        issued,
        [
            (
                "2026-05-01".to_owned(),
                "10.00".to_owned(),
                vec![(acompte.clone(), "10.00".to_owned(), "12.00".to_owned())]
            ),
            (
                "2026-06-01".to_owned(),
                "20.00".to_owned(),
                vec![(acompte, "20.00".to_owned(), "24.00".to_owned())]
            ),
        ]
    );
    let upcoming = ok(app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.viewer(&account),
        )
        .await)
    .await;
    assert_eq!(upcoming["lines"], json!([]));
    let hours: Vec<(i64, i64, i64, i64)> = app
        .rows(
            "SELECT records, covered_minor, billed_records, billed_minor \
             FROM consumption_covered_hours",
        )
        .await;
    assert_eq!(hours, [(2, 3_000, 2, 3_000)]);
}

#[tokio::test]
async fn a_top_up_takes_the_vat_of_the_accounts_treatment_and_its_acompte_says_so() {
    let app = spawn_app().await;
    for (fields, rate, tax, total, treatment, mention) in [
        (
            json!({"company_name": "Réunion SARL", "line1": "1 rue de Paris",
                   "postal_code": "97400", "city": "Saint-Denis", "country": "RE"}),
            "8.5",
            "8.50",
            "108.50",
            "french_overseas_vat",
            None,
        ),
        (
            json!({"company_name": "Acme Inc", "line1": "1 Market St",
                   "postal_code": "94105", "city": "San Francisco", "country": "US"}),
            "0",
            "0.00",
            "100.00",
            "outside_eu",
            Some("259-1"),
        ),
    ] {
        let account = app.create_account("Acme").await;
        assert_eq!(add_card(&app, &account, &visa()).await.status(), 201);
        app.add_verified_address(&account, &fields).await;
        let t = paid_top_up(&app, &account, "100.00").await;
        assert_eq!(
            (&t["tax_rate"], &t["tax_amount"], &t["total"]),
            (&json!(rate), &json!(tax), &json!(total))
        );
        let acompte = invoice(&app, &account, t["invoice_id"].as_str().unwrap()).await;
        assert_eq!(acompte["tax_treatment"], treatment);
        assert_eq!(acompte["tax_rate"], rate);
        assert_eq!(acompte["total"], total);
        match mention {
            Some(article) => assert!(
                acompte["tax_mention"].as_str().unwrap().contains(article),
                "{}",
                acompte["tax_mention"]
            ),
            None => assert_eq!(acompte["tax_mention"], Value::Null),
        }
        // 30.00 of calls paid from it: deducted with the acompte's VAT.
        calls(&app, &account, "apr", "2026-04-09T09:00:00Z", &["30.00"]).await;
        let upcoming = ok(app
            .get(
                &format!("/v1/accounts/{account}/invoices/upcoming"),
                &app.viewer(&account),
            )
            .await)
        .await;
        let expected = if rate == "8.5" { "32.55" } else { "30.00" };
        assert_eq!(upcoming["prepaid"][0]["amount_including_tax"], expected);
        assert_eq!(upcoming["total"], expected);
        assert_eq!(upcoming["amount_due"], "0.00");
    }
}
