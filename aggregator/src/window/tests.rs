use super::{Verdict, Window};
use chrono::{TimeZone, Utc};
use rfq_core::*;
use rfq_store::Effect;
use std::collections::BTreeSet;

fn t(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn rfq(providers: &[&str], deadline_s: i64) -> Rfq {
    let from = GeoPoint::new(52.52, 13.40).unwrap();
    Rfq {
        id: CorrelationId::new_random(),
        customer: CustomerId::parse("c").unwrap(),
        region: Region::of(&from, RegionPrecision::DEFAULT),
        from,
        to: from,
        created_at: t(0),
        deadline: t(deadline_s),
        addressed: providers
            .iter()
            .map(|p| ProviderId::parse(p).unwrap())
            .collect(),
        return_address: ReturnAddress {
            topic: "q".into(),
            partition: 0,
        },
    }
}

fn answer(rfq: &Rfq, provider: &str, quoted: bool) -> Response {
    Response {
        rfq: rfq.id,
        provider: ProviderId::parse(provider).unwrap(),
        responded_at: t(1),
        outcome: if quoted {
            Outcome::Quoted {
                price: Price::new(900, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 60,
            }
        } else {
            Outcome::Declined {
                reason: String::new(),
            }
        },
    }
}

fn closes(effects: &[Effect]) -> Vec<CloseReason> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Close { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn closes_when_every_addressed_provider_answered() {
    let mut w = Window::default();
    let r = rfq(&["a", "b"], 60);
    assert_eq!(w.open(&r, BTreeSet::new()).len(), 1);
    let Verdict::Accepted(first) = w.respond(answer(&r, "a", true), t(1)) else {
        panic!()
    };
    assert!(closes(&first).is_empty());
    let Verdict::Accepted(second) = w.respond(answer(&r, "b", false), t(2)) else {
        panic!()
    };
    assert_eq!(
        closes(&second),
        vec![CloseReason::AllAnswered],
        "a decline counts as an answer"
    );
    assert!(w.is_empty());
    assert_eq!(w.next_deadline(), None);
    assert!(
        w.due(t(100)).is_empty(),
        "a completed RFQ never closes twice"
    );
}

#[test]
fn deadline_closes_with_whatever_arrived() {
    let mut w = Window::default();
    let r = rfq(&["a", "silent"], 30);
    w.open(&r, BTreeSet::new());
    assert!(matches!(
        w.respond(answer(&r, "a", true), t(1)),
        Verdict::Accepted(_)
    ));
    assert_eq!(w.next_deadline(), Some(t(30)));
    assert!(w.due(t(29)).is_empty());
    assert_eq!(closes(&w.due(t(30))), vec![CloseReason::Deadline]);
    assert_eq!(
        w.respond(answer(&r, "silent", true), t(31)),
        Verdict::NotOpen
    );
}

#[test]
fn answer_after_deadline_does_not_count_even_before_the_sweep() {
    let mut w = Window::default();
    let r = rfq(&["a"], 10);
    w.open(&r, BTreeSet::new());
    assert_eq!(w.respond(answer(&r, "a", true), t(10)), Verdict::NotOpen);
    assert_eq!(closes(&w.due(t(10))), vec![CloseReason::Deadline]);
}

#[test]
fn rfq_addressed_to_nobody_waits_for_its_deadline() {
    let mut w = Window::default();
    let r = rfq(&[], 5);
    assert!(closes(&w.open(&r, BTreeSet::new())).is_empty());
    assert_eq!(w.len(), 1);
    assert_eq!(closes(&w.due(t(5))), vec![CloseReason::Deadline]);
}

#[test]
fn duplicates_and_strangers_are_refused() {
    let mut w = Window::default();
    let r = rfq(&["a", "b"], 60);
    w.open(&r, BTreeSet::new());
    assert!(
        w.open(&r, BTreeSet::new()).is_empty(),
        "a redelivered RFQ is a no-op"
    );
    assert!(matches!(
        w.respond(answer(&r, "a", true), t(1)),
        Verdict::Accepted(_)
    ));
    assert_eq!(w.respond(answer(&r, "a", false), t(2)), Verdict::Duplicate);
    assert_eq!(
        w.respond(answer(&r, "z", true), t(2)),
        Verdict::NotAddressed
    );
    let unknown = rfq(&["a"], 60);
    assert_eq!(
        w.respond(answer(&unknown, "a", true), t(2)),
        Verdict::NotOpen
    );
}

#[test]
fn recovery_counts_earlier_answers_and_partitions_can_be_dropped() {
    let mut w = Window::default();
    let r = rfq(&["a", "b"], 60);
    let answered: BTreeSet<_> = [ProviderId::parse("a").unwrap()].into();
    w.open(&r, answered);
    assert_eq!(w.respond(answer(&r, "a", true), t(1)), Verdict::Duplicate);
    let Verdict::Accepted(effects) = w.respond(answer(&r, "b", true), t(2)) else {
        panic!()
    };
    assert_eq!(closes(&effects), vec![CloseReason::AllAnswered]);

    let mut recovered_complete = Window::default();
    let all: BTreeSet<_> = r.addressed.clone();
    assert_eq!(
        closes(&recovered_complete.open(&r, all)),
        vec![CloseReason::AllAnswered]
    );

    let mut w = Window::default();
    w.open(&rfq(&["a"], 60), BTreeSet::new());
    w.forget_partition(0);
    assert!(w.is_empty() && w.next_deadline().is_none());
}
