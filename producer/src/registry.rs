//! The provider registry: where each provider is, as announced by the
//! adapters' heartbeats on the providers topic.
//!
//! Every producer instance reads the whole topic from the beginning (no
//! consumer group, no committed offsets) and keeps the latest registration
//! of each provider. An RFQ is addressed to the providers within the
//! vicinity radius of its pickup point whose registration is online and
//! unexpired at acceptance: a snapshot, carried in the RFQ, against which the
//! aggregator judges completion.
//!
//! Providers are indexed by the region their heartbeat names, so that
//! addressing visits the regions around the pickup ([`Vicinity::cells`])
//! and measures the distance to the providers there only, not to every
//! provider known.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::{Message, Offset, message::BorrowedMessage};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    GeoPoint, ProviderHeartbeat, ProviderId, Region, RegionPrecision, Vicinity,
    kafka::{DeadLetterKind, DeadLetters, Follow, Follower, KafkaSettings},
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The latest registration of every provider seen.
#[derive(Clone)]
pub struct Registry {
    /// The registrations and their index.
    known: Arc<RwLock<Known>>,
    /// Bumped on every change, for waiters.
    changes: watch::Sender<u64>,
}

/// The registrations, indexed by region.
#[derive(Default)]
struct Known {
    /// Latest heartbeat per provider.
    latest: HashMap<ProviderId, ProviderHeartbeat>,
    /// The providers whose latest heartbeat names each region (in geohash
    /// order, so that a coarser cell's providers are one range).
    by_region: BTreeMap<Region, BTreeSet<ProviderId>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            known: Arc::default(),
            changes: watch::Sender::new(0),
        }
    }
}

impl Registry {
    /// Records a heartbeat unless a newer one of the same provider is known.
    pub fn apply(&self, heartbeat: ProviderHeartbeat) {
        {
            let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
            let Known { latest, by_region } = &mut *known;
            match latest.get(&heartbeat.provider) {
                Some(newer) if newer.at > heartbeat.at => return,
                Some(older) if older.region != heartbeat.region => {
                    if let Some(providers) = by_region.get_mut(&older.region) {
                        providers.remove(&heartbeat.provider);
                        if providers.is_empty() {
                            by_region.remove(&older.region);
                        }
                    }
                }
                _ => {}
            }
            by_region
                .entry(heartbeat.region.clone())
                .or_default()
                .insert(heartbeat.provider.clone());
            latest.insert(heartbeat.provider.clone(), heartbeat);
        }
        self.changes.send_modify(|version| *version += 1);
    }

    /// The providers to address at `now` for a pickup at `pickup`: those
    /// live and within the radius, found in the regions around it.
    pub fn live_near(
        &self,
        pickup: &GeoPoint,
        vicinity: &Vicinity,
        now: DateTime<Utc>,
    ) -> BTreeSet<ProviderId> {
        let cells = vicinity.cells(pickup);
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut near = BTreeSet::new();
        for cell in cells.cells() {
            let within = known
                .by_region
                .range::<Region, _>(cell..)
                .take_while(|(region, _)| region.is_within(cell));
            for id in within.flat_map(|(_, providers)| providers) {
                if let Some(provider) = known.latest.get(id)
                    && provider.is_live(now)
                    && vicinity.reaches(pickup, &provider.position)
                {
                    near.insert(id.clone());
                }
            }
        }
        near
    }

    /// Whether every one of `providers` is live now.
    fn all_live(&self, providers: &[ProviderId]) -> bool {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now();
        providers
            .iter()
            .all(|id| known.latest.get(id).is_some_and(|p| p.is_live(now)))
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
/// adapter runs with another `--region-precision`, so it reads RFQs by
/// regions of another size than ours, and its provider would be indexed
/// under a region that addressing does not look in.
pub async fn follow(
    kafka: KafkaSettings,
    topic: String,
    precision: RegionPrecision,
    registry: Registry,
    codec: SharedCodec,
    dead_letters: DeadLetters,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The whole log, every time: the registry is the latest heartbeat of
    // every provider.
    let follower =
        Follower::every_partition(&kafka, "rfq-producer-registry", &topic, Offset::Beginning)
            .await?;
    let heartbeats = Heartbeats {
        topic,
        precision,
        registry,
        codec,
        dead_letters,
    };
    follower.run(heartbeats, shutdown).await
}

/// What the follower does with each record of the providers topic.
struct Heartbeats {
    /// The providers topic.
    topic: String,
    /// The region precision heartbeats must be cut at.
    precision: RegionPrecision,
    /// The registry to fill.
    registry: Registry,
    /// Decodes the records.
    codec: SharedCodec,
    /// Where a record that is not a usable heartbeat goes.
    dead_letters: DeadLetters,
}

impl Follow for Heartbeats {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let dead_letters = &self.dead_letters;
        let payload = message.payload().unwrap_or_default();
        match rfq_avro::decode_patiently(self.codec.as_ref(), &self.topic, payload).await {
            Ok(Record::Heartbeat(heartbeat)) => {
                match region_disagreement(&heartbeat, self.precision) {
                    None => self.registry.apply(heartbeat),
                    Some(reason) => {
                        tracing::error!(provider = %heartbeat.provider, adapter = %heartbeat.adapter, "{reason}");
                        let provider = heartbeat.provider.as_str();
                        dead_letters
                            .send_from(
                                message,
                                DeadLetterKind::WrongRegion,
                                &reason,
                                Some(provider),
                            )
                            .await?;
                    }
                }
            }
            Ok(other) => {
                let reason = format!(
                    "expected a ProviderHeartbeat, got {:?}",
                    other.record_type()
                );
                dead_letters
                    .send(message, DeadLetterKind::UnexpectedType, &reason)
                    .await?;
            }
            Err(error) => {
                let reason = error.to_string();
                dead_letters
                    .send_from(message, DeadLetterKind::Decode, &reason, error.provider())
                    .await?
            }
        }
        Ok(())
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
mod tests;
