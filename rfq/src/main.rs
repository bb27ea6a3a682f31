//! `rfq`: see `rfq --help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rfq::init_tracing();
    // Our dependencies build rustls without choosing a crypto provider (the
    // schema registry client's, the ScyllaDB driver's): ring, for all.
    let _ = rustls::crypto::ring::default_provider().install_default();
    rfq::cli::Cli::from_env().run().await
}
