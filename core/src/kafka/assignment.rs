//! How our consumers get their partitions, and why not always through
//! Kafka's group protocol.
//!
//! On a real Kafka cluster the consumer group protocol shares a topic's
//! partitions among the members of a group and, when a member dies, gives
//! its partitions to the survivors once its session times out. The embedded
//! broker (tansu 0.6) keeps a killed member in its group, persisted across
//! restarts, so after a crash loop a new member can be left with no
//! partitions at all while the dead ones "own" them (issue 10: RFQs stayed
//! open long past their deadline). There, a consumer instead takes every
//! partition of its topic by direct assignment: nothing to join, nothing a
//! dead process can hold. Offsets are still committed under the group id
//! (a commit needs no membership), so a restart resumes where the last
//! durable work ended.
//!
//! Every partition for every instance is safe for the aggregator because
//! its decisions are a function of the log: two instances reading the same
//! partition write the same effects, which the store applies idempotently
//! (first wins). Two adapter instances of one fleet both answer; the
//! aggregator keeps the first answer per provider and drops the other as a
//! duplicate.

use super::KafkaSettings;
use anyhow::Context as _;
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{Consumer, ConsumerContext, DefaultConsumerContext, StreamConsumer},
};
use std::time::Duration;

/// The cluster id the embedded broker (`rfq up`, `rfq broker`) reports.
/// A real Kafka cluster's id is a random base64 UUID, never this.
pub const EMBEDDED_CLUSTER_ID: &str = "rfq";

/// How long start-up waits for the broker's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// How a consumer gets its partitions (`--partition-assignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PartitionAssignment {
    /// `group` on a real Kafka cluster, `all` on the embedded broker
    /// (recognised by its cluster id).
    #[default]
    Auto,
    /// Kafka's consumer group protocol: the group's members share the
    /// partitions; a dead member's partitions move to the survivors after
    /// its session timeout.
    Group,
    /// Every partition of the topic, assigned directly (no group
    /// membership; offsets still committed under the group id).
    All,
}

/// What [`PartitionAssignment`] resolved to for one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// Subscribed as a group member: partitions arrive through rebalances.
    Group,
    /// These partitions are assigned, for good.
    Partitions(Vec<i32>),
}

impl PartitionAssignment {
    /// Subscribes `consumer` to `topic` or assigns it every partition, as
    /// this mode says (asking the broker for its cluster id when `Auto`).
    /// Blocking librdkafka calls run off the async runtime.
    pub async fn apply<C: ConsumerContext + 'static>(
        self,
        consumer: StreamConsumer<C>,
        topic: &str,
    ) -> anyhow::Result<(StreamConsumer<C>, Assigned)> {
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let assigned = self.apply_blocking(&consumer, &topic)?;
            Ok((consumer, assigned))
        })
        .await
        .context("joining the assignment task")?
    }

    fn apply_blocking<C: ConsumerContext>(
        self,
        consumer: &StreamConsumer<C>,
        topic: &str,
    ) -> anyhow::Result<Assigned> {
        let all = match self {
            PartitionAssignment::Group => false,
            PartitionAssignment::All => true,
            PartitionAssignment::Auto => {
                // Not knowing is not "a real cluster": joining tansu's group
                // by mistake is what this module exists to avoid.
                let cluster = consumer
                    .client()
                    .fetch_cluster_id(METADATA_TIMEOUT)
                    .with_context(|| {
                        format!(
                            "reading the cluster id (to choose the partition assignment) \
                             within {METADATA_TIMEOUT:?}: is the broker up?"
                        )
                    })?;
                let embedded = cluster == EMBEDDED_CLUSTER_ID;
                tracing::info!(
                    %cluster,
                    mode = if embedded { "all" } else { "group" },
                    topic,
                    "partition assignment"
                );
                embedded
            }
        };
        if !all {
            consumer
                .subscribe(&[topic])
                .with_context(|| format!("subscribing to {topic}"))?;
            return Ok(Assigned::Group);
        }
        let partitions = assign_every_partition(consumer, topic, Offset::Stored)?;
        Ok(Assigned::Partitions(partitions))
    }
}

/// Assigns `consumer` every partition of `topic`, each starting at `start`
/// (`Offset::Stored`: the group's committed offset; `Offset::Beginning`:
/// the whole log). Blocks while librdkafka asks the broker. Returns the
/// partitions; a topic that does not exist (or has none) is an error.
pub fn assign_every_partition<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    start: Offset,
) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .with_context(|| format!("reading the metadata of {topic}"))?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    anyhow::ensure!(
        !partitions.is_empty(),
        "topic {topic} has no partitions (does it exist? `rfq migrate` creates it)"
    );
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        list.add_partition_offset(topic, *partition, start)
            .with_context(|| format!("assigning {topic}/{partition}"))?;
    }
    consumer
        .assign(&list)
        .with_context(|| format!("assigning every partition of {topic}"))?;
    Ok(partitions)
}

/// A consumer named `name` (its client id; its group id is `name` under the
/// group prefix, used only if offsets were committed) that is assigned
/// every partition of `topic`, each from `start`: for the followers that
/// every instance runs over the whole topic ([`Follower`](super::Follower)), no group
/// membership, no automatic commits. Creation and assignment block while
/// librdkafka asks the broker, so they run off the async runtime.
pub async fn consumer_of_every_partition(
    kafka: &KafkaSettings,
    name: &str,
    topic: &str,
    start: Offset,
) -> anyhow::Result<StreamConsumer> {
    let group = kafka.group(name);
    let consumer: StreamConsumer = kafka
        .consumer_config(
            name,
            &[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
            ],
        )
        .create_with_context(DefaultConsumerContext)
        .with_context(|| format!("creating the {name} consumer of {topic}"))?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<StreamConsumer> {
        assign_every_partition(&consumer, &topic, start)?;
        Ok(consumer)
    })
    .await
    .with_context(|| format!("joining the assignment of {name}"))?
}
