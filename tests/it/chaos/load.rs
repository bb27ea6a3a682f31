//! The customers: a load generator posting RFQs over HTTP with every
//! completion rule, as fast as the producer admits them.

use rfq_core::CorrelationId;
use serde_json::{Value, json};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pickup points served by the scenario's adapters.
pub const PICKUPS: [(f64, f64); 2] = [(52.52, 13.40), (52.40, 13.06)];

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Ids of accepted RFQs (202).
    pub accepted: Mutex<Vec<CorrelationId>>,
    /// Accepted RFQs with their deadline (the 202's `eta`), in acceptance order.
    pub due: Mutex<Vec<(CorrelationId, chrono::DateTime<chrono::Utc>)>>,
    /// Count of accepted RFQs (read by the fault plan).
    pub accepted_count: AtomicUsize,
    /// 503 answers with Retry-After because too many RFQs were open.
    pub overloaded: AtomicUsize,
    /// Other refusals (503 while Kafka or the store was unavailable).
    pub unavailable: AtomicUsize,
}

/// The body of the `i`-th RFQ: pickups, deadlines and rules take turns.
pub fn body(i: usize) -> Value {
    let (lat, lon) = PICKUPS[i % PICKUPS.len()];
    let rule = match i % 6 {
        1 => json!({"rule": "first-n", "n": 2}),
        2 => json!({"rule": "quorum"}),
        3 => json!({"rule": "deadline"}),
        4 => json!({"rule": "quality", "max-price": "20.00", "currency": "EUR"}),
        _ => json!({"rule": "all"}),
    };
    json!({
        "from": {"lat": lat, "lon": lon},
        "to": {"lat": lat - 0.02, "lon": lon + 0.05},
        "deadline-seconds": 2 + i % 4,
        "completion": rule,
    })
}

/// Posts `total` RFQs with `concurrency` customers at once, at most
/// `rate` per second.
pub async fn run(
    client: reqwest::Client,
    producer: String,
    total: usize,
    pace: (usize, f64),
    tally: Arc<Tally>,
) {
    run_until(
        client,
        producer,
        total,
        pace,
        tally,
        CancellationToken::new(),
    )
    .await;
}

/// [`run`], ending early once `stop` is cancelled (an RFQ on its way is
/// seen through: an RFQ posted is an RFQ counted).
pub async fn run_until(
    client: reqwest::Client,
    producer: String,
    total: usize,
    (concurrency, rate): (usize, f64),
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut customers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, producer, next, tally, stop) = (
            client.clone(),
            producer.clone(),
            next.clone(),
            tally.clone(),
            stop.clone(),
        );
        customers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let at = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(at) => {}
                }
                submit(&client, &producer, i, &tally).await;
            }
        });
    }
    while let Some(result) = customers.join_next().await {
        result.unwrap();
    }
}

/// Submits RFQ `i`, retrying (as a customer app would) while refused.
pub async fn submit(client: &reqwest::Client, producer: &str, i: usize, tally: &Tally) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "RFQ {i} never accepted"
        );
        let response = match client
            .post(format!("{producer}/rfqs"))
            .json(&body(i))
            .send()
            .await
        {
            Ok(response) => response,
            Err(_) => {
                tally.unavailable.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        match response.status().as_u16() {
            202 => {
                let accepted: Value = response.json().await.unwrap();
                let id = CorrelationId::parse(accepted["id"].as_str().unwrap()).unwrap();
                let eta = chrono::DateTime::parse_from_rfc3339(accepted["eta"].as_str().unwrap())
                    .unwrap()
                    .to_utc();
                tally.accepted.lock().unwrap().push(id);
                tally.due.lock().unwrap().push((id, eta));
                tally.accepted_count.fetch_add(1, Ordering::Relaxed);
                return;
            }
            503 => {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(1);
                let problem: Value = response.json().await.unwrap_or_default();
                if problem["title"] == "Too Many Open RFQs" {
                    tally.overloaded.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.unavailable.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("RFQ {i}: unexpected status {other}"),
        }
    }
}
