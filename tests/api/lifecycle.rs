//! The invoice lifecycle (SPEC.md section 10, issue 16): billing runs that
//! refuse the future, drafts with a grace period, issue dates and numbers
//! that grow together, and nothing billable ever lost or billed twice.

use comptoir::domain::role::Role;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::payments::{add_card, visa};

async fn run(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/billing-runs", &app.support(), &body).await
}

async fn run_ok(app: &TestApp, body: Value) -> Value {
    let res = run(app, body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

use crate::helpers::success_json as json_of;

/// An account (in `timezone`) with a card, for adding licenses.
async fn buyer(app: &TestApp, name: &str, timezone: &str) -> String {
    let res = app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": name, "timezone": timezone}),
        )
        .await;
    let account = json_of(res).await["id"].as_str().unwrap().to_owned();
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    app.add_verified_address(
        &account,
        &json!({"company_name": format!("{name} SAS"), "line1": "1 rue de la Paix",
                "postal_code": "75002", "city": "Paris", "country": "FR"}),
    )
    .await;
    account
}

async fn add_licenses(app: &TestApp, account: &str, quantity: u32) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(account),
            &json!({"plan": "ADVANCED", "quantity": quantity}),
        )
        .await;
    json_of(res).await
}

/// Ingests `records` as calls of the account's first user (made if none).
async fn ingest(app: &TestApp, account: &str, mut records: Vec<Value>) {
    let users = json_of(
        app.get(
            &format!("/v1/accounts/{account}/users"),
            &app.admin(account),
        )
        .await,
    )
    .await;
    let user = match users["data"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => app.create_user(account, "Léa", "lea@example.fr").await,
    };
    for r in &mut records {
        r["user_id"] = json!(user);
    }
    let res = app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(account)),
            &json!({ "records": records }),
        )
        .await;
    json_of(res).await;
}

fn call(external_id: &str, at: &str, cost: &str) -> Value {
    json!({
        "external_id": external_id, "occurred_at": at, "kind": "call",
        "direction": "outbound", "destination": "+33612345678", "country": "FR",
        "duration_seconds": 60, "cost": cost
    })
}

async fn invoices(app: &TestApp, account: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices?limit=100"),
            &app.admin(account),
        )
        .await;
    json_of(res).await["data"].as_array().unwrap().clone()
}

async fn invoice(app: &TestApp, account: &str, id: &str) -> Value {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}"),
            &app.admin(account),
        )
        .await;
    json_of(res).await
}

fn lines(invoice: &Value) -> Vec<(String, String, String)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["description"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line(kind: &str, description: &str, amount: &str) -> (String, String, String) {
    (kind.to_owned(), description.to_owned(), amount.to_owned())
}

async fn finalize_due(app: &TestApp) -> comptoir::service::invoices::FinalizeReport {
    let ctx = comptoir::service::Ctx::system("test-finalizer", app.clock.now());
    comptoir::service::invoices::finalize_due(&app.store, &ctx, &app.billing())
        .await
        .unwrap()
}

/// Every invoice of 2026 by number, with its issue date.
async fn numbered(app: &TestApp) -> Vec<(String, String)> {
    let rows: Vec<(String, time::Date)> = app
        .rows("SELECT number, issue_date FROM invoices ORDER BY number")
        .await;
    rows.into_iter().map(|(n, d)| (n, d.to_string())).collect()
}

#[tokio::test]
async fn a_run_for_a_month_not_begun_is_refused_and_accounts_west_of_utc_wait_for_their_1st() {
    let app = spawn_app().await;
    app.clock.set(datetime!(2026-05-10 10:00 UTC));
    let paris = buyer(&app, "Paris", "Europe/Paris").await;
    let angeles = buyer(&app, "Los Angeles", "America/Los_Angeles").await;
    add_licenses(&app, &paris, 1).await;
    add_licenses(&app, &angeles, 1).await;

    // On November 29, January has begun nowhere: refused, nothing made.
    app.clock.set(datetime!(2026-11-29 12:00 UTC));
    let res = run(&app, json!({"period": "2027-01"})).await;
    let problem = assert_problem(res, 422, "period_not_started").await;
    assert!(problem["detail"].as_str().unwrap().contains("2027-01"));
    // December has not begun anywhere either (not even in Kiribati, UTC+14).
    app.clock.set(datetime!(2026-11-30 09:59 UTC));
    assert_problem(
        run(&app, json!({"period": "2026-12"})).await,
        422,
        "period_not_started",
    )
    .await;
    assert!(invoices(&app, &paris).await.is_empty());

    // 00:10 UTC on December 1: Paris is in December, Los Angeles is not.
    app.clock.set(datetime!(2026-12-01 00:10 UTC));
    let report = run_ok(&app, json!({"period": "2026-12"})).await;
    assert_eq!(report["issued"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["issued"][0]["account_id"], paris.as_str());
    assert_eq!(
        report["skipped"],
        json!([{"account_id": angeles, "code": "period_not_started"}])
    );
    // Its December 1 comes; the next run bills it, and nothing twice.
    app.clock.set(datetime!(2026-12-01 08:05 UTC));
    let report = run_ok(&app, json!({"period": "2026-12"})).await;
    assert_eq!(report["issued"][0]["account_id"], angeles.as_str());
    assert_eq!(report["already_issued"], 1);
    assert_eq!(report["skipped"], json!([]));
    let la = invoices(&app, &angeles).await;
    assert_eq!(la[0]["issue_date"], "2026-12-01");
}

#[tokio::test]
async fn a_catch_up_invoice_after_a_current_one_is_dated_today_and_numbered_next() {
    let app = spawn_app().await;
    app.clock.set(datetime!(2026-05-10 10:00 UTC));
    let current = buyer(&app, "Current", "Europe/Paris").await;
    let late = buyer(&app, "Late", "Europe/Paris").await;
    add_licenses(&app, &current, 1).await;
    add_licenses(&app, &late, 2).await;

    app.clock.set(datetime!(2026-11-29 10:00 UTC));
    let report = run_ok(&app, json!({"period": "2026-11", "account_ids": [current]})).await;
    assert_eq!(report["issued"][0]["number"], "F-2026-000001");
    // June, billed late, for an account never billed: today's date and the
    // next number, never a date before the last invoice's.
    let report = run_ok(&app, json!({"period": "2026-06", "account_ids": [late]})).await;
    assert_eq!(report["issued"][0]["number"], "F-2026-000002", "{report}");
    let june = invoice(
        &app,
        &late,
        report["issued"][0]["invoice_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(june["issue_date"], "2026-11-29");
    assert_eq!(june["period_start"], "2026-06-01");
    assert_eq!(
        lines(&june),
        vec![
            line("license", "ADVANCED license, June 2026", "128.00"),
            line(
                "license_proration",
                "ADVANCED license, prorated from 2026-05-10 (22 days of 31)",
                "90.84"
            ),
        ]
    );
    let numbered = numbered(&app).await;
    assert_eq!(
        numbered,
        vec![
            ("F-2026-000001".to_owned(), "2026-11-29".to_owned()),
            ("F-2026-000002".to_owned(), "2026-11-29".to_owned()),
        ]
    );
    // The months June did not bill are not lost: November bills July to November.
    let report = run_ok(&app, json!({"period": "2026-11", "account_ids": [late]})).await;
    let november = invoice(
        &app,
        &late,
        report["issued"][0]["invoice_id"].as_str().unwrap(),
    )
    .await;
    let months: Vec<String> = lines(&november).into_iter().map(|l| l.1).collect();
    assert_eq!(
        months,
        [
            "ADVANCED license, November 2026",
            "ADVANCED license, July 2026",
            "ADVANCED license, August 2026",
            "ADVANCED license, September 2026",
            "ADVANCED license, October 2026",
        ]
    );
    assert_eq!(november["subtotal"], "640.00");
    // A bad account id is named.
    let res = run(&app, json!({"period": "2026-11", "account_ids": ["nope"]})).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "account_ids[0]");
}

#[tokio::test]
async fn a_draft_counts_late_records_until_its_grace_period_ends_then_is_issued_once() {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let account = crate::invoices::account_with_april_calls(&app, "Grace").await;
    let other = crate::invoices::account_with_april_calls(&app, "Other").await;
    let admin = app.admin(&account);
    app.clock.set(datetime!(2026-05-01 10:00 UTC));
    let report = run_ok(&app, json!({"period": "2026-05"})).await;
    assert_eq!(report["issued"], json!([]));
    assert_eq!(report["drafted"].as_array().unwrap().len(), 2, "{report}");
    let id = report["drafted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["account_id"] == account.as_str())
        .unwrap()["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A draft: no number, BROUILLON on its renderings, no payment.
    let draft = invoice(&app, &account, &id).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["number"], Value::Null);
    assert_eq!(draft["total"], "1.20");
    assert_eq!(draft["issue_date"], "2026-05-04");
    let html = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}/html"),
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("BROUILLON"), "{html}");
    assert!(!html.contains("F-2026"));
    let res = app
        .request(
            Method::POST,
            &format!("/v1/accounts/{account}/invoices/{id}/mark-paid"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "invoice_not_open").await;
    let upcoming = json_of(
        app.get(&format!("/v1/accounts/{account}/invoices/upcoming"), &admin)
            .await,
    )
    .await;
    assert_eq!(upcoming["status"], "draft");
    assert_eq!(upcoming["id"], id.as_str());
    assert_eq!(upcoming["lines"][0]["id"], draft["lines"][0]["id"]);
    // Running again makes nothing twice.
    let again = run_ok(&app, json!({"period": "2026-05"})).await;
    assert_eq!(again["already_drafted"], 2);
    assert_eq!(again["drafted"], json!([]));

    // A late April record arrives: the draft counts it.
    app.clock.set(datetime!(2026-05-02 10:00 UTC));
    ingest(
        &app,
        &account,
        vec![call("late-1", "2026-04-30T21:30:00Z", "2.50")],
    )
    .await;
    assert_eq!(invoice(&app, &account, &id).await["total"], "4.20");

    // Before the grace period ends, the finalizer leaves it.
    app.clock.set(datetime!(2026-05-04 09:59 UTC));
    assert!(finalize_due(&app).await.issued.is_empty());
    app.clock.set(datetime!(2026-05-04 10:00 UTC));
    let report = finalize_due(&app).await;
    assert_eq!(report.issued, ["F-2026-000001", "F-2026-000002"]);
    assert!(finalize_due(&app).await.issued.is_empty());
    let issued = invoice(&app, &account, &id).await;
    assert_eq!(issued["status"], "issued");
    assert_eq!(issued["issue_date"], "2026-05-04");
    assert!(
        issued["number"]
            .as_str()
            .unwrap()
            .starts_with("F-2026-00000")
    );
    assert_eq!(issued["total"], "4.20");
    assert_eq!(
        lines(&issued),
        vec![line(
            "consumption",
            "Out-of-plan consumption, April 2026 (2 calls and SMS)",
            "3.50"
        )]
    );
    // Issued, it never changes: a later April record waits for the next invoice.
    ingest(
        &app,
        &account,
        vec![call("late-2", "2026-04-29T08:00:00Z", "0.40")],
    )
    .await;
    assert_eq!(invoice(&app, &account, &id).await["total"], "4.20");
    let upcoming = json_of(
        app.get(&format!("/v1/accounts/{account}/invoices/upcoming"), &admin)
            .await,
    )
    .await;
    assert_eq!(upcoming["status"], "upcoming");
    assert_eq!(
        lines(&upcoming),
        vec![line(
            "late_consumption",
            "Out-of-plan consumption, April 2026 (late records: 1 call or SMS)",
            "0.40"
        )]
    );
    let actions = app.audit_actions(&account).await;
    for action in ["invoice.drafted", "invoice.issued"] {
        assert!(actions.contains(&action.to_owned()), "{actions:?}");
    }
    assert_eq!(invoices(&app, &other).await[0]["status"], "issued");
}

#[tokio::test]
async fn staff_finalize_a_draft_at_once_and_only_a_draft() {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "31d")]).await;
    let account = crate::invoices::account_with_april_calls(&app, "Now").await;
    let stranger = app.create_billable_account("Stranger").await;
    app.clock.set(datetime!(2026-05-01 10:00 UTC));
    let report = run_ok(&app, json!({"period": "2026-05"})).await;
    let id = report["drafted"][0]["invoice_id"].as_str().unwrap();
    let path = format!("/v1/accounts/{account}/invoices/{id}/finalize");
    for token in [app.admin(&account), app.viewer(&account)] {
        let res = app
            .request(Method::POST, &path, Some(&token))
            .send()
            .await
            .unwrap();
        assert_problem(res, 403, "forbidden").await;
    }
    let res = app
        .request(
            Method::POST,
            &format!("/v1/accounts/{stranger}/invoices/{id}/finalize"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    app.clock.set(datetime!(2026-05-02 23:30 UTC));
    let res = app
        .request(Method::POST, &path, Some(&app.support()))
        .send()
        .await
        .unwrap();
    let issued = json_of(res).await;
    assert_eq!(issued["number"], "F-2026-000001");
    assert_eq!(issued["status"], "issued");
    // 23:30 UTC is May 3 in Paris: the issue date is the account's day.
    assert_eq!(issued["issue_date"], "2026-05-03");
    let res = app
        .request(Method::POST, &path, Some(&app.support()))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "invoice_not_draft").await;
    assert!(finalize_due(&app).await.issued.is_empty());
}

#[tokio::test]
async fn a_quote_accepted_after_midnight_is_billed_its_day_and_its_months_on_the_next_invoice() {
    let app = spawn_app().await;
    app.clock.set(datetime!(2026-11-10 10:00 UTC));
    let account = buyer(&app, "Midnight", "Europe/Paris").await;
    // 23:55 in Paris on November 30: the quote dates the licence that day.
    app.clock.set(datetime!(2026-11-30 22:55 UTC));
    let res = app
        .post(
            &format!("/v1/accounts/{account}/license-quotes"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await;
    let quote = json_of(res).await;
    assert_eq!(quote["prepaid_period"]["start"], "2026-11-30");
    // December is billed at 00:02; the quote is accepted at 00:05.
    app.clock.set(datetime!(2026-11-30 23:02 UTC));
    let report = run_ok(&app, json!({"period": "2026-12"})).await;
    assert_eq!(report["nothing_to_bill"], 1, "{report}");
    app.clock.set(datetime!(2026-11-30 23:05 UTC));
    let res = app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1, "quote_id": quote["quote_id"]}),
        )
        .await;
    json_of(res).await;
    // January's invoice bills its November day, December and January.
    app.clock.set(datetime!(2027-01-01 08:00 UTC));
    let report = run_ok(&app, json!({"period": "2027-01"})).await;
    assert_eq!(report["issued"][0]["number"], "F-2027-000001");
    let id = report["issued"][0]["invoice_id"].as_str().unwrap();
    let january = invoice(&app, &account, id).await;
    assert_eq!(
        lines(&january),
        vec![
            line("license", "ADVANCED license, January 2027", "64.00"),
            line("license", "ADVANCED license, December 2026", "64.00"),
            line(
                "license_proration",
                "ADVANCED license, prorated from 2026-11-30 (1 day of 30)",
                "2.13"
            ),
        ]
    );
    assert_eq!(january["issue_date"], "2027-01-01");
    // French: the December line names December, not the invoice's month.
    let html = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}/html"),
            &app.admin(&account),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Licence ADVANCED, décembre 2026"), "{html}");
}

/// A small deterministic generator (xorshift): the same seed, the same story.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The expected total of everything billable before `cutoff` (the 1st of
/// `last`, Paris time), computed from the stored licenses and records by the
/// rules of SPEC.md, without the invoice code.
fn expected_total(
    licenses: &[(time::Date, Option<time::Date>, i64)],
    records: &[(OffsetDateTime, i64)],
    last: time::Date,
    cutoff: OffsetDateTime,
) -> i64 {
    use comptoir::domain::money::{Currency, Money};
    let price = 6_400;
    let mut total = 0;
    for &(activation, removal, prorated) in licenses {
        if activation >= last {
            continue;
        }
        let month_end = activation
            .replace_day(activation.month().length(activation.year()))
            .unwrap();
        // The proration: to the month's end, or to an earlier removal.
        total += match removal {
            Some(r) if r < month_end => {
                let days = (r - activation).whole_days() + 1;
                let in_month = i64::from(activation.month().length(activation.year()));
                comptoir::domain::proration::prorate(
                    Money::from_minor(price, Currency::Eur),
                    days as u8,
                    in_month as u8,
                )
                .unwrap()
                .minor()
            }
            _ => prorated,
        };
        // Every later month up to `last` that it was active on the 1st of.
        let mut first = month_end.next_day().unwrap();
        while first <= last {
            if removal.is_some_and(|r| r < first) {
                break;
            }
            total += price;
            first = first
                .replace_day(first.month().length(first.year()))
                .unwrap()
                .next_day()
                .unwrap();
        }
    }
    total
        + records
            .iter()
            .filter(|(at, _)| *at < cutoff)
            .map(|(_, cost)| cost)
            .sum::<i64>()
}

async fn stored_licenses(app: &TestApp) -> Vec<(time::Date, Option<time::Date>, i64)> {
    app.rows("SELECT activation_date, removal_date, prorated_amount_minor FROM licenses")
        .await
}

async fn stored_records(app: &TestApp) -> Vec<(OffsetDateTime, i64)> {
    app.rows("SELECT occurred_at, billable_minor FROM consumption_records")
        .await
}

/// Random stories of six months: licenses added and removed, calls
/// recorded on time and late (for months already invoiced), billing runs
/// on time, late, skipped or repeated. Whatever happens, the invoices add
/// up to every billable item exactly: nothing lost, nothing billed twice.
#[tokio::test]
async fn random_months_of_adds_removals_late_records_and_runs_bill_everything_exactly_once() {
    for seed in [7_u64, 1_234_567, 987_654_321] {
        let app = spawn_app().await;
        let mut rng = Rng(seed);
        app.clock.set(datetime!(2026-05-01 08:00 UTC));
        let account = buyer(&app, "Story", "Europe/Paris").await;
        let mut records = 0;
        let months = [
            "2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10",
        ];
        for (m, month) in months.iter().enumerate() {
            let first = time::Date::parse(
                &format!("{month}-01"),
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap();
            // The month's run: on its 1st, later in the month, or skipped.
            let run_day = match rng.below(4) {
                0 => None,
                1 => Some(1 + rng.below(20) as u8),
                _ => Some(1),
            };
            for day in 1..=first.month().length(first.year()) {
                let date = first.replace_day(day).unwrap();
                if rng.below(5) != 0 && run_day != Some(day) {
                    continue;
                }
                app.clock.set(
                    date.with_hms(9 + rng.below(10) as u8, 0, 0)
                        .unwrap()
                        .assume_utc(),
                );
                if run_day == Some(day) {
                    let report = run_ok(&app, json!({"period": month})).await;
                    assert_eq!(report["failed"], json!([]), "{report}");
                }
                match rng.below(4) {
                    0 => {
                        add_licenses(&app, &account, 1 + rng.below(2) as u32).await;
                    }
                    1 => {
                        let list = json_of(
                            app.get(
                                &format!("/v1/accounts/{account}/licenses?limit=100"),
                                &app.admin(&account),
                            )
                            .await,
                        )
                        .await;
                        let active: Vec<&Value> = list["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|l| l["removal_date"].is_null())
                            .collect();
                        if !active.is_empty() {
                            let pick = active[rng.below(active.len() as u64) as usize];
                            let res = app
                                .request(
                                    Method::DELETE,
                                    &format!(
                                        "/v1/accounts/{account}/licenses/{}",
                                        pick["id"].as_str().unwrap()
                                    ),
                                    Some(&app.admin(&account)),
                                )
                                .send()
                                .await
                                .unwrap();
                            assert!(res.status().is_success(), "{}", res.status());
                        }
                    }
                    _ => {
                        // A call today, or a late one of an earlier month.
                        let back = rng.below(3).min(m as u64) as i64;
                        let at = app.clock.now() - time::Duration::days(31 * back);
                        records += 1;
                        let cost = format!("{}.{:02}", rng.below(3), rng.below(100));
                        let at = at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap();
                        ingest(
                            &app,
                            &account,
                            vec![call(&format!("r{records}"), &at, &cost)],
                        )
                        .await;
                    }
                }
            }
        }
        // November's run bills whatever is still unbilled before November 1.
        app.clock.set(datetime!(2026-11-01 09:00 UTC));
        run_ok(&app, json!({"period": "2026-11"})).await;
        let all = invoices(&app, &account).await;
        let billed: i64 = all
            .iter()
            .map(|i| {
                assert_eq!(i["status"], "issued", "{i}");
                let s = i["subtotal"].as_str().unwrap().replace('.', "");
                s.parse::<i64>().unwrap()
            })
            .sum();
        let expected = expected_total(
            &stored_licenses(&app).await,
            &stored_records(&app).await,
            time::macros::date!(2026 - 11 - 01),
            datetime!(2026-10-31 23:00 UTC),
        );
        let licenses = stored_licenses(&app).await;
        eprintln!(
            "lifecycle story {seed}: {} invoices, {} licenses ({} removed), {records} calls, {billed} billed",
            all.len(),
            licenses.len(),
            licenses.iter().filter(|l| l.1.is_some()).count(),
        );
        assert!(
            all.len() >= 2 && expected > 0,
            "seed {seed}: nothing happened"
        );
        assert_eq!(billed, expected, "seed {seed}: {} invoices", all.len());
        // Numbers and issue dates grow together.
        let numbered = numbered(&app).await;
        let mut dates: Vec<String> = numbered.iter().map(|n| n.1.clone()).collect();
        let in_order = dates.clone();
        dates.sort();
        assert_eq!(dates, in_order, "seed {seed}: {numbered:?}");
    }
}

/// Finalizers of several instances, staff and late records all at once:
/// each draft is issued once, numbers have no gap, and every record is
/// billed once (on the invoice, or left for the next one).
#[tokio::test]
async fn concurrent_finalizers_staff_and_late_records_issue_each_draft_once_and_lose_nothing() {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "1h")]).await;
    let mut accounts = Vec::new();
    for i in 0..4 {
        accounts.push(crate::invoices::account_with_april_calls(&app, &format!("C{i}")).await);
    }
    app.clock.set(datetime!(2026-05-01 10:00 UTC));
    let report = run_ok(&app, json!({"period": "2026-05"})).await;
    let drafts: Vec<(String, String)> = report["drafted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["account_id"].as_str().unwrap().to_owned(),
                d["invoice_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(drafts.len(), 4);
    app.clock.set(datetime!(2026-05-01 11:30 UTC));
    let finalizers = (0..3).map(|_| finalize_due(&app));
    let staff = drafts.iter().map(|(account, id)| {
        let app = &app;
        async move {
            app.request(
                Method::POST,
                &format!("/v1/accounts/{account}/invoices/{id}/finalize"),
                Some(&app.support()),
            )
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
        }
    });
    let late = accounts.iter().enumerate().map(|(i, account)| {
        let app = &app;
        async move {
            for n in 0..3 {
                ingest(
                    app,
                    account,
                    vec![call(
                        &format!("late-{i}-{n}"),
                        "2026-04-20T10:00:00Z",
                        "0.10",
                    )],
                )
                .await;
            }
        }
    });
    let (reports, statuses, ()) = tokio::join!(join_all(finalizers), join_all(staff), async {
        join_all(late).await;
    });
    let issued: usize = reports.iter().map(|r| r.issued.len()).sum();
    // Staff get the invoice, or 409 invoice_not_draft when a finalizer
    // issued it first; each draft is issued by exactly one of them.
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    assert!(issued <= 4);
    for account in &accounts {
        let actions = app.audit_actions(account).await;
        let times = actions.iter().filter(|a| *a == "invoice.issued").count();
        assert_eq!(times, 1, "{account}: {actions:?}");
    }
    let numbered = numbered(&app).await;
    let numbers: Vec<&str> = numbered.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "F-2026-000001",
            "F-2026-000002",
            "F-2026-000003",
            "F-2026-000004"
        ]
    );
    for (account, id) in &drafts {
        let issued = invoice(&app, account, id).await;
        assert_eq!(issued["status"], "issued");
        let upcoming = json_of(
            app.get(
                &format!("/v1/accounts/{account}/invoices/upcoming"),
                &app.admin(account),
            )
            .await,
        )
        .await;
        // 1.00 on time and three late 0.10: on the invoice or the next one.
        let cents = |v: &Value| v.as_str().unwrap().replace('.', "").parse::<i64>().unwrap();
        assert_eq!(
            cents(&issued["subtotal"]) + cents(&upcoming["subtotal"]),
            130,
            "{issued} {upcoming}"
        );
        let emails = app
            .get(
                &format!("/v1/accounts/{account}/invoices/{id}/emails"),
                &app.admin(account),
            )
            .await;
        json_of(emails).await;
        // Its e-invoice is its own (the finalizers prepare e-invoices ahead
        // with the numbers they expect, and late records change totals
        // meanwhile): its number, and its total, in the stored CII.
        let cii = app
            .get(
                &format!("/v1/accounts/{account}/invoices/{id}/cii.xml"),
                &app.admin(account),
            )
            .await;
        assert_eq!(cii.status(), 200);
        let cii = cii.text().await.unwrap();
        let number = issued["number"].as_str().unwrap();
        let total = issued["total"].as_str().unwrap();
        assert!(cii.contains(&format!(">{number}<")), "{number}: {cii}");
        assert!(
            cii.contains(&format!("<ram:GrandTotalAmount>{total}<")),
            "{total}: {cii}"
        );
    }
}

/// The three drafts of the May run (accounts with April calls), due now.
async fn three_due_drafts(app: &TestApp) -> Vec<(String, String)> {
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(crate::invoices::account_with_april_calls(app, &format!("P{i}")).await);
    }
    app.clock.set(datetime!(2026-05-01 10:00 UTC));
    let report = run_ok(app, json!({"period": "2026-05"})).await;
    report["drafted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["account_id"].as_str().unwrap().to_owned(),
                d["invoice_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The stored CII of an invoice, and the invoice.
async fn cii_of(app: &TestApp, account: &str, id: &str) -> (String, Value) {
    let issued = invoice(app, account, id).await;
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{id}/cii.xml"),
            &app.admin(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    (res.text().await.unwrap(), issued)
}

/// The finalizer renders the next drafts' e-invoices ahead, with the
/// numbers it expects them to get; a draft that changed meanwhile, or a
/// number taken by someone else, makes the issue render its own.
#[tokio::test]
async fn an_e_invoice_prepared_ahead_is_used_only_for_the_invoice_it_was_prepared_for() {
    use comptoir::domain::ids::InvoiceId;
    use comptoir::service::invoices::{Empty, Finalized, NextNumbers, issue, prepare};
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "1h")]).await;
    let drafts = three_due_drafts(&app).await;
    app.clock.set(datetime!(2026-05-01 11:30 UTC));
    let ctx = comptoir::service::Ctx::system("test", app.clock.now());
    let billing = app.billing();
    let mut next = NextNumbers::default();
    let ids: Vec<InvoiceId> = drafts
        .iter()
        .map(|(_, id)| InvoiceId::parse(id).unwrap())
        .collect();
    let mut ahead = Vec::new();
    for id in &ids {
        ahead.push(
            prepare(&app.store, &ctx, &billing, id, &mut next)
                .await
                .unwrap(),
        );
    }
    let expected: Vec<String> = ahead
        .iter()
        .map(|a| a.as_ref().unwrap().number().to_owned())
        .collect();
    assert_eq!(
        expected,
        ["F-2026-000001", "F-2026-000002", "F-2026-000003"]
    );
    let mut ahead = ahead.into_iter();

    // As prepared: issued with the prepared files.
    let first = issue(
        &app.store,
        &ctx,
        &billing,
        &ids[0],
        Empty::Discard,
        ahead.next().unwrap(),
    )
    .await
    .unwrap();
    assert!(matches!(first, Finalized::Issued(_)));
    // The second draft changes before it is issued: a late April call.
    let (account, id) = &drafts[1];
    ingest(
        &app,
        account,
        vec![call("late", "2026-04-20T10:00:00Z", "0.25")],
    )
    .await;
    issue(
        &app.store,
        &ctx,
        &billing,
        &ids[1],
        Empty::Discard,
        ahead.next().unwrap(),
    )
    .await
    .unwrap();
    let (cii, issued) = cii_of(&app, account, id).await;
    assert_eq!(issued["subtotal"], "1.25");
    assert!(
        cii.contains(&format!(
            "<ram:GrandTotalAmount>{}<",
            issued["total"].as_str().unwrap()
        )),
        "{cii}"
    );
    // The third draft's number is taken by another issue first (a fourth
    // account's invoice finalized by staff).
    let other = crate::invoices::account_with_april_calls(&app, "Other").await;
    let report = run_ok(&app, json!({"period": "2026-05", "account_ids": [other]})).await;
    let other_id = report["drafted"][0]["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .request(
            Method::POST,
            &format!("/v1/accounts/{other}/invoices/{other_id}/finalize"),
            Some(&app.support()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    issue(
        &app.store,
        &ctx,
        &billing,
        &ids[2],
        Empty::Discard,
        ahead.next().unwrap(),
    )
    .await
    .unwrap();
    for (n, (account, id)) in drafts.iter().enumerate() {
        let (cii, issued) = cii_of(&app, account, id).await;
        let number = issued["number"].as_str().unwrap();
        let want = ["F-2026-000001", "F-2026-000002", "F-2026-000004"][n];
        assert_eq!(number, want);
        assert!(cii.contains(&format!(">{number}<")), "{number}: {cii}");
        assert!(
            cii.contains(&format!(
                "<ram:GrandTotalAmount>{}<",
                issued["total"].as_str().unwrap()
            )),
            "{cii}"
        );
    }
}
