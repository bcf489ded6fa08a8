//! Opaque, prefixed identifiers (`acc_…`, `aud_…`), one newtype per resource.
//!
//! The body is a UUIDv7 in hex, so ids sort roughly by creation time, which
//! gives cursor pagination a stable, index-friendly order.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, Uuid::now_v7().simple()))
            }

            /// Accepts `prefix_` followed by 1 to 64 ASCII letters or digits.
            pub fn parse(raw: &str) -> Option<Self> {
                let body = raw.strip_prefix($prefix)?.strip_prefix('_')?;
                let ok = !body.is_empty()
                    && body.len() <= 64
                    && body.bytes().all(|b| b.is_ascii_alphanumeric());
                ok.then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from the store, which only holds valid ids.
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An account (a customer company).
    AccountId,
    "acc"
);

impl AccountId {
    /// What a test account's id starts with after `acc_`: the requests of
    /// the others never look for a clock (a live id is `acc_` and hex
    /// digits, or a name given by the demo).
    const TEST: &'static str = "test";

    /// A new, unique id for an account that lives on a test clock.
    pub fn generate_test() -> Self {
        Self(format!(
            "{}_{}{}",
            Self::PREFIX,
            Self::TEST,
            Uuid::now_v7().simple()
        ))
    }

    /// Whether the id is a test account's (it may still have been deleted).
    pub fn is_test(&self) -> bool {
        self.0[Self::PREFIX.len() + 1..].starts_with(Self::TEST)
    }
}
id_type!(
    /// A test clock: the time its test accounts live at.
    TestClockId,
    "clk"
);
id_type!(
    /// A useful contact.
    ContactId,
    "con"
);
id_type!(
    /// A billing address.
    BillingAddressId,
    "adr"
);
id_type!(
    /// A request to change a billing address.
    ChangeRequestId,
    "bcr"
);
id_type!(
    /// A document.
    DocumentId,
    "doc"
);
id_type!(
    /// A payment method (card or SEPA debit).
    PaymentMethodId,
    "pm"
);
id_type!(
    /// A credit top-up.
    TopUpId,
    "tup"
);
id_type!(
    /// A line of the credit ledger.
    LedgerEntryId,
    "cle"
);
id_type!(
    /// A user of the customer's telephony.
    UserId,
    "usr"
);
id_type!(
    /// A team of users.
    TeamId,
    "tea"
);
id_type!(
    /// An event (`invoice.finalized`...), also the `webhook-id` of its deliveries.
    EventId,
    "evt"
);
id_type!(
    /// A webhook endpoint.
    WebhookEndpointId,
    "we"
);
id_type!(
    /// The delivery of one event to one webhook endpoint.
    WebhookDeliveryId,
    "whd"
);
id_type!(
    /// One attempt at a webhook delivery.
    WebhookAttemptId,
    "wha"
);
id_type!(
    /// A license.
    LicenseId,
    "lic"
);
id_type!(
    /// A license quote.
    QuoteId,
    "quo"
);
id_type!(
    /// An additional phone number.
    PhoneNumberId,
    "num"
);
id_type!(
    /// A consumption record (a call or an SMS).
    ConsumptionId,
    "cns"
);
id_type!(
    /// An invoice (a draft keeps its id when it is issued).
    InvoiceId,
    "inv"
);
id_type!(
    /// A line of an invoice: the invoice's id and the line's position, so a
    /// draft's lines keep their ids from one reading to the next.
    InvoiceLineId,
    "il"
);

impl InvoiceLineId {
    /// The id of line `index` (from 0) of `invoice`.
    pub fn of(invoice: &InvoiceId, index: usize) -> Self {
        let body = invoice
            .as_str()
            .strip_prefix("inv_")
            .unwrap_or(invoice.as_str());
        Self(format!("il_{body}{:04}", index + 1))
    }
}
id_type!(
    /// An email address that receives the account's invoices.
    RecipientId,
    "rcp"
);
id_type!(
    /// An invoice email in the outbox: one per invoice and recipient.
    InvoiceEmailId,
    "eml"
);
id_type!(
    /// A one-off charge, billed on the account's next invoice.
    ChargeId,
    "chg"
);
id_type!(
    /// An audit event.
    AuditEventId,
    "aud"
);
id_type!(
    /// A payment received for an invoice.
    InvoicePaymentId,
    "pay"
);
id_type!(
    /// A failed debit of an invoice.
    InvoicePaymentFailureId,
    "pyf"
);
id_type!(
    /// A line of an account's customer balance.
    BalanceEntryId,
    "cbe"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = AccountId::generate();
        assert!(id.as_str().starts_with("acc_"));
        assert_eq!(AccountId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_with_another_prefix_or_bad_characters_are_refused() {
        for raw in ["", "acc", "acc_", "aud_123", "acc_12 3", "acc_é", "xacc_1"] {
            assert_eq!(AccountId::parse(raw), None, "{raw:?}");
        }
        assert!(AccountId::parse(&format!("acc_{}", "a".repeat(65))).is_none());
    }

    #[test]
    fn only_test_account_ids_say_they_are() {
        let test = AccountId::generate_test();
        assert!(test.is_test(), "{test}");
        assert_eq!(AccountId::parse(test.as_str()), Some(test));
        for _ in 0..100 {
            assert!(!AccountId::generate().is_test());
        }
        assert!(!AccountId::parse("acc_demo").unwrap().is_test());
    }

    #[test]
    fn generated_ids_are_ordered_by_creation() {
        let a = AuditEventId::generate();
        let b = AuditEventId::generate();
        assert!(a < b);
    }
}
id_type!(
    /// A credit note (facture d'avoir) of an issued invoice.
    CreditNoteId,
    "cn"
);
id_type!(
    /// A refund of what a credit note put on the customer balance.
    RefundId,
    "rfd"
);
id_type!(
    /// What a monthly invoice deducted from an acompte invoice.
    AdvanceAllocationId,
    "aal"
);
id_type!(
    /// A message for the approved e-invoicing platform (a document or a status).
    EInvoiceMessageId,
    "eim"
);
id_type!(
    /// What happened to a document with the approved e-invoicing platform.
    EInvoiceEventId,
    "eie"
);
