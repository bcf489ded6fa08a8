use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn claire() -> Value {
    json!({
        "name": "Claire Martin",
        "email": "compta@acme.fr",
        "phone": "01 42 68 53 00",
        "role": "accounting",
        "note": "Invoices only"
    })
}

async fn create(app: &TestApp, account: &str, body: &Value) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(account),
            body,
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_admin_adds_a_contact_whose_phone_is_stored_in_e164() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let contact = create(&app, &account, &claire()).await;
    assert!(contact["id"].as_str().unwrap().starts_with("con_"));
    assert_eq!(contact["phone"], "+33142685300");
    assert_eq!(contact["role"], "accounting");
    assert_eq!(contact["note"], "Invoices only");

    let path = format!(
        "/v1/accounts/{account}/contacts/{}",
        contact["id"].as_str().unwrap()
    );
    let read: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, contact);
    assert_eq!(app.audit_actions(&account).await[0], "contact.created");
}

#[tokio::test]
async fn invalid_contact_fields_are_each_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let body = json!({"name": " ", "email": "compta@", "phone": "+33 1", "role": "accounting"});
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(&account),
            &body,
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "email", "phone"]);

    let body = json!({"name": "A", "email": "a@b.fr", "phone": "+33142685300", "role": "boss"});
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(&account),
            &body,
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "role");

    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn contacts_are_listed_by_role() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    for role in ["technical", "accounting", "technical", "other"] {
        let mut body = claire();
        body["role"] = json!(role);
        create(&app, &account, &body).await;
    }
    let token = app.admin(&account);
    let all: Value = app
        .get(&format!("/v1/accounts/{account}/contacts"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    let technical: Value = app
        .get(
            &format!("/v1/accounts/{account}/contacts?role=technical"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let roles: Vec<&str> = technical["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["technical", "technical"]);
    let res = app
        .get(
            &format!("/v1/accounts/{account}/contacts?role=boss"),
            &token,
        )
        .await;
    assert_problem(res, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_contact_is_updated_field_by_field_and_deleted() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let contact = create(&app, &account, &claire()).await;
    let path = format!(
        "/v1/accounts/{account}/contacts/{}",
        contact["id"].as_str().unwrap()
    );
    let admin = app.admin(&account);

    let res = app
        .request(reqwest::Method::PATCH, &path, Some(&admin))
        .json(&json!({"phone": "+34 912 345 678", "note": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["phone"], "+34912345678");
    assert!(updated["note"].is_null());
    assert_eq!(updated["name"], "Claire Martin");

    let res = app
        .request(reqwest::Method::PATCH, &path, Some(&admin))
        .json(&json!({"email": "nope"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app.get(&path, &admin).await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(
        app.audit_actions(&account).await[..3],
        ["contact.deleted", "contact.updated", "contact.created"]
    );
}

#[tokio::test]
async fn a_viewer_cannot_change_contacts_and_another_account_cannot_see_them() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let contact = create(&app, &account, &claire()).await;
    let path = format!(
        "/v1/accounts/{account}/contacts/{}",
        contact["id"].as_str().unwrap()
    );

    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.viewer(&account),
            &claire(),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&app.viewer(&account)))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;

    let intruder = app.admin(&other);
    assert_problem(app.get(&path, &intruder).await, 404, "not_found").await;
    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&intruder))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    // The contact id under the intruder's own account is not found either.
    let theirs = format!(
        "/v1/accounts/{other}/contacts/{}",
        contact["id"].as_str().unwrap()
    );
    assert_problem(app.get(&theirs, &intruder).await, 404, "not_found").await;
    assert_eq!(app.get(&path, &app.admin(&account)).await.status(), 200);
}
