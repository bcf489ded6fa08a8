//! Request extractors shared by every handler: validated JSON bodies, the
//! request context, the `Idempotency-Key` header and pagination.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::AppState;
use crate::error::{ApiError, FieldError, FieldErrors};
use crate::service::idempotency::StoredResponse;
use crate::service::{Ctx, PageRequest};
use crate::telemetry::RequestId;

fn state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState missing"))
}

impl Ctx {
    /// The caller of the request's bearer token (401 without a valid one).
    pub fn extract_now(req: &HttpRequest) -> Result<Ctx, ApiError> {
        Ok(Ctx {
            caller: crate::auth::caller_of(req)?,
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            now: state(req)?.clock.now(),
        })
    }
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    /// Also checks the role the route table declares for the route (the
    /// account routes check it in [`super::scope::AccountScope`], after the
    /// tenant rule).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let need = req
            .extensions()
            .get::<crate::domain::role::Access>()
            .and_then(|access| access.need());
        ready(Ctx::extract_now(req).and_then(|ctx| {
            if let Some(need) = need {
                ctx.require(need)?;
            }
            Ok(ctx)
        }))
    }
}

/// A JSON body, size-limited, parsed with the path of any bad field, then
/// validated. `fingerprint` identifies the body for idempotency: the keyed
/// HMAC ([`crate::crypto::BodyKey`]) of its canonical form (key order and
/// whitespace do not matter), never a bare hash that candidate bodies could
/// be checked against.
pub struct ValidJson<T> {
    pub value: T,
    pub fingerprint: String,
}

/// The request's JSON body, at most `limit` bytes: checks the content type
/// and the size (draining what is refused, so the client reads the answer).
fn read_json_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> LocalBoxFuture<'static, Result<web::BytesMut, ApiError>> {
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if declared_len.is_some_and(|n| n > limit) {
            drain(&mut payload).await;
            return Err(ApiError::PayloadTooLarge(limit));
        }
        if !is_json {
            drain(&mut payload).await;
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let mut body = web::BytesMut::with_capacity(declared_len.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                drain(&mut payload).await;
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

fn serde_field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::MalformedJson(inner.to_string());
    }
    ApiError::Validation(vec![field_of_serde_error(&path, &inner.to_string())])
}

/// The operation a request is for, as the OpenAPI document names it.
#[derive(Clone)]
struct OperationKey {
    method: String,
    pattern: Option<String>,
}

impl OperationKey {
    fn of(req: &HttpRequest) -> Self {
        OperationKey {
            method: req.method().as_str().to_owned(),
            pattern: req.match_pattern(),
        }
    }

    /// serde refused `raw`: every bad field the operation's schema finds,
    /// or, when the schema finds none, serde's own error.
    fn refuse(
        &self,
        raw: &serde_json::Value,
        e: serde_path_to_error::Error<serde_json::Error>,
    ) -> ApiError {
        let all = self
            .pattern
            .as_deref()
            .and_then(|p| super::validate::body_errors(&self.method, p, raw));
        match (all, serde_field_error(e)) {
            (Some(mut errors), ApiError::Validation(first)) if !errors.is_empty() => {
                // Never lose what serde found, should the schema not see it.
                for f in first {
                    let covered = errors.iter().any(|e| {
                        e.field == f.field || e.field.starts_with(&format!("{}.", f.field))
                    });
                    if !covered {
                        errors.push(f);
                    }
                }
                errors.sort_by(|a, b| super::validate::field_order(&a.field, &b.field));
                ApiError::Validation(errors)
            }
            (_, serde_error) => serde_error,
        }
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, body_key) = match state(req) {
            Ok(s) => (s.max_body_bytes, s.body_key.clone()),
            Err(e) => return Box::pin(ready(Err(e))),
        };
        let fingerprint_prefix = format!("{} {}", req.method(), req.path());
        let operation = OperationKey::of(req);
        let body = read_json_body(req, payload, limit);
        Box::pin(async move {
            let body = body.await?;
            let raw: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            if !raw.is_object() {
                return Err(ApiError::validation("body", "must be a JSON object"));
            }
            let fingerprint = body_key.fingerprint(&format!("{fingerprint_prefix}\n{raw}"));
            let value: T = match serde_path_to_error::deserialize(&raw) {
                Ok(v) => v,
                // JSON Schema counts 3.0 as an integer: so do we.
                Err(_) if has_integral_float(&raw) => {
                    let raw = integral_floats_as_integers(raw);
                    match serde_path_to_error::deserialize(&raw) {
                        Ok(v) => v,
                        Err(e) => return Err(operation.refuse(&raw, e)),
                    }
                }
                Err(e) => return Err(operation.refuse(&raw, e)),
            };
            value
                .validate()
                .map_err(|e| ApiError::Validation(flatten(&e, "")))?;
            Ok(ValidJson { value, fingerprint })
        })
    }
}

/// `3.0` as 3: an integer to JSON Schema, a float to serde. Plain integers
/// and non-integral or huge floats give none.
fn integral_float(n: &serde_json::Number) -> Option<i64> {
    let f = n.as_f64()?;
    (!n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// Whether `v` holds a number like `3.0`.
fn has_integral_float(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) => integral_float(n).is_some(),
        Value::Array(items) => items.iter().any(has_integral_float),
        Value::Object(map) => map.values().any(has_integral_float),
        _ => false,
    }
}

/// `v` with every `3.0` written `3`.
fn integral_floats_as_integers(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => integral_float(&n).map_or(Value::Number(n), Value::from),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(integral_floats_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_floats_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The most a bulk body (a consumption batch of 10,000 records) may weigh.
pub const MAX_BULK_BYTES: usize = 16 * 1024 * 1024;

/// A large JSON body (a batch), parsed straight into `T` without the
/// intermediate tree and fingerprint of [`ValidJson`]: bulk routes are made
/// safe to retry by their own keys (external ids), not by `Idempotency-Key`.
pub struct BulkJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for BulkJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let operation = OperationKey::of(req);
        let body = read_json_body(req, payload, MAX_BULK_BYTES);
        Box::pin(async move {
            let body = body.await?;
            let mut de = serde_json::Deserializer::from_slice(&body);
            let first = serde_path_to_error::deserialize(&mut de);
            let value: T = match first {
                Ok(v) => {
                    de.end()
                        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
                    v
                }
                Err(e) => {
                    // The slow path, on errors only: 3.0 is an integer too.
                    let raw: serde_json::Value = serde_json::from_slice(&body)
                        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
                    if !has_integral_float(&raw) {
                        return Err(operation.refuse(&raw, e));
                    }
                    let raw = integral_floats_as_integers(raw);
                    match serde_path_to_error::deserialize(&raw) {
                        Ok(v) => v,
                        Err(e) => return Err(operation.refuse(&raw, e)),
                    }
                }
            };
            Ok(BulkJson(value))
        })
    }
}

/// Reads and discards what the client is still sending (up to 64 MiB), so
/// that it reads our error response instead of a reset connection.
pub async fn drain<S, E>(payload: &mut S)
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
{
    const CAP: usize = 64 * 1024 * 1024;
    let mut seen = 0;
    while let Some(Ok(chunk)) = payload.next().await {
        seen += chunk.len();
        if seen > CAP {
            break;
        }
    }
}

/// Names the field a serde error is about: its path, or for a missing field
/// the field itself.
fn field_of_serde_error(path: &str, message: &str) -> FieldError {
    // One notation for every error: `records.3.cost`, as the checks after parsing name fields.
    let path = path.replace('[', ".").replace(']', "");
    let path = if path == "." { "" } else { path.as_str() };
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(|name| {
                if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            })
    };
    let field = named("missing field `")
        .or_else(|| {
            // serde_path_to_error already puts an unknown field in the path.
            message
                .starts_with("unknown field")
                .then(|| path.to_owned())
        })
        .unwrap_or_else(|| path.to_owned());
    // Never echo the value sent (it may be a card number): say what was
    // expected, in words (never a Rust type).
    let message = super::validate::humanize_serde(message);
    FieldError::new(if field.is_empty() { "body" } else { &field }, message)
}

/// Every validator error, with a dotted path.
fn flatten(errors: &ValidationErrors, prefix: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.iter().map(|e| {
                    let message = e
                        .message
                        .as_ref()
                        .map_or_else(|| format!("is invalid ({})", e.code), |m| m.to_string());
                    FieldError::new(path.clone(), message)
                }));
            }
            ValidationErrorsKind::Struct(inner) => out.extend(flatten(inner, &path)),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    out.extend(flatten(inner, &format!("{path}.{i}")));
                }
            }
        }
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

/// The optional `Idempotency-Key` header: 1 to 255 printable ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let key = value.to_str().ok().filter(|k| {
            (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
        });
        ready(match key {
            Some(k) => Ok(IdempotencyKey(Some(k.to_owned()))),
            None => Err(ApiError::validation(
                IDEMPOTENCY_HEADER,
                "must be 1 to 255 printable ASCII characters without spaces",
            )),
        })
    }
}

/// The response of a create, first-time or replayed (`Idempotent-Replayed: true`).
pub fn stored_response(stored: StoredResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(stored.status)
        .unwrap_or(actix_web::http::StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if stored.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(stored.body)
}

/// A query string that does not fit the handler's parameters: 400
/// `invalid_query`, with every bad parameter named in `errors[]` and in
/// `detail` (checked against the operation's parameter schemas).
pub fn query_error(e: actix_web::error::QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let errors = req
        .match_pattern()
        .and_then(|p| super::validate::query_errors(req.method().as_str(), &p, req.query_string()))
        .unwrap_or_default();
    let detail = if errors.is_empty() {
        super::validate::humanize_serde(&e.to_string())
    } else {
        errors
            .iter()
            .map(|f| format!("`{}` {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let error = ApiError::InvalidQuery(detail);
    let mut problem = error.problem();
    problem.errors = errors;
    let response = HttpResponse::build(actix_web::ResponseError::status_code(&error))
        .content_type(crate::error::PROBLEM_JSON)
        .json(problem);
    actix_web::error::InternalError::from_response(e, response).into()
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to return: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_]{1,128}$")]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let mut errors = FieldErrors::default();
        let limit = errors.check(
            "limit",
            Some(self.limit.unwrap_or(20)).filter(|l| (1..=100).contains(l)),
            "must be a whole number between 1 and 100",
        );
        let after = errors.check_opt(
            "cursor",
            self.cursor.as_deref(),
            |c| decode_cursor(c).map(Some),
            "is not a cursor returned by this list",
        );
        errors.finish()?;
        Ok(PageRequest {
            after: after.flatten(),
            limit: limit.unwrap_or(20),
        })
    }
}

/// A cursor is the position of the last item seen (an id, or for
/// consumption `<unix seconds>_<id>`): any well-formed position is a valid
/// place to start from, so the spec's pattern says exactly what is accepted.
fn decode_cursor(cursor: &str) -> Option<String> {
    let position = cursor.to_owned();
    let valid = !position.is_empty()
        && position.len() <= 128
        && position
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(position)
}

/// The cursor pointing after `position` (an id).
pub fn encode_cursor(position: &str) -> String {
    position.to_owned()
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paginated<T> {
    pub fn new<S>(page: crate::store::Page<S>, position: impl Fn(&S) -> String) -> Self
    where
        T: From<S>,
    {
        Self::map(page, position, T::from)
    }

    /// A page of `S` shown as `T`; the cursor points after the last item's `position`.
    pub fn map<S>(
        page: crate::store::Page<S>,
        position: impl Fn(&S) -> String,
        show: impl FnMut(S) -> T,
    ) -> Self {
        let next_cursor = page
            .has_more
            .then(|| page.items.last().map(|last| encode_cursor(&position(last))))
            .flatten();
        Paginated {
            data: page.items.into_iter().map(show).collect(),
            next_cursor,
        }
    }
}

/// The create-route pattern: run `$body` (which has the write transaction as
/// `$tx` and yields the response DTO) once per `Idempotency-Key`, answer 201,
/// or replay the first answer.
macro_rules! idempotent_create {
    ($state:expr, $ctx:expr, $key:expr, $fingerprint:expr, |$tx:ident| $body:expr) => {{
        use $crate::service::idempotency::{Begun, begin};
        let now = $state.clock.now();
        let stored = match begin(&$state.store, &$ctx, now, $key.0.as_deref(), $fingerprint).await?
        {
            Begun::Replay(stored) => stored,
            Begun::Fresh(mut op) => {
                let $tx = op.tx();
                let dto = $body;
                op.finish(201, &dto).await?
            }
        };
        Ok($crate::api::extract::stored_response(stored))
    }};
}
pub(crate) use idempotent_create;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("acc_0192abc");
        assert_eq!(decode_cursor(&c).as_deref(), Some("acc_0192abc"));
        assert_eq!(decode_cursor("!!!"), None);
        assert_eq!(decode_cursor("x' OR 1=1"), None);
        assert_eq!(decode_cursor(&"a".repeat(129)), None);
    }

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        let raw = serde_json::json!({"q": 21.0, "n": [3.0, 2.5, 7], "s": "4.0", "big": 1e300});
        assert!(has_integral_float(&raw));
        assert_eq!(
            integral_floats_as_integers(raw),
            serde_json::json!({"q": 21, "n": [3, 2.5, 7], "s": "4.0", "big": 1e300})
        );
        assert!(!has_integral_float(&serde_json::json!({"q": 21, "p": 2.5})));
    }

    #[test]
    fn serde_errors_name_the_field() {
        let e = field_of_serde_error(".", "missing field `name`");
        assert_eq!(e.field, "name");
        let e = field_of_serde_error("records[2]", "missing field `cost` at line 1 column 4");
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("records.2.cost", "is required")
        );
        let e = field_of_serde_error("colour", "unknown field `colour`, expected `name`");
        assert_eq!(e.field, "colour");
        let e = field_of_serde_error(
            "number",
            "invalid type: integer `4242424242424242`, expected a string",
        );
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("number", "must be text")
        );
    }
}
