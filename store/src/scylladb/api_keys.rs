//! The ScyllaDB store's API keys (`api_keys`, roles from
//! `008_key_roles.cql`). Rows: see [`crate::api_keys`].

use super::ScyllaStore;
use crate::{
    StoreError, StoredKey,
    api_keys::{columns, principal},
};
use chrono::{DateTime, Utc};
use rfq_core::auth::{KeyDigest, Principal};
use scylla::value::CqlTimestamp;

/// A key row: customer, role, name, created at.
type KeyRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<CqlTimestamp>,
);

fn stored(digest: KeyDigest, row: KeyRow) -> Result<StoredKey, StoreError> {
    let (customer, role, name, created_at) = row;
    let created_at = created_at
        .and_then(|CqlTimestamp(millis)| DateTime::<Utc>::from_timestamp_millis(millis))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    Ok(StoredKey {
        digest,
        principal: principal(customer, role, name)?,
        created_at,
    })
}

impl ScyllaStore {
    /// [`Store::api_key_principal`](crate::Store::api_key_principal).
    pub(super) async fn key_principal(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<Principal>, StoreError> {
        let rows: Vec<KeyRow> = self
            .rows(&self.statements.select_api_key, (digest.as_str(),))
            .await?;
        rows.into_iter()
            .next()
            .map(|row| stored(digest.clone(), row).map(|key| key.principal))
            .transpose()
    }

    /// [`Store::add_api_key`](crate::Store::add_api_key).
    pub(super) async fn add_key(
        &self,
        digest: &KeyDigest,
        principal: &Principal,
    ) -> Result<(), StoreError> {
        let now = CqlTimestamp(Utc::now().timestamp_millis());
        let (customer, role, name) = columns(principal);
        self.run(
            &self.statements.insert_api_key,
            (digest.as_str(), customer, role, name, now),
        )
        .await?;
        Ok(())
    }

    /// [`Store::api_keys`](crate::Store::api_keys), by digest.
    pub(super) async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        type ListedRow = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<CqlTimestamp>,
        );
        let rows: Vec<ListedRow> = self.rows(&self.statements.list_api_keys, ()).await?;
        let mut keys = rows
            .into_iter()
            .map(|(digest, customer, role, name, at)| {
                let digest =
                    KeyDigest::parse(&digest).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                stored(digest, (customer, role, name, at))
            })
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(keys)
    }
}
