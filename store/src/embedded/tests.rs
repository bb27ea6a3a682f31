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
            .answered
            .iter()
            .map(ProviderId::as_str)
            .collect::<Vec<_>>(),
        vec!["b"]
    );
    assert_eq!(store.open_rfqs(2).await.unwrap().len(), 1);
    assert!(store.open_rfqs(7).await.unwrap().is_empty());
}
