use std::io::IsTerminal as _;
use tracing_subscriber::{EnvFilter, fmt};

/// What is logged when `RUST_LOG` is unset: our components' start/stop and
/// problems, nothing per record.
const DEFAULT_FILTER: &str = "warn,rfq=info,rfq_core=info,rfq_broker=info,rfq_producer=info,\
rfq_adapters=info,rfq_aggregator=info,rfq_api=info,rfq_store=info,tansu_broker=error,\
tansu_storage=error,librdkafka=error,rdkafka=error";

/// Installs the tracing subscriber (filtered by `RUST_LOG`). Safe to call twice.
pub fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}
