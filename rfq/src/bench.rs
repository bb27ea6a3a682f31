//! `rfq bench`: the benchmark ([`rfq_bench`]) against the pipeline it
//! starts in this process (`rfq up` on free ports, a fresh data directory,
//! a second and silent fleet where the deadline RFQs go), against one
//! already running (`--bench-url`), or the aggregator alone
//! (`--bench-aggregator N`).

use crate::{Pipeline, UpSettings};
use anyhow::Context as _;
use clap::Args;
use rfq_adapters::AdapterSettings;
use std::sync::Arc;

/// `rfq bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The load and the report.
    #[command(flatten)]
    pub bench: rfq_bench::BenchSettings,
    /// The pipeline started in this process (every `rfq up` setting; its
    /// data goes to a fresh temporary directory), or the Kafka of the one
    /// at `--bench-url` (`--brokers`, for the broker's own limits).
    #[command(flatten)]
    pub up: UpSettings,
}

/// Runs `rfq bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs { bench, mut up } = args;
    if bench.aggregator > 0 {
        return bench_aggregator(bench, up).await;
    }
    let kafka = up.intake.pipeline.kafka.clone();
    if let Some(url) = &bench.url {
        let target = rfq_bench::Target {
            url: url.clone(),
            metrics_url: bench.metrics_url.clone().unwrap_or_else(|| url.clone()),
            description: format!("the pipeline at {url}"),
            pipeline: kafka.brokers.is_some().then(|| up.intake.pipeline.clone()),
            kafka: kafka.brokers.is_some().then_some(kafka),
            in_process: false,
            api_key: bench.api_key.clone(),
        };
        return finish(rfq_bench::run(&bench, &target).await?);
    }
    // `rfq up` here, on free ports and a fresh data directory, with a
    // second, silent fleet where the deadline RFQs go.
    let data = tempfile::tempdir().context("a temporary data directory")?;
    up.broker.data_dir = data.path().to_path_buf();
    up.broker.kafka_addr = ([127, 0, 0, 1], 0).into();
    up.intake.http_addr = ([127, 0, 0, 1], 0).into();
    up.registry.schema_registry_addr = ([127, 0, 0, 1], 0).into();
    let silent = rfq_adapters::FleetSettings {
        center: bench.silent_at,
        ring: 0,
        per_region: 2,
        silent_per_region: 2,
        ..up.adapter.fleet.clone()
    };
    up.adapters = Some(vec![
        up.adapter.clone(),
        AdapterSettings::new("bench-silent", silent),
    ]);
    let broker = if up.intake.pipeline.kafka.brokers.is_some() {
        "Kafka at ".to_owned() + up.intake.pipeline.kafka.brokers()
    } else {
        "the embedded broker".to_owned()
    };
    // The load is one customer at many times a person's rate.
    up.intake.producer.customers.customer_rate = 1e9;
    up.intake.producer.customers.customer_burst = u32::MAX;
    up.intake.producer.customers.customer_max_open_rfqs = u32::MAX;
    let mut settings = up.intake.pipeline.clone();
    let pipeline = Pipeline::start(up).await.context("starting rfq up")?;
    let api_key = bench
        .api_key
        .clone()
        .or_else(|| pipeline.demo_key().map(|key| key.expose().to_owned()));
    let url = format!("http://{}", pipeline.http_addr());
    settings.kafka = pipeline.kafka().clone();
    settings.registry.registry_url = Some(pipeline.schema_registry_url());
    if let Some((user, password)) = pipeline.registry_operator() {
        settings.registry.registry_user = Some(user.to_owned());
        settings.registry.registry_password = Some(password.to_owned());
    }
    let target = rfq_bench::Target {
        metrics_url: url.clone(),
        url,
        description: format!("rfq up in this process, {broker}"),
        kafka: Some(pipeline.kafka().clone()),
        in_process: true,
        pipeline: Some(settings),
        api_key,
    };
    let report = rfq_bench::run(&bench, &target).await;
    pipeline.stop().await?;
    finish(report?)
}

/// `rfq bench --bench-aggregator N`: the aggregator alone, on the Kafka of
/// `--brokers` or an embedded broker of its own (on a free port, in a
/// temporary directory), with a fresh store of the kind the flags select.
async fn bench_aggregator(
    bench: rfq_bench::BenchSettings,
    mut up: UpSettings,
) -> anyhow::Result<()> {
    let data = tempfile::tempdir().context("a temporary data directory")?;
    let mut pipeline = up.intake.pipeline.clone();
    let (broker, described) = match pipeline.kafka.brokers.clone() {
        Some(brokers) => (None, format!("Kafka at {brokers}")),
        None => {
            up.broker.data_dir = data.path().to_path_buf();
            up.broker.kafka_addr = ([127, 0, 0, 1], 0).into();
            let store = up.intake.store.clone().in_data_dir(data.path());
            let store = store.open().await.context("opening the store")?;
            let partners = Arc::new(rfq_store::StorePartners(store));
            let broker = up.broker.start_for(&mut pipeline.kafka, partners).await?;
            (Some(broker), "the embedded broker".to_owned())
        }
    };
    let store = up.intake.store.clone().in_data_dir(data.path());
    let alone = rfq_bench::alone::run(&bench, &described, pipeline, up.aggregator, store).await;
    if let Some(broker) = broker {
        broker.stop().await;
    }
    let alone = alone?;
    alone.publish(&bench.report_dir)?;
    anyhow::ensure!(
        alone.sound(),
        "the aggregator alone: {} RFQs left open, {} closed otherwise than they must",
        alone.open_left,
        alone.check.violated()
    );
    Ok(())
}

/// A run is sound only if every accepted RFQ closed, each the way it was
/// sent to.
fn finish(report: rfq_bench::report::Report) -> anyhow::Result<()> {
    match report.drain.all_closed {
        Some(false) => anyhow::bail!(
            "not every accepted RFQ closed: {} accepted, {:?} closed",
            report.intake.accepted,
            report.drain.closed
        ),
        _ => anyhow::ensure!(
            report.check.violated() == 0,
            "{} of {} accepted RFQs did not close the way they were sent to: {:?}",
            report.check.violated(),
            report.check.rfqs,
            report.check.violations
        ),
    }
    Ok(())
}
