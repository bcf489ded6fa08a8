//! Accounts table.

use time::OffsetDateTime;

use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::account::{Account, InvoiceLanguage, Timezone};
use crate::domain::ids::{AccountId, TestClockId};
use crate::domain::money::Currency;

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    name: String,
    currency: String,
    timezone: String,
    invoice_language: String,
    created_at: OffsetDateTime,
    test_clock_id: Option<String>,
}

impl TryFrom<AccountRow> for Account {
    type Error = sqlx::Error;

    fn try_from(row: AccountRow) -> Result<Self, Self::Error> {
        Ok(Account {
            id: AccountId::from_trusted(row.id),
            name: row.name,
            currency: Currency::parse(&row.currency).ok_or_else(|| corrupt("currency"))?,
            timezone: Timezone::parse(&row.timezone).ok_or_else(|| corrupt("timezone"))?,
            invoice_language: InvoiceLanguage::parse(&row.invoice_language)
                .ok_or_else(|| corrupt("invoice_language"))?,
            created_at: row.created_at,
            test_clock_id: row.test_clock_id.map(TestClockId::from_trusted),
        })
    }
}

/// A stored value the domain refuses: the database was changed behind our back.
pub(crate) fn corrupt(column: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("invalid stored value in column {column}").into())
}

const COLUMNS: &str = "id, name, currency, timezone, invoice_language, created_at, test_clock_id";

impl Tx {
    /// Serialises the writers of one account's limited collections (at most
    /// N of something) until the transaction ends. PostgreSQL: a row lock on
    /// the account; SQLite: write transactions are already exclusive.
    pub async fn lock_account(&mut self, account: &AccountId) -> Result<(), sqlx::Error> {
        // NO KEY UPDATE: lockers of one account queue, while rows that
        // merely reference it (a consumption batch holding the credits'
        // lock, say) still insert: their foreign-key check takes KEY SHARE,
        // which FOR UPDATE would block, deadlocking with a finalizer that
        // holds the account and waits for the credits.
        if let Tx::Pg(c) = self {
            sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE")
                .bind(account.as_str())
                .fetch_optional(&mut **c)
                .await?;
        }
        Ok(())
    }

    pub async fn insert_account(&mut self, account: &Account) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO accounts (id, name, currency, timezone, invoice_language, created_at, \
                 test_clock_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(account.id.as_str())
            .bind(&account.name)
            .bind(account.currency.code())
            .bind(account.timezone.as_str())
            .bind(account.invoice_language.code())
            .bind(account.created_at)
            .bind(account.test_clock_id.as_ref().map(TestClockId::as_str))
        )?;
        Ok(())
    }

    pub async fn account(&mut self, id: &AccountId) -> Result<Option<Account>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = fetch_optional!(self, sqlx::query_as(sql).bind(id.as_str()))?;
        row.map(Account::try_from).transpose()
    }

    /// The accounts living on test clock `clock`, in id order.
    pub async fn accounts_on_clock(
        &mut self,
        clock: &TestClockId,
    ) -> Result<Vec<Account>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM accounts WHERE test_clock_id = $1 ORDER BY id");
        let rows: Vec<AccountRow> = fetch_all!(self, sqlx::query_as(sql).bind(clock.as_str()))?;
        rows.into_iter().map(Account::try_from).collect()
    }

    /// Accounts in id order, after the cursor id.
    pub async fn list_accounts(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Account>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM accounts \
             WHERE (CAST($1 AS TEXT) IS NULL OR id > $1) ORDER BY id LIMIT $2"
        );
        let rows: Vec<AccountRow> = fetch_all!(
            self,
            sqlx::query_as(sql).bind(after).bind(i64::from(limit) + 1)
        )?;
        let accounts = rows
            .into_iter()
            .map(Account::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(accounts, limit))
    }
}
