//! The demo account that `comptoir demo` and `make run` load: contacts of
//! each role, a verified French address, a pending Spanish one, a Kbis and a
//! contract, and a billing history that ends on the day it is loaded (the
//! clock's `now`): licenses and numbers for months, past invoices issued
//! (paid, the last one open), licenses added this month and calls. Loading
//! it twice changes nothing: each part is loaded only if the account has
//! none of it yet. In April 2026 it is the help page's example (SPEC.md
//! section 6) to the cent.

use time::OffsetDateTime;

use super::{Authorized, Ctx, PageRequest};
use crate::crypto::DataKey;
use crate::domain::account::{Account, Timezone};
use crate::domain::address::{AddressFields, Country};
use crate::domain::card::{CardNumber, Expiry};
use crate::domain::contact::{ContactRole, Email, PhoneNumber};
use crate::domain::document::DocumentType;
use crate::domain::iban::Iban;
use crate::domain::ids::{AccountId, LicenseId, PhoneNumberId};
use crate::domain::invoice::Period;
use crate::domain::license::{License, PhoneNumberLine};
use crate::domain::money::{Amount, Currency, Money};
use crate::domain::proration::prorated_unit;
use crate::domain::role::{Caller, Need, Role};
use crate::error::ApiError;
use crate::store::Store;
use crate::store::blobs::BlobStore;

pub const DEMO_ACCOUNT: &str = "acc_demo";

/// The month of the help page's example: its upcoming invoice must come out
/// as the page prints it, so this month adds nothing to the example.
const EXAMPLE_MONTH: Period = Period {
    year: 2026,
    month: time::Month::April,
};

/// The demo's numbers (French geographic numbers of Paris, valid ones).
const NUMBERS: [&str; 4] = [
    "+33142685301",
    "+33142685302",
    "+33142685303",
    "+33142685304",
];

/// Destinations of the demo's calls: a prefix completed with three digits,
/// the country, and the out-of-plan price per minute in cents.
const DESTINATIONS: [(&str, &str, i64); 5] = [
    ("+33142685", "FR", 0),
    ("+33612345", "FR", 0),
    ("+32470123", "BE", 18),
    ("+447400123", "GB", 25),
    ("+14157230", "US", 12),
];

/// When things happened in the demo's history, from the day it is loaded.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    today: time::Date,
    /// The current month.
    month: Period,
    /// The instant the current month starts in the account's zone.
    zone_start: OffsetDateTime,
}

impl Timeline {
    fn new(today: time::Date, zone: &Timezone) -> Self {
        Timeline {
            today,
            month: Period::of(today),
            zone_start: zone.start_of(Period::of(today).start()),
        }
    }

    /// The first months' licenses and numbers: the 2nd, four months ago.
    fn start(self) -> time::Date {
        let first = self.month.previous().previous().previous().previous();
        first.start().replace_day(2).expect("every month has a 2nd")
    }

    /// Day `day` of this month, or today if that is still to come.
    fn this_month(self, day: u8) -> time::Date {
        self.today
            .replace_day(day.min(self.today.day()))
            .expect("a day up to today's exists")
    }

    fn is_example(self) -> bool {
        self.month == EXAMPLE_MONTH
    }
}

fn one() -> PageRequest {
    PageRequest {
        after: None,
        limit: 1,
    }
}

/// Loads what the demo account lacks, and returns it.
pub async fn load(
    store: &Store,
    blobs: &BlobStore,
    key: Option<&DataKey>,
    now: OffsetDateTime,
) -> Result<Account, ApiError> {
    let id = AccountId::parse(DEMO_ACCOUNT).expect("a valid id");
    let ctx = Ctx {
        caller: Caller {
            subject: "comptoir-demo".into(),
            role: Role::Support,
            account_id: None,
        },
        request_id: None,
        now,
    };
    // Staff: the one check the services below rely on (support may do anything).
    let id = ctx.authorize(&id, Need::Staff)?;
    let account = account(store, &ctx, &id).await?;
    let when = Timeline::new(account.timezone.date_at(now), &account.timezone);
    if super::contacts::list(store, &id, None, &one())
        .await?
        .items
        .is_empty()
    {
        contacts(store, &ctx, &id).await?;
    }
    if super::addresses::list(store, &id, &one())
        .await?
        .items
        .is_empty()
    {
        addresses(store, &ctx, &id).await?;
    }
    if super::documents::list(store, &id, None, &one())
        .await?
        .items
        .is_empty()
    {
        documents(store, blobs, &ctx, &id).await?;
    }
    let no_licenses = store
        .licenses_overview(&id, false, None, 1)
        .await?
        .is_none_or(|o| o.page.items.is_empty());
    if no_licenses {
        licenses(store, &ctx, &id, when).await?;
    }
    let no_consumption = {
        let mut tx = store.begin_read().await?;
        tx.list_consumption(&id, &Default::default(), None, 1)
            .await?
            .is_empty()
    };
    if no_consumption {
        consumption(store, &ctx, &id, when).await?;
    }
    // Payment methods need the data key; without it the demo has none.
    if let Some(key) = key
        && super::payments::list(store, &id, &one())
            .await?
            .items
            .is_empty()
    {
        payments(store, key, &ctx, &id).await?;
    }
    invoices(store, blobs, &ctx, &id, when).await?;
    // After the invoices: the top-up's acompte invoice takes the next
    // number, dated today, after every month's invoice.
    let no_top_ups = super::credits::top_ups(store, &id, &one())
        .await?
        .1
        .items
        .is_empty();
    if key.is_some() && no_top_ups {
        credits(store, blobs, &ctx, &id, when).await?;
    }
    Ok(account)
}

async fn account(store: &Store, ctx: &Ctx, id: &AccountId) -> Result<Account, ApiError> {
    let mut tx = store.begin_write().await?;
    if let Some(existing) = tx.account(id).await? {
        return Ok(existing);
    }
    let account = Account {
        id: id.clone(),
        name: "Démo Télécom SAS".into(),
        currency: Currency::Eur,
        timezone: Timezone::parse(Timezone::DEFAULT).expect("a known zone"),
        invoice_language: Default::default(),
        created_at: ctx.now,
        test_clock_id: None,
    };
    super::accounts::open(&mut tx, ctx, &account).await?;
    tx.commit().await?;
    Ok(account)
}

async fn contacts(store: &Store, ctx: &Ctx, id: &Authorized) -> Result<(), ApiError> {
    let people = [
        (
            "Hugo Bernard",
            "it@demo-telecom.fr",
            "+33 1 84 80 00 01",
            ContactRole::Technical,
            Some("Astreinte 24/7"),
        ),
        (
            "Claire Martin",
            "compta@demo-telecom.fr",
            "+33 1 84 80 00 02",
            ContactRole::Accounting,
            Some("Reçoit les factures"),
        ),
        (
            "Inès Moreau",
            "ops@demo-telecom.fr",
            "+33 6 12 34 56 78",
            ContactRole::Operational,
            None,
        ),
        (
            "Paul Petit",
            "direction@demo-telecom.fr",
            "+33 1 84 80 00 04",
            ContactRole::Other,
            None,
        ),
    ];
    let mut tx = store.begin_write().await?;
    for (name, email, phone, role, note) in people {
        let new = super::contacts::NewContact {
            name: name.into(),
            email: Email::parse(email).expect("a valid demo email"),
            phone: PhoneNumber::parse(phone).expect("a valid demo phone"),
            role,
            note: note.map(str::to_owned),
        };
        super::contacts::create(&mut tx, ctx, id, new).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn addresses(store: &Store, ctx: &Ctx, id: &Authorized) -> Result<(), ApiError> {
    let paris = AddressFields {
        company_name: "Démo Télécom SAS".into(),
        line1: "10 rue de la Paix".into(),
        line2: None,
        postal_code: "75002".into(),
        city: "Paris".into(),
        region: Some("Île-de-France".into()),
        country: Country::parse("FR").expect("FR"),
        vat_number: Some("FR40303265045".into()),
        siren: Some("303265045".into()),
        e_invoicing_address: Some("0225:303265045".into()),
    };
    let madrid = AddressFields {
        company_name: "Demo Telecom Iberia SL".into(),
        line1: "Calle de Alcalá 1".into(),
        line2: None,
        postal_code: "28014".into(),
        city: "Madrid".into(),
        region: None,
        country: Country::parse("ES").expect("ES"),
        vat_number: Some("ESA12345674".into()),
        siren: None,
        e_invoicing_address: None,
    };
    let mut tx = store.begin_write().await?;
    let french = super::addresses::create(&mut tx, ctx, id, paris).await?;
    super::addresses::create(&mut tx, ctx, id, madrid).await?;
    tx.commit().await?;
    // A French address: VIES has nothing to check.
    super::addresses::decide(store, ctx, None, id, &french.id, None).await?;
    Ok(())
}

async fn documents(
    store: &Store,
    blobs: &BlobStore,
    ctx: &Ctx,
    id: &Authorized,
) -> Result<(), ApiError> {
    for (name, doc_type, text) in [
        (
            "Extrait Kbis 2026",
            DocumentType::CompanyRegistration,
            "Extrait Kbis - Demo Telecom SAS",
        ),
        (
            "Contrat de service",
            DocumentType::Contract,
            "Contrat de service - Demo Telecom SAS",
        ),
    ] {
        let mut blob = blobs.create_temp().await.map_err(ApiError::internal)?;
        blob.write(&tiny_pdf(text))
            .await
            .map_err(ApiError::internal)?;
        let upload = super::documents::Upload {
            name: name.into(),
            doc_type,
            blob,
        };
        super::documents::upload(store, blobs, ctx, id, upload).await?;
    }
    Ok(())
}

/// An IBAN (staff's SEPA mandate), then a Visa card that becomes the
/// default.
async fn payments(
    store: &Store,
    key: &DataKey,
    ctx: &Ctx,
    id: &Authorized,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    let sepa = super::payments::NewSepa {
        iban: Iban::parse("FR76 3000 6000 0112 3456 7890 189").expect("a valid demo IBAN"),
        bic: Some("BNPAFRPP".into()),
        account_holder: "Démo Télécom SAS".into(),
        mandate_reference: "RUM-DEMO-0001".into(),
        mandate_signed_on: ctx.now.date(),
    };
    super::payments::add_sepa(&mut tx, ctx, key, id, sepa).await?;
    let card = super::payments::NewCard {
        number: CardNumber::parse("4242 4242 4242 4242").expect("a valid demo card"),
        expiry: Expiry::parse(
            12,
            u32::try_from(ctx.now.year() + 3).unwrap_or(2030),
            ctx.now.date(),
        )
        .map_err(ApiError::internal)?,
        holder_name: "CLAIRE MARTIN".into(),
    };
    super::payments::add_card(&mut tx, ctx, key, id, card).await?;
    tx.commit().await?;
    Ok(())
}

/// A balance with some history: a top-up of 100.00 (charged 120.00 with the
/// French VAT; its payment issues the acompte invoice), calls paid from it
/// and a commercial gesture.
async fn credits(
    store: &Store,
    blobs: &BlobStore,
    ctx: &Ctx,
    id: &Authorized,
    when: Timeline,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    let (_, top_up) = super::credits::create_top_up(&mut tx, ctx, id, amount("100.00")?).await?;
    super::credits::settle(
        &mut tx,
        ctx,
        &super::issuing::Issuer {
            seller: crate::domain::seller::Seller::default(),
            files: blobs.clone(),
        },
        top_up,
        super::credits::Settlement::Succeeded,
        ctx.now,
    )
    .await?;
    super::credits::debit(&mut tx, ctx, id, 1_240, &format!("calls {}", when.month)).await?;
    super::credits::adjust(&mut tx, ctx, id, amount("5.00")?, "Geste commercial").await?;
    tx.commit().await?;
    Ok(())
}

/// Issues every past month's invoice as the billing run of its 1st would
/// have, up to this month's: all paid but this month's, still open. Then
/// adds the accountant as a recipient of the next ones. The demo's invoices
/// queue no email: the recipient is added after them.
async fn invoices(
    store: &Store,
    blobs: &BlobStore,
    ctx: &Ctx,
    id: &Authorized,
    when: Timeline,
) -> Result<(), ApiError> {
    let seller = crate::domain::seller::Seller::default();
    let mut period = Period::of(when.start());
    while period <= when.month {
        let paid = period < when.month;
        let at = Ctx {
            now: period.start().midnight().assume_utc(),
            ..ctx.clone()
        };
        let outcome = super::invoices::bill(
            store,
            &at,
            &super::invoices::Billing {
                seller: seller.clone(),
                grace: time::Duration::ZERO,
                // The demo's buyer is French: no VAT number to check.
                vies: None,
                files: blobs.clone(),
            },
            id,
            period,
        )
        .await?;
        if let (super::invoices::Outcome::Issued { invoice_id, .. }, true) = (outcome, paid) {
            let paid_at = Ctx {
                now: at.now + time::Duration::hours(6),
                ..ctx.clone()
            };
            super::invoice_payments::mark_paid(store, &paid_at, id, &invoice_id).await?;
        }
        period = period.next();
    }
    let mut tx = store.begin_write().await?;
    if tx.recipients(id).await?.is_empty() {
        let email = Email::parse("compta@demo-telecom.fr").expect("a valid demo email");
        super::recipients::add(&mut tx, ctx, id, email).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The help page's situation (SPEC.md section 6), moved to this month: 4
/// ADVANCED licenses and 3 additional numbers from four months ago (the
/// 2nd), then 3 ADVANCED added on this month's 1st, 1 on the 2nd and 2 on
/// the 9th (or today, when those days are still to come); with users and
/// teams, some licenses assigned. Outside the example's month, a fourth
/// number added on the 5th shows a number's proration too. Run with
/// `COMPTOIR_NOW=2026-04-09T10:00:00Z` to see the page's numbers.
async fn licenses(
    store: &Store,
    ctx: &Ctx,
    id: &Authorized,
    when: Timeline,
) -> Result<(), ApiError> {
    let mut tx = store.begin_write().await?;
    let support = super::users::create_team(&mut tx, ctx, id, "Support client".into()).await?;
    let sales = super::users::create_team(&mut tx, ctx, id, "Ventes".into()).await?;
    let mut users = Vec::new();
    for (name, email, team) in [
        ("Claire Martin", "claire@demo-telecom.fr", &sales.id),
        ("Hugo Bernard", "hugo@demo-telecom.fr", &support.id),
        ("Inès Moreau", "ines@demo-telecom.fr", &support.id),
        ("Paul Petit", "paul@demo-telecom.fr", &sales.id),
    ] {
        let new = super::users::NewUser {
            name: name.into(),
            email: Email::parse(email).expect("a valid demo email"),
            team_id: Some(team.clone()),
        };
        users.push(super::users::create_user(&mut tx, ctx, id, new).await?);
    }
    let batches = [
        (when.start(), 4),
        (when.this_month(1), 3),
        (when.this_month(2), 1),
        (when.this_month(9), 2),
    ];
    let mut licenses = Vec::new();
    for (activation, quantity) in batches {
        let advanced = tx
            .plan("ADVANCED", activation)
            .await?
            .ok_or(ApiError::NotFound("plan"))?;
        let unit = prorated_unit(advanced.monthly_price, activation).map_err(ApiError::internal)?;
        for _ in 0..quantity {
            let license = License {
                id: LicenseId::generate(),
                account_id: id.id().clone(),
                plan: advanced.code.clone(),
                activation_date: activation,
                removal_date: None,
                user_id: None,
                prorated_amount_minor: unit.minor(),
                created_at: ctx.now,
            };
            tx.insert_license(&license).await?;
            licenses.push(license);
        }
    }
    for (license, user) in licenses.iter().zip(&users) {
        tx.set_license_user(&license.id, Some(&user.id)).await?;
    }
    let mut numbers = vec![
        (NUMBERS[0], when.start()),
        (NUMBERS[1], when.start()),
        (NUMBERS[2], when.start()),
    ];
    if !when.is_example() {
        numbers.push((NUMBERS[3], when.this_month(5)));
    }
    for (i, (number, activation)) in numbers.into_iter().enumerate() {
        let plan = tx
            .plan("PHONE_NUMBER", activation)
            .await?
            .ok_or(ApiError::NotFound("plan"))?;
        let unit = prorated_unit(plan.monthly_price, activation).map_err(ApiError::internal)?;
        let line = PhoneNumberLine {
            id: PhoneNumberId::generate(),
            account_id: id.id().clone(),
            country: "FR".into(),
            number: number.into(),
            activation_date: activation,
            removal_date: None,
            prorated_amount_minor: unit.minor(),
            created_at: ctx.now + time::Duration::milliseconds(i as i64),
        };
        tx.insert_phone_number(&line).await?;
    }
    let event = ctx.audit_event(
        Some(id),
        "demo.licenses_loaded",
        ("account", id.as_str()),
        None,
        None,
    );
    super::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Calls and SMS of the demo users from last month's 1st to now, the same
/// at every load of the same day (a fixed pseudo-random sequence). Last
/// month has out-of-plan international calls (billed on this month's
/// invoice), and so has this month (billed on the upcoming one), except in
/// the example's month, whose upcoming invoice is the help page's.
async fn consumption(
    store: &Store,
    ctx: &Ctx,
    id: &Authorized,
    when: Timeline,
) -> Result<(), ApiError> {
    let users: Vec<String> = {
        let mut tx = store.begin_read().await?;
        tx.user_directory(id)
            .await?
            .into_iter()
            .map(|(user, _, _)| user.to_string())
            .collect()
    };
    if users.is_empty() {
        return Ok(());
    }
    let mut seed: u64 = 0x5eed_c0de;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let start = when.month.previous().start().midnight().assume_utc() + time::Duration::hours(7);
    let days = (when.today - when.month.previous().start()).whole_days() + 1;
    let mut records = Vec::new();
    for day in 0..days {
        let date = start + time::Duration::days(day);
        if matches!(
            date.weekday(),
            time::Weekday::Saturday | time::Weekday::Sunday
        ) {
            continue;
        }
        let billed = Period::of(date.date()) != when.month || !when.is_example();
        for user in &users {
            for _ in 0..(3 + next(6)) {
                let at = date + time::Duration::seconds((next(10 * 3600)) as i64);
                let (prefix, country, cents_per_minute) =
                    DESTINATIONS[next(DESTINATIONS.len() as u64) as usize];
                let sms = next(5) == 0;
                let duration = if sms { 0 } else { 20 + next(900) as i64 };
                let inbound = next(3) == 0;
                let destination = format!("{prefix}{:03}", next(1000));
                // Nothing is recorded ahead of the clock.
                if at > ctx.now {
                    continue;
                }
                let cost = if billed && !inbound && cents_per_minute > 0 {
                    let minutes = if sms { 1 } else { (duration + 59) / 60 };
                    minutes * cents_per_minute
                } else {
                    0
                };
                records.push(super::consumption::RecordInput {
                    external_id: format!("demo-{}", records.len() + 1),
                    occurred_at: at
                        .format(&time::format_description::well_known::Rfc3339)
                        .map_err(ApiError::internal)?,
                    user_id: user.clone(),
                    kind: if sms { "sms" } else { "call" }.into(),
                    direction: if inbound { "inbound" } else { "outbound" }.into(),
                    destination,
                    country: country.into(),
                    duration_seconds: duration,
                    cost: Money::from_minor(cost, Currency::Eur).amount(),
                });
            }
        }
    }
    if !when.is_example() {
        let this_month = when.zone_start;
        let billed = |r: &super::consumption::RecordInput| {
            r.cost != "0.00"
                && time::OffsetDateTime::parse(
                    &r.occurred_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok_and(|at| at >= this_month)
        };
        if !records.iter().any(billed) {
            // Early on a 1st, or on a weekend, no call of this month is
            // billed yet: one call to London between the month's first
            // instant and now still puts consumption on the upcoming invoice.
            let at: OffsetDateTime = this_month + (ctx.now - this_month) / 2_i32;
            records.push(super::consumption::RecordInput {
                external_id: format!("demo-{}", records.len() + 1),
                occurred_at: at
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(ApiError::internal)?,
                user_id: users[0].clone(),
                kind: "call".into(),
                direction: "outbound".into(),
                destination: format!("{}042", DESTINATIONS[3].0),
                country: DESTINATIONS[3].1.into(),
                duration_seconds: 60,
                cost: Money::from_minor(DESTINATIONS[3].2, Currency::Eur).amount(),
            });
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    super::consumption::ingest(store, ctx, id, &records).await?;
    Ok(())
}

/// A one-page PDF showing `text` (ASCII), with a correct cross-reference table.
pub fn tiny_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// An amount the demo writes as a request would.
fn amount(raw: &str) -> Result<Amount, ApiError> {
    Amount::parse(raw).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::PhoneNumber;

    #[test]
    fn every_demo_number_and_call_destination_is_a_valid_number() {
        for number in NUMBERS {
            assert!(PhoneNumber::parse(number).is_some(), "{number}");
        }
        for (prefix, _, _) in DESTINATIONS {
            for suffix in ["000", "500", "999"] {
                let number = format!("{prefix}{suffix}");
                assert!(PhoneNumber::parse(&number).is_some(), "{number}");
            }
        }
    }

    #[test]
    fn the_timeline_starts_four_months_back_and_never_goes_past_today() {
        let paris = Timezone::parse(Timezone::DEFAULT).expect("a known zone");
        let t = Timeline::new(time::macros::date!(2027 - 02 - 01), &paris);
        assert_eq!(t.start(), time::macros::date!(2026 - 10 - 02));
        assert_eq!(t.this_month(9), time::macros::date!(2027 - 02 - 01));
        let t = Timeline::new(time::macros::date!(2026 - 04 - 09), &paris);
        assert!(t.is_example());
        assert_eq!(t.start(), time::macros::date!(2025 - 12 - 02));
        assert_eq!(t.this_month(9), time::macros::date!(2026 - 04 - 09));
    }
}
