//! The one source of "now" (SPEC.md section 2). `COMPTOIR_NOW` fixes it, so
//! every date rule can be tested and demonstrated at any date.

use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<RwLock<Option<OffsetDateTime>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at `at` until [`Clock::set`] moves it.
    pub fn fixed(at: OffsetDateTime) -> Self {
        Self(Arc::new(RwLock::new(Some(at))))
    }

    pub fn now(&self) -> OffsetDateTime {
        let fixed = *self.0.read().unwrap_or_else(|e| e.into_inner());
        fixed.unwrap_or_else(OffsetDateTime::now_utc)
    }

    /// Fixes the clock at `at` (tests move time this way, never by sleeping).
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }
}

/// Wall-clock time to the second: what is paced by real time (deliveries,
/// leases), not by the business clock that `COMPTOIR_NOW` or a test clock
/// may fix.
pub fn wall_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_fixed_clock_stays_where_it_is_put() {
        let clock = Clock::fixed(datetime!(2026-04-09 10:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-04-09 10:00 UTC));
        let shared = clock.clone();
        shared.set(datetime!(2026-05-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-05-01 00:00 UTC));
    }

    #[test]
    fn the_system_clock_moves() {
        let before = OffsetDateTime::now_utc();
        assert!(Clock::system().now() >= before);
    }
}
