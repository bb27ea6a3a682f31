//! The ScyllaDB store's partners (`partners`, schema file
//! `007_partners.cql`): every write is a lightweight transaction, so two
//! operators adding one name agree on who added it, and a rotation or a
//! removal applies only to a partner that is there and not removed.

use super::{
    ScyllaStore, backend,
    keys::{applied, prepare_transaction},
};
use crate::StoreError;
use chrono::{DateTime, Utc};
use rfq_core::{
    PartnerName,
    auth::{KeyDigest, partners::Partner, scram::ScramCredential},
};
use scylla::{
    DeserializeRow,
    client::session::Session,
    statement::{Consistency, prepared::PreparedStatement},
    value::CqlTimestamp,
};

/// The columns [`PartnerRow`] reads.
const COLUMNS: &str = "name, created_at, rotated_at, scram_salt, scram_iterations, \
     scram_stored_key, scram_server_key, registry_digest, removed";

/// One row of `partners` (read by name).
#[derive(Debug, DeserializeRow)]
struct PartnerRow {
    name: String,
    created_at: Option<CqlTimestamp>,
    rotated_at: Option<CqlTimestamp>,
    scram_salt: Option<Vec<u8>>,
    scram_iterations: Option<i32>,
    scram_stored_key: Option<Vec<u8>>,
    scram_server_key: Option<Vec<u8>>,
    registry_digest: Option<String>,
    removed: Option<bool>,
}

impl PartnerRow {
    fn into_domain(self) -> Result<Partner, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("partner {}: {what}", self.name));
        let time = |at: Option<CqlTimestamp>, what: &str| {
            at.and_then(|at| DateTime::from_timestamp_millis(at.0))
                .ok_or_else(|| corrupt(what))
        };
        let key = |bytes: &Option<Vec<u8>>, what: &str| {
            bytes
                .as_deref()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| corrupt(what))
        };
        Ok(Partner {
            name: PartnerName::parse(&self.name).map_err(|e| corrupt(&e.to_string()))?,
            created_at: time(self.created_at, "created_at")?,
            rotated_at: time(self.rotated_at, "rotated_at")?,
            scram: ScramCredential {
                salt: self.scram_salt.clone().ok_or_else(|| corrupt("salt"))?,
                iterations: self
                    .scram_iterations
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| corrupt("iterations"))?,
                stored_key: key(&self.scram_stored_key, "stored key")?,
                server_key: key(&self.scram_server_key, "server key")?,
            },
            registry_digest: self
                .registry_digest
                .as_deref()
                .and_then(|hex| KeyDigest::parse(hex).ok())
                .ok_or_else(|| corrupt("registry digest"))?,
            removed: self.removed.unwrap_or(false),
        })
    }
}

/// The prepared statements of the partners.
pub(super) struct PartnerStatements {
    insert: PreparedStatement,
    rotate: PreparedStatement,
    remove: PreparedStatement,
    select_one: PreparedStatement,
    select_all: PreparedStatement,
}

impl PartnerStatements {
    /// Prepares the statements on `session` at `consistency` (the
    /// transactions at the matching serial level).
    pub(super) async fn prepare(
        session: &Session,
        keyspace: &str,
        consistency: Consistency,
    ) -> Result<PartnerStatements, StoreError> {
        let table = format!("{keyspace}.partners");
        let prepare = async |cql: String| prepare_transaction(session, &cql, consistency).await;
        Ok(PartnerStatements {
            insert: prepare(format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, false) \
                 IF NOT EXISTS"
            ))
            .await?,
            rotate: prepare(format!(
                "UPDATE {table} SET rotated_at = ?, scram_salt = ?, scram_iterations = ?, \
                 scram_stored_key = ?, scram_server_key = ?, registry_digest = ? \
                 WHERE name = ? IF removed = false"
            ))
            .await?,
            remove: prepare(format!(
                "UPDATE {table} SET removed = true WHERE name = ? IF removed = false"
            ))
            .await?,
            select_one: prepare(format!("SELECT {COLUMNS} FROM {table} WHERE name = ?")).await?,
            select_all: prepare(format!("SELECT {COLUMNS} FROM {table}")).await?,
        })
    }
}

fn cql_time(at: &DateTime<Utc>) -> CqlTimestamp {
    CqlTimestamp(at.timestamp_millis())
}

fn iterations(scram: &ScramCredential) -> Result<i32, StoreError> {
    i32::try_from(scram.iterations).map_err(backend)
}

impl ScyllaStore {
    /// [`Store::add_partner`](crate::Store::add_partner).
    pub(super) async fn insert_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        let scram = &partner.scram;
        let values = (
            partner.name.as_str(),
            cql_time(&partner.created_at),
            cql_time(&partner.rotated_at),
            scram.salt.as_slice(),
            iterations(scram)?,
            scram.stored_key.as_slice(),
            scram.server_key.as_slice(),
            partner.registry_digest.as_str(),
        );
        applied(self.run(&self.statements.partners.insert, values).await?)
    }

    /// [`Store::rotate_partner`](crate::Store::rotate_partner).
    pub(super) async fn rotate(
        &self,
        name: &PartnerName,
        scram: &ScramCredential,
        registry_digest: &KeyDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let values = (
            cql_time(&at),
            scram.salt.as_slice(),
            iterations(scram)?,
            scram.stored_key.as_slice(),
            scram.server_key.as_slice(),
            registry_digest.as_str(),
            name.as_str(),
        );
        applied(self.run(&self.statements.partners.rotate, values).await?)
    }

    /// [`Store::remove_partner`](crate::Store::remove_partner).
    pub(super) async fn remove(&self, name: &PartnerName) -> Result<bool, StoreError> {
        let values = (name.as_str(),);
        applied(self.run(&self.statements.partners.remove, values).await?)
    }

    /// [`Store::partners`](crate::Store::partners) (`name`: that one only).
    pub(super) async fn read_partners(
        &self,
        name: Option<&PartnerName>,
    ) -> Result<Vec<Partner>, StoreError> {
        let s = &self.statements.partners;
        let rows: Vec<PartnerRow> = match name {
            Some(name) => self.rows(&s.select_one, (name.as_str(),)).await?,
            None => self.rows(&s.select_all, ()).await?,
        };
        let mut partners = rows
            .into_iter()
            .map(PartnerRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        partners.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(partners)
    }
}
