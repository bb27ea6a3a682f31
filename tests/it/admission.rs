//! In-flight work is bounded: at the configured number of open RFQs the
//! producer refuses new ones with 503 and Retry-After, and accepts again
//! once the aggregator closed some.

use crate::helpers::*;
use std::time::Duration;

on_both_brokers!(the_producer_refuses_past_the_open_limit_and_recovers);
async fn the_producer_refuses_past_the_open_limit_and_recovers(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(
        &broker,
        dir.path(),
        vec![adapter("alpha", fleet(BERLIN, 2, 2, 0.0))],
        true,
    );
    settings.intake.producer.max_open_rfqs = 2;
    let _counting = COUNTING.lock().await;
    let t = TestPipeline::start_with(settings).await;
    let overloaded = r#"rfq_producer_submissions_total{outcome="overloaded"}"#;
    let overloaded_before = t.metric(overloaded).await;
    let (first, _) = t.submit(BERLIN, 2).await;
    t.submit(BERLIN, 2).await;

    let body = serde_json::json!({
        "from": {"lat": BERLIN.0, "lon": BERLIN.1},
        "to": {"lat": BERLIN.0, "lon": BERLIN.1 + 0.05},
        "customer": "c",
    });
    let refused = t.post_raw(body.to_string(), "application/json").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "2");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["limit"], 2);
    assert_eq!(problem["open-rfqs"], 2);

    // Both close at their deadline (their unicorns are silent); then there is room again.
    t.poll_until_closed(&first, Duration::from_secs(15)).await;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut refusals = 1.0;
    loop {
        let response = t.post_raw(body.to_string(), "application/json").await;
        if response.status() == 202 {
            break;
        }
        assert_eq!(response.status(), 503);
        refusals += 1.0;
        assert!(
            tokio::time::Instant::now() < give_up,
            "never admitted again"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Every 503 is counted, nothing else is.
    t.assert_metric(overloaded, overloaded_before + refusals)
        .await;
    t.stop().await;
}

/// A burst beyond what the producer handles at once is shed at once (503,
/// Retry-After: 1, "Intake Busy") rather than queued; what is accepted is
/// answered as usual, and every request gets one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_concurrent_submissions_is_shed_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(
        &TestBroker::Embedded,
        dir.path(),
        vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))],
        true,
    );
    settings.intake.producer.max_concurrent_submissions = 1;
    let t = TestPipeline::start_with(settings).await;
    let body = serde_json::json!({
        "from": {"lat": BERLIN.0, "lon": BERLIN.1},
        "to": {"lat": BERLIN.0, "lon": BERLIN.1 + 0.05},
        "customer": "burst",
    })
    .to_string();
    let answers =
        futures::future::join_all((0..40).map(|_| t.post_raw(body.clone(), "application/json")))
            .await;
    let mut accepted = 0;
    let mut shed = 0;
    for response in answers {
        match response.status().as_u16() {
            202 => accepted += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let problem: serde_json::Value = response.json().await.unwrap();
                assert_eq!(problem["title"], "Intake Busy", "{problem}");
                assert_eq!(problem["limit"], 1);
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        accepted >= 1 && shed >= 1,
        "{accepted} accepted, {shed} shed"
    );
    assert_eq!(accepted + shed, 40);
    t.stop().await;
}
