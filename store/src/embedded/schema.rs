//! The file's tables, their migrations, and opening a connection to it.

use super::{api_keys, backend, corrupt, keys, partners, scores};
use crate::StoreError;
use libsql::Connection;

pub(super) const SCHEMA: &str = "
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
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Partners' identities (`rfq partners`).
    partners::MIGRATION,
    // API keys' roles (issue 27; CQL's 008_key_roles).
    api_keys::ROLES_MIGRATION,
];

pub(super) async fn connect(db: &libsql::Database) -> Result<Connection, StoreError> {
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
pub(super) async fn migrate(connection: &Connection) -> Result<(), StoreError> {
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
