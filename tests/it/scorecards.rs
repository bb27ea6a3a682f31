//! Provider scorecards through the whole pipeline: a fleet that declines,
//! unicorns the test answers for (a quote, a cheaper one, a duplicate, a
//! late answer after the close) and one that stays silent; the scorecards
//! of `GET /providers/{id}/scorecard` and the pages of `GET /providers`
//! must agree with the stored result of the RFQ. Read with the operator's
//! key (who reads which scorecard: `tests/it/roles.rs`).

use crate::helpers::*;
use rfq_adapters::fleet::Fleet;
use rfq_core::CorrelationId;
use serde_json::Value;
use std::{collections::BTreeSet, time::Duration};

/// Quotes partitions of the test pipelines.
const QUOTE_PARTITIONS: i32 = 4;

fn names(adapter: &str, fleet: &rfq_adapters::FleetSettings) -> Vec<String> {
    Fleet::generate(adapter, fleet, &rfq_core::Vicinity::DEFAULT)
        .unicorns()
        .iter()
        .map(|u| u.id.as_str().to_owned())
        .collect()
}

/// The scorecard of `provider` (`200` expected), read by the operator.
async fn scorecard(t: &TestPipeline, provider: &str) -> Value {
    let response = t
        .get_with(OPERATOR_KEY, &format!("/providers/{provider}/scorecard"))
        .await;
    assert_eq!(response.status(), 200, "{provider}");
    response.json().await.unwrap()
}

/// Counts of a scorecard, in a fixed order: addressed, answered in time,
/// quoted, declined, late, silent, duplicates, wins.
fn counts(card: &Value) -> [u64; 8] {
    [
        "addressed",
        "answered-in-time",
        "quoted",
        "declined",
        "late",
        "silent",
        "duplicates",
        "wins",
    ]
    .map(|name| {
        card[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {card}"))
    })
}

on_both_brokers!(scorecards_agree_with_the_stored_results);
async fn scorecards_agree_with_the_stored_results(broker: TestBroker) {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let quiet = fleet(BERLIN, 3, 3, 0.0);
    let nay = fleet(BERLIN, 2, 0, 1.0);
    let (q, n) = (names("quiet", &quiet), names("nay", &nay));
    let adapters = vec![adapter("quiet", quiet), adapter("nay", nay)];
    let t = TestPipeline::start(&broker, dir.path(), adapters).await;
    let partner = Partner::new(&t);

    let (location, accepted) = t.submit(BERLIN, 3).await;
    assert_eq!(accepted["providers-addressed"], 5);
    let id = CorrelationId::parse(accepted["id"].as_str().unwrap()).unwrap();
    let home = id.partition(QUOTE_PARTITIONS);
    partner.quote(id, &q[0], 1200, home).await;
    partner.quote(id, &q[0], 900, home).await; // a duplicate: refused
    partner.quote(id, &q[1], 1000, home).await; // the cheapest
    let result = t.closed_result(&location, Duration::from_secs(20)).await;
    assert_eq!(result["closed-by"], "deadline", "{} stays silent", q[2]);

    // What the stored result says each one did.
    let listed = |list: &str| -> Vec<String> {
        result[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["provider"].as_str().unwrap().to_owned())
            .collect()
    };
    let (quotes, declines) = (listed("quotes"), listed("declines"));
    assert_eq!(quotes, [q[1].clone(), q[0].clone()], "cheapest first");
    assert_eq!(declines.iter().collect::<BTreeSet<_>>(), n.iter().collect());
    assert_eq!(result["unanswered"], serde_json::json!([q[2]]));

    let winner = scorecard(&t, &q[1]).await;
    assert_eq!(counts(&winner), [1, 1, 1, 0, 0, 0, 0, 1]);
    assert_eq!(winner["win-rate"], 1.0);
    assert_eq!(winner["mean-rank"], 1.0);
    let p50 = winner["latency-ms"]["p50"].as_u64().unwrap();
    assert!(p50 < 3000, "answered before the deadline: {winner}");
    let second = scorecard(&t, &q[0]).await;
    assert_eq!(counts(&second), [1, 1, 1, 0, 0, 0, 1, 0], "one duplicate");
    assert_eq!(
        (second["win-rate"].as_f64(), second["mean-rank"].as_f64()),
        (Some(0.0), Some(2.0))
    );
    for decliner in &n {
        let card = scorecard(&t, decliner).await;
        assert_eq!(counts(&card), [1, 1, 0, 1, 0, 0, 0, 0], "{decliner}");
        assert_eq!(card["win-rate"], Value::Null);
    }
    assert_eq!(
        counts(&scorecard(&t, &q[2]).await),
        [1, 0, 0, 0, 0, 1, 0, 0]
    );

    // Silent at the close, late after it: its line reads late.
    partner.quote(id, &q[2], 500, home).await;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    let late = loop {
        let card = scorecard(&t, &q[2]).await;
        if card["late"] == 1 {
            break card;
        }
        assert!(tokio::time::Instant::now() < give_up, "never late: {card}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(counts(&late), [1, 0, 0, 0, 1, 0, 0, 0]);
    assert!(
        late["latency-ms"]["p50"].as_u64().unwrap() >= 3000,
        "{late}"
    );
    let stored = t.result(&format!("{location}/result")).await;
    assert_eq!(stored["late"][0]["provider"], q[2].as_str());

    // Every addressed provider, two a page, following `next`.
    let mut seen = Vec::new();
    let mut next = Some("/providers?limit=2".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let page: Value = t.get_with(OPERATOR_KEY, &path).await.json().await.unwrap();
        pages += 1;
        for card in page["providers"].as_array().unwrap() {
            assert_eq!(card["addressed"], 1, "{card}");
            seen.push(card["provider"].as_str().unwrap().to_owned());
        }
        next = page["links"]["next"]
            .as_str()
            .map(|link| link.trim_start_matches(&t.base).to_owned());
    }
    let mut addressed: Vec<String> = q.iter().chain(&n).cloned().collect();
    addressed.sort();
    assert_eq!((seen, pages), (addressed, 3));
    t.stop().await;
}

on_both_brokers!(bad_scorecard_requests_are_problems);
async fn bad_scorecard_requests_are_problems(broker: TestBroker) {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    for (path, status) in [
        ("/providers?window=90d", 400),
        ("/providers?window=soon", 400),
        ("/providers?limit=0", 400),
        (
            "/providers/x/scorecard?since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z",
            400,
        ),
        ("/providers/nobody/scorecard", 404),
    ] {
        let response = t.get_with(OPERATOR_KEY, path).await;
        assert_eq!(response.status(), status, "{path}");
        let media = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(media, "application/problem+json", "{path}");
    }
    let anonymous = reqwest::Client::new()
        .get(format!("{}/providers", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // A customer's key reads no scorecard (roles: tests/it/roles.rs).
    assert_eq!(t.get("/providers").await.status(), 403);
    let listed: Value = t
        .get_with(OPERATOR_KEY, "/providers")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["providers"],
        serde_json::json!([]),
        "nothing closed yet"
    );
    t.stop().await;
}
