use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, logs_contain, spawn_app};

pub fn visa() -> Value {
    json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Claire Martin"})
}

pub fn sepa() -> Value {
    json!({
        "iban": "fr76 3000 6000 0112 3456 7890 189",
        "bic": "BNPAFRPP",
        "account_holder": "Acme SAS",
        "mandate_reference": "RUM-2026-0001",
        "mandate_signed_on": "2026-04-01"
    })
}

pub async fn add_card(app: &TestApp, account: &str, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/accounts/{account}/payment-methods/card"),
        &app.admin(account),
        body,
    )
    .await
}

async fn methods(app: &TestApp, account: &str) -> Vec<Value> {
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/payment-methods"),
            &app.viewer(account),
        )
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_card_is_stored_masked_and_its_number_and_cvc_never_reach_the_database_or_the_logs() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = add_card(&app, &account, &visa()).await;
    assert_eq!(res.status(), 201);
    let card: Value = res.json().await.unwrap();
    assert_eq!(card["type"], "card");
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["masked"], "**** 4242");
    assert_eq!(card["default"], true);
    assert_eq!(
        (card["exp_month"].as_u64(), card["exp_year"].as_u64()),
        (Some(12), Some(2030))
    );

    // A refused card goes through the same paths.
    let mut bad = visa();
    bad["number"] = json!("4242424242424241");
    add_card(&app, &account, &bad).await;
    let mut wrong_type = visa();
    wrong_type["number"] = json!(4242424242424242_u64);
    let res = add_card(&app, &account, &wrong_type).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert!(
        !problem.to_string().contains("4242424242424242"),
        "{problem}"
    );

    for needle in [
        "4242424242424242",
        "4242 4242 4242 4242",
        "424242424242424",
        "\"123\"",
    ] {
        assert!(!app.database_contains(needle).await, "{needle} stored");
        assert!(!logs_contain(needle), "{needle} logged");
    }
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"payment_method.card_added".to_owned())
    );
}

#[tokio::test]
async fn the_same_card_is_recognised_and_updated_not_added_twice() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let first: Value = add_card(&app, &account, &visa())
        .await
        .json()
        .await
        .unwrap();
    let mut again = visa();
    again["number"] = json!("4242424242424242");
    again["exp_year"] = json!(2031);
    let res = add_card(&app, &account, &again).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["exp_year"], 2031);
    assert_eq!(methods(&app, &account).await.len(), 1);
}

#[tokio::test]
async fn invalid_cards_are_422_naming_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    for (patch, field) in [
        (json!({"number": "4242 4242 4242 4241"}), "number"),
        (json!({"number": "6011 1111 1111 1117"}), "number"),
        (json!({"exp_month": 3, "exp_year": 2026}), "exp_year"),
        (json!({"exp_month": 13}), "exp_month"),
        (json!({"cvc": "12"}), "cvc"),
        (json!({"cvc": "12a"}), "cvc"),
        (json!({"holder_name": " "}), "holder_name"),
    ] {
        let mut body = visa();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = add_card(&app, &account, &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} -> {problem}");
    }
    assert!(methods(&app, &account).await.is_empty());
}

#[tokio::test]
async fn only_customer_service_sets_an_iban_which_is_encrypted_and_masked() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/payment-methods/sepa");
    let res = app.post(&path, &app.admin(&account), &sepa()).await;
    assert_problem(res, 403, "requires_support").await;

    let mut wrong = sepa();
    wrong["iban"] = json!("FR76 3000 6000 0112 3456 7890 188");
    let res = app.post(&path, &app.support(), &wrong).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "iban");
    assert!(methods(&app, &account).await.is_empty());

    let res = app.post(&path, &app.support(), &sepa()).await;
    assert_eq!(res.status(), 201);
    let method: Value = res.json().await.unwrap();
    assert_eq!(method["type"], "sepa_debit");
    assert_eq!(method["masked"], "FR76 **** ... 0189");
    assert_eq!(method["iban_last4"], "0189");
    assert_eq!(method["default"], true, "the first method is the default");
    assert!(
        !app.database_contains("30006000011234567890").await,
        "IBAN stored in clear"
    );
    assert!(!logs_contain("30006000011234567890"));
}

#[tokio::test]
async fn a_new_card_becomes_the_default_and_the_default_goes_only_when_last() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let sepa_method: Value = app
        .post(
            &format!("/v1/accounts/{account}/payment-methods/sepa"),
            &app.support(),
            &sepa(),
        )
        .await
        .json()
        .await
        .unwrap();
    let card: Value = add_card(&app, &account, &visa())
        .await
        .json()
        .await
        .unwrap();
    let all = methods(&app, &account).await;
    let defaults: Vec<&Value> = all.iter().filter(|m| m["default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], card["id"]);

    let card_path = format!(
        "/v1/accounts/{account}/payment-methods/{}",
        card["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::DELETE, &card_path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "default_payment_method").await;
    let sepa_path = format!(
        "/v1/accounts/{account}/payment-methods/{}",
        sepa_method["id"].as_str().unwrap()
    );
    let res = app
        .request(
            Method::POST,
            &format!("{sepa_path}/make-default"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::DELETE, &card_path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .request(Method::DELETE, &sepa_path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "the last method may go, default or not");
    assert!(methods(&app, &account).await.is_empty());
}

#[tokio::test]
async fn an_expired_card_is_not_a_usable_payment_method() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let id = comptoir::domain::ids::AccountId::parse(&account).unwrap();
    let usable = |app: &TestApp| {
        let (store, id, now) = (app.store.clone(), id.clone(), app.clock.now());
        async move {
            let mut tx = store.begin_read().await.unwrap();
            comptoir::service::payments::has_usable_payment_method(&mut tx, &id, now)
                .await
                .unwrap()
        }
    };
    assert!(!usable(&app).await, "no method at all");
    let mut card = visa();
    card["exp_month"] = json!(5);
    card["exp_year"] = json!(2026);
    add_card(&app, &account, &card).await;
    assert!(usable(&app).await);
    app.clock.set(time::macros::datetime!(2026-06-01 00:00 UTC));
    assert!(!usable(&app).await, "only an expired card");
}

#[tokio::test]
async fn another_accounts_payment_method_is_404_and_viewers_cannot_change_any() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let card: Value = add_card(&app, &account, &visa())
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/accounts/{account}/payment-methods/{}",
        card["id"].as_str().unwrap()
    );
    let intruder = app.admin(&other);
    let res = app
        .request(Method::DELETE, &path, Some(&intruder))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = app
        .request(
            Method::POST,
            &format!("{path}/make-default"),
            Some(&intruder),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let theirs = format!(
        "/v1/accounts/{other}/payment-methods/{}",
        card["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::DELETE, &theirs, Some(&intruder))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    assert_problem(
        app.get(
            &format!("/v1/accounts/{account}/payment-methods"),
            &intruder,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/payment-methods/card"),
            &app.viewer(&account),
            &visa(),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(methods(&app, &account).await.len(), 1);
}
