//! What an issued document says, gathered from an invoice's or a credit
//! note's snapshot, and its EN 16931 model: lines, VAT breakdown, totals,
//! notes, payment and references.

use std::str::FromStr;

use en16931::invoice::{
    Code, DocumentAllowanceCharge, DocumentTotals, LineVat, PaymentCard, PaymentInstructions,
    PaymentMeans, Period, PrecedingInvoice, PriceDetails, VatBreakdown,
};
use en16931::{
    DocumentKind, DocumentReference, InvoiceAmount, InvoiceLine, InvoiceNote, Percentage, Quantity,
    UnitPriceAmount,
};
use rust_decimal::Decimal;
use time::Date;

use crate::domain::credit_note::CreditNote;
use crate::domain::invoice::TaxTreatment;
use crate::domain::issued::{
    AddressFieldsSnapshot, Invoice, InvoiceKind, OperationCategory, SnapshotLine,
};
use crate::domain::money::{Currency, Money};
use crate::domain::seller::Seller;
use crate::domain::tax::Mention;
use crate::render::{Lang, human_money};

use super::parties;
use crate::render::einvoice::RenderError;

/// The EN 16931 specification identifier (BT-24) the proof stamps; kept on
/// the model too so it reads the same before and after writing.
const EN16931: &str = "urn:cen.eu:en16931:2017";

/// BT-23 (cadre de facturation, French CTC): `S1`, an invoice for services
/// (telephony licenses, numbers and usage are services).
const BILLING_FRAMEWORK: &str = "S1";

/// BT-130: every quantity here counts units (licenses, numbers, a month's
/// usage, a charge): UN/ECE rec. 20 `C62`, "one".
const UNIT: &str = "C62";

/// The mentions a French B2B invoice carries whatever its buyer (Code de
/// commerce L441-9, L441-10), as notes with the subject codes the CTC rules
/// look for (BR-FR-05: each exactly once, BR-FR-06).
const RECOVERY_FEE: &str = "Indemnité forfaitaire pour frais de recouvrement en cas de retard de \
                            paiement : 40 € (art. L441-10 et D441-5 du Code de commerce).";
const LATE_PENALTIES: &str = "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles \
                              dès le lendemain de la date d'échéance (art. L441-10 du Code de \
                              commerce).";
const NO_DISCOUNT: &str = "Pas d'escompte pour paiement anticipé.";
const VAT_ON_DEBITS: &str = "Option pour le paiement de la taxe d'après les débits.";
const SERVICES: &str = "Catégorie de l'opération : prestations de services.";

/// One line as issued: positive amounts (a negative one would be a
/// document-level allowance, see [`Document::model`]).
pub(super) struct Line {
    pub description: String,
    pub quantity: u32,
    pub unit_minor: i64,
    pub amount_minor: i64,
    pub service_start: Option<Date>,
    pub service_end: Option<Date>,
}

impl From<&SnapshotLine> for Line {
    fn from(l: &SnapshotLine) -> Self {
        Line {
            description: l.description.clone(),
            quantity: l.quantity,
            unit_minor: l.unit_amount_minor,
            amount_minor: l.amount_minor,
            service_start: l.service_start,
            service_end: l.service_end,
        }
    }
}

/// Everything an issued document states, whatever kind it is.
pub(super) struct Document<'a> {
    pub kind: DocumentKind,
    /// BT-3: 380 invoice, 386 advance payment invoice, 381 credit note.
    pub type_code: &'static str,
    pub number: &'a str,
    pub issue_date: Date,
    pub currency: Currency,
    pub seller: &'a Seller,
    pub buyer: Option<&'a AddressFieldsSnapshot>,
    /// The buyer's name when the snapshot has no address (documents issued
    /// before addresses were kept).
    pub account_name: &'a str,
    /// The territory the treatment was decided from, the buyer's country
    /// when the snapshot has no address.
    pub territory: Option<&'a str>,
    pub treatment: TaxTreatment,
    /// In percent, as stored.
    pub rate: &'a str,
    pub mention: Option<Mention>,
    pub services: bool,
    pub lines: Vec<Line>,
    pub subtotal: Money,
    pub tax: Money,
    pub total: Money,
    /// BT-113: what was paid before the document was issued (prepaid
    /// credits, customer balance, the top-up of an acompte).
    pub paid_minor: i64,
    /// BG-14.
    pub period: Option<(Date, Date)>,
    /// BG-3: the invoice a credit note or a reissue refers to.
    pub preceding: Option<(&'a str, Date)>,
    /// Notes of this kind of document (without subject code).
    pub notes: Vec<String>,
    pub payment_method: Option<&'a str>,
    /// BT-9: never before the issue date (BR-FR-CO-07).
    pub due_date: Option<Date>,
    /// BT-20.
    pub payment_terms: Option<String>,
    /// BT-111 in euro cents, with the note that says at which rate.
    pub vat_in_eur: Option<i64>,
}

/// An issued invoice: a period invoice (reissued or not) or an acompte.
pub(super) fn of_invoice(invoice: &Invoice) -> Result<Document<'_>, RenderError> {
    let s = &invoice.snapshot;
    let number = invoice
        .number
        .as_deref()
        .ok_or_else(|| RenderError::Model("a draft has no number: it is not issued".into()))?;
    let advance = s.advance.as_ref();
    let currency = invoice.currency;
    let amount = |minor| human_money(Money::from_minor(minor, currency), Lang::Fr);
    let day = |d: Date| french_date(d);

    let mut notes = Vec::new();
    if let Some(r) = &s.replaces {
        notes.push(format!(
            "Annule et remplace la facture n° {} du {}.",
            r.number,
            day(r.issue_date)
        ));
    }
    // What was paid before the invoice, deducted from its amount due and
    // never a line: prepaid credits (each acompte drawn on, excluding and
    // including VAT), then the customer balance.
    let mut paid_minor = crate::domain::advance::total(&s.prepaid)
        + s.deductions.iter().map(|d| d.amount_minor).sum::<i64>();
    let mut deducted: Vec<String> = s
        .prepaid
        .iter()
        .map(|p| match &p.invoice_number {
            Some(n) => format!(
                "acompte {n} ({} HT, {} TTC)",
                amount(p.amount_minor),
                amount(p.total_minor())
            ),
            None => format!(
                "crédits prépayés ({} HT, {} TTC)",
                amount(p.amount_minor),
                amount(p.total_minor())
            ),
        })
        .collect();
    deducted.extend(s.deductions.iter().map(|d| match &d.credit_note_number {
        Some(n) => format!("avoir {n} ({})", amount(d.amount_minor)),
        None => format!("solde client ({})", amount(d.amount_minor)),
    }));
    if !deducted.is_empty() {
        notes.push(format!(
            "Déjà réglé, déduit du net à payer : {}.",
            deducted.join(" ; ")
        ));
    }
    let (type_code, period) = match invoice.kind {
        InvoiceKind::Advance => ("386", None),
        InvoiceKind::Period => ("380", Some((s.period_start, s.period_end))),
    };
    let payment_terms = match advance {
        // An acompte: the top-up paid it before it was issued.
        Some(_) => {
            paid_minor = invoice.total.minor();
            // As the readable invoice says: paid on the day it was issued.
            let paid_on = invoice.issue_date;
            notes.push(format!(
                "Acompte sur crédits prépayés, payé le {}. La TVA sur les acomptes est \
                 exigible à l'encaissement (art. 269-2-c du CGI).",
                day(paid_on)
            ));
            format!("Payé le {}.", day(paid_on))
        }
        None => terms(s.payment_method.as_deref(), invoice.issue_date),
    };
    if let Some(v) = s.vat_in_eur {
        notes.push(vat_in_eur_note(v, currency));
    }
    Ok(Document {
        kind: DocumentKind::Invoice,
        type_code,
        number,
        issue_date: invoice.issue_date,
        currency,
        seller: &s.seller,
        buyer: s.buyer.as_ref(),
        account_name: &s.account_name,
        territory: s.tax_territory.as_deref(),
        treatment: s.tax_treatment,
        rate: &s.tax_rate,
        mention: s.mention(),
        services: s.operation_category == Some(OperationCategory::Services),
        lines: s.lines.iter().map(Line::from).collect(),
        subtotal: invoice.subtotal,
        tax: invoice.tax,
        total: invoice.total,
        paid_minor,
        period,
        preceding: s
            .replaces
            .as_ref()
            .map(|r| (r.number.as_str(), r.issue_date)),
        notes,
        payment_method: s.payment_method.as_deref(),
        // Debited, or payable, on the issue date.
        due_date: Some(invoice.issue_date),
        payment_terms: Some(payment_terms),
        vat_in_eur: s.vat_in_eur.map(|v| v.amount_minor),
    })
}

/// An issued credit note: the same treatment as its invoice, positive lines.
pub(super) fn of_credit_note(note: &CreditNote) -> Result<Document<'_>, RenderError> {
    let s = &note.snapshot;
    let amount = |m: Money| human_money(m, Lang::Fr);
    let mut notes = vec![
        format!(
            "Avoir sur la facture n° {} du {}.",
            s.invoice_number,
            french_date(s.invoice_issue_date)
        ),
        format!("Motif : {}", note.reason),
    ];
    if let Some(v) = s.vat_in_eur {
        notes.push(vat_in_eur_note(v, note.currency));
    }
    // Not paid by the buyer: what it credits lowers the invoice's amount due
    // and the rest goes to the customer balance (BT-20, as BR-CO-25 asks
    // when BT-115 is positive).
    let settles = if note.to_balance.minor() > 0 {
        format!(
            "{} viennent en déduction du montant dû de la facture n° {} ; {} sont portés au \
             solde client, déduits des prochaines factures ou remboursés.",
            amount(note.applied),
            s.invoice_number,
            amount(note.to_balance)
        )
    } else {
        format!(
            "{} viennent en déduction du montant dû de la facture n° {}.",
            amount(note.applied),
            s.invoice_number
        )
    };
    Ok(Document {
        kind: DocumentKind::CreditNote,
        type_code: "381",
        number: &note.number,
        issue_date: note.issue_date,
        currency: note.currency,
        seller: &s.seller,
        buyer: s.buyer.as_ref(),
        account_name: &s.account_name,
        territory: None,
        treatment: s.tax_treatment,
        rate: &s.tax_rate,
        mention: s.tax_mention.clone().or_else(|| s.tax_treatment.mention()),
        services: s.operation_category == Some(OperationCategory::Services),
        lines: s
            .lines
            .iter()
            .map(|l| Line {
                description: l.description.clone(),
                quantity: l.quantity,
                unit_minor: l.unit_amount_minor,
                amount_minor: l.amount_minor,
                service_start: l.service_start,
                service_end: l.service_end,
            })
            .collect(),
        subtotal: note.subtotal,
        tax: note.tax,
        total: note.total,
        paid_minor: 0,
        period: Some((s.period_start, s.period_end)),
        preceding: Some((s.invoice_number.as_str(), s.invoice_issue_date)),
        notes,
        payment_method: None,
        // UBL's CreditNote has no header due date: none in either syntax.
        due_date: None,
        payment_terms: Some(settles),
        vat_in_eur: s.vat_in_eur.map(|v| v.amount_minor),
    })
}

/// BT-20 of an invoice: debited on the issue date, or payable on receipt.
fn terms(method: Option<&str>, issue_date: Date) -> String {
    match method {
        Some(m) => format!("Prélevé le {} : {m}.", french_date(issue_date)),
        None => "Paiement à réception.".to_owned(),
    }
}

fn vat_in_eur_note(v: crate::domain::exchange::VatInEur, currency: Currency) -> String {
    format!(
        "TVA en euros : {} (1 EUR = {} {currency}, taux BCE du {}).",
        human_money(v.amount(), Lang::Fr),
        v.rate.to_string().replace('.', ","),
        french_date(v.rate_date)
    )
}

fn french_date(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

fn model_error(what: impl std::fmt::Display) -> RenderError {
    RenderError::Model(what.to_string())
}

fn date(d: Date) -> Result<en16931::Date, RenderError> {
    en16931::Date::new(d.year(), u8::from(d.month()), d.day()).map_err(model_error)
}

fn amount(minor: i64) -> InvoiceAmount {
    // Every currency billed here has 2 decimals (`Currency::digits`).
    InvoiceAmount::from_minor_units(minor)
}

/// BT-1 and BT-25: at most 35 characters (BR-FR-01), letters, digits and
/// `+ - _ /` only (BR-FR-02). Numbers are ours (`F-2026-000001`,
/// `AV-2026-000001`): one that is not is a bug, and nothing is issued.
pub(super) fn check_number(number: &str) -> Result<(), RenderError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-_/".contains(c);
    if number.is_empty() || number.chars().count() > 35 || !number.chars().all(allowed) {
        return Err(RenderError::Model(format!(
            "document number {number:?}: at most 35 letters, digits and + - _ / (BR-FR-01, BR-FR-02)"
        )));
    }
    Ok(())
}

/// The VAT category of a treatment (BT-118, BT-151) and, when no VAT is
/// charged, the exemption reason code (BT-121) beside the mention (BT-120).
fn category(treatment: TaxTreatment) -> (&'static str, Option<&'static str>) {
    match treatment {
        // French VAT (standard or overseas rate), or the buyer's state's rate
        // declared through the OSS: VAT charged at the standard rate.
        TaxTreatment::FrenchVat | TaxTreatment::FrenchOverseasVat | TaxTreatment::EuOss => {
            ("S", None)
        }
        TaxTreatment::ReverseCharge => ("AE", Some("VATEX-EU-AE")),
        // Telecom services to a buyer outside the EU are outside the scope of
        // French VAT (CGI art. 259-1). EN 16931 offers `O` ("not subject to
        // VAT") and `G` ("export outside the EU"). `O` forbids the seller's
        // VAT identifier (BR-O-02), which every French invoice must carry
        // (CGI art. 242 nonies A, annexe II, 1°), and the buyer's (BR-O-04);
        // `G` keeps both, is the category French CTC guidance gives to
        // supplies to outside the EU, and BR-G-10 takes the mention as its
        // exemption reason, with the code VATEX-EU-G.
        TaxTreatment::OutsideEu => ("G", Some("VATEX-EU-G")),
        // Guyane and Mayotte: VAT "provisionally not applicable" (CGI art.
        // 294), a supply to a French VAT-registered buyer inside the French
        // territory with no VAT charged: `E` (exempt), which keeps the
        // seller's and buyer's identifiers (BR-E-02); `O` would drop them
        // (BR-O-02/04). No VATEX code names art. 294: the mention is the
        // reason (BR-E-10 accepts the text alone).
        TaxTreatment::FrenchOverseasExempt => ("E", None),
    }
}

/// BG-16: how the buyer pays. The snapshot keeps the payment method debited
/// on the issue date, masked: a card (`**** 4242`, `Visa **** 4242`) or a
/// SEPA mandate (`FR76 **** ... 0189`). With none, the invoice is payable
/// on receipt and says so in BT-20; the seller's account (BT-84) is not
/// kept in the snapshot, so no credit transfer can be stated.
fn payment(method: Option<&str>) -> Option<PaymentInstructions> {
    let method = method?.trim();
    let first = method.split_whitespace().next().unwrap_or("");
    let iban_prefix = first.len() == 4
        && first[..2].bytes().all(|b| b.is_ascii_uppercase())
        && first[2..].bytes().all(|b| b.is_ascii_digit());
    if iban_prefix {
        // SEPA direct debit (UNTDID 4461 `59`); the mandate reference is not
        // in the snapshot, and a BG-19 without BT-89 or BT-91 has nothing to
        // hold in UBL: the masked account goes in BT-82.
        return Some(PaymentInstructions {
            means_code: Some(Code::new("59")),
            means_text: Some(format!("Prélèvement SEPA, compte {method}")),
            ..PaymentInstructions::default()
        });
    }
    // A payment card (`48`): at most the last four digits (BR-51).
    let digits: String = method.chars().filter(char::is_ascii_digit).collect();
    let last4 = digits[digits.len().saturating_sub(4)..].to_owned();
    Some(PaymentInstructions {
        means_code: Some(Code::new("48")),
        means_text: Some(format!("Carte bancaire {method}")),
        means: (!last4.is_empty()).then_some(PaymentMeans::Card(PaymentCard {
            primary_account_number: Some(last4),
            holder_name: None,
        })),
        ..PaymentInstructions::default()
    })
}

impl Document<'_> {
    /// The EN 16931 model, amounts taken as issued (the JSON's).
    pub fn model(&self) -> Result<en16931::Invoice, RenderError> {
        check_number(self.number)?;
        let issue_date = date(self.issue_date)?;
        let rate = Decimal::from_str(self.rate)
            .map_err(|e| model_error(format!("VAT rate {:?}: {e}", self.rate)))?;
        let (category, exemption_code) = category(self.treatment);
        let vat = LineVat {
            category: Code::new(category),
            rate: Some(Percentage::new(rate)),
        };

        let mut builder = en16931::Invoice::builder(
            EN16931,
            self.number,
            issue_date,
            self.type_code,
            self.currency.code(),
        )
        .business_process(BILLING_FRAMEWORK)
        .seller(parties::seller(self.seller)?)
        .buyer(parties::buyer(
            self.buyer,
            self.account_name,
            self.territory,
        )?);
        if self.kind == DocumentKind::CreditNote {
            builder = builder.credit_note();
        }
        for note in self.notes_with_subjects() {
            builder = builder.note(note);
        }
        if let Some((start, end)) = self.period {
            builder = builder.invoicing_period(Period {
                start: Some(date(start)?),
                end: Some(date(end)?),
            });
        }
        if let Some(d) = self.due_date {
            builder = builder.due_date(date(d.max(self.issue_date))?);
        }
        if let Some(t) = &self.payment_terms {
            builder = builder.payment_terms(t.clone());
        }
        if let Some(p) = payment(self.payment_method) {
            builder = builder.payment(p);
        }

        // Lines: unit prices are never negative (BR-27, BR-FR-DEC-03). None
        // is today (charges are positive, credit notes are credit notes);
        // should one be, it becomes a document-level allowance at the same
        // VAT, so the totals stay the issued ones.
        let mut line_total = 0_i64;
        let mut allowances = 0_i64;
        for (i, l) in self.lines.iter().enumerate() {
            if l.amount_minor < 0 || l.unit_minor < 0 {
                allowances += l.amount_minor.abs();
                builder = builder.allowance(DocumentAllowanceCharge {
                    amount: amount(l.amount_minor.abs()),
                    base_amount: None,
                    percentage: None,
                    vat: vat.clone(),
                    reason: Some(l.description.clone()),
                    reason_code: None,
                });
                continue;
            }
            line_total += l.amount_minor;
            let mut line = InvoiceLine::new(
                (i + 1).to_string(),
                l.description.clone(),
                Quantity::new(Decimal::from(l.quantity)),
                UNIT,
                amount(l.amount_minor),
                category,
                vat.rate,
            )
            .with_price(PriceDetails {
                net_price: UnitPriceAmount::new(Decimal::new(l.unit_minor, 2)),
                ..PriceDetails::default()
            });
            if l.service_start.is_some() || l.service_end.is_some() {
                line = line.with_period(Period {
                    start: l.service_start.map(date).transpose()?,
                    end: l.service_end.map(date).transpose()?,
                });
            }
            builder = builder.line(line);
        }

        let exemption_reason = (category != "S").then(|| {
            self.mention
                .as_ref()
                .map(|m| m.fr.clone())
                .or_else(|| self.treatment.mention().map(|m| m.fr))
                .unwrap_or_default()
        });
        builder = builder.vat_breakdown(VatBreakdown {
            taxable_amount: amount(self.subtotal.minor()),
            tax_amount: amount(self.tax.minor()),
            category: Code::new(category),
            rate: vat.rate,
            exemption_reason,
            exemption_reason_code: exemption_code.map(Code::new),
        });

        // BT-6 and BT-111: a non-EUR document states its VAT total in euros
        // too (CGI art. 289-IV, BR-FR-CO-12); no VAT is 0 in any currency.
        let vat_in_eur = match (self.currency, self.vat_in_eur) {
            (Currency::Eur, _) => None,
            (_, Some(eur)) => Some(eur),
            (_, None) if self.tax.minor() == 0 => Some(0),
            // Issued before the rate was kept: it never stated one.
            (_, None) => None,
        };
        if vat_in_eur.is_some() {
            builder = builder.vat_accounting_currency(Currency::Eur.code());
        }

        let paid = self.paid_minor.clamp(0, self.total.minor().max(0));
        builder = builder.totals(DocumentTotals {
            line_total: amount(line_total),
            allowance_total: (allowances > 0).then(|| amount(allowances)),
            charge_total: None,
            taxable_total: amount(self.subtotal.minor()),
            vat_total: Some(amount(self.tax.minor())),
            vat_total_accounting: vat_in_eur.map(amount),
            gross_total: amount(self.total.minor()),
            paid: (paid > 0).then(|| amount(paid)),
            rounding: None,
            due: amount(self.total.minor() - paid),
        });
        let mut model = builder.build();
        if let Some((number, issued)) = self.preceding {
            check_number(number)?;
            model.preceding_invoices.push(PrecedingInvoice {
                reference: DocumentReference::new(number),
                issue_date: Some(date(issued)?),
            });
        }
        Ok(model)
    }

    /// BG-1: the mentions with their CTC subject codes first, then this
    /// document's own notes.
    fn notes_with_subjects(&self) -> Vec<InvoiceNote> {
        let mut notes = vec![
            InvoiceNote::new(RECOVERY_FEE).with_subject("PMT"),
            InvoiceNote::new(LATE_PENALTIES).with_subject("PMD"),
            InvoiceNote::new(NO_DISCOUNT).with_subject("AAB"),
        ];
        // TXD (tax declaration) at most once (BR-FR-06): the VAT mention and
        // the VAT-on-debits option together.
        let tax: Vec<String> = self
            .mention
            .iter()
            .map(|m| m.fr.clone())
            .chain(self.seller.vat_on_debits.then(|| VAT_ON_DEBITS.to_owned()))
            .collect();
        if !tax.is_empty() {
            notes.push(InvoiceNote::new(tax.join(" ")).with_subject("TXD"));
        }
        if self.services {
            notes.push(InvoiceNote::new(SERVICES));
        }
        notes.extend(self.notes.iter().map(|n| InvoiceNote::new(n.clone())));
        notes
    }
}
