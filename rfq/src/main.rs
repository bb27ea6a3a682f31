//! `rfq`: see `rfq --help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rfq::init_tracing();
    rfq_avro::choose_crypto_provider();
    rfq::cli::Cli::from_env().run().await
}
