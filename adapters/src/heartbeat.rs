//! Registrations of the fleet on the providers topic.

use crate::fleet::Unicorn;
use anyhow::Context as _;
use rdkafka::producer::FutureRecord;
use rfq_avro::{Record, SharedCodec};
use rfq_core::kafka::Producer;
use rfq_core::{ProviderStatus, kafka::DELIVERY_TIMEOUT};
use std::time::Duration;

/// Publishes one registration per unicorn of `unicorns` and waits for the
/// broker to acknowledge all of them.
pub async fn publish(
    producer: &Producer,
    codec: &SharedCodec,
    topic: &str,
    adapter: &str,
    unicorns: &[Unicorn],
    status: ProviderStatus,
    valid_for: Duration,
) -> anyhow::Result<()> {
    let mut sends = Vec::new();
    for unicorn in unicorns {
        let heartbeat = unicorn.heartbeat(adapter, status, valid_for);
        let payload =
            rfq_avro::encode_patiently(codec.as_ref(), topic, &Record::Heartbeat(heartbeat))
                .await?;
        let key = unicorn.id.to_string();
        sends.push(async move {
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    DELIVERY_TIMEOUT,
                )
                .await
                .map_err(|(error, _)| anyhow::anyhow!("{error}"))
        });
    }
    for result in futures::future::join_all(sends).await {
        result.with_context(|| format!("publishing registrations to {topic}"))?;
    }
    Ok(())
}
