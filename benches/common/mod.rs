//! What the benchmarks share: the release server in its own process.
//! Each benchmark uses part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use comptoir::store::Store;

/// The secret the benchmarks' server and tokens share.
pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

/// The keys the benchmarks sign their tokens with (the server's [`SECRET`]).
pub fn keys() -> comptoir::auth::JwtKeys {
    comptoir::auth::JwtKeys::from_config(&comptoir::config::JwtConfig {
        algorithm: comptoir::config::JwtAlgorithm::Hs256,
        secret: Some(comptoir::config::Secret::new(SECRET)),
        public_key_pem: None,
        issuer: "comptoir".into(),
        audience: "comptoir-api".into(),
        max_ttl: comptoir::config::DEFAULT_JWT_MAX_TTL,
    })
    .unwrap()
}

/// `target/release/comptoir serve` on a free port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on `database_url` with the clock fixed at `now`,
    /// and waits until it answers `/readyz`.
    pub async fn start(database_url: &str, dir: &std::path::Path, now: &str) -> Server {
        Self::start_with(database_url, dir, now, &[]).await
    }

    /// [`Server::start`] with more environment variables.
    pub async fn start_with(
        database_url: &str,
        dir: &std::path::Path,
        now: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/comptoir");
        assert!(
            binary.exists(),
            "build the release binary first (make bench does)"
        );
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("COMPTOIR_ADDR", format!("127.0.0.1:{port}"))
            .env("COMPTOIR_JWT_SECRET", SECRET)
            .env("COMPTOIR_NOW", now)
            // Billing runs make drafts that wait an hour: the benchmark
            // times the run and the finalizer apart.
            .env("COMPTOIR_INVOICE_GRACE", "1h")
            .env("COMPTOIR_DATA_DIR", dir.join("data"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }
}

/// A fresh database: a SQLite file in `dir`, or a PostgreSQL schema.
pub struct Database {
    pub url: String,
    pub backend: &'static str,
    pub schema: Option<String>,
    pub store: Store,
}

impl Database {
    pub async fn create(dir: &std::path::Path, name: &str) -> Database {
        match std::env::var("BENCH_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let schema = format!("cpt_bench_{}", uuid::Uuid::new_v4().simple());
                let store = Store::connect_pg_schema(&base, &schema).await.unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                Database {
                    url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    backend: "PostgreSQL",
                    schema: Some(schema),
                    store,
                }
            }
            _ => {
                let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
                let store = Store::connect(&url).await.unwrap();
                Database {
                    url,
                    backend: "SQLite",
                    schema: None,
                    store,
                }
            }
        }
    }

    /// Ends the bulk load: fresh statistics on PostgreSQL, as autovacuum
    /// would gather them; on SQLite, closing the last connection checkpoints
    /// the write-ahead log, as the end of a loading process would.
    pub async fn seeded(&self) {
        if let Store::Pg(pool) = &self.store {
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
        self.store.close().await;
    }

    pub async fn drop(self) {
        if let (Some(schema), Ok(url)) = (&self.schema, std::env::var("BENCH_DATABASE_URL")) {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}
