use rfq_core::{
    RegionPrecision,
    kafka::{KafkaSettings, TopicSettings},
};

/// Settings of the producer.
#[derive(Debug, Clone, clap::Args)]
pub struct ProducerSettings {
    /// Kafka connection.
    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// Topic names.
    #[command(flatten)]
    pub topics: TopicSettings,

    /// Geohash characters per region: 4 ≈ 39 × 20 km, 5 ≈ 4.9 × 4.9 km, 6 ≈ 1.2 × 0.6 km.
    #[arg(long, env = "RFQ_REGION_PRECISION", default_value = "5", value_parser = parse_precision)]
    pub region_precision: RegionPrecision,

    /// Deadline of an RFQ that does not set `deadline-seconds`.
    #[arg(long, env = "RFQ_DEFAULT_DEADLINE_SECONDS", default_value_t = 300)]
    pub default_deadline_seconds: u32,

    /// Longest deadline a customer may ask for, in seconds (at most a day).
    #[arg(
        long,
        env = "RFQ_MAX_DEADLINE_SECONDS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(rfq_core::MAX_DEADLINE_SECONDS))
    )]
    pub max_deadline_seconds: u32,

    /// Most RFQs open at once, pipeline-wide; beyond it `POST /rfqs` answers
    /// 503 with Retry-After until the aggregator closes some.
    #[arg(long, env = "RFQ_MAX_OPEN_RFQS", default_value_t = 100_000)]
    pub max_open_rfqs: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "RFQ_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Base URL of links in responses (e.g. https://rides.example); by
    /// default taken from the request's Host header.
    #[arg(long, env = "RFQ_PUBLIC_URL")]
    pub public_url: Option<String>,
}

fn parse_precision(text: &str) -> Result<RegionPrecision, String> {
    text.parse()
        .map_err(|e: rfq_core::DomainError| e.to_string())
}

impl ProducerSettings {
    /// Settings with defaults for everything but Kafka and topics.
    pub fn new(kafka: KafkaSettings, topics: TopicSettings) -> Self {
        Self {
            kafka,
            topics,
            region_precision: RegionPrecision::DEFAULT,
            default_deadline_seconds: 300,
            max_deadline_seconds: 3600,
            max_open_rfqs: 100_000,
            max_body_bytes: 16 * 1024,
            public_url: None,
        }
    }
}
