//! Live events over real HTTP: `GET /rfqs/{id}/events` streams each answer
//! as the aggregator keeps it (woken by its change notice on the events
//! topic), then `closed`, then ends; a stream resumed with `Last-Event-ID`
//! sends exactly what follows; one opened after the close gets it all.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One event as a client reads it, and when it arrived.
#[derive(Debug)]
pub struct Received {
    /// `event:`.
    pub event: String,
    /// `id:`.
    pub id: String,
    /// `data:`, parsed.
    pub data: Value,
    /// When the client had it.
    pub at: Instant,
}

/// A Server-Sent Events stream read as a browser's `EventSource` does
/// (`rfq_bench::live::EventStream`, the one client of the live events).
pub struct EventStream(rfq_bench::live::EventStream);

impl EventStream {
    /// Opens the stream at `url` (resuming after `last_event_id`); the
    /// response must be `200 text/event-stream`.
    pub async fn open(client: &reqwest::Client, url: &str, last_event_id: Option<&str>) -> Self {
        EventStream(
            rfq_bench::live::EventStream::open(client, url, last_event_id)
                .await
                .unwrap(),
        )
    }

    /// The next event; `None` once the server ended the stream. Keep-alive
    /// comments are skipped.
    pub async fn next(&mut self) -> Option<Received> {
        let event = self.0.next().await.unwrap()?;
        Some(Received {
            data: serde_json::from_str(&event.data)
                .unwrap_or_else(|error| panic!("{event:?}: {error}")),
            event: event.event,
            id: event.id,
            at: Instant::now(),
        })
    }

    /// Every event until the server ends the stream (at most `within`).
    pub async fn rest(&mut self, within: Duration) -> Vec<Received> {
        let mut events = Vec::new();
        let read = async {
            while let Some(event) = self.next().await {
                events.push(event);
            }
        };
        tokio::time::timeout(within, read)
            .await
            .expect("the stream ends after its closed event");
        events
    }
}

fn ids(events: &[Received]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

on_both_brokers!(answers_stream_live_then_the_close_and_a_stream_resumes_after_an_id);
async fn answers_stream_live_then_the_close_and_a_stream_resumes_after_an_id(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    // Four unicorns that quote within 20–300 ms and one that never answers:
    // the RFQ (deadline rule) runs to its deadline, answers arriving live.
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 5, 1, 0.0)).await;
    let rule = serde_json::json!({"rule": "deadline"});
    let (location, accepted) = t.submit_with(BERLIN, 4, Some(rule)).await;
    let events_url = accepted["links"]["events"].as_str().unwrap().to_owned();
    assert_eq!(events_url, format!("{}{location}/events", t.base));

    let mut live = EventStream::open(&t.client, &events_url, None).await;
    let mut events = Vec::new();
    let mut running_when_answered = 0;
    while let Some(event) = live.next().await {
        if event.event == "answer" {
            // Live: the RFQ is still running when its answers arrive.
            let status: Value = t.get(&location).await.json().await.unwrap();
            if status["status"] == "running" {
                running_when_answered += 1;
            }
        }
        events.push(event);
    }
    assert_eq!(
        ids(&events),
        vec!["1", "2", "3", "4", "closed"],
        "every answer once, in order, then the close: {events:#?}"
    );
    assert!(
        running_when_answered >= 1,
        "answers arrived before the close"
    );
    let closed = &events[4];
    assert_eq!(closed.event, "closed");
    assert_eq!(closed.data["closed-by"], "deadline");
    let result_url = closed.data["links"]["result"].as_str().unwrap();
    let result: Value = t
        .client
        .get(result_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut streamed: Vec<&str> = events[..4]
        .iter()
        .map(|e| {
            assert_eq!(e.event, "answer");
            assert_eq!(e.data["outcome"], "quoted");
            e.data["provider"].as_str().unwrap()
        })
        .collect();
    let mut quoted: Vec<&str> = result["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["provider"].as_str().unwrap())
        .collect();
    streamed.sort_unstable();
    quoted.sort_unstable();
    assert_eq!(streamed, quoted, "the stream told what the result lists");
    // How long after reaching the quotes topic each answer reached the
    // client (an upper bound of the time from the aggregator keeping it);
    // figures, not an assertion: `rfq bench` measures latency.
    let delays: Vec<i64> = events[..4]
        .iter()
        .map(|e| {
            let received =
                chrono::DateTime::parse_from_rfc3339(e.data["received-at"].as_str().unwrap())
                    .unwrap();
            let arrived = chrono::Utc::now() - chrono::Duration::from_std(e.at.elapsed()).unwrap();
            (arrived - received.with_timezone(&chrono::Utc)).num_milliseconds()
        })
        .collect();
    eprintln!("live events on {broker:?}: quotes topic → client, ms: {delays:?}");

    // Resumed after answer 2: 3, 4 and the close, at once.
    let mut resumed = EventStream::open(&t.client, &events_url, Some("2")).await;
    let rest = resumed.rest(Duration::from_secs(10)).await;
    assert_eq!(ids(&rest), vec!["3", "4", "closed"]);
    assert_eq!(rest[0].data["provider"], events[2].data["provider"]);
    // Opened after the close: everything at once.
    let mut late = EventStream::open(&t.client, &events_url, None).await;
    assert_eq!(
        ids(&late.rest(Duration::from_secs(10)).await),
        vec!["1", "2", "3", "4", "closed"]
    );
    // Reconnecting after the end (as an EventSource would): 204.
    let ended = t
        .client
        .get(&events_url)
        .header("last-event-id", "closed")
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    t.stop().await;
}
