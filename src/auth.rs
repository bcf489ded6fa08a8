//! Bearer JWT authentication: verifies signature, `exp`, `nbf`, `iat`, the
//! token's lifetime, `iss` and `aud`, and turns the claims into a [`Caller`].

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AppState;
use crate::config::{ConfigError, JwtAlgorithm, JwtConfig};
use crate::domain::ids::AccountId;
use crate::domain::role::{Caller, Role};
use crate::error::ApiError;

/// The claims Comptoir reads (SPEC.md section 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub exp: i64,
    /// Required: without it a token's lifetime cannot be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iss: String,
    pub aud: String,
}

/// Keys and rules for verifying (and, with a shared secret, issuing) tokens.
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    max_ttl: time::Duration,
}

/// How far in the future `iat` and `nbf` may be: clocks drift.
const CLOCK_SKEW_SECONDS: i64 = 60;

impl JwtKeys {
    pub fn from_config(config: &JwtConfig) -> Result<Self, ConfigError> {
        let bad_key = |e: jsonwebtoken::errors::Error| ConfigError {
            name: "COMPTOIR_JWT_PUBLIC_KEY_FILE",
            reason: format!("not a usable PEM public key: {e}"),
        };
        let pem = config
            .public_key_pem
            .as_deref()
            .unwrap_or_default()
            .as_bytes();
        let (algorithm, decoding, encoding) = match (config.algorithm, &config.secret) {
            (JwtAlgorithm::Hs256, Some(secret)) => (
                Algorithm::HS256,
                DecodingKey::from_secret(secret.expose().as_bytes()),
                Some(EncodingKey::from_secret(secret.expose().as_bytes())),
            ),
            (JwtAlgorithm::Hs256, None) => {
                return Err(ConfigError {
                    name: "COMPTOIR_JWT_SECRET",
                    reason: "is required for HS256".into(),
                });
            }
            (JwtAlgorithm::Rs256, _) => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(pem).map_err(bad_key)?,
                None,
            ),
            (JwtAlgorithm::Es256, _) => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(pem).map_err(bad_key)?,
                None,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            decoding,
            encoding,
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            max_ttl: config.max_ttl,
        })
    }

    /// The longest a token may live (`COMPTOIR_JWT_MAX_TTL`).
    pub fn max_ttl(&self) -> time::Duration {
        self.max_ttl
    }

    /// Signs a token (HS256 only: with an external identity provider, that
    /// provider issues tokens). Expiry is real time, not the business clock.
    /// A `ttl` longer than [`JwtKeys::max_ttl`] is refused (the token would
    /// be refused anyway); a negative one makes an expired token.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        account: Option<&AccountId>,
        ttl: time::Duration,
    ) -> Result<String, String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or("tokens are issued by the identity provider when RS256/ES256 is configured")?;
        if ttl > self.max_ttl {
            return Err("the lifetime is longer than COMPTOIR_JWT_MAX_TTL allows".into());
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let exp = now
            .checked_add(ttl.whole_seconds())
            .ok_or("the lifetime is out of range")?;
        let claims = Claims {
            sub: subject.to_owned(),
            role: role.as_str().to_owned(),
            account_id: account.map(|a| a.as_str().to_owned()),
            exp,
            iat: Some(now),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| e.to_string())
    }

    /// Verifies a bearer token and reads the caller out of it.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                ApiError::Unauthenticated(
                    match e.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::InvalidAudience => "the token is not meant for this API",
                        ErrorKind::InvalidIssuer => "the token comes from an unknown issuer",
                        ErrorKind::InvalidSignature => "the token signature is invalid",
                        _ => "the token is malformed or invalid",
                    }
                    .into(),
                )
            })?;
        let claims = data.claims;
        self.check_times(&claims, OffsetDateTime::now_utc().unix_timestamp())?;
        let role = Role::parse(&claims.role)
            .ok_or_else(|| ApiError::Unauthenticated("the token has an unknown role".into()))?;
        let account_id = match claims.account_id.as_deref() {
            Some(raw) => Some(AccountId::parse(raw).ok_or_else(|| {
                ApiError::Unauthenticated("the token's account_id is not an account id".into())
            })?),
            None => None,
        };
        // Staff act on every account; everyone else is bound to exactly one.
        match (role.is_staff(), &account_id) {
            (true, Some(_)) => Err(ApiError::Unauthenticated(
                "a staff token carries no account_id".into(),
            )),
            (false, None) => Err(ApiError::Unauthenticated(
                "this role needs an account_id claim".into(),
            )),
            _ => Ok(Caller {
                subject: claims.sub,
                role,
                account_id,
            }),
        }
    }

    /// The checks on time that `jsonwebtoken` does not make: `nbf` and `iat`
    /// not in the future (beyond the clock skew), and a lifetime (`exp - iat`)
    /// within the maximum. Only made on a token whose signature holds; the
    /// details name the check, never the expected values.
    fn check_times(&self, claims: &Claims, now: i64) -> Result<(), ApiError> {
        let refuse = |why: &str| Err(ApiError::Unauthenticated(why.into()));
        let future = |at: i64| at.saturating_sub(now) > CLOCK_SKEW_SECONDS;
        if claims.nbf.is_some_and(future) {
            return refuse("the token is not valid yet (nbf is in the future)");
        }
        let Some(iat) = claims.iat else {
            return refuse("the token has no iat claim, so its lifetime cannot be checked");
        };
        if future(iat) {
            return refuse("the token was issued in the future (iat is in the future)");
        }
        let too_long = claims
            .exp
            .checked_sub(iat)
            .is_none_or(|lifetime| lifetime > self.max_ttl.whole_seconds());
        if too_long {
            return refuse("the token lives longer than this API allows (exp - iat)");
        }
        Ok(())
    }
}

/// The bearer token of a request, verified.
pub fn caller_of(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState missing"))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthenticated("a bearer token is required".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())
        })?;
    state.keys.verify(token)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_of(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn keys(secret: &str, audience: &str) -> JwtKeys {
        JwtKeys::from_config(&JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            secret: Some(Secret::new(secret)),
            public_key_pem: None,
            issuer: "comptoir".into(),
            audience: audience.into(),
            max_ttl: crate::config::DEFAULT_JWT_MAX_TTL,
        })
        .unwrap()
    }

    const S: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_to_its_caller() {
        let k = keys(S, "comptoir-api");
        let account = AccountId::generate();
        let token = k
            .issue(
                "usr_1",
                Role::Admin,
                Some(&account),
                time::Duration::hours(1),
            )
            .unwrap();
        let caller = k.verify(&token).unwrap();
        assert_eq!(caller.role, Role::Admin);
        assert_eq!(caller.account_id, Some(account));
    }

    #[test]
    fn expired_foreign_or_misaddressed_tokens_are_refused() {
        let k = keys(S, "comptoir-api");
        let a = AccountId::generate();
        let expired = k
            .issue("u", Role::Admin, Some(&a), time::Duration::hours(-2))
            .unwrap();
        let other_key = keys("another-secret-of-32-bytes-or-more!!", "comptoir-api")
            .issue("u", Role::Admin, Some(&a), time::Duration::hours(1))
            .unwrap();
        let other_aud = keys(S, "someone-else")
            .issue("u", Role::Admin, Some(&a), time::Duration::hours(1))
            .unwrap();
        for token in [expired, other_key, other_aud, "not.a.jwt".to_string()] {
            assert!(k.verify(&token).is_err());
        }
    }

    #[test]
    fn customer_roles_need_an_account_and_staff_must_not_have_one() {
        let k = keys(S, "comptoir-api");
        let a = AccountId::generate();
        let hour = time::Duration::hours(1);
        assert!(
            k.verify(&k.issue("u", Role::Viewer, None, hour).unwrap())
                .is_err()
        );
        assert!(
            k.verify(&k.issue("u", Role::Support, Some(&a), hour).unwrap())
                .is_err()
        );
        assert!(
            k.verify(&k.issue("u", Role::Support, None, hour).unwrap())
                .is_ok()
        );
    }

    fn claims(iat: Option<i64>, nbf: Option<i64>, exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            role: "admin".into(),
            account_id: Some("acc_demo".into()),
            exp,
            iat,
            nbf,
            iss: "comptoir".into(),
            aud: "comptoir-api".into(),
        }
    }

    #[test]
    fn time_checks_allow_a_minute_of_skew_and_the_maximum_lifetime() {
        let k = keys(S, "comptoir-api");
        let now = 1_800_000_000;
        let day = 86_400;
        let ok = |c: Claims| k.check_times(&c, now).is_ok();
        assert!(ok(claims(Some(now), None, now + day)));
        assert!(ok(claims(Some(now + 60), Some(now + 60), now + 60 + day)));
        assert!(!ok(claims(Some(now + 61), None, now + day)), "iat ahead");
        assert!(
            !ok(claims(Some(now), Some(now + 61), now + day)),
            "nbf ahead"
        );
        assert!(!ok(claims(Some(now), None, now + day + 1)), "too long");
        assert!(!ok(claims(None, None, now + 60)), "no iat");
        assert!(!ok(claims(Some(i64::MIN), Some(i64::MAX), i64::MAX)));
        assert!(
            !ok(claims(Some(i64::MIN), None, i64::MAX)),
            "overflowing lifetime"
        );
    }

    #[test]
    fn issuing_beyond_the_maximum_or_out_of_range_is_refused_without_panic() {
        let k = keys(S, "comptoir-api");
        assert!(
            k.issue("u", Role::Support, None, time::Duration::hours(24))
                .is_ok()
        );
        for ttl in [
            time::Duration::hours(25),
            time::Duration::MAX,
            time::Duration::seconds(i64::MAX),
        ] {
            assert!(k.issue("u", Role::Support, None, ttl).is_err());
        }
    }

    /// Test-only key pair in tests/fixtures (never used outside tests).
    const ES256_PUBLIC: &str = include_str!("../tests/fixtures/es256-public.pem");
    const ES256_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/es256-private.pem");

    #[test]
    fn an_identity_provider_es256_token_verifies_with_its_public_key_and_hs256_is_refused() {
        let keys = JwtKeys::from_config(&JwtConfig {
            algorithm: JwtAlgorithm::Es256,
            secret: None,
            public_key_pem: Some(ES256_PUBLIC.into()),
            issuer: "comptoir".into(),
            audience: "comptoir-api".into(),
            max_ttl: crate::config::DEFAULT_JWT_MAX_TTL,
        })
        .unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: "idp|42".into(),
            role: "admin".into(),
            account_id: Some("acc_demo".into()),
            exp: now + 600,
            iat: Some(now),
            nbf: None,
            iss: "comptoir".into(),
            aud: "comptoir-api".into(),
        };
        let signed = jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_pem(ES256_PRIVATE).unwrap(),
        )
        .unwrap();
        assert_eq!(keys.verify(&signed).unwrap().subject, "idp|42");

        // Algorithm confusion: an HS256 token signed with the public key as secret.
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(ES256_PUBLIC.as_bytes()),
        )
        .unwrap();
        assert!(keys.verify(&forged).is_err());
        // Comptoir does not issue tokens for an external provider.
        assert!(
            keys.issue("u", Role::Support, None, time::Duration::hours(1))
                .is_err()
        );
    }
}
