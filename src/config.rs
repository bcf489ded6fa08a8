//! Configuration from the environment (and `.env`), every variable documented
//! in `.env.example`.

use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::seller::Seller;

/// A secret value: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// HS256 shared secret (at least 32 bytes).
    pub secret: Option<Secret>,
    /// RS256/ES256: the identity provider's public key, PEM.
    pub public_key_pem: Option<String>,
    pub issuer: String,
    pub audience: String,
    /// The longest a token may live (`exp - iat`), for every role.
    pub max_ttl: time::Duration,
}

/// The default of `COMPTOIR_JWT_MAX_TTL`.
pub const DEFAULT_JWT_MAX_TTL: time::Duration = time::Duration::hours(24);

/// Reads a duration such as `3600`, `30s`, `30m`, `12h`, `7d` (or `250ms`,
/// for the pacing of workers in tests); `None` when
/// it is malformed, not positive, or too large to count in seconds.
pub fn parse_duration(raw: &str) -> Option<time::Duration> {
    if let Some(ms) = raw.strip_suffix("ms") {
        return ms
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| ms.parse::<i64>().ok())
            .flatten()
            .filter(|n| *n > 0)
            .map(time::Duration::milliseconds);
    }
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: i64 = digits.parse().ok()?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_seconds)
        .filter(|s| *s > 0)
        .map(time::Duration::seconds)
}

/// The invoice grace period: `0` (or `0s`, `0h`...) or a duration of at
/// most 31 days (a draft must be issued within its month's reach).
fn parse_grace(raw: &str) -> Option<time::Duration> {
    let zero = raw.trim_end_matches(['s', 'm', 'h', 'd']);
    if !zero.is_empty() && zero.bytes().all(|b| b == b'0') && raw.len() - zero.len() <= 1 {
        return Some(time::Duration::ZERO);
    }
    parse_duration(raw).filter(|d| *d <= time::Duration::days(31))
}

/// Why an HS256 secret is too weak to sign tokens, if it is: fewer than 32
/// bytes, or fewer than 10 distinct bytes (`aaaa...`, `abababab...`).
fn weak_jwt_secret(secret: &str) -> Option<&'static str> {
    let distinct = secret
        .bytes()
        .collect::<std::collections::BTreeSet<u8>>()
        .len();
    if secret.len() < 32 {
        Some("must be at least 32 bytes")
    } else if distinct < 10 {
        Some("has too little entropy: it needs at least 10 distinct characters")
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub addr: String,
    pub jwt: JwtConfig,
    pub data_dir: PathBuf,
    pub now: Option<OffsetDateTime>,
    pub data_key: Option<Secret>,
    pub smtp_url: Option<Secret>,
    /// The `From` of invoice emails.
    pub mail_from: String,
    /// Who issues the invoices (printed on them, kept in each one's snapshot).
    pub seller: Seller,
    pub webhook_secret: Option<Secret>,
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    /// How long a billing run's draft waits before it is finalized
    /// (`COMPTOIR_INVOICE_GRACE`, default 0: at once).
    pub invoice_grace: time::Duration,
    /// The VIES REST service checking buyers' VAT numbers
    /// (`COMPTOIR_VIES_URL`, without a trailing slash).
    pub vies_url: String,
    /// How long a VIES request may take, connection included
    /// (`COMPTOIR_VIES_TIMEOUT`, default 10 s).
    pub vies_timeout: std::time::Duration,
    /// The seller's approved e-invoicing platform (`COMPTOIR_PA_URL`, where
    /// documents are deposited), and its bearer token and request timeout;
    /// none: documents are queued, not sent.
    pub pa: Option<PlatformConfig>,
    /// Verifies the platform's webhook signatures (`COMPTOIR_PA_WEBHOOK_SECRET`).
    pub pa_webhook_secret: Option<Secret>,
    /// Lets webhook endpoints target loopback, private and link-local
    /// addresses, and http on loopback (`COMPTOIR_WEBHOOK_ALLOW_PRIVATE`,
    /// default false: for local development and tests only).
    pub webhook_allow_private: bool,
    /// How webhook deliveries are retried and how often the worker looks
    /// for due ones (`COMPTOIR_WEBHOOK_RETRY_*`, `COMPTOIR_WEBHOOK_POLL`).
    pub webhook_delivery: WebhookDeliveryConfig,
    /// How the test clocks' advancing worker paces itself
    /// (`COMPTOIR_TEST_CLOCK_POLL`, `COMPTOIR_TEST_CLOCK_LEASE`).
    pub test_clocks: TestClockConfig,
}

/// The pace of the test clocks' advancing worker (real time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestClockConfig {
    /// How often it looks for an advancing clock when not woken by an
    /// advance on this server (`COMPTOIR_TEST_CLOCK_POLL`, default 1 s,
    /// at most 24 h).
    pub poll: std::time::Duration,
    /// How long an advance is held without progress before another server
    /// takes it over (`COMPTOIR_TEST_CLOCK_LEASE`, default 60 s, at most 1 h).
    pub lease: time::Duration,
}

impl Default for TestClockConfig {
    fn default() -> Self {
        TestClockConfig {
            poll: std::time::Duration::from_secs(1),
            lease: time::Duration::seconds(60),
        }
    }
}

/// The schedule of webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookDeliveryConfig {
    /// The wait before the first retry; each next one waits twice as long
    /// (`COMPTOIR_WEBHOOK_RETRY_BASE`, default 30 s).
    pub retry_base: std::time::Duration,
    /// The longest wait between two attempts (`COMPTOIR_WEBHOOK_RETRY_CAP`,
    /// default and at most 6 h).
    pub retry_cap: std::time::Duration,
    /// How long after it was queued a delivery is retried before it is
    /// failed and its endpoint disabled (`COMPTOIR_WEBHOOK_RETRY_WINDOW`,
    /// default 3 days).
    pub retry_window: time::Duration,
    /// The pause of the worker when nothing was due (`COMPTOIR_WEBHOOK_POLL`,
    /// default 1 s).
    pub poll: std::time::Duration,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        WebhookDeliveryConfig {
            retry_base: std::time::Duration::from_secs(30),
            retry_cap: std::time::Duration::from_secs(6 * 3600),
            retry_window: time::Duration::days(3),
            poll: std::time::Duration::from_secs(1),
        }
    }
}

/// The approved e-invoicing platform (PA) documents are deposited on.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// `COMPTOIR_PA_URL`, without a trailing slash: documents are POSTed
    /// here, statuses to `{url}/{platform id}/statuses`.
    pub url: String,
    /// `COMPTOIR_PA_TOKEN`: sent as a bearer token, when set.
    pub token: Option<Secret>,
    /// `COMPTOIR_PA_TIMEOUT`, default 30 s.
    pub timeout: std::time::Duration,
}

/// The EU's VIES REST service (`COMPTOIR_VIES_URL`'s default).
pub const DEFAULT_VIES_URL: &str = "https://ec.europa.eu/taxation_customs/vies/rest-api";

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn err(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let algorithm = match get("COMPTOIR_JWT_ALGORITHM").as_deref() {
            None | Some("HS256") => JwtAlgorithm::Hs256,
            Some("RS256") => JwtAlgorithm::Rs256,
            Some("ES256") => JwtAlgorithm::Es256,
            Some(other) => {
                return Err(err(
                    "COMPTOIR_JWT_ALGORITHM",
                    format!("{other:?} is not one of HS256, RS256, ES256"),
                ));
            }
        };
        let public_key_pem = match get("COMPTOIR_JWT_PUBLIC_KEY_FILE") {
            Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                err(
                    "COMPTOIR_JWT_PUBLIC_KEY_FILE",
                    format!("cannot read {path}: {e}"),
                )
            })?),
            None => None,
        };
        let secret = get("COMPTOIR_JWT_SECRET").map(Secret::new);
        match algorithm {
            JwtAlgorithm::Hs256 => match &secret {
                None => return Err(err("COMPTOIR_JWT_SECRET", "is required for HS256")),
                Some(s) => {
                    if let Some(reason) = weak_jwt_secret(s.expose()) {
                        return Err(err("COMPTOIR_JWT_SECRET", reason));
                    }
                }
            },
            _ if public_key_pem.is_none() => {
                return Err(err(
                    "COMPTOIR_JWT_PUBLIC_KEY_FILE",
                    "is required for RS256 and ES256",
                ));
            }
            _ => {}
        }
        let max_ttl = match get("COMPTOIR_JWT_MAX_TTL") {
            Some(raw) => parse_duration(&raw).ok_or_else(|| {
                err(
                    "COMPTOIR_JWT_MAX_TTL",
                    "must be a positive duration: seconds, or with a unit (30m, 12h, 7d)",
                )
            })?,
            None => DEFAULT_JWT_MAX_TTL,
        };
        let webhook_secret = get("COMPTOIR_WEBHOOK_SECRET").map(Secret::new);
        if webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err(err("COMPTOIR_WEBHOOK_SECRET", "must be at least 32 bytes"));
        }
        let now =
            match get("COMPTOIR_NOW") {
                Some(raw) => Some(OffsetDateTime::parse(&raw, &Rfc3339).map_err(|e| {
                    err("COMPTOIR_NOW", format!("must be an RFC 3339 instant: {e}"))
                })?),
                None => None,
            };
        let log_format = match get("COMPTOIR_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "COMPTOIR_LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };
        let max_body_bytes = match get("COMPTOIR_MAX_BODY_BYTES") {
            Some(raw) => raw
                .parse()
                .map_err(|_| err("COMPTOIR_MAX_BODY_BYTES", "must be a number of bytes"))?,
            None => 1024 * 1024,
        };
        let invoice_grace = match get("COMPTOIR_INVOICE_GRACE") {
            Some(raw) => parse_grace(&raw).ok_or_else(|| {
                err(
                    "COMPTOIR_INVOICE_GRACE",
                    "must be a duration: 0, seconds, or with a unit (30m, 12h, 3d), at most 31 days",
                )
            })?,
            None => time::Duration::ZERO,
        };
        let vies_url = get("COMPTOIR_VIES_URL")
            .unwrap_or_else(|| DEFAULT_VIES_URL.into())
            .trim_end_matches('/')
            .to_owned();
        if !(vies_url.starts_with("https://") || vies_url.starts_with("http://")) {
            return Err(err(
                "COMPTOIR_VIES_URL",
                "must be an http:// or https:// URL",
            ));
        }
        let vies_timeout = match get("COMPTOIR_VIES_TIMEOUT") {
            Some(raw) => parse_duration(&raw)
                .filter(|d| *d <= time::Duration::minutes(5))
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| {
                    err(
                        "COMPTOIR_VIES_TIMEOUT",
                        "must be a positive duration of at most 5 minutes: seconds, or 30s, 2m",
                    )
                })?,
            None => std::time::Duration::from_secs(10),
        };
        let pa_timeout = match get("COMPTOIR_PA_TIMEOUT") {
            Some(raw) => parse_duration(&raw)
                .filter(|d| *d <= time::Duration::minutes(2))
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| {
                    err(
                        "COMPTOIR_PA_TIMEOUT",
                        "must be a positive duration of at most 2 minutes: seconds, or 30s, 2m",
                    )
                })?,
            None => std::time::Duration::from_secs(30),
        };
        let pa = match get("COMPTOIR_PA_URL") {
            Some(raw) => {
                let url = raw.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(err("COMPTOIR_PA_URL", "must be an http:// or https:// URL"));
                }
                Some(PlatformConfig {
                    url,
                    token: get("COMPTOIR_PA_TOKEN").map(Secret::new),
                    timeout: pa_timeout,
                })
            }
            None => None,
        };
        let pa_webhook_secret = get("COMPTOIR_PA_WEBHOOK_SECRET").map(Secret::new);
        if pa_webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err(err(
                "COMPTOIR_PA_WEBHOOK_SECRET",
                "must be at least 32 bytes",
            ));
        }
        let webhook_allow_private = match get("COMPTOIR_WEBHOOK_ALLOW_PRIVATE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(err(
                    "COMPTOIR_WEBHOOK_ALLOW_PRIVATE",
                    "must be true or false",
                ));
            }
        };
        let webhook_delivery = webhook_delivery(&get)?;
        let test_clocks = test_clocks(&get)?;
        let default_seller = Seller::default();
        let seller = Seller {
            name: get("COMPTOIR_SELLER_NAME").unwrap_or(default_seller.name),
            address: get("COMPTOIR_SELLER_ADDRESS")
                .map(|a| a.split('|').map(|l| l.trim().to_owned()).collect())
                .unwrap_or(default_seller.address),
            legal: get("COMPTOIR_SELLER_LEGAL").unwrap_or(default_seller.legal),
            vat_number: get("COMPTOIR_SELLER_VAT_NUMBER").unwrap_or(default_seller.vat_number),
            siren: match get("COMPTOIR_SELLER_SIREN") {
                Some(raw) => crate::domain::tax::parse_siren(&raw).ok_or_else(|| {
                    err(
                        "COMPTOIR_SELLER_SIREN",
                        "must be a SIREN: 9 digits with a valid Luhn key",
                    )
                })?,
                None => default_seller.siren,
            },
            e_invoicing_address: get("COMPTOIR_SELLER_E_INVOICING_ADDRESS")
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            vat_on_debits: match get("COMPTOIR_SELLER_VAT_ON_DEBITS").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => {
                    return Err(err(
                        "COMPTOIR_SELLER_VAT_ON_DEBITS",
                        "must be true or false",
                    ));
                }
            },
        };
        Ok(Self {
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://comptoir.db".into()),
            addr: get("COMPTOIR_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()),
            jwt: JwtConfig {
                algorithm,
                secret,
                public_key_pem,
                issuer: get("COMPTOIR_JWT_ISSUER").unwrap_or_else(|| "comptoir".into()),
                audience: get("COMPTOIR_JWT_AUDIENCE").unwrap_or_else(|| "comptoir-api".into()),
                max_ttl,
            },
            data_dir: get("COMPTOIR_DATA_DIR")
                .unwrap_or_else(|| "data".into())
                .into(),
            now,
            data_key: get("COMPTOIR_DATA_KEY").map(Secret::new),
            smtp_url: get("SMTP_URL").map(Secret::new),
            mail_from: get("COMPTOIR_MAIL_FROM")
                .unwrap_or_else(|| "Comptoir Facturation <factures@comptoir.example>".into()),
            seller,
            webhook_secret,
            cors_origins: get("COMPTOIR_CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            log_format,
            max_body_bytes,
            invoice_grace,
            vies_url,
            vies_timeout,
            pa,
            pa_webhook_secret,
            webhook_allow_private,
            webhook_delivery,
            test_clocks,
        })
    }
}

/// The duration in variable `name`, if set: positive and at most `max`
/// (`limit` says it in the error).
fn read_duration(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    max: time::Duration,
    limit: &str,
) -> Result<Option<time::Duration>, ConfigError> {
    get(name)
        .map(|raw| {
            parse_duration(&raw).filter(|d| *d <= max).ok_or_else(|| {
                err(
                    name,
                    format!(
                        "must be a positive duration of at most {limit}: \
                         seconds, or 250ms, 30s, 2m, 12h, 3d"
                    ),
                )
            })
        })
        .transpose()
}

/// Reads `COMPTOIR_TEST_CLOCK_POLL` and `COMPTOIR_TEST_CLOCK_LEASE`.
fn test_clocks(get: &impl Fn(&str) -> Option<String>) -> Result<TestClockConfig, ConfigError> {
    use time::Duration;
    let read = |name, max, limit| read_duration(get, name, max, limit);
    let defaults = TestClockConfig::default();
    Ok(TestClockConfig {
        poll: read("COMPTOIR_TEST_CLOCK_POLL", Duration::hours(24), "24 h")?
            .map_or(defaults.poll, |d| {
                std::time::Duration::try_from(d).unwrap_or_default()
            }),
        lease: read("COMPTOIR_TEST_CLOCK_LEASE", Duration::hours(1), "1 h")?
            .unwrap_or(defaults.lease),
    })
}

/// Reads `COMPTOIR_WEBHOOK_RETRY_BASE`, `_RETRY_CAP`, `_RETRY_WINDOW` and
/// `COMPTOIR_WEBHOOK_POLL`, each a duration up to a limit.
fn webhook_delivery(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<WebhookDeliveryConfig, ConfigError> {
    use time::Duration;
    let read = |name, max, limit| read_duration(get, name, max, limit);
    let std = |d: Duration| std::time::Duration::try_from(d).unwrap_or_default();
    let defaults = WebhookDeliveryConfig::default();
    let retry_base = read("COMPTOIR_WEBHOOK_RETRY_BASE", Duration::hours(1), "1 h")?
        .map_or(defaults.retry_base, std);
    let retry_cap = read("COMPTOIR_WEBHOOK_RETRY_CAP", Duration::hours(6), "6 h")?
        .map_or(defaults.retry_cap, std);
    if retry_cap < retry_base {
        return Err(err(
            "COMPTOIR_WEBHOOK_RETRY_CAP",
            "must not be shorter than COMPTOIR_WEBHOOK_RETRY_BASE",
        ));
    }
    let retry_window = read(
        "COMPTOIR_WEBHOOK_RETRY_WINDOW",
        Duration::days(30),
        "30 days",
    )?
    .unwrap_or(defaults.retry_window);
    let poll =
        read("COMPTOIR_WEBHOOK_POLL", Duration::hours(24), "24 h")?.map_or(defaults.poll, std);
    Ok(WebhookDeliveryConfig {
        retry_base,
        retry_cap,
        retry_window,
        poll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const SECRET: (&str, &str) = ("COMPTOIR_JWT_SECRET", "0123456789abcdef0123456789abcdef");

    #[test]
    fn the_sellers_siren_and_vat_on_debits_option_are_checked_at_start() {
        let c = config(&[
            SECRET,
            ("COMPTOIR_SELLER_SIREN", "552 100 554"),
            ("COMPTOIR_SELLER_VAT_ON_DEBITS", "true"),
        ])
        .unwrap();
        assert_eq!(c.seller.siren, "552100554");
        assert!(c.seller.vat_on_debits);
        let c = config(&[SECRET]).unwrap();
        assert_eq!(c.seller.siren, "912345675");
        assert!(!c.seller.vat_on_debits);
        for (name, value) in [
            ("COMPTOIR_SELLER_SIREN", "552100555"),
            ("COMPTOIR_SELLER_SIREN", "55210055"),
            ("COMPTOIR_SELLER_VAT_ON_DEBITS", "yes"),
        ] {
            let e = config(&[SECRET, (name, value)]).expect_err("refused");
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn defaults_are_the_embedded_sqlite_file_and_local_address() {
        let c = config(&[SECRET]).unwrap();
        assert_eq!(c.database_url, "sqlite://comptoir.db");
        assert_eq!(c.addr, "127.0.0.1:8080");
        assert_eq!(c.now, None);
    }

    #[test]
    fn a_short_or_missing_hs256_secret_is_refused() {
        assert_eq!(config(&[]).unwrap_err().name, "COMPTOIR_JWT_SECRET");
        let short = config(&[("COMPTOIR_JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(short.name, "COMPTOIR_JWT_SECRET");
    }

    #[test]
    fn a_jwt_secret_of_one_repeated_character_or_few_distinct_ones_is_refused() {
        for weak in [
            "a".repeat(64),
            "ab".repeat(32),
            "0123456780123456780123456780123456".to_owned(),
        ] {
            let e = config(&[("COMPTOIR_JWT_SECRET", &weak)]).unwrap_err();
            assert_eq!(e.name, "COMPTOIR_JWT_SECRET");
            assert!(e.reason.contains("entropy"), "{}", e.reason);
            assert!(!e.to_string().contains(&weak), "the error leaks the secret");
        }
        let short = config(&[("COMPTOIR_JWT_SECRET", "0123456789abcdef0123456789abcde")]);
        assert!(short.unwrap_err().reason.contains("32 bytes"));
        assert!(config(&[("COMPTOIR_JWT_SECRET", "0123456789012345678901234567890123")]).is_ok());
    }

    #[test]
    fn a_webhook_secret_shorter_than_32_bytes_is_refused() {
        let short = config(&[
            SECRET,
            ("COMPTOIR_WEBHOOK_SECRET", "dev-only-webhook-secret"),
        ]);
        let e = short.unwrap_err();
        assert_eq!(e.name, "COMPTOIR_WEBHOOK_SECRET");
        assert!(!e.to_string().contains("dev-only-webhook-secret"));
        let ok = config(&[SECRET, ("COMPTOIR_WEBHOOK_SECRET", &"w".repeat(32))]).unwrap();
        assert!(ok.webhook_secret.is_some());
        assert!(config(&[SECRET]).unwrap().webhook_secret.is_none());
    }

    #[test]
    fn the_development_secrets_of_env_example_and_the_makefile_are_valid() {
        for file in [include_str!("../.env.example"), include_str!("../Makefile")] {
            let value = |name: &str| {
                file.lines()
                    .find_map(|l| {
                        l.strip_prefix("export ")
                            .unwrap_or(l)
                            .strip_prefix(name)
                            .map(|rest| rest.trim_start_matches([' ', '?', '=']).to_owned())
                    })
                    .unwrap_or_else(|| panic!("{name} is not set"))
            };
            let (jwt, webhook) = (
                value("COMPTOIR_JWT_SECRET"),
                value("COMPTOIR_WEBHOOK_SECRET"),
            );
            config(&[
                ("COMPTOIR_JWT_SECRET", &jwt),
                ("COMPTOIR_WEBHOOK_SECRET", &webhook),
            ])
            .unwrap();
        }
    }

    #[test]
    fn the_token_lifetime_maximum_is_24_hours_unless_configured() {
        assert_eq!(
            config(&[SECRET]).unwrap().jwt.max_ttl,
            time::Duration::hours(24)
        );
        let c = config(&[SECRET, ("COMPTOIR_JWT_MAX_TTL", "30m")]).unwrap();
        assert_eq!(c.jwt.max_ttl, time::Duration::minutes(30));
        for bad in [
            "0",
            "-1h",
            "12x",
            "h",
            "999999999999999d",
            "9223372036854775808",
        ] {
            let e = config(&[SECRET, ("COMPTOIR_JWT_MAX_TTL", bad)]).unwrap_err();
            assert_eq!(e.name, "COMPTOIR_JWT_MAX_TTL", "{bad}");
        }
    }

    #[test]
    fn the_test_clock_worker_looks_every_second_and_holds_an_advance_a_minute_unless_configured() {
        let c = config(&[SECRET]).unwrap();
        assert_eq!(c.test_clocks.poll, std::time::Duration::from_secs(1));
        assert_eq!(c.test_clocks.lease, time::Duration::seconds(60));
        let c = config(&[
            SECRET,
            ("COMPTOIR_TEST_CLOCK_POLL", "20ms"),
            ("COMPTOIR_TEST_CLOCK_LEASE", "2s"),
        ])
        .unwrap();
        assert_eq!(c.test_clocks.poll, std::time::Duration::from_millis(20));
        assert_eq!(c.test_clocks.lease, time::Duration::seconds(2));
        for (name, bad) in [
            ("COMPTOIR_TEST_CLOCK_POLL", "0"),
            ("COMPTOIR_TEST_CLOCK_POLL", "25h"),
            ("COMPTOIR_TEST_CLOCK_LEASE", "2h"),
            ("COMPTOIR_TEST_CLOCK_LEASE", "soon"),
        ] {
            assert_eq!(
                config(&[SECRET, (name, bad)]).unwrap_err().name,
                name,
                "{bad}"
            );
        }
    }

    #[test]
    fn webhook_deliveries_are_retried_for_3_days_unless_configured() {
        let c = config(&[SECRET]).unwrap();
        assert_eq!(c.webhook_delivery, WebhookDeliveryConfig::default());
        assert_eq!(c.webhook_delivery.retry_window, time::Duration::days(3));
        let c = config(&[
            SECRET,
            ("COMPTOIR_WEBHOOK_RETRY_BASE", "200ms"),
            ("COMPTOIR_WEBHOOK_RETRY_CAP", "2s"),
            ("COMPTOIR_WEBHOOK_RETRY_WINDOW", "1h"),
            ("COMPTOIR_WEBHOOK_POLL", "50ms"),
        ])
        .unwrap();
        assert_eq!(
            c.webhook_delivery,
            WebhookDeliveryConfig {
                retry_base: std::time::Duration::from_millis(200),
                retry_cap: std::time::Duration::from_secs(2),
                retry_window: time::Duration::hours(1),
                poll: std::time::Duration::from_millis(50),
            }
        );
        for (name, value) in [
            ("COMPTOIR_WEBHOOK_RETRY_BASE", "2h"),
            ("COMPTOIR_WEBHOOK_RETRY_CAP", "7h"),
            ("COMPTOIR_WEBHOOK_RETRY_CAP", "10s"),
            ("COMPTOIR_WEBHOOK_RETRY_WINDOW", "0"),
            ("COMPTOIR_WEBHOOK_POLL", "soon"),
        ] {
            let e = config(&[SECRET, (name, value)]).expect_err(value);
            assert_eq!(e.name, name);
        }
    }

    #[test]
    fn durations_read_seconds_or_a_unit_and_never_overflow() {
        assert_eq!(
            parse_duration("250ms"),
            Some(time::Duration::milliseconds(250))
        );
        assert_eq!(parse_duration("0ms"), None);
        assert_eq!(parse_duration("ms"), None);
        assert_eq!(parse_duration("90"), Some(time::Duration::seconds(90)));
        assert_eq!(parse_duration("12h"), Some(time::Duration::hours(12)));
        assert_eq!(parse_duration("7d"), Some(time::Duration::days(7)));
        assert_eq!(parse_duration("999999999999999d"), None);
        assert!(parse_duration("99999999999999d").is_some());
        assert_eq!(parse_duration("9223372036854775807m"), None);
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn the_invoice_grace_is_zero_by_default_or_a_duration_of_at_most_31_days() {
        assert_eq!(
            config(&[SECRET]).unwrap().invoice_grace,
            time::Duration::ZERO
        );
        for (raw, grace) in [
            ("0", time::Duration::ZERO),
            ("0s", time::Duration::ZERO),
            ("00h", time::Duration::ZERO),
            ("3d", time::Duration::days(3)),
            ("31d", time::Duration::days(31)),
            ("90m", time::Duration::minutes(90)),
        ] {
            let c = config(&[SECRET, ("COMPTOIR_INVOICE_GRACE", raw)]).unwrap();
            assert_eq!(c.invoice_grace, grace, "{raw}");
        }
        for bad in ["32d", "-1h", "soon", "", "0w", "0ss"] {
            let e = config(&[SECRET, ("COMPTOIR_INVOICE_GRACE", bad)]).unwrap_err();
            assert_eq!(e.name, "COMPTOIR_INVOICE_GRACE", "{bad}");
        }
    }

    #[test]
    fn vies_is_the_eus_service_with_10_seconds_unless_configured() {
        let c = config(&[SECRET]).unwrap();
        assert_eq!(c.vies_url, DEFAULT_VIES_URL);
        assert_eq!(c.vies_timeout, std::time::Duration::from_secs(10));
        let c = config(&[
            SECRET,
            ("COMPTOIR_VIES_URL", "http://127.0.0.1:8089/vies/"),
            ("COMPTOIR_VIES_TIMEOUT", "1"),
        ])
        .unwrap();
        assert_eq!(c.vies_url, "http://127.0.0.1:8089/vies");
        assert_eq!(c.vies_timeout, std::time::Duration::from_secs(1));
        for bad in ["0", "-1", "6m", "soon"] {
            let e = config(&[SECRET, ("COMPTOIR_VIES_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(e.name, "COMPTOIR_VIES_TIMEOUT", "{bad}");
        }
        let e = config(&[SECRET, ("COMPTOIR_VIES_URL", "ec.europa.eu/vies")]).unwrap_err();
        assert_eq!(e.name, "COMPTOIR_VIES_URL");
    }

    #[test]
    fn the_approved_platform_is_off_unless_its_url_is_set() {
        let c = config(&[SECRET]).unwrap();
        assert!(c.pa.is_none());
        assert!(c.pa_webhook_secret.is_none());
        let c = config(&[
            SECRET,
            ("COMPTOIR_PA_URL", "https://pa.example/v1/invoices/"),
            ("COMPTOIR_PA_TOKEN", "pa-token-secret"),
            ("COMPTOIR_PA_WEBHOOK_SECRET", &"p".repeat(32)),
        ])
        .unwrap();
        let pa = c.pa.as_ref().unwrap();
        assert_eq!(pa.url, "https://pa.example/v1/invoices");
        assert_eq!(pa.timeout, std::time::Duration::from_secs(30));
        assert!(!format!("{c:?}").contains("pa-token-secret"));
        for (name, value) in [
            ("COMPTOIR_PA_URL", "pa.example/invoices"),
            ("COMPTOIR_PA_TIMEOUT", "3m"),
            ("COMPTOIR_PA_WEBHOOK_SECRET", "short"),
        ] {
            let e = config(&[SECRET, (name, value)]).unwrap_err();
            assert_eq!(e.name, name, "{value}");
            assert!(!e.to_string().contains("short"));
        }
    }

    #[test]
    fn comptoir_now_fixes_the_clock() {
        let c = config(&[SECRET, ("COMPTOIR_NOW", "2026-04-09T10:00:00Z")]).unwrap();
        assert_eq!(c.now.unwrap().unix_timestamp(), 1_775_728_800);
        assert!(config(&[SECRET, ("COMPTOIR_NOW", "yesterday")]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = config(&[SECRET]).unwrap();
        assert!(!format!("{c:?}").contains(SECRET.1));
    }
}
