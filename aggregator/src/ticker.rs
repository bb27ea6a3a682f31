//! Writing deadline markers, on a thread of its own.
//!
//! The window decides which RFQs a marker closes when it is read back; the
//! ticker only decides when to write one, from the [`SharedSchedule`] the
//! window keeps. It runs on its own OS thread, with its own runtime and
//! its own producer (its own connections, no linger), so neither a backlog
//! in the consumer loop, nor a store that blocks a worker, nor a queue of
//! change notices holds a marker back: a deadline that passes gets its
//! marker within [`TICK_GAP`](rfq_rules::window::TICK_GAP) (or
//! [`BEHIND_GAP`](rfq_rules::window::BEHIND_GAP) while markers pile up
//! unread), whatever the loop is doing.

use crate::metrics::TICKS;
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::producer::FutureRecord;
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::Producer;
use rfq_core::{DeadlineTick, kafka::DELIVERY_TIMEOUT};
use rfq_rules::window::SharedSchedule;
use std::sync::Arc;
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// Rounds of deadline markers being sent at once at most (while the
/// registry or the broker does not answer, rounds would pile up).
const MAX_TICK_ROUNDS: usize = 64;

/// What the ticker writes with.
pub(crate) struct TickWriter {
    /// Its own producer.
    pub(crate) producer: Producer,
    /// Encodes the markers (its schema is resolved before the ticker starts).
    pub(crate) codec: SharedCodec,
    /// The quotes topic.
    pub(crate) topic: String,
    /// Names this aggregator instance in its markers.
    pub(crate) instance: String,
}

/// The ticker's thread.
pub(crate) struct Ticker {
    /// Wakes it to plan again (a deadline sooner than it planned for).
    wake: Arc<Notify>,
    /// Stops it.
    stop: CancellationToken,
    /// Its thread.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts writing markers as `schedule` says, until stopped.
    pub(crate) fn start(schedule: SharedSchedule, writer: TickWriter) -> anyhow::Result<Ticker> {
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the ticker's runtime")?;
        let thread = std::thread::Builder::new()
            .name("rfq-ticker".into())
            .spawn({
                let (wake, stop) = (wake.clone(), stop.clone());
                move || runtime.block_on(tick(schedule, writer, wake, stop))
            })
            .context("starting the ticker's thread")?;
        Ok(Ticker {
            wake,
            stop,
            thread: Some(thread),
        })
    }

    /// Tells it the schedule may want a marker sooner than it planned.
    pub(crate) fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Stops it (markers on their way are abandoned: one not written is
    /// written again by the partition's owner).
    pub(crate) fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the deadline ticker panicked");
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shut_down();
    }
}

async fn tick(
    schedule: SharedSchedule,
    writer: TickWriter,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let writer = Arc::new(writer);
    let mut rounds = JoinSet::new();
    loop {
        while let Some(done) = rounds.try_join_next() {
            if let Err(error) = done
                && error.is_panic()
            {
                tracing::error!(%error, "writing deadline markers panicked");
            }
        }
        let now = Utc::now();
        let (due, next) = {
            let mut schedule = schedule.lock();
            (schedule.ticks_due(now), schedule.next_wake(now))
        };
        if !due.is_empty() {
            if rounds.len() < MAX_TICK_ROUNDS {
                rounds.spawn(write_markers(writer.clone(), due, now));
            } else {
                // The registry or the broker is not answering. The schedule
                // holds these as on their way and has them written again
                // once overdue.
                tracing::warn!(
                    rounds = rounds.len(),
                    "earlier deadline markers are still being sent; these wait for the retry"
                );
            }
        }
        let sleep = next.map(|at| {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = async {
                match sleep {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// Writes a marker at `now` to each partition of `due`.
async fn write_markers(writer: Arc<TickWriter>, due: Vec<i32>, now: chrono::DateTime<Utc>) {
    let sends = due.into_iter().map(|partition| {
        let writer = &writer;
        async move {
            let tick = Record::Tick(DeadlineTick {
                partition,
                at: now,
                writer: writer.instance.clone(),
            });
            let payload =
                rfq_avro::encode_patiently(writer.codec.as_ref(), &writer.topic, &tick).await?;
            writer
                .producer
                .send(
                    FutureRecord::<str, [u8]>::to(&writer.topic)
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
            // Written again by the schedule once the marker is overdue.
            Err(error) => tracing::warn!(error = format!("{error:#}"), "writing a deadline marker"),
        }
    }
}
