//! What a run measured, as JSON (`report.json`) and as a terminal table,
//! each figure next to the broker's own limit where one applies.

mod table;

use crate::{
    BenchSettings, Target, broker::BrokerLimits, ceiling::Ceiling, check::Checked, load::Run,
    load::Second, overload::Overload,
};
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

/// What polling every `--bench-poll-ms` adds to each "visible" figure:
/// a result becomes visible somewhere in a poll's cycle (one round trip
/// plus the interval), and is seen half a round trip after the next poll
/// reaches the server. So it adds at least half a round trip, on average
/// about half the interval plus one round trip, at most about the
/// interval plus one and a half.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PollingAdds {
    /// The interval, ms.
    pub poll_ms: u64,
    /// A poll's round trip (`GET /rfqs/{id}`), ms.
    pub round_trip: Latency,
    /// Added on average: interval / 2 + the median round trip, ms.
    pub mean_ms: f64,
    /// Added at most, about: interval + 1.5 × the p99 round trip, ms.
    pub max_ms: f64,
}

impl PollingAdds {
    fn of(poll_ms: u64, round_trip: &Histogram<u64>) -> PollingAdds {
        let round_trip = Latency::of(round_trip, 1000.0);
        PollingAdds {
            poll_ms,
            mean_ms: poll_ms as f64 / 2.0 + round_trip.p50_ms,
            max_ms: poll_ms as f64 + 1.5 * round_trip.p99_ms,
            round_trip,
        }
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
    /// What polling adds to the visible figures above.
    pub polling: PollingAdds,
    /// Every accepted RFQ's result, checked.
    pub check: Checked,
    /// `--bench-shape find-ceiling`: the steps and the ceiling.
    pub ceiling: Option<Ceiling>,
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
        check: Checked,
    ) -> Report {
        let load_seconds = run.load_seconds.max(f64::EPSILON);
        let records_per_second = run.records / load_seconds;
        let records_per_rfq =
            (run.records > 0.0 && run.accepted > 0).then(|| run.records / run.accepted as f64);
        let produce = broker.as_ref().map(|b| b.produce_per_second);
        Report {
            target: target.description.clone(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            load: format!(
                "{} {} RFQ/s{} for {} s; {:.0} % to silent unicorns (deadline {} s); watched {:.1} %, polled every {} ms",
                clap::ValueEnum::to_possible_value(&settings.shape)
                    .map_or_else(String::new, |v| v.get_name().to_owned()),
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
            polling: PollingAdds::of(settings.poll_ms, &run.poll_round_trip),
            check,
            ceiling: run.ceiling.map(|c| c.against(records_per_rfq, produce)),
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
}

/// Rows of a terminal table, the names aligned.
pub(crate) fn align(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(what, _)| what.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(what, value)| format!("{what:<width$}  {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// CPUs and memory of this machine, from /proc (Linux).
pub(crate) fn machine() -> String {
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
