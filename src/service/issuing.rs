//! What every issued document (invoice, acompte invoice, reissue) is built
//! from: the buyer's verified primary billing address, the VAT it decides,
//! and the snapshot that freezes both with the lines. Invoices, acomptes and
//! credit notes all use these; none of them uses another for it.

use time::Date;

use crate::domain::account::Account;
use crate::domain::address::{AddressStatus, BillingAddress};
use crate::domain::ids::AccountId;
use crate::domain::invoice::Composition;
use crate::domain::issued::{AddressFieldsSnapshot, OperationCategory, Snapshot, SnapshotLine};
use crate::domain::payment::PaymentMethod;
use crate::domain::seller::Seller;
use crate::domain::tax::{self, Buyer, Tax};
use crate::error::{ApiError, Code};
use crate::store::Tx;

/// The account's billing address for an invoice: the primary one, verified.
pub(super) async fn billing_address(
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

/// The one rule for the VAT of an account's invoice issued on `day`
/// (SPEC.md section 10): decided from its verified primary billing address
/// ([`billing_address`]); none without one. Its VAT number counts as valid
/// when VIES said so or staff verified it by hand.
pub(super) fn tax_for(address: Option<&BillingAddress>, day: Date) -> Option<Tax> {
    address.map(|a| {
        tax::decide(
            Buyer {
                country: a.fields.country,
                postal_code: &a.fields.postal_code,
                vat_number_valid: super::vat_checks::counts_as_valid(a),
            },
            day,
        )
    })
}

/// The VAT of a document issued at once on `day` (a reissue, a top-up and
/// its acompte), which cannot wait as a draft does: refused for what would
/// hold a draft. No verified primary address: 409
/// `billing_address_unverified`; a VAT number that would decide reverse
/// charge with no conclusive check (VIES or manual): 409
/// `vat_number_unchecked`, instead of charging that state's rate.
pub(super) fn tax_now(
    address: Option<&BillingAddress>,
    day: Date,
    what: &str,
) -> Result<Tax, ApiError> {
    let Some(a) = address else {
        return Err(ApiError::rule(
            Code::BillingAddressUnverified,
            format!(
                "the account has no verified primary billing address: the VAT of {what} \
                 depends on it (staff verify one)"
            ),
        ));
    };
    if let Some(detail) = super::vat_checks::unchecked(a, day) {
        return Err(ApiError::rule(Code::VatNumberUnchecked, detail));
    }
    tax_for(address, day).ok_or_else(|| ApiError::internal("a verified address decides a tax"))
}

/// What an invoice keeps of the moment it is issued (a draft shows the
/// same, composed now).
pub(super) fn snapshot(
    seller: &Seller,
    account: &Account,
    c: &Composition,
    address: Option<BillingAddress>,
    payment_method: Option<PaymentMethod>,
) -> Snapshot {
    Snapshot {
        seller: seller.clone(),
        account_name: account.name.clone(),
        period_start: c.period.start(),
        period_end: c.period.end(),
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
                activation_date: l.activation_date,
                service_start: l.service_start,
                service_end: l.service_end,
            })
            .collect(),
        tax_treatment: c.tax.treatment,
        tax_rate: c.tax.rate.normalize().to_string(),
        tax_territory: Some(c.tax.territory.clone()),
        tax_mention: c.tax.mention(),
        operation_category: Some(OperationCategory::Services),
        buyer: address.map(|a| {
            let french = tax::is_french(a.fields.country, &a.fields.postal_code);
            AddressFieldsSnapshot {
                company_name: a.fields.company_name,
                line1: a.fields.line1,
                line2: a.fields.line2,
                postal_code: a.fields.postal_code,
                city: a.fields.city,
                region: a.fields.region,
                country: a.fields.country.code().to_owned(),
                // A French company's SIREN is in its VAT number: an invoice
                // names it (and routes the e-invoice by it) even when the
                // address was saved without it.
                siren: a.fields.siren.or_else(|| {
                    a.fields
                        .vat_number
                        .as_deref()
                        .filter(|_| french)
                        .and_then(tax::siren_of_french_vat)
                }),
                vat_number: a.fields.vat_number,
                e_invoicing_address: a.fields.e_invoicing_address,
            }
        }),
        payment_method: payment_method.map(|m| m.masked()),
        deductions: Vec::new(),
        replaces: None,
        prepaid: Vec::new(),
        advance: None,
        vat_in_eur: None,
    }
}

/// Who issues a document and where its e-invoice files go: the seller on
/// it, and the documents' directory (`COMPTOIR_DATA_DIR`).
#[derive(Debug, Clone)]
pub struct Issuer {
    pub seller: Seller,
    pub files: crate::store::blobs::BlobStore,
}
