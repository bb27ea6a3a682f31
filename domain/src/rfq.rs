use super::{Completion, CorrelationId, CustomerId, GeoPoint, ProviderId, Radius, Region};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// The longest deadline an RFQ may have, in seconds (a day): what the
/// producer's `--max-deadline-seconds` may be set to at most, and what the
/// ScyllaDB store keeps answers beyond their RFQ's retention for.
pub const MAX_DEADLINE_SECONDS: u32 = 86_400;

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
    /// within `radius` of `from` at acceptance. It closes early once all of
    /// them answered.
    pub addressed: BTreeSet<ProviderId>,
    /// How far from `from` the addressed providers were looked for; `None`
    /// for an RFQ accepted before vicinity, addressed to the providers of
    /// its `region` only.
    pub radius: Option<Radius>,
    /// Where answers go.
    pub return_address: ReturnAddress,
    /// When it closes before its deadline.
    pub completion: Completion,
}

impl Rfq {
    /// A sample RFQ, the one fixture of the tests (and of examples): from
    /// central Berlin to Kreuzberg for customer `alice`, created now (at
    /// millisecond precision, as every store and codec keeps it), closing
    /// 60 s later or once every one of `providers` answered, returned to
    /// partition 0 of `rfq.quotes`, addressed within the default radius.
    /// Change what a test needs with struct update syntax
    /// (`Rfq { deadline, ..Rfq::sample(&["p"]) }`) or
    /// [`Rfq::picked_up_at`].
    ///
    /// # Panics
    /// If a provider id is not one (fixture input, never outside input).
    pub fn sample(providers: &[&str]) -> Rfq {
        let from = GeoPoint::new(52.52, 13.40).unwrap_or_else(|_| unreachable!());
        let now = Utc::now();
        let created_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        Rfq {
            id: CorrelationId::new_random(),
            customer: CustomerId::parse("alice").unwrap_or_else(|_| unreachable!()),
            region: Region::of(&from, super::RegionPrecision::DEFAULT),
            from,
            to: GeoPoint::new(52.50, 13.45).unwrap_or_else(|_| unreachable!()),
            created_at,
            deadline: created_at + chrono::Duration::seconds(60),
            addressed: providers
                .iter()
                .map(|p| {
                    ProviderId::parse(p).unwrap_or_else(|e| panic!("sample provider {p:?}: {e}"))
                })
                .collect(),
            radius: Some(Radius::DEFAULT),
            return_address: ReturnAddress {
                topic: "rfq.quotes".into(),
                partition: 0,
            },
            completion: Completion::All,
        }
    }

    /// The same RFQ picked up (and dropped off) at `point`, in its region
    /// at the default precision.
    pub fn picked_up_at(self, point: GeoPoint) -> Rfq {
        Rfq {
            region: Region::of(&point, super::RegionPrecision::DEFAULT),
            from: point,
            to: point,
            ..self
        }
    }
}

/// A deadline marker on the quotes topic. The aggregator that owns a
/// partition appends one when deadlines fall due there, and closes the
/// partition's RFQs whose deadline is at or before `at` when it reads the
/// marker back. Closing on a record of the log rather than on the clock
/// makes the decision replayable: after a crash, the new owner reads the same
/// answers before the same marker and reaches the same result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineTick {
    /// The partition whose deadlines it settles.
    pub partition: i32,
    /// Deadlines at or before this instant have passed.
    pub at: DateTime<Utc>,
    /// The aggregator instance that wrote it (for diagnosis).
    pub writer: String,
}
