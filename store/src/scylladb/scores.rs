//! The ScyllaDB store's scorecard lines (`score_lines`, `scored_providers`,
//! schema file `006_score_lines.cql`): partitioned by provider and day, so
//! a scorecard reads one partition per day of its window, and the
//! providers of a day listed in one partition.
//!
//! A line's cells are stamped from its RFQ's creation (every write of one
//! line carries the same stamp: a replay rewrites identical cells); a late
//! mark's from the late answer ([`rows::first_wins_stamp`]: the first late
//! answer wins). They are different cells, so they commute.

use super::{ScyllaStore, backend, rows};
use crate::StoreError;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use rfq_core::{
    CorrelationId, Currency, Price, ProviderId, ScoreLine, ScoreOutcome, ScoreWindow, day,
};
use scylla::{
    DeserializeRow,
    client::session::Session,
    statement::{Consistency, prepared::PreparedStatement},
    value::CqlTimestamp,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The columns [`LineRow`] reads.
const LINE_COLUMNS: &str = "provider, rfq_id, created_at, outcome, latency_ms, price_minor, \
     currency, rank, quotes, won, duplicates, late_ms";

/// One row of `score_lines` (read by name). Every column but the key may be
/// missing: a row holds only `late_ms` until its line is written.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
struct LineRow {
    /// The provider.
    provider: String,
    /// The RFQ.
    rfq_id: Uuid,
    /// When the RFQ was created.
    created_at: CqlTimestamp,
    /// Quoted, declined, late or silent; `None`: only a late mark so far.
    outcome: Option<String>,
    /// Milliseconds to the answer.
    latency_ms: Option<i32>,
    /// The price quoted in time, minor units.
    price_minor: Option<i64>,
    /// Its currency.
    currency: Option<String>,
    /// Its rank among the RFQ's quotes.
    rank: Option<i32>,
    /// The RFQ's quotes in time.
    quotes: Option<i32>,
    /// Whether it won.
    won: Option<bool>,
    /// Duplicates refused.
    duplicates: Option<i32>,
    /// Milliseconds to a late answer after the close.
    late_ms: Option<i32>,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// An optional non-negative `int` column.
fn small(value: Option<i32>) -> Result<Option<u32>, StoreError> {
    value.map(|n| u32::try_from(n).map_err(corrupt)).transpose()
}

/// A `u32` as an `int` column (saturating).
fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl LineRow {
    /// The line, if the row holds one.
    fn into_domain(self) -> Result<Option<ScoreLine>, StoreError> {
        let Some(outcome) = self.outcome else {
            return Ok(None);
        };
        let price = match (self.price_minor, self.currency) {
            (Some(minor), Some(currency)) => {
                let currency = Currency::parse(&currency).map_err(corrupt)?;
                Some(Price::new(minor, currency).map_err(corrupt)?)
            }
            _ => None,
        };
        let line = ScoreLine {
            provider: ProviderId::parse(&self.provider).map_err(corrupt)?,
            rfq: CorrelationId::from(self.rfq_id),
            created_at: DateTime::<Utc>::from_timestamp_millis(self.created_at.0)
                .ok_or_else(|| corrupt(format!("timestamp {}", self.created_at.0)))?,
            outcome: ScoreOutcome::parse(&outcome)
                .ok_or_else(|| corrupt(format!("score outcome {outcome:?}")))?,
            latency_ms: small(self.latency_ms)?,
            price,
            rank: small(self.rank)?,
            quotes: small(self.quotes)?.unwrap_or(0),
            won: self.won.unwrap_or(false),
            duplicates: small(self.duplicates)?.unwrap_or(0),
        };
        Ok(Some(line.marked_late(small(self.late_ms)?)))
    }
}

/// The prepared statements of the scorecard lines.
pub(super) struct ScoreStatements {
    /// Writes a line's cells.
    insert_line: PreparedStatement,
    /// Writes a late mark's cell.
    mark_late: PreparedStatement,
    /// Lists a provider on a day.
    insert_provider: PreparedStatement,
    /// Reads a provider's lines of a day within a time range.
    select_lines: PreparedStatement,
    /// Reads the providers of a day after one, at most so many.
    select_providers: PreparedStatement,
}

impl ScoreStatements {
    /// Prepares the statements on `session` at `consistency`.
    pub(super) async fn prepare(
        session: &Session,
        keyspace: &str,
        consistency: Consistency,
    ) -> Result<ScoreStatements, StoreError> {
        let prepare = async |cql: String| {
            let mut statement = session
                .prepare(cql.as_str())
                .await
                .map_err(|e| backend(format!("preparing {cql}: {e}")))?;
            statement.set_consistency(consistency);
            statement.set_is_idempotent(true);
            Ok::<_, StoreError>(statement)
        };
        let lines = format!("{keyspace}.score_lines");
        Ok(ScoreStatements {
            insert_line: prepare(format!(
                "INSERT INTO {lines} (provider, day, created_at, rfq_id, outcome, latency_ms, \
                 price_minor, currency, rank, quotes, won, duplicates) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?"
            ))
            .await?,
            mark_late: prepare(format!(
                "UPDATE {lines} USING TIMESTAMP ? AND TTL ? SET late_ms = ? \
                 WHERE provider = ? AND day = ? AND created_at = ? AND rfq_id = ?"
            ))
            .await?,
            insert_provider: prepare(format!(
                "INSERT INTO {keyspace}.scored_providers (day, provider) VALUES (?, ?) \
                 USING TTL ?"
            ))
            .await?,
            select_lines: prepare(format!(
                "SELECT {LINE_COLUMNS} FROM {lines} WHERE provider = ? AND day = ? \
                 AND created_at >= ? AND created_at < ?"
            ))
            .await?,
            select_providers: prepare(format!(
                "SELECT provider FROM {keyspace}.scored_providers \
                 WHERE day = ? AND provider > ? LIMIT ?"
            ))
            .await?,
        })
    }
}

impl ScyllaStore {
    /// Writes a line ([`rfq_core::Effect::Score`]) and lists its provider
    /// on its day.
    pub(super) async fn write_line(&self, line: &ScoreLine) -> Result<(), StoreError> {
        let s = &self.statements.scores;
        let now = Utc::now();
        let ttl = rows::ttl(&now, &now, self.retention);
        let day = day(line.created_at);
        let values = (
            line.provider.as_str(),
            day,
            rows::cql_time(&line.created_at),
            *line.rfq.as_uuid(),
            line.outcome.as_str(),
            line.latency_ms.map(int),
            line.price.as_ref().map(Price::minor),
            line.price
                .as_ref()
                .map(|p| p.currency().as_str().to_owned()),
            line.rank.map(int),
            int(line.quotes),
            line.won,
            int(line.duplicates),
            rows::first_wins_stamp(&line.created_at),
            ttl,
        );
        self.run(&s.insert_line, values).await?;
        self.run(&s.insert_provider, (day, line.provider.as_str(), ttl))
            .await?;
        Ok(())
    }

    /// Marks a line late ([`rfq_core::Effect::ScoreLate`]).
    pub(super) async fn write_late(
        &self,
        provider: &ProviderId,
        rfq: &CorrelationId,
        created_at: &DateTime<Utc>,
        latency_ms: u32,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let answered = *created_at + chrono::Duration::milliseconds(i64::from(latency_ms));
        let values = (
            rows::first_wins_stamp(&answered),
            rows::ttl(&now, &now, self.retention),
            int(latency_ms),
            provider.as_str(),
            day(*created_at),
            rows::cql_time(created_at),
            *rfq.as_uuid(),
        );
        self.run(&self.statements.scores.mark_late, values).await?;
        Ok(())
    }

    /// [`Store::score_lines`](crate::Store::score_lines): one partition per
    /// day of the window, read concurrently.
    pub(super) async fn lines(
        &self,
        provider: &ProviderId,
        window: &ScoreWindow,
    ) -> Result<Vec<ScoreLine>, StoreError> {
        let (since, until) = (
            rows::cql_time(&window.since()),
            rows::cql_time(&window.until()),
        );
        let days = try_join_all(window.days().map(|day| {
            let values = (provider.as_str(), day, since, until);
            self.rows::<LineRow>(&self.statements.scores.select_lines, values)
        }))
        .await?;
        let mut lines = Vec::new();
        for row in days.into_iter().flatten() {
            lines.extend(row.into_domain()?);
        }
        lines.sort_by_key(|line| (line.created_at, *line.rfq.as_uuid()));
        Ok(lines)
    }

    /// [`Store::scored_providers`](crate::Store::scored_providers): the
    /// providers listed on the window's days, merged in order. One listed
    /// on a day the window covers whole has a line in it; one listed only
    /// on the first or last day (partly covered) is checked.
    pub(super) async fn providers(
        &self,
        window: &ScoreWindow,
        after: Option<&ProviderId>,
        limit: usize,
    ) -> Result<Vec<ProviderId>, StoreError> {
        let days: Vec<i32> = window.days().collect();
        let whole = |d: i32| d != day(window.since()) && d != day(window.until());
        let batch = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let mut cursor = after.map_or(String::new(), |p| p.as_str().to_owned());
        let mut found = Vec::new();
        loop {
            let per_day = try_join_all(days.iter().map(|day| {
                let values = (*day, cursor.as_str(), batch);
                self.rows::<(String,)>(&self.statements.scores.select_providers, values)
            }))
            .await?;
            // Past the last provider of a full batch, a day may list more:
            // only names up to the lowest such horizon are complete.
            let horizon = per_day
                .iter()
                .filter(|listed| listed.len() >= usize::try_from(batch).unwrap_or(limit))
                .filter_map(|listed| listed.last().map(|(p,)| p.clone()))
                .min();
            let mut candidates: BTreeMap<String, bool> = BTreeMap::new();
            for (day, listed) in days.iter().zip(per_day) {
                for (provider,) in listed {
                    if horizon.as_ref().is_none_or(|h| provider <= *h) {
                        *candidates.entry(provider).or_default() |= whole(*day);
                    }
                }
            }
            for (name, certain) in candidates {
                let provider = ProviderId::parse(&name).map_err(corrupt)?;
                if certain || !self.lines(&provider, window).await?.is_empty() {
                    found.push(provider);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
            match horizon {
                Some(horizon) => cursor = horizon,
                None => return Ok(found),
            }
        }
    }
}
