//! An [`Explanation`] as a person reads it (`rfq explain` without
//! `--json`): who was asked and why, then a timeline, one line per event
//! with its time after acceptance, then whether the store agrees — loudly
//! when it does not.

use super::{Explanation, PlacedBy, What};
use std::fmt::Write as _;

/// Seconds after acceptance, signed, to the millisecond.
fn after(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", ms / 1000, ms % 1000)
}

/// The explanation as text, ending in a newline.
pub fn render(explanation: &Explanation) -> String {
    let e = explanation;
    let mut out = String::new();
    let radius = e
        .radius_m
        .map_or("none (region only)".to_owned(), |m| format!("{m} m"));
    let deadline = (e.deadline - e.created_at).num_milliseconds();
    let _ = writeln!(
        out,
        "RFQ {} (partition {} of {})\n  accepted {}, deadline {}, completion {}, radius {radius}",
        e.id,
        e.partition,
        e.scan.topic,
        e.created_at.to_rfc3339(),
        after(deadline),
        e.completion,
    );
    let _ = writeln!(out, "addressed to {} providers:", e.addressed.len());
    for a in &e.addressed {
        let place = match (a.distance_m, a.within_radius) {
            (Some(d), Some(true)) => format!("{d} m from the pickup (within the radius)"),
            (Some(d), Some(false)) => format!("{d} m from the pickup (OUTSIDE the radius)"),
            (Some(d), None) => format!("{d} m from the pickup"),
            _ => "no heartbeat found".to_owned(),
        };
        let age = match (a.heartbeat_age_ms, a.placed_by) {
            (Some(ms), Some(PlacedBy::FirstHeartbeatAfterAcceptance)) => format!(
                ", by a heartbeat {} after acceptance (the one before was compacted away)",
                after(-ms).trim_start_matches('+')
            ),
            (Some(ms), _) => format!(", heartbeat {} old", after(ms)),
            (None, _) => String::new(),
        };
        let _ = writeln!(out, "  {:<24} {place}{age}", a.provider);
    }
    let _ = writeln!(out, "timeline (after acceptance):");
    for event in &e.timeline {
        let offset = event
            .offset
            .map_or(String::new(), |offset| format!(" [offset {offset}]"));
        let line = match &event.what {
            What::Accepted => "RFQ record at its return address".to_owned(),
            What::Answer {
                provider,
                reply,
                verdict,
                seq,
                why,
            } => {
                let seq = seq.map_or(String::new(), |n| format!(" #{n}"));
                format!("{provider}: {reply} -> {verdict}{seq} ({why})")
            }
            What::Marker { marker_at, writer } => format!(
                "deadline marker at {} by {writer} closes it",
                after((*marker_at - e.created_at).num_milliseconds())
            ),
            What::Closed { reason, rule } => format!("closed: {reason} ({rule})"),
        };
        let _ = writeln!(out, "  {:>12}  {line}{offset}", after(event.after_ms));
    }
    if e.close.is_none() {
        let _ = writeln!(out, "  (not closed in the log read)");
    }
    let _ = writeln!(
        out,
        "read {} records of the partition from offset {} ({} deadline markers, {} undecodable)",
        e.scan.records,
        e.scan.from_offset.map_or("-".to_owned(), |o| o.to_string()),
        e.markers_read,
        e.scan.undecodable,
    );
    let stored = match (e.stored.closed_by, e.stored.closed_at) {
        (Some(by), Some(at)) => format!("closed by {by} at {}", at.to_rfc3339()),
        _ => "open".to_owned(),
    };
    if e.agrees_with_store {
        let _ = writeln!(
            out,
            "the store agrees: {stored}, {} counted, {} late",
            e.stored.counted, e.stored.late
        );
    } else {
        let _ = writeln!(
            out,
            "THE LOG AND THE STORE DISAGREE (store: {stored}, {} counted, {} late):",
            e.stored.counted, e.stored.late
        );
        for difference in &e.differences {
            let _ = writeln!(out, "  - {difference}");
        }
    }
    out
}
