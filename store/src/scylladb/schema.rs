//! The versioned CQL schema (`store/cql/*.cql`) and how it is applied.

use crate::StoreError;
use scylla::{client::session::Session, value::CqlTimestamp};

/// The schema files, in order: (version, name, CQL with `{keyspace}` and
/// `{replication}` placeholders).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "001_initial", include_str!("../../cql/001_initial.cql")),
    (
        2,
        "002_idempotency_keys",
        include_str!("../../cql/002_idempotency_keys.cql"),
    ),
    (
        3,
        "003_answer_seq",
        include_str!("../../cql/003_answer_seq.cql"),
    ),
];

/// The table and column an `ALTER TABLE {keyspace}.t ADD c type` adds.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let rest = statement.strip_prefix("ALTER TABLE ")?;
    let (table, rest) = rest.split_once(' ')?;
    let column = rest.strip_prefix("ADD ")?.split_whitespace().next()?;
    let table = table.rsplit_once('.').map_or(table, |(_, table)| table);
    Some((table, column))
}

/// The statements of a schema file: comments dropped, split at `;`,
/// placeholders filled in.
pub fn statements(cql: &str, keyspace: &str, replication: &str) -> Vec<String> {
    let code: String = cql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(|statement| {
            statement
                .replace("{keyspace}", keyspace)
                .replace("{replication}", replication)
        })
        .collect()
}

/// Applies every schema file (each statement is idempotent) and records
/// its version. Returns the newest version.
pub async fn migrate(
    session: &Session,
    keyspace: &str,
    replication: &str,
) -> Result<i32, StoreError> {
    let backend = |e: &dyn std::fmt::Display| StoreError::Backend(format!("schema: {e}"));
    let mut newest = 0;
    for (version, name, cql) in MIGRATIONS {
        for statement in statements(cql, keyspace, replication) {
            // Adding a column twice is an error: add it only where missing.
            if let Some((table, column)) = added_column(&statement) {
                let found = session
                    .query_unpaged(
                        "SELECT column_name FROM system_schema.columns \
                         WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
                        (keyspace, table, column),
                    )
                    .await
                    .map_err(|e| backend(&e))?
                    .into_rows_result()
                    .map_err(|e| backend(&e))?
                    .rows_num();
                if found > 0 {
                    continue;
                }
            }
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|e| backend(&format!("{e} in {statement}")))?;
        }
        session
            .query_unpaged(
                format!(
                    "INSERT INTO {keyspace}.schema_versions (version, name, applied_at) \
                     VALUES (?, ?, ?) IF NOT EXISTS"
                ),
                (
                    *version,
                    *name,
                    CqlTimestamp(chrono::Utc::now().timestamp_millis()),
                ),
            )
            .await
            .map_err(|e| backend(&e))?;
        newest = *version;
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_file_splits_into_idempotent_statements() {
        let (_, _, cql) = MIGRATIONS[0];
        let statements = statements(cql, "rfq_test", "{'class': 'X'}");
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[0].starts_with(
            "CREATE KEYSPACE IF NOT EXISTS rfq_test WITH replication = {'class': 'X'}"
        ));
        for statement in &statements[1..] {
            assert!(
                statement.starts_with("CREATE TABLE IF NOT EXISTS rfq_test."),
                "{statement}"
            );
            assert!(!statement.contains("--") && !statement.contains('{'));
        }
        let (_, _, cql) = MIGRATIONS[2];
        let added = super::statements(cql, "rfq_test", "{'class': 'X'}");
        assert_eq!(added.len(), 1, "{added:#?}");
        assert_eq!(added_column(&added[0]), Some(("responses", "seq")));
        // The tables the store's statements name all exist in the schema.
        for table in ["rfqs", "responses", "open_rfqs", "schema_versions"] {
            assert!(
                statements
                    .iter()
                    .any(|s| s.contains(&format!("rfq_test.{table} ("))),
                "{table}"
            );
        }
    }
}
