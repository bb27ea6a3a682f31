//! Watching a sample of RFQs as the customer app does: polling each every
//! `--bench-poll-ms` until its `303`, and timing when the result showed
//! after its deadline, its `202` or its last answer. Each poll's round trip
//! is timed too: with the interval, it is what polling adds to every
//! "visible" figure (see [`crate::report::PollingAdds`]).

use super::{Shared, record};
use crate::check::time;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls `status` until it answers `303`, or until `give_up`; when it did,
/// the time it was seen.
async fn until_303(
    shared: &Shared,
    status: &str,
    give_up: Option<Instant>,
) -> Option<DateTime<Utc>> {
    loop {
        if give_up.is_some_and(|at| Instant::now() > at) {
            return None;
        }
        let sent = Instant::now();
        let answered = shared.client.get(status).send().await;
        if let Ok(mut h) = shared.histograms.lock() {
            record(&mut h.poll_round_trip, sent.elapsed().as_micros() as u64);
        }
        if let Ok(response) = answered
            && response.status() == 303
        {
            return Some(Utc::now());
        }
        tokio::time::sleep(shared.poll).await;
    }
}

/// Polls an accepted RFQ until its `303`, as the customer app does, and
/// records how long after its deadline (or its `202`) the result showed.
pub(super) async fn result(shared: &Shared, accepted: &Value, to_deadline: bool) {
    let accepted_at = Utc::now();
    let (Some(id), Some(eta)) = (accepted["id"].as_str(), time(&accepted["eta"])) else {
        return;
    };
    if to_deadline {
        // No need to poll before the deadline draws near.
        let early = (eta - accepted_at).to_std().unwrap_or_default();
        tokio::time::sleep(early.saturating_sub(shared.poll * 2)).await;
    }
    // The link the 202 gave (the read API may be served elsewhere).
    let status = accepted["links"]["self"]
        .as_str()
        .filter(|link| link.starts_with("http"))
        .map_or_else(|| format!("{}/rfqs/{id}", shared.url), str::to_owned);
    let give_up = Instant::now()
        + (eta - accepted_at).to_std().unwrap_or_default()
        + Duration::from_secs(120);
    let Some(visible) = until_303(shared, &status, Some(give_up)).await else {
        return;
    };
    let result = match shared.client.get(format!("{status}/result")).send().await {
        Ok(response) => response.json::<Value>().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let ms = |from: DateTime<Utc>| (visible - from).num_milliseconds().max(0) as u64;
    let Ok(mut h) = shared.histograms.lock() else {
        return;
    };
    let closed_by = result["closed-by"].as_str().unwrap_or("unknown").to_owned();
    *h.closed_by.entry(closed_by).or_default() += 1;
    if to_deadline {
        // From the deadline the result states: the 202's ETA adds the
        // aggregator's lag when it is behind.
        let deadline = time(&result["deadline"]).unwrap_or(eta);
        record(&mut h.deadline_visible, ms(deadline));
        return;
    }
    record(&mut h.completion_visible, ms(accepted_at));
    let last = ["quotes", "declines"]
        .iter()
        .filter_map(|list| result[*list].as_array())
        .flatten()
        .filter_map(|answer| time(&answer["received-at"]))
        .max();
    if let Some(last) = last {
        record(&mut h.after_last_answer, ms(last));
    }
}

/// Polls a preloaded RFQ from just before its deadline until its `303`.
pub(super) async fn preloaded(
    shared: std::sync::Arc<Shared>,
    id: rfq_core::CorrelationId,
    deadline: DateTime<Utc>,
) {
    let early = (deadline - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(early.saturating_sub(shared.poll * 2)).await;
    let status = format!("{}/rfqs/{id}", shared.url);
    let Some(visible) = until_303(&shared, &status, None).await else {
        return;
    };
    if let Ok(mut h) = shared.histograms.lock() {
        record(
            &mut h.preload_visible,
            (visible - deadline).num_milliseconds().max(0) as u64,
        );
    }
}
