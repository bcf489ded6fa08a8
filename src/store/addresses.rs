//! Billing addresses, their revisions (history) and change requests.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::address::{
    AddressFields, AddressRevision, AddressStatus, BillingAddress, ChangeRequest,
    ChangeRequestStatus, Country,
};
use crate::domain::ids::{AccountId, BillingAddressId, ChangeRequestId, DocumentId};

/// The address columns shared by the three tables.
#[derive(sqlx::FromRow)]
struct FieldsRow {
    company_name: String,
    line1: String,
    line2: Option<String>,
    postal_code: String,
    city: String,
    region: Option<String>,
    country: String,
    vat_number: Option<String>,
    siren: Option<String>,
    e_invoicing_address: Option<String>,
}

impl TryFrom<FieldsRow> for AddressFields {
    type Error = sqlx::Error;

    fn try_from(r: FieldsRow) -> Result<Self, Self::Error> {
        Ok(AddressFields {
            company_name: r.company_name,
            line1: r.line1,
            line2: r.line2,
            postal_code: r.postal_code,
            city: r.city,
            region: r.region,
            country: Country::parse(&r.country).ok_or_else(|| corrupt("country"))?,
            vat_number: r.vat_number,
            siren: r.siren,
            e_invoicing_address: r.e_invoicing_address,
        })
    }
}

const FIELDS: &str = "company_name, line1, line2, postal_code, city, region, country, vat_number, \
                      siren, e_invoicing_address";

#[derive(sqlx::FromRow)]
struct AddressRow {
    id: String,
    account_id: String,
    #[sqlx(flatten)]
    fields: FieldsRow,
    status: String,
    is_primary: bool,
    rejection_reason: Option<String>,
    revision: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<AddressRow> for BillingAddress {
    type Error = sqlx::Error;

    fn try_from(r: AddressRow) -> Result<Self, Self::Error> {
        Ok(BillingAddress {
            id: BillingAddressId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            fields: r.fields.try_into()?,
            status: AddressStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            primary: r.is_primary,
            rejection_reason: r.rejection_reason,
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRequestRow {
    id: String,
    account_id: String,
    address_id: String,
    #[sqlx(flatten)]
    fields: FieldsRow,
    document_id: Option<String>,
    status: String,
    reason: Option<String>,
    requested_by: String,
    decided_by: Option<String>,
    created_at: OffsetDateTime,
    decided_at: Option<OffsetDateTime>,
}

impl TryFrom<ChangeRequestRow> for ChangeRequest {
    type Error = sqlx::Error;

    fn try_from(r: ChangeRequestRow) -> Result<Self, Self::Error> {
        Ok(ChangeRequest {
            id: ChangeRequestId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            address_id: BillingAddressId::from_trusted(r.address_id),
            fields: r.fields.try_into()?,
            document_id: r.document_id.map(DocumentId::from_trusted),
            status: ChangeRequestStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            reason: r.reason,
            requested_by: r.requested_by,
            decided_by: r.decided_by,
            created_at: r.created_at,
            decided_at: r.decided_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: i32,
    #[sqlx(flatten)]
    fields: FieldsRow,
    changed_by: String,
    change_request_id: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<RevisionRow> for AddressRevision {
    type Error = sqlx::Error;

    fn try_from(r: RevisionRow) -> Result<Self, Self::Error> {
        Ok(AddressRevision {
            revision: r.revision,
            fields: r.fields.try_into()?,
            changed_by: r.changed_by,
            change_request_id: r.change_request_id.map(ChangeRequestId::from_trusted),
            created_at: r.created_at,
        })
    }
}

fn page<R, T: TryFrom<R, Error = sqlx::Error>>(
    rows: Vec<R>,
    limit: u32,
) -> Result<Page<T>, sqlx::Error> {
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Page::from_rows(items, limit))
}

impl Tx {
    /// Inserts or, for an existing id, rewrites an address.
    pub async fn save_address(&mut self, a: &BillingAddress) -> Result<(), sqlx::Error> {
        let f = &a.fields;
        execute!(self, sqlx::query(
            "INSERT INTO billing_addresses (id, account_id, company_name, line1, line2, postal_code, \
             city, region, country, vat_number, status, is_primary, rejection_reason, revision, \
             created_at, updated_at, siren, e_invoicing_address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (id) DO UPDATE SET company_name = excluded.company_name, \
             siren = excluded.siren, e_invoicing_address = excluded.e_invoicing_address, \
             line1 = excluded.line1, line2 = excluded.line2, postal_code = excluded.postal_code, \
             city = excluded.city, region = excluded.region, country = excluded.country, \
             vat_number = excluded.vat_number, status = excluded.status, \
             is_primary = excluded.is_primary, rejection_reason = excluded.rejection_reason, \
             revision = excluded.revision, updated_at = excluded.updated_at",
        )
        .bind(a.id.as_str())
        .bind(a.account_id.as_str())
        .bind(&f.company_name)
        .bind(&f.line1)
        .bind(&f.line2)
        .bind(&f.postal_code)
        .bind(&f.city)
        .bind(&f.region)
        .bind(f.country.code())
        .bind(&f.vat_number)
        .bind(a.status.as_str())
        .bind(a.primary)
        .bind(&a.rejection_reason)
        .bind(a.revision)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(&f.siren)
        .bind(&f.e_invoicing_address))?;
        Ok(())
    }

    pub async fn address(
        &mut self,
        account: &AccountId,
        id: &BillingAddressId,
    ) -> Result<Option<BillingAddress>, sqlx::Error> {
        let sql = sql!(
            "SELECT id, account_id, {FIELDS}, status, is_primary, rejection_reason, revision, \
             created_at, updated_at FROM billing_addresses WHERE account_id = $1 AND id = $2"
        );
        let row: Option<AddressRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(BillingAddress::try_from).transpose()
    }

    pub async fn list_addresses(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<BillingAddress>, sqlx::Error> {
        let sql = sql!(
            "SELECT id, account_id, {FIELDS}, status, is_primary, rejection_reason, revision, \
             created_at, updated_at FROM billing_addresses WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<AddressRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        page(rows, limit)
    }

    pub async fn has_primary_address(&mut self, account: &AccountId) -> Result<bool, sqlx::Error> {
        let found: Option<(String,)> = fetch_optional!(self, sqlx::query_as(
            "SELECT id FROM billing_addresses WHERE account_id = $1 AND is_primary",
        )
        .bind(account.as_str()))?;
        Ok(found.is_some())
    }

    /// Makes `id` the account's only primary address.
    pub async fn set_primary_address(
        &mut self,
        account: &AccountId,
        id: &BillingAddressId,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE billing_addresses SET is_primary = FALSE, updated_at = $2 \
             WHERE account_id = $1 AND is_primary",
            )
            .bind(account.as_str())
            .bind(now)
        )?;
        execute!(
            self,
            sqlx::query(
                "UPDATE billing_addresses SET is_primary = TRUE, updated_at = $2 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(now)
        )?;
        Ok(())
    }

    pub async fn has_verified_address_in(
        &mut self,
        account: &AccountId,
        country: Country,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT id FROM billing_addresses \
             WHERE account_id = $1 AND country = $2 AND status = 'verified' LIMIT 1",
            )
            .bind(account.as_str())
            .bind(country.code())
        )?;
        Ok(found.is_some())
    }

    /// Deletes an address with its history and change requests.
    pub async fn delete_address(&mut self, id: &BillingAddressId) -> Result<bool, sqlx::Error> {
        let mut changed = 0;
        for sql in [
            "DELETE FROM billing_address_revisions WHERE address_id = $1",
            "DELETE FROM billing_address_change_requests WHERE address_id = $1",
            "DELETE FROM billing_addresses WHERE id = $1",
        ] {
            changed = execute!(self, sqlx::query(sql).bind(id.as_str()))?;
        }
        // The last statement deletes the row itself.
        Ok(changed == 1)
    }

    pub async fn insert_address_revision(
        &mut self,
        address: &BillingAddress,
        changed_by: &str,
        change_request: Option<&ChangeRequestId>,
    ) -> Result<(), sqlx::Error> {
        let f = &address.fields;
        execute!(
            self,
            sqlx::query(
                "INSERT INTO billing_address_revisions (address_id, revision, company_name, line1, \
             line2, postal_code, city, region, country, vat_number, changed_by, change_request_id, \
             created_at, siren, e_invoicing_address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(address.id.as_str())
            .bind(address.revision)
            .bind(&f.company_name)
            .bind(&f.line1)
            .bind(&f.line2)
            .bind(&f.postal_code)
            .bind(&f.city)
            .bind(&f.region)
            .bind(f.country.code())
            .bind(&f.vat_number)
            .bind(changed_by)
            .bind(change_request.map(|c| c.as_str()))
            .bind(address.updated_at)
            .bind(&f.siren)
            .bind(&f.e_invoicing_address)
        )?;
        Ok(())
    }

    /// Revisions newest first, below the cursor revision.
    pub async fn list_address_revisions(
        &mut self,
        id: &BillingAddressId,
        before: Option<i32>,
        limit: u32,
    ) -> Result<Page<AddressRevision>, sqlx::Error> {
        let sql = sql!(
            "SELECT revision, {FIELDS}, changed_by, change_request_id, created_at \
             FROM billing_address_revisions WHERE address_id = $1 AND revision < $2 \
             ORDER BY revision DESC LIMIT $3"
        );
        let rows: Vec<RevisionRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(id.as_str())
                .bind(before.unwrap_or(i32::MAX))
                .bind(i64::from(limit) + 1)
        )?;
        page(rows, limit)
    }

    pub async fn save_change_request(&mut self, r: &ChangeRequest) -> Result<(), sqlx::Error> {
        let f = &r.fields;
        execute!(self, sqlx::query(
            "INSERT INTO billing_address_change_requests (id, account_id, address_id, company_name, \
             line1, line2, postal_code, city, region, country, vat_number, document_id, status, \
             reason, requested_by, decided_by, created_at, decided_at, siren, e_invoicing_address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, \
             decided_by = excluded.decided_by, decided_at = excluded.decided_at",
        )
        .bind(r.id.as_str())
        .bind(r.account_id.as_str())
        .bind(r.address_id.as_str())
        .bind(&f.company_name)
        .bind(&f.line1)
        .bind(&f.line2)
        .bind(&f.postal_code)
        .bind(&f.city)
        .bind(&f.region)
        .bind(f.country.code())
        .bind(&f.vat_number)
        .bind(r.document_id.as_ref().map(|d| d.as_str()))
        .bind(r.status.as_str())
        .bind(&r.reason)
        .bind(&r.requested_by)
        .bind(&r.decided_by)
        .bind(r.created_at)
        .bind(r.decided_at)
        .bind(&f.siren)
        .bind(&f.e_invoicing_address))?;
        Ok(())
    }

    pub async fn change_request(
        &mut self,
        account: &AccountId,
        id: &ChangeRequestId,
    ) -> Result<Option<ChangeRequest>, sqlx::Error> {
        let sql = sql!(
            "SELECT id, account_id, address_id, {FIELDS}, document_id, status, reason, requested_by, \
             decided_by, created_at, decided_at FROM billing_address_change_requests \
             WHERE account_id = $1 AND id = $2"
        );
        let row: Option<ChangeRequestRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(ChangeRequest::try_from).transpose()
    }

    /// An account's change requests, optionally of one address and one status.
    pub async fn list_change_requests(
        &mut self,
        account: &AccountId,
        address: Option<&BillingAddressId>,
        status: Option<ChangeRequestStatus>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<ChangeRequest>, sqlx::Error> {
        let sql = sql!(
            "SELECT id, account_id, address_id, {FIELDS}, document_id, status, reason, requested_by, \
             decided_by, created_at, decided_at FROM billing_address_change_requests \
             WHERE account_id = $1 AND (CAST($2 AS TEXT) IS NULL OR address_id = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR status = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR id > $4) ORDER BY id LIMIT $5"
        );
        let rows: Vec<ChangeRequestRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(address.map(|a| a.as_str()))
                .bind(status.map(ChangeRequestStatus::as_str))
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        page(rows, limit)
    }

    /// Whether a pending change request points at this document.
    pub async fn document_in_pending_change_request(
        &mut self,
        document: &DocumentId,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT id FROM billing_address_change_requests \
             WHERE document_id = $1 AND status = 'pending' LIMIT 1",
            )
            .bind(document.as_str())
        )?;
        Ok(found.is_some())
    }
}
