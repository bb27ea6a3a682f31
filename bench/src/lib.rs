//! `rfq bench`: how fast the pipeline is, measured the way a customer app
//! sees it, next to what its broker can do in the same run.
//!
//! One run, in order:
//! 1. **The broker's own limits** ([`broker`]): raw produce and consume
//!    rates of records the size of ours, and one hop (produce → a
//!    subscribed consumer has it) with the pipeline's client settings. Every
//!    other figure is read against these.
//! 2. **Preload** ([`preload`], if asked): RFQs written straight to the
//!    quotes topic, to hold the aggregator at a given number of open RFQs
//!    and to make them fall due at a given rate during the load.
//! 3. **Load** ([`load`]): RFQs submitted open-loop at the offered rate
//!    ([`schedule`]), latency counted from when each was due. A share goes
//!    where unicorns answer (they close on completion), a share where they
//!    stay silent (they close at their deadline). A sample of each is
//!    watched by polling until its `303`, as the customer app does; the
//!    sample closing on completion is also followed live ([`live`]: its
//!    Server-Sent Events).
//! 4. **Drain**: every accepted RFQ must close; the run waits for it.
//! 5. **Check** ([`check`]): every accepted RFQ's result is read: closed
//!    once, the way it was sent to close.
//! 6. **Reads** ([`read`]): the accepted RFQs' status and result, read
//!    in a closed loop: the read API's capacity.
//! 7. **Report** ([`report`], [`plot`]): a terminal table, `report.json`,
//!    and `report.svg` (latency and throughput over the run); with
//!    `--bench-shape find-ceiling`, the ceiling ([`ceiling`]).
//!
//! `--bench-aggregator N` measures the aggregator alone instead
//! ([`alone`]): N RFQs and their answers written straight to a fresh
//! quotes topic, judged and persisted by the aggregator from the start.

pub mod alone;
pub mod broker;
pub mod ceiling;
pub mod check;
pub mod live;
pub mod load;
pub mod overload;
pub mod plot;
pub mod preload;
pub mod quotes;
pub mod read;
pub mod registry;
pub mod report;
pub mod schedule;
mod scrape;

use anyhow::Context as _;
use rfq_core::{GeoPoint, kafka::KafkaSettings};
use std::{path::PathBuf, time::Duration};

/// The settings of `rfq bench` (its own flags are `--bench-*`; the
/// pipeline it starts takes every `rfq up` flag).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchSettings {
    /// The pipeline to drive (its HTTP base URL, e.g. http://127.0.0.1:8080).
    /// Without it, `rfq bench` starts `rfq up` in this process on free ports.
    #[arg(id = "bench_url", long = "bench-url", env = "RFQ_BENCH_URL")]
    pub url: Option<String>,
    /// The API key the load submits and reads with (a customer's of the
    /// driven pipeline); `rfq bench` without `--bench-url` uses its own
    /// pipeline's demo key.
    #[arg(
        id = "bench_api_key",
        long = "bench-api-key",
        env = "RFQ_BENCH_API_KEY"
    )]
    pub api_key: Option<String>,
    /// Where the read phase reads `GET /rfqs/{id}` and its result (the read
    /// API's base URL, when the producer and `rfq api` are served apart);
    /// default: the same as `--bench-url`.
    #[arg(
        id = "bench_read_url",
        long = "bench-read-url",
        env = "RFQ_BENCH_READ_URL"
    )]
    pub read_url: Option<String>,
    /// The driven pipeline's metrics (`/metrics` base URL); default: the
    /// same as `--bench-url`.
    #[arg(
        id = "bench_metrics_url",
        long = "bench-metrics-url",
        env = "RFQ_BENCH_METRICS_URL"
    )]
    pub metrics_url: Option<String>,
    /// Offered RFQs per second (the peak, for ramp and step).
    #[arg(
        id = "bench_rate",
        long = "bench-rate",
        env = "RFQ_BENCH_RATE",
        default_value_t = 100.0
    )]
    pub rate: f64,
    /// How the offered rate moves: fixed, ramp (0 → rate), step, burst,
    /// find-ceiling (steps up until one sheds: the ceiling).
    #[arg(
        id = "bench_shape",
        long = "bench-shape",
        env = "RFQ_BENCH_SHAPE",
        value_enum,
        default_value = "fixed"
    )]
    pub shape: schedule::Shape,
    /// Steps of `--bench-shape step` and `find-ceiling`.
    #[arg(
        id = "bench_steps",
        long = "bench-steps",
        env = "RFQ_BENCH_STEPS",
        default_value_t = 4
    )]
    pub steps: u32,
    /// `--bench-shape burst`: the offered rate before and after the burst
    /// (default: half of `--bench-rate`). Set it below capacity to see an
    /// overload of `--bench-rate` and the recovery from it.
    #[arg(
        id = "bench_burst_base",
        long = "bench-burst-base",
        env = "RFQ_BENCH_BURST_BASE"
    )]
    pub burst_base: Option<f64>,
    /// `--bench-shape find-ceiling`: a step holds while its intake p99
    /// (`POST /rfqs`, from due) is within this, ms, and nothing is shed.
    #[arg(
        id = "bench_ceiling_p99_ms",
        long = "bench-ceiling-p99-ms",
        default_value_t = 50.0
    )]
    pub ceiling_p99_ms: f64,
    /// Measures the aggregator alone with this many RFQs written straight
    /// to a fresh quotes topic with their answers (0: the pipeline bench).
    #[arg(
        id = "bench_aggregator",
        long = "bench-aggregator",
        env = "RFQ_BENCH_AGGREGATOR",
        default_value_t = 0
    )]
    pub aggregator: u64,
    /// `--bench-aggregator`: providers each RFQ is addressed to (the
    /// default fleet within the default radius of the demo spot: 18). All
    /// answer an RFQ that closes on completion; two thirds answer one
    /// that closes at its deadline.
    #[arg(
        id = "bench_aggregator_answers",
        long = "bench-aggregator-answers",
        default_value_t = 18
    )]
    pub aggregator_answers: usize,
    /// Seconds of load (the drain comes after).
    #[arg(
        id = "bench_seconds",
        long = "bench-seconds",
        env = "RFQ_BENCH_SECONDS",
        default_value_t = 30
    )]
    pub seconds: u64,
    /// Share of the RFQs sent where nobody answers: they close at their
    /// deadline.
    #[arg(
        id = "bench_deadline_share",
        long = "bench-deadline-share",
        env = "RFQ_BENCH_DEADLINE_SHARE",
        default_value_t = 0.2
    )]
    pub deadline_share: f64,
    /// Deadline of those RFQs, seconds.
    #[arg(
        id = "bench_deadline_seconds",
        long = "bench-deadline-seconds",
        env = "RFQ_BENCH_DEADLINE_SECONDS",
        default_value_t = 5
    )]
    pub deadline_seconds: u32,
    /// Deadline of the RFQs that close on completion, seconds (they should
    /// close long before it).
    #[arg(
        id = "bench_completion_deadline_seconds",
        long = "bench-completion-deadline-seconds",
        default_value_t = 30
    )]
    pub completion_deadline_seconds: u32,
    /// Pickup point where unicorns answer (`LAT,LON`).
    #[arg(
        id = "bench_answered_at",
        long = "bench-answered-at",
        default_value = "52.52,13.40"
    )]
    pub answered_at: GeoPoint,
    /// Pickup point where unicorns are registered but stay silent.
    #[arg(
        id = "bench_silent_at",
        long = "bench-silent-at",
        default_value = "52.40,13.06"
    )]
    pub silent_at: GeoPoint,
    /// Share of RFQs whose result is watched (polled until its 303).
    #[arg(
        id = "bench_watch_share",
        long = "bench-watch-share",
        default_value_t = 0.05
    )]
    pub watch_share: f64,
    /// Polling interval of a watched RFQ, milliseconds: the resolution of
    /// the result-visible figures.
    #[arg(id = "bench_poll_ms", long = "bench-poll-ms", default_value_t = 5)]
    pub poll_ms: u64,
    /// Requests in flight at most; beyond, a due request is counted as not
    /// sent (the client, not the pipeline, is the limit then).
    #[arg(
        id = "bench_max_in_flight",
        long = "bench-max-in-flight",
        default_value_t = 4096
    )]
    pub max_in_flight: usize,
    /// Records for the broker's own limits (0 leaves them out).
    #[arg(
        id = "bench_broker_records",
        long = "bench-broker-records",
        default_value_t = 20_000
    )]
    pub broker_records: usize,
    /// Where the report goes (report.json, report.svg).
    #[arg(
        id = "bench_report_dir",
        long = "bench-report-dir",
        env = "RFQ_BENCH_REPORT_DIR",
        default_value = "bench-report"
    )]
    pub report_dir: PathBuf,
    /// RFQs written straight to the quotes topic before the load (0: none).
    #[arg(
        id = "bench_preload",
        long = "bench-preload",
        env = "RFQ_BENCH_PRELOAD",
        default_value_t = 0
    )]
    pub preload: u64,
    /// Seconds after the preload's first RFQ is written until the first
    /// of them falls due (1 s per 10,000 RFQs is added for the writing).
    #[arg(
        id = "bench_preload_due_after",
        long = "bench-preload-due-after",
        default_value_t = 10
    )]
    pub preload_due_after: u64,
    /// Seconds over which the preload's deadlines fall, evenly (0: all in
    /// the same instant).
    #[arg(
        id = "bench_preload_due_over",
        long = "bench-preload-due-over",
        default_value_t = 60
    )]
    pub preload_due_over: u64,
    /// Preloaded RFQs watched (polled from just before their deadline).
    #[arg(
        id = "bench_preload_watch",
        long = "bench-preload-watch",
        default_value_t = 200
    )]
    pub preload_watch: usize,
    /// Seconds of reading per read endpoint after the drain (0 leaves the
    /// read phase out).
    #[arg(
        id = "bench_read_seconds",
        long = "bench-read-seconds",
        default_value_t = 5
    )]
    pub read_seconds: u64,
    /// Clients reading at once in the read phase.
    #[arg(
        id = "bench_read_connections",
        long = "bench-read-connections",
        default_value_t = 32
    )]
    pub read_connections: usize,
    /// Longest wait for every accepted RFQ to close after the load,
    /// seconds beyond the longest deadline.
    #[arg(
        id = "bench_drain_seconds",
        long = "bench-drain-seconds",
        default_value_t = 60
    )]
    pub drain_seconds: u64,
}

impl BenchSettings {
    /// The offered load.
    pub fn schedule(&self) -> schedule::Schedule {
        schedule::Schedule {
            shape: self.shape,
            rate: self.rate,
            duration: Duration::from_secs(self.seconds),
            steps: self.steps,
            burst_base: self.burst_base,
        }
    }
}

/// The pipeline a run drives.
#[derive(Debug, Clone)]
pub struct Target {
    /// HTTP base URL of the intake and read API.
    pub url: String,
    /// Base URL of its metrics.
    pub metrics_url: String,
    /// Its Kafka (for the broker's own limits), if known.
    pub kafka: Option<KafkaSettings>,
    /// What it is, for the report ("rfq up in this process, embedded broker").
    pub description: String,
    /// Whether the pipeline runs in this process (its RSS is ours).
    pub in_process: bool,
    /// Its Kafka, topics and registry, if known (for the preload).
    pub pipeline: Option<rfq_core::pipeline::PipelineSettings>,
    /// The API key requests carry (the customer the load submits as).
    pub api_key: Option<String>,
}

/// The headers every request of the run carries: the API key.
pub fn default_headers(target: &Target) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = target
        .api_key
        .as_ref()
        .and_then(|key| format!("Bearer {key}").parse().ok())
    {
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    headers
}

/// A client for the run's requests: the API key on each, redirects not
/// followed (a `303` is an answer), up to `pool` idle connections.
pub fn client(target: &Target, pool: usize, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .default_headers(default_headers(target))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(pool)
        .timeout(timeout)
        .build()
}

/// Runs the benchmark against `target`; writes and prints the report.
pub async fn run(settings: &BenchSettings, target: &Target) -> anyhow::Result<report::Report> {
    if let Some(base) = settings.burst_base {
        anyhow::ensure!(
            base > 0.0 && base <= settings.rate,
            "--bench-burst-base must be above 0 and at most --bench-rate ({}), got {base}",
            settings.rate
        );
    }
    let broker = match (&target.kafka, settings.broker_records) {
        (Some(kafka), records) if records > 0 => Some(
            broker::limits(kafka, records)
                .await
                .context("measuring the broker's own limits")?,
        ),
        _ => None,
    };
    let preload = match (&target.pipeline, settings.preload) {
        (_, 0) => None,
        (Some(pipeline), _) => Some(
            preload::run(settings, pipeline, target)
                .await
                .context("the preload")?,
        ),
        (None, _) => anyhow::bail!(
            "--bench-preload needs the pipeline's Kafka (--brokers) and schema registry"
        ),
    };
    let run = load::run(settings, target, preload.as_ref())
        .await
        .context("the load run")?;
    let read_url = settings.read_url.as_deref().unwrap_or(&target.url);
    let client = client(target, settings.read_connections, Duration::from_secs(10))?;
    let checked = check::over_http(&client, read_url, &run.sent, settings.read_connections).await;
    let reads = read::run(settings, &client, read_url, &run.sent).await;
    let report = report::Report::new(settings, target, broker, run, reads, checked);
    let json = write_json(&settings.report_dir, "report.json", &report)?;
    let svg = settings.report_dir.join("report.svg");
    plot::write(&report, &svg).with_context(|| format!("writing {}", svg.display()))?;
    println!("{}", report.table());
    println!("report: {} and {}", json.display(), svg.display());
    Ok(report)
}

/// Writes `value` as `dir/name` (pretty JSON); its path.
pub fn write_json(
    dir: &std::path::Path,
    name: &str,
    value: &impl serde::Serialize,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
