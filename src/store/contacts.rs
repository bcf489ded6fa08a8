//! Useful contacts.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Page, Tx, execute, fetch_all, fetch_optional, on_tx, sql};
use crate::domain::contact::{Contact, ContactRole, Email, PhoneNumber};
use crate::domain::ids::{AccountId, ContactId};

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: String,
    account_id: String,
    name: String,
    email: String,
    phone: String,
    role: String,
    note: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<ContactRow> for Contact {
    type Error = sqlx::Error;

    fn try_from(r: ContactRow) -> Result<Self, Self::Error> {
        Ok(Contact {
            id: ContactId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: r.name,
            email: Email::from_trusted(r.email),
            phone: PhoneNumber::from_trusted(r.phone),
            role: ContactRole::parse(&r.role).ok_or_else(|| corrupt("role"))?,
            note: r.note,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, account_id, name, email, phone, role, note, created_at, updated_at";

impl Tx {
    /// Inserts or, for an existing id, rewrites a contact.
    pub async fn save_contact(&mut self, c: &Contact) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "INSERT INTO contacts (id, account_id, name, email, phone, role, note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, \
             phone = excluded.phone, role = excluded.role, note = excluded.note, updated_at = excluded.updated_at",
        )
        .bind(c.id.as_str())
        .bind(c.account_id.as_str())
        .bind(&c.name)
        .bind(c.email.as_str())
        .bind(c.phone.as_str())
        .bind(c.role.as_str())
        .bind(&c.note)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut **conn)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn contact(
        &mut self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<Option<Contact>, sqlx::Error> {
        let sql = sql!("SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND id = $2");
        let row: Option<ContactRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        row.map(Contact::try_from).transpose()
    }

    pub async fn list_contacts(
        &mut self,
        account: &AccountId,
        role: Option<ContactRole>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Contact>, sqlx::Error> {
        let sql = sql!(
            "SELECT {COLUMNS} FROM contacts WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR role = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows: Vec<ContactRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(role.map(ContactRole::as_str))
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(Contact::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    pub async fn delete_contact(&mut self, id: &ContactId) -> Result<bool, sqlx::Error> {
        let deleted = execute!(
            self,
            sqlx::query("DELETE FROM contacts WHERE id = $1").bind(id.as_str())
        )?;
        Ok(deleted == 1)
    }
}
