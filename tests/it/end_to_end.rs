//! The REST contract end to end: 202 with Location and eta, polling, 303,
//! and results holding exactly one outcome per addressed unicorn.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use std::{collections::BTreeSet, time::Duration};

on_both_brokers!(every_addressed_unicorn_answers_once_and_the_rfq_closes_on_completion);
async fn every_addressed_unicorn_answers_once_and_the_rfq_closes_on_completion(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 5, 0, 0.3)).await;

    let before = Utc::now();
    let mut submitted = Vec::new();
    for _ in 0..6 {
        submitted.push(t.submit(BERLIN, 60).await);
    }
    for (location, accepted) in &submitted {
        assert!(location.starts_with("/rfqs/"), "{location}");
        assert_eq!(accepted["status"], "running");
        assert_eq!(accepted["links"]["self"], format!("{}{location}", t.base));
        assert_eq!(accepted["providers-addressed"], 5);
        let eta: DateTime<Utc> = accepted["eta"].as_str().unwrap().parse().unwrap();
        let expected = before + chrono::Duration::seconds(60);
        assert!(
            (eta - expected).num_seconds().abs() <= 5,
            "eta {eta} vs {expected}"
        );
    }
    let ids: BTreeSet<&str> = submitted.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(ids.len(), submitted.len(), "every RFQ gets its own id");

    for (location, _) in &submitted {
        let result_location = t.poll_until_closed(location, Duration::from_secs(45)).await;
        assert_eq!(result_location, format!("{location}/result"));
        let result = t.result(&result_location).await;
        assert_eq!(result["closed-by"], "all-answered");
        assert_eq!(result["customer"], "test-customer");
        assert_eq!(result["from"]["lat"], BERLIN.0);
        let (quoted, declined, unanswered) = outcomes(&result);
        assert!(unanswered.is_empty(), "{result}");
        let mut all: Vec<&String> = quoted.iter().chain(&declined).collect();
        all.sort();
        let before_dedup = all.len();
        all.dedup();
        assert_eq!(
            all.len(),
            before_dedup,
            "a provider appears twice: {result}"
        );
        assert_eq!(all.len(), 5, "one outcome per addressed unicorn: {result}");
        assert!(all.iter().all(|p| p.starts_with("alpha-")));
        for quote in result["quotes"].as_array().unwrap() {
            assert_eq!(quote["currency"], "EUR");
            let price: f64 = quote["price"].as_str().unwrap().parse().unwrap();
            assert!(price > 3.0 && price < 100.0, "{quote}");
        }
        let prices: Vec<f64> = result["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["price"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(
            prices.windows(2).all(|w| w[0] <= w[1]),
            "cheapest first: {prices:?}"
        );
        let closed: DateTime<Utc> = result["closed-at"].as_str().unwrap().parse().unwrap();
        let deadline: DateTime<Utc> = result["deadline"].as_str().unwrap().parse().unwrap();
        assert!(
            closed < deadline,
            "closed on completion, before the deadline"
        );
    }
    t.stop().await;
}

on_both_brokers!(a_silent_unicorn_leaves_the_rfq_to_its_deadline_with_the_others_quotes);
async fn a_silent_unicorn_leaves_the_rfq_to_its_deadline_with_the_others_quotes(
    broker: TestBroker,
) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start(
        &broker,
        dir.path(),
        vec![
            adapter("alpha", fleet(POTSDAM, 3, 0, 0.0)),
            adapter("mute", fleet(POTSDAM, 1, 1, 0.0)),
        ],
    )
    .await;
    let (location, accepted) = t.submit(POTSDAM, 4).await;
    assert_eq!(accepted["providers-addressed"], 4);
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "deadline");
    let (quoted, declined, unanswered) = outcomes(&result);
    assert_eq!(quoted.len(), 3, "{result}");
    assert!(declined.is_empty());
    assert_eq!(unanswered.len(), 1);
    assert!(unanswered[0].starts_with("mute-"), "{result}");
    let closed: DateTime<Utc> = result["closed-at"].as_str().unwrap().parse().unwrap();
    let deadline: DateTime<Utc> = result["deadline"].as_str().unwrap().parse().unwrap();
    assert!(closed >= deadline);
    t.stop().await;
}

on_both_brokers!(an_rfq_outside_every_served_region_closes_at_its_deadline_with_no_quotes);
async fn an_rfq_outside_every_served_region_closes_at_its_deadline_with_no_quotes(
    broker: TestBroker,
) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 2, 0, 0.0)).await;
    let (location, accepted) = t.submit(MUNICH, 2).await;
    assert_eq!(accepted["providers-addressed"], 0);
    // While open, the result is not there yet: 409 with the eta.
    let early = t.get(&format!("{location}/result")).await;
    match early.status().as_u16() {
        409 => {
            assert_eq!(early.headers()["content-type"], "application/problem+json");
            let problem: serde_json::Value = early.json().await.unwrap();
            assert_eq!(problem["eta"], accepted["eta"]);
        }
        // Only on a machine so slow that the 2 s deadline passed already.
        200 => assert_eq!(t.get(&location).await.status(), 303, "a result while open"),
        other => panic!("GET result while open answered {other}"),
    }
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "deadline");
    assert_eq!(result["providers-addressed"], 0);
    let (quoted, declined, unanswered) = outcomes(&result);
    assert!(
        quoted.is_empty() && declined.is_empty() && unanswered.is_empty(),
        "{result}"
    );
    t.stop().await;
}

on_both_brokers!(with_a_public_url_the_location_is_absolute);
/// Producer and read API on different hosts (the docker-compose stack): with
/// a public URL the 202's Location is absolute, so following it reaches the
/// API, and the links agree with it.
async fn with_a_public_url_the_location_is_absolute(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(&broker, dir.path(), vec![], true);
    settings.intake.producer.links.public_url = Some("http://api.example:8081".into());
    let t = TestPipeline::start_with(settings).await;
    let (location, accepted) = t.submit(BERLIN, 30).await;
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(location, format!("http://api.example:8081/rfqs/{id}"));
    assert_eq!(accepted["links"]["self"], location);
    assert_eq!(accepted["links"]["result"], format!("{location}/result"));
    t.stop().await;
}
