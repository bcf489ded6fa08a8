//! Consumption: batch ingestion (all or nothing, de-duplicated by external
//! id, out-of-plan costs paid from credits as far as they go), the detailed
//! list, its totals, and the selection an export streams.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use super::{Authorized, Ctx, audit, credits};
use crate::domain::account::Account;
use crate::domain::address::Country;
use crate::domain::consumption::{
    Direction, Filter, Kind, Names, Position, Record, Selection, allocate_credits,
    to_stored_instant, valid_e164, valid_external_id,
};
use crate::domain::ids::{AccountId, ConsumptionId, TeamId, UserId};
use crate::domain::money::{Currency, Money, limits};
use crate::error::{ApiError, FieldError};
use crate::store::consumption::ConsumptionTotals;
use crate::store::{Page, Store};

/// The most records one batch may carry.
pub const MAX_BATCH: usize = 10_000;
/// The longest call a record may report: 24 hours.
pub const MAX_DURATION_SECONDS: i64 = 86_400;

/// A record as sent, before it is checked.
#[derive(Debug, Clone)]
pub struct RecordInput {
    pub external_id: String,
    pub occurred_at: String,
    pub user_id: String,
    pub kind: String,
    pub direction: String,
    pub destination: String,
    pub country: String,
    pub duration_seconds: i64,
    pub cost: String,
}

/// What an ingestion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub inserted: usize,
    /// Records whose external id was already stored (or repeated in the batch): skipped.
    pub duplicates: usize,
    pub covered_by_credits: Money,
    pub billable: Money,
}

/// Checks one record; its errors are named `records.{index}.{field}`.
fn check_record(
    index: usize,
    input: &RecordInput,
    currency: Currency,
    users: &HashMap<UserId, Option<TeamId>>,
    errors: &mut Vec<FieldError>,
) -> Option<Checked> {
    let before = errors.len();
    let mut fail = |field: &str, message: &str| {
        errors.push(FieldError::new(format!("records.{index}.{field}"), message));
    };
    if !valid_external_id(&input.external_id) {
        fail("external_id", "must be 1 to 100 visible ASCII characters");
    }
    let occurred_at = OffsetDateTime::parse(
        &input.occurred_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok();
    if occurred_at.is_none() {
        fail("occurred_at", "must be an RFC 3339 instant");
    }
    let user = UserId::parse(&input.user_id).filter(|u| users.contains_key(u));
    if user.is_none() {
        fail("user_id", "must be a user of this account");
    }
    let kind = Kind::parse(&input.kind);
    if kind.is_none() {
        fail("kind", "must be call or sms");
    }
    let direction = Direction::parse(&input.direction);
    if direction.is_none() {
        fail("direction", "must be inbound or outbound");
    }
    if !valid_e164(&input.destination) {
        fail(
            "destination",
            "must be an E.164 number such as +33184800123",
        );
    }
    if Country::parse(&input.country).is_none() {
        fail("country", "must be an ISO 3166-1 alpha-2 code");
    }
    if !(0..=MAX_DURATION_SECONDS).contains(&input.duration_seconds) {
        fail("duration_seconds", "must be between 0 and 86400");
    }
    let cost = match Money::parse(&input.cost, currency) {
        Ok(m) if m.is_within(0, limits::RECORD_COST_MAX_MINOR) => Some(m.minor()),
        Ok(m) => {
            let max = Money::from_minor(limits::RECORD_COST_MAX_MINOR, currency);
            let why = if m.is_negative() {
                "must not be negative".to_owned()
            } else {
                format!("must be at most {max}")
            };
            fail("cost", &why);
            None
        }
        Err(e) => {
            fail("cost", &e.to_string());
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    let user = user?;
    Some(Checked {
        team: users.get(&user).cloned().flatten(),
        user,
        occurred_at: to_stored_instant(occurred_at?),
        kind: kind?,
        direction: direction?,
        cost_minor: cost?,
    })
}

struct Checked {
    user: UserId,
    team: Option<TeamId>,
    occurred_at: OffsetDateTime,
    kind: Kind,
    direction: Direction,
    cost_minor: i64,
}

/// Ingests a batch: every record is checked first and one bad record
/// rejects the whole batch (422 naming each bad record and field). Records
/// already stored are skipped and counted. The new records' out-of-plan
/// cost is debited from credits in one ledger entry; what the credits do not
/// cover is kept, record by record, as billable on the next invoice.
#[instrument(skip_all, fields(account = %account_id, records = inputs.len()))]
pub async fn ingest(
    store: &Store,
    ctx: &Ctx,
    account_id: &Authorized,
    inputs: &[RecordInput],
) -> Result<IngestOutcome, ApiError> {
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        return Err(ApiError::validation(
            "records",
            format!("must hold 1 to {MAX_BATCH} records"),
        ));
    }
    // Checking 10,000 records takes a while: it is done before the write
    // transaction, so other writers do not wait for it. A user deleted in
    // between keeps its records (they hold no reference to the user row).
    let (account, users) = {
        let mut tx = store.begin_read().await?;
        let account = super::accounts::load(&mut tx, account_id).await?;
        let users: HashMap<UserId, Option<TeamId>> = tx
            .user_directory(account_id)
            .await?
            .into_iter()
            .map(|(id, _, team)| (id, team))
            .collect();
        (account, users)
    };
    let mut errors = Vec::new();
    let checked: Vec<Option<Checked>> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| check_record(i, input, account.currency, &users, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = store.begin_write().await?;
    // Concurrent batches of one account queue here, so two batches carrying
    // the same external id cannot both find it new.
    tx.lock_credits(account_id).await?;
    let ids: Vec<&str> = inputs.iter().map(|r| r.external_id.as_str()).collect();
    let stored = tx.existing_external_ids(account_id, &ids).await?;
    let mut seen: HashSet<&str> = HashSet::with_capacity(inputs.len());
    let mut fresh: Vec<Record> = Vec::with_capacity(inputs.len());
    for (input, c) in inputs.iter().zip(checked) {
        let Some(c) = c else { continue };
        if stored.contains(&input.external_id) || !seen.insert(&input.external_id) {
            continue;
        }
        fresh.push(Record {
            id: ConsumptionId::generate(),
            account_id: account_id.id().clone(),
            external_id: input.external_id.clone(),
            occurred_at: c.occurred_at,
            user_id: c.user,
            team_id: c.team,
            kind: c.kind,
            direction: c.direction,
            destination: input.destination.clone(),
            country: input.country.clone(),
            duration_seconds: input.duration_seconds,
            cost_minor: c.cost_minor,
            billable_minor: c.cost_minor,
            created_at: ctx.now,
        });
    }
    let duplicates = inputs.len() - fresh.len();
    let cost = Money::sum(
        account.currency,
        fresh
            .iter()
            .map(|r| Money::from_minor(r.cost_minor, account.currency)),
    )
    .map_err(|_| {
        ApiError::validation(
            "records",
            "the costs of this batch add up to more than an amount can hold",
        )
    })?
    .minor();
    let mut covered = 0;
    if cost > 0 {
        let reference = format!("consumption batch of {} records", fresh.len());
        covered = credits::debit(&mut tx, ctx, account_id, cost, &reference)
            .await?
            .covered_minor;
        let costs: Vec<i64> = fresh.iter().map(|r| r.cost_minor).collect();
        for (record, billable) in fresh.iter_mut().zip(allocate_credits(&costs, covered)) {
            record.billable_minor = billable;
        }
    }
    if !fresh.is_empty() {
        tx.insert_consumption(&fresh).await?;
        let event = ctx.audit_event(
            Some(account_id),
            "consumption.ingested",
            ("account", account_id.as_str()),
            None,
            Some(json!({
                "inserted": fresh.len(),
                "duplicates": duplicates,
                "cost_minor": cost,
                "covered_minor": covered,
            })),
        );
        audit::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(IngestOutcome {
        inserted: fresh.len(),
        duplicates,
        covered_by_credits: Money::from_minor(covered, account.currency),
        // The credits cover at most the cost: this cannot leave the range.
        billable: Money::from_minor(cost - covered.min(cost), account.currency),
    })
}

/// The selection in instants, in the account's timezone.
fn resolve(account: &Account, selection: &Selection) -> Result<Filter, ApiError> {
    selection
        .resolve(&account.timezone)
        .ok_or_else(|| ApiError::validation("to", "must not be before from"))
}

/// A page of the detailed consumption.
pub async fn list(
    store: &Store,
    account_id: &Authorized,
    selection: &Selection,
    after: Option<&Position>,
    limit: u32,
) -> Result<(Account, Page<Record>), ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let filter = &resolve(&account, selection)?;
    let rows = tx
        .list_consumption(account_id, filter, after, limit + 1)
        .await?;
    Ok((account, Page::from_rows(rows, limit)))
}

/// Totals of a selection, overall, by user and by team, with the names.
pub struct Summary {
    pub account: Account,
    pub totals: ConsumptionTotals,
    pub names: Names,
}

pub async fn summary(
    store: &Store,
    account_id: &Authorized,
    selection: &Selection,
) -> Result<Summary, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let filter = &resolve(&account, selection)?;
    let totals = tx.consumption_totals(account_id, filter).await?;
    let names = names(&mut tx, account_id).await?;
    Ok(Summary {
        account,
        totals,
        names,
    })
}

async fn names(tx: &mut crate::store::Tx, account: &AccountId) -> Result<Names, ApiError> {
    Ok(Names {
        users: tx
            .user_directory(account)
            .await?
            .into_iter()
            .map(|(id, name, _)| (id, name))
            .collect(),
        teams: tx.team_directory(account).await?.into_iter().collect(),
    })
}

/// How many records an export reads per query: large enough that the
/// queries cost little, small enough that memory stays flat.
pub const EXPORT_CHUNK: u32 = 5_000;

/// An export about to be streamed: checked, with what its header needs.
pub struct Export {
    pub account: Account,
    pub filter: Filter,
    pub names: Names,
    /// Counted when the export started (PDF page numbers).
    pub count: i64,
}

pub async fn start_export(
    store: &Store,
    account_id: &Authorized,
    selection: &Selection,
) -> Result<Export, ApiError> {
    let mut tx = store.begin_read().await?;
    let account = super::accounts::load(&mut tx, account_id).await?;
    let filter = resolve(&account, selection)?;
    let names = names(&mut tx, account_id).await?;
    let count = tx.count_consumption(account_id, &filter).await?;
    Ok(Export {
        account,
        filter,
        names,
        count,
    })
}

/// The next chunk of an export, after `after`. Each chunk is its own query,
/// so an export of any size holds one chunk in memory and no connection
/// between chunks.
pub async fn export_chunk(
    store: &Store,
    account_id: &AccountId,
    filter: &Filter,
    after: Option<&Position>,
) -> Result<Vec<Record>, ApiError> {
    let mut tx = store.begin_read().await?;
    Ok(tx
        .list_consumption(account_id, filter, after, EXPORT_CHUNK)
        .await?)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::domain::account::Timezone;
    use crate::domain::contact::Email;
    use crate::domain::role::{Caller, Need, Role};
    use crate::store::Tx;

    /// A fresh SQLite file, or a fresh schema when `TEST_DATABASE_URL` is a
    /// PostgreSQL URL; and what to remove afterwards.
    async fn fresh_store() -> (Store, Option<std::path::PathBuf>, Option<String>) {
        let name = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let schema = format!("cpt_t_{name}");
                let store = Store::connect_pg_schema(&url, &schema).await.unwrap();
                (store, None, Some(schema))
            }
            _ => {
                let dir = std::env::temp_dir().join(format!("comptoir-unit-{name}"));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}", dir.join("test.db").display());
                (Store::connect(&url).await.unwrap(), Some(dir), None)
            }
        }
    }

    /// The billable records of `[from, to)` counted from the records themselves.
    async fn from_records(
        tx: &mut Tx,
        account: &AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> (i64, i64) {
        crate::store::on_tx!(tx, c => sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(billable_minor), 0) AS BIGINT) \
             FROM consumption_records WHERE account_id = $1 AND occurred_at >= $2 \
             AND occurred_at < $3 AND billable_minor > 0",
        )
        .bind(account.as_str())
        .bind(from)
        .bind(to)
        .fetch_one(&mut **c)
        .await)
        .unwrap()
    }

    #[tokio::test]
    async fn billable_consumption_by_hour_adds_up_to_the_records_in_any_zone() {
        let (store, dir, schema) = fresh_store().await;
        let ctx = Ctx {
            caller: Caller {
                subject: "test".into(),
                role: Role::Support,
                account_id: None,
            },
            request_id: None,
            now: datetime!(2026-05-10 10:00 UTC),
        };
        let mut tx = store.begin_write().await.unwrap();
        let new = super::super::accounts::NewAccount {
            name: "Katmandou".into(),
            currency: Currency::Eur,
            timezone: Timezone::parse("Asia/Kathmandu").unwrap(),
            invoice_language: Default::default(),
            test_clock_id: None,
        };
        let account = super::super::accounts::create(&mut tx, &ctx, new)
            .await
            .unwrap();
        let scope = ctx.authorize(&account.id, Need::Staff).unwrap();
        let user = super::super::users::NewUser {
            name: "Léa".into(),
            email: Email::parse("lea@example.fr").unwrap(),
            team_id: None,
        };
        let user = super::super::users::create_user(&mut tx, &ctx, &scope, user)
            .await
            .unwrap();
        // Credits cover the first records, one of them in part.
        credits::adjust(
            &mut tx,
            &ctx,
            &scope,
            crate::domain::money::Amount::parse("10.05").unwrap(),
            "test",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        // A record every 7 min 13 s from April 29 to May 3 (UTC), around
        // the month's start in Kathmandu (+05:45), Paris and UTC.
        let records: Vec<RecordInput> = (0..800_i64)
            .map(|i| RecordInput {
                external_id: format!("r{i}"),
                occurred_at: (datetime!(2026-04-29 00:00 UTC) + time::Duration::seconds(433 * i))
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
                user_id: user.id.to_string(),
                kind: "call".into(),
                direction: "outbound".into(),
                destination: "+32470123456".into(),
                country: "BE".into(),
                duration_seconds: 60,
                cost: Money::from_minor(if i % 3 == 0 { 0 } else { 1 + i % 50 }, Currency::Eur)
                    .amount(),
            })
            .collect();
        // Sent in two batches that overlap: the repeated records count once.
        let first = ingest(&store, &ctx, &scope, &records[..500]).await.unwrap();
        let second = ingest(&store, &ctx, &scope, &records[400..]).await.unwrap();
        assert_eq!((first.inserted, second.inserted), (500, 300));
        assert_eq!(second.duplicates, 100);
        assert_eq!(first.covered_by_credits.minor(), 1_005);

        let mut tx = store.begin_read().await.unwrap();
        let mut ranges = Vec::new();
        for zone in ["Asia/Kathmandu", "Asia/Kolkata", "Europe/Paris", "UTC"] {
            let zone = Timezone::parse(zone).unwrap();
            let (april, may, june) = (
                zone.start_of(date!(2026 - 04 - 01)),
                zone.start_of(date!(2026 - 05 - 01)),
                zone.start_of(date!(2026 - 06 - 01)),
            );
            ranges.extend([(april, may), (may, june)]);
        }
        ranges.extend([
            (
                datetime!(2026-04-30 18:10 UTC),
                datetime!(2026-04-30 18:50 UTC),
            ),
            (
                datetime!(2026-04-30 17:30 UTC),
                datetime!(2026-04-30 18:30 UTC),
            ),
            (
                datetime!(2026-04-29 00:00 UTC),
                datetime!(2026-05-03 00:00 UTC),
            ),
        ]);
        let mut billed = 0;
        for (from, to) in ranges {
            let expected = from_records(&mut tx, &account.id, from, to).await;
            let got = tx
                .consumption_billable(&account.id, from, to)
                .await
                .unwrap();
            assert_eq!(got, expected, "{from} to {to}");
            billed += expected.0;
        }
        assert!(billed > 0);
        drop(tx);
        store.close().await;
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let (Some(schema), Ok(url)) = (schema, std::env::var("TEST_DATABASE_URL")) {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}
