//! The invoice email outbox: rows written with the invoice, claimed and
//! marked by the delivery worker; and the claim with a lease that every
//! outbox table shares.

use time::OffsetDateTime;

use super::{Backend, Page, Tx, execute, fetch_all, sql};
use crate::domain::ids::{InvoiceEmailId, InvoiceId};

/// An email of the outbox, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceEmailRow {
    pub id: String,
    pub invoice_id: String,
    pub account_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub lang: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub sent_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The credit note the email carries, when it is not the invoice.
    pub credit_note_id: Option<String>,
}

const COLUMNS: &str = "id, invoice_id, account_id, recipient, subject, body, lang, status, \
    attempts, next_attempt_at, last_error, sent_at, created_at, credit_note_id";

/// A table of messages delivered by a worker: `id`, `status` (`pending`,
/// `sent`, `failed`), `attempts`, `next_attempt_at`, `last_error` and
/// `sent_at` columns, claimed with a lease and marked by
/// [`Tx::claim_due`] and [`Tx::record_attempt`].
pub(crate) struct Outbox {
    pub table: &'static str,
    /// The columns a claim returns.
    pub columns: &'static str,
    /// More conditions a pending row meets to be claimed (` AND ...`).
    pub ready: &'static str,
}

/// A test account's emails are queued and shown, never sent.
const INVOICE_EMAILS: Outbox = Outbox {
    table: "invoice_emails",
    columns: COLUMNS,
    ready: " AND account_id IN (SELECT id FROM accounts WHERE test_clock_id IS NULL)",
};

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent {
        at: OffsetDateTime,
    },
    /// Try again at `next` (a transient failure).
    Retry {
        next: OffsetDateTime,
        error: String,
    },
    /// Never tried again (a permanent refusal, or too many attempts).
    Failed {
        error: String,
    },
}

impl Tx {
    pub async fn insert_invoice_email(&mut self, e: &InvoiceEmailRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO invoice_emails ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&e.id)
                .bind(&e.invoice_id)
                .bind(&e.account_id)
                .bind(&e.recipient)
                .bind(&e.subject)
                .bind(&e.body)
                .bind(&e.lang)
                .bind(&e.status)
                .bind(e.attempts)
                .bind(e.next_attempt_at)
                .bind(&e.last_error)
                .bind(e.sent_at)
                .bind(e.created_at)
                .bind(&e.credit_note_id)
        )?;
        Ok(())
    }

    /// Claims up to `limit` pending emails due at `now` (see [`Tx::claim_due`]).
    pub async fn claim_invoice_emails(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<InvoiceEmailRow>, sqlx::Error> {
        self.claim_due(&INVOICE_EMAILS, now, lease_until, limit)
            .await
    }

    /// Records how an attempt at a claimed email ended.
    pub async fn record_email_attempt(
        &mut self,
        id: &InvoiceEmailId,
        attempt: &Attempt,
    ) -> Result<(), sqlx::Error> {
        self.record_attempt(&INVOICE_EMAILS, id.as_str(), attempt)
            .await
    }

    /// Claims up to `limit` pending rows of `outbox` due at `now`: each
    /// one's attempt count goes up and it is not due again before
    /// `lease_until`, so no other worker takes it meanwhile (a worker that
    /// dies mid-send leaves it to be retried after the lease). On
    /// PostgreSQL, rows another worker is claiming are skipped (`FOR UPDATE
    /// SKIP LOCKED`); SQLite has a single writer, so claims are serialised
    /// anyway.
    pub(crate) async fn claim_due<T>(
        &mut self,
        outbox: &Outbox,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let Outbox {
            table,
            columns,
            ready,
        } = outbox;
        let sql = sql!(
            "UPDATE {table} SET attempts = attempts + 1, next_attempt_at = $2 \
             WHERE id IN (SELECT id FROM {table} WHERE status = 'pending' \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $1){ready} ORDER BY id LIMIT $3{lock}) \
             RETURNING {columns}"
        );
        fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(now)
                .bind(lease_until)
                .bind(i64::from(limit))
        )
    }

    /// Records how an attempt at a claimed row of `outbox` ended.
    pub(crate) async fn record_attempt(
        &mut self,
        outbox: &Outbox,
        id: &str,
        attempt: &Attempt,
    ) -> Result<(), sqlx::Error> {
        let (status, next, error, sent_at) = match attempt {
            Attempt::Sent { at } => ("sent", None, None, Some(*at)),
            Attempt::Retry { next, error } => ("pending", Some(*next), Some(error.as_str()), None),
            Attempt::Failed { error } => ("failed", None, Some(error.as_str()), None),
        };
        let table = outbox.table;
        let sql = sql!(
            "UPDATE {table} SET status = $2, next_attempt_at = $3, last_error = $4, \
             sent_at = $5 WHERE id = $1"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(id)
                .bind(status)
                .bind(next)
                .bind(error)
                .bind(sent_at)
        )?;
        Ok(())
    }

    /// The emails of one invoice, in the order they were queued.
    /// A page of an invoice's emails, oldest first.
    pub async fn invoice_emails(
        &mut self,
        invoice: &InvoiceId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<InvoiceEmailRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM invoice_emails WHERE invoice_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(invoice.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }
}
