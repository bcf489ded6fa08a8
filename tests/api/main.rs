//! The integration suite: the real server on port 0, spoken to over HTTP.
//! `TEST_DATABASE_URL=postgres://...` runs it on PostgreSQL.

mod accounts;
mod acompte;
mod addresses;
mod audit;
mod auth;
mod charges;
mod concurrency;
mod consumption;
mod contacts;
mod credit_notes;
mod credits;
mod currencies;
mod demo;
mod documents;
mod emails;
mod errors;
mod faults;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod invoice_payments;
mod invoices;
mod licenses;
mod lifecycle;
mod limits;
mod matrix;
mod payments;
mod plans;
mod project;
mod secrets;
mod smtp;
mod tax;
mod users;
mod validation;
