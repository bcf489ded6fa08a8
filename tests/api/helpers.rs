//! Spawns the real server on port 0 over a fresh database, SQLite by default
//! or PostgreSQL when `TEST_DATABASE_URL` is a `postgres://` URL (one schema
//! per test, so tests run in parallel on one database).

use std::sync::Arc;

use comptoir::Application;
use comptoir::auth::JwtKeys;
use comptoir::clock::Clock;
use comptoir::config::{JwtAlgorithm, JwtConfig, Secret};
use comptoir::domain::ids::AccountId;
use comptoir::domain::role::Role;
use comptoir::store::Store;
use comptoir::store::blobs::BlobStore;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::sync::OnceCell;

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789";
pub const MAX_BODY: usize = 64 * 1024;
/// 32 bytes, base64.
pub const DATA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef0123456789";
/// The e-invoicing platform's webhook secret (its own, not the payment provider's).
pub const PA_WEBHOOK_SECRET: &str = "pa_whsec_test_0123456789abcdef012345";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub keys: Arc<JwtKeys>,
    pub store: Store,
    pub blobs: BlobStore,
    /// Shared with the servers restarted on the same database and files.
    dir: Arc<TempDir>,
}

impl TestApp {
    /// How the background finalizer of `serve` makes invoices, as tests
    /// call it: the default seller, no grace period, no VIES.
    pub fn billing(&self) -> comptoir::service::invoices::Billing {
        comptoir::service::invoices::Billing {
            seller: comptoir::domain::seller::Seller::default(),
            grace: time::Duration::ZERO,
            vies: None,
            files: self.blobs.clone(),
        }
    }
}

/// A directory removed when the test ends.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn jwt_config(secret: &str, audience: &str) -> JwtConfig {
    JwtConfig {
        algorithm: JwtAlgorithm::Hs256,
        secret: Some(Secret::new(secret)),
        public_key_pem: None,
        issuer: "comptoir".into(),
        audience: audience.into(),
        max_ttl: comptoir::config::DEFAULT_JWT_MAX_TTL,
    }
}

static PG_CLEANED: OnceCell<()> = OnceCell::const_new();

/// Whether a test schema (`cpt_t_<uuid v7>`, so named by its creation time)
/// is an hour old or more, or not named by time at all: left behind by an
/// earlier run. A younger one may belong to a run going on now.
fn stale_schema(name: &str, now_ms: u128) -> bool {
    let created = name
        .strip_prefix("cpt_t_")
        .and_then(|hex| hex.get(..12))
        .and_then(|ms| u128::from_str_radix(ms, 16).ok());
    match created {
        Some(ms) if ms <= now_ms + 60_000 => now_ms.saturating_sub(ms) >= 3_600_000,
        _ => true,
    }
}

/// Drops the schemas that earlier runs left behind, once per run; schemas
/// of runs still going on (another engineer's, the fuzzing's) are kept.
async fn clean_pg(url: &str) {
    PG_CLEANED
        .get_or_init(|| async {
            let pool = sqlx::PgPool::connect(url)
                .await
                .expect("PostgreSQL is reachable");
            let schemas: Vec<(String,)> = sqlx::query_as(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'cpt\\_t\\_%'",
            )
            .fetch_all(&pool)
            .await
            .expect("list schemas");
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            for (schema,) in schemas {
                if !stale_schema(&schema, now_ms) {
                    continue;
                }
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&pool)
                .await;
            }
            pool.close().await;
        })
        .await;
}

pub async fn fresh_store() -> (Store, TempDir) {
    // Time-ordered, so that `clean_pg` can tell a live schema from a stale one.
    let id = uuid::Uuid::now_v7().simple().to_string();
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            clean_pg(&url).await;
            let store = Store::connect_pg_schema(&url, &format!("cpt_t_{id}"))
                .await
                .expect("connect to PostgreSQL");
            let dir = std::env::temp_dir().join(format!("comptoir-test-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            (store, TempDir(dir))
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("comptoir-test-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("test.db").display());
            let store = Store::connect(&url).await.expect("open SQLite");
            (store, TempDir(dir))
        }
    }
}

/// The clock starts on 9 April 2026, the day of the help page's example.
pub const START: OffsetDateTime = datetime!(2026-04-09 10:00 UTC);

/// Everything the servers of this test run logged (all tests share it).
pub static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("comptoir=debug,info")
            .with_writer(|| LogSink)
            .try_init();
    });
}

/// Makes every insert into `table` of a row of `account` fail inside its
/// transaction (a trigger), to check what a failed write leaves behind.
pub async fn fail_inserts_of(app: &TestApp, table: &str, account: &str) {
    let name = format!("fail_{table}");
    let statements = match &app.store {
        Store::Sqlite(_) => vec![format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN NEW.account_id = '{account}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Store::Pg(_) => vec![
            format!(
                "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
                 IF NEW.account_id = '{account}' THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            ),
        ],
    };
    for sql in statements {
        match &app.store {
            Store::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Store::Pg(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

impl TestApp {
    /// The rows `sql` reads, on either database (tests look under the API).
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
            Store::Pg(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        }
    }
}

impl TestApp {
    /// Every table with an `account_id` column, from the database's own catalog.
    pub async fn account_tables(&self) -> Vec<String> {
        let sql = match &self.store {
            Store::Sqlite(_) => {
                "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND p.name = 'account_id' ORDER BY m.name"
            }
            Store::Pg(_) => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.columns \
                 WHERE column_name = 'account_id' AND table_schema = current_schema() \
                 ORDER BY 1"
            }
        };
        let rows: Vec<(String,)> = self.rows(sql).await;
        rows.into_iter().map(|(t,)| t).collect()
    }
}

/// The last `n` lines of the captured logs (to show with a failure).
pub fn logs_tail(n: usize) -> String {
    let logs = LOGS.lock().unwrap();
    let text = String::from_utf8_lossy(&logs);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn logs_contain(needle: &str) -> bool {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs).contains(needle)
}

impl TestApp {
    /// Whether any stored text (every table, or the SQLite files) holds `needle`.
    pub async fn database_contains(&self, needle: &str) -> bool {
        match &self.store {
            Store::Sqlite(_) => {
                let dir = self.dir.0.clone();
                ["test.db", "test.db-wal"].iter().any(|f| {
                    std::fs::read(dir.join(f)).is_ok_and(|bytes| {
                        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                    })
                })
            }
            Store::Pg(pool) => {
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for (table,) in tables {
                    let sql = format!(
                        "SELECT count(*) FROM {table} t WHERE row_to_json(t)::text LIKE $1"
                    );
                    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(format!("%{needle}%"))
                        .fetch_one(pool)
                        .await
                        .unwrap();
                    if n > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// The configuration of a test server, read like the environment is.
pub fn test_config(data_dir: &std::path::Path) -> comptoir::config::Config {
    test_config_with(data_dir, &[])
}

/// [`test_config`] with some variables set otherwise.
pub fn test_config_with(
    data_dir: &std::path::Path,
    overrides: &[(&'static str, &str)],
) -> comptoir::config::Config {
    let mut vars: std::collections::HashMap<&str, String> = [
        ("COMPTOIR_ADDR", "127.0.0.1:0".to_owned()),
        ("COMPTOIR_JWT_SECRET", SECRET.to_owned()),
        (
            "COMPTOIR_NOW",
            START
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        ),
        ("COMPTOIR_DATA_DIR", data_dir.display().to_string()),
        ("COMPTOIR_DATA_KEY", DATA_KEY.to_owned()),
        ("COMPTOIR_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("COMPTOIR_PA_WEBHOOK_SECRET", PA_WEBHOOK_SECRET.to_owned()),
        ("COMPTOIR_CORS_ORIGINS", "https://app.example".to_owned()),
        ("COMPTOIR_MAX_BODY_BYTES", MAX_BODY.to_string()),
        // Tests never reach the EU's VIES: nothing listens on port 1, so a
        // check is refused at once and stored `unavailable` (tests/api/vies.rs
        // runs a stand-in).
        ("COMPTOIR_VIES_URL", "http://127.0.0.1:1".to_owned()),
        ("COMPTOIR_VIES_TIMEOUT", "1".to_owned()),
    ]
    .into_iter()
    .collect();
    for (name, value) in overrides {
        vars.insert(name, (*value).to_owned());
    }
    comptoir::config::Config::from_lookup(|name| vars.get(name).cloned())
        .expect("test configuration")
}

/// A server started by `Application::build`, as `main` starts it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with some configuration variables set otherwise.
pub async fn spawn_app_with(overrides: &[(&'static str, &str)]) -> TestApp {
    capture_logs();
    let (store, dir) = fresh_store().await;
    let app = Application::build(&test_config_with(&dir.0.join("data"), overrides), store)
        .expect("the server starts");
    tokio::spawn(app.server);
    TestApp {
        base: format!("http://127.0.0.1:{}", app.port),
        client: reqwest::Client::new(),
        clock: app.clock,
        keys: app.keys,
        store: app.store,
        blobs: app.blobs,
        dir: Arc::new(dir),
    }
}

impl TestApp {
    /// Another server on the same database and documents' directory, as
    /// after a restart (or a deployment of new code), with some
    /// configuration variables set otherwise.
    pub fn restarted(&self, overrides: &[(&'static str, &str)]) -> TestApp {
        let app = Application::build(
            &test_config_with(&self.dir.0.join("data"), overrides),
            self.store.clone(),
        )
        .expect("the server starts");
        tokio::spawn(app.server);
        TestApp {
            base: format!("http://127.0.0.1:{}", app.port),
            client: reqwest::Client::new(),
            clock: app.clock,
            keys: app.keys,
            store: app.store,
            blobs: app.blobs,
            dir: self.dir.clone(),
        }
    }
}

impl TestApp {
    pub fn token(&self, role: Role, account: Option<&str>) -> String {
        let account = account.map(|a| AccountId::parse(a).unwrap());
        self.keys
            .issue("usr_test", role, account.as_ref(), time::Duration::hours(1))
            .unwrap()
    }

    pub fn support(&self) -> String {
        self.token(Role::Support, None)
    }

    pub fn admin(&self, account: &str) -> String {
        self.token(Role::Admin, Some(account))
    }

    pub fn viewer(&self, account: &str) -> String {
        self.token(Role::Viewer, Some(account))
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Opens an account as staff and returns its id.
    pub async fn create_account(&self, name: &str) -> String {
        let res = self
            .post(
                "/v1/accounts",
                &self.support(),
                &serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Opens an account with a verified primary billing address in Paris
    /// (French VAT at 20 %): what its invoices need to be issued.
    pub async fn create_billable_account(&self, name: &str) -> String {
        let account = self.create_account(name).await;
        self.add_verified_address(
            &account,
            &serde_json::json!({"company_name": format!("{name} SAS"), "line1": "1 rue de la Paix",
                                "postal_code": "75002", "city": "Paris", "country": "FR"}),
        )
        .await;
        account
    }

    /// Adds `fields` as an address of `account`, verified by staff, and
    /// returns its id (the account's first address is its primary one).
    pub async fn add_verified_address(&self, account: &str, fields: &Value) -> String {
        let res = self
            .post(
                &format!("/v1/accounts/{account}/billing-addresses"),
                &self.admin(account),
                fields,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{fields}");
        let body: Value = res.json().await.unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        let res = self
            .post(
                &format!("/v1/accounts/{account}/billing-addresses/{id}/verify"),
                &self.support(),
                &serde_json::json!({}),
            )
            .await;
        assert!(res.status().is_success(), "verify: {}", res.status());
        id
    }

    /// Adds a user to `account` as its admin and returns the user's id.
    pub async fn create_user(&self, account: &str, name: &str, email: &str) -> String {
        let res = self
            .post(
                &format!("/v1/accounts/{account}/users"),
                &self.admin(account),
                &serde_json::json!({ "name": name, "email": email }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// A verified primary address in Paris: French VAT (20 %) on the
    /// account's top-ups and invoices.
    pub async fn verified_french_address(&self, account: &str) -> String {
        self.add_verified_address(
            account,
            &serde_json::json!({
                "company_name": "Acme SAS", "line1": "12 rue de la Paix",
                "postal_code": "75002", "city": "Paris", "country": "FR"
            }),
        )
        .await
    }

    pub async fn audit_actions(&self, account: &str) -> Vec<String> {
        let res = self
            .get(
                &format!("/v1/accounts/{account}/audit-events?limit=100"),
                &self.support(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The JSON body of a response that must succeed; otherwise the test fails
/// naming the status, the body and the server's last log lines.
pub async fn success_json(res: Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}\n{}", logs_tail(40));
    body
}

/// Asserts a problem+json response with this status and code; returns its body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem without {member}: {body}");
    }
    body
}

#[test]
fn only_schemas_an_hour_old_or_not_named_by_time_are_stale() {
    let now_ms: u128 = 1_790_000_000_000;
    let named = |ms: u128| format!("cpt_t_{ms:012x}7000800000000000000000");
    assert!(!stale_schema(&named(now_ms - 59 * 60_000), now_ms));
    assert!(stale_schema(&named(now_ms - 61 * 60_000), now_ms));
    assert!(
        stale_schema(&named(now_ms + 86_400_000), now_ms),
        "a random v4 name"
    );
    assert!(stale_schema("cpt_t_zz", now_ms));
}

/// The text of a PDF in drawing order, one line per text operation, with
/// `pdf_extract`'s decoding: its own layout guess reads glyph widths from
/// the CID font's `/W` array and takes the `first last width` form krilla
/// writes for none at all, gluing the lines of the PDF/A documents together.
pub fn pdf_text_of(pdf: &[u8]) -> String {
    use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

    struct Lines(String);
    impl OutputDev for Lines {
        fn begin_page(
            &mut self,
            _: u32,
            _: &MediaBox,
            _: Option<(f64, f64, f64, f64)>,
        ) -> Result<(), OutputError> {
            self.0.push('\n');
            Ok(())
        }
        fn end_page(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn output_character(
            &mut self,
            _: &Transform,
            _: f64,
            _: f64,
            _: f64,
            c: &str,
        ) -> Result<(), OutputError> {
            self.0.push_str(c);
            Ok(())
        }
        fn begin_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn end_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
        fn end_line(&mut self) -> Result<(), OutputError> {
            self.0.push('\n');
            Ok(())
        }
    }

    let doc = pdf_extract::Document::load_mem(pdf).expect("the PDF parses");
    let mut lines = Lines(String::new());
    pdf_extract::output_doc(&doc, &mut lines).expect("the text extracts");
    lines.0
}
