//! Keys and the four things done with them: encrypting IBANs at rest
//! (AES-256-GCM), fingerprinting card numbers (HMAC-SHA256 with a key derived
//! from the data key), fingerprinting request bodies for idempotency (HMAC,
//! never a bare hash: see [`BodyKey`]), and checking payment webhook
//! signatures.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The 32-byte data key (`COMPTOIR_DATA_KEY`, base64). `Debug` hides it.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("COMPTOIR_DATA_KEY must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("a stored secret cannot be decrypted with this key")]
    Decrypt,
}

impl DataKey {
    pub fn from_base64(raw: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self(key))
    }

    fn subkey(&self, label: &str) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plaintext`: base64 of a fresh 96-bit nonce and the ciphertext.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = Aes256Gcm::new_from_slice(&self.subkey("comptoir/iban-encryption"))
            .expect("32-byte key");
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of a short text cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, sealed: &str) -> Result<String, CryptoError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        let cipher = Aes256Gcm::new_from_slice(&self.subkey("comptoir/iban-encryption"))
            .expect("32-byte key");
        let plain = cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }

    /// A keyed fingerprint: the same input gives the same value, which says
    /// nothing about the input without the key.
    pub fn fingerprint(&self, input: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.subkey("comptoir/card-fingerprint"))
                .expect("HMAC takes any key length");
        mac.update(input.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The key of request-body fingerprints (`Idempotency-Key` records). A bare
/// hash of a body that carries an IBAN or a card number could be reversed by
/// hashing candidate bodies (the other fields are stored in clear), so the
/// fingerprint is an HMAC whose key never leaves the server's configuration.
///
/// Derived, with its own label, from `COMPTOIR_DATA_KEY` when it is set (it
/// always is where IBANs and cards are taken), else from the HS256
/// `COMPTOIR_JWT_SECRET`. With neither (RS256/ES256 and no data key) there
/// is no secret to derive it from and the server refuses to start. Changing
/// the source key only changes the fingerprints of the keys of the last 24
/// hours: a retry of such a request is refused as a reused key.
#[derive(Clone)]
pub struct BodyKey([u8; 32]);

impl fmt::Debug for BodyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyKey(<redacted>)")
    }
}

const BODY_KEY_LABEL: &str = "comptoir/request-body-fingerprint";

impl BodyKey {
    /// The key from the data key, else from the JWT shared secret.
    pub fn derive(data_key: Option<&DataKey>, jwt_secret: Option<&str>) -> Option<Self> {
        match (data_key, jwt_secret) {
            (Some(key), _) => Some(Self(key.subkey(BODY_KEY_LABEL))),
            (None, Some(secret)) => {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(BODY_KEY_LABEL.as_bytes());
                Some(Self(mac.finalize().into_bytes().into()))
            }
            (None, None) => None,
        }
    }

    /// Hex HMAC-SHA256 of `input` (a request's method, path and canonical body).
    pub fn fingerprint(&self, input: &str) -> String {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(input.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Signs a webhook payload: hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a webhook signature in constant time.
pub fn verify_webhook_signature(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    signature: &str,
) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn an_encrypted_value_decrypts_and_never_shows_in_clear() {
        let k = key();
        let sealed = k.encrypt("FR7630006000011234567890189");
        assert!(!sealed.contains("FR76"));
        assert_ne!(
            sealed,
            k.encrypt("FR7630006000011234567890189"),
            "fresh nonce"
        );
        assert_eq!(k.decrypt(&sealed).unwrap(), "FR7630006000011234567890189");
        let other = DataKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.decrypt(&sealed).is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(DataKey::from_base64("short").is_err());
        assert!(DataKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(!format!("{:?}", key()).contains('7'));
    }

    #[test]
    fn fingerprints_are_stable_and_keyed() {
        let k = key();
        assert_eq!(
            k.fingerprint("4242424242424242"),
            k.fingerprint("4242424242424242")
        );
        assert_ne!(
            k.fingerprint("4242424242424242"),
            k.fingerprint("4000056655665556")
        );
        let other = DataKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(
            k.fingerprint("4242424242424242"),
            other.fingerprint("4242424242424242")
        );
    }

    #[test]
    fn body_fingerprints_are_keyed_never_a_bare_hash() {
        use sha2::Digest;
        let body = "POST /v1/accounts/acc_1/payment-methods/sepa\n{\"iban\":\"FR7630006000011234567890189\"}";
        let from_data = BodyKey::derive(Some(&key()), Some("jwt-secret")).unwrap();
        let from_jwt = BodyKey::derive(None, Some("jwt-secret")).unwrap();
        assert_eq!(from_data.fingerprint(body), from_data.fingerprint(body));
        assert_ne!(from_data.fingerprint(body), from_jwt.fingerprint(body));
        assert_ne!(
            from_data.fingerprint(body),
            key().fingerprint(body),
            "a key of its own, not the card fingerprints' one"
        );
        let bare = hex::encode(Sha256::digest(body));
        assert_ne!(from_data.fingerprint(body), bare);
        assert_ne!(from_jwt.fingerprint(body), bare);
        assert!(BodyKey::derive(None, None).is_none());
        assert!(!format!("{from_jwt:?}").contains('['));
    }

    #[test]
    fn webhook_signatures_cover_the_timestamp_and_the_body() {
        let sig = webhook_signature("whsec", 1_775_728_800, b"{\"a\":1}");
        assert!(verify_webhook_signature(
            "whsec",
            1_775_728_800,
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_webhook_signature(
            "whsec",
            1_775_728_801,
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_webhook_signature(
            "whsec",
            1_775_728_800,
            b"{\"a\":2}",
            &sig
        ));
        assert!(!verify_webhook_signature(
            "other",
            1_775_728_800,
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_webhook_signature(
            "whsec",
            1_775_728_800,
            b"{\"a\":1}",
            "zz"
        ));
    }
}
