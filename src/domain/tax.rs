//! The VAT treatment of an invoice: which rate and which legal mention apply,
//! decided from the buyer's verified billing address (SPEC.md section 10).
//!
//! | buyer | VAT | mention |
//! |---|---|---|
//! | France (metropolitan, Corsica) and Monaco | 20 % | |
//! | Guadeloupe, Martinique, Réunion | 8.5 % | |
//! | Guyane, Mayotte | 0 % | TVA non applicable, art. 294 du CGI |
//! | other EU state, VAT number valid in VIES | 0 % | Autoliquidation |
//! | other EU state, no valid VAT number | that state's standard rate (OSS) | |
//! | outside the EU | 0 % | TVA non applicable, art. 259-1 du CGI |
//!
//! Rates are data with the day they take effect ([`STANDARD_RATES`]); an
//! invoice takes the rate in force on its issue date and keeps it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::date;
use utoipa::ToSchema;

use super::address::Country;

/// How VAT applies to the buyer. The serialized names are stored in issued
/// invoices' snapshots: never rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// French VAT, standard rate: metropolitan France, Corsica and Monaco
    /// (one VAT territory).
    FrenchVat,
    /// French VAT at the overseas rate (8.5 %): Guadeloupe, Martinique,
    /// Réunion.
    FrenchOverseasVat,
    /// No VAT (article 294 du CGI): Guyane, Mayotte.
    FrenchOverseasExempt,
    /// 0 %, reverse charge: a buyer in another EU state whose VAT number
    /// is valid in VIES.
    ReverseCharge,
    /// The buyer's EU state's standard rate, declared through the one-stop
    /// shop (OSS): telecommunication services to a buyer in another EU state
    /// without a valid VAT number (CGI art. 259 D; directive 2006/112 art. 58).
    EuOss,
    /// 0 %: a buyer outside the EU VAT area (CGI art. 259-1).
    OutsideEu,
}

impl TaxTreatment {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxTreatment::FrenchVat => "french_vat",
            TaxTreatment::FrenchOverseasVat => "french_overseas_vat",
            TaxTreatment::FrenchOverseasExempt => "french_overseas_exempt",
            TaxTreatment::ReverseCharge => "reverse_charge",
            TaxTreatment::EuOss => "eu_oss",
            TaxTreatment::OutsideEu => "outside_eu",
        }
    }

    /// The legal mention the invoice must carry, in French and English.
    pub fn mention(self) -> Option<Mention> {
        let (fr, en) = match self {
            TaxTreatment::FrenchVat | TaxTreatment::FrenchOverseasVat | TaxTreatment::EuOss => {
                return None;
            }
            TaxTreatment::FrenchOverseasExempt => (
                "TVA non applicable, art. 294 du CGI.",
                "VAT not applicable, article 294 of the French General Tax Code.",
            ),
            TaxTreatment::ReverseCharge => (
                "Autoliquidation : TVA due par le preneur (article 283-2 du CGI, article 196 de la directive 2006/112/CE).",
                "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Council Directive 2006/112/EC).",
            ),
            TaxTreatment::OutsideEu => (
                "TVA non applicable, art. 259-1 du CGI.",
                "VAT not applicable, article 259-1 of the French General Tax Code.",
            ),
        };
        Some(Mention {
            fr: fr.to_owned(),
            en: en.to_owned(),
        })
    }
}

/// A legal mention, as printed in each language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub fr: String,
    pub en: String,
}

/// The VAT an invoice applies: its treatment, rate (percent), the
/// territory it was decided from, and the mention it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tax {
    pub treatment: TaxTreatment,
    /// In percent (20, 8.5, 19, 25.5, 0).
    pub rate: Decimal,
    /// The buyer's territory: an ISO code (`FR`, `MC`, `RE`, `DE`, `US`),
    /// overseas departments written with a French postal code included.
    pub territory: String,
}

impl Tax {
    /// French VAT at the standard rate: what an invoice shows before the
    /// buyer's address is verified (it is not issued until then).
    pub fn provisional() -> Tax {
        Tax {
            treatment: TaxTreatment::FrenchVat,
            rate: Decimal::from(20),
            territory: "FR".into(),
        }
    }

    pub fn mention(&self) -> Option<Mention> {
        self.treatment.mention()
    }
}

/// What the treatment is decided from: the verified primary billing address
/// and whether its VAT number is known valid (VIES, or staff's manual check).
#[derive(Debug, Clone, Copy)]
pub struct Buyer<'a> {
    pub country: Country,
    pub postal_code: &'a str,
    pub vat_number_valid: bool,
}

/// The one rule for "the VAT treatment of an address" on `day`.
pub fn decide(buyer: Buyer<'_>, day: Date) -> Tax {
    let territory = territory(buyer.country, buyer.postal_code);
    let (treatment, rate) = match territory {
        Territory::France | Territory::Monaco => {
            (TaxTreatment::FrenchVat, standard_rate("FR", day))
        }
        Territory::OverseasTaxed(_) => (TaxTreatment::FrenchOverseasVat, Decimal::new(85, 1)),
        Territory::OverseasExempt(_) => (TaxTreatment::FrenchOverseasExempt, Decimal::ZERO),
        Territory::OtherEu(_) if buyer.vat_number_valid => {
            (TaxTreatment::ReverseCharge, Decimal::ZERO)
        }
        Territory::OtherEu(code) => (TaxTreatment::EuOss, standard_rate(code, day)),
        Territory::OutsideEu(_) => (TaxTreatment::OutsideEu, Decimal::ZERO),
    };
    Tax {
        treatment,
        rate,
        territory: territory.code().to_owned(),
    }
}

/// Where a buyer is, for VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Territory {
    France,
    Monaco,
    /// Guadeloupe, Martinique, Réunion.
    OverseasTaxed(&'static str),
    /// Guyane, Mayotte.
    OverseasExempt(&'static str),
    OtherEu(&'static str),
    OutsideEu(&'static str),
}

impl Territory {
    fn code(self) -> &'static str {
        match self {
            Territory::France => "FR",
            Territory::Monaco => "MC",
            Territory::OverseasTaxed(c)
            | Territory::OverseasExempt(c)
            | Territory::OtherEu(c)
            | Territory::OutsideEu(c) => c,
        }
    }
}

/// French overseas territories by ISO code and by the postal code prefix of
/// an address written as `FR`.
const OVERSEAS: [(&str, &str); 10] = [
    ("GP", "971"),
    ("MQ", "972"),
    ("GF", "973"),
    ("RE", "974"),
    ("PM", "975"),
    ("YT", "976"),
    ("BL", "977"),
    ("MF", "978"),
    ("WF", "986"),
    ("PF", "987"),
];

/// Parts of EU states outside the EU VAT area (directive 2006/112 art. 6),
/// by country and postal code prefix.
const OUTSIDE_VAT_AREA: [(&str, &str, &str); 9] = [
    ("ES", "35", "Canary Islands (Las Palmas)"),
    ("ES", "38", "Canary Islands (Santa Cruz de Tenerife)"),
    ("ES", "51", "Ceuta"),
    ("ES", "52", "Melilla"),
    ("FI", "22", "Åland"),
    ("DE", "27498", "Heligoland"),
    ("DE", "78266", "Büsingen am Hochrhein"),
    ("IT", "23041", "Livigno"),
    ("IT", "22061", "Campione d'Italia"),
];

fn territory(country: Country, postal_code: &str) -> Territory {
    let postal: String = postal_code.chars().filter(|c| !c.is_whitespace()).collect();
    // An overseas address may be written with its own ISO code or as `FR`
    // with its postal code.
    let overseas = match country.code() {
        "FR" => OVERSEAS
            .iter()
            .find(|(_, prefix)| postal.starts_with(prefix))
            .map(|(code, _)| *code),
        other => OVERSEAS.iter().map(|(c, _)| *c).find(|c| *c == other),
    };
    match (country.code(), overseas) {
        (_, Some(code @ ("GP" | "MQ" | "RE"))) => Territory::OverseasTaxed(code),
        (_, Some(code @ ("GF" | "YT"))) => Territory::OverseasExempt(code),
        // Saint-Pierre-et-Miquelon, Saint-Barthélemy, Saint-Martin, Wallis
        // and Futuna, French Polynesia: outside the EU VAT area.
        (_, Some(code)) => Territory::OutsideEu(code),
        ("FR", None) => Territory::France,
        ("MC", None) => Territory::Monaco,
        (code, None)
            if OUTSIDE_VAT_AREA
                .iter()
                .any(|(c, prefix, _)| *c == code && postal.starts_with(prefix)) =>
        {
            Territory::OutsideEu(country.code())
        }
        _ if country.is_eu() => Territory::OtherEu(country.code()),
        _ => Territory::OutsideEu(country.code()),
    }
}

/// The standard VAT rates of the 27 EU states, in percent, with the day each
/// took effect. Source: European Commission, "VAT rates applied in the
/// Member States of the European Union" (situation at 1 January 2025), and
/// the changes since: Slovakia 23 % (1 January 2025), Estonia 24 % (1 July
/// 2025), Romania 21 % (1 August 2025). The table starts on 1 January 2024;
/// an earlier day takes the first rate listed (nothing is billed before).
pub const STANDARD_RATES: &[(&str, Date, i64, u32)] = &[
    ("AT", date!(2024 - 01 - 01), 20, 0),
    ("BE", date!(2024 - 01 - 01), 21, 0),
    ("BG", date!(2024 - 01 - 01), 20, 0),
    ("CY", date!(2024 - 01 - 01), 19, 0),
    ("CZ", date!(2024 - 01 - 01), 21, 0),
    ("DE", date!(2024 - 01 - 01), 19, 0),
    ("DK", date!(2024 - 01 - 01), 25, 0),
    ("EE", date!(2024 - 01 - 01), 22, 0),
    ("EE", date!(2025 - 07 - 01), 24, 0),
    ("ES", date!(2024 - 01 - 01), 21, 0),
    ("FI", date!(2024 - 01 - 01), 24, 0),
    ("FI", date!(2024 - 09 - 01), 255, 1),
    ("FR", date!(2024 - 01 - 01), 20, 0),
    ("GR", date!(2024 - 01 - 01), 24, 0),
    ("HR", date!(2024 - 01 - 01), 25, 0),
    ("HU", date!(2024 - 01 - 01), 27, 0),
    ("IE", date!(2024 - 01 - 01), 23, 0),
    ("IT", date!(2024 - 01 - 01), 22, 0),
    ("LT", date!(2024 - 01 - 01), 21, 0),
    ("LU", date!(2024 - 01 - 01), 17, 0),
    ("LV", date!(2024 - 01 - 01), 21, 0),
    ("MT", date!(2024 - 01 - 01), 18, 0),
    ("NL", date!(2024 - 01 - 01), 21, 0),
    ("PL", date!(2024 - 01 - 01), 23, 0),
    ("PT", date!(2024 - 01 - 01), 23, 0),
    ("RO", date!(2024 - 01 - 01), 19, 0),
    ("RO", date!(2025 - 08 - 01), 21, 0),
    ("SE", date!(2024 - 01 - 01), 25, 0),
    ("SI", date!(2024 - 01 - 01), 22, 0),
    ("SK", date!(2024 - 01 - 01), 20, 0),
    ("SK", date!(2025 - 01 - 01), 23, 0),
];

/// The standard rate of EU state `code` in force on `day`.
pub fn standard_rate(code: &str, day: Date) -> Decimal {
    let rates: Vec<(Date, Decimal)> = STANDARD_RATES
        .iter()
        .filter(|(c, ..)| *c == code)
        .map(|(_, from, mantissa, scale)| (*from, Decimal::new(*mantissa, *scale)))
        .collect();
    super::plan::price_on(&rates, day)
        .or_else(|| rates.first().map(|(_, r)| *r))
        // Every EU state is in the table (a unit test checks it).
        .unwrap_or(Decimal::from(20))
}

/// A French SIREN: 9 digits whose Luhn sum is a multiple of 10 (La Poste's
/// group has SIRENs that fail it; they are not billing customers here).
/// Spaces are ignored; returns the 9 digits.
pub fn parse_siren(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| *c != ' ').collect();
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    super::card::luhn(&digits).then_some(digits)
}

/// The SIREN inside a French VAT number (`FR` + a 2-digit key + the SIREN),
/// when the key is the one computed from it (`(12 + 3 × (SIREN mod 97))
/// mod 97`) and the SIREN is valid.
pub fn siren_of_french_vat(vat: &str) -> Option<String> {
    let compact: String = vat.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.strip_prefix("FR")?;
    let (key, siren) = (rest.get(..2)?, rest.get(2..)?);
    let siren = parse_siren(siren)?;
    let key: u64 = key.parse().ok()?;
    let number: u64 = siren.parse().ok()?;
    (key == (12 + 3 * (number % 97)) % 97).then_some(siren)
}

/// Whether an address in `country` with `postal_code` is French for the
/// SIREN (metropolitan France, Corsica, overseas departments).
pub fn is_french(country: Country, postal_code: &str) -> bool {
    matches!(
        territory(country, postal_code),
        Territory::France | Territory::OverseasTaxed(_) | Territory::OverseasExempt(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_french_vat_number_gives_its_siren_when_its_key_matches() {
        assert_eq!(
            siren_of_french_vat("FR40303265045").as_deref(),
            Some("303265045")
        );
        assert_eq!(
            siren_of_french_vat("FR 65 912345675").as_deref(),
            Some("912345675")
        );
        // Wrong key, not French, not a SIREN.
        assert_eq!(siren_of_french_vat("FR41303265045"), None);
        assert_eq!(siren_of_french_vat("DE123456789"), None);
        assert_eq!(siren_of_french_vat("FR40303265046"), None);
        assert_eq!(siren_of_french_vat("FR4030326504"), None);
    }

    fn buyer(country: &str, postal: &str, valid: bool) -> Tax {
        decide(
            Buyer {
                country: Country::parse(country).unwrap(),
                postal_code: postal,
                vat_number_valid: valid,
            },
            date!(2026 - 11 - 30),
        )
    }

    fn check(tax: &Tax, treatment: TaxTreatment, rate: &str, territory: &str) {
        assert_eq!(tax.treatment, treatment, "{territory}");
        assert_eq!(tax.rate, rate.parse::<Decimal>().unwrap(), "{territory}");
        assert_eq!(tax.territory, territory);
    }

    #[test]
    fn each_row_of_the_treatment_table() {
        use TaxTreatment::*;
        check(&buyer("FR", "75002", false), FrenchVat, "20", "FR");
        check(&buyer("FR", "20000", true), FrenchVat, "20", "FR"); // Corsica, VAT number or not
        check(&buyer("MC", "98000", true), FrenchVat, "20", "MC");
        check(&buyer("GP", "97110", false), FrenchOverseasVat, "8.5", "GP");
        check(&buyer("FR", "97200", false), FrenchOverseasVat, "8.5", "MQ");
        check(&buyer("RE", "97400", true), FrenchOverseasVat, "8.5", "RE");
        check(
            &buyer("FR", "97300", false),
            FrenchOverseasExempt,
            "0",
            "GF",
        );
        check(
            &buyer("YT", "97600", false),
            FrenchOverseasExempt,
            "0",
            "YT",
        );
        check(&buyer("DE", "10115", true), ReverseCharge, "0", "DE");
        check(&buyer("DE", "10115", false), EuOss, "19", "DE");
        check(&buyer("ES", "28013", false), EuOss, "21", "ES");
        check(&buyer("FI", "00100", false), EuOss, "25.5", "FI");
        check(&buyer("US", "10001", false), OutsideEu, "0", "US");
        check(&buyer("CH", "1201", true), OutsideEu, "0", "CH");
        check(&buyer("GB", "SW1A 1AA", true), OutsideEu, "0", "GB");
    }

    #[test]
    fn french_collectivities_and_eu_territories_outside_the_vat_area_are_outside_the_eu() {
        use TaxTreatment::*;
        check(&buyer("FR", "97500", false), OutsideEu, "0", "PM");
        check(&buyer("PF", "98714", false), OutsideEu, "0", "PF");
        check(&buyer("NC", "98800", false), OutsideEu, "0", "NC");
        check(&buyer("ES", "35001", true), OutsideEu, "0", "ES"); // Las Palmas
        check(&buyer("ES", "38001", false), OutsideEu, "0", "ES"); // Tenerife
        check(&buyer("ES", "51001", false), OutsideEu, "0", "ES"); // Ceuta
        check(&buyer("FI", "22100", false), OutsideEu, "0", "FI"); // Åland
        check(&buyer("AX", "22100", false), OutsideEu, "0", "AX");
        check(&buyer("DE", "27498", false), OutsideEu, "0", "DE"); // Heligoland
        check(&buyer("IT", "23041", false), OutsideEu, "0", "IT"); // Livigno
    }

    #[test]
    fn mentions_follow_the_table() {
        assert_eq!(buyer("FR", "75002", false).mention(), None);
        assert_eq!(buyer("DE", "10115", false).mention(), None);
        assert_eq!(buyer("RE", "97400", false).mention(), None);
        let exempt = buyer("GF", "97300", false).mention().unwrap();
        assert_eq!(exempt.fr, "TVA non applicable, art. 294 du CGI.");
        let reverse = buyer("DE", "10115", true).mention().unwrap();
        assert!(reverse.fr.starts_with("Autoliquidation"));
        assert!(reverse.fr.contains("283-2 du CGI"));
        assert!(reverse.fr.contains("196 de la directive 2006/112/CE"));
        let outside = buyer("US", "10001", false).mention().unwrap();
        assert_eq!(outside.fr, "TVA non applicable, art. 259-1 du CGI.");
    }

    #[test]
    fn every_eu_state_has_a_standard_rate_and_changes_apply_from_their_day() {
        for code in [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        ] {
            assert!(
                STANDARD_RATES.iter().any(|(c, ..)| *c == code),
                "{code} has no rate"
            );
            assert!(Country::parse(code).unwrap().is_eu());
        }
        let d = |y, m, day| Date::from_calendar_date(y, m, day).unwrap();
        use time::Month::*;
        assert_eq!(standard_rate("EE", d(2025, June, 30)), Decimal::from(22));
        assert_eq!(standard_rate("EE", d(2025, July, 1)), Decimal::from(24));
        assert_eq!(standard_rate("RO", d(2025, July, 31)), Decimal::from(19));
        assert_eq!(standard_rate("RO", d(2025, August, 1)), Decimal::from(21));
        assert_eq!(
            standard_rate("SK", d(2024, December, 31)),
            Decimal::from(20)
        );
        assert_eq!(standard_rate("SK", d(2025, January, 1)), Decimal::from(23));
        assert_eq!(standard_rate("FI", d(2024, August, 31)), Decimal::from(24));
        assert_eq!(
            standard_rate("FI", d(2024, September, 1)),
            Decimal::new(255, 1)
        );
        // Before the table: its first rate.
        assert_eq!(standard_rate("DE", d(2020, March, 1)), Decimal::from(19));
    }

    #[test]
    fn sirens_are_nine_digits_with_a_luhn_key() {
        assert_eq!(parse_siren("732 829 320").as_deref(), Some("732829320"));
        assert_eq!(parse_siren("552100554").as_deref(), Some("552100554"));
        for bad in [
            "732829321",
            "73282932",
            "7328293200",
            "73282932A",
            "",
            "FR732829320",
        ] {
            assert_eq!(parse_siren(bad), None, "{bad}");
        }
    }

    #[test]
    fn french_addresses_for_the_siren_include_overseas_departments_not_monaco() {
        let c = |s| Country::parse(s).unwrap();
        assert!(is_french(c("FR"), "75002"));
        assert!(is_french(c("FR"), "97400"));
        assert!(is_french(c("RE"), "97400"));
        assert!(!is_french(c("MC"), "98000"));
        assert!(!is_french(c("DE"), "10115"));
    }
}
