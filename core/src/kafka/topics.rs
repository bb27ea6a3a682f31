use super::KafkaSettings;
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

    /// Records that could not be decoded or were refused, with the reason in headers.
    #[arg(long, env = "RFQ_DEAD_LETTER_TOPIC", default_value = "rfq.dead-letter")]
    pub dead_letter_topic: String,

    /// Replication factor of the topics we create (1 for the embedded broker).
    #[arg(long, env = "RFQ_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: i32,
}

impl Default for TopicSettings {
    fn default() -> Self {
        Self {
            requests_topic: "rfq.requests".into(),
            requests_partitions: 8,
            quotes_topic: "rfq.quotes".into(),
            quotes_partitions: 8,
            providers_topic: "rfq.providers".into(),
            dead_letter_topic: "rfq.dead-letter".into(),
            replication_factor: 1,
        }
    }
}

/// Creates the pipeline's topics if they do not exist (brokers such as the
/// embedded one do not auto-create). Existing topics are left as they are.
pub async fn ensure_topics(kafka: &KafkaSettings, topics: &TopicSettings) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config("rfq-admin", &[])
        .create()
        .context("creating the Kafka admin client")?;
    let wanted = [
        (&topics.requests_topic, topics.requests_partitions),
        (&topics.quotes_topic, topics.quotes_partitions),
        (&topics.providers_topic, 1),
        (&topics.dead_letter_topic, 1),
    ];
    let new_topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(
                name,
                *partitions,
                TopicReplication::Fixed(topics.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .with_context(|| format!("creating topics on {}", kafka.brokers))?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}
