//! Customers over real HTTP: an API key names the customer; without one
//! `401` with a challenge; another customer's RFQ is not found (`404`,
//! never `403`); keys come from the settings or the store; `rfq up` makes a
//! demo key when none is configured; each customer's rate and open RFQs
//! are bounded (`429` with `Retry-After`); metrics never carry a key.

use crate::helpers::*;
use rfq_core::auth::ApiKey;
use serde_json::{Value, json};

fn body() -> Value {
    json!({
        "from": {"lat": MUNICH.0, "lon": MUNICH.1},
        "to": {"lat": MUNICH.0 + 0.02, "lon": MUNICH.1},
        "deadline-seconds": 60,
    })
}

impl TestPipeline {
    /// POSTs `body` with `authorization` (none if `None`).
    async fn post_as(&self, authorization: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}/rfqs", self.base))
            .json(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }

    /// GETs `path` with `authorization` (none if `None`).
    async fn get_as(&self, authorization: Option<&str>, path: &str) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = client.get(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }
}

fn bearer(customer: &str) -> String {
    format!("Bearer {}", api_key(customer))
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_names_the_customer_who_sees_only_its_own_rfqs() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&TestBroker::Embedded, dir.path(), fleet(BERLIN, 2, 0, 0.0)).await;

    // No key, a bad key: 401 with a challenge.
    let none = t.post_as(None, &body()).await;
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"rfq\"");
    problem(none, 401).await;
    let bad = t
        .post_as(Some("Bearer not-a-known-key-0123"), &body())
        .await;
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    problem(bad, 401).await;

    // Alice's key: her RFQ (the body names nobody).
    let accepted = t.post_as(Some(&bearer("alice")), &body()).await;
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let stored = t.store.open().await.unwrap();
    let id = location.rsplit('/').next().unwrap();
    let rfq = stored
        .rfq(&rfq_core::CorrelationId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rfq.rfq.customer.as_str(), "alice");

    // Naming another customer in the body is refused.
    let mut other = body();
    other["customer"] = json!("bob");
    let refused = problem(t.post_as(Some(&bearer("alice")), &other).await, 422).await;
    assert_eq!(refused["field"], "customer");

    // Alice reads it; Bob does not find it; nobody without a key.
    for path in [
        location.clone(),
        format!("{location}/result"),
        format!("{location}/events"),
    ] {
        let mine = t.get_as(Some(&bearer("alice")), &path).await;
        assert!(
            [200, 409].contains(&mine.status().as_u16()),
            "{path}: {}",
            mine.status()
        );
        let body = problem(t.get_as(Some(&bearer("bob")), &path).await, 404).await;
        assert_eq!(body["status"], 404, "{path}");
        problem(t.get_as(None, &path).await, 401).await;
    }

    // A key added to the store (as `rfq keys add` does) works at once.
    let frank = ApiKey::generate();
    stored
        .add_api_key(
            &frank.digest(),
            &rfq_core::auth::Principal::parse("frank").unwrap(),
        )
        .await
        .unwrap();
    let by_store = t
        .post_as(Some(&format!("Bearer {}", frank.expose())), &body())
        .await;
    assert_eq!(by_store.status(), 202);

    // No key in the metrics.
    let metrics = t.get("/metrics").await.text().await.unwrap();
    for customer in CUSTOMERS {
        assert!(!metrics.contains(&api_key(customer)), "a key in /metrics");
    }
    assert!(!metrics.contains(frank.expose()));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_customer_is_bounded_in_rate_and_open_rfqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut limited = settings(
        &TestBroker::Embedded,
        dir.path(),
        vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))],
        true,
    );
    let limits = &mut limited.intake.producer.customers;
    // Two at once, then one every 100 s; three open at most.
    limits.customer_rate = 0.01;
    limits.customer_burst = 2;
    limits.customer_max_open_rfqs = 3;
    let t = TestPipeline::start_with(limited).await;
    for _ in 0..2 {
        assert_eq!(
            t.post_as(Some(&bearer("alice")), &body()).await.status(),
            202
        );
    }
    let limited = t.post_as(Some(&bearer("alice")), &body()).await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    let limited = problem(limited, 429).await;
    assert_eq!(limited["title"], "Rate Limited");
    // Bob is not held up by Alice.
    assert_eq!(t.post_as(Some(&bearer("bob")), &body()).await.status(), 202);
    t.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut one_open = settings(&TestBroker::Embedded, dir.path(), Vec::new(), true);
    one_open.intake.producer.customers.customer_max_open_rfqs = 1;
    let t = TestPipeline::start_with(one_open).await;
    assert_eq!(
        t.post_as(Some(&bearer("carol")), &body()).await.status(),
        202
    );
    let open = t.post_as(Some(&bearer("carol")), &body()).await;
    assert!(open.headers().contains_key("retry-after"));
    let open = problem(open, 429).await;
    assert_eq!(open["limit"], 1);
    assert_eq!(
        t.post_as(Some(&bearer("dave")), &body()).await.status(),
        202
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfq_up_makes_a_demo_key_when_none_is_configured_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let unkeyed = || {
        let mut settings = settings(&TestBroker::Embedded, dir.path(), Vec::new(), false);
        settings.intake.producer.auth.api_keys.clear();
        settings
    };
    let t = TestPipeline::start_with(unkeyed()).await;
    let key = t.pipeline().demo_key().expect("a demo key").clone();
    let file = std::fs::read_to_string(rfq::demo_key::path(dir.path())).unwrap();
    assert_eq!(file.trim(), key.expose());
    let accepted = t
        .post_as(Some(&format!("Bearer {}", key.expose())), &body())
        .await;
    assert_eq!(accepted.status(), 202);
    let other = t.post_as(Some(&bearer("test-customer")), &body()).await;
    assert_eq!(other.status(), 401, "only the demo keys are known");
    // The demo operator's key reads the scorecards (a customer's does not).
    let operator = std::fs::read_to_string(rfq::demo_key::operator_path(dir.path())).unwrap();
    let operator = format!("Bearer {}", operator.trim());
    assert_eq!(t.get_as(Some(&operator), "/providers").await.status(), 200);
    let customer = format!("Bearer {}", key.expose());
    assert_eq!(t.get_as(Some(&customer), "/providers").await.status(), 403);
    t.stop().await;
    let again = TestPipeline::start_with(unkeyed()).await;
    assert_eq!(
        again.pipeline().demo_key(),
        Some(&key),
        "kept across restarts"
    );
    again.stop().await;
    // Keys configured: no demo key.
    let dir = tempfile::tempdir().unwrap();
    let keyed = TestPipeline::start_with(settings(
        &TestBroker::Embedded,
        dir.path(),
        Vec::new(),
        true,
    ))
    .await;
    assert!(keyed.pipeline().demo_key().is_none());
    assert!(!rfq::demo_key::path(dir.path()).exists());
    assert!(!rfq::demo_key::operator_path(dir.path()).exists());
    keyed.stop().await;
}
