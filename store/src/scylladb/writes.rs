//! Writing effects: an RFQ opened (its row, then its open-index entry),
//! answers (an RFQ's as one unlogged batch), a close (then the index entry
//! deleted), scorecard lines ([`super::scores`]).

use super::{ScyllaStore, backend, rows};
use crate::StoreError;
use chrono::Utc;
use rfq_core::{Effect, JudgedAnswer};
use rows::{ResponseRow, RfqValues, Stamped};
use scylla::statement::batch::{Batch, BatchType};
use std::time::Duration;

/// Answers are kept this much longer than their RFQ's retention: the
/// longest deadline an RFQ can have (the producer refuses a longer
/// `--max-deadline-seconds`), so an answer never expires before its RFQ.
const ANSWER_SLACK: Duration = Duration::from_secs(rfq_core::MAX_DEADLINE_SECONDS as u64);

impl ScyllaStore {
    /// Writes answers of one RFQ, in this order, as one unlogged batch
    /// (one partition: atomic and isolated).
    pub(super) async fn write_answers(&self, answers: &[&JudgedAnswer]) -> Result<(), StoreError> {
        let now = Utc::now();
        let statement = &self.statements.insert_response;
        let rows: Vec<Stamped<ResponseRow>> = answers
            .iter()
            .map(|kept| Stamped {
                row: ResponseRow::new(kept),
                stamp: rows::first_wins_stamp(&kept.received_at),
                ttl: rows::ttl(&now, &now, self.retention + ANSWER_SLACK),
            })
            .collect();
        if let [row] = &rows[..] {
            self.run(statement, row).await?;
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in &rows {
            batch.append_statement(statement.clone());
        }
        if let Some(consistency) = statement.get_consistency() {
            batch.set_consistency(consistency);
        }
        batch.set_is_idempotent(true);
        let _permit = self.in_flight.acquire().await.map_err(backend)?;
        self.session.batch(&batch, rows).await.map_err(backend)?;
        Ok(())
    }

    pub(super) async fn write(&self, effect: &Effect) -> Result<(), StoreError> {
        let now = Utc::now();
        let s = &self.statements;
        match effect {
            Effect::Open(rfq) => {
                let stamp = rows::OPENING_STAMP;
                let ttl = rows::ttl(&rfq.deadline, &now, self.retention);
                // The index entry is written after the row it points to.
                let values = Stamped {
                    row: RfqValues::new(rfq),
                    stamp,
                    ttl,
                };
                self.run(&s.insert_rfq, values).await?;
                let key = (
                    rows::bucket(&rfq.id),
                    rfq.return_address.partition,
                    *rfq.id.as_uuid(),
                );
                self.run(&s.insert_open, (key.0, key.1, key.2, stamp, ttl))
                    .await?;
            }
            Effect::Answer(kept) => self.write_answers(&[kept]).await?,
            Effect::Close {
                rfq,
                partition,
                reason,
                closed_at,
            } => {
                let stamp = rows::first_wins_stamp(closed_at);
                let ttl = rows::ttl(&now, &now, self.retention);
                let values = (
                    stamp,
                    ttl,
                    rows::cql_time(closed_at),
                    reason.as_str(),
                    *rfq.as_uuid(),
                );
                self.run(&s.close_rfq, values).await?;
                // Deleted after the close is durable: a crash in between
                // leaves a stale entry that recovery skips.
                let key = (stamp, rows::bucket(rfq), *partition, *rfq.as_uuid());
                self.run(&s.delete_open, key).await?;
            }
            Effect::Score(line) => self.write_line(line).await?,
            Effect::ScoreLate {
                provider,
                rfq,
                created_at,
                latency_ms,
            } => {
                self.write_late(provider, rfq, created_at, *latency_ms)
                    .await?
            }
        }
        Ok(())
    }
}
