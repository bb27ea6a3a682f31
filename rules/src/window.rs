//! The closing rules, free of I/O: which RFQs are open, who may still
//! answer, when each closes, and what becomes of an answer after the
//! close. The worker feeds it the records of the quotes topic in log order
//! and writes the effects it returns.
//!
//! Every decision depends on the log alone (record order and record
//! timestamps), never on when a record happens to be processed: an answer
//! counts if it is stamped before the deadline and precedes the deadline
//! marker ([`DeadlineTick`](rfq_domain::DeadlineTick)) that closes its RFQ.
//! Replaying a partition after a crash therefore yields the same effects,
//! which the store applies idempotently.
//!
//! At a close it also decides each addressed provider's scorecard line
//! ([`ScoreLine`](rfq_domain::ScoreLine): quoted, declined, late or silent, latency, rank, win,
//! duplicates), from what it kept of the RFQ's answers: the window is the
//! one place that sees an RFQ's answers and its close together, in log
//! order, so the lines are a function of the log too.
//!
//! The deadlines live in a [`Schedule`] shared with the ticker, which
//! writes the markers on a thread of its own; the RFQs it closed lately
//! stay known for the after-close rule (`window/closed.rs`, [`Verdict`]).

use chrono::{DateTime, Utc};
use rfq_domain::{
    Answer, AnswerOutcome, CloseReason, CorrelationId, Effect, JudgedAnswer, Rfq, latency_ms,
};
use std::collections::HashMap;

mod closed;
mod gathering;
mod schedule;
mod scoring;

pub use closed::{CLOSED_KEPT, Verdict};
use closed::{Closed, RecentlyClosed};
use gathering::{Gathering, Providers};
pub use schedule::{BEHIND_GAP, Schedule, SharedSchedule, TICK_GAP, TICK_RETRY, TICKS_IN_FLIGHT};

/// The open RFQs of the partitions this aggregator owns, and the ones it
/// closed lately.
#[derive(Debug, Default)]
pub struct Window {
    /// Open RFQs by id.
    open: HashMap<CorrelationId, Gathering>,
    /// Their deadlines and the markers on their way (shared with the
    /// ticker).
    schedule: SharedSchedule,
    /// The RFQs closed lately (the after-close rule).
    closed: RecentlyClosed,
    /// The providers' numbers.
    providers: Providers,
    /// The scorecard lines of the RFQs closed since they were last taken
    /// ([`Window::take_scores`]); `None`: lines are not wanted
    /// ([`Window::scoring`]).
    scores: Option<Vec<Effect>>,
}

impl Window {
    /// A window that also decides the scorecard lines of the RFQs it closes
    /// ([`Window::take_scores`]).
    pub fn scoring() -> Window {
        Window {
            scores: Some(Vec::new()),
            ..Window::default()
        }
    }

    /// The deadline schedule, for the ticker that writes the markers.
    pub fn schedule(&self) -> SharedSchedule {
        self.schedule.clone()
    }

    /// The scorecard lines ([`Effect::Score`], one per addressed provider)
    /// of the RFQs closed since the last call, to be written after their
    /// closes. Empty unless the window was made by [`Window::scoring`].
    pub fn take_scores(&mut self) -> Vec<Effect> {
        self.scores.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Starts gathering an RFQ read from the quotes topic. Returns the
    /// effect that records it (a no-op if the producer already did).
    pub fn open(&mut self, rfq: &Rfq) -> Vec<Effect> {
        if self.knows(&rfq.id) {
            return Vec::new();
        }
        self.insert(rfq, &[]);
        vec![Effect::Open(rfq.clone())]
    }

    /// Resumes gathering an RFQ the store holds as open, with the answers
    /// it already stored (after a restart or a rebalance).
    pub fn recover(&mut self, rfq: &Rfq, stored: &[JudgedAnswer]) {
        if !self.knows(&rfq.id) {
            self.insert(rfq, stored);
        }
    }

    /// Takes up an RFQ the store holds as closed, with the answers it
    /// stored, for the answers to it that come after the close.
    pub fn recall(&mut self, rfq: &Rfq, stored: &[JudgedAnswer]) {
        if !self.knows(&rfq.id) {
            let closed = Closed::recalled(rfq, stored, &mut self.providers);
            self.closed.keep(rfq.id, closed);
        }
    }

    /// Whether RFQ `id` is open here or closed lately: an answer to it can
    /// be judged without the store.
    pub fn knows(&self, id: &CorrelationId) -> bool {
        self.open.contains_key(id) || self.closed.contains(id)
    }

    /// The partition of RFQ `id`, if it is open here or closed lately.
    pub fn partition_of(&self, id: &CorrelationId) -> Option<i32> {
        self.open
            .get(id)
            .map(|gathering| gathering.partition)
            .or_else(|| self.closed.partition_of(id))
    }

    fn insert(&mut self, rfq: &Rfq, stored: &[JudgedAnswer]) {
        let mut gathering = Gathering {
            partition: rfq.return_address.partition,
            deadline: rfq.deadline,
            addressed: self.providers.addressed(&rfq.addressed),
            answered: 0,
            quotes: 0,
            numbered: 0,
            completion: rfq.completion.clone(),
            created_before_deadline_ms: latency_ms(rfq.created_at, rfq.deadline),
            scored: None,
        };
        for kept in stored {
            if let Some(number) = self.providers.number(&kept.answer.provider) {
                gathering.keep(number, kept);
            }
        }
        self.schedule
            .lock()
            .add(gathering.partition, rfq.deadline, rfq.id);
        self.open.insert(rfq.id, gathering);
    }

    /// Judges an answer read from `partition` that reached the quotes topic
    /// at `received_at` (its record timestamp); `None` if no RFQ with its id
    /// is known here (neither open nor closed lately: the store knows). An
    /// answer outside its RFQ's partition is refused: only there is its
    /// order relative to the deadline marker defined.
    pub fn respond(
        &mut self,
        answer: Answer,
        partition: i32,
        received_at: DateTime<Utc>,
    ) -> Option<Verdict> {
        let number = self.providers.number(&answer.provider);
        let Some(gathering) = self.open.get_mut(&answer.rfq) else {
            let closed = self.closed.get_mut(&answer.rfq)?;
            if closed.partition != partition {
                return Some(Verdict::refused(AnswerOutcome::WrongPartition));
            }
            return Some(closed.judge(number, answer, received_at));
        };
        if gathering.partition != partition {
            return Some(Verdict::refused(AnswerOutcome::WrongPartition));
        }
        let Some((number, heard)) =
            number.and_then(|number| Some((number, *gathering.heard(number)?)))
        else {
            return Some(Verdict::refused(AnswerOutcome::NotAddressed));
        };
        if heard != gathering::Heard::Nothing {
            gathering.duplicate(number);
            return Some(Verdict::refused(AnswerOutcome::Duplicate));
        }
        let seq = gathering.next_seq();
        if received_at >= gathering.deadline {
            let kept = JudgedAnswer::late(answer, received_at, seq);
            gathering.keep(number, &kept);
            return Some(Verdict::kept(kept));
        }
        let kept = JudgedAnswer::in_time(answer, received_at, seq);
        gathering.keep(number, &kept);
        let close = gathering
            .completion
            .closes(gathering.progress(), &kept.answer.reply);
        let id = kept.answer.rfq;
        let mut verdict = Verdict::kept(kept);
        if let Some(reason) = close {
            verdict.effects.push(Effect::Close {
                rfq: id,
                partition,
                reason,
                closed_at: received_at,
            });
            self.close(&id, true);
        }
        Some(verdict)
    }

    /// A deadline marker for `partition` was read: closes its RFQs whose
    /// deadline is at or before `at`, each at its deadline.
    pub fn tick(&mut self, partition: i32, at: DateTime<Utc>) -> Vec<Effect> {
        let due = self.schedule.lock().closed_by_marker(partition, at);
        let mut effects = Vec::with_capacity(due.len());
        for (deadline, id) in due {
            self.close(&id, false);
            effects.push(Effect::Close {
                rfq: id,
                partition,
                reason: CloseReason::Deadline,
                closed_at: deadline,
            });
        }
        effects
    }

    /// The partitions that need a deadline marker written at `now`
    /// ([`Schedule::ticks_due`]).
    pub fn ticks_due(&mut self, now: DateTime<Utc>) -> Vec<i32> {
        self.schedule.lock().ticks_due(now)
    }

    /// When [`Window::ticks_due`] has something to do next
    /// ([`Schedule::next_wake`]).
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.lock().next_wake(now)
    }

    /// Drops the RFQs of a partition this aggregator no longer owns; their
    /// new owner recovers them from the store.
    pub fn forget_partition(&mut self, partition: i32) {
        for id in self.schedule.lock().forget(partition) {
            self.open.remove(&id);
        }
        self.closed.forget_partition(partition);
    }

    /// Number of open RFQs.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The open RFQs whose deadline is before `before`, per partition (the
    /// ones a marker should have closed by now).
    pub fn open_past(&self, before: DateTime<Utc>) -> Vec<(i32, usize)> {
        self.schedule.lock().past(before)
    }

    /// Closes open RFQ `id`: decides its scorecard lines (if wanted) and
    /// keeps it for the after-close rule; `scheduled`: its deadline is
    /// still in the schedule (it closed otherwise than by a marker).
    fn close(&mut self, id: &CorrelationId, scheduled: bool) {
        let Some(gathering) = self.open.remove(id) else {
            return;
        };
        if let Some(scores) = self.scores.as_mut() {
            scores.extend(gathering.lines(*id, &self.providers));
        }
        if scheduled {
            self.schedule
                .lock()
                .remove(gathering.partition, gathering.deadline, *id);
        }
        let closed = Closed {
            partition: gathering.partition,
            kept: gathering.kept(),
            numbered: gathering.numbered,
            created_at: gathering.created_at(),
            addressed: gathering.addressed,
        };
        self.closed.keep(*id, closed);
    }
}

#[cfg(test)]
mod tests;
