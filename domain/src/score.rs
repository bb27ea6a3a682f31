//! Provider scorecards: what each addressed provider did for one RFQ (a
//! [`ScoreLine`], decided by the aggregator's window when the RFQ closes)
//! and what a provider did over a time window (a [`Scorecard`], the sum of
//! its lines, computed where it is read).
//!
//! Lines are decided from the log like every other decision, so a replay
//! writes the same lines and the store keeps the first. A line is the
//! unit because it is what a provider's partition in the store can hold
//! per RFQ (bounded by the RFQs addressed to it), and every figure of a
//! scorecard (counts, latency percentiles, rank, wins) is a fold of lines.

use super::{CorrelationId, DomainError, Price, ProviderId};
use chrono::{DateTime, Utc};

/// What became of one addressed provider in one RFQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreOutcome {
    /// Quoted in time.
    Quoted,
    /// Declined in time.
    Declined,
    /// Answered, but at or after the deadline (before or after the close).
    Late,
    /// Never answered (a late answer after the close turns it late).
    Silent,
}

impl ScoreOutcome {
    /// Every outcome.
    pub const ALL: [ScoreOutcome; 4] = [
        ScoreOutcome::Quoted,
        ScoreOutcome::Declined,
        ScoreOutcome::Late,
        ScoreOutcome::Silent,
    ];

    /// Its name (stored, and in the scorecard's JSON).
    pub const fn as_str(self) -> &'static str {
        match self {
            ScoreOutcome::Quoted => "quoted",
            ScoreOutcome::Declined => "declined",
            ScoreOutcome::Late => "late",
            ScoreOutcome::Silent => "silent",
        }
    }

    /// The outcome named `name` by [`ScoreOutcome::as_str`].
    pub fn parse(name: &str) -> Option<ScoreOutcome> {
        ScoreOutcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// One addressed provider's part in one closed RFQ.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreLine {
    /// The provider.
    pub provider: ProviderId,
    /// The RFQ.
    pub rfq: CorrelationId,
    /// When the RFQ was created: the time a line is filed under (scorecard
    /// windows select lines by it) and what latency is measured from.
    pub created_at: DateTime<Utc>,
    /// Quoted, declined, late or silent.
    pub outcome: ScoreOutcome,
    /// Milliseconds from the RFQ's creation to the answer reaching the
    /// quotes topic (its record timestamp); `None` if silent.
    pub latency_ms: Option<u32>,
    /// The price quoted in time.
    pub price: Option<Price>,
    /// Its place among the RFQ's quotes in time, from 1, cheapest first;
    /// equal prices in the order the aggregator kept them (as the result
    /// lists them). `None` unless quoted in time.
    pub rank: Option<u32>,
    /// How many quotes in time the RFQ had (what `rank` is out of).
    pub quotes: u32,
    /// Whether this provider won: ranked first (the cheapest quote, the
    /// earliest kept among equal prices: one winner per RFQ at most).
    pub won: bool,
    /// Answers refused as duplicates while the RFQ was open in this
    /// aggregator (since it last read or recovered the RFQ: a lower bound).
    pub duplicates: u32,
}

impl ScoreLine {
    /// This line as read back with the latency of a late answer that came
    /// after the close (`late_ms`, [`Effect::ScoreLate`](super::Effect)):
    /// a silent line reads late; any other keeps what the close decided.
    pub fn marked_late(mut self, late_ms: Option<u32>) -> ScoreLine {
        if let (ScoreOutcome::Silent, Some(late)) = (self.outcome, late_ms) {
            self.outcome = ScoreOutcome::Late;
            self.latency_ms = Some(late);
        }
        self
    }
}

/// The longest window a scorecard covers, in days: what bounds the
/// partitions a read touches (one per provider and day in ScyllaDB).
pub const MAX_SCORECARD_DAYS: i64 = 31;

/// The RFQs a scorecard covers: those created in `[since, until)`, at most
/// [`MAX_SCORECARD_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreWindow {
    /// The first instant covered.
    since: DateTime<Utc>,
    /// The first instant after.
    until: DateTime<Utc>,
}

impl ScoreWindow {
    /// `[since, until)`, refused if empty, reversed or too long.
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<ScoreWindow, DomainError> {
        if until <= since {
            return Err(DomainError::new("until", "must be after since"));
        }
        if until - since > chrono::Duration::days(MAX_SCORECARD_DAYS) {
            return Err(DomainError::new(
                "window",
                format!("at most {MAX_SCORECARD_DAYS} days"),
            ));
        }
        Ok(ScoreWindow { since, until })
    }

    /// The first instant covered.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// The first instant after the window.
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }

    /// Whether `at` is in the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }

    /// The days the window touches ([`day`] numbers), first to last.
    pub fn days(&self) -> std::ops::RangeInclusive<i32> {
        let last = self.until - chrono::Duration::milliseconds(1);
        day(self.since)..=day(last)
    }
}

/// The day `at` falls on, in days since 1970-01-01 (UTC): what scorecard
/// lines are partitioned by.
pub fn day(at: DateTime<Utc>) -> i32 {
    i32::try_from(at.timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

/// Milliseconds from `from` to `to`, within `u32` (negative: 0).
pub fn latency_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
    u32::try_from((to - from).num_milliseconds().max(0)).unwrap_or(u32::MAX)
}

/// Answer latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// The median.
    pub p50: u32,
    /// The 90th percentile.
    pub p90: u32,
    /// The 99th percentile.
    pub p99: u32,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`; `None` if there are none.
    pub fn of(mut values: Vec<u32>) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let at = |p: usize| {
            // Nearest rank: the smallest value with at least p% at or below.
            let rank = (p * values.len()).div_ceil(100).max(1);
            values[rank.min(values.len()) - 1]
        };
        Some(Percentiles {
            p50: at(50),
            p90: at(90),
            p99: at(99),
        })
    }
}

/// What a provider did over a time window: the fold of its lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scorecard {
    /// RFQs addressed to it (that closed; one line each).
    pub addressed: u32,
    /// Quotes in time.
    pub quoted: u32,
    /// Declines in time.
    pub declined: u32,
    /// Answers at or after the deadline.
    pub late: u32,
    /// RFQs it never answered.
    pub silent: u32,
    /// Duplicate answers refused.
    pub duplicates: u32,
    /// RFQs it won (cheapest quote).
    pub wins: u32,
    /// Latency of its answers in time and late (quotes, declines, late).
    pub latency: Option<Percentiles>,
    /// The mean of its quotes' ranks (1 = always cheapest).
    pub mean_rank: Option<f64>,
}

impl Scorecard {
    /// The scorecard of `lines` (one provider's, over a window).
    pub fn of<'a>(lines: impl IntoIterator<Item = &'a ScoreLine>) -> Scorecard {
        let mut card = Scorecard::default();
        let mut latencies = Vec::new();
        let mut ranks = Vec::new();
        for line in lines {
            card.addressed += 1;
            match line.outcome {
                ScoreOutcome::Quoted => card.quoted += 1,
                ScoreOutcome::Declined => card.declined += 1,
                ScoreOutcome::Late => card.late += 1,
                ScoreOutcome::Silent => card.silent += 1,
            }
            card.duplicates = card.duplicates.saturating_add(line.duplicates);
            card.wins += u32::from(line.won);
            latencies.extend(line.latency_ms);
            ranks.extend(line.rank.map(f64::from));
        }
        card.latency = Percentiles::of(latencies);
        card.mean_rank =
            (!ranks.is_empty()).then(|| ranks.iter().sum::<f64>() / ranks.len() as f64);
        card
    }

    /// Answers in time (quotes and declines).
    pub fn answered_in_time(&self) -> u32 {
        self.quoted + self.declined
    }

    /// Wins per quote in time (`None` without quotes): how often its offer
    /// was the cheapest when it made one.
    pub fn win_rate(&self) -> Option<f64> {
        (self.quoted > 0).then(|| f64::from(self.wins) / f64::from(self.quoted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(outcome: ScoreOutcome, latency: Option<u32>, rank: Option<u32>) -> ScoreLine {
        ScoreLine {
            provider: ProviderId::parse("u1").expect("a valid id"),
            rfq: CorrelationId::new_random(),
            created_at: Utc::now(),
            outcome,
            latency_ms: latency,
            price: None,
            rank,
            quotes: 2,
            won: rank == Some(1),
            duplicates: 1,
        }
    }

    #[test]
    fn a_scorecard_folds_its_lines() {
        let lines = [
            line(ScoreOutcome::Quoted, Some(100), Some(1)),
            line(ScoreOutcome::Quoted, Some(300), Some(2)),
            line(ScoreOutcome::Declined, Some(200), None),
            line(ScoreOutcome::Late, Some(9000), None),
            line(ScoreOutcome::Silent, None, None),
        ];
        let card = Scorecard::of(&lines);
        assert_eq!(
            (
                card.addressed,
                card.quoted,
                card.declined,
                card.late,
                card.silent
            ),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(
            (card.wins, card.duplicates, card.answered_in_time()),
            (1, 5, 3)
        );
        assert_eq!(card.win_rate(), Some(0.5));
        assert_eq!(card.mean_rank, Some(1.5));
        let latency = card.latency.expect("latencies");
        assert_eq!((latency.p50, latency.p90, latency.p99), (200, 9000, 9000));
        assert_eq!(Scorecard::of(&[]).win_rate(), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).collect()).expect("values");
        assert_eq!((p.p50, p.p90, p.p99), (50, 90, 99));
        assert_eq!(Percentiles::of(Vec::new()), None);
        let now = Utc::now();
        assert!(ScoreWindow::new(now, now).is_err());
        assert!(ScoreWindow::new(now - chrono::Duration::days(32), now).is_err());
        let window = ScoreWindow::new(now - chrono::Duration::days(2), now).expect("2 days");
        assert_eq!(window.days().count(), 3);
        assert!(window.contains(window.since()) && !window.contains(now));
        for outcome in ScoreOutcome::ALL {
            assert_eq!(ScoreOutcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
