//! Reading change notices from the events topic.

use super::Live;
use prometheus::{Histogram, IntCounterVec};
use rdkafka::{Message as _, Offset, consumer::StreamConsumer};
use rfq_core::{
    kafka::{
        DeadLetterKind, DeadLetters, KafkaSettings, TopicSettings, consumer_of_every_partition,
        notices::Notice, on_consumer_error,
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
    let topic = topics.events_topic.clone();
    let dead_letters = DeadLetters::new(
        kafka.producer("rfq-api")?,
        topics.dead_letter_topic.clone(),
        "api",
    );
    // From the end: a stream starts by reading the store, so only what
    // changes after it began matters.
    let consumer =
        consumer_of_every_partition(kafka, "rfq-api-events", &topic, Offset::End).await?;
    Ok(async move {
        let result = read(&consumer, &topic, &live, &dead_letters, &shutdown).await;
        // Closing blocks too.
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        result
    })
}

async fn read(
    consumer: &StreamConsumer,
    topic: &str,
    live: &Live,
    dead_letters: &DeadLetters,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = consumer.recv() => match message {
                Ok(message) => message,
                Err(error) => {
                    on_consumer_error(error, topic).await?;
                    continue;
                }
            },
        };
        match Notice::parse(message.key(), message.payload()) {
            Ok(notice) => {
                let result = if live.notify(&notice.rfq) {
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
                if let Err(error) = dead_letters
                    .send(&message, DeadLetterKind::Decode, &reason)
                    .await
                {
                    tracing::error!(%error, %reason, "a record on the events topic not dead-lettered");
                }
            }
        }
    }
}
