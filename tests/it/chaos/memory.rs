//! The aggregator's memory is bounded by its open RFQs: RFQs opened and
//! closed leave nothing behind. RFQ records are written straight to the
//! quotes topic (as the producer does) so that the aggregator alone is
//! measured, in its own process, through /proc.

use super::{
    SERIAL,
    cluster::{Cluster, counter_sum, wait_http},
    env_usize,
};
use chrono::Utc;
use futures::StreamExt as _;
use rdkafka::{
    ClientConfig,
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::Record;
use rfq_core::{CorrelationId, CustomerId, GeoPoint, ReturnAddress, Rfq};
use std::time::{Duration, Instant};

/// Partitions of the quotes topic created by `rfq broker`.
const QUOTE_PARTITIONS: i32 = 8;

/// Writes `count` RFQs addressed to nobody, closing `deadline` from now.
async fn write_rfqs(brokers: &str, registry: &str, count: usize, deadline: chrono::Duration) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let codec = crate::helpers::codec_for(registry, &Default::default());
    let from = GeoPoint::new(48.137, 11.575).unwrap();
    futures::stream::iter(0..count)
        .map(|i| {
            let (producer, codec) = (producer.clone(), codec.clone());
            async move {
                let id = CorrelationId::new_random();
                let now = Utc::now();
                let rfq = Rfq {
                    id,
                    customer: CustomerId::parse(&format!("memory-{}", i % 100)).unwrap(),
                    created_at: now,
                    deadline: now + deadline,
                    return_address: ReturnAddress {
                        topic: "rfq.quotes".into(),
                        partition: id.partition(QUOTE_PARTITIONS),
                    },
                    ..Rfq::sample(&[]).picked_up_at(from)
                };
                let payload = codec.encode("rfq.quotes", &Record::Rfq(rfq)).await.unwrap();
                let key = id.to_string();
                producer
                    .send(
                        FutureRecord::to("rfq.quotes")
                            .partition(id.partition(QUOTE_PARTITIONS))
                            .key(&key)
                            .payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(1000)
        .collect::<()>()
        .await;
}

/// Polls the aggregator's metrics until `done` holds for the scrape.
async fn wait_metrics(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) {
    let give_up = Instant::now() + Duration::from_secs(600);
    loop {
        let scrape = client.get(url).send().await.unwrap().text().await.unwrap();
        if done(&scrape) {
            return;
        }
        assert!(Instant::now() < give_up, "aggregator never reached: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_rfqs_leave_the_aggregators_memory() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let total = env_usize("RFQ_MEMORY_RFQS", 10_000);
    let open_probe = total.min(20_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cluster = Cluster::new(dir.path(), None);
    let port = super::free_port();
    let mut args = vec!["aggregator".into(), "--metrics-addr".into()];
    args.push(format!("127.0.0.1:{port}"));
    args.extend(cluster.kafka_args());
    cluster.spawn("aggregator", args);
    let client = reqwest::Client::new();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    wait_http(&client, &metrics, Duration::from_secs(60)).await;
    // Warm up (allocator arenas, SQLite page cache, librdkafka buffers).
    write_rfqs(
        &cluster.brokers,
        &cluster.registry_url,
        1000,
        chrono::Duration::seconds(1),
    )
    .await;
    let closed =
        |n: usize| move |s: &str| counter_sum(s, "rfq_aggregator_closed_total") >= n as f64;
    wait_metrics(&client, &metrics, "warm-up closed", closed(1000)).await;
    let baseline = cluster.rss_kib("aggregator");

    // Two rounds of RFQs opened and closed: the second must not grow memory.
    let mut after = Vec::new();
    let mut written = 1000;
    for _ in 0..2 {
        write_rfqs(
            &cluster.brokers,
            &cluster.registry_url,
            total / 2,
            chrono::Duration::seconds(2),
        )
        .await;
        written += total / 2;
        wait_metrics(&client, &metrics, "all closed", closed(written)).await;
        after.push(cluster.rss_kib("aggregator"));
    }
    // Then RFQs that stay open: what one open RFQ costs.
    write_rfqs(
        &cluster.brokers,
        &cluster.registry_url,
        open_probe,
        chrono::Duration::minutes(30),
    )
    .await;
    wait_metrics(&client, &metrics, "probe open", |s| {
        counter_sum(s, "rfq_aggregator_open_rfqs") >= open_probe as f64
    })
    .await;
    let with_open = cluster.rss_kib("aggregator");
    let per_open = (with_open.saturating_sub(after[1]) * 1024) as f64 / open_probe as f64;
    eprintln!(
        "memory: {total} RFQs opened and closed: RSS {baseline} KiB after warm-up, {} KiB after half, {} KiB after all; \
         {open_probe} open RFQs: {with_open} KiB ({per_open:.0} bytes per open RFQ)",
        after[0], after[1]
    );
    cluster.assert_running("aggregator");
    // The stated bound: closing RFQs leaves at most 64 MiB above the warm
    // baseline, and a second round of as many RFQs adds at most 16 MiB.
    assert!(
        after[1] <= baseline + 64 * 1024,
        "RSS {} KiB > baseline {baseline} KiB + 64 MiB",
        after[1]
    );
    assert!(
        after[1] <= after[0] + 16 * 1024,
        "memory grows with closed RFQs: {} KiB then {} KiB",
        after[0],
        after[1]
    );
}
