//! [`Store`] on ScyllaDB, through the `scylla` driver.
//!
//! The tables (`store/cql/001_initial.cql`) are modelled on the queries we
//! run: an RFQ by id, its answers, the open RFQs of a Kafka partition, the
//! number of open RFQs. Every statement is prepared once, at open, with the
//! configured consistency, and marked idempotent: each write carries an
//! explicit write timestamp, so a retry or a replay writes identical cells.
//! The first-wins rules of the contract hold without lightweight
//! transactions: a close and an answer are stamped so that the earliest one
//! wins (see [`rows::first_wins_stamp`]; stamps are never in the future,
//! which ScyllaDB refuses); deleting an RFQ's open-index entry is stamped
//! above its insertion, so a replayed open cannot resurrect it.
//!
//! An [`apply`](Store::apply) is not one transaction (a logged batch across
//! partitions would cost more than it buys): it writes opens, then answers
//! (an RFQ's as one unlogged batch: one partition, one round trip), then
//! closes, then scorecard lines, each group concurrently, and returns once
//! all are acknowledged at the configured consistency. A crash half-way leaves
//! effects that the replay of the same records rewrites: the contract's
//! "apply then store the offset" still makes it exactly-once in effect.
//!
//! Retention: rows carry a TTL of what is left until the RFQ's deadline plus
//! `--scylla-retention-days`; answers keep one more day (a deadline is at
//! most a day: `rfq_core::MAX_DEADLINE_SECONDS`, enforced on the producer's
//! `--max-deadline-seconds`). Requests in flight are bounded by a semaphore.

mod api_keys;
mod config;
mod keys;
mod partners;
mod rows;
mod schema;
mod scores;
mod statements;
mod writes;

pub use config::{Replication, ScyllaSettings, parse_consistency};
pub use schema::MIGRATIONS;

use crate::{Claimed, KeyClaim, OpenRfq, RfqStatus, Store, StoreError, StoredKey, StoredRfq};
use chrono::{DateTime, Utc};
use futures::{TryStreamExt, future::try_join_all};
use rfq_core::{
    CorrelationId, Effect, JudgedAnswer, PartnerName, ProviderId, ScoreLine, ScoreWindow,
    auth::{KeyDigest, Principal, partners::Partner, scram::ScramCredential},
};
use rows::{OPEN_BUCKETS, ResponseRow, RfqRow};
use scylla::{
    client::session::Session, response::query_result::QueryResult, serialize::row::SerializeRow,
    statement::prepared::PreparedStatement,
};
use statements::Statements;
use std::{collections::HashMap, time::Duration};
use tokio::sync::Semaphore;

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// The ScyllaDB store.
pub struct ScyllaStore {
    /// The driver's session (connection pools to every node).
    session: Session,
    /// The statements.
    statements: Statements,
    /// Bounds the requests in flight.
    in_flight: Semaphore,
    /// How long closed RFQs are kept.
    retention: Duration,
}

impl ScyllaStore {
    /// Connects, applies the schema (idempotent) and prepares the statements.
    pub async fn open(settings: &ScyllaSettings) -> Result<ScyllaStore, StoreError> {
        let session = settings.connect().await?;
        schema::migrate(&session, &settings.keyspace, &settings.replication.cql()).await?;
        let statements = Statements::prepare(&session, settings).await?;
        let permits = usize::try_from(settings.max_in_flight).unwrap_or(256);
        Ok(ScyllaStore {
            session,
            statements,
            in_flight: Semaphore::new(permits),
            retention: settings.retention(),
        })
    }

    /// Runs one statement, within the in-flight bound.
    async fn run(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, StoreError> {
        let _permit = self.in_flight.acquire().await.map_err(backend)?;
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend)
    }

    /// Runs a paged query, collecting its rows, within the in-flight bound.
    async fn rows<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + 'static,
    {
        let _permit = self.in_flight.acquire().await.map_err(backend)?;
        let pager = self
            .session
            .execute_iter(statement.clone(), values)
            .await
            .map_err(backend)?;
        pager
            .rows_stream::<R>()
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)
    }

    async fn rfq_row(
        &self,
        id: &CorrelationId,
    ) -> Result<Option<(rfq_core::Rfq, RfqStatus)>, StoreError> {
        let result = self
            .run(&self.statements.select_rfq, (*id.as_uuid(),))
            .await?;
        let rows = result.into_rows_result().map_err(backend)?;
        match rows.maybe_first_row::<RfqRow>().map_err(backend)? {
            Some(row) => row.into_domain(),
            None => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl Store for ScyllaStore {
    async fn apply(&self, effects: &[Effect]) -> Result<(), StoreError> {
        // Opens, then answers, then closes, then scorecard lines: a reader
        // that sees a close sees the answers it was decided on.
        let phase = |effect: &Effect| match effect {
            Effect::Open(_) => 0,
            Effect::Answer(_) => 1,
            Effect::Close { .. } => 2,
            Effect::Score(_) | Effect::ScoreLate { .. } => 3,
        };
        for current in 0..4 {
            if current == 1 {
                // The answers of one RFQ as one batch, in the order of
                // their numbers (RFQs in parallel): one partition, so the
                // batch is atomic and isolated, and a reader sees an
                // unbroken run 1..k of an RFQ's answers, never answer 4
                // without 3, which a live stream resuming after 4 would
                // miss for good, and a recovery after a failed write
                // would number twice.
                let mut by_rfq: HashMap<CorrelationId, Vec<&JudgedAnswer>> = HashMap::new();
                for effect in effects {
                    if let Effect::Answer(kept) = effect {
                        by_rfq.entry(kept.answer.rfq).or_default().push(kept);
                    }
                }
                try_join_all(by_rfq.into_values().map(|mut answers| async move {
                    answers.sort_by_key(|kept| kept.seq);
                    self.write_answers(&answers).await
                }))
                .await?;
                continue;
            }
            try_join_all(
                effects
                    .iter()
                    .filter(|effect| phase(effect) == current)
                    .map(|effect| self.write(effect)),
            )
            .await?;
        }
        Ok(())
    }

    async fn rfq(&self, id: &CorrelationId) -> Result<Option<StoredRfq>, StoreError> {
        let Some((rfq, status)) = self.rfq_row(id).await? else {
            return Ok(None);
        };
        let responses_received = self
            .responses(id)
            .await?
            .iter()
            .filter(|r| !r.is_late())
            .count();
        Ok(Some(StoredRfq {
            rfq,
            status,
            responses_received: u32::try_from(responses_received).map_err(backend)?,
        }))
    }

    async fn responses(&self, id: &CorrelationId) -> Result<Vec<JudgedAnswer>, StoreError> {
        let rows: Vec<ResponseRow> = self
            .rows(&self.statements.select_responses, (*id.as_uuid(),))
            .await?;
        let mut responses = rows
            .into_iter()
            .map(ResponseRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        // Rows written before answers were numbered have none (0): they are
        // the first ones, numbered 1..k by arrival as the aggregator would
        // have (numbered rows keep theirs).
        if responses.iter().any(|kept| kept.seq == 0) {
            responses.sort_by(|a, b| {
                (a.seq != 0, a.received_at, a.answer.provider.as_str()).cmp(&(
                    b.seq != 0,
                    b.received_at,
                    b.answer.provider.as_str(),
                ))
            });
            for (at, kept) in responses
                .iter_mut()
                .take_while(|kept| kept.seq == 0)
                .enumerate()
            {
                kept.seq = u32::try_from(at + 1).unwrap_or(u32::MAX);
            }
        }
        responses.sort_by_key(|kept| (kept.is_late(), kept.seq));
        Ok(responses)
    }

    async fn open_rfqs(&self, partition: i32) -> Result<Vec<OpenRfq>, StoreError> {
        let ids: Vec<Vec<(uuid::Uuid,)>> = try_join_all(
            (0..OPEN_BUCKETS)
                .map(|bucket| self.rows(&self.statements.select_open, (bucket, partition))),
        )
        .await?;
        let loaded = try_join_all(ids.into_iter().flatten().map(|(id,)| async move {
            let id = CorrelationId::from(id);
            match self.rfq_row(&id).await? {
                Some((rfq, RfqStatus::Open)) => {
                    let responses = self.responses(&id).await?;
                    Ok::<_, StoreError>(Some(OpenRfq { rfq, responses }))
                }
                // Closed (a stale index entry) or expired.
                _ => Ok(None),
            }
        }))
        .await?;
        let mut open: Vec<OpenRfq> = loaded.into_iter().flatten().collect();
        open.sort_by_key(|o| (o.rfq.created_at, *o.rfq.id.as_uuid()));
        Ok(open)
    }

    async fn open_count(&self) -> Result<u64, StoreError> {
        let counts = try_join_all((0..OPEN_BUCKETS).map(|bucket| async move {
            let result = self.run(&self.statements.count_open, (bucket,)).await?;
            let rows = result.into_rows_result().map_err(backend)?;
            let (count,) = rows.single_row::<(i64,)>().map_err(backend)?;
            u64::try_from(count).map_err(backend)
        }))
        .await?;
        Ok(counts.iter().sum())
    }

    async fn claim_key(&self, claim: &KeyClaim, now: DateTime<Utc>) -> Result<Claimed, StoreError> {
        self.claim(claim, now).await
    }

    async fn complete_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.complete(claim).await
    }

    async fn release_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.release(claim).await
    }

    async fn api_key_principal(&self, digest: &KeyDigest) -> Result<Option<Principal>, StoreError> {
        self.key_principal(digest).await
    }

    async fn add_api_key(
        &self,
        digest: &KeyDigest,
        principal: &Principal,
    ) -> Result<(), StoreError> {
        self.add_key(digest, principal).await
    }

    async fn api_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.keys().await
    }

    async fn add_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        self.insert_partner(partner).await
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        self.read_partners(None).await
    }

    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, StoreError> {
        Ok(self.read_partners(Some(name)).await?.into_iter().next())
    }

    async fn rotate_partner(
        &self,
        name: &PartnerName,
        scram: &ScramCredential,
        registry_digest: &KeyDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.rotate(name, scram, registry_digest, at).await
    }

    async fn remove_partner(&self, name: &PartnerName) -> Result<bool, StoreError> {
        self.remove(name).await
    }

    async fn score_lines(
        &self,
        provider: &ProviderId,
        window: &ScoreWindow,
    ) -> Result<Vec<ScoreLine>, StoreError> {
        self.lines(provider, window).await
    }

    async fn scored_providers(
        &self,
        window: &ScoreWindow,
        after: Option<&ProviderId>,
        limit: usize,
    ) -> Result<Vec<ProviderId>, StoreError> {
        self.providers(window, after, limit).await
    }
}
