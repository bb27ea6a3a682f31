//! The producer's worker: the [`Intake`] that turns a checked submission
//! into an RFQ addressed to the providers near its pickup point and durable
//! in Kafka and the store, and that follows the provider registry.

use crate::{
    ProducerSettings,
    admission::Admission,
    body::{self, NewRfq},
    customers::CustomerLimits,
    error::IntakeError,
    lag::{self, Lags},
    metrics::ADDRESSED,
    registry::{self, Registry},
    routes,
};
use anyhow::Context as _;
use axum::Router;
use chrono::Utc;
use rdkafka::producer::FutureRecord;
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::Producer;
use rfq_core::{
    CorrelationId, CustomerId, Effect, Region, ReturnAddress, Rfq,
    auth::Authenticator,
    kafka::{DELIVERY_TIMEOUT, DeadLetters},
    pipeline::PipelineSettings,
};
use rfq_store::Store;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The running producer's intake of RFQs: shared by its HTTP handlers.
/// Owns the role's Kafka producer and the provider registry's follower.
#[derive(Clone)]
pub struct Intake {
    /// Shared by every clone (one per request handler).
    inner: Arc<Inner>,
}

struct Inner {
    /// What every role shares (Kafka, topics, region precision).
    pipeline: PipelineSettings,
    /// The producer's own settings.
    settings: ProducerSettings,
    /// The tasks following the providers and the progress topics; their
    /// results say why they ended.
    followers: std::sync::Mutex<Vec<tokio::task::JoinHandle<anyhow::Result<()>>>>,
    /// Partitions of the quotes topic (read from the broker at start).
    quote_partitions: i32,
    /// Who is where: the providers an RFQ is addressed to.
    registry: Registry,
    /// Writes the RFQ to its return address and the requests topic.
    producer: Producer,
    /// Encodes the RFQ.
    codec: SharedCodec,
    /// Records the RFQ before the 202.
    store: Arc<dyn Store>,
    /// The bound on open RFQs and on the aggregators' lag.
    admission: Admission,
    /// How far behind the aggregators are (for the admission and the ETA).
    lags: Lags,
    /// The bound on submissions handled at once.
    submissions: Arc<tokio::sync::Semaphore>,
    /// Who is asking (API keys).
    auth: Authenticator,
    /// What each customer may submit.
    customers: CustomerLimits,
}

impl Intake {
    /// Connects to Kafka, starts following the provider registry, and
    /// returns the intake whose [`Intake::router`] serves `POST /rfqs`.
    pub async fn start(
        pipeline: PipelineSettings,
        settings: ProducerSettings,
        store: Arc<dyn Store>,
        codec: SharedCodec,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Intake> {
        let producer = pipeline
            .kafka
            .producer("rfq-producer")
            .context("creating the Kafka producer")?;
        let quotes = pipeline.topics.quotes_topic.clone();
        let metadata = tokio::task::spawn_blocking({
            let (producer, quotes) = (producer.clone(), quotes.clone());
            move || {
                producer
                    .client()
                    .fetch_metadata(Some(&quotes), Duration::from_secs(10))
            }
        })
        .await?
        .with_context(|| format!("reading metadata of {quotes}"))?;
        let quote_partitions = metadata
            .topics()
            .first()
            .map(|topic| topic.partitions().len())
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n > 0)
            .with_context(|| format!("topic {quotes} does not exist (create the topics first)"))?;
        let registry = Registry::default();
        let dead_letters = DeadLetters::new(
            producer.clone(),
            pipeline.topics.dead_letter_topic.clone(),
            "producer",
        );
        let registry_task = {
            let (kafka, topic) = (
                pipeline.kafka.clone(),
                pipeline.topics.providers_topic.clone(),
            );
            let (registry, codec) = (registry.clone(), codec.clone());
            let precision = pipeline.region_precision;
            let (dead_letters, stop) = (dead_letters.clone(), shutdown.clone());
            follower(
                "the provider registry",
                topic.clone(),
                shutdown.clone(),
                async move {
                    registry::follow(kafka, topic, precision, registry, codec, dead_letters, stop)
                        .await
                },
            )
        };
        let lags = Lags::default();
        let lags_task = {
            let (kafka, topic) = (
                pipeline.kafka.clone(),
                pipeline.topics.progress_topic.clone(),
            );
            let follow = lag::follow(
                kafka,
                topic.clone(),
                lags.clone(),
                dead_letters,
                shutdown.clone(),
            );
            follower("the aggregators' progress", topic, shutdown, follow)
        };
        let auth = Authenticator::new(
            settings
                .auth
                .configured()
                .context("reading the API keys (--api-keys, --api-keys-file)")?,
            Some(Arc::new(rfq_store::StoreKeys(store.clone()))),
        );
        Ok(Intake {
            inner: Arc::new(Inner {
                auth,
                customers: CustomerLimits::new(settings.customers),
                followers: std::sync::Mutex::new(vec![registry_task, lags_task]),
                quote_partitions,
                registry,
                producer,
                codec,
                admission: Admission::new(
                    settings.max_open_rfqs,
                    store.clone(),
                    lags.clone(),
                    settings.max_aggregator_lag_ms,
                ),
                lags,
                submissions: Arc::new(tokio::sync::Semaphore::new(
                    settings.max_concurrent_submissions.max(1),
                )),
                store,
                pipeline,
                settings,
            }),
        })
    }

    /// The routes of the producer: `POST /rfqs`.
    pub fn router(&self) -> Router {
        routes::router(self.clone())
    }

    /// Its part of the OpenAPI document ([`crate::openapi::part`]).
    pub fn openapi(&self) -> serde_json::Value {
        crate::openapi::part(&self.inner.settings)
    }

    /// Who is asking: shared with a read API served alongside (`rfq up`).
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// What each customer may submit.
    pub(crate) fn customers(&self) -> &CustomerLimits {
        &self.inner.customers
    }

    /// The provider registry this intake addresses RFQs from.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Waits until the followers (of the provider registry and of the
    /// aggregators' progress) have stopped, so that their Kafka clients are
    /// closed before the broker goes away. They stop on shutdown (then this
    /// is `Ok`) or when one fails for good: then this is the error, and the
    /// caller must stop the producer (without an up to date registry it
    /// would address RFQs to the wrong providers; without the progress, it
    /// would refuse every RFQ as the reports age). A second call returns
    /// `Ok` at once.
    pub async fn stopped(&self) -> anyhow::Result<()> {
        let mut tasks = std::mem::take(
            &mut *self
                .inner
                .followers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        while !tasks.is_empty() {
            let (ended, _, rest) = futures::future::select_all(tasks).await;
            ended.context("a follower task")??;
            tasks = rest;
        }
        Ok(())
    }

    /// When the result of `rfq` should come at the latest, as of now: its
    /// deadline, plus how far behind its partition's aggregator is.
    pub(crate) fn eta(&self, rfq: &Rfq) -> chrono::DateTime<Utc> {
        let partition = rfq.return_address.partition;
        let lag = self.inner.lags.estimate(partition, Utc::now());
        rfq.deadline + lag.unwrap_or_default().max(chrono::Duration::zero())
    }

    /// A slot for one submission, or [`IntakeError::Busy`] when every slot
    /// is taken; held until the submission is answered.
    pub(crate) fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, IntakeError> {
        self.inner
            .submissions
            .clone()
            .try_acquire_owned()
            .map_err(|_| IntakeError::Busy(self.inner.settings.max_concurrent_submissions))
    }

    pub(crate) fn settings(&self) -> &ProducerSettings {
        &self.inner.settings
    }

    /// The store RFQs (and idempotency keys) are recorded in.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    pub(crate) fn parse(&self, bytes: &[u8], customer: &CustomerId) -> Result<NewRfq, IntakeError> {
        body::parse(bytes, self.inner.settings.limits, customer)
    }

    /// Accepts a checked submission as the RFQ `id`: addresses it, makes
    /// it durable in Kafka and the store, and returns the RFQ.
    pub(crate) async fn accept(&self, new: NewRfq, id: CorrelationId) -> Result<Rfq, IntakeError> {
        let inner = &self.inner;
        inner
            .admission
            .admit(id.partition(inner.quote_partitions))
            .await?;
        let now = Utc::now();
        let region = Region::of(&new.from, inner.pipeline.region_precision);
        let deadline = now
            + chrono::Duration::from_std(new.deadline)
                .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
        let vicinity = inner.pipeline.vicinity();
        let addressed = inner.registry.live_near(&new.from, &vicinity, now);
        let rfq = Rfq {
            id,
            completion: new.completion.resolve(addressed.len()),
            addressed,
            radius: Some(vicinity.radius),
            region,
            customer: new.customer,
            from: new.from,
            to: new.to,
            created_at: now,
            deadline,
            return_address: ReturnAddress {
                topic: inner.pipeline.topics.quotes_topic.clone(),
                partition: id.partition(inner.quote_partitions),
            },
        };
        ADDRESSED.observe(rfq.addressed.len() as f64);
        let unavailable = |e: &dyn std::fmt::Display| IntakeError::Unavailable(e.to_string());
        let record = Record::Rfq(rfq.clone());
        let payload = inner
            .codec
            .encode(&rfq.return_address.topic, &record)
            .await
            .map_err(|e| unavailable(&e))?;
        let key = id.to_string();
        // 1. The aggregator's copy, in the partition that owns the RFQ.
        self.send(
            FutureRecord::to(&rfq.return_address.topic)
                .partition(rfq.return_address.partition)
                .key(key.as_str())
                .payload(payload.as_slice()),
        )
        .await?;
        // 2. The store, so that the status resource exists before the 202.
        inner
            .store
            .apply(&[Effect::Open(rfq.clone())])
            .await
            .map_err(|e| unavailable(&e))?;
        // 3. The broadcast, keyed by the pickup's region: every adapter with
        //    a unicorn within the radius of it reads that region.
        let requests = &inner.pipeline.topics.requests_topic;
        let payload = inner
            .codec
            .encode(requests, &record)
            .await
            .map_err(|e| unavailable(&e))?;
        self.send(
            FutureRecord::to(requests)
                .key(rfq.region.as_str())
                .payload(payload.as_slice()),
        )
        .await?;
        tracing::debug!(%id, region = %rfq.region, addressed = rfq.addressed.len(), "RFQ accepted");
        Ok(rfq)
    }

    async fn send(&self, record: FutureRecord<'_, str, [u8]>) -> Result<(), IntakeError> {
        self.inner
            .producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| IntakeError::Unavailable(format!("Kafka: {error}")))
    }
}

/// Runs `follow` (following `topic`, for `what`) as a task that only a
/// shutdown may end: any other end is a failure, which
/// [`Intake::stopped`] reports.
fn follower(
    what: &'static str,
    topic: String,
    shutdown: CancellationToken,
    follow: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let result = match follow.await {
            Ok(()) if !shutdown.is_cancelled() => Err(anyhow::anyhow!(
                "stopped reading {topic} although no shutdown was requested"
            )),
            other => other.with_context(|| format!("following {what} on {topic}")),
        };
        if let Err(error) = &result {
            tracing::error!(error = format!("{error:#}"), "{what} stopped");
        }
        result
    })
}
