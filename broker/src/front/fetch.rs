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
    /// The fetch, in a canonical order ([`fingerprint`]).
    body: Bytes,
    /// The produce counter before tansu was asked.
    since: u64,
    /// The answer (its correlation id is replaced when given again).
    reply: Bytes,
    /// The same answer, decoded.
    response: FetchResponse,
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
        let body = fingerprint(&request, &fetch)?;
        let mut produced = self.tails.watch();
        let mut empty = next
            .session()
            .empty_fetch
            .take()
            .filter(|empty| empty.body == body && empty.at.elapsed() < REUSE);
        // Partitions tansu answered empty below an end it acknowledged:
        // asked again after `backoff` (its reads can lag its writes).
        let mut lagging: Vec<Partition> = Vec::new();
        let mut backoff = LAGGING_FIRST;
        loop {
            // Asked: every partition the first time, then only those
            // produced to since the last answer (the others' answer stands).
            // Read before choosing: a produce after this is seen next time.
            let since = *produced.borrow_and_update();
            let mut woken = match &empty {
                None => partitions.clone(),
                Some(empty) => self.tails.produced_after(&partitions, empty.since),
            };
            for partition in lagging.drain(..) {
                if !woken.contains(&partition) {
                    woken.push(partition);
                }
            }
            if !woken.is_empty() {
                let asked = request.with_body(&narrowed(&fetch, &woken, empty.is_some()))?;
                let reply = next.run(asked).await?;
                let fresh: FetchResponse = request.decode_reply(&reply)?;
                let response = match empty.take() {
                    Some(empty) if fresh.error_code == 0 => merged(empty.response, fresh),
                    _ => fresh,
                };
                let reply = self.patched(&request, &response)?;
                if enough(&response, fetch.min_bytes) || Instant::now() >= deadline {
                    return Ok(reply);
                }
                lagging = self.lagging(&fetch, &response);
                empty = Some(EmptyFetch {
                    body: body.clone(),
                    since,
                    reply: reply.frame,
                    response,
                    at: Instant::now(),
                });
            }
            let Some(parked) = &empty else {
                continue;
            };
            // Parked: until a produce to one of these partitions, the wait's
            // end, or (tansu lagging) the time to ask it again.
            let wake = match lagging.is_empty() {
                true => deadline,
                false => (Instant::now() + backoff).min(deadline),
            };
            loop {
                match tokio::time::timeout_at(wake, produced.changed()).await {
                    Ok(Ok(())) if self.tails.produced_since(&partitions, parked.since) => break,
                    Ok(Ok(())) => continue,
                    Err(_) if wake < deadline => {
                        backoff = (backoff * 2).min(LAGGING_MOST);
                        break;
                    }
                    Ok(Err(_)) | Err(_) => {
                        let reply = parked.reply_to(&request);
                        next.session().empty_fetch = empty;
                        return Ok(reply);
                    }
                }
            }
        }
    }
}

/// The first wait before asking tansu again for a partition it answered
/// empty below an acknowledged end; doubled each time, up to [`LAGGING_MOST`].
const LAGGING_FIRST: Duration = Duration::from_millis(1);
const LAGGING_MOST: Duration = Duration::from_millis(50);

/// `fetch` asking at once (`max_wait_ms` 0) for `woken` only, or for all
/// its partitions when `narrow` is false.
fn narrowed(fetch: &FetchRequest, woken: &[Partition], narrow: bool) -> FetchRequest {
    let mut asked = fetch.clone();
    asked.max_wait_ms = 0;
    if narrow {
        for topic in &mut asked.topics {
            let name = topic.topic.0.to_string();
            topic.partitions.retain(|partition| {
                woken
                    .iter()
                    .any(|(t, p)| *t == name && *p == partition.partition)
            });
        }
        asked.topics.retain(|topic| !topic.partitions.is_empty());
    }
    asked
}

/// The answer for every partition: `fresh` where it has one, `earlier`'s
/// elsewhere (nothing was produced there since `earlier`).
fn merged(mut earlier: FetchResponse, fresh: FetchResponse) -> FetchResponse {
    for topic in fresh.responses {
        let Some(into) = earlier
            .responses
            .iter_mut()
            .find(|known| known.topic == topic.topic)
        else {
            earlier.responses.push(topic);
            continue;
        };
        for partition in topic.partitions {
            match into
                .partitions
                .iter_mut()
                .find(|known| known.partition_index == partition.partition_index)
            {
                Some(known) => *known = partition,
                None => into.partitions.push(partition),
            }
        }
    }
    earlier
}

/// The fetch's body with its topics and partitions in a canonical order:
/// librdkafka rotates the partitions of each fetch it sends, so the same
/// fetch seldom comes twice in the same bytes.
fn fingerprint(request: &Request, fetch: &FetchRequest) -> anyhow::Result<Bytes> {
    let mut sorted = fetch.clone();
    sorted
        .topics
        .sort_by(|a, b| (&a.topic.0, a.topic_id).cmp(&(&b.topic.0, b.topic_id)));
    for topic in &mut sorted.topics {
        topic
            .partitions
            .sort_by_key(|partition| partition.partition);
    }
    let sorted = request.with_body(&sorted)?;
    Ok(sorted.frame.slice(sorted.body_at..))
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
        let response: FetchResponse = request.decode_reply(&reply)?;
        if self.note_served(&response) {
            self.patched(request, &response)
        } else {
            Ok(reply)
        }
    }

    /// Tells the tails how far `response` served; whether a high
    /// watermark in it is behind what is known served or acknowledged.
    fn note_served(&self, response: &FetchResponse) -> bool {
        let mut behind = false;
        for topic in &response.responses {
            let name = topic.topic.0.to_string();
            for partition in &topic.partitions {
                if partition.error_code != 0 {
                    continue;
                }
                if let Some(end) = partition.records.as_deref().and_then(end_of) {
                    self.tails
                        .served((name.clone(), partition.partition_index), end);
                }
                behind |=
                    partition.high_watermark < self.tails.end(&name, partition.partition_index);
            }
        }
        behind
    }

    /// The partitions of `fetch` that `response` answers without records
    /// although a produce beyond their fetch offset was acknowledged.
    fn lagging(&self, fetch: &FetchRequest, response: &FetchResponse) -> Vec<Partition> {
        let mut lagging = Vec::new();
        for topic in &fetch.topics {
            let name = topic.topic.0.to_string();
            let answered = response.responses.iter().find(|t| t.topic == topic.topic);
            for asked in &topic.partitions {
                let empty = answered
                    .and_then(|t| {
                        t.partitions
                            .iter()
                            .find(|p| p.partition_index == asked.partition)
                    })
                    .is_some_and(|p| {
                        p.error_code == 0 && p.records.as_ref().is_none_or(|r| r.is_empty())
                    });
                if empty && asked.fetch_offset < self.tails.end(&name, asked.partition) {
                    tracing::debug!(topic = %name, partition = asked.partition,
                        offset = asked.fetch_offset, "tansu answered empty below an acknowledged end");
                    lagging.push((name.clone(), asked.partition));
                }
            }
        }
        lagging
    }

    /// The reply to `request` with `response`, no high watermark behind
    /// what is known served or acknowledged.
    fn patched(&self, request: &Request, response: &FetchResponse) -> anyhow::Result<Reply> {
        self.note_served(response);
        let mut response = response.clone();
        for topic in &mut response.responses {
            let name = topic.topic.0.to_string();
            for partition in &mut topic.partitions {
                let end = self.tails.end(&name, partition.partition_index);
                if partition.error_code == 0 && partition.high_watermark < end {
                    if partition.last_stable_offset == partition.high_watermark {
                        partition.last_stable_offset = end;
                    }
                    partition.high_watermark = end;
                }
            }
        }
        request.reply(&response)
    }
}

#[cfg(test)]
mod tests;
