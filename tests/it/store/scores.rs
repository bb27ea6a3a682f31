//! The scorecard lines of the store contract: a line written again changes
//! nothing, a late mark turns a silent line late whichever is written
//! first (and changes no other line), and lines are read by provider and
//! window, providers listed by window in pages. Every case files its lines
//! at times of its own (a random minute of 2025), so a store with data
//! changes nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rfq_core::*;
use rfq_store::Store;

/// Every case of the scorecard lines, against `store`.
pub async fn conformance(store: &dyn Store) {
    lines_are_read_back_as_written_and_replays_change_nothing(store).await;
    a_late_mark_turns_a_silent_line_late_in_either_order(store).await;
    providers_are_listed_by_window_in_pages(store).await;
}

/// A minute of 2025 of this case alone (very likely), at the stores'
/// precision.
fn minute() -> DateTime<Utc> {
    let start = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let random = uuid::Uuid::new_v4().as_u128() % 300_000;
    start + Duration::minutes(i64::try_from(random).unwrap())
}

fn provider(name: &str) -> ProviderId {
    ProviderId::parse(&format!("{name}-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

fn line(provider: &ProviderId, created_at: DateTime<Utc>, outcome: ScoreOutcome) -> ScoreLine {
    let quoted = outcome == ScoreOutcome::Quoted;
    ScoreLine {
        provider: provider.clone(),
        rfq: CorrelationId::new_random(),
        created_at,
        outcome,
        latency_ms: (outcome != ScoreOutcome::Silent).then_some(420),
        price: quoted.then(|| Price::new(1250, Currency::parse("EUR").unwrap()).unwrap()),
        rank: quoted.then_some(1),
        quotes: 2,
        won: quoted,
        duplicates: 1,
    }
}

fn window(since: DateTime<Utc>, minutes: i64) -> ScoreWindow {
    ScoreWindow::new(since, since + Duration::minutes(minutes)).unwrap()
}

async fn lines_are_read_back_as_written_and_replays_change_nothing(store: &dyn Store) {
    let at = minute();
    let p = provider("lines");
    let quoted = line(&p, at, ScoreOutcome::Quoted);
    let declined = line(&p, at + Duration::seconds(10), ScoreOutcome::Declined);
    let outside = line(&p, at + Duration::minutes(5), ScoreOutcome::Silent);
    let effects = [quoted.clone(), declined.clone(), outside.clone()].map(Effect::Score);
    store.apply(&effects).await.unwrap();
    store.apply(&effects).await.unwrap();
    let read = store.score_lines(&p, &window(at, 1)).await.unwrap();
    assert_eq!(
        read,
        vec![quoted.clone(), declined],
        "in the window, by time"
    );
    let all = store.score_lines(&p, &window(at, 10)).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        store
            .score_lines(&provider("other"), &window(at, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let card = Scorecard::of(&all);
    assert_eq!(
        (card.quoted, card.declined, card.silent, card.wins),
        (1, 1, 1, 1)
    );
}

async fn a_late_mark_turns_a_silent_line_late_in_either_order(store: &dyn Store) {
    let at = minute();
    let p = provider("late");
    let mark = |line: &ScoreLine, latency_ms: u32| Effect::ScoreLate {
        provider: line.provider.clone(),
        rfq: line.rfq,
        created_at: line.created_at,
        latency_ms,
    };
    let marked_after = line(&p, at, ScoreOutcome::Silent);
    let marked_before = line(&p, at + Duration::seconds(1), ScoreOutcome::Silent);
    let quoted = line(&p, at + Duration::seconds(2), ScoreOutcome::Quoted);
    let only_marked = line(&p, at + Duration::seconds(3), ScoreOutcome::Silent);
    store
        .apply(&[mark(&marked_before, 9000), mark(&only_marked, 9000)])
        .await
        .unwrap();
    store
        .apply(&[
            Effect::Score(marked_after.clone()),
            Effect::Score(marked_before.clone()),
            Effect::Score(quoted.clone()),
        ])
        .await
        .unwrap();
    // The first late answer's latency wins.
    store
        .apply(&[mark(&marked_after, 7000), mark(&marked_after, 8000)])
        .await
        .unwrap();
    store.apply(&[mark(&quoted, 7000)]).await.unwrap();
    let read = store.score_lines(&p, &window(at, 1)).await.unwrap();
    let seen: Vec<_> = read
        .iter()
        .map(|l| (l.rfq, l.outcome, l.latency_ms))
        .collect();
    assert_eq!(
        seen,
        vec![
            (marked_after.rfq, ScoreOutcome::Late, Some(7000)),
            (marked_before.rfq, ScoreOutcome::Late, Some(9000)),
            (quoted.rfq, ScoreOutcome::Quoted, Some(420)),
        ],
        "a mark without its line is no line"
    );
}

async fn providers_are_listed_by_window_in_pages(store: &dyn Store) {
    let at = minute();
    // Sorted names, five in the window, one just after it.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let named = |n: usize| ProviderId::parse(&format!("list-{run}-{n}")).unwrap();
    let mut effects: Vec<Effect> = (0..5)
        .map(|n| {
            Effect::Score(line(
                &named(n),
                at + Duration::seconds(n as i64),
                ScoreOutcome::Quoted,
            ))
        })
        .collect();
    effects.push(Effect::Score(line(
        &named(9),
        at + Duration::minutes(2),
        ScoreOutcome::Silent,
    )));
    store.apply(&effects).await.unwrap();
    let w = window(at, 1);
    let first = store.scored_providers(&w, None, 2).await.unwrap();
    // Another run's providers may be listed too, never these out of order.
    let ours = |listed: &[ProviderId]| -> Vec<ProviderId> {
        listed
            .iter()
            .filter(|p| p.as_str().starts_with(&format!("list-{run}-")))
            .cloned()
            .collect()
    };
    let mut all = Vec::new();
    let mut page = first;
    loop {
        assert!(page.len() <= 2);
        all.extend(ours(&page));
        if page.len() < 2 {
            break;
        }
        page = store.scored_providers(&w, page.last(), 2).await.unwrap();
    }
    assert_eq!(all, (0..5).map(named).collect::<Vec<_>>());
    let later = window(at + Duration::minutes(1), 5);
    let listed = store.scored_providers(&later, None, 100).await.unwrap();
    assert_eq!(ours(&listed), vec![named(9)]);
}
