//! Deadline markers: when the schedule asks for one, how they are
//! pipelined, and what closes when one is read back.

use super::super::Window;
use super::{accepted, answer, closes, rfq, t};
use chrono::{TimeZone, Utc};
use rfq_domain::*;

/// A marker travels through the log in milliseconds: reading back our own
/// marker, written at sub-millisecond precision, frees the partition for
/// the next one at once (not after TICK_RETRY).
#[test]
fn a_marker_read_back_in_milliseconds_is_ours() {
    let mut w = Window::default();
    let first = rfq(&["a"], 10);
    let second = rfq(&["a"], 11);
    w.open(&first);
    w.open(&second);
    let written = t(10) + chrono::Duration::nanoseconds(123_456);
    assert_eq!(w.ticks_due(written), vec![0]);
    let in_the_log = Utc
        .timestamp_millis_opt(written.timestamp_millis())
        .unwrap();
    assert_eq!(closes(&w.tick(0, in_the_log)), vec![CloseReason::Deadline]);
    assert_eq!(
        w.ticks_due(t(11)),
        vec![0],
        "the next deadline gets its marker when it passes"
    );
}

fn ms(seconds: i64, millis: i64) -> chrono::DateTime<Utc> {
    t(seconds) + chrono::Duration::milliseconds(millis)
}

/// A deadline that passes while a marker is on its way gets its own marker
/// (after TICK_GAP), instead of waiting for that one to come back: a
/// deadline waits for one marker's trip, not two.
#[test]
fn markers_are_pipelined_at_most_one_round_per_gap() {
    let mut w = Window::default();
    let first = rfq(&["a"], 10);
    let mut second = rfq(&["a"], 10);
    second.deadline = ms(10, 4);
    let mut third = rfq(&["a"], 10);
    third.deadline = ms(10, 30);
    for x in [&first, &second, &third] {
        w.open(x);
    }
    assert_eq!(w.ticks_due(t(10)), vec![0]);
    assert_eq!(
        w.next_wake(ms(10, 1)),
        Some(ms(10, 10)),
        "the gap after a round"
    );
    assert!(w.ticks_due(ms(10, 5)).is_empty(), "within the gap");
    assert_eq!(
        w.ticks_due(ms(10, 10)),
        vec![0],
        "the second is not covered"
    );
    assert!(w.ticks_due(ms(10, 20)).is_empty(), "nothing new has passed");
    assert_eq!(w.next_wake(ms(10, 20)), Some(ms(10, 30)));
    // The markers come back in order; each closes what it covers.
    let rfq_of = |effects: &[Effect]| match effects {
        [Effect::Close { rfq, .. }] => Some(*rfq),
        _ => None,
    };
    assert_eq!(rfq_of(&w.tick(0, t(10))), Some(first.id));
    assert_eq!(rfq_of(&w.tick(0, ms(10, 10))), Some(second.id));
    assert_eq!(w.ticks_due(ms(10, 30)), vec![0]);
    assert_eq!(rfq_of(&w.tick(0, ms(10, 30))), Some(third.id));
    assert!(w.is_empty() && w.next_wake(t(100)).is_none());
}

/// However many deadlines pass while markers do not come back (the
/// partition's reader is behind, or they were lost), every deadline gets a
/// marker within BEHIND_GAP of passing: the first TICKS_IN_FLIGHT go
/// TICK_GAP apart, the next BEHIND_GAP apart, and the writing never stops.
#[test]
fn markers_keep_coming_while_they_do_not_come_back() {
    let mut w = Window::default();
    let n = i64::try_from(super::super::TICKS_IN_FLIGHT).unwrap() + 5;
    for i in 0..n {
        let mut r = rfq(&["a"], 10);
        r.deadline = ms(10, 10 * i);
        w.open(&r);
    }
    let mut written = 0;
    for i in 0..n {
        written += w.ticks_due(ms(10, 10 * i)).len();
    }
    assert_eq!(written, super::super::TICKS_IN_FLIGHT);
    let newest = ms(10, 10 * (n - 6));
    assert_eq!(
        w.next_wake(ms(10, 10 * n)),
        Some(newest + super::super::BEHIND_GAP)
    );
    assert_eq!(
        w.ticks_due(newest + super::super::BEHIND_GAP),
        vec![0],
        "behind: one per BEHIND_GAP"
    );
    // That one covers every deadline: the next is a retry.
    let covering = newest + super::super::BEHIND_GAP;
    assert_eq!(
        w.next_wake(covering),
        Some(covering + super::super::TICK_RETRY)
    );
    assert_eq!(
        w.ticks_due(covering + super::super::TICK_RETRY),
        vec![0],
        "overdue: written again"
    );
    // A later deadline passing gets its own, BEHIND_GAP after the newest.
    let mut later = rfq(&["a"], 10);
    later.deadline = covering + super::super::TICK_RETRY + chrono::Duration::milliseconds(1);
    w.open(&later);
    let retried = covering + super::super::TICK_RETRY;
    assert_eq!(
        w.next_wake(retried),
        Some(retried + super::super::BEHIND_GAP)
    );
    assert_eq!(w.tick(0, covering).len(), usize::try_from(n).unwrap());
    // One that was presumed lost comes back late: nothing left to close.
    assert!(w.tick(0, t(10)).is_empty());
}

/// A backlog read long after its deadlines passed: the RFQs it opens are
/// covered by the marker written when they passed (appended after their
/// records), so reading them asks for no new marker; one written after it
/// closes them all.
#[test]
fn rfqs_read_from_a_backlog_are_covered_by_the_marker_on_its_way() {
    let mut w = Window::default();
    let first = rfq(&["a"], 10);
    w.open(&first);
    assert_eq!(w.ticks_due(t(10)), vec![0]);
    // Read later from the backlog: records appended before the marker.
    let backlog: Vec<Rfq> = (0..3).map(|_| rfq(&["a"], 8)).collect();
    for r in &backlog {
        w.open(r);
    }
    assert!(
        w.ticks_due(ms(10, 20)).is_empty(),
        "covered by the marker at 10 s"
    );
    assert_eq!(w.tick(0, t(10)).len(), 4);
}

/// A marker presumed lost while its RFQs closed otherwise: the partition
/// wakes at its next deadline, not at once over and over (a past wake
/// time would spin the worker's loop).
#[test]
fn an_overdue_marker_never_brings_the_wake_before_the_next_deadline() {
    let mut w = Window::default();
    let a = rfq(&["a"], 10);
    let b = rfq(&["a"], 60);
    w.open(&a);
    w.open(&b);
    assert_eq!(w.ticks_due(t(10)), vec![0]);
    // `a` closes on completion before its marker comes back; the marker
    // is lost.
    assert!(accepted(w.respond(answer(&a, "a", true), 0, t(9))).is_some());
    assert_eq!(w.len(), 1);
    assert!(w.ticks_due(t(16)).is_empty());
    assert_eq!(w.next_wake(t(16)), Some(t(60)));
    assert_eq!(w.ticks_due(t(60)), vec![0]);
}

/// A clock set back neither holds rounds off nor puts the next wake far
/// away.
#[test]
fn a_clock_set_back_does_not_hold_markers_off() {
    let mut w = Window::default();
    let a = rfq(&["a"], 10);
    let b = rfq(&["a"], 20);
    w.open(&a);
    w.open(&b);
    assert_eq!(w.ticks_due(t(3600)), vec![0]);
    assert_eq!(w.tick(0, t(3600)).len(), 2);
    let c = rfq(&["a"], 30);
    w.open(&c);
    assert_eq!(w.next_wake(t(29)), Some(t(30)));
    assert_eq!(w.ticks_due(t(30)), vec![0]);
}
