//! Writing the effects of judged records to the store until they are
//! durable, then telling live readers (change notices).

use crate::metrics::{CLOSED, NOTICES};
use anyhow::Context as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rfq_core::{Effect, kafka::notices::Notice};
use rfq_store::Store;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The result store, written until each write is durable.
pub(crate) struct EffectWriter {
    /// Where results go.
    store: Arc<dyn Store>,
    /// Where change notices go once their effects are durable.
    notices: Notifier,
    /// Ends the retries: a write not durable by then leaves its offsets unstored.
    shutdown: CancellationToken,
}

/// Writes change notices to the events topic, without waiting: a notice
/// only saves a live reader time (it re-reads the store anyway), so the
/// aggregator's loop never waits for one, and one that fails is counted.
pub(crate) struct Notifier {
    /// The aggregator's producer.
    pub(crate) producer: FutureProducer,
    /// The events topic.
    pub(crate) topic: String,
}

impl Notifier {
    fn send(&self, effects: &[Effect]) {
        let now = chrono::Utc::now();
        for notice in effects.iter().filter_map(|effect| Notice::of(effect, now)) {
            let (key, value) = (notice.key(), notice.value());
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    tokio::spawn(async move {
                        let sent = matches!(delivery.await, Ok(Ok(_)));
                        NOTICES
                            .with_label_values(&[if sent { "sent" } else { "failed" }])
                            .inc();
                    });
                }
                Err((error, _)) => {
                    tracing::debug!(%error, "change notice not sent");
                    NOTICES.with_label_values(&["failed"]).inc();
                }
            }
        }
    }
}

impl EffectWriter {
    /// Writes to `store`, then notices to `notices`, retrying until `shutdown`.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        notices: Notifier,
        shutdown: CancellationToken,
    ) -> EffectWriter {
        EffectWriter {
            store,
            notices,
            shutdown,
        }
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
        self.notices.send(&effects);
        Ok(())
    }
}
