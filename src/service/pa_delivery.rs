//! Delivers the e-invoicing outbox to the approved platform (`COMPTOIR_PA_URL`):
//! each document's stored Factur-X with its metadata, then the statuses
//! Comptoir reports about it (212) once it is deposited; an account's
//! documents in the order they were issued. Rows are claimed
//! with a lease like the invoice emails (`outbox`), so several instances on
//! one database send each message once, a message queued before a restart
//! is sent after it, and transient failures are retried with exponential
//! backoff until they are marked failed.

use sha2::{Digest, Sha256};

use super::Ctx;
use super::e_invoicing::{self, DOCUMENT, Outcome};
use super::outbox::{Pass, SendError, Settings, attempt_after, run_passes, wall_now};
use crate::clock::Clock;
use crate::domain::e_invoicing::{FileInfo, Metadata, PlatformAnswer, StatusReport, reason};
use crate::error::ApiError;
use crate::pa::Platform;
use crate::store::Store;
use crate::store::blobs::BlobStore;
use crate::store::e_invoicing::MessageRow;
use crate::store::outbox::Attempt;

/// Who the worker's changes are recorded as in the audit log.
const ACTOR: &str = "e-invoicing-worker";

/// The platform's answer to one message, before it is recorded.
enum Sent {
    Answer(PlatformAnswer),
    /// Comptoir could not send it (no stored file, a broken payload): never
    /// retried.
    Broken(String),
}

/// Sends one claimed message: reads what it carries and posts it.
async fn send(store: &Store, blobs: &BlobStore, platform: &Platform, m: &MessageRow) -> Sent {
    if m.kind == DOCUMENT {
        let Ok(mut metadata) = serde_json::from_str::<Metadata>(&m.payload) else {
            return Sent::Broken("the queued metadata cannot be read".into());
        };
        let pdf = super::einvoices::stored_pdf(store, blobs, &m.account_id, &m.document_id).await;
        let pdf = match pdf {
            Ok(Some(pdf)) => pdf,
            Ok(None) => return Sent::Broken("the document has no stored Factur-X".into()),
            // The database or the disk: worth another try.
            Err(e) => {
                return Sent::Answer(PlatformAnswer::Unavailable {
                    error: format!("reading the stored Factur-X: {e}"),
                });
            }
        };
        metadata.file = Some(FileInfo {
            name: format!("{}.pdf", metadata.number),
            content_type: "application/pdf".into(),
            size: pdf.len(),
            sha256: hex::encode(Sha256::digest(&pdf)),
        });
        return Sent::Answer(platform.deposit(&m.id, &metadata, pdf).await);
    }
    let Ok(mut report) = serde_json::from_str::<StatusReport>(&m.payload) else {
        return Sent::Broken("the queued status cannot be read".into());
    };
    let platform_id = match store.begin_read().await {
        Ok(mut tx) => match tx.e_invoice_document(&m.document_id).await {
            Ok(d) => d.and_then(|d| d.platform_id),
            Err(e) => {
                return Sent::Answer(PlatformAnswer::Unavailable {
                    error: format!("database: {e}"),
                });
            }
        },
        Err(e) => {
            return Sent::Answer(PlatformAnswer::Unavailable {
                error: format!("database: {e}"),
            });
        }
    };
    let Some(platform_id) = platform_id else {
        return Sent::Broken("the document was not deposited".into());
    };
    report.platform_id = Some(platform_id.clone());
    Sent::Answer(platform.report(&m.id, &platform_id, &report).await)
}

/// The attempt to record, and what it means for the document.
fn outcome(m: &MessageRow, sent: Sent, settings: &Settings) -> (Attempt, Outcome) {
    let result = match &sent {
        Sent::Answer(PlatformAnswer::Accepted { .. }) => Ok(()),
        Sent::Answer(PlatformAnswer::Refused { reason }) => {
            Err(SendError::Permanent(reason.clone()))
        }
        Sent::Answer(PlatformAnswer::Unavailable { error }) => {
            Err(SendError::Transient(error.clone()))
        }
        Sent::Broken(error) => Err(SendError::Permanent(error.clone())),
    };
    let attempt = attempt_after(result, m.attempts, settings);
    let outcome = match (&attempt, sent) {
        (Attempt::Sent { .. }, Sent::Answer(PlatformAnswer::Accepted { id }))
            if m.kind == DOCUMENT =>
        {
            // A platform that gives no id knows the document by Comptoir's.
            Outcome::Deposited {
                platform_id: id.unwrap_or_else(|| m.document_id.clone()),
            }
        }
        (Attempt::Sent { .. }, _) => Outcome::Delivered,
        (Attempt::Failed { .. }, Sent::Answer(PlatformAnswer::Refused { reason: why })) => {
            Outcome::Refused {
                reason: reason(&why),
            }
        }
        (Attempt::Failed { error }, _) => Outcome::GaveUp {
            error: reason(error),
        },
        (Attempt::Retry { error, .. }, _) => Outcome::Retry {
            error: reason(error),
        },
    };
    (attempt, outcome)
}

/// Claims the messages due now and tries each once. Claims, leases and
/// retries are paced by the wall clock; what happened is recorded at the
/// business `clock`'s time, like every other record.
pub async fn deliver_due(
    store: &Store,
    blobs: &BlobStore,
    platform: &Platform,
    clock: &Clock,
    settings: &Settings,
) -> Result<Pass, ApiError> {
    let now = wall_now();
    let claimed = {
        let mut tx = store.begin_write().await?;
        let mut rows = tx
            .claim_e_invoice_messages(now, now + settings.lease, settings.batch)
            .await?;
        tx.commit().await?;
        // In the order queued (`RETURNING` keeps none).
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    };
    let mut pass = Pass {
        claimed: claimed.len(),
        ..Pass::default()
    };
    for m in claimed {
        let sent = send(store, blobs, platform, &m).await;
        let (attempt, outcome) = outcome(&m, sent, settings);
        pass.count(&attempt);
        match &outcome {
            Outcome::Retry { error } => {
                tracing::warn!(message = %m.id, document = %m.document_id, %error, "e-invoicing message will be retried");
            }
            Outcome::GaveUp { error } | Outcome::Refused { reason: error } => {
                tracing::error!(message = %m.id, document = %m.document_id, %error, "e-invoicing message failed");
            }
            Outcome::Deposited { .. } | Outcome::Delivered => {}
        }
        let ctx = Ctx::system(ACTOR, clock.now());
        let mut tx = store.begin_write().await?;
        tx.record_e_invoice_attempt(&m.id, &attempt).await?;
        e_invoicing::record_outcome(&mut tx, &ctx, &m, &outcome).await?;
        tx.commit().await?;
    }
    Ok(pass)
}

/// Delivers due messages forever (see [`run_passes`]).
pub async fn worker(
    store: Store,
    blobs: BlobStore,
    platform: Platform,
    clock: Clock,
    settings: Settings,
) {
    run_passes(&settings, "e-invoicing", || {
        deliver_due(&store, &blobs, &platform, &clock, &settings)
    })
    .await
}
