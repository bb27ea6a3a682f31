//! The scorecard lines the window decides at a close.

use super::super::Window;
use super::priced as reply;
use chrono::{TimeZone, Utc};
use rfq_domain::*;

fn t(millis: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + millis)
        .unwrap()
}

fn rfq(providers: &[&str]) -> Rfq {
    Rfq {
        created_at: t(0),
        deadline: t(10_000),
        return_address: ReturnAddress {
            topic: "q".into(),
            partition: 0,
        },
        completion: Completion::All,
        ..Rfq::sample(providers)
    }
}

/// The lines among `effects`, by provider.
fn lines(effects: Vec<Effect>) -> std::collections::BTreeMap<String, ScoreLine> {
    effects
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Score(line) => Some((line.provider.as_str().to_owned(), line)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_deadline_close_scores_every_addressed_provider() {
    let mut w = Window::scoring();
    let r = rfq(&["cheap", "dear", "tied", "no", "late", "mute"]);
    w.open(&r);
    w.respond(reply(&r, "dear", Some(1500)), 0, t(300)).unwrap();
    w.respond(reply(&r, "cheap", Some(1000)), 0, t(400))
        .unwrap();
    w.respond(reply(&r, "tied", Some(1000)), 0, t(500)).unwrap();
    let duplicate = w.respond(reply(&r, "cheap", Some(10)), 0, t(600)).unwrap();
    assert_eq!(duplicate.outcome, AnswerOutcome::Duplicate);
    w.respond(reply(&r, "no", None), 0, t(700)).unwrap();
    w.respond(reply(&r, "late", Some(1)), 0, t(10_250)).unwrap();
    assert!(w.take_scores().is_empty(), "nothing closed yet");
    let closes = w.tick(0, t(10_300));
    assert_eq!(closes.len(), 1);
    let lines = lines(w.take_scores());
    assert_eq!(lines.len(), 6);
    let cheap = &lines["cheap"];
    assert_eq!(cheap.outcome, ScoreOutcome::Quoted);
    assert_eq!((cheap.rank, cheap.quotes, cheap.won), (Some(1), 3, true));
    assert_eq!((cheap.latency_ms, cheap.duplicates), (Some(400), 1));
    // Equal prices: the one kept first ranks first and wins.
    assert_eq!((lines["tied"].rank, lines["tied"].won), (Some(2), false));
    assert_eq!(lines["dear"].rank, Some(3));
    let no = &lines["no"];
    assert_eq!(
        (no.outcome, no.rank, no.won),
        (ScoreOutcome::Declined, None, false)
    );
    let late = &lines["late"];
    assert_eq!(
        (late.outcome, late.latency_ms),
        (ScoreOutcome::Late, Some(10_250))
    );
    assert_eq!((late.price.clone(), late.rank), (None, None));
    let mute = &lines["mute"];
    assert_eq!(
        (mute.outcome, mute.latency_ms),
        (ScoreOutcome::Silent, None)
    );
    assert!(
        lines
            .values()
            .all(|l| l.rfq == r.id && l.created_at == t(0))
    );
    assert!(w.take_scores().is_empty(), "taken once");
}

#[test]
fn a_completed_rfq_is_scored_and_a_plain_window_scores_nothing() {
    let r = rfq(&["a", "b"]);
    let mut w = Window::scoring();
    w.open(&r);
    w.respond(reply(&r, "a", None), 0, t(100)).unwrap();
    let closed = w.respond(reply(&r, "b", Some(700)), 0, t(200)).unwrap();
    assert!(matches!(
        closed.effects[..],
        [Effect::Answer(_), Effect::Close { .. }]
    ));
    let lines = lines(w.take_scores());
    assert!(lines["b"].won);
    assert_eq!(lines["a"].outcome, ScoreOutcome::Declined);

    let mut plain = Window::default();
    plain.open(&r);
    plain.respond(reply(&r, "a", None), 0, t(100)).unwrap();
    plain.respond(reply(&r, "b", Some(700)), 0, t(200)).unwrap();
    assert!(plain.take_scores().is_empty());
}

#[test]
fn a_recovered_rfq_scores_its_stored_answers() {
    let r = rfq(&["a", "b"]);
    let stored = [JudgedAnswer::in_time(reply(&r, "a", Some(800)), t(250), 1)];
    let mut w = Window::scoring();
    w.recover(&r, &stored);
    w.tick(0, t(10_000));
    let lines = lines(w.take_scores());
    assert_eq!((lines["a"].latency_ms, lines["a"].won), (Some(250), true));
    assert_eq!(lines["b"].outcome, ScoreOutcome::Silent);
}
