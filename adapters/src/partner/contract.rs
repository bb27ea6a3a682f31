//! The HTTP partner contract (`docs/partners.md`, "Partners over HTTP"):
//! the JSON we send and the JSON we accept, parsed once here into domain
//! answers. Whatever a partner sends that is not a usable answer becomes a
//! [`Refusal`] with the reason, which the adapter dead-letters.

use chrono::{DateTime, Utc};
use rfq_core::{Answer, CorrelationId, Currency, GeoPoint, Price, ProviderId, Reply, Rfq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A point as the contract writes it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Point {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

impl From<GeoPoint> for Point {
    fn from(point: GeoPoint) -> Point {
        Point {
            lat: point.lat(),
            lon: point.lon(),
        }
    }
}

/// `POST {URL}/quotes`: one RFQ, for the partner's providers it addresses.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct QuoteRequest {
    /// The RFQ's id; also the call's `Idempotency-Key`.
    pub correlation_id: CorrelationId,
    /// The partner's own ids of the providers asked (without our prefix).
    pub providers: Vec<String>,
    /// Pickup point.
    pub pickup: Point,
    /// Destination.
    pub destination: Point,
    /// When the RFQ closes.
    pub deadline: DateTime<Utc>,
    /// When answers must be in: the deadline less the adapter's margin.
    pub answer_by: DateTime<Utc>,
    /// Where to `POST` the answers after answering `202 Accepted`.
    pub callback: String,
}

/// What a partner answers (`200`, or the body of a callback).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AnswersDocument {
    /// One entry per provider that answers; a provider left out is silent.
    pub answers: Vec<serde_json::Value>,
}

/// One provider's answer as the contract spells it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PartnerAnswer {
    /// The partner's id of the provider.
    provider: String,
    /// Its offer, or
    quote: Option<PartnerQuote>,
    /// its refusal.
    decline: Option<PartnerDecline>,
}

/// An offer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PartnerQuote {
    /// Decimal amount, e.g. `"12.30"`.
    price: String,
    /// ISO 4217 code, e.g. `"EUR"`.
    currency: String,
    /// Seconds until the unicorn can be at the pickup point.
    pickup_eta_seconds: u32,
}

/// A refusal.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PartnerDecline {
    /// Why, in the provider's words.
    #[serde(default)]
    reason: String,
}

/// Something a partner sent that is not a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Our id of the provider it names, when it names one of the asked.
    pub provider: Option<ProviderId>,
    /// What was wrong.
    pub reason: String,
}

/// The asked providers of one call: the partner's id → ours.
pub type Asked = BTreeMap<String, ProviderId>;

/// Parses a partner's answers document for `rfq`: the usable answers of
/// the `asked` providers (the first per provider) and the refusals.
pub fn parse_answers(
    body: &[u8],
    rfq: &Rfq,
    asked: &Asked,
    now: DateTime<Utc>,
) -> (Vec<Answer>, Vec<Refusal>) {
    let document: AnswersDocument = match serde_json::from_slice(body) {
        Ok(document) => document,
        Err(error) => {
            let refusal = Refusal {
                provider: None,
                reason: format!("not an answers document ({{\"answers\": [...]}}): {error}"),
            };
            return (Vec::new(), vec![refusal]);
        }
    };
    let mut answers: Vec<Answer> = Vec::new();
    let mut refusals = Vec::new();
    for value in document.answers {
        match parse_one(value, rfq, asked, now) {
            Ok(answer) if answers.iter().any(|a| a.provider == answer.provider) => {
                refusals.push(Refusal {
                    reason: format!("a second answer of provider {}", answer.provider),
                    provider: Some(answer.provider),
                });
            }
            Ok(answer) => answers.push(answer),
            Err(refusal) => refusals.push(refusal),
        }
    }
    (answers, refusals)
}

fn parse_one(
    value: serde_json::Value,
    rfq: &Rfq,
    asked: &Asked,
    now: DateTime<Utc>,
) -> Result<Answer, Refusal> {
    let answer: PartnerAnswer = serde_json::from_value(value).map_err(|error| Refusal {
        provider: None,
        reason: format!("not an answer: {error}"),
    })?;
    let Some(provider) = asked.get(&answer.provider) else {
        return Err(Refusal {
            provider: None,
            reason: format!(
                "provider {:?} was not asked (asked: {:?})",
                answer.provider,
                asked.keys().collect::<Vec<_>>()
            ),
        });
    };
    let refuse = |reason: String| Refusal {
        provider: Some(provider.clone()),
        reason,
    };
    let reply = match (answer.quote, answer.decline) {
        (Some(quote), None) => {
            let currency = Currency::parse(&quote.currency).map_err(|e| refuse(e.to_string()))?;
            let price =
                Price::parse_amount(&quote.price, currency).map_err(|e| refuse(e.to_string()))?;
            Reply::Quoted {
                price,
                pickup_eta_seconds: quote.pickup_eta_seconds,
            }
        }
        (None, Some(decline)) => Reply::Declined {
            reason: decline.reason,
        },
        _ => {
            return Err(refuse(
                "an answer has exactly one of \"quote\" and \"decline\"".to_owned(),
            ));
        }
    };
    Ok(Answer {
        rfq: rfq.id,
        provider: provider.clone(),
        responded_at: now,
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked {
        [("car-1", "acme-car-1"), ("car-2", "acme-car-2")]
            .into_iter()
            .map(|(theirs, ours)| (theirs.to_owned(), ProviderId::parse(ours).unwrap()))
            .collect()
    }

    #[test]
    fn quotes_and_declines_become_answers_and_the_rest_refusals() {
        let rfq = Rfq::sample(&["acme-car-1", "acme-car-2"]);
        let body = serde_json::json!({"answers": [
            {"provider": "car-1", "quote": {"price": "12.30", "currency": "EUR", "pickup-eta-seconds": 240}},
            {"provider": "car-2", "decline": {"reason": "busy"}},
            {"provider": "car-2", "decline": {}},
            {"provider": "car-9", "decline": {}},
            {"provider": "car-1", "quote": {"price": "-1", "currency": "EUR", "pickup-eta-seconds": 1}},
            {"provider": "car-1"},
            "nonsense",
        ]});
        let (answers, refusals) =
            parse_answers(body.to_string().as_bytes(), &rfq, &asked(), Utc::now());
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].provider.as_str(), "acme-car-1");
        assert!(matches!(
            answers[0].reply,
            Reply::Quoted {
                pickup_eta_seconds: 240,
                ..
            }
        ));
        assert!(matches!(&answers[1].reply, Reply::Declined { reason } if reason == "busy"));
        assert_eq!(refusals.len(), 5, "{refusals:?}");
        assert!(refusals[1].reason.contains("car-9"));
    }

    #[test]
    fn a_body_that_is_not_a_document_is_one_refusal() {
        let rfq = Rfq::sample(&["acme-car-1"]);
        for body in [&b"<html>"[..], b"{}", b"{\"answers\": 3}"] {
            let (answers, refusals) = parse_answers(body, &rfq, &asked(), Utc::now());
            assert!(answers.is_empty());
            assert_eq!(refusals.len(), 1);
        }
    }
}
