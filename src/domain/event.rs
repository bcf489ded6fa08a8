//! Events: what happened to an account that an integrator may react to.
//! The catalog of types is this one table; each type names the resource its
//! `data.object` is (the resource as the API returns it).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the catalog once: the enum, its wire names, the resource each
/// carries and what it means.
macro_rules! catalog {
    ($($variant:ident => $name:literal, $object:literal, $doc:literal;)*) => {
        /// The type of an event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum EventType {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl EventType {
            /// Every type, in the catalog's order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The wire name (`invoice.finalized`).
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($name => Some(EventType::$variant),)* _ => None }
            }

            /// The schema name of the resource `data.object` carries.
            pub fn object(self) -> &'static str {
                match self { $(EventType::$variant => $object,)* }
            }

            /// What the event means.
            pub fn description(self) -> &'static str {
                match self { $(EventType::$variant => $doc,)* }
            }
        }
    };
}

catalog! {
    InvoiceDraftCreated => "invoice.draft_created", "InvoiceDto", "A billing run made a draft invoice; it is finalized after its grace period.";
    InvoiceFinalized => "invoice.finalized", "InvoiceDto", "An invoice was issued: it has its number and its e-invoice.";
    InvoicePaymentSucceeded => "invoice.payment_succeeded", "InvoiceDto", "A payment was recorded against an invoice.";
    InvoicePaymentFailed => "invoice.payment_failed", "InvoiceDto", "A payment of an invoice failed.";
    InvoicePaid => "invoice.paid", "InvoiceDto", "An invoice is paid in full.";
    CreditNoteIssued => "credit_note.issued", "CreditNoteDto", "A credit note (avoir) was issued.";
    LicenseAdded => "license.added", "LicenseDto", "A license was added.";
    LicenseRemoved => "license.removed", "LicenseDto", "A license was removed.";
    LicenseAssigned => "license.assigned", "LicenseDto", "A license was assigned to a user.";
    LicenseUnassigned => "license.unassigned", "LicenseDto", "A license was taken from its user.";
    PhoneNumberAdded => "phone_number.added", "PhoneNumberDto", "An additional phone number was added.";
    PhoneNumberRemoved => "phone_number.removed", "PhoneNumberDto", "An additional phone number was removed.";
    CreditsTopUpSucceeded => "credits.top_up_succeeded", "TopUpDto", "Prepaid credits were topped up.";
    CreditsLowBalance => "credits.low_balance", "CreditsDto", "The credit balance fell under the auto-recharge threshold.";
    PaymentMethodAdded => "payment_method.added", "PaymentMethodDto", "A card or an IBAN was added.";
    PaymentMethodExpiring => "payment_method.expiring", "PaymentMethodDto", "A card expires within 30 days (sent once per card).";
    BillingAddressVerified => "billing_address.verified", "BillingAddressDto", "Staff verified a billing address.";
    EInvoiceStatusChanged => "e_invoice.status_changed", "EInvoiceStatusDto", "An e-invoice's status with the approved platform changed.";
    WebhookEndpointDisabled => "webhook_endpoint.disabled", "WebhookEndpointDto", "Comptoir disabled an endpoint whose deliveries failed for 3 days.";
}

/// In the OpenAPI document: the wire names (the derive would show the
/// variants' Rust names, not their `serde` names given through the macro).
impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The type of an event; the `webhooks` section has each one's object",
            ))
            .enum_values(Some(names))
            .examples(["invoice.finalized"])
            .into()
    }
}

impl ToSchema for EventType {
    fn name() -> std::borrow::Cow<'static, str> {
        "EventType".into()
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events an endpoint receives: some types, or every one (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    Types(Vec<EventType>),
}

impl Subscription {
    pub fn wants(&self, t: EventType) -> bool {
        match self {
            Subscription::All => true,
            Subscription::Types(types) => types.contains(&t),
        }
    }

    /// `["*"]`, or the types' names: how the API shows it and the store keeps it.
    pub fn names(&self) -> Vec<String> {
        match self {
            Subscription::All => vec!["*".to_owned()],
            Subscription::Types(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }

    /// Reads names: `*` alone, or 1 to 50 known types (repeats dropped).
    /// Returns the unknown names on error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, Vec<String>> {
        if names.len() == 1 && names[0].as_ref() == "*" {
            return Ok(Subscription::All);
        }
        let mut types = Vec::new();
        let mut unknown = Vec::new();
        for n in names {
            match EventType::parse(n.as_ref()) {
                Some(t) if !types.contains(&t) => types.push(t),
                Some(_) => {}
                None => unknown.push(n.as_ref().to_owned()),
            }
        }
        if !unknown.is_empty() || types.is_empty() {
            return Err(unknown);
        }
        Ok(Subscription::Types(types))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_name_and_serialises_to_it() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(EventType::ALL.len(), 19);
    }

    #[test]
    fn the_openapi_schema_lists_the_wire_names() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(EventType::schema()).unwrap();
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(schema["enum"], serde_json::json!(names));
    }

    #[test]
    fn a_subscription_is_a_star_or_known_types() {
        assert_eq!(Subscription::parse(&["*"]), Ok(Subscription::All));
        assert!(Subscription::All.wants(EventType::LicenseAdded));
        let s = Subscription::parse(&["license.added", "invoice.paid", "license.added"]).unwrap();
        assert!(s.wants(EventType::InvoicePaid) && !s.wants(EventType::LicenseRemoved));
        assert_eq!(s.names(), vec!["license.added", "invoice.paid"]);
        assert_eq!(
            Subscription::parse(&["license.added", "nope", "*"]),
            Err(vec!["nope".to_owned(), "*".to_owned()])
        );
        assert_eq!(Subscription::parse::<&str>(&[]), Err(vec![]));
    }
}
