//! E-invoicing through the seller's approved platform (PA): the lifecycle
//! statuses of the French norm, where a document stands with the platform,
//! what happened to it, and which documents staff must correct.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::credit_note::CreditNote;
use super::issued::{AddressFieldsSnapshot, Invoice, InvoiceKind, InvoiceStatus};
use super::money::{Amount, Currency, Money};
use super::seller::Seller;

/// Declares the statuses once: name, lifecycle code (none for Comptoir's own
/// stages) and what it means. The name is a `tt`, as in the error codes'
/// table: utoipa reads a `serde(rename)` given as a plain token only.
macro_rules! statuses {
    ($($(#[$doc:meta])* $variant:ident = ($name:tt, $code:expr),)+) => {
        /// Where a document stands with the platform: Comptoir's own stages
        /// (`pending`, `transmitted`, `failed`), then the last lifecycle
        /// status of the French norm (XP Z12-012) the platform reported or
        /// Comptoir sent.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum EInvoiceStatus {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl EInvoiceStatus {
            pub const ALL: &'static [EInvoiceStatus] = &[$(EInvoiceStatus::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $(EInvoiceStatus::$variant => $name,)+ }
            }

            /// The lifecycle code (`200`...), none for Comptoir's own stages.
            pub fn code(self) -> Option<&'static str> {
                match self { $(EInvoiceStatus::$variant => $code,)+ }
            }
        }
    };
}

statuses! {
    /// Queued for the platform, not deposited yet (also while no platform
    /// is configured, or while it is retried).
    Pending = ("pending", None),
    /// Deposited: the platform took it and gave its id; no status yet.
    Transmitted = ("transmitted", None),
    /// Not deposited: the platform could not be reached after every retry.
    Failed = ("failed", None),
    /// 200 Déposée.
    Deposited = ("deposited", Some("200")),
    /// 201 Émise par la plateforme.
    IssuedByPlatform = ("issued_by_platform", Some("201")),
    /// 202 Reçue par la plateforme du destinataire.
    Received = ("received", Some("202")),
    /// 203 Mise à disposition.
    MadeAvailable = ("made_available", Some("203")),
    /// 204 Prise en charge.
    InHand = ("in_hand", Some("204")),
    /// 205 Approuvée.
    Approved = ("approved", Some("205")),
    /// 206 Approuvée partiellement.
    PartiallyApproved = ("partially_approved", Some("206")),
    /// 207 En litige.
    Disputed = ("disputed", Some("207")),
    /// 208 Suspendue.
    Suspended = ("suspended", Some("208")),
    /// 209 Complétée.
    Completed = ("completed", Some("209")),
    /// 210 Refusée: the buyer refused it (it needs a credit note).
    Refused = ("refused", Some("210")),
    /// 211 Paiement transmis.
    PaymentTransmitted = ("payment_transmitted", Some("211")),
    /// 212 Encaissée: the payment was collected.
    Collected = ("collected", Some("212")),
    /// 213 Rejetée: the platform rejected it (it needs a credit note).
    Rejected = ("rejected", Some("213")),
    /// 214 Visée.
    Targeted = ("targeted", Some("214")),
    /// 220 Annulée.
    Cancelled = ("cancelled", Some("220")),
    /// 221 Erreur de routage.
    RoutingError = ("routing_error", Some("221")),
    /// 224 Demande de paiement direct.
    DirectPaymentRequested = ("direct_payment_requested", Some("224")),
    /// 225 Affacturée.
    Factored = ("factored", Some("225")),
    /// 226 Affacturée confidentiel.
    FactoredConfidential = ("factored_confidential", Some("226")),
    /// 227 Changement de compte à payer.
    PaymentAccountChanged = ("payment_account_changed", Some("227")),
    /// 228 Non affacturée.
    NotFactored = ("not_factored", Some("228")),
}

impl EInvoiceStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == raw)
    }

    /// The status of a lifecycle code (`"213"`), if the norm lists it.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == Some(code))
    }

    /// Rejected by the platform (213) or refused by the buyer (210): the
    /// document is not accepted, and an issued invoice is only ever
    /// corrected by a credit note.
    pub fn flags(self) -> bool {
        matches!(self, EInvoiceStatus::Rejected | EInvoiceStatus::Refused)
    }
}

/// The UNTDID 1001 type of a document (BT-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    /// 380: an invoice of a period, or a reissued invoice.
    Invoice,
    /// 381: a credit note.
    CreditNote,
    /// 386: an advance payment invoice (facture d'acompte).
    Advance,
}

impl DocumentType {
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::Invoice => "380",
            DocumentType::CreditNote => "381",
            DocumentType::Advance => "386",
        }
    }

    /// The type of a code (`"381"`), if it is one of the three.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            DocumentType::Invoice,
            DocumentType::CreditNote,
            DocumentType::Advance,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }
}

/// Where a document stands with the platform, as its JSON shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub status: EInvoiceStatus,
    pub status_at: OffsetDateTime,
    pub reason: Option<String>,
    pub platform_id: Option<String>,
}

/// An e-invoiced document and where it stands with the platform: what an
/// `e_invoice.status_changed` event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentStanding {
    /// `inv_...` or `cn_...`.
    pub document_id: String,
    pub document_type: DocumentType,
    pub number: String,
    pub summary: Summary,
}

/// Whether staff must act on a document the platform rejected or the buyer
/// refused: until credit notes cover the whole invoice (`credited`, or
/// `void` from before credit notes), or a later status replaces the
/// rejection. `invoice`: the status of the document when it is an invoice,
/// none for a credit note.
pub fn needs_attention(status: EInvoiceStatus, invoice: Option<InvoiceStatus>) -> bool {
    status.flags()
        && !matches!(
            invoice,
            Some(InvoiceStatus::Credited) | Some(InvoiceStatus::Void)
        )
}

/// What happened to a document with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Queued for the platform when it was issued.
    Queued,
    /// Deposited: the platform answered with its id.
    Transmitted,
    /// Refused at deposit (recorded as 213, with the platform's reason).
    Rejected,
    /// Not deposited after every retry (`reason`: the last error).
    TransmissionFailed,
    /// A lifecycle status the platform reported through the webhook.
    StatusReceived,
    /// A status Comptoir queued for the platform (212 when a payment is
    /// recorded, with the amount and the day collected).
    StatusQueued,
    /// That status, delivered to the platform.
    StatusSent,
    /// That status, refused by the platform or not delivered after every
    /// retry, or never sendable (the document was not deposited).
    StatusFailed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Transmitted => "transmitted",
            EventKind::Rejected => "rejected",
            EventKind::TransmissionFailed => "transmission_failed",
            EventKind::StatusReceived => "status_received",
            EventKind::StatusQueued => "status_queued",
            EventKind::StatusSent => "status_sent",
            EventKind::StatusFailed => "status_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            EventKind::Queued,
            EventKind::Transmitted,
            EventKind::Rejected,
            EventKind::TransmissionFailed,
            EventKind::StatusReceived,
            EventKind::StatusQueued,
            EventKind::StatusSent,
            EventKind::StatusFailed,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// A party of a document as the platform routes it: its SIREN (scheme
/// 0002) and e-invoicing address (scheme 0225) when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    pub siren: Option<String>,
    pub vat_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub e_invoicing_address: Option<String>,
}

impl Party {
    fn seller(s: &Seller) -> Self {
        Party {
            name: s.name.clone(),
            siren: Some(s.siren.clone()).filter(|s| !s.is_empty()),
            vat_number: Some(s.vat_number.clone()).filter(|v| !v.is_empty()),
            country: Some("FR".into()),
            e_invoicing_address: s.e_invoicing_address.clone(),
        }
    }

    fn buyer(b: &AddressFieldsSnapshot) -> Self {
        Party {
            name: b.company_name.clone(),
            siren: b.siren.clone(),
            vat_number: b.vat_number.clone(),
            country: Some(b.country.clone()),
            e_invoicing_address: b.e_invoicing_address.clone(),
        }
    }
}

/// The invoice a credit note corrects (BT-25, BT-26).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedingInvoice {
    pub number: String,
    pub issue_date: Date,
}

/// The file deposited: its name, size and SHA-256 (hex), set when sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// What is sent beside a document's Factur-X file (the `metadata` part):
/// fixed when the document is issued, except `file`, set when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Comptoir's id of the document (`inv_...`, `cn_...`).
    pub document_id: String,
    pub number: String,
    /// `380` invoice, `381` credit note, `386` advance payment invoice.
    pub type_code: String,
    pub issue_date: Date,
    pub currency: String,
    pub seller: Party,
    pub buyer: Option<Party>,
    pub total_excluding_tax: String,
    pub tax_amount: String,
    pub total_including_tax: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preceding_invoice: Option<PrecedingInvoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

impl Metadata {
    /// An issued invoice's (a period's, a reissued or an acompte invoice).
    pub fn of_invoice(i: &Invoice) -> Self {
        let kind = match i.kind {
            InvoiceKind::Period => DocumentType::Invoice,
            InvoiceKind::Advance => DocumentType::Advance,
        };
        Metadata {
            document_id: i.id.to_string(),
            number: i.number.clone().unwrap_or_default(),
            type_code: kind.code().into(),
            issue_date: i.issue_date,
            currency: i.currency.code().into(),
            seller: Party::seller(&i.snapshot.seller),
            buyer: i.snapshot.buyer.as_ref().map(Party::buyer),
            total_excluding_tax: i.subtotal.amount(),
            tax_amount: i.tax.amount(),
            total_including_tax: i.total.amount(),
            preceding_invoice: None,
            file: None,
        }
    }

    pub fn of_credit_note(n: &CreditNote) -> Self {
        Metadata {
            document_id: n.id.to_string(),
            number: n.number.clone(),
            type_code: DocumentType::CreditNote.code().into(),
            issue_date: n.issue_date,
            currency: n.currency.code().into(),
            seller: Party::seller(&n.snapshot.seller),
            buyer: n.snapshot.buyer.as_ref().map(Party::buyer),
            total_excluding_tax: n.subtotal.amount(),
            tax_amount: n.tax.amount(),
            total_including_tax: n.total.amount(),
            preceding_invoice: Some(PrecedingInvoice {
                number: n.snapshot.invoice_number.clone(),
                issue_date: n.snapshot.invoice_issue_date,
            }),
            file: None,
        }
    }
}

/// A status Comptoir reports to the platform about a deposited document:
/// 212 (encaissée), with the amount collected (VAT included) and the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub code: String,
    pub document_id: String,
    pub number: String,
    /// The platform's id of the document, set when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
    pub amount: String,
    pub currency: String,
    pub collected_on: Date,
    /// Comptoir's id of the payment.
    pub payment_id: String,
}

impl StatusReport {
    /// 212: `amount` of the document `document_id` (`number`) collected on
    /// `collected_on` by the payment `payment_id`.
    pub fn collected(
        document_id: &str,
        number: &str,
        amount: Money,
        collected_on: Date,
        payment_id: &str,
    ) -> Self {
        StatusReport {
            code: EInvoiceStatus::Collected
                .code()
                .unwrap_or_default()
                .to_owned(),
            document_id: document_id.to_owned(),
            number: number.to_owned(),
            platform_id: None,
            amount: amount.amount(),
            currency: amount.currency().code().to_owned(),
            collected_on,
            payment_id: payment_id.to_owned(),
        }
    }

    /// The amount collected, read back.
    pub fn money(&self) -> Option<Money> {
        let currency = Currency::parse(&self.currency)?;
        Amount::parse(&self.amount)
            .and_then(|a| a.in_currency(currency))
            .ok()
    }
}

/// What the platform answered a deposit or a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformAnswer {
    /// Taken: a deposit's answer gives the platform's id of the document.
    Accepted { id: Option<String> },
    /// Refused for good (400, 409 or 422): a deposit refused so is
    /// rejected (213), with the platform's reason.
    Refused { reason: String },
    /// Not taken now (unreachable, 5xx, 401, 403, 404, 429...): tried again.
    Unavailable { error: String },
}

/// Reads the platform's answer: its HTTP status and body. A 2xx body may be
/// JSON with the document's `id`; a refusal's reason is the JSON's
/// `reason`, `detail`, `message` or `error`, or the body's text.
pub fn read_answer(status: u16, body: &[u8]) -> PlatformAnswer {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        names.iter().find_map(|n| {
            json.as_ref()?
                .get(*n)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(reason)
        })
    };
    let text = || {
        let t = String::from_utf8_lossy(body);
        let t = t.trim();
        if t.is_empty() {
            format!("HTTP {status}")
        } else {
            reason(&format!("HTTP {status}: {t}"))
        }
    };
    match status {
        200..=299 => PlatformAnswer::Accepted {
            id: field(&["id", "platform_id"]),
        },
        400 | 409 | 422 => PlatformAnswer::Refused {
            reason: field(&["reason", "detail", "message", "error"]).unwrap_or_else(text),
        },
        _ => PlatformAnswer::Unavailable { error: text() },
    }
}

/// The most characters of a reason kept (the platform's or an error).
pub const REASON_MAX_CHARS: usize = 500;

/// `text` cut to [`REASON_MAX_CHARS`] characters.
pub fn reason(text: &str) -> String {
    text.chars().take(REASON_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name_and_its_code() {
        for s in EInvoiceStatus::ALL {
            assert_eq!(EInvoiceStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            if let Some(code) = s.code() {
                assert_eq!(EInvoiceStatus::from_code(code), Some(*s));
            }
        }
        assert_eq!(
            EInvoiceStatus::from_code("200"),
            Some(EInvoiceStatus::Deposited)
        );
        assert_eq!(
            EInvoiceStatus::from_code("212"),
            Some(EInvoiceStatus::Collected)
        );
        assert_eq!(EInvoiceStatus::from_code("299"), None);
        assert_eq!(EInvoiceStatus::from_code("pending"), None);
    }

    #[test]
    fn the_migrations_list_every_status_and_event_kind() {
        for sql in [
            include_str!("../../migrations/sqlite/0019_e_invoicing.sql"),
            include_str!("../../migrations/postgres/0019_e_invoicing.sql"),
        ] {
            for s in EInvoiceStatus::ALL {
                assert!(sql.contains(&format!("'{}'", s.as_str())), "{s:?}");
            }
            for raw in ["queued", "status_failed", "transmission_failed"] {
                let kind = EventKind::parse(raw).unwrap();
                assert!(sql.contains(&format!("'{}'", kind.as_str())));
            }
        }
    }

    #[test]
    fn the_platforms_answer_is_an_id_a_refusal_with_its_reason_or_unavailable() {
        assert_eq!(
            read_answer(201, br#"{"id": "pa-42", "status": "received"}"#),
            PlatformAnswer::Accepted {
                id: Some("pa-42".into())
            }
        );
        assert_eq!(read_answer(202, b""), PlatformAnswer::Accepted { id: None });
        assert_eq!(
            read_answer(422, br#"{"reason": "BR-FR-11: buyer SIREN missing"}"#),
            PlatformAnswer::Refused {
                reason: "BR-FR-11: buyer SIREN missing".into()
            }
        );
        assert_eq!(
            read_answer(409, b"duplicate invoice number"),
            PlatformAnswer::Refused {
                reason: "HTTP 409: duplicate invoice number".into()
            }
        );
        for status in [401, 403, 404, 408, 429, 500, 502, 503] {
            assert!(
                matches!(
                    read_answer(status, b"{}"),
                    PlatformAnswer::Unavailable { .. }
                ),
                "{status}"
            );
        }
        let long = "x".repeat(2000);
        let PlatformAnswer::Refused { reason } = read_answer(400, long.as_bytes()) else {
            panic!("a refusal")
        };
        assert_eq!(reason.chars().count(), REASON_MAX_CHARS);
    }

    #[test]
    fn a_rejected_or_refused_invoice_needs_attention_until_credited() {
        use EInvoiceStatus::*;
        for s in [Rejected, Refused] {
            assert!(needs_attention(s, Some(InvoiceStatus::Issued)));
            assert!(needs_attention(s, Some(InvoiceStatus::Paid)));
            assert!(needs_attention(s, None), "a credit note");
            assert!(!needs_attention(s, Some(InvoiceStatus::Credited)));
            assert!(!needs_attention(s, Some(InvoiceStatus::Void)));
        }
        for s in [Pending, Failed, Deposited, Collected, Disputed] {
            assert!(!needs_attention(s, Some(InvoiceStatus::Issued)));
        }
    }
}
