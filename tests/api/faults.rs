//! Crashes: the real `comptoir` binary, killed with SIGKILL in the middle of
//! writes (consumption batches, a billing run), restarted on the same
//! database, then checked: nothing acknowledged is lost, nothing is half
//! written, and sending the same work again does nothing twice.
//!
//! The database is the harness's (`fresh_store`): a temporary SQLite file,
//! or a fresh `cpt_t_*` schema when `TEST_DATABASE_URL` is set, which the
//! binary reaches through `options=-csearch_path=...` in its URL (and an
//! `application_name` of its own, to find its backends).
//!
//! The kill lands inside a write transaction, and the tests know it: from a
//! point picked by the seed (the Nth batch, the Nth invoice), the server's
//! transactions are made to stall after their writes and before their
//! commit (every change writes its audit event last: PostgreSQL waits on a
//! SHARE lock the test holds on `audit_events`; SQLite runs a slow trigger on
//! it). The test waits until a server backend waits on that lock with a
//! transaction id (PostgreSQL), or the server holds the write lock with no
//! commit since (SQLite: `PRAGMA data_version`), then kills it. Afterwards
//! PostgreSQL reports that transaction `aborted` (asserted); on SQLite the
//! data version shows whether any commit slipped in between (reported).
//! `FAULT_SEED` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comptoir::auth::JwtKeys;
use comptoir::domain::account::Timezone;
use comptoir::domain::ids::{AccountId, LicenseId, RecipientId};
use comptoir::domain::license::License;
use comptoir::domain::money::{Currency, Money};
use comptoir::domain::role::{Caller, Role};
use comptoir::service::{self, Ctx};
use comptoir::store::Store;
use comptoir::store::recipients::RecipientRow;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection;
use time::OffsetDateTime;
use time::macros::{date, datetime};

use crate::helpers::{DATA_KEY, SECRET, TempDir, WEBHOOK_SECRET, fresh_store, jwt_config};

/// Runs a query on either backend and fetches every row as `$ty`.
macro_rules! fetch_all {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $store {
            Store::Sqlite(pool) => sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe($sql.to_string()))
                $(.bind($bind))*
                .fetch_all(pool)
                .await
                .unwrap(),
            Store::Pg(pool) => sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe($sql.to_string()))
                $(.bind($bind))*
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    };
}

/// One number of an account (`COUNT`, `SUM` cast to BIGINT): 0 when NULL.
async fn number(store: &Store, sql: &str, account: &str) -> i64 {
    let rows = fetch_all!(store, (Option<i64>,), sql, account);
    rows.first().and_then(|r| r.0).unwrap_or(0)
}

async fn invoice_count(store: &Store) -> usize {
    let rows = fetch_all!(store, (i64,), "SELECT COUNT(*) FROM invoices");
    rows[0].0 as usize
}

/// A seed for the moments the tests pick: `FAULT_SEED`, or the clock.
fn seed() -> u64 {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos(),
            )
        });
    eprintln!("faults: FAULT_SEED={seed}");
    seed
}

/// The database the binary and the test share.
struct Database {
    /// What the binary gets as `DATABASE_URL`.
    url: String,
    /// The test's own connections, for seeding and checking.
    store: Store,
    /// PostgreSQL: the `application_name` of the server's connections.
    app_name: Option<String>,
    dir: TempDir,
}

impl Database {
    async fn create() -> Database {
        let (store, dir) = fresh_store().await;
        let (url, app_name) = match &store {
            Store::Sqlite(_) => (
                format!("sqlite://{}", dir.0.join("test.db").display()),
                None,
            ),
            Store::Pg(pool) => {
                let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                let base = std::env::var("TEST_DATABASE_URL").unwrap();
                let app = format!("comptoir_fault_{}", uuid::Uuid::new_v4().simple());
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{sep}options=-csearch_path%3D{schema}&application_name={app}"),
                    Some(app),
                )
            }
        };
        Database {
            url,
            store,
            app_name,
            dir,
        }
    }

    fn backend(&self) -> &'static str {
        match self.store {
            Store::Sqlite(_) => "SQLite",
            Store::Pg(_) => "PostgreSQL",
        }
    }

    /// SQLite: from the moment `when` (SQL) holds, the server's write
    /// transactions take a few hundred milliseconds more, after their
    /// writes and before their commit: a trigger on `audit_events`, which
    /// every change writes last. It is set before the server works, since a
    /// write of the test would wait for the lock behind the server's own
    /// writers. (PostgreSQL needs nothing in advance.)
    async fn arm_stall(&self, when: &str) {
        if let Store::Sqlite(pool) = &self.store {
            for sql in [
                "CREATE TABLE fault_slow (x INTEGER)".to_owned(),
                "INSERT INTO fault_slow (x) WITH RECURSIVE c(x) AS \
                 (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1200) SELECT x FROM c"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER fault_stall BEFORE INSERT ON audit_events WHEN {when} \
                     BEGIN SELECT COUNT(*) FROM fault_slow a, fault_slow b; END"
                ),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }

    /// Stalls the server's writes for good, after their writes and before
    /// their commit. PostgreSQL: a SHARE lock on `audit_events` (every
    /// change's last INSERT waits for it); SQLite: the armed trigger, and a
    /// connection to see the write lock taken (SQLite has no row locks, but a
    /// writer holds the database's write lock from BEGIN to COMMIT).
    async fn stall(&self) -> Stall {
        match &self.store {
            Store::Sqlite(_) => {
                // No busy timeout: a taken write lock answers at once.
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .unwrap()
                    .busy_timeout(Duration::ZERO);
                Stall::Sqlite(
                    sqlx::SqliteConnection::connect_with(&options)
                        .await
                        .unwrap(),
                )
            }
            Store::Pg(pool) => {
                let mut lock = pool.begin().await.unwrap();
                sqlx::query("LOCK TABLE audit_events IN SHARE MODE")
                    .execute(&mut *lock)
                    .await
                    .unwrap();
                Stall::Pg(lock, pool.clone(), self.app_name.clone().unwrap())
            }
        }
    }

    /// Stalls the server's writes, waits until it is inside a write
    /// transaction, kills it there (calling `at_kill` at once), and lets the
    /// database go on.
    async fn kill_mid_write<T>(
        &self,
        server: &mut Server,
        at_kill: impl FnOnce() -> T,
    ) -> (Killed, T) {
        let mut stall = self.stall().await;
        let started = Instant::now();
        let writing = loop {
            if let Some(w) = stall.writing().await {
                break w;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the server was never seen writing: {}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        server.kill();
        let seen = at_kill();
        let mut xact = String::new();
        match stall {
            Stall::Sqlite(mut conn) => {
                if let Writing::Locked(before) = writing {
                    xact = if data_version(&mut conn).await == before {
                        "aborted".into()
                    } else {
                        "unknown: a commit came in between".into()
                    };
                }
                conn.close().await.unwrap();
                if let Store::Sqlite(pool) = &self.store {
                    for sql in ["DROP TRIGGER fault_stall", "DROP TABLE fault_slow"] {
                        sqlx::query(sql).execute(pool).await.unwrap();
                    }
                }
            }
            Stall::Pg(lock, ..) => lock.rollback().await.unwrap(),
        }
        self.wait_server_gone().await;
        if let Writing::Xact(xid) = writing {
            xact = self.xact_status(xid).await;
        }
        (Killed { writing, xact }, seen)
    }

    /// PostgreSQL: waits until every backend of the killed server is gone
    /// (each notices its client died and rolls back what it held).
    async fn wait_server_gone(&self) {
        let (Store::Pg(pool), Some(app)) = (&self.store, &self.app_name) else {
            return;
        };
        let started = Instant::now();
        loop {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                    .bind(app)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            if n == 0 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the killed server's backends are still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// PostgreSQL: what became of a transaction (`committed`, `aborted`).
    async fn xact_status(&self, xid: u64) -> String {
        let Store::Pg(pool) = &self.store else {
            return String::new();
        };
        let (status,): (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT pg_xact_status('{xid}'::xid8)"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        status.unwrap_or_default()
    }
}

/// SQLite: a number that changes whenever another connection commits.
async fn data_version(conn: &mut sqlx::SqliteConnection) -> i64 {
    let (version,): (i64,) = sqlx::query_as("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    version
}

/// What was seen just before the kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// SQLite: the server held the write lock (and the data version read
    /// just before).
    Locked(i64),
    /// PostgreSQL: a backend of the server, waiting on the stall, had this
    /// (full) transaction id: it had written and not committed.
    Xact(u64),
}

#[derive(Debug)]
struct Killed {
    writing: Writing,
    /// What became of the transaction seen writing: `aborted` when it
    /// provably never committed (PostgreSQL: its status; SQLite: no commit
    /// at all between the probe and the kill).
    xact: String,
}

enum Stall {
    /// A connection without busy timeout, to see whether the lock is taken.
    Sqlite(sqlx::SqliteConnection),
    /// The transaction holding the lock, the pool, the server's application_name.
    Pg(
        sqlx::Transaction<'static, sqlx::Postgres>,
        sqlx::PgPool,
        String,
    ),
}

impl Stall {
    /// Whether the server is inside a write transaction right now.
    async fn writing(&mut self) -> Option<Writing> {
        match self {
            Stall::Sqlite(conn) => {
                // The data version, read before and after: the same means no
                // commit in between, so the transaction holding the lock at
                // the probe has not committed yet. If it is the same again
                // after the kill, that transaction never committed.
                let before = data_version(conn).await;
                let locked = match sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                    Ok(_) => {
                        sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
                        false
                    }
                    Err(sqlx::Error::Database(e)) if e.message().contains("locked") => true,
                    Err(e) => panic!("probing the write lock: {e}"),
                };
                (locked && data_version(conn).await == before).then_some(Writing::Locked(before))
            }
            Stall::Pg(_, pool, app) => {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT backend_xid::text, pg_snapshot_xmax(pg_current_snapshot())::text \
                     FROM pg_stat_activity WHERE application_name = $1 \
                     AND backend_xid IS NOT NULL AND wait_event_type = 'Lock' LIMIT 1",
                )
                .bind(&*app)
                .fetch_optional(&*pool)
                .await
                .unwrap();
                row.map(|(xid, xmax)| {
                    // backend_xid has 32 bits: put it in the epoch of the
                    // snapshot's xmax, which is close to it (either side).
                    let (xid, xmax): (u32, u64) = (xid.parse().unwrap(), xmax.parse().unwrap());
                    let behind = i64::from((xmax as u32).wrapping_sub(xid) as i32);
                    Writing::Xact(xmax.checked_add_signed(-behind).unwrap())
                })
            }
        }
    }
}

/// The binary, serving in its own process.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `comptoir serve` on `db` with the clock fixed at `now`, and
    /// waits until it answers `/readyz`. The port is picked free, then
    /// handed over: if something takes it meanwhile, another one is tried.
    async fn start(db: &Database, now: &str, name: &str) -> Server {
        for attempt in 1.. {
            match Server::try_start(db, now, name).await {
                Ok(server) => return server,
                Err(logs) if attempt < 5 && logs.contains("binding") => continue,
                Err(logs) => panic!("the server did not start: {logs}"),
            }
        }
        unreachable!()
    }

    async fn try_start(db: &Database, now: &str, name: &str) -> Result<Server, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = db.dir.0.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_comptoir"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("COMPTOIR_ADDR", format!("127.0.0.1:{port}"))
            .env("COMPTOIR_JWT_SECRET", SECRET)
            .env("COMPTOIR_DATA_KEY", DATA_KEY)
            .env("COMPTOIR_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("COMPTOIR_DATA_DIR", db.dir.0.join("data"))
            .env("COMPTOIR_NOW", now)
            .env("COMPTOIR_LOG_FORMAT", "json")
            // "serving" (info) says the port is this server's.
            .env("RUST_LOG", "warn,comptoir=info")
            .current_dir(&db.dir.0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the comptoir binary");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("exited ({status}): {}", server.logs()));
            }
            let ready = client
                .get(format!("{}/readyz", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready && server.logs().contains("serving") {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("not ready after 60 s: {}", server.logs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no flush, no rollback by the process itself.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn keys() -> JwtKeys {
    JwtKeys::from_config(&jwt_config(SECRET, "comptoir-api")).unwrap()
}

fn token(role: Role, account: Option<&str>) -> String {
    let account = account.map(|a| AccountId::parse(a).unwrap());
    keys()
        .issue(
            "usr_fault",
            role,
            account.as_ref(),
            time::Duration::hours(1),
        )
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn post_ok(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
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

// ---------------------------------------------------------------------------
// Consumption batches

const BATCH: usize = 2_000;
const SENDERS: usize = 4;
/// The most batches a test sends (it kills the server long before).
const MAX_BATCHES: usize = 200;
/// What the funded account starts with: more than every batch costs.
const FUNDS_MINOR: i64 = 1_000_000;

/// Batch `n` costs `1000 + n` cents (its first `1000 + n` records cost 0.01),
/// so each consumption debit in the ledger names its batch.
fn batch_cost(n: usize) -> i64 {
    1_000 + n as i64
}

fn batch(n: usize, user: &str) -> Value {
    let records: Vec<Value> = (0..BATCH)
        .map(|i| {
            let at = datetime!(2026-04-01 00:00 UTC)
                + time::Duration::seconds(3 * (n * BATCH + i) as i64);
            json!({
                "external_id": format!("b{n:04}-{i:04}"),
                "occurred_at": at.format(&time::format_description::well_known::Rfc3339).unwrap(),
                "user_id": user,
                "kind": "call",
                "direction": "outbound",
                "destination": "+33184800123",
                "country": "FR",
                "duration_seconds": 60,
                "cost": if (i as i64) < batch_cost(n) { "0.01" } else { "0.00" },
            })
        })
        .collect();
    json!({ "records": records })
}

/// What the client knows of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Unsent,
    InFlight,
    /// 200: the server said it is stored.
    Acked,
    /// Another status: the server said it is not.
    Refused(u16),
    /// The connection broke before a status came back.
    NoAnswer,
}

/// The two accounts batches go to: even batches to one with credits, odd
/// ones to one without (everything billable).
struct Accounts {
    funded: String,
    unfunded: String,
    users: [String; 2],
}

impl Accounts {
    fn of(&self, n: usize) -> (&str, &str) {
        if n.is_multiple_of(2) {
            (&self.funded, &self.users[0])
        } else {
            (&self.unfunded, &self.users[1])
        }
    }
}

async fn open_accounts(client: &reqwest::Client, base: &str) -> Accounts {
    let support = token(Role::Support, None);
    let mut ids = Vec::new();
    let mut users = Vec::new();
    for name in ["Funded", "Unfunded"] {
        let account = post_ok(
            client,
            &format!("{base}/v1/accounts"),
            &support,
            &json!({ "name": name }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = post_ok(
            client,
            &format!("{base}/v1/accounts/{account}/users"),
            &token(Role::Admin, Some(&account)),
            &json!({"name": "Léa", "email": format!("lea@{}.fr", name.to_lowercase())}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ids.push(account);
        users.push(user);
    }
    post_ok(
        client,
        &format!("{base}/v1/accounts/{}/credits/adjustments", ids[0]),
        &support,
        &json!({"amount": Money::from_minor(FUNDS_MINOR, Currency::Eur).amount(), "reason": "funds"}),
    )
    .await;
    Accounts {
        funded: ids[0].clone(),
        unfunded: ids[1].clone(),
        users: [users[0].clone(), users[1].clone()],
    }
}

/// How many records of each batch are stored, by batch number.
async fn stored_batches(store: &Store) -> BTreeMap<usize, i64> {
    let rows = fetch_all!(
        store,
        (String, i64),
        "SELECT substr(external_id, 2, 4), COUNT(*) FROM consumption_records GROUP BY 1"
    );
    rows.into_iter()
        .map(|(n, count)| (n.parse().unwrap(), count))
        .collect()
}

/// Checks that each batch is stored whole or not at all (whole when
/// `acked`), and that credits, billable hours and the audit log agree with
/// the records stored; returns the batches stored.
async fn check_consumption(
    store: &Store,
    accounts: &Accounts,
    fates: &[Fate],
    label: &str,
) -> BTreeSet<usize> {
    let stored = stored_batches(store).await;
    let mut whole = BTreeSet::new();
    for (&n, &count) in &stored {
        assert!(
            n < fates.len() && fates[n] != Fate::Unsent,
            "{label}: batch {n} was never sent"
        );
        assert_eq!(count, BATCH as i64, "{label}: batch {n} is partly stored");
        whole.insert(n);
    }
    for (n, fate) in fates.iter().enumerate() {
        if *fate == Fate::Acked {
            assert!(
                whole.contains(&n),
                "{label}: batch {n} was acknowledged, then lost"
            );
        }
    }
    let funded = &accounts.funded;
    let unfunded = &accounts.unfunded;
    let cost = |even: bool| -> i64 {
        whole
            .iter()
            .filter(|n| n.is_multiple_of(2) == even)
            .map(|&n| batch_cost(n))
            .sum()
    };
    let batches = |even: bool| whole.iter().filter(|n| n.is_multiple_of(2) == even).count() as i64;

    // The funded account: one debit per stored batch, of exactly its cost.
    let mut debits: Vec<i64> = fetch_all!(
        store,
        (i64,),
        "SELECT amount_minor FROM credit_ledger WHERE account_id = $1 AND kind = 'consumption'",
        funded.as_str()
    )
    .into_iter()
    .map(|(a,)| -a)
    .collect();
    debits.sort_unstable();
    let expected: Vec<i64> = whole
        .iter()
        .filter(|n| n.is_multiple_of(2))
        .map(|&n| batch_cost(n))
        .collect();
    assert_eq!(
        debits, expected,
        "{label}: the debits are not those of the stored batches"
    );
    for account in [funded, unfunded] {
        let balance = number(
            store,
            "SELECT balance_minor FROM credit_accounts WHERE account_id = $1",
            account,
        )
        .await;
        let ledger = number(
            store,
            "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM credit_ledger WHERE account_id = $1",
            account,
        )
        .await;
        assert_eq!(balance, ledger, "{label}: balance and ledger disagree");
    }
    assert_eq!(
        number(
            store,
            "SELECT balance_minor FROM credit_accounts WHERE account_id = $1",
            funded
        )
        .await,
        FUNDS_MINOR - cost(true),
        "{label}: funded balance"
    );

    // Records: what was covered and what is billable, and the hourly sums
    // invoices read.
    for (account, even) in [(funded, true), (unfunded, false)] {
        let sum = |column: &str| {
            format!(
                "SELECT CAST(SUM({column}) AS BIGINT) FROM consumption_records WHERE account_id = $1"
            )
        };
        let cost_sum = number(store, &sum("cost_minor"), account).await;
        let billable = number(store, &sum("billable_minor"), account).await;
        assert_eq!(cost_sum, cost(even), "{label}: stored cost");
        assert_eq!(
            billable,
            if even { 0 } else { cost(false) },
            "{label}: billable"
        );
        let hours_billable = number(
            store,
            "SELECT CAST(SUM(billable_minor) AS BIGINT) FROM consumption_billable_hours WHERE account_id = $1",
            account,
        )
        .await;
        let hours_records = number(
            store,
            "SELECT CAST(SUM(records) AS BIGINT) FROM consumption_billable_hours WHERE account_id = $1",
            account,
        )
        .await;
        let billable_records = number(
            store,
            "SELECT COUNT(*) FROM consumption_records WHERE account_id = $1 AND billable_minor > 0",
            account,
        )
        .await;
        assert_eq!(
            (hours_billable, hours_records),
            (billable, billable_records),
            "{label}: billable hours disagree with the records"
        );
        let audited = number(
            store,
            "SELECT COUNT(*) FROM audit_events WHERE account_id = $1 AND action = 'consumption.ingested'",
            account,
        )
        .await;
        assert_eq!(audited, batches(even), "{label}: audit events");
    }
    whole
}

async fn send_batch(
    client: &reqwest::Client,
    base: &str,
    accounts: &Accounts,
    n: usize,
) -> Result<reqwest::Response, reqwest::Error> {
    let (account, user) = accounts.of(n);
    client
        .post(format!("{base}/v1/accounts/{account}/consumption"))
        .bearer_auth(token(Role::Integration, Some(account)))
        .json(&batch(n, user))
        .send()
        .await
}

#[tokio::test]
async fn a_server_killed_mid_ingestion_loses_no_acknowledged_batch_and_stores_none_in_part() {
    let started = Instant::now();
    let seed = seed();
    let db = Database::create().await;
    let now = "2026-04-20T10:00:00Z";
    let mut server = Server::start(&db, now, "first").await;
    let client = client();
    let accounts = Arc::new(open_accounts(&client, &server.base).await);
    // The kill: after a few acknowledged batches, while a write is open.
    let wanted = 3 + (seed % 5) as usize;
    db.arm_stall(&format!(
        "(SELECT COUNT(*) FROM audit_events WHERE action = 'consumption.ingested') >= {wanted}"
    ))
    .await;

    // Senders: each sends its batches one after another, as fast as the
    // server takes them, until the connection breaks.
    let fates = Arc::new(Mutex::new(vec![Fate::Unsent; MAX_BATCHES]));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for t in 0..SENDERS {
        let (client, base) = (client.clone(), server.base.clone());
        let (accounts, fates, acked) = (accounts.clone(), fates.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for n in (t..MAX_BATCHES).step_by(SENDERS) {
                fates.lock().unwrap()[n] = Fate::InFlight;
                let fate = match send_batch(&client, &base, &accounts, n).await {
                    Ok(res) if res.status() == 200 => Fate::Acked,
                    Ok(res) => Fate::Refused(res.status().as_u16()),
                    Err(_) => Fate::NoAnswer,
                };
                fates.lock().unwrap()[n] = fate;
                match fate {
                    Fate::Acked => acked.fetch_add(1, Ordering::SeqCst),
                    Fate::NoAnswer => return,
                    _ => 0,
                };
            }
        }));
    }

    let waiting = Instant::now();
    while acked.load(Ordering::SeqCst) < wanted {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "batches are not acknowledged: {:?} {}",
            fates.lock().unwrap().iter().take(8).collect::<Vec<_>>(),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (killed, at_kill) = db
        .kill_mid_write(&mut server, || fates.lock().unwrap().clone())
        .await;
    for sender in senders {
        sender.await.unwrap();
    }
    let fates = fates.lock().unwrap().clone();
    let count = |f: Fate| fates.iter().filter(|x| **x == f).count();
    let in_flight_at_kill = at_kill.iter().filter(|f| **f == Fate::InFlight).count();
    assert!(!fates.contains(&Fate::InFlight), "every sender saw the end");

    // Restarted on the same database: what was acknowledged is there, the
    // rest is whole or absent, and money agrees with records.
    let server = Server::start(&db, now, "second").await;
    let stored = check_consumption(&db.store, &accounts, &fates, "after the kill").await;
    let unacked: Vec<usize> = (0..MAX_BATCHES)
        .filter(|&n| matches!(fates[n], Fate::NoAnswer | Fate::Refused(_)))
        .collect();
    let unacked_stored = unacked.iter().filter(|n| stored.contains(n)).count();
    eprintln!(
        "faults: {} ingestion: kill after {} acked batches, {} in flight; {:?}; \
         unacknowledged {} ({} stored whole, {} absent); refused {:?}",
        db.backend(),
        count(Fate::Acked),
        in_flight_at_kill,
        killed,
        unacked.len(),
        unacked_stored,
        unacked.len() - unacked_stored,
        fates
            .iter()
            .filter_map(|f| match f {
                Fate::Refused(s) => Some(*s),
                _ => None,
            })
            .collect::<Vec<_>>(),
    );
    assert!(in_flight_at_kill > 0, "no batch was in flight at the kill");
    if let Writing::Xact(_) = killed.writing {
        assert_eq!(
            killed.xact, "aborted",
            "the batch being written when the server died is rolled back"
        );
    }

    // Every batch sent again: the stored ones are all duplicates, the others
    // are stored now, and nothing is stored or debited twice.
    let sent: Vec<usize> = (0..MAX_BATCHES)
        .filter(|&n| fates[n] != Fate::Unsent)
        .collect();
    let resends = futures_util::stream::iter(sent.iter().copied())
        .map(|n| {
            let (client, base, accounts) = (&client, &server.base, &accounts);
            async move {
                let res = send_batch(client, base, accounts, n).await.unwrap();
                assert_eq!(res.status(), 200, "batch {n} sent again");
                (n, res.json::<Value>().await.unwrap())
            }
        })
        .buffer_unordered(SENDERS)
        .collect::<Vec<_>>()
        .await;
    for (n, body) in resends {
        let inserted = if stored.contains(&n) { 0 } else { BATCH };
        assert_eq!(body["inserted"], inserted, "batch {n} sent again: {body}");
        assert_eq!(body["duplicates"], BATCH - inserted, "batch {n}: {body}");
    }
    let all: Vec<Fate> = fates
        .iter()
        .map(|f| match f {
            Fate::Unsent => Fate::Unsent,
            _ => Fate::Acked,
        })
        .collect();
    let whole = check_consumption(&db.store, &accounts, &all, "after sending again").await;
    assert_eq!(whole.len(), sent.len());
    eprintln!(
        "faults: {} ingestion test took {:.1} s",
        db.backend(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Billing run

/// Accounts of the billing run; every tenth has nothing to bill.
const ACCOUNTS: usize = 400;

/// What account `i` of the run holds, and so what its May invoice must be.
struct Seeded {
    id: AccountId,
    /// ADVANCED licenses since March 2 (0: nothing to bill).
    advanced: u32,
    /// One SMART license since April 9 (prorated 22/30 on May's invoice).
    smart: bool,
    recipients: Vec<String>,
}

impl Seeded {
    fn billable(&self) -> bool {
        self.advanced > 0
    }

    /// The lines (kind, plan, quantity, amount) the invoice must hold, sorted:
    /// ADVANCED licenses from March 2 never invoiced get May, April (a
    /// catch-up line) and March's proration (30 days of 31: 61.94).
    fn lines(&self) -> Vec<(String, String, u64, i64)> {
        let line = |kind: &str, plan: &str, q: u32, amount: i64| {
            (kind.to_owned(), plan.to_owned(), u64::from(q), amount)
        };
        let advanced = i64::from(self.advanced);
        let mut lines = vec![
            line("license", "ADVANCED", self.advanced, 6_400 * advanced),
            line("license", "ADVANCED", self.advanced, 6_400 * advanced),
            line(
                "license_proration",
                "ADVANCED",
                self.advanced,
                6_194 * advanced,
            ),
        ];
        if self.smart {
            lines.push(line("license", "SMART", 1, 2_400));
            lines.push(line("license_proration", "SMART", 1, 1_760));
        }
        lines.sort();
        lines
    }
}

fn staff_ctx(now: OffsetDateTime) -> Ctx {
    Ctx {
        caller: Caller {
            subject: "fault-seeder".into(),
            role: Role::Support,
            account_id: None,
        },
        request_id: None,
        now,
    }
}

/// Opens the accounts with their licenses and invoice recipients, in one
/// transaction through the store (there is no bulk route).
async fn seed_run_accounts(store: &Store) -> Vec<Seeded> {
    let now = datetime!(2026-04-09 10:00 UTC);
    let ctx = staff_ctx(now);
    let mut tx = store.begin_write().await.unwrap();
    let mut seeded = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        let account = service::accounts::create(
            &mut tx,
            &ctx,
            service::accounts::NewAccount {
                name: format!("Client {i:04}"),
                currency: Currency::Eur,
                timezone: Timezone::parse(Timezone::DEFAULT).unwrap(),
                invoice_language: Default::default(),
                test_clock_id: None,
            },
        )
        .await
        .unwrap();
        // A verified primary address: without one a draft is held, not issued.
        tx.save_address(&comptoir::domain::address::BillingAddress {
            id: comptoir::domain::ids::BillingAddressId::generate(),
            account_id: account.id.clone(),
            fields: comptoir::domain::address::AddressFields {
                company_name: format!("Client {i:04} SAS"),
                line1: "1 rue de la Paix".into(),
                line2: None,
                postal_code: "75002".into(),
                city: "Paris".into(),
                region: None,
                country: comptoir::domain::address::Country::parse("FR").unwrap(),
                vat_number: None,
                siren: None,
                e_invoicing_address: None,
            },
            status: comptoir::domain::address::AddressStatus::Verified,
            primary: true,
            rejection_reason: None,
            revision: 1,
            vat_check: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
        let advanced = if i % 10 == 9 { 0 } else { 1 + (i % 3) as u32 };
        let smart = advanced > 0 && i.is_multiple_of(2);
        let mut licenses = Vec::new();
        for _ in 0..advanced {
            licenses.push(("ADVANCED", date!(2026 - 03 - 02), 6_400));
        }
        if smart {
            licenses.push(("SMART", date!(2026 - 04 - 09), 2_400));
        }
        for (plan, activation, price) in licenses {
            let prorated = comptoir::domain::proration::prorated_unit(
                Money::from_minor(price, Currency::Eur),
                activation,
            )
            .unwrap();
            tx.insert_license(&License {
                id: LicenseId::generate(),
                account_id: account.id.clone(),
                plan: plan.into(),
                activation_date: activation,
                removal_date: None,
                user_id: None,
                prorated_amount_minor: prorated.minor(),
                created_at: now,
            })
            .await
            .unwrap();
        }
        let recipients: Vec<String> = (0..i % 3)
            .map(|r| format!("factures{r}@client{i}.example"))
            .collect();
        for email in &recipients {
            tx.insert_recipient(&RecipientRow {
                id: RecipientId::generate().to_string(),
                account_id: account.id.to_string(),
                email: email.clone(),
                created_at: now,
            })
            .await
            .unwrap();
        }
        seeded.push(Seeded {
            id: account.id,
            advanced,
            smart,
            recipients,
        });
    }
    tx.commit().await.unwrap();
    seeded
}

/// Checks every stored invoice of May 2026: complete, as the account's
/// licenses say, numbered without gap, one per account, with its emails and
/// its audit event, and the counter at the last number. Returns how many.
/// Checks that each of the `issued` invoices has its three e-invoice files
/// on disk, matching their SHA-256; returns how many files no row names.
async fn check_e_invoices(
    store: &Store,
    files: &comptoir::store::blobs::BlobStore,
    issued: usize,
) -> usize {
    use sha2::Digest;
    let rows = fetch_all!(
        store,
        (String, String, String, String, String),
        "SELECT i.number, e.account_id, e.pdf_sha256, e.cii_sha256, e.ubl_sha256 \
         FROM invoices i JOIN e_invoices e ON e.document_id = i.id ORDER BY i.number"
    );
    assert_eq!(rows.len(), issued, "every issued invoice has its e-invoice");
    let mut named = BTreeSet::new();
    for (number, account, pdf, cii, ubl) in &rows {
        for (sha, ext) in [(pdf, "pdf"), (cii, "cii.xml"), (ubl, "ubl.xml")] {
            let bytes = files.read_e_invoice(account, sha, ext).await.unwrap();
            assert_eq!(
                &hex::encode(sha2::Sha256::digest(&bytes)),
                sha,
                "{number} {ext}"
            );
            named.insert(sha.clone());
        }
    }
    files
        .e_invoice_files()
        .unwrap()
        .iter()
        .filter(|f| !named.contains(&f.sha256))
        .count()
}

async fn check_invoices(store: &Store, seeded: &[Seeded], label: &str) -> usize {
    let by_id: BTreeMap<&str, &Seeded> = seeded.iter().map(|s| (s.id.as_str(), s)).collect();
    let invoices = fetch_all!(
        store,
        (String, String, String, String, i64, i64, i64, String),
        "SELECT id, account_id, number, period, subtotal_minor, tax_minor, total_minor, snapshot \
         FROM invoices ORDER BY number"
    );
    let count = invoices.len();
    let numbers: Vec<&str> = invoices.iter().map(|i| i.2.as_str()).collect();
    let gapless: Vec<String> = (1..=count).map(|n| format!("F-2026-{n:06}")).collect();
    assert_eq!(numbers, gapless, "{label}: numbers have a gap");
    let accounts: BTreeSet<&str> = invoices.iter().map(|i| i.1.as_str()).collect();
    assert_eq!(
        accounts.len(),
        count,
        "{label}: an account has two invoices"
    );

    let mut emails: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (invoice, recipient) in fetch_all!(
        store,
        (String, String),
        "SELECT invoice_id, recipient FROM invoice_emails"
    ) {
        emails.entry(invoice).or_default().push(recipient);
    }
    let audited: BTreeSet<String> = fetch_all!(
        store,
        (String,),
        "SELECT target_id FROM audit_events WHERE action = 'invoice.issued'"
    )
    .into_iter()
    .map(|(id,)| id)
    .collect();
    for (id, account, number, period, subtotal, tax, total, snapshot) in &invoices {
        let seed = by_id[account.as_str()];
        assert!(
            seed.billable(),
            "{label}: {number} for an account with nothing to bill"
        );
        assert_eq!(period, "2026-05");
        let snapshot: Value = serde_json::from_str(snapshot).unwrap();
        let mut lines: Vec<(String, String, u64, i64)> = snapshot["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let (q, unit, amount) = (
                    l["quantity"].as_u64().unwrap(),
                    l["unit_amount_minor"].as_i64().unwrap(),
                    l["amount_minor"].as_i64().unwrap(),
                );
                assert_eq!(unit * q as i64, amount, "{label}: {number}: {l}");
                (
                    l["kind"].as_str().unwrap().to_owned(),
                    l["plan"].as_str().unwrap_or_default().to_owned(),
                    q,
                    amount,
                )
            })
            .collect();
        lines.sort();
        assert_eq!(lines, seed.lines(), "{label}: {number}'s lines");
        let sum: i64 = lines.iter().map(|l| l.3).sum();
        assert_eq!(*subtotal, sum, "{label}: {number}: lines and subtotal");
        assert_eq!(
            *tax,
            (subtotal * 2 + 5) / 10,
            "{label}: {number}: VAT 20 %, rounded"
        );
        assert_eq!(subtotal + tax, *total, "{label}: {number}: total");
        let mut sent = emails.remove(id).unwrap_or_default();
        sent.sort();
        assert_eq!(sent, seed.recipients, "{label}: {number}'s emails");
        assert!(audited.contains(id), "{label}: {number} is not audited");
    }
    assert!(
        emails.is_empty(),
        "{label}: emails of no invoice: {emails:?}"
    );
    assert_eq!(audited.len(), count, "{label}: audit events of no invoice");
    let counter = fetch_all!(
        store,
        (i64,),
        "SELECT last_number FROM invoice_counters WHERE year = 2026"
    );
    assert_eq!(
        counter.first().map_or(0, |c| c.0),
        count as i64,
        "{label}: the counter is not at the last number"
    );
    count
}

async fn billing_run(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{base}/v1/billing-runs"))
        .bearer_auth(token(Role::Support, None))
        .json(&json!({"period": "2026-05"}))
        .send()
        .await
}

#[tokio::test]
async fn a_billing_run_killed_midway_leaves_whole_invoices_and_the_next_run_issues_the_rest() {
    let started = Instant::now();
    let seed = seed();
    let db = Database::create().await;
    let seeded = seed_run_accounts(&db.store).await;
    let billable = seeded.iter().filter(|s| s.billable()).count();
    // The kill: once a share of the invoices is out, while one is being written.
    let wanted = billable / 10 + (seed as usize % (billable / 5));
    db.arm_stall(&format!("(SELECT COUNT(*) FROM invoices) >= {wanted}"))
        .await;
    let now = "2026-05-01T06:00:00Z";
    let mut server = Server::start(&db, now, "first").await;
    let client = client();
    let seeding = started.elapsed();

    let run = {
        let (client, base) = (client.clone(), server.base.clone());
        tokio::spawn(async move { billing_run(&client, &base).await })
    };
    let waiting = Instant::now();
    while invoice_count(&db.store).await < wanted {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the run issues nothing: {}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (killed, ()) = db.kill_mid_write(&mut server, || ()).await;
    let killed_after = waiting.elapsed();
    assert!(
        run.await.unwrap().is_err(),
        "the run answered: it ended before the kill"
    );

    // Whatever was issued before the kill is whole; the run stopped midway.
    let issued = check_invoices(&db.store, &seeded, "after the kill").await;
    eprintln!(
        "faults: {} billing run: killed {:.2} s into the run, {issued} of {billable} invoices \
         issued; {killed:?}",
        db.backend(),
        killed_after.as_secs_f64(),
    );
    if let Writing::Xact(_) = killed.writing {
        assert_eq!(
            killed.xact, "aborted",
            "the invoice being written when the server died is rolled back"
        );
    }
    assert!(
        issued >= wanted && issued < billable,
        "the kill did not land midway ({issued} of {billable})"
    );

    // A draft is made, then finalized in its own transaction: the kill
    // leaves at most the draft being finalized, never half an invoice.
    let drafts = fetch_all!(&db.store, (i64,), "SELECT COUNT(*) FROM invoice_drafts");
    assert!(drafts[0].0 <= 1, "drafts left by the kill: {drafts:?}");
    // Every issued invoice has its e-invoice files; the one being issued
    // when the server died left files no row names, which the sweep removes
    // and nothing else.
    let files = comptoir::store::blobs::BlobStore::new(db.dir.0.join("data"));
    let orphans = check_e_invoices(&db.store, &files, issued).await;
    eprintln!(
        "faults: {} billing run: {orphans} e-invoice files left by the kill",
        db.backend()
    );
    let swept = service::einvoices::sweep(&db.store, &files, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(swept, orphans, "the sweep removes exactly the orphans");
    assert_eq!(check_e_invoices(&db.store, &files, issued).await, 0);

    let before_restart = fetch_all!(
        &db.store,
        (String, String, i64),
        "SELECT id, account_id, total_minor FROM invoices ORDER BY number DESC LIMIT 1"
    )
    .remove(0);

    // Restarted: the next run issues the rest, then a third issues nothing.
    let server = Server::start(&db, now, "second").await;
    let res = billing_run(&client, &server.base).await.unwrap();
    let status = res.status();
    let report: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["failed"], json!([]), "{report}");
    // The new server's finalizer may issue the draft the kill left before
    // the run reaches it: then it is already issued for the run.
    let already = report["already_issued"].as_u64().unwrap() as usize;
    assert!(already == issued || already == issued + 1, "{report}");
    assert_eq!(report["nothing_to_bill"], ACCOUNTS - billable);
    let numbers: BTreeSet<&str> = report["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len() + already, billable, "{report}");
    let rest: BTreeSet<String> = (issued + 1..=billable)
        .map(|n| format!("F-2026-{n:06}"))
        .collect();
    assert!(
        numbers.iter().all(|n| rest.contains(*n)),
        "the second run numbers on from the last invoice: {numbers:?}"
    );
    assert_eq!(
        check_invoices(&db.store, &seeded, "after the second run").await,
        billable
    );
    let res = billing_run(&client, &server.base).await.unwrap();
    let status = res.status();
    let again: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["issued"], json!([]), "{again}");
    assert_eq!(again["already_issued"], billable);
    let drafts = fetch_all!(&db.store, (i64,), "SELECT COUNT(*) FROM invoice_drafts");
    assert_eq!(
        drafts[0].0, 0,
        "the second run finalized the draft the kill left"
    );
    assert_eq!(
        check_invoices(&db.store, &seeded, "after the third run").await,
        billable
    );
    assert_eq!(check_e_invoices(&db.store, &files, billable).await, 0);
    // The last invoice written before the kill reads back through the API.
    let (id, account, total) = &before_restart;
    let invoice: Value = client
        .get(format!(
            "{}/v1/accounts/{account}/invoices/{id}",
            server.base
        ))
        .bearer_auth(token(Role::Viewer, Some(account)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        invoice["number"],
        format!("F-2026-{issued:06}"),
        "{invoice}"
    );
    assert_eq!(invoice["status"], "issued");
    assert_eq!(
        invoice["total"],
        Money::from_minor(*total, Currency::Eur).amount()
    );
    eprintln!(
        "faults: {} billing test took {:.1} s (seeding and start {:.1} s)",
        db.backend(),
        started.elapsed().as_secs_f64(),
        seeding.as_secs_f64()
    );
}
