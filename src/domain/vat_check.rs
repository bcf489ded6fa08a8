//! VAT number checks: what VIES (the EU's VAT Information Exchange System)
//! answered about a buyer's VAT number, or what staff recorded by hand, and
//! when a number must be checked again before an invoice relies on it.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

/// How long a conclusive check holds: an invoice whose buyer's last
/// conclusive check is older asks VIES again before it is finalized.
pub const FRESH_FOR: Duration = Duration::days(30);

/// How long an automatic check waits after an attempt VIES did not answer:
/// a finalizer passing every minute over held drafts would otherwise ask a
/// member state's service that is down once a minute per draft (and VIES
/// blocks callers that ask too often). Staff's own checks always ask.
pub const RETRY_AFTER: Duration = Duration::minutes(15);

/// The longest consultation number or error kept from VIES's answer.
const MAX_TEXT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VatCheckStatus {
    /// VIES says the number is registered.
    Valid,
    /// VIES says it is not.
    Invalid,
    /// VIES could not answer, and no earlier answer is known.
    Unavailable,
    /// Staff verified the number otherwise (counts as valid), with a reason.
    Manual,
}

impl VatCheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VatCheckStatus::Valid => "valid",
            VatCheckStatus::Invalid => "invalid",
            VatCheckStatus::Unavailable => "unavailable",
            VatCheckStatus::Manual => "manual",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Valid, Self::Invalid, Self::Unavailable, Self::Manual]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The check of an address's current VAT number. A new number has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatCheck {
    /// The last conclusive result (`valid`, `invalid`, `manual`), or
    /// `unavailable` when VIES never answered for this number.
    pub status: VatCheckStatus,
    /// When that result was obtained (for `unavailable`, the last attempt).
    pub checked_at: OffsetDateTime,
    /// VIES's consultation number (its `requestIdentifier`), the proof
    /// kept with a reverse-charge invoice.
    pub consultation_number: Option<String>,
    /// Why staff verified the number by hand (`manual` only).
    pub reason: Option<String>,
    /// When VIES was last asked, whatever it answered.
    pub last_attempt_at: Option<OffsetDateTime>,
    /// Why VIES did not answer the last time it was asked (none when it did).
    pub last_attempt_error: Option<String>,
}

/// What VIES answered one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViesAnswer {
    Valid {
        consultation_number: Option<String>,
    },
    Invalid {
        consultation_number: Option<String>,
    },
    /// No answer about the number: a timeout, an HTTP error, a member state's
    /// service down, an answer that cannot be read. Never evidence that the
    /// number is wrong.
    Unavailable {
        error: String,
    },
}

impl VatCheck {
    /// A result to rely on: VIES answered, or staff verified by hand.
    pub fn is_conclusive(&self) -> bool {
        self.status != VatCheckStatus::Unavailable
    }

    /// Reverse charge applies: VIES said valid, or staff verified it.
    pub fn counts_as_valid(&self) -> bool {
        matches!(self.status, VatCheckStatus::Valid | VatCheckStatus::Manual)
    }

    /// The check once VIES answered at `now`, after `previous` (the check of
    /// the same number, if any). A conclusive answer replaces what was
    /// known; an unavailable one keeps the last conclusive result and only
    /// notes the attempt ("keep the last result").
    pub fn after_vies(
        previous: Option<&VatCheck>,
        answer: &ViesAnswer,
        now: OffsetDateTime,
    ) -> Self {
        let conclusive = |status, consultation_number: &Option<String>| VatCheck {
            status,
            checked_at: now,
            consultation_number: consultation_number.clone(),
            reason: None,
            last_attempt_at: Some(now),
            last_attempt_error: None,
        };
        match answer {
            ViesAnswer::Valid {
                consultation_number,
            } => conclusive(VatCheckStatus::Valid, consultation_number),
            ViesAnswer::Invalid {
                consultation_number,
            } => conclusive(VatCheckStatus::Invalid, consultation_number),
            ViesAnswer::Unavailable { error } => match previous.filter(|p| p.is_conclusive()) {
                Some(p) => VatCheck {
                    last_attempt_at: Some(now),
                    last_attempt_error: Some(error.clone()),
                    ..p.clone()
                },
                None => VatCheck {
                    status: VatCheckStatus::Unavailable,
                    checked_at: now,
                    consultation_number: None,
                    reason: None,
                    last_attempt_at: Some(now),
                    last_attempt_error: Some(error.clone()),
                },
            },
        }
    }

    /// Staff's verification by hand at `now`, after `previous` (whose VIES
    /// attempts stay noted).
    pub fn manual(previous: Option<&VatCheck>, reason: String, now: OffsetDateTime) -> Self {
        VatCheck {
            status: VatCheckStatus::Manual,
            checked_at: now,
            consultation_number: None,
            reason: Some(reason),
            last_attempt_at: previous.and_then(|p| p.last_attempt_at),
            last_attempt_error: previous.and_then(|p| p.last_attempt_error.clone()),
        }
    }

    /// Whether an invoice must ask VIES again before relying on `check`: no
    /// conclusive result, or one older than [`FRESH_FOR`].
    pub fn is_stale(check: Option<&VatCheck>, now: OffsetDateTime) -> bool {
        check.is_none_or(|c| !c.is_conclusive() || now - c.checked_at > FRESH_FOR)
    }

    /// Whether an invoice asks VIES now: the check is stale, and the last
    /// attempt (if any) is at least [`RETRY_AFTER`] old.
    pub fn is_due(check: Option<&VatCheck>, now: OffsetDateTime) -> bool {
        Self::is_stale(check, now)
            && check
                .and_then(|c| c.last_attempt_at)
                .is_none_or(|at| now - at >= RETRY_AFTER)
    }
}

/// Splits a VAT number into VIES's member state code and the number:
/// `DE123456789` is `DE` and `123456789`, Greece's `EL123456789` is `EL`.
pub fn split_vat(number: &str) -> Option<(&str, &str)> {
    let prefix = number.get(..2)?;
    let rest = &number[2..];
    let ok = prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some((prefix, rest))
}

/// The seller's VAT number as VIES wants the requester: without spaces, dots
/// or dashes, split into its member state code and number.
pub fn requester(seller_vat_number: &str) -> Option<(String, String)> {
    let compact: String = seller_vat_number
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    split_vat(&compact).map(|(c, n)| (c.to_owned(), n.to_owned()))
}

/// The body of `POST /check-vat-number`, as VIES reads it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViesRequest<'a> {
    pub country_code: &'a str,
    pub vat_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_member_state_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_number: Option<&'a str>,
}

/// The members of VIES's answers that decide (both its success body and
/// its error body `{actionSucceed: false, errorWrappers: [{error}]}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViesBody {
    valid: Option<bool>,
    request_identifier: Option<String>,
    /// `VALID`, `INVALID`, or an error such as `MS_UNAVAILABLE`.
    user_error: Option<String>,
    action_succeed: Option<bool>,
    #[serde(default)]
    error_wrappers: Vec<ErrorWrapper>,
}

#[derive(Debug, Deserialize)]
struct ErrorWrapper {
    error: Option<String>,
}

/// A short printable text from the answer, or none.
fn printable(raw: Option<&str>) -> Option<String> {
    let text = raw?.trim();
    let ok =
        !text.is_empty() && text.len() <= MAX_TEXT && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_owned())
}

/// Reads VIES's answer to `POST /check-vat-number` (HTTP status and body).
///
/// Only two shapes say something about the number: `valid: true` (valid),
/// and `valid: false` in a successful answer that names no error (invalid).
/// Everything else is unavailable: an HTTP error, an error body, an error
/// named in `userError` (a member state's service down answers `valid:
/// false` with `MS_UNAVAILABLE`), a body that cannot be read.
pub fn read_answer(status: u16, body: &[u8]) -> ViesAnswer {
    let unavailable = |error: String| ViesAnswer::Unavailable { error };
    let parsed: Option<ViesBody> = serde_json::from_slice(body).ok();
    // An error named in either place, kept when it reads as a code.
    let named_error = parsed.as_ref().and_then(|b| {
        let flat = b
            .user_error
            .as_deref()
            .filter(|e| !matches!(e.trim(), "" | "VALID" | "INVALID"));
        let wrapped = (!b.error_wrappers.is_empty()).then(|| {
            b.error_wrappers
                .iter()
                .find_map(|w| w.error.as_deref())
                .unwrap_or("")
        });
        flat.or(wrapped)
            .map(|e| printable(Some(e)).unwrap_or_else(|| "unreadable error".into()))
    });
    if !(200..300).contains(&status) {
        return unavailable(named_error.unwrap_or_else(|| format!("HTTP {status}")));
    }
    let Some(body) = parsed else {
        return unavailable("unreadable answer".into());
    };
    if let Some(error) = named_error {
        return unavailable(error);
    }
    let consultation_number = printable(body.request_identifier.as_deref());
    match (body.valid, body.action_succeed) {
        (_, Some(false)) => unavailable("action not succeeded".into()),
        (Some(true), _) => ViesAnswer::Valid {
            consultation_number,
        },
        (Some(false), _) => ViesAnswer::Invalid {
            consultation_number,
        },
        (None, _) => unavailable("answer without a verdict".into()),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-04-09 10:00 UTC);

    fn answer(status: u16, body: &str) -> ViesAnswer {
        read_answer(status, body.as_bytes())
    }

    fn unavailable(error: &str) -> ViesAnswer {
        ViesAnswer::Unavailable {
            error: error.into(),
        }
    }

    #[test]
    fn a_valid_answer_keeps_its_consultation_number() {
        let body = r#"{"countryCode":"DE","vatNumber":"123456789","requestDate":"2026-04-09T10:00:01.123Z",
            "valid":true,"requestIdentifier":"WAPIAAAAXYZ123","name":"---","address":"---"}"#;
        assert_eq!(
            answer(200, body),
            ViesAnswer::Valid {
                consultation_number: Some("WAPIAAAAXYZ123".into())
            }
        );
        let without = r#"{"valid":true,"requestIdentifier":""}"#;
        assert_eq!(
            answer(200, without),
            ViesAnswer::Valid {
                consultation_number: None
            }
        );
    }

    #[test]
    fn valid_false_without_an_error_is_invalid() {
        for body in [
            r#"{"valid":false,"name":"---","address":"---"}"#,
            r#"{"valid":false,"userError":"INVALID","requestIdentifier":"WAPI2"}"#,
        ] {
            assert!(
                matches!(answer(200, body), ViesAnswer::Invalid { .. }),
                "{body}"
            );
        }
    }

    #[test]
    fn error_bodies_and_named_errors_are_unavailable_never_invalid() {
        let cases = [
            (
                200,
                r#"{"actionSucceed":false,"errorWrappers":[{"error":"MS_MAX_CONCURRENT_REQ"}]}"#,
                "MS_MAX_CONCURRENT_REQ",
            ),
            (
                200,
                r#"{"valid":false,"userError":"MS_UNAVAILABLE"}"#,
                "MS_UNAVAILABLE",
            ),
            (
                500,
                r#"{"actionSucceed":false,"errorWrappers":[{"error":"SERVICE_UNAVAILABLE","message":"x"}]}"#,
                "SERVICE_UNAVAILABLE",
            ),
            (
                200,
                r#"{"actionSucceed":false,"valid":false}"#,
                "action not succeeded",
            ),
            (500, "Internal Server Error", "HTTP 500"),
            (503, "", "HTTP 503"),
            (200, "<html>maintenance</html>", "unreadable answer"),
            (200, "{}", "answer without a verdict"),
            (
                400,
                r#"{"actionSucceed":false,"errorWrappers":[{"error":"INVALID_INPUT"}]}"#,
                "INVALID_INPUT",
            ),
        ];
        for (status, body, error) in cases {
            assert_eq!(answer(status, body), unavailable(error), "{status} {body}");
        }
    }

    #[test]
    fn texts_from_the_answer_are_short_and_printable() {
        let long = format!(
            r#"{{"valid":true,"requestIdentifier":"{}"}}"#,
            "A".repeat(101)
        );
        assert_eq!(
            answer(200, &long),
            ViesAnswer::Valid {
                consultation_number: None
            }
        );
        let odd = r#"{"valid":false,"userError":"MS\u0000DOWN"}"#;
        assert_eq!(answer(200, odd), unavailable("unreadable error"));
        let unnamed = r#"{"actionSucceed":false,"errorWrappers":[{}]}"#;
        assert_eq!(answer(200, unnamed), unavailable("unreadable error"));
    }

    #[test]
    fn numbers_split_into_the_member_state_code_and_the_number() {
        assert_eq!(split_vat("DE123456789"), Some(("DE", "123456789")));
        assert_eq!(split_vat("EL123456789"), Some(("EL", "123456789")));
        assert_eq!(split_vat("ATU12345678"), Some(("AT", "U12345678")));
        for bad in ["", "D", "DE", "de123", "1E123", "DE12 3"] {
            assert_eq!(split_vat(bad), None, "{bad}");
        }
        assert_eq!(
            requester("FR 32 912.345-678"),
            Some(("FR".into(), "32912345678".into()))
        );
        assert_eq!(requester(""), None);
    }

    #[test]
    fn the_request_names_the_requester_only_when_there_is_one() {
        let with = ViesRequest {
            country_code: "EL",
            vat_number: "123456789",
            requester_member_state_code: Some("FR"),
            requester_number: Some("32912345678"),
        };
        assert_eq!(
            serde_json::to_value(&with).unwrap(),
            serde_json::json!({"countryCode": "EL", "vatNumber": "123456789",
                "requesterMemberStateCode": "FR", "requesterNumber": "32912345678"})
        );
        let without = ViesRequest {
            requester_member_state_code: None,
            requester_number: None,
            ..with
        };
        assert_eq!(
            serde_json::to_value(&without).unwrap(),
            serde_json::json!({"countryCode": "EL", "vatNumber": "123456789"})
        );
    }

    fn valid_at(at: OffsetDateTime) -> VatCheck {
        VatCheck::after_vies(
            None,
            &ViesAnswer::Valid {
                consultation_number: Some("WAPI1".into()),
            },
            at,
        )
    }

    #[test]
    fn an_unavailable_answer_keeps_the_last_conclusive_result() {
        let earlier = valid_at(NOW - Duration::days(40));
        let later = NOW;
        let kept = VatCheck::after_vies(Some(&earlier), &unavailable("TIMEOUT"), later);
        assert_eq!(kept.status, VatCheckStatus::Valid);
        assert_eq!(kept.checked_at, earlier.checked_at);
        assert_eq!(kept.consultation_number.as_deref(), Some("WAPI1"));
        assert_eq!(kept.last_attempt_at, Some(later));
        assert_eq!(kept.last_attempt_error.as_deref(), Some("TIMEOUT"));
        assert!(kept.counts_as_valid());

        let first = VatCheck::after_vies(None, &unavailable("timeout"), later);
        assert_eq!(first.status, VatCheckStatus::Unavailable);
        assert_eq!(first.checked_at, later);
        assert!(!first.is_conclusive() && !first.counts_as_valid());
        let again = VatCheck::after_vies(
            Some(&first),
            &unavailable("HTTP 500"),
            later + Duration::hours(1),
        );
        assert_eq!(again.status, VatCheckStatus::Unavailable);
        assert_eq!(again.checked_at, later + Duration::hours(1));
    }

    #[test]
    fn a_conclusive_answer_replaces_a_manual_verification() {
        let manual = VatCheck::manual(None, "Registered last week, not in VIES yet".into(), NOW);
        assert!(manual.counts_as_valid() && manual.is_conclusive());
        assert_eq!(manual.last_attempt_at, None);
        let invalid = VatCheck::after_vies(
            Some(&manual),
            &ViesAnswer::Invalid {
                consultation_number: None,
            },
            NOW + Duration::days(31),
        );
        assert_eq!(invalid.status, VatCheckStatus::Invalid);
        assert_eq!(invalid.reason, None);
        assert!(!invalid.counts_as_valid());
    }

    #[test]
    fn a_manual_verification_keeps_the_vies_attempts_noted() {
        let first = VatCheck::after_vies(None, &unavailable("timeout"), NOW);
        let manual = VatCheck::manual(
            Some(&first),
            "Checked on the register".into(),
            NOW + Duration::hours(1),
        );
        assert_eq!(manual.status, VatCheckStatus::Manual);
        assert_eq!(manual.checked_at, NOW + Duration::hours(1));
        assert_eq!(manual.last_attempt_at, Some(NOW));
        assert_eq!(manual.last_attempt_error.as_deref(), Some("timeout"));
    }

    #[test]
    fn a_check_is_stale_when_absent_inconclusive_or_older_than_30_days() {
        assert!(VatCheck::is_stale(None, NOW));
        let fresh = valid_at(NOW - Duration::days(30));
        assert!(!VatCheck::is_stale(Some(&fresh), NOW));
        let old = valid_at(NOW - Duration::days(30) - Duration::seconds(1));
        assert!(VatCheck::is_stale(Some(&old), NOW));
        let unknown = VatCheck::after_vies(None, &unavailable("timeout"), NOW);
        assert!(VatCheck::is_stale(Some(&unknown), NOW));
        let manual = VatCheck::manual(None, "Checked".into(), NOW - Duration::days(2));
        assert!(!VatCheck::is_stale(Some(&manual), NOW));
    }

    #[test]
    fn an_invoice_asks_again_15_minutes_after_an_attempt_vies_did_not_answer() {
        assert!(VatCheck::is_due(None, NOW));
        let failed = VatCheck::after_vies(None, &unavailable("timeout"), NOW);
        assert!(!VatCheck::is_due(
            Some(&failed),
            NOW + Duration::minutes(14)
        ));
        assert!(VatCheck::is_due(Some(&failed), NOW + Duration::minutes(15)));
        // A stale valid result whose refresh failed: kept, asked again later.
        let old = valid_at(NOW - Duration::days(40));
        assert!(VatCheck::is_due(Some(&old), NOW));
        let kept = VatCheck::after_vies(Some(&old), &unavailable("HTTP 500"), NOW);
        assert!(!VatCheck::is_due(Some(&kept), NOW + Duration::minutes(1)));
        assert!(VatCheck::is_due(Some(&kept), NOW + Duration::hours(1)));
        // A fresh result is never asked about again.
        let fresh = valid_at(NOW - Duration::days(1));
        assert!(!VatCheck::is_due(Some(&fresh), NOW));
        // A manual verification noted no attempt of its own.
        let manual = VatCheck::manual(Some(&failed), "Checked".into(), NOW);
        assert!(!VatCheck::is_due(Some(&manual), NOW + Duration::days(30)));
        assert!(VatCheck::is_due(Some(&manual), NOW + Duration::days(31)));
    }

    #[test]
    fn statuses_read_back_what_they_write() {
        for s in [
            VatCheckStatus::Valid,
            VatCheckStatus::Invalid,
            VatCheckStatus::Unavailable,
            VatCheckStatus::Manual,
        ] {
            assert_eq!(VatCheckStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(VatCheckStatus::parse("VALID"), None);
    }
}
