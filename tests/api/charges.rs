//! One-off charges: staff add them, every reader of the account sees them,
//! staff delete them until an invoice bills them.

use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use comptoir::store::Store;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn porting() -> Value {
    json!({"description": "Portage de 3 numéros", "unit_amount": "15.00", "quantity": 3})
}

fn charges_path(account: &str) -> String {
    format!("/v1/accounts/{account}/charges")
}

fn charge_path(account: &str, charge: &str) -> String {
    format!("/v1/accounts/{account}/charges/{charge}")
}

/// Adds a charge as staff; returns it.
async fn create(app: &TestApp, account: &str, body: &Value) -> Value {
    let res = app.post(&charges_path(account), &app.support(), body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn delete(app: &TestApp, account: &str, charge: &str, token: &str) -> reqwest::Response {
    app.request(Method::DELETE, &charge_path(account, charge), Some(token))
        .send()
        .await
        .unwrap()
}

/// The ids of a list page, in order.
async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let res = app.get(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    let page: Value = res.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(charge: &Value) -> &str {
    charge["id"].as_str().unwrap()
}

/// The fields a 422 names, in order, each once.
async fn bad_fields(res: reqwest::Response) -> Vec<String> {
    let problem = assert_problem(res, 422, "validation_failed").await;
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    fields.dedup();
    fields
}

/// Runs one statement of raw SQL with text binds, on either database.
async fn raw_sql(app: &TestApp, sql: &str, binds: &[&str]) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match &app.store {
        Store::Sqlite(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
        Store::Pg(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
    }
}

/// An account with an invoice, billed by the run of May 2026; returns the
/// account and the invoice's id (read from the table, whatever the run's
/// response shows).
async fn account_with_an_invoice(app: &TestApp) -> (String, String) {
    let account = crate::invoices::account_with_april_calls(app, "Acme").await;
    app.clock.set(datetime!(2026-05-01 10:00 UTC));
    crate::invoices::bill(app, "2026-05").await;
    let sql = "SELECT id FROM invoices WHERE account_id = $1";
    let rows: Vec<(String,)> = match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).bind(&account).fetch_all(pool).await,
        Store::Pg(pool) => sqlx::query_as(sql).bind(&account).fetch_all(pool).await,
    }
    .unwrap();
    assert_eq!(rows.len(), 1, "one invoice for May");
    (account, rows[0].0.clone())
}

#[tokio::test]
async fn staff_add_a_charge_that_the_accounts_admins_and_viewers_read() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let charge = create(&app, &account, &porting()).await;
    assert!(id(&charge).starts_with("chg_"), "{charge}");
    assert_eq!(
        charge,
        json!({
            "id": id(&charge),
            "description": "Portage de 3 numéros",
            "unit_amount": "15.00",
            "quantity": 3,
            "amount": "45.00",
            "currency": "EUR",
            "invoice_id": null,
            "created_at": "2026-04-09T10:00:00Z",
        })
    );
    for token in [app.admin(&account), app.viewer(&account), app.support()] {
        let res = app.get(&charge_path(&account, id(&charge)), &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), charge);
        assert_eq!(
            listed(&app, &charges_path(&account), &token).await,
            [id(&charge)]
        );
    }
    assert_eq!(app.audit_actions(&account).await[0], "charge.created");
}

#[tokio::test]
async fn a_description_is_trimmed_and_amounts_are_written_with_the_currency_digits() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let charge = create(
        &app,
        &account,
        &json!({"description": "  Mise en service  ", "unit_amount": "0.5", "quantity": 3}),
    )
    .await;
    assert_eq!(charge["description"], "Mise en service");
    assert_eq!(charge["unit_amount"], "0.50");
    assert_eq!(charge["amount"], "1.50");
    // Trailing zeros are not extra precision; 3.0 is the integer 3.
    let charge = create(
        &app,
        &account,
        &json!({"description": "Frais", "unit_amount": "12.500", "quantity": 3.0}),
    )
    .await;
    assert_eq!(charge["unit_amount"], "12.50");
    assert_eq!(charge["amount"], "37.50");
}

#[tokio::test]
async fn the_unit_amount_is_more_than_zero_and_at_most_10000() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let body = |unit: &str, quantity: u32| json!({"description": "Frais de portage", "unit_amount": unit, "quantity": quantity});
    // The largest charge: 10,000.00 x 10,000.
    let largest = create(&app, &account, &body("10000.00", 10_000)).await;
    assert_eq!(largest["amount"], "100000000.00");
    let smallest = create(&app, &account, &body("0.01", 1)).await;
    assert_eq!(smallest["amount"], "0.01");

    for (unit, message) in [
        ("10000.01", "must be more than 0 and at most 10000.00"),
        ("0", "must be more than 0 and at most 10000.00"),
        ("0.00", "must be more than 0 and at most 10000.00"),
        ("-5.00", "must be more than 0 and at most 10000.00"),
        ("99999999999", "must be more than 0 and at most 10000.00"),
        ("1.005", "has more than 2 digits after the decimal point"),
        ("12,50", "must be a decimal number such as \"64.00\""),
        ("", "must be a decimal number such as \"64.00\""),
    ] {
        let res = app
            .post(&charges_path(&account), &app.support(), &body(unit, 1))
            .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"],
            json!([{"field": "unit_amount", "message": message}]),
            "{unit:?}"
        );
    }
    for quantity in [0, 10_001] {
        let res = app
            .post(
                &charges_path(&account),
                &app.support(),
                &body("1.00", quantity),
            )
            .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"],
            json!([{"field": "quantity", "message": "must be a whole number between 1 and 10000"}]),
        );
    }
    assert_eq!(
        listed(&app, &charges_path(&account), &app.support())
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_body_with_every_field_wrong_names_every_field_and_stores_nothing() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let post = |body: Value| {
        let app = &app;
        let path = charges_path(&account);
        async move { app.post(&path, &app.support(), &body).await }
    };
    // Values of the right types, each out of its limits.
    let res = post(json!({"description": " ", "unit_amount": "0", "quantity": 0})).await;
    assert_eq!(
        bad_fields(res).await,
        ["description", "unit_amount", "quantity"]
    );
    let long = "x".repeat(201);
    let res =
        post(json!({"description": long, "unit_amount": "10000.01", "quantity": 10001})).await;
    assert_eq!(
        bad_fields(res).await,
        ["description", "unit_amount", "quantity"]
    );
    let res =
        post(json!({"description": "Frais\u{202E}", "unit_amount": "1.001", "quantity": 1})).await;
    assert_eq!(bad_fields(res).await, ["description", "unit_amount"]);
    // Values of the wrong types: the request schema names every field.
    let res = post(json!({"description": "", "unit_amount": 15, "quantity": -1})).await;
    let mut fields = bad_fields(res).await;
    fields.sort();
    assert_eq!(fields, ["description", "quantity", "unit_amount"]);
    let res = post(json!({"unit_amount": "abc", "quantity": "3", "colour": "red"})).await;
    let mut fields = bad_fields(res).await;
    fields.sort();
    assert_eq!(fields, ["colour", "description", "quantity", "unit_amount"]);

    assert!(
        listed(&app, &charges_path(&account), &app.support())
            .await
            .is_empty()
    );
    assert!(
        !app.audit_actions(&account)
            .await
            .contains(&"charge.created".to_owned())
    );
}

#[tokio::test]
async fn only_staff_add_or_delete_charges_and_integrations_cannot_read_them() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let charge = create(&app, &account, &porting()).await;
    let integration = app.token(Role::Integration, Some(&account));
    for token in [
        app.admin(&account),
        app.viewer(&account),
        integration.clone(),
    ] {
        let res = app.post(&charges_path(&account), &token, &porting()).await;
        let problem = assert_problem(res, 403, "forbidden").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("support"),
            "{problem}"
        );
        let res = delete(&app, &account, id(&charge), &token).await;
        assert_problem(res, 403, "forbidden").await;
    }
    // A customer sending a bad body to a staff route is told about its role first.
    let res = app
        .post(&charges_path(&account), &app.admin(&account), &json!({}))
        .await;
    assert_problem(res, 403, "forbidden").await;
    for path in [charges_path(&account), charge_path(&account, id(&charge))] {
        let res = app.get(&path, &integration).await;
        assert_problem(res, 403, "forbidden").await;
    }
    assert_eq!(
        listed(&app, &charges_path(&account), &app.viewer(&account)).await,
        [id(&charge)]
    );
    let res = app
        .request(Method::GET, &charges_path(&account), None)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn another_accounts_users_get_404_and_change_nothing() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let other = app.create_billable_account("Other").await;
    let charge = create(&app, &account, &porting()).await;
    for token in [app.admin(&other), app.viewer(&other)] {
        for path in [charges_path(&account), charge_path(&account, id(&charge))] {
            let res = app.get(&path, &token).await;
            assert_problem(res, 404, "not_found").await;
        }
        let res = app.post(&charges_path(&account), &token, &porting()).await;
        assert_problem(res, 404, "not_found").await;
        let res = delete(&app, &account, id(&charge), &token).await;
        assert_problem(res, 404, "not_found").await;
    }
    // Staff naming the charge under another account: it is not that account's.
    let res = app
        .get(&charge_path(&other, id(&charge)), &app.support())
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = delete(&app, &other, id(&charge), &app.support()).await;
    assert_problem(res, 404, "not_found").await;
    assert!(
        listed(&app, &charges_path(&other), &app.support())
            .await
            .is_empty()
    );
    // An account that does not exist.
    let res = app
        .post(&charges_path("acc_nothere"), &app.support(), &porting())
        .await;
    assert_problem(res, 404, "not_found").await;

    let res = app
        .get(&charge_path(&account, id(&charge)), &app.admin(&account))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), charge);
}

#[tokio::test]
async fn charges_are_listed_oldest_first_page_by_page() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        let body =
            json!({"description": format!("Frais {i}"), "unit_amount": "1.00", "quantity": i});
        ids.push(id(&create(&app, &account, &body).await).to_owned());
    }
    let token = app.viewer(&account);
    let first: Value = app
        .get(&format!("{}?limit=2", charges_path(&account)), &token)
        .await
        .json()
        .await
        .unwrap();
    let page_ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| id(c).to_owned())
            .collect()
    };
    assert_eq!(page_ids(&first), ids[..2]);
    assert_eq!(first["data"][1]["description"], "Frais 2");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("{}?limit=2&cursor={cursor}", charges_path(&account)),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page_ids(&second), ids[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let last: Value = app
        .get(
            &format!("{}?limit=2&cursor={cursor}", charges_path(&account)),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page_ids(&last), ids[4..]);
    assert_eq!(last["next_cursor"], Value::Null);

    for query in ["billed=maybe", "limit=0", "cursor=not%20a%20cursor"] {
        let res = app
            .get(&format!("{}?{query}", charges_path(&account)), &token)
            .await;
        let status = res.status().as_u16();
        assert!(status == 400 || status == 422, "{query}: {status}");
    }
    let res = app
        .get(&format!("{}?billed=maybe", charges_path(&account)), &token)
        .await;
    assert_problem(res, 400, "invalid_query").await;
}

#[tokio::test]
async fn staff_delete_an_unbilled_charge_once() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let charge = create(&app, &account, &porting()).await;
    let kept = create(&app, &account, &porting()).await;
    let res = delete(&app, &account, id(&charge), &app.support()).await;
    assert_eq!(res.status(), 204);
    let res = app
        .get(&charge_path(&account, id(&charge)), &app.admin(&account))
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = delete(&app, &account, id(&charge), &app.support()).await;
    assert_problem(res, 404, "not_found").await;
    for unknown in [
        "chg_0197c5e2a4b07d3e9f1a2b3c4d5e6f70",
        "chg_",
        "con_123",
        "x",
    ] {
        let res = delete(&app, &account, unknown, &app.support()).await;
        assert_problem(res, 404, "not_found").await;
    }
    assert_eq!(
        listed(&app, &charges_path(&account), &app.support()).await,
        [id(&kept)]
    );
    let actions = app.audit_actions(&account).await;
    assert_eq!(actions[0], "charge.deleted");
    assert_eq!(actions.iter().filter(|a| *a == "charge.deleted").count(), 1);
}

#[tokio::test]
async fn a_billed_charge_cannot_be_deleted_and_lists_show_what_is_billed() {
    let app = spawn_app().await;
    let (account, invoice) = account_with_an_invoice(&app).await;
    let billed = create(&app, &account, &porting()).await;
    let unbilled = create(&app, &account, &porting()).await;
    raw_sql(
        &app,
        "UPDATE charges SET invoice_id = $1 WHERE id = $2",
        &[invoice.as_str(), id(&billed)],
    )
    .await;

    let res = delete(&app, &account, id(&billed), &app.support()).await;
    let problem = assert_problem(res, 409, "charge_billed").await;
    assert!(
        problem["detail"].as_str().unwrap().contains(&invoice),
        "{problem}"
    );
    let read: Value = app
        .get(&charge_path(&account, id(&billed)), &app.viewer(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["invoice_id"], invoice.as_str());

    let token = app.admin(&account);
    let path = charges_path(&account);
    assert_eq!(
        listed(&app, &format!("{path}?billed=true"), &token).await,
        [id(&billed)]
    );
    assert_eq!(
        listed(&app, &format!("{path}?billed=false"), &token).await,
        [id(&unbilled)]
    );
    assert_eq!(
        listed(&app, &path, &token).await,
        [id(&billed), id(&unbilled)]
    );
    assert!(
        !app.audit_actions(&account)
            .await
            .contains(&"charge.deleted".to_owned())
    );
    let res = delete(&app, &account, id(&unbilled), &app.support()).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn the_invoice_code_reads_the_unbilled_charges_oldest_first_and_bills_each_once() {
    let app = spawn_app().await;
    let (account, invoice) = account_with_an_invoice(&app).await;
    let other = app.create_billable_account("Other").await;
    let theirs = create(&app, &other, &porting()).await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let body =
            json!({"description": format!("Frais {i}"), "unit_amount": "2.50", "quantity": i});
        ids.push(id(&create(&app, &account, &body).await).to_owned());
    }
    let acc = AccountId::parse(&account).unwrap();

    let mut tx = app.store.begin_write().await.unwrap();
    let unbilled = tx.unbilled_charges(&acc).await.unwrap();
    let read: Vec<&str> = unbilled.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(read, ids);
    let third = &unbilled[2];
    assert_eq!(
        (
            third.description.as_str(),
            third.unit_amount_minor,
            third.quantity,
            third.amount_minor,
            third.currency.as_str(),
            third.invoice_id.as_deref(),
            third.created_by.as_str(),
        ),
        ("Frais 3", 250, 3, 750, "EUR", None, "usr_test")
    );
    // Another account's charge is never billed on this account's invoice.
    let to_bill = vec![ids[0].clone(), ids[2].clone(), id(&theirs).to_owned()];
    assert_eq!(tx.bill_charges(&acc, &invoice, &to_bill).await.unwrap(), 2);
    // Billing them again changes nothing: each charge is billed once.
    assert_eq!(tx.bill_charges(&acc, &invoice, &to_bill).await.unwrap(), 0);
    assert_eq!(tx.bill_charges(&acc, &invoice, &[]).await.unwrap(), 0);
    let left: Vec<String> = tx
        .unbilled_charges(&acc)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [ids[1].clone()]);
    tx.commit().await.unwrap();

    let token = app.support();
    assert_eq!(
        listed(
            &app,
            &format!("{}?billed=true", charges_path(&account)),
            &token
        )
        .await,
        [ids[0].clone(), ids[2].clone()]
    );
    let res = delete(&app, &account, &ids[0], &token).await;
    assert_problem(res, 409, "charge_billed").await;
    let theirs_now: Value = app
        .get(&charge_path(&other, id(&theirs)), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs_now["invoice_id"], Value::Null);
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_charge_and_another_body_is_refused() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let send = |body: Value| {
        let app = &app;
        let path = charges_path(&account);
        async move {
            app.request(Method::POST, &path, Some(&app.support()))
                .header("Idempotency-Key", "porting-2026-04")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(porting()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(porting()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    let mut other = porting();
    other["quantity"] = json!(4);
    assert_problem(send(other).await, 422, "idempotency_key_reused").await;
    assert_eq!(
        listed(&app, &charges_path(&account), &app.support()).await,
        [id(&first)]
    );
    let created = app
        .audit_actions(&account)
        .await
        .iter()
        .filter(|a| *a == "charge.created")
        .count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn concurrent_deletes_of_a_charge_give_one_204_the_rest_404_and_one_event() {
    let app = spawn_app().await;
    let account = app.create_billable_account("Acme").await;
    let token = app.support();
    // Five charges, each deleted five times at once.
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id(&create(&app, &account, &porting()).await).to_owned());
    }
    let deletes: Vec<_> = ids
        .iter()
        .flat_map(|charge| (0..5).map(|_| delete(&app, &account, charge, &token)))
        .collect();
    let responses = join_all(deletes).await;
    for (i, charge_responses) in responses.chunks(5).enumerate() {
        let mut statuses: Vec<u16> = charge_responses
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        statuses.sort();
        assert_eq!(statuses, [204, 404, 404, 404, 404], "charge {}", ids[i]);
    }
    assert!(
        listed(&app, &charges_path(&account), &token)
            .await
            .is_empty()
    );
    let deleted = app
        .audit_actions(&account)
        .await
        .iter()
        .filter(|a| *a == "charge.deleted")
        .count();
    assert_eq!(deleted, 5);
}
