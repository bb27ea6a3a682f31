//! The quotes consumer's rebalances, forwarded to the aggregator's loop
//! ([`Assignment`]) so that it takes up or forgets a partition's RFQs
//! before it processes any record of it; and its statistics, for the lag.

use crate::lag::Lag;
use rdkafka::{
    ClientContext, TopicPartitionList,
    consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer},
};
use tokio::sync::mpsc;

/// A partition assignment change, reported by the consumer's rebalance callbacks.
pub(crate) enum Assignment {
    /// These partitions of the quotes topic are now ours.
    Assigned(Vec<i32>),
    /// These are no longer ours.
    Revoked(Vec<i32>),
}

/// Forwards rebalances to the loop, which handles them before it processes
/// any record of a newly assigned partition.
pub(crate) struct RebalanceContext {
    /// The quotes topic.
    pub(crate) topic: String,
    /// To the loop.
    pub(crate) events: mpsc::UnboundedSender<Assignment>,
    /// Takes the consumer's statistics (how far the broker is ahead).
    pub(crate) lag: Lag,
}

impl RebalanceContext {
    fn partitions(&self, list: &TopicPartitionList) -> Vec<i32> {
        list.elements_for_topic(&self.topic)
            .iter()
            .map(|element| element.partition())
            .collect()
    }
}

impl ClientContext for RebalanceContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            self.lag.statistics(topic);
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let _ = self.events.send(Assignment::Revoked(self.partitions(list)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let _ = self
                .events
                .send(Assignment::Assigned(self.partitions(list)));
        }
    }
}

pub(crate) type QuotesConsumer = StreamConsumer<RebalanceContext>;
