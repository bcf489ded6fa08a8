//! `ApiError`: every reason a request fails, each with one HTTP status and one
//! stable snake_case `code`, rendered as RFC 9457 `application/problem+json`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the request (`records.3.cost`), a query
    /// parameter or a header name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects every invalid field of a request before answering 422 once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Keeps `value`, or records `message` for `field` when it is `None`.
    pub fn check<T>(&mut self, field: &str, value: Option<T>, message: &str) -> Option<T> {
        if value.is_none() {
            self.0.push(FieldError::new(field, message));
        }
        value
    }

    /// Like [`FieldErrors::check`] for an optional input: `None` stays `None`.
    pub fn check_opt<T, U>(
        &mut self,
        field: &str,
        input: Option<T>,
        parse: impl FnOnce(T) -> Option<U>,
        message: &str,
    ) -> Option<U> {
        input.and_then(|raw| self.check(field, parse(raw), message))
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code (`validation_failed`, `not_found`, ...).
    pub code: String,
    /// For 422 validation errors: each invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("the webhook signature is missing, wrong or too old")]
    BadSignature,
    #[error("your role does not allow this operation")]
    Forbidden,
    /// The route's declared roles do not include the token's (code `forbidden` too).
    #[error("this operation needs one of the roles: {needs} (your token's role: {role})")]
    RoleNotAllowed { needs: String, role: &'static str },
    #[error("only customer service can {0}: please contact customer service")]
    RequiresSupport(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route matches this path")]
    RouteNotFound,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the multipart body cannot be read: {0}")]
    MalformedMultipart(String),
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("the request body must be {0}")]
    UnsupportedMediaType(&'static str),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request is invalid; see errors for each field")]
    Validation(Vec<FieldError>),
    #[error("this Idempotency-Key was already used with another request")]
    IdempotencyKeyReused,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A well-formed request that a business rule refuses (422 with its own code).
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    #[error("this server is not configured for this: {0}")]
    NotConfigured(&'static str),
    #[error("the database is not reachable")]
    Unavailable,
    #[error("an internal error occurred")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::BadSignature => "invalid_signature",
            ApiError::Forbidden | ApiError::RoleNotAllowed { .. } => "forbidden",
            ApiError::RequiresSupport(_) => "requires_support",
            ApiError::NotFound(_) => "not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::MalformedMultipart(_) => "malformed_multipart",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Validation(_) => "validation_failed",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::Conflict { code, .. } | ApiError::Refused { code, .. } => code,
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::Unavailable => "database_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: format!("https://comptoir.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) | ApiError::BadSignature => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::RoleNotAllowed { .. }
            | ApiError::RequiresSupport(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedJson(_)
            | ApiError::MalformedMultipart(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) | ApiError::IdempotencyKeyReused | ApiError::Refused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable | ApiError::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let ApiError::Internal(cause) = self {
            // Internals go to the log, never to the client.
            tracing::error!(cause = %cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if matches!(self, ApiError::Unauthenticated(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self.problem())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                ApiError::Conflict {
                    code: "already_exists",
                    detail: "a resource with these values already exists".into(),
                }
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            _ => ApiError::internal(e),
        }
    }
}

/// Middleware: turns any error response that is not already problem+json
/// (actix's own 404, 405, 413, ...) into one, so clients see a single error shape.
pub async fn problem_for_bare_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(res.map_into_boxed_body());
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(0),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType("of a supported type"),
        s if s.is_client_error() => {
            ApiError::InvalidQuery(s.canonical_reason().unwrap_or("bad request").to_lowercase())
        }
        _ => ApiError::internal(format!("bare {status} response")),
    };
    let (req, old) = res.into_parts();
    let mut fresh = error.error_response();
    // Keep headers such as CORS ones that earlier layers set.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *fresh.status_mut() = status;
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        fresh
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(ServiceResponse::new(req, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_status_and_a_code_and_internal_details_stay_inside() {
        let e = ApiError::internal("password=hunter2 in connection string");
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert_eq!(p.code, "internal_error");
        assert!(!p.detail.contains("hunter2"));
    }

    #[test]
    fn validation_errors_list_their_fields() {
        let p = ApiError::validation("name", "must not be empty").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors, vec![FieldError::new("name", "must not be empty")]);
    }

    #[test]
    fn requires_support_tells_to_contact_customer_service() {
        let p = ApiError::RequiresSupport("change a billing address").problem();
        assert_eq!(p.status, 403);
        assert_eq!(p.code, "requires_support");
        assert!(p.detail.contains("contact customer service"));
    }
}
