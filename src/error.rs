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

/// "2 invalid fields: name, email; see errors for what is wrong with each".
fn validation_detail(errors: &[FieldError]) -> String {
    let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    fields.dedup();
    match fields.as_slice() {
        [] => "the request is invalid".to_owned(),
        [one] => format!("invalid field: {one}; see errors for what is wrong"),
        many => format!(
            "{} invalid fields: {}; see errors for what is wrong with each",
            many.len(),
            many.join(", ")
        ),
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

    /// Keeps an `Ok` value; records the field errors of an `Err` (a 422).
    pub fn keep<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ApiError::Validation(errors)) => {
                self.0.extend(errors);
                None
            }
            Err(other) => {
                self.0.push(FieldError::new("body", other.to_string()));
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// Declares the table of error codes: each code once, with its HTTP status and
/// its title (the RFC 9457 `title`, the same for every problem of that code).
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:tt, $status:ident, $title:literal),)+) => {
        /// Every `code` the API can answer with. A frontend can switch on it:
        /// a code never changes meaning, and new codes are only added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum Code {
            $($(#[$doc])* #[serde(rename = $code)] $variant,)+
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)+ }
            }

            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status,)+ }
            }

            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)+ }
            }
        }
    };
}

codes! {
    // Requests the server cannot read.
    /// The query string cannot be read (a parameter is named in `errors`).
    InvalidQuery = ("invalid_query", BAD_REQUEST, "Invalid query string"),
    /// A path segment cannot be read.
    InvalidPath = ("invalid_path", BAD_REQUEST, "Invalid path"),
    /// The body is not JSON.
    MalformedJson = ("malformed_json", BAD_REQUEST, "Malformed JSON"),
    /// The multipart body cannot be read.
    MalformedMultipart = ("malformed_multipart", BAD_REQUEST, "Malformed multipart body"),
    /// The body has another content type than the route takes.
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    /// The body is larger than the server takes.
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE, "Request body too large"),
    /// The request's headers are more or larger than the server takes.
    RequestHeaderFieldsTooLarge = ("request_header_fields_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header fields too large"),
    /// Fields of the request are invalid: each one is in `errors`.
    ValidationFailed = ("validation_failed", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// The `Idempotency-Key` was used before with another request.
    IdempotencyKeyReused = ("idempotency_key_reused", UNPROCESSABLE_ENTITY, "Idempotency key reused"),

    // Who is calling.
    /// No bearer token, or one that is invalid or expired (the detail says why).
    Unauthenticated = ("unauthenticated", UNAUTHORIZED, "Authentication required"),
    /// The payment webhook's signature is missing, wrong or too old.
    InvalidSignature = ("invalid_signature", UNAUTHORIZED, "Invalid webhook signature"),
    /// The token's role may not do this (the detail names the roles that may).
    Forbidden = ("forbidden", FORBIDDEN, "Forbidden"),
    /// Only customer service may do this.
    RequiresSupport = ("requires_support", FORBIDDEN, "Customer service required"),

    // What is asked for.
    /// No such resource, or not one of the caller's account.
    NotFound = ("not_found", NOT_FOUND, "Not found"),
    /// No route has this path.
    RouteNotFound = ("route_not_found", NOT_FOUND, "No such route"),
    /// The route exists, not with this method.
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed"),
    /// A resource with these unique values exists.
    AlreadyExists = ("already_exists", CONFLICT, "Already exists"),

    // Business rules.
    /// Another user of the account has this email.
    EmailTaken = ("email_taken", CONFLICT, "Email already used"),
    /// Another team of the account has this name.
    TeamNameTaken = ("team_name_taken", CONFLICT, "Team name already used"),
    /// The user holds a license: unassign it first.
    UserHasLicense = ("user_has_license", CONFLICT, "User holds a license"),
    /// The quote was already used to add licenses.
    QuoteUsed = ("quote_used", CONFLICT, "Quote already used"),
    /// The quote is past its `expires_at`.
    QuoteExpired = ("quote_expired", CONFLICT, "Quote expired"),
    /// The quote was made for another plan or quantity.
    QuoteMismatch = ("quote_mismatch", UNPROCESSABLE_ENTITY, "Quote does not match"),
    /// The license is assigned to a user: unassign it first.
    LicenseAssigned = ("license_assigned", CONFLICT, "License assigned"),
    /// The license is removed.
    LicenseRemoved = ("license_removed", CONFLICT, "License removed"),
    /// The user already holds another license.
    LicenseTaken = ("license_taken", CONFLICT, "User already licensed"),
    /// The phone number is removed.
    PhoneNumberRemoved = ("phone_number_removed", CONFLICT, "Phone number removed"),
    /// The account has no usable payment method for this.
    PaymentMethodRequired = ("payment_method_required", UNPROCESSABLE_ENTITY, "Payment method required"),
    /// The card has expired.
    PaymentMethodExpired = ("payment_method_expired", UNPROCESSABLE_ENTITY, "Payment method expired"),
    /// The default payment method cannot be removed while others exist.
    DefaultPaymentMethod = ("default_payment_method", CONFLICT, "Default payment method"),
    /// The credit balance does not cover this.
    InsufficientBalance = ("insufficient_balance", UNPROCESSABLE_ENTITY, "Insufficient balance"),
    /// The top-up was already settled.
    TopUpSettled = ("top_up_settled", CONFLICT, "Top-up already settled"),
    /// The billing address is the primary one.
    AddressIsPrimary = ("address_is_primary", CONFLICT, "Primary address"),
    /// Only a verified address can be made primary.
    AddressNotVerified = ("address_not_verified", CONFLICT, "Address not verified"),
    /// A verified address is required for this.
    VerifiedAddressRequired = ("verified_address_required", UNPROCESSABLE_ENTITY, "Verified address required"),
    /// The address already has a pending change request.
    ChangeRequestPending = ("change_request_pending", CONFLICT, "Change request pending"),
    /// The change request was already approved or rejected.
    ChangeRequestDecided = ("change_request_decided", CONFLICT, "Change request already decided"),
    /// The address has no VAT number of an EU state other than France: VIES has nothing to check.
    VatCheckNotApplicable = ("vat_check_not_applicable", CONFLICT, "No VAT number to check"),
    /// The document is referenced by a change request.
    DocumentInUse = ("document_in_use", CONFLICT, "Document in use"),
    /// The account already has this invoice recipient.
    RecipientExists = ("recipient_exists", CONFLICT, "Recipient already exists"),
    /// The account has the most invoice recipients it may have.
    TooManyRecipients = ("too_many_recipients", UNPROCESSABLE_ENTITY, "Too many recipients"),
    /// The invoice is not open (a draft, already paid or void).
    InvoiceNotOpen = ("invoice_not_open", CONFLICT, "Invoice not open"),
    /// A billing run for a month whose 1st has not begun (anywhere, or in the account's timezone).
    PeriodNotStarted = ("period_not_started", UNPROCESSABLE_ENTITY, "Period not started"),
    /// Only a draft can be finalized; this invoice is issued already.
    InvoiceNotDraft = ("invoice_not_draft", CONFLICT, "Invoice not a draft"),
    /// The draft has nothing to bill any more: it is not issued.
    DraftEmpty = ("draft_empty", CONFLICT, "Draft has nothing to bill"),
    /// A draft is not issued: it has no e-invoice (CII, UBL) until it is finalized.
    DraftHasNoEInvoice = ("draft_has_no_e_invoice", CONFLICT, "Draft has no e-invoice"),
    /// The account has no verified primary billing address, so its VAT
    /// treatment cannot be decided (staff verify one): a draft is held, a
    /// top-up refused.
    BillingAddressUnverified = ("billing_address_unverified", CONFLICT, "Billing address not verified"),
    /// The draft is held: the buyer's EU VAT number decides reverse charge,
    /// VIES could not check it and no earlier result is known (staff re-check
    /// it or record a manual verification).
    VatNumberUnchecked = ("vat_number_unchecked", CONFLICT, "VAT number not checked"),
    /// An advance payment invoice (acompte) is not credited: later
    /// invoices deduct it.
    AdvanceInvoiceNotCreditable = ("advance_invoice_not_creditable", CONFLICT, "Advance payment invoice"),
    /// The one-off charge is billed on an invoice: it can no longer be deleted.
    ChargeBilled = ("charge_billed", CONFLICT, "Charge already billed"),
    /// A credit note names a line that is not one of the invoice's.
    UnknownInvoiceLine = ("unknown_invoice_line", UNPROCESSABLE_ENTITY, "Unknown invoice line"),
    /// A credit note line's quantity is not a whole number of units.
    CreditQuantityNotWhole = ("credit_quantity_not_whole", UNPROCESSABLE_ENTITY, "Quantity not whole"),
    /// A credit note line gives both a quantity and an amount, or neither.
    CreditQuantityOrAmount = ("credit_quantity_or_amount", UNPROCESSABLE_ENTITY, "Quantity or amount"),
    /// A credit note line credits more than remains creditable on its invoice line.
    CreditExceedsLine = ("credit_exceeds_line", UNPROCESSABLE_ENTITY, "Credit exceeds the line"),
    /// A credit note would credit more than remains creditable on the invoice.
    CreditExceedsInvoice = ("credit_exceeds_invoice", UNPROCESSABLE_ENTITY, "Credit exceeds the invoice"),
    /// A draft is not issued: it is changed, not credited.
    CreditNoteOnDraft = ("credit_note_on_draft", UNPROCESSABLE_ENTITY, "Draft cannot be credited"),
    /// Only an invoice that credit notes cover in full is reissued.
    InvoiceNotCredited = ("invoice_not_credited", CONFLICT, "Invoice not fully credited"),
    /// A refund of more than what is left of the credit note's credit in the customer balance.
    RefundExceedsCredit = ("refund_exceeds_credit", UNPROCESSABLE_ENTITY, "Refund exceeds the credit"),
    /// The plan has no price in the account's currency: the account cannot buy it.
    PlanNotPricedInCurrency = ("plan_not_priced_in_currency", UNPROCESSABLE_ENTITY, "Plan not priced in the account's currency"),
    /// No exchange rate of the invoice's currency is recorded on or before its issue date: its VAT cannot be stated in euros.
    ExchangeRateMissing = ("exchange_rate_missing", CONFLICT, "Exchange rate missing"),
    /// The test account's clock is advancing: its account takes no change until the clock is `ready`.
    TestClockAdvancing = ("test_clock_advancing", CONFLICT, "Test clock advancing"),

    // The server.
    /// This server is not configured for this (a key or secret is missing).
    NotConfigured = ("not_configured", SERVICE_UNAVAILABLE, "Not configured"),
    /// The database does not answer.
    DatabaseUnavailable = ("database_unavailable", SERVICE_UNAVAILABLE, "Database unavailable"),
    /// Something failed inside; the details are in the server's log, under the request id.
    InternalError = ("internal_error", INTERNAL_SERVER_ERROR, "Internal error"),
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`https://comptoir.dev/problems/<code>`).
    #[serde(rename = "type")]
    #[schema(example = "https://comptoir.dev/problems/validation_failed")]
    pub type_: String,
    /// The code's title: the same for every problem of one code.
    #[schema(example = "Invalid request")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request, for a person.
    #[schema(example = "2 invalid fields: name, email; see errors for what is wrong with each")]
    pub detail: String,
    /// Stable machine-readable code: switch on it.
    pub code: Code,
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
    /// The detail names the roles the operation needs.
    #[error("{0}")]
    Forbidden(String),
    /// The route's declared roles do not include the token's.
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
    #[error(
        "the request's header section is too large (at most {} headers and {} bytes): send fewer or shorter headers",
        MAX_HEADER_COUNT,
        MAX_HEADER_BYTES
    )]
    HeadersTooLarge,
    #[error("{}", validation_detail(.0))]
    Validation(Vec<FieldError>),
    #[error("this Idempotency-Key was already used with another request")]
    IdempotencyKeyReused,
    /// A well-formed request that a business rule refuses: the code (from the
    /// table) says which rule and gives the status.
    #[error("{detail}")]
    Rule { code: Code, detail: String },
    #[error("this server is not configured for this: {0}")]
    NotConfigured(&'static str),
    #[error("the database is not reachable")]
    Unavailable,
    /// The cause goes to the log with the request id, never to the client.
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

    /// An internal error with its whole cause chain (`a: b: c`), for the log.
    pub fn internal_chain(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = error.to_string();
        let mut source = error.source();
        while let Some(inner) = source {
            cause.push_str(": ");
            cause.push_str(&inner.to_string());
            source = inner.source();
        }
        ApiError::Internal(cause)
    }

    /// What the log should say of this error: an internal error's cause,
    /// which its `Display` keeps from clients.
    pub fn cause(&self) -> String {
        match self {
            ApiError::Internal(cause) => cause.clone(),
            other => other.to_string(),
        }
    }

    /// A business rule refuses the request.
    pub fn rule(code: Code, detail: impl Into<String>) -> Self {
        ApiError::Rule {
            code,
            detail: detail.into(),
        }
    }

    /// The role of the caller may not do this.
    pub fn forbidden() -> Self {
        ApiError::Forbidden("your role does not allow this operation".into())
    }

    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::BadSignature => Code::InvalidSignature,
            ApiError::Forbidden(_) | ApiError::RoleNotAllowed { .. } => Code::Forbidden,
            ApiError::RequiresSupport(_) => Code::RequiresSupport,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::RouteNotFound => Code::RouteNotFound,
            ApiError::MethodNotAllowed => Code::MethodNotAllowed,
            ApiError::MalformedJson(_) => Code::MalformedJson,
            ApiError::MalformedMultipart(_) => Code::MalformedMultipart,
            ApiError::InvalidQuery(_) => Code::InvalidQuery,
            ApiError::InvalidPath(_) => Code::InvalidPath,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::PayloadTooLarge(_) => Code::PayloadTooLarge,
            ApiError::HeadersTooLarge => Code::RequestHeaderFieldsTooLarge,
            ApiError::Validation(_) => Code::ValidationFailed,
            ApiError::IdempotencyKeyReused => Code::IdempotencyKeyReused,
            ApiError::Rule { code, .. } => *code,
            ApiError::NotConfigured(_) => Code::NotConfigured,
            ApiError::Unavailable => Code::DatabaseUnavailable,
            ApiError::Internal(_) => Code::InternalError,
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            type_: format!("https://comptoir.dev/problems/{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            detail: self.to_string(),
            code,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let ApiError::Internal(cause) = self {
            // Internals go to the log (the request id is on the span), never
            // to the client.
            tracing::error!(cause = %cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if matches!(self, ApiError::Unauthenticated(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if matches!(self, ApiError::PayloadTooLarge(_)) {
            // The rest of the body is not read: the connection cannot be reused.
            response.insert_header((header::CONNECTION, "close"));
        }
        response.json(self.problem())
    }
}

impl From<crate::domain::issued::HoldReason> for Code {
    fn from(reason: crate::domain::issued::HoldReason) -> Code {
        use crate::domain::issued::HoldReason;
        match reason {
            HoldReason::BillingAddressUnverified => Code::BillingAddressUnverified,
            HoldReason::VatNumberUnchecked => Code::VatNumberUnchecked,
            HoldReason::ExchangeRateMissing => Code::ExchangeRateMissing,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                ApiError::rule(
                    Code::AlreadyExists,
                    "a resource with these values already exists",
                )
            }
            // The connection or the server went away (PostgreSQL's class 08
            // "connection exception" and 57P0x "operator intervention"; a
            // SQLite file still locked after the busy timeout): the request
            // may be retried, so 503, not 500.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c == "5" || c == "6"
                }) =>
            {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            _ => ApiError::internal_chain(&e),
        }
    }
}

/// The most headers a request may have. actix-http itself refuses more than
/// 96 headers, or a head over 128 KiB, with a bare 431 written before any
/// middleware runs; below those, [`limit_headers`] answers a problem+json.
pub const MAX_HEADER_COUNT: usize = 64;
/// The largest header section (names, values, `: ` and CRLF) a request may have.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Middleware: a request with more than [`MAX_HEADER_COUNT`] headers, or more
/// than [`MAX_HEADER_BYTES`] of them, is a 431 before any route sees it.
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES {
        let mut res = ApiError::HeadersTooLarge.error_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge,
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
    if matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    ) {
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
        assert_eq!(p.code, Code::InternalError);
        assert_eq!(p.title, "Internal error");
        assert!(!p.detail.contains("hunter2"));
    }

    #[test]
    fn validation_errors_list_their_fields() {
        let p = ApiError::validation("name", "must not be empty").problem();
        assert_eq!(p.status, 422);
        assert_eq!(
            p.detail,
            "invalid field: name; see errors for what is wrong"
        );
        let two = ApiError::Validation(vec![
            FieldError::new("name", "is required"),
            FieldError::new("email", "is not an email address"),
        ]);
        assert_eq!(
            two.problem().detail,
            "2 invalid fields: name, email; see errors for what is wrong with each"
        );
        assert_eq!(p.errors, vec![FieldError::new("name", "must not be empty")]);
    }

    #[test]
    fn requires_support_tells_to_contact_customer_service() {
        let p = ApiError::RequiresSupport("change a billing address").problem();
        assert_eq!(p.status, 403);
        assert_eq!(p.code, Code::RequiresSupport);
        assert!(p.detail.contains("contact customer service"));
    }

    #[test]
    fn the_code_table_has_one_row_per_code_and_serializes_each_as_written() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{} is not snake_case",
                code.as_str()
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[actix_web::test]
    async fn a_bare_431_becomes_a_problem() {
        use actix_web::{App, middleware::from_fn, test, web};
        let app = test::init_service(
            App::new()
                .route(
                    "/",
                    web::get().to(|| async {
                        HttpResponse::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                    }),
                )
                .wrap(from_fn(problem_for_bare_errors)),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], "request_header_fields_too_large");
        assert_eq!(body["status"], 431);
    }

    #[test]
    fn a_rule_takes_its_status_from_the_table() {
        let conflict = ApiError::rule(Code::QuoteUsed, "this quote was already used");
        assert_eq!(conflict.status_code(), StatusCode::CONFLICT);
        let refused = ApiError::rule(Code::InsufficientBalance, "the balance is 3.00 EUR");
        assert_eq!(refused.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.problem().detail, "the balance is 3.00 EUR");
    }

    #[test]
    fn the_openapi_document_lists_every_code_as_an_enum_of_the_problem() {
        let spec = serde_json::to_value(crate::openapi()).unwrap();
        let listed: Vec<&str> = spec["components"]["schemas"]["Code"]["enum"]
            .as_array()
            .expect("Code is an enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let table: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, table);
        assert_eq!(
            spec["components"]["schemas"]["Problem"]["properties"]["code"]["$ref"],
            "#/components/schemas/Code"
        );
    }
}
