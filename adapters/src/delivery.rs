//! Delivering an RFQ record's answers: to its return address while the RFQ
//! is open, else to the dead-letter topic.

use crate::metrics::ANSWERS;
use chrono::{DateTime, Utc};
use rdkafka::{Message, message::BorrowedMessage, producer::FutureRecord};
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::Producer;
use rfq_core::{
    Answer, CorrelationId, ReturnAddress, Rfq,
    kafka::{DELIVERY_TIMEOUT, DeadLetter, DeadLetterKind, DeadLetterSource, DeadLetters},
};
use std::time::Duration;

/// Longest wait between two attempts to send an answer or a dead letter.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Longest an answer is retried when its RFQ's deadline is further off
/// (the producer's longest deadline, by default).
const MAX_ANSWER_RETRY: chrono::Duration = chrono::Duration::hours(1);

/// Delivers the answers to one RFQ record: to its return address while the
/// RFQ is open, and to the dead-letter topic once an answer has proved
/// undeliverable past the RFQ's deadline. An RFQ record's offset is stored
/// only when each of its answers has been acknowledged by one or the other.
pub(crate) struct Delivery {
    /// Sends the answers.
    producer: Producer,
    /// Encodes them.
    codec: SharedCodec,
    /// Where answers that cannot be delivered go.
    dead_letters: DeadLetters,
    /// The adapter's name (metric label).
    adapter: String,
    /// The RFQ record: (topic, partition, offset).
    source: (String, i32, i64),
    /// The RFQ answered.
    rfq: CorrelationId,
    /// The return address: topic.
    topic: String,
    /// The return address: partition.
    partition: i32,
    /// When an answer that cannot be delivered is given up: the RFQ's
    /// deadline, or [`MAX_ANSWER_RETRY`] after the RFQ was read if sooner.
    give_up_at: DateTime<Utc>,
}

impl Delivery {
    /// Delivers the answers to `rfq`, read in `message`, for the adapter
    /// `adapter`.
    pub(crate) fn new(
        adapter: &str,
        producer: Producer,
        codec: SharedCodec,
        dead_letters: DeadLetters,
        message: &BorrowedMessage<'_>,
        rfq: &Rfq,
    ) -> Delivery {
        let source = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        let parts = (adapter, producer, codec, dead_letters);
        Delivery::to(parts, source, rfq.id, &rfq.return_address, rfq.deadline)
    }

    /// Delivers answers to the RFQ `rfq` at `return_address` until
    /// `deadline`, read from `source` (topic, partition, offset): a door
    /// forwarding its partner's answers. `parts`: the adapter's name, its
    /// producer, codec and dead letters.
    pub(crate) fn to(
        (adapter, producer, codec, dead_letters): (&str, Producer, SharedCodec, DeadLetters),
        source: (String, i32, i64),
        rfq: CorrelationId,
        return_address: &ReturnAddress,
        deadline: DateTime<Utc>,
    ) -> Delivery {
        Delivery {
            producer,
            codec,
            dead_letters,
            adapter: adapter.to_owned(),
            source,
            rfq,
            topic: return_address.topic.clone(),
            partition: return_address.partition,
            // A deadline far off (an RFQ not from our producer, which caps
            // them) must not keep an undeliverable answer, and with it the
            // partition's stored offset, waiting for ever.
            give_up_at: deadline.min(Utc::now() + MAX_ANSWER_RETRY),
        }
    }

    /// Sends `answer` to the return address, retrying while the RFQ is
    /// open; once its deadline has passed (see `give_up_at`), an answer
    /// still refused is dead-lettered (with the return address and the
    /// error) instead. An answer that cannot even be encoded is
    /// dead-lettered at once. Returns once one or the other is acknowledged.
    pub(crate) async fn answer(&self, answer: Answer) {
        let kind = answer.reply.outcome().as_str();
        let key = answer.rfq.to_string();
        let record = Record::Answer(answer.clone());
        let payload =
            match rfq_avro::encode_patiently(self.codec.as_ref(), &self.topic, &record).await {
                Ok(payload) => payload,
                Err(error) => {
                    let reason = format!(
                        "the answer of {} to RFQ {} cannot be encoded: {error} ({answer:?})",
                        answer.provider, answer.rfq
                    );
                    tracing::error!(%reason, "encoding an answer");
                    let provider = answer.provider.as_str();
                    self.dead_letter(DeadLetterKind::Unencodable, (&key, provider), None, &reason)
                        .await;
                    return;
                }
            };
        let mut backoff = Duration::from_millis(100);
        loop {
            let record = FutureRecord::to(&self.topic)
                .partition(self.partition)
                .key(&key)
                .payload(&payload);
            let error = match self.producer.send(record, DELIVERY_TIMEOUT).await {
                Ok(_) => {
                    ANSWERS
                        .with_label_values(&[self.adapter.as_str(), kind])
                        .inc();
                    return;
                }
                Err((error, _)) => error,
            };
            let now = Utc::now();
            if now >= self.give_up_at {
                let reason = format!(
                    "the answer of {} to RFQ {} could not be delivered to partition {} of {} \
                     by {} (the RFQ's deadline, at most {} minutes after it was read): {error}",
                    answer.provider,
                    answer.rfq,
                    self.partition,
                    self.topic,
                    self.give_up_at.to_rfc3339(),
                    MAX_ANSWER_RETRY.num_minutes()
                );
                match self
                    .try_dead_letter(
                        DeadLetterKind::Undeliverable,
                        (&key, answer.provider.as_str()),
                        Some(&payload),
                        &reason,
                    )
                    .await
                {
                    Ok(()) => return,
                    // Try the answer again, then the dead letter.
                    Err(dead_letter_error) => tracing::warn!(
                        error = format!("{dead_letter_error:#}"),
                        "dead-lettering an undeliverable answer"
                    ),
                }
            } else {
                tracing::warn!(
                    %error,
                    topic = %self.topic,
                    partition = self.partition,
                    retry_in = ?backoff,
                    "sending an answer"
                );
            }
            // Wake up when giving up is due at the latest.
            let until_give_up = (self.give_up_at - now).to_std().unwrap_or_default();
            let wait = match until_give_up.is_zero() {
                true => backoff,
                false => backoff.min(until_give_up),
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Dead-letters an answer of this RFQ record, retrying until the
    /// dead-letter topic acknowledges it (a refused copy is replaced by a
    /// reference there, so only an unreachable broker makes this wait).
    async fn dead_letter(
        &self,
        kind: DeadLetterKind,
        key_and_provider: (&str, &str),
        payload: Option<&[u8]>,
        reason: &str,
    ) {
        let mut backoff = Duration::from_millis(100);
        while let Err(error) = self
            .try_dead_letter(kind, key_and_provider, payload, reason)
            .await
        {
            tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff, "dead-lettering an answer");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// `key_and_provider`: the answer's key (the RFQ's id) and its provider.
    async fn try_dead_letter(
        &self,
        kind: DeadLetterKind,
        (key, provider): (&str, &str),
        payload: Option<&[u8]>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let (topic, partition, offset) = &self.source;
        self.dead_letters
            .send_letter(DeadLetter {
                key: Some(key.as_bytes()),
                value: payload,
                source: DeadLetterSource {
                    topic,
                    partition: *partition,
                    offset: *offset,
                },
                destination: Some((&self.topic, self.partition)),
                kind,
                reason,
                provider: Some(provider).filter(|p| !p.is_empty()),
            })
            .await
    }
}

impl crate::partner::Sink for Delivery {
    async fn answer(&self, answer: Answer) {
        Delivery::answer(self, answer).await;
    }

    /// Dead-letters what a partner sent (the body, cut if large) with the
    /// reason, keyed by the RFQ's id.
    async fn refuse(&self, refusal: crate::partner::Refusal, body: &[u8]) {
        let key = self.rfq.to_string();
        let provider = refusal.provider.as_ref().map_or("", |p| p.as_str());
        self.dead_letter(
            DeadLetterKind::PartnerAnswer,
            (&key, provider),
            Some(body),
            &refusal.reason,
        )
        .await;
    }
}
