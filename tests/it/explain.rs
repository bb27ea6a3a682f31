//! Every result explained: `rfq explain` and `GET /rfqs/{id}/timeline`
//! rebuild an RFQ's story from the log, on a real pipeline, and it agrees
//! with the stored result: answers counted, late, duplicate and from a
//! stranger (produced straight to the quotes topic), the close and its
//! rule, the addressed providers within the radius.

use crate::helpers::*;
use rfq_core::CorrelationId;
use rfq_explain::{Explainer, Explanation, PlacedBy, What};
use serde_json::{Value, json};
use std::time::Duration;

/// Quotes partitions of the test pipelines.
const QUOTE_PARTITIONS: i32 = 4;

/// An explainer of `t`'s RFQs, as `rfq explain` makes one.
async fn explainer(t: &TestPipeline) -> Explainer {
    let store = t.store.open().await.unwrap();
    Explainer::new(
        t.pipeline().kafka().clone(),
        t.topics.clone(),
        t.codec(),
        store,
    )
}

/// Providers of a result list.
fn listed(result: &Value, list: &str) -> Vec<String> {
    let mut names: Vec<String> = result[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["provider"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Providers the timeline gives `verdicts` (sorted).
fn judged(explanation: &Explanation, verdicts_: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = explanation
        .verdicts()
        .into_iter()
        .filter(|(_, verdict, _)| verdicts_.contains(verdict))
        .map(|(provider, _, _)| provider.to_owned())
        .collect();
    names.sort();
    names
}

/// Polls the result of `location` until `late` answers are listed late.
async fn result_with_late(t: &TestPipeline, location: &str, late: usize) -> Value {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let result = t.result(&format!("{location}/result")).await;
        if result["late"].as_array().unwrap().len() >= late {
            return result;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "late answers not shown: {result}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_brokers!(the_story_of_an_rfq_agrees_with_its_stored_result);
async fn the_story_of_an_rfq_agrees_with_its_stored_result(broker: TestBroker) {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Berlin: three unicorns that answer (some decline), one silent.
    // Potsdam: three silent ones the test answers for.
    let quiet = fleet(POTSDAM, 3, 3, 0.0);
    let names = unicorn_names("ex-quiet", &quiet);
    let adapters = vec![
        adapter("ex-alpha", fleet(BERLIN, 4, 1, 0.3)),
        adapter("ex-quiet", quiet),
    ];
    let t = TestPipeline::start(&broker, dir.path(), adapters).await;
    let explainer = explainer(&t).await;
    let partner = Partner::new(&t);

    // Closed by its rule: a quorum of two; the third answer comes late.
    let (berlin, accepted) = t
        .submit_with(BERLIN, 30, Some(json!({"rule": "quorum", "n": 2})))
        .await;
    let berlin_id = CorrelationId::parse(accepted["id"].as_str().unwrap()).unwrap();
    let result = t.closed_result(&berlin, Duration::from_secs(20)).await;
    assert_eq!(result["closed-by"], "quorum");
    let result = result_with_late(&t, &berlin, 1).await;
    let explained = explainer.explain(&berlin_id).await.unwrap().unwrap();
    assert!(explained.agrees_with_store, "{:#?}", explained.differences);
    let close = explained.close.as_ref().unwrap();
    assert_eq!(close.reason, "quorum");
    assert_eq!(json!(close.at), result["closed-at"]);
    let mut counted = listed(&result, "quotes");
    counted.extend(listed(&result, "declines"));
    counted.sort();
    assert_eq!(judged(&explained, &["quoted", "declined"]), counted);
    assert_eq!(judged(&explained, &["late"]), listed(&result, "late"));
    assert_eq!(explained.addressed.len(), 4);
    for addressed in &explained.addressed {
        assert!(addressed.within_radius.unwrap(), "{addressed:?}");
        assert!(addressed.distance_m.unwrap() <= 5000, "{addressed:?}");
        // The heartbeat that addressed it: neither broker compacts it away
        // this soon (the embedded one every 10 minutes, Kafka a rolled
        // segment only); `explain::placing`'s tests cover when one did.
        let placed_by = addressed.placed_by;
        assert_eq!(placed_by, Some(PlacedBy::LastHeartbeatBeforeAcceptance));
        assert!(addressed.heartbeat_age_ms.unwrap() >= 0, "{addressed:?}");
    }
    assert!(matches!(explained.timeline[0].what, What::Accepted));

    // Closed by its deadline, with a duplicate, a stranger and, after the
    // close, a late answer, all produced straight to the quotes topic.
    let (potsdam, accepted) = t.submit(POTSDAM, 2).await;
    let id = CorrelationId::parse(accepted["id"].as_str().unwrap()).unwrap();
    let home = id.partition(QUOTE_PARTITIONS);
    partner.quote(id, &names[0], 1200, home).await;
    partner.quote(id, &names[0], 900, home).await;
    partner.quote(id, "stranger", 500, home).await;
    let result = t.closed_result(&potsdam, Duration::from_secs(20)).await;
    assert_eq!(result["closed-by"], "deadline");
    partner.quote(id, &names[1], 600, home).await;
    let result = result_with_late(&t, &potsdam, 1).await;
    let explained = explainer.explain(&id).await.unwrap().unwrap();
    assert!(explained.agrees_with_store, "{:#?}", explained.differences);
    assert_eq!(
        explained.verdicts(),
        vec![
            (names[0].as_str(), "quoted", Some(1)),
            (names[0].as_str(), "duplicate", None),
            ("stranger", "not-addressed", None),
            (names[1].as_str(), "late", Some(2)),
        ]
    );
    assert_eq!(explained.close.as_ref().unwrap().reason, "deadline");
    assert_eq!(
        json!(explained.close.as_ref().unwrap().at),
        result["deadline"]
    );
    let marker = explained
        .timeline
        .iter()
        .find_map(|event| match &event.what {
            What::Marker { marker_at, .. } => Some(*marker_at),
            _ => None,
        })
        .expect("the marker that closed it is on the timeline");
    assert!(marker >= explained.deadline);
    assert_eq!((explained.stored.counted, explained.stored.late), (1, 1));

    // The read API serves the same document, to the RFQ's customer only.
    let response = t.get(&format!("{potsdam}/timeline")).await;
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    assert_eq!(served["agrees-with-store"], true);
    assert_eq!(served["close"]["reason"], "deadline");
    assert_eq!(
        served["timeline"],
        serde_json::to_value(&explained.timeline).unwrap()
    );
    let alice = t
        .client
        .get(format!("{}{potsdam}/timeline", t.base))
        .header("authorization", format!("Bearer {}", api_key("alice")))
        .send()
        .await
        .unwrap();
    assert_eq!(alice.status(), 404);
    assert_eq!(alice.headers()["content-type"], "application/problem+json");

    if let TestBroker::Embedded = broker {
        the_command_tells_the_same_story(&t, &id).await;
    }
    t.stop().await;
}

/// `rfq explain` as a user runs it, pointed at the test pipeline.
async fn the_command_tells_the_same_story(t: &TestPipeline, id: &CorrelationId) {
    let binary = crate::chaos::cluster::rfq_binary();
    let store = t.store.store_path.clone().unwrap();
    let operator = t
        .pipeline()
        .registry_operator()
        .expect("the embedded registry");
    // Awaited, not blocking: the embedded broker runs on this test's runtime.
    let run = async |args: Vec<String>| {
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("explain")
            .args(args)
            .args(["--brokers", &t.brokers()])
            .args(["--schema-registry-url", &t.pipeline().schema_registry_url()])
            .args(["--schema-registry-user", operator.0])
            .env("RFQ_SCHEMA_REGISTRY_PASSWORD", operator.1)
            .arg("--store-path")
            .arg(&store)
            .env_remove("RFQ_CONFIG")
            .kill_on_drop(true);
        tokio::time::timeout(std::time::Duration::from_secs(90), command.output())
            .await
            .expect("rfq explain answers within 90 s")
            .unwrap()
    };
    let text = run(vec![id.to_string()]).await;
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(stdout.contains("closed: deadline"), "{stdout}");
    assert!(stdout.contains("-> duplicate"), "{stdout}");
    assert!(stdout.contains("stranger: quoted 5.00 EUR"), "{stdout}");
    assert!(
        stdout.contains("the store agrees: closed by deadline"),
        "{stdout}"
    );
    let json = run(vec![id.to_string(), "--json".into()]).await;
    let document: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["agrees-with-store"], true);
    assert_eq!(document["id"], id.to_string());
    for (bad, said) in [
        (CorrelationId::new_random().to_string(), "no RFQ with id"),
        ("not-an-id".to_owned(), "is not an RFQ id"),
    ] {
        let refused = run(vec![bad]).await;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success());
        assert!(stderr.contains(said), "{stderr}");
    }
}
