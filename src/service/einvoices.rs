//! E-invoices of issued documents (issue 19): rendered and stored once, in
//! the transaction that issues the document, then served as stored.
//! SKELETON: storage is being built; `on_issued` is the one hook every
//! issuing path calls.

use time::OffsetDateTime;

use crate::domain::credit_note::CreditNote;
use crate::domain::issued::Invoice;
use crate::error::ApiError;
use crate::store::Tx;

/// A document just issued, in its issuing transaction.
#[derive(Clone, Copy)]
pub enum Issued<'a> {
    /// A period, acompte or reissued invoice.
    Invoice(&'a Invoice),
    CreditNote(&'a CreditNote),
}

impl Issued<'_> {
    pub fn account_id(&self) -> &str {
        match self {
            Issued::Invoice(i) => i.account_id.as_str(),
            Issued::CreditNote(n) => n.account_id.as_str(),
        }
    }

    /// `inv_...` or `cn_...`.
    pub fn document_id(&self) -> &str {
        match self {
            Issued::Invoice(i) => i.id.as_str(),
            Issued::CreditNote(n) => n.id.as_str(),
        }
    }

    pub fn number(&self) -> &str {
        match self {
            Issued::Invoice(i) => i.number.as_deref().unwrap_or_default(),
            Issued::CreditNote(n) => n.number.as_str(),
        }
    }
}

/// Called in the transaction that issues every invoice, acompte invoice,
/// reissued invoice and credit note, after its row is written.
pub async fn on_issued(
    _tx: &mut Tx,
    _doc: Issued<'_>,
    _now: OffsetDateTime,
) -> Result<(), ApiError> {
    super::e_invoicing::queue(_tx, _doc.account_id(), _doc.document_id(), _now).await?;
    Ok(())
}

/// The stored Factur-X PDF of an issued invoice or credit note of
/// `account_id` (`document_id` is `inv_...` or `cn_...`), `None` when it has
/// none. SKELETON: returns a marker until storage lands.
pub async fn stored_pdf(
    _store: &crate::store::Store,
    _blobs: &crate::store::blobs::BlobStore,
    _account_id: &str,
    document_id: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    Ok(Some(
        format!("%PDF-1.7 skeleton {document_id}").into_bytes(),
    ))
}
