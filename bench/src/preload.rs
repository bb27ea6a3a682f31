//! The preload: `--bench-preload N` RFQs written straight to the quotes
//! topic before the load, each in the partition of its correlation id,
//! exactly as the producer's first step writes its copy for the aggregator
//! (same codec, same key, same partition). They are addressed to providers
//! that are not there, so each closes at its deadline; the deadlines fall
//! evenly over `--bench-preload-due-over` seconds, the first
//! `--bench-preload-due-after` seconds after the preload is written.
//!
//! Why not through `POST /rfqs`: holding 100,000 or 1,000,000 RFQs open
//! through the intake would take many minutes at its rate; the aggregator
//! cannot tell the difference, and it is the aggregator (memory, deadline
//! markers, closes) that these RFQs are there to load. Their closes are
//! watched like the load's (a sample polled from just before the
//! deadline), as "deadline → visible with N open".

use crate::{BenchSettings, Target, quotes::QuotesWriter, scrape};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use rfq_core::{
    Completion, CorrelationId, CustomerId, GeoPoint, ProviderId, Region, Rfq,
    pipeline::PipelineSettings,
};
use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

/// Providers a preloaded RFQ is addressed to (none of them exists).
const ADDRESSED: [&str; 5] = [
    "preload-1",
    "preload-2",
    "preload-3",
    "preload-4",
    "preload-5",
];

/// The RFQs written, and when they fall due.
#[derive(Debug, Clone)]
pub struct Preload {
    /// RFQs written.
    pub rfqs: u64,
    /// The first deadline.
    pub first_due: DateTime<Utc>,
    /// Between two deadlines.
    pub step: chrono::Duration,
    /// Ids and deadlines to watch.
    pub watch: Vec<(CorrelationId, DateTime<Utc>)>,
    /// What the report says of it.
    pub report: Preloaded,
}

/// The preload in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preloaded {
    /// RFQs written to the quotes topic.
    pub rfqs: u64,
    /// Records per second written (acknowledged).
    pub written_per_second: f64,
    /// Seconds until the aggregator held them all open (its metrics).
    pub opened_after_seconds: Option<f64>,
    /// The aggregator's open RFQs once they were.
    pub open: Option<f64>,
    /// When they fall due: seconds after the preload, and over how long.
    pub due_after_seconds: u64,
    /// Seconds over which the deadlines are spread.
    pub due_over_seconds: u64,
}

impl Preload {
    /// How many fell due by `now`.
    pub fn due_by(&self, now: DateTime<Utc>) -> u64 {
        if self.rfqs == 0 || now < self.first_due {
            return 0;
        }
        let step = self.step.num_microseconds().unwrap_or(1).max(1);
        let elapsed = (now - self.first_due)
            .num_microseconds()
            .unwrap_or(i64::MAX);
        (elapsed / step + 1).min(self.rfqs as i64) as u64
    }
}

/// Writes the preload to `pipeline`'s quotes topic and waits until the
/// aggregator holds it open (per its metrics at `target`).
pub async fn run(
    settings: &BenchSettings,
    pipeline: &PipelineSettings,
    target: &Target,
) -> anyhow::Result<Preload> {
    let rfqs = settings.preload;
    let (codec, _) = rfq_avro::open_codec(pipeline)
        .await
        .context("the pipeline's codec (schema registry)")?;
    let writer = QuotesWriter::open(pipeline, codec, "rfq-bench-preload").await?;
    let addressed: BTreeSet<ProviderId> = ADDRESSED
        .iter()
        .map(|p| ProviderId::parse(p))
        .collect::<Result<_, _>>()?;
    let from = settings.silent_at;
    let to = GeoPoint::new(from.lat() - 0.02, from.lon() + 0.05)?;
    let customer = CustomerId::parse("bench-preload")?;
    let region = Region::of(&from, pipeline.region_precision);
    // The deadlines are fixed as the RFQs are written: the first falls due
    // `--bench-preload-due-after` seconds, plus 1 s per 10,000 RFQs (about
    // the time to write and open them here), after the first is written.
    let over = chrono::Duration::seconds(settings.preload_due_over as i64);
    let step = over / i32::try_from(rfqs.max(1)).unwrap_or(i32::MAX);
    let watch_every = (rfqs / settings.preload_watch.max(1) as u64).max(1);
    let created_at = Utc::now();
    let first_due = created_at
        + chrono::Duration::seconds(settings.preload_due_after as i64)
        + chrono::Duration::milliseconds(rfqs as i64 / 10);
    let progress = indicatif::ProgressBar::new(rfqs);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} RFQs preloaded",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut watch = Vec::new();
    let mut sent = futures::stream::iter(0..rfqs)
        .map(|i| {
            let id = CorrelationId::new_random();
            let deadline = first_due + step * i32::try_from(i).unwrap_or(i32::MAX);
            let rfq = Rfq {
                id,
                customer: customer.clone(),
                region: region.clone(),
                from,
                to,
                created_at,
                deadline,
                addressed: addressed.clone(),
                radius: Some(pipeline.vicinity_radius),
                completion: Completion::All,
                return_address: writer.return_address(id),
            };
            if i % watch_every == 0 {
                watch.push((id, deadline));
            }
            let writer = &writer;
            async move { writer.write(&rfq, &[]).await }
        })
        .buffer_unordered(10_000);
    while let Some(written) = sent.next().await {
        written.context("writing the preload to the quotes topic")?;
        progress.inc(1);
    }
    drop(sent);
    progress.finish_and_clear();
    let written_per_second = rfqs as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    // Until the aggregator holds them (or gives up after a minute of no progress).
    let client = reqwest::Client::new();
    let (mut opened_after, mut open, mut last) = (None, None, (0.0, Instant::now()));
    loop {
        let text = scrape::metrics(&client, &target.metrics_url).await;
        if text.is_empty() {
            break;
        }
        let now = scrape::sum(&text, "rfq_aggregator_open_rfqs");
        open = Some(now);
        if now >= rfqs as f64 {
            opened_after = Some(started.elapsed().as_secs_f64());
            break;
        }
        if now > last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "preload: {rfqs} RFQs written at {written_per_second:.0}/s, {} open in the aggregator",
        open.map_or("?".to_owned(), |o| format!("{o:.0}"))
    );
    Ok(Preload {
        rfqs,
        first_due,
        step,
        watch,
        report: Preloaded {
            rfqs,
            written_per_second,
            opened_after_seconds: opened_after,
            open,
            due_after_seconds: settings.preload_due_after,
            due_over_seconds: settings.preload_due_over,
        },
    })
}
