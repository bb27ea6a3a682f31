use super::{Verdict, Window};

mod closed;
mod markers;
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
