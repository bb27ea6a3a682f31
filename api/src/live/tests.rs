//! Live streams through the router on a real (embedded) store: what a
//! stream sends, resuming, the end, the bounds. (Notices come from the
//! events topic in `tests/it/events.rs`; here a test notifies by hand.)

use super::*;
use crate::{
    ApiSettings, router,
    tests::{quote, reply, store_with_rfq},
};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use futures::StreamExt as _;
use rfq_core::{Effect, JudgedAnswer, Rfq};
use rfq_store::Store;
use tower::ServiceExt as _;

#[tokio::test]
async fn a_notice_wakes_the_watchers_of_its_rfq_only_while_watched() {
    let live = Live::default();
    let (one, other) = (CorrelationId::new_random(), CorrelationId::new_random());
    assert!(!live.notify(&one), "nobody watches yet");
    let mut first = live.watch(one);
    let second = live.watch(one);
    assert_eq!(live.watched(), 1);
    assert!(live.notify(&one));
    assert!(!live.notify(&other));
    // Returns at once: the notice came after the watch began.
    tokio::time::timeout(RECHECK / 2, first.changed())
        .await
        .expect("woken by the notice");
    drop(first);
    assert_eq!(live.watched(), 1, "one watcher left");
    drop(second);
    assert_eq!(live.watched(), 0);
}

/// Opens the stream of `rfq` with `last_event_id`; the response and the
/// live events the router was given.
async fn open(
    store: &Arc<dyn Store>,
    events: &LiveEvents,
    rfq: &Rfq,
    last_event_id: Option<&str>,
) -> axum::response::Response {
    // As an EventSource sends it: the key in the query.
    let mut request = Request::get(format!(
        "/rfqs/{}/events?access_token={}",
        rfq.id,
        crate::tests::ALICE_KEY
    ))
    .header(header::HOST, "api.test");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    router(
        store.clone(),
        ApiSettings::default(),
        events.clone(),
        crate::tests::authenticator(),
        crate::tests::explainer(store),
    )
    .oneshot(request.body(Body::empty()).unwrap())
    .await
    .unwrap()
}

/// An event as read: (event, id, data).
type Read = (String, String, serde_json::Value);

/// The events of a body until it ends or `count` were read.
async fn read(body: Body, count: usize) -> Vec<Read> {
    read_some(&mut body.into_data_stream(), count).await
}

/// Takes the complete events off the front of `text` (keep-alive comments
/// skipped).
fn parse(text: &mut String) -> Vec<Read> {
    let mut events = Vec::new();
    while let Some(end) = text.find("\n\n") {
        let block: String = text.drain(..end + 2).collect();
        if block.lines().all(|line| line.starts_with(':')) {
            continue;
        }
        let field = |name: &str| {
            block
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name}:")))
                .map(|value| value.trim().to_owned())
                .unwrap_or_default()
        };
        let data = serde_json::from_str(&field("data")).unwrap();
        events.push((field("event"), field("id"), data));
    }
    events
}

fn answered(rfq: &Rfq, provider: &str, minor: i64, seq: u32) -> Effect {
    Effect::Answer(JudgedAnswer::in_time(
        reply(rfq, provider, quote(minor)),
        rfq.created_at,
        seq,
    ))
}

#[tokio::test]
async fn a_stream_sends_answers_as_noticed_then_the_close_and_resumes_after_an_id() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let events = LiveEvents::new(LiveSettings::default(), CancellationToken::new());
    store.apply(&[answered(&rfq, "b", 1500, 1)]).await.unwrap();

    let response = open(&store, &events, &rfq, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let first = read_some(&mut body, 1).await;
    assert_eq!(first[0].0, "answer");
    assert_eq!(first[0].1, "1");
    assert_eq!(first[0].2["provider"], "b");
    assert_eq!(first[0].2["outcome"], "quoted");
    assert_eq!(first[0].2["price"], "15.00");

    // A notice makes the stream look again at once (well before RECHECK).
    store.apply(&[answered(&rfq, "a", 900, 2)]).await.unwrap();
    assert!(events.live.notify(&rfq.id));
    let second = tokio::time::timeout(RECHECK / 2, read_some(&mut body, 1))
        .await
        .expect("woken by the notice");
    assert_eq!(
        (second[0].1.as_str(), &second[0].2["provider"]),
        ("2", &"a".into())
    );

    store
        .apply(&[crate::tests::closed_at_deadline(&rfq)])
        .await
        .unwrap();
    events.live.notify(&rfq.id);
    let last = read_some(&mut body, 2).await;
    assert_eq!(last.len(), 1, "then the stream ends: {last:?}");
    assert_eq!(
        (last[0].0.as_str(), last[0].1.as_str()),
        ("closed", "closed")
    );
    assert_eq!(last[0].2["closed-by"], "deadline");
    assert_eq!(
        last[0].2["links"]["result"],
        format!("http://api.test/rfqs/{}/result", rfq.id)
    );
    assert_eq!(events.streams.open_count(), 0, "the stream's place is free");

    // Resumed after answer 1: answer 2 and the close, at once.
    let resumed = read(open(&store, &events, &rfq, Some("1")).await.into_body(), 9).await;
    let ids: Vec<&str> = resumed.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["2", "closed"]);
    // Opened after the close: everything, at once.
    let all = read(open(&store, &events, &rfq, None).await.into_body(), 9).await;
    let ids: Vec<&str> = all.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["1", "2", "closed"]);
    // Reconnecting after the end: 204, which stops an EventSource.
    let ended = open(&store, &events, &rfq, Some("closed")).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let bad = open(&store, &events, &rfq, Some("two")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

/// Reads `count` events (fewer if the stream ends) from a body's stream.
async fn read_some(
    body: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    count: usize,
) -> Vec<Read> {
    let mut collected = Vec::new();
    let mut text = String::new();
    while collected.len() < count {
        let Some(chunk) = body.next().await else {
            break;
        };
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        collected.extend(parse(&mut text));
    }
    collected
}

#[tokio::test]
async fn streams_are_bounded_per_customer_and_stop_at_shutdown() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let shutdown = CancellationToken::new();
    let settings = LiveSettings {
        events_max_streams: 10,
        events_max_streams_per_customer: 1,
    };
    let events = LiveEvents::new(settings, shutdown.clone());
    let first = open(&store, &events, &rfq, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let refused = open(&store, &events, &rfq, None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    shutdown.cancel();
    let ended = read(first.into_body(), 1).await;
    assert!(
        ended.is_empty(),
        "the stream ended with the server: {ended:?}"
    );
    assert_eq!(events.streams.open_count(), 0);
}

/// A store that shows answer 3 before answer 2 (ScyllaDB's writes land in
/// any order): the stream waits for 2, then sends 2 and 3, never skips.
#[tokio::test]
async fn a_stream_waits_for_a_missing_number_rather_than_skip_it() {
    let (_dir, store, rfq) = store_with_rfq().await;
    let events = LiveEvents::new(LiveSettings::default(), CancellationToken::new());
    store
        .apply(&[answered(&rfq, "a", 900, 1), answered(&rfq, "c", 700, 3)])
        .await
        .unwrap();
    let response = open(&store, &events, &rfq, None).await;
    let mut body = response.into_body().into_data_stream();
    let first = read_some(&mut body, 1).await;
    assert_eq!(first[0].1, "1");
    store.apply(&[answered(&rfq, "b", 800, 2)]).await.unwrap();
    events.live.notify(&rfq.id);
    let next = read_some(&mut body, 2).await;
    let ids: Vec<&str> = next.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["2", "3"]);
}
