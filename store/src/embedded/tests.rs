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
