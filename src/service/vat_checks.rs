//! The checks of billing addresses' VAT numbers: VIES asked outside any
//! transaction and its answer stored on the address, or staff's manual
//! verification with a reason. VIES is asked when staff verify an address,
//! when staff ask for a check, and before an invoice relies on a check older
//! than 30 days.

use serde_json::json;
use tracing::instrument;

use super::{Authorized, Ctx, audit};
use crate::domain::address::{AddressFields, BillingAddress};
use crate::domain::ids::{AccountId, BillingAddressId};
use crate::domain::tax::{self, Buyer, TaxTreatment};
use crate::domain::vat_check::{VatCheck, ViesAnswer};
use crate::error::{ApiError, Code};
use crate::store::{Store, Tx};
use crate::vies::Vies;

/// What VIES answered about one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub vat_number: String,
    pub answer: ViesAnswer,
}

/// Asks VIES about the VAT number of `fields`, when VIES checks it (an EU
/// state other than France). Never call it inside a transaction.
pub async fn ask(vies: &Vies, fields: &AddressFields) -> Option<Asked> {
    let number = fields.vies_number()?;
    Some(Asked {
        vat_number: number.to_owned(),
        answer: vies.check(number).await,
    })
}

/// The check of an address whose fields are `fields` once `asked` is
/// applied to `previous` (the check of the same number, if any). An answer
/// about another number (changed while VIES was asked) changes nothing.
pub fn checked(
    previous: Option<VatCheck>,
    fields: &AddressFields,
    asked: Option<&Asked>,
    now: time::OffsetDateTime,
) -> Option<VatCheck> {
    match asked {
        Some(a) if fields.vies_number() == Some(a.vat_number.as_str()) => {
            Some(VatCheck::after_vies(previous.as_ref(), &a.answer, now))
        }
        _ => previous,
    }
}

/// Whether the address's VAT number decides its invoices' VAT on `day`:
/// valid, it is reverse charge; otherwise that state's rate (OSS). Only
/// then is a conclusive check needed before an invoice is finalized.
pub fn decides_reverse_charge(address: &BillingAddress, day: time::Date) -> bool {
    address.fields.vies_number().is_some()
        && tax::decide(
            Buyer {
                country: address.fields.country,
                postal_code: &address.fields.postal_code,
                vat_number_valid: true,
            },
            day,
        )
        .treatment
            == TaxTreatment::ReverseCharge
}

/// Reverse charge applies: VIES said valid, or staff verified it by hand.
pub fn counts_as_valid(address: &BillingAddress) -> bool {
    address
        .vat_check
        .as_ref()
        .is_some_and(VatCheck::counts_as_valid)
}

/// Why an invoice cannot rely on the address's VAT number on `day`, if it
/// cannot: it decides reverse charge and no conclusive check is known.
pub fn unchecked(address: &BillingAddress, day: time::Date) -> Option<String> {
    if !decides_reverse_charge(address, day)
        || address
            .vat_check
            .as_ref()
            .is_some_and(VatCheck::is_conclusive)
    {
        return None;
    }
    let number = address.fields.vat_number.as_deref().unwrap_or_default();
    let why = match &address.vat_check {
        Some(c) => format!(
            "VIES could not check the buyer's VAT number {number} ({})",
            c.last_attempt_error.as_deref().unwrap_or("unavailable")
        ),
        None => format!("the buyer's VAT number {number} was never checked in VIES"),
    };
    Some(format!(
        "{why} and no earlier result is known: reverse charge cannot be decided. \
         Staff check it again (POST .../billing-addresses/{}/vat-check {{\"method\": \"vies\"}}) \
         or record a manual verification; the draft is issued then",
        address.id
    ))
}

/// Before an invoice relies on the address's VAT number (it decides
/// reverse charge on `day`): when the last conclusive check is absent or
/// older than 30 days, asks VIES again and stores the answer (VIES
/// unavailable keeps the last result), unless VIES failed to answer less
/// than 15 minutes ago. Never call it inside a transaction.
pub async fn refresh(
    store: &Store,
    ctx: &Ctx,
    vies: &Vies,
    address: &BillingAddress,
    day: time::Date,
) -> Result<(), ApiError> {
    if !decides_reverse_charge(address, day)
        || !VatCheck::is_due(address.vat_check.as_ref(), ctx.now)
    {
        return Ok(());
    }
    if let Some(asked) = ask(vies, &address.fields).await {
        store_answer(store, ctx, &address.account_id, &address.id, &asked).await?;
    }
    Ok(())
}

/// A check as the audit log keeps it.
pub fn summary(check: Option<&VatCheck>) -> serde_json::Value {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    match check {
        None => serde_json::Value::Null,
        Some(c) => json!({
            "status": c.status.as_str(),
            "checked_at": rfc3339(c.checked_at),
            "consultation_number": c.consultation_number,
            "reason": c.reason,
            "last_attempt_at": c.last_attempt_at.map(rfc3339),
            "last_attempt_error": c.last_attempt_error,
        }),
    }
}

async fn load(
    tx: &mut Tx,
    account: &AccountId,
    id: &BillingAddressId,
) -> Result<BillingAddress, ApiError> {
    tx.address(account, id)
        .await?
        .ok_or(ApiError::NotFound("billing address"))
}

/// 409 `vat_check_not_applicable` unless VIES checks the address's number.
fn checkable(address: &BillingAddress) -> Result<&str, ApiError> {
    address.fields.vies_number().ok_or_else(|| {
        ApiError::rule(
            Code::VatCheckNotApplicable,
            "this address has no VAT number of an EU state other than France: \
             there is nothing to check in VIES",
        )
    })
}

/// Writes an address's new check with its audit event.
async fn save(
    tx: &mut Tx,
    ctx: &Ctx,
    action: &str,
    before: &BillingAddress,
    check: Option<VatCheck>,
) -> Result<BillingAddress, ApiError> {
    tx.save_vat_check(&before.id, check.as_ref()).await?;
    let after = BillingAddress {
        vat_check: check,
        ..before.clone()
    };
    let event = ctx.audit_event(
        Some(&after.account_id),
        action,
        ("billing_address", after.id.as_str()),
        Some(json!({"vat_number": before.fields.vat_number,
            "vat_check": summary(before.vat_check.as_ref())})),
        Some(json!({"vat_number": after.fields.vat_number,
            "vat_check": summary(after.vat_check.as_ref())})),
    );
    audit::record(tx, event).await?;
    Ok(after)
}

/// Stores VIES's answer on the address, in a transaction of its own, if
/// the address still has the number VIES was asked about.
pub async fn store_answer(
    store: &Store,
    ctx: &Ctx,
    account: &AccountId,
    id: &BillingAddressId,
    asked: &Asked,
) -> Result<BillingAddress, ApiError> {
    let mut tx = store.begin_write().await?;
    let before = load(&mut tx, account, id).await?;
    if before.fields.vies_number() != Some(asked.vat_number.as_str()) {
        return Ok(before);
    }
    let check = checked(
        before.vat_check.clone(),
        &before.fields,
        Some(asked),
        ctx.now,
    );
    let after = save(&mut tx, ctx, "billing_address.vat_checked", &before, check).await?;
    tx.commit().await?;
    Ok(after)
}

/// Staff ask VIES about an address's VAT number now.
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn recheck(
    store: &Store,
    ctx: &Ctx,
    vies: &Vies,
    account: &Authorized,
    id: &BillingAddressId,
) -> Result<BillingAddress, ApiError> {
    let number = {
        let mut tx = store.begin_read().await?;
        super::accounts::load(&mut tx, account).await?;
        let address = load(&mut tx, account, id).await?;
        checkable(&address)?.to_owned()
    };
    // The read transaction is over: nothing is locked while VIES answers.
    let asked = Asked {
        answer: vies.check(&number).await,
        vat_number: number,
    };
    store_answer(store, ctx, account, id, &asked).await
}

/// Staff record a verification of the VAT number made otherwise (the
/// member state's register, a certificate), with its reason: it counts as
/// valid.
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn record_manual(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &BillingAddressId,
    reason: String,
) -> Result<BillingAddress, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    checkable(&before)?;
    let check = VatCheck::manual(before.vat_check.as_ref(), reason, ctx.now);
    let after = save(
        &mut tx,
        ctx,
        "billing_address.vat_verified_manually",
        &before,
        Some(check),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
