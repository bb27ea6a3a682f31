//! Fetches held until there is something to send: a fetch that would come
//! back empty is parked until a produce to one of its partitions lands, or
//! its `max_wait_ms` runs out, as Kafka does. tansu 0.6 holds every fetch
//! for its whole wait even when records arrive, so the front asks it with
//! a wait of 0 and asks again when woken.
//!
//! A consumer with nothing to read sends the same fetch again at the end
//! of each wait; while nothing was produced to its partitions the answer
//! is the one tansu gave last time ([`EmptyFetch`]), so it is not asked
//! again (for [`REUSE`] at most): idle consumers cost tansu nothing.
//!
//! Every fetch response also tells the [`Tails`] how far the records it
//! served go, and never gives a high watermark behind them or behind an
//! acknowledged produce: tansu can read its watermark from an older view
//! of its database than its records.

use super::{
    Filter, Next,
    tails::{Partition, Tails},
    wire::{Reply, Request},
};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

/// How long an empty answer from tansu is given again without asking it.
pub const REUSE: Duration = Duration::from_secs(10);

/// A connection's last fetch that tansu answered empty.
#[derive(Debug, Clone)]
pub struct EmptyFetch {
    /// The fetch's body as the client sent it.
    body: Bytes,
    /// The produce counter before tansu was asked.
    since: u64,
    /// The answer (its correlation id is replaced when given again).
    reply: Bytes,
    /// When tansu answered.
    at: Instant,
}

impl EmptyFetch {
    /// The answer, for `request`.
    fn reply_to(&self, request: &Request) -> Reply {
        let mut frame = bytes::BytesMut::from(&self.reply[..]);
        frame[..4].copy_from_slice(&request.header.correlation_id.to_be_bytes());
        Reply {
            frame: frame.freeze(),
            to_client: true,
        }
    }
}

/// The fetch filter.
#[derive(Debug)]
pub struct Fetch {
    tails: Arc<Tails>,
}

impl Fetch {
    /// A filter parking fetches until `tails` tells of a produce.
    pub fn new(tails: Arc<Tails>) -> Fetch {
        Fetch { tails }
    }
}

#[async_trait::async_trait]
impl Filter for Fetch {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        if request.key != ApiKey::Fetch {
            return next.run(request).await;
        }
        let fetch: FetchRequest = request.body()?;
        let partitions: Vec<Partition> = fetch
            .topics
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .map(|partition| (topic.topic.0.to_string(), partition.partition))
            })
            .collect();
        let wait = Duration::from_millis(u64::try_from(fetch.max_wait_ms).unwrap_or(0));
        if wait.is_zero() || partitions.is_empty() {
            let reply = next.run(request.clone()).await?;
            return self.tail_patched(&request, reply);
        }
        let deadline = Instant::now() + wait;
        let mut quick = fetch.clone();
        quick.max_wait_ms = 0;
        let quick = request.with_body(&quick)?;
        let body = request.frame.slice(request.body_at..);
        let mut produced = self.tails.watch();
        let mut cached = next
            .session()
            .empty_fetch
            .take()
            .filter(|empty| empty.body == body && empty.at.elapsed() < REUSE);
        loop {
            produced.borrow_and_update();
            let empty = match cached.take() {
                Some(empty) if !self.tails.produced_since(&partitions, empty.since) => empty,
                _ => {
                    let since = *produced.borrow_and_update();
                    let reply = next.run(quick.clone()).await?;
                    let response: FetchResponse = request.decode_reply(&reply)?;
                    let reply = self.patched(&request, reply, response.clone())?;
                    if enough(&response, fetch.min_bytes) || Instant::now() >= deadline {
                        return Ok(reply);
                    }
                    EmptyFetch {
                        body: body.clone(),
                        since,
                        reply: reply.frame,
                        at: Instant::now(),
                    }
                }
            };
            // Parked: until a produce to one of these partitions, or the wait's end.
            loop {
                match tokio::time::timeout_at(deadline, produced.changed()).await {
                    Ok(Ok(())) if self.tails.produced_since(&partitions, empty.since) => break,
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) | Err(_) => {
                        let reply = empty.reply_to(&request);
                        next.session().empty_fetch = Some(empty);
                        return Ok(reply);
                    }
                }
            }
        }
    }
}

/// Whether `response` is to go to the client now: an error, or at least
/// `min_bytes` of records.
fn enough(response: &FetchResponse, min_bytes: i32) -> bool {
    if response.error_code != 0 {
        return true;
    }
    let mut bytes = 0usize;
    for partition in response
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
    {
        if partition.error_code != 0 {
            return true;
        }
        bytes += partition
            .records
            .as_ref()
            .map_or(0, |records| records.len());
    }
    bytes > 0 && bytes >= usize::try_from(min_bytes).unwrap_or(0)
}

/// One past the last offset of the whole batches in `records`.
pub fn end_of(records: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut end = None;
    while records.len() >= at + 27 {
        let base = i64::from_be_bytes(records[at..at + 8].try_into().ok()?);
        let length = i32::from_be_bytes(records[at + 8..at + 12].try_into().ok()?);
        let size = usize::try_from(length).ok()?.checked_add(12)?;
        if records.len() < at + size {
            break;
        }
        let delta = i32::from_be_bytes(records[at + 23..at + 27].try_into().ok()?);
        end = Some(base + i64::from(delta) + 1);
        at += size;
    }
    end
}

impl Fetch {
    fn tail_patched(&self, request: &Request, reply: Reply) -> anyhow::Result<Reply> {
        let response = request.decode_reply(&reply)?;
        self.patched(request, reply, response)
    }

    /// `reply`, with no high watermark behind what is known served or acknowledged.
    fn patched(
        &self,
        request: &Request,
        reply: Reply,
        mut response: FetchResponse,
    ) -> anyhow::Result<Reply> {
        let mut changed = false;
        for topic in &mut response.responses {
            let name = topic.topic.0.to_string();
            for partition in &mut topic.partitions {
                if partition.error_code != 0 {
                    continue;
                }
                if let Some(end) = partition.records.as_deref().and_then(end_of) {
                    self.tails
                        .served((name.clone(), partition.partition_index), end);
                }
                let end = self.tails.end(&name, partition.partition_index);
                if partition.high_watermark < end {
                    if partition.last_stable_offset == partition.high_watermark {
                        partition.last_stable_offset = end;
                    }
                    partition.high_watermark = end;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::batches::tests::batch;
    use kafka_protocol::records::Compression;

    #[test]
    fn the_end_of_served_batches_counts_whole_batches_only() {
        let one = batch(Compression::None, 3, 4);
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        // The second batch as if at base offset 3.
        let at = one.len();
        two[at..at + 8].copy_from_slice(&3i64.to_be_bytes());
        assert_eq!(end_of(&one), Some(3));
        assert_eq!(end_of(&two), Some(6));
        assert_eq!(
            end_of(&two[..two.len() - 1]),
            Some(3),
            "a cut batch is not counted"
        );
        assert_eq!(end_of(&[]), None);
    }
}
