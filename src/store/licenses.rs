//! Licenses, quotes and additional phone numbers.

use std::sync::LazyLock;

use time::{Date, OffsetDateTime};

use super::accounts::corrupt;
use super::{Page, Store, Tx, execute, fetch_all, fetch_optional, sql};
use crate::domain::account::Timezone;
use crate::domain::ids::{AccountId, LicenseId, PhoneNumberId, QuoteId, UserId};
use crate::domain::license::{License, PhoneNumberLine, Quote};
use crate::domain::money::Currency;

#[derive(sqlx::FromRow)]
struct LicenseRow {
    id: String,
    account_id: String,
    plan_code: String,
    activation_date: Date,
    removal_date: Option<Date>,
    user_id: Option<String>,
    prorated_amount_minor: i64,
    created_at: OffsetDateTime,
}

impl From<LicenseRow> for License {
    fn from(r: LicenseRow) -> Self {
        License {
            id: LicenseId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            plan: r.plan_code,
            activation_date: r.activation_date,
            removal_date: r.removal_date,
            user_id: r.user_id.map(UserId::from_trusted),
            prorated_amount_minor: r.prorated_amount_minor,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct QuoteRow {
    id: String,
    account_id: String,
    plan_code: String,
    quantity: i32,
    activation_date: Date,
    unit_price_minor: i64,
    prorated_unit_minor: i64,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct NumberRow {
    id: String,
    account_id: String,
    country: String,
    number: String,
    activation_date: Date,
    removal_date: Option<Date>,
    prorated_amount_minor: i64,
    created_at: OffsetDateTime,
}

impl From<NumberRow> for PhoneNumberLine {
    fn from(r: NumberRow) -> Self {
        PhoneNumberLine {
            id: PhoneNumberId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            country: r.country,
            number: r.number,
            activation_date: r.activation_date,
            removal_date: r.removal_date,
            prorated_amount_minor: r.prorated_amount_minor,
            created_at: r.created_at,
        }
    }
}

/// What the licenses page shows, read in one statement (one consistent
/// snapshot without a transaction): the account's timezone, a page of
/// licenses and, per plan in use, the active count, how many are assigned and
/// the plan's dated prices (the caller picks the one of the account's today).
pub struct LicensesOverview {
    pub timezone: Timezone,
    pub page: Page<License>,
    pub plans: Vec<PlanInUse>,
}

/// A plan the account holds active licenses of.
pub struct PlanInUse {
    pub code: String,
    pub count: i64,
    pub assigned: i64,
    /// The account's currency.
    pub currency: Currency,
    /// `(effective_from, monthly price in minor units)` in the account's
    /// currency, in no given order.
    pub prices: Vec<(Date, i64)>,
}

/// The per-plan summary of account `a`, as one JSON document (`{OBJ}` and
/// `{AGG}` are the backend's JSON array builder and aggregate): the plan's
/// prices in the account's currency only.
const SUMMARY: &str = "(SELECT COALESCE({AGG}({OBJ}(g.plan_code, g.n, g.assigned, a.currency, \
        (SELECT {AGG}({OBJ}(pp.effective_from, pp.monthly_price_minor)) FROM plan_prices pp \
          WHERE pp.plan_code = g.plan_code AND pp.currency = a.currency))), '[]') \
    FROM (SELECT plan_code, COUNT(*) AS n, COUNT(user_id) AS assigned FROM licenses \
          WHERE account_id = a.id AND removal_date IS NULL GROUP BY plan_code) g)";

/// The page of licenses of account `a.id`.
const PAGE: &str = "SELECT * FROM licenses WHERE account_id = a.id \
    AND ($2 = FALSE OR removal_date IS NULL) \
    AND (CAST($3 AS TEXT) IS NULL OR id > $3) ORDER BY id LIMIT $4";

/// SQLite: one row; the page crosses as one JSON document too, since sqlx
/// hands SQLite rows over one at a time (a thread wake-up each).
static SQLITE_OVERVIEW: LazyLock<String> = LazyLock::new(|| {
    let summary = SUMMARY
        .replace("{OBJ}", "json_array")
        .replace("{AGG}", "json_group_array");
    format!(
        "SELECT a.timezone, {summary}, \
         (SELECT COALESCE(json_group_array(json_array({LICENSE_COLUMNS})), '[]') FROM ({PAGE})) \
         FROM accounts a WHERE a.id = $1"
    )
});

/// PostgreSQL: the account's row (timezone and summary, no license columns)
/// then one row per license (no timezone nor summary: decoding them on every
/// row cost the server 8 % of its time). Binary rows cost PostgreSQL far less
/// than building the page in JSON (pgbench: 31,700 against 19,300 pages/s).
static PG_OVERVIEW: LazyLock<String> = LazyLock::new(|| {
    let summary = SUMMARY
        .replace("{OBJ}", "json_build_array")
        .replace("{AGG}", "json_agg");
    let page = PAGE.replace("a.id", "acc.id");
    format!(
        "WITH acc AS MATERIALIZED (SELECT a.id, a.timezone, {summary}::text AS summary \
           FROM accounts a WHERE a.id = $1) \
         SELECT acc.timezone, acc.summary, NULL AS id, NULL AS account_id, NULL AS plan_code, \
           NULL::date AS activation_date, NULL::date AS removal_date, NULL AS user_id, \
           NULL::bigint AS prorated_amount_minor, NULL::timestamptz AS created_at FROM acc \
         UNION ALL \
         SELECT NULL, NULL, l.id, l.account_id, l.plan_code, l.activation_date, \
           l.removal_date, l.user_id, l.prorated_amount_minor, l.created_at \
         FROM acc CROSS JOIN LATERAL ({page}) l"
    )
});

/// A row of [`PG_OVERVIEW`]: the account's timezone and summary, or a license.
type PgOverviewRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Date>,
    Option<Date>,
    Option<String>,
    Option<i64>,
    Option<OffsetDateTime>,
);

impl Store {
    /// The licenses page of `account` (None when there is no such account):
    /// licenses in id order after `after`, the removed ones left out when
    /// `active_only`. One statement, so one round trip and no BEGIN/COMMIT:
    /// on SQLite every statement is a hop to the connection's thread, on
    /// PostgreSQL a network round trip, and this page is the busiest read.
    pub async fn licenses_overview(
        &self,
        account: &AccountId,
        active_only: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<LicensesOverview>, sqlx::Error> {
        let fetch_limit = i64::from(limit) + 1;
        let (timezone, plans, mut rows) = match self {
            Store::Sqlite(pool) => {
                let row: Option<(String, String, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(SQLITE_OVERVIEW.as_str()))
                        .bind(account.as_str())
                        .bind(active_only)
                        .bind(after)
                        .bind(fetch_limit)
                        .fetch_optional(pool)
                        .await?;
                let Some((timezone, plans, page)) = row else {
                    return Ok(None);
                };
                let page: Vec<JsonLicense> =
                    serde_json::from_str(&page).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let rows = page
                    .into_iter()
                    .map(|l| LicenseRow::try_from(l).map(License::from))
                    .collect::<Result<Vec<_>, _>>()?;
                (timezone, plans, rows)
            }
            Store::Pg(pool) => {
                let mut page: Vec<PgOverviewRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(PG_OVERVIEW.as_str()))
                        .bind(account.as_str())
                        .bind(active_only)
                        .bind(after)
                        .bind(fetch_limit)
                        .fetch_all(pool)
                        .await?;
                // The account's row is the one with a timezone; none, no account.
                let Some(head) = page.iter().position(|r| r.0.is_some()) else {
                    return Ok(None);
                };
                let head = page.swap_remove(head);
                let (Some(timezone), Some(plans)) = (head.0, head.1) else {
                    return Err(corrupt("summary"));
                };
                let rows = page
                    .into_iter()
                    .map(|r| {
                        let missing = || corrupt("licenses");
                        Ok(License::from(LicenseRow {
                            id: r.2.ok_or_else(missing)?,
                            account_id: r.3.ok_or_else(missing)?,
                            plan_code: r.4.ok_or_else(missing)?,
                            activation_date: r.5.ok_or_else(missing)?,
                            removal_date: r.6,
                            user_id: r.7,
                            prorated_amount_minor: r.8.ok_or_else(missing)?,
                            created_at: r.9.ok_or_else(missing)?,
                        }))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                (timezone, plans, rows)
            }
        };
        rows.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let plans: Vec<JsonPlanInUse> =
            serde_json::from_str(&plans).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let mut plans = plans
            .into_iter()
            .map(PlanInUse::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        plans.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(Some(LicensesOverview {
            timezone: Timezone::parse(&timezone).ok_or_else(|| corrupt("timezone"))?,
            page: Page::from_rows(rows, limit),
            plans,
        }))
    }
}

const LICENSE_COLUMNS: &str = "id, account_id, plan_code, activation_date, removal_date, user_id, prorated_amount_minor, created_at";
const NUMBER_COLUMNS: &str = "id, account_id, country, number, activation_date, removal_date, prorated_amount_minor, created_at";

impl Tx {
    pub async fn insert_license(&mut self, l: &License) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO licenses ({LICENSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(l.id.as_str())
                .bind(l.account_id.as_str())
                .bind(&l.plan)
                .bind(l.activation_date)
                .bind(l.removal_date)
                .bind(l.user_id.as_ref().map(|u| u.as_str()))
                .bind(l.prorated_amount_minor)
                .bind(l.created_at)
        )?;
        Ok(())
    }

    pub async fn license(
        &mut self,
        account: &AccountId,
        id: &LicenseId,
    ) -> Result<Option<License>, sqlx::Error> {
        let sql = sql!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE account_id = $1 AND id = $2");
        let row: Option<LicenseRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        Ok(row.map(License::from))
    }

    /// Per plan: active licenses and how many are assigned.
    pub async fn license_counts(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        fetch_all!(
            self,
            sqlx::query_as(
                "SELECT plan_code, COUNT(*), COUNT(user_id) FROM licenses \
             WHERE account_id = $1 AND removal_date IS NULL GROUP BY plan_code ORDER BY plan_code",
            )
            .bind(account.as_str())
        )
    }

    /// Marks a license removed on `day`; false when it already was.
    pub async fn remove_license(&mut self, id: &LicenseId, day: Date) -> Result<bool, sqlx::Error> {
        let n = execute!(self, sqlx::query(
            "UPDATE licenses SET removal_date = $2 WHERE id = $1 AND removal_date IS NULL AND user_id IS NULL",
        )
        .bind(id.as_str())
        .bind(day))?;
        Ok(n == 1)
    }

    pub async fn set_license_user(
        &mut self,
        id: &LicenseId,
        user: Option<&UserId>,
    ) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE licenses SET user_id = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(user.map(|u| u.as_str()))
        )?;
        Ok(())
    }

    /// The active license a user holds, if any.
    pub async fn license_of_user(
        &mut self,
        user: &UserId,
    ) -> Result<Option<LicenseId>, sqlx::Error> {
        let row: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as("SELECT id FROM licenses WHERE user_id = $1 AND removal_date IS NULL",)
                .bind(user.as_str())
        )?;
        Ok(row.map(|(id,)| LicenseId::from_trusted(id)))
    }

    /// Frees the licenses of a user being deleted: they stay, unassigned.
    pub async fn free_licenses_of(&mut self, user: &UserId) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query("UPDATE licenses SET user_id = NULL WHERE user_id = $1")
                .bind(user.as_str())
        )?;
        Ok(())
    }

    pub async fn insert_quote(&mut self, q: &Quote) -> Result<(), sqlx::Error> {
        execute!(
            self,
            sqlx::query(
                "INSERT INTO license_quotes (id, account_id, plan_code, quantity, activation_date, \
             unit_price_minor, prorated_unit_minor, expires_at, used_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(q.id.as_str())
            .bind(q.account_id.as_str())
            .bind(&q.plan)
            .bind(i32::try_from(q.quantity).unwrap_or(i32::MAX))
            .bind(q.activation_date)
            .bind(q.unit_price_minor)
            .bind(q.prorated_unit_minor)
            .bind(q.expires_at)
            .bind(q.used_at)
            .bind(q.created_at)
        )?;
        Ok(())
    }

    pub async fn quote(
        &mut self,
        account: &AccountId,
        id: &QuoteId,
    ) -> Result<Option<Quote>, sqlx::Error> {
        let row: Option<QuoteRow> =
            fetch_optional!(self, sqlx::query_as(
            "SELECT id, account_id, plan_code, quantity, activation_date, unit_price_minor, \
             prorated_unit_minor, expires_at, used_at, created_at FROM license_quotes \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.as_str())
        .bind(id.as_str()))?;
        Ok(row.map(|r| Quote {
            id: QuoteId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            plan: r.plan_code,
            quantity: u32::try_from(r.quantity).unwrap_or(0),
            activation_date: r.activation_date,
            unit_price_minor: r.unit_price_minor,
            prorated_unit_minor: r.prorated_unit_minor,
            expires_at: r.expires_at,
            used_at: r.used_at,
            created_at: r.created_at,
        }))
    }

    /// Marks a quote used; false when it already was.
    pub async fn use_quote(
        &mut self,
        id: &QuoteId,
        now: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let n = execute!(self, sqlx::query(
            "UPDATE license_quotes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
        )
        .bind(id.as_str())
        .bind(now))?;
        Ok(n == 1)
    }

    pub async fn insert_phone_number(&mut self, n: &PhoneNumberLine) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "INSERT INTO phone_numbers ({NUMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        execute!(
            self,
            sqlx::query(sql)
                .bind(n.id.as_str())
                .bind(n.account_id.as_str())
                .bind(&n.country)
                .bind(&n.number)
                .bind(n.activation_date)
                .bind(n.removal_date)
                .bind(n.prorated_amount_minor)
                .bind(n.created_at)
        )?;
        Ok(())
    }

    pub async fn phone_number(
        &mut self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumberLine>, sqlx::Error> {
        let sql =
            sql!("SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE account_id = $1 AND id = $2");
        let row: Option<NumberRow> = fetch_optional!(
            self,
            sqlx::query_as(sql).bind(account.as_str()).bind(id.as_str())
        )?;
        Ok(row.map(PhoneNumberLine::from))
    }

    pub async fn list_phone_numbers(
        &mut self,
        account: &AccountId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<PhoneNumberLine>, sqlx::Error> {
        let sql = sql!(
            "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE account_id = $1 AND removal_date IS NULL \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<NumberRow> = fetch_all!(
            self,
            sqlx::query_as(sql)
                .bind(account.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
        )?;
        Ok(Page::from_rows(
            rows.into_iter().map(PhoneNumberLine::from).collect(),
            limit,
        ))
    }

    pub async fn phone_number_taken(&mut self, number: &str) -> Result<bool, sqlx::Error> {
        let row: Option<(String,)> = fetch_optional!(
            self,
            sqlx::query_as("SELECT id FROM phone_numbers WHERE number = $1").bind(number)
        )?;
        Ok(row.is_some())
    }

    pub async fn remove_phone_number(
        &mut self,
        id: &PhoneNumberId,
        day: Date,
    ) -> Result<bool, sqlx::Error> {
        let n =
            execute!(self, sqlx::query(
            "UPDATE phone_numbers SET removal_date = $2 WHERE id = $1 AND removal_date IS NULL",
        )
        .bind(id.as_str())
        .bind(day))?;
        Ok(n == 1)
    }
}

/// Licenses or numbers that an invoice cannot tell apart, and how many.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillableGroup {
    /// Additional phone numbers; licenses otherwise.
    pub phone_number: bool,
    pub plan_code: String,
    pub activation_date: Date,
    pub removal_date: Option<Date>,
    pub prorated_amount_minor: i64,
    /// The proration is not billed yet.
    pub proration_due: bool,
    /// The 1st of the first month not settled in advance yet.
    pub billed_until: Option<Date>,
    pub quantity: i64,
}

/// A dated price of a plan, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DatedPrice {
    pub plan_code: String,
    pub currency: String,
    pub effective_from: Date,
    pub monthly_price_minor: i64,
}

/// A [`PlanInUse`] as the overview's JSON writes it.
#[derive(serde::Deserialize)]
struct JsonPlanInUse(String, i64, i64, String, Option<Vec<(String, i64)>>);

impl TryFrom<JsonPlanInUse> for PlanInUse {
    type Error = sqlx::Error;

    fn try_from(p: JsonPlanInUse) -> Result<Self, Self::Error> {
        let prices =
            p.4.unwrap_or_default()
                .into_iter()
                .map(|(from, minor)| json_date(&from).map(|d| (d, minor)))
                .collect::<Result<_, _>>()?;
        Ok(PlanInUse {
            currency: Currency::parse(&p.3).ok_or_else(|| corrupt("currency"))?,
            code: p.0,
            count: p.1,
            assigned: p.2,
            prices,
        })
    }
}

fn json_date(s: &str) -> Result<Date, sqlx::Error> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A license row as SQLite's `json_array` writes it.
#[derive(serde::Deserialize)]
struct JsonLicense(
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
);

impl TryFrom<JsonLicense> for LicenseRow {
    type Error = sqlx::Error;

    fn try_from(l: JsonLicense) -> Result<Self, Self::Error> {
        Ok(LicenseRow {
            activation_date: json_date(&l.3)?,
            removal_date: l.4.as_deref().map(json_date).transpose()?,
            created_at: OffsetDateTime::parse(&l.7, &time::format_description::well_known::Rfc3339)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            id: l.0,
            account_id: l.1,
            plan_code: l.2,
            user_id: l.5,
            prorated_amount_minor: l.6,
        })
    }
}

/// A [`BillableGroup`] as SQLite's `json_array` writes it.
#[derive(serde::Deserialize)]
struct JsonGroup(
    u8,
    String,
    String,
    Option<String>,
    i64,
    u8,
    Option<String>,
    i64,
);

impl TryFrom<JsonGroup> for BillableGroup {
    type Error = sqlx::Error;

    fn try_from(g: JsonGroup) -> Result<Self, Self::Error> {
        let day = |s: &str| {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        Ok(BillableGroup {
            phone_number: g.0 != 0,
            activation_date: day(&g.2)?,
            removal_date: g.3.as_deref().map(day).transpose()?,
            plan_code: g.1,
            prorated_amount_minor: g.4,
            proration_due: g.5 != 0,
            billed_until: g.6.as_deref().map(day).transpose()?,
            quantity: g.7,
        })
    }
}

impl Tx {
    /// What an invoice reads of an account's licenses and numbers, grouped
    /// in the database: an account with 10,000 licenses is a few thousand
    /// rows at most, read from covering indexes. Only items activated
    /// before `before` (the period's 1st) with something left to bill: an
    /// unbilled proration, or months from `billed_until` on that they were
    /// active in.
    pub async fn billable_groups(
        &mut self,
        account: &AccountId,
        before: Date,
    ) -> Result<Vec<BillableGroup>, sqlx::Error> {
        const OPEN: &str = "account_id = $1 AND activation_date < $2 AND (proration_invoice_id IS NULL \
            OR billed_until IS NULL OR removal_date IS NULL OR removal_date >= billed_until)";
        let groups = format!(
            "SELECT FALSE AS phone_number, plan_code, activation_date, removal_date, \
            prorated_amount_minor, proration_invoice_id IS NULL AS proration_due, billed_until, \
            CAST(COUNT(*) AS BIGINT) AS quantity FROM licenses WHERE {OPEN} \
            GROUP BY plan_code, activation_date, removal_date, prorated_amount_minor, billed_until, \
            proration_invoice_id IS NULL \
            UNION ALL \
            SELECT TRUE, 'PHONE_NUMBER', activation_date, removal_date, prorated_amount_minor, \
            proration_invoice_id IS NULL, billed_until, CAST(COUNT(*) AS BIGINT) FROM phone_numbers \
            WHERE {OPEN} GROUP BY activation_date, removal_date, prorated_amount_minor, billed_until, \
            proration_invoice_id IS NULL"
        );
        let since = before;
        match self {
            Tx::Pg(c) => {
                sqlx::query_as(sql!("{groups}"))
                    .bind(account.as_str())
                    .bind(since)
                    .fetch_all(&mut **c)
                    .await
            }
            Tx::Sqlite(c) => {
                // sqlx hands SQLite rows over one at a time (2,500 groups:
                // 5 ms of a 7 ms query); one JSON document crosses once.
                let sql = sql!(
                    "SELECT json_group_array(json_array(phone_number, plan_code, activation_date, \
                     removal_date, prorated_amount_minor, proration_due, billed_until, quantity)) \
                     FROM ({groups})"
                );
                let (doc,): (String,) = sqlx::query_as(sql)
                    .bind(account.as_str())
                    .bind(since)
                    .fetch_one(&mut **c)
                    .await?;
                let rows: Vec<JsonGroup> =
                    serde_json::from_str(&doc).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                rows.into_iter().map(BillableGroup::try_from).collect()
            }
        }
    }

    /// Every price of every plan in `currency`, oldest first: a few rows,
    /// read once per invoice instead of one query per plan and date.
    pub async fn dated_prices(
        &mut self,
        currency: Currency,
    ) -> Result<Vec<DatedPrice>, sqlx::Error> {
        fetch_all!(
            self,
            sqlx::query_as(
                "SELECT plan_code, currency, effective_from, monthly_price_minor \
             FROM plan_prices WHERE currency = $1 ORDER BY plan_code, effective_from",
            )
            .bind(currency.code())
        )
    }
}
