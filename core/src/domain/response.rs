use super::{CorrelationId, Price, ProviderId};
use chrono::{DateTime, Utc};

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An offer.
    Quoted {
        /// The price of the ride.
        price: Price,
        /// Seconds until the unicorn can be at the pickup point.
        pickup_eta_seconds: u32,
    },
    /// An explicit "no".
    Declined {
        /// Why, in the provider's words (may be empty).
        reason: String,
    },
}

/// One provider's answer to one RFQ, keyed on Kafka by the RFQ's correlation ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The RFQ answered.
    pub rfq: CorrelationId,
    /// Who answered.
    pub provider: ProviderId,
    /// When the provider answered (its clock).
    pub responded_at: DateTime<Utc>,
    /// The answer.
    pub outcome: Outcome,
}
