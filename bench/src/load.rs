//! The load: RFQs submitted open-loop at the offered rate, a sample of them
//! watched until their result is visible ([`watch`]), then the drain
//! (every accepted RFQ closed, [`drain`]). With `--bench-shape
//! find-ceiling` the load stops at the first step that does not hold
//! ([`crate::ceiling`]).

mod drain;
mod submit;
mod watch;

pub use drain::Drain;

use crate::{
    BenchSettings, Target,
    ceiling::{self, Ceiling},
    check::Sent,
    preload::Preload,
    schedule::{self, Schedule, Shape},
    scrape,
};
use chrono::Utc;
use hdrhistogram::Histogram;
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Watched completion RFQs at once, at most: each polls from its `202`,
/// and polling is load too.
const MAX_WATCHED: usize = 8;
/// Watched deadline RFQs at once, at most: they sleep until just before
/// their deadline, then poll.
const MAX_WATCHED_DEADLINES: usize = 64;

/// What the load run saw.
#[derive(Debug)]
pub struct Run {
    /// The offered load.
    pub schedule: Schedule,
    /// Requests due (up to where a find-ceiling load stopped).
    pub offered: u64,
    /// Seconds of load: the schedule's, or up to where a find-ceiling load
    /// stopped.
    pub load_seconds: f64,
    /// Due but not sent: `--bench-max-in-flight` requests were waiting.
    pub not_sent: u64,
    /// Answered `202`.
    pub accepted: u64,
    /// Answered `429` or `503` (shed).
    pub shed: u64,
    /// Answered anything else.
    pub refused: u64,
    /// No answer (connection error, timeout).
    pub failed: u64,
    /// Intake latency, µs, from when each request was due to its answer.
    pub intake: Histogram<u64>,
    /// The same, of the accepted requests only.
    pub intake_accepted: Histogram<u64>,
    /// `202` → `303` visible, ms (completion closes, watched).
    pub completion_visible: Histogram<u64>,
    /// The last counted answer's broker timestamp → `303` visible, ms.
    pub after_last_answer: Histogram<u64>,
    /// An answer's broker timestamp → its live event at the client, ms
    /// (watched completion RFQs, [`crate::live`]).
    pub live_event: Histogram<u64>,
    /// Deadline → `303` visible, ms (deadline closes, watched).
    pub deadline_visible: Histogram<u64>,
    /// The same, of the preloaded RFQs watched that fell due.
    pub preload_visible: Histogram<u64>,
    /// The preload, if any.
    pub preload: Option<crate::preload::Preloaded>,
    /// How watched RFQs closed (`closed-by`).
    pub closed_by: BTreeMap<String, u64>,
    /// RFQs picked to be watched but not, every watcher being busy.
    pub watch_skipped: u64,
    /// Round trip of each poll of a watched RFQ, µs: with the polling
    /// interval, what polling adds to the visible figures.
    pub poll_round_trip: Histogram<u64>,
    /// `--bench-shape find-ceiling`: the steps and the ceiling.
    pub ceiling: Option<Ceiling>,
    /// Per second of the run.
    pub seconds: Vec<Second>,
    /// The drain after the load.
    pub drain: Drain,
    /// Records the pipeline wrote per accepted RFQ and answer, from its
    /// metrics (copies, broadcasts, answers), over the run; 0 unknown.
    pub records: f64,
    /// Most RFQs the aggregator held open at once (metrics), if known.
    pub max_open: Option<f64>,
    /// Largest resident set of this process (when the pipeline runs in
    /// it), bytes.
    pub max_rss: Option<u64>,
    /// The store's write (`apply`) 99th percentile over the run, ms, as
    /// the upper bound of its metrics bucket.
    pub store_write_p99_ms: Option<f64>,
    /// Every accepted RFQ, and how it must close (for the check).
    pub sent: Vec<Sent>,
}

/// One second of the run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Second {
    /// Seconds since the start.
    pub t: u64,
    /// Requests due in it.
    pub offered: u64,
    /// Accepted in it.
    pub accepted: u64,
    /// Shed in it.
    pub shed: u64,
    /// Intake latency median, ms.
    pub p50_ms: f64,
    /// Intake latency 99th percentile, ms.
    pub p99_ms: f64,
}

#[derive(Default)]
struct Counts {
    not_sent: AtomicU64,
    accepted: AtomicU64,
    shed: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicUsize,
    watched: AtomicUsize,
    watched_deadlines: AtomicUsize,
    watch_skipped: AtomicU64,
}

/// What the load tells of one second (by when its requests were due).
#[derive(Debug)]
pub(crate) struct Tally {
    /// Requests sent.
    pub(crate) offered: u64,
    /// Accepted (`202`).
    pub(crate) accepted: u64,
    /// Sent and not accepted.
    pub(crate) shed: u64,
    /// Due and not sent (the client's in-flight bound).
    pub(crate) not_sent: u64,
    /// Intake latency from due, µs.
    pub(crate) latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            offered: 0,
            accepted: 0,
            shed: 0,
            not_sent: 0,
            latency: histogram(),
        }
    }
}

struct Shared {
    client: reqwest::Client,
    url: String,
    poll: Duration,
    counts: Counts,
    histograms: Mutex<Histograms>,
    /// The most open RFQs and the largest RSS seen so far.
    peaks: Mutex<(Option<f64>, Option<u64>)>,
    start: Instant,
    /// Every accepted RFQ.
    sent: Mutex<Vec<Sent>>,
}

struct Histograms {
    intake: Histogram<u64>,
    intake_accepted: Histogram<u64>,
    completion_visible: Histogram<u64>,
    after_last_answer: Histogram<u64>,
    live_event: Histogram<u64>,
    deadline_visible: Histogram<u64>,
    preload_visible: Histogram<u64>,
    poll_round_trip: Histogram<u64>,
    closed_by: BTreeMap<String, u64>,
    seconds: Vec<Tally>,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits; values beyond are clamped.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

pub(crate) fn record(h: &mut Histogram<u64>, value: u64) {
    h.saturating_record(value.max(1));
}

/// Runs the load against `target`.
pub async fn run(
    settings: &BenchSettings,
    target: &Target,
    preload: Option<&Preload>,
) -> anyhow::Result<Run> {
    let schedule = settings.schedule();
    let due: Vec<Duration> = schedule.due_times().collect();
    let client = crate::client(target, settings.max_in_flight, Duration::from_secs(30))?;
    let metrics_before = scrape::metrics(&client, &target.metrics_url).await;
    let seconds = settings.seconds as usize + 1;
    let shared = Arc::new(Shared {
        client,
        url: target.url.trim_end_matches('/').to_owned(),
        poll: Duration::from_millis(settings.poll_ms.max(1)),
        counts: Counts::default(),
        histograms: Mutex::new(Histograms {
            intake: histogram(),
            intake_accepted: histogram(),
            completion_visible: histogram(),
            after_last_answer: histogram(),
            live_event: histogram(),
            deadline_visible: histogram(),
            preload_visible: histogram(),
            poll_round_trip: histogram(),
            closed_by: BTreeMap::new(),
            seconds: (0..seconds).map(|_| Tally::default()).collect(),
        }),
        peaks: Mutex::new((None, None)),
        start: Instant::now(),
        sent: Mutex::new(Vec::new()),
    });
    let sampler = tokio::spawn(drain::sample(shared.clone(), target.clone()));
    let mut preload_watchers = tokio::task::JoinSet::new();
    for (id, deadline) in preload.map(|p| p.watch.clone()).unwrap_or_default() {
        preload_watchers.spawn(watch::preloaded(shared.clone(), id, deadline));
    }
    let progress = indicatif::ProgressBar::new(due.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} RFQs due {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline_every = schedule::every(settings.deadline_share);
    let watch_every = schedule::every(settings.watch_share);
    let mut tasks = tokio::task::JoinSet::new();
    let (mut completions, mut deadlines) = (0_usize, 0_usize);
    let (mut offered, mut this_second, mut stopped_at) = (0_u64, 0, None);
    for (i, at) in due.iter().enumerate() {
        tokio::time::sleep_until((shared.start + *at).into()).await;
        let second = at.as_secs() as usize;
        if schedule.shape == Shape::FindCeiling && second != this_second {
            this_second = second;
            let bound = settings.ceiling_p99_ms;
            if let Ok(h) = shared.histograms.lock()
                && ceiling::broken(&schedule, &h.seconds, second, bound)
            {
                stopped_at = Some(second);
                break;
            }
        }
        offered += 1;
        progress.inc(1);
        if i % 500 == 0 {
            let accepted = shared.counts.accepted.load(Ordering::Relaxed);
            progress.set_message(format!("{accepted} accepted"));
        }
        if shared.counts.in_flight.load(Ordering::Relaxed) >= settings.max_in_flight {
            shared.counts.not_sent.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = shared.histograms.lock()
                && let Some(tally) = h.seconds.get_mut(second)
            {
                tally.not_sent += 1;
            }
            continue;
        }
        let to_deadline = schedule::picked(deadline_every, i);
        // Watched: the same share of each kind.
        let nth = if to_deadline {
            &mut deadlines
        } else {
            &mut completions
        };
        let watch = watch_every.is_some_and(|k| *nth % k == 0);
        *nth += 1;
        let (from, deadline) = if to_deadline {
            (settings.silent_at, settings.deadline_seconds)
        } else {
            (settings.answered_at, settings.completion_deadline_seconds)
        };
        let body = serde_json::json!({
            "from": {"lat": from.lat(), "lon": from.lon()},
            "to": {"lat": from.lat() - 0.02, "lon": from.lon() + 0.05},
            "deadline-seconds": deadline,
        });
        shared.counts.in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(submit::submit(
            shared.clone(),
            *at,
            body,
            watch,
            to_deadline,
        ));
        // Reap finished tasks now and then (a long run would hold them all).
        while tasks.try_join_next().is_some() {}
    }
    progress.finish_and_clear();
    while tasks.join_next().await.is_some() {}

    let accepted = shared.counts.accepted.load(Ordering::Relaxed);
    let longest = u64::from(
        settings
            .deadline_seconds
            .max(settings.completion_deadline_seconds),
    );
    // Preloaded RFQs that fall due by the drain's end must close too.
    let drain_end = Utc::now()
        + chrono::Duration::seconds((longest + settings.drain_seconds) as i64)
        - chrono::Duration::seconds(5);
    let preload_due = preload.map_or(0, |p| p.due_by(drain_end));
    let preload_last = preload
        .filter(|p| p.due_by(drain_end) > 0)
        .map(|p| p.first_due + p.step * i32::try_from(preload_due.saturating_sub(1)).unwrap_or(0));
    let drain = drain::drain(
        &shared,
        target,
        &metrics_before,
        accepted + preload_due,
        preload_last,
        Duration::from_secs(longest + settings.drain_seconds),
    )
    .await;
    sampler.abort();
    // Watchers of preloaded RFQs not due by now have nothing to see.
    preload_watchers.abort_all();
    while preload_watchers.join_next().await.is_some() {}
    let (max_open, max_rss) = shared.peaks.lock().map(|p| *p).unwrap_or((None, None));
    let metrics_after = scrape::metrics(&shared.client, &target.metrics_url).await;
    let delta = |name: &str| scrape::sum(&metrics_after, name) - scrape::sum(&metrics_before, name);
    // Each accepted RFQ: its copy at the return address and its broadcast;
    // then every answer. (Heartbeats and markers are not the load.)
    let store_write_p99_ms = scrape::quantile(
        &metrics_before,
        &metrics_after,
        "rfq_store_operation_seconds",
        "op=\"apply\"",
        0.99,
    )
    .map(|seconds| seconds * 1000.0);
    let records = if metrics_after.is_empty() {
        0.0
    } else {
        2.0 * delta("rfq_aggregator_opened_total") + delta("rfq_adapter_answers_total")
    };
    let counts = &shared.counts;
    let mut h = shared
        .histograms
        .lock()
        .map_err(|_| anyhow::anyhow!("a load task panicked"))?;
    let seconds = h
        .seconds
        .iter()
        .enumerate()
        .map(|(t, tally)| Second {
            t: t as u64,
            offered: tally.offered,
            accepted: tally.accepted,
            shed: tally.shed,
            p50_ms: tally.latency.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: tally.latency.value_at_quantile(0.99) as f64 / 1000.0,
        })
        .collect();
    let ceiling = (schedule.shape == Shape::FindCeiling)
        .then(|| ceiling::of(&schedule, &h.seconds, settings.ceiling_p99_ms, stopped_at));
    Ok(Run {
        load_seconds: stopped_at.map_or(schedule.duration.as_secs_f64(), |s| s as f64),
        schedule,
        offered,
        not_sent: counts.not_sent.load(Ordering::Relaxed),
        accepted,
        shed: counts.shed.load(Ordering::Relaxed),
        refused: counts.refused.load(Ordering::Relaxed),
        failed: counts.failed.load(Ordering::Relaxed),
        intake: std::mem::replace(&mut h.intake, histogram()),
        intake_accepted: std::mem::replace(&mut h.intake_accepted, histogram()),
        completion_visible: std::mem::replace(&mut h.completion_visible, histogram()),
        after_last_answer: std::mem::replace(&mut h.after_last_answer, histogram()),
        live_event: std::mem::replace(&mut h.live_event, histogram()),
        deadline_visible: std::mem::replace(&mut h.deadline_visible, histogram()),
        preload_visible: std::mem::replace(&mut h.preload_visible, histogram()),
        preload: preload.map(|p| p.report.clone()),
        closed_by: std::mem::take(&mut h.closed_by),
        watch_skipped: counts.watch_skipped.load(Ordering::Relaxed),
        poll_round_trip: std::mem::replace(&mut h.poll_round_trip, histogram()),
        ceiling,
        seconds,
        drain,
        records,
        max_open,
        max_rss,
        store_write_p99_ms,
        sent: std::mem::take(&mut *shared.sent.lock().unwrap_or_else(|e| e.into_inner())),
    })
}
