//! The statements the store runs, each prepared once, at open, with the
//! configured consistency and marked idempotent.

use super::rows::{RESPONSE_COLUMNS, RFQ_COLUMNS, RFQ_VALUES_COLUMNS};
use super::{ScyllaSettings, backend, keys, partners, scores};
use crate::StoreError;
use scylla::{client::session::Session, statement::prepared::PreparedStatement};

/// The prepared statements, prepared once per store.
pub(super) struct Statements {
    /// Writes an RFQ (stamped lowest: a replay never wins over a close).
    pub(super) insert_rfq: PreparedStatement,
    /// Adds an RFQ to the open index of its partition's bucket.
    pub(super) insert_open: PreparedStatement,
    /// Keeps an answer (stamped so that the earliest wins).
    pub(super) insert_response: PreparedStatement,
    /// Closes an RFQ (stamped so that the first close wins).
    pub(super) close_rfq: PreparedStatement,
    /// Removes a closed RFQ from the open index.
    pub(super) delete_open: PreparedStatement,
    /// Reads one RFQ.
    pub(super) select_rfq: PreparedStatement,
    /// Reads an RFQ's answers.
    pub(super) select_responses: PreparedStatement,
    /// Reads the open index of one bucket and partition.
    pub(super) select_open: PreparedStatement,
    /// Counts the open index of one bucket.
    pub(super) count_open: PreparedStatement,
    /// The idempotency keys' (lightweight transactions).
    pub(super) keys: keys::KeyStatements,
    /// The customer of an API key digest.
    pub(super) select_api_key: PreparedStatement,
    /// Records an API key digest.
    pub(super) insert_api_key: PreparedStatement,
    /// Every API key (`rfq keys list`).
    pub(super) list_api_keys: PreparedStatement,
    /// The scorecard lines'.
    pub(super) scores: scores::ScoreStatements,
    /// The partners' (lightweight transactions).
    pub(super) partners: partners::PartnerStatements,
}

impl Statements {
    /// Prepares every statement on `session`.
    pub(super) async fn prepare(
        session: &Session,
        settings: &ScyllaSettings,
    ) -> Result<Statements, StoreError> {
        let ks = &settings.keyspace;
        let prepare = async |cql: String| -> Result<PreparedStatement, StoreError> {
            let mut statement = session
                .prepare(cql.as_str())
                .await
                .map_err(|e| backend(format!("preparing {cql}: {e}")))?;
            statement.set_consistency(settings.consistency);
            statement.set_is_idempotent(true);
            Ok(statement)
        };
        Ok(Statements {
            insert_rfq: prepare(stamped_insert(&format!("{ks}.rfqs"), RFQ_VALUES_COLUMNS)).await?,
            insert_open: prepare(format!(
                "INSERT INTO {ks}.open_rfqs (bucket, partition, id) VALUES (?, ?, ?) \
                 USING TIMESTAMP ? AND TTL ?"
            ))
            .await?,
            insert_response: prepare(stamped_insert(&format!("{ks}.responses"), RESPONSE_COLUMNS))
                .await?,
            close_rfq: prepare(format!(
                "UPDATE {ks}.rfqs USING TIMESTAMP ? AND TTL ? \
                 SET closed_at = ?, close_reason = ? WHERE id = ?"
            ))
            .await?,
            delete_open: prepare(format!(
                "DELETE FROM {ks}.open_rfqs USING TIMESTAMP ? \
                 WHERE bucket = ? AND partition = ? AND id = ?"
            ))
            .await?,
            select_rfq: prepare(format!("SELECT {RFQ_COLUMNS} FROM {ks}.rfqs WHERE id = ?"))
                .await?,
            select_responses: prepare(format!(
                "SELECT {RESPONSE_COLUMNS} FROM {ks}.responses WHERE rfq_id = ?"
            ))
            .await?,
            select_open: prepare(format!(
                "SELECT id FROM {ks}.open_rfqs WHERE bucket = ? AND partition = ?"
            ))
            .await?,
            count_open: prepare(format!(
                "SELECT COUNT(*) FROM {ks}.open_rfqs WHERE bucket = ?"
            ))
            .await?,
            keys: keys::KeyStatements::prepare(session, ks, settings.consistency).await?,
            select_api_key: prepare(format!(
                "SELECT customer, role, name, created_at FROM {ks}.api_keys WHERE digest = ?"
            ))
            .await?,
            insert_api_key: prepare(format!(
                "INSERT INTO {ks}.api_keys (digest, customer, role, name, created_at) \
                 VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            list_api_keys: prepare(format!(
                "SELECT digest, customer, role, name, created_at FROM {ks}.api_keys"
            ))
            .await?,
            scores: scores::ScoreStatements::prepare(session, ks, settings.consistency).await?,
            partners: partners::PartnerStatements::prepare(session, ks, settings.consistency)
                .await?,
        })
    }
}

/// `INSERT INTO table (columns) VALUES (?, ...) USING TIMESTAMP ? AND TTL ?`,
/// one bind marker a column: the statement a [`Stamped`] row binds.
pub(super) fn stamped_insert(table: &str, columns: &str) -> String {
    let markers = vec!["?"; columns.split(',').count()].join(", ");
    format!("INSERT INTO {table} ({columns}) VALUES ({markers}) USING TIMESTAMP ? AND TTL ?")
}
