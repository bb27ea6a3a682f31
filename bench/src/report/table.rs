//! The report as a terminal table: a row per figure.

use super::{Latency, Report};
use crate::ceiling::Ceiling;

impl Report {
    /// The figures as a terminal table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |what: &str, value: String| rows.push((what.to_owned(), value));
        let latency = |l: &Latency| {
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples
            )
        };
        row("target", self.target.clone());
        row("machine", self.machine.clone());
        row("load", self.load.clone());
        if let Some(b) = &self.broker {
            row(
                "broker: raw produce / consume",
                format!(
                    "{:.0} / {:.0} records/s ({} × {} B)",
                    b.produce_per_second, b.consume_per_second, b.records, b.record_bytes
                ),
            );
            row(
                "broker: one hop",
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    b.hop_p50_ms, b.hop_p99_ms, b.hop_max_ms
                ),
            );
            row(
                "broker: one hop, linger.ms=0",
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms",
                    b.bare_hop_p50_ms, b.bare_hop_p99_ms
                ),
            );
        }
        let i = &self.intake;
        row(
            "POST /rfqs",
            format!(
                "{} due, {} accepted ({:.0}/s), {} shed, {} refused, {} failed, {} not sent",
                i.offered,
                i.accepted,
                i.accepted_per_second,
                i.shed,
                i.refused,
                i.failed,
                i.not_sent
            ),
        );
        row("POST /rfqs latency (from due)", latency(&i.latency));
        if i.accepted < i.offered {
            row("  of the accepted", latency(&i.accepted_latency));
        }
        row(
            "202 → result visible (completion)",
            latency(&self.completion_visible),
        );
        row(
            "last answer → result visible",
            latency(&self.after_last_answer),
        );
        row("answer → its live event (SSE)", latency(&self.live_event));
        row("deadline → result visible", latency(&self.deadline_visible));
        let p = &self.polling;
        row(
            "  polling adds to each",
            format!(
                "every {} ms, round trip p50 {:.1} / p99 {:.1} ms: ≈ {:.1} ms on average, ≤ ≈ {:.1} ms",
                p.poll_ms, p.round_trip.p50_ms, p.round_trip.p99_ms, p.mean_ms, p.max_ms
            ),
        );
        if self.watch_skipped > 0 {
            row(
                "  not watched (watchers busy)",
                format!("{} picked RFQs", self.watch_skipped),
            );
        }
        if let Some(p) = &self.preload {
            row(
                "preload",
                format!(
                    "{} RFQs at {:.0}/s; all open after {}; due {} s later over {} s",
                    p.rfqs,
                    p.written_per_second,
                    p.opened_after_seconds
                        .map_or("— (not all opened)".to_owned(), |s| format!("{s:.1} s")),
                    p.due_after_seconds,
                    p.due_over_seconds
                ),
            );
            row(
                "  deadline → visible (preloaded)",
                latency(&self.preload_visible),
            );
        }
        if let Some(ms) = self.store_write_p99_ms {
            row("store write p99 (bucket bound)", format!("≤ {ms:.1} ms"));
        }
        if let Some(o) = &self.overload {
            row(
                "overload (the middle third)",
                format!(
                    "p99 {:.1} ms before, worst second {:.1} ms during ({} shed); back to normal (p99 ≤ {:.1} ms, none shed) {}",
                    o.normal_p99_ms,
                    o.burst_p99_ms,
                    o.burst_shed,
                    o.normal_bound_ms,
                    o.back_to_normal_after_seconds
                        .map_or("not within the run".to_owned(), |s| format!(
                            "{s} s after it"
                        )),
                ),
            );
        }
        let t = &self.throughput;
        row(
            "sustained",
            format!(
                "{:.0} RFQ/s, {:.0} records/s{}",
                t.rfqs_per_second,
                t.records_per_second,
                t.share_of_broker
                    .map(|s| format!(" = {:.0} % of the broker's raw produce rate", s * 100.0))
                    .unwrap_or_default()
            ),
        );
        row(
            "every accepted RFQ closed",
            match (self.drain.all_closed, self.drain.closed) {
                (Some(all), Some(closed)) => {
                    format!("{} ({closed} closed)", if all { "yes" } else { "NO" })
                }
                _ => "unknown (no metrics)".to_owned(),
            },
        );
        let ceiling = self.ceiling.as_ref().map(Ceiling::rows);
        for (what, value) in self
            .check
            .rows()
            .into_iter()
            .chain(ceiling.into_iter().flatten())
        {
            row(&what, value);
        }
        if let Some(open) = self.max_open_rfqs {
            row("open RFQs, most at once", format!("{open:.0}"));
        }
        for r in &self.reads {
            row(
                &r.endpoint,
                format!(
                    "{:.0} req/s, {} ({} not as expected; {})",
                    r.requests_per_second,
                    latency(&r.latency),
                    r.failed,
                    self.read_phase
                ),
            );
        }
        if let Some(rss) = self.max_rss_mib {
            row("RSS, largest (pipeline + bench)", format!("{rss:.0} MiB"));
        }
        crate::report::align(&rows)
    }
}
