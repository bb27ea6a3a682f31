//! Every completion rule, chosen in `POST /rfqs`, closes the RFQ at its
//! point and the result says which rule closed it; the deadline always
//! applies, also with no traffic at all.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

fn count(result: &Value, list: &str) -> usize {
    result[list].as_array().unwrap().len()
}

on_both_brokers!(each_rule_closes_the_rfq_and_the_result_names_it);
async fn each_rule_closes_the_rfq_and_the_result_names_it(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    // Four unicorns that always quote.
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 4, 0, 0.0)).await;
    let within = Duration::from_secs(30);
    let rules = [
        json!({"rule": "all"}),
        json!({"rule": "first-n", "n": 2}),
        json!({"rule": "quorum"}),
        json!({"rule": "quality", "max-price": "999.00", "currency": "EUR"}),
        json!({"rule": "quality", "max-price": "0.01", "currency": "EUR"}),
        json!({"rule": "deadline"}),
    ];
    let mut locations = Vec::new();
    for rule in &rules {
        let (location, accepted) = t.submit_with(BERLIN, 4, Some(rule.clone())).await;
        assert_eq!(accepted["providers-addressed"], 4);
        locations.push(location);
    }
    // While the deadline-rule RFQ runs, its status lists the quotes so far.
    let running = &locations[5];
    let give_up = tokio::time::Instant::now() + within;
    loop {
        let body: Value = t.get(running).await.json().await.unwrap();
        assert_eq!(
            body["status"], "running",
            "closed before all four quoted: {body}"
        );
        if body["responses-received"] == 4 {
            assert_eq!(body["quotes"].as_array().unwrap().len(), 4, "{body}");
            assert!(body["quotes"][0]["provider"].is_string(), "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < give_up, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut results = Vec::new();
    for location in &locations {
        results.push(t.closed_result(location, within).await);
    }
    let [all, first, quorum, cheap_enough, never_cheap, deadline] = &results[..] else {
        unreachable!()
    };
    assert_eq!(all["closed-by"], "all-answered");
    assert_eq!(count(all, "quotes"), 4);

    assert_eq!(first["closed-by"], "first-n");
    assert_eq!(count(first, "quotes"), 2);
    assert_eq!(first["completion"], json!({"rule": "first-n", "n": 2}));

    assert_eq!(quorum["closed-by"], "quorum");
    assert_eq!(
        quorum["completion"],
        json!({"rule": "quorum", "n": 3}),
        "a majority of 4"
    );
    assert_eq!(count(quorum, "quotes") + count(quorum, "declines"), 3);

    assert_eq!(cheap_enough["closed-by"], "quality");
    assert_eq!(
        count(cheap_enough, "quotes"),
        1,
        "the first quote is cheap enough"
    );
    assert_eq!(
        never_cheap["closed-by"], "all-answered",
        "nothing left to wait for"
    );

    assert_eq!(deadline["closed-by"], "deadline");
    assert_eq!(deadline["closed-at"], deadline["deadline"]);
    assert_eq!(
        count(deadline, "quotes"),
        4,
        "everything until the deadline"
    );

    // Answers after an early close are kept as late, never counted: every
    // unicorn quotes, so each one unanswered at the close answers late.
    for (early, location) in [
        (first, &locations[1]),
        (quorum, &locations[2]),
        (cheap_enough, &locations[3]),
    ] {
        let shown = count(early, "quotes") + count(early, "declines") + count(early, "unanswered");
        assert_eq!(shown, 4, "every addressed provider appears once: {early}");
        let unanswered = count(early, "unanswered");
        assert!(unanswered > 0, "closed early: {early}");
        let give_up = tokio::time::Instant::now() + within;
        let later = loop {
            let later = t.result(&format!("{location}/result")).await;
            if count(&later, "late") == unanswered {
                break later;
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "late answers not kept: {later}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for list in ["quotes", "declines", "unanswered"] {
            assert_eq!(
                later[list], early[list],
                "a late answer changes nothing: {later}"
            );
        }
        assert_eq!(later["closed-by"], early["closed-by"]);
    }
    t.stop().await;
}

on_both_brokers!(the_deadline_fires_with_no_traffic_at_all);
async fn the_deadline_fires_with_no_traffic_at_all(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    // Nobody serves Munich: no answer, no other record after the RFQ.
    let (location, accepted) = t
        .submit_with(MUNICH, 2, Some(json!({"rule": "deadline"})))
        .await;
    assert_eq!(accepted["providers-addressed"], 0);
    let result = t.closed_result(&location, Duration::from_secs(10)).await;
    assert_eq!(result["closed-by"], "deadline");
    assert_eq!(result["closed-at"], result["deadline"]);
    t.stop().await;
}
