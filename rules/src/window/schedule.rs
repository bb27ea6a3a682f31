//! When deadline markers are due: the open RFQs' deadlines per partition
//! and the markers on their way. Shared by the window (which adds, removes
//! and closes deadlines as it reads the log) and the ticker (which writes
//! the markers, on a thread of its own: a backlog in the consumer loop
//! never holds a marker back).
//!
//! A marker at `at` closes, when read back, every RFQ of its partition
//! whose deadline is at or before `at` and whose record precedes it in the
//! log. So one marker covers every deadline up to its `at`, including
//! those of RFQs read later from a backlog (their records were appended
//! before the marker); a new one is due only when a deadline after the
//! newest marker passes.

use chrono::{DateTime, Utc};
use rfq_domain::CorrelationId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How long a deadline marker may take to come back before it is presumed
/// lost and another is written.
pub const TICK_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// The least time between two rounds of deadline markers: RFQs falling due
/// within it share a marker. A deadline waits for at most this, then one
/// marker's trip through the log (markers are pipelined: a new deadline
/// does not wait for the marker before it to come back).
pub const TICK_GAP: chrono::Duration = chrono::Duration::milliseconds(10);

/// Markers per partition on their way at [`TICK_GAP`] apart; past this
/// many (the partition's reader is behind: they do not come back), one per
/// [`BEHIND_GAP`] at most, so a deadline still gets its marker within
/// that of passing, and a backlog of a minute costs a few hundred markers.
pub const TICKS_IN_FLIGHT: usize = 16;

/// The least time between two markers of a partition whose reader is
/// behind (more than [`TICKS_IN_FLIGHT`] markers on their way).
pub const BEHIND_GAP: chrono::Duration = chrono::Duration::milliseconds(100);

/// Markers on their way remembered per partition, at most (the oldest are
/// forgotten: they only tell how old the oldest on its way is).
const FLIGHT_MEMORY: usize = 4096;

/// The deadlines of the open RFQs and the markers on their way.
#[derive(Debug, Default)]
pub struct Schedule {
    /// Deadline index per partition: the earliest first.
    deadlines: BTreeMap<i32, BTreeSet<(DateTime<Utc>, CorrelationId)>>,
    /// Deadline markers written and not yet read back: partition → their
    /// `at`s (as the log keeps them, in milliseconds), oldest first.
    ticks: HashMap<i32, VecDeque<DateTime<Utc>>>,
    /// When the last round of markers was written.
    last_round: Option<DateTime<Utc>>,
    /// Whether a change may bring the next wake sooner than planned (a
    /// deadline earlier than any before in its partition, a marker back).
    sooner: bool,
}

/// A [`Schedule`] shared by the window and the ticker.
#[derive(Debug, Clone, Default)]
pub struct SharedSchedule(Arc<Mutex<Schedule>>);

impl SharedSchedule {
    /// The schedule, locked (briefly: no lock is held across I/O). A
    /// panic while it was held leaves it usable: every change is complete
    /// before it can panic.
    pub fn lock(&self) -> MutexGuard<'_, Schedule> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Schedule {
    /// An open RFQ's deadline.
    pub(super) fn add(&mut self, partition: i32, deadline: DateTime<Utc>, id: CorrelationId) {
        let index = self.deadlines.entry(partition).or_default();
        if index
            .first()
            .is_none_or(|(earliest, _)| deadline < *earliest)
        {
            self.sooner = true;
        }
        index.insert((deadline, id));
    }

    /// An RFQ closed otherwise (or dropped).
    pub(super) fn remove(&mut self, partition: i32, deadline: DateTime<Utc>, id: CorrelationId) {
        if let Some(index) = self.deadlines.get_mut(&partition) {
            index.remove(&(deadline, id));
            if index.is_empty() {
                // Nothing left for markers on their way to close.
                self.deadlines.remove(&partition);
                self.ticks.remove(&partition);
            }
        }
    }

    /// A marker at `at` was read back in `partition`: removes and returns
    /// the RFQs it closes (deadline at or before `at`), earliest first.
    pub(super) fn closed_by_marker(
        &mut self,
        partition: i32,
        at: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, CorrelationId)> {
        // Ours up to `at` are back (the log carries `at` in milliseconds, as
        // the markers on their way were noted).
        if let Some(flight) = self.ticks.get_mut(&partition) {
            while flight.front().is_some_and(|pending| *pending <= at) {
                flight.pop_front();
                self.sooner = true;
            }
        }
        let mut closed = Vec::new();
        if let Some(index) = self.deadlines.get_mut(&partition) {
            while let Some(first) = index.first().copied().filter(|(d, _)| *d <= at) {
                index.remove(&first);
                closed.push(first);
            }
            if index.is_empty() {
                self.deadlines.remove(&partition);
                self.ticks.remove(&partition);
            }
        }
        closed
    }

    /// Drops a partition no longer owned; returns its RFQs.
    pub(super) fn forget(&mut self, partition: i32) -> Vec<CorrelationId> {
        self.ticks.remove(&partition);
        let index = self.deadlines.remove(&partition).unwrap_or_default();
        index.into_iter().map(|(_, id)| id).collect()
    }

    /// The deadlines before `before`, counted per partition.
    pub fn past(&self, before: DateTime<Utc>) -> Vec<(i32, usize)> {
        self.deadlines
            .iter()
            .map(|(partition, index)| {
                let past = index.iter().take_while(|(d, _)| *d < before).count();
                (*partition, past)
            })
            .filter(|(_, past)| *past > 0)
            .collect()
    }

    /// Whether a change since the last call may bring the next wake
    /// sooner: the ticker, told, plans again.
    pub fn take_sooner(&mut self) -> bool {
        std::mem::take(&mut self.sooner)
    }

    /// The partitions that need a deadline marker written at `now`: a
    /// deadline has passed that no marker on its way covers (or the newest
    /// on its way is overdue, [`TICK_RETRY`]). At most one round per
    /// [`TICK_GAP`], and per partition one marker per [`BEHIND_GAP`] once
    /// [`TICKS_IN_FLIGHT`] are on their way. Records a marker at `now` as
    /// on its way for each.
    pub fn ticks_due(&mut self, now: DateTime<Utc>) -> Vec<i32> {
        if self.within_gap(now) {
            return Vec::new();
        }
        // As the log will carry it.
        let at = in_millis(now);
        let mut due = Vec::new();
        for (partition, index) in &self.deadlines {
            let flight = self.ticks.entry(*partition).or_default();
            if wake(index, flight).is_some_and(|wake| wake <= now) {
                if flight.len() >= FLIGHT_MEMORY {
                    flight.pop_front();
                }
                flight.push_back(at);
                due.push(*partition);
            }
        }
        if !due.is_empty() {
            self.last_round = Some(now);
        }
        due
    }

    /// When [`Schedule::ticks_due`] has something to do next, seen at
    /// `now`: never before a partition's earliest deadline, nor within
    /// [`TICK_GAP`] of the last round.
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let empty = VecDeque::new();
        let next = self
            .deadlines
            .iter()
            .filter_map(|(partition, index)| {
                wake(index, self.ticks.get(partition).unwrap_or(&empty))
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
}

/// When a partition with these deadlines and these markers on their way
/// needs its next marker (`None`: no deadline).
///
/// - None on its way: at the earliest deadline.
/// - Else at the first deadline after the newest on its way, or once the
///   newest is overdue ([`TICK_RETRY`]: presumed lost; if it comes back
///   after all, it closes what it covers then), whichever comes first,
///   never before the earliest deadline (a marker presumed lost while its
///   RFQs closed otherwise must not spin the ticker);
/// - and, with [`TICKS_IN_FLIGHT`] or more on their way, not within
///   [`BEHIND_GAP`] of the newest.
fn wake(
    index: &BTreeSet<(DateTime<Utc>, CorrelationId)>,
    flight: &VecDeque<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let (earliest, _) = index.first()?;
    let Some(newest) = flight.back() else {
        return Some(*earliest);
    };
    let uncovered = first_after(index, *newest);
    let retry = *newest + TICK_RETRY;
    let wake = uncovered
        .map_or(retry, |next| next.min(retry))
        .max(*earliest);
    Some(if flight.len() >= TICKS_IN_FLIGHT {
        wake.max(*newest + BEHIND_GAP)
    } else {
        wake
    })
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
