//! Command-line interface: one subcommand per component. Every flag has an
//! environment variable (shown by `--help`), so containers configure the
//! binary through the environment alone.

use crate::{AdapterSpec, Pipeline, UpSettings};
use anyhow::Context as _;
use axum::Router;
use clap::{Args, Parser, Subcommand};
use rfq_adapters::{AdapterSettings, FleetSettings};
use rfq_aggregator::AggregatorSettings;
use rfq_api::ApiSettings;
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::{
    kafka::{KafkaSettings, TopicSettings, ensure_topics},
    shutdown::{CancellationToken, cancel_on_signal},
};
use rfq_producer::{Intake, ProducerSettings};
use rfq_store::StoreSettings;
use std::{net::SocketAddr, path::PathBuf};

/// RFQ scatter-gather pipeline: ride quotes from every unicorn near the pickup point.
#[derive(Debug, Parser)]
#[command(name = "rfq", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine: embedded Kafka broker, producer, simulated
    /// unicorns, aggregator and read API, until Ctrl-C.
    Up(UpArgs),
    /// The embedded Kafka-API broker alone (creates the topics).
    Broker(BrokerArgs),
    /// HTTP intake: POST /rfqs.
    Producer(ProducerArgs),
    /// A unicorn adapter with a simulated fleet.
    Adapter(AdapterArgs),
    /// The windowed aggregator.
    Aggregator(AggregatorArgs),
    /// Read API: GET /rfqs/{id} and /rfqs/{id}/result.
    Api(ApiArgs),
    /// Creates the Kafka topics and the store's schema (idempotent), then
    /// exits: run it once before the services of a deployment.
    Migrate(MigrateArgs),
}

/// `rfq migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// How to reach Kafka.
    #[command(flatten)]
    pub kafka: KafkaSettings,
    /// Topic names and sizes.
    #[command(flatten)]
    pub topics: TopicSettings,
    /// Store settings.
    #[command(flatten)]
    pub store: StoreSettings,
}

/// `rfq up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the embedded Kafka broker (outside clients connect here).
    #[arg(long, env = "RFQ_KAFKA_ADDR", default_value = "127.0.0.1:9092")]
    pub kafka_addr: SocketAddr,
    /// Address of the HTTP API.
    #[arg(long, env = "RFQ_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Directory of the broker's log and the result store (kept across restarts).
    #[arg(long, env = "RFQ_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Keep the broker's data in memory only.
    #[arg(long, env = "RFQ_BROKER_IN_MEMORY")]
    pub broker_in_memory: bool,
    /// Deadline of RFQs that set none, in seconds.
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
    /// Base URL of links in responses (default: from the Host header).
    #[arg(long, env = "RFQ_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Most RFQs open at once; beyond it POST /rfqs answers 503 + Retry-After.
    #[arg(long, env = "RFQ_MAX_OPEN_RFQS", default_value_t = 100_000)]
    pub max_open_rfqs: u64,
    /// Topic names and sizes.
    #[command(flatten)]
    pub topics: TopicSettings,
    /// The simulated fleet (one adapter, "berlin").
    #[command(flatten)]
    pub fleet: FleetSettings,
}

/// `rfq broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Listen address.
    #[arg(long, env = "RFQ_KAFKA_ADDR", default_value = "127.0.0.1:9092")]
    pub kafka_addr: SocketAddr,
    /// Directory of the broker's log.
    #[arg(long, env = "RFQ_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
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

/// `rfq producer`.
#[derive(Debug, Args)]
pub struct ProducerArgs {
    /// HTTP listen address.
    #[arg(long, env = "RFQ_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Producer settings.
    #[command(flatten)]
    pub producer: ProducerSettings,
    /// Store settings.
    #[command(flatten)]
    pub store: StoreSettings,
}

/// `rfq adapter`.
#[derive(Debug, Args)]
pub struct AdapterArgs {
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
}

impl Cli {
    /// Runs the chosen subcommand until Ctrl-C / SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        match self.command {
            Command::Up(args) => up(args, shutdown).await,
            Command::Broker(args) => broker(args, shutdown).await,
            Command::Producer(args) => producer(args, shutdown).await,
            Command::Adapter(args) => {
                serve_metrics(&args.metrics, &shutdown).await?;
                ensure_topics(&args.adapter.kafka, &args.adapter.topics).await?;
                rfq_adapters::run(args.adapter, rfq_avro::default_codec(), shutdown).await
            }
            Command::Aggregator(args) => {
                serve_metrics(&args.metrics, &shutdown).await?;
                let settings = &args.aggregator;
                ensure_topics(&settings.kafka, &settings.topics).await?;
                let store = open_store(&args.store).await?;
                rfq_aggregator::run(args.aggregator, store, rfq_avro::default_codec(), shutdown)
                    .await
            }
            Command::Api(args) => {
                let store = open_store(&args.store).await?;
                let router = rfq_api::router(store, args.api).merge(rfq_core::metrics::router());
                serve(args.http_addr, router, shutdown).await
            }
            Command::Migrate(args) => migrate(args).await,
        }
    }
}

async fn up(args: UpArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let settings = UpSettings {
        external_kafka: None,
        kafka_addr: args.kafka_addr,
        http_addr: args.http_addr,
        data_dir: args.data_dir,
        broker_in_memory: args.broker_in_memory,
        topics: args.topics,
        region_precision: args.fleet.region_precision,
        default_deadline_seconds: args.default_deadline_seconds,
        max_deadline_seconds: args.max_deadline_seconds,
        max_open_rfqs: args.max_open_rfqs,
        adapters: vec![AdapterSpec {
            name: "berlin".into(),
            fleet: args.fleet,
        }],
        public_url: args.public_url,
    };
    eprintln!(
        "starting the RFQ pipeline (data in {}) ...",
        settings.data_dir.display()
    );
    let topics = settings.topics.clone();
    let pipeline = Pipeline::start(settings).await?;
    let http = pipeline.http_addr();
    eprintln!(
        "\nRFQ pipeline up.\n  HTTP API:      http://{http}  (POST /rfqs, GET /rfqs/{{id}}, GET /metrics)\n  Kafka broker:  {}  (topics {}, {}, {}, {})\n\nTry:\n  curl -si -X POST http://{http}/rfqs -H 'content-type: application/json' \\\n    -d '{{\"from\":{{\"lat\":52.52,\"lon\":13.40}},\"to\":{{\"lat\":52.50,\"lon\":13.45}},\"customer\":\"alice\",\"deadline-seconds\":30}}'\n\nCtrl-C stops (in-flight work is drained, offsets committed).",
        pipeline.brokers(),
        topics.requests_topic,
        topics.quotes_topic,
        topics.providers_topic,
        topics.dead_letter_topic,
    );
    let token = pipeline.shutdown_token();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        token.cancel();
    });
    pipeline.run_until_stopped().await?;
    eprintln!("RFQ pipeline stopped.");
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    ensure_topics(&args.kafka, &args.topics)
        .await
        .with_context(|| format!("creating the topics on {}", args.kafka.brokers))?;
    eprintln!(
        "topics ready on {}: {} ({} partitions), {} ({} partitions), {}, {}",
        args.kafka.brokers,
        args.topics.requests_topic,
        args.topics.requests_partitions,
        args.topics.quotes_topic,
        args.topics.quotes_partitions,
        args.topics.providers_topic,
        args.topics.dead_letter_topic,
    );
    open_store(&args.store).await?;
    eprintln!("store schema ready: {}", args.store.describe());
    Ok(())
}

/// Opens the configured store (applying its schema), saying which one.
async fn open_store(
    settings: &StoreSettings,
) -> anyhow::Result<std::sync::Arc<dyn rfq_store::Store>> {
    let store = settings
        .open()
        .await
        .with_context(|| format!("opening the result store ({})", settings.describe()))?;
    tracing::info!(store = %settings.describe(), "result store open");
    Ok(store)
}

async fn broker(args: BrokerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let broker = EmbeddedBroker::start(BrokerSettings {
        listen: args.kafka_addr,
        storage: BrokerStorage::Sqlite(args.data_dir.join("broker.db")),
    })
    .await?;
    ensure_topics(&KafkaSettings::new(broker.addr().to_string()), &args.topics).await?;
    eprintln!("Kafka broker listening on {} (Ctrl-C stops)", broker.addr());
    shutdown.cancelled().await;
    broker.stop().await;
    Ok(())
}

async fn producer(args: ProducerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    ensure_topics(&args.producer.kafka, &args.producer.topics).await?;
    let store = open_store(&args.store).await?;
    let producer = Intake::start(
        args.producer,
        store,
        rfq_avro::default_codec(),
        shutdown.clone(),
    )
    .await?;
    let router = producer.router().merge(rfq_core::metrics::router());
    // The HTTP server and the registry follower stop together: on shutdown,
    // or when either fails (a producer without its registry would address
    // RFQs to nobody), and then the process exits non-zero with the reason.
    let (served, followed) = tokio::join!(
        async {
            let served = serve(args.http_addr, router, shutdown.clone()).await;
            shutdown.cancel();
            served
        },
        async {
            let followed = producer.stopped().await;
            shutdown.cancel();
            followed
        },
    );
    followed.context("producer")?;
    served
}

async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    rfq_core::http::serve(listener, router, shutdown).await?;
    Ok(())
}

async fn serve_metrics(args: &MetricsArgs, shutdown: &CancellationToken) -> anyhow::Result<()> {
    if let Some(addr) = args.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint to {addr}"))?;
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) =
                rfq_core::http::serve(listener, rfq_core::metrics::router(), shutdown).await
            {
                tracing::error!(%error, "metrics endpoint stopped");
            }
        });
    }
    Ok(())
}
