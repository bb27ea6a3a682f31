//! The read API's routes on a real (embedded) store, requests sent through
//! the router as axum receives them: the status resource while open and
//! once closed, the result, the refusals as problem documents.

use crate::{ApiSettings, live::LiveEvents, router};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use chrono::Utc;
use rfq_core::auth::{AuthSettings, Authenticator};
use rfq_core::{
    Answer, CloseReason, Currency, Effect, JudgedAnswer, Price, ProviderId, Reply, Rfq,
    http::LinkSettings,
};
use rfq_store::{Store, StoreSettings};
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// A store in a temporary directory holding one open RFQ addressed to
/// `a`, `b` and `c`.
pub(crate) async fn store_with_rfq() -> (tempfile::TempDir, Arc<dyn Store>, Rfq) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSettings::embedded(dir.path().join("results.db"))
        .open()
        .await
        .unwrap();
    let rfq = Rfq::sample(&["a", "b", "c"]);
    store.apply(&[Effect::Open(rfq.clone())]).await.unwrap();
    (dir, store, rfq)
}

pub(crate) fn reply(rfq: &Rfq, provider: &str, reply: Reply) -> Answer {
    Answer {
        rfq: rfq.id,
        provider: ProviderId::parse(provider).unwrap(),
        responded_at: rfq.created_at,
        reply,
    }
}

/// `rfq` closed at its deadline.
pub(crate) fn closed_at_deadline(rfq: &Rfq) -> Effect {
    Effect::Close {
        rfq: rfq.id,
        partition: rfq.return_address.partition,
        reason: CloseReason::Deadline,
        closed_at: rfq.deadline,
    }
}

pub(crate) fn quote(minor: i64) -> Reply {
    Reply::Quoted {
        price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
        pickup_eta_seconds: 120,
    }
}

/// An explainer of `store`'s RFQs on the default Kafka and schema
/// registry (reached only by a timeline that passed authentication).
pub(crate) fn explainer(store: &Arc<dyn Store>) -> rfq_explain::Explainer {
    rfq_avro::choose_crypto_provider();
    let pipeline = rfq_core::pipeline::PipelineSettings::default();
    let codec = rfq_avro::codec(&pipeline).unwrap();
    rfq_explain::Explainer::new(pipeline.kafka, pipeline.topics, codec, store.clone())
}

/// GET `path` with `Host: api.test`: status, headers, JSON body.
async fn get(
    store: &Arc<dyn Store>,
    settings: ApiSettings,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    get_as(store, settings, path, Some(ALICE_KEY)).await
}

/// `alice`'s API key (the sample RFQ's customer); `bob`'s.
pub(crate) const ALICE_KEY: &str = "alice-key-0123456789";
pub(crate) const BOB_KEY: &str = "bob-key-0123456789ab";
/// Partner `acme`'s key, partner `cab`'s, operator `ops`'s.
pub(crate) const ACME_KEY: &str = "acme-key-0123456789";
pub(crate) const CAB_KEY: &str = "cab-key-0123456789ab";
pub(crate) const OPS_KEY: &str = "ops-key-0123456789ab";

/// Knows `alice`'s and `bob`'s keys, partners `acme`'s and `cab`'s, and
/// operator `ops`'s.
pub(crate) fn authenticator() -> Authenticator {
    let settings = AuthSettings {
        api_keys: vec![
            format!("alice:{ALICE_KEY}"),
            format!("bob:{BOB_KEY}"),
            format!("partner:acme:{ACME_KEY}"),
            format!("partner:cab:{CAB_KEY}"),
            format!("operator:ops:{OPS_KEY}"),
        ],
        api_keys_file: None,
    };
    Authenticator::new(settings.configured().unwrap(), None)
}

/// GET `path` with `Host: api.test` and `key`: status, headers, JSON body.
pub(crate) async fn get_as(
    store: &Arc<dyn Store>,
    settings: ApiSettings,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::get(path).header(header::HOST, "api.test");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = request.body(Body::empty()).unwrap();
    let live = LiveEvents::new(settings.live.clone(), CancellationToken::new());
    let response = router(
        store.clone(),
        settings,
        live,
        authenticator(),
        explainer(store),
    )
    .oneshot(request)
    .await
    .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

fn content_type(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn an_open_rfq_is_running_and_its_result_a_conflict_with_the_eta() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let path = format!("/rfqs/{}", rfq.id);
    let answer = JudgedAnswer::in_time(reply(&rfq, "a", quote(1200)), Utc::now(), 1);
    store.apply(&[Effect::Answer(answer)]).await.unwrap();

    let (status, _, body) = get(&store, ApiSettings::default(), &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "running");
    assert_eq!(body["responses-received"], 1);
    assert_eq!(body["providers-addressed"], 3);
    assert_eq!(body["links"]["self"], format!("http://api.test{path}"));
    assert_eq!(
        body["links"]["result"],
        format!("http://api.test{path}/result")
    );
    assert_eq!(body["completion"]["rule"], "all");
    assert_eq!(body["radius-m"], 5000, "{body}");
    // The answers so far, in the result's shapes.
    assert_eq!(body["quotes"][0]["provider"], "a", "{body}");
    assert_eq!(body["quotes"][0]["price"], "12.00", "{body}");
    assert_eq!(body["declines"], serde_json::json!([]));

    let decline = Reply::Declined {
        reason: "no car".into(),
    };
    let cheaper = JudgedAnswer::in_time(reply(&rfq, "c", quote(900)), Utc::now(), 2);
    let declined = JudgedAnswer::in_time(reply(&rfq, "b", decline), Utc::now(), 3);
    store
        .apply(&[Effect::Answer(cheaper), Effect::Answer(declined)])
        .await
        .unwrap();
    let (_, _, body) = get(&store, ApiSettings::default(), &path).await;
    assert_eq!(body["responses-received"], 3);
    let providers: Vec<&str> = body["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["c", "a"], "cheapest first: {body}");
    assert_eq!(body["declines"][0]["provider"], "b", "{body}");

    let (status, headers, body) =
        get(&store, ApiSettings::default(), &format!("{path}/result")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(content_type(&headers), "application/problem+json");
    assert!(body["eta"].as_str().unwrap().ends_with('Z'), "{body}");
    assert_eq!(body["status"], 409, "the problem's own status: {body}");
    assert_eq!(body["links"]["self"], format!("http://api.test{path}"));
}

#[tokio::test]
async fn a_closed_rfq_redirects_to_a_result_listing_every_provider_once() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let now = Utc::now();
    let declined = Reply::Declined {
        reason: "busy".into(),
    };
    store
        .apply(&[
            Effect::Answer(JudgedAnswer::in_time(reply(&rfq, "a", quote(1500)), now, 1)),
            Effect::Answer(JudgedAnswer::in_time(reply(&rfq, "b", declined), now, 2)),
            Effect::Answer(JudgedAnswer::late(reply(&rfq, "c", quote(900)), now, 3)),
            closed_at_deadline(&rfq),
        ])
        .await
        .unwrap();
    let path = format!("/rfqs/{}", rfq.id);

    let (status, headers, body) = get(&store, ApiSettings::default(), &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], format!("{path}/result").as_str());
    assert_eq!(body["status"], "closed");
    assert_eq!(body["responses-received"], 2);

    let public = ApiSettings {
        links: LinkSettings {
            public_url: Some("https://rides.example".into()),
        },
        ..ApiSettings::default()
    };
    let (_, headers, _) = get(&store, public, &path).await;
    assert_eq!(
        headers[header::LOCATION],
        format!("https://rides.example{path}/result").as_str(),
        "absolute with a public URL, as the producer's 202"
    );

    let (status, _, result) = get(&store, ApiSettings::default(), &format!("{path}/result")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["closed-by"], "deadline");
    assert_eq!(
        result["radius-m"], 5000,
        "the radius it was addressed within"
    );
    assert_eq!(result["quotes"].as_array().unwrap().len(), 1);
    assert_eq!(result["quotes"][0]["provider"], "a");
    assert_eq!(result["quotes"][0]["price"], "15.00");
    assert_eq!(result["declines"][0]["provider"], "b");
    assert_eq!(result["declines"][0]["reason"], "busy");
    assert_eq!(result["late"][0]["provider"], "c");
    assert_eq!(
        result["unanswered"],
        serde_json::json!(["c"]),
        "a late answer is unanswered"
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_problem_documents() {
    let (_dir, store, _) = store_with_rfq().await;
    let unknown = format!("/rfqs/{}", rfq_core::CorrelationId::new_random());
    for path in [
        unknown.as_str(),
        "/rfqs/not-a-uuid",
        "/rfqs/not-a-uuid/result",
        "/rfqs/not-a-uuid/timeline",
    ] {
        let (status, headers, body) = get(&store, ApiSettings::default(), path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type(&headers), "application/problem+json", "{path}");
        assert_eq!(body["status"], 404, "{path}");
    }
}

#[tokio::test]
async fn reads_need_a_key_and_show_only_the_customers_own_rfqs() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let path = format!("/rfqs/{}", rfq.id);
    for path in [
        path.clone(),
        format!("{path}/result"),
        format!("{path}/events"),
        format!("{path}/timeline"),
    ] {
        let (status, headers, body) = get_as(&store, ApiSettings::default(), &path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"rfq\"");
        assert_eq!(content_type(&headers), "application/problem+json");
        assert_eq!(body["status"], 401);
        let bad = "mallory-key-0123456789";
        let (status, headers, _) = get_as(&store, ApiSettings::default(), &path, Some(bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        // Bob's key: alice's RFQ does not exist for him (never 403).
        let (status, _, body) = get_as(&store, ApiSettings::default(), &path, Some(BOB_KEY)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["status"], 404);
    }
    let (status, _, _) = get(&store, ApiSettings::default(), &path).await;
    assert_eq!(status, StatusCode::OK, "alice reads her own");
}
