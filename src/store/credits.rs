//! Prepaid credits: the per-account balance row, the ledger, top-ups and the
//! webhook's processed events.

use time::OffsetDateTime;

use super::accounts::corrupt;
use super::{Backend, Page, Tx, execute, fetch_all, fetch_one, fetch_optional, sql};
use crate::domain::ids::{AccountId, LedgerEntryId, PaymentMethodId, TopUpId};
use crate::domain::payment::{CreditState, LedgerKind, TopUp, TopUpOrigin, TopUpStatus};

#[derive(sqlx::FromRow)]
struct StateRow {
    balance_minor: i64,
    auto_recharge_enabled: bool,
    threshold_minor: i64,
    recharge_amount_minor: i64,
}

impl From<StateRow> for CreditState {
    fn from(r: StateRow) -> Self {
        CreditState {
            balance_minor: r.balance_minor,
            auto_recharge_enabled: r.auto_recharge_enabled,
            threshold_minor: r.threshold_minor,
            recharge_amount_minor: r.recharge_amount_minor,
        }
    }
}

/// A ledger line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: LedgerEntryId,
    pub kind: LedgerKind,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub reference: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct LedgerRow {
    id: String,
    kind: String,
    amount_minor: i64,
    balance_after_minor: i64,
    reference: Option<String>,
    created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct TopUpRow {
    id: String,
    account_id: String,
    amount_minor: i64,
    status: String,
    origin: String,
    payment_method_id: String,
    failure_reason: Option<String>,
    created_at: OffsetDateTime,
    settled_at: Option<OffsetDateTime>,
    tax_minor: i64,
    tax: Option<String>,
    invoice_id: Option<String>,
}

impl TryFrom<TopUpRow> for TopUp {
    type Error = sqlx::Error;

    fn try_from(r: TopUpRow) -> Result<Self, Self::Error> {
        Ok(TopUp {
            id: TopUpId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            amount_minor: r.amount_minor,
            status: TopUpStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            origin: TopUpOrigin::parse(&r.origin).ok_or_else(|| corrupt("origin"))?,
            payment_method_id: PaymentMethodId::from_trusted(r.payment_method_id),
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            settled_at: r.settled_at,
            tax_minor: r.tax_minor,
            tax: r
                .tax
                .map(|t| serde_json::from_str(&t).map_err(|_| corrupt("tax")))
                .transpose()?,
            invoice_id: r.invoice_id,
        })
    }
}

const TOP_UP_COLUMNS: &str = "id, account_id, amount_minor, status, origin, payment_method_id, \
    failure_reason, created_at, settled_at, tax_minor, tax, invoice_id";

impl Tx {
    /// The account's credit state, locked for the rest of the transaction
    /// (PostgreSQL: `FOR UPDATE`; SQLite: write transactions are already
    /// exclusive). The row is created at zero the first time.
    pub async fn lock_credits(&mut self, account: &AccountId) -> Result<CreditState, sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO credit_accounts (account_id, balance_minor, auto_recharge_enabled, \
             threshold_minor, recharge_amount_minor) VALUES ($1, 0, FALSE, 0, 0) \
             ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account.as_str())
        )?;
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = sql!(
            "SELECT balance_minor, auto_recharge_enabled, threshold_minor, recharge_amount_minor \
             FROM credit_accounts WHERE account_id = $1{lock}"
        );
        let row: StateRow = fetch_one!(self, sqlx::query_as(sql).bind(account.as_str()))?;
        Ok(row.into())
    }

    /// The credit state without creating or locking anything.
    pub async fn credits(&mut self, account: &AccountId) -> Result<CreditState, sqlx::Error> {
        let row: Option<StateRow> = fetch_optional!(self, sqlx::query_as(
            "SELECT balance_minor, auto_recharge_enabled, threshold_minor, recharge_amount_minor \
             FROM credit_accounts WHERE account_id = $1",
        )
        .bind(account.as_str()))?;
        Ok(row.map(CreditState::from).unwrap_or_default())
    }

    pub async fn set_auto_recharge(
        &mut self,
        account: &AccountId,
        state: &CreditState,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE credit_accounts SET auto_recharge_enabled = $2, threshold_minor = $3, \
             recharge_amount_minor = $4 WHERE account_id = $1",
            )
            .bind(account.as_str())
            .bind(state.auto_recharge_enabled)
            .bind(state.threshold_minor)
            .bind(state.recharge_amount_minor)
        )?;
        Ok(())
    }

    /// Moves the balance by `amount` (signed) and writes the ledger line, in
    /// one go: the balance stays the sum of the ledger. The caller holds the lock.
    pub async fn post_ledger(
        &mut self,
        account: &AccountId,
        kind: LedgerKind,
        amount_minor: i64,
        balance_after_minor: i64,
        reference: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<LedgerEntry, sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE credit_accounts SET balance_minor = $2 WHERE account_id = $1",)
                .bind(account.as_str())
                .bind(balance_after_minor)
        )?;
        let entry = LedgerEntry {
            id: LedgerEntryId::generate(),
            kind,
            amount_minor,
            balance_after_minor,
            reference: reference.map(str::to_owned),
            created_at: now,
        };
        execute!(self, sqlx::query(
            "INSERT INTO credit_ledger (id, account_id, kind, amount_minor, balance_after_minor, \
             reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.id.as_str())
        .bind(account.as_str())
        .bind(kind.as_str())
        .bind(amount_minor)
        .bind(balance_after_minor)
        .bind(&entry.reference)
        .bind(now))?;
        Ok(entry)
    }

    /// Ledger lines, newest first.
    pub async fn ledger(
        &mut self,
        account: &AccountId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<LedgerEntry>, sqlx::Error> {
        let rows: Vec<LedgerRow> = fetch_all!(
            self,
            sqlx::query_as(
                "SELECT id, kind, amount_minor, balance_after_minor, reference, created_at \
             FROM credit_ledger WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            )
            .bind(account.as_str())
            .bind(before)
            .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(LedgerEntry {
                    id: LedgerEntryId::from_trusted(r.id),
                    kind: LedgerKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
                    amount_minor: r.amount_minor,
                    balance_after_minor: r.balance_after_minor,
                    reference: r.reference,
                    created_at: r.created_at,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Page::from_rows(items, limit))
    }

    /// The sum of the ledger (tests check it equals the balance).
    pub async fn ledger_sum(&mut self, account: &AccountId) -> Result<i64, sqlx::Error> {
        let (sum,): (Option<i64>,) =
            fetch_one!(self, sqlx::query_as(
            "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM credit_ledger WHERE account_id = $1",
        )
        .bind(account.as_str()))?;
        Ok(sum.unwrap_or(0))
    }

    pub async fn save_top_up(&mut self, t: &TopUp) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO top_ups ({TOP_UP_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             failure_reason = excluded.failure_reason, settled_at = excluded.settled_at"
        );
        let tax = t
            .tax
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        execute!(
            self,
            sqlx::query(sql)
                .bind(t.id.as_str())
                .bind(t.account_id.as_str())
                .bind(t.amount_minor)
                .bind(t.status.as_str())
                .bind(t.origin.as_str())
                .bind(t.payment_method_id.as_str())
                .bind(&t.failure_reason)
                .bind(t.created_at)
                .bind(t.settled_at)
                .bind(t.tax_minor)
                .bind(tax)
                .bind(&t.invoice_id)
        )?;
        Ok(())
    }

    /// A top-up by id, whatever its account (the webhook knows only the id).
    pub async fn top_up(&mut self, id: &TopUpId) -> Result<Option<TopUp>, sqlx::Error> {
        let sql = sql!("SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE id = $1");
        let row: Option<TopUpRow> = fetch_optional!(self, sqlx::query_as(sql).bind(id.as_str()))?;
        row.map(TopUp::try_from).transpose()
    }

    pub async fn list_top_ups(
        &mut self,
        account: &AccountId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<TopUp>, sqlx::Error> {
        let sql = sql!(
            "SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<TopUpRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(before)
                .bind(i64::from(limit) + 1)
        )?;
        let items = rows
            .into_iter()
            .map(TopUp::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit))
    }

    pub async fn has_pending_auto_recharge(
        &mut self,
        account: &AccountId,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as(
                "SELECT id FROM top_ups WHERE account_id = $1 AND status = 'pending' \
             AND origin = 'auto_recharge' LIMIT 1",
            )
            .bind(account.as_str())
        )?;
        Ok(found.is_some())
    }

    /// Records a webhook event id; false when it was already processed.
    pub async fn record_webhook_event(
        &mut self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let inserted = execute!(
            self,
            sqlx::query(
                "INSERT INTO webhook_events (event_id, received_at) VALUES ($1, $2) \
             ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(now)
        )?;
        Ok(inserted == 1)
    }

    /// Deletes the webhook event ids received before `before`; returns how many.
    pub async fn purge_webhook_events(
        &mut self,
        before: OffsetDateTime,
    ) -> Result<u64, sqlx::Error> {
        execute!(
            self,
            sqlx::query("DELETE FROM webhook_events WHERE received_at < $1").bind(before)
        )
    }
}
