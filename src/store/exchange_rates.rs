//! Exchange rates: the ECB reference rates staff record, one per currency
//! and day, and the one an invoice of a day converts its VAT at.

use time::{Date, OffsetDateTime};

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional};
use crate::domain::exchange::{EurRate, ExchangeRate};
use crate::domain::money::Currency;

#[derive(sqlx::FromRow)]
struct RateRow {
    currency: String,
    rate_date: Date,
    eur_rate_micros: i64,
    recorded_at: OffsetDateTime,
}

impl TryFrom<RateRow> for ExchangeRate {
    type Error = sqlx::Error;

    fn try_from(r: RateRow) -> Result<Self, Self::Error> {
        Ok(ExchangeRate {
            currency: Currency::parse(&r.currency).ok_or_else(|| corrupt("currency"))?,
            date: r.rate_date,
            rate: EurRate::from_micros(r.eur_rate_micros).ok_or_else(|| corrupt("eur_rate"))?,
            recorded_at: r.recorded_at,
        })
    }
}

const COLUMNS: &str = "currency, rate_date, eur_rate_micros, recorded_at";

impl Tx {
    /// The rate of `currency` recorded for exactly `day`.
    pub async fn exchange_rate(
        &mut self,
        currency: Currency,
        day: Date,
    ) -> Result<Option<ExchangeRate>, sqlx::Error> {
        let row: Option<RateRow> = fetch_optional!(
            self,
            sqlx::query_as(super::sql!(
                "SELECT {COLUMNS} FROM exchange_rates WHERE currency = $1 AND rate_date = $2"
            ))
            .bind(currency.code())
            .bind(day)
        )?;
        row.map(ExchangeRate::try_from).transpose()
    }

    /// The rate of `currency` of `day` or, if none, of the last day before
    /// it that has one.
    pub async fn exchange_rate_on_or_before(
        &mut self,
        currency: Currency,
        day: Date,
    ) -> Result<Option<ExchangeRate>, sqlx::Error> {
        let row: Option<RateRow> = fetch_optional!(
            self,
            sqlx::query_as(super::sql!(
                "SELECT {COLUMNS} FROM exchange_rates WHERE currency = $1 AND rate_date <= $2 \
                 ORDER BY rate_date DESC LIMIT 1"
            ))
            .bind(currency.code())
            .bind(day)
        )?;
        row.map(ExchangeRate::try_from).transpose()
    }

    /// Records the rate of its currency and day, replacing one recorded before.
    pub async fn put_exchange_rate(&mut self, r: &ExchangeRate) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO exchange_rates (currency, rate_date, eur_rate_micros, recorded_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (currency, rate_date) DO UPDATE SET \
                 eur_rate_micros = excluded.eur_rate_micros, recorded_at = excluded.recorded_at",
            )
            .bind(r.currency.code())
            .bind(r.date)
            .bind(r.rate.micros())
            // UTC: SQLite keeps instants as text.
            .bind(r.recorded_at.to_offset(time::UtcOffset::UTC))
        )?;
        Ok(())
    }

    /// The rates of `currency`, newest first, of days before `before` when given.
    pub async fn list_exchange_rates(
        &mut self,
        currency: Currency,
        before: Option<Date>,
        limit: u32,
    ) -> Result<Page<ExchangeRate>, sqlx::Error> {
        let rows: Vec<RateRow> = fetch_all!(
            self,
            sqlx::query_as(super::sql!(
                "SELECT {COLUMNS} FROM exchange_rates WHERE currency = $1 \
                 AND (CAST($2 AS DATE) IS NULL OR rate_date < $2) \
                 ORDER BY rate_date DESC LIMIT $3"
            ))
            .bind(currency.code())
            .bind(before)
            .bind(i64::from(limit) + 1)
        )?;
        let rates = rows
            .into_iter()
            .map(ExchangeRate::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rates, limit))
    }
}
