//! An open RFQ as the window holds it ([`Gathering`]: who may still
//! answer, what was heard, how far its rule has come), and the providers'
//! numbers that keep it small.

use super::scoring;
use chrono::{DateTime, Utc};
use rfq_domain::{
    AnswerOutcome, Completion, JudgedAnswer, Progress, ProviderId, Reply, latency_ms,
};
use std::collections::HashMap;

/// What was heard from an addressed provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heard {
    /// Nothing yet.
    Nothing,
    /// An answer in time (quote or decline).
    InTime,
    /// An answer after the deadline (before the marker was read), or after
    /// the close.
    Late,
}

/// An RFQ being gathered. Kept small: one is held per open RFQ, and an
/// aggregator may hold a million (about 100 bytes each here, plus the
/// map's and the deadline index's share).
#[derive(Debug)]
pub(super) struct Gathering {
    /// Partition of the return address: the owner of this RFQ.
    pub(super) partition: i32,
    /// When it closes at the latest.
    pub(super) deadline: DateTime<Utc>,
    /// Who may answer (their [`Providers`] numbers, ascending), and what
    /// was heard from each.
    pub(super) addressed: Box<[(u32, Heard)]>,
    /// Answers in time (quotes and declines).
    pub(super) answered: u32,
    /// Quotes among the answers in time.
    pub(super) quotes: u32,
    /// The highest number of an answer kept ([`JudgedAnswer::seq`]).
    pub(super) numbered: u32,
    /// The customer's completion rule.
    pub(super) completion: Completion,
    /// How long before the deadline the RFQ was created, in milliseconds
    /// (answer latency is measured from its creation; a deadline is at
    /// most a day after it: `MAX_DEADLINE_SECONDS`).
    pub(super) created_before_deadline_ms: u32,
    /// What each provider that answered (in time or late) said, for its
    /// scorecard line at the close: nothing until the first answer.
    pub(super) scored: Option<Box<scoring::Scoring>>,
}

impl Gathering {
    pub(super) fn progress(&self) -> Progress {
        Progress {
            addressed: self.addressed.len(),
            answered: self.answered as usize,
            quotes: self.quotes as usize,
        }
    }

    /// What was heard from provider `number`; `None` if not addressed.
    pub(super) fn heard(&mut self, number: u32) -> Option<&mut Heard> {
        let at = self
            .addressed
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()?;
        Some(&mut self.addressed[at].1)
    }

    /// The number the next answer kept gets: one more than the highest
    /// kept (recovered ones included: after a failed write the store may
    /// hold answer 4 without 3, and a count would number the replayed 3 as
    /// a second 4).
    pub(super) fn next_seq(&self) -> u32 {
        self.numbered.saturating_add(1)
    }

    /// Answers kept so far (in time and late): one per provider heard.
    pub(super) fn kept(&self) -> u32 {
        let heard = self.addressed.iter().filter(|(_, h)| *h != Heard::Nothing);
        u32::try_from(heard.count()).unwrap_or(u32::MAX)
    }

    /// Counts an answer from provider `number` (the first from each only).
    pub(super) fn keep(&mut self, number: u32, kept: &JudgedAnswer) {
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
pub(super) struct Providers {
    /// Each provider's number.
    pub(super) numbers: HashMap<ProviderId, u32>,
    /// Each number's provider (for scorecard lines).
    ids: Vec<ProviderId>,
}

impl Providers {
    /// The number of `provider`, given now if it has none.
    pub(super) fn intern(&mut self, provider: &ProviderId) -> u32 {
        if let Some(number) = self.numbers.get(provider) {
            return *number;
        }
        let next = u32::try_from(self.numbers.len()).unwrap_or(u32::MAX);
        self.numbers.insert(provider.clone(), next);
        self.ids.push(provider.clone());
        next
    }

    /// The addressed set of an RFQ addressed to `providers`: their
    /// numbers, ascending, once each, nothing heard yet.
    pub(super) fn addressed<'a>(
        &mut self,
        providers: impl IntoIterator<Item = &'a ProviderId>,
    ) -> Box<[(u32, Heard)]> {
        let mut addressed: Vec<(u32, Heard)> = providers
            .into_iter()
            .map(|provider| (self.intern(provider), Heard::Nothing))
            .collect();
        addressed.sort_unstable_by_key(|(number, _)| *number);
        addressed.dedup_by_key(|(number, _)| *number);
        addressed.into_boxed_slice()
    }

    /// The provider numbered `number`.
    pub(super) fn id(&self, number: u32) -> Option<&ProviderId> {
        self.ids.get(usize::try_from(number).ok()?)
    }

    /// The number of `provider`, if an RFQ was ever addressed to it.
    pub(super) fn number(&self, provider: &ProviderId) -> Option<u32> {
        self.numbers.get(provider).copied()
    }
}
