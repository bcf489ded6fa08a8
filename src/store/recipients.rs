//! Invoice recipients: the email addresses that receive issued invoices.

use time::OffsetDateTime;

use super::{Tx, execute, fetch_all};
use crate::domain::ids::{AccountId, RecipientId};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecipientRow {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub created_at: OffsetDateTime,
}

impl Tx {
    pub async fn insert_recipient(&mut self, r: &RecipientRow) -> Result<(), sqlx::Error> {
        execute!(self, sqlx::query(
            "INSERT INTO invoice_recipients (id, account_id, email, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.id)
        .bind(&r.account_id)
        .bind(&r.email)
        .bind(r.created_at))?;
        Ok(())
    }

    /// All of the account's recipients, oldest first (there are at most 10).
    pub async fn recipients(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<RecipientRow>, sqlx::Error> {
        fetch_all!(
            self,
            sqlx::query_as(
                "SELECT id, account_id, email, created_at FROM invoice_recipients \
             WHERE account_id = $1 ORDER BY id",
            )
            .bind(account.as_str())
        )
    }

    pub async fn set_recipient_email(
        &mut self,
        id: &RecipientId,
        email: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE invoice_recipients SET email = $1 WHERE id = $2")
                .bind(email)
                .bind(id.as_str())
        )?;
        Ok(())
    }

    pub async fn delete_recipient(&mut self, id: &RecipientId) -> Result<bool, sqlx::Error> {
        let deleted = execute!(
            self,
            sqlx::query("DELETE FROM invoice_recipients WHERE id = $1").bind(id.as_str())
        )?;
        Ok(deleted == 1)
    }
}
