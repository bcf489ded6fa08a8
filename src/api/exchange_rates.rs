//! `/v1/exchange-rates`: the ECB reference rates staff record, which state
//! the VAT of non-EUR invoices and credit notes in euros.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{Paginated, ValidJson};
use crate::AppState;
use crate::domain::exchange::{EurRate, ExchangeRate, FIRST_RATE_DATE, rated_currencies};
use crate::domain::money::Currency;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::service::{Ctx, exchange_rates};

/// A rate as the schema writes it: more than 0 and at most 10000, at most 6
/// decimals (zeros after them do not count), leading zeros allowed.
pub const EUR_RATE_PATTERN: &str =
    r"^0*([1-9][0-9]{0,3}(\.[0-9]{1,6}0*)?|10000(\.0+)?|0\.[0-9]{0,5}[1-9]0*)$";

/// The currencies exchange rates are recorded for: those Comptoir bills
/// in, except EUR.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum RatedCurrency {
    Usd,
    Gbp,
    Chf,
}

/// A recorded rate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExchangeRateDto {
    #[schema(example = "USD")]
    pub currency: Currency,
    /// The day the ECB published it for.
    #[schema(example = "2026-06-01")]
    pub date: Date,
    /// Units of `currency` for 1 EUR (the ECB reference rate), at least 4
    /// decimals.
    #[schema(example = "1.0523")]
    pub eur_rate: String,
    /// When it was recorded, or last replaced.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl From<ExchangeRate> for ExchangeRateDto {
    fn from(r: ExchangeRate) -> Self {
        ExchangeRateDto {
            currency: r.currency,
            date: r.date,
            eur_rate: r.rate.to_string(),
            recorded_at: r.recorded_at,
        }
    }
}

/// The ECB reference rate of a day.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutExchangeRateRequest {
    /// Units of the currency for 1 EUR: more than 0 and at most 10000, at
    /// most 6 decimals.
    #[validate(length(
        min = 1,
        max = 20,
        message = "must be a decimal number such as \"1.0523\""
    ))]
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = r"^0*([1-9][0-9]{0,3}(\.[0-9]{1,6}0*)?|10000(\.0+)?|0\.[0-9]{0,5}[1-9]0*)$",
        example = "1.0523"
    )]
    pub eur_rate: String,
}

/// The path of a rate.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RatePath {
    /// A currency Comptoir bills in, other than EUR.
    #[param(value_type = RatedCurrency, example = "USD")]
    pub currency: String,
    /// The day of the rate: not in the future, not before 1999-01-04 (the
    /// first ECB reference rate).
    #[param(value_type = Date, example = "2026-06-01")]
    pub date: String,
}

/// The path of a currency's rates.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CurrencyPath {
    /// A currency Comptoir bills in, other than EUR.
    #[param(value_type = RatedCurrency, example = "USD")]
    pub currency: String,
}

/// `?limit=&cursor=` on a currency's rates, whose cursor is a date.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RatePageQuery {
    /// How many rates to return: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: rates of days before it follow.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub cursor: Option<String>,
}

fn currency(raw: &str) -> Option<Currency> {
    Currency::parse(raw).filter(|c| rated_currencies().any(|r| r == *c))
}

const CURRENCY_MESSAGE: &str = "must be one of: USD, GBP, CHF";

fn parse_date(raw: &str) -> Option<Date> {
    Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// A cursor `YYYY-MM-DD` is a position: the rates of days before it follow.
/// A day past its month's end (`2026-02-31`) is after its month's last day.
fn cursor_date(raw: &str) -> Option<Date> {
    let valid_shape = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !valid_shape {
        return None;
    }
    let year: i32 = raw[..4].parse().ok()?;
    let month = time::Month::try_from(raw[5..7].parse::<u8>().ok()?).ok()?;
    let day: u8 = raw[8..].parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    match first.replace_day(day) {
        Ok(d) => Some(d),
        Err(_) => Some(crate::domain::plan::next_period_start(first)),
    }
}

/// Record the ECB reference rate of a currency for a day (staff).
///
/// `eur_rate` is how many units of the currency make 1 EUR. Putting a rate
/// again for the same currency and day replaces it (audited as
/// `exchange_rate.replaced`). A non-EUR invoice states its VAT in euros at
/// the rate of its issue date or the last one before; a draft without one
/// waits (hold `exchange_rate_missing`) and is issued once a rate is recorded.
#[utoipa::path(put, path = "/v1/exchange-rates/{currency}/{date}", operation_id = "put_exchange_rate", tag = "exchange-rates",
    params(RatePath),
    request_body = PutExchangeRateRequest,
    responses(
        (status = 200, description = "The rate as recorded", body = ExchangeRateDto),
        (status = 403, description = "Only staff record rates", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid currency, date or rate: each is named in errors[]", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<RatePath>,
    body: ValidJson<PutExchangeRateRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let currency = errors.check("currency", currency(&path.currency), CURRENCY_MESSAGE);
    let today = ctx.now.to_offset(time::UtcOffset::UTC).date();
    let date = errors.check(
        "date",
        parse_date(&path.date).filter(|d| (FIRST_RATE_DATE..=today).contains(d)),
        "must be a date YYYY-MM-DD from 1999-01-04 (the first ECB reference rate) to today",
    );
    let rate = errors.keep(
        EurRate::parse(&body.value.eur_rate)
            .map_err(|e| ApiError::validation("eur_rate", e.to_string())),
    );
    errors.finish()?;
    let (Some(currency), Some(date), Some(rate)) = (currency, date, rate) else {
        return Err(ApiError::internal("checked fields missing"));
    };
    let recorded = exchange_rates::put(&state.store, &ctx, currency, date, rate).await?;
    Ok(HttpResponse::Ok().json(ExchangeRateDto::from(recorded)))
}

/// The rates recorded for a currency, newest first (any token: they are
/// the ECB's public reference rates).
#[utoipa::path(get, path = "/v1/exchange-rates/{currency}", operation_id = "list_exchange_rates", tag = "exchange-rates",
    params(CurrencyPath, RatePageQuery),
    responses(
        (status = 200, description = "A page of rates, newest first", body = Paginated<ExchangeRateDto>),
        (status = 422, description = "Not a currency rates are recorded for, or a bad page: named in errors[]", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    _ctx: Ctx,
    path: web::Path<CurrencyPath>,
    query: web::Query<RatePageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let currency = errors.check("currency", currency(&path.currency), CURRENCY_MESSAGE);
    let limit = errors.check(
        "limit",
        Some(query.limit.unwrap_or(20)).filter(|l| (1..=100).contains(l)),
        "must be a whole number between 1 and 100",
    );
    let before = errors.check_opt(
        "cursor",
        query.cursor.as_deref(),
        cursor_date,
        "is not a cursor returned by this list",
    );
    errors.finish()?;
    let (Some(currency), Some(limit)) = (currency, limit) else {
        return Err(ApiError::internal("checked fields missing"));
    };
    let rates = exchange_rates::list(&state.store, currency, before, limit).await?;
    Ok(
        HttpResponse::Ok().json(Paginated::<ExchangeRateDto>::new(rates, |r| {
            r.date.to_string()
        })),
    )
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn the_schemas_rate_pattern_accepts_exactly_what_the_server_does() {
        let schema = serde_json::json!({"type": "string", "pattern": EUR_RATE_PATTERN});
        let validator = jsonschema::validator_for(&schema).unwrap();
        for raw in [
            "1.0523",
            "1",
            "0.85513",
            "0.000001",
            "10000",
            "10000.000000",
            "1.05230000",
            "001.5",
            "9999.999999",
            "0.1",
            "0",
            "0.000000",
            "10000.000001",
            "1.0000001",
            "-1",
            "+1",
            "1e3",
            ".5",
            "1.",
            "",
            "abc",
            "10001",
            "0.0000001",
            "00.5",
        ] {
            assert_eq!(
                validator.is_valid(&serde_json::json!(raw)),
                EurRate::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
        // The pattern is written once more in the request's schema attribute.
        let spec =
            serde_json::to_value(<PutExchangeRateRequest as utoipa::PartialSchema>::schema())
                .unwrap();
        assert_eq!(spec["properties"]["eur_rate"]["pattern"], EUR_RATE_PATTERN);
    }

    #[test]
    fn a_cursor_is_a_day_and_a_day_past_the_months_end_is_after_its_last_day() {
        assert_eq!(cursor_date("2026-06-01"), Some(date!(2026 - 06 - 01)));
        assert_eq!(cursor_date("2026-02-31"), Some(date!(2026 - 03 - 01)));
        assert_eq!(cursor_date("2026-12-31"), Some(date!(2026 - 12 - 31)));
        for bad in [
            "2026-13-01",
            "2026-06-00",
            "2026-06-32",
            "20260601",
            "2026-6-01",
            "x",
        ] {
            assert_eq!(cursor_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_are_recorded_for_every_currency_but_eur() {
        assert_eq!(currency("USD"), Some(Currency::Usd));
        assert_eq!(currency("CHF"), Some(Currency::Chf));
        assert_eq!(currency("EUR"), None);
        assert_eq!(currency("usd"), None);
    }
}
