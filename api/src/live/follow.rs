//! Reading change notices from the events topic.

use super::Live;
use prometheus::{Histogram, IntCounterVec};
use rdkafka::{Message as _, Offset, message::BorrowedMessage};
use rfq_core::{
    kafka::{
        DeadLetterKind, DeadLetters, Follow, Follower, KafkaSettings, TopicSettings,
        notices::Notice,
    },
    metrics::{counter_vec, histogram},
};
use std::sync::LazyLock;
use tokio_util::sync::CancellationToken;

/// Notices read, by what became of them.
static NOTICES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_api_notices_total",
        "Change notices read from the events topic, by result: watched (woke live streams), unwatched (no stream watches the RFQ), unreadable (dead-lettered).",
        &["result"],
    )
});

/// From a change durable (the aggregator's clock) to its notice read here.
static LAG: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "rfq_api_notice_lag_seconds",
        "Time from an answer kept or an RFQ closed being durable in the store (the aggregator's clock) to its change notice being read by this API, for RFQs a live stream watches. Clocks of different hosts add their skew.",
        vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ],
    )
});

/// Reads the events topic from its end into `live` until `shutdown`: every
/// API instance reads every partition (no group: each wakes its own
/// streams). A record that is not a notice is dead-lettered. Returns once
/// the consumer is assigned, with the reading to run.
pub async fn follow(
    kafka: &KafkaSettings,
    topics: &TopicSettings,
    live: Live,
    shutdown: CancellationToken,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + Send + 'static> {
    let dead_letters = DeadLetters::new(
        kafka.producer("rfq-api")?,
        topics.dead_letter_topic.clone(),
        "api",
    );
    // From the end: a stream starts by reading the store, so only what
    // changes after it began matters.
    let follower =
        Follower::every_partition(kafka, "rfq-api-events", &topics.events_topic, Offset::End)
            .await?;
    Ok(follower.run(Notices { live, dead_letters }, shutdown))
}

/// What the follower does with each record of the events topic.
struct Notices {
    /// The streams to wake.
    live: Live,
    /// Where a record that is not a notice goes.
    dead_letters: DeadLetters,
}

impl Follow for Notices {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        match Notice::parse(message.key(), message.payload()) {
            Ok(notice) => {
                let result = if self.live.notify(&notice.rfq) {
                    let lag = chrono::Utc::now() - notice.at;
                    LAG.observe(lag.as_seconds_f64().max(0.0));
                    "watched"
                } else {
                    "unwatched"
                };
                NOTICES.with_label_values(&[result]).inc();
            }
            Err(reason) => {
                NOTICES.with_label_values(&["unreadable"]).inc();
                let reason = format!("not a change notice: {reason}");
                // A notice only saves time: failing to set a bad record
                // aside is logged, and reading goes on.
                if let Err(error) = self
                    .dead_letters
                    .send(message, DeadLetterKind::Decode, &reason)
                    .await
                {
                    tracing::error!(%error, %reason, "a record on the events topic not dead-lettered");
                }
            }
        }
        Ok(())
    }
}
