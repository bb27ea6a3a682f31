//! The aggregator alone (`rfq bench --bench-aggregator N`): how many
//! records per second it judges and persists, per store, next to what a
//! plain consumer reads of the same topic on the same broker.
//!
//! 1. Fresh topics (a quotes topic of its own) on the broker, and a fresh
//!    store: the embedded one in a temporary directory, or with
//!    `--scylla-nodes` a keyspace of its own (`rfq_bench_…`, left behind).
//! 2. The broker's own limits ([`crate::broker`]), as in every run.
//! 3. N RFQs with their answers written straight to the quotes topic and
//!    opened in the store ([`write`]), as the producer and the adapters
//!    would have; those closing at their deadline are already past it when
//!    the aggregator starts, so it writes their deadline markers at once.
//! 4. A plain consumer reads the topic from the start: the broker's consume
//!    rate of these very records.
//! 5. The aggregator, [`rfq_aggregator::run`] with a group of its own and
//!    nothing else around it, reads the topic from the start; the run ends
//!    when the store holds no open RFQ. Its rate is given from its start
//!    (joining, recovering the N open RFQs from the store, writing markers)
//!    and from its first close (steady judging and persisting).
//! 6. Every RFQ's stored result is checked as the load's are
//!    ([`crate::check::judge`]).

mod table;
mod write;

use crate::{
    BenchSettings,
    broker::{self, BrokerLimits},
    check::{self, Checked, Expected, Violation},
    quotes::QuotesWriter,
    registry::InMemoryRegistry,
};
use anyhow::Context as _;
use futures::StreamExt as _;
use rfq_aggregator::AggregatorSettings;
use rfq_core::{CorrelationId, kafka::ensure_topics, pipeline::PipelineSettings};
use rfq_store::{RfqStatus, Store, StoreSettings};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

/// How often the store's open count is read while the aggregator runs:
/// the resolution of the timings (run long enough for it not to matter).
const POLL: Duration = Duration::from_millis(200);
/// Stored results read at once by the check.
const CHECKING: usize = 64;

/// What the aggregator did alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alone {
    /// The broker.
    pub broker: String,
    /// The store.
    pub store: String,
    /// The broker's own limits (records of 300 bytes), if measured.
    pub limits: Option<BrokerLimits>,
    /// RFQs written.
    pub rfqs: u64,
    /// Of which closing at their deadline.
    pub deadline_rfqs: u64,
    /// Records written: RFQs and answers (the aggregator's deadline
    /// markers come on top).
    pub records: u64,
    /// Records written per second (topic and store).
    pub written_per_second: f64,
    /// A plain consumer reading the same topic: records per second.
    pub raw_consume_per_second: f64,
    /// Reading the N open RFQs back from the store, as the aggregator does
    /// at start (timed by the bench beforehand), seconds.
    pub recovery_read_seconds: f64,
    /// From the aggregator's start to no RFQ open, seconds (`None`: some
    /// stayed open).
    pub seconds: Option<f64>,
    /// From its start to its first close, seconds.
    pub first_close_seconds: Option<f64>,
    /// Records judged and persisted per second, from the start.
    pub records_per_second: Option<f64>,
    /// The same, from the first close (steady).
    pub steady_records_per_second: Option<f64>,
    /// RFQs closed per second, from the start.
    pub rfqs_per_second: Option<f64>,
    /// `records_per_second` over the raw consume of the same topic.
    pub share_of_raw_consume: Option<f64>,
    /// `steady_records_per_second` over the raw consume of the same topic.
    pub steady_share_of_raw_consume: Option<f64>,
    /// `records_per_second` over the broker's consume limit (300-byte
    /// records).
    pub share_of_broker_consume: Option<f64>,
    /// Deadline markers the aggregator wrote (records in the quotes topic
    /// beyond those written), as the broker counts them.
    pub markers: Option<u64>,
    /// Change notices the aggregator wrote (records in the events topic).
    pub notices: Option<u64>,
    /// RFQs still open when the run ended.
    pub open_left: u64,
    /// Every RFQ's stored result, checked.
    pub check: Checked,
    /// Seconds from the aggregator's start, and the RFQs open then.
    pub progress: Vec<(f64, u64)>,
}

impl Alone {
    /// Whether the run is sound: every RFQ closed, each the way it must.
    pub fn sound(&self) -> bool {
        self.open_left == 0 && self.check.violated() == 0
    }
}

/// Measures the aggregator alone on `pipeline`'s Kafka (described as
/// `broker`) and a fresh store of `store`'s kind, with `aggregator`'s
/// settings (its group replaced by a fresh one).
pub async fn run(
    settings: &BenchSettings,
    broker: &str,
    mut pipeline: PipelineSettings,
    aggregator: AggregatorSettings,
    mut store: StoreSettings,
) -> anyhow::Result<Alone> {
    anyhow::ensure!(
        settings.aggregator > 0,
        "--bench-aggregator must be above 0"
    );
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let registry = match pipeline.registry.registry_url {
        Some(_) => None,
        None => Some(InMemoryRegistry::serve().await?),
    };
    if let Some(registry) = &registry {
        pipeline.registry.registry_url = Some(registry.url.clone());
    }
    let topics = &mut pipeline.topics;
    for (topic, name) in [
        (&mut topics.requests_topic, "requests"),
        (&mut topics.quotes_topic, "quotes"),
        (&mut topics.providers_topic, "providers"),
        (&mut topics.events_topic, "events"),
        (&mut topics.dead_letter_topic, "dead-letter"),
    ] {
        *topic = format!("rfq.bench.{tag}.{name}");
    }
    ensure_topics(&pipeline.kafka, &pipeline.topics).await?;
    let limits = match settings.broker_records {
        0 => None,
        records => Some(
            broker::limits(&pipeline.kafka, records)
                .await
                .context("measuring the broker's own limits")?,
        ),
    };
    if !store.scylla.nodes.is_empty() {
        store.scylla.keyspace = format!("rfq_bench_{tag}");
    }
    let store_name = store.describe();
    let store: Arc<dyn Store> = store
        .open()
        .await
        .with_context(|| format!("opening {store_name}"))?;
    let (codec, _) = rfq_avro::open_codec(&pipeline)
        .await
        .context("the codec (schema registry)")?;
    let writer = QuotesWriter::open(&pipeline, codec.clone(), "rfq-bench-aggregator").await?;
    let written = write::write(settings, &pipeline, &writer, &*store).await?;
    eprintln!(
        "aggregator alone: {} RFQs, {} records written in {:.1} s",
        written.rfqs.len(),
        written.records,
        written.seconds
    );
    let raw_consume_per_second =
        broker::consume(&pipeline.kafka, &writer.topic, written.records).await?;
    if let Some(last) = written.last_deadline {
        let wait = (last - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(100)).await;
    }
    let recovery = Instant::now();
    for partition in 0..writer.partitions {
        store.open_rfqs(partition).await?;
    }
    let recovery_read_seconds = recovery.elapsed().as_secs_f64();

    let group = format!("rfq-bench-aggregator-{tag}");
    let aggregator = AggregatorSettings {
        group_id: group,
        ..aggregator
    };
    let timed = time_aggregator(settings, &pipeline, aggregator, &store, codec).await?;
    let in_topic = |topic: String| {
        let kafka = pipeline.kafka.clone();
        async move { broker::records_in(&kafka, &topic).await.ok() }
    };
    let markers = in_topic(writer.topic.clone())
        .await
        .map(|records| records.saturating_sub(written.records));
    let notices = in_topic(pipeline.topics.events_topic.clone()).await;
    let check = check_stored(&*store, &written.rfqs).await;
    let rfqs = written.rfqs.len() as u64;
    let per_second = |seconds: Option<f64>, of: u64| seconds.map(|s| of as f64 / s.max(1e-9));
    let records_per_second = per_second(timed.seconds, written.records);
    let steady = timed
        .seconds
        .zip(timed.first_close)
        .map(|(all, first)| written.records as f64 / (all - first).max(1e-9));
    Ok(Alone {
        broker: broker.to_owned(),
        store: store_name,
        rfqs,
        deadline_rfqs: written
            .rfqs
            .iter()
            .filter(|(_, expected)| matches!(expected, Expected::Deadline(_)))
            .count() as u64,
        records: written.records,
        written_per_second: written.records as f64 / written.seconds.max(1e-9),
        raw_consume_per_second,
        recovery_read_seconds,
        seconds: timed.seconds,
        first_close_seconds: timed.first_close,
        records_per_second,
        steady_records_per_second: steady,
        rfqs_per_second: per_second(timed.seconds, rfqs),
        share_of_raw_consume: records_per_second.map(|r| r / raw_consume_per_second),
        steady_share_of_raw_consume: steady.map(|r| r / raw_consume_per_second),
        share_of_broker_consume: records_per_second
            .zip(limits.as_ref())
            .map(|(r, l)| r / l.consume_per_second),
        limits,
        markers,
        notices,
        open_left: timed.open_left,
        check,
        progress: timed.progress,
    })
}

/// The aggregator's run, as the store saw it.
struct Timed {
    seconds: Option<f64>,
    first_close: Option<f64>,
    open_left: u64,
    progress: Vec<(f64, u64)>,
}

/// Starts the aggregator and reads the store's open count every [`POLL`]
/// until none is open, or none closed for `--bench-drain-seconds`; then
/// stops it.
async fn time_aggregator(
    settings: &BenchSettings,
    pipeline: &PipelineSettings,
    aggregator: AggregatorSettings,
    store: &Arc<dyn Store>,
    codec: rfq_avro::SharedCodec,
) -> anyhow::Result<Timed> {
    let stop = CancellationToken::new();
    let started = Instant::now();
    let mut running = tokio::spawn(rfq_aggregator::run(
        pipeline.clone(),
        aggregator,
        store.clone(),
        codec,
        stop.clone(),
    ));
    let initial = store.open_count().await?;
    let mut timed = Timed {
        seconds: None,
        first_close: None,
        open_left: initial,
        progress: vec![(0.0, initial)],
    };
    let mut last_close = Instant::now();
    let patience = Duration::from_secs(settings.drain_seconds.max(1));
    let mut ended = None;
    while timed.open_left > 0 && last_close.elapsed() < patience {
        tokio::select! {
            result = &mut running => { ended = Some(result); break; }
            () = tokio::time::sleep(POLL) => {}
        }
        let open = store.open_count().await?;
        let at = started.elapsed().as_secs_f64();
        if open < timed.open_left {
            last_close = Instant::now();
            timed.first_close.get_or_insert(at);
        }
        timed.open_left = open;
        if timed.progress.last().is_some_and(|(t, _)| at - t >= 1.0) || open == 0 {
            timed.progress.push((at, open));
        }
        if open == 0 {
            timed.seconds = Some(at);
        }
    }
    stop.cancel();
    let result = match ended {
        Some(result) => result,
        None => running.await,
    };
    result
        .context("the aggregator panicked")?
        .context("the aggregator")?;
    Ok(timed)
}

/// Reads every RFQ of `rfqs` from `store` and judges how it closed.
async fn check_stored(store: &dyn Store, rfqs: &[(CorrelationId, Expected)]) -> Checked {
    let started = Instant::now();
    let mut read = futures::stream::iter(rfqs)
        .map(|(id, expected)| async move {
            let outcome = match store.rfq(id).await {
                Err(error) => Some((Violation::Unreadable, error.to_string())),
                Ok(None) => Some((Violation::NoResult, "not in the store".to_owned())),
                Ok(Some(stored)) => match stored.status {
                    RfqStatus::Open => Some((Violation::NotClosed, "open".to_owned())),
                    RfqStatus::Closed { reason, closed_at } => check::judge(
                        *expected,
                        reason.as_str(),
                        Some(closed_at),
                        Some(stored.rfq.deadline),
                    )
                    .map(|v| {
                        let seen = format!(
                            "closed-by {} at {closed_at}, deadline {}",
                            reason.as_str(),
                            stored.rfq.deadline
                        );
                        (v, seen)
                    }),
                },
            };
            (id, outcome)
        })
        .buffer_unordered(CHECKING);
    let mut checked = Checked::default();
    while let Some((id, outcome)) = read.next().await {
        checked.add(&id.to_string(), outcome);
    }
    checked.seconds = started.elapsed().as_secs_f64();
    checked
}
