//! An API key and its digest.

use crate::DomainError;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Shortest key accepted: a key is a secret, not a password to remember.
const MIN_LEN: usize = 16;
/// Longest key accepted.
const MAX_LEN: usize = 256;

/// An API key: a secret. It is never printed by `Debug` and never stored;
/// only its [`KeyDigest`] is.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Checks a key from outside the process: 16 to 256 characters of the
    /// bearer token alphabet (letters, digits, `-._~+/=`).
    pub fn parse(text: &str) -> Result<ApiKey, DomainError> {
        let text = text.trim();
        if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
            return Err(DomainError::new(
                "api-key",
                format!("must be {MIN_LEN} to {MAX_LEN} characters"),
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(*c)))
        {
            return Err(DomainError::new(
                "api-key",
                format!("must not contain {bad:?}"),
            ));
        }
        Ok(ApiKey(text.to_owned()))
    }

    /// A new random key (244 random bits, prefixed so it is recognisable
    /// in a secret scanner).
    pub fn generate() -> ApiKey {
        let random = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        ApiKey(format!("rfq_{random}"))
    }

    /// The key, to hand to its customer once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and compared instead of the key.
    pub fn digest(&self) -> KeyDigest {
        let digest = Sha256::digest(self.0.as_bytes());
        KeyDigest(digest.iter().map(|byte| format!("{byte:02x}")).collect())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

/// The SHA-256 of an API key, in hex: how a key is stored and looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyDigest(String);

impl KeyDigest {
    /// A digest read back from a store (64 hex digits).
    pub fn parse(hex: &str) -> Result<KeyDigest, DomainError> {
        if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(KeyDigest(hex.to_ascii_lowercase()))
        } else {
            Err(DomainError::new("digest", "must be 64 hex digits"))
        }
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
