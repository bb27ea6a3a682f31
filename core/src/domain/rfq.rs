use super::{CorrelationId, CustomerId, GeoPoint, ProviderId, Region};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// Where the answers to an RFQ must go (the return-address pattern): a topic
/// and the partition of it that the RFQ's aggregator owns. Naming the
/// partition keeps every answer behind the RFQ's own copy in that partition,
/// whatever partitioner the provider's Kafka client uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReturnAddress {
    /// Topic the answers go to (default `rfq.quotes`).
    pub topic: String,
    /// Partition of that topic.
    pub partition: i32,
}

/// One request for quotes, as accepted by the producer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rfq {
    /// Correlation ID: names the RFQ everywhere.
    pub id: CorrelationId,
    /// Who asked.
    pub customer: CustomerId,
    /// Pickup point.
    pub from: GeoPoint,
    /// Destination.
    pub to: GeoPoint,
    /// Region of the pickup point: the key on the requests topic.
    pub region: Region,
    /// When the producer accepted it.
    pub created_at: DateTime<Utc>,
    /// When it closes at the latest.
    pub deadline: DateTime<Utc>,
    /// The providers it was sent to: a snapshot of the provider registry
    /// for `region` at acceptance. It closes early once all of them answered.
    pub addressed: BTreeSet<ProviderId>,
    /// Where answers go.
    pub return_address: ReturnAddress,
}

/// Why an RFQ closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Every addressed provider answered (quote or decline) before the deadline.
    AllAnswered,
    /// The deadline passed first.
    Deadline,
}

impl CloseReason {
    /// The name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::AllAnswered => "all-answered",
            CloseReason::Deadline => "deadline",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all-answered" => Some(CloseReason::AllAnswered),
            "deadline" => Some(CloseReason::Deadline),
            _ => None,
        }
    }
}
