//! `rfq`: see `rfq --help`.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rfq::init_tracing();
    rfq::cli::Cli::parse().run().await
}
