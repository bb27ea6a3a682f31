//! The effects of the aggregator's decisions: what the store is asked to
//! write. Produced by the closing rules, which do no I/O, and applied
//! idempotently by every store.

use super::{AnswerOutcome, CloseReason, CorrelationId, JudgedAnswer, ProviderId, Rfq, ScoreLine};
use chrono::{DateTime, Utc};

/// One idempotent change to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Record an accepted RFQ (no-op if it is already there).
    Open(Rfq),
    /// Keep an answer, counted or late as judged; the first answer of a
    /// provider to an RFQ wins, a second one is a no-op.
    Answer(JudgedAnswer),
    /// Close an RFQ (no-op if it is already closed: the first close wins).
    Close {
        /// The RFQ.
        rfq: CorrelationId,
        /// Its return address's partition (where its open-index entry is).
        partition: i32,
        /// Why.
        reason: CloseReason,
        /// When.
        closed_at: DateTime<Utc>,
    },
    /// Record an addressed provider's part in a closed RFQ (its scorecard
    /// line); the first line of a provider for an RFQ wins.
    Score(ScoreLine),
    /// A provider silent at its RFQ's close answered after it: its line
    /// reads late from now on (repeating it changes nothing; the first
    /// late answer's latency wins).
    ScoreLate {
        /// The provider.
        provider: ProviderId,
        /// The RFQ.
        rfq: CorrelationId,
        /// When the RFQ was created (the line's time, see
        /// [`ScoreLine::created_at`]).
        created_at: DateTime<Utc>,
        /// Milliseconds from the RFQ's creation to the late answer.
        latency_ms: u32,
    },
}

impl Effect {
    /// The `effect` label of the store's metrics: `open`, `respond` (an
    /// answer in time), `late`, `close`, `score` or `score-late`.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Open(_) => "open",
            Effect::Answer(kept) if kept.is_late() => AnswerOutcome::Late.as_str(),
            Effect::Answer(_) => "respond",
            Effect::Close { .. } => "close",
            Effect::Score(_) => "score",
            Effect::ScoreLate { .. } => "score-late",
        }
    }
}
