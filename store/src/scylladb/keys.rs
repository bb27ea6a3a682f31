//! The ScyllaDB store's idempotency keys (`idempotency_keys`, schema file
//! `002_idempotency_keys.cql`): claimed with a lightweight transaction, so
//! that producers racing on one key agree on the first claim.
//!
//! Every write to the table is conditional (Paxos orders conditional
//! writes only among themselves) and the claim reads at the serial level of
//! those writes, so it sees a claim whose transaction is still in progress.
//! That level follows `--scylla-consistency`: `LOCAL_SERIAL` for a `local-*`
//! level (a key is claimed once per data centre, at local latency),
//! `SERIAL` otherwise (once in the cluster). Rows carry a TTL
//! until the key expires; a row past its `expires_at` but not yet gone (a
//! `now` ahead of the server's clock) is deleted conditionally and claimed
//! again. A claim that finds its own row (a retried insert that had been
//! applied) counts as won, so retrying a claim is safe.

use super::{ScyllaStore, backend, rows};
use crate::{Claimed, KeyClaim, StoreError};
use chrono::{DateTime, Utc};
use rfq_core::{CorrelationId, CustomerId, IdempotencyKey};
use scylla::{
    client::session::Session,
    statement::{Consistency, SerialConsistency, prepared::PreparedStatement},
    value::{CqlTimestamp, CqlValue, Row},
};
use std::time::Duration;
use uuid::Uuid;

/// Rounds of insert, read and delete-if-expired before a claim gives up
/// (each round ends unless the key expired or vanished meanwhile).
const ROUNDS: usize = 4;

/// The columns of a claim, in the order of [`KeyRow`].
const COLUMNS: &str = "customer, key, fingerprint, rfq_id, claimed_at, expires_at, completed";

/// One row of `idempotency_keys`, in [`COLUMNS`] order.
type KeyRow = (
    String,
    String,
    String,
    Uuid,
    CqlTimestamp,
    CqlTimestamp,
    Option<bool>,
);

/// The prepared statements of the idempotency keys.
pub(super) struct KeyStatements {
    /// Claims an absent key (`IF NOT EXISTS`).
    insert: PreparedStatement,
    /// Reads a key at the serial level of the transactions.
    select: PreparedStatement,
    /// Marks a key completed if it is still held for an RFQ.
    complete: PreparedStatement,
    /// Deletes a key if it is still held for an RFQ.
    delete: PreparedStatement,
}

impl KeyStatements {
    /// Prepares the statements on `session` at `consistency`, their
    /// transactions (and the select) at the matching serial level.
    pub(super) async fn prepare(
        session: &Session,
        keyspace: &str,
        consistency: Consistency,
    ) -> Result<KeyStatements, StoreError> {
        let table = format!("{keyspace}.idempotency_keys");
        let serial = serial_for(consistency);
        let prepare = async |cql: String, consistency: Consistency| {
            let mut statement = prepare_transaction(session, &cql, consistency).await?;
            // A retried claim that had been applied finds its own row:
            // `ScyllaStore::claim` counts that as won.
            statement.set_is_idempotent(true);
            Ok::<_, StoreError>(statement)
        };
        Ok(KeyStatements {
            insert: prepare(
                format!(
                    "INSERT INTO {table} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, false) \
                     IF NOT EXISTS USING TTL ?"
                ),
                consistency,
            )
            .await?,
            select: prepare(
                format!("SELECT {COLUMNS} FROM {table} WHERE customer = ? AND key = ?"),
                match serial {
                    SerialConsistency::LocalSerial => Consistency::LocalSerial,
                    SerialConsistency::Serial => Consistency::Serial,
                },
            )
            .await?,
            complete: prepare(
                format!(
                    "UPDATE {table} USING TTL ? SET completed = true \
                     WHERE customer = ? AND key = ? IF rfq_id = ?"
                ),
                consistency,
            )
            .await?,
            delete: prepare(
                format!("DELETE FROM {table} WHERE customer = ? AND key = ? IF rfq_id = ?"),
                consistency,
            )
            .await?,
        })
    }
}

/// The serial level of lightweight transactions at `consistency`:
/// `LOCAL_SERIAL` for a `local-*` level, `SERIAL` otherwise.
pub(super) fn serial_for(consistency: Consistency) -> SerialConsistency {
    match consistency {
        Consistency::LocalOne | Consistency::LocalQuorum => SerialConsistency::LocalSerial,
        _ => SerialConsistency::Serial,
    }
}

/// `cql` prepared at `consistency`, its transaction at the matching serial
/// level ([`serial_for`]).
pub(super) async fn prepare_transaction(
    session: &Session,
    cql: &str,
    consistency: Consistency,
) -> Result<PreparedStatement, StoreError> {
    let mut statement = session
        .prepare(cql)
        .await
        .map_err(|e| backend(format!("preparing {cql}: {e}")))?;
    statement.set_consistency(consistency);
    statement.set_serial_consistency(Some(serial_for(consistency)));
    Ok(statement)
}

/// Seconds a key written at `now` is kept: until it expires (at least 1).
fn ttl(claim: &KeyClaim, now: &DateTime<Utc>) -> i32 {
    rows::ttl(&claim.expires_at, now, Duration::ZERO)
}

/// Whether a conditional statement's answer says `[applied]`.
pub(super) fn applied(
    result: scylla::response::query_result::QueryResult,
) -> Result<bool, StoreError> {
    let rows = result.into_rows_result().map_err(backend)?;
    let row: Row = rows.first_row().map_err(backend)?;
    match row.columns.first() {
        Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
        other => Err(backend(format!("no [applied] in {other:?}"))),
    }
}

fn claim_from_row(row: KeyRow) -> Result<KeyClaim, StoreError> {
    let (customer, key, fingerprint, rfq, claimed_at, expires_at, completed) = row;
    let corrupt = |e: rfq_core::DomainError| StoreError::Corrupt(e.to_string());
    let time = |at: CqlTimestamp| {
        DateTime::from_timestamp_millis(at.0)
            .ok_or_else(|| StoreError::Corrupt(format!("timestamp {}", at.0)))
    };
    Ok(KeyClaim {
        customer: CustomerId::parse(&customer).map_err(corrupt)?,
        key: IdempotencyKey::parse(&key).map_err(corrupt)?,
        fingerprint,
        rfq: CorrelationId::from(rfq),
        claimed_at: time(claimed_at)?,
        expires_at: time(expires_at)?,
        completed: completed.unwrap_or(false),
    })
}

impl ScyllaStore {
    /// [`Store::claim_key`](crate::Store::claim_key).
    pub(super) async fn claim(
        &self,
        claim: &KeyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        let s = &self.statements.keys;
        let (customer, key) = (claim.customer.as_str(), claim.key.as_str());
        for _ in 0..ROUNDS {
            let values = (
                customer,
                key,
                claim.fingerprint.as_str(),
                *claim.rfq.as_uuid(),
                rows::cql_time(&claim.claimed_at),
                rows::cql_time(&claim.expires_at),
                ttl(claim, &now),
            );
            if applied(self.run(&s.insert, values).await?)? {
                return Ok(Claimed::Won);
            }
            let result = self.run(&s.select, (customer, key)).await?;
            let rows = result.into_rows_result().map_err(backend)?;
            let Some(row) = rows.maybe_first_row::<KeyRow>().map_err(backend)? else {
                continue; // Gone meanwhile (expired or released): try again.
            };
            let held = claim_from_row(row)?;
            if held.rfq == claim.rfq {
                return Ok(Claimed::Won); // Our own insert, retried.
            }
            if held.expires_at > now {
                return Ok(Claimed::Held(held));
            }
            // Expired by `now`: remove exactly that claim, then claim again.
            self.run(&s.delete, (customer, key, *held.rfq.as_uuid()))
                .await?;
        }
        Err(backend(format!(
            "idempotency key {key:?} changed hands {ROUNDS} times during one claim"
        )))
    }

    /// [`Store::complete_key`](crate::Store::complete_key).
    pub(super) async fn complete(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        let values = (
            ttl(claim, &Utc::now()),
            claim.customer.as_str(),
            claim.key.as_str(),
            *claim.rfq.as_uuid(),
        );
        // Not applied: the key is held for another RFQ (or gone): nothing to do.
        self.run(&self.statements.keys.complete, values)
            .await
            .map(|_| ())
    }

    /// [`Store::release_key`](crate::Store::release_key).
    pub(super) async fn release(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        let values = (
            claim.customer.as_str(),
            claim.key.as_str(),
            *claim.rfq.as_uuid(),
        );
        self.run(&self.statements.keys.delete, values)
            .await
            .map(|_| ())
    }
}
