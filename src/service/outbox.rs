//! Invoice emails. Issuing an invoice queues one email per recipient in the
//! outbox table, in the issuing transaction; the worker below delivers them
//! over SMTP, retries transient failures with exponential backoff and marks
//! each one sent or failed. Rows are claimed with a lease, so several server
//! instances on one database send each email once, and an email queued before
//! a restart is sent after it.

use std::collections::HashMap;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::OffsetDateTime;

use super::einvoices::{Format, Issued};
use crate::domain::credit_note::CreditNote;
use crate::domain::ids::{AccountId, CreditNoteId, InvoiceEmailId, InvoiceId};
use crate::domain::issued::Invoice;
use crate::error::ApiError;
use crate::render::Lang;
use crate::store::blobs::BlobStore;
use crate::store::invoices::InvoiceRow;
use crate::store::outbox::{Attempt, InvoiceEmailRow};
use crate::store::{Store, Tx};

/// The mail server invoices are sent through.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("SMTP_URL: {0}")]
    Url(lettre::transport::smtp::Error),
    #[error("COMPTOIR_MAIL_FROM is not an email address: {0}")]
    From(lettre::address::AddressError),
}

impl Mailer {
    /// `smtp_url`: `smtp://host:port` (plain, for a local relay),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://host`.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(MailerError::Url)?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from.parse().map_err(MailerError::From)?;
        Ok(Mailer { transport, from })
    }
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Emails claimed per pass.
    pub batch: u32,
    /// Pause between passes when nothing was due.
    pub poll: Duration,
    /// A claimed email is not claimed again before this; longer than a send.
    pub lease: Duration,
    /// The first retry waits this long, each next one twice as long.
    pub retry_base: Duration,
    /// After this many attempts an email is marked failed.
    pub max_attempts: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch: 20,
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(300),
            retry_base: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

/// The delay before attempt `attempts + 1`: `base * 2^(attempts - 1)`, at
/// most six hours.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    // The webhooks' schedule, without their jitter.
    crate::domain::webhook::retry_delay(base, Duration::from_secs(6 * 3600), attempts, 1.0)
}

pub use crate::clock::wall_now;

/// Queues the email of the invoice just inserted to each of the account's
/// recipients, in `tx` (the transaction that issues it). Returns how many
/// were queued.
pub async fn queue(
    tx: &mut Tx,
    invoice: &InvoiceRow,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<usize, ApiError> {
    let account = AccountId::from_trusted(invoice.account_id.clone());
    let recipients = tx.recipients(&account).await?;
    if recipients.is_empty() {
        return Ok(0);
    }
    let invoice = Invoice::try_from(invoice.clone())?;
    let (subject, body) = crate::render::invoice::email(&invoice, lang);
    for r in &recipients {
        let row = InvoiceEmailRow {
            id: InvoiceEmailId::generate().to_string(),
            invoice_id: invoice.id.to_string(),
            account_id: invoice.account_id.to_string(),
            recipient: r.email.clone(),
            subject: subject.clone(),
            body: body.clone(),
            lang: lang.code().to_owned(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            sent_at: None,
            created_at: now,
            credit_note_id: None,
        };
        tx.insert_invoice_email(&row).await?;
    }
    Ok(recipients.len())
}

/// Queues the email of a credit note just issued to each of the account's
/// recipients (the invoice's), in `tx` (the transaction that issues it).
pub async fn queue_credit_note(
    tx: &mut Tx,
    note: &CreditNote,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<usize, ApiError> {
    let recipients = tx.recipients(&note.account_id).await?;
    let (subject, body) = crate::render::credit_note::email(note, lang);
    for r in &recipients {
        let row = InvoiceEmailRow {
            id: InvoiceEmailId::generate().to_string(),
            invoice_id: note.invoice_id.to_string(),
            account_id: note.account_id.to_string(),
            recipient: r.email.clone(),
            subject: subject.clone(),
            body: body.clone(),
            lang: lang.code().to_owned(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            sent_at: None,
            created_at: now,
            credit_note_id: Some(note.id.to_string()),
        };
        tx.insert_invoice_email(&row).await?;
    }
    Ok(recipients.len())
}

/// The attachment of an email: the stored e-invoice (Factur-X PDF) of the
/// credit note when it carries one, else of the invoice, as issued.
async fn attachment(
    store: &Store,
    files: &BlobStore,
    row: &InvoiceEmailRow,
) -> Result<(String, Vec<u8>), SendError> {
    let database = |e: sqlx::Error| SendError::Transient(format!("database: {e}"));
    let stored = |e: ApiError| SendError::Transient(format!("the stored e-invoice: {e}"));
    let mut tx = store
        .begin_read()
        .await
        .map_err(|e| SendError::Transient(format!("database: {e}")))?;
    let now = wall_now();
    if let Some(note) = &row.credit_note_id {
        let account = AccountId::from_trusted(row.account_id.clone());
        let note: CreditNote = tx
            .credit_note(&account, &CreditNoteId::from_trusted(note.clone()))
            .await
            .map_err(database)?
            .ok_or_else(|| SendError::Permanent("the credit note is gone".into()))?
            .try_into()
            .map_err(|e: ApiError| SendError::Permanent(e.to_string()))?;
        drop(tx);
        let pdf = super::einvoices::file(store, files, Issued::CreditNote(&note), Format::Pdf, now)
            .await
            .map_err(stored)?;
        return Ok((format!("{}.pdf", note.number), pdf));
    }
    let id = InvoiceId::from_trusted(row.invoice_id.clone());
    let invoice: Invoice = tx
        .invoice_by_id(&id)
        .await
        .map_err(database)?
        .ok_or_else(|| SendError::Permanent("the invoice is gone".into()))?
        .try_into()
        .map_err(|e: ApiError| SendError::Permanent(e.to_string()))?;
    drop(tx);
    let pdf = super::einvoices::file(store, files, Issued::Invoice(&invoice), Format::Pdf, now)
        .await
        .map_err(stored)?;
    let lang = Lang::from_code(&row.lang);
    Ok((
        format!("{}.pdf", crate::render::invoice::number(&invoice, lang)),
        pdf,
    ))
}

/// What one pass of a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl Pass {
    /// Counts how one claimed message's attempt ended.
    pub fn count(&mut self, attempt: &Attempt) {
        match attempt {
            Attempt::Sent { .. } => self.sent += 1,
            Attempt::Retry { .. } => self.retried += 1,
            Attempt::Failed { .. } => self.failed += 1,
        }
    }
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again later (unreachable, busy, a timeout).
    Transient(String),
    /// Refused for good.
    Permanent(String),
}

/// How an attempt at a message claimed for the `attempts`th time ends: sent,
/// failed for good, or retried after [`backoff`] until `max_attempts`.
pub fn attempt_after(result: Result<(), SendError>, attempts: i32, settings: &Settings) -> Attempt {
    match result {
        Ok(()) => Attempt::Sent { at: wall_now() },
        Err(SendError::Permanent(error)) => Attempt::Failed { error },
        Err(SendError::Transient(error)) if attempts >= settings.max_attempts => Attempt::Failed {
            error: format!("{error} (gave up after {attempts} attempts)"),
        },
        Err(SendError::Transient(error)) => Attempt::Retry {
            next: wall_now() + backoff(settings.retry_base, attempts),
            error,
        },
    }
}

/// Runs `pass` forever: a full batch is followed at once by the next pass,
/// anything less by a pause of `settings.poll`.
pub async fn run_passes<F, Fut>(settings: &Settings, what: &str, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Pass, ApiError>>,
{
    loop {
        match pass().await {
            Ok(p) if p.claimed == settings.batch as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "{what} pass failed"),
        }
        tokio::time::sleep(settings.poll).await;
    }
}

/// Reads the attachment (once per document and language in a pass) and sends.
async fn send(
    store: &Store,
    files: &BlobStore,
    mailer: &Mailer,
    row: &InvoiceEmailRow,
    pdfs: &mut HashMap<(String, String), (String, Vec<u8>)>,
) -> Result<(), SendError> {
    let to: Mailbox = row
        .recipient
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
    let document = row.credit_note_id.as_ref().unwrap_or(&row.invoice_id);
    let key = (document.clone(), row.lang.clone());
    if !pdfs.contains_key(&key) {
        let rendered = attachment(store, files, row).await?;
        pdfs.insert(key.clone(), rendered);
    }
    let (filename, pdf) = &pdfs[&key];
    let pdf_type = ContentType::parse("application/pdf").expect("a valid content type");
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(&row.subject)
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(row.body.clone()))
                .singlepart(Attachment::new(filename.clone()).body(pdf.clone(), pdf_type)),
        )
        .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
    match mailer.transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
        Err(e) => Err(SendError::Transient(e.to_string())),
    }
}

/// Claims the emails due now and tries each once.
pub async fn deliver_due(
    store: &Store,
    files: &BlobStore,
    mailer: &Mailer,
    settings: &Settings,
) -> Result<Pass, ApiError> {
    let now = wall_now();
    let claimed = {
        let mut tx = store.begin_write().await?;
        let rows = tx
            .claim_invoice_emails(now, now + settings.lease, settings.batch)
            .await?;
        tx.commit().await?;
        rows
    };
    let mut pass = Pass {
        claimed: claimed.len(),
        ..Pass::default()
    };
    let mut pdfs = HashMap::new();
    for row in claimed {
        let result = send(store, files, mailer, &row, &mut pdfs).await;
        let attempt = attempt_after(result, row.attempts, settings);
        pass.count(&attempt);
        match &attempt {
            Attempt::Sent { .. } => {}
            Attempt::Retry { error, .. } => {
                tracing::warn!(email = %row.id, %error, "invoice email will be retried");
            }
            Attempt::Failed { error } => {
                tracing::error!(email = %row.id, %error, "invoice email failed");
            }
        }
        let mut tx = store.begin_write().await?;
        tx.record_email_attempt(&InvoiceEmailId::from_trusted(row.id), &attempt)
            .await?;
        tx.commit().await?;
    }
    Ok(pass)
}

/// Delivers due emails forever (see [`run_passes`]).
pub async fn worker(store: Store, files: BlobStore, mailer: Mailer, settings: Settings) {
    run_passes(&settings, "invoice email", || {
        deliver_due(&store, &files, &mailer, &settings)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_six_hours() {
        let base = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=5).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(waits, vec![60, 120, 240, 480, 960]);
        assert_eq!(backoff(base, 30), Duration::from_secs(6 * 3600));
        assert_eq!(backoff(base, 0), base);
    }

    #[test]
    fn a_bad_smtp_url_or_sender_is_refused_at_start() {
        assert!(matches!(
            Mailer::new("ftp://mail.example", "a@b.fr"),
            Err(MailerError::Url(_))
        ));
        assert!(matches!(
            Mailer::new("smtp://127.0.0.1:2525", "not an address"),
            Err(MailerError::From(_))
        ));
    }
}
