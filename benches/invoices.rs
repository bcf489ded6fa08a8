//! Invoices at scale: the upcoming invoice and the draft (recomputed
//! whenever read) of an account with 10,000 licenses and 1,000,000
//! consumption records in the month it bills, then a billing run over
//! 10,000 accounts of 20 licenses each making drafts, then the finalizer
//! (`comptoir finalize`) issuing them.
//!
//! Every account was invoiced for May already (a seeded invoice marks what
//! it billed, as finalizing does): June's invoice bills June in advance,
//! May's prorations and May's consumption.
//!
//! Each part gets a fresh database (a temporary SQLite file, or a schema of
//! its own when `BENCH_DATABASE_URL` is a `postgres://` URL, dropped at the
//! end). Seeding runs in this process: accounts, users and consumption go
//! through the service layer (the consumption through `ingest`, batches of
//! 5,000, as the platform would send them); licenses and numbers, which have
//! no bulk route, are inserted with SQL as the license service writes them
//! (prorated at the price of their activation day). On PostgreSQL the seeded
//! tables are then analyzed, as autovacuum would after a bulk load; the
//! seeding connections are closed (on SQLite, that checkpoints the write-ahead
//! log) before the server starts. Only the
//! measured requests go to the release server (`target/release/comptoir`,
//! built by `make bench`), in its own process, over HTTP. The result is
//! checked against `domain::invoice::compose` fed one item per license.
//!
//! Knobs: `BENCH_LICENSES` (10,000), `BENCH_RECORDS` (1,000,000),
//! `BENCH_REQUESTS` (50), `BENCH_ACCOUNTS` (10,000), `BENCH_ACCOUNT_LICENSES`
//! (20), `BENCH_ONLY=upcoming|run`, `BENCH_KEEP` (keep the databases).

use std::time::{Duration, Instant};

use comptoir::auth::JwtKeys;
use comptoir::domain::account::Timezone;
use comptoir::domain::address::{AddressFields, AddressStatus, BillingAddress, Country};
use comptoir::domain::contact::Email;
use comptoir::domain::ids::{AccountId, BillingAddressId, LicenseId, PhoneNumberId};
use comptoir::domain::invoice::{Composition, Inputs, Item, MonthUsage, Period, compose};
use comptoir::domain::money::{Currency, Money};
use comptoir::domain::plan::PriceList;
use comptoir::domain::proration::prorated_unit;
use comptoir::domain::role::{Caller, Need, Role};
use comptoir::service::{self, Ctx};
use comptoir::store::Store;
use serde_json::{Value, json};
use time::macros::{date, datetime};

mod common;
use common::{Database, SECRET, Server};
use time::{Date, OffsetDateTime};

/// May 31, 2026: the upcoming invoice is June's, billing May's consumption.
const NOW: OffsetDateTime = datetime!(2026-05-31 12:00 UTC);
/// June 1, 10:00 UTC: June's run; its drafts wait an hour (the servers'
/// grace period), and the finalizer issues them at 11:30.
const RUN_AT: &str = "2026-06-01T10:00:00Z";
const FINALIZE_AT: &str = "2026-06-01T11:30:00Z";
const PERIOD: &str = "2026-06";
const BATCH: usize = 5_000;
const USERS: usize = 10;
const WARM_UP: usize = 5;
const PLANS: [&str; 3] = ["SMART", "BUSINESS", "ADVANCED"];
/// BUSINESS costs 48.00 from May 10 on (44.00 before): licenses added in May
/// are prorated at either price, and June's lines use the new one.
const PRICE_CHANGE: (Date, i64) = (date!(2026 - 05 - 10), 4_800);

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn price(plan: &str, on: Date) -> Money {
    let minor = match plan {
        "SMART" => 2_400,
        "BUSINESS" if on >= PRICE_CHANGE.0 => PRICE_CHANGE.1,
        "BUSINESS" => 4_400,
        "ADVANCED" => 6_400,
        _ => 500,
    };
    Money::from_minor(minor, Currency::Eur)
}

/// A license or number as seeded; the expected invoice is composed from these.
#[derive(Clone)]
struct Seed {
    plan: &'static str,
    activation: Date,
    removal: Option<Date>,
}

impl Seed {
    fn prorated_minor(&self) -> i64 {
        prorated_unit(price(self.plan, self.activation), self.activation)
            .unwrap()
            .minor()
    }
}

fn staff() -> Ctx {
    Ctx {
        caller: Caller {
            subject: "bench".into(),
            role: Role::Support,
            account_id: None,
        },
        request_id: None,
        now: NOW,
    }
}

async fn open_accounts(store: &Store, count: usize) -> Vec<AccountId> {
    let ctx = staff();
    let mut tx = store.begin_write().await.unwrap();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let new = service::accounts::NewAccount {
            name: format!("Client {i:05}"),
            currency: Currency::Eur,
            timezone: Timezone::parse(Timezone::DEFAULT).unwrap(),
            invoice_language: Default::default(),
            test_clock_id: None,
        };
        let id = service::accounts::create(&mut tx, &ctx, new)
            .await
            .unwrap()
            .id;
        // A verified primary address: without one a draft is held, not issued.
        tx.save_address(&BillingAddress {
            id: BillingAddressId::generate(),
            account_id: id.clone(),
            fields: AddressFields {
                company_name: format!("Client {i:05} SAS"),
                line1: "1 rue de la Paix".into(),
                line2: None,
                postal_code: "75002".into(),
                city: "Paris".into(),
                region: None,
                country: Country::parse("FR").unwrap(),
                vat_number: None,
                siren: None,
                e_invoicing_address: None,
            },
            status: AddressStatus::Verified,
            primary: true,
            rejection_reason: None,
            revision: 1,
            vat_check: None,
            created_at: NOW,
            updated_at: NOW,
        })
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

async fn change_business_price(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    tx.set_plan_price(
        "BUSINESS",
        PRICE_CHANGE.0,
        Money::from_minor(PRICE_CHANGE.1, Currency::Eur),
        datetime!(2026-04-15 09:00 UTC),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Inserts licenses (or numbers) in chunks: one statement per chunk, the
/// rows as JSON on SQLite and as arrays on PostgreSQL.
async fn insert_seeds(store: &Store, account: &AccountId, seeds: &[Seed], numbers: bool) {
    insert_many(store, &[(account.clone(), seeds.to_vec())], numbers).await;
}

async fn insert_many(store: &Store, accounts: &[(AccountId, Vec<Seed>)], numbers: bool) {
    let created = NOW
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut rows: Vec<Value> = Vec::new();
    let mut serial = 0_u64;
    for (account, seeds) in accounts {
        for s in seeds {
            serial += 1;
            let (id, last) = if numbers {
                (
                    PhoneNumberId::generate().to_string(),
                    json!(format!("+3318{serial:08}")),
                )
            } else {
                (LicenseId::generate().to_string(), json!(s.plan))
            };
            rows.push(json!([
                id,
                account.as_str(),
                last,
                s.activation.to_string(),
                s.removal.map(|d| d.to_string()),
                s.prorated_minor(),
                created,
            ]));
        }
    }
    let (table, third) = if numbers {
        ("phone_numbers", "number")
    } else {
        ("licenses", "plan_code")
    };
    let extra = if numbers { ", country" } else { "" };
    let country = if numbers { ", 'FR'" } else { "" };
    for chunk in rows.chunks(20_000) {
        let doc = Value::Array(chunk.to_vec()).to_string();
        match store {
            Store::Sqlite(pool) => {
                let sql = format!(
                    "INSERT INTO {table} (id, account_id, {third}, activation_date, removal_date, \
                     prorated_amount_minor, created_at{extra}) SELECT value ->> 0, value ->> 1, \
                     value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6{country} \
                     FROM json_each($1)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(doc)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Store::Pg(pool) => {
                let sql = format!(
                    "INSERT INTO {table} (id, account_id, {third}, activation_date, removal_date, \
                     prorated_amount_minor, created_at{extra}) SELECT e ->> 0, e ->> 1, e ->> 2, \
                     (e ->> 3)::date, (e ->> 4)::date, (e ->> 5)::bigint, (e ->> 6)::timestamptz{country} \
                     FROM jsonb_array_elements($1::jsonb) AS e"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(doc)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Invoices each account for May, as finalizing would have: a zero
/// invoice (its own `S-` series, outside the numbers under test) that
/// billed every proration of an item activated before May and every month
/// through May.
async fn invoiced_for_may(store: &Store, accounts: &[AccountId]) {
    let mut rows = Vec::with_capacity(accounts.len());
    for (n, a) in accounts.iter().enumerate() {
        rows.push(json!([
            comptoir::domain::ids::InvoiceId::generate().to_string(),
            a.as_str(),
            format!("S-2026-{:06}", n + 1),
        ]));
    }
    let created = NOW
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mark = |table: &str| {
        format!(
            "UPDATE {table} SET proration_invoice_id = (SELECT i.id FROM invoices i \
             WHERE i.account_id = {table}.account_id AND i.period = '2026-05'), \
             billed_invoice_id = (SELECT i.id FROM invoices i \
             WHERE i.account_id = {table}.account_id AND i.period = '2026-05'), \
             billed_until = '2026-06-01' WHERE activation_date < '2026-05-01'"
        )
    };
    for chunk in rows.chunks(20_000) {
        let doc = Value::Array(chunk.to_vec()).to_string();
        let insert = match store {
            Store::Sqlite(_) => {
                "INSERT INTO invoices (id, account_id, number, period, status, \
                issue_date, currency, subtotal_minor, tax_minor, total_minor, snapshot, created_at) \
                SELECT value ->> 0, value ->> 1, value ->> 2, '2026-05', 'paid', '2026-05-01', 'EUR', \
                0, 0, 0, '{}', $2 FROM json_each($1)"
            }
            Store::Pg(_) => {
                "INSERT INTO invoices (id, account_id, number, period, status, \
                issue_date, currency, subtotal_minor, tax_minor, total_minor, snapshot, created_at) \
                SELECT e ->> 0, e ->> 1, e ->> 2, '2026-05', 'paid', DATE '2026-05-01', 'EUR', \
                0, 0, 0, '{}', $2::timestamptz FROM jsonb_array_elements($1::jsonb) AS e"
            }
        };
        match store {
            Store::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(&doc)
                    .bind(&created)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Store::Pg(pool) => {
                sqlx::query(insert)
                    .bind(&doc)
                    .bind(&created)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
    for table in ["licenses", "phone_numbers"] {
        let sql = sqlx::AssertSqlSafe(mark(table));
        match store {
            Store::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            Store::Pg(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
    }
}

/// The big account's licenses: most added over the last two years and
/// some removed, a tenth added in May (prorated on June's invoice), a few of
/// those removed in May too (prorated to their removal).
fn big_account_licenses(count: usize) -> Vec<Seed> {
    (0..count)
        .map(|i| {
            let plan = PLANS[i % PLANS.len()];
            if i % 10 == 0 {
                let activation = date!(2026 - 05 - 01) + time::Duration::days((i / 10 % 31) as i64);
                let removal = (i % 70 == 0)
                    .then(|| activation + time::Duration::days((i / 70 % 9) as i64))
                    .filter(|d| *d <= date!(2026 - 05 - 31));
                Seed {
                    plan,
                    activation,
                    removal,
                }
            } else {
                let activation =
                    date!(2024 - 05 - 01) + time::Duration::days((i * 7_919 % 730) as i64);
                let removal = (i % 13 == 0).then(|| {
                    (activation + time::Duration::days((i % 400) as i64)).min(date!(2026 - 05 - 31))
                });
                Seed {
                    plan,
                    activation,
                    removal,
                }
            }
        })
        .collect()
}

fn big_account_numbers(count: usize) -> Vec<Seed> {
    (0..count)
        .map(|i| Seed {
            plan: "PHONE_NUMBER",
            activation: date!(2026 - 01 - 01) + time::Duration::days((i * 37 % 150) as i64),
            removal: None,
        })
        .collect()
}

/// Each account of the billing run: 15 licenses from 2025, 4 added in May,
/// 1 removed in May.
fn run_account_licenses(count: usize) -> Vec<Seed> {
    (0..count)
        .map(|i| {
            let plan = PLANS[i % PLANS.len()];
            match i % 20 {
                15..=18 => Seed {
                    plan,
                    activation: date!(2026 - 05 - 04)
                        + time::Duration::days(7 * (i % 20 - 15) as i64),
                    removal: None,
                },
                19 => Seed {
                    plan,
                    activation: date!(2025 - 03 - 01),
                    removal: Some(date!(2026 - 05 - 15)),
                },
                n => Seed {
                    plan,
                    activation: date!(2025 - 01 - 01) + time::Duration::days(20 * n as i64),
                    removal: None,
                },
            }
        })
        .collect()
}

/// What the invoice must come to: one item per license, as before grouping.
fn expected(licenses: &[Seed], numbers: &[Seed], records: i64, billable_minor: i64) -> Composition {
    let period = Period::parse(PERIOD).unwrap();
    let items: Vec<Item> = licenses
        .iter()
        .map(|s| (false, s))
        .chain(numbers.iter().map(|s| (true, s)))
        .map(|(phone_number, s)| {
            // May's invoice billed what was activated before May.
            let before_may = s.activation < date!(2026 - 05 - 01);
            Item {
                quantity: 1,
                phone_number,
                plan: s.plan.to_owned(),
                activation_date: s.activation,
                removal_date: s.removal,
                prorated_amount_minor: s.prorated_minor(),
                price_at_activation: price(s.plan, s.activation),
                proration_due: !before_may,
                billed_until: before_may.then_some(date!(2026 - 06 - 01)),
            }
        })
        .collect();
    let mut prices = PriceList::default();
    for plan in PLANS.iter().chain(&["PHONE_NUMBER"]) {
        prices.insert(
            plan,
            date!(2020 - 01 - 01),
            price(plan, date!(2020 - 01 - 01)),
        );
    }
    prices.insert(
        "BUSINESS",
        PRICE_CHANGE.0,
        price("BUSINESS", PRICE_CHANGE.0),
    );
    let consumption = vec![MonthUsage {
        month: period.previous(),
        records,
        billable_minor,
        covered_minor: 0,
    }];
    compose(&Inputs {
        period,
        currency: Currency::Eur,
        items,
        prices,
        consumption,
        charges: Vec::new(),
        tax: comptoir::domain::tax::Tax::provisional(),
    })
    .unwrap()
}

/// Lines and total as the API shows them.
fn shown(c: &Composition) -> (Vec<(String, u64, String, String)>, String) {
    let lines = c
        .lines
        .iter()
        .map(|l| {
            (
                l.kind.as_str().to_owned(),
                u64::from(l.quantity),
                l.unit_amount.amount(),
                l.amount.amount(),
            )
        })
        .collect();
    (lines, c.total.amount())
}

fn shown_json(body: &Value) -> (Vec<(String, u64, String, String)>, String) {
    let lines = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["unit_amount"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (lines, body["total"].as_str().unwrap().to_owned())
}

/// Ingests `count` records spread over May (Paris time) through the
/// service, and returns how many are billable and their sum.
async fn ingest_may(store: &Store, account: &AccountId, count: usize) -> (i64, i64) {
    let ctx = staff();
    let account = &ctx.authorize(account, Need::Staff).unwrap();
    let mut users = Vec::with_capacity(USERS);
    {
        let mut tx = store.begin_write().await.unwrap();
        for u in 0..USERS {
            let new = service::users::NewUser {
                name: format!("Utilisateur {u}"),
                email: Email::parse(&format!("u{u}@bench.fr")).unwrap(),
                team_id: None,
            };
            let user = service::users::create_user(&mut tx, &ctx, account, new)
                .await
                .unwrap();
            users.push(user.id.to_string());
        }
        tx.commit().await.unwrap();
    }
    // May 1, 00:00 in Paris to May 31, 23:59:59.
    let start = datetime!(2026-04-30 22:00 UTC);
    let month_seconds = 31 * 86_400;
    let (mut billable, mut sum) = (0_i64, 0_i64);
    let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<()>> = Default::default();
    for first in (0..count).step_by(BATCH) {
        let mut batch = Vec::with_capacity(BATCH);
        for i in first..(first + BATCH).min(count) {
            let at = start + time::Duration::seconds((i * month_seconds / count) as i64);
            let cents = if i % 2 == 0 { 0 } else { 1 + (i % 37) as i64 };
            if cents > 0 {
                billable += 1;
                sum += cents;
            }
            batch.push(service::consumption::RecordInput {
                external_id: format!("cdr-{i:08}"),
                occurred_at: at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
                user_id: users[i % USERS].clone(),
                kind: if i % 5 == 0 { "sms" } else { "call" }.into(),
                direction: "outbound".into(),
                destination: format!("+3318480{:04}", i % 10_000),
                country: "FR".into(),
                duration_seconds: (i % 900) as i64,
                cost: Money::from_minor(cents, Currency::Eur).amount(),
            });
        }
        if in_flight.len() == 2 {
            in_flight.pop_front().unwrap().await.unwrap();
        }
        let (store, ctx, account) = (store.clone(), ctx.clone(), account.clone());
        in_flight.push_back(tokio::spawn(async move {
            let outcome = service::consumption::ingest(&store, &ctx, &account, &batch)
                .await
                .unwrap();
            assert_eq!(outcome.inserted, batch.len());
        }));
    }
    for last in in_flight {
        last.await.unwrap();
    }
    (billable, sum)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Row {
    step: String,
    target: String,
    measured: String,
}

async fn upcoming_part(dir: &std::path::Path, keys: &JwtKeys, rows: &mut Vec<Row>) -> Database {
    let licenses = knob("BENCH_LICENSES", 10_000);
    let records = knob("BENCH_RECORDS", 1_000_000);
    let requests = knob("BENCH_REQUESTS", 50).max(1);
    let db = Database::create(dir, "upcoming").await;
    let seeding = Instant::now();
    change_business_price(&db.store).await;
    let account = open_accounts(&db.store, 1).await.remove(0);
    let license_seeds = big_account_licenses(licenses);
    let number_seeds = big_account_numbers(licenses / 100);
    insert_seeds(&db.store, &account, &license_seeds, false).await;
    insert_seeds(&db.store, &account, &number_seeds, true).await;
    invoiced_for_may(&db.store, std::slice::from_ref(&account)).await;
    let (billable, sum) = ingest_may(&db.store, &account, records).await;
    db.seeded().await;
    println!(
        "seeded {} licenses, {} numbers, {records} records on {} in {:.1} s",
        licenses,
        number_seeds.len(),
        db.backend,
        seeding.elapsed().as_secs_f64()
    );

    let server = Server::start(&db.url, dir, "2026-05-31T12:00:00Z").await;
    let token = keys
        .issue(
            "bench",
            Role::Viewer,
            Some(&account),
            time::Duration::hours(2),
        )
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/accounts/{account}/invoices/upcoming", server.base);
    let mut body = Value::Null;
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..WARM_UP + requests {
        let sent = Instant::now();
        let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        body = res.json().await.unwrap();
        if i >= WARM_UP {
            latencies.push(sent.elapsed());
        }
    }
    drop(server);
    let want = shown(&expected(&license_seeds, &number_seeds, billable, sum));
    assert_eq!(
        shown_json(&body),
        want,
        "the upcoming invoice differs from one composed license by license"
    );
    latencies.sort();
    let what = format!(
        "upcoming invoice ({licenses} licenses, {records} records), {} requests",
        latencies.len()
    );
    rows.push(Row {
        step: format!("{what}: p50"),
        target: "<= 50 ms".into(),
        measured: ms(percentile(&latencies, 0.50)),
    });
    rows.push(Row {
        step: format!("{what}: p99"),
        target: String::new(),
        measured: ms(percentile(&latencies, 0.99)),
    });

    // June 1: the run makes June's draft; reading it composes it again.
    let server = Server::start(&db.url, dir, RUN_AT).await;
    let support = keys
        .issue("bench", Role::Support, None, time::Duration::hours(2))
        .unwrap();
    let report: Value = client
        .post(format!("{}/v1/billing-runs", server.base))
        .bearer_auth(&support)
        .json(&json!({ "period": PERIOD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let draft = report["drafted"][0]["invoice_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no draft: {report}"))
        .to_owned();
    let url = format!("{}/v1/accounts/{account}/invoices/{draft}", server.base);
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..WARM_UP + requests {
        let sent = Instant::now();
        let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        body = res.json().await.unwrap();
        if i >= WARM_UP {
            latencies.push(sent.elapsed());
        }
    }
    drop(server);
    assert_eq!(body["status"], "draft");
    assert_eq!(
        shown_json(&body),
        want,
        "the draft differs from the upcoming invoice"
    );
    latencies.sort();
    let what = format!(
        "draft, recomputed ({licenses} licenses, {records} records), {} requests",
        latencies.len()
    );
    rows.push(Row {
        step: format!("{what}: p50"),
        target: "<= 50 ms".into(),
        measured: ms(percentile(&latencies, 0.50)),
    });
    rows.push(Row {
        step: format!("{what}: p99"),
        target: String::new(),
        measured: ms(percentile(&latencies, 0.99)),
    });
    db
}

async fn run_part(dir: &std::path::Path, keys: &JwtKeys, rows: &mut Vec<Row>) -> Database {
    let accounts = knob("BENCH_ACCOUNTS", 10_000);
    let per_account = knob("BENCH_ACCOUNT_LICENSES", 20);
    let db = Database::create(dir, "run").await;
    let seeding = Instant::now();
    change_business_price(&db.store).await;
    let ids = open_accounts(&db.store, accounts).await;
    let seeds = run_account_licenses(per_account);
    let all: Vec<(AccountId, Vec<Seed>)> = ids.iter().map(|a| (a.clone(), seeds.clone())).collect();
    insert_many(&db.store, &all, false).await;
    invoiced_for_may(&db.store, &ids).await;
    db.seeded().await;
    println!(
        "seeded {accounts} accounts of {per_account} licenses on {} in {:.1} s",
        db.backend,
        seeding.elapsed().as_secs_f64()
    );

    let server = Server::start(&db.url, dir, RUN_AT).await;
    let support = keys
        .issue("bench", Role::Support, None, time::Duration::hours(2))
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let res = client
        .post(format!("{}/v1/billing-runs", server.base))
        .bearer_auth(&support)
        .json(&json!({ "period": PERIOD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    let run_secs = started.elapsed().as_secs_f64();
    assert_eq!(report["failed"], json!([]), "no account may fail");
    let drafted = report["drafted"].as_array().unwrap();
    assert_eq!(drafted.len(), accounts, "one draft per account");

    // The finalizer, as `serve` runs it every minute, past the grace period.
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/comptoir");
    let started = Instant::now();
    let out = std::process::Command::new(binary)
        .arg("finalize")
        .env("DATABASE_URL", &db.url)
        .env("COMPTOIR_JWT_SECRET", SECRET)
        .env("COMPTOIR_NOW", FINALIZE_AT)
        .env("COMPTOIR_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let finalize_secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finalized: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(finalized["issued"].as_array().unwrap().len(), accounts);
    assert_eq!(finalized["failed"], json!([]));

    // Every account has the same licenses: any invoice shows the expected lines.
    let first = &drafted[0];
    let invoice: Value = client
        .get(format!(
            "{}/v1/accounts/{}/invoices/{}",
            server.base,
            first["account_id"].as_str().unwrap(),
            first["invoice_id"].as_str().unwrap()
        ))
        .bearer_auth(&support)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(server);
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["issue_date"], "2026-06-01");
    assert_eq!(
        shown_json(&invoice),
        shown(&expected(&seeds, &[], 0, 0)),
        "an issued invoice differs from one composed license by license"
    );
    rows.push(Row {
        step: format!("billing run making drafts ({accounts} accounts of {per_account} licenses)"),
        target: "<= 60 s".into(),
        measured: format!(
            "{run_secs:.1} s ({:.0} drafts/s)",
            accounts as f64 / run_secs
        ),
    });
    rows.push(Row {
        step: "finalizer issuing them (`comptoir finalize`)".into(),
        target: "<= 60 s".into(),
        measured: format!(
            "{finalize_secs:.1} s ({:.0} invoices/s; {} with the e-invoice prepared ahead)",
            accounts as f64 / finalize_secs,
            finalized["prepared_ahead"]
        ),
    });
    db
}

#[tokio::main]
async fn main() {
    let dir =
        std::env::temp_dir().join(format!("comptoir-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = common::keys();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut rows = Vec::new();
    let mut databases = Vec::new();
    if only.is_empty() || only == "upcoming" {
        databases.push(upcoming_part(&dir, &keys, &mut rows).await);
    }
    if only.is_empty() || only == "run" {
        databases.push(run_part(&dir, &keys, &mut rows).await);
    }
    let backend = databases.first().map_or("", |d| d.backend);
    println!("\nInvoice benchmark on {backend}: release server in its own process\n");
    println!("| step | target | measured |");
    println!("|---|---|---:|");
    for row in rows {
        println!("| {} | {} | {} |", row.step, row.target, row.measured);
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        for db in &databases {
            println!("\nkept: {}", db.url);
        }
        return;
    }
    for db in databases {
        db.drop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
