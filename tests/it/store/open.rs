//! The open RFQs of the store contract, what recovery reads: found by
//! partition (after reopening the store too), never reopened by a replayed
//! open, and counted as they open and close.

use super::{Opener, all_answered, close, is_open, late, priced, respond, rfq, status};
use chrono::Duration;
use rfq_core::*;
use rfq_store::Store;

/// Every case of the open RFQs, against `store` (and `open`).
pub async fn conformance(store: &dyn Store, open: &Opener) {
    open_rfqs_are_found_by_partition_after_reopening(store, open).await;
    a_replayed_open_does_not_reopen_a_closed_rfq(store).await;
    open_count_follows_opens_and_closes(store).await;
}

async fn open_rfqs_are_found_by_partition_after_reopening(store: &dyn Store, open: &Opener) {
    let (open_one, closed, other) = (rfq(1, &["a", "b"]), rfq(1, &["a"]), rfq(2, &[]));
    store
        .apply(&[
            Effect::Open(open_one.clone()),
            Effect::Open(closed.clone()),
            Effect::Open(other.clone()),
            respond(&open_one, "b", Some(500), 300),
            late(&open_one, "a", Some(400), 400),
            close(&closed, CloseReason::Deadline, closed.deadline),
        ])
        .await
        .unwrap();
    let reopened = open().await;
    let ours = |partition: i32| {
        let reopened = reopened.clone();
        let ids = [open_one.id, closed.id, other.id];
        async move {
            reopened
                .open_rfqs(partition)
                .await
                .unwrap()
                .into_iter()
                .filter(|o| ids.contains(&o.rfq.id))
                .collect::<Vec<_>>()
        }
    };
    let recovered = ours(1).await;
    assert_eq!(recovered.len(), 1, "only the open RFQ of partition 1");
    assert_eq!(recovered[0].rfq, open_one);
    assert_eq!(
        priced(&recovered[0].responses),
        vec![
            ("b".into(), Some(500), false),
            ("a".into(), Some(400), true)
        ]
    );
    let elsewhere = ours(2).await;
    assert_eq!(elsewhere.len(), 1);
    assert_eq!(
        elsewhere[0].rfq, other,
        "an RFQ addressed to nobody round-trips"
    );
    assert!(ours(7).await.is_empty());
}

async fn a_replayed_open_does_not_reopen_a_closed_rfq(store: &dyn Store) {
    let r = rfq(4, &["a"]);
    let closed_at = r.created_at + Duration::seconds(1);
    store
        .apply(&[
            Effect::Open(r.clone()),
            respond(&r, "a", Some(800), 900),
            close(&r, CloseReason::AllAnswered, closed_at),
        ])
        .await
        .unwrap();
    // Redelivery after a crash: the same records again, in a later batch.
    store.apply(&[Effect::Open(r.clone())]).await.unwrap();
    store
        .apply(&[respond(&r, "a", Some(800), 900)])
        .await
        .unwrap();
    assert_eq!(status(store, &r).await, all_answered(closed_at));
    assert!(!is_open(store, 4, &r).await);
}

async fn open_count_follows_opens_and_closes(store: &dyn Store) {
    let before = store.open_count().await.unwrap();
    let rfqs: Vec<Rfq> = (0..300).map(|i| rfq(i % 8, &["a"])).collect();
    store
        .apply(&rfqs.iter().cloned().map(Effect::Open).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(store.open_count().await.unwrap(), before + 300);
    let closes: Vec<Effect> = rfqs[..120]
        .iter()
        .map(|r| close(r, CloseReason::Deadline, r.deadline))
        .collect();
    store.apply(&closes).await.unwrap();
    store.apply(&closes).await.unwrap();
    assert_eq!(store.open_count().await.unwrap(), before + 180);
    let in_partition_5 = store
        .open_rfqs(5)
        .await
        .unwrap()
        .iter()
        .filter(|o| rfqs[120..].iter().any(|r| r.id == o.rfq.id))
        .count();
    let expected = rfqs[120..]
        .iter()
        .filter(|r| r.return_address.partition == 5)
        .count();
    assert_eq!(in_partition_5, expected);
    // Leave the store as found.
    let rest: Vec<Effect> = rfqs[120..]
        .iter()
        .map(|r| close(r, CloseReason::Deadline, r.deadline))
        .collect();
    store.apply(&rest).await.unwrap();
    assert_eq!(store.open_count().await.unwrap(), before);
}
