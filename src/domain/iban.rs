//! SEPA bank details: an IBAN (per-country length and mod-97 checked by the
//! `iban_validate` crate) and an optional BIC.

use std::fmt;

/// A checked IBAN in electronic form (`FR7630006000011234567890189`).
/// `Debug` masks it: the full value is only for encryption at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct Iban(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    #[error("is not a valid IBAN (country, length or check digits)")]
    Invalid,
    #[error("is not a valid BIC (8 or 11 characters: bank, country, location, branch)")]
    Bic,
}

impl Iban {
    /// Accepts spaces and lower case: `fr76 3000 6000 0112 3456 7890 189`.
    pub fn parse(raw: &str) -> Result<Self, IbanError> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let iban: iban::Iban = compact.parse().map_err(|_| IbanError::Invalid)?;
        Ok(Self(iban::IbanLike::electronic_str(&iban).to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// `FR76 **** ... 0189`: country and check digits, then the last four.
    pub fn masked(&self) -> String {
        mask(&self.0[..4], self.last4())
    }
}

/// The masked form from what is stored in clear (prefix and last four).
pub fn mask(prefix: &str, last4: &str) -> String {
    format!("{prefix} **** ... {last4}")
}

impl fmt::Debug for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iban({})", self.masked())
    }
}

/// A BIC (ISO 9362): 4 letters (bank), 2 letters (country), 2 letters or
/// digits (location), optionally 3 letters or digits (branch).
pub fn parse_bic(raw: &str) -> Result<String, IbanError> {
    let bic = raw.trim().to_ascii_uppercase();
    let b = bic.as_bytes();
    let ok = (bic.len() == 8 || bic.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(u8::is_ascii_alphanumeric)
        && super::address::Country::parse(&bic[4..6]).is_some();
    ok.then_some(bic).ok_or(IbanError::Bic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_ibans_parse_in_any_spacing_and_case() {
        for (raw, electronic) in [
            (
                "FR76 3000 6000 0112 3456 7890 189",
                "FR7630006000011234567890189",
            ),
            ("fr7630006000011234567890189", "FR7630006000011234567890189"),
            ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
            ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
            ("ES91 2100 0418 4502 0005 1332", "ES9121000418450200051332"),
            ("BE68 5390 0754 7034", "BE68539007547034"),
        ] {
            assert_eq!(Iban::parse(raw).unwrap().expose(), electronic, "{raw}");
        }
    }

    #[test]
    fn wrong_checksums_lengths_and_countries_are_refused() {
        for raw in [
            "FR76 3000 6000 0112 3456 7890 188",
            "FR76 3000 6000 0112 3456 7890 18",
            "DE89 3704 0044 0532 0130 001",
            "XX89370400440532013000",
            "",
            "not an iban",
        ] {
            assert_eq!(Iban::parse(raw), Err(IbanError::Invalid), "{raw}");
        }
    }

    #[test]
    fn an_iban_is_shown_masked_and_never_in_debug() {
        let iban = Iban::parse("FR7630006000011234567890189").unwrap();
        assert_eq!(iban.masked(), "FR76 **** ... 0189");
        assert!(!format!("{iban:?}").contains("3000600001"));
    }

    #[test]
    fn bics_have_eight_or_eleven_characters_and_a_real_country() {
        assert_eq!(parse_bic("bnpafrpp").unwrap(), "BNPAFRPP");
        assert_eq!(parse_bic("DEUTDEFF500").unwrap(), "DEUTDEFF500");
        for raw in ["BNPAFRP", "BNPAXXPP", "1NPAFRPP", "BNPAFRPP5", ""] {
            assert_eq!(parse_bic(raw), Err(IbanError::Bic), "{raw}");
        }
    }
}
