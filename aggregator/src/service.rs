//! The aggregator's Kafka loop.

use crate::{
    AggregatorSettings,
    metrics::{CLOSED, OPEN, OPENED, RESPONSES},
    window::{Verdict, Window},
};
use anyhow::Context as _;
use chrono::Utc;
use futures::FutureExt as _;
use rdkafka::{
    ClientContext, Message, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::BorrowedMessage,
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::{DeadLetters, close_consumer};
use rfq_store::{Effect, RfqStatus, Store};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A partition assignment change, reported by the consumer's rebalance callbacks.
enum Assignment {
    /// These partitions of the quotes topic are now ours.
    Assigned(Vec<i32>),
    /// These are no longer ours.
    Revoked(Vec<i32>),
}

/// Forwards rebalances to the loop, which handles them before it processes
/// any record of a newly assigned partition.
struct RebalanceContext {
    /// The quotes topic.
    topic: String,
    /// To the loop.
    events: mpsc::UnboundedSender<Assignment>,
}

impl RebalanceContext {
    fn partitions(&self, list: &TopicPartitionList) -> Vec<i32> {
        list.elements_for_topic(&self.topic)
            .iter()
            .map(|element| element.partition())
            .collect()
    }
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let _ = self.events.send(Assignment::Revoked(self.partitions(list)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let _ = self
                .events
                .send(Assignment::Assigned(self.partitions(list)));
        }
    }
}

type QuotesConsumer = StreamConsumer<RebalanceContext>;

/// The aggregator's state and collaborators.
struct Aggregator {
    settings: AggregatorSettings,
    store: Arc<dyn Store>,
    codec: SharedCodec,
    dead_letters: DeadLetters,
    window: Window,
    shutdown: CancellationToken,
}

/// Runs the aggregator until `shutdown` is cancelled, then commits the
/// offsets of everything it made durable and leaves the group.
pub async fn run(
    settings: AggregatorSettings,
    store: Arc<dyn Store>,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let context = RebalanceContext {
        topic: settings.topics.quotes_topic.clone(),
        events: events_tx,
    };
    let consumer: QuotesConsumer = settings
        .kafka
        .consumer("rfq-aggregator", &settings.group_id, context)
        .context("creating the aggregator's consumer")?;
    consumer
        .subscribe(&[&settings.topics.quotes_topic])
        .context("subscribing to the quotes topic")?;
    let producer = settings.kafka.producer("rfq-aggregator")?;
    let dead_letters = DeadLetters::new(
        producer,
        settings.topics.dead_letter_topic.clone(),
        "aggregator",
    );
    let mut aggregator = Aggregator {
        settings,
        store,
        codec,
        dead_letters,
        window: Window::default(),
        shutdown: shutdown.clone(),
    };
    tracing::info!(group = %aggregator.settings.group_id, "aggregator started");

    let result = aggregator.run_loop(&consumer, &mut events).await;
    close_consumer(consumer).await;
    OPEN.set(0);
    tracing::info!("aggregator stopped");
    result
}

impl Aggregator {
    async fn run_loop(
        &mut self,
        consumer: &QuotesConsumer,
        events: &mut mpsc::UnboundedReceiver<Assignment>,
    ) -> anyhow::Result<()> {
        loop {
            let wake = self.window.next_deadline().map(|deadline| {
                let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
                tokio::time::Instant::now() + wait
            });
            let timer = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Ok(()),
                Some(event) = events.recv() => self.on_assignment(event).await?,
                _ = timer => self.close_due().await?,
                message = consumer.recv() => {
                    let first = message.context("reading the quotes topic")?;
                    let mut batch = vec![first];
                    while batch.len() < self.settings.max_batch {
                        match consumer.recv().now_or_never() {
                            Some(Ok(message)) => batch.push(message),
                            _ => break,
                        }
                    }
                    // Assignments reported while these were fetched come first:
                    // a new partition's open RFQs must be loaded before its records.
                    while let Ok(event) = events.try_recv() {
                        self.on_assignment(event).await?;
                    }
                    self.on_batch(consumer, &batch).await?;
                }
            }
            OPEN.set(i64::try_from(self.window.len()).unwrap_or(i64::MAX));
        }
    }

    async fn on_assignment(&mut self, event: Assignment) -> anyhow::Result<()> {
        match event {
            Assignment::Revoked(partitions) => {
                for partition in partitions {
                    self.window.forget_partition(partition);
                }
            }
            Assignment::Assigned(partitions) => {
                let mut effects = Vec::new();
                for partition in &partitions {
                    let open = self.store.open_rfqs(*partition).await.with_context(|| {
                        format!("recovering open RFQs of partition {partition}")
                    })?;
                    OPENED
                        .with_label_values(&["recovered"])
                        .inc_by(open.len() as u64);
                    for recovered in open {
                        effects.extend(self.window.open(&recovered.rfq, recovered.answered));
                    }
                }
                tracing::info!(?partitions, open = self.window.len(), "partitions assigned");
                self.write(effects).await?;
            }
        }
        Ok(())
    }

    async fn close_due(&mut self) -> anyhow::Result<()> {
        let effects = self.window.due(Utc::now());
        self.write(effects).await
    }

    async fn on_batch(
        &mut self,
        consumer: &QuotesConsumer,
        batch: &[BorrowedMessage<'_>],
    ) -> anyhow::Result<()> {
        let mut effects = self.window.due(Utc::now());
        let mut last_offsets: HashMap<i32, i64> = HashMap::new();
        for message in batch {
            self.on_record(message, &mut effects).await?;
            last_offsets.insert(message.partition(), message.offset());
        }
        self.write(effects).await?;
        // Everything the batch stands for is durable: now its offsets may be stored.
        let topic = &self.settings.topics.quotes_topic;
        for (partition, offset) in last_offsets {
            if let Err(error) = consumer.store_offset(topic, partition, offset) {
                tracing::warn!(%error, partition, "storing offset (partition revoked?)");
            }
        }
        Ok(())
    }

    async fn on_record(
        &mut self,
        message: &BorrowedMessage<'_>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let payload = message.payload().unwrap_or_default();
        let record = match self.codec.decode(message.topic(), payload).await {
            Ok(record) => record,
            Err(error) => {
                return self
                    .dead_letters
                    .send(message, "decode", &error.to_string())
                    .await;
            }
        };
        match record {
            Record::Rfq(rfq) => {
                OPENED.with_label_values(&["record"]).inc();
                effects.extend(self.window.open(&rfq, Default::default()));
            }
            Record::Response(response) => {
                let id = response.rfq;
                match self.window.respond(response, Utc::now()) {
                    Verdict::Accepted(accepted) => {
                        RESPONSES.with_label_values(&["accepted"]).inc();
                        effects.extend(accepted);
                    }
                    Verdict::Duplicate => RESPONSES.with_label_values(&["duplicate"]).inc(),
                    Verdict::NotAddressed => {
                        RESPONSES.with_label_values(&["not-addressed"]).inc();
                        let reason = format!("provider was not addressed by RFQ {id}");
                        self.dead_letters
                            .send(message, "not-addressed", &reason)
                            .await?;
                    }
                    Verdict::NotOpen => {
                        // Rare: settle what is pending so the store answers truthfully.
                        self.write(std::mem::take(effects)).await?;
                        let (kind, reason) = match self.store.rfq(&id).await? {
                            Some(stored) => match stored.status {
                                RfqStatus::Closed { closed_at, .. } => (
                                    "late",
                                    format!("RFQ {id} closed at {}", closed_at.to_rfc3339()),
                                ),
                                RfqStatus::Open => (
                                    "wrong-partition",
                                    format!(
                                        "RFQ {id} answers belong in partition {}",
                                        stored.rfq.return_address.partition
                                    ),
                                ),
                            },
                            None => ("unknown-rfq", format!("no RFQ with id {id}")),
                        };
                        RESPONSES.with_label_values(&[kind]).inc();
                        self.dead_letters.send(message, kind, &reason).await?;
                    }
                }
            }
            Record::Heartbeat(_) => {
                self.dead_letters
                    .send(
                        message,
                        "unexpected-type",
                        "a provider heartbeat on the quotes topic",
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes effects durably, retrying until it succeeds or shutdown is
    /// requested (then the offsets are not stored and the records replay).
    async fn write(&self, effects: Vec<Effect>) -> anyhow::Result<()> {
        if effects.is_empty() {
            return Ok(());
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.store.apply(&effects).await {
                Ok(()) => break,
                Err(error) if !self.shutdown.is_cancelled() => {
                    tracing::error!(%error, retry_in = ?backoff, "store write failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(error) => return Err(error).context("store write failed during shutdown"),
            }
        }
        for effect in &effects {
            if let Effect::Close { reason, .. } = effect {
                CLOSED.with_label_values(&[reason.as_str()]).inc();
            }
        }
        Ok(())
    }
}
