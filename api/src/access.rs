//! Who reads what (issue 27): which RFQs a key's [`Principal`] reads, and
//! what of them it sees ([`View`]).
//!
//! - A customer reads its own RFQs, whole.
//! - An operator reads every RFQ, whole.
//! - A partner reads the RFQs addressed to one of its providers
//!   ([`PartnerName::owns`]), as a partner may see them: no customer, its
//!   own providers only (among those addressed, those unanswered, the
//!   answers and their prices, a timeline's steps), and counts of its own
//!   answers. What remains are counts, never who or what: competitors'
//!   answers leave gaps in the numbers of a live stream's events (an
//!   event's id is the answer's number among all), and a timeline's
//!   summary of the store (`stored`) counts every answer.
//!
//! Any other RFQ is not found (`404`), as an unknown one: ids cannot be
//! probed. Scorecards: [`Principal::reads_scorecard_of`].

use rfq_core::{JudgedAnswer, PartnerName, ProviderId, auth::Principal};
use rfq_explain::{Explanation, What};
use rfq_store::StoredRfq;
use serde_json::Value;

/// What a principal sees of an RFQ it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    /// Everything (its customer, an operator).
    Whole,
    /// A partner's projection: its own providers only, no customer.
    Partner(PartnerName),
}

impl View {
    /// How `principal` sees `stored`; `None`: it does not read it at all.
    pub(crate) fn of(principal: &Principal, stored: &StoredRfq) -> Option<View> {
        match principal {
            Principal::Customer(customer) => {
                (stored.rfq.customer == *customer).then_some(View::Whole)
            }
            Principal::Operator(_) => Some(View::Whole),
            Principal::Partner(partner) => stored
                .rfq
                .addressed
                .iter()
                .any(|provider| partner.owns(provider))
                .then(|| View::Partner(partner.clone())),
        }
    }

    /// Whether a provider (its answer, its place among those addressed)
    /// is shown.
    pub(crate) fn shows(&self, provider: &ProviderId) -> bool {
        match self {
            View::Whole => true,
            View::Partner(partner) => partner.owns(provider),
        }
    }

    /// Whether this view narrows anything (then the answers must be read
    /// to count what it shows).
    pub(crate) fn is_whole(&self) -> bool {
        *self == View::Whole
    }

    /// The RFQ and its answers as this view shows them: the providers
    /// addressed and the answers narrowed to those shown, and the answers
    /// received counted among them.
    pub(crate) fn narrow(
        &self,
        mut stored: StoredRfq,
        mut answers: Vec<JudgedAnswer>,
    ) -> (StoredRfq, Vec<JudgedAnswer>) {
        if self.is_whole() {
            return (stored, answers);
        }
        stored.rfq.addressed.retain(|provider| self.shows(provider));
        answers.retain(|kept| self.shows(&kept.answer.provider));
        let counted = answers
            .iter()
            .filter(|kept| kept.outcome().counts())
            .count();
        stored.responses_received = u32::try_from(counted).unwrap_or(u32::MAX);
        (stored, answers)
    }

    /// A document (status, result) as this view shows it: a partner's
    /// has no customer.
    pub(crate) fn document(&self, mut shown: Value) -> Value {
        if let (View::Partner(_), Some(fields)) = (self, shown.as_object_mut()) {
            fields.remove("customer");
        }
        shown
    }

    /// A timeline as this view shows it: the providers addressed, the
    /// answers and the differences with the store narrowed to those shown.
    pub(crate) fn explanation(&self, mut explained: Explanation) -> Explanation {
        let View::Partner(partner) = self else {
            return explained;
        };
        let owns = |provider: &str| {
            ProviderId::parse(provider).is_ok_and(|provider| partner.owns(&provider))
        };
        let others: Vec<String> = explained
            .addressed
            .iter()
            .filter(|addressed| !owns(&addressed.provider))
            .map(|addressed| addressed.provider.clone())
            .collect();
        explained
            .addressed
            .retain(|addressed| owns(&addressed.provider));
        explained.timeline.retain(|event| match &event.what {
            What::Answer { provider, .. } => owns(provider),
            _ => true,
        });
        explained
            .differences
            .retain(|line| !others.iter().any(|other| line.contains(other.as_str())));
        explained
    }
}

#[cfg(test)]
mod tests;
