//! Renderings of billing data for people: PDF, HTML and CSV, in French by
//! default or English.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::domain::money::{Currency, Money};

pub mod consumption;
pub mod credit_note;
pub mod einvoice;
pub mod invoice;
pub mod pdf;
pub mod pdfa;

/// The `Content-Security-Policy` of the HTML renderings: they need nothing
/// but their inline style and `data:` images, so a script or a resource that
/// got into one by mistake is never run or fetched.
pub const HTML_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The language of a rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl From<crate::domain::account::InvoiceLanguage> for Lang {
    fn from(l: crate::domain::account::InvoiceLanguage) -> Self {
        match l {
            crate::domain::account::InvoiceLanguage::Fr => Lang::Fr,
            crate::domain::account::InvoiceLanguage::En => Lang::En,
        }
    }
}

impl Lang {
    /// English when the preferred language of `Accept-Language` is English;
    /// French (the product's language) otherwise.
    pub fn from_accept_language(value: Option<&str>) -> Self {
        let mut best: Option<(f32, &str)> = None;
        for item in value.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            if tag.is_empty() {
                continue;
            }
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, tag));
            }
        }
        match best {
            Some((_, tag)) if tag.to_ascii_lowercase().starts_with("en") => Lang::En,
            _ => Lang::Fr,
        }
    }

    /// The stored code: `fr` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// Reads a stored code; anything but `en` is French.
    pub fn from_code(code: &str) -> Self {
        if code == "en" { Lang::En } else { Lang::Fr }
    }

    pub fn from_request(req: &HttpRequest) -> Self {
        Self::from_accept_language(
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    }
}

/// Text for HTML element content and attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An amount as people read it: `1 203,28 €` in French, `€1,203.28` in English.
pub fn human_money(m: Money, lang: Lang) -> String {
    let digits = m.currency().digits();
    let minor = m.minor().unsigned_abs();
    let scale = 10_u64.pow(digits);
    let (units, cents) = (minor / scale, minor % scale);
    let (group, point) = match lang {
        Lang::Fr => ('\u{a0}', ','),
        Lang::En => (',', '.'),
    };
    let raw = units.to_string();
    let mut grouped = String::with_capacity(raw.len() + raw.len() / 3);
    for (i, c) in raw.chars().enumerate() {
        if i > 0 && (raw.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let number = format!("{grouped}{point}{cents:0width$}", width = digits as usize);
    let sign = if m.is_negative() { "-" } else { "" };
    let symbol = match m.currency() {
        Currency::Eur => "€",
        Currency::Usd => "$",
        Currency::Gbp => "£",
        Currency::Chf => "CHF",
    };
    match (lang, m.currency()) {
        (Lang::Fr, _) => format!("{sign}{number}\u{a0}{symbol}"),
        (Lang::En, Currency::Chf) => format!("{sign}CHF\u{a0}{number}"),
        (Lang::En, _) => format!("{sign}{symbol}{number}"),
    }
}

/// Country names for the countries buyers are most often in: (code, French, English).
const COUNTRIES: [(&str, &str, &str); 44] = [
    ("AT", "Autriche", "Austria"),
    ("BE", "Belgique", "Belgium"),
    ("BG", "Bulgarie", "Bulgaria"),
    ("HR", "Croatie", "Croatia"),
    ("CY", "Chypre", "Cyprus"),
    ("CZ", "Tchéquie", "Czechia"),
    ("DK", "Danemark", "Denmark"),
    ("EE", "Estonie", "Estonia"),
    ("FI", "Finlande", "Finland"),
    ("FR", "France", "France"),
    ("DE", "Allemagne", "Germany"),
    ("GR", "Grèce", "Greece"),
    ("HU", "Hongrie", "Hungary"),
    ("IE", "Irlande", "Ireland"),
    ("IT", "Italie", "Italy"),
    ("LV", "Lettonie", "Latvia"),
    ("LT", "Lituanie", "Lithuania"),
    ("LU", "Luxembourg", "Luxembourg"),
    ("MT", "Malte", "Malta"),
    ("NL", "Pays-Bas", "Netherlands"),
    ("PL", "Pologne", "Poland"),
    ("PT", "Portugal", "Portugal"),
    ("RO", "Roumanie", "Romania"),
    ("SK", "Slovaquie", "Slovakia"),
    ("SI", "Slovénie", "Slovenia"),
    ("ES", "Espagne", "Spain"),
    ("SE", "Suède", "Sweden"),
    ("CH", "Suisse", "Switzerland"),
    ("GB", "Royaume-Uni", "United Kingdom"),
    ("NO", "Norvège", "Norway"),
    ("IS", "Islande", "Iceland"),
    ("LI", "Liechtenstein", "Liechtenstein"),
    ("MC", "Monaco", "Monaco"),
    ("AD", "Andorre", "Andorra"),
    ("US", "États-Unis", "United States"),
    ("CA", "Canada", "Canada"),
    ("MA", "Maroc", "Morocco"),
    ("TN", "Tunisie", "Tunisia"),
    ("DZ", "Algérie", "Algeria"),
    ("SN", "Sénégal", "Senegal"),
    ("CI", "Côte d'Ivoire", "Côte d'Ivoire"),
    ("CM", "Cameroun", "Cameroon"),
    ("IL", "Israël", "Israel"),
    ("JP", "Japon", "Japan"),
];

/// A country written out (`Espagne`, `Spain`) from its ISO code; a country
/// outside the table gets its official English name, and an unknown code stays as is.
pub fn country_name(code: &str, lang: Lang) -> String {
    if let Some((_, fr, en)) = COUNTRIES.iter().find(|(c, _, _)| *c == code) {
        return match lang {
            Lang::Fr => (*fr).to_owned(),
            Lang::En => (*en).to_owned(),
        };
    }
    celes::Country::from_alpha2(code).map_or_else(|_| code.to_owned(), |c| c.long_name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_english_only_when_preferred() {
        let cases = [
            (None, Lang::Fr),
            (Some("en"), Lang::En),
            (Some("en-GB,en;q=0.9"), Lang::En),
            (Some("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr),
            (Some("de, en;q=0.5"), Lang::Fr),
            (Some("fr;q=0.4, en-US;q=0.7"), Lang::En),
            (Some("garbage"), Lang::Fr),
        ];
        for (header, lang) in cases {
            assert_eq!(Lang::from_accept_language(header), lang, "{header:?}");
        }
    }

    #[test]
    fn amounts_are_written_the_way_each_language_reads_them() {
        let eur = |minor| Money::from_minor(minor, Currency::Eur);
        assert_eq!(human_money(eur(120_328), Lang::Fr), "1\u{a0}203,28\u{a0}€");
        assert_eq!(human_money(eur(120_328), Lang::En), "€1,203.28");
        assert_eq!(human_money(eur(5), Lang::Fr), "0,05\u{a0}€");
        assert_eq!(human_money(eur(-6_400), Lang::En), "-€64.00");
        assert_eq!(
            human_money(Money::from_minor(100_000_000, Currency::Chf), Lang::En),
            "CHF\u{a0}1,000,000.00"
        );
        assert_eq!(country_name("ES", Lang::Fr), "Espagne");
        assert_eq!(country_name("ES", Lang::En), "Spain");
        assert_eq!(country_name("FR", Lang::En), "France");
        assert_eq!(country_name("BR", Lang::Fr), "Brazil");
        assert_eq!(country_name("ZZ", Lang::Fr), "ZZ");
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
