use super::{Verdict, Window};

mod closed;
mod scores;
use chrono::{TimeZone, Utc};
use rfq_domain::*;

fn t(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn rfq(providers: &[&str], deadline_s: i64) -> Rfq {
    with_rule(providers, deadline_s, Completion::All)
}

fn with_rule(providers: &[&str], deadline_s: i64, completion: Completion) -> Rfq {
    Rfq {
        created_at: t(0),
        deadline: t(deadline_s),
        return_address: ReturnAddress {
            topic: "q".into(),
            partition: 0,
        },
        completion,
        ..Rfq::sample(providers)
    }
}

fn eur(minor: i64) -> Price {
    Price::new(minor, Currency::parse("EUR").unwrap()).unwrap()
}

fn answer(rfq: &Rfq, provider: &str, quoted: bool) -> Answer {
    priced(rfq, provider, quoted.then_some(900))
}

fn priced(rfq: &Rfq, provider: &str, minor: Option<i64>) -> Answer {
    Answer {
        rfq: rfq.id,
        provider: ProviderId::parse(provider).unwrap(),
        responded_at: t(1),
        reply: match minor {
            Some(minor) => Reply::Quoted {
                price: eur(minor),
                pickup_eta_seconds: 60,
            },
            None => Reply::Declined {
                reason: String::new(),
            },
        },
    }
}

/// The outcome of a verdict; `None`: not open here.
fn outcome(verdict: Option<Verdict>) -> Option<AnswerOutcome> {
    verdict.map(|verdict| verdict.outcome)
}

/// The effects of an answer that counts; `None` if it does not.
fn accepted(verdict: Option<Verdict>) -> Option<Vec<Effect>> {
    verdict
        .filter(|verdict| verdict.outcome.counts())
        .map(|verdict| verdict.effects)
}

/// The numbers of the answers kept among `effects`.
fn seqs(effects: &[Effect]) -> Vec<u32> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Answer(kept) => Some(kept.seq),
            _ => None,
        })
        .collect()
}

/// Answers are numbered from 1 in the order they are read, late ones
/// included; refused ones take no number.
#[test]
fn kept_answers_are_numbered_in_log_order() {
    let mut w = Window::default();
    let r = rfq(&["a", "b", "c", "d"], 10);
    w.open(&r);
    let mut numbers = Vec::new();
    for (provider, at) in [("b", 1), ("b", 2), ("x", 2), ("a", 3), ("d", 11)] {
        if let Some(verdict) = w.respond(answer(&r, provider, true), 0, t(at)) {
            numbers.extend(seqs(&verdict.effects));
        }
    }
    assert_eq!(numbers, vec![1, 2, 3], "b, a, then d late");
}

/// Recovered with a hole (answer 3 lost to a failed write, 4 stored), the
/// next answer is numbered after the highest, never a second 4.
#[test]
fn numbering_after_a_recovery_continues_after_the_highest() {
    let mut w = Window::default();
    let r = rfq(&["a", "b", "c", "d"], 10);
    let stored =
        |provider: &str, seq: u32| JudgedAnswer::in_time(answer(&r, provider, true), t(1), seq);
    w.recover(&r, &[stored("a", 1), stored("b", 2), stored("d", 4)]);
    let Some(verdict) = w.respond(answer(&r, "c", true), 0, t(2)) else {
        panic!("c is addressed")
    };
    assert_eq!(seqs(&verdict.effects), vec![5]);
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

/// Feeds answers at t(1), t(2), ... and returns the close reason and the
/// number of answers it took (None: still open after all of them).
fn run(
    rule: Completion,
    providers: &[&str],
    answers: &[(&str, Option<i64>)],
) -> Option<(CloseReason, usize)> {
    let mut w = Window::default();
    let r = with_rule(providers, 60, rule);
    w.open(&r);
    for (i, (provider, minor)) in answers.iter().enumerate() {
        let at = t(1 + i64::try_from(i).unwrap());
        let Some(effects) = accepted(w.respond(priced(&r, provider, *minor), 0, at)) else {
            panic!("answer of {provider} refused");
        };
        if let [reason] = closes(&effects)[..] {
            assert!(w.is_empty());
            return Some((reason, i + 1));
        }
    }
    None
}

#[test]
fn every_completion_rule_closes_at_its_point() {
    use CloseReason as R;
    let abc = ["a", "b", "c"];
    let answers = [("a", None), ("b", Some(1200)), ("c", Some(800))];
    assert_eq!(
        run(Completion::All, &abc, &answers),
        Some((R::AllAnswered, 3))
    );
    assert_eq!(
        run(Completion::FirstN(1), &abc, &answers),
        Some((R::FirstN, 2))
    );
    assert_eq!(
        run(Completion::FirstN(3), &abc, &answers),
        Some((R::AllAnswered, 3))
    );
    assert_eq!(
        run(Completion::Quorum(2), &abc, &answers),
        Some((R::Quorum, 2))
    );
    assert_eq!(
        run(Completion::Quality(eur(1000)), &abc, &answers),
        Some((R::Quality, 3))
    );
    assert_eq!(
        run(Completion::Quality(eur(1200)), &abc, &answers),
        Some((R::Quality, 2))
    );
    assert_eq!(run(Completion::Deadline, &abc, &answers), None);
}

#[test]
fn a_deadline_marker_closes_what_is_due_in_its_partition_only() {
    let mut w = Window::default();
    let r = rfq(&["a", "silent"], 30);
    let later = rfq(&["a"], 40);
    let mut elsewhere = rfq(&["a"], 10);
    elsewhere.return_address.partition = 1;
    for x in [&r, &later, &elsewhere] {
        w.open(x);
    }
    assert!(accepted(w.respond(answer(&r, "a", true), 0, t(1))).is_some());
    assert_eq!(w.next_wake(t(1)), Some(t(10)));
    assert!(w.ticks_due(t(9)).is_empty());
    assert_eq!(w.ticks_due(t(30)), vec![0, 1]);
    assert!(w.ticks_due(t(31)).is_empty(), "a marker is on its way");
    let effects = w.tick(0, t(30));
    assert_eq!(closes(&effects), vec![CloseReason::Deadline]);
    assert!(matches!(effects[..], [Effect::Close { closed_at, .. }] if closed_at == t(30)));
    assert_eq!(w.len(), 2);
    assert!(w.ticks_due(t(34)).is_empty());
    // A marker that never comes back is written again.
    assert_eq!(w.ticks_due(t(30) + super::TICK_RETRY), vec![1]);
    assert_eq!(closes(&w.tick(1, t(12))), vec![CloseReason::Deadline]);
    // Once read back, the next deadline of the partition is due for a marker.
    assert_eq!(w.ticks_due(t(45)), vec![0]);
    assert_eq!(
        outcome(w.respond(answer(&r, "silent", true), 0, t(29))),
        Some(AnswerOutcome::Late),
        "closed lately: late, by the after-close rule"
    );
}

#[test]
fn answers_stamped_at_or_after_the_deadline_are_late_even_before_the_marker() {
    let mut w = Window::default();
    let r = rfq(&["a", "b"], 10);
    w.open(&r);
    let Some(Verdict {
        outcome: AnswerOutcome::Late,
        effects,
    }) = w.respond(answer(&r, "a", true), 0, t(10))
    else {
        panic!("expected late");
    };
    let [Effect::Answer(kept)] = &effects[..] else {
        panic!("expected the late answer kept: {effects:?}");
    };
    assert_eq!(kept.received_at, t(10));
    assert_eq!(
        outcome(w.respond(answer(&r, "a", true), 0, t(11))),
        Some(AnswerOutcome::Duplicate)
    );
    // An answer stamped in time but read after the late one still counts.
    assert!(
        matches!(accepted(w.respond(answer(&r, "b", true), 0, t(9))), Some(ref e) if closes(e).is_empty())
    );
    assert_eq!(closes(&w.tick(0, t(10))), vec![CloseReason::Deadline]);
}

#[test]
fn rfq_addressed_to_nobody_waits_for_its_deadline() {
    let mut w = Window::default();
    let r = rfq(&[], 5);
    assert!(closes(&w.open(&r)).is_empty());
    assert_eq!(w.len(), 1);
    assert_eq!(closes(&w.tick(0, t(5))), vec![CloseReason::Deadline]);
    assert!(w.tick(0, t(100)).is_empty(), "never closed twice");
}

#[test]
fn duplicates_and_strangers_are_refused() {
    let mut w = Window::default();
    let r = rfq(&["a", "b"], 60);
    assert_eq!(w.open(&r).len(), 1);
    assert!(w.open(&r).is_empty(), "a redelivered RFQ is a no-op");
    assert!(accepted(w.respond(answer(&r, "a", true), 0, t(1))).is_some());
    assert_eq!(
        outcome(w.respond(answer(&r, "a", false), 0, t(2))),
        Some(AnswerOutcome::Duplicate)
    );
    assert_eq!(
        outcome(w.respond(answer(&r, "z", true), 0, t(2))),
        Some(AnswerOutcome::NotAddressed)
    );
    assert_eq!(
        outcome(w.respond(answer(&r, "b", true), 1, t(2))),
        Some(AnswerOutcome::WrongPartition),
        "in another partition than its RFQ's"
    );
    let unknown = rfq(&["a"], 60);
    assert_eq!(w.respond(answer(&unknown, "a", true), 0, t(2)), None);
}

#[test]
fn recovery_counts_stored_answers_and_partitions_can_be_dropped() {
    let mut w = Window::default();
    let r = with_rule(&["a", "b", "c"], 60, Completion::FirstN(2));
    let stored = |provider: &str, late: bool, seq: u32| match late {
        true => JudgedAnswer::late(answer(&r, provider, true), t(1), seq),
        false => JudgedAnswer::in_time(answer(&r, provider, true), t(1), seq),
    };
    w.recover(&r, &[stored("a", false, 1), stored("c", true, 2)]);
    assert_eq!(
        outcome(w.respond(answer(&r, "a", true), 0, t(1))),
        Some(AnswerOutcome::Duplicate)
    );
    assert_eq!(
        outcome(w.respond(answer(&r, "c", true), 0, t(1))),
        Some(AnswerOutcome::Duplicate)
    );
    let Some(effects) = accepted(w.respond(answer(&r, "b", true), 0, t(2))) else {
        panic!()
    };
    assert_eq!(
        closes(&effects),
        vec![CloseReason::FirstN],
        "the stored quote counts"
    );
    assert_eq!(seqs(&effects), vec![3], "numbered after the stored ones");

    let mut w = Window::default();
    w.open(&rfq(&["a"], 60));
    w.forget_partition(0);
    assert!(w.is_empty() && w.next_wake(t(100)).is_none());
}

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

#[test]
fn an_open_rfq_is_held_in_few_bytes() {
    // One is held per open RFQ, a million per aggregator: its addressed set
    // is provider numbers, not a copy of each id (was about 130 bytes plus
    // a B-tree node and a copy of each id: near 600 with five providers).
    assert!(
        std::mem::size_of::<super::Gathering>() <= 88,
        "Gathering is {} bytes",
        std::mem::size_of::<super::Gathering>()
    );
    let mut window = Window::default();
    let first = rfq(&["p1", "p2", "p3"], 10);
    let second = rfq(&["p3", "p2", "p1"], 10);
    window.open(&first);
    window.open(&second);
    // Two RFQs, three providers numbered once.
    assert_eq!(window.providers.numbers.len(), 3);
    // The strange name of an answer gets no number.
    let stranger = answer(&first, "stranger", true);
    assert_eq!(
        outcome(window.respond(stranger, 0, t(1))),
        Some(AnswerOutcome::NotAddressed)
    );
    assert_eq!(window.providers.numbers.len(), 3);
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
    let n = i64::try_from(super::TICKS_IN_FLIGHT).unwrap() + 5;
    for i in 0..n {
        let mut r = rfq(&["a"], 10);
        r.deadline = ms(10, 10 * i);
        w.open(&r);
    }
    let mut written = 0;
    for i in 0..n {
        written += w.ticks_due(ms(10, 10 * i)).len();
    }
    assert_eq!(written, super::TICKS_IN_FLIGHT);
    let newest = ms(10, 10 * (n - 6));
    assert_eq!(
        w.next_wake(ms(10, 10 * n)),
        Some(newest + super::BEHIND_GAP)
    );
    assert_eq!(
        w.ticks_due(newest + super::BEHIND_GAP),
        vec![0],
        "behind: one per BEHIND_GAP"
    );
    // That one covers every deadline: the next is a retry.
    let covering = newest + super::BEHIND_GAP;
    assert_eq!(w.next_wake(covering), Some(covering + super::TICK_RETRY));
    assert_eq!(
        w.ticks_due(covering + super::TICK_RETRY),
        vec![0],
        "overdue: written again"
    );
    // A later deadline passing gets its own, BEHIND_GAP after the newest.
    let mut later = rfq(&["a"], 10);
    later.deadline = covering + super::TICK_RETRY + chrono::Duration::milliseconds(1);
    w.open(&later);
    let retried = covering + super::TICK_RETRY;
    assert_eq!(w.next_wake(retried), Some(retried + super::BEHIND_GAP));
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
