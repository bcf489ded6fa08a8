//! `/v1/accounts/{a}/documents`: multipart upload streamed to disk, list,
//! metadata, download, delete.

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::extract::{PageQuery, Paginated};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::document::{Document, DocumentType, MAX_DOCUMENT_BYTES, MAX_UPLOAD_FORM_BYTES};
use crate::domain::ids::DocumentId;
use crate::error::{ApiError, Problem};
use crate::service::documents;

/// The kinds of bytes a document may hold (judged from the bytes).
#[derive(ToSchema)]
pub enum DocumentContentType {
    #[schema(rename = "application/pdf")]
    Pdf,
    #[schema(rename = "image/png")]
    Png,
    #[schema(rename = "image/jpeg")]
    Jpeg,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentDto {
    pub id: String,
    #[schema(example = "Kbis 2026")]
    pub name: String,
    #[serde(rename = "type")]
    pub doc_type: DocumentType,
    /// What the bytes are: application/pdf, image/png or image/jpeg.
    #[schema(value_type = DocumentContentType, example = "application/pdf")]
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Document> for DocumentDto {
    fn from(d: Document) -> Self {
        DocumentDto {
            id: d.id.to_string(),
            name: d.name,
            doc_type: d.doc_type,
            content_type: d.content.mime().to_owned(),
            size: d.size,
            sha256: d.sha256,
            created_at: d.created_at,
        }
    }
}

/// The upload form: these three fields only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadForm {
    /// A name for the document (defaults to the file's name).
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Kbis 2026"
    )]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: DocumentType,
    /// PDF, PNG or JPEG, at most 10 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// Raw file bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(pub Vec<u8>);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentFilter {
    /// Only the documents of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub doc_type: Option<DocumentType>,
}

fn document_id(raw: &str) -> Result<DocumentId, ApiError> {
    DocumentId::parse(raw).ok_or(ApiError::NotFound("document"))
}

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => ApiError::UnsupportedMediaType("multipart/form-data"),
        other => ApiError::MalformedMultipart(other.to_string()),
    }
}

/// Reads what is left of the form, so the client gets our answer (bounded).
async fn drain_form(form: &mut Multipart) {
    let mut budget: usize = 64 * 1024 * 1024;
    while let Ok(Some(mut field)) = form.try_next().await {
        while let Ok(Some(chunk)) = field.try_next().await {
            budget = budget.saturating_sub(chunk.len());
            if budget == 0 {
                return;
            }
        }
    }
}

/// Counts a chunk against the whole form's budget (413 past it).
fn spend(budget: &mut u64, chunk: &[u8]) -> Result<(), ApiError> {
    *budget = budget
        .checked_sub(chunk.len() as u64)
        .ok_or(ApiError::PayloadTooLarge(MAX_UPLOAD_FORM_BYTES as usize))?;
    Ok(())
}

async fn read_text(
    field: &mut Field,
    max: usize,
    name: &str,
    budget: &mut u64,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
        spend(budget, &chunk)?;
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::validation(
                name,
                format!("must be at most {max} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::validation(name, "must be UTF-8 text"))
}

/// What the form holds once read.
#[derive(Default)]
struct Received {
    name: Option<String>,
    doc_type: Option<String>,
    file_name: Option<String>,
    blob: Option<crate::store::blobs::TempBlob>,
    /// What the rest of the form may still weigh.
    budget: u64,
}

async fn read_field(
    state: &AppState,
    field: &mut Field,
    received: &mut Received,
) -> Result<(), ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let seen = match name.as_str() {
        "name" => received.name.is_some(),
        "type" => received.doc_type.is_some(),
        "file" => received.blob.is_some(),
        _ => false,
    };
    if seen {
        // One document per upload: a second field is refused before it is read.
        return Err(ApiError::validation(name, "is sent more than once"));
    }
    match name.as_str() {
        "name" => received.name = Some(read_text(field, 1024, "name", &mut received.budget).await?),
        "type" => {
            received.doc_type = Some(read_text(field, 64, "type", &mut received.budget).await?)
        }
        "file" => {
            received.file_name = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
            let mut blob = state
                .blobs
                .create_temp()
                .await
                .map_err(ApiError::internal)?;
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                spend(&mut received.budget, &chunk)?;
                if blob.size() + chunk.len() as u64 > MAX_DOCUMENT_BYTES {
                    return Err(ApiError::PayloadTooLarge(MAX_DOCUMENT_BYTES as usize));
                }
                blob.write(&chunk).await.map_err(ApiError::internal)?;
            }
            received.blob = Some(blob);
        }
        other => {
            return Err(ApiError::validation(
                other.to_owned(),
                "is not a field of this form (name, type, file)",
            ));
        }
    }
    Ok(())
}

/// Upload a document (admin; contracts: staff). multipart/form-data with
/// `type`, `file` and optionally `name`. PDF, PNG or JPEG judged from the
/// bytes; at most 10 MiB (413 beyond). The SHA-256 and size are kept.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/documents", operation_id = "upload_document", tag = "documents",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The stored document", body = DocumentDto),
        (status = 400, description = "The multipart body cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot upload; contracts are uploaded by customer service (requires_support)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than 10 MiB, or the whole form larger than one document and its fields", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid field, or not a PDF, PNG or JPEG", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    req: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_FORM_BYTES) {
        // Refused before a byte is read or written; the connection closes.
        return Err(ApiError::PayloadTooLarge(MAX_UPLOAD_FORM_BYTES as usize));
    }
    if let Err(e) = documents::check_upload(&state.store, &account).await {
        drain_form(&mut form).await;
        return Err(e);
    }
    let mut received = Received {
        budget: MAX_UPLOAD_FORM_BYTES,
        ..Received::default()
    };
    loop {
        let mut field = match form.try_next().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            // A broken form cannot be read further: answer at once.
            Err(e) => return Err(multipart_error(e)),
        };
        if let Err(e) = read_field(&state, &mut field, &mut received).await {
            // Dropping `received` removes any partial file. Read the rest of
            // this field, then release it: the form waits for that.
            while let Ok(Some(_)) = field.try_next().await {}
            drop(field);
            drain_form(&mut form).await;
            return Err(e);
        }
    }
    let mut errors = crate::error::FieldErrors::default();
    let name = received
        .name
        .or(received.file_name)
        .and_then(|n| clean_name(&n, 200));
    let name = errors.check(
        "name",
        name,
        "must be 1 to 200 characters (or send a file name)",
    );
    let doc_type = errors.check(
        "type",
        received.doc_type.as_deref().and_then(DocumentType::parse),
        "must be one of company_registration, identity, contract, iban_certificate, portability_mandate, other",
    );
    let blob = errors.check("file", received.blob, "is required");
    errors.finish()?;
    let (Some(name), Some(doc_type), Some(blob)) = (name, doc_type, blob) else {
        return Err(ApiError::internal("upload fields checked twice"));
    };
    let upload = documents::Upload {
        name,
        doc_type,
        blob,
    };
    let document = documents::upload(&state.store, &state.blobs, &ctx, &account, upload).await?;
    Ok(HttpResponse::Created().json(DocumentDto::from(document)))
}

/// List documents, optionally of one type.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/documents", operation_id = "list_documents", tag = "documents",
    params(DocumentFilter, PageQuery),
    responses(
        (status = 200, description = "A page of documents", body = Paginated<DocumentDto>),
        (status = 403, description = "Viewers and integrations cannot read documents", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<DocumentFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = documents::list(&state.store, &account, filter.doc_type, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<DocumentDto>::new(page, |d| d.id.to_string())))
}

/// A document's metadata.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/documents/{document_id}", operation_id = "get_document", tag = "documents",
    params(("document_id" = String, Path, description = "Document id", example = "doc_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The document", body = DocumentDto),
        (status = 403, description = "Viewers and integrations cannot read documents", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = document_id(&path)?;
    let document = documents::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(DocumentDto::from(document)))
}

/// Download a document ("Open"): its bytes with their type and file name.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/documents/{document_id}/content", operation_id = "download_document", tag = "documents",
    params(("document_id" = String, Path, description = "Document id", example = "doc_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The bytes", content(
            (FileBytes = "application/pdf"), (FileBytes = "image/png"), (FileBytes = "image/jpeg"))),
        (status = 403, description = "Viewers and integrations cannot read documents", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn content(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = document_id(&path)?;
    let (document, bytes) = documents::content(&state.store, &state.blobs, &account, &id).await?;
    let file_name = document.file_name();
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: file_name.into_bytes(),
            }),
        ],
    };
    Ok(HttpResponse::Ok()
        .content_type(document.content.mime())
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}

/// Delete a document (admin). Not a contract (customer service only), not a
/// document cited by a pending change request (409 `document_in_use`).
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/documents/{document_id}", operation_id = "delete_document", tag = "documents",
    params(("document_id" = String, Path, description = "Document id", example = "doc_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot delete; contracts need customer service (requires_support)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused: code `document_in_use`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = document_id(&path)?;
    documents::delete(&state.store, &state.blobs, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
