//! Where the registry's events are kept: a compacted topic with one
//! partition (as Confluent keeps `_schemas`), or memory for tests.

use crate::Event;
use anyhow::Context as _;
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer as _},
    producer::FutureRecord,
    types::RDKafkaErrorCode,
};
use rfq_core::kafka::Producer;
use rfq_core::kafka::{KafkaSettings, read_to_end};
use std::{ops::ControlFlow, time::Duration};

/// An append-only log of events.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Every event so far, in order.
    async fn replay(&self) -> anyhow::Result<Vec<Event>>;
    /// Appends `event`; returns once it is durable.
    async fn append(&self, event: &Event) -> Result<(), String>;
}

/// Events in memory (gone with the process).
#[derive(Default)]
pub struct MemoryLog {
    /// The events.
    events: std::sync::Mutex<Vec<Event>>,
}

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    async fn replay(&self) -> anyhow::Result<Vec<Event>> {
        Ok(self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    async fn append(&self, event: &Event) -> Result<(), String> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }
}

/// Events in a compacted Kafka topic, keyed as Confluent keys `_schemas`
/// (one key per subject version, one per level), so compaction keeps
/// every version and the latest level.
pub struct KafkaLog {
    /// The topic.
    topic: String,
    /// How to reach Kafka.
    kafka: KafkaSettings,
    /// Appends, waiting for every in-sync replica.
    producer: Producer,
}

impl KafkaLog {
    /// Opens the log in `topic`, creating the topic if it is missing.
    pub async fn open(
        kafka: &KafkaSettings,
        topic: &str,
        replication: i32,
    ) -> anyhow::Result<KafkaLog> {
        let admin: AdminClient<DefaultClientContext> = kafka
            .client_config("rfq-registry-admin", &[])
            .create()
            .context("creating the registry's admin client")?;
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
            .set("cleanup.policy", "compact")
            .set("retention.ms", "-1");
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics([&new], &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
            }
        }
        Ok(KafkaLog {
            topic: topic.to_owned(),
            kafka: kafka.clone(),
            producer: kafka.producer("rfq-registry")?,
        })
    }
}

/// The record key of an event (Confluent's key shapes).
fn key(event: &Event) -> String {
    let key = match event {
        Event::Schema {
            subject, version, ..
        } => {
            serde_json::json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})
        }
        Event::Config { subject, .. } => {
            serde_json::json!({"keytype": "CONFIG", "subject": subject, "magic": 0})
        }
    };
    key.to_string()
}

#[async_trait::async_trait]
impl EventLog for KafkaLog {
    async fn replay(&self) -> anyhow::Result<Vec<Event>> {
        let config: ClientConfig = self.kafka.consumer_config(
            "rfq-registry-replay",
            &[
                ("group.id", "rfq-registry-replay"),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
            ],
        );
        let consumer: BaseConsumer = config.create().context("creating the registry's reader")?;
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Event>> {
            // A topic created a moment ago may not be in the broker's
            // metadata yet (Kafka answers "unknown partition" meanwhile).
            let started = std::time::Instant::now();
            let (low, high) = loop {
                match consumer.fetch_watermarks(&topic, 0, Duration::from_secs(30)) {
                    Err(error)
                        if started.elapsed() < Duration::from_secs(10)
                            && matches!(
                                error.rdkafka_error_code(),
                                Some(
                                    RDKafkaErrorCode::UnknownPartition
                                        | RDKafkaErrorCode::UnknownTopicOrPartition
                                )
                            ) =>
                    {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    extent => {
                        break extent.with_context(|| format!("reading the extent of {topic}"))?;
                    }
                }
            };
            let mut events = Vec::new();
            read_to_end(&consumer, &topic, 0, (low, high), Duration::from_secs(60), |message| {
                match message.payload().map(serde_json::from_slice::<Event>) {
                    Some(Ok(event)) => events.push(event),
                    // A tombstone or a record we did not write: nothing to apply.
                    Some(Err(error)) => {
                        tracing::warn!(%error, offset = message.offset(), "skipping a record of the schemas topic")
                    }
                    None => {}
                }
                ControlFlow::Continue(())
            })?;
            Ok(events)
        })
        .await?
    }

    async fn append(&self, event: &Event) -> Result<(), String> {
        let key = key(event);
        let value = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        self.producer
            .send(
                FutureRecord::to(&self.topic)
                    .partition(0)
                    .key(&key)
                    .payload(&value),
                rfq_core::kafka::DELIVERY_TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(|(error, _)| format!("writing to {}: {error}", self.topic))
    }
}
