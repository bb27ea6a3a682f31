//! The JSON representations of an RFQ task and its result.

use chrono::{DateTime, SecondsFormat, Utc};
use rfq_core::{GeoPoint, Outcome, ProviderId};
use rfq_store::{RfqStatus, StoredResponse, StoredRfq};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// RFC 3339 with milliseconds, UTC.
pub fn time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn point(point: &GeoPoint) -> Value {
    json!({"lat": point.lat(), "lon": point.lon()})
}

fn links(base: &str, stored: &StoredRfq) -> Value {
    let path = format!("{base}/rfqs/{}", stored.rfq.id);
    json!({"self": path, "result": format!("{path}/result")})
}

/// `GET /rfqs/{id}` while open.
pub fn running(base: &str, stored: &StoredRfq) -> Value {
    json!({
        "links": links(base, stored),
        "id": stored.rfq.id.to_string(),
        "status": "running",
        "responses-received": stored.responses_received,
        "providers-addressed": stored.rfq.addressed.len(),
        "eta": time(&stored.rfq.deadline),
    })
}

/// `GET /rfqs/{id}` once closed (the body of the 303).
pub fn closed_status(base: &str, stored: &StoredRfq) -> Value {
    json!({
        "links": links(base, stored),
        "id": stored.rfq.id.to_string(),
        "status": "closed",
        "responses-received": stored.responses_received,
    })
}

/// `GET /rfqs/{id}/result`: every addressed provider appears exactly once,
/// in `quotes` (cheapest first), `declines` or `unanswered`.
pub fn result(base: &str, stored: &StoredRfq, responses: &[StoredResponse]) -> Value {
    let rfq = &stored.rfq;
    let (closed_by, closed_at) = match &stored.status {
        RfqStatus::Closed { reason, closed_at } => (reason.as_str(), Some(time(closed_at))),
        RfqStatus::Open => ("", None),
    };
    let mut quotes = Vec::new();
    let mut declines = Vec::new();
    let mut answered = BTreeSet::new();
    for stored_response in responses {
        let response = &stored_response.response;
        answered.insert(response.provider.clone());
        match &response.outcome {
            Outcome::Quoted {
                price,
                pickup_eta_seconds,
            } => quotes.push((
                price.minor(),
                json!({
                    "provider": response.provider.as_str(),
                    "price": price.amount(),
                    "currency": price.currency().as_str(),
                    "pickup-eta-seconds": pickup_eta_seconds,
                    "responded-at": time(&response.responded_at),
                    "received-at": time(&stored_response.received_at),
                }),
            )),
            Outcome::Declined { reason } => declines.push(json!({
                "provider": response.provider.as_str(),
                "reason": reason,
                "responded-at": time(&response.responded_at),
                "received-at": time(&stored_response.received_at),
            })),
        }
    }
    quotes.sort_by_key(|(minor, _)| *minor);
    let unanswered: Vec<&str> = rfq
        .addressed
        .iter()
        .filter(|p| !answered.contains(*p))
        .map(ProviderId::as_str)
        .collect();
    json!({
        "links": links(base, stored),
        "id": rfq.id.to_string(),
        "status": "closed",
        "from": point(&rfq.from),
        "to": point(&rfq.to),
        "customer": rfq.customer.as_str(),
        "region": rfq.region.as_str(),
        "created-at": time(&rfq.created_at),
        "deadline": time(&rfq.deadline),
        "closed-at": closed_at,
        "closed-by": closed_by,
        "providers-addressed": rfq.addressed.len(),
        "quotes": quotes.into_iter().map(|(_, quote)| quote).collect::<Vec<_>>(),
        "declines": declines,
        "unanswered": unanswered,
    })
}
