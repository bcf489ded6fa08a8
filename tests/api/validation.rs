//! A 422 names every bad field of a body at once, and a bad query string
//! names every bad parameter, in words a person understands.

use comptoir::domain::role::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// `(field, message)` of each error of a problem.
fn errors(problem: &Value) -> Vec<(String, String)> {
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

/// No message names a Rust type or quotes serde.
fn assert_human(problem: &Value) {
    for (field, message) in errors(problem) {
        for rust in [
            "u8",
            "u16",
            "u32",
            "i32",
            "i64",
            "u64",
            "usize",
            "`",
            "invalid type",
        ] {
            assert!(!message.contains(rust), "{field}: {message}");
        }
    }
}

async fn post_contact(app: &TestApp, account: &str, body: &Value) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(account),
            body,
        )
        .await;
    assert_problem(res, 422, "validation_failed").await
}

#[tokio::test]
async fn a_body_with_three_wrong_fields_gets_exactly_three_errors_naming_them() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let problem = post_contact(
        &app,
        &account,
        &json!({
            "name": 42,
            "email": "compta@acme.fr",
            "phone": "01 42 68 53 00",
            "role": "boss",
            "colour": "red"
        }),
    )
    .await;
    assert_eq!(
        errors(&problem),
        vec![
            ("colour".into(), "is not a field of this request".into()),
            ("name".into(), "must be text of 1 to 200 characters".into()),
            (
                "role".into(),
                "must be one of: technical, accounting, operational, other".into()
            ),
        ],
        "{problem}"
    );
    assert_human(&problem);
}

#[tokio::test]
async fn a_missing_field_is_required() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let problem = post_contact(
        &app,
        &account,
        &json!({"name": "Claire Martin", "phone": "01 42 68 53 00", "role": "accounting"}),
    )
    .await;
    assert_eq!(
        errors(&problem),
        vec![("email".into(), "is required".into())],
        "{problem}"
    );
}

#[tokio::test]
async fn an_out_of_range_integer_says_the_range() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": -3}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        errors(&problem),
        vec![(
            "quantity".into(),
            "must be a whole number between 1 and 500".into()
        )],
        "{problem}"
    );
    assert_human(&problem);
}

#[tokio::test]
async fn a_bad_enum_value_lists_the_accepted_ones_and_an_unknown_field_is_named() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "Acme", "currency": "XYZ", "color": "blue"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        errors(&problem),
        vec![
            ("color".into(), "is not a field of this request".into()),
            (
                "currency".into(),
                "must be one of: EUR, USD, GBP, CHF or null".into()
            ),
        ],
        "{problem}"
    );
}

#[tokio::test]
async fn every_bad_record_of_a_batch_is_named_by_its_index() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let good = json!({
        "external_id": "cdr-1",
        "occurred_at": "2026-05-04T09:30:00Z",
        "user_id": "usr_x",
        "kind": "call",
        "direction": "outbound",
        "destination": "+33184800123",
        "country": "FR",
        "duration_seconds": 125,
        "cost": "0.00"
    });
    let mut records = vec![good.clone(); 4];
    records[1]["duration_seconds"] = json!("long");
    records[3]["kind"] = json!("fax");
    records[3].as_object_mut().unwrap().remove("cost");
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(&account)),
            &json!({ "records": records }),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<String> = errors(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        vec![
            "records.1.duration_seconds",
            "records.3.cost",
            "records.3.kind"
        ],
        "{problem}"
    );
    assert_human(&problem);
}

#[tokio::test]
async fn a_bad_query_parameter_is_named_with_what_it_should_be() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices?status=late&limit=abc&from=2026-05-01"),
            &app.admin(&account),
        )
        .await;
    let problem = assert_problem(res, 400, "invalid_query").await;
    assert_eq!(
        errors(&problem),
        vec![
            (
                "limit".into(),
                "must be a whole number between 1 and 100".into()
            ),
            (
                "status".into(),
                "must be one of: draft, issued, paid, void, credited".into()
            ),
        ],
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("limit") && detail.contains("status"),
        "{detail}"
    );
    assert_human(&problem);
}

#[tokio::test]
async fn an_out_of_range_limit_and_a_bad_cursor_are_both_named() {
    let app = spawn_app().await;
    let res = app
        .get("/v1/accounts?limit=0&cursor=%21%21", &app.support())
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let mut fields: Vec<String> = errors(&problem).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, vec!["cursor", "limit"], "{problem}");
}

/// Every listed read of the demo account answers what the OpenAPI document
/// says, field for field: every field the document requires is there (null
/// when empty), with the declared type, enum and format.
#[tokio::test]
async fn the_demo_accounts_reads_match_their_documented_response_schemas() {
    let app = spawn_app().await;
    let key = comptoir::crypto::DataKey::from_base64(crate::helpers::DATA_KEY).unwrap();
    comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), crate::helpers::START)
        .await
        .unwrap();
    let spec = serde_json::to_value(comptoir::openapi()).unwrap();
    let admin = app.admin("acc_demo");
    let invoices: Value = app
        .get("/v1/accounts/acc_demo/invoices", &admin)
        .await
        .json()
        .await
        .unwrap();
    let invoice = invoices["data"][0]["id"].as_str().unwrap().to_owned();
    let reads = [
        ("/v1/accounts/{account_id}", String::new()),
        ("/v1/accounts/{account_id}/invoices", String::new()),
        ("/v1/accounts/{account_id}/invoices/upcoming", String::new()),
        (
            "/v1/accounts/{account_id}/invoices/{invoice_id}",
            invoice.clone(),
        ),
        (
            "/v1/accounts/{account_id}/invoices/{invoice_id}/emails",
            invoice,
        ),
        ("/v1/accounts/{account_id}/licenses", String::new()),
        ("/v1/accounts/{account_id}/phone-numbers", String::new()),
        ("/v1/accounts/{account_id}/payment-methods", String::new()),
        ("/v1/accounts/{account_id}/credits", String::new()),
        ("/v1/accounts/{account_id}/consumption", String::new()),
        (
            "/v1/accounts/{account_id}/consumption/summary",
            String::new(),
        ),
        ("/v1/accounts/{account_id}/users", String::new()),
        ("/v1/accounts/{account_id}/billing-addresses", String::new()),
        ("/v1/accounts/{account_id}/contacts", String::new()),
        (
            "/v1/accounts/{account_id}/invoice-recipients",
            String::new(),
        ),
        ("/v1/accounts/{account_id}/audit-events", String::new()),
    ];
    for (pattern, invoice) in reads {
        let path = pattern
            .replace("{account_id}", "acc_demo")
            .replace("{invoice_id}", &invoice);
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        let mut schema = spec["paths"][pattern]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]
            .clone();
        assert!(schema.is_object(), "{pattern} documents no JSON 200");
        schema["components"] = spec["components"].clone();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:#?}");
        if pattern == "/v1/accounts/{account_id}/invoices" {
            // The check has teeth: an invoice without its fields is refused.
            assert!(!validator.is_valid(&json!({"data": [{}], "next_cursor": null})));
            assert!(!validator.is_valid(&json!({"data": []})));
        }
    }
}

#[tokio::test]
async fn free_text_with_a_bidirectional_override_or_a_zero_width_character_is_refused() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    // U+202E reverses what follows on screen; U+200B is invisible.
    let problem = post_contact(
        &app,
        &account,
        &json!({
            "name": "Claire \u{202E}nitraM",
            "email": "compta@acme.fr",
            "phone": "01 42 68 53 00",
            "role": "accounting",
            "note": "call\u{200B}me"
        }),
    )
    .await;
    let fields: Vec<String> = errors(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["name", "note"], "{problem}");
    assert_human(&problem);
    // Accents and other letters stay welcome.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/contacts"),
            &app.admin(&account),
            &json!({
                "name": "Zoë Lefèvre-Ødegård",
                "email": "zoe@acme.fr",
                "phone": "01 42 68 53 00",
                "role": "accounting"
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
}
