//! Payment methods and prepaid credits (SPEC.md sections 4 and 5).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::card::{CardBrand, Expiry};
use super::ids::{AccountId, PaymentMethodId, TopUpId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKind {
    Card,
    SepaDebit,
}

impl PaymentMethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethodKind::Card => "card",
            PaymentMethodKind::SepaDebit => "sepa_debit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "card" => Some(PaymentMethodKind::Card),
            "sepa_debit" => Some(PaymentMethodKind::SepaDebit),
            _ => None,
        }
    }
}

/// What is kept of a payment method: never a full card number or a clear IBAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub account_id: AccountId,
    pub kind: PaymentMethodKind,
    pub default: bool,
    pub brand: Option<CardBrand>,
    pub last4: String,
    pub expiry: Option<Expiry>,
    pub holder_name: String,
    /// Cards: keyed HMAC of the number, to recognise the same card.
    pub fingerprint: Option<String>,
    /// SEPA: the IBAN encrypted with the data key.
    pub iban_ciphertext: Option<String>,
    /// SEPA: country and check digits (`FR76`), for the masked form.
    pub iban_prefix: Option<String>,
    pub bic: Option<String>,
    pub mandate_reference: Option<String>,
    pub mandate_signed_on: Option<Date>,
    pub created_at: OffsetDateTime,
}

impl PaymentMethod {
    /// Can it be debited today? A SEPA mandate, or a card not expired.
    pub fn is_usable(&self, today: Date) -> bool {
        match self.kind {
            PaymentMethodKind::SepaDebit => true,
            PaymentMethodKind::Card => self.expiry.is_some_and(|e| !e.is_expired(today)),
        }
    }

    /// `**** 4242` or `FR76 **** ... 0189`.
    pub fn masked(&self) -> String {
        match (&self.kind, &self.iban_prefix) {
            (PaymentMethodKind::SepaDebit, Some(prefix)) => super::iban::mask(prefix, &self.last4),
            _ => format!("**** {}", self.last4),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopUpStatus {
    Pending,
    Succeeded,
    Failed,
}

impl TopUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpStatus::Pending => "pending",
            TopUpStatus::Succeeded => "succeeded",
            TopUpStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopUpOrigin {
    Manual,
    AutoRecharge,
}

impl TopUpOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpOrigin::Manual => "manual",
            TopUpOrigin::AutoRecharge => "auto_recharge",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Manual, Self::AutoRecharge]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUp {
    pub id: TopUpId,
    pub account_id: AccountId,
    pub amount_minor: i64,
    pub status: TopUpStatus,
    pub origin: TopUpOrigin,
    pub payment_method_id: PaymentMethodId,
    pub failure_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub settled_at: Option<OffsetDateTime>,
    /// The VAT charged on top of `amount_minor` (the credits, excluding VAT).
    pub tax_minor: i64,
    /// How that VAT was decided; none for top-ups made before VAT was
    /// charged on them.
    pub tax: Option<super::advance::ChargedTax>,
    /// The acompte invoice its payment issued.
    pub invoice_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    TopUp,
    Consumption,
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::TopUp => "top_up",
            LedgerKind::Consumption => "consumption",
            LedgerKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::TopUp, Self::Consumption, Self::Adjustment]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// An account's credit state: balance and auto-recharge settings (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditState {
    pub balance_minor: i64,
    pub auto_recharge_enabled: bool,
    pub threshold_minor: i64,
    pub recharge_amount_minor: i64,
}

/// How a debit of `amount` splits: what the balance covers, what is left to bill.
pub fn split_debit(balance_minor: i64, amount_minor: i64) -> (i64, i64) {
    let covered = amount_minor.clamp(0, balance_minor.max(0));
    (covered, amount_minor - covered)
}

/// Whether a debit that took the balance from `before` to `after` crosses
/// under the auto-recharge threshold.
pub fn crosses_threshold(state: &CreditState, before: i64, after: i64) -> bool {
    state.auto_recharge_enabled
        && state.recharge_amount_minor > 0
        && after < state.threshold_minor
        && before >= after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debit_takes_what_the_balance_covers_and_leaves_the_rest() {
        assert_eq!(split_debit(1000, 300), (300, 0));
        assert_eq!(split_debit(1000, 1000), (1000, 0));
        assert_eq!(split_debit(250, 1000), (250, 750));
        assert_eq!(split_debit(0, 1000), (0, 1000));
        assert_eq!(split_debit(1000, 0), (0, 0));
    }

    #[test]
    fn auto_recharge_fires_only_under_the_threshold_when_enabled() {
        let on = CreditState {
            balance_minor: 0,
            auto_recharge_enabled: true,
            threshold_minor: 1000,
            recharge_amount_minor: 5000,
        };
        assert!(crosses_threshold(&on, 1500, 900));
        assert!(!crosses_threshold(&on, 1500, 1000));
        let off = CreditState {
            auto_recharge_enabled: false,
            ..on
        };
        assert!(!crosses_threshold(&off, 1500, 900));
    }
}
