//! `rfq explain <rfq-id>`: one RFQ's story, rebuilt from the log and
//! checked against the stored result ([`rfq_explain`]), as
//! text or as the JSON document `GET /rfqs/{id}/timeline` serves.
//!
//! It reads the store and Kafka directly, with the same layered settings
//! as the roles: against a running `rfq up` (embedded broker at
//! 127.0.0.1:9092, registry at 127.0.0.1:8081, store `data/results.db`)
//! the defaults are enough, run from the same directory. The embedded
//! store is a SQLite file that processes on one machine share safely.

use anyhow::Context as _;
use clap::Args;
use rfq_core::{CorrelationId, pipeline::PipelineSettings};
use rfq_store::StoreSettings;

/// `rfq explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The RFQ's id (as in the `Location` of its `202`).
    pub id: String,
    /// Print the JSON document `GET /rfqs/{id}/timeline` serves instead
    /// of text.
    #[arg(long, env = "RFQ_EXPLAIN_JSON")]
    pub json: bool,
    /// Kafka, topics and the schema registry the log is read through.
    #[command(flatten)]
    pub pipeline: PipelineSettings,
    /// The result store the explanation is checked against.
    #[command(flatten)]
    pub store: StoreSettings,
}

/// Runs `rfq explain`: prints the explanation; fails for an id that is
/// none or that the store does not know, for a log that cannot be read,
/// and (after printing it) when the log and the store disagree.
pub async fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let id = CorrelationId::parse(args.id.trim())
        .map_err(|error| anyhow::anyhow!("{:?} is not an RFQ id: {error}", args.id))?;
    let store = args
        .store
        .open()
        .await
        .with_context(|| format!("opening the result store ({})", args.store.describe()))?;
    let codec = rfq_avro::codec(&args.pipeline).context("the schema registry settings")?;
    let pipeline = args.pipeline;
    let explainer =
        rfq_explain::Explainer::new(pipeline.kafka.clone(), pipeline.topics, codec, store);
    let explanation = explainer
        .explain(&id)
        .await
        .with_context(|| format!("reading the log at {}", pipeline.kafka.brokers()))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no RFQ with id {id} in the result store ({})",
                args.store.describe()
            )
        })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{}", rfq_explain::text::render(&explanation));
    }
    anyhow::ensure!(
        explanation.agrees_with_store,
        "the log and the store disagree about RFQ {id} ({} differences)",
        explanation.differences.len()
    );
    Ok(())
}
