//! When an RFQ closes before its deadline: the aggregation strategies of the
//! scatter-gather pattern, chosen per RFQ by the customer.

use super::{DomainError, Price, Reply};
use std::fmt;

/// The completion rule of one RFQ. The deadline always applies as well:
/// whatever the rule, an RFQ closes at its deadline at the latest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Completion {
    /// Close once every addressed provider answered (quote or decline).
    #[default]
    All,
    /// Close once this many quotes arrived (declines do not count), or once
    /// every addressed provider answered, whichever comes first.
    FirstN(u32),
    /// Close once this many addressed providers answered (quotes and
    /// declines count). The producer resolves "majority" at submission.
    Quorum(u32),
    /// Collect everything until the deadline.
    Deadline,
    /// Close as soon as a quote at or below this price (same currency)
    /// arrives, or once every addressed provider answered.
    Quality(Price),
}

/// What the aggregator knows of an open RFQ when it judges completion.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Providers the RFQ was addressed to.
    pub addressed: usize,
    /// Providers that answered in time (quotes and declines).
    pub answered: usize,
    /// Quotes among those answers.
    pub quotes: usize,
}

impl Completion {
    /// The rule's name in JSON and in the store.
    pub fn rule(&self) -> &'static str {
        match self {
            Completion::All => "all",
            Completion::FirstN(_) => "first-n",
            Completion::Quorum(_) => "quorum",
            Completion::Deadline => "deadline",
            Completion::Quality(_) => "quality",
        }
    }

    /// Whether the answer `last`, which brought the RFQ to `progress`, closes
    /// it early, and under which reason.
    pub fn closes(&self, progress: Progress, last: &Reply) -> Option<CloseReason> {
        let everyone = progress.addressed > 0 && progress.answered >= progress.addressed;
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        match self {
            Completion::Deadline => None,
            Completion::FirstN(n) if progress.quotes >= count(*n) => Some(CloseReason::FirstN),
            Completion::Quorum(n) if progress.answered >= count(*n) => Some(CloseReason::Quorum),
            Completion::Quality(limit) => match last {
                Reply::Quoted { price, .. }
                    if price.currency() == limit.currency() && price.minor() <= limit.minor() =>
                {
                    Some(CloseReason::Quality)
                }
                _ => everyone.then_some(CloseReason::AllAnswered),
            },
            _ => everyone.then_some(CloseReason::AllAnswered),
        }
    }

    /// A compact text form for storage: `all`, `first-n:3`, `quorum:2`,
    /// `deadline`, `quality:1500:EUR`.
    pub fn code(&self) -> String {
        match self {
            Completion::All | Completion::Deadline => self.rule().to_owned(),
            Completion::FirstN(n) | Completion::Quorum(n) => format!("{}:{n}", self.rule()),
            Completion::Quality(price) => {
                format!("quality:{}:{}", price.minor(), price.currency().as_str())
            }
        }
    }

    /// Parses [`Completion::code`].
    pub fn parse_code(code: &str) -> Result<Completion, DomainError> {
        let bad = || DomainError::new("completion", format!("unknown rule {code:?}"));
        let mut parts = code.split(':');
        let count = |part: Option<&str>| -> Result<u32, DomainError> {
            part.and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(bad)
        };
        let completion = match parts.next() {
            Some("all") => Completion::All,
            Some("deadline") => Completion::Deadline,
            Some("first-n") => Completion::FirstN(count(parts.next())?),
            Some("quorum") => Completion::Quorum(count(parts.next())?),
            Some("quality") => {
                let minor = parts.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
                let currency = super::Currency::parse(parts.next().ok_or_else(bad)?)?;
                Completion::Quality(Price::new(minor, currency)?)
            }
            _ => return Err(bad()),
        };
        match parts.next() {
            None => Ok(completion),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// Why an RFQ closed: the rule that closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Every addressed provider answered (quote or decline) before the deadline.
    AllAnswered,
    /// The first N quotes arrived.
    FirstN,
    /// A quorum of the addressed providers answered.
    Quorum,
    /// A quote at or below the customer's price arrived.
    Quality,
    /// The deadline passed first.
    Deadline,
}

impl CloseReason {
    /// Every reason.
    pub const ALL: [CloseReason; 5] = [
        CloseReason::AllAnswered,
        CloseReason::FirstN,
        CloseReason::Quorum,
        CloseReason::Quality,
        CloseReason::Deadline,
    ];

    /// The name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::AllAnswered => "all-answered",
            CloseReason::FirstN => "first-n",
            CloseReason::Quorum => "quorum",
            CloseReason::Quality => "quality",
            CloseReason::Deadline => "deadline",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn eur(minor: i64) -> Price {
        Price::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn quote(minor: i64) -> Reply {
        Reply::Quoted {
            price: eur(minor),
            pickup_eta_seconds: 60,
        }
    }

    fn decline() -> Reply {
        Reply::Declined {
            reason: String::new(),
        }
    }

    fn at(addressed: usize, answered: usize, quotes: usize) -> Progress {
        Progress {
            addressed,
            answered,
            quotes,
        }
    }

    #[test]
    fn each_rule_closes_when_and_only_when_it_is_met() {
        use CloseReason as R;
        let all = Completion::All;
        assert_eq!(all.closes(at(3, 2, 2), &quote(1)), None);
        assert_eq!(all.closes(at(3, 3, 1), &decline()), Some(R::AllAnswered));
        let first = Completion::FirstN(2);
        assert_eq!(first.closes(at(4, 2, 1), &decline()), None);
        assert_eq!(first.closes(at(4, 3, 2), &quote(5)), Some(R::FirstN));
        assert_eq!(first.closes(at(2, 2, 1), &decline()), Some(R::AllAnswered));
        let quorum = Completion::Quorum(2);
        assert_eq!(quorum.closes(at(3, 1, 1), &quote(1)), None);
        assert_eq!(quorum.closes(at(3, 2, 0), &decline()), Some(R::Quorum));
        let deadline = Completion::Deadline;
        assert_eq!(deadline.closes(at(2, 2, 2), &quote(1)), None);
        let quality = Completion::Quality(eur(1000));
        assert_eq!(quality.closes(at(3, 1, 1), &quote(1001)), None);
        assert_eq!(quality.closes(at(3, 2, 2), &quote(1000)), Some(R::Quality));
        assert_eq!(
            quality.closes(at(2, 2, 1), &decline()),
            Some(R::AllAnswered)
        );
        let usd = Reply::Quoted {
            price: Price::new(1, Currency::parse("USD").unwrap()).unwrap(),
            pickup_eta_seconds: 60,
        };
        assert_eq!(quality.closes(at(3, 1, 1), &usd), None);
        // Nobody addressed: only the deadline closes it.
        assert_eq!(all.closes(at(0, 0, 0), &quote(1)), None);
    }

    #[test]
    fn codes_round_trip_and_garbage_is_refused() {
        for completion in [
            Completion::All,
            Completion::FirstN(3),
            Completion::Quorum(2),
            Completion::Deadline,
            Completion::Quality(eur(1500)),
        ] {
            assert_eq!(Completion::parse_code(&completion.code()), Ok(completion));
        }
        for bad in [
            "",
            "first-n",
            "first-n:0",
            "quorum:x",
            "quality:5",
            "all:1",
            "best",
        ] {
            assert!(Completion::parse_code(bad).is_err(), "{bad}");
        }
        for reason in CloseReason::ALL {
            assert_eq!(CloseReason::parse(reason.as_str()), Some(reason));
        }
    }
}
