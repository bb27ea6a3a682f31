use crate::body::Limits;
use rfq_core::http::LinkSettings;

/// Settings of the producer (besides the
/// [`PipelineSettings`](rfq_core::settings::PipelineSettings) every role shares).
#[derive(Debug, Clone, clap::Args)]
pub struct ProducerSettings {
    /// What a submission may ask for.
    #[command(flatten)]
    pub limits: Limits,

    /// Most RFQs open at once, pipeline-wide; beyond it `POST /rfqs` answers
    /// 503 with Retry-After until the aggregator closes some.
    #[arg(long, env = "RFQ_MAX_OPEN_RFQS", default_value_t = 100_000)]
    pub max_open_rfqs: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "RFQ_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// How links in the `202` are written (as the read API writes them).
    #[command(flatten)]
    pub links: LinkSettings,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
