//! The mapping's rules, one document per VAT treatment and kind, read back
//! from the written CII and UBL.

use en16931::invoice::{Code, PaymentMeans};
use en16931_formats::Syntax;
use rust_decimal::Decimal;
use time::macros::{date, datetime};

use super::{Xml, credit_note, invoice};
use crate::domain::advance::Prepaid;
use crate::domain::credit_note::{CreditNote, CreditNoteLine, CreditNoteSnapshot};
use crate::domain::exchange::{EurRate, VatInEur};
use crate::domain::ids::{AccountId, CreditNoteId, InvoiceId};
use crate::domain::invoice::{LineKind, TaxTreatment};
use crate::domain::invoice_payment::Settlement;
use crate::domain::issued::{
    AddressFieldsSnapshot, AdvanceOf, Deduction, Invoice, InvoiceKind, InvoiceStatus,
    OperationCategory, Replaced, Snapshot, SnapshotLine,
};
use crate::domain::money::{Currency, Money};
use crate::domain::seller::Seller;
use crate::render::einvoice::RenderError;

fn line(kind: LineKind, quantity: u32, unit: i64) -> SnapshotLine {
    SnapshotLine {
        kind,
        description: format!("{kind:?} line"),
        plan: Some("ADVANCED".into()),
        quantity,
        unit_amount_minor: unit,
        amount_minor: unit * i64::from(quantity),
        days: None,
        days_in_period: None,
        activation_date: None,
        service_start: Some(date!(2026 - 05 - 01)),
        service_end: Some(date!(2026 - 05 - 31)),
    }
}

fn french_buyer() -> AddressFieldsSnapshot {
    AddressFieldsSnapshot {
        company_name: "Acme SAS".into(),
        line1: "1 place de la Bourse".into(),
        line2: None,
        postal_code: "69002".into(),
        city: "Lyon".into(),
        region: None,
        country: "FR".into(),
        vat_number: Some("FR40303265045".into()),
        siren: Some("303265045".into()),
        e_invoicing_address: None,
    }
}

/// A French invoice of May 2026: 2 licenses at 64.00 and a 15.00 charge,
/// 20 % VAT, debited by card.
fn french() -> Invoice {
    let lines = vec![
        line(LineKind::License, 2, 6_400),
        SnapshotLine {
            service_start: None,
            service_end: None,
            ..line(LineKind::Charge, 1, 1_500)
        },
    ];
    issued(lines, TaxTreatment::FrenchVat, "20", Some(french_buyer()))
}

fn issued(
    lines: Vec<SnapshotLine>,
    treatment: TaxTreatment,
    rate: &str,
    buyer: Option<AddressFieldsSnapshot>,
) -> Invoice {
    let currency = Currency::Eur;
    let subtotal: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let rate_decimal: Decimal = rate.parse().unwrap();
    let tax = Money::round(
        Decimal::new(subtotal, 2) * rate_decimal / Decimal::from(100),
        currency,
    )
    .unwrap()
    .minor();
    let money = |minor| Money::from_minor(minor, currency);
    Invoice {
        id: InvoiceId::generate(),
        account_id: AccountId::parse("acc_demo").expect("an id"),
        number: Some("F-2026-000042".into()),
        kind: InvoiceKind::Period,
        period: "2026-05".into(),
        status: InvoiceStatus::Issued,
        issue_date: date!(2026 - 06 - 01),
        currency,
        subtotal: money(subtotal),
        tax: money(tax),
        total: money(subtotal + tax),
        snapshot: Snapshot {
            seller: Seller::default(),
            account_name: "Acme".into(),
            period_start: date!(2026 - 05 - 01),
            period_end: date!(2026 - 05 - 31),
            lines,
            tax_treatment: treatment,
            tax_rate: rate.into(),
            tax_territory: buyer.as_ref().map(|b| b.country.clone()),
            tax_mention: treatment.mention(),
            operation_category: Some(OperationCategory::Services),
            buyer,
            payment_method: Some("Visa **** 4242".into()),
            deductions: Vec::new(),
            replaces: None,
            prepaid: Vec::new(),
            advance: None,
            vat_in_eur: None,
        },
        paid_at: None,
        voided_at: None,
        void_reason: None,
        settlement: Settlement::unpaid(money(subtotal + tax), false),
        hold: None,
        e_invoice: None,
    }
}

fn with_currency(mut i: Invoice, currency: Currency) -> Invoice {
    let to = |m: Money| Money::from_minor(m.minor(), currency);
    i.currency = currency;
    (i.subtotal, i.tax, i.total) = (to(i.subtotal), to(i.tax), to(i.total));
    i
}

/// Both syntaxes read back, and the model they carry.
fn read(xml: &Xml) -> [en16931::Invoice; 2] {
    [&xml.cii, &xml.ubl].map(|bytes| {
        let read = en16931_formats::read(bytes).expect("reads back");
        assert!(read.entries.is_empty(), "{:?}", read.entries);
        read.invoice
    })
}

fn s(a: Option<en16931::InvoiceAmount>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

fn totals(inv: &en16931::Invoice) -> [String; 7] {
    let t = &inv.totals;
    [
        t.line_total.to_string(),
        t.taxable_total.to_string(),
        s(t.vat_total),
        t.gross_total.to_string(),
        s(t.paid),
        t.due.to_string(),
        s(t.vat_total_accounting),
    ]
}

fn notes(inv: &en16931::Invoice) -> Vec<(String, String)> {
    inv.notes
        .iter()
        .map(|n| {
            (
                n.subject_code
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                n.note.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn subject<'a>(inv: &'a [(String, String)], code: &str) -> Vec<&'a str> {
    inv.iter()
        .filter(|(c, _)| c == code)
        .map(|(_, n)| n.as_str())
        .collect()
}

fn breakdown(inv: &en16931::Invoice) -> (String, String, String, String, String) {
    let [b] = &inv.vat_breakdown[..] else {
        panic!("one VAT breakdown: {:?}", inv.vat_breakdown)
    };
    (
        b.category.as_str().to_owned(),
        b.rate.map(|r| r.to_string()).unwrap_or_default(),
        b.tax_amount.to_string(),
        b.exemption_reason.clone().unwrap_or_default(),
        b.exemption_reason_code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
    )
}

#[test]
fn a_french_invoice_carries_the_ctc_data_and_the_totals_of_its_json() {
    let xml = invoice(&french()).expect("valid");
    for inv in read(&xml) {
        assert_eq!(inv.type_code, Some(Code::new("380")));
        assert_eq!(inv.number.as_deref(), Some("F-2026-000042"));
        assert_eq!(inv.business_process.as_deref(), Some("S1"));
        assert_eq!(
            inv.specification_id.as_deref(),
            Some("urn:cen.eu:en16931:2017")
        );
        // 2 x 64.00 + 15.00 = 143.00, 28.60 VAT, 171.60; nothing paid before.
        assert_eq!(
            totals(&inv),
            ["143.00", "143.00", "28.60", "171.60", "", "171.60", ""]
        );
        assert_eq!(
            breakdown(&inv),
            (
                "S".into(),
                "20".into(),
                "28.60".into(),
                String::new(),
                String::new()
            )
        );
        let notes = notes(&inv);
        for code in ["PMT", "PMD", "AAB"] {
            assert_eq!(subject(&notes, code).len(), 1, "{code} in {notes:?}");
        }
        assert!(subject(&notes, "PMT")[0].contains("40 €"), "{notes:?}");
        assert!(
            subject(&notes, "TXD").is_empty(),
            "no VAT mention in France"
        );

        let seller = &inv.seller;
        let legal = seller.legal_registration.as_ref().expect("SIREN");
        assert_eq!(
            (legal.content(), legal.scheme()),
            ("912345675", Some("0002"))
        );
        let address = seller.electronic_address.as_ref().expect("BT-34");
        assert_eq!(
            (address.content(), address.scheme()),
            ("912345675", Some("0225"))
        );
        assert_eq!(seller.vat_identifier.as_deref(), Some("FR65912345675"));
        assert_eq!(seller.address.post_code.as_deref(), Some("75002"));
        assert_eq!(seller.address.city.as_deref(), Some("Paris"));
        assert_eq!(seller.address.line1.as_deref(), Some("10 rue de la Paix"));

        let buyer = &inv.buyer;
        let legal = buyer.legal_registration.as_ref().expect("SIREN");
        assert_eq!(
            (legal.content(), legal.scheme()),
            ("303265045", Some("0002"))
        );
        let address = buyer.electronic_address.as_ref().expect("BT-49");
        assert_eq!(
            (address.content(), address.scheme()),
            ("303265045", Some("0225"))
        );

        let lines = &inv.lines;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].price.net_price.to_string(), "64");
        assert_eq!(lines[0].quantity.to_string(), "2");
        assert_eq!(lines[0].net_amount.to_string(), "128.00");
        assert!(lines[0].period.is_some() && lines[1].period.is_none());
        let due = inv.due_date.map(|d| d.to_string());
        assert_eq!(
            due.as_deref(),
            Some("2026-06-01"),
            "debited on the issue date"
        );
        let payment = inv.payment.as_ref().expect("BG-16");
        assert_eq!(payment.means_code, Some(Code::new("48")));
        let Some(PaymentMeans::Card(card)) = &payment.means else {
            panic!("a card: {payment:?}")
        };
        assert_eq!(card.primary_account_number.as_deref(), Some("4242"));
    }
}

#[test]
fn the_proof_writes_the_same_cii_again_byte_for_byte() {
    let xml = invoice(&french()).unwrap();
    let again = en16931_formats::write(&xml.proof, Syntax::Cii);
    assert_eq!(again.xml.as_bytes(), &xml.cii[..]);
    assert_eq!(invoice(&french()).unwrap().ubl, xml.ubl);
    assert!(
        String::from_utf8(xml.cii.clone())
            .unwrap()
            .starts_with("<?xml")
    );
}

fn reverse_charge() -> Invoice {
    let buyer = AddressFieldsSnapshot {
        company_name: "Beispiel GmbH".into(),
        line1: "Marktplatz 2".into(),
        postal_code: "10115".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        vat_number: Some("DE123456789".into()),
        siren: None,
        ..french_buyer()
    };
    issued(
        vec![line(LineKind::License, 3, 6_400)],
        TaxTreatment::ReverseCharge,
        "0",
        Some(buyer),
    )
}

#[test]
fn reverse_charge_is_category_ae_with_the_buyer_vat_number_and_its_reason() {
    let inv = reverse_charge();
    for model in read(&invoice(&inv).expect("valid")) {
        let (category, rate, tax, reason, code) = breakdown(&model);
        assert_eq!(
            (category.as_str(), rate.as_str(), tax.as_str()),
            ("AE", "0", "0.00")
        );
        assert!(reason.starts_with("Autoliquidation"), "{reason}");
        assert_eq!(code, "VATEX-EU-AE");
        assert_eq!(model.buyer.vat_identifier.as_deref(), Some("DE123456789"));
        assert_eq!(model.buyer.legal_registration, None);
        let address = model.buyer.electronic_address.as_ref().expect("BT-49");
        assert_eq!(
            (address.content(), address.scheme()),
            ("DE123456789", Some("9930"))
        );
        assert_eq!(model.lines[0].vat.category, Code::new("AE"));
        assert!(subject(&notes(&model), "TXD")[0].starts_with("Autoliquidation"));
        assert_eq!(totals(&model)[3], "192.00");
    }
}

fn outside_eu() -> Invoice {
    let swiss = AddressFieldsSnapshot {
        company_name: "Exemple SA".into(),
        postal_code: "1201".into(),
        city: "Genève".into(),
        country: "CH".into(),
        vat_number: Some("CHE-123.456.789".into()),
        siren: None,
        ..french_buyer()
    };
    issued(
        vec![line(LineKind::License, 1, 6_400)],
        TaxTreatment::OutsideEu,
        "0",
        Some(swiss),
    )
}

fn guyane() -> Invoice {
    let buyer = AddressFieldsSnapshot {
        postal_code: "97300".into(),
        city: "Cayenne".into(),
        ..french_buyer()
    };
    let treatment = TaxTreatment::FrenchOverseasExempt;
    issued(
        vec![line(LineKind::License, 1, 6_400)],
        treatment,
        "0",
        Some(buyer),
    )
}

#[test]
fn outside_the_eu_is_category_g_and_guyane_category_e_each_with_its_mention() {
    for (inv, expected, article) in [
        (outside_eu(), ("G", "VATEX-EU-G"), "259-1"),
        (guyane(), ("E", ""), "294"),
    ] {
        for model in read(&invoice(&inv).expect("valid")) {
            let (category, rate, _, reason, code) = breakdown(&model);
            assert_eq!((category.as_str(), code.as_str()), expected);
            assert_eq!(rate, "0");
            assert!(reason.contains(article), "{reason}");
            assert_eq!(
                model.seller.vat_identifier.as_deref(),
                Some("FR65912345675")
            );
        }
    }
}

fn oss() -> Invoice {
    let consumer = AddressFieldsSnapshot {
        company_name: "Jan Novak".into(),
        postal_code: "10115".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        vat_number: None,
        siren: None,
        ..french_buyer()
    };
    issued(
        vec![line(LineKind::License, 1, 6_400)],
        TaxTreatment::EuOss,
        "19",
        Some(consumer),
    )
}

#[test]
fn an_oss_invoice_charges_the_buyer_state_rate_in_category_s() {
    let inv = oss();
    for model in read(&invoice(&inv).expect("valid")) {
        assert_eq!(breakdown(&model).0, "S");
        assert_eq!(breakdown(&model).1, "19");
        assert_eq!(totals(&model)[2], "12.16");
        assert_eq!(model.buyer.electronic_address, None, "a consumer has none");
    }
}

fn usd() -> Invoice {
    let mut inv = with_currency(french(), Currency::Usd);
    inv.snapshot.vat_in_eur = Some(
        VatInEur::state(
            inv.tax,
            EurRate::parse("1.0523").unwrap(),
            date!(2026 - 05 - 29),
        )
        .unwrap(),
    );
    inv
}

#[test]
fn a_usd_invoice_states_its_vat_in_euros() {
    let inv = usd();
    for model in read(&invoice(&inv).expect("valid")) {
        assert_eq!(model.currency, Some(Code::new("USD")));
        assert_eq!(model.vat_accounting_currency, Some(Code::new("EUR")));
        // 28.60 / 1.0523 = 27.178...
        assert_eq!(totals(&model)[6], "27.18");
        assert!(
            notes(&model)
                .iter()
                .any(|(_, n)| n.contains("1 EUR = 1,0523 USD"))
        );
    }
    // Without VAT, nothing to convert: 0 in euros.
    let mut exempt = with_currency(french(), Currency::Usd);
    exempt.snapshot.tax_treatment = TaxTreatment::OutsideEu;
    exempt.snapshot.tax_rate = "0".into();
    exempt.total = exempt.subtotal;
    exempt.tax = Money::zero(Currency::Usd);
    for model in read(&invoice(&exempt).expect("valid")) {
        assert_eq!(model.vat_accounting_currency, Some(Code::new("EUR")));
        assert_eq!(totals(&model)[6], "0.00");
    }
}

fn prepaid() -> Invoice {
    let mut inv = french();
    inv.snapshot.prepaid = vec![Prepaid {
        invoice_id: Some("inv_1".into()),
        invoice_number: Some("F-2026-000001".into()),
        amount_minor: 3_000,
        tax_minor: 600,
    }];
    inv.snapshot.deductions = vec![Deduction {
        credit_note_number: Some("AV-2026-000001".into()),
        amount_minor: 1_000,
    }];
    inv
}

#[test]
fn prepaid_credits_and_the_customer_balance_are_paid_amounts_never_lines() {
    let inv = prepaid();
    for model in read(&invoice(&inv).expect("valid")) {
        // 171.60 - 36.00 - 10.00.
        assert_eq!(
            totals(&model),
            ["143.00", "143.00", "28.60", "171.60", "46.00", "125.60", ""]
        );
        assert_eq!(model.lines.len(), 2);
        let deducted = notes(&model)
            .into_iter()
            .find(|(_, n)| n.starts_with("Déjà réglé"))
            .expect("what was deducted");
        assert!(deducted.1.contains("F-2026-000001") && deducted.1.contains("AV-2026-000001"));
    }
}

fn acompte() -> Invoice {
    let mut inv = issued(
        vec![SnapshotLine {
            service_start: None,
            service_end: None,
            ..line(LineKind::AdvancePayment, 1, 10_000)
        }],
        TaxTreatment::FrenchVat,
        "20",
        Some(french_buyer()),
    );
    inv.kind = InvoiceKind::Advance;
    inv.snapshot.advance = Some(AdvanceOf {
        top_up_id: "top_1".into(),
        paid_at: datetime!(2026 - 06 - 01 09:00 UTC),
    });
    inv
}

#[test]
fn an_acompte_is_type_386_paid_by_its_top_up() {
    let inv = acompte();
    for model in read(&invoice(&inv).expect("valid")) {
        assert_eq!(model.type_code, Some(Code::new("386")));
        assert_eq!(
            totals(&model),
            ["100.00", "100.00", "20.00", "120.00", "120.00", "0.00", ""]
        );
        assert_eq!(model.invoicing_period, None);
    }
}

#[test]
fn a_reissued_invoice_refers_to_the_invoice_it_replaces() {
    let mut inv = french();
    inv.snapshot.replaces = Some(Replaced {
        invoice_id: "inv_1".into(),
        number: "F-2026-000007".into(),
        issue_date: date!(2026 - 05 - 01),
    });
    for model in read(&invoice(&inv).expect("valid")) {
        assert_eq!(model.type_code, Some(Code::new("380")));
        let [p] = &model.preceding_invoices[..] else {
            panic!()
        };
        assert_eq!(p.reference.as_str(), "F-2026-000007");
    }
}

fn note_of(inv: &Invoice) -> CreditNote {
    let s = &inv.snapshot;
    let l = &s.lines[0];
    let (amount, tax) = (6_400, 1_280);
    let eur = |m| Money::from_minor(m, inv.currency);
    CreditNote {
        id: CreditNoteId::generate(),
        account_id: inv.account_id.clone(),
        invoice_id: inv.id.clone(),
        number: "AV-2026-000003".into(),
        issue_date: date!(2026 - 06 - 10),
        reason: "Licence résiliée".into(),
        currency: inv.currency,
        subtotal: eur(amount),
        tax: eur(tax),
        total: eur(amount + tax),
        applied: eur(amount + tax),
        to_balance: eur(0),
        snapshot: CreditNoteSnapshot {
            seller: s.seller.clone(),
            account_name: s.account_name.clone(),
            buyer: s.buyer.clone(),
            invoice_number: inv.number.clone().unwrap(),
            invoice_issue_date: inv.issue_date,
            period_start: s.period_start,
            period_end: s.period_end,
            lines: vec![CreditNoteLine {
                invoice_line: 0,
                kind: l.kind,
                description: l.description.clone(),
                plan: l.plan.clone(),
                quantity: 1,
                unit_amount_minor: 6_400,
                amount_minor: amount,
                by_quantity: true,
                days: None,
                days_in_period: None,
                activation_date: None,
                service_start: l.service_start,
                service_end: l.service_end,
            }],
            tax_treatment: s.tax_treatment,
            tax_rate: s.tax_rate.clone(),
            tax_mention: s.tax_mention.clone(),
            operation_category: s.operation_category,
            vat_in_eur: None,
        },
        created_at: datetime!(2026 - 06 - 10 10:00 UTC),
        e_invoice: None,
    }
}

#[test]
fn a_credit_note_is_type_381_and_refers_to_its_invoice() {
    let xml = credit_note(&note_of(&french())).expect("valid");
    assert!(String::from_utf8_lossy(&xml.ubl).contains("<CreditNote "));
    for model in read(&xml) {
        assert_eq!(model.kind, en16931::DocumentKind::CreditNote);
        assert_eq!(model.type_code, Some(Code::new("381")));
        let [p] = &model.preceding_invoices[..] else {
            panic!()
        };
        assert_eq!(p.reference.as_str(), "F-2026-000042");
        assert_eq!(
            p.issue_date.map(|d| d.to_string()).as_deref(),
            Some("2026-06-01")
        );
        assert_eq!(
            totals(&model),
            ["64.00", "64.00", "12.80", "76.80", "", "76.80", ""]
        );
        assert_eq!(model.due_date, None);
        assert!(
            model
                .payment_terms
                .as_deref()
                .unwrap()
                .contains("F-2026-000042")
        );
        for code in ["PMT", "PMD", "AAB"] {
            assert_eq!(subject(&notes(&model), code).len(), 1);
        }
    }
}

fn negative_line() -> Invoice {
    let mut inv = french();
    let mut refund = line(LineKind::Charge, 1, -1_000);
    refund.description = "Geste commercial".into();
    inv.snapshot.lines.push(refund);
    // 143.00 - 10.00 = 133.00, 26.60 VAT.
    inv.subtotal = Money::from_minor(13_300, Currency::Eur);
    inv.tax = Money::from_minor(2_660, Currency::Eur);
    inv.total = Money::from_minor(15_960, Currency::Eur);
    inv
}

#[test]
fn a_negative_line_becomes_a_document_allowance_and_no_price_is_negative() {
    let inv = negative_line();
    for model in read(&invoice(&inv).expect("valid")) {
        assert_eq!(model.lines.len(), 2);
        assert!(
            model
                .lines
                .iter()
                .all(|l| !l.price.net_price.into_decimal().is_sign_negative())
        );
        let [a] = &model.allowances[..] else {
            panic!("{:?}", model.allowances)
        };
        assert_eq!(a.amount.to_string(), "10.00");
        assert_eq!(a.reason.as_deref(), Some("Geste commercial"));
        assert_eq!(totals(&model)[..4], ["143.00", "133.00", "26.60", "159.60"]);
    }
}

#[test]
fn a_number_longer_than_35_characters_or_with_a_space_is_refused() {
    for number in [
        "F-2026-".to_owned() + &"9".repeat(29),
        "F 2026 1".to_owned(),
    ] {
        let mut inv = french();
        inv.number = Some(number.clone());
        assert!(
            matches!(invoice(&inv), Err(RenderError::Model(m)) if m.contains("35")),
            "{number}"
        );
    }
    let mut inv = french();
    inv.number = Some("F-2026-".to_owned() + &"9".repeat(28));
    assert!(invoice(&inv).is_ok(), "35 characters pass");
}

#[test]
fn electronic_addresses_are_the_given_one_else_the_siren_else_the_vat_number() {
    use super::parties::electronic_address as address;
    let shown = |id: Option<en16931::Identifier>| id.map(|i| i.to_string());
    let cases = [
        (
            Some("0225:732829320_FACT"),
            None,
            None,
            Some("0225:732829320_FACT"),
        ),
        (Some("732829320"), None, None, Some("0225:732829320")),
        (
            Some(" factures@acme.fr "),
            None,
            None,
            Some("EM:factures@acme.fr"),
        ),
        (
            Some("0088:4012345000009"),
            None,
            None,
            Some("0088:4012345000009"),
        ),
        // A GLN with a wrong key, and a directory address with a space: the SIREN.
        (
            Some("0088:4012345000008"),
            Some("303265045"),
            None,
            Some("0225:303265045"),
        ),
        (
            Some("0225:303 265 045"),
            Some("303265045"),
            None,
            Some("0225:303265045"),
        ),
        (None, None, Some("DE123456789"), Some("9930:DE123456789")),
        (None, None, Some("EL123456789"), Some("9933:EL123456789")),
        (None, None, Some("US123"), None),
        (None, None, None, None),
    ];
    for (given, siren, vat, expected) in cases {
        assert_eq!(
            shown(address(given, siren, vat)).as_deref(),
            expected,
            "{given:?} {siren:?} {vat:?}"
        );
    }
}

/// `COMPTOIR_EINVOICE_DIR=... cargo test --lib einvoice::xml::tests::dump`:
/// the documents above as files, for the schematrons.
#[test]
fn dump() {
    let Ok(dir) = std::env::var("COMPTOIR_EINVOICE_DIR") else {
        return;
    };
    let _ = std::fs::create_dir_all(&dir);
    let write = |name: &str, xml: Xml| {
        std::fs::write(format!("{dir}/{name}.cii.xml"), xml.cii).unwrap();
        std::fs::write(format!("{dir}/{name}.ubl.xml"), xml.ubl).unwrap();
    };
    for (name, inv) in [
        ("unit_france", french()),
        ("unit_reverse_charge", reverse_charge()),
        ("unit_outside_eu", outside_eu()),
        ("unit_guyane", guyane()),
        ("unit_oss", oss()),
        ("unit_usd", usd()),
        ("unit_prepaid", prepaid()),
        ("unit_acompte", acompte()),
        ("unit_negative_line", negative_line()),
    ] {
        write(name, invoice(&inv).unwrap());
    }
    write(
        "unit_credit_note",
        credit_note(&note_of(&french())).unwrap(),
    );
}
