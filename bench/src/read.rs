//! The read phase: after the drain, `GET /rfqs/{id}` (a `303` for each,
//! all closed by then) and `GET /rfqs/{id}/result` in a closed loop from
//! `--bench-read-connections` clients at once, each for
//! `--bench-read-seconds`, over the RFQs the load had accepted: the
//! customer app's polls, as many as the read API answers.
//!
//! Closed loop on purpose: this measures the API's capacity (requests per
//! second at full use), not the latency at a given rate; the load phase
//! does that for the intake.

use crate::{BenchSettings, check::Sent};
use std::time::{Duration, Instant};

/// Accepted RFQs read in the read phase, at most (the first ones).
pub const MAX_IDS: usize = 100_000;

/// What one read endpoint did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reads {
    /// `GET /rfqs/{id}` or `GET /rfqs/{id}/result`.
    pub endpoint: String,
    /// Requests answered with the expected status (`303`, `200`).
    pub ok: u64,
    /// Requests answered otherwise, or not at all.
    pub failed: u64,
    /// `ok` per second.
    pub requests_per_second: f64,
    /// Latency of the answered requests.
    pub latency: crate::report::Latency,
}

/// Reads the accepted RFQs `sent` (the first [`MAX_IDS`]) at `url` (the
/// API's base URL) with `client` ([`crate::client`]): the status, then the
/// result. Empty when `--bench-read-seconds` is 0 or nothing was accepted.
pub async fn run(
    settings: &BenchSettings,
    client: &reqwest::Client,
    url: &str,
    sent: &[Sent],
) -> Vec<Reads> {
    if settings.read_seconds == 0 || sent.is_empty() {
        return Vec::new();
    }
    let connections = settings.read_connections.max(1);
    let ids: Vec<&str> = sent.iter().take(MAX_IDS).map(|s| s.id.as_str()).collect();
    let url = url.trim_end_matches('/');
    let duration = Duration::from_secs(settings.read_seconds);
    let mut reads = Vec::new();
    for (endpoint, suffix, expected) in [
        ("GET /rfqs/{id}", "", 303),
        ("GET /rfqs/{id}/result", "/result", 200),
    ] {
        let urls: std::sync::Arc<Vec<String>> = std::sync::Arc::new(
            ids.iter()
                .map(|id| format!("{url}/rfqs/{id}{suffix}"))
                .collect(),
        );
        let started = Instant::now();
        let until = started + duration;
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..connections {
            let (client, urls) = (client.clone(), urls.clone());
            workers.spawn(async move {
                let mut latency = crate::load::histogram();
                let (mut ok, mut failed) = (0_u64, 0_u64);
                let mut next = worker;
                while Instant::now() < until {
                    let sent = Instant::now();
                    let answered = client.get(&urls[next % urls.len()]).send().await;
                    next += connections;
                    match answered {
                        Ok(response) if response.status().as_u16() == expected => {
                            // The body is part of the answer: read it all.
                            if response.bytes().await.is_ok() {
                                ok += 1;
                                crate::load::record(
                                    &mut latency,
                                    sent.elapsed().as_micros() as u64,
                                );
                                continue;
                            }
                            failed += 1;
                        }
                        _ => failed += 1,
                    }
                }
                (latency, ok, failed)
            });
        }
        let mut latency = crate::load::histogram();
        let (mut ok, mut failed) = (0, 0);
        while let Some(Ok((h, o, f))) = workers.join_next().await {
            let _ = latency.add(&h);
            ok += o;
            failed += f;
        }
        let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
        reads.push(Reads {
            endpoint: endpoint.to_owned(),
            ok,
            failed,
            requests_per_second: ok as f64 / seconds,
            latency: crate::report::Latency::of(&latency, 1000.0),
        });
    }
    reads
}

/// How the read phase ran, for the report.
pub fn describe(settings: &BenchSettings) -> String {
    format!(
        "{} connections, {} s per endpoint, closed loop",
        settings.read_connections, settings.read_seconds
    )
}
