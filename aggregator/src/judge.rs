//! Judging one decoded record of the quotes topic: feeding the window,
//! noting what is to be dead-lettered, and counting every answer's outcome
//! (overall, and per partner with the lines decided at each close).
//!
//! No I/O here: what the window does not know of an answer's RFQ was
//! looked up in the store for the whole batch beforehand ([`Lookups`]),
//! and the refusals are sent by the worker, together, before the batch's
//! offsets are stored.

use crate::{
    lookup::{Found, Lookups},
    metrics::{
        OPENED, PROVIDER_ANSWER_SECONDS, PROVIDER_DUPLICATES, PROVIDER_LINES, PROVIDER_REFUSED,
        PROVIDER_WINS, RESPONSES,
    },
    partners::Partners,
};
use chrono::{DateTime, Utc};
use rdkafka::{Message, message::BorrowedMessage};
use rfq_avro::{CodecError, Record};
use rfq_core::{
    Answer, AnswerOutcome, Effect, ProviderId,
    kafka::{DeadLetterKind, record_time},
};
use rfq_rules::{Verdict, Window};

/// When a record reached the topic: its Kafka timestamp (the producer's
/// create time, or the broker's append time if the topic is configured so).
/// Falls back to now for a record without one.
pub(crate) fn stamp(message: &BorrowedMessage<'_>) -> DateTime<Utc> {
    record_time(message).unwrap_or_else(Utc::now)
}

/// A record to dead-letter: which of the batch, and why.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// Its index in the batch.
    pub(crate) at: usize,
    /// The kind of refusal.
    pub(crate) kind: DeadLetterKind,
    /// The reason, for the header.
    pub(crate) reason: String,
    /// The provider it came from, when it could be read.
    pub(crate) provider: Option<String>,
}

/// What judging a batch decided: effects to write, records to refuse.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    /// Effects, in log order.
    pub(crate) effects: Vec<Effect>,
    /// Dead letters to send before the offsets are stored.
    pub(crate) refusals: Vec<Refusal>,
}

/// What judging needs of the aggregator, borrowed for one batch.
pub(crate) struct Judge<'a> {
    /// The open RFQs of the partitions we own.
    window: &'a mut Window,
    /// What the store said of the RFQs the window did not know.
    lookups: &'a Lookups,
    /// The partner of each provider, for the per-partner metrics.
    partners: &'a Partners,
}

impl<'a> Judge<'a> {
    /// A judge of one batch.
    pub(crate) fn new(
        window: &'a mut Window,
        lookups: &'a Lookups,
        partners: &'a Partners,
    ) -> Judge<'a> {
        Judge {
            window,
            lookups,
            partners,
        }
    }

    /// Judges record `at` of the batch (`message`, decoded as `record`).
    pub(crate) fn record(
        &mut self,
        at: usize,
        message: &BorrowedMessage<'_>,
        record: Result<Record, CodecError>,
        judged: &mut Judged,
    ) {
        let refuse = |kind, reason: String, provider: Option<String>| Refusal {
            at,
            kind,
            reason,
            provider,
        };
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let provider = error.provider().map(str::to_owned);
                judged
                    .refusals
                    .push(refuse(DeadLetterKind::Decode, error.to_string(), provider));
                return;
            }
        };
        let record_type = record.record_type();
        match record {
            // The producer writes an RFQ's copy into the partition its
            // return address names, which owns it. One found elsewhere would
            // be kept open by an aggregator that never reads its deadline
            // markers (they go to the named partition): refuse it. So is
            // one naming another topic: its answers would never come here.
            Record::Rfq(rfq)
                if rfq.return_address.partition != message.partition()
                    || rfq.return_address.topic != message.topic() =>
            {
                let reason = format!(
                    "RFQ {} names partition {} of {} as its return address",
                    rfq.id, rfq.return_address.partition, rfq.return_address.topic
                );
                judged
                    .refusals
                    .push(refuse(DeadLetterKind::WrongPartition, reason, None));
            }
            Record::Rfq(rfq) => {
                OPENED.with_label_values(&["record"]).inc();
                judged.effects.extend(self.window.open(&rfq));
            }
            Record::Answer(answer) => {
                let provider = answer.provider.clone();
                let (verdict, refusal) = self.answer(message, answer);
                if let Some((kind, reason)) = refusal {
                    judged
                        .refusals
                        .push(refuse(kind, reason, Some(provider.to_string())));
                }
                RESPONSES
                    .with_label_values(&[verdict.outcome.verdict()])
                    .inc();
                self.count_refused(&provider, verdict.outcome);
                judged.effects.extend(verdict.effects);
            }
            Record::Tick(tick) if tick.partition == message.partition() => {
                judged
                    .effects
                    .extend(self.window.tick(tick.partition, tick.at));
            }
            Record::Tick(tick) => {
                let reason = format!("a deadline marker of partition {}", tick.partition);
                judged
                    .refusals
                    .push(refuse(DeadLetterKind::WrongPartition, reason, None));
            }
            Record::Heartbeat(_) | Record::PartnerRfq(_) => {
                let reason = format!("a {} on the quotes topic", record_type.full_name());
                judged
                    .refusals
                    .push(refuse(DeadLetterKind::UnexpectedType, reason, None));
            }
        }
        // The scorecard lines of what this record closed, after the close.
        let lines = self.window.take_scores();
        self.count_lines(&lines);
        judged.effects.extend(lines);
    }

    /// Judges an answer: by the window, which knows its RFQ (open, closed
    /// lately, or taken up from the store for this batch), else as the
    /// store's lookup found it. Returns the verdict and, for a refusal
    /// that is dead-lettered, its kind and reason.
    fn answer(
        &mut self,
        message: &BorrowedMessage<'_>,
        answer: Answer,
    ) -> (Verdict, Option<(DeadLetterKind, String)>) {
        let id = answer.rfq;
        let partition = message.partition();
        let verdict = self
            .window
            .respond(answer, partition, stamp(message))
            .unwrap_or_else(|| match self.lookups.get(&id) {
                Some(Found::Elsewhere { .. }) => Verdict::refused(AnswerOutcome::WrongPartition),
                Some(Found::Unknown) | None => Verdict::refused(AnswerOutcome::UnknownRfq),
            });
        let refusal = match verdict.outcome {
            AnswerOutcome::NotAddressed => Some((
                DeadLetterKind::NotAddressed,
                format!("provider was not addressed by RFQ {id}"),
            )),
            AnswerOutcome::UnknownRfq => {
                Some((DeadLetterKind::UnknownRfq, format!("no RFQ with id {id}")))
            }
            AnswerOutcome::WrongPartition => {
                let home = match (self.window.partition_of(&id), self.lookups.get(&id)) {
                    (Some(home), _) => format!("partition {home} of {}", message.topic()),
                    (None, Some(Found::Elsewhere { partition, topic })) => {
                        format!("partition {partition} of {topic}")
                    }
                    _ => "another partition".to_owned(),
                };
                Some((
                    DeadLetterKind::WrongPartition,
                    format!("answers to RFQ {id} belong in {home}"),
                ))
            }
            AnswerOutcome::Quoted
            | AnswerOutcome::Declined
            | AnswerOutcome::Late
            | AnswerOutcome::Duplicate => None,
        };
        (verdict, refusal)
    }

    /// Counts the scorecard lines decided at a close per partner
    /// (`rfq_provider_lines_total`, `_wins_total`, `_answer_seconds`).
    fn count_lines(&self, lines: &[Effect]) {
        for line in lines {
            let Effect::Score(line) = line else {
                continue;
            };
            let partner = self.partners.label(&line.provider);
            PROVIDER_LINES
                .with_label_values(&[&*partner, line.outcome.as_str()])
                .inc();
            if line.won {
                PROVIDER_WINS.with_label_values(&[&*partner]).inc();
            }
            if let Some(ms) = line.latency_ms {
                PROVIDER_ANSWER_SECONDS
                    .with_label_values(&[&*partner])
                    .observe(f64::from(ms) / 1000.0);
            }
        }
    }

    /// Counts a refused answer of `provider` per partner
    /// (`rfq_provider_duplicates_total`, `_refused_total`).
    fn count_refused(&self, provider: &ProviderId, outcome: AnswerOutcome) {
        match outcome {
            AnswerOutcome::Duplicate => {
                let partner = self.partners.label(provider);
                PROVIDER_DUPLICATES.with_label_values(&[&*partner]).inc();
            }
            AnswerOutcome::NotAddressed
            | AnswerOutcome::UnknownRfq
            | AnswerOutcome::WrongPartition => {
                let partner = self.partners.label(provider);
                PROVIDER_REFUSED
                    .with_label_values(&[&*partner, outcome.as_str()])
                    .inc();
            }
            AnswerOutcome::Quoted | AnswerOutcome::Declined | AnswerOutcome::Late => {}
        }
    }
}
