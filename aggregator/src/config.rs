use rfq_core::kafka::{KafkaSettings, TopicSettings};

/// Settings of the aggregator.
#[derive(Debug, Clone, clap::Args)]
pub struct AggregatorSettings {
    /// Kafka connection.
    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// Topic names.
    #[command(flatten)]
    pub topics: TopicSettings,

    /// Consumer group shared by all aggregator instances.
    #[arg(
        long = "aggregator-group",
        env = "RFQ_AGGREGATOR_GROUP",
        default_value = "rfq-aggregator"
    )]
    pub group_id: String,

    /// Most records processed (and written to the store) in one batch.
    #[arg(
        long = "aggregator-batch",
        env = "RFQ_AGGREGATOR_BATCH",
        default_value_t = 500
    )]
    pub max_batch: usize,
}

impl AggregatorSettings {
    /// Settings with defaults for everything but Kafka and topics.
    pub fn new(kafka: KafkaSettings, topics: TopicSettings) -> Self {
        Self {
            kafka,
            topics,
            group_id: "rfq-aggregator".into(),
            max_batch: 500,
        }
    }
}
