//! The adapter's Kafka loop: reads RFQs, plans its unicorns' answers and
//! stores each record's offset once they are all acknowledged.

mod lists;

use lists::{next_list, refresh_lists};
use rfq_core::kafka::Producer;

use crate::{
    AdapterSettings,
    delivery::Delivery,
    fleet::{Fleet, Plan, Unicorn},
    heartbeat,
    metrics::RFQS,
    partner::Partners,
};
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::{
    Message,
    consumer::{Consumer, DefaultConsumerContext, StreamConsumer},
    message::BorrowedMessage,
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    Answer, ProviderStatus, Rfq,
    kafka::{DeadLetterKind, DeadLetters, OffsetTracker, close_consumer, on_consumer_error},
    pipeline::PipelineSettings,
};
use std::{sync::Arc, time::Duration};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for answers still thinking.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A record whose answers are all acknowledged, delivered or dead-lettered:
/// (partition, offset).
type Done = (i32, i64);

/// [`run`], hosting `fleet`: a simulated fleet the caller built (`rfq up`
/// builds each once, and waits until its unicorns are registered), or
/// `None` for HTTP partners' providers (`settings.partners`).
pub(crate) async fn serve(
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    fleet: Option<Fleet>,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let vicinity = pipeline.vicinity();
    // HTTP partners' providers, or a simulated fleet.
    let (fleet, partners, updates) = if let Some(fleet) = fleet {
        (fleet, None, None)
    } else {
        let partners = Partners::start(&settings.partners, shutdown.clone()).await?;
        tracing::info!(
            adapter = %settings.name,
            callbacks = %partners.callback_addr(),
            partners = settings.partners.partners.len(),
            "serving HTTP partners"
        );
        let unicorns = partners.refresh(vicinity.precision).await;
        let fleet = Fleet::of(&settings.fleet, unicorns, &vicinity);
        let updates = refresh_lists(&partners, &settings, vicinity.precision, &shutdown);
        (fleet, Some(partners), Some(updates))
    };
    let fleet = Arc::new(fleet);
    let producer = pipeline
        .kafka
        .producer(&format!("rfq-adapter-{}", settings.name))
        .context("creating the adapter's producer")?;
    let valid_for = settings.heartbeat_interval() * 3;
    let topics = &pipeline.topics;
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
    // Online only once the requests are assigned: a provider announced
    // before its adapter reads would be sent RFQs it sees late.
    heartbeat::publish(
        &producer,
        &codec,
        &topics.providers_topic,
        &settings.name,
        fleet.unicorns(),
        ProviderStatus::Online,
        valid_for,
    )
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
        partners,
        updates,
        tracker: OffsetTracker::default(),
        answering: JoinSet::new(),
        told_radius: false,
    };
    let result = adapter.run_loop(&consumer, valid_for, &shutdown).await;
    adapter.drain(&consumer).await;
    close_consumer(consumer).await;
    if let Err(error) = heartbeat::publish(
        &producer,
        &codec,
        &pipeline.topics.providers_topic,
        &settings.name,
        adapter.fleet.unicorns(),
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
    /// What every role shares (Kafka, topics, region precision, radius).
    pipeline: PipelineSettings,
    /// The adapter's own settings.
    settings: AdapterSettings,
    /// Decodes RFQs, encodes answers.
    codec: SharedCodec,
    /// Sends answers and heartbeats.
    producer: Producer,
    /// Where unusable records go.
    dead_letters: DeadLetters,
    /// The unicorns: simulated, or the HTTP partners' as last listed.
    fleet: Arc<Fleet>,
    /// The HTTP partners answering for the fleet; `None`: it is simulated.
    partners: Option<Arc<Partners>>,
    /// The partners' provider lists, fetched again in the background.
    updates: Option<mpsc::Receiver<Vec<Unicorn>>>,
    /// Which offsets may be stored (every answer of their record delivered).
    tracker: OffsetTracker,
    /// Answers being thought about or sent; each task yields its record's (partition, offset).
    answering: JoinSet<Done>,
    /// Whether the operator was told that RFQs come with a larger radius
    /// than ours (once is enough).
    told_radius: bool,
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
                    if let Err(error) = heartbeat::publish(&self.producer, &self.codec, topic, &self.settings.name, self.fleet.unicorns(), ProviderStatus::Online, valid_for).await {
                        tracing::warn!(error = format!("{error:#}"), "renewing registrations");
                    }
                }
                Some(unicorns) = next_list(&mut self.updates) => {
                    self.relist(unicorns, valid_for).await;
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
        // RFQs of regions beyond the vicinity radius of all its unicorns
        // (none of them can be addressed from there). Not an error, and not
        // a dead letter: counted as not-served.
        if !self.fleet.serves(region) {
            RFQS.with_label_values(&[name, "not-served"]).inc();
            return Ok(true);
        }
        let payload = message.payload().unwrap_or_default();
        let rfq =
            match rfq_avro::decode_patiently(self.codec.as_ref(), message.topic(), payload).await {
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
        if let Some(radius) = rfq.radius
            && radius > self.pipeline.vicinity_radius
            && !self.told_radius
        {
            // Its unicorns may be addressed from regions this adapter skips.
            tracing::warn!(
                adapter = name,
                rfq_radius_m = radius.metres(),
                our_radius_m = self.pipeline.vicinity_radius.metres(),
                "RFQs are addressed within a larger radius than this adapter's \
                 --vicinity-radius-m: it misses some of those addressed to its unicorns; \
                 run it with the producer's radius"
            );
            self.told_radius = true;
        }
        if rfq.deadline <= Utc::now() {
            RFQS.with_label_values(&[name, "expired"]).inc();
            return Ok(true);
        }
        RFQS.with_label_values(&[name, "answered"]).inc();
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(partners) = &self.partners {
            if self.fleet.addressed(&rfq).next().is_none() {
                return Ok(true);
            }
            let delivery = self.delivery(message, &rfq);
            let partners = partners.clone();
            self.answering.spawn(async move {
                partners.answer(&rfq, &delivery).await;
                (partition, offset)
            });
            return Ok(false);
        }
        let plans = self.plans(&rfq);
        if plans.is_empty() {
            return Ok(true);
        }
        let delivery = self.delivery(message, &rfq);
        self.answering.spawn(async move {
            let sends = plans.into_iter().map(|(after, answer)| {
                let delivery = &delivery;
                async move {
                    tokio::time::sleep(after).await;
                    delivery.answer(answer).await;
                }
            });
            futures::future::join_all(sends).await;
            (partition, offset)
        });
        Ok(false)
    }

    /// Delivers the answers to `rfq`, read in `message`.
    fn delivery(&self, message: &BorrowedMessage<'_>, rfq: &Rfq) -> Delivery {
        Delivery::new(
            &self.settings.name,
            self.producer.clone(),
            self.codec.clone(),
            self.dead_letters.clone(),
            message,
            rfq,
        )
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

    fn plans(&self, rfq: &Rfq) -> Vec<(Duration, Answer)> {
        let mut rng = rand::rng();
        self.fleet
            .addressed(rfq)
            .filter_map(|unicorn| match self.fleet.plan(unicorn, rfq, &mut rng) {
                Plan::Answer { after, answer } => Some((after, answer)),
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
