//! Test clocks (issue 21): an integrator's CI makes a clock at a frozen
//! time, opens test accounts on it and advances it; everything that falls
//! due in between runs, in order, at the clock's time: each month's billing
//! run for its accounts, the drafts' finalizations, the expiring-card
//! events. Their webhooks fire as they would have.
//!
//! Who: staff, and the admins of a test account, who see and move the
//! clocks their account made and the one it lives on.
//!
//! The advance is a job. `POST .../advance` only marks the clock
//! `advancing`; the worker of every server claims advancing clocks with a
//! lease on the real time, runs what is due at the next stop (a month's
//! start in an account's timezone, a draft's end of grace, a UTC midnight,
//! the target), then records the stop in the clock, and so on. Each thing
//! run is idempotent (a period is billed once, a draft finalized once, a
//! card announced once), so a server killed between a step and its record
//! resumes at that stop on restart and nothing happens twice.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::instrument;

use super::invoices::{self, Billing};
use super::{Ctx, PageRequest};
use crate::domain::account::Account;
use crate::domain::ids::{AccountId, TestClockId};
use crate::domain::invoice::Period;
use crate::domain::role::Need;
use crate::domain::test_clock::{self, ClockStatus, EARLIEST, LATEST, TestClock};
use crate::error::{ApiError, Code};
use crate::store::blobs::BlobStore;
use crate::store::{Page, Store};

/// A validated request to make a clock.
#[derive(Debug, Clone)]
pub struct NewClock {
    pub name: String,
    pub frozen_time: OffsetDateTime,
}

/// 409 `test_clock_advancing` while the clock runs an advance.
pub fn refuse_if_advancing(clock: &TestClock) -> Result<(), ApiError> {
    match clock.advancing() {
        None => Ok(()),
        Some(detail) => Err(ApiError::rule(Code::TestClockAdvancing, detail)),
    }
}

/// A clock's time to the second, within the documented range; `field`
/// names it in the 422.
pub fn check_time(field: &str, at: OffsetDateTime) -> Result<OffsetDateTime, ApiError> {
    if !(EARLIEST..LATEST).contains(&at) {
        return Err(ApiError::validation(
            field,
            "must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z",
        ));
    }
    Ok(at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at))
}

/// The business time of `account` when the real one is `now`: its
/// clock's, for a test account (what a request on it sees; the payment
/// webhooks, which name an invoice or a top-up, use it too).
pub async fn time_of(
    store: &Store,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, ApiError> {
    if !account.is_test() {
        return Ok(now);
    }
    let clock = store.begin_read().await?.clock_of_account(account).await?;
    Ok(clock.map_or(now, |c| c.frozen_time))
}

/// Who may touch clocks: staff, or an admin of a test account (whose
/// account it is). `None` for staff.
fn owner_of(ctx: &Ctx) -> Result<Option<AccountId>, ApiError> {
    ctx.require(Need::Manage)?;
    if ctx.caller.role.is_staff() {
        return Ok(None);
    }
    match &ctx.caller.account_id {
        Some(account) if account.is_test() => Ok(Some(account.clone())),
        _ => Err(ApiError::rule(
            Code::Forbidden,
            "test clocks are for staff and the admins of test accounts",
        )),
    }
}

/// The clock, if the caller may see it (else 404, as for an unknown one):
/// staff see all; an admin of a test account the clocks its account made
/// and the one it lives on.
async fn visible(store: &Store, ctx: &Ctx, id: &TestClockId) -> Result<TestClock, ApiError> {
    let owner = owner_of(ctx)?;
    let mut tx = store.begin_read().await?;
    let clock = tx
        .test_clock(id)
        .await?
        .ok_or(ApiError::NotFound("test clock"))?;
    let Some(owner) = owner else {
        return Ok(clock);
    };
    let lives_on = tx
        .account(&owner)
        .await?
        .and_then(|a| a.test_clock_id)
        .is_some_and(|c| c == clock.id);
    if clock.owner.as_ref() == Some(&owner) || lives_on {
        Ok(clock)
    } else {
        Err(ApiError::NotFound("test clock"))
    }
}

#[instrument(skip_all)]
pub async fn create(store: &Store, ctx: &Ctx, new: NewClock) -> Result<TestClock, ApiError> {
    let owner = owner_of(ctx)?;
    let clock = TestClock {
        id: TestClockId::generate(),
        name: new.name,
        frozen_time: check_time("frozen_time", new.frozen_time)?,
        status: ClockStatus::Ready,
        advance_to: None,
        owner,
        created_at: crate::clock::wall_now(),
    };
    let mut tx = store.begin_write().await?;
    tx.insert_test_clock(&clock).await?;
    let event = ctx.audit_event(
        clock.owner.as_ref(),
        "test_clock.created",
        ("test_clock", clock.id.as_str()),
        None,
        Some(serde_json::json!({"name": clock.name, "frozen_time": test_clock::rfc3339(clock.frozen_time)})),
    );
    super::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(clock)
}

#[instrument(skip_all, fields(clock = %id))]
pub async fn get(store: &Store, ctx: &Ctx, id: &TestClockId) -> Result<TestClock, ApiError> {
    visible(store, ctx, id).await
}

#[instrument(skip_all)]
pub async fn list(
    store: &Store,
    ctx: &Ctx,
    page: &PageRequest,
) -> Result<Page<TestClock>, ApiError> {
    let owner = owner_of(ctx)?;
    let mut tx = store.begin_read().await?;
    Ok(tx
        .list_test_clocks(owner.as_ref(), page.after.as_deref(), page.limit)
        .await?)
}

/// Deletes the clock with its test accounts and all their data (files
/// included). An admin of a test account deletes only the clocks its
/// account made, not the one it lives on.
#[instrument(skip_all, fields(clock = %id))]
pub async fn delete(
    store: &Store,
    files: &BlobStore,
    ctx: &Ctx,
    id: &TestClockId,
) -> Result<(), ApiError> {
    let clock = visible(store, ctx, id).await?;
    if let Some(owner) = owner_of(ctx)?
        && clock.owner.as_ref() != Some(&owner)
    {
        return Err(ApiError::rule(
            Code::Forbidden,
            "an admin deletes only the test clocks its account made: staff delete the one it lives on",
        ));
    }
    refuse_if_advancing(&clock)?;
    let mut tx = store.begin_write().await?;
    let accounts = tx.account_ids(Some(id)).await?;
    let documents = tx.clock_document_ids(id).await?;
    if !tx.delete_test_clock(id).await? {
        return Err(ApiError::NotFound("test clock"));
    }
    // Kept in the audit log of staff (or of the admin's own account).
    let event = ctx.audit_event(
        clock.owner.as_ref(),
        "test_clock.deleted",
        ("test_clock", id.as_str()),
        Some(serde_json::json!({"name": clock.name, "accounts": accounts.len()})),
        None,
    );
    super::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    // The rows are gone; their files follow (a crash here leaves files no
    // row names, which nothing serves; the e-invoice sweeper removes those).
    for document in documents {
        if let Err(e) = files.delete(&document).await {
            tracing::warn!(document, error = %e, "a deleted test account's document file stayed");
        }
    }
    for account in accounts {
        if let Err(e) = files.remove_account_e_invoices(account.as_str()) {
            tracing::warn!(account = %account, error = %e, "a deleted test account's e-invoice files stayed");
        }
    }
    Ok(())
}

/// Starts moving the clock to `to` (forward, at most two months): it is
/// `advancing` until the worker has run everything due on the way.
#[instrument(skip_all, fields(clock = %id))]
pub async fn advance(
    store: &Store,
    ctx: &Ctx,
    wake: &Notify,
    id: &TestClockId,
    to: OffsetDateTime,
) -> Result<TestClock, ApiError> {
    let clock = visible(store, ctx, id).await?;
    refuse_if_advancing(&clock)?;
    let to = check_time("to", to)?;
    if let Some(why) = test_clock::refuse_advance(clock.frozen_time, to) {
        return Err(ApiError::validation("to", why));
    }
    let mut tx = store.begin_write().await?;
    if !tx.start_advance(id, to).await? {
        // Another advance started meanwhile.
        return Err(ApiError::rule(
            Code::TestClockAdvancing,
            test_clock::advancing(id),
        ));
    }
    let event = ctx.audit_event(
        clock.owner.as_ref(),
        "test_clock.advance_started",
        ("test_clock", id.as_str()),
        Some(serde_json::json!({"frozen_time": test_clock::rfc3339(clock.frozen_time)})),
        Some(serde_json::json!({"advance_to": test_clock::rfc3339(to)})),
    );
    super::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    wake.notify_one();
    Ok(TestClock {
        status: ClockStatus::Advancing,
        advance_to: Some(to),
        ..clock
    })
}

/// How the advancing worker paces itself (real time).
pub use crate::config::TestClockConfig as Settings;

/// The worker of every server: claims an advancing clock, runs it to its
/// target, then looks for the next; sleeps `poll` (or until woken by an
/// advance on this server) when there is none.
pub async fn worker(store: Store, billing: Billing, settings: Settings, wake: Arc<Notify>) {
    loop {
        match claim_and_run(&store, &billing, settings).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(cause = %e.cause(), "test clock advance failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.poll) => {}
            () = wake.notified() => {}
        }
    }
}

/// Claims one advancing clock and runs it to its target; `false` when
/// there was none to claim.
pub async fn claim_and_run(
    store: &Store,
    billing: &Billing,
    settings: Settings,
) -> Result<bool, ApiError> {
    let now = crate::clock::wall_now();
    let claimed = {
        let mut tx = store.begin_write().await?;
        let clock = tx.claim_advancing_clock(now, now + settings.lease).await?;
        tx.commit().await?;
        clock
    };
    let Some(clock) = claimed else {
        return Ok(false);
    };
    tracing::info!(clock = %clock.id, from = %clock.frozen_time, to = ?clock.advance_to, "advancing a test clock");
    while let Some((from, at)) = next_stop(store, &clock.id).await? {
        run_due(store, billing, &clock.id, from, at).await?;
        let mut tx = store.begin_write().await?;
        tx.move_test_clock(&clock.id, at, crate::clock::wall_now() + settings.lease)
            .await?;
        tx.commit().await?;
    }
    Ok(true)
}

/// The clock's frozen time and its next stop, or `None` once it reached
/// its target (the advance is then finished) or is no longer advancing.
pub async fn next_stop(
    store: &Store,
    id: &TestClockId,
) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, ApiError> {
    let mut tx = store.begin_write().await?;
    let Some(clock) = tx.test_clock(id).await? else {
        return Ok(None);
    };
    let (ClockStatus::Advancing, Some(to)) = (clock.status, clock.advance_to) else {
        return Ok(None);
    };
    if clock.frozen_time >= to {
        tx.finish_advance(id).await?;
        tx.commit().await?;
        tracing::info!(clock = %id, at = %to, "test clock ready");
        return Ok(None);
    }
    let accounts = tx.accounts_on_clock(id).await?;
    let draft_due = tx.next_draft_due(id, clock.frozen_time).await?;
    let at = stop_after(clock.frozen_time, to, &accounts, draft_due);
    Ok(Some((clock.frozen_time, at)))
}

/// The first instant after `from` (up to `to`) at which something may fall
/// due: a month starting in an account's timezone (its billing run), a
/// draft's grace ending, or a day starting in UTC (the cards' expiry is
/// read by the day).
pub fn stop_after(
    from: OffsetDateTime,
    to: OffsetDateTime,
    accounts: &[Account],
    draft_due: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let midnight = from
        .to_offset(time::UtcOffset::UTC)
        .date()
        .next_day()
        .map_or(to, |d| d.midnight().assume_utc());
    let months = accounts.iter().map(|a| {
        let next = Period::of(a.timezone.date_at(from)).next();
        a.timezone.start_of(next.start())
    });
    months
        .chain(draft_due)
        .chain([midnight, to])
        .filter(|at| *at > from)
        .min()
        .unwrap_or(to)
        .min(to)
}

/// Runs what falls due when the clock moves from `from` to `at` for its
/// accounts, as the real time's workers do for the live ones: the billing
/// run of the month that began in between in an account's timezone (a
/// period is billed once: run again, it does nothing), the drafts whose
/// grace is over, the cards expiring.
pub async fn run_due(
    store: &Store,
    billing: &Billing,
    id: &TestClockId,
    from: OffsetDateTime,
    at: OffsetDateTime,
) -> Result<(), ApiError> {
    let ctx = Ctx::system("test-clock", at);
    let accounts = store.begin_read().await?.accounts_on_clock(id).await?;
    for account in &accounts {
        let period = Period::of(account.timezone.date_at(at));
        if period == Period::of(account.timezone.date_at(from)) {
            continue;
        }
        let report = invoices::run(
            store,
            &ctx,
            billing,
            period,
            Some(std::slice::from_ref(&account.id)),
        )
        .await;
        match report {
            Ok(r) => {
                for (account, reason) in r.failed {
                    tracing::error!(clock = %id, account = %account, reason, "test account not billed");
                }
            }
            // The period's 1st has begun nowhere yet: nothing to bill.
            Err(ApiError::Rule {
                code: Code::PeriodNotStarted,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    invoices::finalize_due_on(store, &ctx, billing, Some(id)).await?;
    super::payments::announce_expiring_cards(store, at, Some(id)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::account::{InvoiceLanguage, Timezone};
    use crate::domain::money::Currency;

    fn account(zone: &str) -> Account {
        Account {
            id: AccountId::generate_test(),
            name: "Test".into(),
            currency: Currency::Eur,
            timezone: Timezone::parse(zone).unwrap(),
            invoice_language: InvoiceLanguage::default(),
            created_at: datetime!(2026-01-01 00:00 UTC),
            test_clock_id: Some(TestClockId::generate()),
        }
    }

    #[test]
    fn the_next_stop_is_the_first_month_start_draft_due_or_midnight_before_the_target() {
        let paris = [account("Europe/Paris")];
        let to = datetime!(2026-06-01 00:00 UTC);
        // May begins in Paris at 22:00 UTC, before UTC midnight.
        assert_eq!(
            stop_after(datetime!(2026-04-30 20:00 UTC), to, &paris, None),
            datetime!(2026-04-30 22:00 UTC)
        );
        // Then the day starts in UTC.
        assert_eq!(
            stop_after(datetime!(2026-04-30 22:00 UTC), to, &paris, None),
            datetime!(2026-05-01 00:00 UTC)
        );
        // A draft's grace ending first comes first.
        let due = datetime!(2026-05-01 10:00 UTC);
        assert_eq!(
            stop_after(datetime!(2026-05-01 09:00 UTC), to, &paris, Some(due)),
            due
        );
        // Never past the target.
        let near = datetime!(2026-05-01 09:30 UTC);
        assert_eq!(
            stop_after(datetime!(2026-05-01 09:00 UTC), near, &paris, Some(due)),
            near
        );
        // Each account's own timezone: Kiribati's month starts 14 hours early.
        let both = [account("Europe/Paris"), account("Pacific/Kiritimati")];
        assert_eq!(
            stop_after(datetime!(2026-04-30 00:00 UTC), to, &both, None),
            datetime!(2026-04-30 10:00 UTC)
        );
    }

    #[test]
    fn a_clock_outside_the_documented_range_is_refused_and_kept_to_the_second() {
        assert!(check_time("t", datetime!(1999-12-31 23:59 UTC)).is_err());
        assert!(check_time("t", datetime!(2100-01-01 00:00 UTC)).is_err());
        assert_eq!(
            check_time("t", datetime!(2026-04-01 10:00:00.75 +02:00)).unwrap(),
            datetime!(2026-04-01 08:00 UTC)
        );
    }
}
