//! Safe retries of `POST /rfqs`: the `Idempotency-Key` request header, with
//! the semantics of the IETF httpapi draft
//! (draft-ietf-httpapi-idempotency-key-header).
//!
//! A client that sends a key and then retries (after a timeout, a dropped
//! connection, a `503`) gets the RFQ of its first request instead of a
//! second one. The key is claimed in the store ([`rfq_store::Store::claim_key`]),
//! scoped by customer, together with a fingerprint of the request and the
//! id the RFQ will get; the store makes the first claim win across every
//! producer and keeps it across restarts for `--idempotency-key-hours`.
//!
//! A retry with the key then finds the claim and is answered by what it says:
//!
//! * another request (another fingerprint): `422`, the key was reused;
//! * the first request's RFQ accepted: the first answer again — `202`, the
//!   same id, `Location` and body (the RFQ as accepted: where it stands now
//!   is what `Location` serves; a replay never shows a later state, so the
//!   answer does not depend on when the retry arrives);
//! * the first request still under way: `409` with `Retry-After`. Once the
//!   claim is older than [`TAKEOVER_AFTER`] (a producer gives up on a keyed
//!   intake after [`KEYED_INTAKE_LIMIT`], so the first request can no longer
//!   be writing) the first request died with its producer: if its RFQ is in
//!   the store the retry answers it, else the retry takes the key over and
//!   creates the RFQ under a new id.
//!
//! A first request that fails (`503`: Kafka or the store did not
//! acknowledge, too many RFQs open) releases its key, so the retry is
//! accepted at once. What the key does not cover: a producer that crashes
//! between its Kafka copy or store write and the broadcast leaves an RFQ no
//! adapter saw (it closes at its deadline, unanswered, as without a key);
//! a retry after [`TAKEOVER_AFTER`] answers that RFQ if it reached the store.

use crate::{Intake, body::CompletionRequest, body::NewRfq, error::IntakeError};
use axum::http::{HeaderMap, HeaderName};
use chrono::Utc;
use rfq_core::{CorrelationId, IdempotencyKey, Rfq, kafka::DELIVERY_TIMEOUT};
use rfq_store::{Claimed, KeyClaim};
use std::time::Duration;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Longest a producer works on a keyed submission (two Kafka writes, each
/// bounded by [`DELIVERY_TIMEOUT`], and the store) before it answers `503`
/// and releases the key.
pub const KEYED_INTAKE_LIMIT: Duration = DELIVERY_TIMEOUT
    .saturating_mul(2)
    .saturating_add(Duration::from_secs(10));

/// Age past which a claim that was neither completed nor released belongs
/// to a request that will never finish (its producer stopped): a retry may
/// take the key over.
pub const TAKEOVER_AFTER: Duration = KEYED_INTAKE_LIMIT.saturating_add(Duration::from_secs(20));

/// Seconds a client whose first request is still under way is asked to wait.
const IN_FLIGHT_RETRY_AFTER: u64 = 1;

/// An RFQ accepted by a submission.
pub(crate) struct Accepted {
    /// The RFQ as accepted.
    pub rfq: Rfq,
    /// Whether this is the answer to an earlier request with the same key.
    pub replayed: bool,
}

/// The request's `Idempotency-Key`, if it has one.
///
/// The draft makes the key a Structured Field String (RFC 9651):
/// `Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`, with `\"`
/// and `\\` as its only escapes. Being liberal, a bare value without
/// quotes is taken as the same key (`8e03978e-…` ≡ `"8e03978e-…"`), as
/// long as it has no space, quote, backslash, comma or semicolon (which
/// would make it ambiguous). Anything else, parameters included, and more
/// than one key, is a `400`.
pub(crate) fn key_of(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, IntakeError> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed("send one Idempotency-Key, not several"));
    }
    let text = value
        .to_str()
        .map_err(|_| malformed("the Idempotency-Key must be ASCII"))?;
    parse_key(text).map(Some)
}

fn malformed(detail: impl Into<String>) -> IntakeError {
    IntakeError::BadIdempotencyKey(detail.into())
}

/// A header value: a Structured Field String, or a bare key.
fn parse_key(text: &str) -> Result<IdempotencyKey, IntakeError> {
    let text = text.trim_matches([' ', '\t']);
    let key = match text.strip_prefix('"') {
        Some(quoted) => {
            let mut key = String::new();
            let mut chars = quoted.chars();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped @ ('"' | '\\')) => key.push(escaped),
                        _ => return Err(malformed("only \\\" and \\\\ may be escaped in the key")),
                    },
                    Some(c) => key.push(c),
                    None => return Err(malformed("the quoted key has no closing quote")),
                }
            }
            if !chars.as_str().is_empty() {
                return Err(malformed(
                    "nothing may follow the quoted key (parameters are not supported)",
                ));
            }
            key
        }
        None => {
            if let Some(bad) = text
                .chars()
                .find(|c| matches!(c, ' ' | '"' | '\\' | ',' | ';'))
            {
                return Err(malformed(format!(
                    "an unquoted key must not contain {bad:?}: send it as a quoted string"
                )));
            }
            text.to_owned()
        }
    };
    IdempotencyKey::parse(&key).map_err(|e| malformed(e.message))
}

/// The request in a canonical form: what a retry must repeat to be the
/// same request. Built from the parsed request, so the JSON's spacing, key
/// order and number spelling (`52.5` or `52.50`) do not matter, and a
/// default left out equals the default written out. The customer is left
/// out: it is the key's scope. `v1` names this form; another form would
/// make keys claimed under this one read as reused until they expire.
pub fn fingerprint(new: &NewRfq) -> String {
    // `+ 0.0` turns -0 into 0.
    let point = |p: &rfq_core::GeoPoint| format!("{},{}", p.lat() + 0.0, p.lon() + 0.0);
    let completion = match &new.completion {
        CompletionRequest::All => "all".to_owned(),
        CompletionRequest::FirstN(n) => format!("first-n:{n}"),
        CompletionRequest::Quorum(None) => "quorum".to_owned(),
        CompletionRequest::Quorum(Some(n)) => format!("quorum:{n}"),
        CompletionRequest::Deadline => "deadline".to_owned(),
        CompletionRequest::Quality(price) => {
            format!("quality:{}:{}", price.minor(), price.currency().as_str())
        }
    };
    format!(
        "v1 from={} to={} deadline-seconds={} completion={completion}",
        point(&new.from),
        point(&new.to),
        new.deadline.as_secs(),
    )
}

impl Intake {
    /// Accepts `new` once per `key` of its customer: the first time as
    /// [`Intake::accept`] does, then as the module docs say.
    pub(crate) async fn accept_once(
        &self,
        key: IdempotencyKey,
        new: NewRfq,
    ) -> Result<Accepted, IntakeError> {
        let store = self.store();
        let unavailable = |e: rfq_store::StoreError| IntakeError::Unavailable(e.to_string());
        let now = Utc::now();
        let window = chrono::Duration::hours(i64::from(self.settings().idempotency_key_hours));
        let mut claim = KeyClaim {
            // The key's scope: the customer the request is made for.
            customer: new.customer.clone(),
            key,
            fingerprint: fingerprint(&new),
            rfq: CorrelationId::new_random(),
            claimed_at: now,
            expires_at: now + window,
            completed: false,
        };
        let mut taken_over = false;
        loop {
            let held = match store.claim_key(&claim, now).await.map_err(unavailable)? {
                Claimed::Won => return self.accept_claimed(&claim, new).await,
                Claimed::Held(held) => held,
            };
            if held.fingerprint != claim.fingerprint {
                return Err(IntakeError::KeyReused);
            }
            if held.completed {
                return self.replay(&held).await;
            }
            let age = (now - held.claimed_at).to_std().unwrap_or_default();
            if age < TAKEOVER_AFTER || taken_over {
                return Err(IntakeError::KeyInFlight {
                    retry_after: IN_FLIGHT_RETRY_AFTER,
                });
            }
            // The first request's producer stopped mid-way.
            if store.rfq(&held.rfq).await.map_err(unavailable)?.is_some() {
                store.complete_key(&held).await.map_err(unavailable)?;
                return self.replay(&held).await;
            }
            tracing::info!(rfq = %held.rfq, "taking over an idempotency key left unfinished");
            store.release_key(&held).await.map_err(unavailable)?;
            claim.rfq = CorrelationId::new_random();
            taken_over = true;
        }
    }

    /// Accepts `new` as the RFQ `claim` reserved; completes the claim, or
    /// releases it if the RFQ was not accepted.
    async fn accept_claimed(&self, claim: &KeyClaim, new: NewRfq) -> Result<Accepted, IntakeError> {
        let accepted = tokio::time::timeout(KEYED_INTAKE_LIMIT, self.accept(new, claim.rfq))
            .await
            .unwrap_or_else(|_| {
                Err(IntakeError::Unavailable(format!(
                    "not recorded within {KEYED_INTAKE_LIMIT:?}"
                )))
            });
        let store = self.store();
        match accepted {
            Ok(rfq) => {
                // Accepted and durable: the client gets its 202 even if the
                // mark fails (a retry then waits for the takeover, which
                // finds the RFQ in the store and answers it).
                if let Err(error) = store.complete_key(claim).await {
                    tracing::warn!(%error, rfq = %rfq.id, "idempotency key not marked completed");
                }
                Ok(Accepted {
                    rfq,
                    replayed: false,
                })
            }
            Err(refused) => {
                if let Err(error) = store.release_key(claim).await {
                    tracing::warn!(%error, "idempotency key not released: a retry waits for the takeover");
                }
                Err(refused)
            }
        }
    }

    /// The answer to the request that first used `held`'s key.
    async fn replay(&self, held: &KeyClaim) -> Result<Accepted, IntakeError> {
        match self.store().rfq(&held.rfq).await {
            Ok(Some(stored)) => Ok(Accepted {
                rfq: stored.rfq,
                replayed: true,
            }),
            Ok(None) => Err(IntakeError::Unavailable(format!(
                "RFQ {} is not readable yet",
                held.rfq
            ))),
            Err(error) => Err(IntakeError::Unavailable(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Result<String, IntakeError> {
        parse_key(value).map(|k| k.as_str().to_owned())
    }

    #[test]
    fn structured_strings_and_bare_keys_are_read() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(key(&format!("\"{uuid}\"")).unwrap(), uuid);
        assert_eq!(key(&format!(" \t\"{uuid}\" ")).unwrap(), uuid);
        assert_eq!(key(uuid).unwrap(), uuid);
        assert_eq!(
            key(r#""a \"quoted\" key \\ here""#).unwrap(),
            r#"a "quoted" key \ here"#
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "\"\"",
            "\"open",
            r#""bad \n escape""#,
            "\"k\";param=1",
            "\"k\", \"l\"",
            "two words",
            "semi;colon",
            &format!("\"{}\"", "k".repeat(256)),
        ] {
            assert!(
                matches!(parse_key(bad), Err(IntakeError::BadIdempotencyKey(_))),
                "{bad:?} was accepted"
            );
        }
        let mut headers = HeaderMap::new();
        assert!(key_of(&headers).unwrap().is_none());
        headers.append(&IDEMPOTENCY_KEY, "\"a\"".parse().unwrap());
        assert_eq!(key_of(&headers).unwrap().unwrap().as_str(), "a");
        headers.append(&IDEMPOTENCY_KEY, "\"b\"".parse().unwrap());
        assert!(key_of(&headers).is_err(), "two keys");
    }

    #[test]
    fn the_fingerprint_is_of_the_parsed_request() {
        let limits = rfq_core::settings::defaults();
        let of = |body: &str| {
            fingerprint(
                &crate::body::parse(
                    body.as_bytes(),
                    limits,
                    &rfq_core::CustomerId::parse("c").unwrap(),
                )
                .unwrap(),
            )
        };
        let first =
            of(r#"{"from":{"lat":52.5,"lon":13.4},"to":{"lat":52.45,"lon":13.5},"customer":"c"}"#);
        let same = of(r#"{ "customer" : "c", "deadline-seconds": 300,
            "to": {"lon": 13.50, "lat": 52.45}, "from": {"lon": 13.4, "lat": 52.50},
            "completion": {"rule": "all"} }"#);
        assert_eq!(first, same);
        let other = of(
            r#"{"from":{"lat":52.5,"lon":13.4},"to":{"lat":52.45,"lon":13.5},"customer":"c","deadline-seconds":60}"#,
        );
        assert_ne!(first, other);
        let quality = |price: &str| {
            of(&format!(
                r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}},"customer":"c",
                "completion":{{"rule":"quality","max-price":"{price}","currency":"EUR"}}}}"#
            ))
        };
        assert_eq!(quality("12.5"), quality("12.50"));
        assert_ne!(quality("12.5"), quality("12.6"));
    }
}
