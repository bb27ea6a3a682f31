//! The explanation as a document: what `rfq explain --json` prints and
//! `GET /rfqs/{id}/timeline` serves (its schema is in
//! `api/src/openapi.rs`), kebab-case like the other representations.

use super::Scan;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the log and the store say about one RFQ: the document `rfq
/// explain --json` prints and `GET /rfqs/{id}/timeline` serves.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Explanation {
    /// The RFQ's id.
    pub id: String,
    /// Its return address: the partition of the quotes topic replayed.
    pub partition: i32,
    /// When the producer accepted it (the origin of every `after-ms`).
    pub created_at: DateTime<Utc>,
    /// When it closes at the latest.
    pub deadline: DateTime<Utc>,
    /// Its completion rule (`all`, `first-n:3`, `quorum:2`, `deadline`,
    /// `quality:1500:EUR`).
    pub completion: String,
    /// How far from the pickup providers were asked, in metres; `None`
    /// for an RFQ from before vicinity.
    pub radius_m: Option<u32>,
    /// Whom it was addressed to, and why.
    pub addressed: Vec<Addressed>,
    /// What happened, in log order: acceptance, every answer with its
    /// verdict, the marker that closed it, the close.
    pub timeline: Vec<Event>,
    /// Deadline markers of the partition read while the RFQ was open.
    pub markers_read: usize,
    /// The close in the replay; `None` while the log does not close it.
    pub close: Option<Close>,
    /// What the store holds.
    pub stored: Stored,
    /// Whether the replay and the store agree on every kept answer and on
    /// the close.
    pub agrees_with_store: bool,
    /// Where they disagree, one line each (empty when they agree).
    pub differences: Vec<String>,
    /// How much of the log was read.
    pub scan: Scan,
}

impl Explanation {
    /// Every answer on the timeline as `(provider, verdict, seq)`, in log
    /// order.
    pub fn verdicts(&self) -> Vec<(&str, &'static str, Option<u32>)> {
        self.timeline
            .iter()
            .filter_map(|event| match &event.what {
                What::Answer {
                    provider,
                    verdict,
                    seq,
                    ..
                } => Some((provider.as_str(), *verdict, *seq)),
                _ => None,
            })
            .collect()
    }
}

/// One addressed provider: where a heartbeat put it, preferably its last
/// one at or before acceptance (see [`PlacedBy`](super::PlacedBy)).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Addressed {
    /// The provider.
    pub provider: String,
    /// Great-circle distance from the pickup, in metres, by the heartbeat
    /// that placed it; `None` when none was found.
    pub distance_m: Option<u32>,
    /// Whether that distance is within the radius.
    pub within_radius: Option<bool>,
    /// When that heartbeat was sent (the adapter's clock).
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Its age at acceptance, in milliseconds (negative: sent after).
    pub heartbeat_age_ms: Option<i64>,
    /// Which heartbeat that is: the last at or before acceptance, or (that
    /// one compacted away) the first kept after; `None` when none was found.
    pub placed_by: Option<super::PlacedBy>,
}

/// One step of the story.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Event {
    /// When: the record's broker timestamp (for the close, its instant).
    pub at: DateTime<Utc>,
    /// Milliseconds after acceptance.
    pub after_ms: i64,
    /// The record's offset in the partition (none for the close).
    pub offset: Option<i64>,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// What an [`Event`] is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum What {
    /// The RFQ's own record at its return address.
    Accepted,
    /// An answer and its verdict.
    #[serde(rename_all = "kebab-case")]
    Answer {
        /// Who answered.
        provider: String,
        /// What it said (`quoted 12.00 EUR, pickup in 120 s`, `declined: busy`).
        reply: String,
        /// The verdict ([`rfq_core::AnswerOutcome::as_str`]).
        verdict: &'static str,
        /// Its number among the answers kept ([`rfq_core::JudgedAnswer::seq`]).
        seq: Option<u32>,
        /// Why, in words.
        why: String,
    },
    /// The deadline marker that closed it.
    #[serde(rename_all = "kebab-case")]
    Marker {
        /// Deadlines at or before this had passed.
        marker_at: DateTime<Utc>,
        /// The aggregator instance that wrote it.
        writer: String,
    },
    /// The close.
    #[serde(rename_all = "kebab-case")]
    Closed {
        /// Why ([`rfq_core::CloseReason::as_str`]).
        reason: &'static str,
        /// The rule, in words.
        rule: String,
    },
}

/// The close the replay reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Close {
    /// Why ([`rfq_core::CloseReason::as_str`]).
    pub reason: &'static str,
    /// When (the deadline, or the stamp of the answer that completed it).
    pub at: DateTime<Utc>,
}

/// What the store holds of the RFQ.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Stored {
    /// `open` or `closed`.
    pub status: &'static str,
    /// Why it closed, if it did.
    pub closed_by: Option<&'static str>,
    /// When it closed, if it did.
    pub closed_at: Option<DateTime<Utc>>,
    /// Answers counted (quotes and declines in time).
    pub counted: usize,
    /// Late answers kept.
    pub late: usize,
}
