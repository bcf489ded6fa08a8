//! Exchange rates: staff record the ECB reference rate of a currency for a
//! day (`PUT` again replaces it, audited); a non-EUR invoice or credit note
//! states its VAT in euros at the rate of its issue date or the last one
//! before (CGI art. 289-IV).

use serde_json::json;
use time::Date;
use tracing::instrument;

use super::{Ctx, audit};
use crate::domain::exchange::{EurRate, ExchangeRate, VatInEur, needs_statement};
use crate::domain::money::{Currency, Money};
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::{Page, Store, Tx};

fn summary(r: &ExchangeRate) -> serde_json::Value {
    json!({ "eur_rate": r.rate.to_string() })
}

/// Records the rate of `currency` on `date`, replacing the one recorded for
/// that day if any: the same request twice leaves one rate.
#[instrument(skip_all, fields(currency = %currency, date = %date))]
pub async fn put(
    store: &Store,
    ctx: &Ctx,
    currency: Currency,
    date: Date,
    rate: EurRate,
) -> Result<ExchangeRate, ApiError> {
    ctx.require(Need::Staff)?;
    let mut tx = store.begin_write().await?;
    let before = tx.exchange_rate(currency, date).await?;
    let after = ExchangeRate {
        currency,
        date,
        rate,
        recorded_at: ctx.now,
    };
    tx.put_exchange_rate(&after).await?;
    let event = ctx.audit_event(
        None,
        if before.is_some() {
            "exchange_rate.replaced"
        } else {
            "exchange_rate.recorded"
        },
        ("exchange_rate", &format!("{currency}/{date}")),
        before.as_ref().map(summary),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

/// The rates of `currency`, newest first: at most `limit`, of days before
/// `before` when given.
pub async fn list(
    store: &Store,
    currency: Currency,
    before: Option<Date>,
    limit: u32,
) -> Result<Page<ExchangeRate>, ApiError> {
    let mut tx = store.begin_read().await?;
    Ok(tx.list_exchange_rates(currency, before, limit).await?)
}

/// What a document whose VAT total is `vat` states of it in euros when it
/// is issued on `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VatStatement {
    /// In EUR, or no VAT: nothing to state.
    NotNeeded,
    Stated(VatInEur),
    /// No rate of its currency on or before `day`.
    RateMissing,
}

impl VatStatement {
    pub fn stated(self) -> Option<VatInEur> {
        match self {
            VatStatement::Stated(v) => Some(v),
            VatStatement::NotNeeded | VatStatement::RateMissing => None,
        }
    }
}

/// `vat` in euros at the rate of `day` or the last one before it.
pub async fn vat_in_eur(tx: &mut Tx, vat: Money, day: Date) -> Result<VatStatement, ApiError> {
    if !needs_statement(vat) {
        return Ok(VatStatement::NotNeeded);
    }
    let Some(rate) = tx.exchange_rate_on_or_before(vat.currency(), day).await? else {
        return Ok(VatStatement::RateMissing);
    };
    let stated = VatInEur::state(vat, rate.rate, rate.date).map_err(ApiError::internal)?;
    Ok(VatStatement::Stated(stated))
}

/// A credit note's VAT in euros: at the rate of its issue date `day` or the
/// last one before; with none recorded, at the rate its invoice stated
/// (`invoice`), so that a credit note is never held up for a rate; none when
/// neither exists (an invoice that stated no VAT in euros).
pub async fn credit_note_vat_in_eur(
    tx: &mut Tx,
    vat: Money,
    day: Date,
    invoice: Option<VatInEur>,
) -> Result<Option<VatInEur>, ApiError> {
    match vat_in_eur(tx, vat, day).await? {
        VatStatement::NotNeeded => Ok(None),
        VatStatement::Stated(v) => Ok(Some(v)),
        VatStatement::RateMissing => invoice
            .map(|i| VatInEur::state(vat, i.rate, i.rate_date).map_err(ApiError::internal))
            .transpose(),
    }
}

/// The detail of the hold, and of the refusal, when no rate is recorded.
pub fn missing_detail(currency: Currency, day: Date) -> String {
    format!(
        "no {currency} exchange rate is recorded on or before {day}: staff record the ECB rate \
         (PUT /v1/exchange-rates/{currency}/{{date}}) so that the VAT can be stated in euros"
    )
}
