//! After the load: waiting until every accepted RFQ closed (the
//! aggregator's metrics); during it, the peaks sampled every second (open
//! RFQs, this process's memory).

use super::Shared;
use crate::{Target, scrape};
use chrono::{DateTime, Utc};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Waiting for every accepted RFQ to close.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drain {
    /// Whether every accepted RFQ closed (per the aggregator's metrics).
    pub all_closed: Option<bool>,
    /// RFQs closed during the run and the drain.
    pub closed: Option<u64>,
    /// Seconds from the first request due to the drain's end.
    pub seconds: f64,
}

/// Waits until the aggregator closed as many RFQs as must be closed (its
/// metrics), and it is past `not_before` (the last preloaded deadline that
/// must pass), or `within` passes.
pub(super) async fn drain(
    shared: &Shared,
    target: &Target,
    before: &str,
    accepted: u64,
    not_before: Option<DateTime<Utc>>,
    within: Duration,
) -> Drain {
    let give_up = Instant::now() + within;
    let closed_before = scrape::sum(before, "rfq_aggregator_closed_total");
    loop {
        let now = scrape::metrics(&shared.client, &target.metrics_url).await;
        if now.is_empty() {
            return Drain {
                all_closed: None,
                closed: None,
                seconds: shared.start.elapsed().as_secs_f64(),
            };
        }
        let closed = (scrape::sum(&now, "rfq_aggregator_closed_total") - closed_before) as u64;
        let past = not_before.is_none_or(|at| Utc::now() > at);
        if (closed >= accepted && past) || Instant::now() > give_up {
            return Drain {
                all_closed: Some(closed >= accepted),
                closed: Some(closed),
                seconds: shared.start.elapsed().as_secs_f64(),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every second: the aggregator's open RFQs and this process's memory.
pub(super) async fn sample(shared: Arc<Shared>, target: Target) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let text = scrape::metrics(&shared.client, &target.metrics_url).await;
        let open = (!text.is_empty()).then(|| scrape::sum(&text, "rfq_aggregator_open_rfqs"));
        let rss = target.in_process.then(scrape::rss_bytes).flatten();
        if let Ok(mut peaks) = shared.peaks.lock() {
            peaks.0 = max(peaks.0, open, f64::max);
            peaks.1 = max(peaks.1, rss, u64::max);
        }
    }
}

fn max<T: Copy>(a: Option<T>, b: Option<T>, larger: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(larger(a, b)),
        (a, b) => a.or(b),
    }
}
