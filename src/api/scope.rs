//! The account-scoped extractor: every route under `/v1/accounts/{account_id}`
//! gets the caller and the account it may act on, checked once, here.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::ids::AccountId;
use crate::domain::role::Access;
use crate::error::{ApiError, Code};
use crate::service::{Authorized, Ctx};

/// The caller (the token) and the account of the path, which the caller may
/// act on with the route's declared access: the tenant rule first (another
/// account is 404 `not_found`, never revealing it exists), then the role
/// (403 `forbidden` naming the roles the route needs).
pub struct AccountScope {
    pub ctx: Ctx,
    pub account: Authorized,
}

fn scope_of(req: &HttpRequest) -> Result<AccountScope, ApiError> {
    let ctx = Ctx::extract_now(req)?;
    let raw = req
        .match_info()
        .get("account_id")
        .ok_or_else(|| ApiError::internal("AccountScope outside /v1/accounts/{account_id}"))?;
    // A malformed id cannot exist: 404, as for an unknown one.
    let account = AccountId::parse(raw).ok_or(ApiError::NotFound("account"))?;
    let need = req
        .extensions()
        .get::<Access>()
        .and_then(|access| access.need())
        .ok_or_else(|| ApiError::internal("account route without a declared role"))?;
    let account = ctx.authorize(&account, need)?;
    Ok(AccountScope { ctx, account })
}

/// Marks a request on a test account (the response says `test: true`).
#[derive(Debug, Clone)]
pub struct TestMode(pub crate::domain::ids::TestClockId);

/// A test account lives at its clock's time: the request's `now` is the
/// clock's, and while the clock is advancing only reads are taken (409
/// `test_clock_advancing`). A live account's id says it is live, so its
/// requests never look for a clock.
async fn on_its_clock(
    req: &HttpRequest,
    mut scope: AccountScope,
) -> Result<AccountScope, ApiError> {
    if !scope.account.is_test() {
        return Ok(scope);
    }
    let store = &req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .ok_or_else(|| ApiError::internal("AppState missing"))?
        .store;
    let clock = store
        .begin_read()
        .await?
        .clock_of_account(&scope.account)
        .await?;
    let Some(clock) = clock else {
        return Ok(scope);
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if let Some(detail) = clock.advancing().filter(|_| !reads) {
        return Err(ApiError::rule(Code::TestClockAdvancing, detail));
    }
    scope.ctx.now = clock.frozen_time;
    req.extensions_mut().insert(TestMode(clock.id));
    Ok(scope)
}

impl FromRequest for AccountScope {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let scope = scope_of(req);
        let req = req.clone();
        Box::pin(async move { on_its_clock(&req, scope?).await })
    }
}

/// The route's own id after the account's (`{invoice_id}`, `{user_id}`...),
/// as written in the path; each handler parses it into its id type.
pub struct ItemId(pub String);

impl std::ops::Deref for ItemId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl FromRequest for ItemId {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let item = req
            .match_info()
            .iter()
            .find(|(name, _)| *name != "account_id")
            .map(|(_, value)| ItemId(value.to_owned()))
            .ok_or_else(|| ApiError::internal("no item id in this route"));
        ready(item)
    }
}

/// The `{account_id}` path parameter, declared once for every account route
/// (the route table adds it to each operation's documentation).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// Account id
    #[param(example = "acc_demo")]
    pub account_id: String,
}

/// The header every response on a test account carries: its clock's id.
pub const TEST_CLOCK_HEADER: &str = "comptoir-test-clock";

/// Marks every response on a test account: the `Comptoir-Test-Clock`
/// header, and `"test": true` first in a JSON object body (an object, a
/// page of a list, a problem) that does not say it already. Live
/// accounts' responses pass untouched.
pub async fn mark_test_responses(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::header::{self, HeaderName, HeaderValue};
    let mut res = next.call(req).await?;
    let Some(TestMode(clock)) = res.request().extensions().get::<TestMode>().cloned() else {
        return Ok(res.map_into_boxed_body());
    };
    if let Ok(value) = HeaderValue::from_str(clock.as_str()) {
        res.headers_mut()
            .insert(HeaderName::from_static(TEST_CLOCK_HEADER), value);
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/problem+json")
        });
    if !json {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| ApiError::internal("a response body could not be read"))?;
    let marked = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        // Spliced in, so the body keeps its order and form.
        Ok(serde_json::Value::Object(fields)) if !fields.contains_key("test") => {
            let rest = bytes.strip_prefix(b"{").unwrap_or_default();
            let comma: &[u8] = if fields.is_empty() { b"" } else { b"," };
            [b"{\"test\":true".as_slice(), comma, rest].concat()
        }
        _ => bytes.to_vec(),
    };
    Ok(actix_web::dev::ServiceResponse::new(
        req,
        head.set_body(marked).map_into_boxed_body(),
    ))
}
