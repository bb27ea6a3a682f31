//! The aggregator-alone bench (`rfq bench --bench-aggregator N`) end to
//! end, small: on the embedded broker and the embedded store, every RFQ
//! written is closed by the aggregator the way it must be, and the figures
//! are there. (By hand, on Apache Kafka and Cassandra:
//! `docs/performance.md`.)

use clap::Parser as _;
use rfq_aggregator::AggregatorSettings;
use rfq_bench::BenchSettings;
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::pipeline::PipelineSettings;
use rfq_store::StoreSettings;
use std::time::Duration;

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchSettings,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_alone_closes_every_rfq_the_way_it_must() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let broker = EmbeddedBroker::start(BrokerSettings {
        listen: ([127, 0, 0, 1], 0).into(),
        storage: BrokerStorage::Memory,
    })
    .await
    .expect("the embedded broker");
    let mut pipeline = PipelineSettings::default();
    pipeline.kafka.brokers = Some(broker.addr().to_string());
    let settings = Cli::parse_from([
        "bench",
        "--bench-aggregator",
        "200",
        "--bench-aggregator-answers",
        "6",
        "--bench-broker-records",
        "500",
    ])
    .bench;
    let alone = tokio::time::timeout(
        Duration::from_secs(180),
        rfq_bench::alone::run(
            &settings,
            "the embedded broker",
            pipeline,
            AggregatorSettings::default(),
            StoreSettings::embedded(dir.path().join("results.db")),
        ),
    )
    .await
    .expect("the bench within 3 minutes")
    .expect("the bench");
    broker.stop().await;

    assert_eq!((alone.rfqs, alone.deadline_rfqs), (200, 40), "{alone:?}");
    // Each RFQ and its answers: all 6 on completion, 4 at a deadline.
    assert_eq!(alone.records, 160 * 7 + 40 * 5);
    assert_eq!(alone.open_left, 0, "{alone:?}");
    assert_eq!(alone.check.rfqs, 200);
    assert_eq!(alone.check.violated(), 0, "{:?}", alone.check.examples);
    let rate = alone.records_per_second.expect("a rate, every RFQ closed");
    assert!(
        rate > 0.0 && alone.raw_consume_per_second > 0.0,
        "{alone:?}"
    );
    assert!(alone.share_of_raw_consume.is_some_and(|s| s > 0.0));
    assert!(
        alone
            .limits
            .as_ref()
            .is_some_and(|l| l.consume_per_second > 0.0)
    );
    assert!(alone.table().contains("every RFQ checked"));
}
