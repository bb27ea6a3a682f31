//! The JSON representations of an RFQ and its result, shared by the roles
//! that show them: the producer's `202` (a running RFQ, nothing answered
//! yet) and the read API (`GET /rfqs/{id}`, its result, live events). Their
//! OpenAPI schemas are beside them ([`openapi`]), so the document cannot
//! describe a shape the code does not write.

pub mod openapi;

use chrono::{DateTime, SecondsFormat, Utc};
use rfq_core::{
    AnswerOutcome, Completion, GeoPoint, JudgedAnswer, ProviderId, Reply, Rfq, http::RfqLinks,
};
use rfq_store::{RfqStatus, StoredRfq};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// RFC 3339 with milliseconds, UTC.
pub fn time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn point(point: &GeoPoint) -> Value {
    json!({"lat": point.lat(), "lon": point.lon()})
}

/// How far from the pickup point, in metres, the providers were asked;
/// `null` for an RFQ from before vicinity (asked in its region only).
fn radius_m(rfq: &Rfq) -> Value {
    rfq.radius
        .map_or(Value::Null, |radius| json!(radius.metres()))
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
/// answer yet) and of `GET /rfqs/{id}` while open, with the answers
/// received so far in the result's lists and shapes.
pub fn running(
    links: &RfqLinks,
    rfq: &Rfq,
    responses_received: u32,
    responses: &[JudgedAnswer],
) -> Value {
    let mut shown = json!({
        "links": links.json(),
        "id": rfq.id.to_string(),
        "status": "running",
        "responses-received": responses_received,
        "providers-addressed": rfq.addressed.len(),
        "region": rfq.region.as_str(),
        "radius-m": radius_m(rfq),
        "completion": completion(&rfq.completion),
        "eta": time(&rfq.deadline),
    });
    // Late answers are shown on the result; a running RFQ lists what counts.
    Lists::of(responses).write_into(
        &mut shown,
        &[AnswerOutcome::Quoted, AnswerOutcome::Declined],
    );
    shown
}

/// `GET /rfqs/{id}` once closed (the body of the 303, and the data of a
/// live stream's `closed` event).
pub fn closed_status(links: &RfqLinks, stored: &StoredRfq) -> Value {
    let mut shown = json!({
        "links": links.json(),
        "id": stored.rfq.id.to_string(),
        "status": "closed",
        "responses-received": stored.responses_received,
    });
    if let RfqStatus::Closed { reason, closed_at } = &stored.status {
        shown["closed-by"] = json!(reason.as_str());
        shown["closed-at"] = json!(time(closed_at));
    }
    shown
}

/// An answer as a live stream's `answer` event shows it: as on the result,
/// with its number and outcome (`quoted`, `declined`).
pub fn event_answer(kept: &JudgedAnswer) -> Value {
    let mut shown = answer(kept);
    shown["seq"] = json!(kept.seq);
    shown["outcome"] = json!(kept.outcome().as_str());
    shown
}

/// One answer as shown on a result.
fn answer(kept: &JudgedAnswer) -> Value {
    let answer = &kept.answer;
    let mut shown = json!({
        "provider": answer.provider.as_str(),
        "responded-at": time(&answer.responded_at),
        "received-at": time(&kept.received_at),
    });
    match &answer.reply {
        Reply::Quoted {
            price,
            pickup_eta_seconds,
        } => {
            shown["price"] = json!(price.amount());
            shown["currency"] = json!(price.currency().as_str());
            shown["pickup-eta-seconds"] = json!(pickup_eta_seconds);
        }
        Reply::Declined { reason } => {
            shown[AnswerOutcome::Declined.as_str()] = json!(true);
            shown["reason"] = json!(reason);
        }
    }
    shown
}

/// `GET /rfqs/{id}/result`: every addressed provider appears exactly once,
/// in `quotes` (cheapest first), `declines` or `unanswered`; answers that
/// arrived after the deadline are listed apart in `late` (their providers
/// also count as unanswered: a late answer never changes the result). Each
/// answer's list is named by its outcome ([`AnswerOutcome::result_list`]).
pub fn result(links: &RfqLinks, stored: &StoredRfq, responses: &[JudgedAnswer]) -> Value {
    let rfq = &stored.rfq;
    let (closed_by, closed_at) = match &stored.status {
        RfqStatus::Closed { reason, closed_at } => (reason.as_str(), Some(time(closed_at))),
        RfqStatus::Open => ("", None),
    };
    let lists = Lists::of(responses);
    let unanswered: Vec<&str> = rfq
        .addressed
        .iter()
        .filter(|p| !lists.answered.contains(*p))
        .map(ProviderId::as_str)
        .collect();
    let mut shown = json!({
        "links": links.json(),
        "id": rfq.id.to_string(),
        "status": "closed",
        "from": point(&rfq.from),
        "to": point(&rfq.to),
        "customer": rfq.customer.as_str(),
        "region": rfq.region.as_str(),
        "radius-m": radius_m(rfq),
        "created-at": time(&rfq.created_at),
        "deadline": time(&rfq.deadline),
        "closed-at": closed_at,
        "closed-by": closed_by,
        "completion": completion(&rfq.completion),
        "providers-addressed": rfq.addressed.len(),
        "unanswered": unanswered,
    });
    lists.write_into(
        &mut shown,
        &[
            AnswerOutcome::Quoted,
            AnswerOutcome::Declined,
            AnswerOutcome::Late,
        ],
    );
    shown
}

/// The answers of an RFQ sorted into the result's lists.
struct Lists<'a> {
    /// Quotes in time, cheapest first.
    quotes: Vec<Value>,
    /// Declines in time.
    declines: Vec<Value>,
    /// Answers after the deadline.
    late: Vec<Value>,
    /// Providers whose answer counts.
    answered: BTreeSet<&'a ProviderId>,
}

impl<'a> Lists<'a> {
    fn of(responses: &'a [JudgedAnswer]) -> Self {
        let mut quotes = Vec::new();
        let mut declines = Vec::new();
        let mut late = Vec::new();
        let mut answered = BTreeSet::new();
        for kept in responses {
            match (kept.outcome(), &kept.answer.reply) {
                (AnswerOutcome::Late, _) => late.push(answer(kept)),
                (_, Reply::Quoted { price, .. }) => quotes.push((price.minor(), answer(kept))),
                (_, Reply::Declined { .. }) => declines.push(answer(kept)),
            }
            if kept.outcome().counts() {
                answered.insert(&kept.answer.provider);
            }
        }
        quotes.sort_by_key(|(minor, _)| *minor);
        Lists {
            quotes: quotes.into_iter().map(|(_, quote)| quote).collect(),
            declines,
            late,
            answered,
        }
    }

    /// Adds the lists of `outcomes` under their names
    /// ([`AnswerOutcome::result_list`]).
    fn write_into(self, shown: &mut Value, outcomes: &[AnswerOutcome]) {
        for (outcome, list) in [
            (AnswerOutcome::Quoted, self.quotes),
            (AnswerOutcome::Declined, self.declines),
            (AnswerOutcome::Late, self.late),
        ] {
            if !outcomes.contains(&outcome) {
                continue;
            }
            if let Some(name) = outcome.result_list() {
                shown[name] = Value::Array(list);
            }
        }
    }
}
