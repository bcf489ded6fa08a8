//! Documents: upload (bytes to disk, metadata to the database), list,
//! download, delete. Contracts are staff's: a customer neither uploads nor
//! deletes one. A document cited by a pending change request stays.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::document::{ContentKind, Document, DocumentType};
use crate::domain::ids::{AccountId, DocumentId};
use crate::error::{ApiError, Code};
use crate::store::blobs::{BlobStore, TempBlob};
use crate::store::{Page, Store, Tx};

/// A received upload, its bytes already in a temporary file.
pub struct Upload {
    pub name: String,
    pub doc_type: DocumentType,
    pub blob: TempBlob,
}

fn key(d: &Document) -> String {
    format!("{}/{}", d.account_id, d.id)
}

fn summary(d: &Document) -> serde_json::Value {
    json!({"name": d.name, "type": d.doc_type.as_str(), "content_type": d.content.mime(),
        "size": d.size, "sha256": d.sha256})
}

async fn load(tx: &mut Tx, account: &AccountId, id: &DocumentId) -> Result<Document, ApiError> {
    tx.document(account, id)
        .await?
        .ok_or(ApiError::NotFound("document"))
}

/// May this caller upload to this account? Checked before any byte is written.
pub async fn check_upload(store: &Store, account: &Authorized) -> Result<(), ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(())
}

#[instrument(skip_all, fields(account = %account))]
pub async fn upload(
    store: &Store,
    blobs: &BlobStore,
    ctx: &Ctx,
    account: &Authorized,
    upload: Upload,
) -> Result<Document, ApiError> {
    let content = ContentKind::sniff(upload.blob.head()).ok_or_else(|| {
        ApiError::validation(
            "file",
            "must be a PDF, PNG or JPEG file (judged from its content, not its name)",
        )
    })?;
    if upload.doc_type == DocumentType::Contract && !ctx.caller.role.is_staff() {
        return Err(ApiError::RequiresSupport("upload a contract"));
    }
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let document = Document {
        id: DocumentId::generate(),
        account_id: account.id().clone(),
        name: upload.name,
        doc_type: upload.doc_type,
        content,
        size: i64::try_from(upload.blob.size()).map_err(ApiError::internal)?,
        sha256: upload.blob.sha256(),
        uploaded_by: ctx.caller.subject.clone(),
        created_at: ctx.now,
    };
    tx.insert_document(&document).await?;
    let event = ctx.audit_event(
        Some(account),
        "document.uploaded",
        ("document", document.id.as_str()),
        None,
        Some(summary(&document)),
    );
    audit::record(&mut tx, event).await?;
    blobs
        .persist(upload.blob, &key(&document))
        .await
        .map_err(ApiError::internal)?;
    if let Err(e) = tx.commit().await {
        let _ = blobs.delete(&key(&document)).await;
        return Err(e.into());
    }
    Ok(document)
}

pub async fn list(
    store: &Store,
    account: &Authorized,
    doc_type: Option<DocumentType>,
    page: &PageRequest,
) -> Result<Page<Document>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .list_documents(account, doc_type, page.after.as_deref(), page.limit)
        .await?)
}

pub async fn get(
    store: &Store,
    account: &Authorized,
    id: &DocumentId,
) -> Result<Document, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load(&mut tx, account, id).await
}

/// The document and its bytes.
pub async fn content(
    store: &Store,
    blobs: &BlobStore,
    account: &Authorized,
    id: &DocumentId,
) -> Result<(Document, Vec<u8>), ApiError> {
    let document = get(store, account, id).await?;
    let bytes = blobs
        .read(&key(&document))
        .await
        .map_err(ApiError::internal)?;
    Ok((document, bytes))
}

#[instrument(skip_all, fields(account = %account, document = %id))]
pub async fn delete(
    store: &Store,
    blobs: &BlobStore,
    ctx: &Ctx,
    account: &Authorized,
    id: &DocumentId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let document = load(&mut tx, account, id).await?;
    if document.doc_type == DocumentType::Contract && !ctx.caller.role.is_staff() {
        return Err(ApiError::RequiresSupport("delete a contract"));
    }
    if tx.document_in_pending_change_request(id).await? {
        return Err(ApiError::rule(
            Code::DocumentInUse,
            "a pending billing address change request cites this document",
        ));
    }
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_document(id).await? {
        return Err(ApiError::NotFound("document"));
    }
    let event = ctx.audit_event(
        Some(account),
        "document.deleted",
        ("document", id.as_str()),
        Some(summary(&document)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    // After the commit: a file left by a failed removal is harmless, a row
    // without its file would not be.
    if let Err(e) = blobs.delete(&key(&document)).await {
        tracing::warn!(error = %e, "document file not removed");
    }
    Ok(())
}
