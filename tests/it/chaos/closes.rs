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
    ClientConfig, Message as _,
    consumer::{BaseConsumer, Consumer as _},
};
use rfq_core::{
    CorrelationId,
    kafka::{
        QUICK_FETCH,
        notices::{Change, Notice},
        read_to_end,
    },
};
use std::{collections::HashMap, ops::ControlFlow, time::Duration};

/// The earliest close notice of each RFQ on `topic` (a replay after a crash
/// or a rebalance may write a second one, later), read to its end
/// (`read_to_end`: past an end the embedded broker gives behind).
pub async fn read(brokers: &str, topic: &str) -> HashMap<CorrelationId, DateTime<Utc>> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("closes-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set(QUICK_FETCH.0, QUICK_FETCH.1)
            .create()
            .unwrap();
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout).unwrap();
        let mut closed: HashMap<CorrelationId, DateTime<Utc>> = HashMap::new();
        for partition in metadata.topics()[0].partitions() {
            let extent = consumer
                .fetch_watermarks(&topic, partition.id(), timeout)
                .unwrap();
            let each = |message: &rdkafka::message::BorrowedMessage<'_>| {
                let notice = Notice::parse(message.key(), message.payload())
                    .unwrap_or_else(|error| panic!("a change notice we cannot read: {error}"));
                if notice.change == Change::Closed {
                    closed
                        .entry(notice.rfq)
                        .and_modify(|at| *at = (*at).min(notice.at))
                        .or_insert(notice.at);
                }
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
