//! `rfq`: see `rfq --help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rfq::init_tracing();
    rfq::cli::Cli::from_env().run().await
}
