//! Outgoing webhooks (issue 20), against the release server in its own
//! process and a receiver in this one (127.0.0.1, answering 204 at once):
//!
//! 1. Delivery rate: 10,000 events queued for one endpoint (written in this
//!    process through `service::events::emit`, as changes write them, before
//!    the server starts), then the time from the server answering `/readyz`
//!    until the receiver has every one. Each is checked once: no event is
//!    missing or received twice.
//! 2. The cost of an endpoint to the change that emits events: `POST
//!    .../licenses` (one license, so one `license.added`) on an account
//!    without an endpoint and on one with an endpoint subscribed to
//!    everything, alternately, over HTTP; the second also queues a delivery
//!    and the worker delivers it meanwhile.
//!
//! Knobs: `BENCH_EVENTS` (10,000), `BENCH_ADDS` (300 per account),
//! `BENCH_DATABASE_URL` (PostgreSQL), `BENCH_KEEP`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comptoir::auth::JwtKeys;
use comptoir::domain::account::Timezone;
use comptoir::domain::event::{EventType, Subscription};
use comptoir::domain::ids::{AccountId, LicenseId};
use comptoir::domain::license::License;
use comptoir::domain::money::Currency;
use comptoir::domain::role::{Caller, Need, Role};
use comptoir::service::events::{self, Object};
use comptoir::service::{self, Ctx};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::{date, datetime};

mod common;
use common::{Database, Server};

const NOW: OffsetDateTime = datetime!(2026-04-09 10:00 UTC);
const NOW_TEXT: &str = "2026-04-09T10:00:00Z";
/// A development data key (cards need one).
const DATA_KEY: &str = "ZGV2LW9ubHktZGF0YS1rZXktMzItYnl0ZXMtbG9uZyE=";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the receiver got: each request's `webhook-id`, and when the last
/// one came.
#[derive(Default)]
struct Received {
    ids: Vec<String>,
    last: Option<Instant>,
}

/// A receiver on 127.0.0.1 answering 204 to every request.
async fn receiver() -> (String, Arc<Mutex<Received>>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let received = Arc::new(Mutex::new(Received::default()));
    let shared = web::Data::from(received.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).default_service(web::to(
            |req: HttpRequest, _body: web::Bytes, got: web::Data<Mutex<Received>>| async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut got = got.lock().unwrap();
                got.ids.push(id);
                got.last = Some(Instant::now());
                HttpResponse::NoContent().finish()
            },
        ))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, received)
}

fn staff() -> Ctx {
    Ctx {
        caller: Caller {
            subject: "bench".into(),
            role: Role::Support,
            account_id: None,
        },
        request_id: None,
        now: NOW,
    }
}

/// An account and its endpoint to `url`, subscribed to every event.
async fn account_with_endpoint(db: &Database, url: &str) -> AccountId {
    let ctx = staff();
    let mut tx = db.store.begin_write().await.unwrap();
    let new = service::accounts::NewAccount {
        name: "Bench Webhooks".into(),
        currency: Currency::Eur,
        timezone: Timezone::parse(Timezone::DEFAULT).unwrap(),
        invoice_language: Default::default(),
        test_clock_id: None,
    };
    let account = service::accounts::create(&mut tx, &ctx, new)
        .await
        .unwrap()
        .id;
    let authorized = ctx.authorize(&account, Need::Manage).unwrap();
    let endpoint = service::webhook_endpoints::NewEndpoint {
        url: url::Url::parse(url).unwrap(),
        events: Subscription::All,
        description: Some("bench".into()),
        enabled: true,
    };
    service::webhook_endpoints::create(&mut tx, &ctx, &authorized, endpoint)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    account
}

/// `count` `license.added` events of `account`, written as adding licenses
/// writes them (1,000 per transaction).
async fn queue_events(db: &Database, account: &AccountId, count: usize) {
    let mut left = count;
    while left > 0 {
        let n = left.min(1_000);
        let mut tx = db.store.begin_write().await.unwrap();
        for _ in 0..n {
            let license = License {
                id: LicenseId::generate(),
                account_id: account.clone(),
                plan: "ADVANCED".into(),
                activation_date: date!(2026 - 04 - 09),
                removal_date: None,
                user_id: None,
                prorated_amount_minor: 4480,
                created_at: NOW,
            };
            events::emit(
                &mut tx,
                NOW,
                account,
                EventType::LicenseAdded,
                Object::License(&license),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        left -= n;
    }
}

async fn rate_part(dir: &std::path::Path, rows: &mut Vec<[String; 3]>) -> Database {
    let events = knob("BENCH_EVENTS", 10_000);
    let (url, received) = receiver().await;
    let db = Database::create(dir, "webhooks-rate").await;
    let account = account_with_endpoint(&db, &url).await;
    let seeding = Instant::now();
    queue_events(&db, &account, events).await;
    println!(
        "queued {events} events for one endpoint on {} in {:.1} s",
        db.backend,
        seeding.elapsed().as_secs_f64()
    );
    db.seeded().await;
    let server = Server::start_with(
        &db.url,
        dir,
        NOW_TEXT,
        &[("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true")],
    )
    .await;
    let ready = Instant::now();
    loop {
        let got = received.lock().unwrap().ids.len();
        if got >= events {
            break;
        }
        assert!(
            ready.elapsed() < Duration::from_secs(600),
            "only {got} of {events} events delivered in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more: a duplicate would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received.lock().unwrap();
    let secs = got.last.unwrap().duration_since(ready).as_secs_f64();
    let distinct: HashSet<&String> = got.ids.iter().collect();
    assert_eq!(got.ids.len(), events, "an event was received twice");
    assert_eq!(distinct.len(), events);
    drop(server);
    rows.push([
        format!("{events} events delivered to one endpoint (server ready to last received)"),
        ">= 1,000 events/s".into(),
        format!("{secs:.2} s ({:.0} events/s)", events as f64 / secs),
    ]);
    db
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn overhead_part(
    dir: &std::path::Path,
    keys: &JwtKeys,
    rows: &mut Vec<[String; 3]>,
) -> Database {
    let adds = knob("BENCH_ADDS", 300);
    let (url, _received) = receiver().await;
    let db = Database::create(dir, "webhooks-overhead").await;
    db.seeded().await;
    let server = Server::start_with(
        &db.url,
        dir,
        NOW_TEXT,
        &[
            ("COMPTOIR_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("COMPTOIR_DATA_KEY", DATA_KEY),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let support = keys
        .issue("bench", Role::Support, None, time::Duration::hours(2))
        .unwrap();
    let post = |path: String, token: String, body: Value| {
        let client = client.clone();
        let base = server.base.clone();
        async move {
            let res = client
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.unwrap()
        }
    };
    let mut accounts = Vec::new();
    for (name, endpoint) in [("Sans endpoint", false), ("Avec endpoint", true)] {
        let account = post(
            "/v1/accounts".into(),
            support.clone(),
            json!({"name": name}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = AccountId::parse(&account).unwrap();
        let admin = keys
            .issue("bench", Role::Admin, Some(&id), time::Duration::hours(2))
            .unwrap();
        post(
            format!("/v1/accounts/{account}/payment-methods/card"),
            admin.clone(),
            json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030,
                   "cvc": "123", "holder_name": "Claire Martin"}),
        )
        .await;
        if endpoint {
            post(
                format!("/v1/accounts/{account}/webhook-endpoints"),
                admin.clone(),
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        }
        accounts.push((account, admin));
    }
    let add = |account: &str, admin: &str| {
        let path = format!("/v1/accounts/{account}/licenses");
        let started = Instant::now();
        let request = post(
            path,
            admin.to_owned(),
            json!({"plan": "ADVANCED", "quantity": 1}),
        );
        async move {
            request.await;
            started.elapsed().as_secs_f64() * 1000.0
        }
    };
    for _ in 0..20 {
        for (account, admin) in &accounts {
            add(account, admin).await;
        }
    }
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..adds {
        // Alternate which goes first, so neither always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (account, admin) = &accounts[i];
            times[i].push(add(account, admin).await);
        }
    }
    drop(server);
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let mean = |t: &[f64]| t.iter().sum::<f64>() / t.len() as f64;
    let (without, with) = (&times[0], &times[1]);
    rows.push([
        format!("`POST .../licenses` (1 license), no endpoint: mean / p50 / p99 ({adds})"),
        String::new(),
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            mean(without),
            percentile(without, 0.5),
            percentile(without, 0.99)
        ),
    ]);
    rows.push([
        "same, one endpoint subscribed to every event (delivered meanwhile)".into(),
        "<= 10 % more".into(),
        format!(
            "{:.2} / {:.2} / {:.2} ms ({:+.1} % mean, {:+.1} % p50)",
            mean(with),
            percentile(with, 0.5),
            percentile(with, 0.99),
            (mean(with) / mean(without) - 1.0) * 100.0,
            (percentile(with, 0.5) / percentile(without, 0.5) - 1.0) * 100.0
        ),
    ]);
    db
}

#[tokio::main]
async fn main() {
    comptoir::api::events::install();
    let dir =
        std::env::temp_dir().join(format!("comptoir-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = common::keys();
    let mut rows = Vec::new();
    let databases = vec![
        rate_part(&dir, &mut rows).await,
        overhead_part(&dir, &keys, &mut rows).await,
    ];
    let backend = databases[0].backend;
    println!("\nWebhook benchmark on {backend}: release server in its own process\n");
    println!("| step | target | measured |");
    println!("|---|---|---:|");
    for [step, target, measured] in rows {
        println!("| {step} | {target} | {measured} |");
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        for db in &databases {
            println!("\nkept: {}", db.url);
        }
        return;
    }
    for db in databases {
        db.drop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
