//! Documents' metadata (their bytes live on disk, see `service::documents`).

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::document::{ContentKind, Document, DocumentType};
use crate::domain::ids::{AccountId, DocumentId};

#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: String,
    account_id: String,
    name: String,
    doc_type: String,
    content_type: String,
    size: i64,
    sha256: String,
    uploaded_by: String,
    created_at: OffsetDateTime,
}

impl TryFrom<DocumentRow> for Document {
    type Error = sqlx::Error;

    fn try_from(r: DocumentRow) -> Result<Self, Self::Error> {
        Ok(Document {
            id: DocumentId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: r.name,
            doc_type: DocumentType::parse(&r.doc_type).ok_or_else(|| corrupt("doc_type"))?,
            content: ContentKind::from_mime(&r.content_type)
                .ok_or_else(|| corrupt("content_type"))?,
            size: r.size,
            sha256: r.sha256,
            uploaded_by: r.uploaded_by,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str =
    "id, account_id, name, doc_type, content_type, size, sha256, uploaded_by, created_at";

impl Tx {
    pub async fn insert_document(&mut self, d: &Document) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "INSERT INTO documents (id, account_id, name, doc_type, content_type, size, sha256, \
             uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(d.id.as_str())
        .bind(d.account_id.as_str())
        .bind(&d.name)
        .bind(d.doc_type.as_str())
        .bind(d.content.mime())
        .bind(d.size)
        .bind(&d.sha256)
        .bind(&d.uploaded_by)
        .bind(d.created_at))?;
        Ok(())
    }

    pub async fn document(
        &mut self,
        account: &AccountId,
        id: &DocumentId,
    ) -> Result<Option<Document>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM documents WHERE account_id = $1 AND id = $2");
        let row: Option<DocumentRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(Document::try_from).transpose()
    }

    pub async fn list_documents(
        &mut self,
        account: &AccountId,
        doc_type: Option<DocumentType>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Document>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM documents WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR doc_type = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows: Vec<DocumentRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(doc_type.map(DocumentType::as_str))
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(Document::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// Deletes a document's row; decided change requests that cited it keep
    /// their decision but lose the link.
    pub async fn delete_document(&mut self, id: &DocumentId) -> Result<bool, sqlx::Error> {
        let mut changed = 0;
        for sql in [
            "UPDATE billing_address_change_requests SET document_id = NULL WHERE document_id = $1",
            "DELETE FROM documents WHERE id = $1",
        ] {
            changed = execute!(self, sqlx::query(sql).bind(id.as_str()))?;
        }
        // The last statement deletes the row itself.
        Ok(changed == 1)
    }
}
