//! One store contract, written once, run against every store: the embedded
//! store, and the ScyllaDB store against the CQL server named by
//! `SCYLLA_URI` (`host:port[,host:port]`; `tests/run` starts Apache
//! Cassandra for it).
//!
//! Each run gets its own store (a fresh file, a fresh keyspace dropped at
//! the end); the cases share it and only look at the RFQs they created, so
//! they also hold on a store that already has data.

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use rfq_core::*;
use rfq_store::{RfqStatus, ScyllaSettings, ScyllaStore, Store, StoreSettings};
use std::sync::Arc;

mod keys;
mod open;
mod partners;
mod scores;

/// Opens a new handle on the same store (to check what survives reopening).
type Opener = Box<dyn Fn() -> BoxFuture<'static, Arc<dyn Store>>>;

/// Every case of the contract, in order, against the store `open` reaches.
async fn conformance(open: Opener) {
    let store = open().await;
    first_effect_wins_and_replays_change_nothing(&*store).await;
    one_apply_opens_answers_and_closes_in_order(&*store).await;
    late_answers_are_kept_apart_and_not_counted(&*store).await;
    answers_are_listed_in_time_then_late(&*store).await;
    open::conformance(&*store, &open).await;
    unknown_ids_read_as_absent(&*store).await;
    keys::conformance(&*store, &open).await;
    scores::conformance(&*store).await;
    partners::conformance(&*store, &open).await;
}

#[tokio::test]
async fn embedded_store_conforms() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let path = dir.path().join("nested/results.db");
    conformance(Box::new(move || {
        let (path, _keep) = (path.clone(), dir.clone());
        Box::pin(async move { StoreSettings::embedded(path).open().await.unwrap() })
    }))
    .await;
}

/// The ScyllaDB store against a real CQL server: Apache Cassandra, which
/// `tests/run` starts and names in `SCYLLA_URI` (ScyllaDB itself cannot run
/// here). Without a server this test fails rather than passing unchecked;
/// `tests/run` leaves it out with `--skip on_cassandra` where Java is
/// missing, and says SKIPPED.
#[tokio::test]
async fn scylla_store_conforms_on_cassandra() {
    let Some(uri) = std::env::var("SCYLLA_URI").ok().filter(|u| !u.is_empty()) else {
        panic!(
            "SCYLLA_URI is not set: run tests/run (it starts Apache Cassandra), set \
             SCYLLA_URI=host:9042, or leave this test out with `--skip on_cassandra`"
        );
    };
    let nodes: Vec<String> = uri
        .trim_start_matches("scylla://")
        .split(',')
        .map(str::to_owned)
        .collect();
    let keyspace = format!("rfq_conformance_{}", uuid::Uuid::new_v4().simple());
    let settings = ScyllaSettings::new(nodes, &keyspace);
    let opener = settings.clone();
    conformance(Box::new(move || {
        let settings = opener.clone();
        Box::pin(async move {
            let store: Arc<dyn Store> = Arc::new(ScyllaStore::open(&settings).await.unwrap());
            store
        })
    }))
    .await;
    let session = settings.connect().await.unwrap();
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .unwrap();
}

/// Closed because every addressed provider answered, at `closed_at`.
fn all_answered(closed_at: DateTime<Utc>) -> RfqStatus {
    RfqStatus::Closed {
        reason: CloseReason::AllAnswered,
        closed_at,
    }
}

/// Where `rfq` stands in `store`.
async fn status(store: &dyn Store, rfq: &Rfq) -> RfqStatus {
    store.rfq(&rfq.id).await.unwrap().expect("stored").status
}

/// Whether `store` lists `rfq` among the open RFQs of `partition`.
async fn is_open(store: &dyn Store, partition: i32, rfq: &Rfq) -> bool {
    let open = store.open_rfqs(partition).await.unwrap();
    open.iter().any(|o| o.rfq.id == rfq.id)
}

/// A fresh RFQ created now (so that stores with a retention keep it).
fn rfq(partition: i32, providers: &[&str]) -> Rfq {
    Rfq {
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition,
        },
        ..Rfq::sample(providers)
    }
}

fn answer(rfq: &Rfq, provider: &str, minor: Option<i64>, after_ms: i64) -> (Answer, DateTime<Utc>) {
    let reply = match minor {
        Some(minor) => Reply::Quoted {
            price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
            pickup_eta_seconds: 120,
        },
        None => Reply::Declined {
            reason: "no cars".into(),
        },
    };
    let answer = Answer {
        rfq: rfq.id,
        provider: ProviderId::parse(provider).unwrap(),
        responded_at: rfq.created_at + Duration::milliseconds(after_ms - 1),
        reply,
    };
    (answer, rfq.created_at + Duration::milliseconds(after_ms))
}

/// An answer in time, numbered by its arrival (`after_ms`: increasing as
/// the aggregator numbers, not contiguous, which a store does not rely on).
fn respond(rfq: &Rfq, provider: &str, minor: Option<i64>, after_ms: i64) -> Effect {
    let (answer, received_at) = answer(rfq, provider, minor, after_ms);
    Effect::Answer(JudgedAnswer::in_time(
        answer,
        received_at,
        arrival(after_ms),
    ))
}

fn late(rfq: &Rfq, provider: &str, minor: Option<i64>, after_ms: i64) -> Effect {
    let (answer, received_at) = answer(rfq, provider, minor, after_ms);
    Effect::Answer(JudgedAnswer::late(answer, received_at, arrival(after_ms)))
}

fn arrival(after_ms: i64) -> u32 {
    u32::try_from(after_ms).expect("a test's arrival fits")
}

/// `effect` (an answer) with another number.
fn numbered(mut effect: Effect, seq: u32) -> Effect {
    if let Effect::Answer(kept) = &mut effect {
        kept.seq = seq;
    }
    effect
}

fn close(rfq: &Rfq, reason: CloseReason, closed_at: DateTime<Utc>) -> Effect {
    Effect::Close {
        rfq: rfq.id,
        partition: rfq.return_address.partition,
        reason,
        closed_at,
    }
}

fn priced(store_answers: &[JudgedAnswer]) -> Vec<(String, Option<i64>, bool)> {
    store_answers
        .iter()
        .map(|r| {
            let price = match &r.answer.reply {
                Reply::Quoted { price, .. } => Some(price.minor()),
                Reply::Declined { .. } => None,
            };
            (r.answer.provider.as_str().to_owned(), price, r.is_late())
        })
        .collect()
}

async fn first_effect_wins_and_replays_change_nothing(store: &dyn Store) {
    let r = rfq(3, &["a", "b"]);
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    // A replay of the open with the first answer: the open changes nothing.
    store
        .apply(&[Effect::Open(r.clone()), respond(&r, "a", Some(1000), 500)])
        .await
        .unwrap();
    // A second, later answer of the same provider is ignored; a replay too.
    store
        .apply(&[
            respond(&r, "a", Some(9999), 900),
            respond(&r, "a", Some(1000), 500),
        ])
        .await
        .unwrap();
    let stored = store.rfq(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.rfq, r);
    assert_eq!(stored.status, RfqStatus::Open);
    assert_eq!(stored.responses_received, 1);
    let answers = store.responses(&r.id).await.unwrap();
    assert_eq!(priced(&answers), vec![("a".into(), Some(1000), false)]);
    assert_eq!(
        answers[0].received_at,
        r.created_at + Duration::milliseconds(500)
    );

    let first = r.created_at + Duration::seconds(5);
    store
        .apply(&[close(&r, CloseReason::AllAnswered, first)])
        .await
        .unwrap();
    store
        .apply(&[close(&r, CloseReason::Deadline, r.deadline)])
        .await
        .unwrap();
    assert_eq!(status(store, &r).await, all_answered(first));
}

async fn one_apply_opens_answers_and_closes_in_order(store: &dyn Store) {
    let r = rfq(0, &["a", "b"]);
    store
        .apply(&[
            Effect::Open(r.clone()),
            respond(&r, "b", None, 100),
            respond(&r, "a", Some(700), 200),
            close(
                &r,
                CloseReason::AllAnswered,
                r.created_at + Duration::milliseconds(200),
            ),
        ])
        .await
        .unwrap();
    let stored = store.rfq(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.responses_received, 2);
    assert!(matches!(
        stored.status,
        RfqStatus::Closed {
            reason: CloseReason::AllAnswered,
            ..
        }
    ));
    assert!(!is_open(store, 0, &r).await);
}

async fn late_answers_are_kept_apart_and_not_counted(store: &dyn Store) {
    let mut r = rfq(0, &["a", "b"]);
    r.completion = Completion::Quality(Price::new(900, Currency::parse("EUR").unwrap()).unwrap());
    let after_deadline = 61_000;
    store
        .apply(&[
            Effect::Open(r.clone()),
            respond(&r, "a", Some(1000), 1_000),
            close(&r, CloseReason::Deadline, r.deadline),
            late(&r, "b", Some(700), after_deadline),
            // A second late answer of the same provider: the first wins.
            late(&r, "b", Some(650), after_deadline + 1_000),
        ])
        .await
        .unwrap();
    let stored = store.rfq(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.rfq.completion, r.completion);
    assert_eq!(stored.responses_received, 1);
    let answers = store.responses(&r.id).await.unwrap();
    assert_eq!(
        priced(&answers),
        vec![
            ("a".into(), Some(1000), false),
            ("b".into(), Some(700), true)
        ]
    );
    assert_eq!(
        answers[1].received_at,
        r.created_at + Duration::milliseconds(after_deadline)
    );
}

async fn answers_are_listed_in_time_then_late(store: &dyn Store) {
    let r = rfq(1, &["a", "b", "c", "d"]);
    store
        .apply(&[
            Effect::Open(r.clone()),
            respond(&r, "c", Some(300), 100),
            respond(&r, "a", None, 200),
            // Kept third although stamped first (a record timestamp is
            // not the log's order): the number decides.
            numbered(respond(&r, "d", Some(100), 50), 300),
        ])
        .await
        .unwrap();
    store
        .apply(&[
            close(&r, CloseReason::Deadline, r.deadline),
            late(&r, "b", Some(50), 70_000),
        ])
        .await
        .unwrap();
    let responses = store.responses(&r.id).await.unwrap();
    let order: Vec<(String, bool)> = priced(&responses)
        .into_iter()
        .map(|(provider, _, late)| (provider, late))
        .collect();
    let expected = [("c", false), ("a", false), ("d", false), ("b", true)];
    assert_eq!(order, expected.map(|(p, l)| (p.to_owned(), l)).to_vec());
    let numbers: Vec<u32> = responses.iter().map(|kept| kept.seq).collect();
    assert_eq!(
        numbers,
        vec![100, 200, 300, 70_000],
        "numbers read back as written"
    );
}

async fn unknown_ids_read_as_absent(store: &dyn Store) {
    let unknown = CorrelationId::new_random();
    assert!(store.rfq(&unknown).await.unwrap().is_none());
    assert!(store.responses(&unknown).await.unwrap().is_empty());
    // Closing or answering an RFQ the store never saw creates nothing.
    let ghost = rfq(6, &["a"]);
    store
        .apply(&[close(&ghost, CloseReason::Deadline, ghost.deadline)])
        .await
        .unwrap();
    assert!(store.rfq(&ghost.id).await.unwrap().is_none());
    assert!(!is_open(store, 6, &ghost).await);
}
