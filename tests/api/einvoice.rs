//! E-invoices (SPEC.md section 10, issue 19): the matrix of issued
//! documents (each VAT treatment, a USD account, proration, late usage,
//! charges, prepaid credits, the customer balance, full and partial credit
//! notes, an acompte, a reissue) downloaded as CII, UBL and PDF. The CII
//! and UBL read back with `en16931_formats::read` carry the JSON's totals
//! to the cent (BT-106, BT-109, BT-110, BT-112, BT-113, BT-115, and BT-111
//! for USD), and the PDF prints them. With `COMPTOIR_EINVOICE_DIR` set, the
//! documents are written there as `<case>.cii.xml`, `<case>.ubl.xml` and
//! `<case>.pdf` for `tests/einvoice/validate.py` (`make test-einvoice`).

use comptoir::domain::role::Role;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::credits::{deliver, signed};
use crate::helpers::{TestApp, WEBHOOK_SECRET, assert_problem, spawn_app, spawn_app_with};
use crate::invoice_payments::{pay, transfer};
use crate::payments::{add_card, sepa, visa};

use crate::helpers::success_json as ok;

/// An issued document of the matrix.
enum Doc<'a> {
    Invoice(&'a str),
    CreditNote(&'a str),
}

/// Downloads `doc` as JSON, CII, UBL and PDF, writes them under
/// `COMPTOIR_EINVOICE_DIR` as `case`, and checks the XML's totals and the
/// PDF's against the JSON. Returns the JSON.
async fn check(app: &TestApp, account: &str, case: &str, doc: Doc<'_>) -> Value {
    let (base, credit_note) = match doc {
        Doc::Invoice(id) => (format!("/v1/accounts/{account}/invoices/{id}"), false),
        Doc::CreditNote(id) => (format!("/v1/accounts/{account}/credit-notes/{id}"), true),
    };
    let json = ok(app.get(&base, &app.viewer(account)).await).await;
    let mut xml = Vec::new();
    for syntax in ["cii", "ubl"] {
        let res = app
            .get(&format!("{base}/{syntax}.xml"), &app.viewer(account))
            .await;
        assert_eq!(
            res.status(),
            200,
            "{case} {syntax}: {}",
            res.text().await.unwrap()
        );
        assert_eq!(res.headers()["content-type"], "application/xml", "{case}");
        let disposition = res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        let number = json["number"].as_str().unwrap();
        assert!(
            disposition.contains(&format!("{number}.{syntax}.xml")),
            "{case}: {disposition}"
        );
        xml.push(res.bytes().await.unwrap().to_vec());
    }
    let res = app.get(&format!("{base}/pdf"), &app.viewer(account)).await;
    assert_eq!(res.status(), 200, "{case} pdf");
    let pdf = res.bytes().await.unwrap().to_vec();
    if let Ok(dir) = std::env::var("COMPTOIR_EINVOICE_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{case}.cii.xml"), &xml[0]).unwrap();
        std::fs::write(format!("{dir}/{case}.ubl.xml"), &xml[1]).unwrap();
        std::fs::write(format!("{dir}/{case}.pdf"), &pdf).unwrap();
    }

    let s = |k: &str| {
        json[k]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {k} in {json}"))
    };
    // BT-106, BT-109, BT-110, BT-112, BT-113, BT-115, BT-111.
    let expected = if credit_note {
        // Not paid by the buyer: nothing paid before, the whole total due.
        [
            s("subtotal"),
            s("subtotal"),
            s("tax_amount"),
            s("total"),
            "0.00",
            s("total"),
            "",
        ]
    } else {
        [
            s("subtotal"),
            s("subtotal"),
            s("tax_amount"),
            s("total"),
            s("amount_paid"),
            s("amount_due"),
            json["vat_in_eur"]["amount"].as_str().unwrap_or(""),
        ]
    };
    for (syntax, bytes) in ["CII", "UBL"].iter().zip(&xml) {
        let read = en16931_formats::read(bytes).unwrap_or_else(|e| panic!("{case} {syntax}: {e}"));
        let inv = read.invoice;
        let t = &inv.totals;
        let or_zero = |a: Option<en16931::InvoiceAmount>| {
            a.map_or_else(|| "0.00".to_owned(), |a| a.to_string())
        };
        let got = [
            t.line_total.to_string(),
            t.taxable_total.to_string(),
            or_zero(t.vat_total),
            t.gross_total.to_string(),
            or_zero(t.paid),
            t.due.to_string(),
            t.vat_total_accounting
                .map(|a| a.to_string())
                .unwrap_or_default(),
        ];
        assert_eq!(
            got.map(|g| g),
            expected.map(str::to_owned),
            "{case} {syntax}"
        );
        assert_eq!(inv.number.as_deref(), json["number"].as_str(), "{case}");
        assert_eq!(
            inv.issue_date.map(|d| d.to_string()).as_deref(),
            json["issue_date"].as_str(),
            "{case}"
        );
        assert_eq!(
            inv.currency.as_ref().map(|c| c.as_str()),
            json["currency"].as_str()
        );
        assert_eq!(inv.business_process.as_deref(), Some("S1"), "{case}");
    }

    // The readable PDF prints the same amounts.
    let text = crate::credit_notes::pdf_text(app, &format!("{base}/pdf"), account).await;
    let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for key in ["subtotal", "total"] {
        let amount = s(key).replace('.', ",");
        assert!(
            squashed.contains(&amount),
            "{case}: {key} {amount} in {text}"
        );
    }
    json
}

/// The id of `account`'s invoice in a billing run's report.
fn issued_for(run: &Value, account: &str) -> String {
    run["issued"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account_id"] == account)
        .unwrap_or_else(|| panic!("no invoice issued for {account}: {run}"))["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A one-off charge of `quantity` × `unit_amount`, billed on the next invoice.
async fn charge(app: &TestApp, account: &str, description: &str, unit_amount: &str, quantity: u32) {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/charges"),
            &app.support(),
            &json!({"description": description, "unit_amount": unit_amount, "quantity": quantity}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

/// An account with a verified primary address of `fields`.
async fn buyer(app: &TestApp, name: &str, fields: Value) -> String {
    let account = app.create_account(name).await;
    let address = app.add_verified_address(&account, &fields).await;
    if fields["country"] == "DE" && !fields["vat_number"].is_null() {
        // The tests' VIES is unreachable: staff verify the number by hand.
        let res = app
            .post(
                &format!("/v1/accounts/{account}/billing-addresses/{address}/vat-check"),
                &app.support(),
                &json!({"method": "manual", "reason": "Checked on the BZSt register"}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    account
}

/// A French company in Paris with its SIREN (every French B2B buyer has
/// one: it is its e-invoicing address by default), paying by card.
async fn french_company(app: &TestApp, name: &str) -> String {
    let account = buyer(
        app,
        name,
        json!({"company_name": format!("{name} SAS"), "line1": "1 rue de la Paix",
               "postal_code": "75002", "city": "Paris", "country": "FR", "siren": "732829320"}),
    )
    .await;
    assert_eq!(add_card(app, &account, &visa()).await.status(), 201);
    account
}

/// `french_company`s with 100.00 of April calls each, and their May
/// invoices issued on May 2: 120.00 with VAT. Returns the account and
/// invoice ids.
async fn issued_may_invoices<const N: usize>(
    app: &TestApp,
    names: [&str; N],
) -> [(String, String); N] {
    let mut accounts = Vec::new();
    for name in names {
        let account = french_company(app, name).await;
        let email = format!("lea@{}.fr", name.to_lowercase());
        calls(
            app,
            &account,
            &email,
            &[("m1", "2026-04-08T09:00:00Z", "100.00")],
        )
        .await;
        accounts.push(account);
    }
    app.clock.set(datetime!(2026-05-02 08:00 UTC));
    let run = crate::invoices::bill(app, "2026-05").await;
    let issued: Vec<(String, String)> = accounts
        .into_iter()
        .map(|a| {
            let invoice = issued_for(&run, &a);
            (a, invoice)
        })
        .collect();
    issued.try_into().unwrap()
}

fn address(company: &str, country: &str, postal_code: &str, city: &str) -> Value {
    json!({"company_name": company, "line1": "1 Main Street", "postal_code": postal_code,
           "city": city, "country": country})
}

async fn calls(app: &TestApp, account: &str, user_email: &str, records: &[(&str, &str, &str)]) {
    let user = app.create_user(account, "Léa", user_email).await;
    let records: Vec<Value> = records
        .iter()
        .map(|(id, at, cost)| {
            json!({"external_id": id, "occurred_at": at, "user_id": user, "kind": "call",
                   "direction": "outbound", "destination": "+32470123456", "country": "BE",
                   "duration_seconds": 600, "cost": cost})
        })
        .collect();
    ok(app
        .post(
            &format!("/v1/accounts/{account}/consumption"),
            &app.token(Role::Integration, Some(account)),
            &json!({ "records": records }),
        )
        .await)
    .await;
}

#[tokio::test]
async fn each_vat_treatment_gives_an_e_invoice_with_the_totals_of_its_json() {
    let app = spawn_app().await;
    let with = |mut fields: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            fields[k] = v.clone();
        }
        fields
    };
    // A French company (SIREN, no e-invoicing address: its directory
    // address is its SIREN), paying by card, with two licenses since April 1.
    let france = buyer(
        &app,
        "France",
        with(
            address("Acme SAS", "FR", "75002", "Paris"),
            json!({"siren": "732829320", "vat_number": "FR44732829320"}),
        ),
    )
    .await;
    assert_eq!(add_card(&app, &france, &visa()).await.status(), 201);
    let res = app
        .post(
            &format!("/v1/accounts/{france}/licenses"),
            &app.support(),
            &json!({"plan": "ADVANCED", "quantity": 2, "activation_date": "2026-04-01"}),
        )
        .await;
    ok(res).await;
    // The other rows of the treatment table, each billed a charge.
    let rows = [
        (
            "monaco",
            with(
                address("Monaco Télécom SAM", "MC", "98000", "Monaco"),
                json!({"vat_number": "FR40303265045"}),
            ),
        ),
        (
            "reunion",
            with(
                address("Réunion Services SARL", "RE", "97400", "Saint-Denis"),
                json!({"siren": "552100554", "e_invoicing_address": "0225:552100554_COMPTA"}),
            ),
        ),
        (
            "guyane",
            with(
                address("Guyane Com SAS", "FR", "97300", "Cayenne"),
                json!({"siren": "303265045"}),
            ),
        ),
        (
            "eu_reverse_charge",
            with(
                address("Beispiel GmbH", "DE", "10115", "Berlin"),
                json!({"vat_number": "DE123456789"}),
            ),
        ),
        ("eu_consumer", address("Jan Novak", "DE", "10115", "Berlin")),
        (
            "outside_eu",
            address("Example Inc.", "US", "10001", "New York"),
        ),
        (
            "outside_eu_vat_number",
            with(
                address("Exemple SA", "CH", "1201", "Genève"),
                json!({"vat_number": "CHE-123.456.789"}),
            ),
        ),
        (
            "charges",
            with(
                address("Charges SAS", "FR", "69002", "Lyon"),
                json!({"siren": "303265045", "e_invoicing_address": "303265045_FACTURES"}),
            ),
        ),
    ];
    let mut accounts = vec![("france", france)];
    for (case, fields) in rows {
        let account = buyer(&app, case, fields).await;
        charge(&app, &account, "Frais de portabilité", "41.15", 3).await;
        accounts.push((case, account));
    }
    let (_, charges) = accounts.last().unwrap().clone();
    let res = app
        .post(
            &format!("/v1/accounts/{charges}/payment-methods/sepa"),
            &app.support(),
            &sepa(),
        )
        .await;
    assert_eq!(res.status(), 201);
    charge(&app, &charges, "Mise en service", "150.00", 1).await;

    let run = crate::invoices::bill(&app, "2026-05").await;
    for (case, account) in &accounts {
        let id = issued_for(&run, account);
        let invoice = check(&app, account, case, Doc::Invoice(&id)).await;
        assert_eq!(invoice["status"], "issued", "{case}");
    }
}

#[tokio::test]
async fn a_usd_invoice_states_its_vat_in_euros_in_bt_111() {
    let app = spawn_app().await;
    ok(app
        .put(
            "/v1/plans/SMART",
            &app.support(),
            &json!({"name": "Smart", "monthly_price": "32.00", "currency": "USD"}),
        )
        .await)
    .await;
    let account = ok(app
        .post(
            "/v1/accounts",
            &app.support(),
            &json!({"name": "Acme USD", "currency": "USD"}),
        )
        .await)
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_verified_address(
        &account,
        &json!({"company_name": "Acme", "line1": "1 rue de la Paix", "postal_code": "75002",
                "city": "Paris", "country": "FR", "siren": "732829320"}),
    )
    .await;
    assert_eq!(add_card(&app, &account, &visa()).await.status(), 201);
    ok(app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.support(),
            &json!({"plan": "SMART", "quantity": 1, "activation_date": "2026-04-01"}),
        )
        .await)
    .await;
    app.clock.set(datetime!(2026-05-01 08:00 UTC));
    ok(app
        .put(
            "/v1/exchange-rates/USD/2026-04-30",
            &app.support(),
            &json!({"eur_rate": "1.0523"}),
        )
        .await)
    .await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let invoice = check(
        &app,
        &account,
        "usd_account",
        Doc::Invoice(&issued_for(&run, &account)),
    )
    .await;
    assert_eq!(invoice["currency"], "USD");
    assert_eq!(invoice["vat_in_eur"]["amount"], "12.16", "{invoice}");
}

#[tokio::test]
async fn proration_and_late_usage_lines_are_e_invoiced_with_their_periods() {
    let app = spawn_app().await;
    let account = french_company(&app, "Prorata").await;
    // A license from April 10: May's invoice bills its proration and May.
    app.clock.set(datetime!(2026-04-10 09:00 UTC));
    ok(app
        .post(
            &format!("/v1/accounts/{account}/licenses"),
            &app.admin(&account),
            &json!({"plan": "ADVANCED", "quantity": 1}),
        )
        .await)
    .await;
    calls(
        &app,
        &account,
        "lea@prorata.fr",
        &[("a1", "2026-04-12T09:00:00Z", "12.34")],
    )
    .await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let may = check(
        &app,
        &account,
        "proration",
        Doc::Invoice(&issued_for(&run, &account)),
    )
    .await;
    let kinds: Vec<&str> = may["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"license_proration"), "{may}");

    // An April call recorded after May's invoice: June bills it as late usage.
    app.clock.set(datetime!(2026-05-20 09:00 UTC));
    calls(
        &app,
        &account,
        "paul@prorata.fr",
        &[("a2", "2026-04-28T09:00:00Z", "7.66")],
    )
    .await;
    let run = crate::invoices::bill(&app, "2026-06").await;
    let june = check(
        &app,
        &account,
        "late_usage",
        Doc::Invoice(&issued_for(&run, &account)),
    )
    .await;
    assert!(
        june["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "late_consumption"),
        "{june}"
    );
}

#[tokio::test]
async fn an_acompte_and_the_invoice_deducting_it_as_prepaid_are_e_invoiced() {
    let app = spawn_app().await;
    let account = french_company(&app, "Prepaid").await;
    // A 100.00 top-up, paid: its acompte invoice (type 386), 120.00 paid.
    let top_up = ok(app
        .post(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.admin(&account),
            &json!({"amount": "100.00"}),
        )
        .await)
    .await;
    let event = json!({"id": "evt_paid", "type": "top_up.succeeded",
        "data": {"top_up_id": top_up["id"]}});
    let (raw, header) = signed(&event, app.clock.now().unix_timestamp(), WEBHOOK_SECRET);
    assert_eq!(deliver(&app, raw, &header).await.status(), 200);
    let top_ups = ok(app
        .get(
            &format!("/v1/accounts/{account}/credits/top-ups"),
            &app.viewer(&account),
        )
        .await)
    .await;
    let acompte_id = top_ups["data"][0]["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let acompte = check(&app, &account, "acompte", Doc::Invoice(&acompte_id)).await;
    assert_eq!(acompte["kind"], "advance");
    assert_eq!(
        (&acompte["amount_paid"], &acompte["amount_due"]),
        (&json!("120.00"), &json!("0.00"))
    );

    // 30.00 of April calls paid from the credits, and a 50.00 charge: May's
    // invoice bills 80.00 + 16.00 and deducts 36.00 as prepaid.
    calls(
        &app,
        &account,
        "lea@prepaid.fr",
        &[
            ("p1", "2026-04-09T09:00:00Z", "12.50"),
            ("p2", "2026-04-09T10:00:00Z", "17.50"),
        ],
    )
    .await;
    charge(&app, &account, "Mise en service", "50.00", 1).await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let may = check(
        &app,
        &account,
        "prepaid",
        Doc::Invoice(&issued_for(&run, &account)),
    )
    .await;
    assert_eq!(
        (&may["amount_paid"], &may["amount_due"]),
        (&json!("36.00"), &json!("60.00"))
    );
}

#[tokio::test]
async fn credit_notes_the_customer_balance_they_make_and_a_reissue_are_e_invoiced() {
    let app = spawn_app().await;
    // May's invoice of 120.00, paid, then credited 20.00 + 4.00: to the balance.
    let [(a, may), (b, b_may)] = issued_may_invoices(&app, ["Acme", "Bcme"]).await;
    check(&app, &a, "invoice_before_credit", Doc::Invoice(&may)).await;
    assert_eq!(pay(&app, &a, &may, &transfer("120.00")).await.status(), 201);
    let invoice = ok(app
        .get(&format!("/v1/accounts/{a}/invoices/{may}"), &app.viewer(&a))
        .await)
    .await;
    let line = invoice["lines"][0]["id"].as_str().unwrap();
    let partial = ok(app
        .post(
            &format!("/v1/accounts/{a}/invoices/{may}/credit-notes"),
            &app.support(),
            &json!({"reason": "Appels facturés deux fois", "lines": [{"invoice_line": line, "amount": "20.00"}]}),
        )
        .await)
    .await;
    let note = check(
        &app,
        &a,
        "credit_note_partial",
        Doc::CreditNote(partial["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(note["total"], "24.00");

    // June: 50.00 + 10.00 of calls, less the 24.00 balance.
    calls(
        &app,
        &a,
        "paul@acme.fr",
        &[("j1", "2026-05-10T09:00:00Z", "50.00")],
    )
    .await;
    let run = crate::invoices::bill(&app, "2026-06").await;
    let june = check(
        &app,
        &a,
        "customer_balance",
        Doc::Invoice(&issued_for(&run, &a)),
    )
    .await;
    assert_eq!(
        (&june["amount_paid"], &june["amount_due"]),
        (&json!("24.00"), &json!("36.00"))
    );

    // Another May invoice, credited in full, then reissued.
    let may = b_may;
    let full = ok(app
        .post(
            &format!("/v1/accounts/{b}/invoices/{may}/credit-notes"),
            &app.support(),
            &json!({"reason": "Résiliation"}),
        )
        .await)
    .await;
    let note = check(
        &app,
        &b,
        "credit_note_full",
        Doc::CreditNote(full["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(note["total"], "120.00");
    let reissued = ok(app
        .post(
            &format!("/v1/accounts/{b}/invoices/{may}/reissue"),
            &app.support(),
            &json!({}),
        )
        .await)
    .await;
    check(
        &app,
        &b,
        "reissue",
        Doc::Invoice(reissued["id"].as_str().unwrap()),
    )
    .await;
}

#[tokio::test]
async fn a_draft_has_no_e_invoice_and_another_account_gets_404() {
    let app = spawn_app_with(&[("COMPTOIR_INVOICE_GRACE", "3d")]).await;
    let account = crate::invoices::account_with_april_calls(&app, "Draft").await;
    let run = crate::invoices::bill(&app, "2026-05").await;
    let draft = run["drafted"][0]["invoice_id"].as_str().unwrap().to_owned();
    for syntax in ["cii", "ubl"] {
        let path = format!("/v1/accounts/{account}/invoices/{draft}/{syntax}.xml");
        assert_problem(
            app.get(&path, &app.viewer(&account)).await,
            409,
            "draft_has_no_e_invoice",
        )
        .await;
        let other = app.create_billable_account("Other").await;
        assert_problem(app.get(&path, &app.admin(&other)).await, 404, "not_found").await;
        let integration = app.token(Role::Integration, Some(&account));
        assert_problem(app.get(&path, &integration).await, 403, "forbidden").await;
    }
}
