//! Acompte invoices as later invoices draw on them: what is left of each,
//! and the allocations finalizations write.

use time::OffsetDateTime;

use super::{Tx, execute, fetch_all};
use crate::domain::advance::Advance;
use crate::domain::ids::{AccountId, AdvanceAllocationId, TopUpId};

#[derive(sqlx::FromRow)]
struct AdvanceRow {
    id: String,
    number: String,
    subtotal_minor: i64,
    tax_minor: i64,
    used_minor: i64,
    used_tax_minor: i64,
}

/// What a monthly invoice deducted from one acompte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub id: AdvanceAllocationId,
    pub account_id: AccountId,
    pub advance_invoice_id: String,
    pub invoice_id: String,
    pub amount_minor: i64,
    pub tax_minor: i64,
    pub created_at: OffsetDateTime,
}

impl Tx {
    /// The account's acompte invoices in `currency` with some amount left,
    /// oldest first (issue date, then number: the order they were issued).
    pub async fn advances_left(
        &mut self,
        account: &AccountId,
        currency: &str,
    ) -> Result<Vec<Advance>, sqlx::Error> {
        let rows: Vec<AdvanceRow> = fetch_all!(
            self,
            sqlx::query_as(
                "SELECT i.id, i.number, i.subtotal_minor, i.tax_minor, \
                 CAST(COALESCE(SUM(a.amount_minor), 0) AS BIGINT) AS used_minor, \
                 CAST(COALESCE(SUM(a.tax_minor), 0) AS BIGINT) AS used_tax_minor \
                 FROM invoices i LEFT JOIN advance_allocations a ON a.advance_invoice_id = i.id \
                 WHERE i.account_id = $1 AND i.kind = 'advance' AND i.currency = $2 \
                 AND i.status <> 'credited' \
                 GROUP BY i.id, i.number, i.subtotal_minor, i.tax_minor, i.issue_date \
                 HAVING COALESCE(SUM(a.amount_minor), 0) < i.subtotal_minor \
                 ORDER BY i.issue_date, i.number",
            )
            .bind(account.as_str())
            .bind(currency)
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Advance {
                invoice_id: r.id,
                number: r.number,
                amount_minor: r.subtotal_minor,
                tax_minor: r.tax_minor,
                used_minor: r.used_minor,
                used_tax_minor: r.used_tax_minor,
            })
            .collect())
    }

    pub async fn insert_advance_allocation(&mut self, a: &Allocation) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO advance_allocations (id, account_id, advance_invoice_id, invoice_id, \
                 amount_minor, tax_minor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.id.as_str())
            .bind(a.account_id.as_str())
            .bind(&a.advance_invoice_id)
            .bind(&a.invoice_id)
            .bind(a.amount_minor)
            .bind(a.tax_minor)
            .bind(a.created_at)
        )?;
        Ok(())
    }

    /// Records the acompte invoice a top-up's payment issued.
    pub async fn set_top_up_invoice(
        &mut self,
        top_up: &TopUpId,
        invoice: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE top_ups SET invoice_id = $2 WHERE id = $1")
                .bind(top_up.as_str())
                .bind(invoice)
        )?;
        Ok(())
    }
}
