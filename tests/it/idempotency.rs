//! Safe retries: `POST /rfqs` with an `Idempotency-Key` creates one RFQ
//! however often it is sent; the same key with another request is refused;
//! keys are the customer's own, survive a restart, a key whose first
//! request was refused (503) can be retried until it is accepted, and one
//! left unfinished by a stopped producer is taken over.

use crate::helpers::*;
use reqwest::Response;
use serde_json::{Value, json};
use std::time::Duration;

/// An RFQ from Munich (served by nobody: it stays open for its deadline,
/// so the store's open count counts the RFQs created) for `customer`.
fn munich(customer: &str, deadline_seconds: u32) -> Value {
    json!({
        "from": {"lat": MUNICH.0, "lon": MUNICH.1},
        "to": {"lat": MUNICH.0 + 0.02, "lon": MUNICH.1},
        "customer": customer,
        "deadline-seconds": deadline_seconds,
    })
}

impl TestPipeline {
    /// POSTs `body` (as written) with the `Idempotency-Key` header `key`.
    async fn post_keyed(&self, key: &str, body: &str) -> Response {
        self.client
            .post(format!("{}/rfqs", self.base))
            .header("content-type", "application/json")
            .header("authorization", authorization_for(body.as_bytes()))
            .header("idempotency-key", key)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// How many RFQs are open, as the store counts them.
    async fn open_rfqs(&self) -> u64 {
        self.store.open().await.unwrap().open_count().await.unwrap()
    }
}

/// The Location of a 202, and its body.
async fn accepted(response: Response) -> (String, Value) {
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    (location, response.json().await.unwrap())
}

/// Checks `response` is a problem document with `status` and `title`.
async fn problem(response: Response, status: u16, title: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["title"], title, "{problem}");
    assert_eq!(problem["status"], status);
    problem
}

on_both_brokers!(a_retry_with_the_same_key_gets_the_first_rfq);
async fn a_retry_with_the_same_key_gets_the_first_rfq(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    let key = format!("\"{}\"", uuid::Uuid::new_v4());
    let body = munich("test-customer", 120);
    let (location, first) = accepted(t.post_keyed(&key, &body.to_string()).await).await;
    assert!(location.starts_with("/rfqs/"), "{location}");
    assert_eq!(t.open_rfqs().await, 1);

    // The same request written differently, and several at once: each gets
    // the first RFQ (same Location and body) or, while the first is still
    // being handled, a 409 — never a second RFQ.
    let respaced = format!(
        "{{ \"deadline-seconds\" : 120, \"customer\": \"test-customer\", \"to\": {}, \"from\": {} }}",
        body["to"], body["from"]
    );
    let (again, replayed) = accepted(t.post_keyed(&key, &respaced).await).await;
    assert_eq!((&again, &replayed), (&location, &first));
    let at_once = futures::future::join_all((0..4).map(|_| t.post_keyed(&key, &respaced))).await;
    for response in at_once {
        assert_eq!(accepted(response).await.0, location);
    }
    assert_eq!(t.open_rfqs().await, 1, "one RFQ for one key");

    // The same key with another request is refused; nothing is created.
    let other = munich("test-customer", 60).to_string();
    let refused = problem(
        t.post_keyed(&key, &other).await,
        422,
        "Idempotency-Key Reused",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("different request")
    );
    // The same key of another customer is that customer's own.
    let (bobs, _) = accepted(t.post_keyed(&key, &munich("bob", 120).to_string()).await).await;
    assert_ne!(bobs, location);
    assert_eq!(t.open_rfqs().await, 2);

    // A bare key is the quoted key.
    let bare = uuid::Uuid::new_v4().to_string();
    let carol = munich("carol", 120).to_string();
    let (unquoted, _) = accepted(t.post_keyed(&bare, &carol).await).await;
    let (quoted, _) = accepted(t.post_keyed(&format!("\"{bare}\""), &carol).await).await;
    assert_eq!(unquoted, quoted);

    // Keys sent at once for the first time: one RFQ, the others wait (409).
    let fresh = format!("\"{}\"", uuid::Uuid::new_v4());
    let dave = munich("dave", 120).to_string();
    let racing = futures::future::join_all((0..6).map(|_| t.post_keyed(&fresh, &dave))).await;
    let mut winners = Vec::new();
    for response in racing {
        match response.status().as_u16() {
            202 => winners.push(accepted(response).await.0),
            409 => {
                assert_eq!(response.headers()["retry-after"], "1");
                problem(response, 409, "Request In Progress").await;
            }
            other => panic!("a racing request got {other}"),
        }
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (settled, _) = accepted(t.post_keyed(&fresh, &dave).await).await;
    assert_eq!(settled, winners[0]);
    assert_eq!(t.open_rfqs().await, 4);

    // Malformed keys: a problem document, nothing created.
    for bad in ["\"unterminated", "two words", "\"k\";p=1", "\"\""] {
        let response = t.post_keyed(bad, &munich("erin", 120).to_string()).await;
        problem(response, 400, "Malformed Idempotency-Key").await;
    }
    assert_eq!(t.open_rfqs().await, 4);
    t.stop().await;
}

on_both_brokers!(idempotency_keys_survive_a_restart);
async fn idempotency_keys_survive_a_restart(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&broker, dir.path(), vec![], false);
    let t = TestPipeline::start_with(settings.clone()).await;
    let key = format!("\"{}\"", uuid::Uuid::new_v4());
    let body = munich("test-customer", 120).to_string();
    let (location, first) = accepted(t.post_keyed(&key, &body).await).await;
    t.stop().await;

    let t = TestPipeline::start_with(settings).await;
    let (again, replayed) = accepted(t.post_keyed(&key, &body).await).await;
    assert_eq!(again, location);
    assert_eq!(replayed["id"], first["id"]);
    assert_eq!(replayed["eta"], first["eta"]);
    problem(
        t.post_keyed(&key, &munich("test-customer", 30).to_string())
            .await,
        422,
        "Idempotency-Key Reused",
    )
    .await;
    assert_eq!(t.open_rfqs().await, 1);
    t.stop().await;
}

on_both_brokers!(a_key_refused_with_503_is_accepted_on_retry);
async fn a_key_refused_with_503_is_accepted_on_retry(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(&broker, dir.path(), vec![], true);
    settings.intake.producer.max_open_rfqs = 1;
    // The admission test counts 503s by exact deltas.
    let _counting = COUNTING.lock().await;
    let t = TestPipeline::start_with(settings).await;
    let (blocking, _) = accepted(
        t.post_keyed("first", &munich("test-customer", 2).to_string())
            .await,
    )
    .await;
    let key = format!("\"{}\"", uuid::Uuid::new_v4());
    let body = munich("test-customer", 120).to_string();
    problem(t.post_keyed(&key, &body).await, 503, "Too Many Open RFQs").await;
    // Once the first RFQ closes there is room; every retry until then is
    // refused for the limit (503), never held up by its own key (409).
    t.poll_until_closed(&blocking, Duration::from_secs(15))
        .await;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(15);
    let location = loop {
        let response = t.post_keyed(&key, &body).await;
        if response.status() == 202 {
            break accepted(response).await.0;
        }
        problem(response, 503, "Too Many Open RFQs").await;
        assert!(tokio::time::Instant::now() < give_up, "never accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_ne!(location, blocking);
    assert_eq!(accepted(t.post_keyed(&key, &body).await).await.0, location);
    t.stop().await;
}

on_both_brokers!(a_key_left_unfinished_waits_then_is_taken_over);
/// A producer that stopped between claiming a key and accepting its RFQ
/// left the claim behind (written here straight into the store): a retry
/// is told to wait (409) while that producer could still be writing, and
/// takes the key over once it cannot — creating the RFQ under a new id, or
/// answering the RFQ if it reached the store.
async fn a_key_left_unfinished_waits_then_is_taken_over(broker: TestBroker) {
    use rfq_store::{Claimed, KeyClaim};
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start(&broker, dir.path(), vec![]).await;
    let store = t.store.open().await.unwrap();
    let body = munich("test-customer", 120).to_string();
    let parsed = rfq_producer::parse(
        body.as_bytes(),
        rfq_core::settings::defaults(),
        &rfq_core::CustomerId::parse("test-customer").unwrap(),
    )
    .unwrap();
    let left_behind = |age: Duration| {
        let claimed_at = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap();
        KeyClaim {
            customer: parsed.customer.clone(),
            key: rfq_core::IdempotencyKey::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
            fingerprint: rfq_producer::fingerprint(&parsed),
            rfq: rfq_core::CorrelationId::new_random(),
            claimed_at,
            expires_at: claimed_at + chrono::Duration::hours(24),
            completed: false,
        }
    };
    let takeover = rfq_producer::TAKEOVER_AFTER;
    let (young, old) = (left_behind(Duration::from_secs(5)), left_behind(takeover));
    let reached = left_behind(takeover);
    for claim in [&young, &old, &reached] {
        let won = store.claim_key(claim, claim.claimed_at).await.unwrap();
        assert_eq!(won, Claimed::Won);
    }
    let quoted = |claim: &KeyClaim| format!("\"{}\"", claim.key);
    let waiting = t.post_keyed(&quoted(&young), &body).await;
    assert_eq!(waiting.headers()["retry-after"], "1");
    problem(waiting, 409, "Request In Progress").await;
    // Taken over: a new RFQ, not the id that never reached the store; a
    // retry then gets that one.
    let (location, _) = accepted(t.post_keyed(&quoted(&old), &body).await).await;
    assert_ne!(location, format!("/rfqs/{}", old.rfq));
    assert_eq!(
        accepted(t.post_keyed(&quoted(&old), &body).await).await.0,
        location
    );
    // The RFQ of a claim left behind reached the store: it is the answer.
    let rfq = rfq_core::Rfq {
        id: reached.rfq,
        ..rfq_core::Rfq::sample(&[])
    };
    store.apply(&[rfq_core::Effect::Open(rfq)]).await.unwrap();
    let (answered, shown) = accepted(t.post_keyed(&quoted(&reached), &body).await).await;
    assert_eq!(answered, format!("/rfqs/{}", reached.rfq));
    assert_eq!(shown["id"], reached.rfq.to_string());
    assert_eq!(t.open_rfqs().await, 2);
    t.stop().await;
}
