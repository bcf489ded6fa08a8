//! A credit note (facture d'avoir) as a standalone HTML page and as a PDF,
//! laid out like an invoice: "Facture d'avoir" / "Credit note", its number
//! and issue date, the invoice it corrects (number and issue date), the
//! reason, positive lines, VAT and totals. French by default, or English.

use super::Lang;
use super::invoice::{Framing, html_framed, pdf_a_framed};
use super::pdfa::{ArchivalPdf, PdfAError};
use crate::domain::credit_note::CreditNote;
use crate::domain::invoice_payment::Settlement;
use crate::domain::issued::{Invoice, InvoiceKind, InvoiceStatus, Snapshot, SnapshotLine};
use crate::domain::money::Money;

fn date(d: time::Date, lang: Lang) -> String {
    match lang {
        Lang::Fr => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        Lang::En => d.to_string(),
    }
}

/// The credit note in the shape the invoice layout reads.
fn as_document(n: &CreditNote) -> Invoice {
    let s = &n.snapshot;
    Invoice {
        id: crate::domain::ids::InvoiceId::from_trusted(n.invoice_id.to_string()),
        account_id: n.account_id.clone(),
        number: Some(n.number.clone()),
        kind: InvoiceKind::Period,
        period: String::new(),
        status: InvoiceStatus::Issued,
        issue_date: n.issue_date,
        currency: n.currency,
        subtotal: n.subtotal,
        tax: n.tax,
        total: n.total,
        snapshot: Snapshot {
            seller: s.seller.clone(),
            account_name: s.account_name.clone(),
            period_start: s.period_start,
            period_end: s.period_end,
            lines: s
                .lines
                .iter()
                .map(|l| SnapshotLine {
                    kind: l.kind,
                    description: l.description.clone(),
                    plan: l.plan.clone(),
                    quantity: l.quantity,
                    unit_amount_minor: l.unit_amount_minor,
                    amount_minor: l.amount_minor,
                    days: l.days,
                    days_in_period: l.days_in_period,
                    activation_date: l.activation_date,
                    service_start: l.service_start,
                    service_end: l.service_end,
                })
                .collect(),
            tax_treatment: s.tax_treatment,
            tax_rate: s.tax_rate.clone(),
            tax_territory: None,
            tax_mention: s.tax_mention.clone(),
            operation_category: s.operation_category,
            buyer: s.buyer.clone(),
            payment_method: None,
            deductions: Vec::new(),
            replaces: None,
            prepaid: Vec::new(),
            advance: None,
            vat_in_eur: s.vat_in_eur,
        },
        paid_at: None,
        voided_at: None,
        void_reason: None,
        settlement: Settlement::unpaid(Money::zero(n.currency), false),
        hold: None,
        e_invoice: None,
    }
}

fn framing(n: &CreditNote, lang: Lang) -> Framing {
    let s = &n.snapshot;
    let amount = |m: Money| super::human_money(m, lang);
    match lang {
        Lang::Fr => Framing {
            title: "Facture d'avoir",
            number_label: "Avoir n°",
            references: vec![
                format!(
                    "Avoir sur la facture n° {} du {}",
                    s.invoice_number,
                    date(s.invoice_issue_date, lang)
                ),
                format!("Motif : {}", n.reason),
            ],
            closing: if n.to_balance.minor() > 0 {
                format!(
                    "{} viennent en déduction du montant dû de la facture ; {} sont portés au solde client, déduits des prochaines factures ou remboursés.",
                    amount(n.applied),
                    amount(n.to_balance)
                )
            } else {
                format!(
                    "{} viennent en déduction du montant dû de la facture n° {}.",
                    amount(n.applied),
                    s.invoice_number
                )
            },
        },
        Lang::En => Framing {
            title: "Credit note",
            number_label: "Credit note no.",
            references: vec![
                format!(
                    "Credit note for invoice no. {} of {}",
                    s.invoice_number,
                    date(s.invoice_issue_date, lang)
                ),
                format!("Reason: {}", n.reason),
            ],
            closing: if n.to_balance.minor() > 0 {
                format!(
                    "{} is deducted from the invoice's amount due; {} goes to the customer balance, deducted from the next invoices or refunded.",
                    amount(n.applied),
                    amount(n.to_balance)
                )
            } else {
                format!(
                    "{} is deducted from the amount due of invoice no. {}.",
                    amount(n.applied),
                    s.invoice_number
                )
            },
        },
    }
}

pub fn html(n: &CreditNote, lang: Lang) -> String {
    html_framed(&as_document(n), lang, Some(&framing(n, lang)))
}

/// The readable credit note as PDF/A-3B, the carrier of its Factur-X.
pub fn pdf_a(n: &CreditNote, lang: Lang) -> Result<ArchivalPdf, PdfAError> {
    pdf_a_framed(&as_document(n), lang, Some(&framing(n, lang)))
}

/// The subject and plain-text body of the email that carries the credit
/// note's PDF.
pub fn email(n: &CreditNote, lang: Lang) -> (String, String) {
    let s = &n.snapshot;
    let total = super::human_money(n.total, lang);
    match lang {
        Lang::Fr => (
            format!("Votre avoir {} - {}", n.number, s.seller.name),
            format!(
                "Bonjour,\n\nVotre facture d'avoir {} ({}), sur la facture n° {} du {}, est \
                 jointe à ce message, au format PDF.\n\nMotif : {}\nMontant TTC : {total}\n\n\
                 Cordialement,\n{}\n",
                n.number,
                s.account_name,
                s.invoice_number,
                date(s.invoice_issue_date, lang),
                n.reason,
                s.seller.name
            ),
        ),
        Lang::En => (
            format!("Your credit note {} - {}", n.number, s.seller.name),
            format!(
                "Hello,\n\nYour credit note {} ({}) for invoice no. {} of {} is attached to \
                 this message as a PDF.\n\nReason: {}\nTotal (incl. VAT): {total}\n\n\
                 Kind regards,\n{}\n",
                n.number,
                s.account_name,
                s.invoice_number,
                date(s.invoice_issue_date, lang),
                n.reason,
                s.seller.name
            ),
        ),
    }
}
