//! E-invoices of issued documents (SPEC section 10, issue 19). Each invoice,
//! acompte invoice, reissued invoice and credit note is rendered once, in
//! the transaction that issues it: its Factur-X PDF, CII and UBL are written
//! durably under `COMPTOIR_DATA_DIR` (named by their SHA-256) before that
//! transaction commits, and the row naming them commits with the document.
//! Downloads return those bytes, checked against their hash, forever. A
//! rolled-back or crashed issue leaves files no row names: [`sweep`]
//! removes them once they are older than any issuing transaction.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::domain::credit_note::CreditNote;
use crate::domain::ids::AccountId;
use crate::domain::issued::{EInvoiceFiles, Invoice, StoredFile};
use crate::error::ApiError;
use crate::render::Lang;
use crate::render::einvoice::Rendered;
use crate::store::blobs::BlobStore;
use crate::store::e_invoices::EInvoiceRow;
use crate::store::{Store, Tx};

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

    fn kind(&self) -> &'static str {
        match self {
            Issued::Invoice(_) => "invoice",
            Issued::CreditNote(_) => "credit_note",
        }
    }

    /// The three renderings, the PDF in the account's invoice language,
    /// off the async threads: rendering is CPU.
    async fn render(&self, lang: Lang) -> Result<Rendered, ApiError> {
        let job = match *self {
            Issued::Invoice(i) => {
                let i = i.clone();
                tokio::task::spawn_blocking(move || crate::render::einvoice::invoice(&i, lang))
            }
            Issued::CreditNote(n) => {
                let n = n.clone();
                tokio::task::spawn_blocking(move || crate::render::einvoice::credit_note(&n, lang))
            }
        };
        job.await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("{} {}: {e}", self.kind(), self.number())))
    }
}

/// One of the three files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Factur-X PDF.
    Pdf,
    Cii,
    Ubl,
}

impl Format {
    /// The file name's extension on disk and in downloads.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Cii => "cii.xml",
            Format::Ubl => "ubl.xml",
        }
    }

    fn of(self, row: &EInvoiceRow) -> (&str, i64) {
        match self {
            Format::Pdf => (&row.pdf_sha256, row.pdf_size),
            Format::Cii => (&row.cii_sha256, row.cii_size),
            Format::Ubl => (&row.ubl_sha256, row.ubl_size),
        }
    }
}

/// Called in the transaction that issues every invoice, acompte invoice,
/// reissued invoice and credit note, after its row is written: renders it
/// and stores the three files; the transaction's commit makes them its.
pub async fn on_issued(
    tx: &mut Tx,
    files: &BlobStore,
    doc: Issued<'_>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    on_issued_prepared(tx, files, doc, now, None).await
}

/// An e-invoice rendered and written before its document's issuing
/// transaction, for the document as it was expected to be issued (the
/// finalizer prepares the next drafts while it issues one; see
/// `invoices::finalize_due`).
#[derive(Debug, Clone)]
pub struct Prepared {
    lang: Lang,
    row: EInvoiceRow,
}

/// Renders `doc` in `lang` and writes its files durably, outside any
/// transaction. Files no document ends up naming are swept like those of
/// a rolled-back issue.
pub async fn prepare(
    files: &BlobStore,
    doc: Issued<'_>,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<Prepared, ApiError> {
    let rendered = doc.render(lang).await?;
    let row = write(files, doc, &rendered, now).await?;
    Ok(Prepared { lang, row })
}

/// [`on_issued`] that takes the files `prepared` for this document when it
/// was prepared in the language the account issues in now. The caller
/// vouches that the document is, field for field, the one prepared.
pub async fn on_issued_prepared(
    tx: &mut Tx,
    files: &BlobStore,
    doc: Issued<'_>,
    now: OffsetDateTime,
    prepared: Option<Prepared>,
) -> Result<(), ApiError> {
    let lang = language(tx, doc).await?;
    let row = match prepared {
        Some(p)
            if p.lang == lang
                && p.row.document_id == doc.document_id()
                && p.row.number == doc.number() =>
        {
            EInvoiceRow {
                created_at: now,
                ..p.row
            }
        }
        _ => {
            let rendered = doc.render(lang).await?;
            write(files, doc, &rendered, now).await?
        }
    };
    tx.insert_e_invoice(&row).await?;
    super::e_invoicing::queue(tx, doc.account_id(), doc.document_id(), now).await?;
    Ok(())
}

/// The language the account issues its documents in.
async fn language(tx: &mut Tx, doc: Issued<'_>) -> Result<Lang, ApiError> {
    let account = AccountId::from_trusted(doc.account_id().to_owned());
    let account = tx
        .account(&account)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(account.invoice_language.into())
}

/// Writes the three files durably and returns the row that names them.
async fn write(
    files: &BlobStore,
    doc: Issued<'_>,
    rendered: &Rendered,
    now: OffsetDateTime,
) -> Result<EInvoiceRow, ApiError> {
    let account = doc.account_id();
    let (pdf_sha256, pdf_size) = put(files, account, Format::Pdf, &rendered.pdf).await?;
    let (cii_sha256, cii_size) = put(files, account, Format::Cii, &rendered.cii).await?;
    let (ubl_sha256, ubl_size) = put(files, account, Format::Ubl, &rendered.ubl).await?;
    files
        .sync_e_invoices(account)
        .await
        .map_err(ApiError::internal)?;
    Ok(EInvoiceRow {
        document_id: doc.document_id().to_owned(),
        account_id: account.to_owned(),
        kind: doc.kind().to_owned(),
        number: doc.number().to_owned(),
        pdf_sha256,
        pdf_size,
        cii_sha256,
        cii_size,
        ubl_sha256,
        ubl_size,
        created_at: now,
    })
}

async fn put(
    files: &BlobStore,
    account: &str,
    format: Format,
    bytes: &[u8],
) -> Result<(String, i64), ApiError> {
    let sha = files
        .put_e_invoice(account, format.extension(), bytes)
        .await
        .map_err(ApiError::internal)?;
    Ok((sha, i64::try_from(bytes.len()).map_err(ApiError::internal)?))
}

/// A document's stored file, byte for byte as it was issued. A document
/// issued before e-invoices were stored gets them now, once (the first
/// download stores them; every later one returns the same bytes).
pub async fn file(
    store: &Store,
    files: &BlobStore,
    doc: Issued<'_>,
    format: Format,
    now: OffsetDateTime,
) -> Result<Vec<u8>, ApiError> {
    let (stored, lang) = {
        let mut tx = store.begin_read().await?;
        match tx.e_invoice(doc.account_id(), doc.document_id()).await? {
            Some(row) => (Some(row), None),
            None => (None, Some(language(&mut tx, doc).await?)),
        }
    };
    let row = match (stored, lang) {
        (Some(row), _) => row,
        (None, lang) => {
            // Rendered and written before the write lock is taken.
            let rendered = doc.render(lang.unwrap_or(Lang::Fr)).await?;
            let row = write(files, doc, &rendered, now).await?;
            let mut tx = store.begin_write().await?;
            tx.insert_e_invoice(&row).await?;
            let row = tx
                .e_invoice(doc.account_id(), doc.document_id())
                .await?
                .ok_or_else(|| ApiError::internal("e-invoice row just written"))?;
            tx.commit().await?;
            row
        }
    };
    read(files, &row, format).await
}

/// The stored Factur-X PDF of an issued invoice or credit note of
/// `account_id` (`document_id` is `inv_...` or `cn_...`), `None` when it
/// has none (issued before e-invoices were stored, never downloaded).
pub async fn stored_pdf(
    store: &Store,
    files: &BlobStore,
    account_id: &str,
    document_id: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    let row = {
        let mut tx = store.begin_read().await?;
        tx.e_invoice(account_id, document_id).await?
    };
    match row {
        Some(row) => Ok(Some(read(files, &row, Format::Pdf).await?)),
        None => Ok(None),
    }
}

/// Reads a file and checks it is the one the row names: a file changed on
/// disk is an error (500), never served.
async fn read(files: &BlobStore, row: &EInvoiceRow, format: Format) -> Result<Vec<u8>, ApiError> {
    use sha2::{Digest, Sha256};
    let (sha256, size) = format.of(row);
    let bytes = files
        .read_e_invoice(&row.account_id, sha256, format.extension())
        .await
        .map_err(|e| ApiError::internal(format!("e-invoice file of {}: {e}", row.number)))?;
    if i64::try_from(bytes.len()).ok() != Some(size)
        || hex::encode(Sha256::digest(&bytes)) != sha256
    {
        return Err(ApiError::internal(format!(
            "the stored {} of {} does not match its SHA-256",
            format.extension(),
            row.number
        )));
    }
    Ok(bytes)
}

impl From<EInvoiceRow> for EInvoiceFiles {
    fn from(r: EInvoiceRow) -> Self {
        let file = |sha256: String, size: i64| StoredFile {
            sha256,
            size: u64::try_from(size).unwrap_or_default(),
        };
        EInvoiceFiles {
            pdf: file(r.pdf_sha256, r.pdf_size),
            cii: file(r.cii_sha256, r.cii_size),
            ubl: file(r.ubl_sha256, r.ubl_size),
            stored_at: r.created_at,
        }
    }
}

/// Each invoice's stored files (invoices of one account or several).
pub async fn attach(tx: &mut Tx, invoices: &mut [Invoice]) -> Result<(), ApiError> {
    let mut by_account: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in invoices.iter().filter(|i| i.number.is_some()) {
        by_account
            .entry(i.account_id.to_string())
            .or_default()
            .push(i.id.to_string());
    }
    for (account, ids) in by_account {
        for row in tx.e_invoices_of(&account, &ids).await? {
            if let Some(i) = invoices
                .iter_mut()
                .find(|i| i.id.as_str() == row.document_id)
            {
                i.e_invoice = Some(row.into());
            }
        }
    }
    Ok(())
}

/// Each credit note's stored files.
pub async fn attach_credit_notes(tx: &mut Tx, notes: &mut [CreditNote]) -> Result<(), ApiError> {
    let Some(first) = notes.first() else {
        return Ok(());
    };
    let account = first.account_id.to_string();
    let ids: Vec<String> = notes.iter().map(|n| n.id.to_string()).collect();
    for row in tx.e_invoices_of(&account, &ids).await? {
        if let Some(n) = notes.iter_mut().find(|n| n.id.as_str() == row.document_id) {
            n.e_invoice = Some(row.into());
        }
    }
    Ok(())
}

/// Removes the e-invoice files no document names and older than
/// `min_age` (an issue rolled back or crashed after writing them; younger
/// ones may belong to an issue still in flight on another server).
/// Returns how many were removed.
pub async fn sweep(store: &Store, files: &BlobStore, min_age: Duration) -> Result<usize, ApiError> {
    let listed = files.e_invoice_files().map_err(ApiError::internal)?;
    let now = SystemTime::now();
    let mut removed = 0;
    for file in listed {
        if now.duration_since(file.modified).unwrap_or_default() < min_age {
            continue;
        }
        let kept = {
            let mut tx = store.begin_read().await?;
            tx.e_invoice_file_is_kept(&file.account, &file.sha256)
                .await?
        };
        if !kept {
            files.remove_file(&file).map_err(ApiError::internal)?;
            tracing::warn!(account = %file.account, sha256 = %file.sha256, "removed an e-invoice file no document names");
            removed += 1;
        }
    }
    Ok(removed)
}

/// The sweeper of `serve`: a [`sweep`] every `every`, of files older than
/// an hour (no issuing transaction lasts that long).
pub async fn sweeper(store: Store, files: BlobStore, every: Duration) {
    loop {
        if let Err(e) = sweep(&store, &files, Duration::from_secs(3600)).await {
            tracing::error!(cause = %e.cause(), "e-invoice sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}
