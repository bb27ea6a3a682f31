//! Domain types of the RFQ pipeline, free of I/O: the bottom of the crate
//! graph. Every other crate speaks in them (`rfq-core` re-exports them at
//! its root and as `rfq_core::domain`), and the decision rules
//! (`rfq-rules`) depend on them alone.
//!
//! Values from outside the process (HTTP bodies, Kafka records) are parsed
//! into these types once, at the edge; code past the edge never re-checks a
//! latitude or a provider id. Each constructor that takes outside input
//! returns a [`DomainError`] that says what was wrong in words a client can act on.

mod answer;
mod completion;
mod effect;
mod geo;
mod heartbeat;
mod ids;
mod outcome;
mod partner;
mod price;
mod region;
mod rfq;
mod score;
mod vicinity;

pub use answer::{Answer, JudgedAnswer, Reply};
pub use completion::{CloseReason, Completion, Progress};
pub use effect::Effect;
pub use geo::GeoPoint;
pub use heartbeat::{ProviderHeartbeat, ProviderStatus};
pub use ids::{CorrelationId, CustomerId, IdempotencyKey, ProviderId};
pub use outcome::AnswerOutcome;
pub use partner::{Door, Operation, PartnerName, PartnerRfq, Resource, Right};
pub use price::{Currency, Price};
pub use region::{Region, RegionPrecision};
pub use rfq::{DeadlineTick, MAX_DEADLINE_SECONDS, ReturnAddress, Rfq};
pub use score::{
    MAX_SCORECARD_DAYS, Percentiles, ScoreLine, ScoreOutcome, ScoreWindow, Scorecard, day,
    latency_ms,
};
pub use vicinity::{Covering, MAX_COVERING_CELLS, MAX_RADIUS_M, Radius, Vicinity};

/// Why a value from outside the process was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DomainError {
    /// The field (JSON pointer-ish path) that was wrong, e.g. `from.lat`.
    pub field: String,
    /// What was wrong with it.
    pub message: String,
}

impl DomainError {
    /// A refusal of `field` with a human-readable `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error reported under a parent field, e.g. `lat` → `from.lat`.
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}
