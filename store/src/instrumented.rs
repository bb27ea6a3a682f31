//! Store metrics in one place for every implementation: how long each
//! operation takes, how many fail and how many effects are applied, by
//! store (`embedded`, `scylladb`) and operation. A slow or failing store is
//! what stalls the aggregator's offsets and the producer's 202s, so data
//! teams see it on the dashboard before customers do.

use crate::{Claimed, KeyClaim, OpenRfq, Store, StoreError, StoredKey, StoredRfq};
use chrono::{DateTime, Utc};
use prometheus::{HistogramVec, IntCounterVec};
use rfq_core::{
    CorrelationId, Effect, JudgedAnswer,
    metrics::{counter_vec, histogram_vec},
};
use rfq_core::{
    PartnerName, ProviderId, ScoreLine, ScoreWindow,
    auth::{KeyDigest, Principal, partners::Partner, scram::ScramCredential},
};
use std::{future::Future, sync::Arc, sync::LazyLock, time::Instant};

static SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "rfq_store_operation_seconds",
        "Duration of result-store operations, by store and operation",
        &["store", "op"],
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ],
    )
});

static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_store_errors_total",
        "Result-store operations that failed, by store and operation",
        &["store", "op"],
    )
});

static EFFECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_store_effects_total",
        "Effects applied to the result store, by store and kind",
        &["store", "effect"],
    )
});

/// A store that measures another.
pub struct Instrumented {
    /// The measured store.
    inner: Arc<dyn Store>,
    /// Its label: `embedded` or `scylladb`.
    kind: &'static str,
}

impl Instrumented {
    /// Measures `inner` under the label `kind`.
    pub fn new(inner: Arc<dyn Store>, kind: &'static str) -> Instrumented {
        Instrumented { inner, kind }
    }

    async fn timed<T>(
        &self,
        op: &str,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = operation.await;
        SECONDS
            .with_label_values(&[self.kind, op])
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            ERRORS.with_label_values(&[self.kind, op]).inc();
        }
        result
    }
}

#[async_trait::async_trait]
impl Store for Instrumented {
    async fn apply(&self, effects: &[Effect]) -> Result<(), StoreError> {
        self.timed("apply", self.inner.apply(effects)).await?;
        for effect in effects {
            EFFECTS.with_label_values(&[self.kind, effect.kind()]).inc();
        }
        Ok(())
    }

    async fn rfq(&self, id: &CorrelationId) -> Result<Option<StoredRfq>, StoreError> {
        self.timed("rfq", self.inner.rfq(id)).await
    }

    async fn responses(&self, id: &CorrelationId) -> Result<Vec<JudgedAnswer>, StoreError> {
        self.timed("responses", self.inner.responses(id)).await
    }

    async fn open_rfqs(&self, partition: i32) -> Result<Vec<OpenRfq>, StoreError> {
        self.timed("open_rfqs", self.inner.open_rfqs(partition))
            .await
    }

    async fn open_count(&self) -> Result<u64, StoreError> {
        self.timed("open_count", self.inner.open_count()).await
    }

    async fn claim_key(&self, claim: &KeyClaim, now: DateTime<Utc>) -> Result<Claimed, StoreError> {
        self.timed("claim_key", self.inner.claim_key(claim, now))
            .await
    }

    async fn complete_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.timed("complete_key", self.inner.complete_key(claim))
            .await
    }

    async fn release_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.timed("release_key", self.inner.release_key(claim))
            .await
    }

    async fn api_key_principal(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        self.timed("api_key_principal", self.inner.api_key_principal(digest))
            .await
    }

    async fn add_api_key(
        &self,
        digest: &KeyDigest,
        principal: &Principal,
    ) -> Result<(), StoreError> {
        self.timed("add_api_key", self.inner.add_api_key(digest, principal))
            .await
    }

    async fn add_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        self.timed("add_partner", self.inner.add_partner(partner))
            .await
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        self.timed("partners", self.inner.partners()).await
    }

    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, StoreError> {
        self.timed("partner", self.inner.partner(name)).await
    }

    async fn rotate_partner(
        &self,
        name: &PartnerName,
        scram: &ScramCredential,
        registry_digest: &KeyDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rotated = self.inner.rotate_partner(name, scram, registry_digest, at);
        self.timed("rotate_partner", rotated).await
    }

    async fn remove_partner(&self, name: &PartnerName) -> Result<bool, StoreError> {
        self.timed("remove_partner", self.inner.remove_partner(name))
            .await
    }

    async fn api_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.timed("api_keys", self.inner.api_keys()).await
    }

    async fn score_lines(
        &self,
        provider: &ProviderId,
        window: &ScoreWindow,
    ) -> Result<Vec<ScoreLine>, StoreError> {
        self.timed("score_lines", self.inner.score_lines(provider, window))
            .await
    }

    async fn scored_providers(
        &self,
        window: &ScoreWindow,
        after: Option<&ProviderId>,
        limit: usize,
    ) -> Result<Vec<ProviderId>, StoreError> {
        let listed = self.inner.scored_providers(window, after, limit);
        self.timed("scored_providers", listed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;

    #[tokio::test]
    async fn operations_and_effects_are_counted_by_store_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let inner = Arc::new(EmbeddedStore::open(&dir.path().join("m.db")).await.unwrap());
        let store = Instrumented::new(inner, "test-store");
        let closes = || EFFECTS.with_label_values(&["test-store", "close"]).get();
        let applies = || {
            SECONDS
                .with_label_values(&["test-store", "apply"])
                .get_sample_count()
        };
        let (closes_before, applies_before) = (closes(), applies());
        let close = |n: u8| Effect::Close {
            rfq: CorrelationId::from(uuid::Uuid::from_bytes([n; 16])),
            partition: 0,
            reason: rfq_core::CloseReason::Deadline,
            closed_at: chrono::Utc::now(),
        };
        store.apply(&[close(1), close(2)]).await.unwrap();
        assert_eq!(closes() - closes_before, 2);
        assert_eq!(applies() - applies_before, 1);
        store.open_count().await.unwrap();
        let counted = SECONDS
            .with_label_values(&["test-store", "open_count"])
            .get_sample_count();
        assert_eq!(counted, 1);
    }
}
