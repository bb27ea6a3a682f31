//! Command-line interface: one subcommand per component.
//!
//! Every setting is declared once, by the component that uses it, and
//! layered the same way for every subcommand (defaults < settings file <
//! environment < flags; see [`rfq_core::settings`]). Every flag has an
//! environment variable (shown by `--help`), so containers configure the
//! binary through the environment alone; `--config FILE` reads a YAML file
//! whose keys are the flag names.

use crate::{EmbeddedBrokerSettings, IntakeSettings, Pipeline, UpSettings};
use anyhow::Context as _;
use axum::Router;
use clap::{Args, Parser, Subcommand};
use rfq_adapters::AdapterSettings;
use rfq_aggregator::AggregatorSettings;
use rfq_api::{ApiSettings, live::LiveEvents};
use rfq_core::auth::{AuthSettings, Authenticator};
use rfq_core::{
    kafka::{KafkaSettings, TopicSettings, ensure_topics},
    pipeline::{PipelineSettings, SchemaRegistrySettings},
    shutdown::{CancellationToken, cancel_on_signal},
};
use rfq_producer::Intake;
use rfq_store::StoreSettings;
use std::{net::SocketAddr, path::PathBuf, sync::Arc};

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
    /// A unicorn adapter with a simulated fleet.
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
    /// Customers' API keys in the result store (`rfq keys add --customer
    /// NAME` prints a new key).
    Keys(crate::keys::KeysArgs),
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
            Command::Api(args) => {
                ensure_topics(&args.kafka, &args.topics).await?;
                let store = open_store(&args.store).await?;
                let auth = Authenticator::new(
                    args.auth
                        .configured()
                        .context("reading the API keys (--api-keys, --api-keys-file)")?,
                    Some(Arc::new(rfq_store::StoreKeys(store.clone()))),
                );
                let live = LiveEvents::new(args.api.live.clone(), shutdown.clone());
                let follower = live.follow(&args.kafka, &args.topics).await?;
                let document = rfq_core::openapi::document([rfq_api::openapi::part()]);
                let pipeline = PipelineSettings {
                    kafka: args.kafka.clone(),
                    topics: args.topics.clone(),
                    registry: args.registry.clone(),
                    ..PipelineSettings::default()
                };
                // Reading only: nothing to register.
                let codec = rfq_avro::codec(&pipeline).context("the schema registry settings")?;
                let explainer =
                    rfq_explain::Explainer::new(args.kafka, args.topics, codec, store.clone());
                let router = rfq_api::router(store, args.api, live, auth, explainer)
                    .merge(rfq_core::metrics::router())
                    .merge(rfq_core::openapi::router(document));
                let (served, followed) = tokio::join!(
                    async {
                        // The server gone (it could not bind, or it failed),
                        // the notices stop too: the process ends and says why.
                        let served = serve(args.http_addr, router, shutdown.clone()).await;
                        shutdown.cancel();
                        served
                    },
                    follower
                );
                served.and(followed)
            }
            Command::Migrate(args) => migrate(args).await,
            Command::Keys(args) => crate::keys::run(args).await,
            Command::Explain(args) => crate::explain::run(*args).await,
            Command::Registry(args) => registry(args, shutdown).await,
            Command::Bench(args) => crate::bench::run(*args).await,
        }
    }
}

async fn up(settings: UpSettings, shutdown: CancellationToken) -> anyhow::Result<()> {
    eprintln!(
        "starting the RFQ pipeline (data in {}) ...",
        settings.broker.data_dir.display()
    );
    let topics = settings.intake.pipeline.topics.clone();
    let data_dir = settings.broker.data_dir.clone();
    let partners: Vec<String> = settings
        .adapter
        .partners
        .partners
        .iter()
        .map(|p| format!("{} at {}", p.name, p.url))
        .collect();
    let partners_line = match partners.is_empty() {
        true => String::new(),
        false => format!(
            "  HTTP partners:    {}  (metrics rfq_partner_*)\n",
            partners.join(", ")
        ),
    };
    let pipeline = Pipeline::start(settings).await?;
    let http = pipeline.http_addr();
    let (page, key_line, bearer) = match pipeline.demo_key() {
        Some(key) => {
            let file = crate::demo_key::path(&data_dir);
            (
                format!("http://{http}/?key={}", key.expose()),
                format!(
                    "  Demo API key:     {}  (customer {}; kept in {})\n",
                    key.expose(),
                    crate::demo_key::DEMO_CUSTOMER,
                    file.display()
                ),
                format!("$(cat {})", file.display()),
            )
        }
        None => (
            format!("http://{http}/"),
            "  API keys:         as configured (--api-keys, --api-keys-file, rfq keys add)\n"
                .to_owned(),
            "<your API key>".to_owned(),
        ),
    };
    eprintln!(
        "\nRFQ pipeline up.\n  Customer page:    {page}  (ask for quotes in a browser, watch them arrive)\n  HTTP API:         http://{http}  (POST /rfqs, GET /rfqs/{{id}}, GET /rfqs/{{id}}/events, GET /metrics)\n{key_line}{partners_line}  Schema registry:  {}  (Confluent's REST API)\n  Kafka broker:     {}  (topics {}, {}, {}, {}, {})\n\nTry:\n  curl -si -X POST http://{http}/rfqs -H \"authorization: Bearer {bearer}\" \\\n    -H 'content-type: application/json' \\\n    -d '{{\"from\":{{\"lat\":52.52,\"lon\":13.40}},\"to\":{{\"lat\":52.50,\"lon\":13.45}},\"deadline-seconds\":30}}'\n\nCtrl-C stops (in-flight work is drained, offsets committed).",
        pipeline.schema_registry_url(),
        pipeline.brokers(),
        topics.requests_topic,
        topics.quotes_topic,
        topics.providers_topic,
        topics.dead_letter_topic,
        topics.events_topic,
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

async fn registry(args: RegistryArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (kafka, topics) = (&args.pipeline.kafka, &args.pipeline.topics);
    let topic = &args.registry.schemas_topic;
    let log = rfq_registry::KafkaLog::open(kafka, topic, topics.replication_factor).await?;
    let registry = rfq_registry::Registry::open(Box::new(log))
        .await
        .with_context(|| format!("replaying {topic}"))?;
    serve(
        args.registry.schema_registry_addr,
        rfq_registry::router(registry),
        shutdown,
    )
    .await
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let (kafka, topics) = (&args.pipeline.kafka, &args.pipeline.topics);
    ensure_topics(kafka, topics)
        .await
        .with_context(|| format!("creating the topics on {}", kafka.brokers()))?;
    eprintln!(
        "topics ready on {}: {} ({} partitions), {} ({} partitions), {}, {}",
        kafka.brokers(),
        topics.requests_topic,
        topics.requests_partitions,
        topics.quotes_topic,
        topics.quotes_partitions,
        topics.providers_topic,
        topics.dead_letter_topic,
    );
    // A one-shot command: a registry that never answers is an error here,
    // not something to wait out.
    let level = Some(args.schema_compatibility.as_str());
    let registered = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        rfq_avro::register(&args.pipeline, level),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the schema registry did not answer within 120 s"))
    .with_context(|| registering(&args.pipeline))?;
    let (_, registrations) = registered.with_context(|| registering(&args.pipeline))?;
    eprintln!("schemas registered at {}:", args.pipeline.registry.url());
    for r in &registrations {
        eprintln!(
            "  {} (id {}, compatibility {}): {}",
            r.subject,
            r.id,
            r.compatibility,
            r.record_type.full_name()
        );
    }
    open_store(&args.store).await?;
    eprintln!("store schema ready: {}", args.store.describe());
    Ok(())
}

/// The pipeline's codec, every schema it writes registered first (a
/// registry that refuses stops the component with its reason).
pub(crate) async fn open_codec(
    pipeline: &PipelineSettings,
) -> anyhow::Result<rfq_avro::SharedCodec> {
    let (codec, _) = rfq_avro::open_codec(pipeline)
        .await
        .with_context(|| registering(pipeline))?;
    Ok(codec)
}

fn registering(pipeline: &PipelineSettings) -> String {
    format!(
        "registering the pipeline's schemas at {}",
        pipeline.registry.url()
    )
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
    let broker = args.broker.start().await?;
    ensure_topics(&KafkaSettings::new(broker.addr().to_string()), &args.topics).await?;
    eprintln!("Kafka broker listening on {} (Ctrl-C stops)", broker.addr());
    shutdown.cancelled().await;
    broker.stop().await;
    Ok(())
}

async fn producer(args: IntakeSettings, shutdown: CancellationToken) -> anyhow::Result<()> {
    ensure_topics(&args.pipeline.kafka, &args.pipeline.topics).await?;
    let store = open_store(&args.store).await?;
    let codec = open_codec(&args.pipeline).await?;
    let producer =
        Intake::start(args.pipeline, args.producer, store, codec, shutdown.clone()).await?;
    // Each process describes the routes it serves (a gateway in front of
    // the producer and the read API merges their documents' paths).
    let document = rfq_core::openapi::document([producer.openapi()]);
    let router = producer
        .router()
        .merge(rfq_core::metrics::router())
        .merge(rfq_core::openapi::router(document));
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
