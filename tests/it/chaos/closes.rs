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

use super::model::read_all;
use chrono::{DateTime, Utc};
use rfq_core::{
    CorrelationId,
    kafka::notices::{Change, Notice},
};
use std::collections::HashMap;

/// The earliest close notice of each RFQ on `topic` (a replay after a crash
/// or a rebalance may write a second one, later).
pub async fn read(brokers: &str, topic: &str) -> HashMap<CorrelationId, DateTime<Utc>> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    let records = tokio::task::spawn_blocking(move || read_all(&brokers, &topic))
        .await
        .unwrap();
    let mut closed: HashMap<CorrelationId, DateTime<Utc>> = HashMap::new();
    for (_, _, key, value) in records {
        let notice = Notice::parse(key.as_deref(), Some(value.as_slice()))
            .unwrap_or_else(|error| panic!("a change notice we cannot read: {error}"));
        if notice.change == Change::Closed {
            closed
                .entry(notice.rfq)
                .and_modify(|at| *at = (*at).min(notice.at))
                .or_insert(notice.at);
        }
    }
    closed
}

/// Milliseconds from `from` to `to` (negative if `to` is earlier), for reports.
pub fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}
