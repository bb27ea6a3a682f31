//! The JSON representations of an RFQ task and its result.

use chrono::{DateTime, SecondsFormat, Utc};
use rfq_core::{Completion, GeoPoint, Outcome, ProviderId, Rfq, http::RfqLinks};
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

/// The completion rule as the customer wrote it.
pub fn completion(completion: &Completion) -> Value {
    match completion {
        Completion::All | Completion::Deadline => json!({"rule": completion.rule()}),
        Completion::FirstN(n) | Completion::Quorum(n) => json!({"rule": completion.rule(), "n": n}),
        Completion::Quality(price) => json!({
            "rule": completion.rule(),
            "max-price": price.amount(),
            "currency": price.currency().as_str(),
        }),
    }
}

/// An RFQ still gathering answers: the body of the producer's `202` (no
/// answer yet) and of `GET /rfqs/{id}` while open.
pub fn running(links: &RfqLinks, rfq: &Rfq, responses_received: u32) -> Value {
    json!({
        "links": links.json(),
        "id": rfq.id.to_string(),
        "status": "running",
        "responses-received": responses_received,
        "providers-addressed": rfq.addressed.len(),
        "region": rfq.region.as_str(),
        "completion": completion(&rfq.completion),
        "eta": time(&rfq.deadline),
    })
}

/// `GET /rfqs/{id}` once closed (the body of the 303).
pub fn closed_status(links: &RfqLinks, stored: &StoredRfq) -> Value {
    json!({
        "links": links.json(),
        "id": stored.rfq.id.to_string(),
        "status": "closed",
        "responses-received": stored.responses_received,
    })
}

/// One answer as shown on a result.
fn answer(stored: &StoredResponse) -> Value {
    let response = &stored.response;
    let mut shown = json!({
        "provider": response.provider.as_str(),
        "responded-at": time(&response.responded_at),
        "received-at": time(&stored.received_at),
    });
    match &response.outcome {
        Outcome::Quoted {
            price,
            pickup_eta_seconds,
        } => {
            shown["price"] = json!(price.amount());
            shown["currency"] = json!(price.currency().as_str());
            shown["pickup-eta-seconds"] = json!(pickup_eta_seconds);
        }
        Outcome::Declined { reason } => {
            shown["declined"] = json!(true);
            shown["reason"] = json!(reason);
        }
    }
    shown
}

/// `GET /rfqs/{id}/result`: every addressed provider appears exactly once,
/// in `quotes` (cheapest first), `declines` or `unanswered`; answers that
/// arrived after the deadline are listed apart in `late` (their providers
/// also count as unanswered: a late answer never changes the result).
pub fn result(links: &RfqLinks, stored: &StoredRfq, responses: &[StoredResponse]) -> Value {
    let rfq = &stored.rfq;
    let (closed_by, closed_at) = match &stored.status {
        RfqStatus::Closed { reason, closed_at } => (reason.as_str(), Some(time(closed_at))),
        RfqStatus::Open => ("", None),
    };
    let mut quotes = Vec::new();
    let mut declines = Vec::new();
    let mut late = Vec::new();
    let mut answered = BTreeSet::new();
    for stored_response in responses {
        let response = &stored_response.response;
        if stored_response.late {
            late.push(answer(stored_response));
            continue;
        }
        answered.insert(response.provider.clone());
        match &response.outcome {
            Outcome::Quoted { price, .. } => quotes.push((price.minor(), answer(stored_response))),
            Outcome::Declined { .. } => declines.push(answer(stored_response)),
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
        "links": links.json(),
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
        "completion": completion(&rfq.completion),
        "providers-addressed": rfq.addressed.len(),
        "quotes": quotes.into_iter().map(|(_, quote)| quote).collect::<Vec<_>>(),
        "declines": declines,
        "unanswered": unanswered,
        "late": late,
    })
}
