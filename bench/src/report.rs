//! What a run measured, as JSON (`report.json`) and as a terminal table,
//! each figure next to the broker's own limit where one applies.

use crate::{BenchSettings, Target, broker::BrokerLimits, load::Run, load::Second};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// A latency distribution, ms.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    /// Observations.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of `unit_per_ms` units per millisecond.
    pub(crate) fn of(h: &Histogram<u64>, unit_per_ms: f64) -> Latency {
        let ms = |v: u64| {
            if h.is_empty() {
                0.0
            } else {
                v as f64 / unit_per_ms
            }
        };
        Latency {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The intake's side of the run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Intake {
    /// Requests due.
    pub offered: u64,
    /// `202`.
    pub accepted: u64,
    /// `429`/`503`.
    pub shed: u64,
    /// Other answers.
    pub refused: u64,
    /// No answer.
    pub failed: u64,
    /// Due but not sent (the client's in-flight bound).
    pub not_sent: u64,
    /// Accepted per second of load.
    pub accepted_per_second: f64,
    /// From due to answer, every request.
    pub latency: Latency,
    /// From due to answer, the accepted requests.
    pub accepted_latency: Latency,
}

/// An overload (`--bench-shape burst`: `--bench-rate` after a lower base), and how
/// soon the intake was back to normal after it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overload {
    /// The intake's per-second p99 before the burst (the median of the
    /// first third's seconds, the first left out), ms.
    pub normal_p99_ms: f64,
    /// "Back to normal": a second's p99 at most this, and nothing shed, ms
    /// (twice normal, or normal + 10 ms if more).
    pub normal_bound_ms: f64,
    /// The worst per-second p99 during the burst, ms.
    pub burst_p99_ms: f64,
    /// Requests shed during the burst.
    pub burst_shed: u64,
    /// Seconds after the burst until the first normal second (0: the first
    /// second after it was normal); `None`: not within the run.
    pub back_to_normal_after_seconds: Option<u64>,
}

impl Overload {
    /// From the per-second figures of a burst run of `duration` seconds.
    fn of(seconds: &[Second], duration: u64) -> Option<Overload> {
        let (start, end) = (duration / 3, (2 * duration).div_ceil(3));
        let mut before: Vec<f64> = seconds
            .iter()
            .filter(|s| (1..start).contains(&s.t) && s.offered > 0)
            .map(|s| s.p99_ms)
            .collect();
        if before.is_empty() {
            return None;
        }
        before.sort_by(f64::total_cmp);
        let normal = before[before.len() / 2];
        let bound = (normal * 2.0).max(normal + 10.0);
        let burst = seconds.iter().filter(|s| (start..end).contains(&s.t));
        let (burst_p99, burst_shed) = burst.fold((0.0_f64, 0), |(p99, shed), s| {
            (p99.max(s.p99_ms), shed + s.shed)
        });
        let back = seconds
            .iter()
            .filter(|s| s.t >= end && s.offered > 0)
            .find(|s| s.p99_ms <= bound && s.shed == 0)
            .map(|s| s.t - end);
        Some(Overload {
            normal_p99_ms: normal,
            normal_bound_ms: bound,
            burst_p99_ms: burst_p99,
            burst_shed,
            back_to_normal_after_seconds: back,
        })
    }
}

/// The pipeline's sustained rate, and as a share of the broker's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Throughput {
    /// Accepted RFQs per second of load (all of them closed, see `drain`).
    pub rfqs_per_second: f64,
    /// Records the pipeline wrote per second of load (copies, broadcasts,
    /// answers).
    pub records_per_second: f64,
    /// `records_per_second` over the broker's raw produce rate.
    pub share_of_broker: Option<f64>,
}

/// One run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// What was driven.
    pub target: String,
    /// When (UTC).
    pub date: String,
    /// Where.
    pub machine: String,
    /// The offered load.
    pub load: String,
    /// The broker on its own.
    pub broker: Option<BrokerLimits>,
    /// `POST /rfqs`.
    pub intake: Intake,
    /// `202` → result visible, completion closes.
    pub completion_visible: Latency,
    /// Last answer on the broker → result visible.
    pub after_last_answer: Latency,
    /// An answer on the broker → its live event (SSE) at the client.
    pub live_event: Latency,
    /// Deadline → result visible, deadline closes.
    pub deadline_visible: Latency,
    /// The preload (RFQs written straight to the quotes topic), if any.
    pub preload: Option<crate::preload::Preloaded>,
    /// Deadline → result visible, the preloaded RFQs watched.
    pub preload_visible: Latency,
    /// The store's write p99 over the run (bucket bound), ms.
    pub store_write_p99_ms: Option<f64>,
    /// How the watched RFQs closed.
    pub closed_by: BTreeMap<String, u64>,
    /// RFQs picked to be watched but not (every watcher busy): if many,
    /// the visible-latency figures lack their slowest cases.
    pub watch_skipped: u64,
    /// Sustained rates.
    pub throughput: Throughput,
    /// Every accepted RFQ closed?
    pub drain: crate::load::Drain,
    /// Most open RFQs at once (aggregator).
    pub max_open_rfqs: Option<f64>,
    /// Largest RSS of the process running the pipeline, MiB (in-process runs).
    pub max_rss_mib: Option<f64>,
    /// `--bench-shape burst`: the overload and the recovery after it.
    pub overload: Option<Overload>,
    /// The read phase: how it ran.
    pub read_phase: String,
    /// The read phase, per endpoint (empty if left out).
    pub reads: Vec<crate::read::Reads>,
    /// Per second of the run.
    pub seconds: Vec<Second>,
}

impl Report {
    /// The report of a run.
    pub fn new(
        settings: &BenchSettings,
        target: &Target,
        broker: Option<BrokerLimits>,
        run: Run,
        reads: Vec<crate::read::Reads>,
    ) -> Report {
        let load_seconds = run.schedule.duration.as_secs_f64().max(f64::EPSILON);
        let records_per_second = run.records / load_seconds;
        Report {
            target: target.description.clone(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            load: format!(
                "{:?} {} RFQ/s{} for {} s; {:.0} % to silent unicorns (deadline {} s); watched {:.1} %, polled every {} ms",
                settings.shape,
                settings.rate,
                match settings.shape {
                    crate::schedule::Shape::Burst => {
                        format!(" (base {} RFQ/s)", run.schedule.base_rate())
                    }
                    _ => String::new(),
                },
                settings.seconds,
                settings.deadline_share * 100.0,
                settings.deadline_seconds,
                settings.watch_share * 100.0,
                settings.poll_ms
            ),
            intake: Intake {
                offered: run.offered,
                accepted: run.accepted,
                shed: run.shed,
                refused: run.refused,
                failed: run.failed,
                not_sent: run.not_sent,
                accepted_per_second: run.accepted as f64 / load_seconds,
                latency: Latency::of(&run.intake, 1000.0),
                accepted_latency: Latency::of(&run.intake_accepted, 1000.0),
            },
            completion_visible: Latency::of(&run.completion_visible, 1.0),
            after_last_answer: Latency::of(&run.after_last_answer, 1.0),
            live_event: Latency::of(&run.live_event, 1.0),
            deadline_visible: Latency::of(&run.deadline_visible, 1.0),
            preload: run.preload,
            preload_visible: Latency::of(&run.preload_visible, 1.0),
            store_write_p99_ms: run.store_write_p99_ms,
            closed_by: run.closed_by,
            watch_skipped: run.watch_skipped,
            throughput: Throughput {
                rfqs_per_second: run.accepted as f64 / load_seconds,
                records_per_second,
                share_of_broker: broker
                    .as_ref()
                    .filter(|_| run.records > 0.0)
                    .map(|b| records_per_second / b.produce_per_second),
            },
            broker,
            drain: run.drain,
            max_open_rfqs: run.max_open,
            max_rss_mib: run.max_rss.map(|b| b as f64 / (1024.0 * 1024.0)),
            overload: (settings.shape == crate::schedule::Shape::Burst)
                .then(|| Overload::of(&run.seconds, run.schedule.duration.as_secs()))
                .flatten(),
            read_phase: crate::read::describe(settings),
            reads,
            seconds: run.seconds,
        }
    }

    /// Whether the run is sound: every accepted RFQ closed.
    pub fn all_closed(&self) -> bool {
        self.drain.all_closed == Some(true)
    }

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
        let width = rows
            .iter()
            .map(|(w, _)| w.chars().count())
            .max()
            .unwrap_or(0);
        rows.iter()
            .map(|(what, value)| format!("{what:<width$}  {value}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// CPUs and memory of this machine, from /proc (Linux).
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map(|kib| format!(", {:.0} GiB", kib / (1024.0 * 1024.0)))
        .unwrap_or_default();
    format!("{cpus} CPUs{memory}, {}", std::env::consts::OS)
}
