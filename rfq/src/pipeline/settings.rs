//! What `rfq up` (and the single roles beside it) are told: the embedded
//! broker, the producer process's settings, and every role's settings
//! together for `rfq up`. Settings only: what runs is built from them by
//! [`Pipeline::start`](super::Pipeline::start).

use anyhow::Context as _;
use rfq_adapters::AdapterSettings;
use rfq_aggregator::AggregatorSettings;
use rfq_api::live::LiveSettings;
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::{kafka::KafkaSettings, pipeline::PipelineSettings};
use rfq_producer::ProducerSettings;
use rfq_registry::RegistrySettings;
use rfq_store::StoreSettings;
use std::{net::SocketAddr, path::PathBuf};

/// The embedded broker: where it listens and keeps its log (`rfq up`, `rfq broker`).
#[derive(Debug, Clone, clap::Args)]
pub struct EmbeddedBrokerSettings {
    /// Address of the embedded Kafka broker (outside clients connect here;
    /// port 0: any free port).
    #[arg(long, env = "RFQ_KAFKA_ADDR", default_value = rfq_core::kafka::DEFAULT_BROKERS)]
    pub kafka_addr: SocketAddr,

    /// Directory of the broker's log and (for `rfq up`) the result store,
    /// kept across restarts.
    #[arg(long, env = "RFQ_DATA_DIR", default_value = rfq_store::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Keep the broker's data in memory only (lost at exit).
    #[arg(long, env = "RFQ_BROKER_IN_MEMORY")]
    pub broker_in_memory: bool,
}

impl EmbeddedBrokerSettings {
    /// Starts the broker these settings describe.
    pub async fn start(&self) -> anyhow::Result<EmbeddedBroker> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let storage = if self.broker_in_memory {
            BrokerStorage::Memory
        } else {
            BrokerStorage::Sqlite(self.data_dir.join("broker.db"))
        };
        EmbeddedBroker::start(BrokerSettings {
            listen: self.kafka_addr,
            storage,
        })
        .await
    }

    /// Starts the broker and points `kafka` at it.
    pub async fn start_for(&self, kafka: &mut KafkaSettings) -> anyhow::Result<EmbeddedBroker> {
        let broker = self.start().await?;
        kafka.brokers = Some(broker.addr().to_string());
        Ok(broker)
    }
}

/// What the producer process takes (`rfq producer`); `rfq up` takes it all
/// and serves the read API beside it.
#[derive(Debug, Clone, clap::Args)]
pub struct IntakeSettings {
    /// Address of the HTTP API (port 0: any free port).
    #[arg(long, env = "RFQ_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Kafka, topics, region precision: shared by every role. With
    /// `--brokers`, `rfq up` runs against that Kafka and no embedded broker
    /// starts.
    #[command(flatten)]
    pub pipeline: PipelineSettings,

    /// The producer (its links are the read API's too).
    #[command(flatten)]
    pub producer: ProducerSettings,

    /// The result store (`rfq up`: the embedded one in its data directory
    /// by default).
    #[command(flatten)]
    pub store: StoreSettings,
}

/// Settings of `rfq up`: every setting of every role it runs, declared by
/// the roles themselves, plus where the embedded parts live.
#[derive(Debug, Clone, clap::Args)]
pub struct UpSettings {
    /// The embedded broker (unless `--brokers` names an outside Kafka).
    #[command(flatten)]
    pub broker: EmbeddedBrokerSettings,

    /// The HTTP API, the pipeline's shared settings, the producer, the store.
    #[command(flatten)]
    pub intake: IntakeSettings,

    /// The aggregator.
    #[command(flatten)]
    pub aggregator: AggregatorSettings,

    /// The simulated adapter and its fleet.
    #[command(flatten)]
    pub adapter: AdapterSettings,

    /// The embedded schema registry.
    #[command(flatten)]
    pub registry: RegistrySettings,

    /// Bounds on the read API's live streams.
    #[command(flatten)]
    pub live: LiveSettings,

    /// The simulated adapters when not just the one `adapter` describes
    /// (tests run several fleets, or none).
    #[arg(skip)]
    pub adapters: Option<Vec<AdapterSettings>>,
}

impl Default for UpSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
