//! Consumption records: bulk insert, de-duplication by external id, the
//! filtered list and its totals; billable consumption per hour for invoices.
//!
//! Filters are built into the SQL text (only the conditions asked for), not
//! as `$n IS NULL OR ...`, so that each one is served from its index on both
//! databases. Bulk statements differ by backend: PostgreSQL takes a whole
//! batch as arrays (`UNNEST`), SQLite as multi-row `VALUES`.

use std::collections::{BTreeMap, HashSet};

use time::{OffsetDateTime, UtcOffset};

use super::{Tx, execute, fetch_one, on_tx, sql};
use crate::domain::consumption::{Direction, Filter, Kind, Position, Record, Totals};
use crate::domain::ids::{AccountId, ConsumptionId, TeamId, UserId};

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: String,
    account_id: String,
    external_id: String,
    occurred_at: OffsetDateTime,
    user_id: String,
    team_id: Option<String>,
    kind: String,
    direction: String,
    destination: String,
    country: String,
    duration_seconds: i64,
    cost_minor: i64,
    billable_minor: i64,
    created_at: OffsetDateTime,
}

impl From<RecordRow> for Record {
    fn from(r: RecordRow) -> Self {
        Record {
            id: ConsumptionId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            external_id: r.external_id,
            occurred_at: r.occurred_at,
            user_id: UserId::from_trusted(r.user_id),
            team_id: r.team_id.map(TeamId::from_trusted),
            // The CHECK constraints admit only these values.
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Call),
            direction: Direction::parse(&r.direction).unwrap_or(Direction::Outbound),
            destination: r.destination,
            country: r.country,
            duration_seconds: r.duration_seconds,
            cost_minor: r.cost_minor,
            billable_minor: r.billable_minor,
            created_at: r.created_at,
        }
    }
}

/// A row as SQLite's `json_array` writes it, in [`COLUMNS`] order.
#[derive(serde::Deserialize)]
struct JsonRow(
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
);

impl TryFrom<JsonRow> for RecordRow {
    type Error = sqlx::Error;

    fn try_from(r: JsonRow) -> Result<Self, Self::Error> {
        let instant = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        Ok(RecordRow {
            occurred_at: instant(&r.3)?,
            created_at: instant(&r.13)?,
            id: r.0,
            account_id: r.1,
            external_id: r.2,
            user_id: r.4,
            team_id: r.5,
            kind: r.6,
            direction: r.7,
            destination: r.8,
            country: r.9,
            duration_seconds: r.10,
            cost_minor: r.11,
            billable_minor: r.12,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TotalsRow {
    key: Option<String>,
    count: i64,
    duration_seconds: i64,
    cost_minor: i64,
    billable_minor: i64,
}

impl TotalsRow {
    fn totals(&self) -> Totals {
        Totals {
            count: self.count,
            duration_seconds: self.duration_seconds,
            cost_minor: self.cost_minor,
            billable_minor: self.billable_minor,
        }
    }
}

const COLUMNS: &str = "id, account_id, external_id, occurred_at, user_id, team_id, kind, \
    direction, destination, country, duration_seconds, cost_minor, billable_minor, created_at";
const COLUMN_COUNT: usize = 14;

/// An instant as sqlx writes it to SQLite (RFC 3339), so that rows inserted
/// through JSON compare with bound instants exactly like the others.
fn sqlite_instant(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The UTC hour an instant falls in, as hours since the Unix epoch (rounded
/// down, before 1970 too): the key of `consumption_billable_hours`.
pub fn epoch_hour(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(3600)
}

/// `(account, epoch_hour, records, billable_minor)` of the records with a
/// billable part. The parts are not negative and the service checked that
/// their batch's sum fits (`Money::sum`), so no partial sum can overflow;
/// an hour's row then grows by at most 10^10 a batch (10,000 records at the
/// largest cost), about 9 x 10^8 batches in one hour from `i64`: on SQLite
/// the upsert's `+` keeps integers (it would turn to a float only past
/// `i64`), on PostgreSQL it cannot raise.
fn billable_hours(records: &[Record]) -> Vec<(&str, i64, i64, i64)> {
    let mut hours: BTreeMap<(&str, i64), (i64, i64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.billable_minor > 0) {
        let key = (r.account_id.as_str(), epoch_hour(r.occurred_at));
        let hour = hours.entry(key).or_default();
        hour.0 += 1;
        hour.1 += r.billable_minor;
    }
    hours
        .into_iter()
        .map(|((account, h), (n, b))| (account, h, n, b))
        .collect()
}

/// `(account, epoch_hour, records covered whole, covered_minor)` of the
/// records that credits paid some of (`cost - billable`): the rows of
/// `consumption_covered_hours`. A record partly covered is counted with the
/// billable hours, so the two tables count each record with a cost once.
/// Bounded like [`billable_hours`].
fn covered_hours(records: &[Record]) -> Vec<(&str, i64, i64, i64)> {
    let mut hours: BTreeMap<(&str, i64), (i64, i64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.cost_minor > r.billable_minor) {
        let key = (r.account_id.as_str(), epoch_hour(r.occurred_at));
        let hour = hours.entry(key).or_default();
        hour.0 += i64::from(r.billable_minor == 0);
        hour.1 += r.cost_minor - r.billable_minor;
    }
    hours
        .into_iter()
        .map(|((account, h), (n, c))| (account, h, n, c))
        .collect()
}

const HOUR_NANOS: i128 = 3_600 * 1_000_000_000;

/// `[from, to)` cut into the whole UTC hours it covers and the partial
/// hours before and after them (empty unless the bounds are not on the
/// hour, as months are in zones with a 30 or 45-minute offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HourSplit {
    /// `[first, end)`, hours since the epoch.
    hours: (i64, i64),
    head: (OffsetDateTime, OffsetDateTime),
    tail: (OffsetDateTime, OffsetDateTime),
}

fn split_hours(from: OffsetDateTime, to: OffsetDateTime) -> HourSplit {
    let from = from.to_offset(UtcOffset::UTC);
    let to = to.to_offset(UtcOffset::UTC).max(from);
    let (f, t) = (from.unix_timestamp_nanos(), to.unix_timestamp_nanos());
    let first = f.div_euclid(HOUR_NANOS) + i128::from(f.rem_euclid(HOUR_NANOS) != 0);
    let end = t.div_euclid(HOUR_NANOS);
    let at = |h: i128| {
        OffsetDateTime::from_unix_timestamp_nanos(h * HOUR_NANOS)
            .expect("an hour between two valid instants")
    };
    match (i64::try_from(first), i64::try_from(end)) {
        (Ok(first_hour), Ok(end_hour)) if first < end => HourSplit {
            hours: (first_hour, end_hour),
            head: (from, at(first)),
            tail: (at(end), to),
        },
        _ => HourSplit {
            hours: (0, 0),
            head: (from, to),
            tail: (to, to),
        },
    }
}

enum Arg {
    Text(String),
    Instant(OffsetDateTime),
}

/// `WHERE ...` for the filter (and a position to start after), with its arguments.
fn where_clause(account: &AccountId, f: &Filter, after: Option<&Position>) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Text(account.to_string())];
    let mut sql = String::from(" WHERE account_id = $1");
    let mut push = |cond: &str, arg: Arg, sql: &mut String| {
        args.push(arg);
        sql.push_str(&cond.replace('?', &format!("${}", args.len())));
    };
    if let Some(u) = &f.user_id {
        push(" AND user_id = ?", Arg::Text(u.to_string()), &mut sql);
    }
    if let Some(t) = &f.team_id {
        push(" AND team_id = ?", Arg::Text(t.to_string()), &mut sql);
    }
    if let Some(k) = f.kind {
        push(" AND kind = ?", Arg::Text(k.as_str().to_owned()), &mut sql);
    }
    if let Some(from) = f.from {
        push(" AND occurred_at >= ?", Arg::Instant(from), &mut sql);
    }
    if let Some(to) = f.to {
        push(" AND occurred_at < ?", Arg::Instant(to), &mut sql);
    }
    if let Some(p) = after {
        // A row value: both databases walk the index from this position.
        push(
            " AND (occurred_at, id) > (?",
            Arg::Instant(p.occurred_at),
            &mut sql,
        );
        push(", ?)", Arg::Text(p.id.to_string()), &mut sql);
    }
    (sql, args)
}

/// Binds `args` in order to a query of either backend.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Instant(t) => q.bind(*t),
            };
        }
        q
    }};
}

impl Tx {
    /// Which of `external_ids` the account already has.
    pub async fn existing_external_ids(
        &mut self,
        account: &AccountId,
        external_ids: &[&str],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let found: Vec<(String,)> = match self {
            Tx::Sqlite(c) => {
                let list = serde_json::to_string(external_ids)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query_as(
                    "SELECT external_id FROM consumption_records WHERE account_id = $1 \
                     AND external_id IN (SELECT value FROM json_each($2))",
                )
                .bind(account.as_str())
                .bind(list)
                .fetch_all(&mut **c)
                .await?
            }
            Tx::Pg(c) => {
                sqlx::query_as(
                    "SELECT external_id FROM consumption_records WHERE account_id = $1 \
                     AND external_id = ANY($2)",
                )
                .bind(account.as_str())
                .bind(external_ids)
                .fetch_all(&mut **c)
                .await?
            }
        };
        Ok(found.into_iter().map(|(id,)| id).collect())
    }

    pub async fn insert_consumption(&mut self, records: &[Record]) -> Result<(), sqlx::Error> {
        match self {
            Tx::Pg(c) => {
                let sql = sql!(
                    "INSERT INTO consumption_records ({COLUMNS}) SELECT * FROM UNNEST(\
                     $1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], \
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                     $11::int8[], $12::int8[], $13::int8[], $14::timestamptz[])"
                );
                let text =
                    |f: fn(&Record) -> &str| -> Vec<&str> { records.iter().map(f).collect() };
                let int = |f: fn(&Record) -> i64| -> Vec<i64> { records.iter().map(f).collect() };
                sqlx::query(sql)
                    .bind(text(|r| r.id.as_str()))
                    .bind(text(|r| r.account_id.as_str()))
                    .bind(text(|r| &r.external_id))
                    .bind(records.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
                    .bind(text(|r| r.user_id.as_str()))
                    .bind(
                        records
                            .iter()
                            .map(|r| r.team_id.as_ref().map(|t| t.as_str()))
                            .collect::<Vec<_>>(),
                    )
                    .bind(text(|r| r.kind.as_str()))
                    .bind(text(|r| r.direction.as_str()))
                    .bind(text(|r| &r.destination))
                    .bind(text(|r| &r.country))
                    .bind(int(|r| r.duration_seconds))
                    .bind(int(|r| r.cost_minor))
                    .bind(int(|r| r.billable_minor))
                    .bind(records.iter().map(|r| r.created_at).collect::<Vec<_>>())
                    .execute(&mut **c)
                    .await?;
            }
            Tx::Sqlite(c) => {
                // The whole batch as one JSON array of rows: binding thousands
                // of parameters costs SQLite (and sqlx) far more than json_each.
                let rows: Vec<serde_json::Value> = records
                    .iter()
                    .map(|r| {
                        serde_json::json!([
                            r.id.as_str(),
                            r.account_id.as_str(),
                            r.external_id,
                            sqlite_instant(r.occurred_at),
                            r.user_id.as_str(),
                            r.team_id.as_ref().map(|t| t.as_str()),
                            r.kind.as_str(),
                            r.direction.as_str(),
                            r.destination,
                            r.country,
                            r.duration_seconds,
                            r.cost_minor,
                            r.billable_minor,
                            sqlite_instant(r.created_at),
                        ])
                    })
                    .collect();
                let batch = serde_json::Value::Array(rows).to_string();
                let columns: Vec<String> = (0..COLUMN_COUNT)
                    .map(|i| format!("value ->> {i}"))
                    .collect();
                let sql = sql!(
                    "INSERT INTO consumption_records ({COLUMNS}) SELECT {} FROM json_each(jsonb($1))",
                    columns.join(", ")
                );
                sqlx::query(sql).bind(batch).execute(&mut **c).await?;
            }
        }
        self.add_billable_hours(records).await
    }

    /// Adds the billable and covered parts of records just inserted to
    /// their hours, in the same transaction.
    async fn add_billable_hours(&mut self, records: &[Record]) -> Result<(), sqlx::Error> {
        self.add_hours(
            "consumption_billable_hours",
            "billable_minor",
            &billable_hours(records),
        )
        .await?;
        self.add_hours(
            "consumption_covered_hours",
            "covered_minor",
            &covered_hours(records),
        )
        .await
    }

    /// Upserts `(account, epoch_hour, records, minor)` rows into `table`,
    /// whose amount column is `amount`.
    async fn add_hours(
        &mut self,
        table: &'static str,
        amount: &'static str,
        hours: &[(&str, i64, i64, i64)],
    ) -> Result<(), sqlx::Error> {
        if hours.is_empty() {
            return Ok(());
        }
        let upsert = format!(
            "ON CONFLICT (account_id, epoch_hour) DO UPDATE SET \
             records = {table}.records + excluded.records, \
             {amount} = {table}.{amount} + excluded.{amount}"
        );
        match self {
            Tx::Pg(c) => {
                let column = |f: fn(&(&str, i64, i64, i64)) -> i64| -> Vec<i64> {
                    hours.iter().map(f).collect()
                };
                let sql = sql!(
                    "INSERT INTO {table} (account_id, epoch_hour, records, {amount}) \
                     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[]) {upsert}"
                );
                sqlx::query(sql)
                    .bind(hours.iter().map(|h| h.0).collect::<Vec<_>>())
                    .bind(column(|h| h.1))
                    .bind(column(|h| h.2))
                    .bind(column(|h| h.3))
                    .execute(&mut **c)
                    .await?;
            }
            Tx::Sqlite(c) => {
                let rows =
                    serde_json::to_string(&hours).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                // `WHERE true` tells SQLite's parser the ON CONFLICT is the
                // upsert's, not a join's.
                let sql = sql!(
                    "INSERT INTO {table} (account_id, epoch_hour, records, {amount}) \
                     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each($1) \
                     WHERE true {upsert}"
                );
                sqlx::query(sql).bind(rows).execute(&mut **c).await?;
            }
        }
        Ok(())
    }

    /// Up to `limit` records of the selection after `after`, in (occurred_at, id) order.
    pub async fn list_consumption(
        &mut self,
        account: &AccountId,
        filter: &Filter,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Record>, sqlx::Error> {
        let (clause, args) = where_clause(account, filter, after);
        let rows: Vec<RecordRow> = match self {
            Tx::Pg(c) => {
                // Right after a bulk load the statistics are stale and the
                // planner picks a bitmap scan plus a sort of everything past
                // the cursor (measured: 300 ms a chunk at 1M rows, instead of
                // 3 ms). Walking the index in order is always right here.
                sqlx::query("SET LOCAL enable_sort = off")
                    .execute(&mut **c)
                    .await?;
                let sql = sql!(
                    "SELECT {COLUMNS} FROM consumption_records{clause} \
                     ORDER BY occurred_at, id LIMIT {limit}"
                );
                bind_all!(sqlx::query_as(sql), &args)
                    .fetch_all(&mut **c)
                    .await?
            }
            Tx::Sqlite(c) => {
                // sqlx hands SQLite rows over one by one from its worker
                // thread, a wake-up each (~15 us); the chunk as one JSON
                // document crosses once: exports run 5x faster. (On
                // PostgreSQL, json_agg measured slower than binary rows.) The
                // aggregate reads the ordered subquery in its order.
                let sql = sql!(
                    "SELECT json_group_array(json_array({COLUMNS})) FROM (SELECT {COLUMNS} \
                     FROM consumption_records{clause} ORDER BY occurred_at, id LIMIT {limit})"
                );
                let (doc,): (String,) = bind_all!(sqlx::query_as(sql), &args)
                    .fetch_one(&mut **c)
                    .await?;
                let rows: Vec<JsonRow> =
                    serde_json::from_str(&doc).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                rows.into_iter()
                    .map(RecordRow::try_from)
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(rows.into_iter().map(Record::from).collect())
    }

    /// The database's plan for the list query of `filter` after a cursor:
    /// tests check that every filter is served from an index, in order.
    /// (PostgreSQL is told to avoid sequential scans, which it would rightly
    /// prefer on a test's tiny table.)
    pub async fn consumption_plan(
        &mut self,
        account: &AccountId,
        filter: &Filter,
        after: &Position,
    ) -> Result<String, sqlx::Error> {
        let (clause, args) = where_clause(account, filter, Some(after));
        let select = format!(
            "SELECT {COLUMNS} FROM consumption_records{clause} ORDER BY occurred_at, id LIMIT 100"
        );
        let lines: Vec<String> = match self {
            Tx::Sqlite(c) => {
                let sql = sql!("EXPLAIN QUERY PLAN {select}");
                let rows: Vec<(i64, i64, i64, String)> = bind_all!(sqlx::query_as(sql), &args)
                    .fetch_all(&mut **c)
                    .await?;
                rows.into_iter().map(|r| r.3).collect()
            }
            Tx::Pg(c) => {
                for setting in ["enable_seqscan", "enable_sort"] {
                    sqlx::query(sql!("SET LOCAL {setting} = off"))
                        .execute(&mut **c)
                        .await?;
                }
                let sql = sql!("EXPLAIN {select}");
                let rows: Vec<(String,)> = bind_all!(sqlx::query_as(sql), &args)
                    .fetch_all(&mut **c)
                    .await?;
                rows.into_iter().map(|r| r.0).collect()
            }
        };
        Ok(lines.join("\n"))
    }

    /// Records of `[from, to)` with a billable part: how many, and its sum.
    /// Whole hours come from `consumption_billable_hours`, only the partial
    /// hours at the edges from the records: a month of a million records
    /// costs a few hundred rows.
    pub async fn consumption_billable(
        &mut self,
        account: &AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<(i64, i64), sqlx::Error> {
        let split = split_hours(from, to);
        fetch_one!(self, sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), CAST(COALESCE(SUM(b), 0) AS BIGINT) FROM (\
             SELECT records AS n, billable_minor AS b FROM consumption_billable_hours \
             WHERE account_id = $1 AND epoch_hour >= $2 AND epoch_hour < $3 \
             UNION ALL SELECT 1, billable_minor FROM consumption_records \
             WHERE account_id = $1 AND occurred_at >= $4 AND occurred_at < $5 AND billable_minor > 0 \
             UNION ALL SELECT 1, billable_minor FROM consumption_records \
             WHERE account_id = $1 AND occurred_at >= $6 AND occurred_at < $7 AND billable_minor > 0\
             ) AS t",
        )
        .bind(account.as_str())
        .bind(split.hours.0)
        .bind(split.hours.1)
        .bind(split.head.0)
        .bind(split.head.1)
        .bind(split.tail.0)
        .bind(split.tail.1))
    }

    /// Consumption with a cost in `[from, to)` that no invoice billed yet:
    /// (records, what credits did not cover, what they paid), in minor
    /// units. Whole hours are read from the hours' counters, the partial
    /// hours at the edges from the records.
    pub async fn consumption_unbilled(
        &mut self,
        account: &AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<(i64, i64, i64), sqlx::Error> {
        let split = split_hours(from, to);
        fetch_one!(self, sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), CAST(COALESCE(SUM(b), 0) AS BIGINT), \
             CAST(COALESCE(SUM(c), 0) AS BIGINT) FROM (\
             SELECT records - billed_records AS n, billable_minor - billed_minor AS b, 0 AS c \
             FROM consumption_billable_hours \
             WHERE account_id = $1 AND epoch_hour >= $2 AND epoch_hour < $3 AND billed_minor < billable_minor \
             UNION ALL SELECT records - billed_records, 0, covered_minor - billed_minor \
             FROM consumption_covered_hours \
             WHERE account_id = $1 AND epoch_hour >= $2 AND epoch_hour < $3 AND billed_minor < covered_minor \
             UNION ALL SELECT 1, billable_minor, cost_minor - billable_minor FROM consumption_records \
             WHERE account_id = $1 AND occurred_at >= $4 AND occurred_at < $5 AND invoice_id IS NULL AND cost_minor > 0 \
             UNION ALL SELECT 1, billable_minor, cost_minor - billable_minor FROM consumption_records \
             WHERE account_id = $1 AND occurred_at >= $6 AND occurred_at < $7 AND invoice_id IS NULL AND cost_minor > 0\
             ) AS t",
        )
        .bind(account.as_str())
        .bind(split.hours.0)
        .bind(split.hours.1)
        .bind(split.head.0)
        .bind(split.head.1)
        .bind(split.tail.0)
        .bind(split.tail.1))
    }

    /// The start of the earliest hour before `to` holding consumption with
    /// a cost that no invoice billed yet.
    pub async fn earliest_unbilled_consumption(
        &mut self,
        account: &AccountId,
        to: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        let t = to.unix_timestamp_nanos();
        let end = t.div_euclid(HOUR_NANOS) + i128::from(t.rem_euclid(HOUR_NANOS) != 0);
        let end = i64::try_from(end).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let (hour,): (Option<i64>,) = fetch_one!(
            self,
            sqlx::query_as(
                "SELECT MIN(h) FROM (\
                 SELECT MIN(epoch_hour) AS h FROM consumption_billable_hours \
                 WHERE account_id = $1 AND billed_minor < billable_minor AND epoch_hour < $2 \
                 UNION ALL SELECT MIN(epoch_hour) FROM consumption_covered_hours \
                 WHERE account_id = $1 AND billed_minor < covered_minor AND epoch_hour < $2\
                 ) AS t",
            )
            .bind(account.as_str())
            .bind(end)
        )?;
        Ok(hour.and_then(|h| OffsetDateTime::from_unix_timestamp(h.checked_mul(3600)?).ok()))
    }

    /// Marks every record with a cost before `cutoff` that no invoice
    /// billed yet as billed by `invoice` (in full: what credits paid and
    /// what they did not), and brings the hours' counters along. Returns
    /// the records marked.
    pub async fn bill_consumption(
        &mut self,
        account: &AccountId,
        cutoff: OffsetDateTime,
        invoice: &str,
    ) -> Result<u64, sqlx::Error> {
        let cutoff = cutoff.to_offset(UtcOffset::UTC);
        let marked = execute!(
            self,
            sqlx::query(
                "UPDATE consumption_records SET invoice_id = $3 WHERE account_id = $1 \
                 AND invoice_id IS NULL AND cost_minor > 0 AND occurred_at < $2",
            )
            .bind(account.as_str())
            .bind(cutoff)
            .bind(invoice)
        )?;
        if marked == 0 {
            return Ok(0);
        }
        let t = cutoff.unix_timestamp_nanos();
        let floor = i64::try_from(t.div_euclid(HOUR_NANOS))
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // (table, its amount, which records it counts, the part it sums)
        let tables = [
            (
                "consumption_billable_hours",
                "billable_minor",
                "r.billable_minor > 0",
                "r.billable_minor",
                "r.billable_minor > 0",
            ),
            (
                "consumption_covered_hours",
                "covered_minor",
                "r.billable_minor = 0 AND r.cost_minor > 0",
                "r.cost_minor - r.billable_minor",
                "r.cost_minor > r.billable_minor",
            ),
        ];
        for (table, amount, counted, part, has_part) in tables {
            let sql = sql!(
                "UPDATE {table} SET billed_records = records, billed_minor = {amount} \
                 WHERE account_id = $1 AND epoch_hour < $2 AND billed_minor < {amount}"
            );
            execute!(self, sqlx::query(sql).bind(account.as_str()).bind(floor))?;
            if t.rem_euclid(HOUR_NANOS) != 0 {
                // The hour the cutoff falls in: billed is what its records say.
                let start =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(floor) * HOUR_NANOS)
                        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let end = start + time::Duration::HOUR;
                let sql = sql!(
                    "UPDATE {table} SET \
                     billed_records = (SELECT CAST(COUNT(*) AS BIGINT) FROM consumption_records r \
                     WHERE r.account_id = $1 AND r.occurred_at >= $3 AND r.occurred_at < $4 \
                     AND r.invoice_id IS NOT NULL AND {counted}), \
                     billed_minor = (SELECT CAST(COALESCE(SUM({part}), 0) AS BIGINT) \
                     FROM consumption_records r WHERE r.account_id = $1 AND r.occurred_at >= $3 \
                     AND r.occurred_at < $4 AND r.invoice_id IS NOT NULL AND {has_part}) \
                     WHERE account_id = $1 AND epoch_hour = $2"
                );
                execute!(
                    self,
                    sqlx::query(sql)
                        .bind(account.as_str())
                        .bind(floor)
                        .bind(start)
                        .bind(end)
                )?;
            }
        }
        Ok(marked)
    }

    pub async fn count_consumption(
        &mut self,
        account: &AccountId,
        filter: &Filter,
    ) -> Result<i64, sqlx::Error> {
        let (clause, args) = where_clause(account, filter, None);
        let sql = sql!("SELECT CAST(COUNT(*) AS BIGINT) FROM consumption_records{clause}");
        let (count,): (i64,) = on_tx!(self, c => bind_all!(sqlx::query_as(sql), &args)
            .fetch_one(&mut **c)
            .await)?;
        Ok(count)
    }

    /// Totals of the selection: overall, then by user and by team.
    pub async fn consumption_totals(
        &mut self,
        account: &AccountId,
        filter: &Filter,
    ) -> Result<ConsumptionTotals, sqlx::Error> {
        let (clause, args) = where_clause(account, filter, None);
        let sums = "CAST(COUNT(*) AS BIGINT) AS count, \
            CAST(COALESCE(SUM(duration_seconds), 0) AS BIGINT) AS duration_seconds, \
            CAST(COALESCE(SUM(cost_minor), 0) AS BIGINT) AS cost_minor, \
            CAST(COALESCE(SUM(billable_minor), 0) AS BIGINT) AS billable_minor";
        let mut grouped = Vec::with_capacity(3);
        for key in ["NULL", "user_id", "team_id"] {
            let group = if key == "NULL" {
                String::new()
            } else {
                format!(" GROUP BY {key} ORDER BY {key}")
            };
            let sql = sql!(
                "SELECT CAST({key} AS TEXT) AS key, {sums} FROM consumption_records{clause}{group}"
            );
            let rows: Vec<TotalsRow> = on_tx!(self, c => bind_all!(sqlx::query_as(sql), &args)
                .fetch_all(&mut **c)
                .await)?;
            grouped.push(rows);
        }
        let by_team = grouped.pop().unwrap_or_default();
        let by_user = grouped.pop().unwrap_or_default();
        let total = grouped
            .pop()
            .and_then(|rows| rows.first().map(TotalsRow::totals))
            .unwrap_or_default();
        Ok(ConsumptionTotals {
            total,
            by_user: by_user
                .iter()
                .filter_map(|r| Some((UserId::from_trusted(r.key.clone()?), r.totals())))
                .collect(),
            by_team: by_team
                .iter()
                .map(|r| (r.key.clone().map(TeamId::from_trusted), r.totals()))
                .collect(),
        })
    }
}

/// What `consumption_totals` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumptionTotals {
    pub total: Totals,
    pub by_user: Vec<(UserId, Totals)>,
    /// `None`: records of users in no team.
    pub by_team: Vec<(Option<TeamId>, Totals)>,
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_range_on_the_hour_is_whole_hours_only() {
        // May 2026 in Paris.
        let (from, to) = (
            datetime!(2026-04-30 22:00 UTC),
            datetime!(2026-05-31 22:00 UTC),
        );
        let split = split_hours(from, to);
        assert_eq!(split.hours, (epoch_hour(from), epoch_hour(from) + 31 * 24));
        assert_eq!(split.head, (from, from));
        assert_eq!(split.tail, (to, to));
    }

    #[test]
    fn the_partial_hours_of_a_half_hour_zone_are_read_from_the_records() {
        // May 2026 in Kolkata (+05:30), then in Kathmandu (+05:45).
        for (from, first, last, to) in [
            (
                datetime!(2026-04-30 18:30 UTC),
                datetime!(2026-04-30 19:00 UTC),
                datetime!(2026-05-31 18:00 UTC),
                datetime!(2026-05-31 18:30 UTC),
            ),
            (
                datetime!(2026-04-30 18:15 UTC),
                datetime!(2026-04-30 19:00 UTC),
                datetime!(2026-05-31 18:00 UTC),
                datetime!(2026-05-31 18:15 UTC),
            ),
        ] {
            let split = split_hours(from, to);
            assert_eq!(split.hours, (epoch_hour(first), epoch_hour(last)));
            assert_eq!(split.head, (from, first));
            assert_eq!(split.tail, (last, to));
        }
    }

    #[test]
    fn a_range_without_a_whole_hour_is_read_from_the_records() {
        for (from, to) in [
            (
                datetime!(2026-05-01 10:10 UTC),
                datetime!(2026-05-01 10:50 UTC),
            ),
            (
                datetime!(2026-05-01 10:30 UTC),
                datetime!(2026-05-01 11:30 UTC),
            ),
            (
                datetime!(2026-05-01 10:00:00.5 UTC),
                datetime!(2026-05-01 11:00 UTC),
            ),
        ] {
            let split = split_hours(from, to);
            assert_eq!(split.hours.0, split.hours.1, "{from} {to}");
            assert_eq!(split.head, (from, to));
            assert_eq!(split.tail, (to, to));
        }
        // Backwards: empty.
        let (from, to) = (
            datetime!(2026-05-02 00:00 UTC),
            datetime!(2026-05-01 00:00 UTC),
        );
        let split = split_hours(from, to);
        assert_eq!(split.hours.0, split.hours.1);
        assert_eq!(split.head, (from, from));
        // Other offsets are read in UTC.
        let paris = datetime!(2026-05-01 00:30 +2);
        assert_eq!(split_hours(paris, paris).head.0.offset(), UtcOffset::UTC);
    }

    #[test]
    fn hours_count_from_the_epoch_and_round_down() {
        assert_eq!(epoch_hour(datetime!(1970-01-01 00:59:59 UTC)), 0);
        assert_eq!(epoch_hour(datetime!(1970-01-01 01:00 UTC)), 1);
        assert_eq!(epoch_hour(datetime!(1969-12-31 23:30 UTC)), -1);
        assert_eq!(epoch_hour(datetime!(2026-05-01 00:30 UTC)), 493_776);
    }
}
