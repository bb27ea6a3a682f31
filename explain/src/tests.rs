#![allow(clippy::unwrap_used)]

use super::*;
use chrono::Duration;
use rfq_core::{Answer, Currency, DeadlineTick, Price, ProviderId};

fn answer(rfq: &Rfq, provider: &str, minor: Option<i64>) -> Record {
    let reply = match minor {
        Some(minor) => Reply::Quoted {
            price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
            pickup_eta_seconds: 60,
        },
        None => Reply::Declined {
            reason: "busy".into(),
        },
    };
    Record::Answer(Answer {
        rfq: rfq.id,
        provider: ProviderId::parse(provider).unwrap(),
        responded_at: rfq.created_at,
        reply,
    })
}

fn tick(at: DateTime<Utc>) -> Record {
    Record::Tick(DeadlineTick {
        partition: 0,
        at,
        writer: "agg-1".into(),
    })
}

fn stored(rfq: &Rfq, status: RfqStatus) -> StoredRfq {
    StoredRfq {
        rfq: rfq.clone(),
        status,
        responses_received: 0,
    }
}

#[test]
fn completion_duplicates_strangers_and_answers_after_the_close() {
    let rfq = Rfq::sample(&["a", "b"]);
    let at = |ms: i64| rfq.created_at + Duration::milliseconds(ms);
    let mut replay = Replay::new(rfq.clone());
    replay.feed(1, at(0), Record::Rfq(rfq.clone()));
    // Another RFQ's answer is passed over.
    let other = Rfq::sample(&["a"]);
    replay.feed(2, at(5), answer(&other, "a", Some(100)));
    replay.feed(3, at(10), answer(&rfq, "a", Some(1200)));
    replay.feed(4, at(20), answer(&rfq, "a", Some(900)));
    replay.feed(5, at(30), answer(&rfq, "stranger", Some(500)));
    assert_eq!(replay.closed(), None);
    replay.feed(6, at(40), answer(&rfq, "b", None));
    let (reason, closed_at, _) = replay.closed().unwrap();
    assert_eq!((reason, closed_at), (CloseReason::AllAnswered, at(40)));
    // After the close: a stranger, and a duplicate of one counted.
    replay.feed(7, at(50), answer(&rfq, "b", Some(700)));
    replay.feed(8, at(60), answer(&rfq, "nobody", Some(700)));
    let kept = replay.kept.clone();
    let closed = RfqStatus::Closed {
        reason: CloseReason::AllAnswered,
        closed_at: at(40),
    };
    let explanation = replay.explain(
        &stored(&rfq, closed.clone()),
        &kept,
        vec![],
        Scan::default(),
    );
    assert_eq!(
        explanation.verdicts(),
        vec![
            ("a", "quoted", Some(1)),
            ("a", "duplicate", None),
            ("stranger", "not-addressed", None),
            ("b", "declined", Some(2)),
            ("b", "duplicate", None),
            ("nobody", "not-addressed", None),
        ]
    );
    assert!(
        explanation.agrees_with_store,
        "{:?}",
        explanation.differences
    );
    assert_eq!(explanation.timeline[0].what, What::Accepted);
    let closed_event = explanation
        .timeline
        .iter()
        .find(|e| matches!(e.what, What::Closed { .. }))
        .unwrap();
    assert_eq!(closed_event.after_ms, 40);
    assert_eq!(explanation.stored.counted, 2);

    // The store missing an answer, and closed otherwise: said, not hidden.
    let mut replay = Replay::new(rfq.clone());
    replay.feed(1, at(0), Record::Rfq(rfq.clone()));
    replay.feed(3, at(10), answer(&rfq, "a", Some(1200)));
    replay.feed(6, at(40), answer(&rfq, "b", None));
    let deadline = RfqStatus::Closed {
        reason: CloseReason::Deadline,
        closed_at: rfq.deadline,
    };
    let explanation = replay.explain(&stored(&rfq, deadline), &kept[..1], vec![], Scan::default());
    assert!(!explanation.agrees_with_store);
    assert_eq!(
        explanation.differences.len(),
        2,
        "{:?}",
        explanation.differences
    );
    assert!(explanation.differences[0].contains("in the log, not in the store"));
    assert!(explanation.differences[1].starts_with("close: the log says all-answered"));
    let text = text::render(&explanation);
    assert!(text.contains("THE LOG AND THE STORE DISAGREE"), "{text}");
}

#[test]
fn the_marker_closes_at_the_deadline_and_later_answers_are_late() {
    let rfq = Rfq {
        completion: rfq_core::Completion::Deadline,
        ..Rfq::sample(&["a", "b", "c"])
    };
    let deadline = rfq.deadline;
    let at = |ms: i64| rfq.created_at + Duration::milliseconds(ms);
    let mut replay = Replay::new(rfq.clone());
    replay.feed(1, at(0), Record::Rfq(rfq.clone()));
    replay.feed(2, at(100), answer(&rfq, "a", Some(1000)));
    // A marker before the deadline closes nothing.
    replay.feed(3, at(1000), tick(at(999)));
    // Stamped after the deadline, read before its marker: late.
    replay.feed(
        4,
        deadline + Duration::milliseconds(3),
        answer(&rfq, "b", None),
    );
    replay.feed(
        5,
        deadline + Duration::milliseconds(12),
        tick(deadline + Duration::milliseconds(10)),
    );
    assert_eq!(replay.closed().unwrap().0, CloseReason::Deadline);
    // After the marker: late, then its duplicate.
    replay.feed(
        6,
        deadline + Duration::seconds(1),
        answer(&rfq, "c", Some(10)),
    );
    replay.feed(
        7,
        deadline + Duration::seconds(2),
        answer(&rfq, "c", Some(20)),
    );
    let kept = replay.kept.clone();
    assert_eq!(kept.len(), 3);
    let status = RfqStatus::Closed {
        reason: CloseReason::Deadline,
        closed_at: deadline,
    };
    let explanation = replay.explain(&stored(&rfq, status), &kept, vec![], Scan::default());
    assert_eq!(
        explanation.verdicts(),
        vec![
            ("a", "quoted", Some(1)),
            ("b", "late", Some(2)),
            ("c", "late", Some(3)),
            ("c", "duplicate", None),
        ]
    );
    assert!(
        explanation.agrees_with_store,
        "{:?}",
        explanation.differences
    );
    assert_eq!(explanation.markers_read, 2);
    assert_eq!(
        (explanation.stored.counted, explanation.stored.late),
        (1, 2)
    );
    let marker = explanation
        .timeline
        .iter()
        .find(|e| matches!(e.what, What::Marker { .. }))
        .unwrap();
    assert_eq!(marker.offset, Some(5));
    let json = serde_json::to_value(&explanation).unwrap();
    assert_eq!(json["close"]["reason"], "deadline");
    assert_eq!(json["timeline"][1]["kind"], "answer");
    assert_eq!(json["timeline"][1]["verdict"], "quoted");
    assert_eq!(json["agrees-with-store"], true);
    let text = text::render(&explanation);
    assert!(
        text.contains("the store agrees: closed by deadline"),
        "{text}"
    );
    assert!(
        text.contains("late: stamped 3 ms after the deadline"),
        "{text}"
    );
}

#[test]
fn an_rfq_missing_from_its_partition_is_a_difference() {
    let rfq = Rfq::sample(&["a"]);
    let explanation = Replay::new(rfq.clone()).explain(
        &stored(&rfq, RfqStatus::Open),
        &[],
        vec![],
        Scan::default(),
    );
    assert!(!explanation.agrees_with_store);
    assert_eq!(
        explanation.differences,
        vec!["the RFQ's record was not found in its partition".to_owned()]
    );
}
