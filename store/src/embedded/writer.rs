//! The writer: effects committed in groups, each write in a savepoint.

use super::{Prepared, backend, millis, scores};
use crate::StoreError;
use libsql::params;
use rfq_core::{Effect, ProviderId, Reply};
use tokio::sync::{mpsc, oneshot};

/// Moves the count of open RFQs (in the same transaction as the change).
const COUNT_OPEN: &str = "UPDATE counters SET value = value + ?1 WHERE name = 'open'";

/// Writes committed together, at most.
pub(super) const MAX_GROUP: usize = 256;

/// A write waiting for the writer.
pub(super) struct Write {
    /// What to write, all or nothing.
    pub(super) effects: Vec<Effect>,
    /// Told once the write is durable, or why not.
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// The writer: takes what is waiting (up to [`MAX_GROUP`] writes) and
/// commits it in one transaction, until every sender is gone.
pub(super) async fn write_groups(mut writer: Prepared, mut queue: mpsc::Receiver<Write>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let results = commit_group(&mut writer, &group).await;
        for (write, result) in group.drain(..).zip(results) {
            // A caller that stopped waiting does not need the answer.
            let _ = write.done.send(result);
        }
    }
}

/// Commits `group`, each write in a savepoint; the result of each.
async fn commit_group(writer: &mut Prepared, group: &[Write]) -> Vec<Result<(), StoreError>> {
    let all_failed = |error: StoreError| -> Vec<Result<(), StoreError>> {
        let error = error.to_string();
        group
            .iter()
            .map(|_| Err(StoreError::Backend(error.clone())))
            .collect()
    };
    if let Err(error) = writer.execute("BEGIN IMMEDIATE", ()).await {
        return all_failed(error);
    }
    let mut results = Vec::with_capacity(group.len());
    for write in group {
        results.push(apply_in_savepoint(writer, &write.effects).await);
    }
    if let Err(error) = writer.execute("COMMIT", ()).await {
        let _ = writer.connection.execute("ROLLBACK", ()).await;
        return all_failed(error);
    }
    results
}

/// Applies one write's effects, all or none.
async fn apply_in_savepoint(writer: &mut Prepared, effects: &[Effect]) -> Result<(), StoreError> {
    writer.execute("SAVEPOINT write", ()).await?;
    for effect in effects {
        if let Err(error) = apply_one(writer, effect).await {
            let _ = writer.connection.execute("ROLLBACK TO write", ()).await;
            let _ = writer.connection.execute("RELEASE write", ()).await;
            return Err(error);
        }
    }
    writer.execute("RELEASE write", ()).await?;
    Ok(())
}

async fn apply_one(tx: &mut Prepared, effect: &Effect) -> Result<(), StoreError> {
    match effect {
        Effect::Open(rfq) => {
            let addressed: Vec<&str> = rfq.addressed.iter().map(ProviderId::as_str).collect();
            let addressed = serde_json::to_string(&addressed).map_err(backend)?;
            let inserted = tx
                .execute(
                    "INSERT INTO rfqs (id, partition, return_topic, customer, region, from_lat, \
                 from_lon, to_lat, to_lon, created_at, deadline, addressed, completion, \
                 radius_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (id) DO NOTHING",
                    params![
                        rfq.id.to_string(),
                        rfq.return_address.partition,
                        rfq.return_address.topic.as_str(),
                        rfq.customer.as_str(),
                        rfq.region.as_str(),
                        rfq.from.lat(),
                        rfq.from.lon(),
                        rfq.to.lat(),
                        rfq.to.lon(),
                        millis(&rfq.created_at),
                        millis(&rfq.deadline),
                        addressed,
                        rfq.completion.code(),
                        rfq.radius.map(|radius| i64::from(radius.metres())),
                    ],
                )
                .await?;
            if inserted == 1 {
                tx.execute(COUNT_OPEN, params![1]).await?;
            }
        }
        Effect::Answer(kept) => {
            let answer = &kept.answer;
            let (price, currency, eta, reason) = match &answer.reply {
                Reply::Quoted {
                    price,
                    pickup_eta_seconds,
                } => (
                    Some(price.minor()),
                    Some(price.currency().as_str().to_owned()),
                    Some(i64::from(*pickup_eta_seconds)),
                    None,
                ),
                Reply::Declined { reason } => (None, None, None, Some(reason.clone())),
            };
            tx.execute(
                "INSERT INTO responses (rfq_id, provider, seq, kind, price_minor, currency, \
                 pickup_eta_seconds, decline_reason, responded_at, received_at, late) \
                 VALUES (?1, ?2, ?11, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (rfq_id, provider) DO NOTHING",
                params![
                    answer.rfq.to_string(),
                    answer.provider.as_str(),
                    answer.reply.outcome().as_str(),
                    price,
                    currency,
                    eta,
                    reason,
                    millis(&answer.responded_at),
                    millis(&kept.received_at),
                    kept.is_late(),
                    kept.seq,
                ],
            )
            .await?;
        }
        Effect::Close {
            rfq,
            reason,
            closed_at,
            ..
        } => {
            let closed = tx
                .execute(
                    "UPDATE rfqs SET closed_at = ?2, close_reason = ?3 \
                     WHERE id = ?1 AND closed_at IS NULL",
                    params![rfq.to_string(), millis(closed_at), reason.as_str()],
                )
                .await?;
            if closed == 1 {
                tx.execute(COUNT_OPEN, params![-1]).await?;
            }
        }
        Effect::Score(line) => scores::insert_line(tx, line).await?,
        Effect::ScoreLate {
            provider,
            rfq,
            created_at,
            latency_ms,
        } => scores::mark_late(tx, provider, rfq, created_at, *latency_ms).await?,
    }
    Ok(())
}
