//! Credit notes (factures d'avoir, SPEC.md section 10, issue 17): full and
//! partial credit notes of the help page's May invoice, what remains
//! creditable, the customer balance and its deduction from the next
//! invoice, refunds, `void` as a full credit note, concurrency, a failed
//! issuance that gives its number back, roles, tenants and validation.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::invoice_payments::{
    balance, balance_entries, events, invoice_of, issued_invoice, pay, transfer,
};

fn credit_notes_path(account: &str, invoice: &str) -> String {
    format!("/v1/accounts/{account}/invoices/{invoice}/credit-notes")
}

async fn credit(app: &TestApp, account: &str, invoice: &str, body: &Value) -> reqwest::Response {
    app.post(&credit_notes_path(account, invoice), &app.support(), body)
        .await
}

async fn credited(app: &TestApp, account: &str, invoice: &str, body: &Value) -> Value {
    let res = credit(app, account, invoice, body).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn totals(note: &Value) -> (&str, &str, &str) {
    (
        note["subtotal"].as_str().unwrap(),
        note["tax_amount"].as_str().unwrap(),
        note["total"].as_str().unwrap(),
    )
}

/// The demo on April 9 (its invoices of January to April, and its top-up's
/// acompte) and its May invoice, F-2026-000006, 1203.28.
async fn may_invoice(app: &TestApp) -> (String, Value) {
    crate::invoices::demo_on_april_9(app).await;
    let run = crate::invoices::bill(app, "2026-05").await;
    assert_eq!(run["issued"][0]["number"], "F-2026-000006", "{run}");
    let id = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let invoice = invoice_of(app, "acc_demo", &id).await;
    assert_eq!(invoice["total"], "1203.28");
    (id, invoice)
}

/// How many billed items (licenses, numbers, records, charges) name `invoice`.
async fn items_billed_by(app: &TestApp, invoice: &str) -> i64 {
    let sql = "SELECT CAST((SELECT COUNT(*) FROM licenses WHERE proration_invoice_id = $1 OR billed_invoice_id = $1) \
         + (SELECT COUNT(*) FROM phone_numbers WHERE proration_invoice_id = $1 OR billed_invoice_id = $1) \
         + (SELECT COUNT(*) FROM consumption_records WHERE invoice_id = $1) \
         + (SELECT COUNT(*) FROM charges WHERE invoice_id = $1) AS BIGINT)";
    let (n,): (i64,) = match &app.store {
        comptoir::store::Store::Sqlite(pool) => {
            sqlx::query_as(sql).bind(invoice).fetch_one(pool).await
        }
        comptoir::store::Store::Pg(pool) => sqlx::query_as(sql).bind(invoice).fetch_one(pool).await,
    }
    .unwrap();
    n
}

/// The upcoming invoice's total and number of lines.
async fn upcoming(app: &TestApp) -> (Value, usize) {
    let body: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices/upcoming",
            &app.viewer("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    (
        body["total"].clone(),
        body["lines"].as_array().unwrap().len(),
    )
}

/// The id of the May invoice's line of the 10 ADVANCED licenses.
fn advanced_line(invoice: &Value) -> String {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "license" && l["plan"] == "ADVANCED" && l["quantity"] == 10)
        .unwrap_or_else(|| panic!("no line of 10 ADVANCED licenses: {invoice}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn credit_note_numbers(app: &TestApp, account: &str) -> Vec<String> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/credit-notes?limit=100"),
            &app.viewer(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_credit_note_of_the_may_invoice_is_av_2026_000001_for_its_whole_total() {
    let app = spawn_app().await;
    let (id, _) = may_invoice(&app).await;
    let note = credited(
        &app,
        "acc_demo",
        &id,
        &json!({"reason": "Facture émise sur le mauvais compte"}),
    )
    .await;
    assert_eq!(note["number"], "AV-2026-000001");
    assert_eq!(totals(&note), ("1002.73", "200.55", "1203.28"));
    assert_eq!(note["invoice_number"], "F-2026-000006");
    assert_eq!(note["invoice_issue_date"], "2026-05-01");
    assert_eq!(note["issue_date"], "2026-05-01");
    assert_eq!(note["tax_rate"], "20");
    assert_eq!(note["applied_to_invoice"], "1203.28");
    assert_eq!(note["to_balance"], "0.00");
    // Positive lines, the invoice's own, each naming the line it credits.
    let lines = note["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| !l["amount"].as_str().unwrap().starts_with('-'))
    );
    assert!(
        lines
            .iter()
            .all(|l| l["invoice_line"].as_str().unwrap().starts_with("il_"))
    );

    let invoice = invoice_of(&app, "acc_demo", &id).await;
    assert_eq!(invoice["status"], "credited");
    assert_eq!(invoice["amount_credited"], "1203.28");
    assert_eq!(invoice["amount_due"], "0.00");
    assert_eq!(invoice["credit_notes"][0]["number"], "AV-2026-000001");
    assert_eq!(invoice["credit_notes"][0]["total"], "1203.28");
    // Nothing is left to credit.
    assert_problem(
        credit(&app, "acc_demo", &id, &json!({"reason": "Again"})).await,
        422,
        "credit_exceeds_invoice",
    )
    .await;
    // The detail and the list read it back; an audit event says who issued it.
    let got: Value = app
        .get(
            &format!(
                "/v1/accounts/acc_demo/credit-notes/{}",
                note["id"].as_str().unwrap()
            ),
            &app.viewer("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, note);
    assert_eq!(
        credit_note_numbers(&app, "acc_demo").await,
        ["AV-2026-000001"]
    );
    assert_eq!(
        events(&app, "acc_demo", "credit_note.issued").await.len(),
        1
    );
}

#[tokio::test]
async fn one_advanced_license_of_ten_is_credited_for_64_00_plus_12_80() {
    let app = spawn_app().await;
    let (id, invoice) = may_invoice(&app).await;
    let line = advanced_line(&invoice);
    let note = credited(
        &app,
        "acc_demo",
        &id,
        &json!({"reason": "Licence résiliée le 1er mai", "lines": [{"invoice_line": line, "quantity": 1}]}),
    )
    .await;
    assert_eq!(totals(&note), ("64.00", "12.80", "76.80"));
    assert_eq!(note["lines"][0]["quantity"], 1);
    assert_eq!(note["lines"][0]["unit_amount"], "64.00");
    assert_eq!(note["lines"][0]["invoice_line"], line.as_str());
    let invoice = invoice_of(&app, "acc_demo", &id).await;
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["amount_credited"], "76.80");
    assert_eq!(invoice["amount_due"], "1126.48");
}

#[tokio::test]
async fn partial_credit_notes_never_exceed_a_line_or_the_invoice() {
    let app = spawn_app().await;
    let (id, invoice) = may_invoice(&app).await;
    let line = advanced_line(&invoice);
    let nine = json!({"reason": "Neuf licences", "lines": [{"invoice_line": line, "quantity": 9}]});
    credited(&app, "acc_demo", &id, &nine).await;
    let two = json!({"reason": "Deux de plus", "lines": [{"invoice_line": line, "quantity": 2}]});
    let problem = assert_problem(
        credit(&app, "acc_demo", &id, &two).await,
        422,
        "credit_exceeds_line",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("64.00"),
        "{problem}"
    );
    let too_much = json!({"reason": "Trop", "lines": [{"invoice_line": line, "amount": "64.01"}]});
    assert_problem(
        credit(&app, "acc_demo", &id, &too_much).await,
        422,
        "credit_exceeds_line",
    )
    .await;
    // The rest, without lines: the two add up to the invoice, to the cent.
    let rest = credited(&app, "acc_demo", &id, &json!({"reason": "Le reste"})).await;
    assert_eq!(rest["number"], "AV-2026-000002");
    let invoice = invoice_of(&app, "acc_demo", &id).await;
    assert_eq!(invoice["amount_credited"], "1203.28");
    assert_eq!(invoice["status"], "credited");
    let one = json!({"reason": "Encore", "lines": [{"invoice_line": line, "amount": "0.01"}]});
    assert_problem(
        credit(&app, "acc_demo", &id, &one).await,
        422,
        "credit_exceeds_invoice",
    )
    .await;
}

#[tokio::test]
async fn credit_on_a_paid_invoice_goes_to_the_balance_which_the_next_invoice_deducts() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("120.00")).await.status(), 201);
    let invoice = invoice_of(&app, &a, &inv).await;
    let line = invoice["lines"][0]["id"].as_str().unwrap().to_owned();
    let note = credited(
        &app,
        &a,
        &inv,
        &json!({"reason": "Appels facturés deux fois", "lines": [{"invoice_line": line, "amount": "20.00"}]}),
    )
    .await;
    assert_eq!(totals(&note), ("20.00", "4.00", "24.00"));
    assert_eq!(
        (&note["applied_to_invoice"], &note["to_balance"]),
        (&json!("0.00"), &json!("24.00"))
    );
    assert_eq!(balance(&app, &a).await["amount"], "24.00");
    assert_eq!(balance_entries(&app, &a).await[0]["kind"], "credit_note");
    let invoice = invoice_of(&app, &a, &inv).await;
    assert_eq!(
        (
            &invoice["status"],
            &invoice["amount_credited"],
            &invoice["amount_due"]
        ),
        (&json!("paid"), &json!("24.00"), &json!("0.00"))
    );

    // Staff refund 4.00 of it; never more than what is left.
    let note_id = note["id"].as_str().unwrap();
    let refunds = format!("/v1/accounts/{a}/credit-notes/{note_id}/refunds");
    let res = app
        .post(
            &refunds,
            &app.support(),
            &json!({"amount": "4.00", "refunded_at": "2026-05-02T07:00:00Z", "reference": "VIR REMB"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_problem(
        app.post(
            &refunds,
            &app.support(),
            &json!({"amount": "20.01", "refunded_at": "2026-05-02T07:00:00Z"}),
        )
        .await,
        422,
        "refund_exceeds_credit",
    )
    .await;
    assert_problem(
        app.post(
            &refunds,
            &app.admin(&a),
            &json!({"amount": "1.00", "refunded_at": "2026-05-02T07:00:00Z"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(balance(&app, &a).await["amount"], "20.00");

    // May's calls, billed in June: 50.00 + 10.00 VAT, less the 20.00 left.
    let user: Value = app
        .get(&format!("/v1/accounts/{a}/users"), &app.admin(&a))
        .await
        .json()
        .await
        .unwrap();
    let user = user["data"][0]["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/accounts/{a}/consumption"),
            &app.token(comptoir::domain::role::Role::Integration, Some(&a)),
            &json!({"records": [{
                "external_id": "call-may", "occurred_at": "2026-05-10T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 600, "cost": "50.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The upcoming invoice shows what the balance will take off.
    let upcoming: Value = app
        .get(
            &format!("/v1/accounts/{a}/invoices/upcoming"),
            &app.viewer(&a),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(upcoming["total"], "60.00", "{upcoming}");
    assert_eq!(
        upcoming["balance_deductions"],
        json!([{"credit_note_number": "AV-2026-000001", "amount": "20.00"}])
    );
    assert_eq!(upcoming["amount_due"], "40.00");
    let run = crate::invoices::bill(&app, "2026-06").await;
    let june = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let june = invoice_of(&app, &a, &june).await;
    assert_eq!(june["total"], "60.00", "{june}");
    assert_eq!(june["amount_due"], "40.00");
    assert_eq!(june["amount_paid"], "20.00");
    assert_eq!(
        june["balance_deductions"],
        json!([{"credit_note_number": "AV-2026-000001", "amount": "20.00"}])
    );
    // Never as a negative line.
    assert!(
        june["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !l["amount"].as_str().unwrap().starts_with('-'))
    );
    assert_eq!(balance(&app, &a).await["amount"], "0.00");
    assert_eq!(balance_entries(&app, &a).await[0]["kind"], "deduction");
    // Under the totals of its PDF, never as a line.
    let text = pdf_text(
        &app,
        &format!(
            "/v1/accounts/{a}/invoices/{}/pdf",
            june["id"].as_str().unwrap()
        ),
        &a,
    )
    .await;
    assert!(
        text.contains("Total TTC 60,00 € Avoir AV-2026-000001 déduit 20,00 € Net à payer 40,00 €"),
        "{text}"
    );
    // Nothing is left of the credit to refund.
    assert_problem(
        app.post(
            &refunds,
            &app.support(),
            &json!({"amount": "0.01", "refunded_at": "2026-06-01T10:00:00Z"}),
        )
        .await,
        422,
        "refund_exceeds_credit",
    )
    .await;
}

#[tokio::test]
async fn concurrent_credit_notes_of_one_invoice_never_exceed_it_nor_share_a_number() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let invoice = invoice_of(&app, &a, &inv).await;
    let line = invoice["lines"][0]["id"].as_str().unwrap().to_owned();
    // 100.00 on the line: three credits of 30.00 fit, the others do not.
    let tries = (0..6).map(|n| {
        let (app, a, inv, line) = (&app, a.clone(), inv.clone(), line.clone());
        async move {
            let body = json!({"reason": format!("Essai {n}"), "lines": [{"invoice_line": line, "amount": "30.00"}]});
            credit(app, &a, &inv, &body).await.status().as_u16()
        }
    });
    let mut statuses = join_all(tries).await;
    statuses.sort();
    assert_eq!(statuses, [201, 201, 201, 422, 422, 422]);
    let mut numbers = credit_note_numbers(&app, &a).await;
    numbers.sort();
    assert_eq!(
        numbers,
        ["AV-2026-000001", "AV-2026-000002", "AV-2026-000003"]
    );
    let invoice = invoice_of(&app, &a, &inv).await;
    assert_eq!(invoice["amount_credited"], "108.00");
    assert_eq!(invoice["amount_due"], "12.00");

    // Full credit notes at once: one wins, the others find nothing left.
    let (b, inv_b) = issued_invoice(&app, "Bravo").await;
    let everything = json!({"reason": "Tout"});
    let tries = (0..4).map(|_| credit(&app, &b, &inv_b, &everything));
    let mut statuses: Vec<u16> = join_all(tries)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 422, 422, 422]);
    assert_eq!(credit_note_numbers(&app, &b).await, ["AV-2026-000004"]);
}

#[tokio::test]
async fn a_credit_note_that_fails_while_it_is_issued_gives_its_number_back() {
    let app = spawn_app().await;
    let (a, inv_a) = issued_invoice(&app, "Acme").await;
    let (b, inv_b) = issued_invoice(&app, "Bravo").await;
    crate::helpers::fail_inserts_of(&app, "credit_notes", &a).await;
    let res = credit(&app, &a, &inv_a, &json!({"reason": "Panne"})).await;
    assert_eq!(res.status(), 500);
    // Nothing of it is left: the invoice is as it was, the number unused.
    let invoice = invoice_of(&app, &a, &inv_a).await;
    assert_eq!(
        (&invoice["status"], &invoice["amount_due"]),
        (&json!("issued"), &json!("120.00"))
    );
    assert_eq!(credit_note_numbers(&app, &a).await, Vec::<String>::new());
    let note = credited(&app, &b, &inv_b, &json!({"reason": "Suivant"})).await;
    assert_eq!(note["number"], "AV-2026-000001");
}

#[tokio::test]
async fn void_issues_a_full_credit_note_with_its_reason() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert_eq!(pay(&app, &a, &inv, &transfer("45.00")).await.status(), 201);
    let void = format!("/v1/accounts/{a}/invoices/{inv}/void");
    let res = app
        .post(&void, &app.support(), &json!({"reason": "Billed twice"}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (
            &body["status"],
            &body["amount_credited"],
            &body["amount_due"]
        ),
        (&json!("credited"), &json!("120.00"), &json!("0.00"))
    );
    let note_id = body["credit_notes"][0]["id"].as_str().unwrap();
    let note: Value = app
        .get(
            &format!("/v1/accounts/{a}/credit-notes/{note_id}"),
            &app.viewer(&a),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(note["reason"], "Billed twice");
    assert_eq!(
        (&note["applied_to_invoice"], &note["to_balance"]),
        (&json!("75.00"), &json!("45.00"))
    );
    // What was paid is owed to the customer.
    assert_eq!(balance(&app, &a).await["amount"], "45.00");
    assert_problem(
        app.post(&void, &app.support(), &json!({"reason": "Again"}))
            .await,
        409,
        "invoice_not_open",
    )
    .await;
}

#[tokio::test]
async fn a_draft_is_not_credited() {
    let app = crate::helpers::spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let a = crate::invoices::account_with_april_calls(&app, "Grace").await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let draft = run["drafted"][0]["invoice_id"].as_str().unwrap().to_owned();
    assert_problem(
        credit(&app, &a, &draft, &json!({"reason": "Trop tôt"})).await,
        422,
        "credit_note_on_draft",
    )
    .await;
}

#[tokio::test]
async fn a_bad_request_names_each_bad_field_and_each_rule_has_its_code() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let invoice = invoice_of(&app, &a, &inv).await;
    let line = invoice["lines"][0]["id"].as_str().unwrap().to_owned();
    let problem = assert_problem(
        credit(
            &app,
            &a,
            &inv,
            &json!({"reason": "  ", "lines": [{"invoice_line": line, "amount": "abc"},
                                               {"invoice_line": line, "amount": "1.001"}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["reason", "lines.0.amount", "lines.1.amount"],
        "{problem}"
    );
    assert_problem(
        credit(&app, &a, &inv, &json!({"reason": "x", "lines": []})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        credit(
            &app,
            &a,
            &inv,
            &json!({"reason": "x", "lines": [{"invoice_line": line, "quantity": 1.5}]}),
        )
        .await,
        422,
        "credit_quantity_not_whole",
    )
    .await;
    assert_problem(
        credit(&app, &a, &inv, &json!({"reason": "x", "lines": [{"invoice_line": line, "quantity": 1, "amount": "1.00"}]})).await,
        422,
        "credit_quantity_or_amount",
    )
    .await;
    assert_problem(
        credit(
            &app,
            &a,
            &inv,
            &json!({"reason": "x", "lines": [{"invoice_line": line}]}),
        )
        .await,
        422,
        "credit_quantity_or_amount",
    )
    .await;
    assert_problem(
        credit(
            &app,
            &a,
            &inv,
            &json!({"reason": "x", "lines": [{"invoice_line": "il_nope0001", "quantity": 1}]}),
        )
        .await,
        422,
        "unknown_invoice_line",
    )
    .await;
    // None of these issued anything.
    assert_eq!(credit_note_numbers(&app, &a).await, Vec::<String>::new());
}

#[tokio::test]
async fn only_staff_issue_credit_notes_and_every_reader_of_invoices_reads_them() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    for token in [app.admin(&a), app.viewer(&a)] {
        assert_problem(
            app.post(
                &credit_notes_path(&a, &inv),
                &token,
                &json!({"reason": "x"}),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    let note = credited(&app, &a, &inv, &json!({"reason": "Geste"})).await;
    let id = note["id"].as_str().unwrap();
    for token in [app.admin(&a), app.viewer(&a), app.support()] {
        let res = app
            .get(&format!("/v1/accounts/{a}/credit-notes/{id}"), &token)
            .await;
        assert_eq!(res.status(), 200);
    }
    let integration = app.token(comptoir::domain::role::Role::Integration, Some(&a));
    assert_problem(
        app.get(&format!("/v1/accounts/{a}/credit-notes"), &integration)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn another_accounts_credit_notes_are_404_and_change_nothing() {
    let app = spawn_app().await;
    let (a, inv_a) = issued_invoice(&app, "Acme").await;
    let b = app.create_billable_account("Bravo").await;
    let note = credited(&app, &a, &inv_a, &json!({"reason": "Geste"})).await;
    let id = note["id"].as_str().unwrap();
    assert_problem(
        app.get(
            &format!("/v1/accounts/{b}/credit-notes/{id}"),
            &app.admin(&b),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/v1/accounts/{a}/credit-notes/{id}"),
            &app.admin(&b),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // A's invoice under B's path, even for staff.
    assert_problem(
        credit(&app, &b, &inv_a, &json!({"reason": "x"})).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/accounts/{b}/credit-notes/{id}/refunds"),
            &app.support(),
            &json!({"amount": "1.00", "refunded_at": "2026-05-02T07:00:00Z"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(credit_note_numbers(&app, &b).await, Vec::<String>::new());
    assert_eq!(credit_note_numbers(&app, &a).await, ["AV-2026-000001"]);
}

#[tokio::test]
async fn a_fully_credited_invoice_is_reissued_once_with_a_new_number_billing_nothing_twice() {
    let app = spawn_app().await;
    let (id, may) = may_invoice(&app).await;
    let june_before = upcoming(&app).await;
    let billed = items_billed_by(&app, &id).await;
    assert!(billed > 0);
    let reissue = format!("/v1/accounts/acc_demo/invoices/{id}/reissue");
    // Not before it is credited in full.
    assert_problem(
        app.post(&reissue, &app.support(), &json!({})).await,
        409,
        "invoice_not_credited",
    )
    .await;
    let line = advanced_line(&may);
    credited(
        &app,
        "acc_demo",
        &id,
        &json!({"reason": "Une licence", "lines": [{"invoice_line": line, "quantity": 1}]}),
    )
    .await;
    assert_problem(
        app.post(&reissue, &app.support(), &json!({})).await,
        409,
        "invoice_not_credited",
    )
    .await;
    credited(&app, "acc_demo", &id, &json!({"reason": "Le reste"})).await;
    assert_problem(
        app.post(&reissue, &app.admin("acc_demo"), &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let res = app.post(&reissue, &app.support(), &json!({})).await;
    assert_eq!(res.status(), 201);
    let new: Value = res.json().await.unwrap();
    assert_eq!(new["number"], "F-2026-000007");
    assert_eq!(new["status"], "issued");
    assert_eq!(new["period_start"], may["period_start"]);
    assert_eq!(new["total"], "1203.28");
    assert_eq!(new["amount_due"], "1203.28");
    assert_eq!(
        new["lines"].as_array().unwrap().len(),
        may["lines"].as_array().unwrap().len()
    );
    assert_eq!(new["replaces"]["number"], "F-2026-000006");
    assert_eq!(new["replaces"]["invoice_id"], id.as_str());
    // What the credited invoice billed is billed by the new one.
    let new_id = new["id"].as_str().unwrap();
    assert_eq!(items_billed_by(&app, &id).await, 0);
    assert_eq!(items_billed_by(&app, new_id).await, billed);
    // Once.
    assert_problem(
        app.post(&reissue, &app.support(), &json!({})).await,
        409,
        "already_exists",
    )
    .await;
    // A billing run of May makes nothing more; June bills what it would have.
    let again = crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(again["issued"], json!([]));
    assert_eq!(upcoming(&app).await, june_before);
    let list: Value = app
        .get(
            "/v1/accounts/acc_demo/invoices?from=2026-05-01",
            &app.viewer("acc_demo"),
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["credited", "issued"]);
    assert_eq!(events(&app, "acc_demo", "invoice.reissued").await.len(), 1);
}

pub(crate) async fn pdf_text(app: &TestApp, path: &str, account: &str) -> String {
    let res = app.get(path, &app.viewer(account)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let bytes = res.bytes().await.unwrap();
    let text = crate::helpers::pdf_text_of(&bytes);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_credit_note_pdf_and_html_reference_the_invoice_with_the_reason_lines_and_totals() {
    let app = spawn_app().await;
    let (id, invoice) = may_invoice(&app).await;
    let line = advanced_line(&invoice);
    let note = credited(
        &app,
        "acc_demo",
        &id,
        &json!({"reason": "Licence résiliée", "lines": [{"invoice_line": line, "quantity": 1}]}),
    )
    .await;
    let base = format!(
        "/v1/accounts/acc_demo/credit-notes/{}",
        note["id"].as_str().unwrap()
    );
    let text = pdf_text(&app, &format!("{base}/pdf"), "acc_demo").await;
    for expected in [
        "Avoir n° AV-2026-000001",
        "Date d'émission : 01/05/2026",
        "Avoir sur la facture n° F-2026-000006 du 01/05/2026",
        "Motif : Licence résiliée",
        "Licence ADVANCED, mai 2026",
        "64,00 €",
        "Total HT 64,00 €",
        "TVA 20 % 12,80 €",
        "Total TTC 76,80 €",
        "Démo Télécom SAS",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(!text.contains("-64"), "{text}");
    let english = app
        .request(
            reqwest::Method::GET,
            &format!("{base}/html"),
            Some(&app.viewer("acc_demo")),
        )
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    assert!(
        english.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let english = english.text().await.unwrap();
    assert!(
        english.contains("Credit note no. AV-2026-000001"),
        "{english}"
    );
    assert!(english.contains("Credit note for invoice no. F-2026-000006 of 2026-05-01"));
    assert!(english.contains("Reason: Licence résiliée"));
    assert!(english.contains("€76.80"));
    let other = app.create_billable_account("Other").await;
    assert_problem(
        app.get(&format!("{base}/pdf"), &app.admin(&other)).await,
        404,
        "not_found",
    )
    .await;

    // A reissued invoice says which invoice it replaces.
    credited(&app, "acc_demo", &id, &json!({"reason": "Le reste"})).await;
    let res = app
        .post(
            &format!("/v1/accounts/acc_demo/invoices/{id}/reissue"),
            &app.support(),
            &json!({}),
        )
        .await;
    let new: Value = res.json().await.unwrap();
    let text = pdf_text(
        &app,
        &format!(
            "/v1/accounts/acc_demo/invoices/{}/pdf",
            new["id"].as_str().unwrap()
        ),
        "acc_demo",
    )
    .await;
    assert!(
        text.contains("Annule et remplace la facture n° F-2026-000006 du 01/05/2026"),
        "{text}"
    );
}
