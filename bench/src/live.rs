//! A watched RFQ's live events (`GET /rfqs/{id}/events`), read as a
//! browser's `EventSource` reads them: how long after an answer reached the
//! quotes topic (its `received-at`, the broker's clock) the client had its
//! event. That bounds from above the time from the aggregator keeping the
//! answer, whichever processes or hosts the aggregator and the API run in
//! (their clocks' skew aside: on one machine, none).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// Follows the stream at `url` until it ends (the RFQ closed) or `within`
/// passes; returns, per answer event, milliseconds from its `received-at`
/// to its arrival here.
pub async fn follow(client: &reqwest::Client, url: &str, within: Duration) -> Vec<u64> {
    let mut delays = Vec::new();
    let read = async {
        let Ok(mut response) = client
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
        else {
            return;
        };
        if response.status() != 200 {
            return;
        }
        let mut pending = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let arrived = Utc::now();
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                if let Some(received) = answer_received_at(&block) {
                    delays.push((arrived - received).num_milliseconds().max(0) as u64);
                }
            }
        }
    };
    // A stream cut short still leaves what it measured.
    let _ = tokio::time::timeout(within, read).await;
    delays
}

/// The `received-at` of an `answer` event.
fn answer_received_at(block: &str) -> Option<DateTime<Utc>> {
    let mut lines = block.lines();
    lines.clone().find(|line| *line == "event: answer")?;
    let data = lines.find_map(|line| line.strip_prefix("data:"))?;
    let data: Value = serde_json::from_str(data.trim()).ok()?;
    DateTime::parse_from_rfc3339(data["received-at"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answer_events_are_timed() {
        let answer =
            "event: answer\nid: 1\ndata: {\"received-at\":\"2026-11-26T00:00:00.000Z\"}\n\n";
        assert!(answer_received_at(answer).is_some());
        let closed =
            "event: closed\nid: closed\ndata: {\"received-at\":\"2026-11-26T00:00:00.000Z\"}\n\n";
        assert!(answer_received_at(closed).is_none());
        assert!(answer_received_at(": keep-alive\n\n").is_none());
    }
}
