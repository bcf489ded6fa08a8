//! Invoices: composing the invoice of a period from the account's licenses,
//! numbers, consumption and billing address; the upcoming invoice.

use std::collections::BTreeMap;

use time::Date;
use tracing::instrument;

use super::accounts::authorized;
use super::{Ctx, payments};
use crate::domain::account::Account;
use crate::domain::address::{AddressStatus, BillingAddress};
use crate::domain::ids::AccountId;
use crate::domain::invoice::{Composition, Inputs, Item, Period, compose};
use crate::domain::money::Money;
use crate::domain::payment::PaymentMethod;
use crate::domain::role::Need;
use crate::error::ApiError;
use crate::store::{Store, Tx};

/// Every license and number of an account fits in one read.
const ALL: u32 = 1_000_000;

/// The account's billing address for an invoice: the primary one, verified.
async fn billing_address(
    tx: &mut Tx,
    account: &AccountId,
) -> Result<Option<BillingAddress>, ApiError> {
    Ok(tx
        .list_addresses(account, None, 100)
        .await?
        .items
        .into_iter()
        .find(|a| a.primary && a.status == AddressStatus::Verified))
}

async fn price_on(tx: &mut Tx, plan: &str, on: Date) -> Result<Money, ApiError> {
    Ok(tx
        .plan(plan, on)
        .await?
        .ok_or(ApiError::NotFound("plan"))?
        .monthly_price)
}

/// Composes the invoice of `period` for `account` from what is stored now.
pub async fn compose_for(
    tx: &mut Tx,
    account: &Account,
    period: Period,
) -> Result<(Composition, Option<BillingAddress>), ApiError> {
    let mut items = Vec::new();
    let mut activation_prices: BTreeMap<(String, Date), Money> = BTreeMap::new();
    let licenses = tx.list_licenses(&account.id, false, None, ALL).await?.items;
    let numbers = tx.list_phone_numbers(&account.id, None, ALL).await?.items;
    let phone_plan = "PHONE_NUMBER";
    let raw = licenses
        .into_iter()
        .map(|l| {
            (
                false,
                l.plan,
                l.activation_date,
                l.removal_date,
                l.prorated_amount_minor,
            )
        })
        .chain(numbers.into_iter().map(|n| {
            (
                true,
                phone_plan.to_owned(),
                n.activation_date,
                n.removal_date,
                n.prorated_amount_minor,
            )
        }));
    for (phone_number, plan, activation_date, removal_date, prorated_amount_minor) in raw {
        let key = (plan.clone(), activation_date);
        let price_at_activation = match activation_prices.get(&key) {
            Some(p) => *p,
            None => {
                let p = price_on(tx, &plan, activation_date).await?;
                activation_prices.insert(key, p);
                p
            }
        };
        items.push(Item {
            phone_number,
            plan,
            activation_date,
            removal_date,
            prorated_amount_minor,
            price_at_activation,
        });
    }
    let mut prices = BTreeMap::new();
    for item in &items {
        if !prices.contains_key(&item.plan) {
            let price = price_on(tx, &item.plan, period.start()).await?;
            prices.insert(item.plan.clone(), price);
        }
    }
    let previous = period.previous();
    let zone = &account.timezone;
    let (consumption_records, consumption_billable_minor) = tx
        .consumption_billable(
            &account.id,
            zone.start_of(previous.start()),
            zone.start_of(period.start()),
        )
        .await?;
    let address = billing_address(tx, &account.id).await?;
    let inputs = Inputs {
        period,
        currency: account.currency,
        items,
        prices,
        consumption_records,
        consumption_billable_minor,
        buyer_country: address.as_ref().map(|a| a.fields.country),
        buyer_vat_number: address.as_ref().and_then(|a| a.fields.vat_number.clone()),
    };
    let composition = compose(&inputs).map_err(ApiError::internal)?;
    Ok((composition, address))
}

/// What the next billing run would issue, computed now.
pub struct Upcoming {
    pub account: Account,
    pub composition: Composition,
    pub address: Option<BillingAddress>,
    /// The issue date: the 1st of the period.
    pub issue_date: Date,
    /// The default payment method is debited on the issue date.
    pub payment_method: Option<PaymentMethod>,
}

#[instrument(skip_all, fields(account = %account_id))]
pub async fn upcoming(
    store: &Store,
    ctx: &Ctx,
    account_id: &AccountId,
) -> Result<Upcoming, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = authorized(&mut tx, ctx, account_id, Need::Read).await?;
    let today = account.timezone.date_at(ctx.now);
    let period = Period::of(today).next();
    let (composition, address) = compose_for(&mut tx, &account, period).await?;
    let payment_method = payments::usable_default(&mut tx, account_id, ctx.now).await?;
    Ok(Upcoming {
        account,
        composition,
        address,
        issue_date: period.start(),
        payment_method,
    })
}
