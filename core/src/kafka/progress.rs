//! How far behind the aggregators are: their progress reports, and what a
//! reader makes of them.
//!
//! Every aggregator reports, once a second, for each partition of the
//! quotes topic it judges, how many records there are past the last one
//! whose effects are durable (`lag-records`) and for how long the oldest of
//! those has waited (`lag-ms`: now minus the broker timestamp of the last
//! durable record, when records wait). It writes them to the progress
//! topic (`rfq.progress`, compacted, keyed by partition and aggregator
//! instance), where producers read them to keep their promise: an RFQ is
//! accepted only while its partition's aggregator keeps up, and the ETA it
//! is given counts the lag ([`Lags::estimate`]).
//!
//! A report is a claim at a time; a reader ages it: no newer report means
//! no progress since, so an aggregator that stopped (killed, frozen,
//! evicted) is seen falling behind second by second, and a partition with
//! nobody reporting for it is as far behind as its freshest report says
//! plus the time since. The freshest instance of a partition speaks for
//! it (the smallest aged lag: with every aggregator reading every
//! partition, the one ahead closes the RFQs).

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How often an aggregator reports.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A report is taken at its word for this long; past it, the time since
/// counts as lag (no news is no progress).
pub const FRESH_FOR: Duration = Duration::seconds(2);

/// Reports of an instance not heard from for this long are forgotten when
/// another instance reports for the partition (a crashed aggregator's
/// last word).
const FORGET_AFTER: Duration = Duration::minutes(10);

/// One aggregator's progress on one partition of the quotes topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The partition.
    pub partition: i32,
    /// The aggregator instance reporting.
    pub instance: String,
    /// Records past the last whose effects are durable.
    pub lag_records: u64,
    /// How long the oldest of those has waited, in milliseconds (0 when
    /// none waits).
    pub lag_ms: u64,
    /// Open RFQs past their deadline by more than a second.
    pub open_past_deadline: u64,
    /// When the report was made (the aggregator's clock).
    pub at: DateTime<Utc>,
}

/// The record's value, as JSON (readable with any consumer).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Value {
    partition: i32,
    instance: String,
    lag_records: u64,
    lag_ms: u64,
    open_past_deadline: u64,
    /// `at` in milliseconds since the epoch.
    at: i64,
}

impl Progress {
    /// The record's key: one per partition and instance (so the compacted
    /// topic keeps each instance's latest word).
    pub fn key(&self) -> String {
        key(self.partition, &self.instance)
    }

    /// The record's value.
    pub fn value(&self) -> Vec<u8> {
        let value = Value {
            partition: self.partition,
            instance: self.instance.clone(),
            lag_records: self.lag_records,
            lag_ms: self.lag_ms,
            open_past_deadline: self.open_past_deadline,
            at: self.at.timestamp_millis(),
        };
        // Numbers and a string always serialize.
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Reads a record of the progress topic: `Ok(None)` for a tombstone
    /// (an instance that stopped cleanly); the error says what is wrong.
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Option<Progress>, String> {
        let key = key.ok_or("no key (partition/instance)")?;
        let key = std::str::from_utf8(key).map_err(|_| "a key that is not UTF-8".to_owned())?;
        let Some(value) = value else {
            return Ok(None);
        };
        let value: Value = serde_json::from_slice(value).map_err(|e| format!("value: {e}"))?;
        if key != self::key(value.partition, &value.instance) {
            return Err(format!("key {key:?} is not the value's partition/instance"));
        }
        let at = Utc
            .timestamp_millis_opt(value.at)
            .single()
            .ok_or_else(|| format!("value: \"at\" {} is not a time", value.at))?;
        Ok(Some(Progress {
            partition: value.partition,
            instance: value.instance,
            lag_records: value.lag_records,
            lag_ms: value.lag_ms,
            open_past_deadline: value.open_past_deadline,
            at,
        }))
    }

    /// The lag this report stands for at `now`: its own, plus the time
    /// since it went stale.
    pub fn aged(&self, now: DateTime<Utc>) -> Duration {
        // No news is no progress: the oldest record waiting (if any, and
        // any that came since) has waited the whole time.
        let stale = (now - self.at - FRESH_FOR).max(Duration::zero());
        Duration::milliseconds(i64::try_from(self.lag_ms).unwrap_or(i64::MAX)) + stale
    }
}

/// The key of `instance`'s reports on `partition`.
pub fn key(partition: i32, instance: &str) -> String {
    format!("{partition}/{instance}")
}

/// The latest report of every instance on every partition, as a reader
/// of the progress topic keeps them.
#[derive(Debug, Default, Clone)]
pub struct Lags {
    /// Partition → instance → its latest report.
    reports: HashMap<i32, HashMap<String, Progress>>,
}

impl Lags {
    /// Takes a report (or a tombstone for `key`'s instance).
    pub fn take(&mut self, key: &str, report: Option<Progress>) {
        match report {
            Some(report) => {
                let now = report.at;
                let instances = self.reports.entry(report.partition).or_default();
                instances.retain(|_, kept| now - kept.at < FORGET_AFTER);
                instances.insert(report.instance.clone(), report);
            }
            None => {
                let Some((partition, instance)) = key.split_once('/') else {
                    return;
                };
                let Ok(partition) = partition.parse::<i32>() else {
                    return;
                };
                if let Some(instances) = self.reports.get_mut(&partition) {
                    instances.remove(instance);
                    if instances.is_empty() {
                        self.reports.remove(&partition);
                    }
                }
            }
        }
    }

    /// How far behind `partition` is at `now`, as its freshest instance
    /// says (aged); `None` if nobody ever reported on it.
    pub fn estimate(&self, partition: i32, now: DateTime<Utc>) -> Option<Duration> {
        self.reports
            .get(&partition)?
            .values()
            .map(|report| report.aged(now))
            .min()
    }
}

#[cfg(test)]
mod tests;
