//! `/v1/accounts`: accounts (name, currency, timezone).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{IdempotencyKey, PageQuery, Paginated, ValidJson, idempotent_create};
use super::scope::AccountScope;
use crate::AppState;
use crate::domain::account::{Account, InvoiceLanguage, Timezone, clean_name};
use crate::domain::ids::TestClockId;
use crate::domain::money::Currency;
use crate::error::{ApiError, Problem};
use crate::service::{Ctx, accounts};

/// An account: the customer company that is billed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountDto {
    #[schema(example = "acc_demo")]
    pub id: String,
    #[schema(example = "Démo Télécom SAS")]
    pub name: String,
    pub currency: Currency,
    /// IANA timezone: activation days, periods and filters are civil dates in it.
    #[schema(example = "Europe/Paris")]
    pub timezone: String,
    /// The language its invoices and credit notes are issued in: the
    /// stored Factur-X PDF and the emails carrying it.
    pub invoice_language: InvoiceLanguage,
    /// When it was opened (a test account: at its clock's time).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A test account: it lives at its test clock's time, its documents
    /// are numbered `TEST-...`, its emails and e-invoices are never sent.
    #[schema(example = false)]
    pub test: bool,
    /// The test clock it lives on; null for a live account.
    #[schema(example = json!(null))]
    pub test_clock_id: Option<String>,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        AccountDto {
            id: a.id.to_string(),
            name: a.name,
            currency: a.currency,
            timezone: a.timezone.to_string(),
            invoice_language: a.invoice_language,
            created_at: a.created_at,
            test: a.test_clock_id.is_some(),
            test_clock_id: a.test_clock_id.map(|c| c.to_string()),
        }
    }
}

/// Opens an account.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$",
        min_length = 1,
        max_length = 200,
        example = "Acme Téléphonie"
    )]
    pub name: String,
    /// ISO 4217; `EUR` by default.
    #[schema(example = "EUR")]
    pub currency: Option<Currency>,
    /// IANA timezone; `Europe/Paris` by default.
    #[validate(length(min = 1, max = 64, message = "must be an IANA timezone name"))]
    #[schema(min_length = 1, max_length = 64, example = "Europe/Paris")]
    pub timezone: Option<String>,
    /// The language its invoices and credit notes are issued in; `fr` by
    /// default (an issued document keeps the language it was issued in).
    pub invoice_language: Option<InvoiceLanguage>,
    /// Opens a test account living on this test clock (`POST
    /// /v1/test-clocks`): at the clock's time for everything, its id starts
    /// with `acc_test`.
    #[schema(example = json!(null))]
    pub test_clock_id: Option<String>,
}

impl TryFrom<CreateAccountRequest> for accounts::NewAccount {
    type Error = ApiError;

    fn try_from(r: CreateAccountRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let name = clean_name(&r.name, 200);
        if name.is_none() {
            errors.push(crate::error::FieldError::new(
                "name",
                "must be 1 to 200 characters, not only spaces, without control or invisible characters",
            ));
        }
        let zone = r.timezone.as_deref().unwrap_or(Timezone::DEFAULT);
        let timezone = Timezone::parse(zone);
        if timezone.is_none() {
            errors.push(crate::error::FieldError::new(
                "timezone",
                format!("{zone:?} is not an IANA timezone name such as Europe/Paris"),
            ));
        }
        let test_clock_id = match r.test_clock_id.as_deref().map(TestClockId::parse) {
            Some(None) => {
                errors.push(crate::error::FieldError::new(
                    "test_clock_id",
                    "must be a test clock id (clk_...)",
                ));
                None
            }
            Some(Some(id)) => Some(id),
            None => None,
        };
        let clock_ok = r.test_clock_id.is_none() || test_clock_id.is_some();
        match (name, timezone) {
            (Some(name), Some(timezone)) if clock_ok => Ok(accounts::NewAccount {
                name,
                currency: r.currency.unwrap_or(Currency::Eur),
                timezone,
                invoice_language: r.invoice_language.unwrap_or_default(),
                test_clock_id,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// Open an account (staff).
///
/// With `test_clock_id`, a test account: it lives at that clock's time
/// (see the test clocks). Honours `Idempotency-Key`: the same key and body
/// replay the first response.
#[utoipa::path(post, path = "/v1/accounts", operation_id = "create_account", tag = "accounts",
    request_body = CreateAccountRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body replay the first response")),
    responses(
        (status = 201, description = "The account", body = AccountDto),
        (status = 403, description = "Only staff open accounts", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "test_clock_advancing: the test clock is advancing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (an unknown test_clock_id among them), or the Idempotency-Key was used with another body", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    ctx: Ctx,
    key: IdempotencyKey,
    body: ValidJson<CreateAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = accounts::NewAccount::try_from(body.value)?;
    idempotent_create!(state, ctx, key, &body.fingerprint, |tx| {
        let account = accounts::create(tx, &ctx, new).await?;
        AccountDto::from(account)
    })
}

/// List accounts (staff).
#[utoipa::path(get, path = "/v1/accounts", operation_id = "list_accounts", tag = "accounts", params(PageQuery),
    responses(
        (status = 200, description = "A page of accounts", body = Paginated<AccountDto>),
        (status = 403, description = "Only staff list accounts", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    ctx: Ctx,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = accounts::list(&state.store, &ctx, &query.page()?).await?;
    Ok(HttpResponse::Ok().json(Paginated::<AccountDto>::new(page, |a| a.id.to_string())))
}

/// An account: its own users, and staff.
#[utoipa::path(get, path = "/v1/accounts/{account_id}", operation_id = "get_account", tag = "accounts",
    responses(
        (status = 200, description = "The account", body = AccountDto),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get(&state.store, &account).await?;
    Ok(HttpResponse::Ok().json(AccountDto::from(account)))
}
