//! Writing the effects of judged records to the store until they are durable.

use crate::metrics::CLOSED;
use anyhow::Context as _;
use rfq_core::Effect;
use rfq_store::Store;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The result store, written until each write is durable.
pub(crate) struct EffectWriter {
    /// Where results go.
    store: Arc<dyn Store>,
    /// Ends the retries: a write not durable by then leaves its offsets unstored.
    shutdown: CancellationToken,
}

impl EffectWriter {
    /// Writes to `store`, retrying until `shutdown`.
    pub(crate) fn new(store: Arc<dyn Store>, shutdown: CancellationToken) -> EffectWriter {
        EffectWriter { store, shutdown }
    }

    /// The store, to read.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Writes effects durably, retrying until it succeeds or shutdown is
    /// requested (then the offsets are not stored and the records replay).
    pub(crate) async fn write(&self, effects: Vec<Effect>) -> anyhow::Result<()> {
        if effects.is_empty() {
            return Ok(());
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.store.apply(&effects).await {
                Ok(()) => break,
                Err(error) if !self.shutdown.is_cancelled() => {
                    tracing::error!(%error, retry_in = ?backoff, "store write failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(error) => return Err(error).context("store write failed during shutdown"),
            }
        }
        for effect in &effects {
            if let Effect::Close { reason, .. } = effect {
                CLOSED.with_label_values(&[reason.as_str()]).inc();
            }
        }
        Ok(())
    }
}
