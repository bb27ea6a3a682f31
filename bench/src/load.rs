//! The load: RFQs submitted open-loop at the offered rate, a sample of them
//! watched until their result is visible, then the drain (every accepted
//! RFQ closed).

use crate::{BenchSettings, Target, preload::Preload, schedule::Schedule, scrape};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::Value;
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
    /// Requests due.
    pub offered: u64,
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
    /// Ids of accepted RFQs (the first [`MAX_IDS_KEPT`]), for the read phase.
    pub ids: Vec<String>,
}

/// Accepted ids kept for the read phase, at most.
pub const MAX_IDS_KEPT: usize = 100_000;

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

/// Waiting for every accepted RFQ to close.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drain {
    /// Whether every accepted RFQ closed (per the aggregator's metrics).
    pub all_closed: Option<bool>,
    /// RFQs closed during the run and the drain.
    pub closed: Option<u64>,
    /// Seconds from the first request due to the drain's end.
    pub seconds: f64,
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

struct Shared {
    client: reqwest::Client,
    url: String,
    poll: Duration,
    counts: Counts,
    histograms: Mutex<Histograms>,
    /// The most open RFQs and the largest RSS seen so far.
    peaks: Mutex<(Option<f64>, Option<u64>)>,
    start: Instant,
    /// Accepted ids, the first [`MAX_IDS_KEPT`].
    ids: Mutex<Vec<String>>,
}

struct Histograms {
    intake: Histogram<u64>,
    intake_accepted: Histogram<u64>,
    completion_visible: Histogram<u64>,
    after_last_answer: Histogram<u64>,
    live_event: Histogram<u64>,
    deadline_visible: Histogram<u64>,
    preload_visible: Histogram<u64>,
    closed_by: BTreeMap<String, u64>,
    seconds: Vec<(u64, u64, u64, Histogram<u64>)>,
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
    let client = reqwest::Client::builder()
        .default_headers(crate::default_headers(target))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(settings.max_in_flight)
        .timeout(Duration::from_secs(30))
        .build()?;
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
            closed_by: BTreeMap::new(),
            seconds: (0..seconds).map(|_| (0, 0, 0, histogram())).collect(),
        }),
        peaks: Mutex::new((None, None)),
        start: Instant::now(),
        ids: Mutex::new(Vec::new()),
    });
    let sampler = tokio::spawn(sample(shared.clone(), target.clone()));
    let mut preload_watchers = tokio::task::JoinSet::new();
    for (id, deadline) in preload.map(|p| p.watch.clone()).unwrap_or_default() {
        preload_watchers.spawn(watch_preloaded(shared.clone(), id, deadline));
    }
    let progress = indicatif::ProgressBar::new(due.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} RFQs due {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline_every = every(settings.deadline_share);
    let watch_every = every(settings.watch_share);
    let mut tasks = tokio::task::JoinSet::new();
    let (mut completions, mut deadlines) = (0_usize, 0_usize);
    for (i, at) in due.iter().enumerate() {
        tokio::time::sleep_until((shared.start + *at).into()).await;
        progress.inc(1);
        if i % 500 == 0 {
            let accepted = shared.counts.accepted.load(Ordering::Relaxed);
            progress.set_message(format!("{accepted} accepted"));
        }
        if shared.counts.in_flight.load(Ordering::Relaxed) >= settings.max_in_flight {
            shared.counts.not_sent.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let to_deadline = deadline_every.is_some_and(|k| i % k == k - 1);
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
        tasks.spawn(submit(shared.clone(), *at, body, watch, to_deadline));
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
    let drain = drain(
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
        .map(|(t, (offered, accepted, shed, latency))| Second {
            t: t as u64,
            offered: *offered,
            accepted: *accepted,
            shed: *shed,
            p50_ms: latency.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        })
        .collect();
    Ok(Run {
        schedule,
        offered: due.len() as u64,
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
        seconds,
        drain,
        records,
        max_open,
        max_rss,
        store_write_p99_ms,
        ids: std::mem::take(&mut *shared.ids.lock().unwrap_or_else(|e| e.into_inner())),
    })
}

/// Every `k`-th request for a share (`None` for none).
fn every(share: f64) -> Option<usize> {
    (share > 0.0).then(|| (1.0 / share.min(1.0)).round().max(1.0) as usize)
}

/// One request: POST, count, and watch its result if asked.
async fn submit(shared: Arc<Shared>, due: Duration, body: Value, watch: bool, to_deadline: bool) {
    let sent = shared
        .client
        .post(format!("{}/rfqs", shared.url))
        .json(&body)
        .send()
        .await;
    let answered = shared.start.elapsed();
    let latency = answered.saturating_sub(due).as_micros() as u64;
    let second = due.as_secs() as usize;
    let counts = &shared.counts;
    let accepted = match sent {
        Ok(response) if response.status() == 202 => {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            response.json::<Value>().await.ok()
        }
        Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {
            counts.shed.fetch_add(1, Ordering::Relaxed);
            None
        }
        Ok(_) => {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(_) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    if let Ok(mut h) = shared.histograms.lock() {
        record(&mut h.intake, latency);
        if accepted.is_some() {
            record(&mut h.intake_accepted, latency);
        }
        if let Some((offered, ok, shed, per_second)) = h.seconds.get_mut(second) {
            *offered += 1;
            *ok += u64::from(accepted.is_some());
            *shed += u64::from(accepted.is_none());
            record(per_second, latency);
        }
    }
    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    let Some(body) = accepted else { return };
    if let (Some(id), Ok(mut ids)) = (body["id"].as_str(), shared.ids.lock())
        && ids.len() < MAX_IDS_KEPT
    {
        ids.push(id.to_owned());
    }
    let (watching, most) = if to_deadline {
        (&counts.watched_deadlines, MAX_WATCHED_DEADLINES)
    } else {
        (&counts.watched, MAX_WATCHED)
    };
    if watch && watching.fetch_add(1, Ordering::Relaxed) < most {
        if to_deadline {
            watch_result(&shared, &body, to_deadline).await;
        } else {
            // Polled and followed live at once, as an app might.
            let events = body["links"]["events"].as_str().unwrap_or_default();
            let ((), delays) = tokio::join!(
                watch_result(&shared, &body, to_deadline),
                crate::live::follow(&shared.client, events, Duration::from_secs(120)),
            );
            if let Ok(mut h) = shared.histograms.lock() {
                for delay in delays {
                    record(&mut h.live_event, delay);
                }
            }
        }
    } else if watch {
        // Every watcher busy: this one goes unmeasured, and the report says
        // how many did (a sample short of its slow cases is biased).
        counts.watch_skipped.fetch_add(1, Ordering::Relaxed);
    }
    if watch {
        watching.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Polls an accepted RFQ until its `303`, as the customer app does, and
/// records how long after its deadline (or its `202`) the result showed.
async fn watch_result(shared: &Shared, accepted: &Value, to_deadline: bool) {
    let accepted_at = Utc::now();
    let (Some(id), Some(eta)) = (accepted["id"].as_str(), time(&accepted["eta"])) else {
        return;
    };
    if to_deadline {
        // No need to poll before the deadline draws near.
        let early = (eta - accepted_at).to_std().unwrap_or_default();
        tokio::time::sleep(early.saturating_sub(shared.poll * 2)).await;
    }
    // The link the 202 gave (the read API may be served elsewhere).
    let status = accepted["links"]["self"]
        .as_str()
        .filter(|link| link.starts_with("http"))
        .map_or_else(|| format!("{}/rfqs/{id}", shared.url), str::to_owned);
    let give_up = Instant::now()
        + (eta - accepted_at).to_std().unwrap_or_default()
        + Duration::from_secs(120);
    let visible = loop {
        if Instant::now() > give_up {
            return;
        }
        if let Ok(response) = shared.client.get(&status).send().await
            && response.status() == 303
        {
            break Utc::now();
        }
        tokio::time::sleep(shared.poll).await;
    };
    let result = match shared.client.get(format!("{status}/result")).send().await {
        Ok(response) => response.json::<Value>().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let ms = |from: DateTime<Utc>| (visible - from).num_milliseconds().max(0) as u64;
    let Ok(mut h) = shared.histograms.lock() else {
        return;
    };
    let closed_by = result["closed-by"].as_str().unwrap_or("unknown").to_owned();
    *h.closed_by.entry(closed_by).or_default() += 1;
    if to_deadline {
        record(&mut h.deadline_visible, ms(eta));
        return;
    }
    record(&mut h.completion_visible, ms(accepted_at));
    let last = ["quotes", "declines"]
        .iter()
        .filter_map(|list| result[*list].as_array())
        .flatten()
        .filter_map(|answer| time(&answer["received-at"]))
        .max();
    if let Some(last) = last {
        record(&mut h.after_last_answer, ms(last));
    }
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Polls a preloaded RFQ from just before its deadline until its `303`.
async fn watch_preloaded(
    shared: Arc<Shared>,
    id: rfq_core::CorrelationId,
    deadline: DateTime<Utc>,
) {
    let early = (deadline - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(early.saturating_sub(shared.poll * 2)).await;
    let status = format!("{}/rfqs/{id}", shared.url);
    let visible = loop {
        if let Ok(response) = shared.client.get(&status).send().await
            && response.status() == 303
        {
            break Utc::now();
        }
        tokio::time::sleep(shared.poll).await;
    };
    if let Ok(mut h) = shared.histograms.lock() {
        record(
            &mut h.preload_visible,
            (visible - deadline).num_milliseconds().max(0) as u64,
        );
    }
}

/// Waits until the aggregator closed as many RFQs as must be closed (its
/// metrics), and it is past `not_before` (the last preloaded deadline that
/// must pass), or `within` passes.
async fn drain(
    shared: &Shared,
    target: &Target,
    before: &str,
    accepted: u64,
    not_before: Option<DateTime<Utc>>,
    within: Duration,
) -> Drain {
    let give_up = Instant::now() + within;
    let closed_before = scrape::sum(before, "rfq_aggregator_closed_total");
    loop {
        let now = scrape::metrics(&shared.client, &target.metrics_url).await;
        if now.is_empty() {
            return Drain {
                all_closed: None,
                closed: None,
                seconds: shared.start.elapsed().as_secs_f64(),
            };
        }
        let closed = (scrape::sum(&now, "rfq_aggregator_closed_total") - closed_before) as u64;
        let past = not_before.is_none_or(|at| Utc::now() > at);
        if (closed >= accepted && past) || Instant::now() > give_up {
            return Drain {
                all_closed: Some(closed >= accepted),
                closed: Some(closed),
                seconds: shared.start.elapsed().as_secs_f64(),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every second: the aggregator's open RFQs and this process's memory.
async fn sample(shared: Arc<Shared>, target: Target) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let text = scrape::metrics(&shared.client, &target.metrics_url).await;
        let open = (!text.is_empty()).then(|| scrape::sum(&text, "rfq_aggregator_open_rfqs"));
        let rss = target.in_process.then(scrape::rss_bytes).flatten();
        if let Ok(mut peaks) = shared.peaks.lock() {
            peaks.0 = max(peaks.0, open, f64::max);
            peaks.1 = max(peaks.1, rss, u64::max);
        }
    }
}

fn max<T: Copy>(a: Option<T>, b: Option<T>, larger: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(larger(a, b)),
        (a, b) => a.or(b),
    }
}
