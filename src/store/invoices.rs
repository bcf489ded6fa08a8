//! Invoices: drafts, issued invoices and the yearly counter that numbers
//! them without gaps; what marks billable items billed.

use time::{Date, OffsetDateTime};

use super::{Page, Tx, execute, fetch_all, fetch_one, fetch_optional, on_clock, sql};
use crate::domain::ids::{AccountId, InvoiceId, TestClockId};
use crate::domain::issued::InvoiceStatus;
use crate::domain::test_clock::Series;

/// An issued invoice as stored; `snapshot` is the JSON of what was issued.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub account_id: String,
    pub number: String,
    /// `period` (a month's invoice) or `advance` (an acompte).
    pub kind: String,
    pub period: String,
    pub status: String,
    pub issue_date: Date,
    pub currency: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub snapshot: String,
    pub created_at: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
    pub voided_at: Option<OffsetDateTime>,
    pub void_reason: Option<String>,
}

/// A billing run's draft: what it bills is composed whenever it is read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftRow {
    pub id: String,
    pub account_id: String,
    pub period: String,
    pub created_at: OffsetDateTime,
    pub finalize_after: OffsetDateTime,
}

const DRAFT_COLUMNS: &str = "id, account_id, period, created_at, finalize_after";

const COLUMNS: &str = "id, account_id, number, kind, period, status, issue_date, currency, \
    subtotal_minor, tax_minor, total_minor, snapshot, created_at, paid_at, voided_at, void_reason";
const INSERT_COLUMNS: &str = "id, account_id, number, kind, period, status, issue_date, currency, \
    subtotal_minor, tax_minor, total_minor, snapshot, created_at";

impl Tx {
    /// The next number of `year`, taken in this transaction: concurrent
    /// transactions wait on the counter's row, and a rollback gives the
    /// number back, so issued numbers have no gaps.
    /// A test account's documents take the next number of its clock's own
    /// series instead (see [`Series`]).
    pub async fn next_invoice_number(
        &mut self,
        series: Series<'_>,
        year: i32,
    ) -> Result<i64, sqlx::Error> {
        match series {
            Series::Live => self.next_in_series("invoice_counters", year).await,
            Series::Test(clock) => self.next_in_test_series(clock, "F", year).await,
        }
    }

    /// The last invoice number given in `year` (0 before the first).
    pub async fn last_invoice_number(
        &mut self,
        series: Series<'_>,
        year: i32,
    ) -> Result<i64, sqlx::Error> {
        let row: Option<(i64,)> = match series {
            Series::Live => fetch_optional!(
                self,
                sqlx::query_as("SELECT last_number FROM invoice_counters WHERE year = $1")
                    .bind(year)
            )?,
            Series::Test(clock) => fetch_optional!(
                self,
                sqlx::query_as(
                    "SELECT last_number FROM test_clock_counters \
                     WHERE clock_id = $1 AND series = 'F' AND year = $2"
                )
                .bind(clock.as_str())
                .bind(year)
            )?,
        };
        Ok(row.map_or(0, |(n,)| n))
    }

    /// The next number of `year` in a test clock's `series` (`F`, `AV`).
    pub(super) async fn next_in_test_series(
        &mut self,
        clock: &TestClockId,
        series: &'static str,
        year: i32,
    ) -> Result<i64, sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO test_clock_counters (clock_id, series, year, last_number) \
                 VALUES ($1, $2, $3, 0) ON CONFLICT (clock_id, series, year) DO NOTHING"
            )
            .bind(clock.as_str())
            .bind(series)
            .bind(year)
        )?;
        let (n,): (i64,) = fetch_one!(
            self,
            sqlx::query_as(
                "UPDATE test_clock_counters SET last_number = last_number + 1 \
                 WHERE clock_id = $1 AND series = $2 AND year = $3 RETURNING last_number"
            )
            .bind(clock.as_str())
            .bind(series)
            .bind(year)
        )?;
        Ok(n)
    }

    /// The next number of `year` in the series counted by `counters` (a
    /// table of `(year, last_number)` rows): invoices, credit notes.
    pub(super) async fn next_in_series(
        &mut self,
        counters: &'static str,
        year: i32,
    ) -> Result<i64, sqlx::Error> {
        let sql = sql!(
            "INSERT INTO {counters} (year, last_number) VALUES ($1, 0) \
             ON CONFLICT (year) DO NOTHING"
        );
        execute!(self, sqlx::query(sql).bind(year))?;
        let sql = sql!(
            "UPDATE {counters} SET last_number = last_number + 1 WHERE year = $1 \
             RETURNING last_number"
        );
        let (n,): (i64,) = fetch_one!(self, sqlx::query_as(sql).bind(year))?;
        Ok(n)
    }

    pub async fn insert_invoice(&mut self, i: &InvoiceRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO invoices ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&i.id)
                .bind(&i.account_id)
                .bind(&i.number)
                .bind(&i.kind)
                .bind(&i.period)
                .bind(&i.status)
                .bind(i.issue_date)
                .bind(&i.currency)
                .bind(i.subtotal_minor)
                .bind(i.tax_minor)
                .bind(i.total_minor)
                .bind(&i.snapshot)
                .bind(i.created_at)
        )?;
        Ok(())
    }

    /// The account's invoice of `period` (acomptes are not invoices of a period).
    pub async fn invoice_for_period(
        &mut self,
        account: &AccountId,
        period: &str,
    ) -> Result<Option<InvoiceRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM invoices WHERE account_id = $1 AND period = $2 \
             AND kind = 'period'"
        );
        fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(period)
        )
    }

    pub async fn invoice(
        &mut self,
        account: &AccountId,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRow>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM invoices WHERE account_id = $1 AND id = $2");
        fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )
    }

    /// Invoices in id order (ids grow with time), optionally of one status
    /// and issued within `[from, to]`.
    pub async fn list_invoices(
        &mut self,
        account: &AccountId,
        status: Option<InvoiceStatus>,
        from: Option<Date>,
        to: Option<Date>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<InvoiceRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM invoices WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
             AND ($3 IS NULL OR issue_date >= $3) AND ($4 IS NULL OR issue_date <= $4) \
             AND (CAST($5 AS TEXT) IS NULL OR id > $5) ORDER BY id LIMIT $6"
        );
        let rows: Vec<InvoiceRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(status.map(InvoiceStatus::as_str))
                .bind(from)
                .bind(to)
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }

    /// Moves an `issued` invoice to `paid` or `void`; false when it was not
    /// `issued` any more (the status only moves forward, once).
    pub async fn close_invoice(
        &mut self,
        id: &str,
        status: InvoiceStatus,
        at: OffsetDateTime,
        reason: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let column = if status == InvoiceStatus::Paid {
            "paid_at"
        } else {
            "voided_at"
        };
        let sql = sql!(
            "UPDATE invoices SET status = $1, {column} = $2, void_reason = $3 \
             WHERE id = $4 AND status = 'issued'"
        );
        let n = execute!(
            self,
            sqlx::query(sql)
                .bind(status.as_str())
                .bind(at)
                .bind(reason)
                .bind(id)
        )?;
        Ok(n == 1)
    }

    /// An invoice by id alone (the payment webhook names no account).
    pub async fn invoice_by_id(
        &mut self,
        id: &InvoiceId,
    ) -> Result<Option<InvoiceRow>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM invoices WHERE id = $1");
        fetch_optional!(self, sqlx::query_as(sql).bind(id.as_str()))
    }

    /// Every invoice number of `year`, in order (tests check there is no gap).
    pub async fn invoice_numbers(&mut self, year: i32) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = fetch_all!(
            self,
            sqlx::query_as("SELECT number FROM invoices WHERE number LIKE $1 ORDER BY number",)
                .bind(format!("F-{year:04}-%"))
        )?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Every account living on `clock` (`None`: every live account), in
    /// order: what a billing run goes through.
    pub async fn account_ids(
        &mut self,
        clock: Option<&TestClockId>,
    ) -> Result<Vec<AccountId>, sqlx::Error> {
        let sql = sql!("SELECT id FROM accounts WHERE {} ORDER BY id", on_clock(1));
        let rows: Vec<(String,)> = fetch_all!(
            self,
            sqlx::query_as(sql).bind(clock.map(TestClockId::as_str))
        )?;
        Ok(rows
            .into_iter()
            .map(|(id,)| AccountId::from_trusted(id))
            .collect())
    }

    pub async fn insert_draft(&mut self, d: &DraftRow) -> Result<(), sqlx::Error> {
        let sql = sql!("INSERT INTO invoice_drafts ({DRAFT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        execute!(
            self,
            sqlx::query(sql)
                .bind(&d.id)
                .bind(&d.account_id)
                .bind(&d.period)
                .bind(d.created_at)
                .bind(d.finalize_after)
        )?;
        Ok(())
    }

    /// A draft by id alone (the finalizer and the payment webhook name no account).
    pub async fn draft_by_id(&mut self, id: &str) -> Result<Option<DraftRow>, sqlx::Error> {
        let sql = sql!("SELECT {DRAFT_COLUMNS} FROM invoice_drafts WHERE id = $1");
        fetch_optional!(self, sqlx::query_as(sql).bind(id))
    }

    pub async fn draft_for_period(
        &mut self,
        account: &AccountId,
        period: &str,
    ) -> Result<Option<DraftRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {DRAFT_COLUMNS} FROM invoice_drafts WHERE account_id = $1 AND period = $2"
        );
        fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(period)
        )
    }

    /// The account's drafts in id order, after `after` (an account has a
    /// few at most: one per period billed and not finalized yet).
    pub async fn drafts_of(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
    ) -> Result<Vec<DraftRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {DRAFT_COLUMNS} FROM invoice_drafts WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT 1000"
        );
        fetch_all!(self, sqlx::query_as(sql).bind(account.as_str()).bind(after))
    }

    /// Deletes a draft; false when it was gone already (finalized or
    /// discarded by someone else).
    pub async fn delete_draft(&mut self, id: &str) -> Result<bool, sqlx::Error> {
        let n = execute!(
            self,
            sqlx::query("DELETE FROM invoice_drafts WHERE id = $1").bind(id)
        )?;
        Ok(n == 1)
    }

    /// Drafts whose grace period is over at `now`, the oldest first, of the
    /// accounts living on `clock` (`None`: the live accounts).
    pub async fn due_drafts(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
        clock: Option<&TestClockId>,
    ) -> Result<Vec<DraftRow>, sqlx::Error> {
        let on_clock = on_clock(3);
        let sql = sql!(
            "SELECT {DRAFT_COLUMNS} FROM invoice_drafts WHERE finalize_after <= $1 \
             AND account_id IN (SELECT id FROM accounts WHERE {on_clock}) \
             ORDER BY finalize_after, id LIMIT $2"
        );
        fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(now)
                .bind(i64::from(limit))
                .bind(clock.map(TestClockId::as_str))
        )
    }

    /// Marks what `invoice` (of the period starting on `first`) billed of
    /// the account's licenses and numbers: every unbilled proration of an
    /// item activated before `first`, and every month of such items up to
    /// `next` (the 1st after the period), now settled.
    pub async fn bill_items(
        &mut self,
        account: &AccountId,
        first: Date,
        next: Date,
        invoice: &str,
    ) -> Result<(), sqlx::Error> {
        for table in ["licenses", "phone_numbers"] {
            let sql = sql!(
                "UPDATE {table} SET proration_invoice_id = $3 WHERE account_id = $1 \
                 AND activation_date < $2 AND proration_invoice_id IS NULL"
            );
            execute!(
                self,
                sqlx::query(sql)
                    .bind(account.as_str())
                    .bind(first)
                    .bind(invoice)
            )?;
            let sql = sql!(
                "UPDATE {table} SET billed_invoice_id = CASE WHEN removal_date IS NULL \
                 OR removal_date >= COALESCE(billed_until, $2) THEN $4 ELSE billed_invoice_id END, \
                 billed_until = $3 WHERE account_id = $1 AND activation_date < $2 \
                 AND (billed_until IS NULL OR (billed_until < $3 \
                 AND (removal_date IS NULL OR removal_date >= billed_until)))"
            );
            execute!(
                self,
                sqlx::query(sql)
                    .bind(account.as_str())
                    .bind(first)
                    .bind(next)
                    .bind(invoice)
            )?;
        }
        Ok(())
    }
}
