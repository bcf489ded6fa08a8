//! Pure types and rules: no HTTP, no SQL. Everything here is unit-tested.

pub mod account;
pub mod address;
pub mod advance;
pub mod audit;
pub mod card;
pub mod charge;
pub mod consumption;
pub mod contact;
pub mod credit_note;
pub mod document;
pub mod exchange;
pub mod iban;
pub mod ids;
pub mod invoice;
pub mod invoice_payment;
pub mod issued;
pub mod license;
pub mod money;
pub mod payment;
pub mod plan;
pub mod proration;
pub mod role;
pub mod seller;
pub mod tax;
pub mod user;
pub mod vat_check;
