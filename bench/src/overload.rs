//! An overload (`--bench-shape burst`) and the recovery after it: the
//! intake's per-second p99 before, during and after the burst.

use crate::load::Second;

/// An overload (`--bench-shape burst`: `--bench-rate` after a lower base), and how
/// soon the intake was back to normal after it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overload {
    /// The intake's per-second p99 before the burst (the median of the
    /// first third's seconds, the first left out), ms.
    pub normal_p99_ms: f64,
    /// "Back to normal": a second's p99 at most this, and nothing shed, ms
    /// (twice normal, or normal + 10 ms if more).
    pub normal_bound_ms: f64,
    /// The worst per-second p99 during the burst, ms.
    pub burst_p99_ms: f64,
    /// Requests shed during the burst.
    pub burst_shed: u64,
    /// Seconds after the burst until the first normal second (0: the first
    /// second after it was normal); `None`: not within the run.
    pub back_to_normal_after_seconds: Option<u64>,
}

impl Overload {
    /// From the per-second figures of a burst run of `duration` seconds.
    pub fn of(seconds: &[Second], duration: u64) -> Option<Overload> {
        let (start, end) = (duration / 3, (2 * duration).div_ceil(3));
        let mut before: Vec<f64> = seconds
            .iter()
            .filter(|s| (1..start).contains(&s.t) && s.offered > 0)
            .map(|s| s.p99_ms)
            .collect();
        if before.is_empty() {
            return None;
        }
        before.sort_by(f64::total_cmp);
        let normal = before[before.len() / 2];
        let bound = (normal * 2.0).max(normal + 10.0);
        let burst = seconds.iter().filter(|s| (start..end).contains(&s.t));
        let (burst_p99, burst_shed) = burst.fold((0.0_f64, 0), |(p99, shed), s| {
            (p99.max(s.p99_ms), shed + s.shed)
        });
        let back = seconds
            .iter()
            .filter(|s| s.t >= end && s.offered > 0)
            .find(|s| s.p99_ms <= bound && s.shed == 0)
            .map(|s| s.t - end);
        Some(Overload {
            normal_p99_ms: normal,
            normal_bound_ms: bound,
            burst_p99_ms: burst_p99,
            burst_shed,
            back_to_normal_after_seconds: back,
        })
    }
}
