//! What became of an answer: the one list of outcomes and their names.
//!
//! An answer is quoted or declined by its provider, and then judged by the
//! aggregator: counted (quoted, declined), kept apart as late, or refused
//! (duplicate, not addressed, unknown RFQ, wrong partition). Metric labels,
//! the kind stored with an answer and the result list the read API shows it
//! in are all named here, once.

/// What became of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnswerOutcome {
    /// An offer, in time: counted in the result.
    Quoted,
    /// An explicit "no", in time: counted in the result.
    Declined,
    /// Stamped at or after its RFQ's deadline: kept and shown, never counted.
    Late,
    /// The provider already answered this RFQ: the first answer wins, this
    /// one is dropped.
    Duplicate,
    /// No RFQ with this id exists: dead-lettered.
    UnknownRfq,
    /// The provider was not addressed by the RFQ: dead-lettered.
    NotAddressed,
    /// The answer was read in a partition other than its RFQ's: dead-lettered.
    WrongPartition,
}

impl AnswerOutcome {
    /// Every outcome.
    pub const ALL: [AnswerOutcome; 7] = [
        AnswerOutcome::Quoted,
        AnswerOutcome::Declined,
        AnswerOutcome::Late,
        AnswerOutcome::Duplicate,
        AnswerOutcome::UnknownRfq,
        AnswerOutcome::NotAddressed,
        AnswerOutcome::WrongPartition,
    ];

    /// The name: the `kind` label of the adapters' answers, the kind of a
    /// stored answer, and (but for the two counted outcomes, see
    /// [`AnswerOutcome::verdict`]) the aggregator's verdict label.
    pub const fn as_str(self) -> &'static str {
        match self {
            AnswerOutcome::Quoted => "quoted",
            AnswerOutcome::Declined => "declined",
            AnswerOutcome::Late => "late",
            AnswerOutcome::Duplicate => "duplicate",
            AnswerOutcome::UnknownRfq => "unknown-rfq",
            AnswerOutcome::NotAddressed => "not-addressed",
            AnswerOutcome::WrongPartition => "wrong-partition",
        }
    }

    /// The outcome named `name` by [`AnswerOutcome::as_str`].
    pub fn parse(name: &str) -> Option<AnswerOutcome> {
        AnswerOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
    }

    /// The `verdict` label of `rfq_aggregator_responses_total`: the
    /// aggregator counts quotes and declines alike, as `accepted`.
    pub const fn verdict(self) -> &'static str {
        if self.counts() {
            "accepted"
        } else {
            self.as_str()
        }
    }

    /// Whether the answer counts in its RFQ's result (and towards its
    /// completion rule).
    pub const fn counts(self) -> bool {
        matches!(self, AnswerOutcome::Quoted | AnswerOutcome::Declined)
    }

    /// The list of the result document (`GET /rfqs/{id}/result`) a kept
    /// answer is shown in; `None` for an answer that is not kept.
    pub const fn result_list(self) -> Option<&'static str> {
        match self {
            AnswerOutcome::Quoted => Some("quotes"),
            AnswerOutcome::Declined => Some("declines"),
            AnswerOutcome::Late => Some(AnswerOutcome::Late.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AnswerOutcome;

    #[test]
    fn names_parse_back() {
        for outcome in AnswerOutcome::ALL {
            assert_eq!(AnswerOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(AnswerOutcome::parse("accepted"), None);
    }

    #[test]
    fn only_quotes_and_declines_count_and_late_ones_are_kept() {
        let kept: Vec<_> = AnswerOutcome::ALL
            .into_iter()
            .filter(|o| o.result_list().is_some())
            .collect();
        assert_eq!(
            kept,
            [
                AnswerOutcome::Quoted,
                AnswerOutcome::Declined,
                AnswerOutcome::Late
            ]
        );
        assert_eq!(AnswerOutcome::Quoted.verdict(), "accepted");
        assert_eq!(AnswerOutcome::Late.verdict(), "late");
    }
}
