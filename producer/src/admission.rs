//! The bounds on in-flight work: at most `max_open_rfqs` RFQs open at once,
//! pipeline-wide, and an RFQ only into a partition whose aggregator is at
//! most `max_aggregator_lag_ms` behind. Past either the producer answers
//! 503 with Retry-After instead of queueing more work than the aggregators
//! can close, or accepting an RFQ whose result could not come by its ETA.
//!
//! The open count is read from the store (the source of truth shared by
//! every producer and aggregator), at most every [`REFRESH`], and the RFQs
//! this producer accepted since are added to it. Several producers may
//! overshoot the limit by what each accepts within one refresh interval.

use crate::{error::IntakeError, lag::Lags, metrics::OPEN_ESTIMATE};
use rfq_store::Store;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Mutex;

/// How often the open count is re-read from the store.
pub const REFRESH: Duration = Duration::from_millis(200);

/// Seconds a refused client is asked to wait.
const RETRY_AFTER_SECONDS: u64 = 2;

/// The open-RFQ estimate.
#[derive(Debug)]
struct Estimate {
    /// Open RFQs when last read from the store.
    open: u64,
    /// When that was (None: never).
    read_at: Option<Instant>,
    /// RFQs this producer admitted since.
    admitted_since: u64,
}

/// Admits or refuses new RFQs.
pub struct Admission {
    /// The limit.
    limit: u64,
    /// The store counted.
    store: Arc<dyn Store>,
    /// The estimate, behind a lock held across the (rare) store read.
    estimate: Mutex<Estimate>,
    /// How far behind each partition's aggregator is.
    lags: Lags,
    /// The most lag accepted, in milliseconds.
    max_lag_ms: u64,
}

impl Admission {
    /// An admission bound of `limit` open RFQs counted in `store`, and of
    /// `max_lag_ms` behind for the aggregator of an RFQ's partition.
    pub fn new(limit: u64, store: Arc<dyn Store>, lags: Lags, max_lag_ms: u64) -> Self {
        Self {
            limit,
            store,
            lags,
            max_lag_ms,
            estimate: Mutex::new(Estimate {
                open: 0,
                read_at: None,
                admitted_since: 0,
            }),
        }
    }

    /// Takes one slot for an RFQ into `partition` of the quotes topic, or
    /// says why not.
    pub async fn admit(&self, partition: i32) -> Result<(), IntakeError> {
        if let Some(lag) = self.lags.estimate(partition, chrono::Utc::now()) {
            let lag_ms = lag.num_milliseconds();
            if lag_ms > i64::try_from(self.max_lag_ms).unwrap_or(i64::MAX) {
                return Err(IntakeError::Behind {
                    lag_ms,
                    limit_ms: self.max_lag_ms,
                    retry_after: RETRY_AFTER_SECONDS,
                });
            }
        }
        let mut estimate = self.estimate.lock().await;
        if estimate.read_at.is_none_or(|at| at.elapsed() >= REFRESH) {
            estimate.open = self
                .store
                .open_count()
                .await
                .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
            estimate.read_at = Some(Instant::now());
            estimate.admitted_since = 0;
        }
        let open = estimate.open + estimate.admitted_since;
        OPEN_ESTIMATE.set(i64::try_from(open).unwrap_or(i64::MAX));
        if open >= self.limit {
            return Err(IntakeError::Overloaded {
                open,
                limit: self.limit,
                retry_after: RETRY_AFTER_SECONDS,
            });
        }
        estimate.admitted_since += 1;
        Ok(())
    }
}
