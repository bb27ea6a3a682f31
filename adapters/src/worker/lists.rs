//! Partners' provider lists: fetched every `--partner-refresh-seconds` off
//! the adapter's loop, and taken by it (the providers registered, those no
//! longer listed deregistered).

use super::Adapter;
use crate::{
    AdapterSettings,
    fleet::{Fleet, Unicorn},
    heartbeat,
    partner::Partners,
};
use rfq_core::{ProviderStatus, RegionPrecision};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

impl Adapter {
    /// Takes the partners' new provider lists: registers them, and
    /// deregisters the providers no longer listed.
    pub(super) async fn relist(&mut self, unicorns: Vec<Unicorn>, valid_for: Duration) {
        let fleet = Arc::new(Fleet::of(
            &self.settings.fleet,
            unicorns,
            &self.pipeline.vicinity(),
        ));
        let gone: Vec<Unicorn> = self
            .fleet
            .unicorns()
            .iter()
            .filter(|unicorn| !fleet.has(&unicorn.id))
            .cloned()
            .collect();
        self.fleet = fleet;
        let topic = &self.pipeline.topics.providers_topic;
        let name = &self.settings.name;
        for (unicorns, status) in [
            (self.fleet.unicorns(), ProviderStatus::Online),
            (gone.as_slice(), ProviderStatus::Offline),
        ] {
            let published = heartbeat::publish(
                &self.producer,
                &self.codec,
                topic,
                name,
                unicorns,
                status,
                valid_for,
            )
            .await;
            if let Err(error) = published {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "registering partners' providers"
                );
            }
        }
    }
}

/// The next provider lists, or never when the fleet is simulated.
pub(super) async fn next_list(
    updates: &mut Option<mpsc::Receiver<Vec<Unicorn>>>,
) -> Option<Vec<Unicorn>> {
    match updates {
        Some(updates) => updates.recv().await,
        None => std::future::pending().await,
    }
}

/// Fetches the partners' provider lists every `--partner-refresh-seconds`
/// until `shutdown`, off the adapter's loop.
pub(super) fn refresh_lists(
    partners: &Arc<Partners>,
    settings: &AdapterSettings,
    precision: RegionPrecision,
    shutdown: &CancellationToken,
) -> mpsc::Receiver<Vec<Unicorn>> {
    let (sender, updates) = mpsc::channel(1);
    let (partners, every, shutdown) = (
        partners.clone(),
        settings.partners.refresh(),
        shutdown.clone(),
    );
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let unicorns = partners.refresh(precision).await;
            if sender.send(unicorns).await.is_err() {
                return;
            }
        }
    });
    updates
}
