//! The stored e-invoice files of issued documents: which bytes (by SHA-256)
//! are an invoice's or a credit note's Factur-X, CII and UBL, for good.

use time::OffsetDateTime;

use super::{Tx, execute, fetch_optional, on_tx, sql};

/// One document's three files, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EInvoiceRow {
    /// `inv_...` or `cn_...`.
    pub document_id: String,
    pub account_id: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    pub pdf_sha256: String,
    pub pdf_size: i64,
    pub cii_sha256: String,
    pub cii_size: i64,
    pub ubl_sha256: String,
    pub ubl_size: i64,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "document_id, account_id, kind, number, pdf_sha256, pdf_size, \
    cii_sha256, cii_size, ubl_sha256, ubl_size, created_at";

impl Tx {
    /// Records a document's files unless it has them already (two servers
    /// storing a legacy document at once): whichever committed first wins,
    /// and [`Tx::e_invoice`] reads it back. Returns whether this one was.
    pub async fn insert_e_invoice(&mut self, r: &EInvoiceRow) -> Result<bool, sqlx::Error> {
        let sql = sql!(
            "INSERT INTO e_invoices ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (document_id) DO NOTHING"
        );
        let n = execute!(
            self,
            sqlx::query(sql)
                .bind(&r.document_id)
                .bind(&r.account_id)
                .bind(&r.kind)
                .bind(&r.number)
                .bind(&r.pdf_sha256)
                .bind(r.pdf_size)
                .bind(&r.cii_sha256)
                .bind(r.cii_size)
                .bind(&r.ubl_sha256)
                .bind(r.ubl_size)
                .bind(r.created_at)
        )?;
        Ok(n == 1)
    }

    /// The files of one of the account's documents.
    pub async fn e_invoice(
        &mut self,
        account: &str,
        document: &str,
    ) -> Result<Option<EInvoiceRow>, sqlx::Error> {
        let sql =
            sql!("SELECT {COLUMNS} FROM e_invoices WHERE account_id = $1 AND document_id = $2");
        fetch_optional!(self, sqlx::query_as(sql).bind(account).bind(document))
    }

    /// The files of the account's documents among `documents`.
    pub async fn e_invoices_of(
        &mut self,
        account: &str,
        documents: &[String],
    ) -> Result<Vec<EInvoiceRow>, sqlx::Error> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(documents.len());
        for chunk in documents.chunks(500) {
            // Placeholders only ($2, $3, ...): the ids themselves are bound.
            let list = (2..chunk.len() + 2)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            rows.extend(on_tx!(self, c => {
                let mut q = sqlx::query_as(sql!(
                    "SELECT {COLUMNS} FROM e_invoices \
                     WHERE account_id = $1 AND document_id IN ({list})"
                ))
                .bind(account);
                for d in chunk {
                    q = q.bind(d.as_str());
                }
                q.fetch_all(&mut **c).await
            })?);
        }
        Ok(rows)
    }

    /// Whether a file of the account's with this SHA-256 belongs to a
    /// document (else it is an orphan of an issue rolled back).
    pub async fn e_invoice_file_is_kept(
        &mut self,
        account: &str,
        sha256: &str,
    ) -> Result<bool, sqlx::Error> {
        let sql = sql!(
            "SELECT document_id FROM e_invoices WHERE account_id = $1 \
             AND (pdf_sha256 = $2 OR cii_sha256 = $2 OR ubl_sha256 = $2) LIMIT 1"
        );
        let row: Option<(String,)> =
            fetch_optional!(self, sqlx::query_as(sql).bind(account).bind(sha256))?;
        Ok(row.is_some())
    }
}
