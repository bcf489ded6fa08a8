//! Billing addresses. A customer adds one (pending verification), makes a
//! verified one primary, deletes an unverified non-primary one, and asks for
//! changes; staff verify, reject, edit directly and decide change requests.
//! Every version of an address's fields is kept as a revision.

use serde_json::json;
use tracing::instrument;

use super::events::{self, Object};
use super::vat_checks::{self, Asked};
use super::{Authorized, Ctx, PageRequest, audit};
use crate::domain::address::{
    AddressFields, AddressRevision, AddressStatus, BillingAddress, ChangeRequest,
    ChangeRequestStatus, Country,
};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, BillingAddressId, ChangeRequestId, DocumentId};
use crate::error::{ApiError, Code};
use crate::store::{Page, Store, Tx};
use crate::vies::Vies;

fn fields_summary(f: &AddressFields) -> serde_json::Value {
    json!({
        "company_name": f.company_name, "line1": f.line1, "line2": f.line2,
        "postal_code": f.postal_code, "city": f.city, "region": f.region,
        "country": f.country.code(), "vat_number": f.vat_number,
        "siren": f.siren, "e_invoicing_address": f.e_invoicing_address,
    })
}

fn summary(a: &BillingAddress) -> serde_json::Value {
    let mut s = fields_summary(&a.fields);
    s["status"] = json!(a.status.as_str());
    s["primary"] = json!(a.primary);
    s["revision"] = json!(a.revision);
    s["vat_check"] = vat_checks::summary(a.vat_check.as_ref());
    s
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

/// Records an address change: the new revision of its fields and the audit event.
async fn record_change(
    tx: &mut Tx,
    ctx: &Ctx,
    action: &str,
    before: Option<&BillingAddress>,
    after: &BillingAddress,
    change_request: Option<&ChangeRequestId>,
) -> Result<(), ApiError> {
    tx.save_address(after).await?;
    if before.is_none_or(|b| b.vat_check != after.vat_check) {
        tx.save_vat_check(&after.id, after.vat_check.as_ref())
            .await?;
    }
    if before.is_none_or(|b| b.revision != after.revision) {
        tx.insert_address_revision(after, &ctx.caller.subject, change_request)
            .await?;
    }
    let event = ctx.audit_event(
        Some(&after.account_id),
        action,
        ("billing_address", after.id.as_str()),
        before.map(summary),
        Some(summary(after)),
    );
    audit::record(tx, event).await
}

/// A customer adds an address; it waits for staff verification. The
/// account's first address becomes its primary one.
#[instrument(skip_all, fields(account = %account))]
pub async fn create(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    fields: AddressFields,
) -> Result<BillingAddress, ApiError> {
    super::accounts::load(tx, account).await?;
    let address = BillingAddress {
        id: BillingAddressId::generate(),
        account_id: account.id().clone(),
        fields,
        status: AddressStatus::PendingVerification,
        primary: !tx.has_primary_address(account).await?,
        rejection_reason: None,
        revision: 1,
        vat_check: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    record_change(tx, ctx, "billing_address.created", None, &address, None).await?;
    Ok(address)
}

pub async fn list(
    store: &Store,
    account: &Authorized,
    page: &PageRequest,
) -> Result<Page<BillingAddress>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    Ok(tx
        .list_addresses(account, page.after.as_deref(), page.limit)
        .await?)
}

pub async fn get(
    store: &Store,
    account: &Authorized,
    id: &BillingAddressId,
) -> Result<BillingAddress, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load(&mut tx, account, id).await
}

/// The versions of an address's fields, newest first.
pub async fn history(
    store: &Store,
    account: &Authorized,
    id: &BillingAddressId,
    page: &PageRequest,
) -> Result<Page<AddressRevision>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    load(&mut tx, account, id).await?;
    let before = match page.after.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse::<i32>().map_err(|_| {
            ApiError::validation("cursor", "is not a cursor returned by this list")
        })?),
    };
    Ok(tx.list_address_revisions(id, before, page.limit).await?)
}

/// Delete an address: never the primary one; a customer only an unverified one.
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn delete(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &BillingAddressId,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    if before.primary {
        return Err(ApiError::rule(
            Code::AddressIsPrimary,
            "the primary address cannot be deleted: make another address primary first",
        ));
    }
    if before.status == AddressStatus::Verified && !ctx.caller.role.is_staff() {
        return Err(ApiError::RequiresSupport(
            "delete a verified billing address",
        ));
    }
    // Concurrent deletes both read the row; only the one whose DELETE
    // removed it goes on (the others roll back, audit event included).
    if !tx.delete_address(id).await? {
        return Err(ApiError::NotFound("billing address"));
    }
    let event = ctx.audit_event(
        Some(account),
        "billing_address.deleted",
        ("billing_address", id.as_str()),
        Some(summary(&before)),
        None,
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Make a verified address the one printed on invoices.
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn make_primary(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &BillingAddressId,
) -> Result<BillingAddress, ApiError> {
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    if before.primary {
        return Ok(before);
    }
    if before.status != AddressStatus::Verified {
        return Err(ApiError::rule(
            Code::AddressNotVerified,
            "only a verified address can become the primary address",
        ));
    }
    tx.set_primary_address(account, id, ctx.now).await?;
    let after = load(&mut tx, account, id).await?;
    let event = ctx.audit_event(
        Some(account),
        "billing_address.made_primary",
        ("billing_address", id.as_str()),
        Some(summary(&before)),
        Some(summary(&after)),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(after)
}

/// Staff edit an address directly (a customer asks for a change instead).
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn edit(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    id: &BillingAddressId,
    apply: impl FnOnce(&AddressFields) -> Result<AddressFields, ApiError>,
) -> Result<BillingAddress, ApiError> {
    if !ctx.caller.role.is_staff() {
        return Err(ApiError::RequiresSupport("change a billing address"));
    }
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    let fields = apply(&before.fields)?;
    if fields == before.fields {
        return Ok(before);
    }
    let after = BillingAddress {
        // Another VAT number: the old number's check no longer applies.
        vat_check: before.vat_check_for(&fields),
        fields,
        revision: before.revision + 1,
        updated_at: ctx.now,
        ..before.clone()
    };
    record_change(
        &mut tx,
        ctx,
        "billing_address.edited",
        Some(&before),
        &after,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Staff verify (`rejection = None`) or reject (`Some(reason)`) an address.
/// Verifying an address whose VAT number VIES checks (an EU state other
/// than France) asks VIES first, outside the transaction, and stores its
/// answer with the address; VIES unavailable never blocks the verification.
/// `vies` is `None` only where no VIES can be asked (the demo's French
/// address).
#[instrument(skip_all, fields(account = %account, address = %id))]
pub async fn decide(
    store: &Store,
    ctx: &Ctx,
    vies: Option<&Vies>,
    account: &Authorized,
    id: &BillingAddressId,
    rejection: Option<String>,
) -> Result<BillingAddress, ApiError> {
    let asked = match (&rejection, vies) {
        (None, Some(vies)) => {
            let fields = {
                let mut tx = store.begin_read().await?;
                super::accounts::load(&mut tx, account).await?;
                load(&mut tx, account, id).await?.fields
            };
            vat_checks::ask(vies, &fields).await
        }
        _ => None,
    };
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let before = load(&mut tx, account, id).await?;
    let (status, action) = match rejection {
        None => (AddressStatus::Verified, "billing_address.verified"),
        Some(_) => (AddressStatus::Rejected, "billing_address.rejected"),
    };
    let after = BillingAddress {
        status,
        rejection_reason: rejection,
        vat_check: vat_checks::checked(
            before.vat_check.clone(),
            &before.fields,
            asked.as_ref(),
            ctx.now,
        ),
        updated_at: ctx.now,
        ..before.clone()
    };
    record_change(&mut tx, ctx, action, Some(&before), &after, None).await?;
    if after.status == AddressStatus::Verified {
        emit_verified(&mut tx, ctx, &after).await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// Writes `billing_address.verified` with the address as the API shows it
/// (read back in `tx`).
async fn emit_verified(tx: &mut Tx, ctx: &Ctx, address: &BillingAddress) -> Result<(), ApiError> {
    let shown = load(tx, &address.account_id, &address.id).await?;
    events::emit(
        tx,
        ctx.now,
        &address.account_id,
        EventType::BillingAddressVerified,
        Object::BillingAddress(&shown),
    )
    .await?;
    Ok(())
}

/// Does the account have a verified address in `country`? (Buying a phone
/// number there needs one.)
pub async fn has_verified_address_in(
    tx: &mut Tx,
    account: &AccountId,
    country: Country,
) -> Result<bool, ApiError> {
    Ok(tx.has_verified_address_in(account, country).await?)
}

/// A customer asks for a change of a stored address, optionally citing a
/// document of the account (the new Kbis). One pending request per address.
#[instrument(skip_all, fields(account = %account, address = %address))]
pub async fn request_change(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &Authorized,
    address: &BillingAddressId,
    fields: AddressFields,
    document: Option<DocumentId>,
) -> Result<ChangeRequest, ApiError> {
    super::accounts::load(tx, account).await?;
    load(tx, account, address).await?;
    if let Some(doc) = &document
        && tx.document(account, doc).await?.is_none()
    {
        return Err(ApiError::validation(
            "document_id",
            "is not a document of this account",
        ));
    }
    let pending = tx
        .list_change_requests(
            account,
            Some(address),
            Some(ChangeRequestStatus::Pending),
            None,
            1,
        )
        .await?;
    if !pending.items.is_empty() {
        return Err(ApiError::rule(
            Code::ChangeRequestPending,
            "this address already has a pending change request",
        ));
    }
    let request = ChangeRequest {
        id: ChangeRequestId::generate(),
        account_id: account.id().clone(),
        address_id: address.clone(),
        fields,
        document_id: document,
        status: ChangeRequestStatus::Pending,
        reason: None,
        requested_by: ctx.caller.subject.clone(),
        decided_by: None,
        created_at: ctx.now,
        decided_at: None,
    };
    tx.save_change_request(&request).await?;
    let event = ctx.audit_event(
        Some(account),
        "billing_address.change_requested",
        ("billing_address_change_request", request.id.as_str()),
        None,
        Some(
            json!({"address_id": address.as_str(), "fields": fields_summary(&request.fields),
            "document_id": request.document_id.as_ref().map(|d| d.as_str())}),
        ),
    );
    audit::record(tx, event).await?;
    Ok(request)
}

pub async fn list_change_requests(
    store: &Store,
    account: &Authorized,
    address: Option<&BillingAddressId>,
    status: Option<ChangeRequestStatus>,
    page: &PageRequest,
) -> Result<Page<ChangeRequest>, ApiError> {
    let mut tx = store.begin_read().await?;
    super::accounts::load(&mut tx, account).await?;
    if let Some(address) = address {
        load(&mut tx, account, address).await?;
    }
    Ok(tx
        .list_change_requests(account, address, status, page.after.as_deref(), page.limit)
        .await?)
}

/// A change request, if it is still pending (409 `change_request_decided`).
async fn pending_request(
    tx: &mut Tx,
    account: &Authorized,
    id: &ChangeRequestId,
) -> Result<ChangeRequest, ApiError> {
    let request = tx
        .change_request(account, id)
        .await?
        .ok_or(ApiError::NotFound("change request"))?;
    if request.status != ChangeRequestStatus::Pending {
        return Err(ApiError::rule(
            Code::ChangeRequestDecided,
            "this change request was already decided",
        ));
    }
    Ok(request)
}

/// Staff approve (`rejection = None`: the change is applied as a new revision
/// and the address is verified) or reject a pending change request. An
/// approval asks VIES first, outside the transaction, about the new VAT
/// number when VIES checks it (as [`decide`] does).
#[instrument(skip_all, fields(account = %account, request = %id))]
pub async fn decide_change_request(
    store: &Store,
    ctx: &Ctx,
    vies: Option<&Vies>,
    account: &Authorized,
    id: &ChangeRequestId,
    rejection: Option<String>,
) -> Result<ChangeRequest, ApiError> {
    let asked: Option<Asked> = match (&rejection, vies) {
        (None, Some(vies)) => {
            let fields = {
                let mut tx = store.begin_read().await?;
                super::accounts::load(&mut tx, account).await?;
                pending_request(&mut tx, account, id).await?.fields
            };
            vat_checks::ask(vies, &fields).await
        }
        _ => None,
    };
    let mut tx = store.begin_write().await?;
    super::accounts::load(&mut tx, account).await?;
    let request = pending_request(&mut tx, account, id).await?;
    let approved = rejection.is_none();
    let decided = ChangeRequest {
        status: if approved {
            ChangeRequestStatus::Approved
        } else {
            ChangeRequestStatus::Rejected
        },
        reason: rejection,
        decided_by: Some(ctx.caller.subject.clone()),
        decided_at: Some(ctx.now),
        ..request.clone()
    };
    tx.save_change_request(&decided).await?;
    if approved {
        let before = load(&mut tx, account, &request.address_id).await?;
        let after = BillingAddress {
            fields: request.fields.clone(),
            status: AddressStatus::Verified,
            rejection_reason: None,
            revision: before.revision + 1,
            // The old number's check applies only if the number stays.
            vat_check: vat_checks::checked(
                before.vat_check_for(&request.fields),
                &request.fields,
                asked.as_ref(),
                ctx.now,
            ),
            updated_at: ctx.now,
            ..before.clone()
        };
        record_change(
            &mut tx,
            ctx,
            "billing_address.change_applied",
            Some(&before),
            &after,
            Some(id),
        )
        .await?;
        // Staff verified the new fields.
        emit_verified(&mut tx, ctx, &after).await?;
    }
    let event = ctx.audit_event(
        Some(account),
        if approved {
            "billing_address.change_approved"
        } else {
            "billing_address.change_rejected"
        },
        ("billing_address_change_request", id.as_str()),
        Some(json!({"status": request.status.as_str()})),
        Some(json!({"status": decided.status.as_str(), "reason": decided.reason})),
    );
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(decided)
}
