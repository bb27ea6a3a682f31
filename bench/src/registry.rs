//! A schema registry for a bench that runs without `rfq up`: ours, kept in
//! memory, served on a free loopback port in this process (the codec of
//! the aggregator-alone bench and of the criterion benches reach it as
//! they reach any Confluent-compatible registry).

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

/// A registry being served; stops when dropped.
#[derive(Debug)]
pub struct InMemoryRegistry {
    /// Its base URL.
    pub url: String,
    /// Stops it.
    stop: CancellationToken,
}

impl InMemoryRegistry {
    /// Serves an empty registry on a free port of 127.0.0.1.
    pub async fn serve() -> anyhow::Result<InMemoryRegistry> {
        let registry = rfq_registry::Registry::open(Box::new(rfq_registry::MemoryLog::default()))
            .await
            .context("a schema registry in memory")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("a free port for the schema registry")?;
        let url = format!("http://{}", listener.local_addr()?);
        let stop = CancellationToken::new();
        let router = rfq_registry::router(registry);
        tokio::spawn(rfq_core::http::serve(listener, router, stop.clone()));
        Ok(InMemoryRegistry { url, stop })
    }
}

impl Drop for InMemoryRegistry {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
