//! Outbound: each RFQ of the requests topic addressed to one of the
//! partner's providers, as the partner may see it, to the door's rfqs
//! topic (keyed by correlation id; the return address in headers, for the
//! door alone). Read in the door's own group, every partition, like the
//! fleet's adapter; the RFQ is at its return address before it is on the
//! requests topic, so it precedes every answer the door forwards.

use super::{
    context::{Context, MAX_BACKOFF, Rest, Take, undecodable, unexpected},
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
    kafka::{DELIVERY_TIMEOUT, record_time},
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

impl Take for Outbound {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<Option<Rest>> {
        let context = &self.context;
        // Published when it was made, so older than the longest deadline
        // is closed: passed over undecoded (a new door reads the topic
        // from its beginning).
        let horizon = Utc::now() - chrono::Duration::seconds(i64::from(MAX_DEADLINE_SECONDS));
        if record_time(message).is_some_and(|at| at < horizon) {
            return Ok(None);
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
                return Ok(None);
            }
            Err(error) => {
                context.refuse(message, undecodable(&error), None).await;
                return Ok(None);
            }
        };
        if rfq.deadline <= Utc::now() {
            return Ok(None);
        }
        let Some(seen) = PartnerRfq::of(&rfq, &context.door, context.margin) else {
            return Ok(None);
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
                return Ok(None);
            }
        };
        let (key, address) = (rfq.id.to_string(), rfq.return_address);
        let (context, deadline) = (context.clone(), rfq.deadline);
        Ok(Some(Box::pin(async move {
            let partition = address.partition.to_string();
            let mut backoff = Duration::from_millis(100);
            loop {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: RETURN_TOPIC,
                        value: Some(address.topic.as_str()),
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
                        return;
                    }
                    Err((error, _)) if Utc::now() < deadline => {
                        tracing::warn!(%error, %topic, retry_in = ?backoff, "writing an RFQ to a door");
                    }
                    Err((error, _)) => {
                        tracing::warn!(%error, %topic, rfq = %key, "an RFQ could not reach its door before its deadline");
                        return;
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })))
    }
}
