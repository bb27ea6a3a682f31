//! Statements prepared once per connection.

use super::backend;
use crate::StoreError;
use libsql::{Connection, params::IntoParams};
use std::collections::HashMap;

/// A connection and the statements prepared on it, by their SQL: parsing
/// and planning cost more than running these small statements (in a
/// profile of the read API, about a fifth of its CPU went to SQLite's
/// parser and planner).
pub(super) struct Prepared {
    /// The connection.
    pub(super) connection: Connection,
    /// Its statements, by SQL.
    statements: HashMap<String, libsql::Statement>,
}

impl Prepared {
    pub(super) fn new(connection: Connection) -> Prepared {
        Prepared {
            connection,
            statements: HashMap::new(),
        }
    }

    /// The statement for `sql`, prepared the first time, reset for a run.
    pub(super) async fn statement(&mut self, sql: &str) -> Result<&libsql::Statement, StoreError> {
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
    pub(super) async fn execute(
        &mut self,
        sql: &str,
        params: impl IntoParams,
    ) -> Result<usize, StoreError> {
        let statement = self.statement(sql).await?;
        let changed = statement.execute(params).await.map_err(backend);
        statement.reset();
        changed
    }
}
