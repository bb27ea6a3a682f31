//! One request of the load: `POST /rfqs`, counted per second of when it
//! was due; an accepted RFQ is kept for the check, and watched if picked.

use super::{MAX_WATCHED, MAX_WATCHED_DEADLINES, Shared, record, watch};
use crate::check::Sent;
use serde_json::Value;
use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

/// One request: POST, count, and watch its result if asked.
pub(super) async fn submit(
    shared: Arc<Shared>,
    due: Duration,
    body: Value,
    watch: bool,
    to_deadline: bool,
) {
    let sent = shared
        .client
        .post(format!("{}/rfqs", shared.url))
        .json(&body)
        .send()
        .await;
    let answered = shared.start.elapsed();
    let latency = answered.saturating_sub(due).as_micros() as u64;
    let second = due.as_secs() as usize;
    let counts = &shared.counts;
    let accepted = match sent {
        Ok(response) if response.status() == 202 => {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            response.json::<Value>().await.ok()
        }
        Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {
            counts.shed.fetch_add(1, Ordering::Relaxed);
            None
        }
        Ok(_) => {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(_) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    if let Ok(mut h) = shared.histograms.lock() {
        record(&mut h.intake, latency);
        if accepted.is_some() {
            record(&mut h.intake_accepted, latency);
        }
        if let Some(tally) = h.seconds.get_mut(second) {
            tally.offered += 1;
            tally.accepted += u64::from(accepted.is_some());
            tally.shed += u64::from(accepted.is_none());
            record(&mut tally.latency, latency);
        }
    }
    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    let Some(body) = accepted else { return };
    if let Ok(mut sent) = shared.sent.lock() {
        sent.push(Sent::accepted(&body, to_deadline));
    }
    let (watching, most) = if to_deadline {
        (&counts.watched_deadlines, MAX_WATCHED_DEADLINES)
    } else {
        (&counts.watched, MAX_WATCHED)
    };
    if watch && watching.fetch_add(1, Ordering::Relaxed) < most {
        if to_deadline {
            watch::result(&shared, &body, to_deadline).await;
        } else {
            // Polled and followed live at once, as an app might.
            let events = body["links"]["events"].as_str().unwrap_or_default();
            let ((), delays) = tokio::join!(
                watch::result(&shared, &body, to_deadline),
                crate::live::follow(&shared.client, events, Duration::from_secs(120)),
            );
            if let Ok(mut h) = shared.histograms.lock() {
                for delay in delays {
                    record(&mut h.live_event, delay);
                }
            }
        }
    } else if watch {
        // Every watcher busy: this one goes unmeasured, and the report says
        // how many did (a sample short of its slow cases is biased).
        counts.watch_skipped.fetch_add(1, Ordering::Relaxed);
    }
    if watch {
        watching.fetch_sub(1, Ordering::Relaxed);
    }
}
