//! The embedded store's API keys (`api_keys`): looked up on the reader,
//! added on the connection idempotency keys are claimed on (a short write
//! of its own, not a group commit). Rows: see [`crate::api_keys`].

use super::{Fields, Prepared, corrupt, millis, read_rows, time};
use crate::{
    StoreError, StoredKey,
    api_keys::{columns, principal},
};
use chrono::Utc;
use libsql::params;
use rfq_core::auth::{KeyDigest, Principal};

/// The migration that gives keys a role and a name (CQL's
/// `008_key_roles.cql`): rows from before have none, customers'.
pub(super) const ROLES_MIGRATION: &str = "
ALTER TABLE api_keys ADD COLUMN role TEXT;
ALTER TABLE api_keys ADD COLUMN name TEXT;
";

const COLUMNS: &str = "digest, customer, role, name, created_at";

fn key_from_row(row: &Fields<'_>) -> Result<StoredKey, StoreError> {
    // A partner's or operator's row holds '' as its customer (the column
    // is NOT NULL): no customer.
    let customer = Some(row.text("customer")?).filter(|c| !c.is_empty());
    Ok(StoredKey {
        digest: KeyDigest::parse(&row.text("digest")?).map_err(corrupt)?,
        principal: principal(
            customer,
            row.optional_text("role")?,
            row.optional_text("name")?,
        )?,
        created_at: time(row.int("created_at")?)?,
    })
}

/// [`Store::api_key_principal`](crate::Store::api_key_principal).
pub(super) async fn find(
    reader: &mut Prepared,
    digest: &KeyDigest,
) -> Result<Option<Principal>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE digest = ?1");
    let found = read_rows(reader, &sql, params![digest.as_str()], key_from_row).await?;
    Ok(found.into_iter().next().map(|key| key.principal))
}

/// [`Store::api_keys`](crate::Store::api_keys).
pub(super) async fn list(reader: &mut Prepared) -> Result<Vec<StoredKey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY digest");
    read_rows(reader, &sql, (), key_from_row).await
}

/// [`Store::add_api_key`](crate::Store::add_api_key).
pub(super) async fn add(
    connection: &mut Prepared,
    digest: &KeyDigest,
    principal: &Principal,
) -> Result<(), StoreError> {
    let (customer, role, name) = columns(principal);
    connection
        .execute(
            "INSERT INTO api_keys (digest, customer, role, name, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (digest) DO NOTHING",
            params![
                digest.as_str(),
                customer.unwrap_or_default(),
                role,
                name,
                millis(&Utc::now())
            ],
        )
        .await?;
    Ok(())
}
