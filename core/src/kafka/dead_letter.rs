mod copy;
mod headers;

pub use headers::{DeadLetterHeaders, MAX_COPIED_KEY, MAX_COPIED_VALUE, MAX_REASON, bounded};

use super::DELIVERY_TIMEOUT;
use crate::AnswerOutcome;
use crate::kafka::Producer;
use copy::{CopyMode, refused_for_good};
use prometheus::IntCounterVec;
use rdkafka::{
    Message,
    error::KafkaError,
    message::{BorrowedMessage, Header, OwnedHeaders},
    producer::FutureRecord,
};
use std::sync::LazyLock;

/// Why a record is dead-lettered: the `kind` label of
/// `rfq_dead_letters_total` and the [`DeadLetterHeaders::KIND`] header. A
/// small fixed set, so the metric has a bounded number of series; the
/// details are in the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterKind {
    /// Not one of our records: bad framing, unknown writer schema, invalid
    /// Avro (a truncated record included) or invalid content.
    Decode,
    /// One of our record types, on a topic where it does not belong.
    UnexpectedType,
    /// No key, on a topic whose records need one (the requests topic: the
    /// region).
    NoKey,
    /// A key that is not text, on a topic whose keys are.
    BadKey,
    /// A record in a partition other than the one it belongs to, or an RFQ
    /// whose return address is not our quotes topic.
    WrongPartition,
    /// An answer for an RFQ that does not exist.
    UnknownRfq,
    /// An answer from a provider the RFQ was not addressed to.
    NotAddressed,
    /// An answer that could not be delivered to its RFQ's return address
    /// before the RFQ's deadline.
    Undeliverable,
    /// An answer that could not be encoded.
    Unencodable,
    /// A provider heartbeat whose region is not its position's at the
    /// producer's region precision: the adapter is configured with another
    /// precision, and RFQs would never be addressed to its provider.
    WrongRegion,
    /// What an HTTP partner answered that is not a usable answer (not an
    /// answers document, a provider not asked, an invalid price, …).
    PartnerAnswer,
    /// What a partner wrote at its door in the name of a provider outside
    /// its namespace (`NAME-…`): an answer or a heartbeat for another
    /// partner's provider. Never forwarded.
    Impersonation,
    /// An answer at a partner's door to an RFQ the door did not send that
    /// partner, or for one of its providers that RFQ was not addressed to.
    /// Never forwarded.
    NotYours,
}

impl DeadLetterKind {
    /// Every kind.
    pub const ALL: [DeadLetterKind; 13] = [
        DeadLetterKind::Decode,
        DeadLetterKind::UnexpectedType,
        DeadLetterKind::NoKey,
        DeadLetterKind::BadKey,
        DeadLetterKind::WrongPartition,
        DeadLetterKind::UnknownRfq,
        DeadLetterKind::NotAddressed,
        DeadLetterKind::Undeliverable,
        DeadLetterKind::Unencodable,
        DeadLetterKind::WrongRegion,
        DeadLetterKind::PartnerAnswer,
        DeadLetterKind::Impersonation,
        DeadLetterKind::NotYours,
    ];

    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Decode => "decode",
            DeadLetterKind::UnexpectedType => "unexpected-type",
            DeadLetterKind::NoKey => "no-key",
            DeadLetterKind::BadKey => "bad-key",
            // Named as the answer outcomes they dead-letter.
            DeadLetterKind::WrongPartition => AnswerOutcome::WrongPartition.as_str(),
            DeadLetterKind::UnknownRfq => AnswerOutcome::UnknownRfq.as_str(),
            DeadLetterKind::NotAddressed => AnswerOutcome::NotAddressed.as_str(),
            DeadLetterKind::Undeliverable => "undeliverable",
            DeadLetterKind::Unencodable => "unencodable",
            DeadLetterKind::WrongRegion => "wrong-region",
            DeadLetterKind::PartnerAnswer => "partner-answer",
            DeadLetterKind::Impersonation => "impersonation",
            DeadLetterKind::NotYours => "not-yours",
        }
    }
}

impl std::fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::counter_vec(
        "rfq_dead_letters_total",
        "Records sent to the dead-letter topic, by component and kind of reason.",
        &["component", "kind"],
    )
});

/// Where the record that could not be used was read (or, for an answer
/// that could not be delivered, the RFQ record it answers).
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterSource<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// A record to dead-letter, with everything the dead letter says about it.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The record's key.
    pub key: Option<&'a [u8]>,
    /// The record's value.
    pub value: Option<&'a [u8]>,
    /// Where it was read.
    pub source: DeadLetterSource<'a>,
    /// For an answer that could not be delivered: the topic and partition
    /// it was for.
    pub destination: Option<(&'a str, i32)>,
    /// The kind of reason.
    pub kind: DeadLetterKind,
    /// Why.
    pub reason: &'a str,
    /// The provider the record is from or for, when it could be read.
    pub provider: Option<&'a str>,
}

impl<'a> DeadLetter<'a> {
    /// The dead letter of a record read from Kafka.
    pub fn of(message: &'a BorrowedMessage<'_>, kind: DeadLetterKind, reason: &'a str) -> Self {
        DeadLetter {
            key: message.key(),
            value: message.payload(),
            source: DeadLetterSource {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
            },
            destination: None,
            kind,
            reason,
            provider: None,
        }
    }
}

/// Sends records that cannot be used to the dead-letter topic, with the
/// reason, and counts them.
#[derive(Clone)]
pub struct DeadLetters {
    /// Producer shared with the component.
    producer: Producer,
    /// The dead-letter topic.
    topic: String,
    /// Component name written into the headers and the metric.
    component: &'static str,
    /// The partner whose door sends them ([`DeadLetterHeaders::PARTNER`]).
    partner: Option<String>,
}

impl DeadLetters {
    /// A dead-letter sender for `component`.
    pub fn new(producer: Producer, topic: String, component: &'static str) -> Self {
        Self {
            producer,
            topic,
            component,
            partner: None,
        }
    }

    /// These dead letters, each naming `partner` (a door's).
    pub fn for_partner(self, partner: &crate::PartnerName) -> Self {
        Self {
            partner: Some(partner.to_string()),
            ..self
        }
    }

    /// Sends `message` with `reason`; see [`DeadLetters::send_letter`].
    pub async fn send(
        &self,
        message: &BorrowedMessage<'_>,
        kind: DeadLetterKind,
        reason: &str,
    ) -> anyhow::Result<()> {
        self.send_letter(DeadLetter::of(message, kind, reason))
            .await
    }

    /// [`DeadLetters::send`] naming the record's provider when it could be
    /// read (header [`DeadLetterHeaders::PROVIDER`]).
    pub async fn send_from(
        &self,
        message: &BorrowedMessage<'_>,
        kind: DeadLetterKind,
        reason: &str,
        provider: Option<&str>,
    ) -> anyhow::Result<()> {
        let letter = DeadLetter {
            provider,
            ..DeadLetter::of(message, kind, reason)
        };
        self.send_letter(letter).await
    }

    /// Sends a dead letter and returns once the broker acknowledged it, so
    /// the caller may then store the source offset.
    ///
    /// A record too large to copy whole is cut (see [`DeadLetterHeaders`]);
    /// if the broker refuses the dead letter itself for good (too large
    /// still, say), a reference to the original is sent instead. An error
    /// is returned only when the dead-letter topic cannot be written at all
    /// (the broker unreachable, say): the caller retries or stops, and the
    /// record is not lost.
    pub async fn send_letter(&self, letter: DeadLetter<'_>) -> anyhow::Result<()> {
        let reason = bounded(letter.reason, MAX_REASON);
        let mut copy = CopyMode::of(&letter);
        if let Err(error) = self.produce(&letter, &reason, copy, None).await {
            if !refused_for_good(&error) {
                anyhow::bail!("dead-lettering to {}: {error}", self.topic);
            }
            tracing::warn!(
                component = self.component,
                %error,
                "the dead-letter topic refused a copy of the record; sending a reference to it"
            );
            copy = CopyMode::Reference;
            let refused = error.to_string();
            self.produce(&letter, &reason, copy, Some(&refused))
                .await
                .map_err(|error| {
                    anyhow::anyhow!("dead-lettering a reference to {}: {error}", self.topic)
                })?;
        }
        DEAD_LETTERS
            .with_label_values(&[self.component, letter.kind.as_str()])
            .inc();
        tracing::warn!(
            component = self.component,
            kind = letter.kind.as_str(),
            topic = letter.source.topic,
            partition = letter.source.partition,
            offset = letter.source.offset,
            size = letter.value.map_or(0, <[u8]>::len),
            copy = copy.as_str(),
            reason = %reason,
            "record sent to the dead-letter topic"
        );
        Ok(())
    }

    async fn produce(
        &self,
        letter: &DeadLetter<'_>,
        reason: &str,
        copy: CopyMode,
        refused: Option<&str>,
    ) -> Result<(), KafkaError> {
        let partition = letter.source.partition.to_string();
        let offset = letter.source.offset.to_string();
        let size = letter.value.map_or(0, <[u8]>::len).to_string();
        let key_size = letter.key.map_or(0, <[u8]>::len).to_string();
        let mut headers = OwnedHeaders::new();
        let fields = [
            (DeadLetterHeaders::REASON, reason),
            (DeadLetterHeaders::KIND, letter.kind.as_str()),
            (DeadLetterHeaders::COMPONENT, self.component),
            (DeadLetterHeaders::TOPIC, letter.source.topic),
            (DeadLetterHeaders::PARTITION, &partition),
            (DeadLetterHeaders::OFFSET, &offset),
            (DeadLetterHeaders::SIZE, &size),
            (DeadLetterHeaders::KEY_SIZE, &key_size),
            (DeadLetterHeaders::COPY, copy.as_str()),
        ];
        for (key, value) in fields {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        if let Some(provider) = letter.provider {
            headers = headers.insert(Header {
                key: DeadLetterHeaders::PROVIDER,
                value: Some(bounded(provider, MAX_REASON).as_ref()),
            });
        }
        if let Some(partner) = &self.partner {
            headers = headers.insert(Header {
                key: DeadLetterHeaders::PARTNER,
                value: Some(partner.as_str()),
            });
        }
        if let Some(refused) = refused {
            headers = headers.insert(Header {
                key: DeadLetterHeaders::REFUSED,
                value: Some(bounded(refused, MAX_REASON).as_ref()),
            });
        }
        if let Some((topic, partition)) = letter.destination {
            headers = headers
                .insert(Header {
                    key: DeadLetterHeaders::DESTINATION_TOPIC,
                    value: Some(bounded(topic, MAX_REASON).as_ref()),
                })
                .insert(Header {
                    key: DeadLetterHeaders::DESTINATION_PARTITION,
                    value: Some(&partition.to_string()),
                });
        }
        let (key, value) = copy.apply(letter);
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}

#[cfg(test)]
mod tests;
