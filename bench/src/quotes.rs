//! Writing to the quotes topic as the pipeline does, for the benches that
//! feed the aggregator directly ([`crate::preload`], [`crate::alone`]): an
//! RFQ's copy in the partition of its correlation id, keyed by it, in the
//! codec's wire format, as the producer's first step writes it; then its
//! answers behind it, in order, as adapters write them to its return
//! address.

use anyhow::Context as _;
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    producer::FutureRecord,
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::{Producer, producer::DeliveryFuture};
use rfq_core::{Answer, CorrelationId, ReturnAddress, Rfq, pipeline::PipelineSettings};
use std::time::Duration;

/// Writes RFQs and answers to the pipeline's quotes topic.
pub struct QuotesWriter {
    codec: SharedCodec,
    producer: Producer,
    /// The quotes topic.
    pub topic: String,
    /// Its partitions.
    pub partitions: i32,
}

impl QuotesWriter {
    /// A writer to `pipeline`'s quotes topic, which must exist.
    pub async fn open(
        pipeline: &PipelineSettings,
        codec: SharedCodec,
        client_id: &str,
    ) -> anyhow::Result<QuotesWriter> {
        let producer = pipeline.kafka.producer(client_id)?;
        let topic = pipeline.topics.quotes_topic.clone();
        let partitions = {
            let (producer, topic) = (producer.clone(), topic.clone());
            tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(30))
                    .map(|m| m.topics().first().map_or(0, |t| t.partitions().len()))
            })
            .await??
        };
        anyhow::ensure!(partitions > 0, "the quotes topic {topic} has no partitions");
        Ok(QuotesWriter {
            codec,
            producer,
            topic,
            partitions: i32::try_from(partitions)?,
        })
    }

    /// Where the answers to `id` go, as the producer names it.
    pub fn return_address(&self, id: CorrelationId) -> ReturnAddress {
        ReturnAddress {
            topic: self.topic.clone(),
            partition: id.partition(self.partitions),
        }
    }

    /// Writes `rfq` to its return address, then `answers` behind it in
    /// that order; returns once the broker acknowledged them all.
    pub async fn write(&self, rfq: &Rfq, answers: &[Answer]) -> anyhow::Result<()> {
        let mut payloads = vec![self.encode(Record::Rfq(rfq.clone())).await?];
        for answer in answers {
            payloads.push(self.encode(Record::Answer(answer.clone())).await?);
        }
        let key = rfq.id.to_string();
        let partition = rfq.return_address.partition;
        // Enqueued one after the other (the producer is idempotent: the
        // partition keeps their order), acknowledged together.
        let mut deliveries = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            let record = FutureRecord::to(&self.topic)
                .partition(partition)
                .key(key.as_str())
                .payload(payload.as_slice());
            deliveries.push(self.enqueue(record).await?);
        }
        for delivery in deliveries {
            delivery
                .await
                .context("the producer went away")?
                .map_err(|(error, _)| error)
                .with_context(|| format!("writing to {}", self.topic))?;
        }
        Ok(())
    }

    async fn encode(&self, record: Record) -> anyhow::Result<Vec<u8>> {
        self.codec
            .encode(&self.topic, &record)
            .await
            .with_context(|| format!("encoding for {}", self.topic))
    }

    /// Enqueues `record`, waiting while the producer's queue is full.
    async fn enqueue<'a>(
        &self,
        mut record: FutureRecord<'a, str, [u8]>,
    ) -> anyhow::Result<DeliveryFuture> {
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    return Err(error).with_context(|| format!("writing to {}", self.topic));
                }
            }
        }
    }
}
