//! How far behind the aggregators are, as their progress reports say
//! ([`rfq_core::kafka::progress`]): followed from the progress topic for
//! the admission (an RFQ whose partition is behind by more than
//! `--max-aggregator-lag-ms` is refused with `503`) and the ETA of the
//! `202` (the deadline plus the lag of the RFQ's partition).

use chrono::{DateTime, Duration, Utc};
use rdkafka::{Message as _, Offset, message::BorrowedMessage};
use rfq_core::kafka::{
    DeadLetterKind, DeadLetters, Follow, Follower, KafkaSettings,
    progress::{self, Progress},
};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_util::sync::CancellationToken;

/// The latest reports, shared by the follower and the intake.
#[derive(Debug, Clone, Default)]
pub struct Lags(Arc<RwLock<progress::Lags>>);

impl Lags {
    /// How far behind the aggregator of `partition` is at `now` (`None`:
    /// nobody reported on it yet).
    pub fn estimate(&self, partition: i32, now: DateTime<Utc>) -> Option<Duration> {
        let lags = self.0.read().unwrap_or_else(PoisonError::into_inner);
        lags.estimate(partition, now)
    }

    fn take(&self, key: &str, report: Option<Progress>) {
        let mut lags = self.0.write().unwrap_or_else(PoisonError::into_inner);
        lags.take(key, report);
    }
}

/// Follows the progress topic from its beginning (compacted: every
/// instance's latest report) into `lags` until `shutdown`. A record that
/// is not a report is dead-lettered.
pub(crate) async fn follow(
    kafka: KafkaSettings,
    topic: String,
    lags: Lags,
    dead_letters: DeadLetters,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let follower =
        Follower::every_partition(&kafka, "rfq-producer-progress", &topic, Offset::Beginning)
            .await?;
    let reports = Reports { lags, dead_letters };
    follower.run(reports, shutdown).await
}

/// What the follower does with each record of the progress topic.
struct Reports {
    /// The latest reports.
    lags: Lags,
    /// Where a record that is not a report goes.
    dead_letters: DeadLetters,
}

impl Follow for Reports {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        match Progress::parse(message.key(), message.payload()) {
            Ok(report) => {
                let key = String::from_utf8_lossy(message.key().unwrap_or_default());
                self.lags.take(&key, report);
            }
            Err(reason) => {
                let reason = format!("not a progress report: {reason}");
                // Reports only inform the admission: failing to set a bad
                // record aside is logged, and reading goes on.
                if let Err(error) = self
                    .dead_letters
                    .send(message, DeadLetterKind::Decode, &reason)
                    .await
                {
                    tracing::error!(%error, %reason, "a record on the progress topic not dead-lettered");
                }
            }
        }
        Ok(())
    }
}
