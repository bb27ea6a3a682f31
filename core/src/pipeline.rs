//! What every role of one pipeline must agree on ([`PipelineSettings`]):
//! Kafka, topic names, region precision, vicinity radius and the schema
//! registry. Read by every subcommand from the same flags, environment
//! variables or settings file (layered by [`crate::settings`]).

use crate::{
    Radius, RegionPrecision, Vicinity,
    kafka::{KafkaSettings, TopicSettings},
    settings::defaults,
};

/// What every role of one pipeline must agree on: they are read from the
/// same flags and environment variables (or settings file) by every
/// subcommand, so a deployment sets them once.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineSettings {
    /// How to reach Kafka.
    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// Topic names, sizes and configs.
    #[command(flatten)]
    pub topics: TopicSettings,

    /// Geohash characters per region (4 ≈ 39 × 20 km, 5 ≈ 4.9 × 4.9 km,
    /// 6 ≈ 1.2 × 0.6 km). RFQs are keyed by the pickup point's region at
    /// this precision and the producer finds providers by the region their
    /// heartbeat names, so adapters must use the same: a heartbeat whose
    /// region is not its position's at the producer's precision is
    /// dead-lettered with a reason.
    #[arg(long, env = "RFQ_REGION_PRECISION", default_value_t = RegionPrecision::DEFAULT)]
    pub region_precision: RegionPrecision,

    /// How far from the pickup point a provider may be to be asked for a
    /// quote, in metres (great-circle distance, whatever region it is in;
    /// 1 to 100000). The producer addresses an RFQ to the live providers
    /// within it; adapters read the RFQs of every region within it of one
    /// of their unicorns. Every role must use the same: an adapter with a
    /// smaller radius misses RFQs addressed to its unicorns.
    #[arg(
        long = "vicinity-radius-m",
        env = "RFQ_VICINITY_RADIUS_M",
        default_value_t = Radius::DEFAULT
    )]
    pub vicinity_radius: Radius,

    /// The schema registry every record's schema id refers to.
    #[command(flatten)]
    pub registry: SchemaRegistrySettings,
}

/// The registry URL when none is given.
pub const DEFAULT_SCHEMA_REGISTRY_URL: &str = "http://127.0.0.1:8081";

/// How to reach the Confluent-compatible schema registry: every record on
/// our topics carries the id of its writer schema there.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SchemaRegistrySettings {
    /// URL of the schema registry. Default: http://127.0.0.1:8081; for
    /// `rfq up`, the registry it serves (given, `rfq up` uses this one
    /// instead).
    #[arg(long = "schema-registry-url", env = "RFQ_SCHEMA_REGISTRY_URL")]
    pub registry_url: Option<String>,

    /// User name for the registry's basic authentication.
    #[arg(long = "schema-registry-user", env = "RFQ_SCHEMA_REGISTRY_USER")]
    pub registry_user: Option<String>,

    /// Password for the registry's basic authentication; prefer the
    /// environment variable.
    #[arg(
        long = "schema-registry-password",
        env = "RFQ_SCHEMA_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub registry_password: Option<String>,

    /// PEM file of the certificate authorities to trust for an `https`
    /// registry, in addition to the system's (Confluent's clients call it
    /// `ssl.ca.location`).
    #[arg(long = "schema-registry-ca", env = "RFQ_SCHEMA_REGISTRY_CA")]
    pub registry_ca: Option<std::path::PathBuf>,

    /// PEM file with the client certificate (chain) and its private key, for
    /// a registry that requires mutual TLS (`ssl.certificate.location` and
    /// `ssl.key.location` in one file).
    #[arg(
        long = "schema-registry-identity",
        env = "RFQ_SCHEMA_REGISTRY_IDENTITY"
    )]
    pub registry_identity: Option<std::path::PathBuf>,
}

impl SchemaRegistrySettings {
    /// The registry's URL: the given one, or [`DEFAULT_SCHEMA_REGISTRY_URL`].
    pub fn url(&self) -> &str {
        self.registry_url
            .as_deref()
            .unwrap_or(DEFAULT_SCHEMA_REGISTRY_URL)
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        defaults()
    }
}

impl PipelineSettings {
    /// Who is near whom: the radius, through the regions at the precision.
    pub fn vicinity(&self) -> Vicinity {
        Vicinity {
            radius: self.vicinity_radius,
            precision: self.region_precision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_settings_have_defaults() {
        let settings = PipelineSettings::default();
        assert_eq!(settings.region_precision, RegionPrecision::DEFAULT);
        assert_eq!(settings.vicinity().radius.metres(), 5_000);
        assert_eq!(settings.topics.quotes_topic, "rfq.quotes");
    }
}
