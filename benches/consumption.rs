//! Consumption at scale: ingesting 1,000,000 generated records in batches of
//! 5,000, then exporting them as CSV and HTML (1,000,000 rows) and PDF
//! (100,000 rows), with the server's peak memory during each export.
//!
//! The server is the release binary (`target/release/comptoir`, built by
//! `make bench`) in its own process, so its memory can be read from
//! `/proc/{pid}/status` (`VmHWM`, reset before each export through
//! `clear_refs`). SQLite by default; PostgreSQL when `BENCH_DATABASE_URL` is
//! a `postgres://` URL. `BENCH_RECORDS` changes the number of records.

use std::time::Instant;

use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use serde_json::{Value, json};

mod common;
use common::Server;

/// The clock of the server: the records are in May 2026.
const NOW: &str = "2026-05-15T10:00:00Z";
const BATCH: usize = 5_000;
const USERS: usize = 10;
const IN_FLIGHT: usize = 3;

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Forgets the peak resident memory so far.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
    }

    /// Peak resident memory since the last reset, in MiB.
    fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

fn record(i: usize, user: &str) -> Value {
    // One record every 2.5 s from May 1 (UTC): a million fit in the month.
    let at = time::macros::datetime!(2026-05-01 00:00 UTC)
        + time::Duration::milliseconds(2_500 * i as i64);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({
        "external_id": format!("cdr-{i:08}"),
        "occurred_at": at,
        "user_id": user,
        "kind": if i.is_multiple_of(5) { "sms" } else { "call" },
        "direction": if i.is_multiple_of(3) { "inbound" } else { "outbound" },
        "destination": format!("+3318480{:04}", i % 10_000),
        "country": "FR",
        "duration_seconds": (i % 900) as i64,
        "cost": if i.is_multiple_of(4) { "0.12" } else { "0.00" },
    })
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{url}: {}", res.status());
    res.json().await.unwrap()
}

/// Streams a response to the end, counting its bytes and lines.
async fn download(client: &reqwest::Client, url: &str, token: &str) -> (usize, usize) {
    let mut res = client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    let (mut bytes, mut lines) = (0, 0);
    while let Some(chunk) = res.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    (bytes, lines)
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir =
        std::env::temp_dir().join(format!("comptoir-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut schema = None;
    let (database_url, backend) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("cpt_bench_{}", uuid::Uuid::new_v4().simple());
            // Creates the schema; the server migrates it.
            comptoir::store::Store::connect_pg_schema(&url, &name)
                .await
                .unwrap()
                .close()
                .await;
            let schema = schema.insert(name);
            let sep = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}options=-csearch_path%3D{schema}"),
                "PostgreSQL",
            )
        }
        _ => (
            format!("sqlite://{}", dir.join("bench.db").display()),
            "SQLite",
        ),
    };
    let server = Server::start(&database_url, &dir, NOW).await;
    let client = reqwest::Client::new();
    let keys = common::keys();
    let hour = time::Duration::hours(2);
    let support = keys.issue("bench", Role::Support, None, hour).unwrap();
    let base = &server.base;
    let account = post(
        &client,
        &format!("{base}/v1/accounts"),
        &support,
        &json!({"name": "Bench"}),
    )
    .await;
    let account_id = AccountId::parse(account["id"].as_str().unwrap()).unwrap();
    let account = account_id.as_str();
    let admin = keys
        .issue("bench", Role::Admin, Some(&account_id), hour)
        .unwrap();
    let integration = keys
        .issue("bench", Role::Integration, Some(&account_id), hour)
        .unwrap();
    let mut users = Vec::new();
    for u in 0..USERS {
        let team = post(
            &client,
            &format!("{base}/v1/accounts/{account}/teams"),
            &admin,
            &json!({"name": format!("Team {u}")}),
        )
        .await;
        let user = post(
            &client,
            &format!("{base}/v1/accounts/{account}/users"),
            &admin,
            &json!({"name": format!("Utilisateur n° {u}"), "email": format!("u{u}@bench.fr"), "team_id": team["id"]}),
        )
        .await;
        users.push(user["id"].as_str().unwrap().to_owned());
    }

    // Ingestion: up to IN_FLIGHT batches are sent at once, as a platform
    // with several senders would; the server parses and checks one batch
    // while it writes another.
    let url = format!("{base}/v1/accounts/{account}/consumption");
    let started = Instant::now();
    let mut inserted = 0;
    let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Value>> =
        Default::default();
    for start in (0..records).step_by(BATCH) {
        let batch: Vec<Value> = (start..(start + BATCH).min(records))
            .map(|i| record(i, &users[i % USERS]))
            .collect();
        let body = serde_json::to_vec(&json!({ "records": batch })).unwrap();
        if in_flight.len() == IN_FLIGHT {
            let oldest = in_flight.pop_front().unwrap();
            inserted += oldest.await.unwrap()["inserted"].as_u64().unwrap();
        }
        let (client, url, token) = (client.clone(), url.clone(), integration.clone());
        in_flight.push_back(tokio::spawn(async move {
            let res = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json().await.unwrap()
        }));
    }
    for last in in_flight {
        inserted += last.await.unwrap()["inserted"].as_u64().unwrap();
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    assert_eq!(inserted as usize, records);

    println!(
        "\nConsumption benchmark on {backend}: {records} records, batches of {BATCH}, server in its own process\n"
    );
    println!("| step | rows | seconds | rows/s | bytes | server peak MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| ingest (POST .../consumption) | {records} | {ingest_secs:.2} | {:.0} | | |",
        records as f64 / ingest_secs
    );
    // A fresh server process for the exports, so that its peak memory is
    // the exports' own and not what the ingestion left in the allocator.
    drop(server);
    let server = Server::start(&database_url, &dir, NOW).await;
    let base = &server.base;
    let pdf_user = &users[0];
    let exports = [
        ("export CSV", "format=csv".to_owned(), records),
        ("export HTML", "format=html".to_owned(), records),
        (
            "export PDF (one user)",
            format!("format=pdf&user_id={pdf_user}"),
            records.div_ceil(USERS),
        ),
    ];
    for (name, query, rows) in exports {
        server.reset_peak();
        let started = Instant::now();
        let (bytes, lines) = download(
            &client,
            &format!("{base}/v1/accounts/{account}/consumption/export?{query}"),
            &admin,
        )
        .await;
        let secs = started.elapsed().as_secs_f64();
        if query.contains("csv") {
            assert_eq!(lines, rows + 1, "a header and every row");
        }
        println!(
            "| {name} | {rows} | {secs:.2} | {:.0} | {bytes} | {:.1} |",
            rows as f64 / secs,
            server.peak_mib()
        );
    }
    drop(server);
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("\nkept: {database_url}");
        return;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let (Some(schema), Ok(url)) = (schema, std::env::var("BENCH_DATABASE_URL")) {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await
            .unwrap();
    }
}
