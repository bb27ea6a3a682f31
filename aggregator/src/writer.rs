//! Writing the effects of judged records to the store until they are
//! durable, behind the consumer loop: the loop hands each judged batch
//! over and reads on; the writer takes every batch waiting when it gets to
//! them as one store write (one round trip, one commit), then stores their
//! offsets, then tells live readers (change notices, one per RFQ changed).
//!
//! Batches are written in the order they were handed over, and an offset
//! is stored only once the effects of every record up to it are durable.
//! The hand-over is bounded: a slow store slows the reading, it does not
//! fill the memory.

use crate::metrics::{CLOSED, NOTICES, WRITE_ROUND_EFFECTS};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::producer::FutureRecord;
use rfq_core::kafka::Producer;
use rfq_core::{Effect, kafka::notices::Notice};
use rfq_store::Store;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Judged batches waiting for the writer, at most: past it the loop waits.
const QUEUED: usize = 16;

/// Effects written in one round at most (the batches waiting beyond it go
/// in the next).
const ROUND_EFFECTS: usize = 20_000;

/// The last record of a partition in a batch: its offset and broker
/// timestamp.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Last {
    /// Its offset.
    pub(crate) offset: i64,
    /// Its broker timestamp.
    pub(crate) stamp: DateTime<Utc>,
}

/// Stores an offset once the effects of its records are durable:
/// `(partition, its last record)`.
pub(crate) type OffsetSink = Box<dyn Fn(i32, Last) + Send + Sync>;

/// What the loop hands the writer.
enum Job {
    /// A judged batch: its effects, then its last record per partition.
    Batch {
        effects: Vec<Effect>,
        offsets: Vec<(i32, Last)>,
    },
    /// Answered once everything handed over before it is durable.
    Flush(oneshot::Sender<()>),
}

/// Writes change notices to the events topic, without waiting: a notice
/// only saves a live reader time (it re-reads the store anyway), so the
/// aggregator never waits for one, and one that fails is counted.
pub(crate) struct Notifier {
    /// The aggregator's producer.
    pub(crate) producer: Producer,
    /// The events topic.
    pub(crate) topic: String,
}

impl Notifier {
    fn send(&self, effects: &[Effect]) {
        for notice in Notice::latest(effects, chrono::Utc::now()) {
            let (key, value) = (notice.key(), notice.value());
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    tokio::spawn(async move {
                        let sent = matches!(delivery.await, Ok(Ok(_)));
                        NOTICES
                            .with_label_values(&[if sent { "sent" } else { "failed" }])
                            .inc();
                    });
                }
                Err((error, _)) => {
                    tracing::debug!(%error, "change notice not sent");
                    NOTICES.with_label_values(&["failed"]).inc();
                }
            }
        }
    }
}

/// The writer behind the loop.
pub(crate) struct EffectWriter {
    /// The store, for the loop's reads.
    store: Arc<dyn Store>,
    /// Batches to the writer task.
    jobs: mpsc::Sender<Job>,
    /// The writer task: ends with an error when a write could not be made
    /// durable before shutdown.
    task: JoinHandle<anyhow::Result<()>>,
}

impl EffectWriter {
    /// Starts writing to `store`, storing offsets through `offsets`, then
    /// sending notices to `notices`; a write is retried until `shutdown`.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        notices: Notifier,
        offsets: OffsetSink,
        shutdown: CancellationToken,
    ) -> EffectWriter {
        let (jobs, queue) = mpsc::channel(QUEUED);
        let task = tokio::spawn(write_rounds(
            store.clone(),
            queue,
            notices,
            offsets,
            shutdown,
        ));
        EffectWriter { store, jobs, task }
    }

    /// The store, to read (after [`EffectWriter::flush`] to see every
    /// write handed over).
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Hands a judged batch over: `effects` to write, then its last record
    /// per partition, whose offset to store. Waits only while the writer
    /// is [`QUEUED`] batches behind.
    pub(crate) async fn submit(
        &self,
        effects: Vec<Effect>,
        offsets: Vec<(i32, Last)>,
    ) -> anyhow::Result<()> {
        if self
            .jobs
            .send(Job::Batch { effects, offsets })
            .await
            .is_err()
        {
            anyhow::bail!("the store writer stopped");
        }
        Ok(())
    }

    /// Waits until everything handed over is durable.
    pub(crate) async fn flush(&self) -> anyhow::Result<()> {
        let (done, durable) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_err() || durable.await.is_err() {
            anyhow::bail!("the store writer stopped");
        }
        Ok(())
    }

    /// Writes what was handed over (unless shutdown cut a write short:
    /// then those offsets stay unstored and their records are read again),
    /// and stops.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        drop(self.jobs);
        self.task.await.context("the store writer panicked")?
    }
}

/// One round: the batches waiting, as one write.
#[derive(Default)]
struct Round {
    effects: Vec<Effect>,
    /// The last record per partition.
    offsets: HashMap<i32, Last>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Round {
    fn take(&mut self, job: Job) {
        match job {
            Job::Batch { effects, offsets } => {
                self.effects.extend(effects);
                for (partition, last) in offsets {
                    let kept = self.offsets.entry(partition).or_insert(last);
                    if last.offset > kept.offset {
                        *kept = last;
                    }
                }
            }
            Job::Flush(done) => self.flushes.push(done),
        }
    }
}

async fn write_rounds(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Job>,
    notices: Notifier,
    offsets: OffsetSink,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    while let Some(first) = queue.recv().await {
        let mut round = Round::default();
        round.take(first);
        while round.effects.len() < ROUND_EFFECTS {
            match queue.try_recv() {
                Ok(job) => round.take(job),
                Err(_) => break,
            }
        }
        write_durably(&*store, &round.effects, &shutdown).await?;
        // Everything up to these offsets is durable: now they may be stored.
        for (partition, last) in &round.offsets {
            offsets(*partition, *last);
        }
        for effect in &round.effects {
            if let Effect::Close { reason, .. } = effect {
                CLOSED.with_label_values(&[reason.as_str()]).inc();
            }
        }
        notices.send(&round.effects);
        for done in round.flushes {
            let _ = done.send(());
        }
    }
    Ok(())
}

/// Writes `effects` durably, retrying until it succeeds or shutdown is
/// requested (then the offsets are not stored and the records replay).
async fn write_durably(
    store: &dyn Store,
    effects: &[Effect],
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    if effects.is_empty() {
        return Ok(());
    }
    WRITE_ROUND_EFFECTS.observe(effects.len() as f64);
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.apply(effects).await {
            Ok(()) => return Ok(()),
            Err(error) if !shutdown.is_cancelled() => {
                tracing::error!(%error, retry_in = ?backoff, "store write failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error).context("store write failed during shutdown"),
        }
    }
}
