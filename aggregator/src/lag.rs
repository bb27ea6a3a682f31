//! How far behind this aggregator is, per partition it owns: exported as
//! metrics and reported to the progress topic
//! ([`rfq_core::kafka::progress`]) for the producers' admission.
//!
//! Records behind: the broker's high watermark minus the offset stored
//! (the one after the last record whose effects are durable), from
//! librdkafka's statistics every [`REPORT_EVERY`]. Seconds behind: when
//! records wait, now minus the broker timestamp of the last durable record
//! (before the first is durable, of the first read). Reported from a task
//! of its own, so an aggregator whose loop is stuck still reports its lag
//! growing; one that is stopped reports nothing, which readers age.

use crate::metrics::{LAG_RECORDS, LAG_SECONDS, OPEN_PAST_DEADLINE};
use chrono::{DateTime, Utc};
use rdkafka::producer::FutureRecord;
use rfq_core::kafka::Producer;
use rfq_core::kafka::progress::Progress;
pub(crate) use rfq_core::kafka::progress::REPORT_EVERY;
use rfq_rules::window::SharedSchedule;
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};
use tokio_util::sync::CancellationToken;

/// An RFQ open this long past its deadline counts as open past it (a
/// marker's trip is milliseconds).
const PAST_DEADLINE: chrono::Duration = chrono::Duration::seconds(1);

/// What the loop, the writer and the consumer's statistics tell the
/// reporter.
#[derive(Debug, Default)]
struct State {
    /// The partitions owned.
    owned: BTreeSet<i32>,
    /// Per partition: records past the offset stored, as last seen.
    behind: HashMap<i32, u64>,
    /// Per partition: the broker timestamp of the last record whose
    /// effects are durable.
    durable: HashMap<i32, DateTime<Utc>>,
    /// Per partition: the broker timestamp of the first record read.
    first_read: HashMap<i32, DateTime<Utc>>,
}

/// The lag's sources, shared (cheap to clone).
#[derive(Debug, Clone, Default)]
pub(crate) struct Lag(Arc<Mutex<State>>);

impl Lag {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The partitions now owned.
    pub(crate) fn owned(&self, owned: &BTreeSet<i32>) {
        let mut state = self.state();
        for gone in state.owned.difference(owned) {
            let partition = gone.to_string();
            let _ = LAG_RECORDS.remove_label_values(&[&partition]);
            let _ = LAG_SECONDS.remove_label_values(&[&partition]);
            let _ = OPEN_PAST_DEADLINE.remove_label_values(&[&partition]);
        }
        state.owned.clone_from(owned);
        state
            .behind
            .retain(|partition, _| owned.contains(partition));
        state
            .durable
            .retain(|partition, _| owned.contains(partition));
        state
            .first_read
            .retain(|partition, _| owned.contains(partition));
    }

    /// A record of `partition` stamped `stamp` was read.
    pub(crate) fn read(&self, partition: i32, stamp: DateTime<Utc>) {
        self.state().first_read.entry(partition).or_insert(stamp);
    }

    /// The effects of the records of `partition` up to one stamped `stamp`
    /// are durable.
    pub(crate) fn durable(&self, partition: i32, stamp: DateTime<Utc>) {
        self.state().durable.insert(partition, stamp);
    }

    /// The consumer's statistics for the quotes topic.
    pub(crate) fn statistics(&self, topic: &rdkafka::statistics::Topic) {
        let mut state = self.state();
        for (partition, seen) in &topic.partitions {
            // Stored, else committed (before anything is stored).
            let done = seen.stored_offset.max(seen.committed_offset);
            if *partition >= 0 && seen.hi_offset >= 0 && done >= 0 {
                let behind = u64::try_from(seen.hi_offset - done).unwrap_or(0);
                state.behind.insert(*partition, behind);
            }
        }
    }

    /// This instance's progress on each partition it owns, at `now`.
    fn reports(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        past: &HashMap<i32, u64>,
    ) -> Vec<Progress> {
        let state = self.state();
        state
            .owned
            .iter()
            .map(|partition| {
                let lag_records = state.behind.get(partition).copied().unwrap_or(0);
                let since = state
                    .durable
                    .get(partition)
                    .or_else(|| state.first_read.get(partition));
                let lag_ms = match since {
                    Some(stamp) if lag_records > 0 => {
                        u64::try_from((now - *stamp).num_milliseconds()).unwrap_or(0)
                    }
                    _ => 0,
                };
                Progress {
                    partition: *partition,
                    instance: instance.to_owned(),
                    lag_records,
                    lag_ms,
                    open_past_deadline: past.get(partition).copied().unwrap_or(0),
                    at: now,
                }
            })
            .collect()
    }
}

/// Reports every [`REPORT_EVERY`] until `stop`: metrics, and a record per
/// owned partition to `topic`.
pub(crate) async fn report(
    lag: Lag,
    schedule: SharedSchedule,
    producer: Producer,
    topic: String,
    instance: String,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(REPORT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = Utc::now();
        let past: HashMap<i32, u64> = schedule
            .lock()
            .past(now - PAST_DEADLINE)
            .into_iter()
            .map(|(partition, count)| (partition, count as u64))
            .collect();
        for progress in lag.reports(&instance, now, &past) {
            let partition = progress.partition.to_string();
            LAG_RECORDS
                .with_label_values(&[&partition])
                .set(i64::try_from(progress.lag_records).unwrap_or(i64::MAX));
            LAG_SECONDS
                .with_label_values(&[&partition])
                .set(progress.lag_ms as f64 / 1000.0);
            OPEN_PAST_DEADLINE
                .with_label_values(&[&partition])
                .set(i64::try_from(progress.open_past_deadline).unwrap_or(i64::MAX));
            let (key, value) = (progress.key(), progress.value());
            // A report lost is aged by its readers; never waited for.
            if let Err((error, _)) =
                producer.send_result(FutureRecord::to(&topic).key(&key).payload(&value))
            {
                tracing::debug!(%error, "progress report not sent");
            }
        }
    }
}
