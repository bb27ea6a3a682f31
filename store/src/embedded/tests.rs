use super::EmbeddedStore;
use crate::{Effect, RfqStatus, Store};
use chrono::{Duration, TimeZone, Utc};
use rfq_core::*;

fn rfq(partition: i32, providers: &[&str]) -> Rfq {
    let from = GeoPoint::new(52.52, 13.40).unwrap();
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    Rfq {
        id: CorrelationId::new_random(),
        customer: CustomerId::parse("alice").unwrap(),
        region: Region::of(&from, RegionPrecision::DEFAULT),
        from,
        to: GeoPoint::new(52.50, 13.45).unwrap(),
        created_at,
        deadline: created_at + Duration::seconds(60),
        addressed: providers
            .iter()
            .map(|p| ProviderId::parse(p).unwrap())
            .collect(),
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition,
        },
        completion: Default::default(),
    }
}

fn quote(rfq: &Rfq, provider: &str, minor: i64) -> Effect {
    Effect::Respond {
        response: Response {
            rfq: rfq.id,
            provider: ProviderId::parse(provider).unwrap(),
            responded_at: rfq.created_at + Duration::seconds(1),
            outcome: Outcome::Quoted {
                price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 120,
            },
        },
        received_at: rfq.created_at + Duration::seconds(2),
    }
}

#[tokio::test]
async fn effects_are_idempotent_and_first_answer_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("r.db")).await.unwrap();
    let r = rfq(3, &["a", "b"]);
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    store
        .apply(&[Effect::Open(r.clone()), quote(&r, "a", 1000)])
        .await
        .unwrap();
    store.apply(&[quote(&r, "a", 9999)]).await.unwrap();

    let stored = store.rfq(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.rfq, r);
    assert_eq!(stored.status, RfqStatus::Open);
    assert_eq!(stored.responses_received, 1);
    let responses = store.responses(&r.id).await.unwrap();
    assert_eq!(responses.len(), 1);
    assert!(matches!(&responses[0].response.outcome,
        Outcome::Quoted { price, .. } if price.minor() == 1000));

    let first_close = r.created_at + Duration::seconds(5);
    store
        .apply(&[Effect::Close {
            rfq: r.id,
            reason: CloseReason::AllAnswered,
            closed_at: first_close,
        }])
        .await
        .unwrap();
    store
        .apply(&[Effect::Close {
            rfq: r.id,
            reason: CloseReason::Deadline,
            closed_at: first_close + Duration::seconds(60),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.rfq(&r.id).await.unwrap().unwrap().status,
        RfqStatus::Closed {
            reason: CloseReason::AllAnswered,
            closed_at: first_close
        }
    );
    assert!(
        store
            .rfq(&CorrelationId::new_random())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn open_rfqs_by_partition_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/r.db");
    let (open, closed, other) = (rfq(1, &["a", "b"]), rfq(1, &["a"]), rfq(2, &["a"]));
    {
        let store = EmbeddedStore::open(&path).await.unwrap();
        store
            .apply(&[
                Effect::Open(open.clone()),
                Effect::Open(closed.clone()),
                Effect::Open(other.clone()),
                quote(&open, "b", 500),
                Effect::Close {
                    rfq: closed.id,
                    reason: CloseReason::Deadline,
                    closed_at: Utc::now(),
                },
            ])
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).await.unwrap();
    let recovered = store.open_rfqs(1).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].rfq, open);
    assert_eq!(
        recovered[0]
            .responses
            .iter()
            .map(|r| r.response.provider.as_str())
            .collect::<Vec<_>>(),
        vec!["b"]
    );
    assert_eq!(store.open_rfqs(2).await.unwrap().len(), 1);
    assert!(store.open_rfqs(7).await.unwrap().is_empty());
    assert_eq!(store.open_count().await.unwrap(), 2);
}

#[tokio::test]
async fn late_answers_are_kept_apart_and_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("r.db")).await.unwrap();
    let mut r = rfq(0, &["a", "b"]);
    r.completion = Completion::Quality(Price::new(900, Currency::parse("EUR").unwrap()).unwrap());
    let Effect::Respond {
        response,
        received_at,
    } = quote(&r, "b", 700)
    else {
        unreachable!()
    };
    store
        .apply(&[
            Effect::Open(r.clone()),
            quote(&r, "a", 1000),
            Effect::Close {
                rfq: r.id,
                reason: CloseReason::Deadline,
                closed_at: r.deadline,
            },
            Effect::Late {
                response: response.clone(),
                received_at,
            },
            // A second late answer of the same provider: first wins.
            Effect::Late {
                response: Response {
                    provider: ProviderId::parse("b").unwrap(),
                    ..response
                },
                received_at: received_at + Duration::seconds(1),
            },
        ])
        .await
        .unwrap();
    let stored = store.rfq(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.rfq.completion, r.completion);
    assert_eq!(stored.responses_received, 1);
    let responses = store.responses(&r.id).await.unwrap();
    let shown: Vec<(&str, bool)> = responses
        .iter()
        .map(|r| (r.response.provider.as_str(), r.late))
        .collect();
    assert_eq!(shown, vec![("a", false), ("b", true)]);
    assert_eq!(responses[1].received_at, received_at);
    assert_eq!(store.open_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_store_of_the_first_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let connection = db.connect().unwrap();
        connection.execute_batch(super::SCHEMA).await.unwrap();
        connection
            .execute(
                "INSERT INTO responses (rfq_id, provider, seq, kind, decline_reason, \
                 responded_at, received_at) VALUES ('x', 'a', 0, 'declined', '', 0, 0)",
                (),
            )
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).await.unwrap();
    let r = rfq(0, &["a"]);
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    assert_eq!(store.rfq(&r.id).await.unwrap().unwrap().rfq, r);
    drop(store);
    // Opening again does not re-run the migration (it would fail on the
    // existing columns).
    EmbeddedStore::open(&path).await.unwrap();
}
