//! What every reader of one door shares: the partner, the pipeline, the
//! producer; how a record is refused, counted, and read in a group.

use super::check::Refusal;
use crate::metrics::{DOOR_DEAD_LETTERS, DOOR_FORWARDED};
use anyhow::Context as _;
use futures::{StreamExt as _, stream::FuturesOrdered};
use rdkafka::Message as _;
use rdkafka::{
    consumer::{Consumer as _, DefaultConsumerContext, StreamConsumer},
    message::BorrowedMessage,
};
use rfq_avro::SharedCodec;
use rfq_core::{
    Door,
    kafka::{DeadLetter, DeadLetters, Producer, close_consumer, on_consumer_error},
    pipeline::PipelineSettings,
};
use std::{pin::Pin, time::Duration};
use tokio_util::sync::CancellationToken;

/// Records of one reader whose writes may be awaiting acknowledgement at once.
const MAX_IN_FLIGHT: usize = 256;

/// Longest wait between two attempts to write a record.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One door's shared parts.
pub(super) struct Context {
    /// The partner's door.
    pub door: Door,
    /// Kafka, topics.
    pub pipeline: PipelineSettings,
    /// Decodes and encodes.
    pub codec: SharedCodec,
    /// Writes what the door forwards.
    pub producer: Producer,
    /// Where refused records go, naming the partner.
    pub dead_letters: DeadLetters,
    /// How long before an RFQ's deadline its answers are due at the door.
    pub margin: chrono::Duration,
}

impl Context {
    /// The partner's name (metric label).
    pub fn partner(&self) -> &str {
        self.door.partner().as_str()
    }

    /// A client (and consumer group) name of this door's reader `what`:
    /// ours, outside the partner's prefix.
    pub fn client(&self, what: &str) -> String {
        format!("rfq-door-{}-{what}", self.door.partner())
    }

    /// Counts a record forwarded (`kind`: rfq, quote, decline, heartbeat).
    pub fn forwarded(&self, kind: &str) {
        DOOR_FORWARDED
            .with_label_values(&[self.partner(), kind])
            .inc();
    }

    /// Dead-letters `message` for `refusal`, naming `provider` if known,
    /// and counts it; retries until the dead-letter topic takes it.
    pub async fn refuse(
        &self,
        message: &BorrowedMessage<'_>,
        refusal: Refusal,
        provider: Option<&str>,
    ) {
        let letter = DeadLetter {
            provider,
            ..DeadLetter::of(message, refusal.kind, &refusal.reason)
        };
        let mut backoff = Duration::from_millis(100);
        while let Err(error) = self.dead_letters.send_letter(letter).await {
            tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff, "dead-lettering at a door");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        DOOR_DEAD_LETTERS
            .with_label_values(&[self.partner(), refusal.kind.as_str()])
            .inc();
    }

    /// Reads `topic` in this door's group `what` until `shutdown`, giving
    /// `each` every record in turn. What `each` leaves to finish (a write
    /// being acknowledged) runs beside the next records, at most
    /// [`MAX_IN_FLIGHT`]; a record's offset is stored once it and every
    /// record before it are finished (forwarded or dead-lettered). An
    /// error of `each` ends the reading; what is unfinished then is read
    /// again.
    pub async fn consume(
        &self,
        topic: &str,
        what: &str,
        mut each: impl Take,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let name = self.client(what);
        let kafka = &self.pipeline.kafka;
        let consumer: StreamConsumer = kafka
            .consumer(&name, &name, DefaultConsumerContext)
            .with_context(|| format!("creating the consumer {name}"))?;
        let (consumer, _) = kafka.assignment.apply(consumer, topic).await?;
        let mut finishing = FuturesOrdered::new();
        let result = async {
            loop {
                let message = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Ok(()),
                    Some((partition, offset)) = finishing.next(), if !finishing.is_empty() => {
                        // librdkafka stores "offset + 1", the next to read.
                        if let Err(error) = consumer.store_offset(topic, partition, offset) {
                            tracing::debug!(%error, topic, "storing an offset (partition revoked?)");
                        }
                        continue;
                    }
                    message = consumer.recv(), if finishing.len() < MAX_IN_FLIGHT => message,
                };
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        on_consumer_error(error, topic).await?;
                        continue;
                    }
                };
                let rest = each.take(&message).await?;
                let at = (message.partition(), message.offset());
                finishing.push_back(async move {
                    if let Some(rest) = rest {
                        rest.await;
                    }
                    at
                });
            }
        }
        .await;
        close_consumer(consumer).await;
        result
    }
}

/// What is left to do for a record once taken: awaited beside the next
/// records, its offset stored once it (and all before it) are done.
pub(super) type Rest = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a door's reader does with each record, in the order of its
/// partition.
pub(super) trait Take: Send {
    /// Takes one record: `None` when it is done with, or what is left.
    fn take(
        &mut self,
        message: &BorrowedMessage<'_>,
    ) -> impl Future<Output = anyhow::Result<Option<Rest>>> + Send;
}

/// The text of a refusal for a record that is not of the expected type.
pub(super) fn unexpected(expected: &str, got: rfq_avro::RecordType) -> Refusal {
    Refusal {
        kind: rfq_core::kafka::DeadLetterKind::UnexpectedType,
        reason: format!("expected {expected}, got {}", got.full_name()),
    }
}

/// The refusal of a record that cannot be decoded.
pub(super) fn undecodable(error: &rfq_avro::CodecError) -> Refusal {
    Refusal {
        kind: rfq_core::kafka::DeadLetterKind::Decode,
        reason: error.to_string(),
    }
}
