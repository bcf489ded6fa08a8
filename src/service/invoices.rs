//! Invoices: composing the invoice of a period from the account's licenses,
//! numbers, consumption and billing address; the upcoming invoice.

use time::{Date, OffsetDateTime};
use tracing::instrument;

use super::events::{self, Object};
use super::exchange_rates::{self, VatStatement};
use super::issuing::{billing_address, snapshot, tax_for};
use super::{Authorized, Ctx, PageRequest, payments};
use crate::domain::account::Account;
use crate::domain::address::BillingAddress;
use crate::domain::event::EventType;
use crate::domain::exchange::VatInEur;
use crate::domain::ids::{AccountId, InvoiceId};
use crate::domain::invoice::{Charge, Composition, Inputs, Item, MonthUsage, Period, compose};
use crate::domain::invoice_payment::Settlement;
use crate::domain::issued::{
    Deduction, Hold, HoldReason, Invoice, InvoiceKind, InvoiceStatus, Snapshot,
};
use crate::domain::money::{Currency, Money};
use crate::domain::payment::PaymentMethod;
use crate::domain::plan::PriceList;
use crate::domain::role::Need;
use crate::domain::seller::Seller;
use crate::domain::tax::Tax;
use crate::error::{ApiError, Code};
use crate::render::Lang;
use crate::store::invoices::{DraftRow, InvoiceRow};
use crate::store::outbox::InvoiceEmailRow;
use crate::store::{Page, Store, Tx};
use crate::vies::Vies;

/// Why a draft composed from `address` cannot be finalized on `day`, if it
/// cannot: no verified primary address, or a VAT number that decides
/// reverse charge with no conclusive check.
fn hold_for(address: Option<&BillingAddress>, day: Date) -> Option<Hold> {
    let Some(address) = address else {
        return Some(Hold {
            reason: HoldReason::BillingAddressUnverified,
            detail: "the account has no verified primary billing address: its VAT treatment \
                     cannot be decided (staff verify one, then the draft is issued)"
                .into(),
        });
    };
    super::vat_checks::unchecked(address, day).map(|detail| Hold {
        reason: HoldReason::VatNumberUnchecked,
        detail,
    })
}

/// The catalog's prices in `currency` on every date, read once per
/// invoice: an invoice is priced in its account's currency only.
async fn price_list(tx: &mut Tx, currency: Currency) -> Result<PriceList, ApiError> {
    let mut prices = PriceList::default();
    for p in tx.dated_prices(currency).await? {
        let currency =
            Currency::parse(&p.currency).ok_or_else(|| ApiError::internal("plan currency"))?;
        prices.insert(
            &p.plan_code,
            p.effective_from,
            Money::from_minor(p.monthly_price_minor, currency),
        );
    }
    Ok(prices)
}

/// The account's unbilled out-of-plan consumption before `period`'s 1st
/// (in its timezone), by month, oldest first: what credits did not cover
/// and what they paid, both billed.
async fn unbilled_usage(
    tx: &mut Tx,
    account: &Account,
    period: Period,
) -> Result<Vec<MonthUsage>, ApiError> {
    let zone = &account.timezone;
    let cutoff = zone.start_of(period.start());
    let Some(earliest) = tx
        .earliest_unbilled_consumption(&account.id, cutoff)
        .await?
    else {
        return Ok(Vec::new());
    };
    let mut month = Period::of(zone.date_at(earliest));
    let mut usage = Vec::new();
    while month < period {
        let (records, billable_minor, covered_minor) = tx
            .consumption_unbilled(
                &account.id,
                zone.start_of(month.start()),
                zone.start_of(month.next().start()),
            )
            .await?;
        if billable_minor > 0 || covered_minor > 0 {
            usage.push(MonthUsage {
                month,
                records,
                billable_minor,
                covered_minor,
            });
        }
        month = month.next();
    }
    Ok(usage)
}

/// What the invoice of `period` bills for `account` if it were finalized
/// now: everything still unbilled that is due by the period's 1st.
pub struct Composed {
    pub composition: Composition,
    pub address: Option<BillingAddress>,
    /// The one-off charges it bills.
    pub charge_ids: Vec<String>,
    /// Why it cannot be finalized now, if it cannot.
    pub hold: Option<Hold>,
    /// For an invoice in another currency than EUR with VAT: its VAT in
    /// euros at the rate of `issue_date` or the last one before; none
    /// without a rate (it is then held) or while its VAT is provisional.
    pub vat_in_eur: Option<VatInEur>,
}

/// Composes the invoice of `period` for `account` from what is stored now,
/// as it would be issued on `issue_date` (the VAT rates in force then).
pub async fn compose_for(
    tx: &mut Tx,
    account: &Account,
    period: Period,
    issue_date: Date,
) -> Result<Composed, ApiError> {
    let groups = tx.billable_groups(&account.id, period.start()).await?;
    let prices = if groups.is_empty() {
        PriceList::default()
    } else {
        price_list(tx, account.currency).await?
    };
    let mut items = Vec::with_capacity(groups.len());
    for g in groups {
        // Buying refuses a plan not priced in the account's currency
        // (`plan_not_priced_in_currency`): a billed item without one is a bug.
        let price_at_activation = prices
            .on(&g.plan_code, account.currency, g.activation_date)
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "no price of {} in {} on {}",
                    g.plan_code, account.currency, g.activation_date
                ))
            })?;
        items.push(Item {
            quantity: u32::try_from(g.quantity).map_err(ApiError::internal)?,
            phone_number: g.phone_number,
            price_at_activation,
            plan: g.plan_code,
            activation_date: g.activation_date,
            removal_date: g.removal_date,
            prorated_amount_minor: g.prorated_amount_minor,
            proration_due: g.proration_due,
            billed_until: g.billed_until,
        });
    }
    let consumption = unbilled_usage(tx, account, period).await?;
    let (charges, charge_ids) = unbilled_charges(tx, account).await?;
    let address = billing_address(tx, &account.id).await?;
    let decided = tax_for(address.as_ref(), issue_date);
    let hold = hold_for(address.as_ref(), issue_date);
    let inputs = Inputs {
        period,
        currency: account.currency,
        items,
        prices,
        consumption,
        charges,
        // Shown until an address is verified; never issued so.
        tax: decided.unwrap_or_else(Tax::provisional),
    };
    let composition = compose(&inputs).map_err(ApiError::internal)?;
    // A non-EUR invoice states its VAT in euros (CGI art. 289-IV): without a
    // rate of its currency on or before the issue date it is not issued.
    let (vat_in_eur, hold) = match hold {
        Some(hold) => (None, Some(hold)),
        None => match exchange_rates::vat_in_eur(tx, composition.tax_amount, issue_date).await? {
            VatStatement::RateMissing => (
                None,
                Some(Hold {
                    reason: HoldReason::ExchangeRateMissing,
                    detail: exchange_rates::missing_detail(account.currency, issue_date),
                }),
            ),
            statement => (statement.stated(), None),
        },
    };
    Ok(Composed {
        composition,
        address,
        charge_ids,
        hold,
        vat_in_eur,
    })
}

/// The account's one-off charges not billed yet, oldest first, with their ids.
async fn unbilled_charges(
    tx: &mut Tx,
    account: &Account,
) -> Result<(Vec<Charge>, Vec<String>), ApiError> {
    let rows = tx.unbilled_charges(&account.id).await?;
    let mut charges = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        let currency =
            Currency::parse(&r.currency).ok_or_else(|| ApiError::internal("charge currency"))?;
        charges.push(Charge {
            description: r.description,
            unit_amount: Money::from_minor(r.unit_amount_minor, currency),
            quantity: u32::try_from(r.quantity).map_err(ApiError::internal)?,
        });
        ids.push(r.id);
    }
    Ok((charges, ids))
}

/// The day a draft would be issued if it were finalized at `ctx.now`: today,
/// or the end of its grace period.
fn draft_issue_date(ctx: &Ctx, account: &Account, draft: &DraftRow) -> Date {
    let zone = &account.timezone;
    zone.date_at(ctx.now)
        .max(zone.date_at(draft.finalize_after))
}

/// A draft as it reads now: composed from what is unbilled at `ctx.now`.
async fn draft_invoice(
    tx: &mut Tx,
    ctx: &Ctx,
    seller: &Seller,
    account: &Account,
    draft: &DraftRow,
) -> Result<Invoice, ApiError> {
    let period = Period::parse(&draft.period)
        .ok_or_else(|| ApiError::internal(format!("draft period {}", draft.period)))?;
    let issue_date = draft_issue_date(ctx, account, draft);
    let composed = compose_for(tx, account, period, issue_date).await?;
    draft_composed(tx, ctx, seller, account, draft, issue_date, composed).await
}

/// [`draft_invoice`] from its composition as of `issue_date`.
async fn draft_composed(
    tx: &mut Tx,
    ctx: &Ctx,
    seller: &Seller,
    account: &Account,
    draft: &DraftRow,
    issue_date: Date,
    composed: Composed,
) -> Result<Invoice, ApiError> {
    let Composed {
        composition: c,
        address,
        hold,
        vat_in_eur,
        ..
    } = composed;
    let payment_method = payments::usable_default(tx, &account.id, ctx.now).await?;
    let mut snapshot = snapshot(seller, account, &c, address, payment_method);
    // What it would state if it were issued on its issue date.
    snapshot.vat_in_eur = vat_in_eur;
    // What prepaid credits and the balance would deduct if it were
    // finalized now.
    snapshot.prepaid = super::advance::planned(tx, &account.id, &c).await?;
    let due = after_prepaid(c.total, &snapshot.prepaid)?;
    snapshot.deductions = super::invoice_payments::planned_deductions(tx, &account.id, due)
        .await?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    Ok(Invoice {
        id: InvoiceId::from_trusted(draft.id.clone()),
        account_id: account.id.clone(),
        number: None,
        kind: InvoiceKind::Period,
        period: draft.period.clone(),
        status: InvoiceStatus::Draft,
        issue_date,
        currency: account.currency,
        subtotal: c.subtotal,
        tax: c.tax_amount,
        total: c.total,
        snapshot,
        paid_at: None,
        voided_at: None,
        void_reason: None,
        settlement: Settlement::unpaid(c.total, false),
        hold,
        e_invoice: None,
    })
}

/// What the next billing run would issue, computed now; or the account's
/// current draft, recomputed, when a run made one.
pub struct Upcoming {
    pub account: Account,
    pub composition: Composition,
    pub address: Option<BillingAddress>,
    /// The current draft's id, when the upcoming invoice is a draft.
    pub draft_id: Option<InvoiceId>,
    /// The issue date: the period's 1st, or for a draft the day it will be
    /// finalized at the earliest.
    pub issue_date: Date,
    /// The default payment method is debited on the issue date.
    pub payment_method: Option<PaymentMethod>,
    /// What prepaid credits paid of its consumption, deducted if issued now.
    pub prepaid: Vec<crate::domain::advance::Prepaid>,
    /// What the customer balance would deduct from it if issued now.
    pub deductions: Vec<crate::domain::issued::Deduction>,
    /// Its VAT in euros at the last rate recorded on or before the issue
    /// date, for an invoice in another currency.
    pub vat_in_eur: Option<VatInEur>,
    /// Why it could not be issued now, if it could not.
    pub hold: Option<Hold>,
}

/// What is left of `total` once prepaid credits are deducted.
fn after_prepaid(
    total: Money,
    prepaid: &[crate::domain::advance::Prepaid],
) -> Result<Money, ApiError> {
    total
        .checked_sub(Money::from_minor(
            crate::domain::advance::total(prepaid),
            total.currency(),
        ))
        .map_err(ApiError::internal)
}

#[instrument(skip_all, fields(account = %account_id))]
pub async fn upcoming(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
) -> Result<Upcoming, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let zone = &account.timezone;
    let today = zone.date_at(ctx.now);
    let draft = tx
        .drafts_of(account_id, None)
        .await?
        .into_iter()
        .max_by(|a, b| a.period.cmp(&b.period));
    let (period, draft_id, issue_date) = match &draft {
        Some(d) => (
            Period::parse(&d.period)
                .ok_or_else(|| ApiError::internal(format!("draft period {}", d.period)))?,
            Some(InvoiceId::from_trusted(d.id.clone())),
            today.max(zone.date_at(d.finalize_after)),
        ),
        None => {
            let period = Period::of(today).next();
            (period, None, period.start())
        }
    };
    let Composed {
        composition,
        address,
        hold,
        vat_in_eur,
        ..
    } = compose_for(&mut tx, &account, period, issue_date).await?;
    let payment_method = payments::usable_default(&mut tx, account_id, ctx.now).await?;
    let prepaid = super::advance::planned(&mut tx, account_id, &composition).await?;
    let due = after_prepaid(composition.total, &prepaid)?;
    let deductions = super::invoice_payments::planned_deductions(&mut tx, account_id, due)
        .await?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    Ok(Upcoming {
        account,
        composition,
        address,
        draft_id,
        issue_date,
        payment_method,
        prepaid,
        deductions,
        vat_in_eur,
        hold,
    })
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = ApiError;

    fn try_from(r: InvoiceRow) -> Result<Self, ApiError> {
        let currency =
            Currency::parse(&r.currency).ok_or_else(|| ApiError::internal("currency"))?;
        let status = InvoiceStatus::parse(&r.status)
            .ok_or_else(|| ApiError::internal(format!("invoice status {}", r.status)))?;
        let kind = InvoiceKind::parse(&r.kind)
            .ok_or_else(|| ApiError::internal(format!("invoice kind {}", r.kind)))?;
        let total = Money::from_minor(r.total_minor, currency);
        Ok(Invoice {
            id: InvoiceId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            number: Some(r.number),
            kind,
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
            hold: None,
            e_invoice: None,
        })
    }
}

/// The earliest instant a period begins anywhere (UTC+14, Kiribati).
fn begins_anywhere(period: Period) -> OffsetDateTime {
    period
        .start()
        .midnight()
        .assume_offset(time::UtcOffset::from_hms(14, 0, 0).expect("a valid offset"))
}

/// What a billing run did for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Issued {
        number: String,
        invoice_id: InvoiceId,
    },
    /// A draft, finalized when its grace period ends.
    Drafted {
        invoice_id: InvoiceId,
    },
    AlreadyIssued,
    /// A draft of the period exists already.
    AlreadyDrafted {
        invoice_id: InvoiceId,
        due: bool,
    },
    NothingToBill,
    /// The period's 1st has not begun in the account's timezone.
    NotStarted,
    /// A draft that cannot be finalized yet, and why.
    Held {
        invoice_id: InvoiceId,
        hold: Hold,
    },
}

/// What a billing run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub issued: Vec<(AccountId, String, InvoiceId)>,
    /// Drafts made, finalized when the grace period ends.
    pub drafted: Vec<(AccountId, InvoiceId)>,
    pub already_issued: usize,
    pub already_drafted: usize,
    pub nothing_to_bill: usize,
    /// Accounts skipped: the period's 1st has not begun in their timezone.
    pub not_started: Vec<AccountId>,
    /// Drafts that could not be finalized, and why.
    pub held: Vec<(AccountId, InvoiceId, Hold)>,
    /// Accounts whose invoice could not be made, with why; the run went on.
    pub failed: Vec<(AccountId, String)>,
}

/// How invoices are made: who issues them, how long drafts wait, and the
/// VIES client that checks a reverse-charge buyer's VAT number before its
/// invoice is finalized.
#[derive(Debug, Clone)]
pub struct Billing {
    pub seller: Seller,
    pub grace: time::Duration,
    /// `None`: VIES is never asked (the demo, whose buyer is French); a VAT
    /// number without a conclusive check then holds its draft as usual.
    pub vies: Option<Vies>,
    /// Where issued documents' e-invoice files are written.
    pub files: crate::store::blobs::BlobStore,
}

impl Billing {
    /// Who issues documents outside a billing run (credit notes, acomptes).
    pub fn issuer(&self) -> super::issuing::Issuer {
        super::issuing::Issuer {
            seller: self.seller.clone(),
            files: self.files.clone(),
        }
    }
}

/// Bills `period` for every account (or `only` these), one transaction
/// each: a draft per account with something to bill, finalized at once
/// when there is no grace period. Running it again makes nothing twice; an
/// account that fails is reported and the others go on. Refused (422
/// `period_not_started`) when the period's 1st has begun nowhere; accounts
/// where it has not begun yet are skipped and reported.
#[instrument(skip_all, fields(period = %period))]
pub async fn run(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    period: Period,
    only: Option<&[AccountId]>,
) -> Result<RunReport, ApiError> {
    ctx.require(Need::Staff)?;
    if ctx.now < begins_anywhere(period) {
        return Err(ApiError::rule(
            Code::PeriodNotStarted,
            format!("{period} has not begun anywhere yet: a period is billed from its 1st"),
        ));
    }
    let accounts = match only {
        Some(ids) => ids.to_vec(),
        None => {
            let mut tx = store.begin_read().await?;
            tx.account_ids(None).await?
        }
    };
    let mut report = RunReport::default();
    for account in accounts {
        match bill(store, ctx, billing, &account, period).await {
            Ok(Outcome::Issued { number, invoice_id }) => {
                report.issued.push((account, number, invoice_id))
            }
            Ok(Outcome::Drafted { invoice_id }) => report.drafted.push((account, invoice_id)),
            Ok(Outcome::AlreadyIssued) => report.already_issued += 1,
            Ok(Outcome::AlreadyDrafted { .. }) => report.already_drafted += 1,
            Ok(Outcome::NothingToBill) => report.nothing_to_bill += 1,
            Ok(Outcome::NotStarted) => report.not_started.push(account),
            Ok(Outcome::Held { invoice_id, hold }) => report.held.push((account, invoice_id, hold)),
            // The database went away: the rest would fail the same way.
            // What was issued stays issued; running again issues the rest.
            Err(ApiError::Unavailable) => return Err(ApiError::Unavailable),
            Err(e) => {
                tracing::error!(account = %account, code = e.code().as_str(), cause = %e.cause(), "invoice not made");
                report.failed.push((account, e.to_string()));
            }
        }
    }
    Ok(report)
}

/// Bills one account's `period`: a draft, finalized at once without a
/// grace period (what the demo and a run without grace do).
pub async fn bill(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    account_id: &AccountId,
    period: Period,
) -> Result<Outcome, ApiError> {
    let outcome = draft(store, ctx, billing, account_id, period).await?;
    match outcome {
        // Without a grace period, a draft is issued at once; so is one a
        // crash or an earlier run left behind, once its own grace is over.
        Outcome::Drafted { invoice_id }
        | Outcome::AlreadyDrafted {
            invoice_id,
            due: true,
        } if billing.grace.is_zero() => {
            match finalize(store, ctx, billing, &invoice_id, Empty::Discard).await? {
                Finalized::Issued(i) => Ok(Outcome::Issued {
                    number: i.number.unwrap_or_default(),
                    invoice_id,
                }),
                Finalized::Discarded => Ok(Outcome::NothingToBill),
                // Finalized (or discarded) by another server's finalizer
                // meanwhile: say which.
                Finalized::Gone => {
                    let mut tx = store.begin_read().await?;
                    let issued = tx
                        .invoice_for_period(account_id, &period.to_string())
                        .await?
                        .is_some();
                    Ok(if issued {
                        Outcome::AlreadyIssued
                    } else {
                        Outcome::NothingToBill
                    })
                }
                Finalized::Held(hold) => Ok(Outcome::Held { invoice_id, hold }),
            }
        }
        other => Ok(other),
    }
}

/// Makes the draft of `period` for one account, in one transaction, with
/// its `invoice.draft_created` event.
async fn draft(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    account_id: &AccountId,
    period: Period,
) -> Result<Outcome, ApiError> {
    let grace = billing.grace;
    let key = period.to_string();
    let mut tx = store.begin_write().await?;
    let account = super::load_account(&mut tx, account_id).await?;
    if account.timezone.start_of(period.start()) > ctx.now {
        return Ok(Outcome::NotStarted);
    }
    if tx.invoice_for_period(account_id, &key).await?.is_some() {
        return Ok(Outcome::AlreadyIssued);
    }
    if let Some(d) = tx.draft_for_period(account_id, &key).await? {
        return Ok(Outcome::AlreadyDrafted {
            invoice_id: InvoiceId::from_trusted(d.id),
            due: d.finalize_after <= ctx.now,
        });
    }
    let today = account.timezone.date_at(ctx.now);
    let composed = compose_for(&mut tx, &account, period, today).await?;
    if composed.composition.lines.is_empty() {
        return Ok(Outcome::NothingToBill);
    }
    let id = InvoiceId::generate();
    let row = DraftRow {
        id: id.to_string(),
        account_id: account_id.to_string(),
        period: key,
        // UTC: SQLite compares instants as text.
        created_at: ctx.now.to_offset(time::UtcOffset::UTC),
        finalize_after: (ctx.now + grace).to_offset(time::UtcOffset::UTC),
    };
    match tx.insert_draft(&row).await {
        Ok(()) => {}
        // Another run made it meanwhile.
        Err(sqlx::Error::Database(db)) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            return Ok(Outcome::AlreadyDrafted {
                invoice_id: id,
                due: false,
            });
        }
        Err(e) => return Err(e.into()),
    }
    let event = ctx.audit_event(
        Some(account_id),
        "invoice.drafted",
        ("invoice", id.as_str()),
        None,
        Some(serde_json::json!({
            "period": row.period,
            "finalize_after": row.finalize_after.format(&time::format_description::well_known::Rfc3339).map_err(ApiError::internal)?,
        })),
    );
    super::audit::record(&mut tx, event).await?;
    // The draft as the API shows it: composed as of the day it would be
    // issued (today without a grace period: the composition above).
    let issue_date = draft_issue_date(ctx, &account, &row);
    let composed = if issue_date == today {
        composed
    } else {
        compose_for(&mut tx, &account, period, issue_date).await?
    };
    // Just made, it has no payment, failure or credit note to attach.
    let shown = draft_composed(
        &mut tx,
        ctx,
        &billing.seller,
        &account,
        &row,
        issue_date,
        composed,
    )
    .await?;
    events::emit(
        &mut tx,
        ctx.now,
        account_id,
        EventType::InvoiceDraftCreated,
        Object::Invoice(&shown, None),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Drafted { invoice_id: id })
}

/// What to do with a draft that has nothing to bill when it is finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Delete it (the finalizer: it would never bill anything).
    Discard,
    /// Refuse, 409 `draft_empty`, and keep it (staff asked for this one).
    Refuse,
}

/// What finalizing a draft did.
#[derive(Debug, Clone)]
pub enum Finalized {
    Issued(Box<Invoice>),
    /// It had nothing to bill: deleted.
    Discarded,
    /// It was finalized or discarded by someone else meanwhile.
    Gone,
    /// It cannot be finalized yet: it stays a draft.
    Held(Hold),
}

/// Before the finalizing transaction, with no lock held across the
/// network: the buyer's VAT number, when it decides reverse charge and its
/// last conclusive check is absent or older than 30 days, is checked in
/// VIES again and the answer stored on the address.
async fn refresh_vat_check(
    store: &Store,
    ctx: &Ctx,
    vies: &Vies,
    id: &InvoiceId,
) -> Result<(), ApiError> {
    let (address, day) = {
        let mut tx = store.begin_read().await?;
        let Some(d) = tx.draft_by_id(id.as_str()).await? else {
            return Ok(());
        };
        let account_id = AccountId::from_trusted(d.account_id);
        let account = super::load_account(&mut tx, &account_id).await?;
        let Some(address) = billing_address(&mut tx, &account_id).await? else {
            return Ok(());
        };
        (address, account.timezone.date_at(ctx.now))
    };
    super::vat_checks::refresh(store, ctx, vies, &address, day).await
}

/// What a draft becomes if it is finalized now: computed in the issuing
/// transaction, or ahead of it in a read-only one that prepares its
/// e-invoice.
enum Plan {
    /// Finalized or discarded by someone else meanwhile.
    Gone,
    /// Nothing to bill.
    Empty(DraftRow),
    Held(Hold),
    Issue(Box<Issue>),
}

/// Everything an issued draft is made of, but its number.
struct Issue {
    draft: DraftRow,
    account: Account,
    period: Period,
    issue_date: Date,
    composition: Composition,
    charge_ids: Vec<String>,
    snapshot: Snapshot,
    deductions: Vec<(String, Deduction)>,
    /// The prepaid acomptes and the customer balance pay all of it.
    covered: bool,
}

impl Issue {
    /// The invoice's row with `n`, its number in the issue date's year.
    fn row(&self, n: i64, ctx: &Ctx) -> Result<InvoiceRow, ApiError> {
        let c = &self.composition;
        Ok(InvoiceRow {
            id: self.draft.id.clone(),
            account_id: self.account.id.to_string(),
            number: self
                .account
                .series()
                .invoice_number(self.issue_date.year(), n),
            kind: InvoiceKind::Period.as_str().into(),
            period: self.draft.period.clone(),
            status: InvoiceStatus::Issued.as_str().into(),
            issue_date: self.issue_date,
            currency: self.account.currency.code().into(),
            subtotal_minor: c.subtotal.minor(),
            tax_minor: c.tax_amount.minor(),
            total_minor: c.total.minor(),
            snapshot: serde_json::to_string(&self.snapshot).map_err(ApiError::internal)?,
            created_at: ctx.now,
            paid_at: None,
            voided_at: None,
            void_reason: None,
        })
    }
}

/// What draft `id` becomes if finalized now, from what `tx` sees.
async fn plan(tx: &mut Tx, ctx: &Ctx, seller: &Seller, id: &InvoiceId) -> Result<Plan, ApiError> {
    let Some(d) = tx.draft_by_id(id.as_str()).await? else {
        return Ok(Plan::Gone);
    };
    let account_id = AccountId::from_trusted(d.account_id.clone());
    let account = super::load_account(tx, &account_id).await?;
    let period = Period::parse(&d.period)
        .ok_or_else(|| ApiError::internal(format!("draft period {}", d.period)))?;
    let issue_date = account.timezone.date_at(ctx.now);
    let Composed {
        composition: c,
        address,
        charge_ids,
        hold,
        vat_in_eur,
    } = compose_for(tx, &account, period, issue_date).await?;
    if c.lines.is_empty() {
        return Ok(Plan::Empty(d));
    }
    if let Some(hold) = hold {
        return Ok(Plan::Held(hold));
    }
    let payment_method = payments::usable_default(tx, &account_id, ctx.now).await?;
    let mut snapshot = snapshot(seller, &account, &c, address, payment_method);
    snapshot.vat_in_eur = vat_in_eur;
    // What prepaid credits paid of the consumption (the acomptes drawn on),
    // then the customer balance (credit notes, overpayments), are deducted
    // from the amount due, under the totals.
    snapshot.prepaid = super::advance::planned(tx, &account_id, &c).await?;
    let due = after_prepaid(c.total, &snapshot.prepaid)?;
    let deductions = super::invoice_payments::planned_deductions(tx, &account_id, due).await?;
    snapshot.deductions = deductions.iter().map(|(_, d)| d.clone()).collect();
    let deducted: i64 = deductions.iter().map(|(_, d)| d.amount_minor).sum::<i64>()
        + crate::domain::advance::total(&snapshot.prepaid);
    let covered = deducted > 0 && deducted >= c.total.minor();
    Ok(Plan::Issue(Box::new(Issue {
        draft: d,
        account,
        period,
        issue_date,
        composition: c,
        charge_ids,
        snapshot,
        deductions,
        covered,
    })))
}

/// Finalizes a draft in one transaction: its number from the sequence of
/// the issue date's year, the issue date (today in the account's
/// timezone), the frozen snapshot, every item it bills marked billed by it,
/// its e-invoice stored, its emails queued and an audit event. A crash at
/// any point leaves the draft as it was or the whole invoice, never a used
/// number without one. The buyer's VAT check is refreshed first, outside
/// the transaction (every finalizer passes here: billing runs, the worker,
/// the CLI and staff).
pub async fn finalize(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    id: &InvoiceId,
    empty: Empty,
) -> Result<Finalized, ApiError> {
    if let Some(vies) = &billing.vies {
        refresh_vat_check(store, ctx, vies, id).await?;
    }
    Ok(issue(store, ctx, billing, id, empty, None).await?.0)
}

/// A draft's e-invoice prepared ahead of its issuing transaction, for the
/// invoice it was expected to become.
pub struct Ahead {
    row: InvoiceRow,
    files: super::einvoices::Prepared,
}

impl Ahead {
    /// The number it was prepared with.
    pub fn number(&self) -> &str {
        &self.row.number
    }
}

/// The numbers a finalizer expects the next drafts it prepares to get, per
/// series (a test clock's or the live one) and year: read from the database
/// for the first one, then counted.
#[derive(Debug, Default)]
pub struct NextNumbers(
    std::collections::HashMap<(Option<crate::domain::ids::TestClockId>, i32), i64>,
);

/// Refreshes the draft's VAT check, then renders and writes the e-invoice
/// of the invoice it would become with number `n` (the next one of its
/// year, as the caller predicts it), without taking the write lock. `None`
/// when it would not be issued.
pub async fn prepare(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    id: &InvoiceId,
    next: &mut NextNumbers,
) -> Result<Option<Ahead>, ApiError> {
    if let Some(vies) = &billing.vies {
        refresh_vat_check(store, ctx, vies, id).await?;
    }
    let (issue, n) = {
        let mut tx = store.begin_read().await?;
        let Plan::Issue(issue) = plan(&mut tx, ctx, &billing.seller, id).await? else {
            return Ok(None);
        };
        let key = (issue.account.test_clock_id.clone(), issue.issue_date.year());
        let n = match next.0.get(&key) {
            Some(n) => *n,
            None => {
                tx.last_invoice_number(issue.account.series(), key.1)
                    .await?
                    + 1
            }
        };
        (issue, n)
    };
    next.0.insert(
        (issue.account.test_clock_id.clone(), issue.issue_date.year()),
        n + 1,
    );
    let row = issue.row(n, ctx)?;
    let invoice = Invoice::try_from(row.clone())?;
    let files = super::einvoices::prepare(
        &billing.files,
        super::einvoices::Issued::Invoice(&invoice),
        issue.account.invoice_language.into(),
        ctx.now,
    )
    .await?;
    Ok(Some(Ahead { row, files }))
}

/// The issuing transaction of [`finalize`]; `ahead`, the e-invoice
/// prepared for it, is used when the invoice is exactly the one it was
/// prepared for (else it is rendered here, inside the transaction); the
/// flag says whether it was.
pub async fn issue(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    id: &InvoiceId,
    empty: Empty,
    ahead: Option<Ahead>,
) -> Result<(Finalized, bool), ApiError> {
    let mut tx = store.begin_write().await?;
    let Some(found) = tx.draft_by_id(id.as_str()).await? else {
        return Ok((Finalized::Gone, false));
    };
    let account_id = AccountId::from_trusted(found.account_id);
    // Finalizers of one account queue here; ingestion of its consumption
    // holds the credits' lock while it writes records: what is composed
    // below is what gets marked billed.
    tx.lock_account(&account_id).await?;
    tx.lock_credits(&account_id).await?;
    let issue = match plan(&mut tx, ctx, &billing.seller, id).await? {
        Plan::Gone => return Ok((Finalized::Gone, false)),
        Plan::Held(hold) => return Ok((Finalized::Held(hold), false)),
        Plan::Empty(d) => {
            if empty == Empty::Refuse {
                return Err(ApiError::rule(
                    Code::DraftEmpty,
                    format!(
                        "the draft of {} has nothing to bill: it is not issued",
                        d.period
                    ),
                ));
            }
            tx.delete_draft(&d.id).await?;
            let event = ctx.audit_event(
                Some(&account_id),
                "invoice.draft_discarded",
                ("invoice", &d.id),
                Some(serde_json::json!({ "period": d.period })),
                None,
            );
            super::audit::record(&mut tx, event).await?;
            tx.commit().await?;
            return Ok((Finalized::Discarded, false));
        }
        Plan::Issue(issue) => issue,
    };
    let Issue {
        ref draft,
        ref account,
        period,
        issue_date,
        composition: ref c,
        ref charge_ids,
        ref snapshot,
        ref deductions,
        covered,
    } = *issue;
    let year = issue_date.year();
    let n = tx.next_invoice_number(account.series(), year).await?;
    let row = issue.row(n, ctx)?;
    let number = row.number.clone();
    tx.insert_invoice(&row).await?;
    super::advance::deduct(
        &mut tx,
        ctx,
        &row.id,
        &account_id,
        &snapshot.prepaid,
        account.currency,
    )
    .await?;
    super::invoice_payments::deduct(
        &mut tx,
        ctx,
        &row.id,
        &account_id,
        deductions,
        account.currency,
    )
    .await?;
    if covered {
        tx.close_invoice(&row.id, InvoiceStatus::Paid, ctx.now, None)
            .await?;
    }
    tx.delete_draft(&draft.id).await?;
    tx.bill_items(&account_id, period.start(), period.next().start(), &row.id)
        .await?;
    tx.bill_consumption(
        &account_id,
        account.timezone.start_of(period.start()),
        &row.id,
    )
    .await?;
    bill_charges(&mut tx, &account_id, &row.id, charge_ids).await?;
    let issued = Invoice::try_from(row.clone())?;
    let prepared = ahead.filter(|a| a.row == row).map(|a| a.files);
    let used_ahead = super::einvoices::on_issued_prepared(
        &mut tx,
        &billing.files,
        super::einvoices::Issued::Invoice(&issued),
        ctx.now,
        prepared,
    )
    .await?;
    let emails = super::outbox::queue(&mut tx, &row, Lang::Fr, ctx.now).await?;
    let event = ctx.audit_event(
        Some(&account_id),
        "invoice.issued",
        ("invoice", &row.id),
        None,
        Some(serde_json::json!({
            "number": number,
            "issue_date": issue_date.to_string(),
            "total_minor": c.total.minor(),
            "emails_queued": emails,
        })),
    );
    super::audit::record(&mut tx, event).await?;
    let mut invoice = Invoice::try_from(row)?;
    if covered {
        invoice.status = InvoiceStatus::Paid;
        invoice.paid_at = Some(ctx.now);
    }
    // What the deductions paid of it.
    super::invoice_payments::attach(&mut tx, std::slice::from_mut(&mut invoice)).await?;
    super::invoice_payments::emit_issued(&mut tx, ctx.now, &invoice).await?;
    tx.commit().await?;
    Ok((Finalized::Issued(Box::new(invoice)), used_ahead))
}

/// Marks the one-off charges an invoice bills.
async fn bill_charges(
    tx: &mut Tx,
    account: &AccountId,
    invoice: &str,
    ids: &[String],
) -> Result<(), ApiError> {
    // The account is locked: no charge was deleted or billed meanwhile.
    let billed = tx.bill_charges(account, invoice, ids).await?;
    if billed != ids.len() as u64 {
        return Err(ApiError::internal(format!(
            "{billed} of {} charges marked billed",
            ids.len()
        )));
    }
    Ok(())
}

/// Staff: finalize one draft now, whatever its grace period.
pub async fn finalize_by_staff(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    account_id: &Authorized,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    {
        let mut tx = store.begin_read().await?;
        super::accounts::load(&mut tx, account_id).await?;
        let draft = tx.draft_by_id(id.as_str()).await?;
        if draft.is_none_or(|d| d.account_id != account_id.as_str()) {
            return match tx.invoice(account_id, id).await? {
                Some(i) => Err(ApiError::rule(
                    Code::InvoiceNotDraft,
                    format!(
                        "invoice {} is {}: only a draft is finalized",
                        i.number, i.status
                    ),
                )),
                None => Err(ApiError::NotFound("invoice")),
            };
        }
    }
    match finalize(store, ctx, billing, id, Empty::Refuse).await? {
        Finalized::Issued(invoice) => Ok(*invoice),
        // Finalized by the finalizer meanwhile: it is what staff asked for.
        Finalized::Gone | Finalized::Discarded => {
            get(store, ctx, &billing.seller, account_id, id).await
        }
        Finalized::Held(hold) => Err(ApiError::rule(hold.reason.into(), hold.detail)),
    }
}

/// What a finalizer pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FinalizeReport {
    pub issued: Vec<String>,
    pub discarded: usize,
    /// Drafts that cannot be finalized yet, with the code saying why.
    pub held: Vec<(String, &'static str)>,
    pub failed: Vec<(String, String)>,
    /// Of the issued, how many with the e-invoice prepared ahead.
    pub prepared_ahead: usize,
}

/// How many drafts the finalizer prepares ahead of the one it issues.
const AHEAD: usize = 4;

/// Finalizes every draft whose grace period is over, the oldest first.
/// Safe with several instances at once: each draft is finalized by the
/// first to lock its account, the others find it gone.
///
/// Rendering an e-invoice and writing its files takes longer than the
/// rest of an issue, and the issuing transaction holds the number series
/// (and, on SQLite, the one write lock). So while one draft is issued, the
/// next ones are prepared concurrently, outside any write transaction: each
/// is composed as it would be issued, with the number it should get (the
/// last one issued, plus the drafts prepared before it), and its e-invoice
/// rendered and written. The issuing transaction composes again and uses
/// the prepared files only when the invoice is identical, number included;
/// otherwise it renders them itself, as [`finalize`] does. When the
/// numbers drift (another server or staff issued meanwhile, a draft turned
/// out empty or held), the pass starts again from the database.
pub async fn finalize_due(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
) -> Result<FinalizeReport, ApiError> {
    finalize_due_on(store, ctx, billing, None).await
}

/// [`finalize_due`] for the accounts living on `clock` (`None`: the live
/// ones, whose drafts are due by the real time).
pub async fn finalize_due_on(
    store: &Store,
    ctx: &Ctx,
    billing: &Billing,
    clock: Option<&crate::domain::ids::TestClockId>,
) -> Result<FinalizeReport, ApiError> {
    const BATCH: u32 = 200;
    let mut report = FinalizeReport::default();
    let mut failed = std::collections::HashSet::new();
    loop {
        let due = {
            let mut tx = store.begin_read().await?;
            tx.due_drafts(
                ctx.now,
                BATCH + u32::try_from(failed.len()).unwrap_or(0),
                clock,
            )
            .await?
        };
        let fresh: Vec<DraftRow> = due
            .into_iter()
            .filter(|d| !failed.contains(&d.id))
            .collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        let (send, prepared) = tokio::sync::mpsc::channel(AHEAD);
        // A task of its own: on a multi-threaded runtime, composing the
        // next drafts runs beside the issuing transaction.
        let producer = {
            let (store, ctx, billing) = (store.clone(), ctx.clone(), billing.clone());
            tokio::spawn(async move {
                let mut next = NextNumbers::default();
                for d in fresh {
                    let id = InvoiceId::from_trusted(d.id.clone());
                    let ahead = prepare(&store, &ctx, &billing, &id, &mut next).await;
                    if send.send((d, ahead)).await.is_err() {
                        // The issuer started the pass again.
                        return;
                    }
                }
            })
        };
        let issuer = async {
            // Owned here, so that an issuer that stops early drops it and
            // the producer's next send fails instead of waiting forever.
            let mut prepared = prepared;
            while let Some((d, ahead)) = prepared.recv().await {
                let id = InvoiceId::from_trusted(d.id.clone());
                let expected = match &ahead {
                    Ok(Some(a)) => Some(a.row.number.clone()),
                    _ => None,
                };
                let result = match ahead {
                    Ok(ahead) => issue(store, ctx, billing, &id, Empty::Discard, ahead).await,
                    Err(e) => Err(e),
                };
                let issued = match result {
                    Ok((Finalized::Issued(i), used_ahead)) => {
                        report.prepared_ahead += usize::from(used_ahead);
                        let number = i.number.unwrap_or_default();
                        report.issued.push(number.clone());
                        Some(number)
                    }
                    Ok((Finalized::Discarded, _)) => {
                        report.discarded += 1;
                        None
                    }
                    Ok((Finalized::Gone, _)) => None,
                    Ok((Finalized::Held(hold), _)) => {
                        report
                            .held
                            .push((d.id.clone(), Code::from(hold.reason).as_str()));
                        failed.insert(d.id);
                        None
                    }
                    Err(ApiError::Unavailable) => return Err(ApiError::Unavailable),
                    Err(e) => {
                        tracing::error!(draft = %d.id, code = e.code().as_str(), cause = %e.cause(), "draft not finalized");
                        report.failed.push((d.id.clone(), e.to_string()));
                        failed.insert(d.id);
                        None
                    }
                };
                if issued != expected {
                    // The next drafts were prepared with numbers that are
                    // not theirs any more.
                    break;
                }
            }
            Ok(())
        };
        let issued = issuer.await;
        // Ends at its next send once the issuer has stopped.
        producer.await.map_err(ApiError::internal)?;
        issued?;
    }
}

/// The background finalizer of `serve`: a pass every `every`.
pub async fn finalizer(
    store: Store,
    clock: crate::clock::Clock,
    billing: Billing,
    every: std::time::Duration,
) {
    loop {
        let ctx = Ctx::system("invoice-finalizer", clock.now());
        match finalize_due(&store, &ctx, &billing).await {
            Ok(r) if !r.issued.is_empty() || r.discarded > 0 || !r.failed.is_empty() => {
                tracing::info!(
                    issued = r.issued.len(),
                    discarded = r.discarded,
                    held = r.held.len(),
                    failed = r.failed.len(),
                    "drafts finalized"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(cause = %e.cause(), "finalizer pass failed"),
        }
        tokio::time::sleep(every).await;
    }
}

/// The account's invoices in id order (ids grow with time; a draft keeps
/// its id when issued): issued ones as issued, drafts composed now. Drafts
/// have no issue date yet: a list filtered by dates leaves them out.
#[allow(clippy::too_many_arguments)]
pub async fn list(
    store: &Store,
    ctx: &Ctx,
    seller: &Seller,
    account_id: &Authorized,
    status: Option<InvoiceStatus>,
    from: Option<Date>,
    to: Option<Date>,
    page: &PageRequest,
) -> Result<Page<Invoice>, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let after = page.after.as_deref();
    let mut items: Vec<Invoice> = Vec::new();
    // Past the last issued invoice of this page, the next page decides.
    let mut bound: Option<String> = None;
    if status.is_none_or(|s| s != InvoiceStatus::Draft) {
        let rows = tx
            .list_invoices(account_id, status, from, to, after, page.limit)
            .await?;
        if rows.has_more {
            bound = rows.items.last().map(|r| r.id.clone());
        }
        for r in rows.items {
            items.push(Invoice::try_from(r)?);
        }
    }
    if status.is_none_or(|s| s == InvoiceStatus::Draft) && from.is_none() && to.is_none() {
        for d in tx.drafts_of(account_id, after).await? {
            if bound.as_ref().is_some_and(|b| d.id > *b) {
                break;
            }
            items.push(draft_invoice(&mut tx, ctx, seller, &account, &d).await?);
        }
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let limit = page.limit as usize;
    let has_more = items.len() > limit || bound.is_some();
    items.truncate(limit);
    super::invoice_payments::attach(&mut tx, &mut items).await?;
    Ok(Page { items, has_more })
}

/// An invoice: as issued, or a draft composed now.
pub async fn get(
    store: &Store,
    ctx: &Ctx,
    seller: &Seller,
    account_id: &Authorized,
    id: &InvoiceId,
) -> Result<Invoice, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let mut invoice = match tx.invoice(account_id, id).await? {
        Some(row) => row.try_into()?,
        None => match tx.draft_by_id(id.as_str()).await? {
            Some(d) if d.account_id == account_id.as_str() => {
                draft_invoice(&mut tx, ctx, seller, &account, &d).await?
            }
            _ => return Err(ApiError::NotFound("invoice")),
        },
    };
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
    if tx.invoice(account_id, id).await?.is_none() {
        match tx.draft_by_id(id.as_str()).await? {
            // A draft sent nothing yet.
            Some(d) if d.account_id == account_id.as_str() => {
                return Ok(Page {
                    items: Vec::new(),
                    has_more: false,
                });
            }
            _ => return Err(ApiError::NotFound("invoice")),
        }
    }
    Ok(tx
        .invoice_emails(id, page.after.as_deref(), page.limit)
        .await?)
}
