//! Every result explained: one RFQ's story rebuilt from the log and
//! checked against the store (`rfq explain`, `GET /rfqs/{id}/timeline`).
//! A shared crate, not a role: the read API serves it and the CLI prints
//! it; it judges nothing itself, the rules (`rfq-rules`) do, as for the
//! aggregator. Its OpenAPI schema is [`openapi::schema`].
//!
//! Decisions are a function of the log, so the story is told by replaying
//! it: a fresh [`Window`] is fed this RFQ's records of its return-address
//! partition (its RFQ record, its answers, every deadline marker) in log
//! order, as the aggregator's judge feeds its window, and every verdict is
//! written down. An answer read after the close is judged as the judge
//! judges one for a closed RFQ (late, a duplicate or from a stranger).
//! The replay is then compared with what the store holds (its answers and
//! its close): where they differ, the explanation says so
//! ([`Explanation::agrees_with_store`], [`Explanation::differences`]) and
//! hides nothing. Here is the replay, free of I/O; reading the log is
//! [`Explainer`]'s (`log`), placing the addressed providers by their
//! heartbeats [`Placing`]'s, the text form is [`text`].

mod document;
mod log;
pub mod openapi;
mod placing;
#[cfg(test)]
mod tests;
pub mod text;

pub use document::{Addressed, Close, Event, Explanation, Stored, What};
pub use log::{Explainer, Scan};
pub use placing::{PlacedBy, Placing};

use chrono::{DateTime, Utc};
use rfq_avro::Record;
use rfq_core::{AnswerOutcome, CloseReason, Effect, JudgedAnswer, Reply, Rfq};
use rfq_rules::{Verdict, Window};
use rfq_store::{RfqStatus, StoredRfq};

/// One RFQ's replay: a fresh window fed its records in log order.
#[derive(Debug)]
pub struct Replay {
    /// The RFQ, as stored.
    rfq: Rfq,
    /// Judges as the aggregator's does.
    window: Window,
    /// Whether its RFQ record (or an answer, recovering it) opened it.
    opened: bool,
    /// The close, once reached, with the stamp of the record that closed it.
    closed: Option<(CloseReason, DateTime<Utc>, DateTime<Utc>)>,
    /// The answers kept, in log order.
    kept: Vec<JudgedAnswer>,
    /// The story so far.
    timeline: Vec<Event>,
    /// Deadline markers read while open.
    markers: usize,
}

impl Replay {
    /// A replay of `rfq` (as the store holds it), nothing read yet.
    pub fn new(rfq: Rfq) -> Replay {
        Replay {
            rfq,
            window: Window::default(),
            opened: false,
            closed: None,
            kept: Vec::new(),
            timeline: Vec::new(),
            markers: 0,
        }
    }

    /// The close reached so far, with the stamp of the record that closed
    /// it (the marker, or the completing answer).
    pub fn closed(&self) -> Option<(CloseReason, DateTime<Utc>, DateTime<Utc>)> {
        self.closed
    }

    fn event(&mut self, at: DateTime<Utc>, offset: Option<i64>, what: What) {
        let after_ms = (at - self.rfq.created_at).num_milliseconds();
        self.timeline.push(Event {
            at,
            after_ms,
            offset,
            what,
        });
    }

    /// Feeds one record of the RFQ's partition (`stamp`: its broker
    /// timestamp); records about other RFQs are passed over.
    pub fn feed(&mut self, offset: i64, stamp: DateTime<Utc>, record: Record) {
        let partition = self.rfq.return_address.partition;
        match record {
            // The first copy opens it (the judge refuses one naming
            // another partition).
            Record::Rfq(rfq)
                if rfq.id == self.rfq.id
                    && rfq.return_address.partition == partition
                    && !self.opened
                    && self.closed.is_none() =>
            {
                self.window.open(&rfq);
                self.opened = true;
                self.event(stamp, Some(offset), What::Accepted);
            }
            Record::Answer(answer) if answer.rfq == self.rfq.id => {
                self.answer(offset, stamp, answer)
            }
            Record::Tick(tick) if tick.partition == partition && self.closed.is_none() => {
                self.markers += 1;
                let effects = self.window.tick(partition, tick.at);
                if self.close_in(&effects, stamp) {
                    let what = What::Marker {
                        marker_at: tick.at,
                        writer: tick.writer,
                    };
                    self.event(stamp, Some(offset), what);
                    self.close_event();
                }
            }
            _ => {}
        }
    }

    /// Notes the close among `effects`, if one is this RFQ's.
    fn close_in(&mut self, effects: &[Effect], stamp: DateTime<Utc>) -> bool {
        let close = effects.iter().find_map(|effect| match effect {
            Effect::Close {
                rfq,
                reason,
                closed_at,
                ..
            } if *rfq == self.rfq.id => Some((*reason, *closed_at, stamp)),
            _ => None,
        });
        self.closed = close.or(self.closed);
        close.is_some()
    }

    fn close_event(&mut self) {
        if let Some((reason, at, _)) = self.closed {
            let rule = match reason {
                CloseReason::Deadline => "the deadline passed first".to_owned(),
                _ => format!("completion rule {} met", self.rfq.completion),
            };
            let what = What::Closed {
                reason: reason.as_str(),
                rule,
            };
            self.event(at, None, what);
        }
    }

    fn answer(&mut self, offset: i64, stamp: DateTime<Utc>, answer: rfq_core::Answer) {
        let partition = self.rfq.return_address.partition;
        let (provider, reply) = (answer.provider.to_string(), said(&answer.reply));
        if !self.opened && self.closed.is_none() {
            // Before its RFQ record: the judge finds it open in the store
            // and takes it up from there.
            self.window.recover(&self.rfq, &[]);
            self.opened = true;
        }
        // The window knows it (opened, taken up above, or closed by it:
        // the after-close rule is the window's, as for the judge).
        let verdict = self
            .window
            .respond(answer.clone(), partition, stamp)
            .unwrap_or_else(|| Verdict::refused(AnswerOutcome::UnknownRfq));
        let kept = verdict.effects.iter().find_map(|effect| match effect {
            Effect::Answer(kept) => Some(kept.clone()),
            _ => None,
        });
        let why = self.why(verdict.outcome, stamp, &provider);
        let seq = kept.as_ref().map(|kept| kept.seq);
        self.kept.extend(kept);
        let what = What::Answer {
            provider,
            reply,
            verdict: verdict.outcome.as_str(),
            seq,
            why,
        };
        self.event(stamp, Some(offset), what);
        if self.close_in(&verdict.effects, stamp) {
            self.close_event();
        }
    }

    fn why(&self, outcome: AnswerOutcome, stamp: DateTime<Utc>, provider: &str) -> String {
        let deadline = self.rfq.deadline;
        match outcome {
            AnswerOutcome::Quoted | AnswerOutcome::Declined => {
                "counted: addressed, first from this provider, stamped before the deadline"
                    .to_owned()
            }
            AnswerOutcome::Late if stamp >= deadline => format!(
                "late: stamped {} ms after the deadline (kept, never counted)",
                (stamp - deadline).num_milliseconds()
            ),
            AnswerOutcome::Late => match self.closed {
                Some((reason, _, _)) => format!(
                    "late: after the close ({}), before the deadline (kept, never counted)",
                    reason.as_str()
                ),
                None => "late (kept, never counted)".to_owned(),
            },
            AnswerOutcome::Duplicate => {
                format!("duplicate: {provider} already answered (the first answer wins)")
            }
            AnswerOutcome::NotAddressed => {
                format!("refused: {provider} was not addressed by this RFQ (dead-lettered)")
            }
            AnswerOutcome::UnknownRfq => "refused: no RFQ with this id".to_owned(),
            AnswerOutcome::WrongPartition => "refused: read in another partition".to_owned(),
        }
    }

    /// The explanation: the replay next to what the store holds
    /// (`stored`, its answers `responses`).
    pub fn explain(
        self,
        stored: &StoredRfq,
        responses: &[JudgedAnswer],
        addressed: Vec<Addressed>,
        scan: Scan,
    ) -> Explanation {
        let mut differences = differences(&self.kept, responses);
        let close = self.closed.map(|(reason, at, _)| Close {
            reason: reason.as_str(),
            at,
        });
        let stored_close = match stored.status {
            RfqStatus::Open => None,
            RfqStatus::Closed { reason, closed_at } => Some(Close {
                reason: reason.as_str(),
                at: closed_at,
            }),
        };
        if close != stored_close {
            differences.push(format!(
                "close: the log says {}, the store {}",
                shown_close(close.as_ref()),
                shown_close(stored_close.as_ref())
            ));
        }
        if !self.opened {
            differences.push("the RFQ's record was not found in its partition".to_owned());
        }
        let late = responses.iter().filter(|r| r.is_late()).count();
        Explanation {
            id: self.rfq.id.to_string(),
            partition: self.rfq.return_address.partition,
            created_at: self.rfq.created_at,
            deadline: self.rfq.deadline,
            completion: self.rfq.completion.code(),
            radius_m: self.rfq.radius.map(|radius| radius.metres()),
            addressed,
            timeline: self.timeline,
            markers_read: self.markers,
            close,
            stored: Stored {
                status: stored_close.as_ref().map_or("open", |_| "closed"),
                closed_by: stored_close.as_ref().map(|close| close.reason),
                closed_at: stored_close.as_ref().map(|close| close.at),
                counted: responses.len() - late,
                late,
            },
            agrees_with_store: differences.is_empty(),
            differences,
            scan,
        }
    }
}

/// A reply in words.
fn said(reply: &Reply) -> String {
    match reply {
        Reply::Quoted {
            price,
            pickup_eta_seconds,
        } => format!("quoted {price}, pickup in {pickup_eta_seconds} s"),
        Reply::Declined { reason } if reason.is_empty() => "declined".to_owned(),
        Reply::Declined { reason } => format!("declined: {reason}"),
    }
}

fn shown_close(close: Option<&Close>) -> String {
    close.map_or("open".to_owned(), |close| {
        format!("{} at {}", close.reason, close.at.to_rfc3339())
    })
}

/// The answers kept by one side only, one line each.
fn differences(replayed: &[JudgedAnswer], stored: &[JudgedAnswer]) -> Vec<String> {
    let key = |kept: &JudgedAnswer| {
        (
            kept.seq,
            kept.answer.provider.to_string(),
            kept.outcome().as_str(),
            kept.received_at.timestamp_millis(),
        )
    };
    let shown = |kept: &JudgedAnswer| {
        format!(
            "answer {} from {} ({}, stamped {})",
            kept.seq,
            kept.answer.provider,
            kept.outcome().as_str(),
            kept.received_at.to_rfc3339()
        )
    };
    let mut lines = Vec::new();
    for kept in replayed {
        if !stored.iter().any(|s| key(s) == key(kept)) {
            lines.push(format!("{}: in the log, not in the store", shown(kept)));
        }
    }
    for kept in stored {
        if !replayed.iter().any(|r| key(r) == key(kept)) {
            lines.push(format!("{}: in the store, not in the log", shown(kept)));
        }
    }
    lines
}
