//! Talking to a pipeline as the customer app does: its API keys, its
//! requests, polling a result, reading the metrics.

use super::TestPipeline;
use serde_json::Value;
use std::time::Duration;

/// The customers the test pipelines know an API key of ([`api_key`]);
/// requests go as `test-customer` unless their body names another.
pub const CUSTOMERS: &[&str] = &[
    "test-customer",
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "c",
    "burst",
];

/// The API key of `customer` in the test pipelines.
pub fn api_key(customer: &str) -> String {
    format!("{customer}-test-key-0123456789")
}

/// The partners the test pipelines know an API key of ([`partner_key`]):
/// each reads its own providers' (`NAME-…`) scorecards and RFQs.
pub const PARTNERS: &[&str] = &["acme", "bolt", "cab"];

/// The API key of partner `name` in the test pipelines.
pub fn partner_key(name: &str) -> String {
    format!("{name}-partner-test-key-0123456789")
}

/// The API key of the test pipelines' operator (`ops`): reads everything.
pub const OPERATOR_KEY: &str = "ops-operator-test-key-0123456789";

/// `Authorization` for the customer `body` names (JSON with a
/// `"customer"` the tests know), else for `test-customer`.
pub fn authorization_for(body: &[u8]) -> String {
    let named = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body["customer"].as_str().map(str::to_owned))
        .filter(|customer| CUSTOMERS.contains(&customer.as_str()))
        .unwrap_or_else(|| "test-customer".to_owned());
    format!("Bearer {}", api_key(&named))
}

/// A client as the customer app's: no redirects followed, `test-customer`'s
/// API key on every request unless one is set.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", api_key("test-customer"));
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestPipeline {
    /// POSTs a JSON body to /rfqs, as the customer it names.
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        let body: reqwest::Body = body.into();
        let authorization = authorization_for(body.as_bytes().unwrap_or_default());
        self.client
            .post(format!("{}/rfqs", self.base))
            .header("content-type", content_type)
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Submits an RFQ from `from` and returns the 202's Location.
    pub async fn submit(&self, from: (f64, f64), deadline_seconds: u32) -> (String, Value) {
        self.submit_with(from, deadline_seconds, None).await
    }

    /// Submits an RFQ with a completion rule and returns the 202's Location.
    pub async fn submit_with(
        &self,
        from: (f64, f64),
        deadline_seconds: u32,
        completion: Option<Value>,
    ) -> (String, Value) {
        let mut body = serde_json::json!({
            "from": {"lat": from.0, "lon": from.1},
            "to": {"lat": from.0 - 0.02, "lon": from.1 + 0.05},
            "customer": "test-customer",
            "deadline-seconds": deadline_seconds,
        });
        if let Some(completion) = completion {
            body["completion"] = completion;
        }
        let response = self.post_raw(body.to_string(), "application/json").await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let location = response
            .headers()
            .get("location")
            .expect("202 has a Location")
            .to_str()
            .unwrap()
            .to_owned();
        (location, response.json().await.unwrap())
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// GET `path` with `key` (a partner's, an operator's, a customer's).
    pub async fn get_with(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap()
    }

    /// Polls the task resource (as the customer app does) until it answers
    /// 303, checking every 200 on the way; returns the result's Location.
    pub async fn poll_until_closed(&self, location: &str, within: Duration) -> String {
        let give_up = tokio::time::Instant::now() + within;
        loop {
            let response = self.get(location).await;
            match response.status().as_u16() {
                303 => {
                    return response.headers()["location"].to_str().unwrap().to_owned();
                }
                200 => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["status"], "running");
                    assert!(
                        body["responses-received"].as_u64().unwrap()
                            <= body["providers-addressed"].as_u64().unwrap()
                    );
                    assert!(body["eta"].as_str().is_some());
                    // The answers so far: read after the count, so at least
                    // as many; quotes cheapest first.
                    let listed = body["quotes"].as_array().unwrap().len()
                        + body["declines"].as_array().unwrap().len();
                    assert!(
                        listed as u64 >= body["responses-received"].as_u64().unwrap(),
                        "{body}"
                    );
                    let prices: Vec<f64> = body["quotes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|q| q["price"].as_str().unwrap().parse().unwrap())
                        .collect();
                    assert!(prices.is_sorted(), "{body}");
                }
                other => panic!("unexpected status {other} polling {location}"),
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "{location} did not close within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the RFQ at `location` closes and reads its result.
    pub async fn closed_result(&self, location: &str, within: Duration) -> Value {
        let result_location = self.poll_until_closed(location, within).await;
        self.result(&result_location).await
    }

    /// The value of one metric series as `/metrics` serves it now, e.g.
    /// `rfq_dead_letters_total{component="aggregator",kind="decode"}`
    /// (labels in the order the registry prints them); 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let scrape = self.get("/metrics").await.text().await.unwrap();
        let prefix = format!("{series} ");
        scrape
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    }

    /// Polls `series` until it reached `expected` (counters move right
    /// after the effect a test observes, so they may lag it), then checks
    /// it did not go beyond.
    pub async fn assert_metric(&self, series: &str, expected: f64) {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.metric(series).await;
            if value >= expected || tokio::time::Instant::now() > give_up {
                assert_eq!(value, expected, "{series}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads a closed RFQ's result.
    pub async fn result(&self, location: &str) -> Value {
        let response = self.get(location).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Providers named in a result's quotes, declines and unanswered lists.
pub fn outcomes(result: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let names = |key: &str, field: Option<&str>| -> Vec<String> {
        result[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| match field {
                Some(field) => item[field].as_str().unwrap().to_owned(),
                None => item.as_str().unwrap().to_owned(),
            })
            .collect()
    };
    (
        names("quotes", Some("provider")),
        names("declines", Some("provider")),
        names("unanswered", None),
    )
}
