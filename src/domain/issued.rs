//! An invoice: a draft (recomputed whenever read, no number yet) or an
//! issued one (the immutable snapshot of what was issued) with its status.
//! Services store and read it; renderings and emails only read it.

use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use super::exchange::VatInEur;
use super::ids::{AccountId, InvoiceId};
use super::invoice::{LineKind, TaxTreatment};
use super::money::{Currency, Money};
use super::seller::Seller;
use super::tax::Mention;

/// Where an issued invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Made by a billing run, not numbered yet: recomputed whenever read
    /// until it is finalized.
    Draft,
    /// Issued and not paid yet.
    Issued,
    /// Paid.
    Paid,
    /// Cancelled by customer service before credit notes existed (history).
    Void,
    /// Credit notes cover its whole total.
    Credited,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Credited => "credited",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Issued,
            Self::Paid,
            Self::Void,
            Self::Credited,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// What an invoice bills: a month (the billing runs' invoices), or an
/// advance payment (facture d'acompte: a top-up of prepaid credits, paid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// The invoice of a period, made by a billing run.
    Period,
    /// An advance payment invoice: prepaid credits bought by a top-up,
    /// issued when its payment succeeded, and deducted by later invoices.
    Advance,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Period => "period",
            InvoiceKind::Advance => "advance",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Period, Self::Advance]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// What an acompte invoice keeps of the top-up it invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceOf {
    pub top_up_id: String,
    /// When the top-up's payment succeeded.
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: time::OffsetDateTime,
}

/// What an issued invoice keeps of the moment it was issued: later changes
/// to the address, prices or payment methods never alter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The seller's identity on the issue date.
    #[serde(default)]
    pub seller: Seller,
    pub account_name: String,
    pub period_start: Date,
    pub period_end: Date,
    pub lines: Vec<SnapshotLine>,
    pub tax_treatment: TaxTreatment,
    /// In percent.
    pub tax_rate: String,
    /// The buyer's territory the treatment was decided from (`FR`, `MC`,
    /// `RE`, `DE`...); absent on invoices issued before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_territory: Option<String>,
    /// The VAT mention printed, as it was worded on the issue date (older
    /// invoices: the treatment's mention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_mention: Option<Mention>,
    /// The category of the operation, a mandatory mention since the
    /// e-invoicing reform: always services here. Absent on invoices issued
    /// before it was printed (they stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_category: Option<OperationCategory>,
    pub buyer: Option<AddressFieldsSnapshot>,
    /// The masked default payment method, debited on the issue date.
    pub payment_method: Option<String>,
    /// What was deducted from the amount due out of the customer balance
    /// when it was issued, shown under the totals (never as a line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deductions: Vec<Deduction>,
    /// The fully credited invoice this one re-invoices (`POST .../reissue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaced>,
    /// What prepaid credits already paid of its consumption, deducted under
    /// the totals (excluding and including VAT), each acompte drawn on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prepaid: Vec<super::advance::Prepaid>,
    /// An acompte invoice: the top-up it invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<AdvanceOf>,
    /// A non-EUR invoice's VAT total in euros (CGI art. 289-IV), at the rate
    /// of its issue date or the last one before; none in EUR or without VAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_in_eur: Option<VatInEur>,
}

/// What an invoice sells (French CTC categories: goods, services, both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationCategory {
    /// "Prestations de services": telephony licenses, numbers, usage.
    Services,
}

/// The invoice a reissued invoice replaces, as printed on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    pub invoice_id: String,
    pub number: String,
    pub issue_date: Date,
}

/// An amount of the customer balance deducted from an invoice: from a
/// credit note (its number) or from an overpayment (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deduction {
    pub credit_note_number: Option<String>,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLine {
    // A line's id is its invoice's id and its position (`LineId::of`):
    // nothing to store, the same for a draft read twice.
    pub kind: LineKind,
    pub description: String,
    pub plan: Option<String>,
    pub quantity: u32,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    pub days: Option<u8>,
    pub days_in_period: Option<u8>,
    /// Proration lines: the activation day (invoices issued before it was
    /// kept say it in the description only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<Date>,
    /// The days the line bills; absent for charges and for invoices issued
    /// before it was kept (their lines bill the invoice's period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_start: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_end: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFieldsSnapshot {
    pub company_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub region: Option<String>,
    pub country: String,
    pub vat_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_invoicing_address: Option<String>,
}

/// An invoice, read back: issued, or a draft composed now.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: InvoiceId,
    pub account_id: AccountId,
    /// None for a draft.
    pub number: Option<String>,
    pub kind: InvoiceKind,
    pub period: String,
    pub status: InvoiceStatus,
    /// The day it was issued; for a draft, the day it will be finalized at
    /// the earliest.
    pub issue_date: Date,
    pub currency: Currency,
    pub subtotal: Money,
    pub tax: Money,
    pub total: Money,
    pub snapshot: Snapshot,
    pub paid_at: Option<time::OffsetDateTime>,
    pub voided_at: Option<time::OffsetDateTime>,
    pub void_reason: Option<String>,
    /// Payments, failed debits and the amounts paid and due.
    pub settlement: super::invoice_payment::Settlement,
    /// A draft that cannot be finalized yet, and why.
    pub hold: Option<Hold>,
    /// Its stored e-invoice files (issued invoices; `None` for drafts).
    pub e_invoice: Option<EInvoiceFiles>,
}

/// The e-invoice files of an issued invoice or credit note, stored once
/// when it was issued: what the downloads return, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EInvoiceFiles {
    /// The Factur-X PDF (PDF/A-3B with the CII embedded).
    pub pdf: StoredFile,
    /// The UN/CEFACT CII XML, EN 16931 profile.
    pub cii: StoredFile,
    /// The UBL 2.1 XML, EN 16931 profile.
    pub ubl: StoredFile,
    pub stored_at: time::OffsetDateTime,
}

/// One stored file: its hex SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
}

impl Snapshot {
    /// The VAT mention this invoice prints.
    pub fn mention(&self) -> Option<Mention> {
        self.tax_mention
            .clone()
            .or_else(|| self.tax_treatment.mention())
    }
}

/// Why a draft is held: it is not finalized (no number) until this is
/// resolved; the finalizer tries again every pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// No verified primary billing address: the VAT treatment and the
    /// buyer's mentions cannot be decided.
    BillingAddressUnverified,
    /// The buyer's VAT number (another EU state) decides reverse charge, and
    /// no conclusive check of it is known: VIES could not answer.
    VatNumberUnchecked,
    /// A non-EUR invoice with VAT, and no exchange rate of its currency on
    /// or before its issue date: its VAT cannot be stated in euros (CGI
    /// art. 289-IV).
    ExchangeRateMissing,
}

/// A held draft: the reason and what staff should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: HoldReason,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_what_it_writes_and_nothing_else() {
        for s in [
            InvoiceStatus::Draft,
            InvoiceStatus::Issued,
            InvoiceStatus::Paid,
            InvoiceStatus::Void,
            InvoiceStatus::Credited,
        ] {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(InvoiceStatus::parse("cancelled"), None);
        assert_eq!(InvoiceStatus::parse("Paid"), None);
    }

    #[test]
    fn a_kind_reads_back_what_it_writes_and_nothing_else() {
        for k in [InvoiceKind::Period, InvoiceKind::Advance] {
            assert_eq!(InvoiceKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(InvoiceKind::parse("acompte"), None);
    }
}
