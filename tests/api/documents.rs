use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(size, b'x');
    bytes
}

fn form(name: &str, doc_type: &str, file_name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .text("name", name.to_owned())
        .text("type", doc_type.to_owned())
        .part("file", Part::bytes(bytes).file_name(file_name.to_owned()))
}

async fn upload(app: &TestApp, account: &str, token: &str, form: Form) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/v1/accounts/{account}/documents"),
        Some(token),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

async fn document_count(app: &TestApp, account: &str) -> usize {
    let list: Value = app
        .get(&format!("/v1/accounts/{account}/documents"), &app.support())
        .await
        .json()
        .await
        .unwrap();
    list["data"].as_array().unwrap().len()
}

fn stored_files(app: &TestApp) -> usize {
    let dir = app.blobs.root().join("documents");
    walk(&dir)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { walk(&p) } else { 1 })
            .sum()
    })
}

#[tokio::test]
async fn an_uploaded_pdf_downloads_as_the_same_bytes_with_its_type_and_name() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let bytes = pdf(300_000);
    let res = upload(
        &app,
        &account,
        &app.admin(&account),
        form(
            "Kbis 2026",
            "company_registration",
            "kbis.pdf",
            bytes.clone(),
        ),
    )
    .await;
    assert_eq!(res.status(), 201);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["id"].as_str().unwrap().starts_with("doc_"));
    assert_eq!(doc["type"], "company_registration");
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["size"], 300_000);
    assert_eq!(doc["sha256"], hex::encode(Sha256::digest(&bytes)));

    let path = format!(
        "/v1/accounts/{account}/documents/{}",
        doc["id"].as_str().unwrap()
    );
    let meta: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta, doc);
    let res = app
        .get(&format!("{path}/content"), &app.admin(&account))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("Kbis 2026.pdf"), "{disposition}");
    let downloaded = res.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&downloaded)),
        doc["sha256"].as_str().unwrap()
    );
    assert_eq!(app.audit_actions(&account).await[0], "document.uploaded");
}

#[tokio::test]
async fn png_and_jpeg_are_recognised_from_their_bytes() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    for (bytes, mime, file) in [(png, "image/png", "id.bin"), (jpeg, "image/jpeg", "id.pdf")] {
        let res = upload(
            &app,
            &account,
            &app.admin(&account),
            form("ID", "identity", file, bytes),
        )
        .await;
        assert_eq!(res.status(), 201);
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["content_type"], mime);
    }
}

#[tokio::test]
async fn a_file_renamed_pdf_that_is_not_a_pdf_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let fake = b"MZ\x90\0 this is an executable, honest".to_vec();
    let f = Form::new()
        .text("name", "Kbis")
        .text("type", "company_registration")
        .part(
            "file",
            Part::bytes(fake)
                .file_name("kbis.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = upload(&app, &account, &app.admin(&account), f).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "file");
    assert_eq!(document_count(&app, &account).await, 0);
    assert_eq!(stored_files(&app), 0);
    assert_eq!(app.blobs.temp_files(), 0);
}

#[tokio::test]
async fn an_11_mib_upload_is_413_and_leaves_no_file_or_row() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let res = upload(
        &app,
        &account,
        &app.admin(&account),
        form("Big", "other", "big.pdf", pdf(11 * 1024 * 1024)),
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
    assert_eq!(document_count(&app, &account).await, 0);
    assert_eq!(stored_files(&app), 0);
    assert_eq!(app.blobs.temp_files(), 0);
    // Exactly 10 MiB is fine.
    let res = upload(
        &app,
        &account,
        &app.admin(&account),
        form("Max", "other", "max.pdf", pdf(10 * 1024 * 1024)),
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn missing_or_unknown_fields_and_non_multipart_bodies_are_refused() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let no_type = Form::new().part("file", Part::bytes(pdf(100)).file_name("a.pdf"));
    let res = upload(&app, &account, &admin, no_type).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "type");
    let no_file = Form::new().text("name", "x").text("type", "other");
    let res = upload(&app, &account, &admin, no_file).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "file");
    let bad_type = form("x", "passport", "a.pdf", pdf(100));
    let res = upload(&app, &account, &admin, bad_type).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/documents"),
            &admin,
            &json!({"name": "x"}),
        )
        .await;
    assert_problem(res, 415, "unsupported_media_type").await;
    assert_eq!(document_count(&app, &account).await, 0);
    assert_eq!(app.blobs.temp_files(), 0);
}

#[tokio::test]
async fn contracts_are_uploaded_and_deleted_by_staff_only() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let res = upload(
        &app,
        &account,
        &admin,
        form("Contrat", "contract", "c.pdf", pdf(1000)),
    )
    .await;
    assert_problem(res, 403, "requires_support").await;
    assert_eq!(app.blobs.temp_files(), 0);
    let res = upload(
        &app,
        &account,
        &app.support(),
        form("Contrat", "contract", "c.pdf", pdf(1000)),
    )
    .await;
    assert_eq!(res.status(), 201);
    let doc: Value = res.json().await.unwrap();
    let path = format!(
        "/v1/accounts/{account}/documents/{}",
        doc["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "requires_support").await;
    let res = app
        .request(Method::DELETE, &path, Some(&app.support()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(stored_files(&app), 0);
}

#[tokio::test]
async fn a_document_cited_by_a_pending_change_request_cannot_be_deleted() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    let doc: Value = upload(
        &app,
        &account,
        &admin,
        form("Kbis", "company_registration", "k.pdf", pdf(500)),
    )
    .await
    .json()
    .await
    .unwrap();
    let address = json!({"company_name": "Acme", "line1": "1 rue A", "postal_code": "75001", "city": "Paris", "country": "FR"});
    let created: Value = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &admin,
            &address,
        )
        .await
        .json()
        .await
        .unwrap();
    let mut change = address.clone();
    change["city"] = json!("Lyon");
    change["document_id"] = doc["id"].clone();
    let addr = created["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses/{addr}/change-requests"),
            &admin,
            &change,
        )
        .await;
    assert_eq!(res.status(), 201);
    let request: Value = res.json().await.unwrap();
    assert_eq!(request["document_id"], doc["id"]);

    let path = format!(
        "/v1/accounts/{account}/documents/{}",
        doc["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "document_in_use").await;

    let approve = format!(
        "/v1/accounts/{account}/billing-address-change-requests/{}/approve",
        request["id"].as_str().unwrap()
    );
    app.request(Method::POST, &approve, Some(&app.support()))
        .send()
        .await
        .unwrap();
    let res = app
        .request(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn a_change_request_cannot_cite_another_accounts_document() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let theirs: Value = upload(
        &app,
        &other,
        &app.admin(&other),
        form("Kbis", "company_registration", "k.pdf", pdf(500)),
    )
    .await
    .json()
    .await
    .unwrap();
    let admin = app.admin(&account);
    let address = json!({"company_name": "Acme", "line1": "1 rue A", "postal_code": "75001", "city": "Paris", "country": "FR"});
    let created: Value = app
        .post(
            &format!("/v1/accounts/{account}/billing-addresses"),
            &admin,
            &address,
        )
        .await
        .json()
        .await
        .unwrap();
    let mut change = address.clone();
    change["document_id"] = theirs["id"].clone();
    let res = app
        .post(
            &format!(
                "/v1/accounts/{account}/billing-addresses/{}/change-requests",
                created["id"].as_str().unwrap()
            ),
            &admin,
            &change,
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "document_id");
}

#[tokio::test]
async fn another_accounts_document_is_404_everywhere_and_viewers_cannot_upload() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let doc: Value = upload(
        &app,
        &account,
        &app.admin(&account),
        form("Kbis", "company_registration", "k.pdf", pdf(500)),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = doc["id"].as_str().unwrap();
    let intruder = app.admin(&other);
    for path in [
        format!("/v1/accounts/{account}/documents/{id}"),
        format!("/v1/accounts/{account}/documents/{id}/content"),
        format!("/v1/accounts/{other}/documents/{id}"),
        format!("/v1/accounts/{other}/documents/{id}/content"),
    ] {
        assert_problem(app.get(&path, &intruder).await, 404, "not_found").await;
    }
    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/accounts/{account}/documents/{id}"),
            Some(&intruder),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = upload(
        &app,
        &account,
        &intruder,
        form("x", "other", "x.pdf", pdf(100)),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = upload(
        &app,
        &account,
        &app.viewer(&account),
        form("x", "other", "x.pdf", pdf(100)),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(document_count(&app, &account).await, 1);
}

#[tokio::test]
async fn documents_are_listed_by_type() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let admin = app.admin(&account);
    for t in ["company_registration", "identity", "identity", "other"] {
        let res = upload(&app, &account, &admin, form("d", t, "d.pdf", pdf(100))).await;
        assert_eq!(res.status(), 201);
    }
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/documents?type=identity"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["identity", "identity"]);
}

#[tokio::test]
async fn a_form_declaring_more_than_one_document_is_413_before_anything_is_written() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    // Thirty 9 MiB files would be 270 MiB: two 6 MiB ones already pass the
    // form's limit (one document and its fields), and the declared length says so.
    let big = Form::new()
        .text("type", "other")
        .part("file", Part::bytes(pdf(6 << 20)).file_name("a.pdf"))
        .part("file", Part::bytes(pdf(6 << 20)).file_name("b.pdf"));
    let res = upload(&app, &account, &app.admin(&account), big).await;
    assert_eq!(res.headers()["connection"], "close");
    assert_problem(res, 413, "payload_too_large").await;
    assert_eq!(app.blobs.temp_files(), 0);
    assert_eq!(document_count(&app, &account).await, 0);
}

#[tokio::test]
async fn a_second_file_in_one_form_is_refused_and_leaves_nothing_behind() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let two = Form::new()
        .text("type", "other")
        .part("file", Part::bytes(pdf(1000)).file_name("a.pdf"))
        .part("file", Part::bytes(pdf(1000)).file_name("b.pdf"));
    let res = upload(&app, &account, &app.admin(&account), two).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "file", "{problem}");
    assert_eq!(app.blobs.temp_files(), 0);
    assert_eq!(document_count(&app, &account).await, 0);
}

#[tokio::test]
async fn uploads_a_crash_left_half_written_are_removed_at_start_up() {
    let (store, dir) = crate::helpers::fresh_store().await;
    let data = dir.0.join("data");
    std::fs::create_dir_all(data.join("tmp")).unwrap();
    std::fs::write(data.join("tmp").join("0123.part"), b"%PDF half").unwrap();
    std::fs::create_dir_all(data.join("documents").join("acc_x")).unwrap();
    std::fs::write(data.join("documents").join("acc_x").join("doc"), b"kept").unwrap();
    let app = comptoir::Application::build(&crate::helpers::test_config(&data), store).unwrap();
    assert_eq!(app.blobs.temp_files(), 0);
    assert_eq!(
        std::fs::read(data.join("documents").join("acc_x").join("doc")).unwrap(),
        b"kept"
    );
}
