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

mod keys;
mod scores;

use crate::{Claimed, KeyClaim, OpenRfq, RfqStatus, Store, StoreError, StoredRfq};
use chrono::{DateTime, TimeZone, Utc};
use libsql::{Connection, Row, Rows, params, params::IntoParams};
use rfq_core::auth::KeyDigest;
use rfq_core::{
    Answer, AnswerOutcome, CloseReason, Completion, CorrelationId, Currency, CustomerId, Effect,
    GeoPoint, JudgedAnswer, Price, ProviderId, Radius, Region, Reply, ReturnAddress, Rfq,
    ScoreLine, ScoreWindow,
};
use std::{collections::HashMap, path::Path};
use tokio::sync::{Mutex, mpsc, oneshot};

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
const MIGRATIONS: &[&str] = &[
    "
ALTER TABLE rfqs ADD COLUMN completion TEXT NOT NULL DEFAULT 'all';
ALTER TABLE responses ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
",
    // The open RFQs, counted as they open and close: the producer's
    // admission reads it every 200 ms, and a COUNT(*) of a million open
    // RFQs takes tens of milliseconds.
    "
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('open', (SELECT COUNT(*) FROM rfqs WHERE closed_at IS NULL));
",
    // The producer's idempotency keys.
    keys::MIGRATION,
    // An answer's number is the aggregator's (`JudgedAnswer::seq`, from 1),
    // no longer a count taken at insertion (from 0).
    "
UPDATE responses SET seq = seq + 1;
",
    // The vicinity radius each RFQ was addressed within, in metres (NULL:
    // addressed in its pickup's region only, before vicinity).
    "
ALTER TABLE rfqs ADD COLUMN radius_m INTEGER;
",
    // Customers' API keys, by the SHA-256 digest of the key.
    "
CREATE TABLE api_keys (
    digest TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
",
    // Providers' scorecard lines.
    scores::MIGRATION,
];

/// Moves the count of open RFQs (in the same transaction as the change).
const COUNT_OPEN: &str = "UPDATE counters SET value = value + ?1 WHERE name = 'open'";

/// Columns read by [`rfq_from_row`] (by name: their order does not matter).
const RFQ_COLUMNS: &str = "id, partition, return_topic, customer, region, from_lat, from_lon, \
     to_lat, to_lon, created_at, deadline, addressed, closed_at, close_reason, completion, radius_m";

/// Columns read by [`response_from_row`] (by name: their order does not matter).
const RESPONSE_COLUMNS: &str = "rfq_id, provider, seq, kind, price_minor, currency, \
     pickup_eta_seconds, decline_reason, responded_at, received_at, late";

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

/// A connection and the statements prepared on it, by their SQL: parsing
/// and planning cost more than running these small statements (in a
/// profile of the read API, about a fifth of its CPU went to SQLite's
/// parser and planner).
struct Prepared {
    /// The connection.
    connection: Connection,
    /// Its statements, by SQL.
    statements: HashMap<String, libsql::Statement>,
}

impl Prepared {
    fn new(connection: Connection) -> Prepared {
        Prepared {
            connection,
            statements: HashMap::new(),
        }
    }

    /// The statement for `sql`, prepared the first time, reset for a run.
    async fn statement(&mut self, sql: &str) -> Result<&libsql::Statement, StoreError> {
        if !self.statements.contains_key(sql) {
            let statement = self.connection.prepare(sql).await.map_err(backend)?;
            self.statements.insert(sql.to_owned(), statement);
        }
        let statement = self
            .statements
            .get(sql)
            .ok_or_else(|| backend("a prepared statement went missing"))?;
        statement.reset();
        Ok(statement)
    }

    /// Runs a statement that returns no rows; the rows it changed.
    async fn execute(&mut self, sql: &str, params: impl IntoParams) -> Result<usize, StoreError> {
        let statement = self.statement(sql).await?;
        let changed = statement.execute(params).await.map_err(backend);
        statement.reset();
        changed
    }
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

/// Writes committed together, at most.
const MAX_GROUP: usize = 256;

/// A write waiting for the writer.
struct Write {
    /// What to write, all or nothing.
    effects: Vec<Effect>,
    /// Told once the write is durable, or why not.
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The writer: takes what is waiting (up to [`MAX_GROUP`] writes) and
/// commits it in one transaction, until every sender is gone.
async fn write_groups(mut writer: Prepared, mut queue: mpsc::Receiver<Write>) {
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

async fn connect(db: &libsql::Database) -> Result<Connection, StoreError> {
    let connection = db.connect().map_err(backend)?;
    // Waiting for a lock first: processes opening one new file at once (a
    // deployment's producer, aggregator and API) take turns switching it to
    // WAL and migrating it rather than failing with "database is locked".
    connection
        .execute_batch("PRAGMA busy_timeout=10000;")
        .await
        .map_err(backend)?;
    // SQLite answers a switch to WAL "locked" at once, whatever the busy
    // timeout, while another connection switches the same new file: tried
    // again for as long as the timeout (WAL then persists in the file).
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(error) = switch_to_wal(&connection).await {
        if std::time::Instant::now() > give_up {
            return Err(backend(format!("switching to WAL: {error}")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    connection
        .execute_batch("PRAGMA synchronous=FULL;")
        .await
        .map_err(backend)?;
    Ok(connection)
}

async fn switch_to_wal(connection: &Connection) -> Result<(), libsql::Error> {
    // journal_mode answers with a row, so it is queried rather than executed.
    let mut rows = connection.query("PRAGMA journal_mode=WAL", ()).await?;
    while rows.next().await?.is_some() {}
    Ok(())
}

/// Creates the tables and applies the migrations this file has not seen,
/// each in one transaction with its version bump. The version is read
/// inside each transaction: another process may have migrated meanwhile.
async fn migrate(connection: &Connection) -> Result<(), StoreError> {
    connection
        .execute_batch(SCHEMA)
        .await
        .map_err(|e| backend(format!("creating the tables: {e}")))?;
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let next = i64::try_from(index).map_err(backend)? + 1;
        connection
            .execute("BEGIN IMMEDIATE", ())
            .await
            .map_err(|e| backend(format!("migrating to version {next}: {e}")))?;
        let applied = match user_version(connection).await {
            Ok(version) if version >= next => connection.execute_batch("COMMIT;").await,
            Ok(_) => {
                connection
                    .execute_batch(&format!(
                        "{migration} PRAGMA user_version = {next}; COMMIT;"
                    ))
                    .await
            }
            Err(error) => {
                let _ = connection.execute_batch("ROLLBACK;").await;
                return Err(error);
            }
        };
        if let Err(error) = applied {
            let _ = connection.execute_batch("ROLLBACK;").await;
            return Err(backend(format!("migrating to version {next}: {error}")));
        }
    }
    Ok(())
}

/// The schema version the file is at (`PRAGMA user_version`).
async fn user_version(connection: &Connection) -> Result<i64, StoreError> {
    let mut rows = connection
        .query("PRAGMA user_version", ())
        .await
        .map_err(backend)?;
    match rows.next().await.map_err(backend)? {
        Some(row) => row.get::<i64>(0).map_err(corrupt),
        None => Ok(0),
    }
}

fn millis(time: &DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| corrupt(format!("timestamp {millis}")))
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

/// Where each column of a query's result stands, by name: looked up once
/// per statement, so that readers name the columns they read and the order
/// of a SELECT does not matter.
struct Columns(HashMap<String, i32>);

impl Columns {
    fn of(rows: &Rows) -> Columns {
        Columns(
            (0..rows.column_count())
                .filter_map(|i| Some((rows.column_name(i)?.to_owned(), i)))
                .collect(),
        )
    }
}

/// One row of a result, read by column name.
struct Fields<'a> {
    /// Where each column of the statement is.
    columns: &'a Columns,
    /// The row.
    row: &'a Row,
}

impl Fields<'_> {
    fn at(&self, name: &str) -> Result<i32, StoreError> {
        self.columns
            .0
            .get(name)
            .copied()
            .ok_or_else(|| corrupt(format!("no column {name}")))
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.row.get::<String>(self.at(name)?).map_err(corrupt)
    }

    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.row
            .get::<Option<String>>(self.at(name)?)
            .map_err(corrupt)
    }

    fn real(&self, name: &str) -> Result<f64, StoreError> {
        self.row.get::<f64>(self.at(name)?).map_err(corrupt)
    }

    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.row.get::<i64>(self.at(name)?).map_err(corrupt)
    }

    fn optional_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.row.get::<Option<i64>>(self.at(name)?).map_err(corrupt)
    }
}

/// Runs a query and reads every row of its result with `read`.
async fn read_rows<T>(
    connection: &mut Prepared,
    sql: &str,
    params: impl IntoParams,
    read: impl Fn(&Fields<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = connection.statement(sql).await?;
    let mut rows = statement.query(params).await.map_err(backend)?;
    let columns = Columns::of(&rows);
    let mut read_rows = Vec::new();
    let all = async {
        while let Some(row) = rows.next().await.map_err(backend)? {
            read_rows.push(read(&Fields {
                columns: &columns,
                row: &row,
            })?);
        }
        Ok(())
    }
    .await;
    drop(rows);
    // Done with, also on an error: a statement left running would hold
    // its read snapshot.
    statement.reset();
    all.map(|()| read_rows)
}

fn rfq_from_row(row: &Fields<'_>) -> Result<(Rfq, RfqStatus), StoreError> {
    let addressed: Vec<String> = serde_json::from_str(&row.text("addressed")?).map_err(corrupt)?;
    let rfq = Rfq {
        id: CorrelationId::parse(&row.text("id")?).map_err(corrupt)?,
        return_address: ReturnAddress {
            partition: i32::try_from(row.int("partition")?).map_err(corrupt)?,
            topic: row.text("return_topic")?,
        },
        customer: CustomerId::parse(&row.text("customer")?).map_err(corrupt)?,
        region: Region::parse(&row.text("region")?).map_err(corrupt)?,
        from: GeoPoint::new(row.real("from_lat")?, row.real("from_lon")?).map_err(corrupt)?,
        to: GeoPoint::new(row.real("to_lat")?, row.real("to_lon")?).map_err(corrupt)?,
        created_at: time(row.int("created_at")?)?,
        deadline: time(row.int("deadline")?)?,
        addressed: addressed
            .iter()
            .map(|p| ProviderId::parse(p))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        completion: Completion::parse_code(&row.text("completion")?).map_err(corrupt)?,
        radius: row
            .optional_int("radius_m")?
            .map(|metres| {
                u32::try_from(metres)
                    .map_err(corrupt)
                    .and_then(|metres| Radius::new(metres).map_err(corrupt))
            })
            .transpose()?,
    };
    let closed_at = row.optional_int("closed_at")?;
    let reason = row.optional_text("close_reason")?;
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

fn response_from_row(row: &Fields<'_>) -> Result<JudgedAnswer, StoreError> {
    let kind = row.text("kind")?;
    let reply = match AnswerOutcome::parse(&kind) {
        Some(AnswerOutcome::Quoted) => {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Reply::Quoted {
                price: Price::new(row.int("price_minor")?, currency).map_err(corrupt)?,
                pickup_eta_seconds: u32::try_from(row.int("pickup_eta_seconds")?)
                    .map_err(corrupt)?,
            }
        }
        Some(AnswerOutcome::Declined) => Reply::Declined {
            reason: row.optional_text("decline_reason")?.unwrap_or_default(),
        },
        _ => return Err(corrupt(format!("response kind {kind:?}"))),
    };
    let answer = Answer {
        rfq: CorrelationId::parse(&row.text("rfq_id")?).map_err(corrupt)?,
        provider: ProviderId::parse(&row.text("provider")?).map_err(corrupt)?,
        responded_at: time(row.int("responded_at")?)?,
        reply,
    };
    let received_at = time(row.int("received_at")?)?;
    let seq = u32::try_from(row.int("seq")?).map_err(corrupt)?;
    Ok(match row.int("late")? != 0 {
        true => JudgedAnswer::late(answer, received_at, seq),
        false => JudgedAnswer::in_time(answer, received_at, seq),
    })
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

    async fn api_key_customer(&self, digest: &KeyDigest) -> Result<Option<CustomerId>, StoreError> {
        let mut reader = self.reader.lock().await;
        let found = read_rows(
            &mut reader,
            "SELECT customer FROM api_keys WHERE digest = ?1",
            params![digest.as_str()],
            |row| CustomerId::parse(&row.text("customer")?).map_err(corrupt),
        )
        .await?;
        Ok(found.into_iter().next())
    }

    async fn add_api_key(
        &self,
        digest: &KeyDigest,
        customer: &CustomerId,
    ) -> Result<(), StoreError> {
        self.keys
            .lock()
            .await
            .connection()
            .execute(
                "INSERT INTO api_keys (digest, customer, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (digest) DO NOTHING",
                params![digest.as_str(), customer.as_str(), millis(&Utc::now())],
            )
            .await?;
        Ok(())
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
