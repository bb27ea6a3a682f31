use super::PartitionAssignment;
use rdkafka::{
    ClientConfig,
    consumer::{ConsumerContext, StreamConsumer},
    error::KafkaResult,
};

/// Parses `KEY=VALUE` (a librdkafka option).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("empty option name in {text:?}"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

/// How to reach Kafka. Shared by every component.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaSettings {
    /// Kafka bootstrap servers, comma-separated host:port. Default:
    /// 127.0.0.1:9092; for `rfq up`, its embedded broker (given, `rfq up`
    /// runs against this Kafka instead).
    #[arg(long = "brokers", env = "RFQ_BROKERS")]
    pub brokers: Option<String>,

    /// A librdkafka option passed through to every client, KEY=VALUE
    /// (repeatable; in the environment, comma-separated). Applied last, so it
    /// overrides our defaults: e.g. `security.protocol=SASL_SSL`.
    #[arg(
        long = "kafka-option",
        env = "RFQ_KAFKA_OPTIONS",
        value_delimiter = ',',
        value_parser = parse_key_value
    )]
    pub options: Vec<(String, String)>,

    /// How our consumers get their partitions: `group` (Kafka's consumer
    /// group protocol), `all` (every partition, assigned directly; for the
    /// embedded broker, whose group coordinator keeps killed members), or
    /// `auto` (`all` on the embedded broker, `group` elsewhere).
    #[arg(
        long = "partition-assignment",
        env = "RFQ_PARTITION_ASSIGNMENT",
        value_enum,
        default_value_t = PartitionAssignment::Auto
    )]
    pub assignment: PartitionAssignment,

    /// Prefix of every consumer group id we use (clusters that grant
    /// access by prefix; tests that share one cluster).
    #[arg(long = "group-prefix", env = "RFQ_GROUP_PREFIX", default_value = "")]
    pub group_prefix: String,
}

/// The bootstrap servers when none are given.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

impl Default for KafkaSettings {
    fn default() -> Self {
        crate::settings::defaults()
    }
}

impl KafkaSettings {
    /// Settings for `brokers`, every other setting at its default.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: Some(brokers.into()),
            ..Self::default()
        }
    }

    /// The bootstrap servers: the given ones, or [`DEFAULT_BROKERS`].
    pub fn brokers(&self) -> &str {
        self.brokers.as_deref().unwrap_or(DEFAULT_BROKERS)
    }

    /// The consumer group id `name`, with the configured prefix.
    pub fn group(&self, name: &str) -> String {
        format!("{}{name}", self.group_prefix)
    }

    /// A client config with `bootstrap.servers`, `client.id`, the given
    /// defaults, then the pass-through options.
    pub fn client_config(&self, client_id: &str, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers())
            .set("client.id", client_id);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// A consumer's configuration: [`KafkaSettings::client_config`] with
    /// `defaults`, then the options given.
    pub fn consumer_config(&self, client_id: &str, defaults: &[(&str, &str)]) -> ClientConfig {
        self.client_config(client_id, defaults)
    }

    /// A producer that waits for all in-sync replicas and retries without
    /// duplicating (idempotence), with a short linger for batching.
    pub fn producer(&self, client_id: &str) -> KafkaResult<super::Producer> {
        self.producer_config(client_id).create()
    }

    /// The configuration of [`KafkaSettings::producer`]: its defaults, then
    /// the options given.
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let all = [
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "30000"),
            // Java clients' default, so keys land where theirs would.
            ("partitioner", "murmur2_random"),
        ];
        self.client_config(client_id, &all)
    }

    /// A group consumer that stores offsets only when told to (the
    /// at-least-once pattern: store after the effect is durable) and commits
    /// stored offsets in the background and on rebalance.
    pub fn consumer<C: ConsumerContext + 'static>(
        &self,
        client_id: &str,
        group_id: &str,
        context: C,
    ) -> KafkaResult<StreamConsumer<C>> {
        self.consumer_with(client_id, group_id, context, &[])
    }

    /// [`KafkaSettings::consumer`] with more defaults of the caller's
    /// (still overridden by the tuning and the options given).
    pub fn consumer_with<C: ConsumerContext + 'static>(
        &self,
        client_id: &str,
        group_id: &str,
        context: C,
        more: &[(&str, &str)],
    ) -> KafkaResult<StreamConsumer<C>> {
        let group_id = self.group(group_id);
        let mut defaults = vec![
            ("group.id", group_id.as_str()),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "1000"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("enable.partition.eof", "false"),
        ];
        defaults.extend_from_slice(more);
        self.consumer_config(client_id, &defaults)
            .create_with_context(context)
    }
}

/// Decides what an error from a consumer's `recv` means: librdkafka
/// reports most consumer errors (a topic not there yet, a broker gone for a
/// moment, a partition being moved) and recovers from them by itself, so
/// they are logged and the loop goes on; only what librdkafka calls fatal
/// stops the component (an `Err` with the reason, so it exits non-zero).
pub async fn on_consumer_error(
    error: rdkafka::error::KafkaError,
    topic: &str,
) -> anyhow::Result<()> {
    use rdkafka::error::KafkaError;
    match error {
        KafkaError::MessageConsumptionFatal(code) => {
            anyhow::bail!("reading {topic}: fatal consumer error: {code}")
        }
        error => {
            tracing::warn!(%error, topic, "reading (librdkafka retries by itself)");
            // Not a busy loop while the condition lasts.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Ok(())
        }
    }
}

/// Commits the stored offsets synchronously, leaves the group and closes
/// the consumer, off the async runtime (librdkafka blocks while it talks to
/// the broker).
pub async fn close_consumer<C: ConsumerContext + 'static>(consumer: StreamConsumer<C>) {
    use rdkafka::consumer::{CommitMode, Consumer as _};
    let closed = tokio::task::spawn_blocking(move || {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => {}
            Err(error) => tracing::warn!(%error, "final offset commit"),
        }
        consumer.unsubscribe();
        drop(consumer);
    })
    .await;
    if let Err(error) = closed {
        tracing::warn!(%error, "closing a consumer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_defaults() {
        let mut settings = KafkaSettings::new("k:9092");
        settings
            .options
            .push(parse_key_value("linger.ms = 50").unwrap());
        let config = settings.client_config("c", &[("linger.ms", "5")]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("bootstrap.servers"), Some("k:9092"));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn producer_defaults_yield_to_options() {
        let mut settings = KafkaSettings::new("k:9092");
        settings
            .options
            .push(parse_key_value("linger.ms=50").unwrap());
        let producer = settings.producer_config("p");
        assert_eq!(producer.get("linger.ms"), Some("50"));
        assert_eq!(producer.get("acks"), Some("all"));
        let consumer = settings.consumer_config("c", &[("fetch.wait.max.ms", "100")]);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(
            consumer.get("linger.ms"),
            Some("50"),
            "options go to every client"
        );
    }
}
