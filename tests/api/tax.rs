//! VAT treatment (SPEC.md section 10): the rate and mention of each row of
//! the table, held drafts without a verified address, SIRENs and the
//! mandatory mentions printed.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Adds a one-off charge of 3 × 41.15 = 123.45 excluding VAT.
async fn charge(app: &TestApp, account: &str) {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/charges"),
            &app.support(),
            &json!({"description": "Frais de portabilité", "unit_amount": "41.15", "quantity": 3}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

async fn invoices_of(app: &TestApp, account: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices"),
            &app.admin(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn address(country: &str, postal_code: &str, vat_number: Option<&str>) -> Value {
    json!({"company_name": "Client SA", "line1": "1 Main Street", "postal_code": postal_code,
           "city": "Somewhere", "country": country, "vat_number": vat_number})
}

#[tokio::test]
async fn each_row_of_the_treatment_table_gets_its_rate_mention_and_territory() {
    let app = spawn_app().await;
    // 123.45 excluding VAT: 20 % = 24.69; 8.5 % = 10.49325 -> 10.49;
    // 19 % = 23.4555 -> 23.46; 21 % = 25.9245 -> 25.92.
    let rows = [
        (
            "France",
            address("FR", "75002", Some("FR40303265045")),
            "french_vat",
            "20",
            "24.69",
            "FR",
            None,
        ),
        (
            "Monaco",
            address("MC", "98000", None),
            "french_vat",
            "20",
            "24.69",
            "MC",
            None,
        ),
        (
            "Réunion",
            address("RE", "97400", None),
            "french_overseas_vat",
            "8.5",
            "10.49",
            "RE",
            None,
        ),
        (
            "Guyane",
            address("FR", "97300", None),
            "french_overseas_exempt",
            "0",
            "0.00",
            "GF",
            Some("VAT not applicable, article 294 of the French General Tax Code."),
        ),
        (
            "Germany B2B",
            address("DE", "10115", Some("DE123456789")),
            "reverse_charge",
            "0",
            "0.00",
            "DE",
            Some(
                "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Council Directive 2006/112/EC).",
            ),
        ),
        (
            "Germany B2C",
            address("DE", "10115", None),
            "eu_oss",
            "19",
            "23.46",
            "DE",
            None,
        ),
        (
            "Spain B2C",
            address("ES", "28013", None),
            "eu_oss",
            "21",
            "25.92",
            "ES",
            None,
        ),
        (
            "United States",
            address("US", "10001", None),
            "outside_eu",
            "0",
            "0.00",
            "US",
            Some("VAT not applicable, article 259-1 of the French General Tax Code."),
        ),
    ];
    let mut accounts = Vec::new();
    for (name, fields, ..) in &rows {
        let account = app.create_account(name).await;
        app.add_verified_address(&account, fields).await;
        charge(&app, &account).await;
        accounts.push(account);
    }
    let report = crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(
        report["issued"].as_array().unwrap().len(),
        rows.len(),
        "{report}"
    );
    for ((name, _, treatment, rate, tax, territory, mention), account) in rows.iter().zip(&accounts)
    {
        let invoices = invoices_of(&app, account).await;
        let invoice = &invoices[0];
        assert_eq!(invoice["tax_treatment"], *treatment, "{name}");
        assert_eq!(invoice["tax_rate"], *rate, "{name}");
        assert_eq!(invoice["subtotal"], "123.45", "{name}");
        assert_eq!(invoice["tax_amount"], *tax, "{name}");
        let total = rust_decimal::Decimal::from_str_exact("123.45").unwrap()
            + rust_decimal::Decimal::from_str_exact(tax).unwrap();
        assert_eq!(invoice["total"], total.to_string(), "{name}");
        assert_eq!(invoice["tax_territory"], *territory, "{name}");
        assert_eq!(invoice["tax_mention"], json!(mention), "{name}");
        assert_eq!(invoice["hold"], Value::Null, "{name}");
    }
    // The French mention, on the PDF of the Guyane invoice.
    let guyane = &invoices_of(&app, &accounts[3]).await[0];
    let text = crate::credit_notes::pdf_text(
        &app,
        &format!(
            "/v1/accounts/{}/invoices/{}/pdf",
            accounts[3],
            guyane["id"].as_str().unwrap()
        ),
        &accounts[3],
    )
    .await;
    assert!(
        text.contains("TVA non applicable, art. 294 du CGI."),
        "{text}"
    );
}

#[tokio::test]
async fn a_draft_without_a_verified_address_is_held_and_issued_once_staff_verify_one() {
    let app = spawn_app().await;
    let account = app.create_account("Sans Adresse").await;
    charge(&app, &account).await;
    // An address waiting for verification does not count.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(&account),
            &address("FR", "75002", None),
        )
        .await;
    assert_eq!(res.status(), 201);
    let address_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(report["issued"], json!([]), "{report}");
    let held = report["held"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{report}");
    assert_eq!(held[0]["account_id"], account.as_str());
    assert_eq!(held[0]["code"], "billing_address_unverified");
    assert!(held[0]["detail"].as_str().unwrap().contains("verified"));
    let id = held[0]["invoice_id"].as_str().unwrap().to_owned();

    // The draft says why, to every reader; the upcoming invoice too.
    let draft: Value = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}"),
            &app.viewer(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["number"], Value::Null);
    assert_eq!(draft["hold"]["code"], "billing_address_unverified");
    let upcoming: Value = app
        .get(
            &format!("/v1/accounts/{account}/invoices/upcoming"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(upcoming["hold"]["code"], "billing_address_unverified");

    // Staff cannot force it, and running again issues nothing.
    let finalize = format!("/v1/accounts/{account}/invoices/{id}/finalize");
    let res = app.post(&finalize, &app.support(), &json!({})).await;
    assert_problem(res, 409, "billing_address_unverified").await;
    let again = crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(again["held"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["issued"], json!([]));
    let count: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM invoices").await;
    assert_eq!(count[0].0, 0, "no number used");

    // Verified: the finalizer's next pass (here staff) issues it, with its VAT.
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses/{address_id}/verify"),
            &app.support(),
            &json!({}),
        )
        .await;
    assert!(res.status().is_success());
    let res = app.post(&finalize, &app.support(), &json!({})).await;
    assert_eq!(res.status(), 200);
    let issued: Value = res.json().await.unwrap();
    assert_eq!(issued["number"], "F-2026-000001");
    assert_eq!(issued["tax_amount"], "24.69");
    assert_eq!(issued["hold"], Value::Null);
}

#[tokio::test]
async fn a_siren_is_checked_for_french_addresses_and_every_bad_field_is_named() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let post = |body: Value| {
        let app = &app;
        let account = account.clone();
        async move {
            app.post(
                &format!("/v1/accounts/{account}/billing-addresses"),
                &app.admin(&account),
                &body,
            )
            .await
        }
    };
    // A wrong key, and a wrong country code at once.
    let mut bad = address("FR", "75002", None);
    bad["siren"] = json!("732829321");
    bad["country"] = json!("XX");
    let problem = assert_problem(post(bad).await, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"siren") && fields.contains(&"country"),
        "{problem}"
    );
    // A SIREN on a German address.
    let mut german = address("DE", "10115", None);
    german["siren"] = json!("732829320");
    let problem = assert_problem(post(german).await, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "siren", "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("French"),
        "{problem}"
    );
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]), "nothing stored");
    // Spaces are accepted and dropped; overseas departments are French.
    let mut ok = address("FR", "97400", None);
    ok["siren"] = json!("732 829 320");
    let res = post(ok).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["siren"], "732829320");
}

/// Bills May for a French buyer with a SIREN and an e-invoicing address and
/// returns the invoice's PDF text.
async fn french_invoice_text(app: &TestApp) -> (Value, String) {
    let account = app.create_account("Durand").await;
    let mut fields = address("FR", "75002", Some("FR40303265045"));
    fields["siren"] = json!("303265045");
    fields["e_invoicing_address"] = json!("0225:303265045");
    app.add_verified_address(&account, &fields).await;
    charge(app, &account).await;
    crate::invoices::bill(app, "2026-05").await;
    let invoice = invoices_of(app, &account).await[0].clone();
    let text = crate::credit_notes::pdf_text(
        app,
        &format!(
            "/v1/accounts/{account}/invoices/{}/pdf",
            invoice["id"].as_str().unwrap()
        ),
        &account,
    )
    .await;
    (invoice, text)
}

#[tokio::test]
async fn invoices_print_both_sirens_the_e_invoicing_address_and_prestations_de_services() {
    let app = spawn_app().await;
    let (invoice, text) = french_invoice_text(&app).await;
    assert_eq!(invoice["billing_address"]["siren"], "303265045");
    assert_eq!(
        invoice["billing_address"]["e_invoicing_address"],
        "0225:303265045"
    );
    for expected in [
        "SIREN 303 265 045",
        "Adresse de facturation électronique : 0225:303265045",
        "SIREN 912 345 675",
        "Catégorie de l'opération : prestations de services.",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(!text.contains("débits"), "no VAT-on-debits option: {text}");
}

#[tokio::test]
async fn the_vat_on_debits_option_and_the_sellers_identity_come_from_the_configuration() {
    let app = spawn_app_with(&[
        ("COMPTOIR_SELLER_VAT_ON_DEBITS", "true"),
        ("COMPTOIR_SELLER_SIREN", "552 100 554"),
        (
            "COMPTOIR_SELLER_E_INVOICING_ADDRESS",
            "0225:552100554_FACTURES",
        ),
    ])
    .await;
    let (_, text) = french_invoice_text(&app).await;
    for expected in [
        "Option pour le paiement de la taxe d'après les débits.",
        "SIREN 552 100 554",
        "Adresse de facturation électronique : 0225:552100554_FACTURES",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
}
