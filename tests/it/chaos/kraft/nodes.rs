//! The cluster under the scenario: its node functions (run as commands of
//! `tests/servers/servers.sh`), the replication of a topic, and the
//! aggregators' consumer group lag.

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// Runs `tests/servers/servers.sh FUNCTION ARGS…`, a node function of the
/// cluster (it finds the cluster by `RFQ_TEST_KAFKA_CLUSTER_DIR`, which
/// `tests/run` exports); returns the last line it printed (a node id, for
/// the functions that find one).
pub(super) async fn node(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/servers.sh");
        let output = Command::new("bash")
            .arg(script)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "servers.sh {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in stdout.lines().filter(|line| line.starts_with("servers:")) {
            eprintln!("chaos: {line}");
        }
        stdout.lines().last().unwrap_or_default().trim().to_owned()
    })
    .await
    .unwrap()
}

/// Asserts every partition of `topic` has `replicas` replicas.
pub(super) fn assert_replicated(brokers: &str, topic: &str, replicas: usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    for partition in metadata.topics()[0].partitions() {
        let id = partition.id();
        assert_eq!(partition.replicas().len(), replicas, "{topic}-{id}");
    }
}

/// The aggregators' consumer group lag, sampled every second: records on
/// the quotes topic past the group's committed offsets.
pub(super) struct Lag {
    /// The most records behind.
    pub most: i64,
    /// When, from the start of the sampling.
    pub most_at: Duration,
    /// The last sample.
    pub last: i64,
}

/// Samples the lag of `group` on `topic` until `stop` (a sample the
/// cluster does not answer within 2 s is skipped). Blocks.
pub(super) fn sample_lag(brokers: &str, group: &str, topic: &str, stop: &CancellationToken) -> Lag {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let partitions: Vec<i32> = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap()
        .topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let started = Instant::now();
    let mut lag = Lag {
        most: 0,
        most_at: Duration::ZERO,
        last: 0,
    };
    let timeout = Duration::from_secs(2);
    while !stop.is_cancelled() {
        let sampled = Instant::now();
        let mut wanted = TopicPartitionList::new();
        for partition in &partitions {
            wanted.add_partition(topic, *partition);
        }
        let sample = consumer
            .committed_offsets(wanted, timeout)
            .ok()
            .and_then(|committed| {
                let mut total = 0;
                for partition in &partitions {
                    let (low, high) = consumer.fetch_watermarks(topic, *partition, timeout).ok()?;
                    let from = match committed.find_partition(topic, *partition)?.offset() {
                        Offset::Offset(offset) => offset,
                        _ => low,
                    };
                    total += (high - from).max(0);
                }
                Some(total)
            });
        if let Some(total) = sample {
            if total > lag.most {
                lag.most = total;
                lag.most_at = started.elapsed();
            }
            lag.last = total;
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(sampled.elapsed()));
    }
    lag
}
