//! The after-close rule: the same verdicts whether the window closed the
//! RFQ itself or took it up from the store.

use super::super::{CLOSED_KEPT, Window};
use super::{answer, outcome, t, with_rule};
use rfq_domain::*;

/// What the rule decides for these answers after the close, in order.
fn after_close(w: &mut Window, rfq: &Rfq) -> Vec<(AnswerOutcome, Vec<Effect>)> {
    let mut stranger_partition = answer(rfq, "b", true);
    stranger_partition.responded_at = t(3);
    [
        (answer(rfq, "b", true), 0),
        (answer(rfq, "b", false), 0),
        (answer(rfq, "a", true), 0),
        (answer(rfq, "stranger", true), 0),
        (stranger_partition, 1),
        (answer(rfq, "c", false), 0),
    ]
    .into_iter()
    .map(|(answer, partition)| {
        let verdict = w.respond(answer, partition, t(4)).expect("known");
        (verdict.outcome, verdict.effects)
    })
    .collect()
}

#[test]
fn answers_after_the_close_are_judged_alike_from_the_window_or_the_store() {
    let r = with_rule(&["a", "b", "c", "d"], 60, Completion::FirstN(1));
    let mut closing = Window::scoring();
    closing.open(&r);
    let effects = closing
        .respond(answer(&r, "a", true), 0, t(1))
        .expect("open")
        .effects;
    assert!(
        matches!(effects.last(), Some(Effect::Close { .. })),
        "{effects:?}"
    );
    let stored: Vec<JudgedAnswer> = effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Answer(kept) => Some(kept.clone()),
            _ => None,
        })
        .collect();
    closing.take_scores();
    let by_window = after_close(&mut closing, &r);

    let mut recalled = Window::scoring();
    assert_eq!(recalled.respond(answer(&r, "b", true), 0, t(4)), None);
    recalled.recall(&r, &stored);
    let from_store = after_close(&mut recalled, &r);
    assert_eq!(by_window, from_store);

    let outcomes: Vec<AnswerOutcome> = by_window.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        outcomes,
        vec![
            AnswerOutcome::Late,
            AnswerOutcome::Duplicate,
            AnswerOutcome::Duplicate,
            AnswerOutcome::NotAddressed,
            AnswerOutcome::WrongPartition,
            AnswerOutcome::Late,
        ]
    );
    // Late ones are numbered after every answer kept, and turn their
    // provider's line late.
    let late_b = &by_window[0].1;
    assert!(matches!(&late_b[0], Effect::Answer(kept) if kept.seq == 2 && kept.is_late()));
    assert!(matches!(&late_b[1], Effect::ScoreLate { provider, .. } if provider.as_str() == "b"));
    assert!(matches!(&by_window[5].1[0], Effect::Answer(kept) if kept.seq == 3));
    // Nothing else is decided after the close.
    assert!(closing.take_scores().is_empty());
    assert!(closing.is_empty());
}

#[test]
fn the_window_keeps_the_rfqs_it_closed_lately_only() {
    let mut w = Window::default();
    let first = rfq_closing_at_once(&mut w);
    assert_eq!(
        outcome(w.respond(answer(&first, "a", true), 0, t(2))),
        Some(AnswerOutcome::Duplicate)
    );
    for _ in 0..CLOSED_KEPT {
        rfq_closing_at_once(&mut w);
    }
    assert_eq!(
        w.respond(answer(&first, "a", true), 0, t(2)),
        None,
        "forgotten: the store knows"
    );
    w.forget_partition(0);
    assert!(w.is_empty());
}

/// An RFQ for one provider, closed by its answer.
fn rfq_closing_at_once(w: &mut Window) -> Rfq {
    let r = with_rule(&["a"], 60, Completion::All);
    w.open(&r);
    let verdict = w.respond(answer(&r, "a", true), 0, t(1)).expect("open");
    assert!(matches!(verdict.effects.last(), Some(Effect::Close { .. })));
    r
}
