//! Webhook endpoints' rules: the signing secret and signature of the
//! Standard Webhooks specification, and which targets may be called (no
//! requests to the server's own network: loopback, private, link-local and
//! cloud metadata addresses are refused unless the operator allows them).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::event::Subscription;
use super::ids::{AccountId, WebhookEndpointId};

const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` and 32 random bytes in base64.
/// Shown once, at creation and at rotation; never in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        WebhookSecret(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
    }

    /// A secret as stored (`whsec_` and base64 of 24 to 64 bytes).
    pub fn parse(raw: &str) -> Option<Self> {
        let key = STANDARD.decode(raw.strip_prefix(SECRET_PREFIX)?).ok()?;
        (24..=64)
            .contains(&key.len())
            .then(|| WebhookSecret(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        let b64 = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        STANDARD.decode(b64).unwrap_or_default()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the
    /// signature of Standard Webhooks.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key()).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `webhook-signature` header: one signature per secret in force,
/// space-separated (the new one first during a rotation).
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where an account's events are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub account_id: AccountId,
    pub url: url::Url,
    pub events: Subscription,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why Comptoir disabled it, when it did (deliveries failing for 3 days).
    pub disabled_reason: Option<String>,
    pub secret: WebhookSecret,
    /// The secret before the last rotation, which signs beside the new one
    /// until the instant given.
    pub previous_secret: Option<(WebhookSecret, OffsetDateTime)>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl WebhookEndpoint {
    /// The secrets that sign a request sent at `now`: the current one, and
    /// the previous one during the 24 hours after a rotation.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&WebhookSecret> {
        let mut secrets = vec![&self.secret];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous);
        }
        secrets
    }
}

/// The wait before the next attempt at a delivery that failed its
/// `attempts`th time: `base`, twice as long after each failure, at most
/// `cap`; of that, three quarters and up to the last quarter at random
/// (`random` in [0, 1]), so that deliveries failing together (an endpoint
/// down) do not all come back at once, while each wait stays longer than
/// the one before it.
pub fn retry_delay(base: Duration, cap: Duration, attempts: i32, random: f64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(24);
    let full = base.saturating_mul(1 << exp).min(cap);
    full.mul_f64(0.75 + 0.25 * random.clamp(0.0, 1.0))
}

/// Why a received request's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("the webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("no v1 signature of the header matches the body")]
    NoMatch,
}

/// Checks a request as a receiver does (Standard Webhooks): a timestamp
/// within 5 minutes of `now_unix`, and one of the header's `v1,`
/// signatures equal to `secret`'s, compared in constant time.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now_unix: i64,
) -> Result<(), Unverified> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Unverified::BadTimestamp)?;
    if (now_unix - ts).abs() > 300 {
        return Err(Unverified::Stale);
    }
    let expected = secret.sign(id, ts, body);
    let matches = signatures
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(Unverified::NoMatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a target address is refused.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918, and the carrier-grade NAT range.
        Some("a private address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0)
    {
        Some("a reserved address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("a cloud metadata address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address")
    } else if ip.is_multicast() {
        Some("a broadcast, multicast or reserved address")
    } else if let [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] = ip.segments() {
        // NAT64 reaches the IPv4 host in its last 32 bits.
        forbidden_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if let Some(v4) = ip.to_ipv4().filter(|_| first == 0) {
        // The deprecated IPv4-compatible form.
        forbidden_v4(v4)
    } else {
        None
    }
}

/// Why an endpoint URL is refused before any lookup: not http(s), http
/// outside loopback, credentials, no host, an address literal refused by
/// [`forbidden_address`] (unless private targets are allowed).
pub fn check_url(url: &url::Url, allow_private: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Err("must use https (http only to a loopback address)".into());
            }
        }
        _ => return Err("must use https".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let ip = match url.host() {
        None => return Err("must name a host".into()),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    match forbidden_address(ip) {
        Some(why) if !allow_private => Err(format!("must not point to {why}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification's reference tests.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_receiver_accepts_any_current_signature_and_refuses_stale_or_altered_requests() {
        let old = WebhookSecret::generate();
        let new = WebhookSecret::generate();
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(&[&new, &old], "evt_1", 1_775_728_800, body);
        let now = 1_775_728_900;
        assert_eq!(
            verify(&new, "evt_1", "1775728800", body, &header, now),
            Ok(())
        );
        assert_eq!(
            verify(&old, "evt_1", "1775728800", body, &header, now),
            Ok(())
        );
        let other = WebhookSecret::generate();
        assert_eq!(
            verify(&other, "evt_1", "1775728800", body, &header, now),
            Err(Unverified::NoMatch)
        );
        assert_eq!(
            verify(
                &new,
                "evt_1",
                "1775728800",
                br#"{"id":"evt_2"}"#,
                &header,
                now
            ),
            Err(Unverified::NoMatch)
        );
        assert_eq!(
            verify(&new, "evt_1", "1775728800", body, &header, now + 600),
            Err(Unverified::Stale)
        );
        assert_eq!(
            verify(&new, "evt_1", "soon", body, &header, now),
            Err(Unverified::BadTimestamp)
        );
    }

    #[test]
    fn a_generated_secret_has_32_bytes_and_reads_back() {
        let s = WebhookSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(s.key().len(), 32);
        assert_eq!(WebhookSecret::parse(s.expose()), Some(s.clone()));
        assert_ne!(WebhookSecret::generate(), s);
        assert_eq!(format!("{s:?}"), "WebhookSecret(<redacted>)");
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_none());
    }

    #[test]
    fn retries_wait_about_twice_as_long_each_time_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(30), Duration::from_secs(6 * 3600));
        let most: Vec<u64> = (1..=6)
            .map(|n| retry_delay(base, cap, n, 1.0).as_secs())
            .collect();
        assert_eq!(most, vec![30, 60, 120, 240, 480, 960]);
        let least: Vec<u64> = (1..=3)
            .map(|n| retry_delay(base, cap, n, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(least, vec![22_500, 45_000, 90_000]);
        // Below the cap, jittered waits never overlap: each is longer than
        // the one before.
        for n in 1..10 {
            assert!(retry_delay(base, cap, n + 1, 0.0) >= retry_delay(base, cap, n, 1.0));
        }
        assert_eq!(retry_delay(base, cap, 40, 1.0), cap);
        assert_eq!(retry_delay(base, cap, 0, 1.0), base);
        assert_eq!(retry_delay(base, cap, 1, 7.0), base);
    }

    #[test]
    fn the_server_own_networks_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "fd00:ec2::254",
            "224.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(forbidden_address(ip).is_some(), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_address(ip), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn urls_must_be_https_to_a_public_host_unless_private_targets_are_allowed() {
        let check = |u: &str, allow| check_url(&url::Url::parse(u).unwrap(), allow);
        assert!(check("https://hooks.example.com/comptoir", false).is_ok());
        assert!(check("http://hooks.example.com/", false).is_err());
        assert!(check("http://127.0.0.1:9000/", false).is_err());
        assert!(check("https://127.0.0.1/", false).is_err());
        assert!(check("https://169.254.169.254/latest/meta-data", false).is_err());
        assert!(check("https://[::1]/", false).is_err());
        assert!(check("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check("ftp://hooks.example.com/", false).is_err());
        assert!(check("http://127.0.0.1:9000/", true).is_ok());
        assert!(check("http://localhost:9000/", true).is_ok());
        assert!(check("http://10.0.0.1/", true).is_err());
        assert!(check("https://10.0.0.1/", true).is_ok());
    }
}
