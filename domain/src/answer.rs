//! A provider's answer to an RFQ, and the answer as judged and kept.

use super::{AnswerOutcome, CorrelationId, Price, ProviderId};
use chrono::{DateTime, Utc};

/// What a provider replied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
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

impl Reply {
    /// The outcome of this reply when it counts: quoted or declined.
    pub const fn outcome(&self) -> AnswerOutcome {
        match self {
            Reply::Quoted { .. } => AnswerOutcome::Quoted,
            Reply::Declined { .. } => AnswerOutcome::Declined,
        }
    }
}

/// One provider's answer to one RFQ, keyed on Kafka by the RFQ's correlation ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The RFQ answered.
    pub rfq: CorrelationId,
    /// Who answered.
    pub provider: ProviderId,
    /// When the provider answered (its clock).
    pub responded_at: DateTime<Utc>,
    /// The provider's quote or decline.
    pub reply: Reply,
}

/// An answer the aggregator keeps: counted (in time) or late. What the
/// store holds of an answer and what the window recovers from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedAnswer {
    /// The answer.
    pub answer: Answer,
    /// When it reached the quotes topic (the Kafka record's timestamp).
    pub received_at: DateTime<Utc>,
    /// Its place among the answers its RFQ kept, from 1, in the order of
    /// the RFQ's quotes partition: a function of the log like every
    /// decision, so a replay numbers the same. A live reader resumes after
    /// the last number it saw (`Last-Event-ID`).
    pub seq: u32,
    /// Quoted or declined (the reply's, in time) or late; nothing else is
    /// kept, which the constructors ensure.
    outcome: AnswerOutcome,
}

impl JudgedAnswer {
    /// An answer stamped before its RFQ's deadline, the `seq`-th kept: it
    /// counts.
    pub fn in_time(answer: Answer, received_at: DateTime<Utc>, seq: u32) -> JudgedAnswer {
        let outcome = answer.reply.outcome();
        JudgedAnswer {
            answer,
            received_at,
            seq,
            outcome,
        }
    }

    /// An answer stamped at or after its RFQ's deadline, the `seq`-th kept:
    /// shown as late, never counted.
    pub fn late(answer: Answer, received_at: DateTime<Utc>, seq: u32) -> JudgedAnswer {
        JudgedAnswer {
            answer,
            received_at,
            seq,
            outcome: AnswerOutcome::Late,
        }
    }

    /// Quoted, declined or late.
    pub fn outcome(&self) -> AnswerOutcome {
        self.outcome
    }

    /// Whether it arrived after the deadline (the stores' `late` column).
    pub fn is_late(&self) -> bool {
        self.outcome == AnswerOutcome::Late
    }
}
