//! [`Store`] on a local SQLite file, through libsql.
//!
//! The file is shared safely between processes (WAL journal, busy timeout),
//! so `rfq producer`, `rfq aggregator` and `rfq api` may run as separate
//! processes on one machine against the same path. Commits are synchronous
//! (`synchronous=FULL`): once `apply` returns, the effects survive a crash.
//!
//! Writes are committed in groups: the writes waiting when the writer gets
//! to them go into one transaction, each in a savepoint of its own (a
//! write that fails is rolled back alone and its caller told), and every
//! caller is answered once the one commit is durable. Under load this
//! turns one disk sync per write into one per group; alone, a write waits
//! for nobody.

mod api_keys;
mod keys;
mod partners;
mod prepared;
mod rows;
mod schema;
mod scores;
mod writer;

use crate::{Claimed, KeyClaim, OpenRfq, Store, StoreError, StoredKey, StoredRfq};
use chrono::{DateTime, Utc};
use libsql::params;
use prepared::Prepared;
use rfq_core::auth::{KeyDigest, Principal, partners::Partner, scram::ScramCredential};
use rfq_core::{
    CorrelationId, Effect, JudgedAnswer, PartnerName, ProviderId, ScoreLine, ScoreWindow,
};
use rows::{
    Fields, RESPONSE_COLUMNS, RFQ_COLUMNS, millis, read_rows, response_from_row, rfq_from_row, time,
};
use schema::{connect, migrate};
use std::{collections::HashMap, path::Path};
use tokio::sync::{Mutex, mpsc, oneshot};
use writer::{MAX_GROUP, Write, write_groups};

/// The embedded store.
pub struct EmbeddedStore {
    /// Keeps the database open.
    _db: libsql::Database,
    /// The writer's queue: its connection commits what is waiting, a group
    /// at a time ([`write_groups`]).
    writes: mpsc::Sender<Write>,
    /// The connection reads go through (WAL: readers do not block the
    /// writer). One: a second, tried, gained nothing on 2 CPUs (a read runs
    /// SQLite on the task's thread).
    reader: Mutex<Prepared>,
    /// The connection idempotency keys are claimed on.
    keys: Mutex<keys::Keys>,
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store at `path`.
    pub async fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(backend)?;
        }
        let db = libsql::Builder::new_local(path)
            .build()
            .await
            .map_err(backend)?;
        let writer = connect(&db).await?;
        migrate(&writer).await?;
        let reader = connect(&db).await?;
        let keys = keys::Keys::new(connect(&db).await?);
        let (writes, queue) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(write_groups(Prepared::new(writer), queue));
        Ok(EmbeddedStore {
            _db: db,
            writes,
            reader: Mutex::new(Prepared::new(reader)),
            keys: Mutex::new(keys),
        })
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn apply(&self, effects: &[Effect]) -> Result<(), StoreError> {
        if effects.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        let write = Write {
            effects: effects.to_vec(),
            done,
        };
        let gone = || StoreError::Backend("the store's writer has stopped".to_owned());
        self.writes.send(write).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn rfq(&self, id: &CorrelationId) -> Result<Option<StoredRfq>, StoreError> {
        let mut reader = self.reader.lock().await;
        let found = read_rows(
            &mut reader,
            &format!(
                "SELECT {RFQ_COLUMNS}, \
                 (SELECT COUNT(*) FROM responses WHERE rfq_id = rfqs.id AND late = 0) \
                 AS responses_received \
                 FROM rfqs WHERE id = ?1"
            ),
            params![id.to_string()],
            |row| {
                let (rfq, status) = rfq_from_row(row)?;
                Ok(StoredRfq {
                    rfq,
                    status,
                    responses_received: u32::try_from(row.int("responses_received")?)
                        .map_err(corrupt)?,
                })
            },
        )
        .await?;
        Ok(found.into_iter().next())
    }

    async fn responses(&self, id: &CorrelationId) -> Result<Vec<JudgedAnswer>, StoreError> {
        let mut reader = self.reader.lock().await;
        read_rows(
            &mut reader,
            &format!(
                "SELECT {RESPONSE_COLUMNS} FROM responses WHERE rfq_id = ?1 \
                 ORDER BY late, seq"
            ),
            params![id.to_string()],
            response_from_row,
        )
        .await
    }

    async fn open_rfqs(&self, partition: i32) -> Result<Vec<OpenRfq>, StoreError> {
        let mut reader = self.reader.lock().await;
        let rfqs = read_rows(
            &mut reader,
            &format!(
                "SELECT {RFQ_COLUMNS} FROM rfqs \
                 WHERE partition = ?1 AND closed_at IS NULL"
            ),
            params![partition],
            rfq_from_row,
        )
        .await?;
        let mut open = Vec::new();
        let mut index = HashMap::new();
        for (rfq, _) in rfqs {
            index.insert(rfq.id, open.len());
            open.push(OpenRfq {
                rfq,
                responses: Vec::new(),
            });
        }
        let responses = read_rows(
            &mut reader,
            &format!(
                "SELECT {RESPONSE_COLUMNS} FROM responses WHERE rfq_id IN \
                 (SELECT id FROM rfqs WHERE partition = ?1 AND closed_at IS NULL) \
                 ORDER BY rfq_id, late, seq"
            ),
            params![partition],
            response_from_row,
        )
        .await?;
        for kept in responses {
            // An RFQ closed between the two queries is simply not in the index.
            if let Some(at) = index.get(&kept.answer.rfq) {
                open[*at].responses.push(kept);
            }
        }
        Ok(open)
    }

    async fn open_count(&self) -> Result<u64, StoreError> {
        let mut reader = self.reader.lock().await;
        let counts = read_rows(
            &mut reader,
            "SELECT value FROM counters WHERE name = 'open'",
            (),
            |row| u64::try_from(row.int("value")?).map_err(corrupt),
        )
        .await?;
        Ok(counts.into_iter().next().unwrap_or(0))
    }

    async fn claim_key(&self, claim: &KeyClaim, now: DateTime<Utc>) -> Result<Claimed, StoreError> {
        self.keys.lock().await.claim(claim, now).await
    }

    async fn complete_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.keys.lock().await.complete(claim).await
    }

    async fn release_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.keys.lock().await.release(claim).await
    }

    async fn api_key_principal(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        api_keys::find(&mut *self.reader.lock().await, digest).await
    }

    async fn add_api_key(
        &self,
        digest: &KeyDigest,
        principal: &Principal,
    ) -> Result<(), StoreError> {
        api_keys::add(self.keys.lock().await.connection(), digest, principal).await
    }

    async fn api_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        api_keys::list(&mut *self.reader.lock().await).await
    }

    async fn add_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        partners::add(self.keys.lock().await.connection(), partner).await
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        partners::read(&mut *self.reader.lock().await, None).await
    }

    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, StoreError> {
        let found = partners::read(&mut *self.reader.lock().await, Some(name)).await?;
        Ok(found.into_iter().next())
    }

    async fn rotate_partner(
        &self,
        name: &PartnerName,
        scram: &ScramCredential,
        registry_digest: &KeyDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().await;
        partners::rotate(keys.connection(), name, scram, registry_digest, at).await
    }

    async fn remove_partner(&self, name: &PartnerName) -> Result<bool, StoreError> {
        partners::remove(self.keys.lock().await.connection(), name).await
    }

    async fn score_lines(
        &self,
        provider: &ProviderId,
        window: &ScoreWindow,
    ) -> Result<Vec<ScoreLine>, StoreError> {
        scores::lines(&mut *self.reader.lock().await, provider, window).await
    }

    async fn scored_providers(
        &self,
        window: &ScoreWindow,
        after: Option<&ProviderId>,
        limit: usize,
    ) -> Result<Vec<ProviderId>, StoreError> {
        scores::providers(&mut *self.reader.lock().await, window, after, limit).await
    }
}

#[cfg(test)]
mod tests;
