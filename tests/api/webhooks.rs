//! Outgoing webhooks (issue 20): endpoints, their secrets and the SSRF
//! policy; deliveries to a real HTTP receiver started by the test, signed as
//! Standard Webhooks (checked with the reference implementation), retried
//! with growing waits, surviving a restart, once per endpoint with two
//! servers on one database; the retry window disabling an endpoint; the
//! delivery log and redelivery; tenant isolation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use comptoir::service::webhook_delivery::{self, Sender, Settings};
use comptoir::webhooks::TargetPolicy;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::events::{add_licenses, buyer, events_of};
use crate::helpers::{START, TestApp, assert_problem, logs_tail, spawn_app, spawn_app_with};

/// A server whose worker looks for due deliveries every 20 ms and retries
/// after 400 ms (then 800 ms...), allowed to call the receiver on loopback.
const FAST: &[(&str, &str)] = &[
    ("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("COMPTOIR_WEBHOOK_POLL", "20ms"),
    ("COMPTOIR_WEBHOOK_RETRY_BASE", "400ms"),
    ("COMPTOIR_WEBHOOK_RETRY_CAP", "5s"),
];

/// Like [`FAST`], but the worker looks only once an hour: a server whose
/// worker never gets to what is queued (as one killed after its commits).
const ASLEEP: &[(&str, &str)] = &[
    ("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("COMPTOIR_WEBHOOK_POLL", "1h"),
];

// ---------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    /// The statuses of the next answers, then `fallback`.
    next: Arc<Mutex<VecDeque<u16>>>,
    fallback: Arc<Mutex<Option<u16>>>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers 200
/// (or what it is told to).
struct Receiver {
    base: String,
    shared: Shared,
}

async fn record(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers() {
        headers.append(
            HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    let status = shared
        .next
        .lock()
        .unwrap()
        .pop_front()
        .or(*shared.fallback.lock().unwrap())
        .unwrap_or(200);
    shared.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .body(format!("receiver answered {status}"))
}

impl Receiver {
    async fn start() -> Receiver {
        let shared = Shared::default();
        let data = web::Data::new(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver {
            base: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next answers' statuses (then the usual one).
    fn answer_next(&self, statuses: &[u16]) {
        self.shared.next.lock().unwrap().extend(statuses);
    }

    /// Every answer's status from now on (none: 200).
    fn answer_always(&self, status: Option<u16>) {
        *self.shared.fallback.lock().unwrap() = status;
    }

    fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `n` requests came; returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests received\n{}",
                got.len(),
                logs_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that nothing more than `n` requests comes within `quiet`.
    async fn stays_at(&self, n: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        assert_eq!(self.received().len(), n, "more requests came");
    }
}

/// Checks a request's `webhook-signature` with the Standard Webhooks
/// reference implementation.
fn verify(secret: &str, r: &Received) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.headers)
}

/// The request with only one of its signatures.
fn with_signature(r: &Received, signature: &str) -> Received {
    let mut one = r.clone();
    one.headers.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    one
}

// ---------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------

fn endpoints_path(account: &str) -> String {
    format!("/v1/accounts/{account}/webhook-endpoints")
}

/// Creates an endpoint as the account's admin; returns the 201 body (with
/// the secret).
async fn create_endpoint(app: &TestApp, account: &str, url: &str, events: Value) -> Value {
    let res = app
        .post(
            &endpoints_path(account),
            &app.admin(account),
            &json!({"url": url, "events": events, "description": "Our ERP"}),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn get_endpoint(app: &TestApp, account: &str, id: &str) -> Value {
    let res = app
        .get(
            &format!("{}/{id}", endpoints_path(account)),
            &app.admin(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn patch_endpoint(app: &TestApp, account: &str, id: &str, body: &Value) -> reqwest::Response {
    app.request(
        reqwest::Method::PATCH,
        &format!("{}/{id}", endpoints_path(account)),
        Some(&app.admin(account)),
    )
    .json(body)
    .send()
    .await
    .unwrap()
}

/// The endpoint's delivery log, newest first (one page of 100).
async fn deliveries(app: &TestApp, account: &str, endpoint: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!(
                "{}/{endpoint}/deliveries?limit=100",
                endpoints_path(account)
            ),
            &app.support(),
        )
        .await;
    let status = res.status();
    let page: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// Waits (at most 20 s) until the log has `n` attempts; returns them.
async fn wait_for_attempts(app: &TestApp, account: &str, endpoint: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = deliveries(app, account, endpoint).await;
        if log.len() >= n {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} attempts logged\n{}",
            log.len(),
            logs_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_receiver_gets_license_added_signed_as_the_standard_webhooks_reference_verifies() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    let created = create_endpoint(
        &app,
        &account,
        &receiver.url("/hooks/comptoir"),
        json!(["license.added"]),
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");

    add_licenses(&app, &account, 1).await;
    let got = receiver.wait_for(1).await;
    let r = &got[0];
    verify(secret, r).expect("the reference implementation accepts the signature");
    // `make test-webhook-example` checks the README's Python receiver
    // against this very request.
    if let Ok(dir) = std::env::var("COMPTOIR_WEBHOOK_EXAMPLE_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        let headers: serde_json::Map<String, Value> =
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
                .iter()
                .map(|h| (h.to_string(), json!(r.header(h))))
                .collect();
        let capture = json!({"secret": secret, "headers": headers,
                             "body": String::from_utf8(r.body.clone()).unwrap()});
        let name = if std::env::var("TEST_DATABASE_URL").is_ok() {
            "postgres"
        } else {
            "sqlite"
        };
        std::fs::write(format!("{dir}/{name}.json"), capture.to_string()).unwrap();
    }
    let other = create_endpoint(
        &app,
        &account,
        &receiver.url("/other"),
        json!(["invoice.paid"]),
    )
    .await;
    assert!(verify(other["secret"].as_str().unwrap(), r).is_err());

    // The body is the event, as the events API shows it and byte for byte
    // as stored; the headers are those of the specification.
    let event = events_of(&app, &account, "license.added").await.remove(0);
    let event_id = id(&event);
    let shown: Value = app
        .get(
            &format!("/v1/accounts/{account}/events/{event_id}"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r.json(), shown);
    let stored: Vec<(String,)> = app
        .rows(&format!("SELECT body FROM events WHERE id = '{event_id}'"))
        .await;
    assert_eq!(r.body, stored[0].0.as_bytes());
    assert_eq!(r.path, "/hooks/comptoir");
    assert_eq!(r.header("webhook-id"), event_id);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("user-agent").starts_with("comptoir/"));
    let sent_at: i64 = r.header("webhook-timestamp").parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - sent_at).abs() < 60, "{sent_at} vs {now}");
    assert!(r.header("webhook-signature").starts_with("v1,"));

    // The delivery log.
    let log = wait_for_attempts(&app, &account, &id(&created), 1).await;
    assert_eq!(log.len(), 1);
    let a = &log[0];
    assert_eq!(a["event_id"], event_id.as_str());
    assert_eq!(a["event_type"], "license.added");
    assert_eq!(a["attempt"], 1);
    assert_eq!(a["status_code"], 200);
    assert_eq!(a["error"], Value::Null);
    assert_eq!(a["response"], "receiver answered 200");
    assert!(a["latency_ms"].as_i64().unwrap() >= 0);
    // Delivered once; the other endpoint does not take license.added.
    receiver.stays_at(1, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_receiver_answering_500_twice_gets_the_event_three_times_with_growing_waits() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 500]);
    let account = buyer(&app).await;
    let endpoint = create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    add_licenses(&app, &account, 1).await;

    let got = receiver.wait_for(3).await;
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "the same event each time");
    let (first, second) = (got[1].at - got[0].at, got[2].at - got[1].at);
    // Retry base 400 ms: the first wait is 300 to 400 ms, the second 600 to
    // 800 ms (plus the worker's 20 ms pace).
    assert!(first >= Duration::from_millis(290), "{first:?}");
    assert!(second >= Duration::from_millis(590), "{second:?}");
    assert!(second > first, "{first:?} then {second:?}");
    // Each retry is signed anew, with the time it was sent.
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(got.iter().all(|r| verify(secret, r).is_ok()));

    let log = wait_for_attempts(&app, &account, &id(&endpoint), 3).await;
    let seen: Vec<(i64, i64)> = log
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["status_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, vec![(3, 200), (2, 500), (1, 500)], "newest first");
    assert_eq!(log[1]["error"], "answered 500 Internal Server Error");
    assert_eq!(log[1]["response"], "receiver answered 500");
    receiver.stays_at(3, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_event_queued_before_the_server_died_is_delivered_by_the_next_one() {
    // The first server's worker never gets to the delivery (it looks once
    // an hour): the server might as well have died after the commit.
    let first = spawn_app_with(ASLEEP).await;
    let receiver = Receiver::start().await;
    let account = buyer(&first).await;
    let endpoint = create_endpoint(&first, &account, &receiver.url("/hooks"), json!(["*"])).await;
    add_licenses(&first, &account, 2).await;
    receiver.stays_at(0, Duration::from_millis(300)).await;

    // The next server, on the same database, delivers what was queued.
    let next = first.restarted(FAST);
    let got = receiver.wait_for(2).await;
    let sent: BTreeSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    let events: BTreeSet<String> = events_of(&next, &account, "license.added")
        .await
        .iter()
        .map(id)
        .collect();
    assert_eq!(
        sent,
        events.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let log = wait_for_attempts(&next, &account, &id(&endpoint), 2).await;
    assert!(
        log.iter()
            .all(|a| a["attempt"] == 1 && a["status_code"] == 200)
    );
    receiver.stays_at(2, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_delivery_claimed_by_a_worker_that_died_mid_send_is_sent_after_its_lease() {
    let app = spawn_app_with(ASLEEP).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    let endpoint = create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    add_licenses(&app, &account, 1).await;
    // A worker claims the delivery, then dies before sending: when another
    // one looks, the lease has run out.
    let now = time::OffsetDateTime::now_utc();
    {
        let mut tx = app.store.begin_write().await.unwrap();
        let claimed = tx
            .claim_webhook_deliveries(now, now - time::Duration::minutes(1), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        tx.commit().await.unwrap();
    }
    let sender = Sender::new(
        TargetPolicy {
            allow_private: true,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let pass = webhook_delivery::deliver_due(&app.store, &sender, &app.clock, &Settings::default())
        .await
        .unwrap();
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    assert_eq!(receiver.received().len(), 1);
    let log = deliveries(&app, &account, &id(&endpoint)).await;
    assert_eq!(log[0]["attempt"], 2, "the dead worker's claim counts");
    assert_eq!(log[0]["status_code"], 200);
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_each_event_once_per_endpoint() {
    let one = spawn_app_with(FAST).await;
    let two = one.restarted(FAST);
    let receiver = Receiver::start().await;
    let account = buyer(&one).await;
    create_endpoint(&one, &account, &receiver.url("/a"), json!(["*"])).await;
    create_endpoint(
        &two,
        &account,
        &receiver.url("/b"),
        json!(["license.added"]),
    )
    .await;
    // Changes on both servers, while both workers run.
    for n in 0..6 {
        let app = if n % 2 == 0 { &one } else { &two };
        add_licenses(app, &account, 3).await;
    }
    let events = events_of(&one, &account, "license.added").await;
    assert_eq!(events.len(), 18);
    let got = receiver.wait_for(36).await;
    receiver.stays_at(36, Duration::from_millis(400)).await;
    let mut per_endpoint: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &got {
        per_endpoint
            .entry(r.path.clone())
            .or_default()
            .push(r.header("webhook-id").to_owned());
    }
    let expected: Vec<String> = events.iter().map(id).collect();
    for (path, mut ids) in per_endpoint {
        ids.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(ids, want, "{path}: each event once");
    }

    // Workers racing on small batches: still once each.
    let more = add_licenses(&one, &account, 10).await;
    assert_eq!(more["licenses"].as_array().unwrap().len(), 10);
    let small = Settings {
        outbox: comptoir::service::outbox::Settings {
            batch: 2,
            ..Settings::default().outbox
        },
        ..Settings::default()
    };
    let sender = Sender::new(
        TargetPolicy {
            allow_private: true,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let (store, clock, sender, settings) = (
                one.store.clone(),
                one.clock.clone(),
                sender.clone(),
                small.clone(),
            );
            tokio::spawn(async move {
                let mut sent = 0;
                for _ in 0..50 {
                    let pass = webhook_delivery::deliver_due(&store, &sender, &clock, &settings)
                        .await
                        .unwrap();
                    sent += pass.sent;
                    if pass.claimed == 0 {
                        break;
                    }
                }
                sent
            })
        })
        .collect();
    for r in racers {
        r.await.unwrap();
    }
    let got = receiver.wait_for(56).await;
    receiver.stays_at(56, Duration::from_millis(400)).await;
    let mut seen = BTreeSet::new();
    for r in &got {
        assert!(
            seen.insert((r.path.clone(), r.header("webhook-id").to_owned())),
            "{} got {} twice",
            r.path,
            r.header("webhook-id")
        );
    }
}

#[tokio::test]
async fn per_endpoint_deliveries_go_out_in_the_order_queued() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    add_licenses(&app, &account, 5).await;
    add_licenses(&app, &account, 5).await;
    let got = receiver.wait_for(10).await;
    let sent: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    let events: Vec<String> = events_of(&app, &account, "license.added")
        .await
        .iter()
        .map(id)
        .collect();
    assert_eq!(sent, events, "oldest first");
}

// ---------------------------------------------------------------------------
// The retry window
// ---------------------------------------------------------------------------

#[tokio::test]
async fn after_the_retry_window_the_endpoint_is_disabled_with_an_event_and_later_events_wait() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    receiver.answer_always(Some(503));
    let account = buyer(&app).await;
    let endpoint = create_endpoint(&app, &account, &receiver.url("/down"), json!(["*"])).await;
    let endpoint_id = id(&endpoint);
    add_licenses(&app, &account, 1).await;
    wait_for_attempts(&app, &account, &endpoint_id, 2).await;

    // Three days after the event, the next failure gives up.
    app.clock
        .set(START + time::Duration::days(3) + time::Duration::minutes(1));
    let deadline = Instant::now() + Duration::from_secs(20);
    let disabled = loop {
        let e = get_endpoint(&app, &account, &endpoint_id).await;
        if e["enabled"] == false {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "never disabled\n{}",
            logs_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("3 days"), "{reason}");
    assert!(reason.contains("503"), "{reason}");
    let log = deliveries(&app, &account, &endpoint_id).await;
    assert!(
        log[0]["error"].as_str().unwrap().contains("gave up"),
        "{log:#?}"
    );
    let attempts_then = receiver.received().len();

    // The event says so, with the endpoint as the API shows it.
    let said = events_of(&app, &account, "webhook_endpoint.disabled").await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0]["data"]["object"], disabled);
    assert!(said[0]["data"]["object"].get("secret").is_none());
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"webhook_endpoint.disabled".to_owned())
    );

    // Later events are not sent to it.
    receiver.answer_always(None);
    add_licenses(&app, &account, 1).await;
    receiver
        .stays_at(attempts_then, Duration::from_millis(400))
        .await;
    let statuses: Vec<(String,)> = app
        .rows(&format!(
            "SELECT status FROM webhook_deliveries WHERE endpoint_id = '{endpoint_id}'"
        ))
        .await;
    assert_eq!(statuses, vec![("failed".to_owned(),)]);

    // Enabled again by its admin, it gets the events that follow.
    let res = patch_endpoint(&app, &account, &endpoint_id, &json!({"enabled": true})).await;
    assert_eq!(res.status(), 200);
    let enabled: Value = res.json().await.unwrap();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    let added = add_licenses(&app, &account, 1).await;
    let got = receiver.wait_for(attempts_then + 1).await;
    assert_eq!(
        got.last().unwrap().json()["data"]["object"],
        added["licenses"][0]
    );
    receiver
        .stays_at(attempts_then + 1, Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_disabled_endpoints_waiting_deliveries_wait_until_it_is_enabled_again() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    receiver.answer_always(Some(500));
    let account = buyer(&app).await;
    let endpoint = create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    let endpoint_id = id(&endpoint);
    add_licenses(&app, &account, 1).await;
    wait_for_attempts(&app, &account, &endpoint_id, 1).await;
    // Disabled by its admin before the retry (due in 300 to 400 ms).
    let res = patch_endpoint(&app, &account, &endpoint_id, &json!({"enabled": false})).await;
    assert_eq!(res.status(), 200);
    let attempts = receiver.received().len();
    receiver
        .stays_at(attempts, Duration::from_millis(800))
        .await;
    let statuses: Vec<(String,)> = app
        .rows(&format!(
            "SELECT status FROM webhook_deliveries WHERE endpoint_id = '{endpoint_id}'"
        ))
        .await;
    assert_eq!(
        statuses,
        vec![("pending".to_owned(),)],
        "neither sent nor failed"
    );

    receiver.answer_always(None);
    let res = patch_endpoint(&app, &account, &endpoint_id, &json!({"enabled": true})).await;
    assert_eq!(res.status(), 200);
    let got = receiver.wait_for(attempts + 1).await;
    assert_eq!(
        got.last().unwrap().header("webhook-id"),
        got[0].header("webhook-id")
    );
    let log = wait_for_attempts(&app, &account, &endpoint_id, attempts + 1).await;
    assert_eq!(log[0]["status_code"], 200);
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn during_24_hours_after_a_rotation_both_secrets_sign_then_only_the_new_one() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    let created = create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    let old = created["secret"].as_str().unwrap().to_owned();
    let res = app
        .post(
            &format!(
                "{}/{}/rotate-secret",
                endpoints_path(&account),
                id(&created)
            ),
            &app.admin(&account),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["id"], created["id"]);

    add_licenses(&app, &account, 1).await;
    let r = receiver.wait_for(1).await.remove(0);
    let signatures: Vec<&str> = r.header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    // The new secret's signature first, each verified with its own secret.
    verify(&new, &with_signature(&r, signatures[0])).unwrap();
    verify(&old, &with_signature(&r, signatures[1])).unwrap();
    assert!(verify(&old, &with_signature(&r, signatures[0])).is_err());
    verify(&new, &r).unwrap();
    verify(&old, &r).unwrap();

    // A day later, the old one signs no more.
    app.clock
        .set(START + time::Duration::hours(24) + time::Duration::seconds(1));
    add_licenses(&app, &account, 1).await;
    let r = receiver.wait_for(2).await.remove(1);
    assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
    verify(&new, &r).unwrap();
    assert!(verify(&old, &r).is_err());
}

#[tokio::test]
async fn the_secret_is_shown_at_creation_and_rotation_only_never_audited() {
    let app = spawn_app_with(FAST).await;
    let account = app.create_account("Acme").await;
    let path = endpoints_path(&account);
    let body =
        json!({"url": "http://127.0.0.1:9/hooks", "events": ["license.added", "invoice.paid"]});
    let first = app
        .request(reqwest::Method::POST, &path, Some(&app.admin(&account)))
        .header("Idempotency-Key", "create-hook-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let created: Value = first.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(created["enabled"], true, "enabled by default");
    assert_eq!(created["events"], json!(["license.added", "invoice.paid"]));
    assert_eq!(created["description"], Value::Null);
    // A retry with the same key is the same endpoint, with the same secret.
    let again = app
        .request(reqwest::Method::POST, &path, Some(&app.admin(&account)))
        .header("Idempotency-Key", "create-hook-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), created);

    let endpoint = id(&created);
    for text in [
        app.get(&format!("{path}/{endpoint}"), &app.admin(&account))
            .await
            .text()
            .await
            .unwrap(),
        app.get(&path, &app.support()).await.text().await.unwrap(),
        patch_endpoint(&app, &account, &endpoint, &json!({"description": "ERP"}))
            .await
            .text()
            .await
            .unwrap(),
        app.get(
            &format!("/v1/accounts/{account}/audit-events?limit=100"),
            &app.support(),
        )
        .await
        .text()
        .await
        .unwrap(),
    ] {
        assert!(text.contains(&endpoint), "{text}");
        assert!(!text.contains(&secret), "the secret leaks: {text}");
        assert!(!text.contains("whsec_"), "a secret leaks: {text}");
    }
    let list: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let actions = app.audit_actions(&account).await;
    assert!(actions.contains(&"webhook_endpoint.created".to_owned()));
    assert!(actions.contains(&"webhook_endpoint.updated".to_owned()));
}

// ---------------------------------------------------------------------------
// The target policy (SSRF)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn loopback_private_link_local_and_metadata_targets_are_refused_without_the_variable() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    for url in [
        "http://127.0.0.1/hooks",
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hooks",
        "https://192.168.1.10/hooks",
        "https://[::1]/hooks",
        // A name resolving to loopback.
        "https://localhost/hooks",
        "http://localhost:8080/hooks",
    ] {
        let res = app
            .post(
                &endpoints_path(&account),
                &app.admin(&account),
                &json!({"url": url, "events": ["*"]}),
            )
            .await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(
            fields(&problem),
            BTreeSet::from(["url".to_owned()]),
            "{url}"
        );
    }
    let list: Value = app
        .get(&endpoints_path(&account), &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));

    // With the variable, http to loopback is allowed, never to another host.
    let open = spawn_app_with(&[("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let b = open.create_account("Acme").await;
    create_endpoint(&open, &b, "http://localhost:9/hooks", json!(["*"])).await;
    let res = open
        .post(
            &endpoints_path(&b),
            &open.admin(&b),
            &json!({"url": "http://10.0.0.1/hooks", "events": ["*"]}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_bad_url_events_and_description_are_named_together_and_viewers_get_403() {
    let app = spawn_app_with(FAST).await;
    let account = app.create_account("Acme").await;
    let res = app
        .post(
            &endpoints_path(&account),
            &app.admin(&account),
            &json!({"url": "ftp://hooks.acme.fr", "events": ["license.exploded"],
                    "description": "x".repeat(201)}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        fields(&problem),
        BTreeSet::from(["url", "events", "description"].map(str::to_owned))
    );
    let res = app
        .post(
            &endpoints_path(&account),
            &app.admin(&account),
            &json!({"url": "not a url", "events": []}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        fields(&problem),
        BTreeSet::from(["url", "events"].map(str::to_owned))
    );
    // `*` stands alone.
    let res = app
        .post(
            &endpoints_path(&account),
            &app.admin(&account),
            &json!({"url": "http://127.0.0.1:9/", "events": ["*", "license.added"]}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields(&problem), BTreeSet::from(["events".to_owned()]));

    let endpoint = create_endpoint(&app, &account, "http://127.0.0.1:9/", json!(["*"])).await;
    let res = patch_endpoint(
        &app,
        &account,
        &id(&endpoint),
        &json!({"url": "ftp://hooks.acme.fr/", "events": ["nope"]}),
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(
        fields(&problem),
        BTreeSet::from(["url", "events"].map(str::to_owned))
    );

    // Viewers may neither read nor change endpoints.
    let viewer = app.viewer(&account);
    let res = app
        .post(
            &endpoints_path(&account),
            &viewer,
            &json!({"url": "http://127.0.0.1:9/", "events": ["*"]}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app.get(&endpoints_path(&account), &viewer).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .get(
            &format!("{}/{}/deliveries", endpoints_path(&account), id(&endpoint)),
            &viewer,
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
}

// ---------------------------------------------------------------------------
// Log, redelivery, deletion
// ---------------------------------------------------------------------------

#[tokio::test]
async fn redelivering_an_event_sends_it_again_to_one_endpoint_or_every_subscribed_one() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    let all = create_endpoint(&app, &account, &receiver.url("/all"), json!(["*"])).await;
    let licenses = create_endpoint(
        &app,
        &account,
        &receiver.url("/licenses"),
        json!(["license.added"]),
    )
    .await;
    let invoices = create_endpoint(
        &app,
        &account,
        &receiver.url("/invoices"),
        json!(["invoice.paid"]),
    )
    .await;
    add_licenses(&app, &account, 1).await;
    receiver.wait_for(2).await;
    let event = id(&events_of(&app, &account, "license.added").await[0]);
    let path = format!("/v1/accounts/{account}/events/{event}/redeliver");

    // No body: every enabled endpoint subscribed to license.added.
    let res = app
        .request(reqwest::Method::POST, &path, Some(&app.admin(&account)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["event_id"], event.as_str());
    assert_eq!(queued["type"], "license.added");
    let to: BTreeSet<&str> = queued["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        BTreeSet::from([
            all["id"].as_str().unwrap(),
            licenses["id"].as_str().unwrap()
        ])
    );
    receiver.wait_for(4).await;

    // One endpoint, even one not subscribed to the type.
    let res = app
        .post(
            &path,
            &app.admin(&account),
            &json!({"endpoint_id": id(&invoices)}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let got = receiver.wait_for(5).await;
    let last = got.last().unwrap();
    assert_eq!(last.path, "/invoices");
    assert_eq!(last.header("webhook-id"), event);
    verify(invoices["secret"].as_str().unwrap(), last).unwrap();
    receiver.stays_at(5, Duration::from_millis(300)).await;
    // Each redelivery is a delivery of its own in the log.
    let log = wait_for_attempts(&app, &account, &id(&all), 2).await;
    assert_ne!(log[0]["delivery_id"], log[1]["delivery_id"]);
    assert!(
        log.iter()
            .all(|a| a["attempt"] == 1 && a["event_id"] == event.as_str())
    );
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"event.redelivered".to_owned())
    );
    let res = app
        .post(&path, &app.admin(&account), &json!({"endpoint": "x"}))
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields(&problem), BTreeSet::from(["endpoint".to_owned()]));
}

#[tokio::test]
async fn deleting_an_endpoint_removes_its_waiting_deliveries_and_its_log() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = buyer(&app).await;
    let endpoint = create_endpoint(&app, &account, &receiver.url("/hooks"), json!(["*"])).await;
    let endpoint_id = id(&endpoint);
    add_licenses(&app, &account, 1).await;
    wait_for_attempts(&app, &account, &endpoint_id, 1).await;
    // The next one fails: it waits for its retry.
    receiver.answer_always(Some(500));
    add_licenses(&app, &account, 1).await;
    wait_for_attempts(&app, &account, &endpoint_id, 2).await;
    let rows = |table: &'static str| {
        let app = &app;
        let endpoint_id = endpoint_id.clone();
        async move {
            let n: Vec<(i64,)> = app
                .rows(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE endpoint_id = '{endpoint_id}'"
                ))
                .await;
            n[0].0
        }
    };
    assert_eq!(rows("webhook_deliveries").await, 2);
    assert!(rows("webhook_attempts").await >= 2);

    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("{}/{endpoint_id}", endpoints_path(&account)),
            Some(&app.admin(&account)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(rows("webhook_deliveries").await, 0);
    assert_eq!(rows("webhook_attempts").await, 0);
    let res = app
        .get(
            &format!("{}/{endpoint_id}/deliveries", endpoints_path(&account)),
            &app.admin(&account),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    assert!(
        app.audit_actions(&account)
            .await
            .contains(&"webhook_endpoint.deleted".to_owned())
    );
    // The events stay.
    assert_eq!(events_of(&app, &account, "license.added").await.len(), 2);
}

// ---------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn endpoints_deliveries_and_events_of_an_account_are_404_for_another() {
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let a = buyer(&app).await;
    let b = buyer(&app).await;
    let endpoint = create_endpoint(&app, &a, &receiver.url("/a"), json!(["*"])).await;
    let theirs = create_endpoint(&app, &b, &receiver.url("/b"), json!(["*"])).await;
    let (endpoint, theirs) = (id(&endpoint), id(&theirs));
    add_licenses(&app, &a, 1).await;
    receiver.wait_for(1).await;
    let event = id(&events_of(&app, &a, "license.added").await[0]);
    let b_admin = app.admin(&b);

    // B's admin on A's account: 404 for everything.
    for (method, path) in [
        ("GET", format!("/v1/accounts/{a}/webhook-endpoints")),
        (
            "GET",
            format!("/v1/accounts/{a}/webhook-endpoints/{endpoint}"),
        ),
        (
            "PATCH",
            format!("/v1/accounts/{a}/webhook-endpoints/{endpoint}"),
        ),
        (
            "DELETE",
            format!("/v1/accounts/{a}/webhook-endpoints/{endpoint}"),
        ),
        (
            "POST",
            format!("/v1/accounts/{a}/webhook-endpoints/{endpoint}/rotate-secret"),
        ),
        (
            "GET",
            format!("/v1/accounts/{a}/webhook-endpoints/{endpoint}/deliveries"),
        ),
        ("GET", format!("/v1/accounts/{a}/events/{event}")),
        ("POST", format!("/v1/accounts/{a}/events/{event}/redeliver")),
        // A's things under B's own account.
        (
            "GET",
            format!("/v1/accounts/{b}/webhook-endpoints/{endpoint}"),
        ),
        (
            "PATCH",
            format!("/v1/accounts/{b}/webhook-endpoints/{endpoint}"),
        ),
        (
            "DELETE",
            format!("/v1/accounts/{b}/webhook-endpoints/{endpoint}"),
        ),
        (
            "POST",
            format!("/v1/accounts/{b}/webhook-endpoints/{endpoint}/rotate-secret"),
        ),
        (
            "GET",
            format!("/v1/accounts/{b}/webhook-endpoints/{endpoint}/deliveries"),
        ),
        ("GET", format!("/v1/accounts/{b}/events/{event}")),
        ("POST", format!("/v1/accounts/{b}/events/{event}/redeliver")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = app.request(method.clone(), &path, Some(&b_admin));
        if method == reqwest::Method::PATCH {
            req = req.json(&json!({"description": "mine now"}));
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    // A's event redelivered to B's endpoint: refused on that field, like
    // every reference to another account's resource in a body.
    let res = app
        .post(
            &format!("/v1/accounts/{a}/events/{event}/redeliver"),
            &app.admin(&a),
            &json!({"endpoint_id": theirs}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(fields(&problem), BTreeSet::from(["endpoint_id".to_owned()]));
    // B's list shows only B's endpoint; A's is untouched.
    let list: Value = app
        .get(&format!("/v1/accounts/{b}/webhook-endpoints"), &b_admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![theirs.as_str()]);
    let mine = get_endpoint(&app, &a, &endpoint).await;
    assert_eq!(mine["description"], "Our ERP");
    assert_eq!(deliveries(&app, &a, &endpoint).await.len(), 1);
    receiver.stays_at(1, Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: WEBHOOK_EVENTS=10000 cargo test --test api webhooks::measure -- --ignored --nocapture"]
async fn measure_the_delivery_rate_to_one_local_endpoint() {
    use comptoir::store::events::EventRow;
    let n: usize = std::env::var("WEBHOOK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let app = spawn_app_with(FAST).await;
    let receiver = Receiver::start().await;
    let account = app.create_account("Bench").await;
    create_endpoint(&app, &account, &receiver.url("/bench"), json!(["*"])).await;
    let queued = Instant::now();
    let mut tx = app.store.begin_write().await.unwrap();
    let endpoint: Vec<(String,)> = app.rows("SELECT id FROM webhook_endpoints").await;
    for i in 0..n {
        let id = comptoir::domain::ids::EventId::generate();
        let row = EventRow {
            id: id.to_string(),
            account_id: account.clone(),
            event_type: "license.added".into(),
            created_at: START,
            body: json!({"id": id.as_str(), "type": "license.added", "n": i}).to_string(),
            once_key: None,
        };
        tx.insert_event(&row).await.unwrap();
        tx.queue_webhook_delivery(
            comptoir::domain::ids::WebhookDeliveryId::generate().as_str(),
            &account,
            &endpoint[0].0,
            id.as_str(),
            START,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let started = Instant::now();
    eprintln!("queued {n} in {:?}", queued.elapsed());
    let deadline = started + Duration::from_secs(600);
    while receiver.received().len() < n {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    eprintln!(
        "delivered {n} in {took:?}: {:.0} events/s",
        n as f64 / took.as_secs_f64()
    );
}

#[tokio::test]
async fn a_test_clocks_advance_fires_its_accounts_webhooks_in_order_dated_by_the_clock() {
    use crate::test_clocks::{advance, clock, test_account};
    let mut config = FAST.to_vec();
    config.extend_from_slice(crate::test_clocks::FAST);
    let app = spawn_app_with(&config).await;
    let receiver = Receiver::start().await;
    let clock = clock(&app, "2026-03-31T10:00:00Z").await;
    let account = test_account(&app, &clock, "Crochet").await;
    let created = create_endpoint(
        &app,
        &account,
        &receiver.url("/hooks"),
        json!(["invoice.finalized", "payment_method.expiring"]),
    )
    .await;
    crate::test_clocks::add_licenses(&app, &account, 1).await;
    // A card whose last day is May 31: announced 30 days before.
    let card = json!({"number": "5555 5555 5555 4444", "exp_month": 5, "exp_year": 2026, "cvc": "123", "holder_name": "Claire Martin"});
    assert_eq!(
        crate::payments::add_card(&app, &account, &card)
            .await
            .status(),
        201
    );
    advance(&app, &clock, "2026-05-03T00:00:00Z").await;
    let got = receiver.wait_for(3).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| {
            verify(created["secret"].as_str().unwrap(), r).expect("signed");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    let seen: Vec<(&str, &str, bool)> = bodies
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap(),
                b["created_at"].as_str().unwrap(),
                b["test"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("invoice.finalized", "2026-03-31T22:00:00Z", true),
            ("invoice.finalized", "2026-04-30T22:00:00Z", true),
            ("payment_method.expiring", "2026-05-02T00:00:00Z", true),
        ]
    );
    receiver.stays_at(3, Duration::from_millis(300)).await;
}
