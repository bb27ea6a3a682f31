//! Which RFQs a door has sent its partner: a fold of the door's rfqs
//! topic, read back from its beginning (a day, its retention) by a
//! follower, so that what the door knows is a function of the log and
//! survives a restart. An answer to an RFQ not known yet is checked only
//! once the follower has read everything the topic held when the answer
//! was looked up: a fresh RFQ is never refused for being read late.

use super::check::SentRfq;
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::{
    Message as _,
    consumer::{BaseConsumer, Consumer as _},
    message::{BorrowedMessage, Headers as _},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    CorrelationId, ReturnAddress,
    kafka::{DOOR_RETENTION_MS, Follow, KafkaSettings},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Header of a door's RFQ record: the topic of the RFQ's return address
/// (the partner does not need it; the door reads it back).
pub(crate) const RETURN_TOPIC: &str = "rfq.door.return-topic";
/// Header of a door's RFQ record: the partition of its return address.
pub(crate) const RETURN_PARTITION: &str = "rfq.door.return-partition";

/// How long a lookup waits for the follower to catch up before it tells
/// (logged) and waits on.
const CATCH_UP_WARNING: Duration = Duration::from_secs(10);

/// The RFQs a door sent, as read back from its rfqs topic.
pub(crate) struct Sent {
    /// The RFQs, and how far each partition was read.
    state: Mutex<State>,
    /// Woken at every record read.
    progress: Notify,
    /// Asks the rfqs topic for its ends.
    ends: Arc<BaseConsumer>,
    /// The door's rfqs topic.
    topic: String,
}

#[derive(Default)]
struct State {
    /// The RFQs, by id.
    rfqs: HashMap<CorrelationId, SentRfq>,
    /// Per partition, the next offset to read.
    read_to: HashMap<i32, i64>,
}

impl Sent {
    /// The RFQs sent on `topic` (none read yet).
    pub(crate) fn new(kafka: &KafkaSettings, name: &str, topic: &str) -> anyhow::Result<Sent> {
        let ends: BaseConsumer = kafka
            .consumer_config(name, &[("group.id", &kafka.group(name))])
            .create()
            .with_context(|| format!("creating the client reading the ends of {topic}"))?;
        Ok(Sent {
            state: Mutex::default(),
            progress: Notify::new(),
            ends: Arc::new(ends),
            topic: topic.to_owned(),
        })
    }

    /// The RFQ `id`, if the door sent it: looked up at once, else once
    /// everything the rfqs topic holds now has been read back.
    /// Ends with an error if `shutdown` comes first (never a refusal for
    /// want of waiting).
    pub(crate) async fn lookup(
        &self,
        id: CorrelationId,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<SentRfq>> {
        if let Some(sent) = self.get(id) {
            return Ok(Some(sent));
        }
        let ends = self.ends().await?;
        let started = tokio::time::Instant::now();
        let mut warned = false;
        loop {
            let notified = self.progress.notified();
            if self.read_past(&ends) {
                return Ok(self.get(id));
            }
            if !warned && started.elapsed() > CATCH_UP_WARNING {
                tracing::warn!(topic = %self.topic, "waiting to read back the door's RFQs");
                warned = true;
            }
            // Woken by the next record; asked again now and then anyway.
            tokio::select! {
                _ = shutdown.cancelled() => {
                    anyhow::bail!("stopped while reading back the door's RFQs (answer to {id})")
                }
                _ = tokio::time::timeout(Duration::from_millis(200), notified) => {}
            }
        }
    }

    fn get(&self, id: CorrelationId) -> Option<SentRfq> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.rfqs.get(&id).cloned()
    }

    /// Whether every partition is read up to `ends`.
    fn read_past(&self, ends: &[(i32, i64)]) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        ends.iter()
            .all(|(partition, end)| state.read_to.get(partition).is_some_and(|next| next >= end))
    }

    /// The end (high watermark) of every partition of the rfqs topic that
    /// holds records.
    async fn ends(&self) -> anyhow::Result<Vec<(i32, i64)>> {
        let (ends, topic) = (self.ends.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(10);
            let metadata = ends.fetch_metadata(Some(&topic), timeout)?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            partitions
                .into_iter()
                .map(|partition| {
                    let (low, high) = ends.fetch_watermarks(&topic, partition, timeout)?;
                    Ok((low < high).then_some((partition, high)))
                })
                .filter_map(Result::transpose)
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .context("joining the ends lookup")?
        .with_context(|| format!("reading the ends of {}", self.topic))
    }

    /// Takes one record read back: an RFQ sent, or (not ours) passed over.
    fn take_rfq(&self, partition: i32, offset: i64, rfq: Option<(CorrelationId, SentRfq)>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((id, sent)) = rfq {
            state.rfqs.insert(id, sent);
        }
        let next = state.read_to.entry(partition).or_default();
        *next = (*next).max(offset + 1);
        // Forgotten once the topic would have deleted them.
        if offset % 1024 == 0 {
            let horizon = Utc::now() - chrono::Duration::milliseconds(DOOR_RETENTION_MS as i64);
            state.rfqs.retain(|_, sent| sent.deadline > horizon);
        }
        drop(state);
        self.progress.notify_waiters();
    }
}

/// Reads the door's rfqs topic back into [`Sent`].
pub(crate) struct ReadBack {
    /// Where the RFQs go.
    pub sent: Arc<Sent>,
    /// Decodes them.
    pub codec: SharedCodec,
}

impl Follow for ReadBack {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let payload = message.payload().unwrap_or_default();
        let decoded = rfq_avro::decode_patiently(self.codec.as_ref(), message.topic(), payload);
        let rfq = match decoded.await {
            Ok(Record::PartnerRfq(rfq)) => return_address(message).map(|return_address| {
                let sent = SentRfq {
                    providers: rfq.providers.into_iter().collect(),
                    return_address,
                    deadline: rfq.deadline,
                };
                (rfq.id, sent)
            }),
            // Only the door writes there: anything else is not an RFQ it sent.
            other => {
                tracing::warn!(
                    topic = message.topic(),
                    offset = message.offset(),
                    record = ?other.map(|r| r.record_type()),
                    "not an RFQ of the door's: passed over"
                );
                None
            }
        };
        self.sent
            .take_rfq(message.partition(), message.offset(), rfq);
        Ok(())
    }
}

/// The return address in a door's RFQ record's headers.
fn return_address(message: &BorrowedMessage<'_>) -> Option<ReturnAddress> {
    let headers = message.headers()?;
    let text = |name: &str| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| std::str::from_utf8(header.value?).ok())
    };
    Some(ReturnAddress {
        topic: text(RETURN_TOPIC)?.to_owned(),
        partition: text(RETURN_PARTITION)?.parse().ok()?,
    })
}
