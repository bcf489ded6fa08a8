//! Credit notes, their yearly counter, refunds, and the customer balance
//! entries they add and draw on.

use time::{Date, OffsetDateTime};

use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::ids::{AccountId, CreditNoteId, InvoiceId};
use crate::domain::test_clock::Series;

/// A credit note as stored; `snapshot` is the JSON of what was issued.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditNoteRow {
    pub id: String,
    pub account_id: String,
    pub invoice_id: String,
    pub number: String,
    pub issue_date: Date,
    pub reason: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub applied_minor: i64,
    pub to_balance_minor: i64,
    pub snapshot: String,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, account_id, invoice_id, number, issue_date, reason, currency, \
    subtotal_minor, tax_minor, total_minor, applied_minor, to_balance_minor, snapshot, created_at";

/// A refund of part of a credit note's credit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub account_id: String,
    pub credit_note_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_at: OffsetDateTime,
    pub reference: Option<String>,
    pub created_at: OffsetDateTime,
}

const REFUND_COLUMNS: &str =
    "id, account_id, credit_note_id, amount_minor, currency, refunded_at, reference, created_at";

/// A positive entry of the customer balance and what is left of it once
/// the entries drawing on it are counted.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceSource {
    pub id: String,
    pub kind: String,
    pub credit_note_id: Option<String>,
    pub left_minor: i64,
}

impl Tx {
    /// The next credit note number of `year`, taken in this transaction
    /// (as [`Tx::next_invoice_number`]): a rollback gives it back.
    pub async fn next_credit_note_number(
        &mut self,
        series: Series<'_>,
        year: i32,
    ) -> Result<i64, sqlx::Error> {
        match series {
            Series::Live => self.next_in_series("credit_note_counters", year).await,
            Series::Test(clock) => self.next_in_test_series(clock, "AV", year).await,
        }
    }

    pub async fn insert_credit_note(&mut self, c: &CreditNoteRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO credit_notes ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&c.id)
                .bind(&c.account_id)
                .bind(&c.invoice_id)
                .bind(&c.number)
                .bind(c.issue_date)
                .bind(&c.reason)
                .bind(&c.currency)
                .bind(c.subtotal_minor)
                .bind(c.tax_minor)
                .bind(c.total_minor)
                .bind(c.applied_minor)
                .bind(c.to_balance_minor)
                .bind(&c.snapshot)
                .bind(c.created_at)
        )?;
        Ok(())
    }

    /// The credit notes of one invoice, oldest first.
    pub async fn credit_notes_of(
        &mut self,
        account: &AccountId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNoteRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM credit_notes WHERE account_id = $1 AND invoice_id = $2 \
             ORDER BY id"
        );
        fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(invoice.as_str())
        )
    }

    /// The credit notes of the account's invoices with ids in `[first, last]`.
    pub async fn credit_notes_between(
        &mut self,
        account: &AccountId,
        first: &InvoiceId,
        last: &InvoiceId,
    ) -> Result<Vec<CreditNoteRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM credit_notes WHERE account_id = $1 \
             AND invoice_id >= $2 AND invoice_id <= $3 ORDER BY invoice_id, id"
        );
        fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(first.as_str())
                .bind(last.as_str())
        )
    }

    pub async fn credit_note(
        &mut self,
        account: &AccountId,
        id: &CreditNoteId,
    ) -> Result<Option<CreditNoteRow>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM credit_notes WHERE account_id = $1 AND id = $2");
        fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )
    }

    /// A page of the account's credit notes in id order (oldest first).
    pub async fn list_credit_notes(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<CreditNoteRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM credit_notes WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<CreditNoteRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }

    /// `issued` or `paid` -> `credited`, once credit notes cover the total.
    pub async fn mark_credited(&mut self, invoice: &str) -> Result<bool, sqlx::Error> {
        let n = execute!(
            self,
            sqlx::query(
                "UPDATE invoices SET status = 'credited' WHERE id = $1 \
                 AND status IN ('issued', 'paid')"
            )
            .bind(invoice)
        )?;
        Ok(n == 1)
    }

    pub async fn insert_refund(&mut self, r: &RefundRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO credit_note_refunds ({REFUND_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&r.id)
                .bind(&r.account_id)
                .bind(&r.credit_note_id)
                .bind(r.amount_minor)
                .bind(&r.currency)
                .bind(r.refunded_at)
                .bind(&r.reference)
                .bind(r.created_at)
        )?;
        Ok(())
    }

    /// The positive entries of the account's balance in `currency` with
    /// something left, oldest first (the order later invoices draw on them).
    pub async fn balance_sources(
        &mut self,
        account: &AccountId,
        currency: &str,
    ) -> Result<Vec<BalanceSource>, sqlx::Error> {
        let rows: Vec<BalanceSource> = fetch_all!(
            self,
            sqlx::query_as(
                "SELECT e.id, e.kind, e.credit_note_id, \
                 CAST(e.amount_minor + COALESCE((SELECT SUM(o.amount_minor) \
                   FROM customer_balance_entries o WHERE o.source_entry_id = e.id), 0) AS BIGINT) \
                   AS left_minor \
                 FROM customer_balance_entries e \
                 WHERE e.account_id = $1 AND e.currency = $2 AND e.amount_minor > 0 \
                 ORDER BY e.id"
            )
            .bind(account.as_str())
            .bind(currency)
        )?;
        Ok(rows.into_iter().filter(|s| s.left_minor > 0).collect())
    }

    /// Whether an invoice reissues `invoice`.
    pub async fn reissued(&mut self, invoice: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as("SELECT number FROM invoices WHERE reissue_of = $1").bind(invoice)
        )?;
        Ok(row.map(|(n,)| n))
    }

    pub async fn set_reissue_of(&mut self, invoice: &str, of: &str) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE invoices SET reissue_of = $1 WHERE id = $2")
                .bind(of)
                .bind(invoice)
        )?;
        Ok(())
    }

    /// Every item `from` billed is now billed by `to` (its reissue).
    pub async fn move_billed_items(&mut self, from: &str, to: &str) -> Result<(), sqlx::Error> {
        for sql in [
            "UPDATE licenses SET proration_invoice_id = $1 WHERE proration_invoice_id = $2",
            "UPDATE licenses SET billed_invoice_id = $1 WHERE billed_invoice_id = $2",
            "UPDATE phone_numbers SET proration_invoice_id = $1 WHERE proration_invoice_id = $2",
            "UPDATE phone_numbers SET billed_invoice_id = $1 WHERE billed_invoice_id = $2",
            "UPDATE consumption_records SET invoice_id = $1 WHERE invoice_id = $2",
            "UPDATE charges SET invoice_id = $1 WHERE invoice_id = $2",
        ] {
            execute!(self, sqlx::query(sql).bind(to).bind(from))?;
        }
        Ok(())
    }
}
