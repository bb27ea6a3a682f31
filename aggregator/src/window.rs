//! The closing rules, free of I/O: which RFQs are open, who may still
//! answer, and when each closes. The service feeds it records and the clock
//! and writes the effects it returns.

use chrono::{DateTime, Utc};
use rfq_core::{CloseReason, CorrelationId, ProviderId, Response, Rfq};
use rfq_store::Effect;
use std::collections::{BTreeSet, HashMap};

/// An RFQ being gathered.
#[derive(Debug)]
struct Gathering {
    /// Partition of the return address: the owner of this RFQ.
    partition: i32,
    /// When it closes at the latest.
    deadline: DateTime<Utc>,
    /// Who may answer.
    addressed: BTreeSet<ProviderId>,
    /// Who has answered.
    answered: BTreeSet<ProviderId>,
}

impl Gathering {
    /// All addressed providers answered. An RFQ addressed to nobody is never
    /// complete: it waits for its deadline like any other.
    fn complete(&self) -> bool {
        !self.addressed.is_empty() && self.answered.len() == self.addressed.len()
    }
}

/// What became of an answer.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Accepted: write these effects (the answer, and the close if it completed the RFQ).
    Accepted(Vec<Effect>),
    /// The provider already answered this RFQ: the first answer wins, this one is dropped.
    Duplicate,
    /// The provider was not addressed by this RFQ.
    NotAddressed,
    /// No RFQ with this id is open here (closed, unknown, or owned elsewhere).
    NotOpen,
}

/// The open RFQs of the partitions this aggregator owns.
#[derive(Debug, Default)]
pub struct Window {
    /// Open RFQs by id.
    open: HashMap<CorrelationId, Gathering>,
    /// Deadline index: the earliest first.
    deadlines: BTreeSet<(DateTime<Utc>, CorrelationId)>,
}

impl Window {
    /// Starts gathering `rfq`, with `answered` already recorded (when
    /// recovered from the store). Returns the effects to write: the RFQ
    /// itself, and its close if it is already complete.
    pub fn open(&mut self, rfq: &Rfq, answered: BTreeSet<ProviderId>) -> Vec<Effect> {
        if self.open.contains_key(&rfq.id) {
            return Vec::new();
        }
        let gathering = Gathering {
            partition: rfq.return_address.partition,
            deadline: rfq.deadline,
            addressed: rfq.addressed.clone(),
            answered,
        };
        let mut effects = vec![Effect::Open(rfq.clone())];
        if gathering.complete() {
            effects.push(Effect::Close {
                rfq: rfq.id,
                reason: CloseReason::AllAnswered,
                closed_at: Utc::now(),
            });
            return effects;
        }
        self.deadlines.insert((rfq.deadline, rfq.id));
        self.open.insert(rfq.id, gathering);
        effects
    }

    /// Judges an answer received at `received_at`.
    pub fn respond(&mut self, response: Response, received_at: DateTime<Utc>) -> Verdict {
        let Some(gathering) = self.open.get_mut(&response.rfq) else {
            return Verdict::NotOpen;
        };
        if received_at >= gathering.deadline {
            // Past the deadline but not yet swept: it no longer counts.
            return Verdict::NotOpen;
        }
        if !gathering.addressed.contains(&response.provider) {
            return Verdict::NotAddressed;
        }
        if !gathering.answered.insert(response.provider.clone()) {
            return Verdict::Duplicate;
        }
        let id = response.rfq;
        let mut effects = vec![Effect::Respond {
            response,
            received_at,
        }];
        if gathering.complete() {
            effects.push(Effect::Close {
                rfq: id,
                reason: CloseReason::AllAnswered,
                closed_at: received_at,
            });
            self.remove(&id);
        }
        Verdict::Accepted(effects)
    }

    /// Closes every RFQ whose deadline is at or before `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let mut effects = Vec::new();
        while let Some((deadline, id)) = self.deadlines.first().copied() {
            if deadline > now {
                break;
            }
            self.remove(&id);
            effects.push(Effect::Close {
                rfq: id,
                reason: CloseReason::Deadline,
                closed_at: deadline,
            });
        }
        effects
    }

    /// The earliest deadline of an open RFQ.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Drops the RFQs of a partition this aggregator no longer owns; their
    /// new owner recovers them from the store.
    pub fn forget_partition(&mut self, partition: i32) {
        let ids: Vec<CorrelationId> = self
            .open
            .iter()
            .filter(|(_, g)| g.partition == partition)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(&id);
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

    fn remove(&mut self, id: &CorrelationId) {
        if let Some(gathering) = self.open.remove(id) {
            self.deadlines.remove(&(gathering.deadline, *id));
        }
    }
}

#[cfg(test)]
mod tests;
