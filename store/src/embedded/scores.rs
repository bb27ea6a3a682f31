//! The embedded store's scorecard lines: one row per (provider, RFQ) in
//! `score_lines`, found by provider and creation time (a scorecard) or by
//! creation time alone (the providers of a window).
//!
//! A line and a late mark are separate cells of one row, so they commute:
//! the close's line fills the line's columns if none are there (the first
//! wins), a late answer after the close fills `late_ms` if empty. A mark
//! written alone (its line not yet there) leaves `outcome` NULL, and such
//! a row is not read as a line.

use super::{Fields, Prepared, corrupt, millis, read_rows, time};
use crate::StoreError;
use libsql::params;
use rfq_core::{CorrelationId, Currency, Price, ProviderId, ScoreLine, ScoreOutcome, ScoreWindow};

/// The table, created by a migration (see `MIGRATIONS` in the parent).
pub(super) const MIGRATION: &str = "
CREATE TABLE score_lines (
    provider TEXT NOT NULL,
    rfq_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    outcome TEXT,
    latency_ms INTEGER,
    price_minor INTEGER,
    currency TEXT,
    rank INTEGER,
    quotes INTEGER,
    won INTEGER,
    duplicates INTEGER,
    late_ms INTEGER,
    PRIMARY KEY (provider, rfq_id)
);
CREATE INDEX score_lines_by_provider ON score_lines (provider, created_at);
CREATE INDEX score_lines_by_time ON score_lines (created_at, provider);
";

/// Columns read by [`line_from_row`].
const LINE_COLUMNS: &str = "provider, rfq_id, created_at, outcome, latency_ms, price_minor, \
     currency, rank, quotes, won, duplicates, late_ms";

/// Writes a line; the first line of a provider for an RFQ wins.
pub(super) async fn insert_line(tx: &mut Prepared, line: &ScoreLine) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO score_lines (provider, rfq_id, created_at, outcome, latency_ms, \
         price_minor, currency, rank, quotes, won, duplicates) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (provider, rfq_id) DO UPDATE SET outcome = excluded.outcome, \
         latency_ms = excluded.latency_ms, price_minor = excluded.price_minor, \
         currency = excluded.currency, rank = excluded.rank, quotes = excluded.quotes, \
         won = excluded.won, duplicates = excluded.duplicates \
         WHERE score_lines.outcome IS NULL",
        params![
            line.provider.as_str(),
            line.rfq.to_string(),
            millis(&line.created_at),
            line.outcome.as_str(),
            line.latency_ms,
            line.price.as_ref().map(Price::minor),
            line.price
                .as_ref()
                .map(|p| p.currency().as_str().to_owned()),
            line.rank,
            line.quotes,
            line.won,
            line.duplicates,
        ],
    )
    .await?;
    Ok(())
}

/// Marks a line late (a late answer after the close); the first mark wins.
pub(super) async fn mark_late(
    tx: &mut Prepared,
    provider: &ProviderId,
    rfq: &CorrelationId,
    created_at: &chrono::DateTime<chrono::Utc>,
    latency_ms: u32,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO score_lines (provider, rfq_id, created_at, late_ms) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (provider, rfq_id) DO UPDATE SET late_ms = excluded.late_ms \
         WHERE score_lines.late_ms IS NULL",
        params![
            provider.as_str(),
            rfq.to_string(),
            millis(created_at),
            latency_ms
        ],
    )
    .await?;
    Ok(())
}

/// [`Store::score_lines`](crate::Store::score_lines).
pub(super) async fn lines(
    reader: &mut Prepared,
    provider: &ProviderId,
    window: &ScoreWindow,
) -> Result<Vec<ScoreLine>, StoreError> {
    read_rows(
        reader,
        &format!(
            "SELECT {LINE_COLUMNS} FROM score_lines WHERE provider = ?1 \
             AND created_at >= ?2 AND created_at < ?3 AND outcome IS NOT NULL \
             ORDER BY created_at, rfq_id"
        ),
        params![
            provider.as_str(),
            millis(&window.since()),
            millis(&window.until())
        ],
        line_from_row,
    )
    .await
}

/// [`Store::scored_providers`](crate::Store::scored_providers).
pub(super) async fn providers(
    reader: &mut Prepared,
    window: &ScoreWindow,
    after: Option<&ProviderId>,
    limit: usize,
) -> Result<Vec<ProviderId>, StoreError> {
    read_rows(
        reader,
        "SELECT DISTINCT provider FROM score_lines \
         WHERE created_at >= ?1 AND created_at < ?2 AND outcome IS NOT NULL AND provider > ?3 \
         ORDER BY provider LIMIT ?4",
        params![
            millis(&window.since()),
            millis(&window.until()),
            after.map_or("", ProviderId::as_str),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| ProviderId::parse(&row.text("provider")?).map_err(corrupt),
    )
    .await
}

/// An optional `u32` column.
fn small(row: &Fields<'_>, name: &str) -> Result<Option<u32>, StoreError> {
    row.optional_int(name)?
        .map(|n| u32::try_from(n).map_err(corrupt))
        .transpose()
}

fn line_from_row(row: &Fields<'_>) -> Result<ScoreLine, StoreError> {
    let outcome = row.text("outcome")?;
    let price = match (
        row.optional_int("price_minor")?,
        row.optional_text("currency")?,
    ) {
        (Some(minor), Some(currency)) => {
            let currency = Currency::parse(&currency).map_err(corrupt)?;
            Some(Price::new(minor, currency).map_err(corrupt)?)
        }
        _ => None,
    };
    let line = ScoreLine {
        provider: ProviderId::parse(&row.text("provider")?).map_err(corrupt)?,
        rfq: CorrelationId::parse(&row.text("rfq_id")?).map_err(corrupt)?,
        created_at: time(row.int("created_at")?)?,
        outcome: ScoreOutcome::parse(&outcome)
            .ok_or_else(|| corrupt(format!("score outcome {outcome:?}")))?,
        latency_ms: small(row, "latency_ms")?,
        price,
        rank: small(row, "rank")?,
        quotes: small(row, "quotes")?.unwrap_or(0),
        won: row.optional_int("won")?.unwrap_or(0) != 0,
        duplicates: small(row, "duplicates")?.unwrap_or(0),
    };
    Ok(line.marked_late(small(row, "late_ms")?))
}
