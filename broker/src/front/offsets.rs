//! ListOffsets: the end of a partition (`LATEST`) is never behind what the
//! front has seen acknowledged or served (see [`super::fetch`]).

use super::{
    Filter, Next,
    tails::Tails,
    wire::{Reply, Request},
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use std::sync::Arc;

/// The timestamp that asks for the end.
const LATEST: i64 = -1;

/// The ListOffsets filter.
#[derive(Debug)]
pub struct Ends {
    tails: Arc<Tails>,
}

impl Ends {
    /// A filter answering ends no lower than `tails` knows.
    pub fn new(tails: Arc<Tails>) -> Ends {
        Ends { tails }
    }
}

#[async_trait::async_trait]
impl Filter for Ends {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        if request.key != ApiKey::ListOffsets {
            return next.run(request).await;
        }
        let asked: ListOffsetsRequest = request.body()?;
        let reply = next.run(request.clone()).await?;
        let mut response: ListOffsetsResponse = request.decode_reply(&reply)?;
        let mut changed = false;
        for topic in &mut response.topics {
            let Some(asked_topic) = asked.topics.iter().find(|t| t.name == topic.name) else {
                continue;
            };
            for partition in &mut topic.partitions {
                let latest = asked_topic.partitions.iter().any(|p| {
                    p.partition_index == partition.partition_index && p.timestamp == LATEST
                });
                if !latest || partition.error_code != 0 {
                    continue;
                }
                let end = self.tails.end(&topic.name.0, partition.partition_index);
                if partition.offset < end {
                    tracing::debug!(topic = %topic.name.0, partition = partition.partition_index,
                        broker = partition.offset, end, "an end behind the records: raised");
                    partition.offset = end;
                    changed = true;
                }
            }
        }
        match changed {
            true => request.reply(&response),
            false => Ok(reply),
        }
    }
}
