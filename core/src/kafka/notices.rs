//! Change notices: how a reader learns at once that an RFQ changed.
//!
//! A customer app follows an RFQ live (`GET /rfqs/{id}/events`), and the
//! read API that serves it may run in another process or on another host
//! than the aggregator that judges the answers. The aggregator therefore
//! writes a small notice to the events topic (`rfq.events`, keyed by the
//! RFQ's id) once an answer it kept, or the RFQ's close, is durable in the
//! store; every API instance reads the whole topic from its end and wakes
//! the streams watching that RFQ, which then read the store.
//!
//! A notice carries no answer: the store stays the one source of what a
//! stream sends, so a notice lost, late or repeated costs latency at most
//! (streams also re-read the store now and then), never an event lost or
//! sent twice. The topic is short-lived (an hour) for the same reason.

use crate::{CorrelationId, Effect};
use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The answer numbered `seq` ([`crate::JudgedAnswer::seq`]) was kept.
    Answered {
        /// Its number.
        seq: u32,
    },
    /// The RFQ closed.
    Closed,
}

/// One notice: an RFQ changed, as of `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The RFQ (the record's key).
    pub rfq: CorrelationId,
    /// What changed.
    pub change: Change,
    /// When the aggregator had the change durable (its clock): the start of
    /// the API's `rfq_api_notice_lag_seconds`.
    pub at: DateTime<Utc>,
}

/// The record's value, as JSON (small, and readable with any consumer).
#[derive(Debug, Serialize, Deserialize)]
struct Value {
    /// The answer's number, for `Answered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    /// `true` for `Closed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
    /// `at` in milliseconds since the epoch.
    at: i64,
}

impl Notice {
    /// The notice an effect made durable at `at` deserves: answers kept and
    /// closes; none for an RFQ opened (nobody can be watching it yet).
    pub fn of(effect: &Effect, at: DateTime<Utc>) -> Option<Notice> {
        let (rfq, change) = match effect {
            // Scorecards are not watched live.
            Effect::Open(_) | Effect::Score(_) | Effect::ScoreLate { .. } => return None,
            Effect::Answer(kept) => (kept.answer.rfq, Change::Answered { seq: kept.seq }),
            Effect::Close { rfq, .. } => (*rfq, Change::Closed),
        };
        Some(Notice { rfq, change, at })
    }

    /// The notices a round of effects made durable at `at` deserves, one
    /// per RFQ changed (a reader re-reads the store, so the latest change
    /// says all): its close if it closed, else its highest answer kept.
    pub fn latest(effects: &[Effect], at: DateTime<Utc>) -> Vec<Notice> {
        let mut latest: Vec<Notice> = Vec::new();
        let mut index: std::collections::HashMap<CorrelationId, usize> =
            std::collections::HashMap::new();
        for notice in effects.iter().filter_map(|effect| Notice::of(effect, at)) {
            match index.get(&notice.rfq) {
                Some(&at) => {
                    let kept = &mut latest[at];
                    kept.change = match (kept.change, notice.change) {
                        (Change::Closed, _) | (_, Change::Closed) => Change::Closed,
                        (Change::Answered { seq: a }, Change::Answered { seq: b }) => {
                            Change::Answered { seq: a.max(b) }
                        }
                    };
                }
                None => {
                    index.insert(notice.rfq, latest.len());
                    latest.push(notice);
                }
            }
        }
        latest
    }

    /// The record's key: the RFQ's id.
    pub fn key(&self) -> String {
        self.rfq.to_string()
    }

    /// The record's value.
    pub fn value(&self) -> Vec<u8> {
        let (seq, closed) = match self.change {
            Change::Answered { seq } => (Some(seq), false),
            Change::Closed => (None, true),
        };
        let value = Value {
            seq,
            closed,
            at: self.at.timestamp_millis(),
        };
        // A struct of numbers and a bool always serializes.
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Reads a record of the events topic; the error says what is wrong.
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Notice, String> {
        let key = key.ok_or("no key (the RFQ's id)")?;
        let key = std::str::from_utf8(key).map_err(|_| "a key that is not UTF-8".to_owned())?;
        let rfq = CorrelationId::parse(key).map_err(|e| format!("key: {e}"))?;
        let value: Value =
            serde_json::from_slice(value.ok_or("no value")?).map_err(|e| format!("value: {e}"))?;
        let change = match (value.seq, value.closed) {
            (Some(seq), false) => Change::Answered { seq },
            (None, true) => Change::Closed,
            _ => return Err("value: exactly one of \"seq\" and \"closed\" is wanted".to_owned()),
        };
        let at = Utc
            .timestamp_millis_opt(value.at)
            .single()
            .ok_or_else(|| format!("value: \"at\" {} is not a time", value.at))?;
        Ok(Notice { rfq, change, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseReason, Rfq};

    #[test]
    fn notices_round_trip_and_bad_records_are_named() {
        let rfq = Rfq::sample(&["a"]);
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let closed = Effect::Close {
            rfq: rfq.id,
            partition: 0,
            reason: CloseReason::Deadline,
            closed_at: at,
        };
        assert_eq!(Notice::of(&Effect::Open(rfq.clone()), at), None);
        let notice = Notice::of(&closed, at).unwrap();
        assert_eq!(notice.change, Change::Closed);
        let key = notice.key();
        let back = Notice::parse(Some(key.as_bytes()), Some(&notice.value())).unwrap();
        assert_eq!(back, notice);
        let answered = Notice {
            change: Change::Answered { seq: 7 },
            ..notice
        };
        let value = answered.value();
        assert_eq!(
            Notice::parse(Some(key.as_bytes()), Some(&value)).unwrap(),
            answered
        );
        for (key, value, wanted) in [
            (None, Some(&value[..]), "no key"),
            (Some(&b"x"[..]), Some(&value[..]), "key"),
            (Some(key.as_bytes()), None, "no value"),
            (
                Some(key.as_bytes()),
                Some(&b"{\"at\":1}"[..]),
                "exactly one",
            ),
            (Some(key.as_bytes()), Some(&b"[]"[..]), "value"),
        ] {
            let error = Notice::parse(key, value).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
    }

    #[test]
    fn a_round_gives_one_notice_per_rfq_its_latest_change() {
        let (one, two) = (Rfq::sample(&["a", "b"]), Rfq::sample(&["a"]));
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let answer = |rfq: &Rfq, seq: u32| {
            let answer = crate::Answer {
                rfq: rfq.id,
                provider: crate::ProviderId::parse("a").unwrap(),
                responded_at: at,
                reply: crate::Reply::Declined {
                    reason: String::new(),
                },
            };
            Effect::Answer(crate::JudgedAnswer::in_time(answer, at, seq))
        };
        let effects = [
            Effect::Open(one.clone()),
            answer(&one, 1),
            answer(&two, 1),
            answer(&one, 2),
            Effect::Close {
                rfq: two.id,
                partition: 0,
                reason: CloseReason::AllAnswered,
                closed_at: at,
            },
            answer(&two, 2),
        ];
        let latest = Notice::latest(&effects, at);
        let changes: Vec<(CorrelationId, Change)> =
            latest.iter().map(|n| (n.rfq, n.change)).collect();
        assert_eq!(
            changes,
            vec![
                (one.id, Change::Answered { seq: 2 }),
                (two.id, Change::Closed)
            ]
        );
    }
}
