//! `rfq up` keeps its data: after a restart on the same data directory the
//! results, topics and records are still there.

use crate::helpers::*;
use std::time::Duration;

on_both_brokers!(results_and_topics_survive_a_restart);
async fn results_and_topics_survive_a_restart(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let adapters = || vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))];
    // The same settings twice: on a shared Kafka, the same topics and groups.
    let settings = settings(&broker, dir.path(), adapters(), false);
    let t = TestPipeline::start_with(settings.clone()).await;
    let (closed_location, _) = t.submit(BERLIN, 30).await;
    let result_location = t
        .poll_until_closed(&closed_location, Duration::from_secs(30))
        .await;
    let mut before = t.result(&result_location).await;
    before.as_object_mut().unwrap().remove("links");
    // An RFQ still open at shutdown (nobody serves Munich) closes after the restart.
    let (open_location, _) = t.submit(MUNICH, 6).await;
    t.stop().await;
    if let TestBroker::Embedded = broker {
        assert!(
            dir.path().join("broker.db").is_file(),
            "broker data is under the data dir"
        );
    }
    assert!(
        dir.path().join("results.db").is_file(),
        "results are under the data dir"
    );

    let t = TestPipeline::start_with(settings).await;
    let mut after = t.result(&result_location).await;
    after.as_object_mut().unwrap().remove("links");
    assert_eq!(
        after, before,
        "the stored result is unchanged (links name the new port)"
    );
    let reopened = t
        .closed_result(&open_location, Duration::from_secs(40))
        .await;
    assert_eq!(reopened["closed-by"], "deadline");
    // The restarted broker still has the topics: a new RFQ goes through.
    let (location, _) = t.submit(BERLIN, 30).await;
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered");
    t.stop().await;
}
