//! Which partner hosts each provider, for the `partner` label of the
//! per-partner metrics (`rfq_provider_*`, `crate::metrics`).
//!
//! A partner is the adapter that hosts a provider: the `adapter` field of
//! the provider's heartbeat on the (compacted) providers topic. The
//! aggregator's records name providers, not adapters, so every aggregator
//! instance follows that topic from its beginning, as the producer's
//! registry does, and keeps the latest adapter of each provider.
//!
//! Labels must stay bounded whatever the adapters call themselves: a
//! Prometheus series per provider would grow with the fleet (the
//! per-provider view is the API's scorecards, `GET /providers`). So at
//! most [`MAX_PARTNERS`] distinct partner names become labels, first come
//! first served; further ones read [`OTHER`], and a provider whose
//! heartbeat was not (yet) read reads [`UNKNOWN`].
//!
//! This is for metrics only, never for decisions: a heartbeat read late
//! (at start-up, the topic is still being read) labels a few answers
//! `unknown`, which is harmless.

use rdkafka::{Message as _, Offset, message::BorrowedMessage};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    ProviderHeartbeat, ProviderId,
    kafka::{Follow, Follower, KafkaSettings},
};
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
};
use tokio_util::sync::CancellationToken;

/// The most distinct partner names used as label values.
pub const MAX_PARTNERS: usize = 64;

/// The label of a partner beyond the first [`MAX_PARTNERS`].
pub const OTHER: &str = "other";

/// The label of a provider whose heartbeat was not read.
pub const UNKNOWN: &str = "unknown";

/// The longest partner name kept as a label (longer ones are cut at a
/// character boundary): a label value is not a place for a document.
const MAX_LABEL_CHARS: usize = 64;

/// The partner of every provider seen, shared by the follower that fills
/// it and the judge that labels metrics with it.
#[derive(Clone, Default)]
pub struct Partners {
    /// The map, behind a lock held for a lookup or an update only.
    known: Arc<RwLock<Known>>,
}

/// What [`Partners`] knows.
#[derive(Default)]
struct Known {
    /// The label of each provider and when its heartbeat was sent (a
    /// heartbeat older than the one applied is ignored).
    providers: HashMap<ProviderId, (Arc<str>, chrono::DateTime<chrono::Utc>)>,
    /// The partner names admitted as labels (at most [`MAX_PARTNERS`]).
    labels: BTreeSet<Arc<str>>,
}

impl Partners {
    /// Records the partner of a heartbeat's provider, unless a newer
    /// heartbeat of that provider was applied.
    pub fn apply(&self, heartbeat: &ProviderHeartbeat) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, at)) = known.providers.get(&heartbeat.provider)
            && *at > heartbeat.at
        {
            return;
        }
        let name: String = heartbeat.adapter.chars().take(MAX_LABEL_CHARS).collect();
        let label = match known.labels.get(name.as_str()) {
            Some(label) => label.clone(),
            None if known.labels.len() < MAX_PARTNERS && name != OTHER && name != UNKNOWN => {
                let label: Arc<str> = name.into();
                known.labels.insert(label.clone());
                label
            }
            None => Arc::from(OTHER),
        };
        known
            .providers
            .insert(heartbeat.provider.clone(), (label, heartbeat.at));
    }

    /// The partner label of `provider`: its partner, [`OTHER`] or
    /// [`UNKNOWN`].
    pub fn label(&self, provider: &ProviderId) -> Arc<str> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        match known.providers.get(provider) {
            Some((label, _)) => label.clone(),
            None => Arc::from(UNKNOWN),
        }
    }
}

/// Reads the providers topic from its beginning into `partners` until
/// `shutdown`. A record that is not a readable heartbeat is skipped (the
/// producer's registry dead-letters it already; one dead letter per bad
/// record is enough). Ends with an error only if the consumer cannot be set
/// up or the broker fails for good.
pub async fn follow(
    kafka: KafkaSettings,
    topic: String,
    partners: Partners,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let follower =
        Follower::every_partition(&kafka, "rfq-aggregator-partners", &topic, Offset::Beginning)
            .await?;
    let heartbeats = Heartbeats {
        topic,
        partners,
        codec,
    };
    follower.run(heartbeats, shutdown).await
}

/// What the follower does with each record of the providers topic.
struct Heartbeats {
    /// The providers topic.
    topic: String,
    /// The map to fill.
    partners: Partners,
    /// Decodes the records.
    codec: SharedCodec,
}

impl Follow for Heartbeats {
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let payload = message.payload().unwrap_or_default();
        match rfq_avro::decode_patiently(self.codec.as_ref(), &self.topic, payload).await {
            Ok(Record::Heartbeat(heartbeat)) => self.partners.apply(&heartbeat),
            Ok(other) => tracing::debug!(
                record = ?other.record_type(),
                "not a heartbeat on the providers topic: skipped"
            ),
            Err(error) => tracing::debug!(%error, "unreadable heartbeat: skipped"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
