//! Test clocks and what lives on them.

use time::OffsetDateTime;

use super::{Backend, Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::ids::{AccountId, TestClockId};
use crate::domain::test_clock::{ClockStatus, TestClock};

#[derive(sqlx::FromRow)]
struct ClockRow {
    id: String,
    name: String,
    frozen_time: OffsetDateTime,
    status: String,
    advance_to: Option<OffsetDateTime>,
    owner_account_id: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<ClockRow> for TestClock {
    type Error = sqlx::Error;

    fn try_from(r: ClockRow) -> Result<Self, Self::Error> {
        Ok(TestClock {
            id: TestClockId::from_trusted(r.id),
            name: r.name,
            frozen_time: r.frozen_time,
            status: ClockStatus::parse(&r.status)
                .ok_or_else(|| super::accounts::corrupt("status"))?,
            advance_to: r.advance_to,
            owner: r.owner_account_id.map(AccountId::from_trusted),
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "id, name, frozen_time, status, advance_to, owner_account_id, created_at";

/// Every table holding an account's rows, each before the tables its rows
/// reference: deleting a clock's test accounts empties them in this order.
/// (A test checks that every table with an `account_id` is listed.)
pub const ACCOUNT_TABLES: &[&str] = &[
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "events",
    "e_invoice_events",
    "e_invoice_messages",
    "e_invoice_documents",
    "e_invoices",
    "consumption_covered_hours",
    "advance_allocations",
    "customer_balance_entries",
    "credit_note_refunds",
    "invoice_emails",
    "top_ups",
    "licenses",
    "phone_numbers",
    "consumption_records",
    "consumption_billable_hours",
    "charges",
    "credit_notes",
    "invoice_payments",
    "invoice_payment_failures",
    "invoice_drafts",
    "invoice_recipients",
    "invoices",
    "credit_ledger",
    "credit_accounts",
    "payment_methods",
    "license_quotes",
    "users",
    "teams",
    "billing_address_change_requests",
    "billing_addresses",
    "documents",
    "contacts",
    "audit_events",
];

impl Tx {
    pub async fn insert_test_clock(&mut self, c: &TestClock) -> Result<(), sqlx::Error> {
        let sql = sql!("INSERT INTO test_clocks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        execute!(
            self,
            sqlx::query(sql)
                .bind(c.id.as_str())
                .bind(&c.name)
                .bind(c.frozen_time)
                .bind(c.status.as_str())
                .bind(c.advance_to)
                .bind(c.owner.as_ref().map(AccountId::as_str))
                .bind(c.created_at)
        )?;
        Ok(())
    }

    pub async fn test_clock(&mut self, id: &TestClockId) -> Result<Option<TestClock>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM test_clocks WHERE id = $1");
        let row: Option<ClockRow> = fetch_optional!(self, sqlx::query_as(sql).bind(id.as_str()))?;
        row.map(TestClock::try_from).transpose()
    }

    /// The clock `account` lives on, if it is a test account.
    pub async fn clock_of_account(
        &mut self,
        account: &AccountId,
    ) -> Result<Option<TestClock>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM test_clocks WHERE id = \
             (SELECT test_clock_id FROM accounts WHERE id = $1)"
        );
        let row: Option<ClockRow> =
            fetch_optional!(self, sqlx::query_as(sql).bind(account.as_str()))?;
        row.map(TestClock::try_from).transpose()
    }

    /// Clocks in id order after the cursor: all of them, or those `owner`
    /// made and the one it lives on.
    pub async fn list_test_clocks(
        &mut self,
        owner: Option<&AccountId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TestClock>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM test_clocks WHERE (CAST($1 AS TEXT) IS NULL \
             OR owner_account_id = $1 OR id = (SELECT test_clock_id FROM accounts WHERE id = $1)) \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<ClockRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(owner.map(AccountId::as_str))
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(TestClock::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// Starts an advance of a clock at rest; `false` if it was advancing.
    pub async fn start_advance(
        &mut self,
        id: &TestClockId,
        to: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let n = execute!(
            self,
            sqlx::query(
                "UPDATE test_clocks SET status = 'advancing', advance_to = $2, lease_until = NULL \
                 WHERE id = $1 AND status = 'ready'"
            )
            .bind(id.as_str())
            .bind(to)
        )?;
        Ok(n == 1)
    }

    /// Takes the job of an advancing clock nobody holds (or whose holder's
    /// lease ran out at `wall_now`: it died) until `lease_until`.
    pub async fn claim_advancing_clock(
        &mut self,
        wall_now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<TestClock>, sqlx::Error> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = sql!(
            "UPDATE test_clocks SET lease_until = $2 WHERE id = \
             (SELECT id FROM test_clocks WHERE status = 'advancing' \
             AND (lease_until IS NULL OR lease_until <= $1) ORDER BY id LIMIT 1{lock}) \
             RETURNING {COLUMNS}"
        );
        let row: Option<ClockRow> =
            fetch_optional!(self, sqlx::query_as(sql).bind(wall_now).bind(lease_until))?;
        row.map(TestClock::try_from).transpose()
    }

    /// Records that the advance has run everything due up to `at`, and
    /// keeps the job until `lease_until`.
    pub async fn move_test_clock(
        &mut self,
        id: &TestClockId,
        at: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE test_clocks SET frozen_time = $2, lease_until = $3 \
                 WHERE id = $1 AND status = 'advancing'"
            )
            .bind(id.as_str())
            .bind(at)
            .bind(lease_until)
        )?;
        Ok(())
    }

    /// Ends the advance: the clock rests at its target.
    pub async fn finish_advance(&mut self, id: &TestClockId) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE test_clocks SET status = 'ready', frozen_time = advance_to, \
                 advance_to = NULL, lease_until = NULL WHERE id = $1 AND status = 'advancing'"
            )
            .bind(id.as_str())
        )?;
        Ok(())
    }

    /// The earliest end of grace after `after` of the drafts of the
    /// clock's accounts.
    pub async fn next_draft_due(
        &mut self,
        id: &TestClockId,
        after: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        let row: Option<(OffsetDateTime,)> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT finalize_after FROM invoice_drafts WHERE finalize_after > $2 \
                 AND account_id IN (SELECT id FROM accounts WHERE test_clock_id = $1) \
                 ORDER BY finalize_after LIMIT 1"
            )
            .bind(id.as_str())
            .bind(after)
        )?;
        Ok(row.map(|(at,)| at))
    }

    /// The ids of the documents uploaded by the clock's accounts.
    pub async fn clock_document_ids(
        &mut self,
        id: &TestClockId,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = fetch_all!(
            self,
            sqlx::query_as(
                "SELECT id FROM documents WHERE account_id IN \
                 (SELECT id FROM accounts WHERE test_clock_id = $1)"
            )
            .bind(id.as_str())
        )?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// Deletes the clock, its accounts and everything of theirs.
    pub async fn delete_test_clock(&mut self, id: &TestClockId) -> Result<bool, sqlx::Error> {
        let accounts = "SELECT id FROM accounts WHERE test_clock_id = $1";
        execute!(
            self,
            sqlx::query(sql!(
                "DELETE FROM billing_address_revisions WHERE address_id IN \
                 (SELECT id FROM billing_addresses WHERE account_id IN ({accounts}))"
            ))
            .bind(id.as_str())
        )?;
        // The caller scope of an account's tokens names it (`role:account:subject`).
        execute!(
            self,
            sqlx::query(sql!(
                "DELETE FROM idempotency_keys WHERE EXISTS ({accounts} \
                 AND idempotency_keys.scope LIKE '%:' || accounts.id || ':%')"
            ))
            .bind(id.as_str())
        )?;
        for table in ACCOUNT_TABLES {
            execute!(
                self,
                sqlx::query(sql!("DELETE FROM {table} WHERE account_id IN ({accounts})"))
                    .bind(id.as_str())
            )?;
        }
        execute!(
            self,
            sqlx::query("DELETE FROM accounts WHERE test_clock_id = $1").bind(id.as_str())
        )?;
        execute!(
            self,
            sqlx::query("DELETE FROM test_clock_counters WHERE clock_id = $1").bind(id.as_str())
        )?;
        let n = execute!(
            self,
            sqlx::query("DELETE FROM test_clocks WHERE id = $1").bind(id.as_str())
        )?;
        Ok(n == 1)
    }
}
