//! `/v1/test-clocks`: a time of their own for test accounts, which a CI
//! script advances to watch billing happen.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{PageQuery, Paginated, ValidJson};
use crate::AppState;
use crate::domain::account::clean_name;
use crate::domain::ids::TestClockId;
use crate::domain::test_clock::{ClockStatus, TestClock};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::{Ctx, test_clocks};

/// A test clock: the time its test accounts live at.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestClockDto {
    #[schema(example = "clk_01975a1b2c3d7e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "CI run 4812")]
    pub name: String,
    /// The time its accounts live at. While `advancing`, how far the
    /// advance got: everything due up to it has run.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(example = "2026-04-01T08:00:00Z")]
    pub frozen_time: OffsetDateTime,
    /// `advancing` until everything due up to `advance_to` has run, then
    /// `ready` (its accounts refuse changes meanwhile: 409 `test_clock_advancing`).
    pub status: ClockStatus,
    /// Where the running advance goes.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(example = json!(null))]
    pub advance_to: Option<OffsetDateTime>,
    /// The test account whose admin made it; null when staff did.
    #[schema(example = json!(null))]
    pub owner_account_id: Option<String>,
    /// Real time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<TestClock> for TestClockDto {
    fn from(c: TestClock) -> Self {
        TestClockDto {
            id: c.id.to_string(),
            name: c.name,
            frozen_time: c.frozen_time,
            status: c.status,
            advance_to: c.advance_to,
            owner_account_id: c.owner.map(|a| a.to_string()),
            created_at: c.created_at,
        }
    }
}

/// Makes a test clock.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTestClockRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(min_length = 1, max_length = 200, example = "CI run 4812")]
    pub name: String,
    /// RFC 3339, from 2000-01-01 to before 2100-01-01; kept to the second.
    #[schema(example = "2026-03-31T10:00:00Z")]
    pub frozen_time: String,
}

/// Moves a test clock forward.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClockRequest {
    /// RFC 3339: after the clock's `frozen_time`, at most two calendar
    /// months after it; kept to the second.
    #[schema(example = "2026-05-01T08:00:00Z")]
    pub to: String,
}

fn instant(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<OffsetDateTime> {
    errors.check(
        field,
        OffsetDateTime::parse(raw, &Rfc3339).ok(),
        "must be an RFC 3339 instant such as 2026-04-01T08:00:00Z",
    )
}

fn clock_id(raw: &str) -> Result<TestClockId, ApiError> {
    TestClockId::parse(raw).ok_or(ApiError::NotFound("test clock"))
}

/// The `{test_clock_id}` path parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClockPath {
    /// Test clock id
    #[param(example = "clk_01975a1b2c3d7e8f9a0b1c2d3e4f5a6b")]
    pub test_clock_id: String,
}

/// Make a test clock (support; or an admin of a test account, whose
/// account then owns it).
///
/// Then open test accounts on it (`POST /v1/accounts` with
/// `test_clock_id`, staff): they live at the clock's time for everything
/// (quotes, activation days, consumption's "today", prices in force,
/// auto-recharge, cards' expiry, drafts' grace, finalization, emails,
/// events). Their responses say `test: true`, their invoices and credit
/// notes are numbered in the clock's own series (`TEST-F-2026-000001`),
/// and their emails and e-invoices are queued and shown, never sent.
///
/// **A CI recipe** (the help page's April example): make a clock at
/// `2026-03-31T10:00:00Z`; open a test account on it with a card and a
/// verified French address; add 4 ADVANCED licenses and 3 numbers; advance
/// to `2026-04-01T08:00:00Z` and add 3 licenses, to `2026-04-02T08:00:00Z`
/// and add 1, to `2026-04-09T08:00:00Z` and add 2; advance to
/// `2026-05-01T08:00:00Z`, wait for `ready` and read the May invoice:
/// 1002.73 + 200.55 VAT = 1203.28 EUR. `examples/test_clock.sh` does it
/// with curl.
#[utoipa::path(post, path = "/v1/test-clocks", operation_id = "create_test_clock", tag = "test-clocks",
    request_body(content = CreateTestClockRequest, example = json!({"name": "CI run 4812", "frozen_time": "2026-03-31T10:00:00Z"})),
    responses(
        (status = 201, description = "The clock, ready", body = TestClockDto),
        (status = 403, description = "Only staff and the admins of test accounts make test clocks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or frozen_time: each is named in errors[]", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    ctx: Ctx,
    body: ValidJson<CreateTestClockRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let name = errors.check(
        "name",
        clean_name(&body.value.name, 200),
        "must be 1 to 200 characters, not only spaces, without control or invisible characters",
    );
    let frozen_time = instant(&mut errors, "frozen_time", &body.value.frozen_time);
    errors.finish()?;
    let (Some(name), Some(frozen_time)) = (name, frozen_time) else {
        return Err(ApiError::internal("checked fields missing"));
    };
    let clock = test_clocks::create(
        &state.store,
        &ctx,
        test_clocks::NewClock { name, frozen_time },
    )
    .await?;
    Ok(HttpResponse::Created().json(TestClockDto::from(clock)))
}

/// The test clocks (support: all; an admin of a test account: the ones
/// its account made and the one it lives on).
#[utoipa::path(get, path = "/v1/test-clocks", operation_id = "list_test_clocks", tag = "test-clocks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of clocks, oldest first", body = Paginated<TestClockDto>),
        (status = 403, description = "Only staff and the admins of test accounts see test clocks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    ctx: Ctx,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = test_clocks::list(&state.store, &ctx, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<TestClockDto>::new(page, |c| c.id.to_string())))
}

/// A test clock: poll it after an advance until its `status` is `ready`.
#[utoipa::path(get, path = "/v1/test-clocks/{test_clock_id}", operation_id = "get_test_clock", tag = "test-clocks",
    params(ClockPath),
    responses(
        (status = 200, description = "The clock", body = TestClockDto),
        (status = 403, description = "Only staff and the admins of test accounts see test clocks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such clock, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<ClockPath>,
) -> Result<HttpResponse, ApiError> {
    let clock = test_clocks::get(&state.store, &ctx, &clock_id(&path.test_clock_id)?).await?;
    Ok(HttpResponse::Ok().json(TestClockDto::from(clock)))
}

/// Delete a test clock with its test accounts and all their data
/// (invoices, events, files...). An admin deletes only the clocks its
/// account made.
#[utoipa::path(delete, path = "/v1/test-clocks/{test_clock_id}", operation_id = "delete_test_clock", tag = "test-clocks",
    params(ClockPath),
    responses(
        (status = 204, description = "Deleted, with its accounts"),
        (status = 403, description = "Only staff and the admins of test accounts delete test clocks; an admin not the one its account lives on", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such clock, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "test_clock_advancing: wait until it is ready", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<ClockPath>,
) -> Result<HttpResponse, ApiError> {
    let id = clock_id(&path.test_clock_id)?;
    test_clocks::delete(&state.store, &state.blobs, &ctx, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Advance a test clock (forward only, at most two calendar months a call).
///
/// Answers at once with the clock `advancing`; a job then runs, in order,
/// everything due on the way for its accounts, at the time it falls due:
/// each month's billing run (an advance across three month starts issues
/// three invoices, in order), the finalization of drafts whose grace ends,
/// the expiring-card events. Webhooks fire as they would have. Poll
/// `GET /v1/test-clocks/{id}` until `status` is `ready`; meanwhile its
/// accounts answer reads and refuse changes (409 `test_clock_advancing`).
/// A server that dies during an advance resumes it on restart, running
/// nothing twice.
#[utoipa::path(post, path = "/v1/test-clocks/{test_clock_id}/advance", operation_id = "advance_test_clock", tag = "test-clocks",
    params(ClockPath),
    request_body(content = AdvanceTestClockRequest, example = json!({"to": "2026-05-01T08:00:00Z"})),
    responses(
        (status = 202, description = "The clock, advancing", body = TestClockDto),
        (status = 403, description = "Only staff and the admins of test accounts advance test clocks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such clock, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "test_clock_advancing: an advance is running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "to is not an instant after frozen_time and at most two months after it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn advance(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<ClockPath>,
    body: ValidJson<AdvanceTestClockRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = clock_id(&path.test_clock_id)?;
    let mut errors = FieldErrors::default();
    let to = instant(&mut errors, "to", &body.value.to);
    errors.finish()?;
    let Some(to) = to else {
        return Err(ApiError::internal("checked fields missing"));
    };
    let clock = test_clocks::advance(&state.store, &ctx, &state.test_clock_wake, &id, to).await?;
    Ok(HttpResponse::Accepted().json(TestClockDto::from(clock)))
}
