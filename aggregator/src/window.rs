//! The closing rules, free of I/O: which RFQs are open, who may still
//! answer, and when each closes. The worker feeds it the records of the
//! quotes topic in log order and writes the effects it returns.
//!
//! Every decision depends on the log alone (record order and record
//! timestamps), never on when a record happens to be processed: an answer
//! counts if it is stamped before the deadline and precedes the deadline
//! marker ([`DeadlineTick`](rfq_core::DeadlineTick)) that closes its RFQ.
//! Replaying a partition after a crash therefore yields the same effects,
//! which the store applies idempotently.
//!
//! At a close it also decides each addressed provider's scorecard line
//! ([`ScoreLine`](rfq_core::ScoreLine): quoted, declined, late or silent, latency, rank, win,
//! duplicates), from what it kept of the RFQ's answers: the window is the
//! one place that sees an RFQ's answers and its close together, in log
//! order, so the lines are a function of the log too.

use chrono::{DateTime, Utc};
use rfq_core::{
    Answer, AnswerOutcome, CloseReason, Completion, CorrelationId, Effect, JudgedAnswer, Progress,
    ProviderId, Reply, Rfq, latency_ms,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;

/// How long a deadline marker may take to come back before it is presumed
/// lost and another is written.
pub const TICK_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// The least time between two rounds of deadline markers: RFQs falling due
/// within it share a marker. A deadline waits for at most this, then one
/// marker's trip through the log (markers are pipelined: a new deadline
/// does not wait for the marker before it to come back).
pub const TICK_GAP: chrono::Duration = chrono::Duration::milliseconds(10);

/// At most this many markers per partition on their way at once; more
/// wait for one to come back (or for [`TICK_RETRY`]).
pub const TICKS_IN_FLIGHT: usize = 16;

/// What was heard from an addressed provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// Nothing yet.
    Nothing,
    /// An answer in time (quote or decline).
    InTime,
    /// An answer after the deadline (before the marker was read).
    Late,
}

/// An RFQ being gathered. Kept small: one is held per open RFQ, and an
/// aggregator may hold a million (about 100 bytes each here, plus the
/// map's and the deadline index's share).
#[derive(Debug)]
struct Gathering {
    /// Partition of the return address: the owner of this RFQ.
    partition: i32,
    /// When it closes at the latest.
    deadline: DateTime<Utc>,
    /// Who may answer (their [`Providers`] numbers, ascending), and what
    /// was heard from each.
    addressed: Box<[(u32, Heard)]>,
    /// Answers in time (quotes and declines).
    answered: u32,
    /// Quotes among the answers in time.
    quotes: u32,
    /// The highest number of an answer kept ([`JudgedAnswer::seq`]).
    numbered: u32,
    /// The customer's completion rule.
    completion: Completion,
    /// How long before the deadline the RFQ was created, in milliseconds
    /// (answer latency is measured from its creation; a deadline is at
    /// most a day after it: `MAX_DEADLINE_SECONDS`).
    created_before_deadline_ms: u32,
    /// What each provider that answered (in time or late) said, for its
    /// scorecard line at the close: nothing until the first answer.
    scored: Option<Box<scoring::Scoring>>,
}

impl Gathering {
    fn progress(&self) -> Progress {
        Progress {
            addressed: self.addressed.len(),
            answered: self.answered as usize,
            quotes: self.quotes as usize,
        }
    }

    /// What was heard from provider `number`; `None` if not addressed.
    fn heard(&mut self, number: u32) -> Option<&mut Heard> {
        let at = self
            .addressed
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()?;
        Some(&mut self.addressed[at].1)
    }

    /// Counts an answer from provider `number` (the first from each only).
    /// The number the next answer kept gets: one more than the highest
    /// kept (recovered ones included: after a failed write the store may
    /// hold answer 4 without 3, and a count would number the replayed 3 as
    /// a second 4).
    fn next_seq(&self) -> u32 {
        self.numbered.saturating_add(1)
    }

    fn keep(&mut self, number: u32, kept: &JudgedAnswer) {
        let outcome = kept.outcome();
        self.numbered = self.numbered.max(kept.seq);
        let Some(heard) = self.heard(number).filter(|heard| **heard == Heard::Nothing) else {
            return;
        };
        *heard = match outcome {
            AnswerOutcome::Late => Heard::Late,
            _ => Heard::InTime,
        };
        let price = match &kept.answer.reply {
            Reply::Quoted { price, .. } if outcome == AnswerOutcome::Quoted => Some(price.clone()),
            _ => None,
        };
        let latency = latency_ms(self.created_at(), kept.received_at);
        let scoring = self.scored.get_or_insert_with(Box::default);
        scoring.answers.push(scoring::Scored {
            number,
            latency_ms: latency,
            price,
            seq: kept.seq,
            duplicates: 0,
        });
        if outcome == AnswerOutcome::Late {
            return;
        }
        self.answered += 1;
        if outcome == AnswerOutcome::Quoted {
            self.quotes += 1;
        }
    }
}

/// Provider ids as numbers, so that an open RFQ holds its addressed set as
/// a few bytes each rather than a copy of every id. Numbers are given to
/// the providers RFQs are addressed to (the producer's registry), never
/// to a name an answer brings.
#[derive(Debug, Default)]
struct Providers {
    /// Each provider's number.
    numbers: HashMap<ProviderId, u32>,
    /// Each number's provider (for scorecard lines).
    ids: Vec<ProviderId>,
}

impl Providers {
    /// The number of `provider`, given now if it has none.
    fn intern(&mut self, provider: &ProviderId) -> u32 {
        if let Some(number) = self.numbers.get(provider) {
            return *number;
        }
        let next = u32::try_from(self.numbers.len()).unwrap_or(u32::MAX);
        self.numbers.insert(provider.clone(), next);
        self.ids.push(provider.clone());
        next
    }

    /// The provider numbered `number`.
    fn id(&self, number: u32) -> Option<&ProviderId> {
        self.ids.get(usize::try_from(number).ok()?)
    }

    /// The number of `provider`, if an RFQ was ever addressed to it.
    fn number(&self, provider: &ProviderId) -> Option<u32> {
        self.numbers.get(provider).copied()
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
    /// under its rule; nothing for a refused answer.
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

/// The open RFQs of the partitions this aggregator owns.
#[derive(Debug, Default)]
pub struct Window {
    /// Open RFQs by id.
    open: HashMap<CorrelationId, Gathering>,
    /// Deadline index per partition: the earliest first.
    deadlines: BTreeMap<i32, BTreeSet<(DateTime<Utc>, CorrelationId)>>,
    /// Deadline markers written and not yet read back: partition → their
    /// `at`s (as the log keeps them, in milliseconds), oldest first.
    ticks: HashMap<i32, VecDeque<DateTime<Utc>>>,
    /// When the last round of markers was written.
    last_round: Option<DateTime<Utc>>,
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

    /// The scorecard lines ([`Effect::Score`], one per addressed provider)
    /// of the RFQs closed since the last call, to be written after their
    /// closes. Empty unless the window was made by [`Window::scoring`].
    pub fn take_scores(&mut self) -> Vec<Effect> {
        self.scores.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Starts gathering an RFQ read from the quotes topic. Returns the
    /// effect that records it (a no-op if the producer already did).
    pub fn open(&mut self, rfq: &Rfq) -> Vec<Effect> {
        if self.open.contains_key(&rfq.id) {
            return Vec::new();
        }
        self.insert(rfq, &[]);
        vec![Effect::Open(rfq.clone())]
    }

    /// Resumes gathering an RFQ the store holds as open, with the answers
    /// it already stored (after a restart or a rebalance).
    pub fn recover(&mut self, rfq: &Rfq, stored: &[JudgedAnswer]) {
        if !self.open.contains_key(&rfq.id) {
            self.insert(rfq, stored);
        }
    }

    fn insert(&mut self, rfq: &Rfq, stored: &[JudgedAnswer]) {
        let mut addressed: Vec<(u32, Heard)> = rfq
            .addressed
            .iter()
            .map(|provider| (self.providers.intern(provider), Heard::Nothing))
            .collect();
        addressed.sort_unstable_by_key(|(number, _)| *number);
        addressed.dedup_by_key(|(number, _)| *number);
        let mut gathering = Gathering {
            partition: rfq.return_address.partition,
            deadline: rfq.deadline,
            addressed: addressed.into_boxed_slice(),
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
        self.deadlines
            .entry(gathering.partition)
            .or_default()
            .insert((rfq.deadline, rfq.id));
        self.open.insert(rfq.id, gathering);
    }

    /// Judges an answer read from `partition` that reached the quotes topic
    /// at `received_at` (its record timestamp); `None` if no RFQ with its id
    /// is open here (closed, unknown, or owned elsewhere). An answer outside
    /// its RFQ's partition is not judged here: only there is its order
    /// relative to the deadline marker defined.
    pub fn respond(
        &mut self,
        answer: Answer,
        partition: i32,
        received_at: DateTime<Utc>,
    ) -> Option<Verdict> {
        let gathering = self
            .open
            .get_mut(&answer.rfq)
            .filter(|gathering| gathering.partition == partition)?;
        let Some((number, heard)) = self
            .providers
            .number(&answer.provider)
            .and_then(|number| Some((number, *gathering.heard(number)?)))
        else {
            return Some(Verdict::refused(AnswerOutcome::NotAddressed));
        };
        if heard != Heard::Nothing {
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
            self.score(&id);
            self.remove(&id);
        }
        Some(verdict)
    }

    /// A deadline marker for `partition` was read: closes its RFQs whose
    /// deadline is at or before `at`, each at its deadline.
    pub fn tick(&mut self, partition: i32, at: DateTime<Utc>) -> Vec<Effect> {
        // Ours up to `at` are back (the log carries `at` in milliseconds, as
        // the markers on their way were noted).
        if let Some(flight) = self.ticks.get_mut(&partition) {
            while flight.front().is_some_and(|pending| *pending <= at) {
                flight.pop_front();
            }
        }
        let mut effects = Vec::new();
        while let Some((deadline, id)) = self
            .deadlines
            .get(&partition)
            .and_then(|index| index.first().copied())
        {
            if deadline > at {
                break;
            }
            self.score(&id);
            self.remove(&id);
            effects.push(Effect::Close {
                rfq: id,
                partition,
                reason: CloseReason::Deadline,
                closed_at: deadline,
            });
        }
        effects
    }

    /// The partitions that need a deadline marker written at `now`: a
    /// deadline has passed that no marker on its way covers (or the oldest
    /// on its way is overdue, [`TICK_RETRY`]). At most one round per
    /// [`TICK_GAP`]. Records a marker at `now` as on its way for each.
    pub fn ticks_due(&mut self, now: DateTime<Utc>) -> Vec<i32> {
        if self.within_gap(now) {
            return Vec::new();
        }
        // As the log will carry it.
        let at = in_millis(now);
        let mut due = Vec::new();
        for (partition, index) in &self.deadlines {
            if index.first().is_none_or(|(earliest, _)| *earliest > now) {
                continue;
            }
            let flight = self.ticks.entry(*partition).or_default();
            if flight
                .front()
                .is_some_and(|oldest| *oldest + TICK_RETRY <= now)
            {
                // Presumed lost; if one comes back after all, it closes
                // what it covers then.
                flight.clear();
            }
            let uncovered = match flight.back() {
                None => true,
                Some(covered) => first_after(index, *covered).is_some_and(|next| next <= now),
            };
            if uncovered && flight.len() < TICKS_IN_FLIGHT {
                flight.push_back(at);
                due.push(*partition);
            }
        }
        if !due.is_empty() {
            self.last_round = Some(now);
        }
        due
    }

    /// When [`Window::ticks_due`] has something to do next, seen at `now`:
    /// never before a partition's earliest deadline (a marker presumed lost
    /// is written again only once a deadline is due), nor within
    /// [`TICK_GAP`] of the last round.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self
            .deadlines
            .iter()
            .filter_map(|(partition, index)| {
                let (earliest, _) = index.first()?;
                let Some(flight) = self.ticks.get(partition).filter(|f| !f.is_empty()) else {
                    return Some(*earliest);
                };
                let retry = flight.front().map(|oldest| *oldest + TICK_RETRY);
                let uncovered = flight
                    .back()
                    .and_then(|covered| first_after(index, *covered))
                    .filter(|_| flight.len() < TICKS_IN_FLIGHT);
                let wake = [retry, uncovered].into_iter().flatten().min()?;
                Some(wake.max(*earliest))
            })
            .min()?;
        Some(match self.last_round {
            Some(last) if self.within_gap(now) => next.max(last + TICK_GAP),
            _ => next,
        })
    }

    /// Whether `now` is within [`TICK_GAP`] after the last round (a clock
    /// set back does not hold rounds off).
    fn within_gap(&self, now: DateTime<Utc>) -> bool {
        self.last_round
            .is_some_and(|last| last <= now && now < last + TICK_GAP)
    }

    /// Drops the RFQs of a partition this aggregator no longer owns; their
    /// new owner recovers them from the store.
    pub fn forget_partition(&mut self, partition: i32) {
        self.ticks.remove(&partition);
        for (_, id) in self.deadlines.remove(&partition).unwrap_or_default() {
            self.open.remove(&id);
        }
    }

    /// Number of open RFQs.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Decides the scorecard lines of open RFQ `id`, closing now, if
    /// lines are wanted.
    fn score(&mut self, id: &CorrelationId) {
        if let (Some(scores), Some(gathering)) = (self.scores.as_mut(), self.open.get(id)) {
            scores.extend(gathering.lines(*id, &self.providers));
        }
    }

    fn remove(&mut self, id: &CorrelationId) {
        if let Some(gathering) = self.open.remove(id)
            && let Some(index) = self.deadlines.get_mut(&gathering.partition)
        {
            index.remove(&(gathering.deadline, *id));
            if index.is_empty() {
                // Nothing left for markers on their way to close.
                self.deadlines.remove(&gathering.partition);
                self.ticks.remove(&gathering.partition);
            }
        }
    }
}

/// The first deadline in `index` after `covered`.
fn first_after(
    index: &BTreeSet<(DateTime<Utc>, CorrelationId)>,
    covered: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    index
        .range((
            Bound::Excluded((covered, CorrelationId::MAX)),
            Bound::Unbounded,
        ))
        .next()
        .map(|(deadline, _)| *deadline)
}

/// `at` as a marker carries it through the log (Avro timestamp-millis).
fn in_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

mod scoring;
#[cfg(test)]
mod tests;
