use super::DELIVERY_TIMEOUT;
use prometheus::IntCounterVec;
use rdkafka::{
    Message,
    message::{BorrowedMessage, Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use std::sync::LazyLock;

/// Header names on dead-letter records. The key and payload are the
/// original record's, untouched, so nothing is lost and it can be replayed.
pub struct DeadLetterHeaders;

impl DeadLetterHeaders {
    /// Why the record was refused.
    pub const REASON: &'static str = "rfq.dlq.reason";
    /// Which component refused it.
    pub const COMPONENT: &'static str = "rfq.dlq.component";
    /// Topic it was read from.
    pub const TOPIC: &'static str = "rfq.dlq.source.topic";
    /// Partition it was read from.
    pub const PARTITION: &'static str = "rfq.dlq.source.partition";
    /// Offset it was read from.
    pub const OFFSET: &'static str = "rfq.dlq.source.offset";
}

static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::counter_vec(
        "rfq_dead_letters_total",
        "Records sent to the dead-letter topic, by component and kind of reason.",
        &["component", "kind"],
    )
});

/// Sends records that cannot be used to the dead-letter topic, with the
/// reason, and counts them.
#[derive(Clone)]
pub struct DeadLetters {
    /// Producer shared with the component.
    producer: FutureProducer,
    /// The dead-letter topic.
    topic: String,
    /// Component name written into the headers and the metric.
    component: &'static str,
}

impl DeadLetters {
    /// A dead-letter sender for `component`.
    pub fn new(producer: FutureProducer, topic: String, component: &'static str) -> Self {
        Self {
            producer,
            topic,
            component,
        }
    }

    /// Sends `message` with `reason`; `kind` is a short label for the metric
    /// (e.g. `decode`, `unknown-rfq`). Returns once the broker acknowledged,
    /// so the caller may then store the source offset.
    pub async fn send(
        &self,
        message: &BorrowedMessage<'_>,
        kind: &'static str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: DeadLetterHeaders::REASON,
                value: Some(reason),
            })
            .insert(Header {
                key: DeadLetterHeaders::COMPONENT,
                value: Some(self.component),
            })
            .insert(Header {
                key: DeadLetterHeaders::TOPIC,
                value: Some(message.topic()),
            })
            .insert(Header {
                key: DeadLetterHeaders::PARTITION,
                value: Some(&partition),
            })
            .insert(Header {
                key: DeadLetterHeaders::OFFSET,
                value: Some(&offset),
            });
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map_err(|(error, _)| anyhow::anyhow!("dead-lettering to {}: {error}", self.topic))?;
        DEAD_LETTERS
            .with_label_values(&[self.component, kind])
            .inc();
        tracing::warn!(
            component = self.component,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason,
            "record sent to the dead-letter topic"
        );
        Ok(())
    }
}
