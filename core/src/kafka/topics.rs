use super::KafkaSettings;
use crate::Door;
use anyhow::Context as _;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    types::RDKafkaErrorCode,
};
use std::time::Duration;

/// Topic names and sizes. Every component takes the same flags, so a
/// deployment renames a topic in one place (the environment).
#[derive(Debug, Clone, clap::Args)]
pub struct TopicSettings {
    /// Topic RFQs are published to, keyed by region.
    #[arg(long, env = "RFQ_REQUESTS_TOPIC", default_value = "rfq.requests")]
    pub requests_topic: String,

    /// Partitions of the requests topic (when we create it).
    #[arg(long, env = "RFQ_REQUESTS_PARTITIONS", default_value_t = 8)]
    pub requests_partitions: i32,

    /// Return-address topic: quotes and declines, keyed by correlation ID.
    #[arg(long, env = "RFQ_QUOTES_TOPIC", default_value = "rfq.quotes")]
    pub quotes_topic: String,

    /// Partitions of the quotes topic (when we create it); the unit of
    /// aggregator parallelism.
    #[arg(long, env = "RFQ_QUOTES_PARTITIONS", default_value_t = 8)]
    pub quotes_partitions: i32,

    /// Provider registrations (heartbeats), keyed by provider id.
    #[arg(long, env = "RFQ_PROVIDERS_TOPIC", default_value = "rfq.providers")]
    pub providers_topic: String,

    /// Change notices (an answer kept, an RFQ closed), keyed by the RFQ's
    /// id: written by the aggregator, read by every read API to push live
    /// events (`rfq_core::kafka::notices`).
    #[arg(long, env = "RFQ_EVENTS_TOPIC", default_value = "rfq.events")]
    pub events_topic: String,

    /// The aggregators' progress (how far behind each is, per partition of
    /// the quotes topic), keyed by partition and instance: read by the
    /// producers' admission (`rfq_core::kafka::progress`).
    #[arg(long, env = "RFQ_PROGRESS_TOPIC", default_value = "rfq.progress")]
    pub progress_topic: String,

    /// Records that could not be decoded or were refused, with the reason in headers.
    #[arg(long, env = "RFQ_DEAD_LETTER_TOPIC", default_value = "rfq.dead-letter")]
    pub dead_letter_topic: String,

    /// Replication factor of the topics we create (1 for the embedded
    /// broker; 3 on a production cluster).
    #[arg(long, env = "RFQ_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: i32,

    /// `min.insync.replicas` of the topics we create: with `acks=all`, a
    /// write is acknowledged only once this many replicas have it (2 with
    /// a replication factor of 3 survives one broker loss without losing
    /// an acknowledged RFQ or answer).
    #[arg(long, env = "RFQ_MIN_INSYNC_REPLICAS", default_value_t = 1)]
    pub min_insync_replicas: i32,

    /// How long the requests, quotes and dead-letter topics keep records,
    /// in hours. The quotes topic is the log every result is a function of:
    /// keep it at least as long as results are kept (the ScyllaDB store's
    /// default retention is 7 days) so a result can be replayed and
    /// explained; far beyond the longest deadline in any case.
    #[arg(
        long = "topic-retention-hours",
        alias = "retention-hours",
        env = "RFQ_TOPIC_RETENTION_HOURS",
        default_value_t = 168
    )]
    pub retention_hours: u32,
}

impl Default for TopicSettings {
    fn default() -> Self {
        crate::settings::defaults()
    }
}

/// How long the events topic keeps a notice: an hour.
const EVENTS_RETENTION_MS: &str = "3600000";

/// How long the progress topic keeps a report it has a newer one for
/// (compacted) or one of an instance gone (deleted): a day.
const PROGRESS_RETENTION_MS: &str = "86400000";

/// Partitions of a door's rfqs and answers topics: one partner's share of
/// the traffic, read and written by one door.
pub const DOOR_PARTITIONS: i32 = 4;

/// How long a door's rfqs and answers topics keep a record: a day (the
/// longest deadline, [`MAX_DEADLINE_SECONDS`](crate::MAX_DEADLINE_SECONDS)).
/// A partner sees a trip for that long, and no longer.
pub const DOOR_RETENTION_MS: u64 = 24 * 3_600_000;

/// A topic as we create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Topic configs set at creation.
    pub config: Vec<(&'static str, String)>,
}

impl TopicSettings {
    /// The pipeline's topics with the configs we create them with:
    /// - every topic: `min.insync.replicas`;
    /// - requests, quotes, dead letters: deleted after the retention;
    /// - quotes: `message.timestamp.type=LogAppendTime`, so lateness is
    ///   judged by the broker's clock, not by whatever a partner's producer
    ///   stamps;
    /// - providers: compacted (the latest heartbeat per provider is the
    ///   registry; a new producer replays it from the beginning), kept
    ///   forever;
    /// - events: as many partitions as the quotes topic (its writers), kept
    ///   an hour (a notice is worth something for milliseconds; streams
    ///   read the store);
    /// - progress: one partition, compacted (a reader starts from each
    ///   instance's latest report), deleted after a day (instances gone).
    pub fn wanted(&self) -> Vec<TopicSpec> {
        let min_isr = ("min.insync.replicas", self.min_insync_replicas.to_string());
        let retention_ms = u64::from(self.retention_hours) * 3_600_000;
        let delete = |extra: &[(&'static str, &str)]| {
            let mut config = vec![
                min_isr.clone(),
                ("cleanup.policy", "delete".to_owned()),
                ("retention.ms", retention_ms.to_string()),
            ];
            config.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            config
        };
        vec![
            TopicSpec {
                name: self.requests_topic.clone(),
                partitions: self.requests_partitions,
                config: delete(&[]),
            },
            TopicSpec {
                name: self.quotes_topic.clone(),
                partitions: self.quotes_partitions,
                config: delete(&[("message.timestamp.type", "LogAppendTime")]),
            },
            TopicSpec {
                name: self.providers_topic.clone(),
                partitions: 1,
                config: vec![
                    min_isr.clone(),
                    ("cleanup.policy", "compact".to_owned()),
                    ("retention.ms", "-1".to_owned()),
                ],
            },
            TopicSpec {
                name: self.events_topic.clone(),
                partitions: self.quotes_partitions,
                config: vec![
                    min_isr.clone(),
                    ("cleanup.policy", "delete".to_owned()),
                    ("retention.ms", EVENTS_RETENTION_MS.to_owned()),
                ],
            },
            TopicSpec {
                name: self.progress_topic.clone(),
                partitions: 1,
                config: vec![
                    min_isr.clone(),
                    ("cleanup.policy", "compact,delete".to_owned()),
                    ("retention.ms", PROGRESS_RETENTION_MS.to_owned()),
                ],
            },
            TopicSpec {
                name: self.dead_letter_topic.clone(),
                partitions: 1,
                config: delete(&[]),
            },
        ]
    }
}

impl TopicSettings {
    /// A partner's door topics (see [`Door`]):
    /// - rfqs and answers: [`DOOR_PARTITIONS`], deleted after
    ///   [`DOOR_RETENTION_MS`] (a day: a partner sees a trip that long);
    /// - heartbeats: one partition, compacted (the latest per provider).
    pub fn door_topics(&self, door: &Door) -> Vec<TopicSpec> {
        let min_isr = ("min.insync.replicas", self.min_insync_replicas.to_string());
        let delete = vec![
            min_isr.clone(),
            ("cleanup.policy", "delete".to_owned()),
            ("retention.ms", DOOR_RETENTION_MS.to_string()),
        ];
        vec![
            TopicSpec {
                name: door.rfqs_topic(),
                partitions: DOOR_PARTITIONS,
                config: delete.clone(),
            },
            TopicSpec {
                name: door.answers_topic(),
                partitions: DOOR_PARTITIONS,
                config: delete,
            },
            TopicSpec {
                name: door.heartbeats_topic(),
                partitions: 1,
                config: vec![
                    min_isr,
                    ("cleanup.policy", "compact".to_owned()),
                    ("retention.ms", "-1".to_owned()),
                ],
            },
        ]
    }
}

/// Creates the pipeline's topics if they do not exist (brokers such as the
/// embedded one do not auto-create). Existing topics are left as they are.
/// A pipeline topic named under [`Door::ROOT`] is refused: that root is
/// the partners'.
pub async fn ensure_topics(kafka: &KafkaSettings, topics: &TopicSettings) -> anyhow::Result<()> {
    let wanted = topics.wanted();
    if let Some(clash) = wanted.iter().find(|t| t.name.starts_with(Door::ROOT)) {
        anyhow::bail!(
            "topic {} is under {}, the root of the partners' doors: name it otherwise",
            clash.name,
            Door::ROOT
        );
    }
    create_topics(kafka, topics, &wanted).await
}

/// Creates a partner's door topics ([`TopicSettings::door_topics`]) if
/// they do not exist.
pub async fn ensure_door_topics(
    kafka: &KafkaSettings,
    topics: &TopicSettings,
    door: &Door,
) -> anyhow::Result<()> {
    create_topics(kafka, topics, &topics.door_topics(door)).await
}

/// Creates `wanted` with the replication `topics` says, leaving existing
/// topics as they are.
async fn create_topics(
    kafka: &KafkaSettings,
    topics: &TopicSettings,
    wanted: &[TopicSpec],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config("rfq-admin", &[])
        .create()
        .context("creating the Kafka admin client")?;
    anyhow::ensure!(
        (1..=topics.replication_factor).contains(&topics.min_insync_replicas),
        "--min-insync-replicas {} must be between 1 and --replication-factor {}: \
         otherwise every acknowledged write (acks=all) fails",
        topics.min_insync_replicas,
        topics.replication_factor
    );
    anyhow::ensure!(
        topics.retention_hours > 0,
        "--topic-retention-hours must be at least 1"
    );
    let new_topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|topic| {
            topic.config.iter().fold(
                NewTopic::new(
                    &topic.name,
                    topic.partitions,
                    TopicReplication::Fixed(topics.replication_factor),
                ),
                |new, (key, value)| new.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .with_context(|| format!("creating topics on {}", kafka.brokers()))?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_topics_are_under_the_door_and_not_the_pipelines() {
        let settings = TopicSettings::default();
        let door = crate::PartnerName::parse("acme").unwrap().door();
        let specs = settings.door_topics(&door);
        assert!(specs.iter().all(|spec| door.holds(&spec.name)));
        let retention = |spec: &TopicSpec| {
            spec.config
                .iter()
                .find(|(key, _)| *key == "retention.ms")
                .map(|(_, value)| value.clone())
        };
        assert_eq!(retention(&specs[0]), Some("86400000".to_owned()));
        assert_eq!(specs[0].partitions, DOOR_PARTITIONS);
        assert!(
            specs[2]
                .config
                .contains(&("cleanup.policy", "compact".to_owned()))
        );
        assert!(
            settings
                .wanted()
                .iter()
                .all(|spec| !spec.name.starts_with(Door::ROOT))
        );
    }
}
