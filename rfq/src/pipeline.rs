//! `rfq up`: broker, producer, adapters, aggregator and read API in one
//! process, all talking Kafka through rdkafka to the embedded broker.

use anyhow::Context as _;
use axum::Router;
use rfq_adapters::{AdapterSettings, FleetSettings, fleet::Fleet};
use rfq_aggregator::AggregatorSettings;
use rfq_api::ApiSettings;
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::{
    ProviderId, RegionPrecision,
    kafka::{KafkaSettings, TopicSettings, ensure_topics},
};
use rfq_producer::{Intake, ProducerSettings};
use rfq_store::{Store, StoreSettings};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One simulated adapter of the embedded pipeline.
#[derive(Debug, Clone)]
pub struct AdapterSpec {
    /// Adapter name (prefix of its unicorns' ids).
    pub name: String,
    /// Its fleet.
    pub fleet: FleetSettings,
}

/// Settings of the embedded pipeline.
#[derive(Debug, Clone)]
pub struct UpSettings {
    /// An outside Kafka to run against instead of starting the embedded
    /// broker (the tests run every pipeline test on both).
    pub external_kafka: Option<KafkaSettings>,
    /// Where the embedded broker listens (port 0: any free port).
    pub kafka_addr: SocketAddr,
    /// Where the HTTP API listens (port 0: any free port).
    pub http_addr: SocketAddr,
    /// Broker log and result store live here.
    pub data_dir: PathBuf,
    /// Keep broker data in memory only (lost at exit).
    pub broker_in_memory: bool,
    /// Topic names and sizes.
    pub topics: TopicSettings,
    /// Geohash characters per region.
    pub region_precision: RegionPrecision,
    /// Deadline of RFQs that set none, in seconds.
    pub default_deadline_seconds: u32,
    /// Longest deadline allowed, in seconds.
    pub max_deadline_seconds: u32,
    /// Most RFQs open at once before `POST /rfqs` answers 503.
    pub max_open_rfqs: u64,
    /// The simulated adapters.
    pub adapters: Vec<AdapterSpec>,
    /// Base URL of links (default: from the Host header).
    pub public_url: Option<String>,
}

/// The running pipeline.
pub struct Pipeline {
    /// The embedded broker, unless the pipeline runs against an outside Kafka.
    broker: Option<EmbeddedBroker>,
    /// How the components reach Kafka.
    kafka: KafkaSettings,
    http_addr: SocketAddr,
    store: Arc<dyn Store>,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: CancellationToken,
}

impl Pipeline {
    /// Starts everything and returns once the HTTP API serves and every
    /// simulated unicorn is registered (so the first RFQ reaches the whole fleet).
    pub async fn start(settings: UpSettings) -> anyhow::Result<Pipeline> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let (broker, kafka) = match &settings.external_kafka {
            Some(kafka) => (None, kafka.clone()),
            None => {
                let storage = if settings.broker_in_memory {
                    BrokerStorage::Memory
                } else {
                    BrokerStorage::Sqlite(settings.data_dir.join("broker.db"))
                };
                let broker = EmbeddedBroker::start(BrokerSettings {
                    listen: settings.kafka_addr,
                    storage,
                })
                .await?;
                let kafka = KafkaSettings::new(broker.addr().to_string());
                (Some(broker), kafka)
            }
        };
        ensure_topics(&kafka, &settings.topics).await?;
        let store: Arc<dyn Store> = StoreSettings::embedded(settings.data_dir.join("results.db"))
            .open()
            .await
            .context("opening the result store")?;
        let codec = rfq_avro::default_codec();
        let shutdown = CancellationToken::new();
        let mut pipeline = Pipeline {
            broker,
            kafka: kafka.clone(),
            http_addr: settings.http_addr,
            store: store.clone(),
            tasks: JoinSet::new(),
            shutdown: shutdown.clone(),
        };
        match pipeline
            .spawn_components(&settings, kafka, store, codec)
            .await
        {
            Ok(http_addr) => {
                pipeline.http_addr = http_addr;
                tracing::info!(%http_addr, kafka = %pipeline.kafka.brokers, "pipeline up");
                Ok(pipeline)
            }
            Err(error) => {
                // Stop what did start before reporting the failure.
                let _ = pipeline.stop().await;
                Err(error)
            }
        }
    }

    async fn spawn_components(
        &mut self,
        settings: &UpSettings,
        kafka: KafkaSettings,
        store: Arc<dyn Store>,
        codec: rfq_avro::SharedCodec,
    ) -> anyhow::Result<SocketAddr> {
        let topics = settings.topics.clone();
        let shutdown = self.shutdown.clone();
        let tasks = &mut self.tasks;
        tasks.spawn({
            let aggregator = AggregatorSettings::new(kafka.clone(), topics.clone());
            let (store, codec, shutdown) = (store.clone(), codec.clone(), shutdown.clone());
            async move {
                (
                    "aggregator",
                    rfq_aggregator::run(aggregator, store, codec, shutdown).await,
                )
            }
        });
        let mut unicorns: Vec<ProviderId> = Vec::new();
        for spec in &settings.adapters {
            let mut adapter = AdapterSettings::new(kafka.clone(), topics.clone(), &spec.name);
            adapter.fleet = spec.fleet.clone();
            adapter.fleet.region_precision = settings.region_precision;
            unicorns.extend(
                Fleet::generate(&adapter.name, &adapter.fleet)
                    .unicorns()
                    .iter()
                    .map(|u| u.id.clone()),
            );
            let (codec, shutdown) = (codec.clone(), shutdown.clone());
            tasks.spawn(
                async move { ("adapter", rfq_adapters::run(adapter, codec, shutdown).await) },
            );
        }

        let mut producer_settings = ProducerSettings::new(kafka.clone(), topics.clone());
        producer_settings.region_precision = settings.region_precision;
        producer_settings.default_deadline_seconds = settings.default_deadline_seconds;
        producer_settings.max_deadline_seconds = settings.max_deadline_seconds;
        producer_settings.max_open_rfqs = settings.max_open_rfqs;
        producer_settings.public_url = settings.public_url.clone();
        let producer =
            Intake::start(producer_settings, store.clone(), codec, shutdown.clone()).await?;
        tasks.spawn({
            let producer = producer.clone();
            async move { ("producer", producer.stopped().await) }
        });
        producer
            .registry()
            .wait_for(&unicorns, Duration::from_secs(60))
            .await?;

        let listener = tokio::net::TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding the HTTP API to {}", settings.http_addr))?;
        let http_addr = listener.local_addr()?;
        let router = Router::new()
            .merge(producer.router())
            .merge(rfq_api::router(
                store.clone(),
                ApiSettings {
                    public_url: settings.public_url.clone(),
                },
            ))
            .merge(rfq_core::metrics::router());
        tasks.spawn({
            let shutdown = shutdown.clone();
            async move {
                let result = rfq_core::http::serve(listener, router, shutdown).await;
                ("http", result.map_err(anyhow::Error::from))
            }
        });
        Ok(http_addr)
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The Kafka bootstrap servers the components use (the embedded
    /// broker's address unless an outside Kafka was given).
    pub fn brokers(&self) -> &str {
        &self.kafka.brokers
    }

    /// The result store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The token that stops the pipeline.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled (or a component fails),
    /// then drains every component and stops the broker.
    ///
    /// Components run until shutdown: one that ends before shutdown was
    /// requested failed, even if it ended without an error, and the
    /// pipeline then stops with an error naming it (so `rfq up` exits
    /// non-zero with the reason).
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            // Asked before the pipeline's own cancel below, which only
            // follows a component's end.
            let requested = self.shutdown.is_cancelled();
            let (component, result) = joined.unwrap_or_else(|e| ("task", Err(e.into())));
            let result = match result {
                Ok(()) if !requested => Err(anyhow::anyhow!(
                    "stopped although no shutdown was requested"
                )),
                other => other,
            };
            if let Err(error) = result {
                tracing::error!(
                    component,
                    error = format!("{error:#}"),
                    "component failed; stopping"
                );
                first_error.get_or_insert(error.context(format!("component {component} failed")));
            }
            // One component ending (failed or not) stops the others.
            self.shutdown.cancel();
        }
        if let Some(broker) = self.broker {
            broker.stop().await;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the pipeline and waits until it is down.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.run_until_stopped().await
    }
}
