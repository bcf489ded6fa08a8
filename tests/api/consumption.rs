use comptoir::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// An account with two teams and three users: Alice (Ventes), Bob (Support), Chloé (no team).
struct Fixture {
    account: String,
    alice: String,
    bob: String,
    chloe: String,
    sales: String,
    support: String,
}

async fn post_ok(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let res = app.post(path, token, &body).await;
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

async fn fixture(app: &TestApp) -> Fixture {
    let account = app.create_account("Télécom Ouest").await;
    let admin = app.admin(&account);
    let team = |name: &'static str| {
        let path = format!("/v1/accounts/{account}/teams");
        let admin = admin.clone();
        async move {
            post_ok(app, &path, &admin, json!({ "name": name })).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sales = team("Ventes").await;
    let support = team("Support").await;
    let user = |name: &'static str, email: &'static str, team: Option<String>| {
        let path = format!("/v1/accounts/{account}/users");
        let admin = admin.clone();
        async move {
            post_ok(
                app,
                &path,
                &admin,
                json!({ "name": name, "email": email, "team_id": team }),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    Fixture {
        alice: user("Alice Dupré", "alice@ouest.fr", Some(sales.clone())).await,
        bob: user("Bob Martin", "bob@ouest.fr", Some(support.clone())).await,
        chloe: user("Chloé Petit", "chloe@ouest.fr", None).await,
        account,
        sales,
        support,
    }
}

fn record(id: &str, at: &str, user: &str, cost: &str) -> Value {
    json!({
        "external_id": id,
        "occurred_at": at,
        "user_id": user,
        "kind": "call",
        "direction": "outbound",
        "destination": "+33184800123",
        "country": "FR",
        "duration_seconds": 125,
        "cost": cost,
    })
}

fn integration(app: &TestApp, account: &str) -> String {
    app.token(Role::Integration, Some(account))
}

async fn ingest(app: &TestApp, account: &str, records: Vec<Value>) -> reqwest::Response {
    app.post(
        &format!("/v1/accounts/{account}/consumption"),
        &integration(app, account),
        &json!({ "records": records }),
    )
    .await
}

async fn ingest_ok(app: &TestApp, account: &str, records: Vec<Value>) -> Value {
    let res = ingest(app, account, records).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Every record of the selection, following the cursors (3 per page).
async fn list_all(app: &TestApp, account: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/accounts/{account}/consumption?limit=3&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, &app.viewer(account)).await;
        assert_eq!(res.status(), 200, "{path}");
        let page: Value = res.json().await.unwrap();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn external_ids(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["external_id"].as_str().unwrap())
        .collect()
}

async fn balance(app: &TestApp, account: &str) -> String {
    let body: Value = app
        .get(
            &format!("/v1/accounts/{account}/credits"),
            &app.viewer(account),
        )
        .await
        .json()
        .await
        .unwrap();
    body["balance"].as_str().unwrap().to_owned()
}

async fn give_credits(app: &TestApp, account: &str, amount: &str) {
    post_ok(
        app,
        &format!("/v1/accounts/{account}/credits/adjustments"),
        &app.support(),
        json!({ "amount": amount, "reason": "goodwill" }),
    )
    .await;
}

/// Records on both sides of the end of April in Paris, for three users.
async fn april_and_may(app: &TestApp, f: &Fixture) {
    ingest_ok(
        app,
        &f.account,
        vec![
            record("a1", "2026-04-01T08:00:00Z", &f.alice, "0.00"),
            record("b1", "2026-04-15T09:30:00Z", &f.bob, "0.10"),
            // 21:59 UTC is 23:59 in Paris: still April 30.
            record("c1", "2026-04-30T21:59:59Z", &f.chloe, "0.20"),
            // 23:30 UTC on April 30 is 01:30 on May 1 in Paris.
            record("a2", "2026-04-30T23:30:00Z", &f.alice, "0.30"),
            json!({
                "external_id": "b2", "occurred_at": "2026-05-02T10:00:00+02:00", "user_id": f.bob,
                "kind": "sms", "direction": "outbound", "destination": "+447700900123",
                "country": "GB", "duration_seconds": 0, "cost": "0.05"
            }),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_batch_is_stored_with_each_users_team_and_listed_oldest_first() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let body = ingest_ok(
        &app,
        &f.account,
        vec![
            record("late", "2026-04-09T09:00:00Z", &f.bob, "0.00"),
            record("early", "2026-04-08T09:00:00.750+02:00", &f.alice, "0.00"),
        ],
    )
    .await;
    assert_eq!(
        body,
        json!({"inserted": 2, "duplicates": 0, "covered_by_credits": "0.00", "billable": "0.00", "currency": "EUR"})
    );
    let all = list_all(&app, &f.account, "").await;
    assert_eq!(external_ids(&all), ["early", "late"]);
    assert_eq!(
        all[0]["occurred_at"], "2026-04-08T07:00:00Z",
        "kept to the second, in UTC"
    );
    assert_eq!(all[0]["team_id"], f.sales.as_str());
    assert_eq!(all[1]["team_id"], f.support.as_str());
    assert_eq!(all[1]["destination"], "+33184800123");
    assert!(
        app.audit_actions(&f.account)
            .await
            .contains(&"consumption.ingested".to_owned())
    );
}

#[tokio::test]
async fn re_sending_a_batch_adds_nothing_and_debits_nothing_twice() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    give_credits(&app, &f.account, "10.00").await;
    let batch = vec![
        record("r1", "2026-04-08T09:00:00Z", &f.alice, "1.50"),
        record("r2", "2026-04-08T09:05:00Z", &f.bob, "2.00"),
    ];
    let first = ingest_ok(&app, &f.account, batch.clone()).await;
    assert_eq!(first["inserted"], 2);
    assert_eq!(first["covered_by_credits"], "3.50");
    let mut again = batch.clone();
    again.push(record("r3", "2026-04-08T09:10:00Z", &f.bob, "1.00"));
    again.push(record("r3", "2026-04-08T09:10:00Z", &f.bob, "1.00"));
    let second = ingest_ok(&app, &f.account, again).await;
    assert_eq!(second["inserted"], 1, "only r3 is new");
    assert_eq!(second["duplicates"], 3, "r1, r2 and the repeated r3");
    assert_eq!(second["covered_by_credits"], "1.00");
    assert_eq!(list_all(&app, &f.account, "").await.len(), 3);
    assert_eq!(balance(&app, &f.account).await, "5.50");
}

#[tokio::test]
async fn one_bad_record_rejects_the_batch_naming_each_bad_record_and_stores_nothing() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    give_credits(&app, &f.account, "10.00").await;
    let mut bad_destination = record("x2", "2026-04-08T09:00:00Z", &f.alice, "1.00");
    bad_destination["destination"] = json!("0184800123");
    let mut bad_many = record("x3", "yesterday", "usr_unknown", "-1.00");
    bad_many["kind"] = json!("fax");
    let res = ingest(
        &app,
        &f.account,
        vec![
            record("x1", "2026-04-08T09:00:00Z", &f.alice, "1.00"),
            bad_destination,
            bad_many,
            record("x4", "2026-04-08T09:00:00Z", &f.alice, "0.001"),
        ],
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "records.1.destination",
            "records.2.cost",
            "records.2.kind",
            "records.2.occurred_at",
            "records.2.user_id",
            "records.3.cost",
        ]
    );
    assert!(list_all(&app, &f.account, "").await.is_empty());
    assert_eq!(balance(&app, &f.account).await, "10.00");
    assert!(
        !app.audit_actions(&f.account)
            .await
            .contains(&"consumption.ingested".to_owned())
    );
    // A wrong JSON type is named too, and a batch must hold 1 to 10,000 records.
    let mut wrong_type = record("y1", "2026-04-08T09:00:00Z", &f.alice, "1.00");
    wrong_type["duration_seconds"] = json!("long");
    let body = assert_problem(
        ingest(&app, &f.account, vec![wrong_type]).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "records.0.duration_seconds");
    assert_problem(
        ingest(&app, &f.account, vec![]).await,
        422,
        "validation_failed",
    )
    .await;
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| record(&format!("z{i}"), "2026-04-08T09:00:00Z", &f.alice, "0.00"))
        .collect();
    assert_problem(
        ingest(&app, &f.account, too_many).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(list_all(&app, &f.account, "").await.is_empty());
}

#[tokio::test]
async fn credits_pay_what_they_can_and_the_rest_is_billable() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    give_credits(&app, &f.account, "1.00").await;
    let body = ingest_ok(
        &app,
        &f.account,
        vec![
            record("c1", "2026-04-08T09:00:00Z", &f.alice, "0.40"),
            record("c2", "2026-04-08T09:01:00Z", &f.alice, "0.40"),
            record("c3", "2026-04-08T09:02:00Z", &f.bob, "0.40"),
            record("c4", "2026-04-08T09:03:00Z", &f.bob, "0.00"),
        ],
    )
    .await;
    assert_eq!(body["covered_by_credits"], "1.00");
    assert_eq!(body["billable"], "0.20");
    assert_eq!(balance(&app, &f.account).await, "0.00");
    let all = list_all(&app, &f.account, "").await;
    let billable: Vec<&str> = all
        .iter()
        .map(|r| r["billable"].as_str().unwrap())
        .collect();
    assert_eq!(billable, ["0.00", "0.00", "0.20", "0.00"]);
    // With no credits left, the next batch is billable whole.
    let body = ingest_ok(
        &app,
        &f.account,
        vec![record("c5", "2026-04-08T10:00:00Z", &f.bob, "2.50")],
    )
    .await;
    assert_eq!(body["covered_by_credits"], "0.00");
    assert_eq!(body["billable"], "2.50");
    let summary: Value = app
        .get(
            &format!("/v1/accounts/{}/consumption/summary", f.account),
            &app.viewer(&f.account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["total"]["cost"], "3.70");
    assert_eq!(summary["total"]["billable"], "2.70");
}

#[tokio::test]
async fn the_date_range_is_read_in_the_accounts_timezone() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let april = list_all(&app, &f.account, "from=2026-04-01&to=2026-04-30").await;
    assert_eq!(external_ids(&april), ["a1", "b1", "c1"]);
    let may = list_all(&app, &f.account, "from=2026-05-01&to=2026-05-31").await;
    assert_eq!(
        external_ids(&may),
        ["a2", "b2"],
        "23:30 UTC on April 30 is May in Paris"
    );
    // Instants: from included, to excluded.
    let instants = list_all(
        &app,
        &f.account,
        "from=2026-04-30T21:59:59Z&to=2026-04-30T23:30:00Z",
    )
    .await;
    assert_eq!(external_ids(&instants), ["c1"]);
    let path = format!(
        "/v1/accounts/{}/consumption?from=2026-05-01&to=2026-04-01",
        f.account
    );
    let body = assert_problem(
        app.get(&path, &app.viewer(&f.account)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "to");
    let path = format!("/v1/accounts/{}/consumption?from=April", f.account);
    assert_problem(
        app.get(&path, &app.viewer(&f.account)).await,
        422,
        "validation_failed",
    )
    .await;
    let path = format!("/v1/accounts/{}/consumption?cursor=bm9wZQ", f.account);
    assert_problem(
        app.get(&path, &app.viewer(&f.account)).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn team_user_and_kind_filters_select_their_records() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let sales = list_all(&app, &f.account, &format!("team_id={}", f.sales)).await;
    assert_eq!(external_ids(&sales), ["a1", "a2"]);
    let bob = list_all(&app, &f.account, &format!("user_id={}", f.bob)).await;
    assert_eq!(external_ids(&bob), ["b1", "b2"]);
    let sms = list_all(&app, &f.account, "kind=sms").await;
    assert_eq!(external_ids(&sms), ["b2"]);
    let bob_april = list_all(
        &app,
        &f.account,
        &format!("user_id={}&to=2026-04-30", f.bob),
    )
    .await;
    assert_eq!(external_ids(&bob_april), ["b1"]);
    let path = format!("/v1/accounts/{}/consumption?team_id=nope", f.account);
    assert_problem(
        app.get(&path, &app.viewer(&f.account)).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn the_summary_totals_by_user_and_by_team() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let summary: Value = app
        .get(
            &format!(
                "/v1/accounts/{}/consumption/summary?to=2026-05-31",
                f.account
            ),
            &app.viewer(&f.account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        summary["total"],
        json!({"count": 5, "duration_seconds": 500, "cost": "0.65", "billable": "0.65"})
    );
    let user = |id: &str| {
        summary["by_user"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(user(&f.alice)["name"], "Alice Dupré");
    assert_eq!(user(&f.alice)["count"], 2);
    assert_eq!(user(&f.alice)["cost"], "0.30");
    assert_eq!(user(&f.bob)["cost"], "0.15");
    assert_eq!(user(&f.bob)["duration_seconds"], 125);
    let team = |id: Value| {
        summary["by_team"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(team(json!(f.sales))["name"], "Ventes");
    assert_eq!(team(json!(f.sales))["count"], 2);
    assert_eq!(team(json!(f.support))["count"], 2);
    assert_eq!(team(Value::Null)["count"], 1, "Chloé is in no team");
    let april: Value = app
        .get(
            &format!(
                "/v1/accounts/{}/consumption/summary?from=2026-04-01&to=2026-04-30&team_id={}",
                f.account, f.support
            ),
            &app.viewer(&f.account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(april["total"]["count"], 1);
    assert_eq!(april["total"]["cost"], "0.10");
}

async fn export(
    app: &TestApp,
    account: &str,
    query: &str,
    lang: Option<&str>,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.request(
        Method::GET,
        &format!("/v1/accounts/{account}/consumption/export?{query}"),
        Some(&app.viewer(account)),
    );
    if let Some(l) = lang {
        req = req.header("Accept-Language", l);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200, "{query}");
    let headers = res.headers().clone();
    (headers, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_csv_export_holds_exactly_the_filtered_rows() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let (headers, body) = export(
        &app,
        &f.account,
        "format=csv&from=2026-04-01&to=2026-04-30",
        None,
    )
    .await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(&format!("consumption-{}-2026-04-09.csv", f.account)));
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert!(lines[0].starts_with("external_id,occurred_at,local_time,user_id,user_name"));
    assert_eq!(
        lines.len(),
        5,
        "header, 3 rows and the empty string after the last CRLF"
    );
    assert!(lines[1].starts_with("a1,2026-04-01T08:00:00Z,2026-04-01 10:00:00,"));
    assert!(lines[3].starts_with("c1,2026-04-30T21:59:59Z,2026-04-30 23:59:59,"));
    assert!(lines[2].contains(",Bob Martin,"));
    assert!(lines[2].ends_with(",call,outbound,+33184800123,FR,125,0.10,0.10,EUR"));
    assert!(
        !lines.iter().any(|l| l.starts_with("a2,")),
        "a2 is in May in Paris"
    );
    let (_, everyone) = export(&app, &f.account, "format=csv", None).await;
    assert_eq!(
        String::from_utf8(everyone).unwrap().matches("\r\n").count(),
        6
    );
}

#[tokio::test]
async fn the_html_export_is_a_standalone_page_with_the_rows_and_totals() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let query = format!("format=html&user_id={}", f.alice);
    let (headers, body) = export(&app, &f.account, &query, None).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(body).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("Consommation détaillée — Télécom Ouest"));
    assert_eq!(html.matches("<tr><td>").count(), 2, "Alice's two records");
    assert!(html.contains("<td>01/04/2026 10:00:00</td><td>Alice Dupré</td><td>Ventes</td><td>Appel</td><td>Sortant</td>"));
    assert!(html.contains("Total : 2 enregistrements"));
    assert!(html.contains("0,30\u{a0}€"));
    assert!(!html.contains("Bob Martin"));
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "no external assets"
    );
    assert!(html.trim_end().ends_with("</html>"));
    let (_, english) = export(&app, &f.account, &query, Some("en-US,en;q=0.9")).await;
    let english = String::from_utf8(english).unwrap();
    assert!(english.contains("Detailed consumption — Télécom Ouest"));
    assert!(english.contains("<td>2026-04-01 10:00:00</td><td>Alice Dupré</td><td>Ventes</td><td>Call</td><td>Outbound</td>"));
    assert!(english.contains("€0.30"));
}

fn pdf_text(bytes: &[u8]) -> String {
    let text = pdf_extract::extract_text_from_mem(bytes).expect("the PDF's text extracts");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_pdf_export_has_the_filtered_rows_page_numbers_and_totals_as_real_text() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let (headers, body) = export(
        &app,
        &f.account,
        "format=pdf&from=2026-04-01&to=2026-04-30",
        None,
    )
    .await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(body.starts_with(b"%PDF-"));
    let text = pdf_text(&body);
    assert!(
        text.contains("Consommation détaillée — Télécom Ouest"),
        "{text}"
    );
    assert!(text.contains("Page 1 / 1"), "{text}");
    for row in [
        "01/04/2026 10:00:00",
        "15/04/2026 11:30:00",
        "30/04/2026 23:59:59",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
    assert!(
        !text.contains("01/05/2026"),
        "May's records are not selected: {text}"
    );
    assert!(text.contains("Chloé Petit"));
    assert!(text.contains("Total : 3 enregistrements"), "{text}");
    assert!(text.contains("0,30 €"), "the totals' cost: {text}");
    let (_, english) = export(&app, &f.account, "format=pdf&kind=sms", Some("en")).await;
    let english = pdf_text(&english);
    assert!(english.contains("Detailed consumption"), "{english}");
    assert!(english.contains("+447700900123"));
    assert!(english.contains("Total : 1 records"), "{english}");
    assert!(!english.contains("+33184800123"));
}

#[tokio::test]
async fn a_long_pdf_export_numbers_its_pages() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let records: Vec<Value> = (0..100)
        .map(|i| {
            record(
                &format!("p{i:03}"),
                &format!("2026-04-08T09:{:02}:{:02}Z", i / 60, i % 60),
                &f.alice,
                "0.01",
            )
        })
        .collect();
    ingest_ok(&app, &f.account, records).await;
    let (_, body) = export(&app, &f.account, "format=pdf", None).await;
    let text = pdf_text(&body);
    assert!(text.contains("Page 1 / 4"), "{text}");
    assert!(text.contains("Page 4 / 4"), "{text}");
    assert!(!text.contains("Page 5"));
    assert!(text.contains("Total : 100 enregistrements"));
    assert!(text.contains("1,00 €"));
}

#[tokio::test]
async fn another_accounts_consumption_is_never_seen_or_written() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    april_and_may(&app, &f).await;
    let other = app.create_account("Autre").await;
    for path in [
        "consumption",
        "consumption/summary",
        "consumption/export?format=csv",
    ] {
        let path = format!("/v1/accounts/{}/{path}", f.account);
        assert_problem(app.get(&path, &app.admin(&other)).await, 404, "not_found").await;
    }
    let res = app
        .post(
            &format!("/v1/accounts/{}/consumption", f.account),
            &integration(&app, &other),
            &json!({ "records": [record("evil", "2026-04-08T09:00:00Z", &f.alice, "0.00")] }),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    // The other account cannot use this account's users either.
    let res = ingest(
        &app,
        &other,
        vec![record("mine", "2026-04-08T09:00:00Z", &f.alice, "0.00")],
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "records.0.user_id");
    assert!(list_all(&app, &other, "").await.is_empty());
    assert_eq!(list_all(&app, &f.account, "").await.len(), 5);
}

#[tokio::test]
async fn only_integrations_and_staff_ingest_and_integrations_do_not_read() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let path = format!("/v1/accounts/{}/consumption", f.account);
    let body = json!({ "records": [record("r", "2026-04-08T09:00:00Z", &f.alice, "0.00")] });
    for token in [app.admin(&f.account), app.viewer(&f.account)] {
        assert_problem(app.post(&path, &token, &body).await, 403, "forbidden").await;
    }
    assert_eq!(app.post(&path, &app.support(), &body).await.status(), 200);
    let res = app.get(&path, &integration(&app, &f.account)).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app.request(Method::GET, &path, None).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn concurrent_copies_of_a_batch_store_it_once_and_debit_it_once() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    give_credits(&app, &f.account, "100.00").await;
    let batch: Vec<Value> = (0..50)
        .map(|i| record(&format!("k{i}"), "2026-04-08T09:00:00Z", &f.bob, "0.10"))
        .collect();
    let sends = (0..8).map(|_| ingest(&app, &f.account, batch.clone()));
    let mut inserted = 0;
    for res in futures_util::future::join_all(sends).await {
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        inserted += body["inserted"].as_u64().unwrap();
    }
    assert_eq!(inserted, 50);
    assert_eq!(list_all(&app, &f.account, "").await.len(), 50);
    assert_eq!(balance(&app, &f.account).await, "95.00");
}

#[tokio::test]
async fn every_filter_is_served_from_an_index_in_list_order() {
    use comptoir::domain::consumption::{Filter, Kind, Position};
    use comptoir::domain::ids::{AccountId, ConsumptionId, TeamId, UserId};
    let app = spawn_app().await;
    let account = AccountId::parse(&app.create_account("Plans").await).unwrap();
    let at = time::macros::datetime!(2026-04-01 00:00 UTC);
    let after = Position {
        occurred_at: at,
        id: ConsumptionId::generate(),
    };
    let filters = [
        (Filter::default(), "consumption_by_time"),
        (
            Filter {
                from: Some(at),
                to: Some(at + time::Duration::days(30)),
                ..Filter::default()
            },
            "consumption_by_time",
        ),
        (
            Filter {
                user_id: Some(UserId::generate()),
                from: Some(at),
                ..Filter::default()
            },
            "consumption_by_user",
        ),
        (
            Filter {
                team_id: Some(TeamId::generate()),
                kind: Some(Kind::Sms),
                ..Filter::default()
            },
            "consumption_by_team",
        ),
    ];
    for (filter, index) in filters {
        let mut tx = app.store.begin_read().await.unwrap();
        let plan = tx
            .consumption_plan(&account, &filter, &after)
            .await
            .unwrap();
        let indexed = plan.contains(&format!("INDEX {index} "))
            || plan.contains(&format!("Index Scan using {index} "));
        assert!(indexed, "{filter:?} should use {index}:\n{plan}");
        for sort in ["TEMP B-TREE", "Sort"] {
            assert!(!plan.contains(sort), "no sort for {filter:?}:\n{plan}");
        }
    }
}
