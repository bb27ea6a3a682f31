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
    (
        4,
        "004_vicinity",
        include_str!("../../cql/004_vicinity.cql"),
    ),
    (
        5,
        "005_api_keys",
        include_str!("../../cql/005_api_keys.cql"),
    ),
    (
        6,
        "006_score_lines",
        include_str!("../../cql/006_score_lines.cql"),
    ),
    (
        7,
        "007_partners",
        include_str!("../../cql/007_partners.cql"),
    ),
    (
        8,
        "008_key_roles",
        include_str!("../../cql/008_key_roles.cql"),
    ),
];

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

/// The table and column an `ALTER TABLE <keyspace>.<table> ADD <column> <type>`
/// statement adds, if it is one.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    match words.as_slice() {
        [alter, table, name, add, column, _type]
            if alter.eq_ignore_ascii_case("alter")
                && table.eq_ignore_ascii_case("table")
                && add.eq_ignore_ascii_case("add") =>
        {
            let table = name.rsplit_once('.').map_or(*name, |(_, table)| table);
            Some((table, column))
        }
        _ => None,
    }
}

/// Whether `keyspace.table` has `column` (from the schema tables, which
/// ScyllaDB and Cassandra both keep).
async fn has_column(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> Result<bool, StoreError> {
    let result = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
            (keyspace, table, column),
        )
        .await
        .map_err(|e| StoreError::Backend(format!("schema: reading columns: {e}")))?;
    let rows = result
        .into_rows_result()
        .map_err(|e| StoreError::Backend(format!("schema: reading columns: {e}")))?;
    Ok(rows.rows_num() > 0)
}

/// Applies every schema file and records its version. Returns the newest
/// version. Every statement may be applied again: those of the first file
/// say IF NOT EXISTS, and an `ALTER TABLE … ADD` whose column exists is
/// skipped (also when another process added it meanwhile).
pub async fn migrate(
    session: &Session,
    keyspace: &str,
    replication: &str,
) -> Result<i32, StoreError> {
    let backend = |e: &dyn std::fmt::Display| StoreError::Backend(format!("schema: {e}"));
    let mut newest = 0;
    for (version, name, cql) in MIGRATIONS {
        for statement in statements(cql, keyspace, replication) {
            let added = added_column(&statement);
            if let Some((table, column)) = added
                && has_column(session, keyspace, table, column).await?
            {
                continue;
            }
            let applied = session.query_unpaged(statement.as_str(), ()).await;
            if let Err(error) = applied {
                let raced = match added {
                    Some((table, column)) => has_column(session, keyspace, table, column).await?,
                    None => false,
                };
                if !raced {
                    return Err(backend(&format!("{error} in {statement}")));
                }
            }
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
    fn later_files_add_columns_the_runner_can_skip() {
        let (version, _, cql) = MIGRATIONS[3];
        assert_eq!(version, 4);
        let statements = statements(cql, "rfq_test", "{'class': 'X'}");
        assert_eq!(statements, ["ALTER TABLE rfq_test.rfqs ADD radius_m int"]);
        assert_eq!(added_column(&statements[0]), Some(("rfqs", "radius_m")));
        let (version, _, cql) = MIGRATIONS[2];
        assert_eq!(version, 3);
        let added = super::statements(cql, "rfq_test", "{'class': 'X'}");
        assert_eq!(added, ["ALTER TABLE rfq_test.responses ADD seq int"]);
        assert_eq!(added_column(&added[0]), Some(("responses", "seq")));
        // Statements that are idempotent by themselves are run as they are.
        for statement in super::statements(MIGRATIONS[0].2, "rfq_test", "{'class': 'X'}") {
            assert_eq!(added_column(&statement), None, "{statement}");
        }
        // Every file after the first adds columns or creates what does not
        // exist (the runner could not apply anything else twice).
        for (_, name, cql) in &MIGRATIONS[1..] {
            for statement in super::statements(cql, "k", "r") {
                assert!(
                    added_column(&statement).is_some() || statement.contains(" IF NOT EXISTS "),
                    "{name}: {statement}"
                );
            }
        }
    }

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
