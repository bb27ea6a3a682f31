//! Inbound: what the partner writes at its door, checked against the
//! partner ([`check`](super::check)) before anything is forwarded. An
//! answer goes to its RFQ's return address as the fleet's answers do
//! ([`Delivery`]); a heartbeat to the providers topic keyed by provider,
//! as the fleet's are, its `adapter` the partner's name. The partner's offset is stored only once the
//! forward (or the dead letter) is acknowledged.

use super::{
    check,
    context::{Context, MAX_BACKOFF, Rest, Take, undecodable, unexpected},
    sent::Sent,
};
use crate::delivery::Delivery;
use rdkafka::{Message as _, message::BorrowedMessage, producer::FutureRecord};
use rfq_avro::Record;
use rfq_core::{Reply, kafka::DELIVERY_TIMEOUT};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// Reads the door's answers topic until `shutdown`.
pub(super) async fn answers(
    context: Arc<Context>,
    sent: Arc<Sent>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topic = context.door.answers_topic();
    let answers = Answers {
        context: context.clone(),
        sent,
        shutdown: shutdown.clone(),
    };
    context.consume(&topic, "answers", answers, &shutdown).await
}

/// Reads the door's heartbeats topic until `shutdown`.
pub(super) async fn heartbeats(
    context: Arc<Context>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topic = context.door.heartbeats_topic();
    let heartbeats = Heartbeats {
        context: context.clone(),
    };
    context
        .consume(&topic, "heartbeats", heartbeats, &shutdown)
        .await
}

/// Decodes a record the partner wrote and takes it as `pick` does: the
/// value, or `None` once the record is dead-lettered (`decode`, or
/// `unexpected-type` naming what was `expected`).
async fn read<T>(
    context: &Context,
    message: &BorrowedMessage<'_>,
    expected: &str,
    pick: impl FnOnce(Record) -> Option<T>,
) -> Option<T> {
    let payload = message.payload().unwrap_or_default();
    let decoded =
        rfq_avro::decode_patiently(context.codec.as_ref(), message.topic(), payload).await;
    let refusal = match decoded.map(|record| (record.record_type(), pick(record))) {
        Ok((_, Some(value))) => return Some(value),
        Ok((got, None)) => (unexpected(expected, got), None),
        Err(error) => (undecodable(&error), error.provider().map(str::to_owned)),
    };
    context
        .refuse(message, refusal.0, refusal.1.as_deref())
        .await;
    None
}

struct Answers {
    context: Arc<Context>,
    sent: Arc<Sent>,
    /// Ends a wait for the RFQs sent to be read back.
    shutdown: CancellationToken,
}

impl Take for Answers {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<Option<Rest>> {
        let context = &self.context;
        let pick = |record| match record {
            Record::Answer(answer) => Some(answer),
            _ => None,
        };
        let Some(answer) = read(context, message, "a QuoteResponse", pick).await else {
            return Ok(None);
        };
        let partner = context.door.partner();
        let provider = Some(answer.provider.as_str());
        // Refused before anything is looked up: not the partner's to write.
        if let Err(refusal) = check::in_namespace(partner, &answer.provider) {
            context.refuse(message, refusal, provider).await;
            return Ok(None);
        }
        let sent = self.sent.lookup(answer.rfq, &self.shutdown).await?;
        if let Err(refusal) = check::answer(partner, &answer, sent.as_ref()) {
            context.refuse(message, refusal, provider).await;
            return Ok(None);
        }
        let Some(sent) = sent else {
            return Ok(None);
        };
        let kind = match answer.reply {
            Reply::Quoted { .. } => "quote",
            Reply::Declined { .. } => "decline",
        };
        let source = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        let adapter = format!("door-{partner}");
        let parts = (
            adapter.as_str(),
            context.producer.clone(),
            context.codec.clone(),
            context.dead_letters.clone(),
        );
        let rfq = answer.rfq;
        let delivery = Delivery::to(parts, source, rfq, &sent.return_address, sent.deadline);
        let context = context.clone();
        Ok(Some(Box::pin(async move {
            delivery.answer(answer).await;
            context.forwarded(kind);
        })))
    }
}

struct Heartbeats {
    context: Arc<Context>,
}

impl Take for Heartbeats {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<Option<Rest>> {
        let context = &self.context;
        let pick = |record| match record {
            Record::Heartbeat(heartbeat) => Some(heartbeat),
            _ => None,
        };
        let Some(mut heartbeat) = read(context, message, "a ProviderHeartbeat", pick).await else {
            return Ok(None);
        };
        let provider = heartbeat.provider.to_string();
        if let Err(refusal) = check::heartbeat(context.door.partner(), &heartbeat) {
            context.refuse(message, refusal, Some(&provider)).await;
            return Ok(None);
        }
        // The partner hosting the provider, as the pipeline labels it
        // (`rfq_provider_*{partner}`): the door's, whatever it wrote.
        heartbeat.adapter = context.partner().to_owned();
        let topic = &context.pipeline.topics.providers_topic;
        let record = Record::Heartbeat(heartbeat);
        let payload = rfq_avro::encode_patiently(context.codec.as_ref(), topic, &record).await?;
        let mut backoff = Duration::from_millis(100);
        loop {
            let to = FutureRecord::to(topic).key(&provider).payload(&payload);
            match context.producer.send(to, DELIVERY_TIMEOUT).await {
                Ok(_) => break,
                Err((error, _)) => {
                    tracing::warn!(%error, %topic, retry_in = ?backoff, "forwarding a heartbeat");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        context.forwarded("heartbeat");
        Ok(None)
    }
}
