//! The account-scoped extractor: every route under `/v1/accounts/{account_id}`
//! gets the caller and the account it may act on, checked once, here.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::ids::AccountId;
use crate::domain::role::Access;
use crate::error::ApiError;
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

impl FromRequest for AccountScope {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(scope_of(req))
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
