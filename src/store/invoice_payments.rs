//! Payments of invoices, failed debits and the customer balance's entries.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_one, sql};
use crate::domain::ids::{
    AccountId, BalanceEntryId, CreditNoteId, InvoiceId, InvoicePaymentFailureId, InvoicePaymentId,
};
use crate::domain::invoice_payment::{
    BalanceEntry, BalanceEntryKind, InvoicePayment, InvoicePaymentMethod, PaymentFailure,
};
use crate::domain::money::{Currency, Money};

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    invoice_id: String,
    account_id: Option<String>,
    applied: bool,
    amount_minor: Option<i64>,
    currency: Option<String>,
    paid_at: OffsetDateTime,
    method: String,
    reference: Option<String>,
    overpayment_minor: i64,
    event_id: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<PaymentRow> for InvoicePayment {
    type Error = sqlx::Error;

    fn try_from(r: PaymentRow) -> Result<Self, sqlx::Error> {
        let currency = r
            .currency
            .map(|c| Currency::parse(&c).ok_or_else(|| corrupt("currency")))
            .transpose()?;
        Ok(InvoicePayment {
            id: InvoicePaymentId::from_trusted(r.id),
            invoice_id: r.invoice_id,
            account_id: r.account_id.map(AccountId::from_trusted),
            applied: r.applied,
            amount_minor: r.amount_minor,
            currency,
            paid_at: r.paid_at,
            method: InvoicePaymentMethod::parse(&r.method).ok_or_else(|| corrupt("method"))?,
            reference: r.reference,
            overpayment_minor: r.overpayment_minor,
            event_id: r.event_id,
            created_at: r.created_at,
        })
    }
}

const PAYMENT_COLUMNS: &str = "id, invoice_id, account_id, applied, amount_minor, currency, \
    paid_at, method, reference, overpayment_minor, event_id, created_at";

#[derive(sqlx::FromRow)]
struct FailureRow {
    id: String,
    invoice_id: String,
    account_id: Option<String>,
    reason: Option<String>,
    failed_at: OffsetDateTime,
    event_id: Option<String>,
    created_at: OffsetDateTime,
}

impl From<FailureRow> for PaymentFailure {
    fn from(r: FailureRow) -> Self {
        PaymentFailure {
            id: InvoicePaymentFailureId::from_trusted(r.id),
            invoice_id: r.invoice_id,
            account_id: r.account_id.map(AccountId::from_trusted),
            reason: r.reason,
            failed_at: r.failed_at,
            event_id: r.event_id,
            created_at: r.created_at,
        }
    }
}

const FAILURE_COLUMNS: &str = "id, invoice_id, account_id, reason, failed_at, event_id, created_at";

#[derive(sqlx::FromRow)]
struct BalanceRow {
    id: String,
    account_id: String,
    amount_minor: i64,
    currency: String,
    kind: String,
    invoice_id: Option<String>,
    payment_id: Option<String>,
    created_at: OffsetDateTime,
    credit_note_id: Option<String>,
    source_entry_id: Option<String>,
}

impl TryFrom<BalanceRow> for BalanceEntry {
    type Error = sqlx::Error;

    fn try_from(r: BalanceRow) -> Result<Self, sqlx::Error> {
        let currency = Currency::parse(&r.currency).ok_or_else(|| corrupt("currency"))?;
        Ok(BalanceEntry {
            id: BalanceEntryId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            amount: Money::from_minor(r.amount_minor, currency),
            kind: BalanceEntryKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            invoice_id: r.invoice_id,
            payment_id: r.payment_id.map(InvoicePaymentId::from_trusted),
            credit_note_id: r.credit_note_id.map(CreditNoteId::from_trusted),
            source_entry_id: r.source_entry_id.map(BalanceEntryId::from_trusted),
            created_at: r.created_at,
        })
    }
}

const BALANCE_COLUMNS: &str = "id, account_id, amount_minor, currency, kind, invoice_id, \
    payment_id, created_at, credit_note_id, source_entry_id";

impl Tx {
    pub async fn insert_invoice_payment(&mut self, p: &InvoicePayment) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO invoice_payments ({PAYMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(p.id.as_str())
                .bind(&p.invoice_id)
                .bind(p.account_id.as_ref().map(AccountId::as_str))
                .bind(p.applied)
                .bind(p.amount_minor)
                .bind(p.currency.map(Currency::code))
                .bind(p.paid_at)
                .bind(p.method.as_str())
                .bind(&p.reference)
                .bind(p.overpayment_minor)
                .bind(&p.event_id)
                .bind(p.created_at)
        )?;
        Ok(())
    }

    /// The payments recorded for the account's invoices with ids in
    /// `[first, last]` (one invoice, or a page of them), by invoice then
    /// oldest first.
    pub async fn invoice_payments_between(
        &mut self,
        account: &AccountId,
        first: &InvoiceId,
        last: &InvoiceId,
    ) -> Result<Vec<InvoicePayment>, sqlx::Error> {
        let sql = sql!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE account_id = $1 \
             AND invoice_id >= $2 AND invoice_id <= $3 ORDER BY invoice_id, id"
        );
        let rows: Vec<PaymentRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(first.as_str())
                .bind(last.as_str())
        )?;
        rows.into_iter().map(InvoicePayment::try_from).collect()
    }

    /// A page of one invoice's payments, oldest first.
    pub async fn list_invoice_payments(
        &mut self,
        account: &AccountId,
        invoice: &InvoiceId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<InvoicePayment>, sqlx::Error> {
        let sql = sql!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE account_id = $1 \
             AND invoice_id = $2 AND (CAST($3 AS TEXT) IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows: Vec<PaymentRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(invoice.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(InvoicePayment::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    pub async fn insert_payment_failure(&mut self, f: &PaymentFailure) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO invoice_payment_failures ({FAILURE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(f.id.as_str())
                .bind(&f.invoice_id)
                .bind(f.account_id.as_ref().map(AccountId::as_str))
                .bind(&f.reason)
                .bind(f.failed_at)
                .bind(&f.event_id)
                .bind(f.created_at)
        )?;
        Ok(())
    }

    /// The failed debits of the account's invoices with ids in `[first, last]`.
    pub async fn payment_failures_between(
        &mut self,
        account: &AccountId,
        first: &InvoiceId,
        last: &InvoiceId,
    ) -> Result<Vec<PaymentFailure>, sqlx::Error> {
        let sql = sql!(
            "SELECT {FAILURE_COLUMNS} FROM invoice_payment_failures WHERE account_id = $1 \
             AND invoice_id >= $2 AND invoice_id <= $3 ORDER BY invoice_id, id"
        );
        let rows: Vec<FailureRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(first.as_str())
                .bind(last.as_str())
        )?;
        Ok(rows.into_iter().map(PaymentFailure::from).collect())
    }

    pub async fn insert_balance_entry(&mut self, e: &BalanceEntry) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO customer_balance_entries ({BALANCE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(e.id.as_str())
                .bind(e.account_id.as_str())
                .bind(e.amount.minor())
                .bind(e.amount.currency().code())
                .bind(e.kind.as_str())
                .bind(&e.invoice_id)
                .bind(e.payment_id.as_ref().map(InvoicePaymentId::as_str))
                .bind(e.created_at)
                .bind(e.credit_note_id.as_ref().map(CreditNoteId::as_str))
                .bind(e.source_entry_id.as_ref().map(BalanceEntryId::as_str))
        )?;
        Ok(())
    }

    /// The customer balance in `currency`: the sum of its entries.
    pub async fn customer_balance(
        &mut self,
        account: &AccountId,
        currency: Currency,
    ) -> Result<i64, sqlx::Error> {
        let (sum,): (Option<i64>,) = fetch_one!(
            self,
            sqlx::query_as(
                "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM customer_balance_entries \
                 WHERE account_id = $1 AND currency = $2",
            )
            .bind(account.as_str())
            .bind(currency.code())
        )?;
        Ok(sum.unwrap_or(0))
    }

    /// A page of the balance's entries, newest first.
    pub async fn balance_entries(
        &mut self,
        account: &AccountId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<BalanceEntry>, sqlx::Error> {
        let sql = sql!(
            "SELECT {BALANCE_COLUMNS} FROM customer_balance_entries WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<BalanceRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(before)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(BalanceEntry::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }
}
