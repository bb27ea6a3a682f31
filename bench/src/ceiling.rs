//! The ceiling: the highest offered rate the pipeline takes with nothing
//! shed. `--bench-shape find-ceiling` offers `--bench-steps` equal steps up
//! to `--bench-rate`, each held for an equal share of `--bench-seconds`; a
//! step holds when every request of it was accepted (no `429`/`503`, no
//! error, none left unsent by the client) and its intake p99 is within
//! `--bench-ceiling-p99-ms`. The load stops at the first step that does
//! not hold (overload teaches nothing more), and the ceiling is the rate
//! of the last step that held, reported next to the broker's own limits.
//! The run's first second is left out of the judging: connections are
//! being opened then, and a first step of a few hundred requests would be
//! judged on them.

use crate::{load::Tally, schedule::Schedule};

/// Seconds at the start of the run left out of the judging.
const WARM_UP: usize = 1;

/// One step of the climb.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// Offered RFQs per second.
    pub rate: f64,
    /// Requests due (and sent, or counted as not sent).
    pub offered: u64,
    /// `202`.
    pub accepted: u64,
    /// Anything else: shed, refused, failed, or not sent by the client.
    pub not_accepted: u64,
    /// Intake p99 from due, ms.
    pub p99_ms: f64,
    /// Whether the step held (see the module's doc).
    pub held: bool,
    /// Whether it was offered in full (the load stops within the first
    /// step that does not hold).
    pub complete: bool,
}

/// What the climb found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ceiling {
    /// A step's intake p99 bound, ms.
    pub p99_bound_ms: f64,
    /// The steps offered, in order.
    pub steps: Vec<Step>,
    /// The rate of the last step that held before one did not; `None`:
    /// the first step did not hold.
    pub rfqs_per_second: Option<f64>,
    /// Whether a step failed to hold (else the ceiling is at least the
    /// top rate: raise `--bench-rate`).
    pub found: bool,
    /// The ceiling in records per second (the run's records per accepted
    /// RFQ, from the pipeline's metrics), if known.
    pub records_per_second: Option<f64>,
    /// That over the broker's raw produce rate in the same run.
    pub share_of_produce: Option<f64>,
}

/// Step `k`'s seconds of a run of `seconds` seconds in `steps` steps.
fn seconds_of(step: usize, steps: usize, seconds: usize) -> std::ops::Range<usize> {
    let length = seconds as f64 / steps.max(1) as f64;
    let start = (step as f64 * length).round() as usize;
    let end = ((step + 1) as f64 * length).round() as usize;
    start..end.min(seconds)
}

/// The seconds of `range` that are judged (the warm-up left out).
fn judged(range: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    range.start.max(WARM_UP)..range.end.max(WARM_UP)
}

/// The figures of one step from its seconds' tallies.
fn figures(rate: f64, tallies: &[Tally], bound_ms: f64, complete: bool) -> Step {
    let mut latency = crate::load::histogram();
    let (mut offered, mut accepted) = (0, 0);
    for tally in tallies {
        offered += tally.offered + tally.not_sent;
        accepted += tally.accepted;
        let _ = latency.add(&tally.latency);
    }
    let p99_ms = latency.value_at_quantile(0.99) as f64 / 1000.0;
    let not_accepted = offered - accepted.min(offered);
    Step {
        rate,
        offered,
        accepted,
        not_accepted,
        p99_ms,
        held: offered > 0 && not_accepted == 0 && p99_ms <= bound_ms,
        complete,
    }
}

/// During the run: whether the step of the last settled second (two
/// before `now_second`, the one being offered: the second before it may
/// still have answers on their way) failed to hold, judged on its seconds
/// up to that one.
pub(crate) fn broken(
    schedule: &Schedule,
    tallies: &[Tally],
    now_second: usize,
    bound_ms: f64,
) -> bool {
    let Some(settled) = now_second.checked_sub(2) else {
        return false;
    };
    let seconds = tallies.len().saturating_sub(1);
    let steps = schedule.steps.max(1) as usize;
    let Some(range) = (0..steps)
        .map(|k| seconds_of(k, steps, seconds))
        .find(|range| range.contains(&settled))
    else {
        return false;
    };
    let Some(done) = tallies
        .get(judged(&range).start..settled + 1)
        .filter(|done| !done.is_empty())
    else {
        return false;
    };
    !figures(0.0, done, bound_ms, false).held
}

/// After the run: each step offered, and the ceiling. `stopped_at`: the
/// second the load stopped in, if it stopped early.
pub(crate) fn of(
    schedule: &Schedule,
    tallies: &[Tally],
    bound_ms: f64,
    stopped_at: Option<usize>,
) -> Ceiling {
    let seconds = tallies.len().saturating_sub(1);
    let steps = schedule.steps.max(1) as usize;
    let mut offered = Vec::new();
    for step in 0..steps {
        let range = seconds_of(step, steps, seconds);
        if stopped_at.is_some_and(|stop| stop < range.start) {
            break;
        }
        let rate = schedule.rate * (step + 1) as f64 / steps as f64;
        let complete = stopped_at.is_none_or(|stop| stop >= range.end);
        let tallies = tallies.get(judged(&range)).unwrap_or_default();
        offered.push(figures(rate, tallies, bound_ms, complete));
    }
    let first_not_held = offered.iter().position(|s| !s.held || !s.complete);
    let below = first_not_held.unwrap_or(offered.len());
    Ceiling {
        p99_bound_ms: bound_ms,
        rfqs_per_second: below.checked_sub(1).map(|k| offered[k].rate),
        found: first_not_held.is_some(),
        steps: offered,
        records_per_second: None,
        share_of_produce: None,
    }
}

impl Ceiling {
    /// The ceiling in records per second (`records_per_rfq`: the run's),
    /// and as a share of the broker's raw produce rate.
    pub fn against(mut self, records_per_rfq: Option<f64>, produce: Option<f64>) -> Ceiling {
        self.records_per_second = records_per_rfq
            .zip(self.rfqs_per_second)
            .map(|(records, rate)| records * rate);
        self.share_of_produce = self.records_per_second.zip(produce).map(|(r, p)| r / p);
        self
    }

    /// The report's rows.
    pub fn rows(&self) -> Vec<(String, String)> {
        let ceiling = match (self.rfqs_per_second, self.found) {
            (None, _) => "below the first step: nothing held".to_owned(),
            (Some(rate), found) => format!(
                "{}{rate:.0} RFQ/s with nothing shed and intake p99 ≤ {:.0} ms{}{}",
                if found { "" } else { "≥ " },
                self.p99_bound_ms,
                self.records_per_second
                    .map(|r| format!(", {r:.0} records/s"))
                    .unwrap_or_default(),
                self.share_of_produce
                    .map(|s| format!(" = {:.0} % of the broker's raw produce", s * 100.0))
                    .unwrap_or_default(),
            ),
        };
        let mut rows = vec![("ceiling".to_owned(), ceiling)];
        rows.extend(self.steps.iter().map(|s| {
            (
                format!("  step {:.0} RFQ/s", s.rate),
                format!(
                    "{} offered, {} accepted, {} not, p99 {:.1} ms: {}",
                    s.offered,
                    s.accepted,
                    s.not_accepted,
                    s.p99_ms,
                    match (s.held, s.complete) {
                        (true, true) => "held",
                        (true, false) => "cut short",
                        (false, _) => "did NOT hold",
                    }
                ),
            )
        }));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Shape;
    use std::time::Duration;

    fn schedule() -> Schedule {
        Schedule {
            shape: Shape::FindCeiling,
            rate: 400.0,
            duration: Duration::from_secs(8),
            steps: 4,
            burst_base: None,
        }
    }

    /// A second of `offered` requests, `shed` of them not accepted, each
    /// answered in `ms`.
    fn second(offered: u64, shed: u64, ms: u64) -> Tally {
        let mut tally = Tally {
            offered,
            accepted: offered - shed,
            shed,
            ..Tally::default()
        };
        for _ in 0..offered {
            tally.latency.record(ms * 1000).expect("in bounds");
        }
        tally
    }

    #[test]
    fn the_ceiling_is_the_last_step_before_one_sheds() {
        // 100, 200 held; 300 sheds in its second second (5), seen while
        // second 7 is offered: the load stopped there.
        let mut tallies = vec![second(100, 0, 5), second(100, 0, 5)];
        tallies.extend([second(200, 0, 8), second(200, 0, 9)]);
        tallies.extend([second(300, 0, 9), second(300, 4, 30)]);
        tallies.extend([second(400, 0, 9), Tally::default(), Tally::default()]);
        let ceiling = of(&schedule(), &tallies, 50.0, Some(7));
        assert_eq!(ceiling.steps.len(), 4, "{ceiling:?}");
        assert_eq!(ceiling.rfqs_per_second, Some(200.0));
        assert!(ceiling.found);
        assert!(!ceiling.steps[2].held && ceiling.steps[2].complete);
        assert!(!ceiling.steps[3].complete);
        let ceiling = ceiling.against(Some(20.0), Some(40_000.0));
        assert_eq!(ceiling.records_per_second, Some(4000.0));
        assert_eq!(ceiling.share_of_produce, Some(0.1));
    }

    #[test]
    fn a_step_over_the_latency_bound_does_not_hold() {
        let mut tallies = vec![second(100, 0, 5), second(100, 0, 80)];
        tallies.extend((0..7).map(|_| Tally::default()));
        let ceiling = of(&schedule(), &tallies, 50.0, Some(1));
        assert_eq!(ceiling.rfqs_per_second, None);
        assert!(ceiling.rows()[0].1.contains("nothing held"));
    }

    #[test]
    fn every_step_holding_says_the_ceiling_is_higher() {
        let tallies: Vec<Tally> = (0..9).map(|_| second(10, 0, 5)).collect();
        let ceiling = of(&schedule(), &tallies, 50.0, None);
        assert_eq!(ceiling.rfqs_per_second, Some(400.0));
        assert!(!ceiling.found);
        assert!(ceiling.rows()[0].1.starts_with("≥ 400"));
    }

    #[test]
    fn a_step_breaks_on_its_settled_seconds() {
        // The first second (warm-up) is slow: it is not judged.
        let mut tallies = vec![second(100, 0, 500), second(100, 0, 5), second(200, 3, 5)];
        tallies.extend((0..6).map(|_| Tally::default()));
        assert!(!broken(&schedule(), &tallies, 2, 50.0));
        // Offering second 3: second 1 is settled, its step held.
        assert!(!broken(&schedule(), &tallies, 3, 50.0));
        // Offering second 4: second 2 is settled, and shed.
        assert!(broken(&schedule(), &tallies, 4, 50.0));
        assert!(!broken(&schedule(), &tallies, 1, 50.0));
    }
}
