//! [`Store`] on a local SQLite file, through libsql.
//!
//! The file is shared safely between processes (WAL journal, busy timeout),
//! so `rfq producer`, `rfq aggregator` and `rfq api` may run as separate
//! processes on one machine against the same path. Commits are synchronous
//! (`synchronous=FULL`): once `apply` returns, the effects survive a crash.

use crate::{OpenRfq, RfqStatus, Store, StoreError, StoredRfq};
use chrono::{DateTime, TimeZone, Utc};
use libsql::{Connection, Row, params};
use rfq_core::{
    Answer, AnswerOutcome, CloseReason, Completion, CorrelationId, Currency, CustomerId, Effect,
    GeoPoint, JudgedAnswer, Price, ProviderId, Region, Reply, ReturnAddress, Rfq,
};
use std::{collections::HashMap, path::Path};
use tokio::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rfqs (
    id TEXT PRIMARY KEY,
    partition INTEGER NOT NULL,
    return_topic TEXT NOT NULL,
    customer TEXT NOT NULL,
    region TEXT NOT NULL,
    from_lat REAL NOT NULL,
    from_lon REAL NOT NULL,
    to_lat REAL NOT NULL,
    to_lon REAL NOT NULL,
    created_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    addressed TEXT NOT NULL,
    closed_at INTEGER,
    close_reason TEXT
);
CREATE INDEX IF NOT EXISTS rfqs_open_by_partition ON rfqs (partition) WHERE closed_at IS NULL;
CREATE TABLE IF NOT EXISTS responses (
    rfq_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    price_minor INTEGER,
    currency TEXT,
    pickup_eta_seconds INTEGER,
    decline_reason TEXT,
    responded_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (rfq_id, provider)
);
";

/// Schema changes after the first release, by `PRAGMA user_version`: entry
/// `i` brings a store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
ALTER TABLE rfqs ADD COLUMN completion TEXT NOT NULL DEFAULT 'all';
ALTER TABLE responses ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
"];

const RFQ_COLUMNS: &str = "id, partition, return_topic, customer, region, from_lat, from_lon, \
     to_lat, to_lon, created_at, deadline, addressed, closed_at, close_reason, completion";

/// Columns read by [`response_from_row`].
const RESPONSE_COLUMNS: &str = "rfq_id, provider, kind, price_minor, currency, \
     pickup_eta_seconds, decline_reason, responded_at, received_at, late";

/// The embedded store.
pub struct EmbeddedStore {
    /// Keeps the database open.
    _db: libsql::Database,
    /// The connection writes go through, one transaction at a time.
    writer: Mutex<Connection>,
    /// The connection reads go through (WAL: readers do not block the writer).
    reader: Mutex<Connection>,
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
        Ok(EmbeddedStore {
            _db: db,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

async fn connect(db: &libsql::Database) -> Result<Connection, StoreError> {
    let connection = db.connect().map_err(backend)?;
    // journal_mode answers with a row, so it is queried rather than executed.
    let mut rows = connection
        .query("PRAGMA journal_mode=WAL", ())
        .await
        .map_err(backend)?;
    while rows.next().await.map_err(backend)?.is_some() {}
    connection
        .execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;")
        .await
        .map_err(backend)?;
    Ok(connection)
}

/// Creates the tables and applies the migrations this file has not seen,
/// each in one transaction with its version bump.
async fn migrate(connection: &Connection) -> Result<(), StoreError> {
    connection.execute_batch(SCHEMA).await.map_err(backend)?;
    let mut rows = connection
        .query("PRAGMA user_version", ())
        .await
        .map_err(backend)?;
    let version = match rows.next().await.map_err(backend)? {
        Some(row) => row.get::<i64>(0).map_err(corrupt)?,
        None => 0,
    };
    drop(rows);
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let next = i64::try_from(index).map_err(backend)? + 1;
        if version >= next {
            continue;
        }
        connection
            .execute_batch(&format!(
                "BEGIN IMMEDIATE; {migration} PRAGMA user_version = {next}; COMMIT;"
            ))
            .await
            .map_err(backend)?;
    }
    Ok(())
}

fn millis(time: &DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| corrupt(format!("timestamp {millis}")))
}

async fn apply_one(tx: &Connection, effect: &Effect) -> Result<(), StoreError> {
    match effect {
        Effect::Open(rfq) => {
            let addressed: Vec<&str> = rfq.addressed.iter().map(ProviderId::as_str).collect();
            let addressed = serde_json::to_string(&addressed).map_err(backend)?;
            tx.execute(
                &format!(
                    "INSERT INTO rfqs ({RFQ_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, ?13) \
                     ON CONFLICT (id) DO NOTHING"
                ),
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
                ],
            )
            .await
            .map_err(backend)?;
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
                 VALUES (?1, ?2, (SELECT COUNT(*) FROM responses WHERE rfq_id = ?1), \
                         ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
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
                ],
            )
            .await
            .map_err(backend)?;
        }
        Effect::Close {
            rfq,
            reason,
            closed_at,
            ..
        } => {
            tx.execute(
                "UPDATE rfqs SET closed_at = ?2, close_reason = ?3 \
                 WHERE id = ?1 AND closed_at IS NULL",
                params![rfq.to_string(), millis(closed_at), reason.as_str()],
            )
            .await
            .map_err(backend)?;
        }
    }
    Ok(())
}

fn rfq_from_row(row: &Row) -> Result<(Rfq, RfqStatus), StoreError> {
    let text = |i: i32| row.get::<String>(i).map_err(corrupt);
    let real = |i: i32| row.get::<f64>(i).map_err(corrupt);
    let int = |i: i32| row.get::<i64>(i).map_err(corrupt);
    let addressed: Vec<String> = serde_json::from_str(&text(11)?).map_err(corrupt)?;
    let rfq = Rfq {
        id: CorrelationId::parse(&text(0)?).map_err(corrupt)?,
        return_address: ReturnAddress {
            partition: i32::try_from(int(1)?).map_err(corrupt)?,
            topic: text(2)?,
        },
        customer: CustomerId::parse(&text(3)?).map_err(corrupt)?,
        region: Region::parse(&text(4)?).map_err(corrupt)?,
        from: GeoPoint::new(real(5)?, real(6)?).map_err(corrupt)?,
        to: GeoPoint::new(real(7)?, real(8)?).map_err(corrupt)?,
        created_at: time(int(9)?)?,
        deadline: time(int(10)?)?,
        addressed: addressed
            .iter()
            .map(|p| ProviderId::parse(p))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        completion: Completion::parse_code(&text(14)?).map_err(corrupt)?,
    };
    let closed_at = row.get::<Option<i64>>(12).map_err(corrupt)?;
    let reason = row.get::<Option<String>>(13).map_err(corrupt)?;
    let status = match (closed_at, reason) {
        (Some(closed_at), Some(reason)) => RfqStatus::Closed {
            reason: CloseReason::parse(&reason)
                .ok_or_else(|| corrupt(format!("close reason {reason:?}")))?,
            closed_at: time(closed_at)?,
        },
        _ => RfqStatus::Open,
    };
    Ok((rfq, status))
}

fn response_from_row(row: &Row) -> Result<JudgedAnswer, StoreError> {
    let text = |i: i32| row.get::<String>(i).map_err(corrupt);
    let kind = text(2)?;
    let reply = match AnswerOutcome::parse(&kind) {
        Some(AnswerOutcome::Quoted) => {
            let currency = Currency::parse(&text(4)?).map_err(corrupt)?;
            Reply::Quoted {
                price: Price::new(row.get::<i64>(3).map_err(corrupt)?, currency)
                    .map_err(corrupt)?,
                pickup_eta_seconds: u32::try_from(row.get::<i64>(5).map_err(corrupt)?)
                    .map_err(corrupt)?,
            }
        }
        Some(AnswerOutcome::Declined) => Reply::Declined {
            reason: row
                .get::<Option<String>>(6)
                .map_err(corrupt)?
                .unwrap_or_default(),
        },
        _ => return Err(corrupt(format!("response kind {kind:?}"))),
    };
    let answer = Answer {
        rfq: CorrelationId::parse(&text(0)?).map_err(corrupt)?,
        provider: ProviderId::parse(&text(1)?).map_err(corrupt)?,
        responded_at: time(row.get::<i64>(7).map_err(corrupt)?)?,
        reply,
    };
    let received_at = time(row.get::<i64>(8).map_err(corrupt)?)?;
    Ok(match row.get::<i64>(9).map_err(corrupt)? != 0 {
        true => JudgedAnswer::late(answer, received_at),
        false => JudgedAnswer::in_time(answer, received_at),
    })
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn apply(&self, effects: &[Effect]) -> Result<(), StoreError> {
        if effects.is_empty() {
            return Ok(());
        }
        let writer = self.writer.lock().await;
        let tx = writer.transaction().await.map_err(backend)?;
        for effect in effects {
            apply_one(&tx, effect).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn rfq(&self, id: &CorrelationId) -> Result<Option<StoredRfq>, StoreError> {
        let reader = self.reader.lock().await;
        let mut rows = reader
            .query(
                &format!(
                    "SELECT {RFQ_COLUMNS}, \
                     (SELECT COUNT(*) FROM responses WHERE rfq_id = rfqs.id AND late = 0) \
                     FROM rfqs WHERE id = ?1"
                ),
                params![id.to_string()],
            )
            .await
            .map_err(backend)?;
        let Some(row) = rows.next().await.map_err(backend)? else {
            return Ok(None);
        };
        let (rfq, status) = rfq_from_row(&row)?;
        let responses_received =
            u32::try_from(row.get::<i64>(15).map_err(corrupt)?).map_err(corrupt)?;
        Ok(Some(StoredRfq {
            rfq,
            status,
            responses_received,
        }))
    }

    async fn responses(&self, id: &CorrelationId) -> Result<Vec<JudgedAnswer>, StoreError> {
        let reader = self.reader.lock().await;
        let mut rows = reader
            .query(
                &format!(
                    "SELECT {RESPONSE_COLUMNS} FROM responses WHERE rfq_id = ?1 \
                     ORDER BY late, seq"
                ),
                params![id.to_string()],
            )
            .await
            .map_err(backend)?;
        let mut responses = Vec::new();
        while let Some(row) = rows.next().await.map_err(backend)? {
            responses.push(response_from_row(&row)?);
        }
        Ok(responses)
    }

    async fn open_rfqs(&self, partition: i32) -> Result<Vec<OpenRfq>, StoreError> {
        let reader = self.reader.lock().await;
        let mut rows = reader
            .query(
                &format!(
                    "SELECT {RFQ_COLUMNS} FROM rfqs \
                     WHERE partition = ?1 AND closed_at IS NULL"
                ),
                params![partition],
            )
            .await
            .map_err(backend)?;
        let mut open = Vec::new();
        let mut index = HashMap::new();
        while let Some(row) = rows.next().await.map_err(backend)? {
            let (rfq, _) = rfq_from_row(&row)?;
            index.insert(rfq.id, open.len());
            open.push(OpenRfq {
                rfq,
                responses: Vec::new(),
            });
        }
        drop(rows);
        let mut rows = reader
            .query(
                &format!(
                    "SELECT {RESPONSE_COLUMNS} FROM responses WHERE rfq_id IN \
                     (SELECT id FROM rfqs WHERE partition = ?1 AND closed_at IS NULL) \
                     ORDER BY rfq_id, late, seq"
                ),
                params![partition],
            )
            .await
            .map_err(backend)?;
        while let Some(row) = rows.next().await.map_err(backend)? {
            let kept = response_from_row(&row)?;
            // An RFQ closed between the two queries is simply not in the index.
            if let Some(at) = index.get(&kept.answer.rfq) {
                open[*at].responses.push(kept);
            }
        }
        Ok(open)
    }

    async fn open_count(&self) -> Result<u64, StoreError> {
        let reader = self.reader.lock().await;
        let mut rows = reader
            .query("SELECT COUNT(*) FROM rfqs WHERE closed_at IS NULL", ())
            .await
            .map_err(backend)?;
        match rows.next().await.map_err(backend)? {
            Some(row) => u64::try_from(row.get::<i64>(0).map_err(corrupt)?).map_err(corrupt),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests;
