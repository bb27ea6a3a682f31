//! Judging one record of the quotes topic.

use crate::{
    metrics::{OPENED, RESPONSES},
    service::Aggregator,
    window::Verdict,
};
use chrono::{DateTime, TimeZone, Utc};
use rdkafka::{Message, message::BorrowedMessage};
use rfq_avro::Record;
use rfq_core::{Response, kafka::DeadLetterKind};
use rfq_store::{Effect, RfqStatus};

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

impl Aggregator {
    /// Judges one record, adding the effects to write to `effects`.
    pub(crate) async fn on_record(
        &mut self,
        message: &BorrowedMessage<'_>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let payload = message.payload().unwrap_or_default();
        let record = match self.codec.decode(message.topic(), payload).await {
            Ok(record) => record,
            Err(error) => {
                return self
                    .dead_letters
                    .send(message, DeadLetterKind::Decode, &error.to_string())
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
            Record::Response(response) => self.on_response(message, response, effects).await?,
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
        Ok(())
    }

    async fn on_response(
        &mut self,
        message: &BorrowedMessage<'_>,
        response: Response,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<()> {
        let id = response.rfq;
        let received_at = stamp(message);
        let partition = message.partition();
        let verdict = match self
            .window
            .respond(response.clone(), partition, received_at)
        {
            Verdict::NotOpen => {
                self.judge_closed(message, response, received_at, effects)
                    .await?
            }
            verdict => verdict,
        };
        let label = match verdict {
            Verdict::Accepted(accepted) => {
                effects.extend(accepted);
                "accepted"
            }
            Verdict::Late(late) => {
                effects.push(late);
                "late"
            }
            Verdict::Duplicate => "duplicate",
            Verdict::NotAddressed => {
                let reason = format!("provider was not addressed by RFQ {id}");
                self.dead_letters
                    .send(message, DeadLetterKind::NotAddressed, &reason)
                    .await?;
                "not-addressed"
            }
            // Dead-lettered and counted by judge_closed.
            Verdict::NotOpen => return Ok(()),
        };
        RESPONSES.with_label_values(&[label]).inc();
        Ok(())
    }

    /// An answer for an RFQ that is not open here: asks the store whether it
    /// is closed (then the answer is late, a duplicate or from a stranger),
    /// open in another partition, or unknown. Rare, so a store read is fine.
    async fn judge_closed(
        &mut self,
        message: &BorrowedMessage<'_>,
        response: Response,
        received_at: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Verdict> {
        let id = response.rfq;
        // Settle what is pending so the store answers truthfully.
        self.write(std::mem::take(effects)).await?;
        let Some(stored) = self.store.rfq(&id).await? else {
            RESPONSES.with_label_values(&["unknown-rfq"]).inc();
            let reason = format!("no RFQ with id {id}");
            self.dead_letters
                .send(message, DeadLetterKind::UnknownRfq, &reason)
                .await?;
            return Ok(Verdict::NotOpen);
        };
        if stored.rfq.return_address.partition != message.partition() {
            RESPONSES.with_label_values(&["wrong-partition"]).inc();
            let reason = format!(
                "answers to RFQ {id} belong in partition {} of {}",
                stored.rfq.return_address.partition, stored.rfq.return_address.topic
            );
            self.dead_letters
                .send(message, DeadLetterKind::WrongPartition, &reason)
                .await?;
            return Ok(Verdict::NotOpen);
        }
        let answers = self.store.responses(&id).await?;
        match stored.status {
            RfqStatus::Closed { .. } => {
                if !stored.rfq.addressed.contains(&response.provider) {
                    Ok(Verdict::NotAddressed)
                } else if answers
                    .iter()
                    .any(|answer| answer.response.provider == response.provider)
                {
                    Ok(Verdict::Duplicate)
                } else {
                    Ok(Verdict::Late(Effect::Late {
                        response,
                        received_at,
                    }))
                }
            }
            // Open in the store and ours, yet not in the window (its RFQ
            // record was not read here): take it up and judge again.
            RfqStatus::Open => {
                self.window.recover(&stored.rfq, &answers);
                Ok(self
                    .window
                    .respond(response, message.partition(), received_at))
            }
        }
    }
}
