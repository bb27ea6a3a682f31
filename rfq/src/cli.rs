//! Command-line interface: one subcommand per component.
//!
//! Every setting is declared once, by the component that uses it, and
//! layered the same way for every subcommand (defaults < settings file <
//! environment < flags; see [`rfq_core::settings`]). Every flag has an
//! environment variable (shown by `--help`), so containers configure the
//! binary through the environment alone; `--config FILE` reads a YAML file
//! whose keys are the flag names.

mod roles;

pub(crate) use roles::open_codec;
use roles::{api, broker, migrate, open_store, producer, registry, serve_metrics, up};

use crate::{EmbeddedBrokerSettings, IntakeSettings, UpSettings};
use clap::{Args, Parser, Subcommand};
use rfq_adapters::AdapterSettings;
use rfq_aggregator::AggregatorSettings;
use rfq_api::ApiSettings;
use rfq_core::auth::AuthSettings;
use rfq_core::{
    kafka::{KafkaSettings, TopicSettings, ensure_topics},
    pipeline::{PipelineSettings, SchemaRegistrySettings},
    shutdown::{CancellationToken, cancel_on_signal},
};
use rfq_store::StoreSettings;
use std::{net::SocketAddr, path::PathBuf};

/// RFQ scatter-gather pipeline: ride quotes from every unicorn near the pickup point.
#[derive(Debug, Parser)]
#[command(name = "rfq", version, about)]
pub struct Cli {
    /// A YAML settings file: keys are the long flag names (`brokers:
    /// kafka:9092`), at the top level for every subcommand that has the
    /// flag or under a subcommand's name (`producer:`) for that one only.
    /// The environment and flags override it.
    #[arg(long, global = true, env = rfq_core::settings::CONFIG_ENV)]
    pub config: Option<PathBuf>,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine: embedded Kafka broker, producer, simulated
    /// unicorns, aggregator and read API, until Ctrl-C. Takes every setting
    /// of the roles it runs.
    Up(Box<UpSettings>),
    /// The embedded Kafka-API broker alone (creates the topics).
    Broker(BrokerArgs),
    /// HTTP intake: POST /rfqs.
    Producer(IntakeSettings),
    /// A unicorn adapter: a simulated fleet, HTTP partners (`--partner`), partners' doors (`--door`).
    Adapter(AdapterArgs),
    /// The windowed aggregator.
    Aggregator(AggregatorArgs),
    /// Read API: GET /rfqs/{id} and /rfqs/{id}/result.
    Api(ApiArgs),
    /// A Confluent-compatible schema registry for one machine (the one
    /// `rfq up` serves), kept in a compacted topic.
    Registry(RegistryArgs),
    /// Creates the Kafka topics and the store's schema (idempotent), then
    /// exits: run it once before the services of a deployment.
    Migrate(MigrateArgs),
    /// Explains one RFQ from the log: whom it was addressed to and why,
    /// every answer with its verdict, the close and its rule, checked
    /// against the stored result (`--json`: the document `GET
    /// /rfqs/{id}/timeline` serves).
    Explain(Box<crate::explain::ExplainArgs>),
    /// API keys in the result store, with their roles (`rfq keys add
    /// --customer NAME | --partner NAME | --operator [NAME]` prints a new
    /// key; `rfq keys list` lists them).
    Keys(crate::keys::KeysArgs),
    /// Partners as tenants (`rfq partners add NAME` prints its secrets).
    Partners(crate::partners::PartnersArgs),
    /// Measures the pipeline (open-loop load, latency as the customer app
    /// sees it) next to its broker's own limits; starts `rfq up` in this
    /// process unless `--bench-url` names a running pipeline.
    Bench(Box<crate::bench::BenchArgs>),
}

/// `rfq migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Kafka and the topics to create.
    #[command(flatten)]
    pub pipeline: PipelineSettings,
    /// Store settings.
    #[command(flatten)]
    pub store: StoreSettings,
    /// The compatibility level set on every subject the pipeline writes
    /// (components at start give `BACKWARD` only to subjects without one).
    #[arg(
        long,
        env = "RFQ_SCHEMA_COMPATIBILITY",
        default_value = rfq_avro::COMPATIBILITY,
        value_parser = [
            "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
            "FULL", "FULL_TRANSITIVE", "NONE",
        ],
    )]
    pub schema_compatibility: String,
}

/// `rfq registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Kafka (where the schemas topic is) and the replication factor.
    #[command(flatten)]
    pub pipeline: PipelineSettings,
    /// Where it listens and which topic it keeps.
    #[command(flatten)]
    pub registry: rfq_registry::RegistrySettings,
    /// Where partners are looked up (with --registry-operator-password).
    #[command(flatten)]
    pub store: StoreSettings,
}

/// `rfq broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Where it listens and keeps its log.
    #[command(flatten)]
    pub broker: EmbeddedBrokerSettings,
    /// Topic names and sizes (created at start).
    #[command(flatten)]
    pub topics: TopicSettings,
}

/// A process's optional metrics endpoint.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on this address (GET /metrics).
    #[arg(long, env = "RFQ_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// `rfq adapter`.
#[derive(Debug, Args)]
pub struct AdapterArgs {
    /// Kafka, topics, region precision.
    #[command(flatten)]
    pub pipeline: PipelineSettings,
    /// Adapter settings.
    #[command(flatten)]
    pub adapter: AdapterSettings,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `rfq aggregator`.
#[derive(Debug, Args)]
pub struct AggregatorArgs {
    /// Kafka, topics, region precision.
    #[command(flatten)]
    pub pipeline: PipelineSettings,
    /// Aggregator settings.
    #[command(flatten)]
    pub aggregator: AggregatorSettings,
    /// Store settings.
    #[command(flatten)]
    pub store: StoreSettings,
    /// Metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `rfq api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// HTTP listen address.
    #[arg(long, env = "RFQ_HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub http_addr: SocketAddr,
    /// API settings.
    #[command(flatten)]
    pub api: ApiSettings,
    /// Store settings.
    #[command(flatten)]
    pub store: StoreSettings,
    /// How to reach Kafka, for the change notices that wake live streams.
    #[command(flatten)]
    pub kafka: KafkaSettings,
    /// API keys known without the store.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// Topic names (the events topic, and the dead-letter topic for a
    /// record there that is not a notice; the quotes and providers topics
    /// a timeline reads).
    #[command(flatten)]
    pub topics: TopicSettings,
    /// The schema registry, to decode the records a timeline reads.
    #[command(flatten)]
    pub registry: SchemaRegistrySettings,
}

impl Cli {
    /// Parses the process's command line through every layer; on an error
    /// (or `--help`) prints it and exits as clap does.
    pub fn from_env() -> Cli {
        rfq_core::settings::parse_layered(std::env::args_os()).unwrap_or_else(|error| error.exit())
    }

    /// Runs the chosen subcommand until Ctrl-C / SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        match self.command {
            Command::Up(settings) => up(*settings, shutdown).await,
            Command::Broker(args) => broker(args, shutdown).await,
            Command::Producer(args) => producer(args, shutdown).await,
            Command::Adapter(args) => {
                serve_metrics(&args.metrics, &shutdown).await?;
                let pipeline = args.pipeline;
                ensure_topics(&pipeline.kafka, &pipeline.topics).await?;
                let codec = open_codec(&pipeline).await?;
                rfq_adapters::run(pipeline, args.adapter, codec, shutdown).await
            }
            Command::Aggregator(args) => {
                serve_metrics(&args.metrics, &shutdown).await?;
                let pipeline = args.pipeline;
                ensure_topics(&pipeline.kafka, &pipeline.topics).await?;
                let store = open_store(&args.store).await?;
                let codec = open_codec(&pipeline).await?;
                rfq_aggregator::run(pipeline, args.aggregator, store, codec, shutdown).await
            }
            Command::Api(args) => api(args, shutdown).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Keys(args) => crate::keys::run(args).await,
            Command::Partners(args) => crate::partners::run(args).await,
            Command::Explain(args) => crate::explain::run(*args).await,
            Command::Registry(args) => registry(args, shutdown).await,
            Command::Bench(args) => crate::bench::run(*args).await,
        }
    }
}
