//! What `rfq up` (and the single roles beside it) are told: the embedded
//! broker, the producer process's settings, and every role's settings
//! together for `rfq up`. Settings only: what runs is built from them by
//! [`Pipeline::start`](super::Pipeline::start).

use anyhow::Context as _;
use rfq_adapters::AdapterSettings;
use rfq_aggregator::AggregatorSettings;
use rfq_api::live::LiveSettings;
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::auth::{
    ApiKey,
    partners::{CachedPartners, PartnerDirectory},
    scram::{MECHANISM, ScramCredential},
};
use rfq_core::{kafka::KafkaSettings, pipeline::PipelineSettings};
use rfq_producer::ProducerSettings;
use rfq_registry::RegistrySettings;
use rfq_store::StoreSettings;
use std::{net::SocketAddr, path::PathBuf, sync::Arc};

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

    /// `rfq up` only: let Kafka clients in without credentials, every one
    /// with every right (development only: anyone who reaches the port
    /// reads every customer's RFQs and writes anywhere). Without it,
    /// clients authenticate with SASL/SCRAM-SHA-256: partners as
    /// themselves (`rfq partners add`), held to their own door; our
    /// components as the operator, whose client settings for this run are
    /// in `kafka-operator.properties` in the data directory.
    #[arg(long, env = "RFQ_KAFKA_OPEN")]
    pub kafka_open: bool,
}

/// The user our own components authenticate as on `rfq up`'s broker (not
/// a partner's name: those have no `-`).
pub const OPERATOR_USER: &str = "rfq-operator";

/// The operator's client settings for this run, in the data directory.
pub const OPERATOR_PROPERTIES: &str = "kafka-operator.properties";

impl EmbeddedBrokerSettings {
    /// Starts the broker these settings describe.
    pub async fn start(&self) -> anyhow::Result<EmbeddedBroker> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        EmbeddedBroker::start(self.broker_settings()).await
    }

    fn broker_settings(&self) -> BrokerSettings {
        BrokerSettings {
            listen: self.kafka_addr,
            storage: match self.broker_in_memory {
                true => BrokerStorage::Memory,
                false => BrokerStorage::Sqlite(self.data_dir.join("broker.db")),
            },
        }
    }

    /// Starts the broker and points `kafka` at it: open with
    /// `--kafka-open`, else authenticating partners from `partners` and
    /// our components as the operator, with a password made for this run
    /// (put in `kafka`'s options and in [`OPERATOR_PROPERTIES`]).
    pub async fn start_for(
        &self,
        kafka: &mut KafkaSettings,
        partners: Arc<dyn PartnerDirectory>,
    ) -> anyhow::Result<EmbeddedBroker> {
        if self.kafka_open {
            let broker = self.start().await?;
            kafka.brokers = Some(broker.addr().to_string());
            return Ok(broker);
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let password = ApiKey::generate();
        let credentials = rfq_broker::front::sasl::Directory {
            operator: OPERATOR_USER.to_owned(),
            operator_credential: ScramCredential::generate(password.expose()).credential,
            partners: Arc::new(CachedPartners::new(partners)),
        };
        let broker =
            EmbeddedBroker::start_with(self.broker_settings(), Some(Arc::new(credentials))).await?;
        kafka.brokers = Some(broker.addr().to_string());
        let options = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", MECHANISM),
            ("sasl.username", OPERATOR_USER),
            ("sasl.password", password.expose()),
        ];
        for (key, value) in options {
            kafka.options.retain(|(known, _)| known != key);
            kafka.options.push((key.to_owned(), value.to_owned()));
        }
        let file = self.data_dir.join(OPERATOR_PROPERTIES);
        let text = format!(
            "# rfq up's Kafka operator, this run only: every right on every topic.\n\
             bootstrap.servers={}\n{}",
            broker.addr(),
            options
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>()
        );
        crate::demo_key::write_replacing(&file, &text)
            .with_context(|| format!("writing {}", file.display()))?;
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
