//! The detailed consumption as CSV (RFC 4180), a standalone printable HTML
//! page, or a PDF, written chunk by chunk: the caller feeds rows as it reads
//! them and sends each returned chunk at once, so memory does not grow with
//! the number of rows.

use std::fmt::Write as _;

use time::OffsetDateTime;

use super::pdf::{Face, PdfWriter};
use super::{Lang, escape_html, human_money};
use crate::domain::account::Account;
use crate::domain::consumption::Names;
use crate::domain::consumption::{Direction, Hms, Kind, Record, Totals};
use crate::domain::money::{Currency, Money, MoneyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Html,
    Pdf,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }
}

/// What the title block says about the selection.
pub struct Heading {
    pub account: Account,
    /// The selection in words (`du 2026-04-01 au 2026-04-30`), already localised.
    pub selection: String,
    pub generated_at: OffsetDateTime,
    /// Rows announced (PDF page numbers).
    pub count: i64,
}

struct Labels {
    title: &'static str,
    generated: &'static str,
    columns: [&'static str; 10],
    total: &'static str,
    records: &'static str,
    page: &'static str,
    call: &'static str,
    sms: &'static str,
    inbound: &'static str,
    outbound: &'static str,
    times_in: &'static str,
    empty: &'static str,
}

fn labels(lang: Lang) -> &'static Labels {
    const FR: Labels = Labels {
        title: "Consommation détaillée",
        generated: "Édité le",
        columns: [
            "Date et heure",
            "Utilisateur",
            "Équipe",
            "Type",
            "Sens",
            "Destination",
            "Pays",
            "Durée",
            "Coût",
            "Facturable",
        ],
        total: "Total",
        records: "enregistrements",
        page: "Page",
        call: "Appel",
        sms: "SMS",
        inbound: "Entrant",
        outbound: "Sortant",
        times_in: "Heures en",
        empty: "Aucune consommation pour cette sélection.",
    };
    const EN: Labels = Labels {
        title: "Detailed consumption",
        generated: "Generated on",
        columns: [
            "Date and time",
            "User",
            "Team",
            "Type",
            "Direction",
            "Destination",
            "Country",
            "Duration",
            "Cost",
            "Billable",
        ],
        total: "Total",
        records: "records",
        page: "Page",
        call: "Call",
        sms: "SMS",
        inbound: "Inbound",
        outbound: "Outbound",
        times_in: "Times in",
        empty: "No consumption for this selection.",
    };
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

/// One row as people read it (HTML and PDF).
struct Cells {
    when: String,
    user: String,
    team: String,
    kind: &'static str,
    direction: &'static str,
    destination: String,
    country: String,
    duration: String,
    cost: String,
    billable: String,
}

struct Context {
    lang: Lang,
    currency: Currency,
    zone: jiff::tz::TimeZone,
    names: Names,
}

impl Context {
    /// `at` in the account's zone, as people of `lang` write it.
    fn local(&self, at: OffsetDateTime) -> String {
        self.local_in(at, self.lang)
    }

    fn local_in(&self, at: OffsetDateTime, lang: Lang) -> String {
        let local = jiff::Timestamp::from_second(at.unix_timestamp())
            .map(|ts| self.zone.to_datetime(ts))
            .unwrap_or_default();
        match lang {
            Lang::Fr => local.strftime("%d/%m/%Y %H:%M:%S").to_string(),
            Lang::En => local.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    fn money(&self, minor: i64) -> String {
        human_money(Money::from_minor(minor, self.currency), self.lang)
    }

    fn cells(&self, r: &Record) -> Cells {
        let l = labels(self.lang);
        Cells {
            when: self.local(r.occurred_at),
            user: self.names.user(&r.user_id).to_owned(),
            team: self.names.team(r.team_id.as_ref()).to_owned(),
            kind: match r.kind {
                Kind::Call => l.call,
                Kind::Sms => l.sms,
            },
            direction: match r.direction {
                Direction::Inbound => l.inbound,
                Direction::Outbound => l.outbound,
            },
            destination: r.destination.clone(),
            country: r.country.clone(),
            duration: Hms(r.duration_seconds).to_string(),
            cost: self.money(r.cost_minor),
            billable: self.money(r.billable_minor),
        }
    }
}

/// Writes one export, chunk by chunk.
pub struct ExportWriter {
    ctx: Context,
    heading: Heading,
    totals: Totals,
    inner: Inner,
}

enum Inner {
    Csv,
    Html,
    Pdf(Box<PdfTable>),
}

impl ExportWriter {
    pub fn new(format: Format, lang: Lang, mut heading: Heading, names: Names) -> Self {
        heading.selection = local_dates(&heading.selection, lang);
        let ctx = Context {
            lang,
            currency: heading.account.currency,
            zone: heading.account.timezone.zone(),
            names,
        };
        let inner = match format {
            Format::Csv => Inner::Csv,
            Format::Html => Inner::Html,
            Format::Pdf => Inner::Pdf(Box::new(PdfTable::new(heading.count))),
        };
        ExportWriter {
            ctx,
            heading,
            totals: Totals::default(),
            inner,
        }
    }

    /// The bytes before the first row.
    pub fn start(&mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::Csv => CSV_HEADER.as_bytes().to_vec(),
            Inner::Html => html_start(&self.ctx, &self.heading).into_bytes(),
            Inner::Pdf(t) => t.start(&self.ctx, &self.heading),
        }
    }

    /// The rendered rows; an error when the running totals would leave the
    /// range (the export then breaks rather than print wrong totals).
    pub fn rows(&mut self, rows: &[Record]) -> Result<Vec<u8>, MoneyError> {
        for r in rows {
            self.totals.add(r)?;
        }
        Ok(match &mut self.inner {
            Inner::Csv => csv_rows(&self.ctx, rows).into_bytes(),
            Inner::Html => html_rows(&self.ctx, rows).into_bytes(),
            Inner::Pdf(t) => t.rows(&self.ctx, &self.heading, rows),
        })
    }

    /// The totals and whatever closes the document.
    pub fn finish(self) -> Vec<u8> {
        match self.inner {
            Inner::Csv => Vec::new(),
            Inner::Html => html_end(&self.ctx, &self.totals).into_bytes(),
            Inner::Pdf(t) => t.finish(&self.ctx, &self.heading, &self.totals),
        }
    }
}

/// The selection's ISO days (`du 2026-04-01 au 2026-04-30`) written the way
/// the rows write theirs (`du 01/04/2026 au 30/04/2026` in French), so the
/// title and the table read alike.
fn local_dates(selection: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return selection.to_owned();
    }
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let french = time::macros::format_description!("[day]/[month]/[year]");
    let mut out = String::with_capacity(selection.len());
    let mut rest = selection;
    while !rest.is_empty() {
        let day = rest
            .get(..10)
            .and_then(|c| time::Date::parse(c, &iso).ok())
            .and_then(|d| d.format(&french).ok());
        match day {
            Some(day) => {
                out.push_str(&day);
                rest = &rest[10..];
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

// ---------------------------------------------------------------- CSV

/// Machine-readable: the API's field names, RFC 3339 UTC instants and
/// decimal amounts, whatever the language; `local_time` is in the account's zone.
const CSV_HEADER: &str = "external_id,occurred_at,local_time,user_id,user_name,team_id,team_name,\
kind,direction,destination,country,duration_seconds,cost,billable,currency\r\n";

/// RFC 4180: a field holding a comma, a quote or a line break is quoted,
/// its quotes doubled. Free text starting like a formula gets a leading `'`
/// so a spreadsheet shows it instead of running it.
fn csv_field(out: &mut String, value: &str, free_text: bool) {
    let formula = free_text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = formula || value.contains([',', '"', '\r', '\n']);
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn csv_rows(ctx: &Context, rows: &[Record]) -> String {
    let mut out = String::with_capacity(rows.len() * 200);
    for r in rows {
        csv_field(&mut out, &r.external_id, true);
        let utc = r
            .occurred_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let _ = write!(
            out,
            ",{utc},{},{},",
            ctx.local_in(r.occurred_at, Lang::En),
            r.user_id
        );
        csv_field(&mut out, ctx.names.user(&r.user_id), true);
        out.push(',');
        if let Some(t) = &r.team_id {
            out.push_str(t.as_str());
        }
        out.push(',');
        csv_field(&mut out, ctx.names.team(r.team_id.as_ref()), true);
        let _ = write!(
            out,
            ",{},{},{},{},{},{},{},{}\r\n",
            r.kind.as_str(),
            r.direction.as_str(),
            r.destination,
            r.country,
            r.duration_seconds,
            Money::from_minor(r.cost_minor, ctx.currency),
            Money::from_minor(r.billable_minor, ctx.currency),
            ctx.currency,
        );
    }
    out
}

// ---------------------------------------------------------------- HTML

const HTML_STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:12px;margin:24px;color:#111}\
h1{font-size:20px;margin:0 0 4px}p.meta{color:#555;margin:0 0 16px}\
table{border-collapse:collapse;width:100%}th,td{padding:3px 6px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}\
th{background:#f0f0f0}td.n,th.n{text-align:right}tfoot td{font-weight:bold;border-top:2px solid #111}\
thead{display:table-header-group}tr{page-break-inside:avoid}\
@media print{body{margin:0}@page{size:A4 landscape;margin:12mm}}";

fn html_start(ctx: &Context, h: &Heading) -> String {
    let l = labels(ctx.lang);
    let mut out = String::with_capacity(4096);
    let lang = match ctx.lang {
        Lang::Fr => "fr",
        Lang::En => "en",
    };
    let title = format!("{} — {}", l.title, h.account.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{HTML_STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"meta\">{} · {} {} · {} {}</p>\n\
         <table>\n<thead><tr>",
        escape_html(&title),
        escape_html(&title),
        escape_html(&h.selection),
        l.times_in,
        escape_html(h.account.timezone.as_str()),
        l.generated,
        escape_html(&ctx.local(h.generated_at)),
    );
    for (i, c) in l.columns.iter().enumerate() {
        let class = if i >= 7 { " class=\"n\"" } else { "" };
        let _ = write!(out, "<th{class}>{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    out
}

fn html_rows(ctx: &Context, rows: &[Record]) -> String {
    let mut out = String::with_capacity(rows.len() * 260);
    for r in rows {
        let c = ctx.cells(r);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            c.when,
            escape_html(&c.user),
            escape_html(&c.team),
            c.kind,
            c.direction,
            escape_html(&c.destination),
            escape_html(&c.country),
            c.duration,
            c.cost,
            c.billable,
        );
    }
    out
}

fn html_end(ctx: &Context, t: &Totals) -> String {
    let l = labels(ctx.lang);
    let mut out = String::from("</tbody>\n");
    if t.count == 0 {
        let _ = write!(
            out,
            "<tfoot><tr><td colspan=\"10\">{}</td></tr></tfoot>",
            l.empty
        );
    } else {
        let _ = write!(
            out,
            "<tfoot><tr><td colspan=\"7\">{} : {} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr></tfoot>",
            l.total,
            t.count,
            l.records,
            Hms(t.duration_seconds),
            ctx.money(t.cost_minor),
            ctx.money(t.billable_minor),
        );
    }
    out.push_str("\n</table>\n</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------- PDF

/// A4 landscape.
const PAGE_W: f32 = 841.89;
const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 36.0;
const ROW_H: f32 = 12.5;
const FONT: f32 = 7.5;
const TABLE_TOP: f32 = PAGE_H - MARGIN - 52.0;
const TABLE_BOTTOM: f32 = MARGIN + 24.0;
/// Lines the totals block needs below the last row.
const TOTALS_ROWS: usize = 3;
/// Column left edges (the last three are right-aligned at the next edge).
const COLS: [f32; 11] = [
    MARGIN, 122.0, 262.0, 372.0, 412.0, 462.0, 562.0, 602.0, 660.0, 735.0, 805.89,
];

fn rows_per_page() -> usize {
    ((TABLE_TOP - TABLE_BOTTOM) / ROW_H) as usize - 1
}

/// How many pages `count` rows and the totals take.
fn page_count(count: i64) -> usize {
    let per = rows_per_page();
    let count = count.max(0) as usize;
    let last = count % per;
    let full = count / per;
    if count == 0 {
        1
    } else if last == 0 {
        // The last page is full: the totals go on one more.
        full + 1
    } else if last + TOTALS_ROWS > per {
        full + 2
    } else {
        full + 1
    }
}

struct PdfTable {
    pdf: PdfWriter,
    pages: usize,
    page: usize,
    row_on_page: usize,
}

impl PdfTable {
    fn new(count: i64) -> Self {
        PdfTable {
            pdf: PdfWriter::new(PAGE_W, PAGE_H),
            pages: page_count(count),
            page: 0,
            row_on_page: 0,
        }
    }

    fn start(&mut self, ctx: &Context, h: &Heading) -> Vec<u8> {
        self.new_page(ctx, h);
        self.pdf.take_output()
    }

    fn new_page(&mut self, ctx: &Context, h: &Heading) {
        if self.page > 0 {
            self.pdf.end_page();
        }
        self.page += 1;
        // A count taken before more records arrived must not print "Page 9 / 8".
        self.pages = self.pages.max(self.page);
        self.row_on_page = 0;
        let l = labels(ctx.lang);
        let p = &mut self.pdf;
        p.begin_page();
        let top = PAGE_H - MARGIN;
        p.text(
            MARGIN,
            top - 14.0,
            14.0,
            Face::Bold,
            &format!("{} — {}", l.title, h.account.name),
        );
        p.text(
            MARGIN,
            top - 30.0,
            8.5,
            Face::Regular,
            &format!(
                "{} · {} {} · {} {}",
                h.selection,
                l.times_in,
                h.account.timezone,
                l.generated,
                ctx.local(h.generated_at)
            ),
        );
        let y = TABLE_TOP;
        p.fill_rect(MARGIN, y - 3.5, PAGE_W - 2.0 * MARGIN, ROW_H, 0.92);
        for (i, label) in l.columns.iter().enumerate() {
            if i >= 7 {
                p.text_right(COLS[i + 1] - 4.0, y, FONT, Face::Bold, label);
            } else {
                p.text(COLS[i] + 2.0, y, FONT, Face::Bold, label);
            }
        }
        p.text_right(
            PAGE_W - MARGIN,
            MARGIN,
            8.0,
            Face::Regular,
            &format!("{} {} / {}", l.page, self.page, self.pages),
        );
    }

    fn row_y(&self) -> f32 {
        TABLE_TOP - ROW_H * (self.row_on_page as f32 + 1.0)
    }

    fn rows(&mut self, ctx: &Context, h: &Heading, rows: &[Record]) -> Vec<u8> {
        let per = rows_per_page();
        for r in rows {
            if self.row_on_page == per {
                self.new_page(ctx, h);
            }
            let c = ctx.cells(r);
            let y = self.row_y();
            let p = &mut self.pdf;
            let texts = [
                c.when.as_str(),
                &c.user,
                &c.team,
                c.kind,
                c.direction,
                &c.destination,
                &c.country,
            ];
            for (i, t) in texts.iter().enumerate() {
                let fitted = p.fit(FONT, Face::Regular, t, COLS[i + 1] - COLS[i] - 4.0);
                p.text(COLS[i] + 2.0, y, FONT, Face::Regular, &fitted);
            }
            for (i, t) in [c.duration, c.cost, c.billable].iter().enumerate() {
                p.text_right(COLS[i + 8] - 4.0, y, FONT, Face::Regular, t);
            }
            self.row_on_page += 1;
        }
        self.pdf.take_output()
    }

    fn finish(mut self, ctx: &Context, h: &Heading, t: &Totals) -> Vec<u8> {
        let l = labels(ctx.lang);
        if self.row_on_page + TOTALS_ROWS > rows_per_page() {
            self.new_page(ctx, h);
        }
        let y = self.row_y() - 4.0;
        let p = &mut self.pdf;
        p.line(
            MARGIN,
            y + ROW_H - 2.0,
            PAGE_W - MARGIN,
            y + ROW_H - 2.0,
            0.8,
        );
        if t.count == 0 {
            p.text(COLS[0] + 2.0, y, FONT, Face::Regular, l.empty);
        }
        p.text(
            COLS[0] + 2.0,
            y - ROW_H,
            FONT,
            Face::Bold,
            &format!("{} : {} {}", l.total, t.count, l.records),
        );
        let sums = [
            Hms(t.duration_seconds).to_string(),
            ctx.money(t.cost_minor),
            ctx.money(t.billable_minor),
        ];
        for (i, s) in sums.iter().enumerate() {
            p.text_right(COLS[i + 8] - 4.0, y - ROW_H, FONT, Face::Bold, s);
        }
        self.pdf.end_page();
        let mut out = self.pdf.take_output();
        out.extend(
            self.pdf
                .finish(&format!("{} — {}", l.title, h.account.name), h.generated_at),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180_and_formulas_are_defused() {
        let cases = [
            ("plain", false, "plain"),
            ("a,b", false, "\"a,b\""),
            ("say \"hi\"", false, "\"say \"\"hi\"\"\""),
            ("two\nlines", false, "\"two\nlines\""),
            ("=SUM(A1)", true, "\"'=SUM(A1)\""),
            ("+33184800123", false, "+33184800123"),
        ];
        for (value, free, expected) in cases {
            let mut out = String::new();
            csv_field(&mut out, value, free);
            assert_eq!(out, expected, "{value}");
        }
    }

    fn export(format: Format, lang: Lang) -> String {
        let at = time::macros::datetime!(2026-04-09 08:30 UTC);
        let heading = Heading {
            account: Account {
                id: crate::domain::ids::AccountId::parse("acc_demo").expect("an id"),
                name: "Démo".into(),
                currency: Currency::Eur,
                timezone: crate::domain::account::Timezone::parse("Europe/Paris").expect("a zone"),
                invoice_language: Default::default(),
                created_at: at,
                test_clock_id: None,
            },
            selection: match lang {
                Lang::Fr => "du 2026-04-01 au 2026-04-30".into(),
                Lang::En => "from 2026-04-01 to 2026-04-30".into(),
            },
            generated_at: at,
            count: 0,
        };
        let mut w = ExportWriter::new(format, lang, heading, Names::default());
        let mut bytes = w.start();
        bytes.extend(w.finish());
        match format {
            Format::Pdf => pdf_extract::extract_text_from_mem(&bytes).expect("text extracts"),
            _ => String::from_utf8(bytes).expect("utf-8"),
        }
    }

    #[test]
    fn the_title_block_writes_its_days_the_way_the_rows_do() {
        for format in [Format::Html, Format::Pdf] {
            let fr = export(format, Lang::Fr);
            assert!(fr.contains("du 01/04/2026 au 30/04/2026"), "{fr}");
            assert!(fr.contains("09/04/2026 10:30:00"), "{fr}");
            assert!(!fr.contains("2026-04"), "{fr}");
            let en = export(format, Lang::En);
            assert!(en.contains("from 2026-04-01 to 2026-04-30"), "{en}");
            assert!(en.contains("2026-04-09 10:30:00"), "{en}");
        }
        assert_eq!(
            local_dates("du 2026-04-01 au 2026-13-01, été", Lang::Fr),
            "du 01/04/2026 au 2026-13-01, été"
        );
    }

    #[test]
    fn the_page_count_leaves_room_for_the_totals() {
        let per = rows_per_page() as i64;
        assert_eq!(page_count(0), 1);
        assert_eq!(page_count(1), 1);
        assert_eq!(page_count(per - TOTALS_ROWS as i64), 1);
        assert_eq!(page_count(per - 1), 2);
        assert_eq!(page_count(per), 2);
        assert_eq!(page_count(per + 1), 2);
        assert_eq!(page_count(10 * per), 11);
    }
}
