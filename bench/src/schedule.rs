//! When each request is due: an open-loop schedule fixed in advance, so a
//! slow answer never delays the next request (no coordinated omission:
//! latency is measured from the time a request was due, not sent).

use std::time::Duration;

/// How the offered rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// `--rate` for the whole run.
    Fixed,
    /// From 0 up to `--rate`, linearly, over the run.
    Ramp,
    /// `--steps` equal steps up to `--rate`, each held for an equal share of
    /// the run (0.25 ×, 0.5 ×, … with 4 steps).
    Step,
    /// The base rate (`--bench-burst-base`, half of `--rate` unless set),
    /// then `--rate` for the middle third of the run, then the base again:
    /// an overload, and the recovery after it.
    Burst,
    /// As `Step`, stopping at the first step that sheds or breaks the
    /// latency bound: the ceiling ([`crate::ceiling`]).
    #[serde(rename = "find-ceiling")]
    FindCeiling,
}

/// The offered rate over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The shape.
    pub shape: Shape,
    /// Requests per second at the peak.
    pub rate: f64,
    /// Length of the run.
    pub duration: Duration,
    /// Steps of [`Shape::Step`].
    pub steps: u32,
    /// The rate before and after the burst of [`Shape::Burst`]; `None`:
    /// half of `rate`.
    pub burst_base: Option<f64>,
}

impl Schedule {
    /// The offered rate (requests per second) at `t` into the run.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let share = (t.as_secs_f64() / self.duration.as_secs_f64()).clamp(0.0, 1.0);
        match self.shape {
            Shape::Fixed => self.rate,
            Shape::Ramp => self.rate * share,
            Shape::Step | Shape::FindCeiling => {
                let steps = f64::from(self.steps.max(1));
                let step = (share * steps).floor().min(steps - 1.0) + 1.0;
                self.rate * step / steps
            }
            Shape::Burst if (1.0 / 3.0..2.0 / 3.0).contains(&share) => self.rate,
            Shape::Burst => self.base_rate(),
        }
    }

    /// The rate before and after a burst.
    pub fn base_rate(&self) -> f64 {
        self.burst_base.unwrap_or(self.rate / 2.0)
    }

    /// The times (from the start) at which requests are due, in order.
    pub fn due_times(&self) -> impl Iterator<Item = Duration> + '_ {
        // Integrate the rate: a request is due each time the integral of
        // the rate crosses the next whole number.
        const STEP: f64 = 0.000_1;
        let end = self.duration.as_secs_f64();
        let mut t = 0.0_f64;
        let mut owed = 0.0_f64;
        // Several may fall due in one step (above 10,000 per second).
        std::iter::from_fn(move || {
            loop {
                if owed >= 1.0 {
                    owed -= 1.0;
                    return Some(Duration::from_secs_f64(t));
                }
                if t >= end {
                    return None;
                }
                owed += self.rate_at(Duration::from_secs_f64(t)) * STEP;
                t += STEP;
            }
        })
    }
}

/// Every `k`-th of a share (`None` for none): one of `every(0.2)` is 5.
pub fn every(share: f64) -> Option<usize> {
    (share > 0.0).then(|| (1.0 / share.min(1.0)).round().max(1.0) as usize)
}

/// Whether the `i`-th (from 0) is one of the share picked [`every`] `k`-th
/// (the last of each `k`): which RFQs go where nobody answers.
pub fn picked(every: Option<usize>, i: usize) -> bool {
    every.is_some_and(|k| i % k == k - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(shape: Shape) -> Schedule {
        Schedule {
            shape,
            rate: 100.0,
            duration: Duration::from_secs(10),
            steps: 4,
            burst_base: None,
        }
    }

    #[test]
    fn a_share_picks_every_kth() {
        let fifth = every(0.2);
        assert_eq!(fifth, Some(5));
        assert_eq!((0..100).filter(|i| picked(fifth, *i)).count(), 20);
        assert!(picked(fifth, 4) && !picked(fifth, 5));
        assert_eq!((0..100).filter(|i| picked(every(0.0), *i)).count(), 0);
        assert_eq!((0..100).filter(|i| picked(every(1.0), *i)).count(), 100);
    }

    #[test]
    fn a_fixed_rate_is_evenly_spaced() {
        let due: Vec<Duration> = schedule(Shape::Fixed).due_times().collect();
        assert!((999..=1000).contains(&due.len()), "{}", due.len());
        let gap = due[501] - due[500];
        assert!(
            gap.abs_diff(Duration::from_millis(10)) < Duration::from_micros(200),
            "{gap:?}"
        );
    }

    #[test]
    fn a_ramp_offers_half_the_requests_of_its_peak_rate() {
        let due: Vec<Duration> = schedule(Shape::Ramp).due_times().collect();
        assert!((495..=500).contains(&due.len()), "{}", due.len());
        let first_half = due.iter().filter(|t| t.as_secs() < 5).count();
        assert!((120..=130).contains(&first_half), "{first_half}");
    }

    #[test]
    fn rates_above_one_per_step_are_offered_in_full() {
        let s = Schedule {
            rate: 50_000.0,
            duration: Duration::from_secs(2),
            ..schedule(Shape::Fixed)
        };
        let due = s.due_times().count();
        assert!((99_990..=100_010).contains(&due), "{due}");
    }

    #[test]
    fn a_burst_doubles_the_rate_for_the_middle_third() {
        let s = Schedule {
            duration: Duration::from_secs(30),
            ..schedule(Shape::Burst)
        };
        assert_eq!(s.rate_at(Duration::from_secs(5)), 50.0);
        assert_eq!(s.rate_at(Duration::from_secs(15)), 100.0);
        assert_eq!(s.rate_at(Duration::from_secs(25)), 50.0);
        let due = s.due_times().count();
        assert!((1995..=2000).contains(&due), "{due}");
    }

    #[test]
    fn a_burst_can_start_from_a_chosen_base() {
        let s = Schedule {
            duration: Duration::from_secs(30),
            burst_base: Some(20.0),
            ..schedule(Shape::Burst)
        };
        assert_eq!(s.rate_at(Duration::from_secs(5)), 20.0);
        assert_eq!(s.rate_at(Duration::from_secs(15)), 100.0);
        assert_eq!(s.rate_at(Duration::from_secs(25)), 20.0);
    }

    #[test]
    fn steps_climb_to_the_peak() {
        assert_eq!(
            schedule(Shape::FindCeiling).rate_at(Duration::from_secs(6)),
            75.0
        );
        let s = schedule(Shape::Step);
        assert_eq!(s.rate_at(Duration::from_secs(1)), 25.0);
        assert_eq!(s.rate_at(Duration::from_secs(6)), 75.0);
        assert_eq!(s.rate_at(Duration::from_secs(10)), 100.0);
        let due = s.due_times().count();
        assert!((620..=626).contains(&due), "{due}");
    }
}
