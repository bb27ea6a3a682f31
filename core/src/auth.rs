//! API keys and who they speak for: who is asking.
//!
//! Every request carries an API key (`Authorization: Bearer <key>`); the
//! key names a [`Principal`]: a customer (it can neither submit in
//! another's name nor read another's RFQs), a partner (its own providers'
//! scorecards and the RFQs addressed to them, as a partner may see them)
//! or an operator (reads everything). Only customers post RFQs. Keys come
//! from the settings (`--api-keys`, `--api-keys-file`: the embedded
//! default and tests) and from the result store (`rfq keys add`:
//! production, shared by every producer and API instance). Only a key's
//! SHA-256 digest is kept or compared; the key itself never reaches a
//! log, a metric or the store.
//!
//! A browser's `EventSource` cannot send headers, so the live events
//! route also takes the key as the `access_token` query parameter
//! (RFC 6750, section 2.3); nothing logs request URIs.

mod keys;
pub mod partners;
mod principal;
pub mod scram;
mod settings;

pub use keys::{ApiKey, KeyDigest};
pub use principal::{OperatorName, Principal, Role};
pub use settings::AuthSettings;

use crate::{CustomerId, problem::Problem};
use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Where keys not in the settings are looked up (the result store).
#[async_trait::async_trait]
pub trait KeyDirectory: Send + Sync {
    /// Who a key digest speaks for, if anyone; an error says why the
    /// directory cannot be read.
    async fn principal_of(&self, digest: &KeyDigest) -> Result<Option<Principal>, String>;
}

/// How long a key looked up in the directory is remembered (found or not):
/// a key added reaches every instance within this time, and a flood of
/// unknown keys costs one read each per period.
const CACHE_FOR: Duration = Duration::from_secs(30);

/// Keys remembered at most; beyond, the memory starts over.
const CACHE_MAX: usize = 100_000;

/// Why a request has no principal, or not one allowed to do what it asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error("this API needs an API key: send `Authorization: Bearer <key>`")]
    Missing,
    /// Credentials that name no customer (malformed, unknown or revoked).
    #[error("the API key is not valid")]
    Invalid,
    /// The key directory cannot be read right now.
    #[error("API keys cannot be checked right now: {0}")]
    Unavailable(String),
    /// A valid key whose role may not do this (`403`).
    #[error("{0}")]
    Forbidden(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let challenge = match self {
            AuthError::Missing => "Bearer realm=\"rfq\"",
            AuthError::Invalid => "Bearer realm=\"rfq\", error=\"invalid_token\"",
            AuthError::Forbidden(_) => {
                return Problem::new(StatusCode::FORBIDDEN, "Forbidden", detail).into_response();
            }
            AuthError::Unavailable(_) => {
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    detail,
                )
                .retry_after(1)
                .into_response();
            }
        };
        let mut response =
            Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    }
}

/// Directory answers remembered: the principal (or none) and when read.
type Remembered = HashMap<KeyDigest, (Option<Principal>, Instant)>;

/// Turns credentials into a principal.
#[derive(Clone)]
pub struct Authenticator {
    /// Keys from the settings.
    configured: Arc<HashMap<KeyDigest, Principal>>,
    /// Where other keys are looked up.
    directory: Option<Arc<dyn KeyDirectory>>,
    /// Directory answers remembered, with when they were read.
    cache: Arc<Mutex<Remembered>>,
}

impl Authenticator {
    /// Knows the keys `configured` and, if given, those of `directory`.
    pub fn new(
        configured: HashMap<KeyDigest, Principal>,
        directory: Option<Arc<dyn KeyDirectory>>,
    ) -> Authenticator {
        Authenticator {
            configured: Arc::new(configured),
            directory,
            cache: Arc::default(),
        }
    }

    /// The customer whose key the request carries (`POST /rfqs`): a
    /// partner's or an operator's key is refused (`403`): nobody posts an
    /// RFQ in a customer's name but the customer.
    pub async fn customer(&self, headers: &HeaderMap) -> Result<CustomerId, AuthError> {
        match self.principal(headers, None).await? {
            Principal::Customer(customer) => Ok(customer),
            other => Err(AuthError::Forbidden(format!(
                "a {} key does not post RFQs: only a customer's key does",
                other.role().as_str()
            ))),
        }
    }

    /// Who the key the request carries speaks for: `Authorization: Bearer`,
    /// else (where the route allows it) the `access_token` query parameter.
    pub async fn principal(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let key = match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().map_err(|_| AuthError::Invalid)?;
                let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return Err(AuthError::Invalid);
                }
                token.trim()
            }
            None => query_token.ok_or(AuthError::Missing)?,
        };
        let key = ApiKey::parse(key).map_err(|_| AuthError::Invalid)?;
        self.principal_of(&key.digest())
            .await?
            .ok_or(AuthError::Invalid)
    }

    async fn principal_of(&self, digest: &KeyDigest) -> Result<Option<Principal>, AuthError> {
        if let Some(principal) = self.configured.get(digest) {
            return Ok(Some(principal.clone()));
        }
        let Some(directory) = &self.directory else {
            return Ok(None);
        };
        if let Some((principal, at)) = self.cache().get(digest)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(principal.clone());
        }
        let principal = directory
            .principal_of(digest)
            .await
            .map_err(AuthError::Unavailable)?;
        let mut cache = self.cache();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(digest.clone(), (principal.clone(), Instant::now()));
        Ok(principal)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
