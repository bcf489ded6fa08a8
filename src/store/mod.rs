//! The store: one API over two backends, SQLite (embedded default) and
//! PostgreSQL, chosen from the database URL.
//!
//! `Tx` is a transaction on either backend. Store methods live on `Tx`, one
//! file per resource, and share their SQL text through the [`on_tx!`] macro,
//! which expands the same query once per backend (`$1` placeholders and
//! `RETURNING` work on both). Only SQL that really differs is written twice.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub mod accounts;
pub mod addresses;
pub mod advance;
pub mod audit;
pub mod blobs;
pub mod charges;
pub mod consumption;
pub mod contacts;
pub mod credit_notes;
pub mod credits;
pub mod documents;
pub mod e_invoices;
pub mod e_invoicing;
pub mod events;
pub mod exchange_rates;
pub mod idempotency;
pub mod invoice_payments;
pub mod invoices;
pub mod licenses;
pub mod outbox;
pub mod payments;
pub mod plans;
pub mod recipients;
pub mod test_clocks;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

/// The condition a row's `account_id` meets when the account is live, not
/// a test account on a test clock: what the real time's workers (billing
/// runs, the finalizer, the purge, emails and the platform) look at. Test
/// accounts are run by their clock.
pub(crate) const LIVE_ACCOUNT: &str =
    "account_id IN (SELECT id FROM accounts WHERE test_clock_id IS NULL)";

/// The condition an `accounts` row meets when it lives on the clock bound
/// as `$n`, or, when that is NULL, when it is live.
pub(crate) fn on_clock(n: u8) -> String {
    format!("(CAST(${n} AS TEXT) IS NULL AND test_clock_id IS NULL OR test_clock_id = ${n})")
}

/// Runs `$body` with `$c` bound to the backend's transaction, once per backend.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite($c) => $body,
            $crate::store::Tx::Pg($c) => $body,
        }
    };
}
pub(crate) use on_tx;

/// Runs a statement on either backend (the same SQL text and binds) and
/// gives the number of rows it changed.
macro_rules! execute {
    ($tx:expr, $query:expr) => {
        $crate::store::on_tx!($tx, c => $query.execute(&mut **c).await.map(|r| r.rows_affected()))
    };
}
pub(crate) use execute;

/// Every row of a query, on either backend.
macro_rules! fetch_all {
    ($tx:expr, $query:expr) => {
        $crate::store::on_tx!($tx, c => $query.fetch_all(&mut **c).await)
    };
}
pub(crate) use fetch_all;

/// At most one row of a query, on either backend.
macro_rules! fetch_optional {
    ($tx:expr, $query:expr) => {
        $crate::store::on_tx!($tx, c => $query.fetch_optional(&mut **c).await)
    };
}
pub(crate) use fetch_optional;

/// Exactly one row of a query, on either backend.
macro_rules! fetch_one {
    ($tx:expr, $query:expr) => {
        $crate::store::on_tx!($tx, c => $query.fetch_one(&mut **c).await)
    };
}
pub(crate) use fetch_one;

/// SQL text assembled from constants of this module (column lists, a
/// backend's variant): never from a request's values, which are bound.
macro_rules! sql {
    ($($format:tt)*) => {
        sqlx::AssertSqlSafe(format!($($format)*))
    };
}
pub(crate) use sql;

/// Turns on SQLite's query planner stability guarantee on `conn`.
///
/// Without it, a statement whose plan looked at a bound value (every `LIMIT $n`
/// of our pages does, SQLite 3.51 reads the number to size the loop) is marked
/// expired each time that parameter is bound again, so the cached prepared
/// statement is parsed and planned anew on every execution: a third of the
/// licenses page's database time went to that. With the guarantee, a statement
/// keeps one plan whatever its values; our queries bind no value a plan could
/// use (no partial index compared to a parameter, no `LIKE` optimisation, and
/// no `ANALYZE`, so STAT4 has no samples to weigh a value against).
async fn enable_qpsg(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let mut now_on: std::ffi::c_int = 0;
    // SAFETY: `lock_handle` gives exclusive use of the open connection, and the
    // call matches the documented variadic signature of this verb: an int (1
    // turns the setting on) then an int* that receives the new setting.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            &mut now_on as *mut std::ffi::c_int,
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK || now_on != 1 {
        return Err(sqlx::Error::Configuration(
            format!("SQLite refused SQLITE_DBCONFIG_ENABLE_QPSG (code {rc})").into(),
        ));
    }
    Ok(())
}

/// How long a PostgreSQL connection may sit idle before it is pinged on
/// acquire (HikariCP's `aliveBypassWindowMs` has the same default). Under load
/// a connection comes back within milliseconds and is never pinged; after a
/// database restart, a connection unused for half a second is tested and
/// replaced, so only one that served a request in the last half second before
/// the restart can fail a request (with 503) before the pool drops it.
const PG_PING_AFTER_IDLE: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A transaction on either backend; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens the database of `url` (`sqlite://file.db` or `postgres://...`) and
    /// applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_pg(PgConnectOptions::from_str(url)?).await?
        } else {
            Self::connect_sqlite(url).await?
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn connect_sqlite(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers run beside the one writer.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // 16 MiB of page cache per connection (the default is 2 MiB):
            // a consumption batch updates five indexes.
            .pragma("cache_size", "-16384")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| Box::pin(enable_qpsg(conn)))
            // A file cannot hang up: the default ping before each acquire
            // is a round trip to the connection's thread for nothing.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        Ok(Store::Sqlite(pool))
    }

    async fn connect_pg(options: PgConnectOptions) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // The default pings before every acquire: one more round trip
            // per request. Only a connection idle for a while is pinged.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PG_PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        Ok(Store::Pg(pool))
    }

    /// PostgreSQL, inside `schema` (created if needed): tests get a fresh
    /// schema each, so they run in parallel on one database.
    pub async fn connect_pg_schema(url: &str, schema: &str) -> Result<Self, sqlx::Error> {
        assert!(
            schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "schema names are plain identifiers"
        );
        let base = PgConnectOptions::from_str(url)?;
        let admin = Self::connect_pg(base.clone()).await?;
        if let Store::Pg(pool) = &admin {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(pool)
            .await?;
            pool.close().await;
        }
        let store = Self::connect_pg(base.options([("search_path", schema)])).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Store::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Store::Pg(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Pg(_) => Backend::Postgres,
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): two writers can then never deadlock upgrading a
    /// read lock; the second waits (busy timeout) for the first to finish.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Store::Pg(pool) => Tx::Pg(pool.begin().await?),
        })
    }

    /// A transaction that only reads: one consistent snapshot.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Store::Pg(pool) => Tx::Pg(pool.begin_with("BEGIN READ ONLY").await?),
        })
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Store::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Store::Pg(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Pg(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Pg(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        on_tx!(self, c => c.commit().await)
    }
}

/// Rows past a cursor: `limit` items and whether more follow.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: u32) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Page {
            items: rows,
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pooled SQLite connection keeps one plan per statement (see
    /// [`enable_qpsg`]); a new connection without it would re-plan every page.
    #[tokio::test]
    async fn sqlite_connections_hold_the_query_planner_stability_guarantee() {
        let Store::Sqlite(pool) = Store::connect("sqlite::memory:").await.unwrap() else {
            unreachable!("a sqlite URL opens SQLite")
        };
        let mut conn = pool.acquire().await.unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        let mut on: std::ffi::c_int = -1;
        // SAFETY: exclusive use of the open connection; -1 only reads the setting.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1 as std::ffi::c_int,
                &mut on as *mut std::ffi::c_int,
            )
        };
        assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
        assert_eq!(on, 1);
    }
}
