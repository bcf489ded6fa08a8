//! Stored e-invoices (SPEC.md section 10, issue 19): each issued invoice and
//! credit note is rendered once, when it is issued, and its Factur-X PDF,
//! CII and UBL are served byte for byte as stored, forever: across a
//! restart, whatever the reader's language, and checked against the
//! SHA-256 its JSON shows. A failed issue leaves no file once swept and
//! gives its number back; a file altered on disk is never served.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, fail_inserts_of, spawn_app, success_json};
use crate::invoice_payments::{invoice_of, issue_may_invoice, issued_invoice};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn download(app: &TestApp, account: &str, path: &str, lang: &str) -> Vec<u8> {
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/accounts/{account}/{path}"),
            Some(&app.viewer(account)),
        )
        .header("Accept-Language", lang)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.bytes().await.unwrap().to_vec()
}

/// The SHA-256 of each file, as the document's JSON says.
fn hashes(document: &Value) -> [String; 3] {
    let e = &document["e_invoice"];
    assert_eq!(e["format"], "factur-x", "{document}");
    assert_eq!(e["profile"], "EN 16931", "{document}");
    ["pdf", "cii", "ubl"].map(|f| {
        let sha = e[f]["sha256"]
            .as_str()
            .unwrap_or_else(|| panic!("{f}: {document}"));
        assert_eq!(sha.len(), 64);
        sha.to_owned()
    })
}

async fn full_credit_note(app: &TestApp, account: &str, invoice: &str) -> Value {
    success_json(
        app.post(
            &format!("/v1/accounts/{account}/invoices/{invoice}/credit-notes"),
            &app.support(),
            &serde_json::json!({"reason": "Facturé deux fois"}),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn an_issued_invoice_and_its_credit_note_are_served_as_stored_across_a_restart() {
    let app = spawn_app().await;
    let (account, invoice) = issued_invoice(&app, "Stocke").await;
    let body = invoice_of(&app, &account, &invoice).await;
    let [pdf, _, _] = hashes(&body);
    let first = download(&app, &account, &format!("invoices/{invoice}/pdf"), "fr").await;
    assert_eq!(sha256(&first), pdf);
    assert_eq!(
        body["e_invoice"]["pdf"]["size"].as_u64(),
        Some(first.len() as u64)
    );
    // The reader's language changes nothing: the PDF is the one issued.
    let english = download(&app, &account, &format!("invoices/{invoice}/pdf"), "en").await;
    assert_eq!(english, first);

    let note = full_credit_note(&app, &account, &invoice).await;
    let note_id = note["id"].as_str().unwrap().to_owned();
    let [note_pdf, _, _] = hashes(&note);
    let note_bytes = download(&app, &account, &format!("credit-notes/{note_id}/pdf"), "fr").await;
    assert_eq!(sha256(&note_bytes), note_pdf);
    // The lists show the same files as the documents.
    let list = success_json(
        app.get(
            &format!("/v1/accounts/{account}/invoices"),
            &app.viewer(&account),
        )
        .await,
    )
    .await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == invoice.as_str())
        .unwrap();
    assert_eq!(listed["e_invoice"], body["e_invoice"]);
    let notes = success_json(
        app.get(
            &format!("/v1/accounts/{account}/credit-notes"),
            &app.viewer(&account),
        )
        .await,
    )
    .await;
    assert_eq!(notes["data"][0]["e_invoice"], note["e_invoice"]);

    // Another server on the same database and files: the same bytes.
    let later = app.restarted(&[]);
    later.clock.set(app.clock.now() + time::Duration::days(40));
    let again = download(&later, &account, &format!("invoices/{invoice}/pdf"), "fr").await;
    assert_eq!(again, first);
    let again = download(
        &later,
        &account,
        &format!("credit-notes/{note_id}/pdf"),
        "fr",
    )
    .await;
    assert_eq!(again, note_bytes);
    // Its JSON still names the same files (only its status moved on).
    let body_later = invoice_of(&later, &account, &invoice).await;
    assert_eq!(body_later["e_invoice"], body["e_invoice"]);
    assert_eq!(body_later["status"], "credited");
}

#[tokio::test]
async fn an_issue_that_fails_after_its_files_are_written_leaves_none_once_swept_and_no_gap() {
    let app = spawn_app().await;
    let failing = app.create_billable_account("Echec").await;
    fail_inserts_of(&app, "e_invoices", &failing).await;
    let user = app.create_user(&failing, "Léa", "lea@echec.fr").await;
    let res = app
        .post(
            &format!("/v1/accounts/{failing}/consumption"),
            &app.token(comptoir::domain::role::Role::Integration, Some(&failing)),
            &serde_json::json!({"records": [{
                "external_id": "call-1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 60, "cost": "10.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The run reports the account as failed: its files were written, the
    // row naming them was refused, and the transaction rolled back.
    app.clock.set(crate::invoice_payments::BILLED_AT);
    let run = crate::invoices::bill(&app, "2026-05").await;
    assert_eq!(run["failed"][0]["account_id"], failing.as_str(), "{run}");
    let written = app.blobs.e_invoice_files().unwrap().len();
    assert_eq!(written, 3, "{run}");
    let swept = comptoir::service::einvoices::sweep(&app.store, &app.blobs, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(swept, written, "{run}");
    assert_eq!(app.blobs.e_invoice_files().unwrap().len(), 0);
    // The number the failed issue took was given back.
    let (account, invoice) = issued_invoice(&app, "Suivant").await;
    let body = invoice_of(&app, &account, &invoice).await;
    assert_eq!(body["number"], "F-2026-000001", "{body}");
    // That run tried the failing account again (3 more orphans): the sweep
    // removes those and leaves the files of the issued invoice alone.
    let swept = comptoir::service::einvoices::sweep(&app.store, &app.blobs, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(swept, 3);
    let left = app.blobs.e_invoice_files().unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|f| f.account == account));
    let [pdf, _, _] = hashes(&body);
    let bytes = download(&app, &account, &format!("invoices/{invoice}/pdf"), "fr").await;
    assert_eq!(sha256(&bytes), pdf);
}

#[tokio::test]
async fn a_file_altered_on_disk_is_never_served() {
    let app = spawn_app().await;
    let (account, invoice) = issued_invoice(&app, "Altere").await;
    let body = invoice_of(&app, &account, &invoice).await;
    let [pdf, _, _] = hashes(&body);
    let path = app
        .blobs
        .root()
        .join("einvoices")
        .join(&account)
        .join(format!("{pdf}.pdf"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{invoice}/pdf"),
            &app.viewer(&account),
        )
        .await;
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn an_invoice_issued_before_e_invoices_were_stored_gets_them_once_on_first_download() {
    let app = spawn_app().await;
    let (account, invoice) = issued_invoice(&app, "Ancien").await;
    // As if issued before migration 0018: no row, no files.
    let sql =
        format!("DELETE FROM e_invoices WHERE document_id = '{invoice}' RETURNING document_id");
    assert_eq!(app.rows::<(String,)>(&sql).await.len(), 1);
    for f in app.blobs.e_invoice_files().unwrap() {
        app.blobs.remove_file(&f).unwrap();
    }
    assert_eq!(
        invoice_of(&app, &account, &invoice).await["e_invoice"],
        Value::Null
    );
    let first = download(&app, &account, &format!("invoices/{invoice}/pdf"), "fr").await;
    let body = invoice_of(&app, &account, &invoice).await;
    let [pdf, _, _] = hashes(&body);
    assert_eq!(sha256(&first), pdf);
    let later = app.restarted(&[]);
    later.clock.set(app.clock.now() + time::Duration::days(400));
    let again = download(&later, &account, &format!("invoices/{invoice}/pdf"), "en").await;
    assert_eq!(again, first);
}

#[tokio::test]
async fn an_account_issuing_in_english_gets_its_e_invoice_pdf_in_english() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &serde_json::json!({"name": "Anglo Ltd", "invoice_language": "en"}),
        )
        .await;
    let account = success_json(res).await;
    assert_eq!(account["invoice_language"], "en");
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &serde_json::json!({"name": "Gaulois SAS"}),
        )
        .await;
    assert_eq!(success_json(res).await["invoice_language"], "fr");
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &serde_json::json!({"name": "Klingon", "invoice_language": "tlh"}),
        )
        .await;
    crate::helpers::assert_problem(res, 422, "validation_failed").await;

    let anglo = account["id"].as_str().unwrap().to_owned();
    app.add_verified_address(
        &anglo,
        &serde_json::json!({"company_name": "Anglo Ltd", "line1": "1 rue de la Paix",
                            "postal_code": "75002", "city": "Paris", "country": "FR"}),
    )
    .await;
    let invoice = issue_may_invoice(&app, &anglo, "Anglo").await;
    let pdf = download(&app, &anglo, &format!("invoices/{invoice}/pdf"), "fr").await;
    let text = crate::helpers::pdf_text_of(&pdf);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Invoice no. F-2026-000001"), "{text}");
}

#[tokio::test]
async fn a_french_buyer_saved_without_its_siren_gets_the_one_in_its_vat_number() {
    let app = spawn_app().await;
    let account = app.create_account("Sans Siren").await;
    app.add_verified_address(
        &account,
        &serde_json::json!({"company_name": "Sans Siren SA", "line1": "1 rue de la Paix",
                            "postal_code": "75002", "city": "Paris", "country": "FR",
                            "vat_number": "FR40303265045"}),
    )
    .await;
    let invoice = issue_may_invoice(&app, &account, "SansSiren").await;
    let body = invoice_of(&app, &account, &invoice).await;
    assert_eq!(body["billing_address"]["siren"], "303265045", "{body}");
    let cii = download(&app, &account, &format!("invoices/{invoice}/cii.xml"), "fr").await;
    let cii = String::from_utf8(cii).unwrap();
    assert!(
        cii.contains(r#"<ram:ID schemeID="0002">303265045</ram:ID>"#)
            || cii.contains(r#"schemeID="0002">303265045<"#),
        "{cii}"
    );
}
