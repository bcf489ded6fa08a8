use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn paris() -> Value {
    json!({
        "company_name": "Acme SAS",
        "line1": "12 rue de la Paix",
        "postal_code": "75002",
        "city": "Paris",
        "country": "FR",
        "vat_number": "FR 40 303 265 045"
    })
}

fn madrid() -> Value {
    json!({
        "company_name": "Acme Iberia SL",
        "line1": "Calle Mayor 1",
        "postal_code": "28013",
        "city": "Madrid",
        "country": "ES",
        "vat_number": "ESA12345674"
    })
}

async fn add(app: &TestApp, account: &str, body: &Value) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(account),
            body,
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.request(method, path, Some(token));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

fn addr_path(account: &str, address: &Value) -> String {
    format!(
        "/v1/accounts/{account}/billing-addresses/{}",
        address["id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_customer_adds_an_address_pending_verification_and_the_first_one_is_primary() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let first = add(&app, &account, &paris()).await;
    assert_eq!(first["status"], "pending_verification");
    assert_eq!(first["primary"], true);
    assert_eq!(first["vat_number"], "FR40303265045");
    assert_eq!(first["revision"], 1);
    let second = add(&app, &account, &madrid()).await;
    assert_eq!(second["primary"], false);
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn countries_and_eu_vat_numbers_are_checked() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}/billing-addresses");
    for (patch, field) in [
        (json!({"country": "XX"}), "country"),
        (json!({"country": "fr"}), "country"),
        (json!({"vat_number": "FR123"}), "vat_number"),
        (json!({"vat_number": "DE123456789"}), "vat_number"),
        (json!({"company_name": "  "}), "company_name"),
        (json!({"postal_code": "75 002 !"}), "postal_code"),
    ] {
        let mut body = paris();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = app.post(&path, &app.admin(&account), &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let list: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_customer_cannot_edit_an_address_but_asks_for_a_change_that_staff_approve() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let address = add(&app, &account, &paris()).await;
    let path = addr_path(&account, &address);
    let admin = app.admin(&account);
    let support = app.support();

    let res = send(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some(json!({"city": "Lyon"})),
    )
    .await;
    let problem = assert_problem(res, 403, "requires_support").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("customer service")
    );

    let mut change = paris();
    change["company_name"] = json!("Acme Group SAS");
    change["line1"] = json!("1 place Bellecour");
    change["postal_code"] = json!("69002");
    change["city"] = json!("Lyon");
    let res = app
        .post(&format!("{path}/change-requests"), &admin, &change)
        .await;
    assert_eq!(res.status(), 201);
    let request: Value = res.json().await.unwrap();
    assert_eq!(request["status"], "pending");
    assert_eq!(request["fields"]["city"], "Lyon");

    // Nothing changes until staff decide.
    let current: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(current["city"], "Paris");

    let queue: Value = app
        .get(
            &format!("/v1/accounts/{account}/billing-address-change-requests?status=pending"),
            &support,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue["data"][0]["id"], request["id"]);

    let decide = format!(
        "/v1/accounts/{account}/billing-address-change-requests/{}",
        request["id"].as_str().unwrap()
    );
    let res = send(
        &app,
        Method::POST,
        &format!("{decide}/approve"),
        &admin,
        None,
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    let res = send(
        &app,
        Method::POST,
        &format!("{decide}/approve"),
        &support,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let approved: Value = res.json().await.unwrap();
    assert_eq!(approved["status"], "approved");

    let current: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(current["city"], "Lyon");
    assert_eq!(current["company_name"], "Acme Group SAS");
    assert_eq!(current["status"], "verified");
    assert_eq!(current["revision"], 2);

    // The history keeps both versions, newest first.
    let history: Value = app
        .get(&format!("{path}/history"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let versions = history["data"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["fields"]["city"], "Lyon");
    assert_eq!(versions[0]["change_request_id"], request["id"]);
    assert_eq!(versions[1]["fields"]["city"], "Paris");

    let res = send(
        &app,
        Method::POST,
        &format!("{decide}/approve"),
        &support,
        None,
    )
    .await;
    assert_problem(res, 409, "change_request_decided").await;
    let actions = app.audit_actions(&account).await;
    assert!(actions.contains(&"billing_address.change_requested".to_owned()));
    assert!(actions.contains(&"billing_address.change_applied".to_owned()));
}

#[tokio::test]
async fn a_rejected_change_request_keeps_the_address_and_says_why() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let address = add(&app, &account, &paris()).await;
    let path = addr_path(&account, &address);
    let mut change = paris();
    change["city"] = json!("Nice");
    let request: Value = app
        .post(
            &format!("{path}/change-requests"),
            &app.admin(&account),
            &change,
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("{path}/change-requests"),
            &app.admin(&account),
            &change,
        )
        .await;
    assert_problem(res, 409, "change_request_pending").await;

    let reject = format!(
        "/v1/accounts/{account}/billing-address-change-requests/{}/reject",
        request["id"].as_str().unwrap()
    );
    let res = send(
        &app,
        Method::POST,
        &reject,
        &app.support(),
        Some(json!({"reason": " "})),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = send(
        &app,
        Method::POST,
        &reject,
        &app.support(),
        Some(json!({"reason": "Kbis missing"})),
    )
    .await;
    let rejected: Value = res.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "Kbis missing");
    let current: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["city"], "Paris");
    assert_eq!(current["revision"], 1);
}

#[tokio::test]
async fn staff_verify_reject_and_edit_addresses_directly_keeping_history() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let address = add(&app, &account, &paris()).await;
    let path = addr_path(&account, &address);
    let support = app.support();

    let res = send(
        &app,
        Method::POST,
        &format!("{path}/verify"),
        &app.admin(&account),
        None,
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    let verified: Value = send(
        &app,
        Method::POST,
        &format!("{path}/verify"),
        &support,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(verified["status"], "verified");

    let res = send(
        &app,
        Method::PATCH,
        &path,
        &support,
        Some(json!({"line2": "Bâtiment B", "vat_number": "FR123"})),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let edited: Value = send(
        &app,
        Method::PATCH,
        &path,
        &support,
        Some(json!({"line2": "Bâtiment B"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(edited["line2"], "Bâtiment B");
    assert_eq!(edited["revision"], 2);
    assert_eq!(edited["city"], "Paris");

    let rejected: Value = send(
        &app,
        Method::POST,
        &format!("{path}/reject"),
        &support,
        Some(json!({"reason": "Wrong company"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejection_reason"], "Wrong company");
    let history: Value = app
        .get(&format!("{path}/history?limit=1"), &support)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["data"][0]["revision"], 2);
    let cursor = history["next_cursor"].as_str().unwrap();
    let older: Value = app
        .get(&format!("{path}/history?limit=1&cursor={cursor}"), &support)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["data"][0]["revision"], 1);
    assert!(older["next_cursor"].is_null());
}

#[tokio::test]
async fn only_a_verified_address_becomes_primary_and_the_primary_one_cannot_be_deleted() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let first = add(&app, &account, &paris()).await;
    let second = add(&app, &account, &madrid()).await;
    let (p1, p2) = (addr_path(&account, &first), addr_path(&account, &second));

    let res = send(
        &app,
        Method::POST,
        &format!("{p2}/make-primary"),
        &admin,
        None,
    )
    .await;
    assert_problem(res, 409, "address_not_verified").await;
    send(
        &app,
        Method::POST,
        &format!("{p2}/verify"),
        &app.support(),
        None,
    )
    .await;
    let now_primary: Value = send(
        &app,
        Method::POST,
        &format!("{p2}/make-primary"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(now_primary["primary"], true);
    let old: Value = app.get(&p1, &admin).await.json().await.unwrap();
    assert_eq!(old["primary"], false, "one primary address at a time");

    let res = send(&app, Method::DELETE, &p2, &admin, None).await;
    assert_problem(res, 409, "address_is_primary").await;
    let res = send(&app, Method::DELETE, &p1, &admin, None).await;
    assert_eq!(
        res.status(),
        204,
        "a non-primary unverified address can be deleted"
    );
    assert_problem(app.get(&p1, &admin).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_customer_cannot_delete_a_verified_address() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    add(&app, &account, &paris()).await;
    let second = add(&app, &account, &madrid()).await;
    let path = addr_path(&account, &second);
    send(
        &app,
        Method::POST,
        &format!("{path}/verify"),
        &app.support(),
        None,
    )
    .await;
    let res = send(&app, Method::DELETE, &path, &app.admin(&account), None).await;
    assert_problem(res, 403, "requires_support").await;
    let res = send(&app, Method::DELETE, &path, &app.support(), None).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn another_account_cannot_see_or_touch_an_address() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let address = add(&app, &account, &paris()).await;
    let path = addr_path(&account, &address);
    let intruder = app.admin(&other);
    assert_problem(app.get(&path, &intruder).await, 404, "not_found").await;
    for (method, suffix, body) in [
        (Method::PATCH, "", Some(json!({"city": "Lyon"}))),
        (Method::DELETE, "", None),
        (Method::POST, "/make-primary", None),
        (Method::POST, "/change-requests", Some(paris())),
    ] {
        let res = send(&app, method, &format!("{path}{suffix}"), &intruder, body).await;
        assert_problem(res, 404, "not_found").await;
    }
    let theirs = format!(
        "/v1/accounts/{other}/billing-addresses/{}",
        address["id"].as_str().unwrap()
    );
    assert_problem(app.get(&theirs, &intruder).await, 404, "not_found").await;
    let current: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current, address);
}

#[tokio::test]
async fn the_verified_address_question_answers_per_country() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let id = comptoir::domain::ids::AccountId::parse(&account).unwrap();
    let fr = comptoir::domain::address::Country::parse("FR").unwrap();
    let es = comptoir::domain::address::Country::parse("ES").unwrap();
    let address = add(&app, &account, &paris()).await;
    add(&app, &account, &madrid()).await;
    let ask = |country| {
        let store = app.store.clone();
        let id = id.clone();
        async move {
            let mut tx = store.begin_read().await.unwrap();
            comptoir::service::addresses::has_verified_address_in(&mut tx, &id, country)
                .await
                .unwrap()
        }
    };
    assert!(!ask(fr).await, "pending is not verified");
    send(
        &app,
        Method::POST,
        &format!("{}/verify", addr_path(&account, &address)),
        &app.support(),
        None,
    )
    .await;
    assert!(ask(fr).await);
    assert!(!ask(es).await);
}
