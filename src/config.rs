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
}

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
                Some(s) if s.expose().len() < 32 => {
                    return Err(err("COMPTOIR_JWT_SECRET", "must be at least 32 bytes"));
                }
                Some(_) => {}
            },
            _ if public_key_pem.is_none() => {
                return Err(err(
                    "COMPTOIR_JWT_PUBLIC_KEY_FILE",
                    "is required for RS256 and ES256",
                ));
            }
            _ => {}
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
        let default_seller = Seller::default();
        let seller = Seller {
            name: get("COMPTOIR_SELLER_NAME").unwrap_or(default_seller.name),
            address: get("COMPTOIR_SELLER_ADDRESS")
                .map(|a| a.split('|').map(|l| l.trim().to_owned()).collect())
                .unwrap_or(default_seller.address),
            legal: get("COMPTOIR_SELLER_LEGAL").unwrap_or(default_seller.legal),
            vat_number: get("COMPTOIR_SELLER_VAT_NUMBER").unwrap_or(default_seller.vat_number),
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
            webhook_secret: get("COMPTOIR_WEBHOOK_SECRET").map(Secret::new),
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
        })
    }
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
