//! Delivers events to webhook endpoints (Standard Webhooks). Each event
//! queues one delivery per subscribed endpoint in the transaction of its
//! change (`events::emit`); the worker below drains them like the other
//! outboxes: claimed in batches with a lease (several servers on one
//! database deliver each once; a delivery queued before a restart goes out
//! after it), posted signed, and every attempt logged. A 2xx within the
//! timeout is success; anything else is retried with exponential backoff
//! and jitter until the retry window after the delivery was queued, then
//! the delivery fails and its endpoint is disabled, which an event says.
//!
//! Order: per endpoint, a pass sends its deliveries one after the other in
//! the order they were queued, and endpoints side by side. A delivery being
//! retried does not hold back the later ones, except while its endpoint does
//! not answer at all: then the rest of the pass's deliveries to it wait with
//! it (they would fail the same way), keeping their order.
//!
//! Claims, leases and backoff follow the wall clock; the retry window, the
//! secrets in force and the records follow the business clock, like every
//! other record (`COMPTOIR_NOW` fixes it; tests move it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use super::events::{self, Object};
use super::outbox::{self, Pass, run_passes};
use super::{Authorized, Ctx, PageRequest, audit, load_account};
use crate::clock::Clock;
use crate::config::WebhookDeliveryConfig;
use crate::domain::event::{EventType, Subscription};
use crate::domain::ids::{EventId, WebhookAttemptId, WebhookDeliveryId, WebhookEndpointId};
use crate::domain::webhook::{
    WebhookEndpoint, WebhookSecret, check_url, retry_delay, signature_header,
};
use crate::error::ApiError;
use crate::store::outbox::Attempt;
use crate::store::webhook_deliveries::{AttemptRow, DeliveryRow, LoggedAttempt};
use crate::store::{Page, Store};
use crate::webhooks::TargetPolicy;

/// Who the worker's changes are recorded as in the audit log.
const ACTOR: &str = "webhook-worker";

/// How much of an answer's body the log keeps.
const RESPONSE_KEPT: usize = 1024;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deliveries claimed per pass (`batch`), the pause when nothing was
    /// due (`poll`), the lease of a claim (`lease`, longer than a pass: a
    /// pass stops sending at half of it) and the first retry's wait
    /// (`retry_base`). `max_attempts` is not used: the window decides.
    pub outbox: outbox::Settings,
    /// The longest wait between two attempts.
    pub retry_cap: Duration,
    /// How long after it was queued a delivery is retried.
    pub window: time::Duration,
    /// A 2xx must come within this.
    pub timeout: Duration,
    /// Endpoints a pass sends to at once.
    pub concurrency: usize,
}

impl Settings {
    pub fn new(config: &WebhookDeliveryConfig) -> Self {
        Settings {
            outbox: outbox::Settings {
                batch: 100,
                poll: config.poll,
                lease: Duration::from_secs(300),
                retry_base: config.retry_base,
                max_attempts: i32::MAX,
            },
            retry_cap: config.retry_cap,
            window: config.retry_window,
            timeout: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new(&WebhookDeliveryConfig::default())
    }
}

/// The HTTP client of deliveries: one for the worker (its connections are
/// reused), connecting only to the addresses the target policy allows,
/// following no redirect.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl Sender {
    pub fn new(policy: TargetPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("comptoir/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { client, policy })
    }

    /// Posts `body` to the endpoint, signed with `secrets`.
    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        event_id: &str,
        body: &str,
        secrets: &[&WebhookSecret],
    ) -> Answer {
        let started = Instant::now();
        // A name is checked by the resolver when connecting; an address
        // literal never reaches it.
        if let Err(why) = check_url(&endpoint.url, self.policy.allow_private) {
            return Answer::none(started, format!("refused target: the URL {why}"));
        }
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(secrets, event_id, timestamp, body.as_bytes());
        let sent = self
            .client
            .post(endpoint.url.clone())
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        let mut res = match sent {
            Ok(res) => res,
            Err(e) => return Answer::none(started, describe(&e)),
        };
        let status = res.status();
        let mut kept = Vec::new();
        let mut read_error = None;
        while kept.len() < RESPONSE_KEPT {
            match res.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(describe(&e));
                    break;
                }
            }
        }
        kept.truncate(RESPONSE_KEPT);
        let error = if !status.is_success() {
            Some(format!("answered {status}"))
        } else {
            read_error.map(|e| format!("answered {status}, then the body failed: {e}"))
        };
        Answer {
            status: Some(status.as_u16()),
            latency_ms: elapsed_ms(started),
            error,
            response: Some(String::from_utf8_lossy(&kept).into_owned()),
        }
    }
}

/// What an attempt got.
#[derive(Debug, Clone)]
struct Answer {
    /// None when no answer came.
    status: Option<u16>,
    latency_ms: i64,
    /// Why it is not a success.
    error: Option<String>,
    response: Option<String>,
}

impl Answer {
    fn none(started: Instant, error: String) -> Self {
        Answer {
            status: None,
            latency_ms: elapsed_ms(started),
            error: Some(error),
            response: None,
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A reqwest error and its causes, in words: `no answer within 10 s`, or
/// why the connection failed (a refused address says so).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time (timeout)".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Wall-clock time for the outbox's columns, its nanoseconds made odd.
/// SQLite keeps instants as RFC 3339 text and the claim compares them as
/// text, which orders them only when their fractions have as many digits:
/// `time` writes all 9 exactly when the last one is not 0. (The invoice
/// emails' outbox keeps whole seconds; retries here may wait less.)
fn wall_now() -> OffsetDateTime {
    comparable(OffsetDateTime::now_utc())
}

fn comparable(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() | 1).unwrap_or(t)
}

/// A random number in [0, 1] for the jitter.
fn unit_random() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What became of one claimed delivery in a pass.
enum Done {
    Attempted {
        logged: Box<AttemptRow>,
        attempt: Attempt,
        /// The endpoint to disable (its delivery failed for good).
        give_up: Option<String>,
    },
    /// Not attempted: given back, due at `next`.
    Released { id: String, next: OffsetDateTime },
}

/// The pass's view of the time and its limits.
struct PassClock {
    /// Business time: the window, the secrets in force, the records.
    now: OffsetDateTime,
    /// No delivery is sent after this (half the lease).
    stop_at: Instant,
}

/// Sends one endpoint's claimed deliveries, in order.
async fn deliver_to(
    sender: &Sender,
    settings: &Settings,
    at: &PassClock,
    endpoint: &WebhookEndpoint,
    deliveries: Vec<DeliveryRow>,
    bodies: &BTreeMap<String, String>,
) -> Vec<Done> {
    let secrets = endpoint.signing_secrets(at.now);
    let mut done = Vec::with_capacity(deliveries.len());
    // Set when the endpoint did not answer: the rest wait until then.
    let mut hold_until: Option<OffsetDateTime> = None;
    for d in deliveries {
        // Disabled since the claim: its deliveries wait.
        if !endpoint.enabled {
            done.push(Done::Released {
                id: d.id,
                next: wall_now(),
            });
            continue;
        }
        if let Some(next) = hold_until {
            done.push(Done::Released { id: d.id, next });
            continue;
        }
        if Instant::now() >= at.stop_at {
            done.push(Done::Released {
                id: d.id,
                next: wall_now(),
            });
            continue;
        }
        let answer = match bodies.get(&d.event_id) {
            Some(body) => sender.post(endpoint, &d.event_id, body, &secrets).await,
            None => Answer::none(Instant::now(), "the event is gone".to_owned()),
        };
        let (attempt, give_up) = outcome(&d, &answer, settings, at.now);
        if answer.status.is_none() {
            hold_until = Some(match &attempt {
                Attempt::Retry { next, .. } => *next,
                _ => wall_now(),
            });
        }
        let logged = AttemptRow {
            id: WebhookAttemptId::generate().to_string(),
            account_id: d.account_id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            delivery_id: d.id.clone(),
            event_id: d.event_id.clone(),
            attempt: d.attempts,
            attempted_at: at.now,
            status_code: answer.status.map(i32::from),
            latency_ms: answer.latency_ms,
            // The last attempt says that it was the last.
            error: match &attempt {
                Attempt::Failed { error } => Some(error.clone()),
                _ => answer.error.clone(),
            },
            response: answer.response.clone(),
        };
        done.push(Done::Attempted {
            logged: Box::new(logged),
            attempt,
            give_up,
        });
    }
    done
}

/// How an attempt ends: sent on a 2xx; otherwise retried after a jittered
/// backoff, or, once the window after the delivery was queued is over,
/// failed, with the reason to disable its endpoint.
fn outcome(
    d: &DeliveryRow,
    answer: &Answer,
    settings: &Settings,
    now: OffsetDateTime,
) -> (Attempt, Option<String>) {
    let Some(error) = &answer.error else {
        return (Attempt::Sent { at: wall_now() }, None);
    };
    if now >= d.created_at + settings.window {
        let window = human(settings.window);
        return (
            Attempt::Failed {
                error: format!(
                    "{error} (gave up after {} attempts over {window})",
                    d.attempts
                ),
            },
            Some(format!(
                "its deliveries failed for {window} (the last one: {error})"
            )),
        );
    }
    let wait = retry_delay(
        settings.outbox.retry_base,
        settings.retry_cap,
        d.attempts,
        unit_random(),
    );
    (
        Attempt::Retry {
            next: comparable(wall_now() + wait),
            error: error.clone(),
        },
        None,
    )
}

/// `3 days`, `12 h`, `90 s`.
fn human(d: time::Duration) -> String {
    match (d.whole_days(), d.whole_hours(), d.whole_seconds()) {
        (1, 24, _) => "1 day".to_owned(),
        (days, hours, _) if days > 0 && hours % 24 == 0 => format!("{days} days"),
        (_, hours, seconds) if hours > 0 && seconds % 3600 == 0 => format!("{hours} h"),
        (_, _, seconds) => format!("{seconds} s"),
    }
}

/// Claims the deliveries due now and attempts each once; records the
/// batch's attempts in one transaction, disabling the endpoints given up
/// on (with their `webhook_endpoint.disabled` event).
pub async fn deliver_due(
    store: &Store,
    sender: &Sender,
    clock: &Clock,
    settings: &Settings,
) -> Result<Pass, ApiError> {
    let now = wall_now();
    {
        // An idle worker only reads.
        let mut tx = store.begin_read().await?;
        if !tx.webhook_delivery_due(now).await? {
            return Ok(Pass::default());
        }
    }
    let claimed = {
        let mut tx = store.begin_write().await?;
        let lease_until = comparable(now + settings.outbox.lease);
        let rows = tx
            .claim_webhook_deliveries(now, lease_until, settings.outbox.batch)
            .await?;
        tx.commit().await?;
        rows
    };
    let mut pass = Pass {
        claimed: claimed.len(),
        ..Pass::default()
    };
    if claimed.is_empty() {
        return Ok(pass);
    }
    let (bodies, endpoints) = {
        let mut tx = store.begin_read().await?;
        let mut event_ids: Vec<&str> = claimed.iter().map(|d| d.event_id.as_str()).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let mut endpoint_ids: Vec<&str> = claimed.iter().map(|d| d.endpoint_id.as_str()).collect();
        endpoint_ids.sort_unstable();
        endpoint_ids.dedup();
        let bodies: BTreeMap<String, String> =
            tx.event_bodies(&event_ids).await?.into_iter().collect();
        let endpoints: BTreeMap<String, WebhookEndpoint> = tx
            .webhook_endpoints_by_ids(&endpoint_ids)
            .await?
            .into_iter()
            .map(|e| (e.id.to_string(), e))
            .collect();
        (bodies, endpoints)
    };
    // Each endpoint's deliveries in the order queued (the claim's order).
    let mut by_endpoint: BTreeMap<String, Vec<DeliveryRow>> = BTreeMap::new();
    for d in claimed {
        by_endpoint
            .entry(d.endpoint_id.clone())
            .or_default()
            .push(d);
    }
    let at = PassClock {
        now: clock.now(),
        stop_at: Instant::now() + settings.outbox.lease / 2,
    };
    let done: Vec<Done> = futures_util::stream::iter(by_endpoint)
        .map(|(id, deliveries)| {
            let (at, bodies, endpoint) = (&at, &bodies, endpoints.get(&id));
            async move {
                match endpoint {
                    Some(e) => deliver_to(sender, settings, at, e, deliveries, bodies).await,
                    // Deleted since the claim, its deliveries with it.
                    None => Vec::new(),
                }
            }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    let ctx = Ctx::system(ACTOR, at.now);
    let mut tx = store.begin_write().await?;
    let mut attempted = Vec::with_capacity(done.len());
    let mut given_up = Vec::new();
    for d in done {
        match d {
            Done::Released { id, next } => tx.release_webhook_delivery(&id, next).await?,
            Done::Attempted {
                logged,
                attempt,
                give_up,
            } => {
                pass.count(&attempt);
                match &attempt {
                    Attempt::Sent { .. } => {}
                    Attempt::Retry { error, .. } => {
                        tracing::warn!(delivery = %logged.delivery_id, endpoint = %logged.endpoint_id, %error, "webhook delivery will be retried");
                    }
                    Attempt::Failed { error } => {
                        tracing::error!(delivery = %logged.delivery_id, endpoint = %logged.endpoint_id, %error, "webhook delivery failed");
                    }
                }
                if let Some(reason) = give_up {
                    given_up.push(((*logged).clone(), reason));
                }
                attempted.push((*logged, attempt));
            }
        }
    }
    tx.record_webhook_attempts(&attempted, wall_now()).await?;
    for (logged, reason) in &given_up {
        disable(&mut tx, &ctx, logged, reason).await?;
    }
    tx.commit().await?;
    Ok(pass)
}

/// Disables the endpoint of a delivery given up on (once), with its event
/// and audit record.
async fn disable(
    tx: &mut crate::store::Tx,
    ctx: &Ctx,
    logged: &AttemptRow,
    reason: &str,
) -> Result<(), ApiError> {
    let id = WebhookEndpointId::from_trusted(logged.endpoint_id.clone());
    if !tx.disable_webhook_endpoint(&id, reason, ctx.now).await? {
        return Ok(());
    }
    let account = crate::domain::ids::AccountId::from_trusted(logged.account_id.clone());
    let Some(endpoint) = tx.webhook_endpoint(&account, &id).await? else {
        return Ok(());
    };
    tracing::error!(endpoint = %id, %reason, "webhook endpoint disabled");
    events::emit(
        tx,
        ctx.now,
        &account,
        EventType::WebhookEndpointDisabled,
        Object::WebhookEndpoint(&endpoint),
    )
    .await?;
    let event = ctx.audit_event(
        Some(&account),
        "webhook_endpoint.disabled",
        ("webhook_endpoint", id.as_str()),
        None,
        Some(super::webhook_endpoints::summary(&endpoint)),
    );
    audit::record(tx, event).await?;
    Ok(())
}

/// Delivers due webhooks forever (see [`run_passes`]).
pub async fn worker(store: Store, sender: Sender, clock: Clock, settings: Settings) {
    run_passes(&settings.outbox, "webhook delivery", || {
        deliver_due(&store, &sender, &clock, &settings)
    })
    .await
}

/// The field of a redelivery naming its endpoint, and why it is refused.
pub const ENDPOINT_FIELD: &str = "endpoint_id";
pub const NOT_AN_ENDPOINT: &str = "is not a webhook endpoint of this account";

/// A delivery queued again by a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub delivery_id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
}

/// Queues the event again: to `endpoint` (whatever its subscription; it
/// waits while the endpoint is disabled), or to every enabled endpoint
/// subscribed to its type. Returns the event's type and what was queued.
#[instrument(skip_all, fields(account = %account, event = %event_id))]
pub async fn redeliver(
    store: &Store,
    ctx: &Ctx,
    account: &Authorized,
    event_id: &EventId,
    endpoint: Option<&WebhookEndpointId>,
) -> Result<(EventType, Vec<Queued>), ApiError> {
    let mut tx = store.begin_write().await?;
    load_account(&mut tx, account).await?;
    let event = tx
        .event(account, event_id)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let event_type = EventType::parse(&event.event_type)
        .ok_or_else(|| ApiError::internal("an event of an unknown type"))?;
    let targets: Vec<WebhookEndpointId> = match endpoint {
        Some(id) => {
            // A reference in the body: like every other, refused on its field.
            let e = tx
                .webhook_endpoint(account, id)
                .await?
                .ok_or_else(|| ApiError::validation(ENDPOINT_FIELD, NOT_AN_ENDPOINT))?;
            vec![e.id]
        }
        None => {
            let mut wanted = Vec::new();
            for s in tx.webhook_subscribers(account).await? {
                let names: Vec<String> =
                    serde_json::from_str(&s.events).map_err(ApiError::internal)?;
                if Subscription::parse(&names).is_ok_and(|s| s.wants(event_type)) {
                    wanted.push(WebhookEndpointId::from_trusted(s.id));
                }
            }
            wanted
        }
    };
    let mut queued = Vec::with_capacity(targets.len());
    for endpoint_id in targets {
        let delivery_id = WebhookDeliveryId::generate();
        tx.queue_webhook_delivery(
            delivery_id.as_str(),
            account.as_str(),
            endpoint_id.as_str(),
            event_id.as_str(),
            ctx.now,
        )
        .await?;
        queued.push(Queued {
            delivery_id,
            endpoint_id,
        });
    }
    let audit_event = ctx.audit_event(
        Some(account),
        "event.redelivered",
        ("event", event_id.as_str()),
        None,
        Some(json!({
            "endpoint_ids": queued.iter().map(|q| q.endpoint_id.as_str()).collect::<Vec<_>>(),
        })),
    );
    audit::record(&mut tx, audit_event).await?;
    tx.commit().await?;
    Ok((event_type, queued))
}

/// A page of an endpoint's delivery log, newest first.
#[instrument(skip_all, fields(account = %account, endpoint = %endpoint))]
pub async fn attempts(
    store: &Store,
    account: &Authorized,
    endpoint: &WebhookEndpointId,
    page: &PageRequest,
) -> Result<Page<LoggedAttempt>, ApiError> {
    let mut tx = store.begin_read().await?;
    load_account(&mut tx, account).await?;
    tx.webhook_endpoint(account, endpoint)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(tx
        .list_webhook_attempts(account, endpoint, page.after.as_deref(), page.limit)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_of_the_outbox_compare_as_text_in_time_order() {
        let base = time::macros::datetime!(2026-04-09 10:00:00 UTC);
        let texts: Vec<String> = [0, 1, 100_000_000, 250_000_000, 300_000_000, 999_999_999]
            .iter()
            .map(|ns| {
                comparable(base + time::Duration::nanoseconds(*ns))
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap()
            })
            .collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        assert!(texts.iter().all(|t| t.len() == texts[0].len()), "{texts:?}");
    }

    #[test]
    fn windows_are_said_in_days_hours_or_seconds() {
        assert_eq!(human(time::Duration::days(3)), "3 days");
        assert_eq!(human(time::Duration::days(1)), "1 day");
        assert_eq!(human(time::Duration::hours(12)), "12 h");
        assert_eq!(human(time::Duration::seconds(90)), "90 s");
    }

    #[test]
    fn the_jitter_is_a_number_between_0_and_1() {
        for _ in 0..1000 {
            let r = unit_random();
            assert!((0.0..=1.0).contains(&r));
        }
    }
}
