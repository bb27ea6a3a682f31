//! The adapter's Kafka loop.

use crate::{
    AdapterSettings,
    fleet::{Fleet, Plan},
    heartbeat,
    metrics::{ANSWERS, RFQS},
};
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::{
    Message,
    consumer::{Consumer, DefaultConsumerContext, StreamConsumer},
    message::BorrowedMessage,
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    Outcome, ProviderStatus, Rfq,
    kafka::{DELIVERY_TIMEOUT, DeadLetters, OffsetTracker, close_consumer},
};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for answers still thinking.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A record whose answers are all delivered: (partition, offset).
type Done = (i32, i64);

/// Runs an adapter until `shutdown`: registers its fleet, answers RFQs,
/// and on shutdown drains in-flight answers, commits and deregisters.
pub async fn run(
    settings: AdapterSettings,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let fleet = Fleet::generate(&settings.name, &settings.fleet);
    let producer = settings
        .kafka
        .producer(&format!("rfq-adapter-{}", settings.name))
        .context("creating the adapter's producer")?;
    let valid_for = settings.heartbeat_interval() * 3;
    let topics = &settings.topics;
    heartbeat::publish(
        &producer,
        &codec,
        &topics.providers_topic,
        &settings.name,
        &fleet,
        ProviderStatus::Online,
        valid_for,
    )
    .await?;
    let consumer: StreamConsumer = settings
        .kafka
        .consumer(
            &format!("rfq-adapter-{}", settings.name),
            &settings.group_id(),
            DefaultConsumerContext,
        )
        .context("creating the adapter's consumer")?;
    consumer
        .subscribe(&[&topics.requests_topic])
        .context("subscribing to the requests topic")?;
    tracing::info!(
        adapter = %settings.name,
        unicorns = fleet.unicorns().len(),
        "adapter started"
    );
    let mut adapter = Adapter {
        dead_letters: DeadLetters::new(
            producer.clone(),
            topics.dead_letter_topic.clone(),
            "adapter",
        ),
        settings: settings.clone(),
        codec: codec.clone(),
        producer: producer.clone(),
        fleet: fleet.clone(),
        tracker: OffsetTracker::default(),
        answering: JoinSet::new(),
    };
    let result = adapter.run_loop(&consumer, valid_for, &shutdown).await;
    adapter.drain(&consumer).await;
    close_consumer(consumer).await;
    if let Err(error) = heartbeat::publish(
        &producer,
        &codec,
        &settings.topics.providers_topic,
        &settings.name,
        &fleet,
        ProviderStatus::Offline,
        valid_for,
    )
    .await
    {
        tracing::warn!(error = format!("{error:#}"), "deregistering the fleet");
    }
    tracing::info!(adapter = %settings.name, "adapter stopped");
    result
}

struct Adapter {
    settings: AdapterSettings,
    codec: SharedCodec,
    producer: FutureProducer,
    dead_letters: DeadLetters,
    fleet: Fleet,
    tracker: OffsetTracker,
    /// Answers being thought about or sent; each task yields its record's (partition, offset).
    answering: JoinSet<Done>,
}

impl Adapter {
    async fn run_loop(
        &mut self,
        consumer: &StreamConsumer,
        valid_for: Duration,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat_interval());
        heartbeat.tick().await;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                Some(joined) = self.answering.join_next() => {
                    if let Ok((partition, offset)) = joined {
                        self.complete(consumer, partition, offset);
                    }
                }
                _ = heartbeat.tick() => {
                    let topic = &self.settings.topics.providers_topic;
                    // A missed renewal is not fatal: registrations outlive three intervals.
                    if let Err(error) = heartbeat::publish(&self.producer, &self.codec, topic, &self.settings.name, &self.fleet, ProviderStatus::Online, valid_for).await {
                        tracing::warn!(error = format!("{error:#}"), "renewing registrations");
                    }
                }
                message = consumer.recv() => {
                    let message = message.context("reading the requests topic")?;
                    self.tracker.begin(message.topic(), message.partition(), message.offset());
                    if self.on_message(&message).await? {
                        // Nothing in flight for it: done now.
                        self.complete(consumer, message.partition(), message.offset());
                    }
                }
            }
        }
    }

    /// Handles one RFQ record; returns true when it needs no answer task.
    async fn on_message(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<bool> {
        let name = self.settings.name.as_str();
        let key = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or_default();
        if !self.fleet.serves(key) {
            RFQS.with_label_values(&[name, "not-served"]).inc();
            return Ok(true);
        }
        let payload = message.payload().unwrap_or_default();
        let rfq = match self.codec.decode(message.topic(), payload).await {
            Ok(Record::Rfq(rfq)) => rfq,
            Ok(other) => {
                let reason = format!("expected an RfqRequest, got {:?}", other.record_type());
                self.dead_letters
                    .send(message, "unexpected-type", &reason)
                    .await?;
                return Ok(true);
            }
            Err(error) => {
                self.dead_letters
                    .send(message, "decode", &error.to_string())
                    .await?;
                return Ok(true);
            }
        };
        if rfq.deadline <= Utc::now() {
            RFQS.with_label_values(&[name, "expired"]).inc();
            return Ok(true);
        }
        RFQS.with_label_values(&[name, "answered"]).inc();
        let plans = self.plans(&rfq);
        if plans.is_empty() {
            return Ok(true);
        }
        let (partition, offset) = (message.partition(), message.offset());
        let producer = self.producer.clone();
        let codec = self.codec.clone();
        let adapter = self.settings.name.clone();
        let address = rfq.return_address.clone();
        self.answering.spawn(async move {
            let sends = plans.into_iter().map(|(after, response)| {
                let (producer, codec, address, adapter) = (&producer, &codec, &address, &adapter);
                async move {
                    tokio::time::sleep(after).await;
                    let kind = match response.outcome {
                        Outcome::Quoted { .. } => "quoted",
                        Outcome::Declined { .. } => "declined",
                    };
                    let key = response.rfq.to_string();
                    let payload = match codec
                        .encode(&address.topic, &Record::Response(response))
                        .await
                    {
                        Ok(payload) => payload,
                        Err(error) => {
                            tracing::error!(%error, "encoding an answer");
                            return;
                        }
                    };
                    send_until_acknowledged(
                        producer,
                        &address.topic,
                        address.partition,
                        &key,
                        &payload,
                    )
                    .await;
                    ANSWERS.with_label_values(&[adapter.as_str(), kind]).inc();
                }
            });
            futures::future::join_all(sends).await;
            (partition, offset)
        });
        Ok(false)
    }

    fn plans(&self, rfq: &Rfq) -> Vec<(Duration, rfq_core::Response)> {
        let mut rng = rand::rng();
        self.fleet
            .addressed(rfq)
            .filter_map(|unicorn| match self.fleet.plan(unicorn, rfq, &mut rng) {
                Plan::Answer { after, response } => Some((after, response)),
                Plan::Silence => None,
            })
            .collect()
    }

    fn complete(&mut self, consumer: &StreamConsumer, partition: i32, offset: i64) {
        let topic = &self.settings.topics.requests_topic;
        // The tracker answers the next offset to consume; librdkafka stores "offset + 1".
        if let Some(next) = self.tracker.complete(topic, partition, offset)
            && let Err(error) = consumer.store_offset(topic, partition, next - 1)
        {
            tracing::debug!(%error, partition, "storing offset (partition revoked?)");
        }
    }

    /// Waits (bounded) for answers in flight, storing their offsets.
    async fn drain(&mut self, consumer: &StreamConsumer) {
        let pending = self.answering.len();
        if pending > 0 {
            tracing::info!(pending, "draining answers in flight");
        }
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(joined) = self.answering.join_next().await {
                if let Ok((partition, offset)) = joined {
                    self.complete(consumer, partition, offset);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = self.answering.len(),
                "answers still in flight at shutdown; their RFQs will be redelivered"
            );
            self.answering.abort_all();
        }
    }
}

/// Sends an answer, retrying until the broker acknowledges it: an offset
/// is only stored after its answers are delivered.
async fn send_until_acknowledged(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    payload: &[u8],
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload);
        match producer.send(record, DELIVERY_TIMEOUT).await {
            Ok(_) => return,
            Err((error, _)) => {
                tracing::warn!(%error, retry_in = ?backoff, "sending an answer");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
