//! Each subcommand run as its own process: the role started, its HTTP
//! routes served until shutdown, its store and codec opened.

use super::{ApiArgs, BrokerArgs, MetricsArgs, MigrateArgs, RegistryArgs};
use crate::{IntakeSettings, Pipeline, UpSettings};
use anyhow::Context as _;
use axum::Router;
use rfq_api::live::LiveEvents;
use rfq_core::auth::Authenticator;
use rfq_core::{
    kafka::{KafkaSettings, ensure_topics},
    pipeline::PipelineSettings,
    shutdown::CancellationToken,
};
use rfq_producer::Intake;
use rfq_store::StoreSettings;
use std::{net::SocketAddr, sync::Arc};

/// `rfq api`: the read API alone, its live streams following the change
/// notices.
pub(super) async fn api(args: ApiArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
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
    let explainer = rfq_explain::Explainer::new(args.kafka, args.topics, codec, store.clone());
    let router = rfq_api::router(store, args.api, live, auth, explainer)
        .merge(rfq_core::metrics::router())
        .merge(rfq_core::openapi::router(document));
    // The notices gone, streams would wait out their re-check for every
    // event: the process ends and says why (and the other way round).
    serve_beside(args.http_addr, router, shutdown, async {
        follower.await.context("following the change notices")
    })
    .await
}

pub(super) async fn up(settings: UpSettings, shutdown: CancellationToken) -> anyhow::Result<()> {
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
    let doors: Vec<String> = settings
        .adapter
        .doors
        .iter()
        .map(|partner| partner.door().prefix())
        .collect();
    let partners_line = match doors.is_empty() {
        true => partners_line,
        false => format!(
            "{partners_line}  Partner doors:    {}*  (docs/partners.md; metrics rfq_door_*)\n",
            doors.join("*, ")
        ),
    };
    let kafka_access = match (
        settings.intake.pipeline.kafka.brokers.is_some(),
        settings.broker.kafka_open,
    ) {
        (true, _) => String::new(),
        (false, true) => {
            "  Kafka access:     OPEN (--kafka-open): any client reads and writes every topic\n"
                .to_owned()
        }
        (false, false) => format!(
            "  Kafka access:     SASL/SCRAM-SHA-256 only; a partner (rfq partners add NAME) reaches its own door only;\n                    our components' settings for this run: {}\n",
            data_dir.join(crate::OPERATOR_PROPERTIES).display()
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
                    "  Demo API key:     {}  (customer {}; kept in {})\n  Operator key:     in {}  (reads every scorecard: GET /providers)\n",
                    key.expose(),
                    crate::demo_key::DEMO_CUSTOMER,
                    file.display(),
                    crate::demo_key::operator_path(&data_dir).display()
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
        "\nRFQ pipeline up.\n  Customer page:    {page}  (ask for quotes in a browser, watch them arrive)\n  HTTP API:         http://{http}  (POST /rfqs, GET /rfqs/{{id}}, GET /rfqs/{{id}}/events, GET /metrics)\n{key_line}{partners_line}  Schema registry:  {}  (Confluent's REST API; HTTP Basic: user rfq-operator with --registry-operator-password, or a partner's own from rfq partners add)\n  Kafka broker:     {}  (topics {})\n{kafka_access}\nTry:\n  curl -si -X POST http://{http}/rfqs -H \"authorization: Bearer {bearer}\" \\\n    -H 'content-type: application/json' \\\n    -d '{{\"from\":{{\"lat\":52.52,\"lon\":13.40}},\"to\":{{\"lat\":52.50,\"lon\":13.45}},\"deadline-seconds\":30}}'\n\nCtrl-C stops (in-flight work is drained, offsets committed).",
        pipeline.schema_registry_url(),
        pipeline.brokers(),
        // The topics the pipeline creates, as it creates them.
        topics
            .wanted()
            .iter()
            .map(|topic| topic.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
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

pub(super) async fn registry(
    args: RegistryArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (kafka, topics) = (&args.pipeline.kafka, &args.pipeline.topics);
    let topic = &args.registry.schemas_topic;
    let log = rfq_registry::KafkaLog::open(kafka, topic, topics.replication_factor).await?;
    let registry = rfq_registry::Registry::open(Box::new(log))
        .await
        .with_context(|| format!("replaying {topic}"))?;
    // Guarded with an operator password (partners from the store), else
    // open, as behind a gateway of its own.
    let router = match &args.registry.operator_password {
        Some(password) => {
            let password = rfq_core::auth::ApiKey::parse(password)
                .context("--registry-operator-password (RFQ_REGISTRY_OPERATOR_PASSWORD)")?;
            let store = open_store(&args.store).await?;
            let partners = rfq_store::StorePartners(store);
            let partners = rfq_core::auth::partners::CachedPartners::new(Arc::new(partners));
            let access = rfq_registry::Access::new(&password, Arc::new(partners));
            rfq_registry::guarded(registry, access)
        }
        None => {
            tracing::warn!("no --registry-operator-password: the registry is open to anyone");
            rfq_registry::router(registry)
        }
    };
    serve(args.registry.schema_registry_addr, router, shutdown).await
}

pub(super) async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
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
pub(super) async fn open_store(
    settings: &StoreSettings,
) -> anyhow::Result<std::sync::Arc<dyn rfq_store::Store>> {
    let store = settings
        .open()
        .await
        .with_context(|| format!("opening the result store ({})", settings.describe()))?;
    tracing::info!(store = %settings.describe(), "result store open");
    Ok(store)
}

pub(super) async fn broker(args: BrokerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let broker = args.broker.start().await?;
    ensure_topics(&KafkaSettings::new(broker.addr().to_string()), &args.topics).await?;
    eprintln!(
        "Kafka broker listening on {} (Ctrl-C stops). It is open: any client that \
         reaches the port reads and writes every topic (rfq up authenticates; for \
         partners, use Apache Kafka with SASL and ACLs, see docs/partners.md)",
        broker.addr()
    );
    shutdown.cancelled().await;
    broker.stop().await;
    Ok(())
}

pub(super) async fn producer(
    args: IntakeSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
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
    // A producer without its registry would address RFQs to nobody.
    serve_beside(args.http_addr, router, shutdown, async {
        producer.stopped().await.context("producer")
    })
    .await
}

/// Serves `router` at `addr` beside `follower`, which the server needs:
/// they stop together, on shutdown or when either ends (the server could
/// not bind or failed, the follower failed), and then the process exits
/// non-zero with the follower's reason first.
async fn serve_beside(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
    follower: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let (served, followed) = tokio::join!(
        async {
            let served = serve(addr, router, shutdown.clone()).await;
            shutdown.cancel();
            served
        },
        async {
            let followed = follower.await;
            shutdown.cancel();
            followed
        },
    );
    followed?;
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

pub(super) async fn serve_metrics(
    args: &MetricsArgs,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
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
