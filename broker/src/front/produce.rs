//! Produce requests on their way to the broker: each partition's batches
//! checked ([`super::batches`]: passed, transcoded or refused), `acks=0`
//! sent on as `acks=1` so that the front knows when it landed, and each
//! acknowledged partition's new end told to the [`Tails`] (which wakes the
//! fetches parked on it).

use super::{
    Filter, Next,
    batches::{self, Refusal},
    tails::Tails,
    wire::{Reply, Request},
};
use kafka_protocol::messages::{
    ApiKey, ProduceRequest, ProduceResponse, TopicName,
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
};
use std::sync::Arc;

/// The produce filter.
#[derive(Debug)]
pub struct Produce {
    tails: Arc<Tails>,
}

impl Produce {
    /// A filter telling `tails` of every acknowledged produce.
    pub fn new(tails: Arc<Tails>) -> Produce {
        Produce { tails }
    }
}

/// A partition's refusal, as the response gives it.
fn refused(index: i32, refusal: Refusal) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(refusal.code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(Some(refusal.message.into()))
}

#[async_trait::async_trait]
impl Filter for Produce {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        if request.key != ApiKey::Produce {
            return next.run(request).await;
        }
        let mut produce: ProduceRequest = request.body()?;
        let transactional = produce.transactional_id.is_some();
        let to_client = produce.acks != 0;
        let mut changed = !to_client;
        let mut refusals: Vec<(TopicName, Vec<PartitionProduceResponse>)> = Vec::new();
        // Offsets each forwarded partition takes, to know its end once acknowledged.
        let mut taken: Vec<((String, i32), i64)> = Vec::new();
        for topic in &mut produce.topic_data {
            let mut kept = Vec::with_capacity(topic.partition_data.len());
            let mut topic_refusals = Vec::new();
            for mut partition in std::mem::take(&mut topic.partition_data) {
                let checked = match &partition.records {
                    Some(records) => batches::check(records, transactional),
                    None => Err(Refusal {
                        code: batches::CORRUPT_MESSAGE,
                        message: "no records".into(),
                    }),
                };
                match checked {
                    Ok(checked) => {
                        taken.push(((topic.name.0.to_string(), partition.index), checked.offsets));
                        if checked.transcoded {
                            partition.records = Some(checked.records);
                            changed = true;
                        }
                        kept.push(partition);
                    }
                    Err(refusal) => {
                        tracing::info!(topic = %topic.name.0, partition = partition.index,
                            code = refusal.code, reason = %refusal.message, "produce refused");
                        topic_refusals.push(refused(partition.index, refusal));
                        changed = true;
                    }
                }
            }
            topic.partition_data = kept;
            if !topic_refusals.is_empty() {
                refusals.push((topic.name.clone(), topic_refusals));
            }
        }
        produce
            .topic_data
            .retain(|topic| !topic.partition_data.is_empty());
        let mut response = if produce.topic_data.is_empty() {
            ProduceResponse::default()
        } else if changed {
            produce.acks = if produce.acks == 0 { 1 } else { produce.acks };
            let reply = next.run(request.with_body(&produce)?).await?;
            request.decode_reply(&reply)?
        } else {
            let reply = next.run(request.clone()).await?;
            self.acknowledged(&request.decode_reply(&reply)?, &taken);
            return Ok(reply);
        };
        self.acknowledged(&response, &taken);
        for (name, partitions) in refusals {
            match response
                .responses
                .iter_mut()
                .find(|topic| topic.name == name)
            {
                Some(topic) => topic.partition_responses.extend(partitions),
                None => response.responses.push(
                    TopicProduceResponse::default()
                        .with_name(name)
                        .with_partition_responses(partitions),
                ),
            }
        }
        let mut reply = request.reply(&response)?;
        reply.to_client = to_client;
        Ok(reply)
    }
}

impl Produce {
    /// Tells the tails of each partition `response` acknowledges.
    fn acknowledged(&self, response: &ProduceResponse, taken: &[((String, i32), i64)]) {
        let ends = response.responses.iter().flat_map(|topic| {
            topic
                .partition_responses
                .iter()
                .filter(|partition| partition.error_code == 0 && partition.base_offset >= 0)
                .filter_map(move |partition| {
                    let key = (topic.name.0.to_string(), partition.index);
                    let offsets = taken.iter().find(|(k, _)| *k == key)?.1;
                    Some((key, partition.base_offset + offsets))
                })
        });
        self.tails.produced(ends.collect::<Vec<_>>());
    }
}
