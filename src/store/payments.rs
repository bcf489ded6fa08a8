//! Payment methods (soft-deleted: top-ups keep pointing at theirs).

use time::{Date, OffsetDateTime};

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, on_clock, sql};
use crate::domain::card::{CardBrand, Expiry};
use crate::domain::ids::{AccountId, PaymentMethodId, TestClockId};
use crate::domain::payment::{PaymentMethod, PaymentMethodKind};

#[derive(sqlx::FromRow)]
struct MethodRow {
    id: String,
    account_id: String,
    kind: String,
    is_default: bool,
    brand: Option<String>,
    last4: String,
    exp_month: Option<i32>,
    exp_year: Option<i32>,
    holder_name: String,
    fingerprint: Option<String>,
    iban_ciphertext: Option<String>,
    iban_prefix: Option<String>,
    bic: Option<String>,
    mandate_reference: Option<String>,
    mandate_signed_on: Option<Date>,
    created_at: OffsetDateTime,
}

impl TryFrom<MethodRow> for PaymentMethod {
    type Error = sqlx::Error;

    fn try_from(r: MethodRow) -> Result<Self, Self::Error> {
        let brand = match r.brand {
            Some(b) => Some(CardBrand::parse(&b).ok_or_else(|| corrupt("brand"))?),
            None => None,
        };
        let expiry = match (r.exp_month, r.exp_year) {
            (Some(m), Some(y)) => Some(Expiry {
                month: u8::try_from(m).map_err(|_| corrupt("exp_month"))?,
                year: y,
            }),
            _ => None,
        };
        Ok(PaymentMethod {
            id: PaymentMethodId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            kind: PaymentMethodKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            default: r.is_default,
            brand,
            last4: r.last4,
            expiry,
            holder_name: r.holder_name,
            fingerprint: r.fingerprint,
            iban_ciphertext: r.iban_ciphertext,
            iban_prefix: r.iban_prefix,
            bic: r.bic,
            mandate_reference: r.mandate_reference,
            mandate_signed_on: r.mandate_signed_on,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "id, account_id, kind, is_default, brand, last4, exp_month, exp_year, \
    holder_name, fingerprint, iban_ciphertext, iban_prefix, bic, mandate_reference, \
    mandate_signed_on, created_at";

impl Tx {
    /// Inserts or, for an existing id, rewrites a payment method.
    pub async fn save_payment_method(&mut self, m: &PaymentMethod) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO payment_methods ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET is_default = excluded.is_default, \
             exp_month = excluded.exp_month, exp_year = excluded.exp_year, \
             holder_name = excluded.holder_name"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(m.id.as_str())
                .bind(m.account_id.as_str())
                .bind(m.kind.as_str())
                .bind(m.default)
                .bind(m.brand.map(CardBrand::as_str))
                .bind(&m.last4)
                .bind(m.expiry.map(|e| i32::from(e.month)))
                .bind(m.expiry.map(|e| e.year))
                .bind(&m.holder_name)
                .bind(&m.fingerprint)
                .bind(&m.iban_ciphertext)
                .bind(&m.iban_prefix)
                .bind(&m.bic)
                .bind(&m.mandate_reference)
                .bind(m.mandate_signed_on)
                .bind(m.created_at)
        )?;
        Ok(())
    }

    /// The account's live payment methods (not deleted), in creation order.
    pub async fn payment_methods(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<PaymentMethod>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM payment_methods WHERE account_id = $1 AND deleted_at IS NULL \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<MethodRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(PaymentMethod::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    pub async fn payment_method(
        &mut self,
        account: &AccountId,
        id: &PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM payment_methods \
             WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL"
        );
        let row: Option<MethodRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(PaymentMethod::try_from).transpose()
    }

    pub async fn card_by_fingerprint(
        &mut self,
        account: &AccountId,
        fingerprint: &str,
    ) -> Result<Option<PaymentMethod>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM payment_methods \
             WHERE account_id = $1 AND fingerprint = $2 AND deleted_at IS NULL"
        );
        let row: Option<MethodRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(fingerprint)
        )?;
        row.map(PaymentMethod::try_from).transpose()
    }

    /// Clears the default flag of every live method of the account.
    pub async fn clear_default_payment_method(
        &mut self,
        account: &AccountId,
    ) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "UPDATE payment_methods SET is_default = FALSE WHERE account_id = $1 AND is_default",
        )
        .bind(account.as_str()))?;
        Ok(())
    }

    pub async fn delete_payment_method(
        &mut self,
        id: &PaymentMethodId,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE payment_methods SET deleted_at = $2, is_default = FALSE WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(now)
        )?;
        Ok(())
    }

    /// A page of the live cards of every account whose expiry month lies
    /// between `from` and `to` (months counted `year * 12 + month - 1`), by id.
    pub async fn cards_expiring_between(
        &mut self,
        from: i32,
        to: i32,
        after: Option<&str>,
        limit: u32,
        clock: Option<&TestClockId>,
    ) -> Result<Page<PaymentMethod>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM payment_methods WHERE kind = 'card' AND deleted_at IS NULL \
             AND exp_year * 12 + exp_month - 1 BETWEEN $1 AND $2 \
             AND (CAST($3 AS TEXT) IS NULL OR id > $3) \
             AND account_id IN (SELECT id FROM accounts WHERE {}) \
             ORDER BY id LIMIT $4",
            on_clock(5)
        );
        let rows: Vec<MethodRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(from)
                .bind(to)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .bind(clock.map(TestClockId::as_str))
        )?;
        let items = rows
            .into_iter()
            .map(PaymentMethod::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// Whether any SEPA method exists (the server then needs its data key).
    pub async fn any_sepa_method(&mut self) -> Result<bool, sqlx::Error> {
        let found: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as("SELECT id FROM payment_methods WHERE kind = 'sepa_debit' LIMIT 1",)
        )?;
        Ok(found.is_some())
    }
}
