//! Every RFQ checked, not just counted: after the drain, each accepted RFQ's
//! result is read and must show it closed once, the way it was sent to
//! close. An RFQ sent where unicorns answer closes by its completion rule
//! (`closed-by` is not `deadline`); one sent where nobody answers closes by
//! `deadline`, at its deadline (`closed-at` equal to it). [`judge`] is that
//! rule, for results read over HTTP ([`over_http`]) and for those read from
//! the store by the aggregator-alone bench ([`crate::alone`]).

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde_json::Value;
use std::{collections::BTreeMap, time::Instant};

/// Violations shown by id in the report, at most.
const EXAMPLES: usize = 10;

/// How an RFQ was sent to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Where unicorns answer: by its completion rule, before its deadline.
    Completion,
    /// Where nobody answers: by `deadline`, at the deadline it states,
    /// which is not after this ETA of its `202` (the ETA adds the
    /// aggregator's lag when it is behind; `None`: the `202` gave none).
    Deadline(Option<DateTime<Utc>>),
}

/// An accepted RFQ, and how it was sent to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its id (empty if the `202` did not give one).
    pub id: String,
    /// How it must close.
    pub expected: Expected,
}

impl Sent {
    /// From the body of a `202`: its `id`, and its `eta` (the deadline, or
    /// later) for an RFQ sent to close at its deadline.
    pub fn accepted(body: &Value, to_deadline: bool) -> Sent {
        let expected = if to_deadline {
            Expected::Deadline(time(&body["eta"]))
        } else {
            Expected::Completion
        };
        Sent {
            id: body["id"].as_str().unwrap_or_default().to_owned(),
            expected,
        }
    }
}

/// What is wrong with one RFQ's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// The `202` gave no id, or the result could not be read or parsed.
    Unreadable,
    /// `GET /rfqs/{id}` did not answer `303` (no result).
    NoResult,
    /// The result is not closed.
    NotClosed,
    /// Sent where unicorns answer, yet closed by its deadline.
    CompletionClosedByDeadline,
    /// Sent where nobody answers, yet closed by another rule.
    DeadlineClosedByAnotherRule,
    /// Closed by its deadline, but at another time than the deadline.
    DeadlineClosedOffItsDeadline,
}

impl Violation {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::Unreadable => "unreadable",
            Violation::NoResult => "no-303",
            Violation::NotClosed => "not-closed",
            Violation::CompletionClosedByDeadline => "completion-closed-by-deadline",
            Violation::DeadlineClosedByAnotherRule => "deadline-closed-by-another-rule",
            Violation::DeadlineClosedOffItsDeadline => "deadline-closed-off-its-deadline",
        }
    }
}

/// The rule: whether a closed RFQ (`closed_by`, `closed_at`, the
/// `deadline` it states) closed the way it was sent to. `closed_by` is the
/// close reason's name (`CloseReason::as_str`).
pub fn judge(
    expected: Expected,
    closed_by: &str,
    closed_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
) -> Option<Violation> {
    let by_deadline = closed_by == rfq_core::CloseReason::Deadline.as_str();
    match expected {
        Expected::Completion if by_deadline => Some(Violation::CompletionClosedByDeadline),
        Expected::Completion => None,
        Expected::Deadline(_) if !by_deadline => Some(Violation::DeadlineClosedByAnotherRule),
        Expected::Deadline(eta)
            if deadline.is_none()
                || deadline != closed_at
                || eta.is_none_or(|eta| deadline.is_some_and(|d| d > eta)) =>
        {
            Some(Violation::DeadlineClosedOffItsDeadline)
        }
        Expected::Deadline(_) => None,
    }
}

/// What the check found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    /// RFQs checked.
    pub rfqs: u64,
    /// Violations per kind ([`Violation::as_str`]); empty when all is well.
    pub violations: BTreeMap<String, u64>,
    /// The first few, as `id: kind (what was seen)`.
    pub examples: Vec<String>,
    /// Seconds the check took.
    pub seconds: f64,
}

impl Checked {
    /// Counts one RFQ: fine (`None`) or a violation with what was seen.
    pub fn add(&mut self, id: &str, outcome: Option<(Violation, String)>) {
        self.rfqs += 1;
        let Some((violation, seen)) = outcome else {
            return;
        };
        *self
            .violations
            .entry(violation.as_str().to_owned())
            .or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples
                .push(format!("{id}: {} ({seen})", violation.as_str()));
        }
    }

    /// Violations of every kind.
    pub fn violated(&self) -> u64 {
        self.violations.values().sum()
    }

    /// The report's rows.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![(
            "every RFQ checked".to_owned(),
            match self.violated() {
                0 => format!(
                    "{} results read in {:.1} s: each closed once, the way it was sent to",
                    self.rfqs, self.seconds
                ),
                n => format!(
                    "{n} VIOLATIONS in {} results: {}",
                    self.rfqs,
                    self.violations
                        .iter()
                        .map(|(kind, count)| format!("{kind} {count}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        )];
        rows.extend(
            self.examples
                .iter()
                .map(|example| ("  e.g.".to_owned(), example.clone())),
        );
        rows
    }
}

/// Reads every RFQ of `sent` at `url` (the read API's base URL):
/// `GET /rfqs/{id}` must answer `303`, then `GET /rfqs/{id}/result` a
/// closed result closed as [`judge`] says; `connections` at once.
/// `client` must not follow redirects and must carry the API key.
pub async fn over_http(
    client: &reqwest::Client,
    url: &str,
    sent: &[Sent],
    connections: usize,
) -> Checked {
    let started = Instant::now();
    let url = url.trim_end_matches('/');
    let mut read = futures::stream::iter(sent)
        .map(|rfq| async move { (rfq, read_one(client, url, rfq).await) })
        .buffer_unordered(connections.max(1));
    let mut checked = Checked::default();
    while let Some((rfq, outcome)) = read.next().await {
        checked.add(&rfq.id, outcome);
    }
    checked.seconds = started.elapsed().as_secs_f64();
    checked
}

/// One RFQ's status and result, judged.
async fn read_one(client: &reqwest::Client, url: &str, rfq: &Sent) -> Option<(Violation, String)> {
    if rfq.id.is_empty() {
        return Some((Violation::Unreadable, "the 202 gave no id".to_owned()));
    }
    let status = format!("{url}/rfqs/{}", rfq.id);
    match client.get(&status).send().await {
        Ok(response) if response.status() == 303 => {}
        Ok(response) => {
            return Some((Violation::NoResult, format!("status {}", response.status())));
        }
        Err(error) => return Some((Violation::Unreadable, error.to_string())),
    }
    let result = match client.get(format!("{status}/result")).send().await {
        Ok(response) if response.status() == 200 => response.json::<Value>().await,
        Ok(response) => {
            return Some((
                Violation::NotClosed,
                format!("result {}", response.status()),
            ));
        }
        Err(error) => return Some((Violation::Unreadable, error.to_string())),
    };
    let result = match result {
        Ok(result) => result,
        Err(error) => return Some((Violation::Unreadable, error.to_string())),
    };
    if result["status"].as_str() != Some("closed") {
        return Some((Violation::NotClosed, format!("status {}", result["status"])));
    }
    let closed_by = result["closed-by"].as_str().unwrap_or_default();
    let closed_at = time(&result["closed-at"]);
    judge(
        rfq.expected,
        closed_by,
        closed_at,
        time(&result["deadline"]),
    )
    .map(|violation| {
        let seen = format!(
            "closed-by {closed_by:?} at {}, deadline {}",
            result["closed-at"], result["deadline"]
        );
        (violation, seen)
    })
}

/// An RFC 3339 time of a JSON document.
pub(crate) fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<DateTime<Utc>> {
        time(&Value::String(text.to_owned()))
    }

    #[test]
    fn a_completion_rfq_must_not_close_by_its_deadline() {
        let by = |reason: &str| {
            let at = at("2026-12-07T10:00:00Z");
            judge(Expected::Completion, reason, at, at)
        };
        assert_eq!(by("all-answered"), None);
        assert_eq!(by("quorum"), None);
        assert_eq!(by("deadline"), Some(Violation::CompletionClosedByDeadline));
    }

    #[test]
    fn a_deadline_rfq_must_close_by_its_deadline_at_it() {
        let deadline = at("2026-12-07T10:00:05.123Z");
        let expected = Expected::Deadline(deadline);
        assert_eq!(judge(expected, "deadline", deadline, deadline), None);
        assert_eq!(
            judge(
                expected,
                "deadline",
                at("2026-12-07T10:00:05.124Z"),
                deadline
            ),
            Some(Violation::DeadlineClosedOffItsDeadline)
        );
        assert_eq!(
            judge(expected, "all-answered", deadline, deadline),
            Some(Violation::DeadlineClosedByAnotherRule)
        );
        assert_eq!(
            judge(Expected::Deadline(None), "deadline", deadline, deadline),
            Some(Violation::DeadlineClosedOffItsDeadline)
        );
        // The 202's ETA is the deadline plus the aggregator's lag: a
        // deadline before it is the RFQ's; one after it is not.
        let eta = Expected::Deadline(at("2026-12-07T10:00:06Z"));
        assert_eq!(judge(eta, "deadline", deadline, deadline), None);
        let late = at("2026-12-07T10:00:07Z");
        assert_eq!(
            judge(eta, "deadline", late, late),
            Some(Violation::DeadlineClosedOffItsDeadline)
        );
    }

    #[test]
    fn a_202_tells_how_its_rfq_must_close() {
        let body = serde_json::json!({"id": "abc", "eta": "2026-12-07T10:00:05.000Z"});
        assert_eq!(
            Sent::accepted(&body, true).expected,
            Expected::Deadline(at("2026-12-07T10:00:05Z"))
        );
        assert_eq!(Sent::accepted(&body, false).expected, Expected::Completion);
        assert_eq!(Sent::accepted(&Value::Null, false).id, "");
    }

    #[test]
    fn violations_are_counted_per_kind_with_a_few_examples() {
        let mut checked = Checked::default();
        checked.add("a", None);
        for i in 0..12 {
            checked.add(
                &i.to_string(),
                Some((Violation::NotClosed, "running".to_owned())),
            );
        }
        checked.add("b", Some((Violation::NoResult, "404".to_owned())));
        assert_eq!(checked.rfqs, 14);
        assert_eq!(checked.violated(), 13);
        assert_eq!(checked.violations["not-closed"], 12);
        assert_eq!(checked.violations["no-303"], 1);
        assert_eq!(checked.examples.len(), EXAMPLES);
        assert!(checked.rows()[0].1.contains("13 VIOLATIONS"));
    }
}
