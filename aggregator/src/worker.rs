//! The aggregator's Kafka loop: assignments, batches, deadline markers.

use crate::{
    AggregatorSettings,
    judge::Judge,
    metrics::{OPEN, OPENED, TICKS},
    partners::{self, Partners},
    window::Window,
    writer::{EffectWriter, Notifier},
};
use anyhow::Context as _;
use chrono::Utc;
use futures::FutureExt as _;
use rdkafka::{
    ClientContext, Message, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::BorrowedMessage,
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    DeadlineTick,
    kafka::{Assigned, DELIVERY_TIMEOUT, DeadLetters, close_consumer, on_consumer_error},
    settings::PipelineSettings,
};
use rfq_store::Store;
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};
use tokio::{sync::mpsc, task::JoinSet};
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

/// Rounds of deadline markers being sent at once at most (while the
/// registry or the broker does not answer, rounds would pile up).
const MAX_TICK_ROUNDS: usize = 64;

/// The aggregator's state and collaborators.
struct Aggregator {
    /// What every role shares (Kafka, topics).
    pipeline: PipelineSettings,
    /// Settings.
    settings: AggregatorSettings,
    /// Where results go.
    writer: EffectWriter,
    /// Record codec.
    codec: SharedCodec,
    /// Refused records go there.
    dead_letters: DeadLetters,
    /// Writes deadline markers.
    producer: FutureProducer,
    /// The open RFQs of the partitions we own.
    window: Window,
    /// The partner of each provider (filled by a follower of the providers
    /// topic), for the per-partner metrics.
    partners: Partners,
    /// Partitions of the quotes topic we own.
    owned: BTreeSet<i32>,
    /// Names this instance in its deadline markers.
    instance: String,
    /// Deadline markers being sent (aborted when the aggregator stops:
    /// a marker not written is written again by the partition's owner).
    ticking: JoinSet<()>,
    /// Stops the loop.
    shutdown: CancellationToken,
}

/// Runs the aggregator until `shutdown` is cancelled, then commits the
/// offsets of everything it made durable and leaves the group.
pub async fn run(
    pipeline: PipelineSettings,
    settings: AggregatorSettings,
    store: Arc<dyn Store>,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let context = RebalanceContext {
        topic: pipeline.topics.quotes_topic.clone(),
        events: events_tx,
    };
    let consumer: QuotesConsumer = pipeline
        .kafka
        .consumer("rfq-aggregator", &settings.group_id, context)
        .context("creating the aggregator's consumer")?;
    let (consumer, assigned) = pipeline
        .kafka
        .assignment
        .apply(consumer, &pipeline.topics.quotes_topic)
        .await?;
    let producer = pipeline.kafka.producer("rfq-aggregator")?;
    let dead_letters = DeadLetters::new(
        producer.clone(),
        pipeline.topics.dead_letter_topic.clone(),
        "aggregator",
    );
    let instance = format!(
        "{}-{}",
        settings.group_id,
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or_default()
    );
    let notices = Notifier {
        producer: producer.clone(),
        topic: pipeline.topics.events_topic.clone(),
    };
    // Metrics only: a follower that fails leaves providers `unknown` and
    // says so, it does not stop the aggregator.
    let partners = Partners::default();
    let partners_stop = shutdown.child_token();
    let following = tokio::spawn({
        let follow = partners::follow(
            pipeline.kafka.clone(),
            pipeline.topics.providers_topic.clone(),
            partners.clone(),
            codec.clone(),
            partners_stop.clone(),
        );
        async move {
            if let Err(error) = follow.await {
                tracing::error!(%error, "following the providers topic failed: partner labels read `unknown`");
            }
        }
    });
    let mut aggregator = Aggregator {
        pipeline,
        settings,
        writer: EffectWriter::new(store, notices, shutdown.clone()),
        codec,
        dead_letters,
        producer,
        window: Window::scoring(),
        partners,
        owned: BTreeSet::new(),
        instance,
        ticking: JoinSet::new(),
        shutdown: shutdown.clone(),
    };
    tracing::info!(group = %aggregator.settings.group_id, instance = %aggregator.instance, "aggregator started");
    let result = match assigned {
        // Not a group member: no rebalance will report these.
        Assigned::Partitions(partitions) => {
            aggregator
                .on_assignment(Assignment::Assigned(partitions))
                .await
        }
        Assigned::Group => Ok(()),
    };
    let result = match result {
        Ok(()) => aggregator.run_loop(&consumer, &mut events).await,
        failed => failed,
    };
    close_consumer(consumer).await;
    partners_stop.cancel();
    let _ = following.await;
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
            let wake = self.window.next_wake(Utc::now()).map(|at| {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
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
                _ = timer => self.write_ticks(),
                message = consumer.recv() => {
                    let first = match message {
                        Ok(message) => message,
                        Err(error) => {
                            on_consumer_error(error, &self.pipeline.topics.quotes_topic).await?;
                            continue;
                        }
                    };
                    let mut batch = vec![first];
                    while batch.len() < self.settings.max_batch {
                        match consumer.recv().now_or_never() {
                            Some(Ok(message)) => batch.push(message),
                            Some(Err(error)) => {
                                on_consumer_error(error, &self.pipeline.topics.quotes_topic).await?;
                                break;
                            }
                            None => break,
                        }
                    }
                    // Assignments reported while these were fetched come first:
                    // a new partition's open RFQs must be loaded before its
                    // records, and records of a revoked partition are its new
                    // owner's.
                    while let Ok(event) = events.try_recv() {
                        self.on_assignment(event).await?;
                    }
                    batch.retain(|message| self.owned.contains(&message.partition()));
                    self.on_batch(consumer, &batch).await?;
                }
            }
            OPEN.set(i64::try_from(self.window.len()).unwrap_or(i64::MAX));
        }
    }

    async fn on_assignment(&mut self, event: Assignment) -> anyhow::Result<()> {
        match event {
            Assignment::Revoked(partitions) => {
                for partition in &partitions {
                    self.owned.remove(partition);
                    self.window.forget_partition(*partition);
                }
                tracing::info!(?partitions, open = self.window.len(), "partitions revoked");
            }
            Assignment::Assigned(partitions) => {
                for partition in &partitions {
                    let open = self
                        .writer
                        .store()
                        .open_rfqs(*partition)
                        .await
                        .with_context(|| {
                            format!("recovering open RFQs of partition {partition}")
                        })?;
                    OPENED
                        .with_label_values(&["recovered"])
                        .inc_by(open.len() as u64);
                    for recovered in open {
                        self.window.recover(&recovered.rfq, &recovered.responses);
                    }
                    self.owned.insert(*partition);
                }
                tracing::info!(?partitions, open = self.window.len(), "partitions assigned");
            }
        }
        Ok(())
    }

    /// Appends a deadline marker to each owned partition where a deadline
    /// passed. The RFQs close when the marker is read back, behind every
    /// answer that reached the partition before it. The markers are sent in
    /// the background, so the loop goes on reading meanwhile (one not
    /// written is written again once overdue).
    fn write_ticks(&mut self) {
        while let Some(done) = self.ticking.try_join_next() {
            if let Err(error) = done
                && error.is_panic()
            {
                tracing::error!(%error, "writing deadline markers panicked");
            }
        }
        let now = Utc::now();
        let due = self.window.ticks_due(now);
        if due.is_empty() {
            return;
        }
        if self.ticking.len() >= MAX_TICK_ROUNDS {
            // The registry or the broker is not answering. The window holds
            // these as on their way and writes them again once overdue.
            tracing::warn!(
                rounds = self.ticking.len(),
                "earlier deadline markers are still being sent; these wait for the retry"
            );
            return;
        }
        let producer = self.producer.clone();
        let codec = self.codec.clone();
        let topic = self.pipeline.topics.quotes_topic.clone();
        let writer = self.instance.clone();
        self.ticking.spawn(async move {
            let sends = due.into_iter().map(|partition| {
                let tick = Record::Tick(DeadlineTick {
                    partition,
                    at: now,
                    writer: writer.clone(),
                });
                let (producer, codec, topic) = (&producer, &codec, &topic);
                async move {
                    let payload = rfq_avro::encode_patiently(codec.as_ref(), topic, &tick).await?;
                    producer
                        .send(
                            FutureRecord::<str, [u8]>::to(topic)
                                .partition(partition)
                                .key("deadline-tick")
                                .payload(&payload),
                            DELIVERY_TIMEOUT,
                        )
                        .await
                        .map_err(|(error, _)| anyhow::anyhow!("{error}"))?;
                    anyhow::Ok(partition)
                }
            });
            for result in futures::future::join_all(sends).await {
                match result {
                    Ok(_) => TICKS.inc(),
                    // Retried by the window once the marker is overdue.
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "writing a deadline marker")
                    }
                }
            }
        });
    }

    async fn on_batch(
        &mut self,
        consumer: &QuotesConsumer,
        batch: &[BorrowedMessage<'_>],
    ) -> anyhow::Result<()> {
        let mut effects = Vec::new();
        let mut last_offsets: HashMap<i32, i64> = HashMap::new();
        let mut judge = Judge::new(
            &self.codec,
            &self.dead_letters,
            &mut self.window,
            &self.writer,
            &self.partners,
        );
        for message in batch {
            judge.record(message, &mut effects).await?;
            last_offsets.insert(message.partition(), message.offset());
        }
        self.writer.write(effects).await?;
        // Everything the batch stands for is durable: now its offsets may be stored.
        let topic = &self.pipeline.topics.quotes_topic;
        for (partition, offset) in last_offsets {
            if let Err(error) = consumer.store_offset(topic, partition, offset) {
                tracing::warn!(%error, partition, "storing offset (partition revoked?)");
            }
        }
        Ok(())
    }
}
