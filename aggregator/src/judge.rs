//! Judging one record of the quotes topic: decoding it, feeding the window,
//! dead-lettering what is refused, and counting every answer's outcome
//! (overall, and per partner with the lines decided at each close).

use crate::{
    metrics::{
        OPENED, PROVIDER_ANSWER_SECONDS, PROVIDER_DUPLICATES, PROVIDER_LINES, PROVIDER_REFUSED,
        PROVIDER_WINS, RESPONSES,
    },
    partners::Partners,
    window::{Verdict, Window},
    writer::EffectWriter,
};
use chrono::{DateTime, TimeZone, Utc};
use rdkafka::{Message, message::BorrowedMessage};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    Answer, AnswerOutcome, Effect, JudgedAnswer, ProviderId,
    kafka::{DeadLetterKind, DeadLetters},
    latency_ms,
};
use rfq_store::RfqStatus;

/// When a record reached the topic: its Kafka timestamp (the producer's
/// create time, or the broker's append time if the topic is configured so).
/// Falls back to now for a record without one.
fn stamp(message: &BorrowedMessage<'_>) -> DateTime<Utc> {
    message
        .timestamp()
        .to_millis()
        .and_then(|millis| Utc.timestamp_millis_opt(millis).single())
        .unwrap_or_else(Utc::now)
}

/// What judging needs of the aggregator, borrowed for one batch.
pub(crate) struct Judge<'a> {
    /// Decodes the records.
    codec: &'a SharedCodec,
    /// Refused records go there.
    dead_letters: &'a DeadLetters,
    /// The open RFQs of the partitions we own.
    window: &'a mut Window,
    /// Settles pending effects before the store is asked about a closed RFQ.
    writer: &'a EffectWriter,
    /// The partner of each provider, for the per-partner metrics.
    partners: &'a Partners,
}

impl<'a> Judge<'a> {
    /// A judge of the records read by the aggregator that owns these.
    pub(crate) fn new(
        codec: &'a SharedCodec,
        dead_letters: &'a DeadLetters,
        window: &'a mut Window,
        writer: &'a EffectWriter,
        partners: &'a Partners,
    ) -> Judge<'a> {
        Judge {
            codec,
            dead_letters,
            window,
            writer,
            partners,
        }
    }

    /// Judges one record, adding the effects to write to `effects`.
    pub(crate) async fn record(
        &mut self,
        message: &BorrowedMessage<'_>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let payload = message.payload().unwrap_or_default();
        let record =
            match rfq_avro::decode_patiently(self.codec.as_ref(), message.topic(), payload).await {
                Ok(record) => record,
                Err(error) => {
                    let (reason, provider) = (error.to_string(), error.provider());
                    return self
                        .dead_letters
                        .send_from(message, DeadLetterKind::Decode, &reason, provider)
                        .await;
                }
            };
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
                self.dead_letters
                    .send(message, DeadLetterKind::WrongPartition, &reason)
                    .await?;
            }
            Record::Rfq(rfq) => {
                OPENED.with_label_values(&["record"]).inc();
                effects.extend(self.window.open(&rfq));
            }
            Record::Answer(answer) => self.answer(message, answer, effects).await?,
            Record::Tick(tick) if tick.partition == message.partition() => {
                effects.extend(self.window.tick(tick.partition, tick.at));
            }
            Record::Tick(tick) => {
                let reason = format!("a deadline marker of partition {}", tick.partition);
                self.dead_letters
                    .send(message, DeadLetterKind::WrongPartition, &reason)
                    .await?;
            }
            Record::Heartbeat(_) => {
                self.dead_letters
                    .send(
                        message,
                        DeadLetterKind::UnexpectedType,
                        "a provider heartbeat on the quotes topic",
                    )
                    .await?;
            }
        }
        // The scorecard lines of what this record closed, after the close.
        let lines = self.window.take_scores();
        self.count_lines(&lines);
        effects.extend(lines);
        Ok(())
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

    /// Judges an answer and counts its outcome
    /// (`rfq_aggregator_responses_total{verdict}`).
    async fn answer(
        &mut self,
        message: &BorrowedMessage<'_>,
        answer: Answer,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let id = answer.rfq;
        let provider = answer.provider.clone();
        let received_at = stamp(message);
        let verdict = match self
            .window
            .respond(answer.clone(), message.partition(), received_at)
        {
            Some(verdict) => verdict,
            None => match self.not_open(message, answer, received_at, effects).await? {
                Some(verdict) => verdict,
                None => return Ok(()),
            },
        };
        if verdict.outcome == AnswerOutcome::NotAddressed {
            let reason = format!("provider was not addressed by RFQ {id}");
            self.dead_letters
                .send_from(
                    message,
                    DeadLetterKind::NotAddressed,
                    &reason,
                    Some(provider.as_str()),
                )
                .await?;
        }
        effects.extend(verdict.effects);
        RESPONSES
            .with_label_values(&[verdict.outcome.verdict()])
            .inc();
        self.count_refused(&provider, verdict.outcome);
        Ok(())
    }

    /// An answer for an RFQ that is not open here: asks the store whether it
    /// is closed (then the answer is late, a duplicate or from a stranger),
    /// open in another partition, or unknown (both dead-lettered here).
    /// Rare, so a store read is fine. `None`: still not open here once
    /// recovered from the store (cannot happen: it is recovered into this
    /// very partition), so nothing to count.
    async fn not_open(
        &mut self,
        message: &BorrowedMessage<'_>,
        answer: Answer,
        received_at: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Option<Verdict>> {
        let id = answer.rfq;
        // Settle what is pending so the store answers truthfully.
        self.writer.write(std::mem::take(effects)).await?;
        let store = self.writer.store();
        let Some(stored) = store.rfq(&id).await? else {
            let reason = format!("no RFQ with id {id}");
            let provider = answer.provider.as_str();
            self.dead_letters
                .send_from(message, DeadLetterKind::UnknownRfq, &reason, Some(provider))
                .await?;
            return Ok(Some(Verdict::refused(AnswerOutcome::UnknownRfq)));
        };
        if stored.rfq.return_address.partition != message.partition() {
            let reason = format!(
                "answers to RFQ {id} belong in partition {} of {}",
                stored.rfq.return_address.partition, stored.rfq.return_address.topic
            );
            let provider = answer.provider.as_str();
            self.dead_letters
                .send_from(
                    message,
                    DeadLetterKind::WrongPartition,
                    &reason,
                    Some(provider),
                )
                .await?;
            return Ok(Some(Verdict::refused(AnswerOutcome::WrongPartition)));
        }
        let kept = store.responses(&id).await?;
        match stored.status {
            RfqStatus::Closed { .. } => {
                Ok(Some(if !stored.rfq.addressed.contains(&answer.provider) {
                    Verdict::refused(AnswerOutcome::NotAddressed)
                } else if kept.iter().any(|k| k.answer.provider == answer.provider) {
                    Verdict::refused(AnswerOutcome::Duplicate)
                } else {
                    // Numbered after every answer kept: the store has them
                    // all, as pending effects were settled above.
                    let highest = kept.iter().map(|k| k.seq).max().unwrap_or(0);
                    let seq = u32::try_from(kept.len()).unwrap_or(u32::MAX).max(highest);
                    let seq = seq.saturating_add(1);
                    // Silent at the close, late now: its scorecard line
                    // says so.
                    let score = Effect::ScoreLate {
                        provider: answer.provider.clone(),
                        rfq: id,
                        created_at: stored.rfq.created_at,
                        latency_ms: latency_ms(stored.rfq.created_at, received_at),
                    };
                    let mut verdict = Verdict::kept(JudgedAnswer::late(answer, received_at, seq));
                    verdict.effects.push(score);
                    verdict
                }))
            }
            // Open in the store and ours, yet not in the window (its RFQ
            // record was not read here): take it up and judge again.
            RfqStatus::Open => {
                self.window.recover(&stored.rfq, &kept);
                Ok(self
                    .window
                    .respond(answer, message.partition(), received_at))
            }
        }
    }
}
