//! Who reads what over HTTP (issue 27), through the whole pipeline with
//! real HTTP: unicorns of partners `acme` and `bolt` in Berlin, of `cab`
//! in Munich; a customer's RFQ from each city. A customer's key reads no
//! scorecard; a partner's reads its own providers' only (another's is
//! `404` as an unknown one) and the RFQs addressed to them without the
//! customer or a competitor's answer; an operator's reads everything;
//! only a customer's key posts an RFQ. (The broker plays no part: the
//! embedded one only.)

use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;

/// The body of a problem document with `status`.
async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "{}", response.url());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

/// Every text of `value` that names a provider of partner `name`.
fn names_partner(value: &Value, name: &str) -> bool {
    value.to_string().contains(&format!("\"{name}-"))
}

#[test]
fn each_role_reads_what_it_may() {
    run_pipeline_test(each_role_reads_what_it_may_on(TestBroker::Embedded));
}

async fn each_role_reads_what_it_may_on(broker: TestBroker) {
    // Its submissions move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let adapters = vec![
        adapter("acme", fleet(BERLIN, 2, 0, 0.0)),
        adapter("bolt", fleet(BERLIN, 2, 0, 0.0)),
        adapter("cab", fleet(MUNICH, 1, 0, 0.0)),
    ];
    let t = TestPipeline::start(&broker, dir.path(), adapters).await;
    let (acme, bolt, cab) = (partner_key("acme"), partner_key("bolt"), partner_key("cab"));
    let customer = api_key("test-customer");

    let (berlin, accepted) = t.submit(BERLIN, 2).await;
    assert_eq!(accepted["providers-addressed"], 4, "{accepted}");
    let (munich, _) = t.submit(MUNICH, 2).await;
    let whole = t.closed_result(&berlin, Duration::from_secs(20)).await;
    t.closed_result(&munich, Duration::from_secs(20)).await;
    assert_eq!(whole["customer"], "test-customer");
    assert!(names_partner(&whole, "acme") && names_partner(&whole, "bolt"));
    let path = |location: &str| location.trim_start_matches(&t.base).to_owned();
    let (berlin, munich) = (path(&berlin), path(&munich));

    // The operator reads the whole result; acme its own providers' part.
    let by_operator: Value = t
        .get_with(OPERATOR_KEY, &format!("{berlin}/result"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_operator, whole);
    let response = t.get_with(&acme, &format!("{berlin}/result")).await;
    assert_eq!(response.status(), 200);
    let by_acme: Value = response.json().await.unwrap();
    assert!(by_acme.get("customer").is_none(), "{by_acme}");
    assert!(names_partner(&by_acme, "acme"), "{by_acme}");
    assert!(!names_partner(&by_acme, "bolt"), "{by_acme}");
    assert_eq!(by_acme["providers-addressed"], 2);
    assert_eq!(by_acme["id"], whole["id"]);
    // Its live stream (the key as an EventSource sends it) and timeline.
    let id = whole["id"].as_str().unwrap();
    let stream = reqwest::Client::new()
        .get(format!("{}/rfqs/{id}/events?access_token={acme}", t.base))
        .send()
        .await
        .unwrap();
    let stream = tokio::time::timeout(Duration::from_secs(10), stream.text())
        .await
        .unwrap()
        .unwrap();
    assert!(stream.contains("event: closed"), "{stream}");
    assert!(stream.contains("\"acme-"), "{stream}");
    assert!(!stream.contains("\"bolt-"), "{stream}");
    let timeline: Value = t
        .get_with(&acme, &format!("{berlin}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    assert!(names_partner(&timeline, "acme"), "{timeline}");
    assert!(!names_partner(&timeline, "bolt"), "{timeline}");

    // An RFQ not addressed to the partner is not found, as an unknown one.
    for route in ["", "/result", "/events", "/timeline"] {
        let body = problem(t.get_with(&acme, &format!("{munich}{route}")).await, 404).await;
        assert_eq!(body["title"], "RFQ Not Found");
    }
    assert_eq!(
        t.get_with(&cab, &format!("{munich}/result")).await.status(),
        200
    );

    // Scorecards: a customer none; a partner its own, another's 404 as an
    // unknown one; an operator all.
    for route in ["/providers", "/providers/acme-x/scorecard"] {
        let body = problem(t.get_with(&customer, route).await, 403).await;
        assert_eq!(body["title"], "Forbidden", "{body}");
    }
    let acme_one = by_acme["quotes"][0]["provider"]
        .as_str()
        .unwrap()
        .to_owned();
    let bolt_one = whole["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|quote| quote["provider"].as_str().unwrap())
        .find(|provider| provider.starts_with("bolt-"))
        .unwrap()
        .to_owned();
    let card = format!("/providers/{acme_one}/scorecard");
    assert_eq!(t.get_with(&acme, &card).await.status(), 200);
    let others = problem(
        t.get_with(&acme, &format!("/providers/{bolt_one}/scorecard"))
            .await,
        404,
    )
    .await;
    let unknown = problem(
        t.get_with(&acme, "/providers/acme-nobody/scorecard").await,
        404,
    )
    .await;
    let scrubbed = |body: &Value, id: &str| body.to_string().replace(id, "ID");
    assert_eq!(
        scrubbed(&others, &bolt_one),
        scrubbed(&unknown, "acme-nobody")
    );
    assert_eq!(
        t.get_with(&bolt, &format!("/providers/{bolt_one}/scorecard"))
            .await
            .status(),
        200
    );
    let listed = |key: String| {
        let t = &t;
        async move {
            let page: Value = t.get_with(&key, "/providers").await.json().await.unwrap();
            let names: Vec<String> = page["providers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|card| card["provider"].as_str().unwrap().to_owned())
                .collect();
            names
        }
    };
    let own = listed(acme.clone()).await;
    assert_eq!(own.len(), 2, "{own:?}");
    assert!(own.iter().all(|p| p.starts_with("acme-")), "{own:?}");
    assert_eq!(listed(OPERATOR_KEY.to_owned()).await.len(), 5);
    // Its pages, one provider each: its two, then no further.
    let first: Value = t
        .get_with(&acme, "/providers?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["providers"][0]["provider"], own[0].as_str());
    let next = first["links"]["next"]
        .as_str()
        .unwrap()
        .trim_start_matches(&t.base);
    let second: Value = t.get_with(&acme, next).await.json().await.unwrap();
    assert_eq!(second["providers"][0]["provider"], own[1].as_str());
    assert!(second["links"].get("next").is_none(), "{second}");

    // Only a customer's key posts an RFQ.
    let body = serde_json::json!({
        "from": {"lat": BERLIN.0, "lon": BERLIN.1},
        "to": {"lat": BERLIN.0 - 0.02, "lon": BERLIN.1 + 0.05},
        "deadline-seconds": 2,
    });
    for key in [acme.as_str(), OPERATOR_KEY] {
        let response = reqwest::Client::new()
            .post(format!("{}/rfqs", t.base))
            .header("authorization", format!("Bearer {key}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let refused = problem(response, 403).await;
        assert_eq!(refused["title"], "Forbidden");
    }
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("rfq_producer_submissions_total{outcome=\"forbidden\"} 2"),
        "{metrics}"
    );
    t.stop().await;
}
