//! One-off charges, and the two calls the invoice code makes to bill them
//! ([`Tx::unbilled_charges`], [`Tx::bill_charges`]).

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, on_tx, sql};
use crate::domain::charge::{Charge, ChargeTerms};
use crate::domain::ids::{AccountId, ChargeId, InvoiceId};
use crate::domain::money::{Currency, Money};

/// A stored charge, as the table has it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChargeRow {
    pub id: String,
    pub account_id: String,
    pub description: String,
    pub unit_amount_minor: i64,
    pub quantity: i64,
    pub amount_minor: i64,
    pub currency: String,
    /// The invoice that billed it; `None` while unbilled.
    pub invoice_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl TryFrom<ChargeRow> for Charge {
    type Error = sqlx::Error;

    fn try_from(r: ChargeRow) -> Result<Self, Self::Error> {
        let currency = Currency::parse(&r.currency).ok_or_else(|| corrupt("currency"))?;
        let quantity = u32::try_from(r.quantity).map_err(|_| corrupt("quantity"))?;
        let terms = ChargeTerms::from_trusted(
            Money::from_minor(r.unit_amount_minor, currency),
            quantity,
            Money::from_minor(r.amount_minor, currency),
        );
        Ok(Charge {
            id: ChargeId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            description: r.description,
            terms,
            invoice_id: r.invoice_id.map(InvoiceId::from_trusted),
            created_at: r.created_at,
            created_by: r.created_by,
        })
    }
}

const COLUMNS: &str = "id, account_id, description, unit_amount_minor, quantity, amount_minor, \
                       currency, invoice_id, created_at, created_by";

/// How many ids one `UPDATE ... IN (...)` binds (SQLite takes 32,766
/// parameters, PostgreSQL 65,535; a few hundred keeps statements small).
const BILL_CHUNK: usize = 500;

impl Tx {
    pub async fn insert_charge(&mut self, c: &Charge) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO charges (id, account_id, description, unit_amount_minor, quantity, \
                 amount_minor, currency, invoice_id, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(c.id.as_str())
            .bind(c.account_id.as_str())
            .bind(&c.description)
            .bind(c.terms.unit_amount().minor())
            .bind(i64::from(c.terms.quantity()))
            .bind(c.terms.amount().minor())
            .bind(c.terms.amount().currency().code())
            .bind(c.invoice_id.as_ref().map(InvoiceId::as_str))
            .bind(c.created_at)
            .bind(&c.created_by)
        )?;
        Ok(())
    }

    /// The account's charge `id`, billed or not.
    pub async fn charge(
        &mut self,
        account: &AccountId,
        id: &ChargeId,
    ) -> Result<Option<Charge>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM charges WHERE account_id = $1 AND id = $2");
        let row: Option<ChargeRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(Charge::try_from).transpose()
    }

    /// A page of the account's charges, oldest first; `billed` keeps only
    /// the billed (`Some(true)`) or the unbilled (`Some(false)`) ones.
    pub async fn list_charges(
        &mut self,
        account: &AccountId,
        billed: Option<bool>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Charge>, sqlx::Error> {
        // A constant condition per filter, never a bound flag: the unbilled
        // list then reads the partial index `charges_unbilled`.
        let filter = match billed {
            None => "",
            Some(true) => "AND invoice_id IS NOT NULL",
            Some(false) => "AND invoice_id IS NULL",
        };
        let sql = sql!(
            "SELECT {COLUMNS} FROM charges WHERE account_id = $1 {filter} \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<ChargeRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(Charge::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// Deletes the account's charge `id` if it is still unbilled; gives the
    /// number of rows deleted (0 when another request deleted or billed it).
    pub async fn delete_unbilled_charge(
        &mut self,
        account: &AccountId,
        id: &ChargeId,
    ) -> Result<u64, sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "DELETE FROM charges WHERE account_id = $1 AND id = $2 AND invoice_id IS NULL"
            )
            .bind(account.as_str())
            .bind(id.as_str())
        )
    }

    /// The account's unbilled charges, oldest first: what its next invoice bills.
    pub async fn unbilled_charges(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<ChargeRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM charges WHERE account_id = $1 AND invoice_id IS NULL ORDER BY id"
        );
        fetch_all!(self, sqlx::query_as(sql).bind(account.as_str()))
    }

    /// Marks the account's charges `ids` as billed on `invoice_id`, each only
    /// if it is still unbilled; gives the number of charges it marked. Fewer
    /// than `ids.len()` means some were deleted (or billed) by another
    /// transaction since they were read: the caller decides what to do.
    pub async fn bill_charges(
        &mut self,
        account: &AccountId,
        invoice_id: &str,
        ids: &[String],
    ) -> Result<u64, sqlx::Error> {
        let mut billed = 0;
        for chunk in ids.chunks(BILL_CHUNK) {
            // Placeholders only ($3, $4, ...): the ids themselves are bound.
            let placeholders = (3..chunk.len() + 3)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            billed += on_tx!(self, c => {
                let mut query = sqlx::query(sql!(
                    "UPDATE charges SET invoice_id = $1 WHERE account_id = $2 \
                     AND invoice_id IS NULL AND id IN ({placeholders})"
                ))
                .bind(invoice_id)
                .bind(account.as_str());
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query.execute(&mut **c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(billed)
    }
}
