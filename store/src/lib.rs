//! The result store: what the aggregator persists and the read API serves.
//!
//! [`Store`] is the contract; [`EmbeddedStore`] implements it on a local
//! SQLite file through libsql (the SQLite the embedded broker already links,
//! so the binary carries one copy), and the ScyllaDB store implements the same
//! trait for production. Every write is an [`Effect`] applied idempotently, so
//! a record redelivered after a crash changes nothing: the aggregator may
//! store a Kafka offset as soon as [`Store::apply`] returned.
//!
//! The store also keeps the producer's idempotency keys ([`KeyClaim`]): a
//! claim is the one write that is not an effect, because it must be atomic
//! across producers (first claim wins) and it answers with what was there.
//! And it keeps the customers' API keys (`rfq keys`) and the scorecard
//! lines written at each close, which the api's scorecards read.
//!
//! And it keeps partners' identities (`rfq partners`): their Kafka SCRAM
//! credential and registry password digest, never a password.
//!
//! Both stores pass one conformance suite (`tests/it/store.rs`).

mod embedded;
mod instrumented;
pub mod scylladb;

pub use embedded::EmbeddedStore;
pub use instrumented::Instrumented;
pub use scylladb::{ScyllaSettings, ScyllaStore};

use chrono::{DateTime, Utc};
use rfq_core::{
    CloseReason, CorrelationId, CustomerId, Effect, IdempotencyKey, JudgedAnswer, PartnerName,
    ProviderId, Rfq, ScoreLine, ScoreWindow,
    auth::{KeyDigest, partners::Partner, scram::ScramCredential},
};

/// Where an RFQ stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RfqStatus {
    /// Gathering answers.
    Open,
    /// Closed; its result is final.
    Closed {
        /// Why it closed.
        reason: CloseReason,
        /// When it closed.
        closed_at: DateTime<Utc>,
    },
}

/// An RFQ as stored, with its status and how many answers arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRfq {
    /// The RFQ as accepted.
    pub rfq: Rfq,
    /// Open or closed.
    pub status: RfqStatus,
    /// Answers (quotes and declines) accepted so far.
    pub responses_received: u32,
}

/// An open RFQ to be recovered by the aggregator that owns its partition.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRfq {
    /// The RFQ.
    pub rfq: Rfq,
    /// The answers stored so far (in time first, then late).
    pub responses: Vec<JudgedAnswer>,
}

/// An idempotency key claimed by a customer for one RFQ: what the
/// producer needs to answer a retry of `POST /rfqs` (RFQ and fingerprint).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyClaim {
    /// Who sent the key: keys are scoped by customer.
    pub customer: CustomerId,
    /// The key.
    pub key: IdempotencyKey,
    /// The request the key was first used with, in a canonical form (a
    /// retry with another fingerprint is refused).
    pub fingerprint: String,
    /// The RFQ created under the key (its id is chosen before it exists).
    pub rfq: CorrelationId,
    /// When the key was claimed.
    pub claimed_at: DateTime<Utc>,
    /// When the key may be used again: past it, a claim reads as absent.
    pub expires_at: DateTime<Utc>,
    /// Whether the RFQ was accepted (the producer's `202`); until then a
    /// retry is told the first request is still being processed.
    pub completed: bool,
}

/// What [`Store::claim_key`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// The key was free (never used, expired or released): it is ours now.
    Won,
    /// The key is held by this (live) claim, maybe for another request.
    Held(KeyClaim),
}

/// A store failure. Callers retry or report; they never store a Kafka offset
/// after one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, connection, ...).
    #[error("store backend: {0}")]
    Backend(String),
    /// Stored data could not be read back into domain types.
    #[error("corrupt stored row: {0}")]
    Corrupt(String),
}

/// The contract every store implements.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Applies `effects` atomically and durably, in order.
    async fn apply(&self, effects: &[Effect]) -> Result<(), StoreError>;

    /// An RFQ by id.
    async fn rfq(&self, id: &CorrelationId) -> Result<Option<StoredRfq>, StoreError>;

    /// The stored answers of an RFQ: in time, then late, each in the order
    /// of their [`JudgedAnswer::seq`] (the order the aggregator kept them).
    async fn responses(&self, id: &CorrelationId) -> Result<Vec<JudgedAnswer>, StoreError>;

    /// The RFQs still open whose return address is `partition`.
    async fn open_rfqs(&self, partition: i32) -> Result<Vec<OpenRfq>, StoreError>;

    /// How many RFQs are open in all (the producer's admission limit).
    async fn open_count(&self) -> Result<u64, StoreError>;

    /// Claims `claim.key` for `claim.customer`, atomically across every
    /// producer: the key is ours ([`Claimed::Won`], `claim` recorded with
    /// `completed` false) unless a live claim holds it, which is returned.
    /// A claim whose `expires_at` is at or before `now` counts as absent.
    async fn claim_key(&self, claim: &KeyClaim, now: DateTime<Utc>) -> Result<Claimed, StoreError>;

    /// Marks the claim as completed (its RFQ was accepted), if the key is
    /// still held for `claim.rfq`; otherwise changes nothing.
    async fn complete_key(&self, claim: &KeyClaim) -> Result<(), StoreError>;

    /// Frees the key (its RFQ was not accepted: a retry may claim it again),
    /// if it is still held for `claim.rfq`; otherwise changes nothing.
    async fn release_key(&self, claim: &KeyClaim) -> Result<(), StoreError>;

    /// The customer whose API key has this digest, if any.
    async fn api_key_customer(&self, digest: &KeyDigest) -> Result<Option<CustomerId>, StoreError>;

    /// Records an API key (by its digest) for `customer`; recording it
    /// again changes nothing (keys are random: a digest has one customer).
    async fn add_api_key(
        &self,
        digest: &KeyDigest,
        customer: &CustomerId,
    ) -> Result<(), StoreError>;

    /// Records a new partner; `false` (nothing written) if the name is
    /// taken, by a partner removed or not (a name is never handed on).
    async fn add_partner(&self, partner: &Partner) -> Result<bool, StoreError>;

    /// Every partner, removed ones included, by name.
    async fn partners(&self) -> Result<Vec<Partner>, StoreError>;

    /// A partner by name, removed or not.
    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, StoreError>;

    /// Replaces the secrets of a partner that is not removed, at `at`;
    /// `false` if there is none such.
    async fn rotate_partner(
        &self,
        name: &PartnerName,
        scram: &ScramCredential,
        registry_digest: &KeyDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a partner removed (its secrets stop working); `false` if
    /// there is no such partner or it was removed already.
    async fn remove_partner(&self, name: &PartnerName) -> Result<bool, StoreError>;

    /// The scorecard lines of `provider` for the RFQs created within
    /// `window` (a silent line with a late answer after the close reads
    /// late: [`ScoreLine::marked_late`]), by creation time then RFQ.
    async fn score_lines(
        &self,
        provider: &ProviderId,
        window: &ScoreWindow,
    ) -> Result<Vec<ScoreLine>, StoreError>;

    /// The providers with at least one scorecard line within `window`,
    /// ascending by id, those after `after` only, at most `limit`.
    async fn scored_providers(
        &self,
        window: &ScoreWindow,
        after: Option<&ProviderId>,
        limit: usize,
    ) -> Result<Vec<ProviderId>, StoreError>;
}

/// The store as the directory of API keys the settings do not name.
pub struct StoreKeys(pub std::sync::Arc<dyn Store>);

#[async_trait::async_trait]
impl rfq_core::auth::KeyDirectory for StoreKeys {
    async fn customer_of(&self, digest: &KeyDigest) -> Result<Option<CustomerId>, String> {
        self.0
            .api_key_customer(digest)
            .await
            .map_err(|error| error.to_string())
    }
}

/// The store as the directory of partners.
pub struct StorePartners(pub std::sync::Arc<dyn Store>);

#[async_trait::async_trait]
impl rfq_core::auth::partners::PartnerDirectory for StorePartners {
    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, String> {
        self.0
            .partner(name)
            .await
            .map_err(|error| error.to_string())
    }

    async fn partners(&self) -> Result<Vec<Partner>, String> {
        self.0.partners().await.map_err(|error| error.to_string())
    }
}

/// The directory of local data (the embedded store's file) when a command
/// names none.
pub const DEFAULT_DATA_DIR: &str = "data";

/// Where results are stored: ScyllaDB when `--scylla-nodes` is set, else
/// the embedded file.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreSettings {
    /// Path of the embedded result store (a SQLite file; shared safely by
    /// processes on one machine). Default: data/results.db; for `rfq up`,
    /// results.db in its data directory.
    #[arg(long = "store-path", env = "RFQ_STORE_PATH")]
    pub store_path: Option<std::path::PathBuf>,

    /// ScyllaDB (production).
    #[command(flatten)]
    pub scylla: ScyllaSettings,
}

impl StoreSettings {
    /// The embedded store at `path`.
    pub fn embedded(path: impl Into<std::path::PathBuf>) -> Self {
        StoreSettings {
            store_path: Some(path.into()),
            scylla: ScyllaSettings::default(),
        }
    }

    /// The embedded store's file: the given path, or `data_dir/results.db`.
    pub fn embedded_path(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        self.store_path
            .clone()
            .unwrap_or_else(|| data_dir.join("results.db"))
    }

    /// These settings with the embedded store's default file in `data_dir`
    /// (`data` unless a command says otherwise).
    pub fn in_data_dir(mut self, data_dir: &std::path::Path) -> Self {
        self.store_path = Some(self.embedded_path(data_dir));
        self
    }

    /// Which store these settings select, for logs.
    pub fn describe(&self) -> String {
        if self.scylla.nodes.is_empty() {
            format!(
                "embedded store {}",
                self.embedded_path(DEFAULT_DATA_DIR.as_ref()).display()
            )
        } else {
            format!(
                "ScyllaDB {} keyspace {}",
                self.scylla.nodes.join(","),
                self.scylla.keyspace
            )
        }
    }

    /// Opens the configured store, creating or migrating its schema, with
    /// its metrics (`rfq_store_*`).
    pub async fn open(&self) -> Result<std::sync::Arc<dyn Store>, StoreError> {
        let (store, kind): (std::sync::Arc<dyn Store>, _) = if self.scylla.nodes.is_empty() {
            (
                std::sync::Arc::new(
                    EmbeddedStore::open(&self.embedded_path(DEFAULT_DATA_DIR.as_ref())).await?,
                ),
                "embedded",
            )
        } else {
            (
                std::sync::Arc::new(ScyllaStore::open(&self.scylla).await?),
                "scylladb",
            )
        };
        Ok(std::sync::Arc::new(Instrumented::new(store, kind)))
    }
}
