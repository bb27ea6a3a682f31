/// Settings of the aggregator (besides the
/// [`PipelineSettings`](rfq_core::pipeline::PipelineSettings) every role shares).
#[derive(Debug, Clone, clap::Args)]
pub struct AggregatorSettings {
    /// Consumer group shared by all aggregator instances.
    #[arg(
        long = "aggregator-group",
        env = "RFQ_AGGREGATOR_GROUP",
        default_value = "rfq-aggregator"
    )]
    pub group_id: String,

    /// Most records processed (and written to the store) in one batch.
    #[arg(
        long = "aggregator-batch",
        env = "RFQ_AGGREGATOR_BATCH",
        default_value_t = 500
    )]
    pub max_batch: usize,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
