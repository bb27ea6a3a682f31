//! Per-provider accounting, seen from a partner provider's side: answers
//! produced straight to the quotes topic. A duplicate does not appear twice
//! (first wins), a late answer is kept apart and never changes the result,
//! and answers for unknown RFQs, from strangers or to the wrong partition
//! are dead-lettered with the reason and counted.

use crate::helpers::*;
use rfq_core::{CorrelationId, kafka::DeadLetterHeaders};
use serde_json::Value;
use std::{collections::BTreeSet, time::Duration};

/// Quotes partitions of the test pipelines.
const QUOTE_PARTITIONS: i32 = 4;

fn prices(result: &Value, list: &str) -> Vec<(String, String)> {
    result[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["provider"].as_str().unwrap().to_owned(),
                q["price"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

on_both_brokers!(duplicate_late_unknown_and_stranger_answers_each_get_their_outcome);
async fn duplicate_late_unknown_and_stranger_answers_each_get_their_outcome(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    // Three registered unicorns that never answer by themselves: the test
    // answers in their name.
    let silent = fleet(BERLIN, 3, 3, 0.0);
    let names = unicorn_names("quiet", &silent);
    let _counting = COUNTING.lock().await;
    let t = TestPipeline::start(&broker, dir.path(), vec![adapter("quiet", silent)]).await;
    let verdict =
        |verdict: &str| format!(r#"rfq_aggregator_responses_total{{verdict="{verdict}"}}"#);
    let mut before = std::collections::BTreeMap::new();
    for name in [
        "accepted",
        "duplicate",
        "late",
        "not-addressed",
        "unknown-rfq",
        "wrong-partition",
    ] {
        before.insert(name, t.metric(&verdict(name)).await);
    }
    let brokers = t.brokers();
    let partner = Partner::new(&t);

    let (location, accepted) = t.submit(BERLIN, 3).await;
    assert_eq!(accepted["providers-addressed"], 3);
    let id = CorrelationId::parse(accepted["id"].as_str().unwrap()).unwrap();
    let home = id.partition(QUOTE_PARTITIONS);
    let elsewhere = (home + 1) % QUOTE_PARTITIONS;

    partner.quote(id, &names[0], 1200, home).await;
    partner.quote(id, &names[0], 900, home).await; // duplicate: dropped
    partner.quote(id, "stranger", 500, home).await; // not addressed
    partner
        .quote(CorrelationId::new_random(), &names[1], 700, home)
        .await; // unknown RFQ
    partner.quote(id, &names[1], 800, elsewhere).await; // wrong partition

    let result = t.closed_result(&location, Duration::from_secs(20)).await;
    assert_eq!(result["closed-by"], "deadline");
    assert_eq!(result["closed-at"], result["deadline"]);
    assert_eq!(
        prices(&result, "quotes"),
        vec![(names[0].clone(), "12.00".into())],
        "the first answer wins; the duplicate does not appear"
    );
    let unanswered: BTreeSet<&str> = result["unanswered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        unanswered,
        BTreeSet::from([names[1].as_str(), names[2].as_str()])
    );

    // After the close: a late answer, kept apart, and its duplicate.
    partner.quote(id, &names[2], 600, home).await;
    partner.quote(id, &names[2], 100, home).await;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    let result = loop {
        let result = t.result(&format!("{location}/result")).await;
        if !result["late"].as_array().unwrap().is_empty() {
            break result;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "late answer not shown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        prices(&result, "late"),
        vec![(names[2].clone(), "6.00".into())]
    );
    assert_eq!(
        prices(&result, "quotes").len(),
        1,
        "a late answer never counts"
    );
    assert_eq!(result["unanswered"].as_array().unwrap().len(), 2);
    let status = t.get(&location).await;
    assert_eq!(status.status(), 303);
    assert_eq!(
        status.json::<Value>().await.unwrap()["responses-received"],
        1
    );

    // The refused ones are in the dead-letter topic with their reasons.
    let consumer = observer(&brokers, &t.topics.dead_letter_topic);
    let mut reasons = Vec::new();
    while reasons.len() < 3 {
        let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("three dead letters")
            .unwrap();
        // With the provider it came from: a partner finds its own.
        reasons.push((
            header(&message, DeadLetterHeaders::REASON).unwrap(),
            header(&message, DeadLetterHeaders::PROVIDER).unwrap(),
        ));
    }
    rfq_core::kafka::close_consumer(consumer).await;
    reasons.sort();
    assert!(reasons[0].0.contains("belong in partition"), "{reasons:?}");
    assert_eq!(reasons[0].1, names[1], "{reasons:?}");
    assert!(reasons[1].0.starts_with("no RFQ with id"), "{reasons:?}");
    assert_eq!(reasons[1].1, names[1], "{reasons:?}");
    assert!(reasons[2].0.contains("not addressed"), "{reasons:?}");
    assert_eq!(reasons[2].1, "stranger", "{reasons:?}");
    // Each answer counted once, under its verdict.
    for (name, answers) in [
        ("accepted", 1.0),
        ("duplicate", 2.0),
        ("late", 1.0),
        ("not-addressed", 1.0),
        ("unknown-rfq", 1.0),
        ("wrong-partition", 1.0),
    ] {
        t.assert_metric(&verdict(name), before[name] + answers)
            .await;
    }
    t.stop().await;
}
