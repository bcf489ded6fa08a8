//! `/v1/accounts/{a}/contacts`: useful contacts ("Contacts utiles").

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::{AccountScope, ItemId};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::contact::{Contact, ContactRole, Email, PhoneNumber};
use crate::domain::ids::ContactId;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::contacts;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactDto {
    #[schema(example = "con_0192f0c1a2b37c4d8e9f")]
    pub id: String,
    #[schema(example = "Claire Martin")]
    pub name: String,
    #[schema(example = "compta@acme.fr")]
    pub email: String,
    /// E.164.
    #[schema(example = "+33142685300")]
    pub phone: String,
    pub role: ContactRole,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Contact> for ContactDto {
    fn from(c: Contact) -> Self {
        ContactDto {
            id: c.id.to_string(),
            name: c.name,
            email: c.email.as_str().to_owned(),
            phone: c.phone.as_str().to_owned(),
            role: c.role,
            note: c.note,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

const NAME_MSG: &str = "must be 1 to 200 characters, not only spaces";
const EMAIL_MSG: &str = "must be an email address such as compta@acme.fr";
const PHONE_MSG: &str = "must be a valid phone number, international (+33 1 42 68 53 00) or French";
const NOTE_MSG: &str = "must be at most 1000 characters without control or invisible characters";

fn parse_note(raw: String) -> Option<Option<String>> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Some(None);
    }
    clean_name(trimmed, 1000).map(Some)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Claire Martin"
    )]
    pub name: String,
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    #[schema(min_length = 3, max_length = 254, format = Email, example = "compta@acme.fr")]
    pub email: String,
    /// International (`+33 1 42 68 53 00`) or French national format; stored as E.164.
    #[validate(length(min = 3, max = 40, message = "must be a phone number"))]
    #[schema(min_length = 3, max_length = 40, example = "+33 1 42 68 53 00")]
    pub phone: String,
    pub role: ContactRole,
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "Receives the invoices")]
    pub note: Option<String>,
}

impl TryFrom<CreateContactRequest> for contacts::NewContact {
    type Error = ApiError;

    fn try_from(r: CreateContactRequest) -> Result<Self, ApiError> {
        let mut v = FieldErrors::default();
        let name = v.check("name", clean_name(&r.name, 200), NAME_MSG);
        let email = v.check("email", Email::parse(&r.email), EMAIL_MSG);
        let phone = v.check("phone", PhoneNumber::parse(&r.phone), PHONE_MSG);
        let note = v.check_opt("note", r.note, parse_note, NOTE_MSG);
        v.finish()?;
        match (name, email, phone) {
            (Some(name), Some(email), Some(phone)) => Ok(contacts::NewContact {
                name,
                email,
                phone,
                role: r.role,
                note: note.flatten(),
            }),
            _ => Err(ApiError::internal("contact fields checked twice")),
        }
    }
}

/// Changes some fields of a contact; absent fields stay. An empty `note` clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContactRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Claire Martin"
    )]
    pub name: Option<String>,
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    #[schema(min_length = 3, max_length = 254, format = Email, example = "compta@acme.fr")]
    pub email: Option<String>,
    #[validate(length(min = 3, max = 40, message = "must be a phone number"))]
    #[schema(min_length = 3, max_length = 40, example = "+33 1 42 68 53 00")]
    pub phone: Option<String>,
    #[schema(example = "accounting")]
    pub role: Option<ContactRole>,
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "Receives the invoices")]
    pub note: Option<String>,
}

impl TryFrom<UpdateContactRequest> for contacts::ContactPatch {
    type Error = ApiError;

    fn try_from(r: UpdateContactRequest) -> Result<Self, ApiError> {
        let mut v = FieldErrors::default();
        let patch = contacts::ContactPatch {
            name: v.check_opt("name", r.name, |n| clean_name(&n, 200), NAME_MSG),
            email: v.check_opt("email", r.email, |e| Email::parse(&e), EMAIL_MSG),
            phone: v.check_opt("phone", r.phone, |p| PhoneNumber::parse(&p), PHONE_MSG),
            role: r.role,
            note: v.check_opt("note", r.note, parse_note, NOTE_MSG),
        };
        v.finish()?;
        Ok(patch)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactFilter {
    /// Only the contacts of this role.
    pub role: Option<ContactRole>,
}

fn contact_id(raw: &str) -> Result<ContactId, ApiError> {
    ContactId::parse(raw).ok_or(ApiError::NotFound("contact"))
}

/// Add a contact (admin).
#[utoipa::path(post, path = "/v1/accounts/{account_id}/contacts", operation_id = "create_contact", tag = "contacts",
    request_body = CreateContactRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "The contact", body = ContactDto),
        (status = 403, description = "Viewers cannot change contacts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    key: IdempotencyKey,
    body: ValidJson<CreateContactRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = contacts::NewContact::try_from(body.value)?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let contact = contacts::create(tx, &ctx, &account, new).await?;
        ContactDto::from(contact)
    })
}

/// List contacts, optionally of one role.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/contacts", operation_id = "list_contacts", tag = "contacts",
    params(ContactFilter, PageQuery),
    responses(
        (status = 200, description = "A page of contacts", body = Paginated<ContactDto>),
        (status = 403, description = "Viewers and integrations cannot read contacts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<ContactFilter>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = contacts::list(&state.store, &account, filter.role, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<ContactDto>::new(page, |c| c.id.to_string())))
}

/// A contact.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/contacts/{contact_id}", operation_id = "get_contact", tag = "contacts",
    params(("contact_id" = String, Path, description = "Contact id", example = "con_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The contact", body = ContactDto),
        (status = 403, description = "Viewers and integrations cannot read contacts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = contact_id(&path)?;
    let contact = contacts::get(&state.store, &account, &id).await?;
    Ok(HttpResponse::Ok().json(ContactDto::from(contact)))
}

/// Change a contact (admin): only the fields sent.
#[utoipa::path(patch, path = "/v1/accounts/{account_id}/contacts/{contact_id}", operation_id = "update_contact", tag = "contacts",
    request_body = UpdateContactRequest,
    params(("contact_id" = String, Path, description = "Contact id", example = "con_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 200, description = "The contact after the change", body = ContactDto),
        (status = 403, description = "Viewers cannot change contacts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
    body: ValidJson<UpdateContactRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = contact_id(&path)?;
    let patch = contacts::ContactPatch::try_from(body.value)?;
    let contact = contacts::update(&state.store, &ctx, &account, &id, patch).await?;
    Ok(HttpResponse::Ok().json(ContactDto::from(contact)))
}

/// Delete a contact (admin).
#[utoipa::path(delete, path = "/v1/accounts/{account_id}/contacts/{contact_id}", operation_id = "delete_contact", tag = "contacts",
    params(("contact_id" = String, Path, description = "Contact id", example = "con_0197c5e2a4b07d3e9f1a2b3c4d5e6f70")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers cannot change contacts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact on this account", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    path: ItemId,
) -> Result<HttpResponse, ApiError> {
    let id = contact_id(&path)?;
    contacts::delete(&state.store, &ctx, &account, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
