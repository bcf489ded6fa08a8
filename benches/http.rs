//! HTTP load on the main read routes, with `/healthz` in the same run as the
//! framework's ceiling. Run with `make bench` (release build).
//!
//! The server runs in this process on a fresh database: SQLite by default,
//! PostgreSQL when `BENCH_DATABASE_URL` is a `postgres://` URL. 64 keep-alive
//! connections send requests for `BENCH_SECONDS` (default 5) per route.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use comptoir::auth::JwtKeys;
use comptoir::clock::Clock;
use comptoir::config::{JwtAlgorithm, JwtConfig, Secret};
use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use comptoir::store::Store;
use comptoir::{AppState, service};

const CONNECTIONS: usize = 64;

struct Outcome {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(url: String, token: Option<String>, seconds: u64) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, token) = (url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut request = client.get(&url);
                if let Some(t) = &token {
                    request = request.bearer_auth(t);
                }
                match request.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Outcome {
        requests: all.len(),
        errors,
        per_second: all.len() as f64 / elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (store, backend) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!("cpt_bench_{}", uuid::Uuid::new_v4().simple());
            (
                Store::connect_pg_schema(&url, &schema).await.unwrap(),
                "PostgreSQL",
            )
        }
        _ => {
            let dir = std::env::temp_dir()
                .join(format!("comptoir-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            (Store::connect(&url).await.unwrap(), "SQLite")
        }
    };
    let keys = Arc::new(
        JwtKeys::from_config(&JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            secret: Some(Secret::new("bench-secret-0123456789abcdef0123456789")),
            public_key_pem: None,
            issuer: "comptoir".into(),
            audience: "comptoir-api".into(),
        })
        .unwrap(),
    );
    let clock = Clock::system();
    let blobs =
        comptoir::store::blobs::BlobStore::new(std::env::temp_dir().join("comptoir-bench-blobs"));
    let account = service::demo::load(&store, &blobs, None, clock.now())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        store,
        clock,
        keys: keys.clone(),
        max_body_bytes: 1 << 20,
        blobs,
        data_key: None,
        webhook_secret: None,
        seller: Default::default(),
    };
    tokio::spawn(comptoir::run(listener, state, Vec::new()).unwrap());

    let hour = time::Duration::hours(1);
    let admin = keys
        .issue("bench", Role::Admin, Some(&account.id), hour)
        .unwrap();
    let id = AccountId::to_string(&account.id);
    let routes = [
        ("GET /healthz", "/healthz".to_owned(), None),
        ("GET /v1/plans", "/v1/plans".to_owned(), Some(admin.clone())),
        (
            "GET /v1/accounts/{a}",
            format!("/v1/accounts/{id}"),
            Some(admin.clone()),
        ),
        (
            "GET /v1/accounts/{a}/licenses (10)",
            format!("/v1/accounts/{id}/licenses"),
            Some(admin.clone()),
        ),
        (
            "GET /v1/accounts/{a}/audit-events",
            format!("/v1/accounts/{id}/audit-events"),
            Some(admin.clone()),
        ),
    ];
    println!(
        "\nHTTP benchmark on {backend}: {CONNECTIONS} connections, {seconds} s per route, load generator in-process\n"
    );
    println!("| route | requests/s | p50 ms | p99 ms | requests | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, path, token) in routes {
        let o = load(format!("{base}{path}"), token, seconds).await;
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {} |",
            o.per_second,
            o.p50.as_secs_f64() * 1000.0,
            o.p99.as_secs_f64() * 1000.0,
            o.requests,
            o.errors
        );
    }
}
