//! Reading what an explanation needs from the log: the RFQ's partition of
//! the quotes topic from a little before its acceptance, and the providers
//! topic around it (the heartbeats that placed the addressed providers).
//!
//! A plain assigned consumer (no group, nothing committed) finds where to
//! start by time (`offsets_for_times`) and reads up to the end the
//! partition had when asked, so an explanation is bounded even on a busy
//! partition; every read is bounded by [`SCAN_TIMEOUT`] too.

use super::{Addressed, Explanation, Placing, Replay};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    CorrelationId,
    kafka::{KafkaSettings, TopicSettings, read_to_end, record_time},
};
use rfq_store::{Store, StoredRfq};
use serde::Serialize;
use std::{ops::ControlFlow, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// How long one read of the log may take at most.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long before its acceptance the RFQ's partition is read from: the
/// producer's clock (`created_at`) and the record's stamp may differ.
const SLACK: chrono::Duration = chrono::Duration::seconds(10);

/// How long before acceptance the providers topic is read from: longer
/// than any registration holds (30 s by default), so the heartbeat that
/// placed a provider is read if the log still has it.
const LOOKBACK: chrono::Duration = chrono::Duration::minutes(10);

/// How long past the close (and past the deadline and the last answer the
/// store holds) answers are still looked for.
const GRACE: chrono::Duration = chrono::Duration::seconds(5);

/// How much of the RFQ's partition was read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Scan {
    /// The topic read.
    pub topic: String,
    /// The first offset read (the first record stamped at most a few
    /// seconds before acceptance).
    pub from_offset: Option<i64>,
    /// The last offset read.
    pub to_offset: Option<i64>,
    /// The partition's end when the read began.
    pub end_offset: Option<i64>,
    /// Records read.
    pub records: usize,
    /// Records that could not be decoded (dead letters; passed over).
    pub undecodable: usize,
    /// Whether the read stopped early: the RFQ closed and the grace after
    /// it passed (rather than the end of the partition being reached).
    pub stopped_after_close: bool,
}

/// Explains RFQs from the log and the store.
#[derive(Clone)]
pub struct Explainer {
    /// How to reach Kafka.
    kafka: KafkaSettings,
    /// The quotes and providers topics.
    topics: TopicSettings,
    /// Decodes the records (the pipeline's codec: its schema registry).
    codec: SharedCodec,
    /// Where the RFQs and their results are.
    store: Arc<dyn Store>,
}

impl Explainer {
    /// An explainer reading the topics through `kafka`, decoding with
    /// `codec`, comparing with `store`.
    pub fn new(
        kafka: KafkaSettings,
        topics: TopicSettings,
        codec: SharedCodec,
        store: Arc<dyn Store>,
    ) -> Explainer {
        Explainer {
            kafka,
            topics,
            codec,
            store,
        }
    }

    /// The explanation of RFQ `id`; `None` if the store does not know it.
    pub async fn explain(&self, id: &CorrelationId) -> anyhow::Result<Option<Explanation>> {
        let Some(stored) = self.store.rfq(id).await? else {
            return Ok(None);
        };
        self.explain_stored(stored).await.map(Some)
    }

    /// The explanation of an RFQ the store holds.
    pub async fn explain_stored(&self, stored: StoredRfq) -> anyhow::Result<Explanation> {
        let rfq = &stored.rfq;
        let responses = self.store.responses(&rfq.id).await?;
        let mut horizon = rfq.deadline;
        if let rfq_store::RfqStatus::Closed { closed_at, .. } = stored.status {
            horizon = horizon.max(closed_at);
        }
        for kept in &responses {
            horizon = horizon.max(kept.received_at);
        }
        let both = async { tokio::join!(self.replay(rfq, horizon + GRACE), self.addressed(rfq)) };
        // A schema registry that does not answer is waited out by the
        // decoder: bounded here.
        let (replayed, addressed) = tokio::time::timeout(2 * SCAN_TIMEOUT, both)
            .await
            .map_err(|_| anyhow::anyhow!("the log was not read within {:?}", 2 * SCAN_TIMEOUT))?;
        let (replay, scan) = replayed?;
        Ok(replay.explain(&stored, &responses, addressed?, scan))
    }

    /// Replays the RFQ's partition from just before its acceptance until
    /// it closed and `horizon` (or the grace after the close) passed, or
    /// the partition's end.
    async fn replay(
        &self,
        rfq: &rfq_core::Rfq,
        horizon: DateTime<Utc>,
    ) -> anyhow::Result<(Replay, Scan)> {
        let topic = rfq.return_address.topic.clone();
        let partition = rfq.return_address.partition;
        let mut records = read(&self.kafka, &topic, partition, rfq.created_at - SLACK);
        let mut replay = Replay::new(rfq.clone());
        let mut scan = Scan {
            topic: topic.clone(),
            ..Scan::default()
        };
        while let Some(read) = records.recv().await {
            let raw = match read? {
                Read::Range { from, end } => {
                    (scan.from_offset, scan.end_offset) = (Some(from), Some(end));
                    continue;
                }
                Read::Record(raw) => raw,
            };
            if let Some((_, _, closed)) = replay.closed()
                && raw.stamp > horizon.max(closed + GRACE)
            {
                scan.stopped_after_close = true;
                break;
            }
            (scan.records, scan.to_offset) = (scan.records + 1, Some(raw.offset));
            match rfq_avro::decode_patiently(self.codec.as_ref(), &topic, &raw.payload).await {
                Ok(record) => replay.feed(raw.offset, raw.stamp, record),
                Err(_) => scan.undecodable += 1,
            }
        }
        Ok((replay, scan))
    }

    /// The addressed providers, each placed by a heartbeat ([`Placing`]):
    /// the providers topic read from a while before acceptance (by time)
    /// until every addressed provider is placed and acceptance is behind,
    /// or the end.
    async fn addressed(&self, rfq: &rfq_core::Rfq) -> anyhow::Result<Vec<Addressed>> {
        let topic = &self.topics.providers_topic;
        let mut placing = Placing::new(rfq);
        for partition in partitions(&self.kafka, topic).await? {
            let mut records = read(&self.kafka, topic, partition, rfq.created_at - LOOKBACK);
            while let Some(read) = records.recv().await {
                let Read::Record(raw) = read? else { continue };
                if placing.done(raw.stamp, SLACK) {
                    break;
                }
                let decoded = rfq_avro::decode_patiently(self.codec.as_ref(), topic, &raw.payload);
                if let Ok(Record::Heartbeat(heartbeat)) = decoded.await {
                    placing.feed(heartbeat);
                }
            }
        }
        Ok(placing.placed())
    }
}

/// A record read: its offset, broker timestamp and bytes.
struct Raw {
    /// Its offset.
    offset: i64,
    /// Its timestamp.
    stamp: DateTime<Utc>,
    /// Its value.
    payload: Vec<u8>,
}

/// What a read reports.
enum Read {
    /// Where it starts and the partition's end when it began.
    Range {
        /// The first offset to read.
        from: i64,
        /// The end (the offset after the last record).
        end: i64,
    },
    /// A record, in log order.
    Record(Raw),
}

/// A reader of this process's own: no group, nothing committed.
fn consumer(kafka: &KafkaSettings) -> anyhow::Result<BaseConsumer> {
    kafka
        .consumer_config(
            "rfq-explain",
            &[
                ("group.id", "rfq-explain"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
            ],
        )
        .create()
        .context("creating a reader of the log")
}

/// The partitions of `topic`.
async fn partitions(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<Vec<i32>> {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let metadata = consumer(&kafka)?
            .fetch_metadata(Some(&topic), SCAN_TIMEOUT)
            .with_context(|| format!("reading the partitions of {topic}"))?;
        Ok(metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    })
    .await?
}

/// Reads `partition` of `topic` from its first record stamped at or after
/// `from` up to the end it had when asked, in the background: the reading
/// stops when the receiver is dropped, at the end, or after
/// [`SCAN_TIMEOUT`] (an error).
fn read(
    kafka: &KafkaSettings,
    topic: &str,
    partition: i32,
    from: DateTime<Utc>,
) -> mpsc::Receiver<anyhow::Result<Read>> {
    let (sender, receiver) = mpsc::channel(256);
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = read_blocking(&kafka, &topic, partition, from, &sender) {
            let _ = sender.blocking_send(Err(error));
        }
    });
    receiver
}

fn read_blocking(
    kafka: &KafkaSettings,
    topic: &str,
    partition: i32,
    from: DateTime<Utc>,
    sender: &mpsc::Sender<anyhow::Result<Read>>,
) -> anyhow::Result<()> {
    let reading = || format!("reading partition {partition} of {topic}");
    let consumer = consumer(kafka)?;
    let (low, end) = consumer
        .fetch_watermarks(topic, partition, SCAN_TIMEOUT)
        .with_context(reading)?;
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition_offset(topic, partition, Offset::Offset(from.timestamp_millis()))?;
    let found = consumer
        .offsets_for_times(wanted, SCAN_TIMEOUT)
        .with_context(|| format!("finding the offset of {from} ({})", reading()))?;
    let start = match found.find_partition(topic, partition).map(|e| e.offset()) {
        // (The embedded broker answers 0 where it found nothing: read on
        // from the first record kept, as for no answer.)
        Some(Offset::Offset(offset)) => offset.max(low),
        // Nothing stamped at or after `from`.
        Some(Offset::End) => end,
        _ => low,
    };
    scan(&consumer, topic, partition, start, end, from, sender)
}

/// Reads `partition` of `topic` from `start` to `end` (exclusive)
/// ([`read_to_end`]), handing each record to `sender`.
fn scan(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    start: i64,
    end: i64,
    from: DateTime<Utc>,
    sender: &mpsc::Sender<anyhow::Result<Read>>,
) -> anyhow::Result<()> {
    let range = Read::Range { from: start, end };
    if sender.blocking_send(Ok(range)).is_err() {
        return Ok(());
    }
    read_to_end(
        consumer,
        topic,
        partition,
        (start, end),
        SCAN_TIMEOUT,
        |message| {
            let stamp = record_time(message).unwrap_or(from);
            let raw = Raw {
                offset: message.offset(),
                stamp,
                payload: message.payload().unwrap_or_default().to_vec(),
            };
            match sender.blocking_send(Ok(Read::Record(raw))) {
                Ok(()) => ControlFlow::Continue(()),
                // The receiver has what it needs.
                Err(_) => ControlFlow::Break(()),
            }
        },
    )
}
