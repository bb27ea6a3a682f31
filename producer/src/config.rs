use crate::{body::Limits, customers::CustomerLimitSettings};
use rfq_core::{auth::AuthSettings, http::LinkSettings};

/// Settings of the producer (besides the
/// [`PipelineSettings`](rfq_core::pipeline::PipelineSettings) every role shares).
#[derive(Debug, Clone, clap::Args)]
pub struct ProducerSettings {
    /// What a submission may ask for.
    #[command(flatten)]
    pub limits: Limits,

    /// Most RFQs open at once, pipeline-wide; beyond it `POST /rfqs` answers
    /// 503 with Retry-After until the aggregator closes some.
    #[arg(long, env = "RFQ_MAX_OPEN_RFQS", default_value_t = 100_000)]
    pub max_open_rfqs: u64,

    /// How far behind (ms) the aggregator of an RFQ's partition may be for
    /// the RFQ to be accepted: beyond it `POST /rfqs` answers 503 with
    /// Retry-After, since its result could not come by its ETA. Within it,
    /// the ETA in the `202` is the deadline plus the lag. The lag is what
    /// the aggregators report every second, aged when they fall silent
    /// (`rfq.progress`).
    #[arg(long, env = "RFQ_MAX_AGGREGATOR_LAG_MS", default_value_t = 5_000)]
    pub max_aggregator_lag_ms: u64,

    /// Most `POST /rfqs` handled at once by this producer; beyond it a
    /// request is answered 503 with Retry-After at once instead of queueing
    /// (a queue would make every accepted RFQ slow). About the latency you
    /// accept times the rate the intake sustains.
    #[arg(long, env = "RFQ_MAX_CONCURRENT_SUBMISSIONS", default_value_t = 128)]
    pub max_concurrent_submissions: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "RFQ_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// How long an `Idempotency-Key` of `POST /rfqs` is kept, in hours: a
    /// retry within it gets the first request's RFQ; after it the key may
    /// be used again.
    #[arg(
        long,
        env = "RFQ_IDEMPOTENCY_KEY_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(u32).range(1..=24 * 30)
    )]
    pub idempotency_key_hours: u32,

    /// How links in the `202` are written (as the read API writes them).
    #[command(flatten)]
    pub links: LinkSettings,

    /// API keys known without the store (the customer comes from the key).
    #[command(flatten)]
    pub auth: AuthSettings,

    /// What one customer may submit.
    #[command(flatten)]
    pub customers: CustomerLimitSettings,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
