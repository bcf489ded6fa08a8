//! An issued invoice as a standalone HTML page and as a PDF: seller and
//! buyer, number and dates, lines, VAT, totals, payment method and the legal
//! mentions a French invoice carries. French by default, or English.

use std::fmt::Write as _;

use super::pdf::{A4_HEIGHT, A4_WIDTH, Face, PdfWriter};
use super::{Lang, escape_html, human_money};
use crate::domain::invoice::{LineKind, TaxTreatment};
use crate::domain::issued::{Invoice, InvoiceStatus, SnapshotLine};
use crate::domain::money::Money;

struct Texts {
    invoice: &'static str,
    number: &'static str,
    issued: &'static str,
    period: &'static str,
    billed_to: &'static str,
    vat_number: &'static str,
    columns: [&'static str; 4],
    subtotal: &'static str,
    vat: &'static str,
    total: &'static str,
    payment: &'static str,
    debited: &'static str,
    no_method: &'static str,
    terms: &'static str,
    status_paid: &'static str,
    status_void: &'static str,
}

fn texts(lang: Lang) -> &'static Texts {
    const FR: Texts = Texts {
        invoice: "Facture",
        number: "Facture n°",
        issued: "Date d'émission",
        period: "Période",
        billed_to: "Facturé à",
        vat_number: "N° TVA",
        columns: ["Désignation", "Quantité", "Prix unitaire HT", "Montant HT"],
        subtotal: "Total HT",
        vat: "TVA",
        total: "Total TTC",
        payment: "Paiement",
        debited: "Prélevé le",
        no_method: "Aucun moyen de paiement enregistré : paiement à réception.",
        terms: "Pas d'escompte pour paiement anticipé. En cas de retard de paiement : pénalités au taux de trois fois le taux d'intérêt légal et indemnité forfaitaire de 40 € pour frais de recouvrement (art. L441-10 du Code de commerce).",
        status_paid: "PAYÉE",
        status_void: "ANNULÉE",
    };
    const EN: Texts = Texts {
        invoice: "Invoice",
        number: "Invoice no.",
        issued: "Issue date",
        period: "Period",
        billed_to: "Billed to",
        vat_number: "VAT no.",
        columns: [
            "Description",
            "Quantity",
            "Unit price (excl. VAT)",
            "Amount (excl. VAT)",
        ],
        subtotal: "Subtotal (excl. VAT)",
        vat: "VAT",
        total: "Total (incl. VAT)",
        payment: "Payment",
        debited: "Debited on",
        no_method: "No payment method on file: payable on receipt.",
        terms: "No discount for early payment. Late payment: penalties at three times the French legal interest rate and a fixed EUR 40 recovery fee (art. L441-10 of the French Commercial Code).",
        status_paid: "PAID",
        status_void: "VOID",
    };
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

fn date(d: time::Date, lang: Lang) -> String {
    match lang {
        Lang::Fr => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        Lang::En => d.to_string(),
    }
}

/// A line's description in the invoice's language (the stored one is English).
fn describe(l: &SnapshotLine, invoice: &Invoice, lang: Lang) -> String {
    if lang == Lang::En {
        return l.description.clone();
    }
    let start = invoice.snapshot.period_start;
    let month = format!(
        "{} {}",
        FR_MONTHS[u8::from(start.month()) as usize - 1],
        start.year()
    );
    let plan = l.plan.as_deref().unwrap_or("");
    let days = match (l.days, l.days_in_period) {
        (Some(d), Some(n)) => format!("{d} jours sur {n}"),
        _ => String::new(),
    };
    match l.kind {
        LineKind::License => format!("Licence {plan}, {month}"),
        LineKind::PhoneNumber => format!("Numéro supplémentaire, {month}"),
        LineKind::LicenseProration => format!("Licence {plan} au prorata ({days})"),
        LineKind::PhoneNumberProration => format!("Numéro supplémentaire au prorata ({days})"),
        LineKind::Consumption => "Consommation hors forfait non couverte par les crédits".into(),
    }
}

fn mention(t: TaxTreatment, lang: Lang) -> Option<&'static str> {
    t.mention()
        .map(|(fr, en)| if lang == Lang::Fr { fr } else { en })
}

fn money(invoice: &Invoice, minor: i64, lang: Lang) -> String {
    human_money(Money::from_minor(minor, invoice.currency), lang)
}

fn status_stamp(invoice: &Invoice, lang: Lang) -> Option<&'static str> {
    match invoice.status {
        InvoiceStatus::Paid => Some(texts(lang).status_paid),
        InvoiceStatus::Void => Some(texts(lang).status_void),
        InvoiceStatus::Issued => None,
    }
}

/// The seller block, as it was when the invoice was issued: name, address
/// lines, VAT number.
fn seller_lines(invoice: &Invoice, lang: Lang) -> Vec<String> {
    let seller = &invoice.snapshot.seller;
    let mut out = vec![seller.name.clone()];
    out.extend(seller.address.iter().cloned());
    out.push(format!("{} {}", texts(lang).vat_number, seller.vat_number));
    out
}

/// The buyer block: name, address lines, VAT number.
fn buyer_lines(invoice: &Invoice, lang: Lang) -> Vec<String> {
    let t = texts(lang);
    let mut out = vec![invoice.snapshot.account_name.clone()];
    if let Some(b) = &invoice.snapshot.buyer {
        out = vec![b.company_name.clone(), b.line1.clone()];
        if let Some(l2) = &b.line2 {
            out.push(l2.clone());
        }
        out.push(format!("{} {}", b.postal_code, b.city));
        out.push(b.country.clone());
        if let Some(v) = &b.vat_number {
            out.push(format!("{} {v}", t.vat_number));
        }
    }
    out
}

fn payment_line(invoice: &Invoice, lang: Lang) -> String {
    let t = texts(lang);
    match &invoice.snapshot.payment_method {
        Some(m) => format!("{} {} : {m}", t.debited, date(invoice.issue_date, lang)),
        None => t.no_method.to_owned(),
    }
}

/// The subject and plain-text body of the email that carries the invoice's PDF.
pub fn email(invoice: &Invoice, lang: Lang) -> (String, String) {
    let s = &invoice.snapshot;
    let total = money(invoice, invoice.total.minor(), lang);
    let period = format!(
        "{} – {}",
        date(s.period_start, lang),
        date(s.period_end, lang)
    );
    let payment = payment_line(invoice, lang);
    match lang {
        Lang::Fr => (
            format!("Votre facture {} - {}", invoice.number, s.seller.name),
            format!(
                "Bonjour,\n\nVotre facture {} ({}) pour la période du {period} est jointe \
                 à ce message, au format PDF.\n\nMontant TTC : {total}\n{payment}\n\n\
                 Cordialement,\n{}\n",
                invoice.number, s.account_name, s.seller.name
            ),
        ),
        Lang::En => (
            format!("Your invoice {} - {}", invoice.number, s.seller.name),
            format!(
                "Hello,\n\nYour invoice {} ({}) for the period {period} is attached to \
                 this message as a PDF.\n\nTotal (incl. VAT): {total}\n{payment}\n\n\
                 Kind regards,\n{}\n",
                invoice.number, s.account_name, s.seller.name
            ),
        ),
    }
}

pub fn html(invoice: &Invoice, lang: Lang) -> String {
    let t = texts(lang);
    let s = &invoice.snapshot;
    let mut out = String::with_capacity(8192);
    let title = format!("{} {}", t.invoice, invoice.number);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\
         body{{font-family:'DejaVu Sans',Arial,sans-serif;font-size:13px;margin:32px;color:#111}}\
         h1{{font-size:22px;margin:0}}.parties{{display:flex;justify-content:space-between;margin:24px 0}}\
         table{{border-collapse:collapse;width:100%}}th,td{{padding:6px;border-bottom:1px solid #ddd;text-align:left}}\
         td.n,th.n{{text-align:right}}.totals td{{border:none}}.totals tr:last-child td{{font-weight:bold;border-top:2px solid #111}}\
         .small{{font-size:11px;color:#444}}.stamp{{color:#b00;font-weight:bold;font-size:18px}}\
         @media print{{body{{margin:0}}@page{{size:A4;margin:15mm}}}}</style>\n</head>\n<body>\n",
        if lang == Lang::Fr { "fr" } else { "en" },
        escape_html(&title)
    );
    let _ = write!(
        out,
        "<h1>{} {}</h1>\n<p>{} : {} · {} : {} – {}</p>\n",
        t.number,
        escape_html(&invoice.number),
        t.issued,
        date(invoice.issue_date, lang),
        t.period,
        date(s.period_start, lang),
        date(s.period_end, lang)
    );
    if let Some(stamp) = status_stamp(invoice, lang) {
        let _ = writeln!(out, "<p class=\"stamp\">{stamp}</p>");
    }
    let _ = write!(out, "<div class=\"parties\"><div>");
    for (i, line) in seller_lines(invoice, lang).iter().enumerate() {
        let line = escape_html(line);
        let _ = match i {
            0 => write!(out, "<strong>{line}</strong>"),
            _ => write!(out, "<br>{line}"),
        };
    }
    let _ = write!(
        out,
        "<br><span class=\"small\">{}</span></div>",
        escape_html(&s.seller.legal)
    );
    let buyer: Vec<String> = buyer_lines(invoice, lang)
        .iter()
        .map(|l| escape_html(l))
        .collect();
    let _ = write!(
        out,
        "<div><strong>{}</strong><br>{}</div></div>\n<table>\n<thead><tr><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead>\n<tbody>\n",
        t.billed_to,
        buyer.join("<br>"),
        t.columns[0],
        t.columns[1],
        t.columns[2],
        t.columns[3]
    );
    for l in &s.lines {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape_html(&describe(l, invoice, lang)),
            l.quantity,
            money(invoice, l.unit_amount_minor, lang),
            money(invoice, l.amount_minor, lang)
        );
    }
    let _ = write!(
        out,
        "</tbody>\n</table>\n<table class=\"totals\">\n<tr><td></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><td></td><td class=\"n\">{} {} %</td><td class=\"n\">{}</td></tr>\n<tr><td></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n</table>\n",
        t.subtotal,
        human_money(invoice.subtotal, lang),
        t.vat,
        s.tax_rate,
        human_money(invoice.tax, lang),
        t.total,
        human_money(invoice.total, lang)
    );
    if let Some(m) = mention(s.tax_treatment, lang) {
        let _ = writeln!(out, "<p>{}</p>", escape_html(m));
    }
    let _ = write!(
        out,
        "<p><strong>{}</strong> : {}</p>\n<p class=\"small\">{}</p>\n</body>\n</html>\n",
        t.payment,
        escape_html(&payment_line(invoice, lang)),
        escape_html(t.terms)
    );
    out
}

/// Splits `text` into lines that fit `width` at `size`.
fn wrap(pdf: &PdfWriter, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if pdf.text_width(size, Face::Regular, &candidate) > width && !current.is_empty() {
            lines.push(std::mem::replace(&mut current, word.to_owned()));
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

pub fn pdf(invoice: &Invoice, lang: Lang) -> Vec<u8> {
    let t = texts(lang);
    let s = &invoice.snapshot;
    let mut p = PdfWriter::new(A4_WIDTH, A4_HEIGHT);
    let margin = 50.0;
    let right = A4_WIDTH - margin;
    let mut y = A4_HEIGHT - margin - 10.0;
    p.begin_page();
    p.text(
        margin,
        y,
        20.0,
        Face::Bold,
        &format!("{} {}", t.number, invoice.number),
    );
    if let Some(stamp) = status_stamp(invoice, lang) {
        p.text_right(right, y, 16.0, Face::Bold, stamp);
    }
    y -= 18.0;
    p.text(
        margin,
        y,
        9.5,
        Face::Regular,
        &format!(
            "{} : {} · {} : {} – {}",
            t.issued,
            date(invoice.issue_date, lang),
            t.period,
            date(s.period_start, lang),
            date(s.period_end, lang)
        ),
    );
    y -= 32.0;
    let seller = seller_lines(invoice, lang);
    let buyer = buyer_lines(invoice, lang);
    p.text(320.0, y, 9.0, Face::Bold, t.billed_to);
    let top = y - 14.0;
    for (i, line) in seller.iter().enumerate() {
        let face = if i == 0 { Face::Bold } else { Face::Regular };
        p.text(margin, top - 13.0 * i as f32, 10.0, face, line);
    }
    for (i, line) in buyer.iter().enumerate() {
        let face = if i == 0 { Face::Bold } else { Face::Regular };
        p.text(320.0, top - 13.0 * i as f32, 10.0, face, line);
    }
    y = top - 13.0 * seller.len().max(buyer.len()) as f32 - 24.0;
    let cols = [margin, 380.0, 465.0, right];
    p.fill_rect(margin, y - 4.0, right - margin, 16.0, 0.92);
    p.text(cols[0] + 4.0, y, 9.0, Face::Bold, t.columns[0]);
    for (x, label) in cols.iter().zip(t.columns).skip(1) {
        p.text_right(x - 4.0, y, 9.0, Face::Bold, label);
    }
    y -= 20.0;
    for l in &s.lines {
        if y < 160.0 {
            p.begin_page();
            y = A4_HEIGHT - margin - 10.0;
        }
        let text = describe(l, invoice, lang);
        let fitted = p
            .fit(9.5, Face::Regular, &text, cols[1] - cols[0] - 45.0)
            .into_owned();
        p.text(cols[0] + 4.0, y, 9.5, Face::Regular, &fitted);
        p.text_right(
            cols[1] - 4.0,
            y,
            9.5,
            Face::Regular,
            &l.quantity.to_string(),
        );
        p.text_right(
            cols[2] - 4.0,
            y,
            9.5,
            Face::Regular,
            &money(invoice, l.unit_amount_minor, lang),
        );
        p.text_right(
            cols[3] - 4.0,
            y,
            9.5,
            Face::Regular,
            &money(invoice, l.amount_minor, lang),
        );
        p.line_gray(margin, y - 5.0, right, y - 5.0, 0.5, 0.8);
        y -= 18.0;
    }
    y -= 10.0;
    let totals = [
        (
            t.subtotal.to_owned(),
            human_money(invoice.subtotal, lang),
            Face::Regular,
        ),
        (
            format!("{} {} %", t.vat, s.tax_rate),
            human_money(invoice.tax, lang),
            Face::Regular,
        ),
        (
            t.total.to_owned(),
            human_money(invoice.total, lang),
            Face::Bold,
        ),
    ];
    for (label, amount, face) in totals {
        p.text_right(cols[2] - 4.0, y, 10.0, face, &label);
        p.text_right(cols[3] - 4.0, y, 10.0, face, &amount);
        y -= 16.0;
    }
    y -= 12.0;
    let mut notes = Vec::new();
    if let Some(m) = mention(s.tax_treatment, lang) {
        notes.push((m.to_owned(), 9.0));
    }
    notes.push((
        format!("{} : {}", t.payment, payment_line(invoice, lang)),
        9.0,
    ));
    notes.push((t.terms.to_owned(), 7.5));
    notes.push((s.seller.legal.clone(), 7.5));
    for (note, size) in notes {
        for line in wrap(&p, &note, size, right - margin) {
            p.text(margin, y, size, Face::Regular, &line);
            y -= size + 3.0;
        }
        y -= 6.0;
    }
    let created = invoice.issue_date.midnight().assume_utc();
    p.finish(&format!("{} {}", t.invoice, invoice.number), created)
}
