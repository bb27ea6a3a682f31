use super::EmbeddedStore;
use crate::{Effect, Store};
use chrono::{Duration, TimeZone, Utc};
use rfq_core::*;

fn rfq(partition: i32, providers: &[&str]) -> Rfq {
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    Rfq {
        created_at,
        deadline: created_at + Duration::seconds(60),
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition,
        },
        ..Rfq::sample(providers)
    }
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

#[tokio::test]
async fn rows_are_read_by_column_name_whatever_the_select_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("results.db"))
        .await
        .unwrap();
    let r = rfq(2, &["a"]);
    // A quote, so that the price, currency and ETA columns are read too.
    let price = Price::new(1_234, Currency::parse("EUR").unwrap()).unwrap();
    let quote = Answer {
        rfq: r.id,
        provider: ProviderId::parse("a").unwrap(),
        responded_at: r.created_at + Duration::seconds(1),
        reply: Reply::Quoted {
            price,
            pickup_eta_seconds: 240,
        },
    };
    let kept = JudgedAnswer::in_time(quote, r.created_at + Duration::seconds(2));
    let close = Effect::Close {
        rfq: r.id,
        partition: 2,
        reason: CloseReason::AllAnswered,
        closed_at: r.created_at + Duration::seconds(3),
    };
    store
        .apply(&[Effect::Open(r.clone()), Effect::Answer(kept.clone()), close])
        .await
        .unwrap();
    let reversed = |columns: &str| columns.rsplit(", ").collect::<Vec<_>>().join(", ");
    let reader = store.reader.lock().await;
    let (back, status) = super::read_rows(
        &reader,
        &format!("SELECT {} FROM rfqs", reversed(super::RFQ_COLUMNS)),
        (),
        super::rfq_from_row,
    )
    .await
    .unwrap()
    .remove(0);
    assert_eq!(back, r);
    assert!(matches!(status, crate::RfqStatus::Closed { .. }));
    let responses = super::read_rows(
        &reader,
        &format!(
            "SELECT {} FROM responses",
            reversed(super::RESPONSE_COLUMNS)
        ),
        (),
        super::response_from_row,
    )
    .await
    .unwrap();
    assert_eq!(responses, vec![kept]);
}
