//! E-invoicing with the approved platform: each issued document's standing,
//! the outbox of messages for the platform, and the log of what happened.

use time::{Date, OffsetDateTime};

use super::outbox::{Attempt, Outbox};
use super::{Page, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::ids::AccountId;

/// An issued document's standing with the platform, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentRow {
    /// `inv_...` or `cn_...`.
    pub document_id: String,
    pub account_id: String,
    pub number: String,
    /// `380`, `381` or `386`.
    pub type_code: String,
    pub platform_id: Option<String>,
    pub status: String,
    pub status_code: Option<String>,
    pub status_at: OffsetDateTime,
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

const DOCUMENT_COLUMNS: &str = "document_id, account_id, number, type_code, platform_id, \
    status, status_code, status_at, reason, created_at";

/// A document staff must look at, with its invoice's status (none for a
/// credit note).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttentionRow {
    #[sqlx(flatten)]
    pub document: DocumentRow,
    pub invoice_status: Option<String>,
}

/// A message for the platform, as stored: the document (`kind` `document`)
/// or a status (`status`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub account_id: String,
    pub document_id: String,
    pub kind: String,
    /// The JSON sent, fixed when queued.
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub sent_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

const MESSAGE_COLUMNS: &str = "id, account_id, document_id, kind, payload, status, attempts, \
    next_attempt_at, last_error, sent_at, created_at";

/// The platform's outbox (a test account's documents stay queued: nothing
/// of theirs reaches the platform). An account's documents are deposited in the
/// order they were issued (a credit note never before its invoice): one
/// waits while an earlier one of its account is pending. A status is sent
/// once its document is deposited: the platform knows the document by the
/// id it gave.
const MESSAGES: Outbox = Outbox {
    table: "e_invoice_messages",
    columns: MESSAGE_COLUMNS,
    ready: " AND CASE WHEN kind = 'document' THEN NOT EXISTS (SELECT 1 FROM e_invoice_messages p \
        WHERE p.account_id = e_invoice_messages.account_id AND p.kind = 'document' \
        AND p.status = 'pending' AND p.id < e_invoice_messages.id) \
        ELSE EXISTS (SELECT 1 FROM e_invoice_documents d \
        WHERE d.document_id = e_invoice_messages.document_id AND d.platform_id IS NOT NULL) END \
        AND account_id IN (SELECT id FROM accounts WHERE test_clock_id IS NULL)",
};

/// One thing that happened to a document with the platform, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub account_id: String,
    pub document_id: String,
    pub kind: String,
    /// The lifecycle code (`200`...), for statuses and rejections.
    pub code: Option<String>,
    pub occurred_at: OffsetDateTime,
    pub reason: Option<String>,
    /// A 212's amount collected, in minor units of `currency`.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub collected_on: Option<Date>,
    /// The platform's event id, for statuses received.
    pub platform_event_id: Option<String>,
    pub created_at: OffsetDateTime,
}

const EVENT_COLUMNS: &str = "id, account_id, document_id, kind, code, occurred_at, reason, \
    amount_minor, currency, collected_on, platform_event_id, created_at";

/// A new status of a document: its name, code, instant and reason.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub status: &'a str,
    pub code: Option<&'a str>,
    pub at: OffsetDateTime,
    pub reason: Option<&'a str>,
}

impl Tx {
    pub async fn insert_e_invoice_document(&mut self, d: &DocumentRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO e_invoice_documents ({DOCUMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&d.document_id)
                .bind(&d.account_id)
                .bind(&d.number)
                .bind(&d.type_code)
                .bind(&d.platform_id)
                .bind(&d.status)
                .bind(&d.status_code)
                .bind(d.status_at)
                .bind(&d.reason)
                .bind(d.created_at)
        )?;
        Ok(())
    }

    /// A document's standing, whichever account it is of.
    pub async fn e_invoice_document(
        &mut self,
        document_id: &str,
    ) -> Result<Option<DocumentRow>, sqlx::Error> {
        let sql = sql!("SELECT {DOCUMENT_COLUMNS} FROM e_invoice_documents WHERE document_id = $1");
        fetch_optional!(self, sqlx::query_as(sql).bind(document_id))
    }

    /// The document the platform knows as `platform_id`.
    pub async fn e_invoice_document_by_platform_id(
        &mut self,
        platform_id: &str,
    ) -> Result<Option<DocumentRow>, sqlx::Error> {
        let sql = sql!("SELECT {DOCUMENT_COLUMNS} FROM e_invoice_documents WHERE platform_id = $1");
        fetch_optional!(self, sqlx::query_as(sql).bind(platform_id))
    }

    /// The standing of the account's documents whose ids are between
    /// `first` and `last` (a page of invoices or credit notes).
    pub async fn e_invoice_documents_between(
        &mut self,
        account: &AccountId,
        first: &str,
        last: &str,
    ) -> Result<Vec<DocumentRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {DOCUMENT_COLUMNS} FROM e_invoice_documents \
             WHERE account_id = $1 AND document_id >= $2 AND document_id <= $3"
        );
        fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(first)
                .bind(last)
        )
    }

    /// The document was deposited: the platform's id, and `transmitted`
    /// unless a status of the platform came first.
    pub async fn set_e_invoice_deposited(
        &mut self,
        document_id: &str,
        platform_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE e_invoice_documents SET platform_id = $2, \
                 status = CASE WHEN status = 'pending' THEN 'transmitted' ELSE status END, \
                 status_at = CASE WHEN status = 'pending' THEN $3 ELSE status_at END, \
                 reason = CASE WHEN status = 'pending' THEN NULL ELSE reason END \
                 WHERE document_id = $1",
            )
            .bind(document_id)
            .bind(platform_id)
            .bind(at)
        )?;
        Ok(())
    }

    /// Records a new standing of the document: it replaces Comptoir's own
    /// stages (pending, transmitted, failed) whatever its date, and a
    /// lifecycle status unless that one is dated later (statuses may arrive
    /// out of order). `true` when it is now the document's standing.
    pub async fn set_e_invoice_standing(
        &mut self,
        document_id: &str,
        s: Standing<'_>,
    ) -> Result<bool, sqlx::Error> {
        let changed = execute!(
            self,
            sqlx::query(
                "UPDATE e_invoice_documents SET status = $2, status_code = $3, status_at = $4, \
                 reason = $5 WHERE document_id = $1 AND (status_code IS NULL OR status_at <= $4)",
            )
            .bind(document_id)
            .bind(s.status)
            .bind(s.code)
            .bind(s.at)
            .bind(s.reason)
        )?;
        Ok(changed == 1)
    }

    /// Why the last attempt at a pending document failed (it is retried).
    pub async fn set_e_invoice_retry_reason(
        &mut self,
        document_id: &str,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "UPDATE e_invoice_documents SET reason = $2 \
                 WHERE document_id = $1 AND status = 'pending'",
            )
            .bind(document_id)
            .bind(reason)
        )?;
        Ok(())
    }

    /// A page of the documents staff must look at, by id: rejected (213) or
    /// refused (210) and not credited, or never deposited (`failed`).
    pub async fn e_invoice_attention(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<AttentionRow>, sqlx::Error> {
        let columns = DOCUMENT_COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = sql!(
            "SELECT {columns}, i.status AS invoice_status FROM e_invoice_documents d \
             LEFT JOIN invoices i ON i.id = d.document_id \
             WHERE (d.status = 'failed' OR (d.status_code IN ('210', '213') \
             AND (i.status IS NULL OR i.status NOT IN ('credited', 'void')))) \
             AND (CAST($1 AS TEXT) IS NULL OR d.document_id > $1) \
             ORDER BY d.document_id LIMIT $2"
        );
        let rows = fetch_all!(
            self,
            sqlx::query_as(sql).bind(after).bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }

    pub async fn insert_e_invoice_message(&mut self, m: &MessageRow) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO e_invoice_messages ({MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(&m.id)
                .bind(&m.account_id)
                .bind(&m.document_id)
                .bind(&m.kind)
                .bind(&m.payload)
                .bind(&m.status)
                .bind(m.attempts)
                .bind(m.next_attempt_at)
                .bind(&m.last_error)
                .bind(m.sent_at)
                .bind(m.created_at)
        )?;
        Ok(())
    }

    /// Claims up to `limit` messages due at `now` (see [`Tx::claim_due`]);
    /// a status only once its document is deposited.
    pub async fn claim_e_invoice_messages(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<MessageRow>, sqlx::Error> {
        self.claim_due(&MESSAGES, now, lease_until, limit).await
    }

    /// Records how an attempt at a claimed message ended.
    pub async fn record_e_invoice_attempt(
        &mut self,
        id: &str,
        attempt: &Attempt,
    ) -> Result<(), sqlx::Error> {
        self.record_attempt(&MESSAGES, id, attempt).await
    }

    /// Fails the document's pending statuses (it will never be deposited)
    /// and returns them.
    pub async fn fail_pending_e_invoice_statuses(
        &mut self,
        document_id: &str,
        error: &str,
    ) -> Result<Vec<MessageRow>, sqlx::Error> {
        let sql = sql!(
            "UPDATE e_invoice_messages SET status = 'failed', next_attempt_at = NULL, \
             last_error = $2 WHERE document_id = $1 AND kind = 'status' AND status = 'pending' \
             RETURNING {MESSAGE_COLUMNS}"
        );
        fetch_all!(self, sqlx::query_as(sql).bind(document_id).bind(error))
    }

    /// Records an event; one with a platform event id already recorded is
    /// not recorded again (`false`).
    pub async fn insert_e_invoice_event(&mut self, e: &EventRow) -> Result<bool, sqlx::Error> {
        let sql = sql!(
            "INSERT INTO e_invoice_events ({EVENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (platform_event_id) DO NOTHING"
        );
        let inserted = execute!(
            self,
            sqlx::query(sql)
                .bind(&e.id)
                .bind(&e.account_id)
                .bind(&e.document_id)
                .bind(&e.kind)
                .bind(&e.code)
                .bind(e.occurred_at)
                .bind(&e.reason)
                .bind(e.amount_minor)
                .bind(&e.currency)
                .bind(e.collected_on)
                .bind(&e.platform_event_id)
                .bind(e.created_at)
        )?;
        Ok(inserted == 1)
    }

    /// A page of a document's events, oldest first.
    pub async fn e_invoice_events(
        &mut self,
        document_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<EventRow>, sqlx::Error> {
        let sql = sql!(
            "SELECT {EVENT_COLUMNS} FROM e_invoice_events WHERE document_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(document_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(rows, limit))
    }
}
