//! Payment cards: number (Luhn, brand from the IIN ranges), expiry, CVC.
//! Only the brand, the last four digits and the expiry are ever kept; the
//! number lives in a [`CardNumber`] whose `Debug` hides it, and is dropped
//! once fingerprinted.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};
use utoipa::ToSchema;

/// Card networks accepted. Cartes Bancaires cards are co-branded and carry a
/// Visa or Mastercard number, so they are recognised as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [CardBrand::Visa, CardBrand::Mastercard, CardBrand::Amex]
            .into_iter()
            .find(|b| b.as_str() == raw)
    }

    fn from_digits(digits: &str) -> Option<Self> {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let len = digits.len();
        if digits.starts_with('4') && matches!(len, 13 | 16 | 19) {
            Some(CardBrand::Visa)
        } else if (prefix(2).is_some_and(|p| (51..=55).contains(&p))
            || prefix(4).is_some_and(|p| (2221..=2720).contains(&p)))
            && len == 16
        {
            Some(CardBrand::Mastercard)
        } else if matches!(prefix(2), Some(34 | 37)) && len == 15 {
            Some(CardBrand::Amex)
        } else {
            None
        }
    }

    fn cvc_len(self) -> usize {
        match self {
            CardBrand::Amex => 4,
            _ => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("must contain only digits and spaces")]
    NotDigits,
    #[error("is not a valid card number (checksum)")]
    Luhn,
    #[error("is not a Visa, Mastercard (including Cartes Bancaires) or American Express number")]
    UnknownBrand,
    #[error("must be between 1 and 12")]
    Month,
    #[error("must be a year such as 2028")]
    Year,
    #[error("the card has expired")]
    Expired,
    #[error("must be 3 digits (4 for American Express)")]
    Cvc,
}

/// A checked card number. Never printed: `Debug` shows the last four digits only.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber {
    digits: String,
    brand: CardBrand,
}

/// The Luhn check (ISO/IEC 7812): card numbers, and French SIRENs.
pub(crate) fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl CardNumber {
    pub fn parse(raw: &str) -> Result<Self, CardError> {
        if !raw.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
            return Err(CardError::NotDigits);
        }
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if !(12..=19).contains(&digits.len()) {
            return Err(CardError::UnknownBrand);
        }
        if !luhn(&digits) {
            return Err(CardError::Luhn);
        }
        let brand = CardBrand::from_digits(&digits).ok_or(CardError::UnknownBrand)?;
        Ok(Self { digits, brand })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// The digits, for fingerprinting only.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }

    /// Checks a CVC's shape for this card; the CVC itself is never kept.
    pub fn check_cvc(&self, cvc: &str) -> Result<(), CardError> {
        let ok = cvc.len() == self.brand.cvc_len() && cvc.bytes().all(|b| b.is_ascii_digit());
        ok.then_some(()).ok_or(CardError::Cvc)
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CardNumber({} **** {})",
            self.brand.as_str(),
            self.last4()
        )
    }
}

/// The last month a card can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub month: u8,
    pub year: i32,
}

impl Expiry {
    /// A card is valid through the last day of its expiry month.
    pub fn parse(month: u32, year: u32, today: Date) -> Result<Self, CardError> {
        let month = u8::try_from(month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or(CardError::Month)?;
        let year = match year {
            0..=99 => 2000 + year as i32,
            2000..=2100 => year as i32,
            _ => return Err(CardError::Year),
        };
        let expiry = Self { month, year };
        if expiry.is_expired(today) {
            return Err(CardError::Expired);
        }
        Ok(expiry)
    }

    pub fn is_expired(self, today: Date) -> bool {
        let current = (today.year(), u8::from(today.month()));
        (self.year, self.month) < current
    }

    /// The last day the card works.
    pub fn last_day(self) -> Option<Date> {
        let month = Month::try_from(self.month).ok()?;
        Date::from_calendar_date(
            self.year,
            month,
            time::util::days_in_month(month, self.year),
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn published_test_numbers_parse_with_their_brand() {
        let cases = [
            ("4242 4242 4242 4242", CardBrand::Visa),
            ("4000056655665556", CardBrand::Visa),
            ("4111111111111111", CardBrand::Visa),
            ("5555 5555 5555 4444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("5200828282828210", CardBrand::Mastercard),
            ("3782 822463 10005", CardBrand::Amex),
            ("371449635398431", CardBrand::Amex),
            // Cartes Bancaires co-branded test cards.
            ("4000 0025 0000 1001", CardBrand::Visa),
            ("5555 5525 0000 1001", CardBrand::Mastercard),
        ];
        for (raw, brand) in cases {
            let card = CardNumber::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(card.brand(), brand, "{raw}");
            assert_eq!(
                card.last4(),
                &raw.replace(' ', "")[raw.replace(' ', "").len() - 4..]
            );
        }
    }

    #[test]
    fn bad_numbers_are_refused_with_the_reason() {
        assert_eq!(
            CardNumber::parse("4242 4242 4242 4241"),
            Err(CardError::Luhn)
        );
        assert_eq!(
            CardNumber::parse("4242-4242-4242-4242"),
            Err(CardError::NotDigits)
        );
        assert_eq!(
            CardNumber::parse("6011111111111117"),
            Err(CardError::UnknownBrand)
        );
        assert_eq!(CardNumber::parse("42"), Err(CardError::UnknownBrand));
        assert_eq!(CardNumber::parse(""), Err(CardError::UnknownBrand));
    }

    #[test]
    fn the_number_never_shows_in_debug_output() {
        let card = CardNumber::parse("4242424242424242").unwrap();
        let shown = format!("{card:?}");
        assert!(!shown.contains("42424242"), "{shown}");
        assert!(shown.contains("4242"));
    }

    #[test]
    fn a_card_works_through_its_expiry_month() {
        let today = date!(2026 - 04 - 30);
        assert!(Expiry::parse(4, 2026, today).is_ok());
        assert!(Expiry::parse(4, 26, today).is_ok());
        assert_eq!(Expiry::parse(3, 2026, today), Err(CardError::Expired));
        assert_eq!(Expiry::parse(12, 2025, today), Err(CardError::Expired));
        assert_eq!(Expiry::parse(13, 2027, today), Err(CardError::Month));
        assert_eq!(Expiry::parse(0, 2027, today), Err(CardError::Month));
        assert_eq!(Expiry::parse(1, 1999, today), Err(CardError::Year));
        let e = Expiry::parse(2, 2028, today).unwrap();
        assert_eq!(e.last_day(), Some(date!(2028 - 02 - 29)));
        assert!(!e.is_expired(date!(2028 - 02 - 29)));
        assert!(e.is_expired(date!(2028 - 03 - 01)));
    }

    #[test]
    fn cvc_length_depends_on_the_brand() {
        let visa = CardNumber::parse("4242424242424242").unwrap();
        assert!(visa.check_cvc("123").is_ok());
        assert_eq!(visa.check_cvc("1234"), Err(CardError::Cvc));
        assert_eq!(visa.check_cvc("12a"), Err(CardError::Cvc));
        let amex = CardNumber::parse("378282246310005").unwrap();
        assert!(amex.check_cvc("1234").is_ok());
        assert_eq!(amex.check_cvc("123"), Err(CardError::Cvc));
    }
}
