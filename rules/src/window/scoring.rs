//! The scorecard side of the window: what an open RFQ keeps of each
//! answer for its providers' scorecard lines, and the lines it decides at
//! the close ([`ScoreLine`]). Kept apart from the closing rules, which it
//! only follows.

use super::gathering::{Gathering, Heard, Providers};
use chrono::{DateTime, Utc};
use rfq_domain::{CorrelationId, Effect, Price, ScoreLine, ScoreOutcome};

/// The answers of an RFQ as scorecard lines need them.
#[derive(Debug, Default)]
pub(super) struct Scoring {
    /// One per provider that answered, in the order kept.
    pub(super) answers: Vec<Scored>,
}

/// An answer kept, as its provider's scorecard line needs it.
#[derive(Debug, Clone)]
pub(super) struct Scored {
    /// The provider's number.
    pub(super) number: u32,
    /// Milliseconds from the RFQ's creation to the answer.
    pub(super) latency_ms: u32,
    /// The price, if it is a quote in time.
    pub(super) price: Option<Price>,
    /// The answer's number ([`JudgedAnswer::seq`]): equal prices rank in
    /// this order.
    pub(super) seq: u32,
    /// Answers refused as duplicates since.
    pub(super) duplicates: u32,
}

impl Gathering {
    /// When the RFQ was created.
    pub(super) fn created_at(&self) -> DateTime<Utc> {
        self.deadline - chrono::Duration::milliseconds(i64::from(self.created_before_deadline_ms))
    }

    /// What provider `number` answered, if it did.
    fn scored(&self, number: u32) -> Option<&Scored> {
        let answers = &self.scored.as_ref()?.answers;
        answers.iter().find(|s| s.number == number)
    }

    /// Notes a duplicate answer from provider `number` (one it already
    /// heard from).
    pub(super) fn duplicate(&mut self, number: u32) {
        let answers = self.scored.as_mut().map(|s| s.answers.iter_mut());
        if let Some(scored) = answers.into_iter().flatten().find(|s| s.number == number) {
            scored.duplicates = scored.duplicates.saturating_add(1);
        }
    }

    /// The scorecard lines of RFQ `id` as it closes: one per addressed
    /// provider, quotes in time ranked cheapest first (equal prices in the
    /// order kept, as the result lists them), the first ranked the winner.
    pub(super) fn lines(&self, id: CorrelationId, providers: &Providers) -> Vec<Effect> {
        let answers = self.scored.as_ref().map(|s| s.answers.iter());
        let mut quotes: Vec<&Scored> = answers
            .into_iter()
            .flatten()
            .filter(|s| s.price.is_some())
            .collect();
        quotes.sort_by_key(|s| (s.price.as_ref().map(Price::minor), s.seq));
        let rank = |number: u32| {
            let at = quotes.iter().position(|s| s.number == number)?;
            u32::try_from(at + 1).ok()
        };
        let quoted = u32::try_from(quotes.len()).unwrap_or(u32::MAX);
        let mut lines = Vec::with_capacity(self.addressed.len());
        for (number, heard) in self.addressed.iter() {
            let Some(provider) = providers.id(*number) else {
                continue;
            };
            let scored = self.scored(*number);
            let price = scored.and_then(|s| s.price.clone());
            let outcome = match (heard, &price) {
                (Heard::Nothing, _) => ScoreOutcome::Silent,
                (Heard::Late, _) => ScoreOutcome::Late,
                (Heard::InTime, Some(_)) => ScoreOutcome::Quoted,
                (Heard::InTime, None) => ScoreOutcome::Declined,
            };
            let rank = price.as_ref().and_then(|_| rank(*number));
            lines.push(Effect::Score(ScoreLine {
                provider: provider.clone(),
                rfq: id,
                created_at: self.created_at(),
                outcome,
                latency_ms: scored.map(|s| s.latency_ms),
                price,
                rank,
                quotes: quoted,
                won: rank == Some(1),
                duplicates: scored.map_or(0, |s| s.duplicates),
            }));
        }
        lines
    }
}
