//! The aggregator's Kafka loop: assignments and batches. Deadline markers
//! are written by the [`Ticker`](crate::ticker) on its own thread, effects
//! made durable by the [`EffectWriter`] behind the loop; rebalances reach
//! the loop through [`crate::rebalance`].

use crate::{
    AggregatorSettings,
    judge::{Judge, Judged, stamp},
    lag::{self, Lag},
    lookup::Lookups,
    metrics::{OPEN, OPENED},
    partners::{self, Partners},
    rebalance::{Assignment, QuotesConsumer, RebalanceContext},
    ticker::{TickWriter, Ticker},
    writer::{EffectWriter, Last, Notifier},
};
use anyhow::Context as _;
use futures::FutureExt as _;
use rdkafka::{Message, consumer::Consumer, message::BorrowedMessage};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    DeadlineTick,
    kafka::{Assigned, DeadLetters, close_consumer, on_consumer_error},
    pipeline::PipelineSettings,
};
use rfq_rules::Window;
use rfq_store::Store;
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The aggregator's state and collaborators.
struct Aggregator {
    /// What every role shares (Kafka, topics).
    pipeline: PipelineSettings,
    /// Settings.
    settings: AggregatorSettings,
    /// Where results go, behind the loop.
    writer: EffectWriter,
    /// Record codec.
    codec: SharedCodec,
    /// Refused records go there.
    dead_letters: DeadLetters,
    /// The open RFQs of the partitions we own.
    window: Window,
    /// Writes the deadline markers the window's schedule asks for.
    ticker: Ticker,
    /// The partner of each provider (filled by a follower of the providers
    /// topic), for the per-partner metrics.
    partners: Partners,
    /// Partitions of the quotes topic we own.
    owned: BTreeSet<i32>,
    /// How far behind we are (reported by a task of its own).
    lag: Lag,
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
    let lag = Lag::default();
    let context = RebalanceContext {
        topic: pipeline.topics.quotes_topic.clone(),
        events: events_tx,
        lag: lag.clone(),
    };
    // Statistics every second: how far the broker is ahead (the lag).
    let every = lag::REPORT_EVERY.as_millis().to_string();
    let consumer: QuotesConsumer = pipeline
        .kafka
        .consumer_with(
            "rfq-aggregator",
            &settings.group_id,
            context,
            &[("statistics.interval.ms", &every)],
        )
        .context("creating the aggregator's consumer")?;
    let (consumer, assigned) = pipeline
        .kafka
        .assignment
        .apply(consumer, &pipeline.topics.quotes_topic)
        .await?;
    let consumer = Arc::new(consumer);
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
    let window = Window::scoring();
    let ticker = start_ticker(&pipeline, &codec, &instance, &window).await?;
    let notices = Notifier {
        producer: producer.clone(),
        topic: pipeline.topics.events_topic.clone(),
    };
    let offsets = {
        let (consumer, topic) = (consumer.clone(), pipeline.topics.quotes_topic.clone());
        let lag = lag.clone();
        Box::new(move |partition: i32, last: Last| {
            lag.durable(partition, last.stamp);
            if let Err(error) = consumer.store_offset(&topic, partition, last.offset) {
                tracing::warn!(%error, partition, "storing offset (partition revoked?)");
            }
        })
    };
    let writer = EffectWriter::start(store, notices, offsets, shutdown.clone());
    let reporting_stop = shutdown.child_token();
    let reporting = tokio::spawn(lag::report(
        lag.clone(),
        window.schedule(),
        producer.clone(),
        pipeline.topics.progress_topic.clone(),
        instance.clone(),
        reporting_stop.clone(),
    ));
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
        writer,
        codec,
        dead_letters,
        window,
        ticker,
        partners,
        owned: BTreeSet::new(),
        lag,
        shutdown: shutdown.clone(),
    };
    tracing::info!(group = %aggregator.settings.group_id, %instance, "aggregator started");
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
    let Aggregator { writer, ticker, .. } = aggregator;
    ticker.stop();
    // What was handed over is written (its offsets stored) before the
    // consumer commits and leaves.
    let written = writer.close().await;
    match Arc::try_unwrap(consumer) {
        Ok(consumer) => close_consumer(consumer).await,
        Err(_) => tracing::error!("the aggregator's consumer is still shared at shutdown"),
    }
    partners_stop.cancel();
    reporting_stop.cancel();
    let _ = following.await;
    let _ = reporting.await;
    OPEN.set(0);
    tracing::info!("aggregator stopped");
    result.and(written)
}

/// Starts the ticker on the window's schedule, with a producer of its own
/// (no linger: a marker is one record, sent at once) and the marker's
/// schema resolved here, on the main runtime.
async fn start_ticker(
    pipeline: &PipelineSettings,
    codec: &SharedCodec,
    instance: &str,
    window: &Window,
) -> anyhow::Result<Ticker> {
    let topic = pipeline.topics.quotes_topic.clone();
    let warm = Record::Tick(DeadlineTick {
        partition: 0,
        at: chrono::Utc::now(),
        writer: instance.to_owned(),
    });
    rfq_avro::encode_patiently(codec.as_ref(), &topic, &warm)
        .await
        .context("resolving the deadline marker's schema")?;
    let mut config = pipeline.kafka.producer_config("rfq-aggregator-ticker");
    if !pipeline
        .kafka
        .options
        .iter()
        .any(|(key, _)| key == "linger.ms")
    {
        config.set("linger.ms", "0");
    }
    let producer = config
        .create()
        .context("creating the deadline markers' producer")?;
    let writer = TickWriter {
        producer,
        codec: codec.clone(),
        topic,
        instance: instance.to_owned(),
    };
    Ticker::start(window.schedule(), writer)
}

impl Aggregator {
    async fn run_loop(
        &mut self,
        consumer: &QuotesConsumer,
        events: &mut mpsc::UnboundedReceiver<Assignment>,
    ) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Ok(()),
                Some(event) = events.recv() => self.on_assignment(event).await?,
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
                    self.on_batch(&batch).await?;
                }
            }
            self.nudge_ticker();
            OPEN.set(i64::try_from(self.window.len()).unwrap_or(i64::MAX));
        }
    }

    /// Tells the ticker to plan again if the schedule changed so that a
    /// marker may be due sooner than it planned.
    fn nudge_ticker(&self) {
        if self.window.schedule().lock().take_sooner() {
            self.ticker.nudge();
        }
    }

    async fn on_assignment(&mut self, event: Assignment) -> anyhow::Result<()> {
        match event {
            Assignment::Revoked(partitions) => {
                for partition in &partitions {
                    self.owned.remove(partition);
                    self.window.forget_partition(*partition);
                }
                self.lag.owned(&self.owned);
                tracing::info!(?partitions, open = self.window.len(), "partitions revoked");
            }
            Assignment::Assigned(partitions) => {
                // What this aggregator handed over is durable before the
                // store is asked what is open.
                self.writer.flush().await?;
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
                self.lag.owned(&self.owned);
                // The RFQs recovered may be due before the ticker's plan
                // (which may be none): told now, not at the next record,
                // which may never come.
                self.nudge_ticker();
                tracing::info!(?partitions, open = self.window.len(), "partitions assigned");
            }
        }
        Ok(())
    }

    /// Decodes a batch, looks up in the store (at once, for the whole
    /// batch) the RFQs its answers name that the window does not know,
    /// judges it without I/O, dead-letters what it refused, and hands the
    /// effects and offsets to the writer.
    async fn on_batch(&mut self, batch: &[BorrowedMessage<'_>]) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut records = Vec::with_capacity(batch.len());
        for message in batch {
            let payload = message.payload().unwrap_or_default();
            records.push(
                rfq_avro::decode_patiently(self.codec.as_ref(), message.topic(), payload).await,
            );
        }
        let wanted = Lookups::wanted(&self.window, batch, &records);
        let lookups = if wanted.is_empty() {
            Lookups::default()
        } else {
            // Settle what is pending so the store answers truthfully.
            self.writer.flush().await?;
            Lookups::fetch(self.writer.store(), &mut self.window, wanted).await?
        };
        let mut judged = Judged::default();
        let mut judge = Judge::new(&mut self.window, &lookups, &self.partners);
        let mut offsets: HashMap<i32, Last> = HashMap::new();
        for (at, (message, record)) in batch.iter().zip(records).enumerate() {
            judge.record(at, message, record, &mut judged);
            let last = Last {
                offset: message.offset(),
                stamp: stamp(message),
            };
            if offsets.insert(message.partition(), last).is_none() {
                self.lag.read(message.partition(), last.stamp);
            }
        }
        // Refused records are in the dead-letter topic before their
        // offsets can be stored (all of the batch's at once).
        let letters = judged.refusals.iter().map(|refusal| {
            self.dead_letters.send_from(
                &batch[refusal.at],
                refusal.kind,
                &refusal.reason,
                refusal.provider.as_deref(),
            )
        });
        futures::future::try_join_all(letters).await?;
        self.writer
            .submit(judged.effects, offsets.into_iter().collect())
            .await
    }
}
