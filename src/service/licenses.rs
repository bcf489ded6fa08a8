//! Licenses: quote with proration, add (1 to 500, needs a usable payment
//! method), remove one at a time (never an assigned one), assign to a user;
//! and additional phone numbers (need a verified address in their country).

use serde_json::json;
use time::Date;
use tracing::instrument;

use super::events::{self, Object};
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::account::Account;
use crate::domain::address::Country;
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, LicenseId, PhoneNumberId, QuoteId, UserId};
use crate::domain::license::{
    License, MAX_QUANTITY, PhoneNumberLine, QUOTE_VALIDITY, Quote, valid_backdate,
};
use crate::domain::money::{Currency, Money};
use crate::domain::plan::{Plan, PlanKind, next_period_start, price_on};
use crate::domain::proration::{PrepaidPeriod, prepaid_period, prorate, prorated_unit, times};
use crate::error::{ApiError, Code};
use crate::store::{Page, Store, Tx};

fn money_err(e: crate::domain::money::MoneyError) -> ApiError {
    ApiError::internal(e)
}

/// What a quote (or an add without one) computes.
#[derive(Debug, Clone)]
pub struct Pricing {
    pub plan: Plan,
    pub quantity: u32,
    pub activation_date: Date,
    pub unit_price: Money,
    pub period: PrepaidPeriod,
    pub prorated_unit: Money,
    pub prorated_total: Money,
    pub first_payment_date: Date,
    pub current_monthly_total: Money,
    /// `unit_price x quantity`.
    pub additional_monthly_total: Money,
    pub new_monthly_total: Money,
}

/// The quote as stored and returned.
pub struct QuoteOutcome {
    pub quote: Quote,
    pub pricing: Pricing,
}

/// The activation day: today in the account's timezone, or a day staff
/// chose (today or earlier in the current month).
fn activation_day(ctx: &Ctx, account: &Account, asked: Option<Date>) -> Result<Date, ApiError> {
    let today = account.timezone.date_at(ctx.now);
    match asked {
        None => Ok(today),
        Some(d) if d == today => Ok(d),
        Some(_) if !ctx.caller.role.is_staff() => {
            Err(ApiError::RequiresSupport("choose an activation date"))
        }
        Some(d) if valid_backdate(d, today) => Ok(d),
        Some(_) => Err(ApiError::validation(
            "activation_date",
            "must be today or earlier in the current month",
        )),
    }
}

/// The plan has no price in the account's currency on that day: the account
/// cannot buy it (an invoice never mixes currencies).
fn not_priced(plan: &str, currency: Currency) -> ApiError {
    ApiError::rule(
        Code::PlanNotPricedInCurrency,
        format!(
            "{plan} has no price in {currency}, the account's currency: this account cannot buy it"
        ),
    )
}

/// The monthly price of `plan` in `currency`: that of something the account
/// already holds, which buying made sure of.
fn held_price(plan: &Plan, currency: Currency) -> Result<Money, ApiError> {
    plan.price_in(currency)
        .map(|p| p.monthly_price)
        .ok_or_else(|| ApiError::internal(format!("{} has no price in {currency}", plan.code)))
}

async fn license_plan(tx: &mut Tx, code: &str, on: Date, kind: PlanKind) -> Result<Plan, ApiError> {
    tx.plan(code, on)
        .await?
        .filter(|p| p.kind == kind)
        .ok_or_else(|| {
            ApiError::validation(
                "plan",
                format!("{code:?} is not a {} plan of the catalog", kind.as_str()),
            )
        })
}

/// The monthly total of the account's active licenses at `on`'s prices.
async fn monthly_total(tx: &mut Tx, account: &Account, on: Date) -> Result<Money, ApiError> {
    let mut total = Money::zero(account.currency);
    for (code, count, _) in tx.license_counts(&account.id).await? {
        let plan = tx
            .plan(&code, on)
            .await?
            .ok_or(ApiError::NotFound("plan"))?;
        let line = times(
            held_price(&plan, account.currency)?,
            u32::try_from(count).unwrap_or(0),
        )
        .map_err(money_err)?;
        total = total.checked_add(line).map_err(money_err)?;
    }
    Ok(total)
}

async fn price(
    tx: &mut Tx,
    account: &Account,
    plan_code: &str,
    quantity: u32,
    activation: Date,
) -> Result<Pricing, ApiError> {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::validation(
            "quantity",
            format!("must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    let plan = license_plan(tx, plan_code, activation, PlanKind::License).await?;
    let unit_price = plan
        .price_in(account.currency)
        .ok_or_else(|| not_priced(&plan.code, account.currency))?
        .monthly_price;
    let period = prepaid_period(activation);
    let prorated = prorated_unit(unit_price, activation).map_err(money_err)?;
    let current = monthly_total(tx, account, activation).await?;
    let additional = times(unit_price, quantity).map_err(money_err)?;
    Ok(Pricing {
        quantity,
        activation_date: activation,
        unit_price,
        period,
        prorated_unit: prorated,
        prorated_total: times(prorated, quantity).map_err(money_err)?,
        first_payment_date: next_period_start(activation),
        current_monthly_total: current,
        additional_monthly_total: additional,
        new_monthly_total: current.checked_add(additional).map_err(money_err)?,
        plan,
    })
}

/// The pop-up before adding: prices, proration and a quote valid 15 minutes.
#[instrument(skip_all, fields(account = %account_id))]
pub async fn quote(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    plan: &str,
    quantity: u32,
    asked: Option<Date>,
) -> Result<QuoteOutcome, ApiError> {
    let mut tx = store.begin_write().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let activation = activation_day(ctx, &account, asked)?;
    let pricing = price(&mut tx, &account, plan, quantity, activation).await?;
    let quote = Quote {
        id: QuoteId::generate(),
        account_id: account_id.id().clone(),
        plan: pricing.plan.code.clone(),
        quantity,
        activation_date: activation,
        unit_price_minor: pricing.unit_price.minor(),
        prorated_unit_minor: pricing.prorated_unit.minor(),
        expires_at: ctx.now + QUOTE_VALIDITY,
        used_at: None,
        created_at: ctx.now,
    };
    tx.insert_quote(&quote).await?;
    tx.commit().await?;
    Ok(QuoteOutcome { quote, pricing })
}

pub struct AddRequest {
    pub plan: String,
    pub quantity: u32,
    pub quote_id: Option<QuoteId>,
    pub activation_date: Option<Date>,
}

pub struct Added {
    pub licenses: Vec<License>,
    pub pricing: Pricing,
}

/// Adds licenses: exactly what a quote said, or priced now.
#[instrument(skip_all, fields(account = %account_id))]
pub async fn add(
    tx: &mut Tx,
    ctx: &Ctx,
    account_id: &Authorized,
    req: AddRequest,
) -> Result<Added, ApiError> {
    let account = super::accounts::load(tx, account_id).await?;
    if !super::payments::has_usable_payment_method(tx, account_id, ctx.now).await? {
        return Err(ApiError::rule(
            Code::PaymentMethodRequired,
            "add a card (or ask customer service for a SEPA debit) before adding licenses",
        ));
    }
    let mut pricing = match &req.quote_id {
        None => {
            let activation = activation_day(ctx, &account, req.activation_date)?;
            price(tx, &account, &req.plan, req.quantity, activation).await?
        }
        Some(id) => {
            let quote = tx.quote(account_id, id).await?.ok_or_else(|| {
                ApiError::validation("quote_id", "is not a quote of this account")
            })?;
            if quote.expires_at <= ctx.now {
                return Err(ApiError::rule(
                    Code::QuoteExpired,
                    "this quote has expired: ask for a new one",
                ));
            }
            let asked = req.activation_date.unwrap_or(quote.activation_date);
            if quote.plan != req.plan
                || quote.quantity != req.quantity
                || quote.activation_date != asked
            {
                return Err(ApiError::rule(
                    Code::QuoteMismatch,
                    "the plan, quantity or activation date differ from the quote's",
                ));
            }
            if !tx.use_quote(id, ctx.now).await? {
                return Err(ApiError::rule(
                    Code::QuoteUsed,
                    "this quote was already used",
                ));
            }
            let mut p = price(
                tx,
                &account,
                &quote.plan,
                quote.quantity,
                quote.activation_date,
            )
            .await?;
            // Exactly what was quoted, even if the catalog moved since.
            p.unit_price = Money::from_minor(quote.unit_price_minor, account.currency);
            p.prorated_unit = Money::from_minor(quote.prorated_unit_minor, account.currency);
            p.prorated_total = times(p.prorated_unit, quote.quantity).map_err(money_err)?;
            p
        }
    };
    let licenses: Vec<License> = (0..pricing.quantity)
        .map(|_| License {
            id: LicenseId::generate(),
            account_id: account_id.id().clone(),
            plan: pricing.plan.code.clone(),
            activation_date: pricing.activation_date,
            removal_date: None,
            user_id: None,
            prorated_amount_minor: pricing.prorated_unit.minor(),
            created_at: ctx.now,
        })
        .collect();
    for license in &licenses {
        tx.insert_license(license).await?;
    }
    pricing.new_monthly_total = monthly_total(tx, &account, pricing.activation_date).await?;
    let event = ctx.audit_event(
        Some(account_id),
        "licenses.added",
        ("license", licenses[0].id.as_str()),
        None,
        Some(json!({"plan": pricing.plan.code, "quantity": pricing.quantity, "activation_date": pricing.activation_date.to_string(),
            "prorated_total": pricing.prorated_total.amount(), "license_ids": licenses.iter().map(|l| l.id.as_str()).collect::<Vec<_>>()})),
    );
    audit::record(tx, event).await?;
    for license in &licenses {
        events::emit(
            tx,
            ctx.now,
            account_id,
            EventType::LicenseAdded,
            Object::License(license),
        )
        .await?;
    }
    Ok(Added { licenses, pricing })
}

/// A line of the summary by plan.
pub struct PlanSummary {
    pub plan: String,
    pub count: i64,
    pub assigned: i64,
    pub unit_price: Money,
    pub monthly_total: Money,
}

pub async fn list(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    include_removed: bool,
    page: &PageRequest,
) -> Result<(Page<License>, Vec<PlanSummary>), ApiError> {
    let overview = store
        .licenses_overview(
            account_id,
            !include_removed,
            page.after.as_deref(),
            page.limit,
        )
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    let today = overview.timezone.date_at(ctx.now);
    let summary = overview
        .plans
        .into_iter()
        .map(|plan| {
            let unit_price = price_on(&plan.prices, today)
                .map(|minor| Money::from_minor(minor, plan.currency))
                .ok_or_else(|| {
                    ApiError::Internal(format!("plan {} has no price on {today}", plan.code))
                })?;
            Ok(PlanSummary {
                monthly_total: times(unit_price, u32::try_from(plan.count).unwrap_or(0))
                    .map_err(money_err)?,
                unit_price,
                plan: plan.code,
                count: plan.count,
                assigned: plan.assigned,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok((overview.page, summary))
}

async fn load(tx: &mut Tx, account: &AccountId, id: &LicenseId) -> Result<License, ApiError> {
    tx.license(account, id)
        .await?
        .ok_or(ApiError::NotFound("license"))
}

fn assigned_error(user: &UserId, name: Option<&str>) -> ApiError {
    ApiError::rule(
        Code::LicenseAssigned,
        format!(
            "this license is assigned to {} ({user}): delete or unassign that user first",
            name.unwrap_or("a user")
        ),
    )
}

/// What removing a license takes off the next invoice.
pub struct RemovalPreview {
    pub license: License,
    pub removal_date: Date,
    pub next_invoice_date: Date,
    /// The recurring line of the next period, no longer billed.
    pub recurring_reduction: Money,
    /// For a license activated this month: the prorated days after the removal.
    pub proration_reduction: Money,
    pub total_reduction: Money,
}

async fn preview_of(
    tx: &mut Tx,
    account: &Account,
    license: License,
    today: Date,
) -> Result<RemovalPreview, ApiError> {
    let next = next_period_start(today);
    let next_plan = tx
        .plan(&license.plan, next)
        .await?
        .ok_or(ApiError::NotFound("plan"))?;
    let activated_this_month = license.activation_date.year() == today.year()
        && license.activation_date.month() == today.month();
    let proration_reduction = if activated_this_month {
        let plan = tx
            .plan(&license.plan, license.activation_date)
            .await?
            .ok_or(ApiError::NotFound("plan"))?;
        let period = prepaid_period(license.activation_date);
        let kept_days =
            u8::try_from((today - license.activation_date).whole_days() + 1).unwrap_or(period.days);
        let full = Money::from_minor(license.prorated_amount_minor, account.currency);
        let kept = prorate(
            held_price(&plan, account.currency)?,
            kept_days,
            period.days_in_month,
        )
        .map_err(money_err)?;
        let reduction = full.checked_sub(kept).map_err(money_err)?;
        if reduction.is_negative() {
            Money::zero(account.currency)
        } else {
            reduction
        }
    } else {
        Money::zero(account.currency)
    };
    let recurring_reduction = held_price(&next_plan, account.currency)?;
    Ok(RemovalPreview {
        license,
        removal_date: today,
        next_invoice_date: next,
        recurring_reduction,
        total_reduction: recurring_reduction
            .checked_add(proration_reduction)
            .map_err(money_err)?,
        proration_reduction,
    })
}

pub async fn removal_preview(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    id: &LicenseId,
) -> Result<RemovalPreview, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let license = load(&mut tx, account_id, id).await?;
    if license.removal_date.is_some() {
        return Err(ApiError::rule(
            Code::LicenseRemoved,
            "this license is already removed",
        ));
    }
    let today = account.timezone.date_at(ctx.now);
    preview_of(&mut tx, &account, license, today).await
}

/// Removes exactly one unassigned license, today.
#[instrument(skip_all, fields(account = %account_id, license = %id))]
pub async fn remove(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    id: &LicenseId,
) -> Result<RemovalPreview, ApiError> {
    let mut tx = store.begin_write().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    // Removals and assignments of the account's licenses queue here, so each
    // reads the license as the previous one left it.
    tx.lock_account(account_id).await?;
    let license = load(&mut tx, account_id, id).await?;
    if license.removal_date.is_some() {
        return Err(ApiError::rule(
            Code::LicenseRemoved,
            "this license is already removed",
        ));
    }
    if let Some(user) = &license.user_id {
        let name = tx.user(account_id, user).await?.map(|u| u.name);
        return Err(assigned_error(user, name.as_deref()));
    }
    let today = account.timezone.date_at(ctx.now);
    if !tx.remove_license(id, today).await? {
        // Removed or assigned by a concurrent request meanwhile.
        return Err(ApiError::rule(
            Code::LicenseRemoved,
            "this license is already removed",
        ));
    }
    let removed = License {
        removal_date: Some(today),
        ..license
    };
    events::emit(
        &mut tx,
        ctx.now,
        account_id,
        EventType::LicenseRemoved,
        Object::License(&removed),
    )
    .await?;
    let preview = preview_of(&mut tx, &account, removed, today).await?;
    let event = ctx.audit_event(Some(account_id), "license.removed", ("license", id.as_str()), Some(json!({"status": "active"})),
        Some(json!({"status": "removed", "removal_date": today.to_string(), "next_invoice_reduction": preview.total_reduction.amount()})));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(preview)
}

/// Assigns a license to a user of the account (`Some`) or frees it (`None`).
#[instrument(skip_all, fields(account = %account_id, license = %id))]
pub async fn assign(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    id: &LicenseId,
    user: Option<UserId>,
) -> Result<License, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account_id).await?;
    tx.lock_account(account_id).await?;
    let license = load(&mut tx, account_id, id).await?;
    if license.removal_date.is_some() {
        return Err(ApiError::rule(
            Code::LicenseRemoved,
            "this license is removed",
        ));
    }
    if license.user_id == user {
        return Ok(license);
    }
    if let Some(u) = &user {
        if tx.user(account_id, u).await?.is_none() {
            return Err(ApiError::validation(
                "user_id",
                "is not a user of this account",
            ));
        }
        if license.user_id.is_some() {
            return Err(ApiError::rule(
                Code::LicenseTaken,
                "this license is assigned to another user: unassign it first",
            ));
        }
        if tx.license_of_user(u).await?.is_some() {
            return Err(ApiError::rule(
                Code::UserHasLicense,
                "this user already holds a license",
            ));
        }
    }
    tx.set_license_user(id, user.as_ref()).await?;
    let after = License {
        user_id: user,
        ..license.clone()
    };
    let event = ctx.audit_event(
        Some(account_id),
        if after.user_id.is_some() {
            "license.assigned"
        } else {
            "license.unassigned"
        },
        ("license", id.as_str()),
        Some(json!({"user_id": license.user_id.as_ref().map(|u| u.as_str())})),
        Some(json!({"user_id": after.user_id.as_ref().map(|u| u.as_str())})),
    );
    audit::record(&mut tx, event).await?;
    let event_type = if after.user_id.is_some() {
        EventType::LicenseAssigned
    } else {
        EventType::LicenseUnassigned
    };
    events::emit(
        &mut tx,
        ctx.now,
        account_id,
        event_type,
        Object::License(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// A national number for `country` that libphonenumber accepts and nobody holds.
async fn fresh_number(tx: &mut Tx, country: Country) -> Result<String, ApiError> {
    let id: phonenumber::country::Id = country
        .code()
        .parse()
        .map_err(|_| ApiError::validation("country", "has no phone numbering plan"))?;
    let code = phonenumber::metadata::DATABASE
        .by_id(country.code())
        .map(|m| m.country_code())
        .ok_or_else(|| ApiError::validation("country", "has no phone numbering plan"))?;
    for attempt in 0..20_000u32 {
        let len = 7 + (attempt % 5) as usize;
        let digits: String = uuid::Uuid::new_v4()
            .as_u128()
            .to_string()
            .chars()
            .take(len)
            .collect();
        let candidate = format!("+{code}{digits}");
        if let Ok(parsed) = phonenumber::parse(Some(id), &candidate)
            && phonenumber::is_valid(&parsed)
        {
            let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
            if !tx.phone_number_taken(&e164).await? {
                return Ok(e164);
            }
        }
    }
    Err(ApiError::validation(
        "country",
        "no number could be allocated in this country",
    ))
}

/// Adds an additional number in `country`: needs a verified billing address
/// there and a usable payment method; prorated like a license.
#[instrument(skip_all, fields(account = %account_id))]
pub async fn add_number(
    tx: &mut Tx,
    ctx: &Ctx,
    account_id: &Authorized,
    country: Country,
) -> Result<(PhoneNumberLine, Money), ApiError> {
    let account = super::accounts::load(tx, account_id).await?;
    if !super::addresses::has_verified_address_in(tx, account_id, country).await? {
        return Err(ApiError::rule(
            Code::VerifiedAddressRequired,
            format!(
                "a verified billing address in {} is required to get a number there",
                country.code()
            ),
        ));
    }
    if !super::payments::has_usable_payment_method(tx, account_id, ctx.now).await? {
        return Err(ApiError::rule(
            Code::PaymentMethodRequired,
            "add a card (or ask customer service for a SEPA debit) first",
        ));
    }
    let today = account.timezone.date_at(ctx.now);
    let plan = tx
        .plans(today)
        .await?
        .into_iter()
        .find(|p| p.kind == PlanKind::PhoneNumber)
        .ok_or(ApiError::NotFound("plan"))?;
    let monthly_price = plan
        .price_in(account.currency)
        .ok_or_else(|| not_priced(&plan.code, account.currency))?
        .monthly_price;
    let prorated = prorated_unit(monthly_price, today).map_err(money_err)?;
    let line = PhoneNumberLine {
        id: PhoneNumberId::generate(),
        account_id: account_id.id().clone(),
        country: country.code().to_owned(),
        number: fresh_number(tx, country).await?,
        activation_date: today,
        removal_date: None,
        prorated_amount_minor: prorated.minor(),
        created_at: ctx.now,
    };
    tx.insert_phone_number(&line).await?;
    let event = ctx.audit_event(Some(account_id), "phone_number.added", ("phone_number", line.id.as_str()), None,
        Some(json!({"country": line.country, "number": line.number, "activation_date": today.to_string()})));
    audit::record(tx, event).await?;
    events::emit(
        tx,
        ctx.now,
        account_id,
        EventType::PhoneNumberAdded,
        Object::PhoneNumber(&line, account.currency),
    )
    .await?;
    Ok((line, monthly_price))
}

pub async fn list_numbers(
    store: &Store,
    account_id: &Authorized,
    page: &PageRequest,
) -> Result<(Currency, Page<PhoneNumberLine>), ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::accounts::load(&mut tx, account_id).await?.currency;
    let page = tx
        .list_phone_numbers(account_id, page.after.as_deref(), page.limit)
        .await?;
    Ok((currency, page))
}

pub async fn get_number(
    store: &Store,
    account_id: &Authorized,
    id: &PhoneNumberId,
) -> Result<(Currency, PhoneNumberLine), ApiError> {
    let mut tx = store.begin_read().await?;
    let currency = super::accounts::load(&mut tx, account_id).await?.currency;
    let line = tx
        .phone_number(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("phone number"))?;
    Ok((currency, line))
}

#[instrument(skip_all, fields(account = %account_id, number = %id))]
pub async fn remove_number(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    id: &PhoneNumberId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let line = tx
        .phone_number(account_id, id)
        .await?
        .ok_or(ApiError::NotFound("phone number"))?;
    let today = account.timezone.date_at(ctx.now);
    if !tx.remove_phone_number(id, today).await? {
        return Err(ApiError::rule(
            Code::PhoneNumberRemoved,
            "this number is already removed",
        ));
    }
    let removed = PhoneNumberLine {
        removal_date: Some(today),
        ..line
    };
    events::emit(
        &mut tx,
        ctx.now,
        account_id,
        EventType::PhoneNumberRemoved,
        Object::PhoneNumber(&removed, account.currency),
    )
    .await?;
    let event = ctx.audit_event(
        Some(account_id),
        "phone_number.removed",
        ("phone_number", id.as_str()),
        None,
        Some(json!({"removal_date": today.to_string()})),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
