//! The adapter's Kafka loop.

use crate::{
    AdapterSettings,
    fleet::{Fleet, Plan},
    heartbeat,
    metrics::{ANSWERS, RFQS},
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::{
    Message,
    consumer::{Consumer, DefaultConsumerContext, StreamConsumer},
    message::BorrowedMessage,
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    Outcome, ProviderStatus, Response, Rfq,
    kafka::{
        DELIVERY_TIMEOUT, DeadLetter, DeadLetterKind, DeadLetterSource, DeadLetters, OffsetTracker,
        close_consumer, on_consumer_error,
    },
    settings::PipelineSettings,
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
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let fleet = Fleet::generate(&settings.name, &settings.fleet, pipeline.region_precision);
    let producer = pipeline
        .kafka
        .producer(&format!("rfq-adapter-{}", settings.name))
        .context("creating the adapter's producer")?;
    let valid_for = settings.heartbeat_interval() * 3;
    let topics = &pipeline.topics;
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
    let consumer: StreamConsumer = pipeline
        .kafka
        .consumer(
            &format!("rfq-adapter-{}", settings.name),
            &settings.group_id(),
            DefaultConsumerContext,
        )
        .context("creating the adapter's consumer")?;
    let (consumer, _) = pipeline
        .kafka
        .assignment
        .apply(consumer, &topics.requests_topic)
        .await?;
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
        pipeline: pipeline.clone(),
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
        &pipeline.topics.providers_topic,
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
    pipeline: PipelineSettings,
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
                    // A panicked answer task is a bug of ours; its record's
                    // offset could never be stored: stop, with the reason.
                    let (partition, offset) =
                        joined.context("an answer task failed; its RFQ will be redelivered")?;
                    self.complete(consumer, partition, offset);
                }
                _ = heartbeat.tick() => {
                    let topic = &self.pipeline.topics.providers_topic;
                    // A missed renewal is not fatal: registrations outlive three intervals.
                    if let Err(error) = heartbeat::publish(&self.producer, &self.codec, topic, &self.settings.name, &self.fleet, ProviderStatus::Online, valid_for).await {
                        tracing::warn!(error = format!("{error:#}"), "renewing registrations");
                    }
                }
                message = consumer.recv() => {
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            on_consumer_error(error, &self.pipeline.topics.requests_topic).await?;
                            continue;
                        }
                    };
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
    /// Every record ends one way, and each way is counted
    /// (`rfq_adapter_rfqs_total{disposition}`): answered, expired,
    /// not-served, or dead-lettered (`rfq_dead_letters_total`).
    async fn on_message(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<bool> {
        let name = self.settings.name.as_str();
        // The key is the RFQ's region: what an adapter chooses its RFQs by.
        let region = match message.key().map(std::str::from_utf8) {
            Some(Ok(region)) if !region.is_empty() => region,
            Some(Ok(_)) | None => {
                let reason = format!(
                    "no key: records on {} are keyed by the RFQ's region",
                    message.topic()
                );
                return self
                    .dead_letter(message, DeadLetterKind::NoKey, &reason)
                    .await;
            }
            Some(Err(error)) => {
                let reason = format!("the key is not a region (not UTF-8: {error})");
                return self
                    .dead_letter(message, DeadLetterKind::BadKey, &reason)
                    .await;
            }
        };
        // By design: every adapter reads every region's RFQs (the topic is
        // keyed by region, not split by adapter) and skips, undecoded, the
        // RFQs of regions none of its unicorns is in. Not an error, and not
        // a dead letter: counted as not-served.
        if !self.fleet.serves(region) {
            RFQS.with_label_values(&[name, "not-served"]).inc();
            return Ok(true);
        }
        let payload = message.payload().unwrap_or_default();
        let rfq = match self.codec.decode(message.topic(), payload).await {
            Ok(Record::Rfq(rfq)) => rfq,
            Ok(other) => {
                let reason = format!("expected an RfqRequest, got {:?}", other.record_type());
                return self
                    .dead_letter(message, DeadLetterKind::UnexpectedType, &reason)
                    .await;
            }
            Err(error) => {
                return self
                    .dead_letter(message, DeadLetterKind::Decode, &error.to_string())
                    .await;
            }
        };
        if rfq.return_address.topic != self.pipeline.topics.quotes_topic {
            // Answers go to our quotes topic only: an RFQ naming another
            // topic (the providers topic, say) is not one of ours.
            let reason = format!(
                "RFQ {} names {} as its return address, not {}",
                rfq.id, rfq.return_address.topic, self.pipeline.topics.quotes_topic
            );
            return self
                .dead_letter(message, DeadLetterKind::WrongPartition, &reason)
                .await;
        }
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
        let delivery = Delivery {
            producer: self.producer.clone(),
            codec: self.codec.clone(),
            dead_letters: self.dead_letters.clone(),
            adapter: self.settings.name.clone(),
            source: (message.topic().to_owned(), partition, offset),
            topic: rfq.return_address.topic.clone(),
            partition: rfq.return_address.partition,
            // A deadline far off (an RFQ not from our producer, which caps
            // them) must not keep an undeliverable answer, and with it the
            // partition's stored offset, waiting for ever.
            give_up_at: rfq.deadline.min(Utc::now() + MAX_ANSWER_RETRY),
        };
        self.answering.spawn(async move {
            let sends = plans.into_iter().map(|(after, response)| {
                let delivery = &delivery;
                async move {
                    tokio::time::sleep(after).await;
                    delivery.answer(response).await;
                }
            });
            futures::future::join_all(sends).await;
            (partition, offset)
        });
        Ok(false)
    }

    /// Dead-letters a record the adapter cannot use; true: it is done with.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        kind: DeadLetterKind,
        reason: &str,
    ) -> anyhow::Result<bool> {
        self.dead_letters.send(message, kind, reason).await?;
        RFQS.with_label_values(&[self.settings.name.as_str(), "dead-lettered"])
            .inc();
        Ok(true)
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
        let topic = &self.pipeline.topics.requests_topic;
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
                match joined {
                    Ok((partition, offset)) => self.complete(consumer, partition, offset),
                    Err(error) => tracing::error!(%error, "an answer task failed while draining"),
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

/// Longest wait between two attempts to send an answer or a dead letter.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Longest an answer is retried when its RFQ's deadline is further off
/// (the producer's longest deadline, by default).
const MAX_ANSWER_RETRY: chrono::Duration = chrono::Duration::hours(1);

/// Delivers the answers to one RFQ record: to its return address while the
/// RFQ is open, and to the dead-letter topic once an answer has proved
/// undeliverable past the RFQ's deadline. An RFQ record's offset is stored
/// only when each of its answers has been acknowledged by one or the other.
struct Delivery {
    /// Sends the answers.
    producer: FutureProducer,
    /// Encodes them.
    codec: SharedCodec,
    /// Where answers that cannot be delivered go.
    dead_letters: DeadLetters,
    /// The adapter's name (metric label).
    adapter: String,
    /// The RFQ record: (topic, partition, offset).
    source: (String, i32, i64),
    /// The return address: topic.
    topic: String,
    /// The return address: partition.
    partition: i32,
    /// When an answer that cannot be delivered is given up: the RFQ's
    /// deadline, or [`MAX_ANSWER_RETRY`] after the RFQ was read if sooner.
    give_up_at: DateTime<Utc>,
}

impl Delivery {
    /// Sends `response` to the return address, retrying while the RFQ is
    /// open; once its deadline has passed (see `give_up_at`), an answer
    /// still refused is dead-lettered (with the return address and the
    /// error) instead. An answer that cannot even be encoded is
    /// dead-lettered at once. Returns once one or the other is acknowledged.
    async fn answer(&self, response: Response) {
        let kind = match response.outcome {
            Outcome::Quoted { .. } => "quoted",
            Outcome::Declined { .. } => "declined",
        };
        let key = response.rfq.to_string();
        let payload = match self
            .codec
            .encode(&self.topic, &Record::Response(response.clone()))
            .await
        {
            Ok(payload) => payload,
            Err(error) => {
                let reason = format!(
                    "the answer of {} to RFQ {} cannot be encoded: {error} ({response:?})",
                    response.provider, response.rfq
                );
                tracing::error!(%reason, "encoding an answer");
                self.dead_letter(DeadLetterKind::Unencodable, &key, None, &reason)
                    .await;
                return;
            }
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            let record = FutureRecord::to(&self.topic)
                .partition(self.partition)
                .key(&key)
                .payload(&payload);
            let error = match self.producer.send(record, DELIVERY_TIMEOUT).await {
                Ok(_) => {
                    ANSWERS
                        .with_label_values(&[self.adapter.as_str(), kind])
                        .inc();
                    return;
                }
                Err((error, _)) => error,
            };
            let now = Utc::now();
            if now >= self.give_up_at {
                let reason = format!(
                    "the answer of {} to RFQ {} could not be delivered to partition {} of {} \
                     by {} (the RFQ's deadline, at most {} minutes after it was read): {error}",
                    response.provider,
                    response.rfq,
                    self.partition,
                    self.topic,
                    self.give_up_at.to_rfc3339(),
                    MAX_ANSWER_RETRY.num_minutes()
                );
                match self
                    .try_dead_letter(DeadLetterKind::Undeliverable, &key, Some(&payload), &reason)
                    .await
                {
                    Ok(()) => return,
                    // Try the answer again, then the dead letter.
                    Err(dead_letter_error) => tracing::warn!(
                        error = format!("{dead_letter_error:#}"),
                        "dead-lettering an undeliverable answer"
                    ),
                }
            } else {
                tracing::warn!(
                    %error,
                    topic = %self.topic,
                    partition = self.partition,
                    retry_in = ?backoff,
                    "sending an answer"
                );
            }
            // Wake up when giving up is due at the latest.
            let until_give_up = (self.give_up_at - now).to_std().unwrap_or_default();
            let wait = match until_give_up.is_zero() {
                true => backoff,
                false => backoff.min(until_give_up),
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Dead-letters an answer of this RFQ record, retrying until the
    /// dead-letter topic acknowledges it (a refused copy is replaced by a
    /// reference there, so only an unreachable broker makes this wait).
    async fn dead_letter(
        &self,
        kind: DeadLetterKind,
        key: &str,
        payload: Option<&[u8]>,
        reason: &str,
    ) {
        let mut backoff = Duration::from_millis(100);
        while let Err(error) = self.try_dead_letter(kind, key, payload, reason).await {
            tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff, "dead-lettering an answer");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn try_dead_letter(
        &self,
        kind: DeadLetterKind,
        key: &str,
        payload: Option<&[u8]>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let (topic, partition, offset) = &self.source;
        self.dead_letters
            .send_letter(DeadLetter {
                key: Some(key.as_bytes()),
                value: payload,
                source: DeadLetterSource {
                    topic,
                    partition: *partition,
                    offset: *offset,
                },
                destination: Some((&self.topic, self.partition)),
                kind,
                reason,
            })
            .await
    }
}
