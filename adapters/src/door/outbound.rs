//! Outbound: each RFQ of the requests topic addressed to one of the
//! partner's providers, as the partner may see it, to the door's rfqs
//! topic (keyed by correlation id; the return address in headers, for the
//! door alone). Read in the door's own group, every partition, like the
//! fleet's adapter; the RFQ is at its return address before it is on the
//! requests topic, so it precedes every answer the door forwards.

use super::{
    context::{Context, MAX_BACKOFF, undecodable, unexpected},
    sent::{RETURN_PARTITION, RETURN_TOPIC},
};
use chrono::Utc;
use rdkafka::{
    Message as _,
    message::{BorrowedMessage, Header, OwnedHeaders},
    producer::FutureRecord,
};
use rfq_avro::Record;
use rfq_core::{
    MAX_DEADLINE_SECONDS, PartnerRfq,
    kafka::{DELIVERY_TIMEOUT, Follow, record_time},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// Reads the requests topic for the door until `shutdown`.
pub(super) async fn run(context: Arc<Context>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let topic = context.pipeline.topics.requests_topic.clone();
    let outbound = Outbound {
        context: context.clone(),
    };
    context
        .consume(&topic, "requests", outbound, &shutdown)
        .await
}

struct Outbound {
    context: Arc<Context>,
}

impl Follow for Outbound {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let context = &self.context;
        // Published when it was made, so older than the longest deadline
        // is closed: passed over undecoded (a new door reads the topic
        // from its beginning).
        let horizon = Utc::now() - chrono::Duration::seconds(i64::from(MAX_DEADLINE_SECONDS));
        if record_time(message).is_some_and(|at| at < horizon) {
            return Ok(());
        }
        let payload = message.payload().unwrap_or_default();
        let decoded =
            rfq_avro::decode_patiently(context.codec.as_ref(), message.topic(), payload).await;
        let rfq = match decoded {
            Ok(Record::Rfq(rfq)) => rfq,
            Ok(other) => {
                context
                    .refuse(
                        message,
                        unexpected("an RfqRequest", other.record_type()),
                        None,
                    )
                    .await;
                return Ok(());
            }
            Err(error) => {
                context.refuse(message, undecodable(&error), None).await;
                return Ok(());
            }
        };
        if rfq.deadline <= Utc::now() {
            return Ok(());
        }
        let Some(seen) = PartnerRfq::of(&rfq, &context.door, context.margin) else {
            return Ok(());
        };
        let topic = context.door.rfqs_topic();
        let record = Record::PartnerRfq(seen);
        let payload = match rfq_avro::encode_patiently(context.codec.as_ref(), &topic, &record)
            .await
        {
            Ok(payload) => payload,
            Err(error) => {
                // Our own schema refused (the registry, say): the
                // partner cannot be told; the operator is.
                tracing::error!(%error, rfq = %rfq.id, partner = context.partner(), "encoding an RFQ for a door");
                return Ok(());
            }
        };
        let key = rfq.id.to_string();
        let partition = rfq.return_address.partition.to_string();
        let mut backoff = Duration::from_millis(100);
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: RETURN_TOPIC,
                    value: Some(rfq.return_address.topic.as_str()),
                })
                .insert(Header {
                    key: RETURN_PARTITION,
                    value: Some(partition.as_str()),
                });
            let to = FutureRecord::to(&topic)
                .key(&key)
                .payload(&payload)
                .headers(headers);
            match context.producer.send(to, DELIVERY_TIMEOUT).await {
                Ok(_) => {
                    context.forwarded("rfq");
                    return Ok(());
                }
                Err((error, _)) if Utc::now() < rfq.deadline => {
                    tracing::warn!(%error, %topic, retry_in = ?backoff, "writing an RFQ to a door");
                }
                Err((error, _)) => {
                    tracing::warn!(%error, %topic, rfq = %rfq.id, "an RFQ could not reach its door before its deadline");
                    return Ok(());
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
