//! Licenses, quotes and additional phone numbers (SPEC.md section 3).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::ids::{AccountId, LicenseId, PhoneNumberId, QuoteId, UserId};

pub const MAX_QUANTITY: u32 = 500;
pub const QUOTE_VALIDITY: time::Duration = time::Duration::minutes(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    Active,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub id: LicenseId,
    pub account_id: AccountId,
    pub plan: String,
    pub activation_date: Date,
    pub removal_date: Option<Date>,
    pub user_id: Option<UserId>,
    /// What its activation month costs (prorated), in minor units.
    pub prorated_amount_minor: i64,
    pub created_at: OffsetDateTime,
}

impl License {
    pub fn status(&self) -> LicenseStatus {
        if self.removal_date.is_some() {
            LicenseStatus::Removed
        } else {
            LicenseStatus::Active
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub id: QuoteId,
    pub account_id: AccountId,
    pub plan: String,
    pub quantity: u32,
    pub activation_date: Date,
    pub unit_price_minor: i64,
    pub prorated_unit_minor: i64,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumberLine {
    pub id: PhoneNumberId,
    pub account_id: AccountId,
    pub country: String,
    pub number: String,
    pub activation_date: Date,
    pub removal_date: Option<Date>,
    pub prorated_amount_minor: i64,
    pub created_at: OffsetDateTime,
}

/// An activation date staff may choose: today or earlier in the current month.
pub fn valid_backdate(date: Date, today: Date) -> bool {
    date <= today && date.year() == today.year() && date.month() == today.month()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn staff_may_backdate_within_the_current_month_only() {
        let today = date!(2026 - 04 - 09);
        assert!(valid_backdate(date!(2026 - 04 - 01), today));
        assert!(valid_backdate(today, today));
        assert!(!valid_backdate(date!(2026 - 04 - 10), today));
        assert!(!valid_backdate(date!(2026 - 03 - 31), today));
        assert!(!valid_backdate(date!(2025 - 04 - 05), today));
    }
}
