//! When each RFQ closed, to the millisecond, from the change notices the
//! aggregators write once a close is durable in the store (the events
//! topic, `rfq_core::kafka::notices`): the moment the read API starts
//! answering `303`. Polling the API instead would measure the poller (a
//! sweep over a thousand RFQs takes a second here) and load the machine
//! the aggregator catches up on.
//!
//! A notice is sent without waiting for it (a notice lost costs a live
//! reader latency, never an answer), so one may be missing: the callers
//! say what they make of that.

use chrono::{DateTime, Utc};
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
};
use rfq_core::{
    CorrelationId,
    kafka::{
        notices::{Change, Notice},
        read_to_end,
    },
};
use std::{
    collections::HashMap,
    ops::ControlFlow,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// When each RFQ closed, by its earliest close notice.
pub type Closed = HashMap<CorrelationId, DateTime<Utc>>;

/// Notes `notice` in `closed` if it is a close (the earliest one counts).
fn note(closed: &mut Closed, notice: Notice) {
    if notice.change == Change::Closed {
        closed
            .entry(notice.rfq)
            .and_modify(|at| *at = (*at).min(notice.at))
            .or_insert(notice.at);
    }
}

fn reader(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("closes-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// The close notices of a topic, followed as they come, so that a test can
/// wait for RFQs to close without polling the API for each.
pub struct Follower {
    closed: Arc<Mutex<Closed>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    /// Follows `topic` from its beginning.
    pub fn start(brokers: &str, topic: &str) -> Follower {
        let (closed, stop) = (Arc::<Mutex<Closed>>::default(), CancellationToken::new());
        let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
        let task = tokio::task::spawn_blocking({
            let (closed, stop) = (closed.clone(), stop.clone());
            move || {
                let consumer = reader(&brokers);
                let timeout = Duration::from_secs(10);
                let metadata = consumer.fetch_metadata(Some(&topic), timeout).unwrap();
                let mut all = TopicPartitionList::new();
                for partition in metadata.topics()[0].partitions() {
                    all.add_partition_offset(&topic, partition.id(), Offset::Beginning)
                        .unwrap();
                }
                consumer.assign(&all).unwrap();
                while !stop.is_cancelled() {
                    // A broker down is waited out: librdkafka reconnects.
                    let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
                        continue;
                    };
                    let notice = Notice::parse(message.key(), message.payload())
                        .unwrap_or_else(|error| panic!("a change notice we cannot read: {error}"));
                    note(&mut closed.lock().unwrap(), notice);
                }
            }
        });
        Follower { closed, stop, task }
    }

    /// Whether a close notice of `rfq` came.
    pub fn has(&self, rfq: &CorrelationId) -> bool {
        self.closed.lock().unwrap().contains_key(rfq)
    }

    /// Stops following.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// The earliest close notice of each RFQ on `topic` (a replay after a crash
/// or a rebalance may write a second one, later), read to its end
/// (`read_to_end`: past an end the embedded broker gives behind).
pub async fn read(brokers: &str, topic: &str) -> Closed {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer = reader(&brokers);
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout).unwrap();
        let mut closed = Closed::new();
        for partition in metadata.topics()[0].partitions() {
            let extent = consumer
                .fetch_watermarks(&topic, partition.id(), timeout)
                .unwrap();
            let each = |message: &rdkafka::message::BorrowedMessage<'_>| {
                let notice = Notice::parse(message.key(), message.payload())
                    .unwrap_or_else(|error| panic!("a change notice we cannot read: {error}"));
                note(&mut closed, notice);
                ControlFlow::Continue(())
            };
            let within = Duration::from_secs(60);
            read_to_end(&consumer, &topic, partition.id(), extent, within, each).unwrap();
        }
        closed
    })
    .await
    .unwrap()
}

/// Milliseconds from `from` to `to` (negative if `to` is earlier), for reports.
pub fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}
