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

/// An RFQ answered in a store of the first schema.
const OLD_ANSWERED: &str = "0b7e3f0a-5d1c-4e7a-9f43-2d6c1b8e9a01";

/// A file at `path` with the first schema's tables only (version 0).
async fn first_schema(path: &std::path::Path) -> (libsql::Database, libsql::Connection) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let connection = db.connect().unwrap();
    connection
        .execute_batch(super::schema::SCHEMA)
        .await
        .unwrap();
    (db, connection)
}

#[tokio::test]
async fn a_store_of_the_first_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let (_db, connection) = first_schema(&path).await;
        connection
            .execute(
                "INSERT INTO responses (rfq_id, provider, seq, kind, decline_reason, \
                 responded_at, received_at) VALUES (?1, 'a', 0, 'declined', '', 0, 0)",
                [OLD_ANSWERED],
            )
            .await
            .unwrap();
        connection
            .execute(
                "INSERT INTO rfqs (id, partition, return_topic, customer, region, from_lat, \
                 from_lon, to_lat, to_lon, created_at, deadline, addressed) \
                 VALUES ('0b4e9d3c-8f1a-4c2e-9a57-3d1f6b2e8c40', 0, 'rfq.quotes', 'c', \
                 'u33db', 52.52, 13.4, 52.5, 13.45, 0, 0, '[]')",
                (),
            )
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).await.unwrap();
    // Answers counted from 0 then are numbered from 1 now.
    let old = CorrelationId::parse(OLD_ANSWERED).unwrap();
    let numbers: Vec<u32> = store
        .responses(&old)
        .await
        .unwrap()
        .iter()
        .map(|kept| kept.seq)
        .collect();
    assert_eq!(numbers, vec![1]);
    // The open count starts from the RFQs already open.
    assert_eq!(store.open_count().await.unwrap(), 1);
    // An RFQ from before the later columns: the rule `all`, no radius.
    let old = CorrelationId::parse("0b4e9d3c-8f1a-4c2e-9a57-3d1f6b2e8c40").unwrap();
    let old = store.rfq(&old).await.unwrap().unwrap().rfq;
    assert_eq!((old.completion, old.radius), (Completion::All, None));
    let r = rfq(0, &["a"]);
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    assert_eq!(store.rfq(&r.id).await.unwrap().unwrap().rfq, r);
    assert_eq!(store.open_count().await.unwrap(), 2, "opened once");
    let close = Effect::Close {
        rfq: r.id,
        partition: 0,
        reason: CloseReason::Deadline,
        closed_at: r.deadline,
    };
    store.apply(&[close.clone(), close]).await.unwrap();
    assert_eq!(store.open_count().await.unwrap(), 1, "closed once");
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
    let kept = JudgedAnswer::in_time(quote, r.created_at + Duration::seconds(2), 1);
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
    let mut reader = store.reader.lock().await;
    let (back, status) = super::read_rows(
        &mut reader,
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
        &mut reader,
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

#[tokio::test]
async fn writes_committed_together_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let store = std::sync::Arc::new(EmbeddedStore::open(&path).await.unwrap());
    // A write SQLite refuses: an RFQ of customer `poison` (a trigger).
    let db = libsql::Builder::new_local(&path).build().await.unwrap();
    db.connect()
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON rfqs WHEN NEW.customer = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .await
        .unwrap();
    // 200 writers at once, every tenth poisoned: the writer takes what is
    // waiting into one transaction.
    let writes = (0..200).map(|i| {
        let store = store.clone();
        async move {
            let mut r = rfq(i % 4, &["a", "b"]);
            if i % 10 == 0 {
                r.customer = CustomerId::parse("poison").unwrap();
            }
            let answer = Answer {
                rfq: r.id,
                provider: ProviderId::parse("a").unwrap(),
                responded_at: r.created_at,
                reply: Reply::Declined {
                    reason: "busy".into(),
                },
            };
            let kept = JudgedAnswer::in_time(answer, r.created_at, 1);
            let result = store
                .apply(&[Effect::Open(r.clone()), Effect::Answer(kept)])
                .await;
            (r, result)
        }
    });
    for (r, result) in futures::future::join_all(writes).await {
        let stored = store.rfq(&r.id).await.unwrap();
        if r.customer.as_str() == "poison" {
            assert!(result.unwrap_err().to_string().contains("poisoned"));
            // All or nothing: its answer went with it.
            assert!(stored.is_none());
            assert!(store.responses(&r.id).await.unwrap().is_empty());
        } else {
            result.unwrap();
            let stored = stored.unwrap();
            assert_eq!(stored.rfq, r);
            assert_eq!(stored.responses_received, 1);
        }
    }
    assert_eq!(store.open_count().await.unwrap(), 180);
}

/// Processes starting together (a deployment's producer, aggregator and
/// API on one machine) open and migrate one new file at once: each waits
/// for the other's lock and none applies a migration twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_file_opened_by_several_at_once_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { EmbeddedStore::open(&path).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().expect("every open succeeds");
    }
    let store = EmbeddedStore::open(&path).await.unwrap();
    assert_eq!(store.open_count().await.unwrap(), 0);
}

#[tokio::test]
async fn keys_from_before_roles_read_as_customers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let before_roles = super::schema::MIGRATIONS.len() - 1;
    {
        let (_db, connection) = first_schema(&path).await;
        for migration in &super::schema::MIGRATIONS[..before_roles] {
            connection.execute_batch(migration).await.unwrap();
        }
        connection
            .execute_batch(&format!(
                "PRAGMA user_version = {before_roles}; INSERT INTO api_keys \
                 (digest, customer, created_at) VALUES ('{}', 'old', 0);",
                "ab".repeat(32)
            ))
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).await.unwrap();
    let digest = rfq_core::auth::KeyDigest::parse(&"ab".repeat(32)).unwrap();
    assert_eq!(
        store.api_key_principal(&digest).await.unwrap(),
        Some(rfq_core::auth::Principal::parse("old").unwrap())
    );
}
