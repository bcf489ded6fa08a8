//! E-invoicing through the seller's approved platform (PA, issue 19): a
//! stand-in platform, spawned by each test, takes deposits (multipart
//! `metadata` + `file`) and statuses, refuses them, or is down for a while;
//! the outbox retries with backoff, survives a restart and sends each
//! message once with two workers; the signed webhook records the lifecycle
//! statuses; a payment queues a 212; staff see what needs a credit note.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use comptoir::config::Secret;
use comptoir::domain::role::Role;
use comptoir::service::outbox::{Pass, Settings};
use comptoir::service::pa_delivery;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::credits::signed;
use crate::helpers::{
    PA_WEBHOOK_SECRET, TestApp, WEBHOOK_SECRET, assert_problem, spawn_app, success_json,
};
use crate::invoice_payments::{BILLED_AT, invoice_of, issued_invoice, pay, transfer};

const PA_TOKEN: &str = "pa-token-0123";

/// How the stand-in answers deposits.
#[derive(Debug, Clone)]
enum Mode {
    /// 201 with the next `pa-<n>` id.
    Accept,
    /// 422 with this reason.
    Reject(&'static str),
}

/// A deposit the stand-in received.
#[derive(Debug, Clone)]
struct Deposit {
    metadata: Value,
    file: Vec<u8>,
    file_name: Option<String>,
    file_type: Option<String>,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    /// The id it answered.
    platform_id: Option<String>,
}

/// A status the stand-in received.
#[derive(Debug, Clone)]
struct Status {
    platform_id: String,
    body: Value,
}

#[derive(Clone)]
struct Shared {
    mode: Arc<Mutex<Mode>>,
    /// Requests answered 503 before it works again.
    down_for: Arc<Mutex<usize>>,
    /// The idempotency keys of every request, answered or not.
    keys: Arc<Mutex<Vec<String>>>,
    deposits: Arc<Mutex<Vec<Deposit>>>,
    statuses: Arc<Mutex<Vec<Status>>>,
}

/// The stand-in platform: `POST /pa/invoices`, `POST /pa/invoices/{id}/statuses`.
struct StandIn {
    url: String,
    shared: Shared,
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Counts the request; `true` while the platform is down.
fn down(shared: &Shared, req: &HttpRequest) -> bool {
    shared
        .keys
        .lock()
        .unwrap()
        .push(header(req, "Idempotency-Key").unwrap_or_default());
    let mut down = shared.down_for.lock().unwrap();
    if *down > 0 {
        *down -= 1;
        return true;
    }
    false
}

async fn deposit(shared: web::Data<Shared>, req: HttpRequest, mut form: Multipart) -> HttpResponse {
    let (mut metadata, mut file, mut file_name, mut file_type) =
        (Value::Null, Vec::new(), None, None);
    while let Some(field) = form.next().await {
        let mut field = field.unwrap();
        let name = field.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        match name.as_str() {
            "metadata" => {
                assert_eq!(
                    field.content_type().unwrap().essence_str(),
                    "application/json"
                );
                metadata = serde_json::from_slice(&bytes).unwrap();
            }
            "file" => {
                file_name = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .map(str::to_owned);
                file_type = field.content_type().map(|m| m.to_string());
                file = bytes;
            }
            other => panic!("unexpected part {other}"),
        }
    }
    if down(&shared, &req) {
        return HttpResponse::ServiceUnavailable().body("maintenance");
    }
    let mode = shared.mode.lock().unwrap().clone();
    let mut deposits = shared.deposits.lock().unwrap();
    let platform_id = match mode {
        Mode::Accept => Some(format!("pa-{}", deposits.len() + 1)),
        Mode::Reject(_) => None,
    };
    deposits.push(Deposit {
        metadata,
        file,
        file_name,
        file_type,
        authorization: header(&req, "Authorization"),
        idempotency_key: header(&req, "Idempotency-Key"),
        platform_id: platform_id.clone(),
    });
    match (mode, platform_id) {
        (Mode::Reject(reason), _) => {
            HttpResponse::UnprocessableEntity().json(json!({ "reason": reason }))
        }
        (Mode::Accept, id) => HttpResponse::Created().json(json!({ "id": id })),
    }
}

async fn status(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if down(&shared, &req) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    shared.statuses.lock().unwrap().push(Status {
        platform_id: path.into_inner(),
        body: body.into_inner(),
    });
    HttpResponse::Accepted().json(json!({}))
}

impl StandIn {
    async fn start() -> StandIn {
        let shared = Shared {
            mode: Arc::new(Mutex::new(Mode::Accept)),
            down_for: Arc::default(),
            keys: Arc::default(),
            deposits: Arc::default(),
            statuses: Arc::default(),
        };
        let data = web::Data::new(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/pa/invoices", web::post().to(deposit))
                .route("/pa/invoices/{id}/statuses", web::post().to(status))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        StandIn {
            url: format!("http://127.0.0.1:{port}/pa/invoices"),
            shared,
        }
    }

    fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    fn down_for(&self, requests: usize) {
        *self.shared.down_for.lock().unwrap() = requests;
    }

    fn deposits(&self) -> Vec<Deposit> {
        self.shared.deposits.lock().unwrap().clone()
    }

    fn statuses(&self) -> Vec<Status> {
        self.shared.statuses.lock().unwrap().clone()
    }

    fn keys(&self) -> Vec<String> {
        self.shared.keys.lock().unwrap().clone()
    }

    fn client(&self) -> comptoir::pa::Platform {
        comptoir::pa::Platform::new(
            &self.url,
            Some(Secret::new(PA_TOKEN)),
            Duration::from_secs(5),
        )
        .unwrap()
    }
}

fn settings() -> Settings {
    Settings {
        batch: 20,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(300),
        retry_base: Duration::from_secs(1),
        max_attempts: 4,
    }
}

/// One pass of the delivery worker towards the stand-in.
async fn deliver(app: &TestApp, pa: &StandIn, settings: &Settings) -> Pass {
    pa_delivery::deliver_due(&app.store, &app.blobs, &pa.client(), &app.clock, settings)
        .await
        .unwrap()
}

/// Passes until nothing is due.
async fn deliver_all(app: &TestApp, pa: &StandIn) {
    while deliver(app, pa, &settings()).await.claimed > 0 {}
}

async fn events(app: &TestApp, account: &str, invoice: &str) -> Vec<Value> {
    let body = success_json(
        app.get(
            &format!("/v1/accounts/{account}/invoices/{invoice}/e-invoicing-events"),
            &app.viewer(account),
        )
        .await,
    )
    .await;
    assert_eq!(body["next_cursor"], Value::Null, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap();
            match e["code"].as_str() {
                Some(code) => format!("{kind} {code}"),
                None => kind.to_owned(),
            }
        })
        .collect()
}

async fn e_invoicing(app: &TestApp, account: &str, invoice: &str) -> Value {
    invoice_of(app, account, invoice).await["e_invoicing"].clone()
}

async fn attention(app: &TestApp) -> Vec<Value> {
    let body = success_json(app.get("/v1/e-invoicing/attention", &app.support()).await).await;
    body["data"].as_array().unwrap().clone()
}

async fn audit(app: &TestApp, account: &str, action: &str) -> Vec<Value> {
    crate::invoice_payments::events(app, account, action).await
}

/// Delivers a platform event signed with `secret` at the business clock's now.
async fn pa_event_signed(app: &TestApp, body: &Value, secret: &str) -> reqwest::Response {
    let (raw, header) = signed(body, app.clock.now().unix_timestamp(), secret);
    app.request(Method::POST, "/v1/webhooks/e-invoicing", None)
        .header("Content-Type", "application/json")
        .header("Comptoir-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// Delivers it, signed right, and returns `applied`.
async fn pa_event(app: &TestApp, body: &Value) -> bool {
    let ack = success_json(pa_event_signed(app, body, PA_WEBHOOK_SECRET).await).await;
    assert_eq!(ack["received"], true);
    ack["applied"].as_bool().unwrap()
}

async fn credit_all(app: &TestApp, account: &str, invoice: &str) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/invoices/{invoice}/credit-notes"),
            &app.support(),
            &json!({"reason": "Rejected by the platform"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_issued_invoice_is_deposited_once_with_its_factur_x_and_metadata() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    // Queued in the issuing transaction; nothing is sent without a platform.
    let queued = e_invoicing(&app, &a, &inv).await;
    assert_eq!(queued["status"], "pending", "{queued}");
    assert_eq!(queued["code"], Value::Null);
    assert_eq!(queued["needs_credit_note"], false);
    assert_eq!(kinds(&events(&app, &a, &inv).await), ["queued"]);

    let pa = StandIn::start().await;
    let pass = deliver(&app, &pa, &settings()).await;
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    let deposits = pa.deposits();
    assert_eq!(deposits.len(), 1);
    let d = &deposits[0];
    let invoice = invoice_of(&app, &a, &inv).await;
    let number = invoice["number"].as_str().unwrap();
    let m = &d.metadata;
    assert_eq!(m["document_id"], inv.as_str());
    assert_eq!(m["number"], number);
    assert_eq!(m["type_code"], "380");
    assert_eq!(m["issue_date"], invoice["issue_date"]);
    assert_eq!(m["currency"], "EUR");
    assert_eq!(
        (
            &m["total_excluding_tax"],
            &m["tax_amount"],
            &m["total_including_tax"]
        ),
        (&json!("100.00"), &json!("20.00"), &json!("120.00"))
    );
    assert_eq!(m["seller"]["siren"], "912345675");
    assert_eq!(m["seller"]["vat_number"], "FR65912345675");
    assert_eq!(m["buyer"]["name"], "Acme SAS");
    assert_eq!(m["buyer"]["country"], "FR");
    // The file is the stored Factur-X, named by the number, with its hash.
    assert!(d.file.starts_with(b"%PDF"), "a PDF");
    assert_eq!(
        d.file_name.as_deref(),
        Some(format!("{number}.pdf").as_str())
    );
    assert_eq!(d.file_type.as_deref(), Some("application/pdf"));
    assert_eq!(m["file"]["sha256"], hex::encode(Sha256::digest(&d.file)));
    assert_eq!(m["file"]["size"], d.file.len());
    assert_eq!(d.authorization.as_deref(), Some("Bearer pa-token-0123"));
    assert!(d.idempotency_key.as_deref().unwrap().starts_with("eim_"));

    let deposited = e_invoicing(&app, &a, &inv).await;
    assert_eq!(deposited["status"], "transmitted", "{deposited}");
    assert_eq!(deposited["platform_id"], "pa-1");
    assert_eq!(d.platform_id.as_deref(), Some("pa-1"));
    let history = events(&app, &a, &inv).await;
    assert_eq!(kinds(&history), ["queued", "transmitted"]);
    assert!(history[1]["reason"].as_str().unwrap().contains("pa-1"));
    assert_eq!(audit(&app, &a, "e_invoice.transmitted").await.len(), 1);
    // The list shows it too; nothing is sent twice.
    let list = success_json(
        app.get(&format!("/v1/accounts/{a}/invoices"), &app.viewer(&a))
            .await,
    )
    .await;
    assert_eq!(list["data"][0]["e_invoicing"]["status"], "transmitted");
    assert_eq!(deliver(&app, &pa, &settings()).await, Pass::default());
    assert_eq!(pa.deposits().len(), 1);
}

#[tokio::test]
async fn the_buyers_siren_and_e_invoicing_address_are_sent_and_a_credit_note_is_381() {
    let app = spawn_app().await;
    let account = app.create_account("Dupont").await;
    app.add_verified_address(
        &account,
        &json!({"company_name": "Dupont SARL", "line1": "3 quai des Chartrons",
            "postal_code": "33000", "city": "Bordeaux", "country": "FR",
            "siren": "732829320", "e_invoicing_address": "0225:732829320"}),
    )
    .await;
    let user = app.create_user(&account, "Léa", "lea@dupont.fr").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(&account)),
            &json!({"records": [{
                "external_id": "x1", "occurred_at": "2026-04-08T09:00:00Z", "user_id": user,
                "kind": "call", "direction": "outbound", "destination": "+32470123456",
                "country": "BE", "duration_seconds": 60, "cost": "1.00"
            }]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let run = crate::invoices::bill(&app, "2026-05").await;
    let inv = run["issued"][0]["invoice_id"].as_str().unwrap().to_owned();
    let note = credit_all(&app, &account, &inv).await;
    let pa = StandIn::start().await;
    // The credit note waits while its invoice is not deposited.
    pa.down_for(1);
    let first = deliver(&app, &pa, &settings()).await;
    assert_eq!((first.claimed, first.retried), (1, 1));
    assert_eq!(deliver(&app, &pa, &settings()).await.claimed, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pa.deposits().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "never deposited");
        deliver(&app, &pa, &settings()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deposits = pa.deposits();
    assert_eq!(deposits.len(), 2, "the invoice, then its credit note");
    assert_eq!(deposits[0].metadata["document_id"], inv.as_str());
    let buyer = &deposits[0].metadata["buyer"];
    assert_eq!(buyer["siren"], "732829320");
    assert_eq!(buyer["e_invoicing_address"], "0225:732829320");
    let credit = &deposits[1].metadata;
    assert_eq!(credit["document_id"], note["id"]);
    assert_eq!(credit["type_code"], "381");
    assert_eq!(credit["number"], note["number"]);
    assert_eq!(
        credit["preceding_invoice"]["number"],
        run["issued"][0]["number"]
    );
    let path = format!(
        "/v1/accounts/{account}/credit-notes/{}/e-invoicing-events",
        note["id"].as_str().unwrap()
    );
    let body = success_json(app.get(&path, &app.viewer(&account)).await).await;
    assert_eq!(
        kinds(body["data"].as_array().unwrap()),
        ["queued", "transmitted"]
    );
}

#[tokio::test]
async fn an_acompte_invoice_is_deposited_as_386_then_its_212_with_the_amount_paid() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    assert_eq!(
        crate::payments::add_card(&app, &account, &crate::payments::visa())
            .await
            .status(),
        201
    );
    app.verified_french_address(&account).await;
    let top_up = success_json(
        app.post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({ "amount": "100.00" }),
        )
        .await,
    )
    .await;
    let event = json!({"id": "evt_top_up_1", "type": "top_up.succeeded",
        "data": {"top_up_id": top_up["id"]}});
    let (raw, header) = signed(&event, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    assert_eq!(
        crate::credits::deliver(&app, raw, &header).await.status(),
        200
    );
    let list = success_json(
        app.get(
            &format!("/v1/accounts/{account}/invoices"),
            &app.viewer(&account),
        )
        .await,
    )
    .await;
    let acompte = list["data"][0].clone();
    assert_eq!(acompte["kind"], "advance");
    let id = acompte["id"].as_str().unwrap();
    assert_eq!(
        kinds(&events(&app, &account, id).await),
        ["queued", "status_queued 212"]
    );
    let pa = StandIn::start().await;
    // The 212 waits for the deposit: the first pass sends the document only.
    let first = deliver(&app, &pa, &settings()).await;
    assert_eq!((first.claimed, first.sent), (1, 1));
    assert!(pa.statuses().is_empty());
    deliver_all(&app, &pa).await;
    assert_eq!(pa.deposits()[0].metadata["type_code"], "386");
    let statuses = pa.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].platform_id, "pa-1");
    let s = &statuses[0].body;
    assert_eq!(s["code"], "212");
    assert_eq!(s["amount"], "120.00");
    assert_eq!(s["currency"], "EUR");
    assert_eq!(s["collected_on"], "2026-04-09");
    assert_eq!(s["platform_id"], "pa-1");
    let summary = e_invoicing(&app, &account, id).await;
    assert_eq!(summary["status"], "collected");
    assert_eq!(summary["code"], "212");
    assert_eq!(
        kinds(&events(&app, &account, id).await),
        [
            "queued",
            "status_queued 212",
            "transmitted",
            "status_sent 212"
        ]
    );
}

#[tokio::test]
async fn a_deposit_the_platform_rejects_is_213_and_flagged_to_staff_until_credited() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let pa = StandIn::start().await;
    pa.set(Mode::Reject("BR-FR-11: the buyer's SIREN is missing"));
    let pass = deliver(&app, &pa, &settings()).await;
    assert_eq!((pass.claimed, pass.failed, pass.retried), (1, 1, 0));
    let rejected = e_invoicing(&app, &a, &inv).await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["code"], "213");
    assert_eq!(rejected["reason"], "BR-FR-11: the buyer's SIREN is missing");
    assert_eq!(rejected["needs_credit_note"], true);
    let history = events(&app, &a, &inv).await;
    assert_eq!(kinds(&history), ["queued", "rejected 213"]);
    assert_eq!(history[1]["status"], "rejected");
    // Staff see it, in their list and in the audit log; customers cannot list it.
    let listed = attention(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["document_id"], inv.as_str());
    assert_eq!(listed[0]["account_id"], a.as_str());
    assert_eq!(listed[0]["type_code"], "380");
    assert_eq!(listed[0]["e_invoicing"]["needs_credit_note"], true);
    let flagged = audit(&app, &a, "e_invoice.flagged").await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["target_id"], inv.as_str());
    assert_eq!(flagged[0]["after"]["code"], "213");
    for token in [
        app.admin(&a),
        app.viewer(&a),
        app.token(Role::Integration, Some(&a)),
    ] {
        let res = app.get("/v1/e-invoicing/attention", &token).await;
        assert_problem(res, 403, "forbidden").await;
    }
    // A rejection is not retried.
    assert_eq!(deliver(&app, &pa, &settings()).await.claimed, 0);
    // A payment of it reports nothing: it was never deposited.
    success_json(pay(&app, &a, &inv, &transfer("10.00")).await).await;
    assert_eq!(
        kinds(&events(&app, &a, &inv).await),
        [
            "queued",
            "rejected 213",
            "status_queued 212",
            "status_failed 212"
        ]
    );
    // A credit note of the whole invoice corrects it: off the list.
    pa.set(Mode::Accept);
    credit_all(&app, &a, &inv).await;
    assert!(attention(&app).await.is_empty());
    let corrected = e_invoicing(&app, &a, &inv).await;
    assert_eq!(corrected["status"], "rejected");
    assert_eq!(corrected["needs_credit_note"], false);
    deliver_all(&app, &pa).await;
    assert_eq!(
        pa.deposits().len(),
        2,
        "the rejected invoice, then the credit note"
    );
    assert!(pa.statuses().is_empty());
}

#[tokio::test]
async fn a_platform_down_for_a_while_is_retried_with_backoff_and_takes_the_document_once() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let pa = StandIn::start().await;
    pa.down_for(2);
    let first = deliver(&app, &pa, &settings()).await;
    assert_eq!(first.retried, 1);
    let waiting = e_invoicing(&app, &a, &inv).await;
    assert_eq!(waiting["status"], "pending");
    assert!(
        waiting["reason"].as_str().unwrap().contains("HTTP 503"),
        "{waiting}"
    );
    // Not due before its backoff (1 s, then 2 s).
    assert_eq!(deliver(&app, &pa, &settings()).await.claimed, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pa.deposits().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never deposited");
        deliver(&app, &pa, &settings()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(pa.deposits().len(), 1);
    // Three tries, one message: the same idempotency key each time.
    let keys = pa.keys();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), 1);
    let deposited = e_invoicing(&app, &a, &inv).await;
    assert_eq!(deposited["status"], "transmitted");
    assert_eq!(deposited["reason"], Value::Null);
    assert_eq!(
        kinds(&events(&app, &a, &inv).await),
        ["queued", "transmitted"]
    );
}

#[tokio::test]
async fn a_platform_down_past_the_last_attempt_fails_the_transmission_visibly() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let pa = StandIn::start().await;
    pa.down_for(100);
    let two = Settings {
        max_attempts: 2,
        ..settings()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pass = deliver(&app, &pa, &two).await;
        if pass.failed == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(pa.keys().len(), 2);
    let failed = e_invoicing(&app, &a, &inv).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts")
    );
    assert_eq!(
        kinds(&events(&app, &a, &inv).await),
        ["queued", "transmission_failed"]
    );
    assert_eq!(
        audit(&app, &a, "e_invoice.transmission_failed").await.len(),
        1
    );
    let listed = attention(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["e_invoicing"]["status"], "failed");
    assert_eq!(listed[0]["e_invoicing"]["needs_credit_note"], false);
    assert_eq!(deliver(&app, &pa, &two).await.claimed, 0);
}

#[tokio::test]
async fn a_transmission_queued_before_a_restart_is_deposited_by_the_next_server() {
    // The first server has no platform: the invoice is queued, nothing sent.
    let app = spawn_app().await;
    let pa = StandIn::start().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pa.deposits().is_empty());
    assert_eq!(e_invoicing(&app, &a, &inv).await["status"], "pending");
    // The next server, on the same database and files, has one: its worker
    // deposits what waited.
    let _next = app.restarted(&[
        ("COMPTOIR_PA_URL", &pa.url),
        ("COMPTOIR_PA_TOKEN", PA_TOKEN),
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while e_invoicing(&app, &a, &inv).await["status"] != "transmitted" {
        assert!(std::time::Instant::now() < deadline, "never deposited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deposits = pa.deposits();
    assert_eq!(deposits.len(), 1);
    assert_eq!(deposits[0].metadata["document_id"], inv.as_str());
    assert_eq!(
        deposits[0].authorization.as_deref(),
        Some("Bearer pa-token-0123")
    );
}

#[tokio::test]
async fn two_workers_on_one_database_deposit_each_document_once() {
    let app = spawn_app().await;
    let mut expected = BTreeSet::new();
    for n in 0..6 {
        let (_, inv) = issued_invoice(&app, &format!("Acme{n}")).await;
        expected.insert(inv);
    }
    let pa = StandIn::start().await;
    let small = Settings {
        batch: 2,
        ..settings()
    };
    let clock = app.clock.clone();
    let worker = |store: comptoir::store::Store, blobs, platform, settings: Settings| {
        let clock = clock.clone();
        async move {
            let mut sent = 0;
            loop {
                let pass = pa_delivery::deliver_due(&store, &blobs, &platform, &clock, &settings)
                    .await
                    .unwrap();
                sent += pass.sent;
                if pass.claimed == 0 {
                    return sent;
                }
            }
        }
    };
    let (one, two) = tokio::join!(
        tokio::spawn(worker(
            app.store.clone(),
            app.blobs.clone(),
            pa.client(),
            small.clone()
        )),
        tokio::spawn(worker(
            app.store.clone(),
            app.blobs.clone(),
            pa.client(),
            small.clone()
        )),
    );
    assert_eq!(one.unwrap() + two.unwrap(), 6);
    let deposited: Vec<String> = pa
        .deposits()
        .iter()
        .map(|d| d.metadata["document_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deposited.len(), 6, "each document once");
    assert_eq!(deposited.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn the_webhook_refuses_a_bad_signature_and_records_each_status_once() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let pa = StandIn::start().await;
    deliver_all(&app, &pa).await;
    app.clock.set(time::macros::datetime!(2026-05-03 08:00 UTC));
    let deposited = json!({"id": "evt_1", "document_id": inv, "code": "200",
        "date": "2026-05-02T09:00:00Z"});
    // Unsigned, signed with another secret (the payment webhook's), or too old: 401.
    let res = app
        .request(Method::POST, "/v1/webhooks/e-invoicing", None)
        .json(&deposited)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_signature").await;
    let res = pa_event_signed(&app, &deposited, WEBHOOK_SECRET).await;
    assert_problem(res, 401, "invalid_signature").await;
    let (raw, header) = signed(
        &deposited,
        app.clock.now().unix_timestamp() - 600,
        PA_WEBHOOK_SECRET,
    );
    let res = app
        .request(Method::POST, "/v1/webhooks/e-invoicing", None)
        .header("Comptoir-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_signature").await;
    assert_eq!(
        kinds(&events(&app, &a, &inv).await),
        ["queued", "transmitted"]
    );

    // 200 déposée, by our id; delivered again, it changes nothing.
    assert!(pa_event(&app, &deposited).await);
    assert!(!pa_event(&app, &deposited).await);
    let summary = e_invoicing(&app, &a, &inv).await;
    assert_eq!(summary["status"], "deposited");
    assert_eq!(summary["code"], "200");
    assert_eq!(summary["status_at"], "2026-05-02T09:00:00Z");
    // 210 refusée, by the platform's id, with the buyer's reason: flagged.
    assert!(
        pa_event(
            &app,
            &json!({"id": "evt_2", "platform_id": "pa-1", "code": 210,
                "date": "2026-05-02T09:30:00Z", "reason": "Prestation non conforme"}),
        )
        .await
    );
    let refused = e_invoicing(&app, &a, &inv).await;
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["reason"], "Prestation non conforme");
    assert_eq!(refused["needs_credit_note"], true);
    assert_eq!(attention(&app).await.len(), 1);
    assert_eq!(audit(&app, &a, "e_invoice.flagged").await.len(), 1);
    // 212 encaissée, then a 213 dated before it (late): both listed, the
    // summary keeps the latest.
    assert!(
        pa_event(
            &app,
            &json!({"id": "evt_3", "document_id": inv, "code": "212",
                "date": "2026-05-02T10:00:00Z"}),
        )
        .await
    );
    assert!(
        pa_event(
            &app,
            &json!({"id": "evt_4", "document_id": inv, "code": "213",
                "date": "2026-05-02T08:30:00Z", "reason": "Doublon"}),
        )
        .await
    );
    let summary = e_invoicing(&app, &a, &inv).await;
    assert_eq!(summary["status"], "collected");
    assert_eq!(summary["needs_credit_note"], false);
    assert!(attention(&app).await.is_empty());
    assert_eq!(audit(&app, &a, "e_invoice.flagged").await.len(), 1);
    let history = events(&app, &a, &inv).await;
    assert_eq!(
        kinds(&history),
        [
            "queued",
            "transmitted",
            "status_received 200",
            "status_received 210",
            "status_received 212",
            "status_received 213"
        ]
    );
    assert_eq!(history[3]["reason"], "Prestation non conforme");
    assert_eq!(history[3]["occurred_at"], "2026-05-02T09:30:00Z");
    assert_eq!(history[3]["platform_event_id"], "evt_2");
    assert_eq!(history[5]["status"], "rejected");
    assert_eq!(audit(&app, &a, "e_invoice.status_received").await.len(), 4);

    // A document Comptoir does not know is acknowledged, not applied.
    assert!(
        !pa_event(
            &app,
            &json!({"id": "evt_5", "platform_id": "pa-999", "code": "200"})
        )
        .await
    );
    // Every bad field is named at once; nothing is recorded.
    let res = pa_event_signed(
        &app,
        &json!({"id": "", "code": "299", "date": "2099-01-01T00:00:00Z", "reason": "\u{0007}"}),
        PA_WEBHOOK_SECRET,
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: BTreeSet<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["id", "document_id", "code", "date", "reason"])
    );
    let res = pa_event_signed(&app, &json!({"id": "x"}), PA_WEBHOOK_SECRET).await;
    assert_problem(res, 400, "malformed_json").await;
    assert_eq!(events(&app, &a, &inv).await.len(), 6);
}

#[tokio::test]
async fn the_webhook_is_503_without_its_secret() {
    let (store, dir) = crate::helpers::fresh_store().await;
    let mut config = crate::helpers::test_config(&dir.0.join("data"));
    config.pa_webhook_secret = None;
    let app = comptoir::Application::build(&config, store).unwrap();
    tokio::spawn(app.server);
    let body = json!({"id": "evt_1", "document_id": "inv_x", "code": "200"});
    let (raw, header) = signed(&body, app.clock.now().unix_timestamp(), PA_WEBHOOK_SECRET);
    let res = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/v1/webhooks/e-invoicing",
            app.port
        ))
        .header("Comptoir-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_problem(res, 503, "not_configured").await;
}

#[tokio::test]
async fn each_payment_queues_a_212_that_reaches_the_platform_with_its_amount_and_day() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    // Staff record 50.00 received on May 2, before the invoice is deposited.
    success_json(pay(&app, &a, &inv, &transfer("50.00")).await).await;
    assert_eq!(
        kinds(&events(&app, &a, &inv).await),
        ["queued", "status_queued 212"]
    );
    let pa = StandIn::start().await;
    deliver_all(&app, &pa).await;
    // The payment webhook's invoice.paid: 30.00 on May 3.
    app.clock.set(time::macros::datetime!(2026-05-04 08:00 UTC));
    let paid = json!({"id": "evt_pay_1", "type": "invoice.paid", "data": {
        "invoice_id": inv, "amount": "30.00", "paid_at": "2026-05-03T16:00:00Z"}});
    let (raw, header) = signed(&paid, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    assert_eq!(
        crate::credits::deliver(&app, raw, &header).await.status(),
        200
    );
    // mark-paid: the 40.00 left, today.
    success_json(
        app.post(
            &format!("/v1/accounts/{a}/invoices/{inv}/mark-paid"),
            &app.support(),
            &json!({}),
        )
        .await,
    )
    .await;
    deliver_all(&app, &pa).await;
    let statuses = pa.statuses();
    let sent: Vec<(String, String, String, String)> = statuses
        .iter()
        .map(|s| {
            let f = |k: &str| s.body[k].as_str().unwrap().to_owned();
            (f("code"), f("amount"), f("currency"), f("collected_on"))
        })
        .collect();
    let row = |amount: &str, day: &str| ("212".into(), amount.into(), "EUR".into(), day.into());
    assert_eq!(
        sent,
        [
            row("50.00", "2026-05-02"),
            row("30.00", "2026-05-03"),
            row("40.00", "2026-05-04")
        ]
    );
    assert!(statuses.iter().all(|s| s.platform_id == "pa-1"));
    assert!(
        statuses
            .iter()
            .all(|s| s.body["document_id"] == inv.as_str())
    );
    let history = events(&app, &a, &inv).await;
    let sent_events: Vec<&Value> = history
        .iter()
        .filter(|e| e["kind"] == "status_sent")
        .collect();
    assert_eq!(sent_events.len(), 3);
    assert_eq!(sent_events[0]["amount"], "50.00");
    assert_eq!(sent_events[0]["currency"], "EUR");
    assert_eq!(sent_events[0]["collected_on"], "2026-05-02");
    assert_eq!(e_invoicing(&app, &a, &inv).await["status"], "collected");

    // An overpayment reports what it settles of the invoice, not the excess.
    let (b, other) = issued_invoice(&app, "Bravo").await;
    success_json(pay(&app, &b, &other, &transfer("200.00")).await).await;
    deliver_all(&app, &pa).await;
    let last = pa.statuses().last().unwrap().body.clone();
    assert_eq!(last["document_id"], other.as_str());
    assert_eq!(last["amount"], "120.00");
}

#[tokio::test]
async fn the_events_routes_keep_to_the_account_and_its_readers() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let (b, other) = issued_invoice(&app, "Bravo").await;
    let note = credit_all(&app, &a, &inv).await;
    let note_id = note["id"].as_str().unwrap();
    deliver_all(&app, &StandIn::start().await).await;
    let path = format!("/v1/accounts/{a}/invoices/{inv}/e-invoicing-events");
    let note_path = format!("/v1/accounts/{a}/credit-notes/{note_id}/e-invoicing-events");
    for token in [app.admin(&a), app.viewer(&a), app.support()] {
        success_json(app.get(&path, &token).await).await;
        success_json(app.get(&note_path, &token).await).await;
    }
    // Another account's reader: 404 on A's routes; A's documents under B: 404.
    for p in [&path, &note_path] {
        assert_problem(app.get(p, &app.admin(&b)).await, 404, "not_found").await;
    }
    for p in [
        format!("/v1/accounts/{b}/invoices/{inv}/e-invoicing-events"),
        format!("/v1/accounts/{b}/credit-notes/{note_id}/e-invoicing-events"),
        format!("/v1/accounts/{a}/invoices/{other}/e-invoicing-events"),
        format!("/v1/accounts/{a}/invoices/inv_nope/e-invoicing-events"),
        format!("/v1/accounts/{a}/credit-notes/{inv}/e-invoicing-events"),
    ] {
        assert_problem(app.get(&p, &app.admin(&b)).await, 404, "not_found").await;
        assert_problem(app.get(&p, &app.support()).await, 404, "not_found").await;
    }
    let integration = app.token(Role::Integration, Some(&a));
    assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    // One at a time, then the rest.
    let first = success_json(app.get(&format!("{path}?limit=1"), &app.viewer(&a)).await).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert!(first["next_cursor"].is_string());
}

#[tokio::test]
async fn the_deposited_file_is_the_stored_factur_x_that_the_pdf_route_serves() {
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    let pa = StandIn::start().await;
    deliver_all(&app, &pa).await;
    let res = app
        .get(
            &format!("/v1/accounts/{a}/invoices/{inv}/pdf"),
            &app.viewer(&a),
        )
        .await;
    assert_eq!(res.status(), 200);
    let served = res.bytes().await.unwrap();
    let deposit = &pa.deposits()[0];
    assert_eq!(deposit.file, served.to_vec());
    let stored = &invoice_of(&app, &a, &inv).await["e_invoice"]["pdf"];
    assert_eq!(deposit.metadata["file"]["sha256"], stored["sha256"]);
    assert_eq!(deposit.metadata["file"]["size"], stored["size"]);
}

#[tokio::test]
async fn an_invoice_billed_before_the_payment_day_reports_the_day_in_the_accounts_timezone() {
    // BILLED_AT is the 2nd of May; a payment at 23:30 UTC on the 2nd is the
    // 3rd in Paris (UTC+2 in May).
    let app = spawn_app().await;
    let (a, inv) = issued_invoice(&app, "Acme").await;
    assert!(app.clock.now() >= BILLED_AT);
    app.clock.set(time::macros::datetime!(2026-05-04 08:00 UTC));
    let body = json!({"amount": "120.00", "paid_at": "2026-05-02T23:30:00Z", "method": "transfer"});
    success_json(pay(&app, &a, &inv, &body).await).await;
    let history = events(&app, &a, &inv).await;
    assert_eq!(history[1]["kind"], "status_queued");
    assert_eq!(history[1]["collected_on"], "2026-05-03");
    assert_eq!(history[1]["amount"], "120.00");
}

#[tokio::test]
async fn a_test_accounts_e_invoices_are_queued_and_shown_but_never_deposited() {
    use crate::test_clocks::{FAST, add_licenses, advance, clock, test_account};
    let app = crate::helpers::spawn_app_with(FAST).await;
    let (live, live_invoice) = issued_invoice(&app, "Réel").await;
    let clock = clock(&app, "2026-03-31T10:00:00Z").await;
    let test = test_account(&app, &clock, "Essai").await;
    add_licenses(&app, &test, 1).await;
    advance(&app, &clock, "2026-04-01T08:00:00Z").await;
    let list = success_json(
        app.get(&format!("/v1/accounts/{test}/invoices"), &app.viewer(&test))
            .await,
    )
    .await;
    let test_invoice = list["data"][0]["id"].as_str().unwrap().to_owned();
    let pa = StandIn::start().await;
    deliver_all(&app, &pa).await;
    let deposited: Vec<String> = pa
        .deposits()
        .iter()
        .map(|d| d.metadata["document_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deposited, [live_invoice.as_str()]);
    assert_eq!(
        e_invoicing(&app, &live, &live_invoice).await["status"],
        "transmitted"
    );
    let queued = e_invoicing(&app, &test, &test_invoice).await;
    assert_eq!(queued["status"], "pending", "{queued}");
    assert_eq!(kinds(&events(&app, &test, &test_invoice).await), ["queued"]);
}
