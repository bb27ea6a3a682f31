//! What happens to an answer after its RFQ closed: the after-close rule,
//! and the recently closed RFQs the window keeps to apply it without
//! asking the store.
//!
//! An answer to a closed RFQ is refused if its provider was not addressed
//! (dead-lettered) or already answered (the first answer wins); otherwise
//! it is kept as late, numbered after every answer kept, and its
//! provider's scorecard line turns from silent to late. The window keeps
//! the last [`CLOSED_KEPT`] RFQs it closed; an answer to an older one (or
//! to one closed before a restart) is judged the same way from what the
//! store holds ([`Window::recall`](super::Window::recall)).

use super::gathering::{Heard, Providers};
use chrono::{DateTime, Utc};
use rfq_domain::{Answer, AnswerOutcome, CorrelationId, Effect, JudgedAnswer, Rfq, latency_ms};
use std::collections::{HashMap, VecDeque};

/// Recently closed RFQs kept per window: at a thousand RFQs a second
/// about a minute of them, in a few MB. Late answers come within seconds
/// of a close; one to an RFQ closed longer ago costs a store read.
pub const CLOSED_KEPT: usize = 65_536;

/// A closed RFQ as the after-close rule needs it.
#[derive(Debug)]
pub(super) struct Closed {
    /// Partition of its return address.
    pub(super) partition: i32,
    /// Who was addressed (provider numbers, ascending) and what was heard.
    pub(super) addressed: Box<[(u32, Heard)]>,
    /// Answers kept (in time and late).
    pub(super) kept: u32,
    /// The highest number of an answer kept.
    pub(super) numbered: u32,
    /// When the RFQ was created (answer latency counts from it).
    pub(super) created_at: DateTime<Utc>,
}

impl Closed {
    /// A closed RFQ as the store holds it: `rfq` and its answers kept.
    pub(super) fn recalled(rfq: &Rfq, kept: &[JudgedAnswer], providers: &mut Providers) -> Closed {
        let mut addressed = providers.addressed(&rfq.addressed);
        for answer in kept {
            let heard = if answer.is_late() {
                Heard::Late
            } else {
                Heard::InTime
            };
            if let Some(number) = providers.number(&answer.answer.provider)
                && let Ok(at) = addressed.binary_search_by_key(&number, |(n, _)| *n)
            {
                addressed[at].1 = heard;
            }
        }
        Closed {
            partition: rfq.return_address.partition,
            addressed,
            kept: u32::try_from(kept.len()).unwrap_or(u32::MAX),
            numbered: kept.iter().map(|k| k.seq).max().unwrap_or(0),
            created_at: rfq.created_at,
        }
    }

    /// Judges `answer` (from provider `number`, if it has one) to this
    /// closed RFQ, read at `received_at`: refused as from a stranger or a
    /// duplicate, or kept as late with its scorecard line turned late.
    pub(super) fn judge(
        &mut self,
        number: Option<u32>,
        answer: Answer,
        received_at: DateTime<Utc>,
    ) -> Verdict {
        let heard = number.and_then(|number| {
            let at = self
                .addressed
                .binary_search_by_key(&number, |(n, _)| *n)
                .ok()?;
            Some(&mut self.addressed[at].1)
        });
        let Some(heard) = heard else {
            return Verdict::refused(AnswerOutcome::NotAddressed);
        };
        if *heard != Heard::Nothing {
            return Verdict::refused(AnswerOutcome::Duplicate);
        }
        *heard = Heard::Late;
        // Numbered after every answer kept.
        let seq = self.kept.max(self.numbered).saturating_add(1);
        self.kept = self.kept.saturating_add(1);
        self.numbered = seq;
        // Silent at the close, late now: its scorecard line says so.
        let score = Effect::ScoreLate {
            provider: answer.provider.clone(),
            rfq: answer.rfq,
            created_at: self.created_at,
            latency_ms: latency_ms(self.created_at, received_at),
        };
        let mut verdict = Verdict::kept(JudgedAnswer::late(answer, received_at, seq));
        verdict.effects.push(score);
        verdict
    }
}

/// What became of an answer: its outcome and the effects to write.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    /// Quoted or declined (counted), late (kept, never counted), or
    /// refused: duplicate (the first answer wins), not addressed, unknown
    /// RFQ or wrong partition.
    pub outcome: AnswerOutcome,
    /// The answer if it is kept, then the close if it completed its RFQ
    /// under its rule (or its late scorecard line if its RFQ had closed);
    /// nothing for a refused answer.
    pub effects: Vec<Effect>,
}

impl Verdict {
    /// An answer kept as judged (counted or late).
    pub fn kept(kept: JudgedAnswer) -> Verdict {
        Verdict {
            outcome: kept.outcome(),
            effects: vec![Effect::Answer(kept)],
        }
    }

    /// An answer refused: nothing to write.
    pub fn refused(outcome: AnswerOutcome) -> Verdict {
        Verdict {
            outcome,
            effects: Vec::new(),
        }
    }
}

/// The recently closed RFQs, the oldest forgotten first.
#[derive(Debug, Default)]
pub(super) struct RecentlyClosed {
    /// By id.
    by_id: HashMap<CorrelationId, Closed>,
    /// In the order they were kept.
    order: VecDeque<CorrelationId>,
}

impl RecentlyClosed {
    /// Keeps `closed` as RFQ `id`, forgetting the oldest past [`CLOSED_KEPT`].
    pub(super) fn keep(&mut self, id: CorrelationId, closed: Closed) {
        if self.by_id.insert(id, closed).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > CLOSED_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    /// The closed RFQ `id`, if kept.
    pub(super) fn get_mut(&mut self, id: &CorrelationId) -> Option<&mut Closed> {
        self.by_id.get_mut(id)
    }

    /// The partition of RFQ `id`, if kept.
    pub(super) fn partition_of(&self, id: &CorrelationId) -> Option<i32> {
        self.by_id.get(id).map(|closed| closed.partition)
    }

    /// Whether RFQ `id` is kept.
    pub(super) fn contains(&self, id: &CorrelationId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Forgets the RFQs of `partition` (no longer owned: its next owner
    /// may keep answers this window would not see).
    pub(super) fn forget_partition(&mut self, partition: i32) {
        self.by_id.retain(|_, closed| closed.partition != partition);
        let by_id = &self.by_id;
        self.order.retain(|id| by_id.contains_key(id));
    }
}
