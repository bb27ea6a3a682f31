//! The provider registry: who serves which region, as announced by the
//! adapters' heartbeats on the providers topic.
//!
//! Every producer instance reads the whole topic from the beginning (no
//! consumer group, no committed offsets) and keeps the latest registration
//! of each provider. An RFQ is addressed to the providers of its region whose
//! registration is online and unexpired at acceptance: a snapshot, carried in
//! the RFQ, against which the aggregator judges completion.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::{
    Message, Offset,
    consumer::{DefaultConsumerContext, StreamConsumer},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    ProviderHeartbeat, ProviderId, Region, RegionPrecision,
    kafka::{
        DeadLetterKind, DeadLetters, KafkaSettings, assign_every_partition, on_consumer_error,
    },
};
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The latest registration of every provider seen.
#[derive(Clone)]
pub struct Registry {
    /// Latest heartbeat per provider.
    providers: Arc<RwLock<HashMap<ProviderId, ProviderHeartbeat>>>,
    /// Bumped on every change, for waiters.
    changes: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            providers: Arc::default(),
            changes: watch::Sender::new(0),
        }
    }
}

impl Registry {
    /// Records a heartbeat unless a newer one of the same provider is known.
    pub fn apply(&self, heartbeat: ProviderHeartbeat) {
        {
            let mut providers = self.providers.write().unwrap_or_else(|e| e.into_inner());
            match providers.get(&heartbeat.provider) {
                Some(known) if known.at > heartbeat.at => return,
                _ => {
                    providers.insert(heartbeat.provider.clone(), heartbeat);
                }
            }
        }
        self.changes.send_modify(|version| *version += 1);
    }

    /// The providers to address in `region` at `now`.
    pub fn live_in(&self, region: &Region, now: DateTime<Utc>) -> BTreeSet<ProviderId> {
        let providers = self.providers.read().unwrap_or_else(|e| e.into_inner());
        providers
            .values()
            .filter(|p| &p.region == region && p.is_live(now))
            .map(|p| p.provider.clone())
            .collect()
    }

    /// Whether every one of `providers` is live now.
    fn all_live(&self, providers: &[ProviderId]) -> bool {
        let known = self.providers.read().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now();
        providers
            .iter()
            .all(|id| known.get(id).is_some_and(|p| p.is_live(now)))
    }

    /// Waits until every one of `providers` is registered and live (used at
    /// start-up so that the first RFQ is addressed to the whole fleet).
    pub async fn wait_for(
        &self,
        providers: &[ProviderId],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let mut changes = self.changes.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if self.all_live(providers) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .with_context(|| {
            format!(
                "{} providers did not register within {timeout:?}",
                providers.len()
            )
        })
    }
}

/// Reads the providers topic into `registry` until `shutdown`. A heartbeat
/// whose region is not its position's at `precision` is dead-lettered: its
/// adapter runs with another `--region-precision`, so RFQs (whose region is
/// cut at ours) would never reach its provider.
pub async fn follow(
    kafka: KafkaSettings,
    topic: String,
    precision: RegionPrecision,
    registry: Registry,
    codec: SharedCodec,
    dead_letters: DeadLetters,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let group = kafka.group("rfq-producer-registry");
    let consumer: StreamConsumer = kafka
        .consumer_config(
            "rfq-producer-registry",
            &[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
            ],
        )
        .create_with_context(DefaultConsumerContext)
        .context("creating the registry consumer")?;
    // Metadata and assignment block while librdkafka talks to the broker.
    let consumer = tokio::task::spawn_blocking({
        let topic = topic.clone();
        move || -> anyhow::Result<StreamConsumer> {
            // The whole log, every time: the registry is the latest heartbeat
            // of every provider.
            assign_every_partition(&consumer, &topic, Offset::Beginning)?;
            Ok(consumer)
        }
    })
    .await??;
    let result = read(
        &consumer,
        &topic,
        precision,
        &registry,
        &codec,
        &dead_letters,
        &shutdown,
    )
    .await;
    // Closing blocks too.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    result
}

async fn read(
    consumer: &StreamConsumer,
    topic: &str,
    precision: RegionPrecision,
    registry: &Registry,
    codec: &SharedCodec,
    dead_letters: &DeadLetters,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = consumer.recv() => match message {
                Ok(message) => message,
                Err(error) => {
                    on_consumer_error(error, topic).await?;
                    continue;
                }
            },
        };
        let payload = message.payload().unwrap_or_default();
        match rfq_avro::decode_patiently(codec.as_ref(), topic, payload).await {
            Ok(Record::Heartbeat(heartbeat)) => match region_disagreement(&heartbeat, precision) {
                None => registry.apply(heartbeat),
                Some(reason) => {
                    tracing::error!(provider = %heartbeat.provider, adapter = %heartbeat.adapter, "{reason}");
                    let provider = heartbeat.provider.as_str();
                    dead_letters
                        .send_from(
                            &message,
                            DeadLetterKind::WrongRegion,
                            &reason,
                            Some(provider),
                        )
                        .await?;
                }
            },
            Ok(other) => {
                let reason = format!(
                    "expected a ProviderHeartbeat, got {:?}",
                    other.record_type()
                );
                dead_letters
                    .send(&message, DeadLetterKind::UnexpectedType, &reason)
                    .await?;
            }
            Err(error) => {
                let reason = error.to_string();
                dead_letters
                    .send_from(&message, DeadLetterKind::Decode, &reason, error.provider())
                    .await?
            }
        }
    }
}

/// Why a heartbeat's region is not the one we would address it by, if it is not.
fn region_disagreement(
    heartbeat: &ProviderHeartbeat,
    precision: RegionPrecision,
) -> Option<String> {
    let ours = Region::of(&heartbeat.position, precision);
    (heartbeat.region != ours).then(|| {
        format!(
            "heartbeat of {} names region {} but its position {},{} is in region {ours} at \
             this producer's --region-precision {precision}: run its adapter ({}) with the same precision",
            heartbeat.provider,
            heartbeat.region,
            heartbeat.position.lat(),
            heartbeat.position.lon(),
            heartbeat.adapter,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::{GeoPoint, ProviderStatus};

    fn beat(id: &str, at: DateTime<Utc>, status: ProviderStatus) -> ProviderHeartbeat {
        let position = GeoPoint::new(52.52, 13.40).unwrap();
        ProviderHeartbeat {
            provider: ProviderId::parse(id).unwrap(),
            adapter: "a".into(),
            region: Region::of(&position, RegionPrecision::DEFAULT),
            position,
            status,
            at,
            valid_for: Duration::from_secs(30),
        }
    }

    #[test]
    fn addresses_live_providers_of_the_region_only() {
        let registry = Registry::default();
        let now = Utc::now();
        let region = beat("x", now, ProviderStatus::Online).region;
        registry.apply(beat("fresh", now, ProviderStatus::Online));
        registry.apply(beat(
            "expired",
            now - chrono::Duration::seconds(31),
            ProviderStatus::Online,
        ));
        registry.apply(beat("left", now, ProviderStatus::Offline));
        let live: Vec<String> = registry
            .live_in(&region, now)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(live, vec!["fresh"]);
        let elsewhere = Region::parse("u0").unwrap();
        assert!(registry.live_in(&elsewhere, now).is_empty());
    }

    #[test]
    fn a_heartbeat_cut_at_another_precision_is_named() {
        let at_ours = beat("p", Utc::now(), ProviderStatus::Online);
        assert_eq!(
            region_disagreement(&at_ours, RegionPrecision::DEFAULT),
            None
        );
        let coarser = RegionPrecision::new(4).unwrap();
        let reason = region_disagreement(&at_ours, coarser).expect("a disagreement");
        assert!(reason.contains("--region-precision 4"), "{reason}");
        assert!(reason.contains(at_ours.region.as_str()), "{reason}");
    }

    #[test]
    fn an_older_heartbeat_does_not_override_a_newer_one() {
        let registry = Registry::default();
        let now = Utc::now();
        registry.apply(beat("p", now, ProviderStatus::Offline));
        registry.apply(beat(
            "p",
            now - chrono::Duration::seconds(5),
            ProviderStatus::Online,
        ));
        let region = beat("p", now, ProviderStatus::Online).region;
        assert!(registry.live_in(&region, now).is_empty());
    }

    #[tokio::test]
    async fn wait_for_returns_once_registered() {
        let registry = Registry::default();
        let id = ProviderId::parse("late").unwrap();
        let waiter = {
            let registry = registry.clone();
            let id = id.clone();
            tokio::spawn(async move { registry.wait_for(&[id], Duration::from_secs(5)).await })
        };
        registry.apply(beat("late", Utc::now(), ProviderStatus::Online));
        waiter.await.unwrap().unwrap();
        assert!(
            registry
                .wait_for(
                    &[ProviderId::parse("never").unwrap()],
                    Duration::from_millis(50)
                )
                .await
                .is_err()
        );
    }
}
