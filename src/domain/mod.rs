//! Pure types and rules: no HTTP, no SQL. Everything here is unit-tested.

pub mod account;
pub mod address;
pub mod audit;
pub mod contact;
pub mod document;
pub mod ids;
pub mod money;
pub mod plan;
pub mod role;
