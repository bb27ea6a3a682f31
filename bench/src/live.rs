//! A watched RFQ's live events (`GET /rfqs/{id}/events`), read as a
//! browser's `EventSource` reads them: how long after an answer reached the
//! quotes topic (its `received-at`, the broker's clock) the client had its
//! event. That bounds from above the time from the aggregator keeping the
//! answer, whichever processes or hosts the aggregator and the API run in
//! (their clocks' skew aside: on one machine, none).
//!
//! [`EventStream`] is the one client of the live events outside the API:
//! `rfq bench` and the integration tests (`tests/it/events.rs`) read them
//! with it; it parses with [`rfq_core::sse`].

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use rfq_core::sse::{SseEvent, SseReader};
use serde_json::Value;
use std::{collections::VecDeque, time::Duration};

/// A Server-Sent Events stream being read.
pub struct EventStream {
    /// The response being read.
    response: reqwest::Response,
    /// Its bytes, parsed.
    reader: SseReader,
    /// Events read but not yet taken.
    ready: VecDeque<SseEvent>,
}

impl EventStream {
    /// Opens the stream at `url`, resuming after `last_event_id` when
    /// given; an error unless the answer is `200 text/event-stream`.
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != 200 || content_type != "text/event-stream" {
            bail!("GET {url}: {status} {content_type}, not an event stream");
        }
        Ok(EventStream {
            response,
            reader: SseReader::default(),
            ready: VecDeque::new(),
        })
    }

    /// The next event (keep-alive comments skipped); `None` once the server
    /// ended the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let Some(chunk) = self.response.chunk().await.context("reading the stream")? else {
                return Ok(None);
            };
            self.ready.extend(self.reader.push(&chunk));
        }
    }
}

/// Follows the stream at `url` until it ends (the RFQ closed) or `within`
/// passes; returns, per answer event, milliseconds from its `received-at`
/// to its arrival here.
pub async fn follow(client: &reqwest::Client, url: &str, within: Duration) -> Vec<u64> {
    let mut delays = Vec::new();
    let read = async {
        let Ok(mut stream) = EventStream::open(client, url, None).await else {
            return;
        };
        while let Ok(Some(event)) = stream.next().await {
            let arrived = Utc::now();
            if let Some(received) = answer_received_at(&event) {
                delays.push((arrived - received).num_milliseconds().max(0) as u64);
            }
        }
    };
    // A stream cut short still leaves what it measured.
    let _ = tokio::time::timeout(within, read).await;
    delays
}

/// The `received-at` of an `answer` event.
fn answer_received_at(event: &SseEvent) -> Option<DateTime<Utc>> {
    if event.event != "answer" {
        return None;
    }
    let data: Value = serde_json::from_str(&event.data).ok()?;
    DateTime::parse_from_rfc3339(data["received-at"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answer_events_are_timed() {
        let mut reader = SseReader::default();
        let events = reader.push(
            b"event: answer\nid: 1\ndata: {\"received-at\":\"2026-11-26T00:00:00.000Z\"}\n\n\
              : keep-alive\n\n\
              event: closed\nid: closed\ndata: {\"received-at\":\"2026-11-26T00:00:00.000Z\"}\n\n",
        );
        assert_eq!(events.len(), 2);
        assert!(answer_received_at(&events[0]).is_some());
        assert!(answer_received_at(&events[1]).is_none());
    }
}
