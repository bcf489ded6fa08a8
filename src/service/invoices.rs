//! Invoices: composing the invoice of a period from the account's licenses,
//! numbers, consumption and billing address; the upcoming invoice.

use std::collections::BTreeMap;

use time::Date;
use tracing::instrument;

use super::{Authorized, Ctx, PageRequest, payments};
use crate::domain::account::Account;
use crate::domain::address::{AddressStatus, BillingAddress};
use crate::domain::ids::{AccountId, InvoiceId};
use crate::domain::invoice::{Composition, Inputs, Item, Period, compose};
use crate::domain::invoice_payment::Settlement;
use crate::domain::issued::{
    AddressFieldsSnapshot, Invoice, InvoiceStatus, Snapshot, SnapshotLine,
};
use crate::domain::money::{Currency, Money};
use crate::domain::payment::PaymentMethod;
use crate::domain::plan::price_on;
use crate::domain::role::Need;
use crate::domain::seller::Seller;
use crate::error::{ApiError, Code};
use crate::render::Lang;
use crate::store::invoices::InvoiceRow;
use crate::store::outbox::InvoiceEmailRow;
use crate::store::{Page, Store, Tx};

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

/// The catalog's prices on every date: read once per invoice, instead of
/// one query per plan and activation day.
#[derive(Default)]
struct PriceList(BTreeMap<String, (Currency, Vec<(Date, i64)>)>);

impl PriceList {
    async fn load(tx: &mut Tx) -> Result<Self, ApiError> {
        let mut plans: BTreeMap<String, (Currency, Vec<(Date, i64)>)> = BTreeMap::new();
        for p in tx.dated_prices().await? {
            let currency =
                Currency::parse(&p.currency).ok_or_else(|| ApiError::internal("plan currency"))?;
            plans
                .entry(p.plan_code)
                .or_insert_with(|| (currency, Vec::new()))
                .1
                .push((p.effective_from, p.monthly_price_minor));
        }
        Ok(PriceList(plans))
    }

    /// The monthly price of `plan` in force on `on` (prices are oldest first).
    fn on(&self, plan: &str, on: Date) -> Result<Money, ApiError> {
        let (currency, prices) = self.0.get(plan).ok_or(ApiError::NotFound("plan"))?;
        price_on(prices, on)
            .map(|minor| Money::from_minor(minor, *currency))
            .ok_or_else(|| ApiError::internal(format!("no price of {plan} on {on}")))
    }
}

/// Composes the invoice of `period` for `account` from what is stored now.
pub async fn compose_for(
    tx: &mut Tx,
    account: &Account,
    period: Period,
) -> Result<(Composition, Option<BillingAddress>), ApiError> {
    let previous = period.previous();
    // A license removed before the previous month is neither recurring nor
    // prorated on this invoice.
    let groups = tx.billable_groups(&account.id, previous.start()).await?;
    let price_list = if groups.is_empty() {
        PriceList::default()
    } else {
        PriceList::load(tx).await?
    };
    let mut items = Vec::with_capacity(groups.len());
    let mut prices = BTreeMap::new();
    for g in groups {
        if !prices.contains_key(&g.plan_code) {
            let price = price_list.on(&g.plan_code, period.start())?;
            prices.insert(g.plan_code.clone(), price);
        }
        items.push(Item {
            quantity: u32::try_from(g.quantity).map_err(ApiError::internal)?,
            phone_number: g.phone_number,
            price_at_activation: price_list.on(&g.plan_code, g.activation_date)?,
            plan: g.plan_code,
            activation_date: g.activation_date,
            removal_date: g.removal_date,
            prorated_amount_minor: g.prorated_amount_minor,
        });
    }
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
    account_id: &Authorized,
) -> Result<Upcoming, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
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

impl TryFrom<InvoiceRow> for Invoice {
    type Error = ApiError;

    fn try_from(r: InvoiceRow) -> Result<Self, ApiError> {
        let currency =
            Currency::parse(&r.currency).ok_or_else(|| ApiError::internal("currency"))?;
        let status = InvoiceStatus::parse(&r.status)
            .ok_or_else(|| ApiError::internal(format!("invoice status {}", r.status)))?;
        let total = Money::from_minor(r.total_minor, currency);
        Ok(Invoice {
            id: InvoiceId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            number: r.number,
            period: r.period,
            status,
            issue_date: r.issue_date,
            currency,
            subtotal: Money::from_minor(r.subtotal_minor, currency),
            tax: Money::from_minor(r.tax_minor, currency),
            total,
            snapshot: serde_json::from_str(&r.snapshot).map_err(ApiError::internal)?,
            paid_at: r.paid_at,
            voided_at: r.voided_at,
            void_reason: r.void_reason,
            // What was paid is read by `invoice_payments::attach`.
            settlement: Settlement::unpaid(total, status == InvoiceStatus::Void),
        })
    }
}

/// What a billing run did for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Issued {
        number: String,
        invoice_id: InvoiceId,
    },
    AlreadyIssued,
    NothingToBill,
}

/// What a billing run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub issued: Vec<(AccountId, String, InvoiceId)>,
    pub already_issued: usize,
    pub nothing_to_bill: usize,
    /// Accounts whose invoice could not be issued, with why; the run went on.
    pub failed: Vec<(AccountId, String)>,
}

/// Issues the invoice of `period` for every account, one transaction each.
/// Running it again issues nothing twice; an account that fails is reported
/// and the others go on; a failed account's transaction leaves nothing.
#[instrument(skip_all, fields(period = %period))]
pub async fn run(
    store: &Store,
    ctx: &Ctx,
    seller: &Seller,
    period: Period,
) -> Result<RunReport, ApiError> {
    ctx.require(Need::Staff)?;
    let accounts = {
        let mut tx = store.begin_read().await?;
        tx.account_ids().await?
    };
    let mut report = RunReport::default();
    for account in accounts {
        match issue(store, ctx, seller, &account, period).await {
            Ok(Outcome::Issued { number, invoice_id }) => {
                report.issued.push((account, number, invoice_id))
            }
            Ok(Outcome::AlreadyIssued) => report.already_issued += 1,
            Ok(Outcome::NothingToBill) => report.nothing_to_bill += 1,
            // The database went away: the rest would fail the same way.
            // What was issued stays issued; running again issues the rest.
            Err(ApiError::Unavailable) => return Err(ApiError::Unavailable),
            Err(e) => {
                tracing::error!(account = %account, code = e.code().as_str(), cause = %e.cause(), "invoice not issued");
                report.failed.push((account, e.to_string()));
            }
        }
    }
    Ok(report)
}

/// Issues one account's invoice of `period`, in one transaction.
pub async fn issue(
    store: &Store,
    ctx: &Ctx,
    seller: &Seller,
    account_id: &AccountId,
    period: Period,
) -> Result<Outcome, ApiError> {
    let key = period.to_string();
    let mut tx = store.begin_write().await?;
    let account = super::load_account(&mut tx, account_id).await?;
    if tx.invoice_for_period(account_id, &key).await?.is_some() {
        return Ok(Outcome::AlreadyIssued);
    }
    let (c, address) = compose_for(&mut tx, &account, period).await?;
    if c.lines.is_empty() {
        return Ok(Outcome::NothingToBill);
    }
    let payment_method = payments::usable_default(&mut tx, account_id, ctx.now).await?;
    let snapshot = Snapshot {
        seller: seller.clone(),
        account_name: account.name.clone(),
        period_start: period.start(),
        period_end: period.end(),
        lines: c
            .lines
            .iter()
            .map(|l| SnapshotLine {
                kind: l.kind,
                description: l.description.clone(),
                plan: l.plan.clone(),
                quantity: l.quantity,
                unit_amount_minor: l.unit_amount.minor(),
                amount_minor: l.amount.minor(),
                days: l.days,
                days_in_period: l.days_in_period,
            })
            .collect(),
        tax_treatment: c.tax,
        tax_rate: c.tax.rate().normalize().to_string(),
        buyer: address.map(|a| AddressFieldsSnapshot {
            company_name: a.fields.company_name,
            line1: a.fields.line1,
            line2: a.fields.line2,
            postal_code: a.fields.postal_code,
            city: a.fields.city,
            region: a.fields.region,
            country: a.fields.country.code().to_owned(),
            vat_number: a.fields.vat_number,
        }),
        payment_method: payment_method.map(|m| m.masked()),
    };
    let n = tx.next_invoice_number(period.year).await?;
    let number = format!("F-{:04}-{n:06}", period.year);
    let id = InvoiceId::generate();
    let row = InvoiceRow {
        id: id.to_string(),
        account_id: account_id.to_string(),
        number: number.clone(),
        period: key,
        status: InvoiceStatus::Issued.as_str().into(),
        issue_date: period.start(),
        currency: account.currency.code().into(),
        subtotal_minor: c.subtotal.minor(),
        tax_minor: c.tax_amount.minor(),
        total_minor: c.total.minor(),
        snapshot: serde_json::to_string(&snapshot).map_err(ApiError::internal)?,
        created_at: ctx.now,
        paid_at: None,
        voided_at: None,
        void_reason: None,
    };
    match tx.insert_invoice(&row).await {
        Ok(()) => {}
        // Another run issued it meanwhile: this transaction, and the number
        // it took, roll back.
        Err(sqlx::Error::Database(db)) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            return Ok(Outcome::AlreadyIssued);
        }
        Err(e) => return Err(e.into()),
    }
    let emails = super::outbox::queue(&mut tx, &row, Lang::Fr, ctx.now).await?;
    let event = ctx.audit_event(
        Some(account_id),
        "invoice.issued",
        ("invoice", id.as_str()),
        None,
        Some(serde_json::json!({
            "number": number,
            "total_minor": c.total.minor(),
            "emails_queued": emails,
        })),
    );
    super::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Outcome::Issued {
        number,
        invoice_id: id,
    })
}

pub async fn list(
    store: &Store,
    account_id: &Authorized,
    status: Option<InvoiceStatus>,
    from: Option<Date>,
    to: Option<Date>,
    page: &PageRequest,
) -> Result<Page<Invoice>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account_id).await?;
    let rows = tx
        .list_invoices(
            account_id,
            status,
            from,
            to,
            page.after.as_deref(),
            page.limit,
        )
        .await?;
    let mut items: Vec<Invoice> = rows
        .items
        .into_iter()
        .map(Invoice::try_from)
        .collect::<Result<_, _>>()?;
    super::invoice_payments::attach(&mut tx, &mut items).await?;
    Ok(Page {
        items,
        has_more: rows.has_more,
    })
}

pub async fn get(
    store: &Store,
    account_id: &Authorized,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account_id).await?;
    let mut invoice: Invoice = tx
        .invoice(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?
        .try_into()?;
    super::invoice_payments::attach(&mut tx, std::slice::from_mut(&mut invoice)).await?;
    Ok(invoice)
}

/// The emails queued when the invoice was issued, one per recipient, with
/// how their delivery went.
pub async fn emails(
    store: &Store,
    account_id: &Authorized,
    id: &InvoiceId,
    page: &PageRequest,
) -> Result<Page<InvoiceEmailRow>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account_id).await?;
    tx.invoice(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    Ok(tx
        .invoice_emails(id, page.after.as_deref(), page.limit)
        .await?)
}

/// How an issued invoice is closed. (It is paid by the payment that brings
/// its amount due to zero: `invoice_payments`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    Void { reason: String },
}

/// Closes an `issued` invoice in `tx`: void, once. A second attempt is 409
/// `invoice_not_open`. What was paid on it goes to the customer balance.
async fn close(
    tx: &mut Tx,
    ctx: &Ctx,
    row: InvoiceRow,
    closing: Closing,
) -> Result<Invoice, ApiError> {
    let (status, reason) = match &closing {
        Closing::Void { reason } => (InvoiceStatus::Void, Some(reason.as_str())),
    };
    let before = Invoice::try_from(row.clone())?;
    if !tx.close_invoice(&row.id, status, ctx.now, reason).await? {
        return Err(ApiError::rule(
            Code::InvoiceNotOpen,
            format!("invoice {} is {}, not issued", row.number, row.status),
        ));
    }
    let account = AccountId::from_trusted(row.account_id.clone());
    let event = ctx.audit_event(
        Some(&account),
        &format!("invoice.{}", status.as_str()),
        ("invoice", &row.id),
        Some(serde_json::json!({ "status": row.status })),
        Some(serde_json::json!({ "status": status.as_str(), "reason": reason })),
    );
    super::audit::record(tx, event).await?;
    super::invoice_payments::on_void(tx, ctx, &before).await?;
    let id = InvoiceId::from_trusted(row.id);
    let mut invoice: Invoice = tx
        .invoice(&account, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?
        .try_into()?;
    super::invoice_payments::attach(tx, std::slice::from_mut(&mut invoice)).await?;
    Ok(invoice)
}

/// Staff: voids an issued invoice with a reason.
pub async fn close_by_staff(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    id: &InvoiceId,
    closing: Closing,
) -> Result<Invoice, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account_id).await?;
    tx.lock_account(account_id).await?;
    let row = tx
        .invoice(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let invoice = close(&mut tx, ctx, row, closing).await?;
    tx.commit().await?;
    Ok(invoice)
}
