//! The embedded store's idempotency keys: one row per (customer, key) in
//! `idempotency_keys`, claimed in a transaction of its own on a connection
//! of its own, so that a claim neither waits for a group commit of effects
//! nor holds up the readers. SQLite's write lock makes the claim atomic
//! across processes sharing the file; expired rows read as absent, are
//! overwritten by the next claim, and are deleted at most once a
//! [`PURGE_EVERY`] by a claim.

use super::{Fields, Prepared, corrupt, millis, read_rows, time};
use crate::{Claimed, KeyClaim, StoreError};
use chrono::{DateTime, Utc};
use libsql::params;
use rfq_core::{CorrelationId, CustomerId, IdempotencyKey};
use std::time::{Duration, Instant};

/// How often expired keys are deleted (by the claim that comes next).
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The table, created by a migration (see `MIGRATIONS` in the parent).
pub(super) const MIGRATION: &str = "
CREATE TABLE idempotency_keys (
    customer TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    rfq_id TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
";

/// The connection claims go through, and when it last purged.
pub(super) struct Keys {
    /// Its own connection (claims are short write transactions).
    connection: Prepared,
    /// When expired keys were last deleted (None: not since start).
    purged_at: Option<Instant>,
}

impl Keys {
    /// The connection, for other short writes (API keys).
    pub(super) fn connection(&mut self) -> &mut Prepared {
        &mut self.connection
    }

    /// Claims on `connection`.
    pub(super) fn new(connection: libsql::Connection) -> Keys {
        Keys {
            connection: Prepared::new(connection),
            purged_at: None,
        }
    }

    /// [`Store::claim_key`](crate::Store::claim_key), in one transaction.
    pub(super) async fn claim(
        &mut self,
        claim: &KeyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        self.connection.execute("BEGIN IMMEDIATE", ()).await?;
        let claimed = self.claim_in_transaction(claim, now).await;
        let end = if claimed.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        if let Err(error) = self.connection.execute(end, ()).await {
            let _ = self.connection.connection.execute("ROLLBACK", ()).await;
            return Err(error);
        }
        claimed
    }

    async fn claim_in_transaction(
        &mut self,
        claim: &KeyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        if self.purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            self.connection
                .execute(
                    "DELETE FROM idempotency_keys WHERE expires_at <= ?1",
                    params![millis(&now)],
                )
                .await?;
            self.purged_at = Some(Instant::now());
        }
        let held = read_rows(
            &mut self.connection,
            "SELECT customer, key, fingerprint, rfq_id, claimed_at, expires_at, completed \
             FROM idempotency_keys WHERE customer = ?1 AND key = ?2 AND expires_at > ?3",
            params![claim.customer.as_str(), claim.key.as_str(), millis(&now)],
            claim_from_row,
        )
        .await?;
        if let Some(held) = held.into_iter().next() {
            return Ok(Claimed::Held(held));
        }
        // Absent or expired: ours.
        self.connection
            .execute(
                "INSERT OR REPLACE INTO idempotency_keys (customer, key, fingerprint, rfq_id, \
                 claimed_at, expires_at, completed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                params![
                    claim.customer.as_str(),
                    claim.key.as_str(),
                    claim.fingerprint.as_str(),
                    claim.rfq.to_string(),
                    millis(&claim.claimed_at),
                    millis(&claim.expires_at),
                ],
            )
            .await?;
        Ok(Claimed::Won)
    }

    /// [`Store::complete_key`](crate::Store::complete_key).
    pub(super) async fn complete(&mut self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.if_held(claim, "UPDATE idempotency_keys SET completed = 1")
            .await
    }

    /// [`Store::release_key`](crate::Store::release_key).
    pub(super) async fn release(&mut self, claim: &KeyClaim) -> Result<(), StoreError> {
        self.if_held(claim, "DELETE FROM idempotency_keys").await
    }

    /// Runs `change` on the row of `claim`'s key if it is held for `claim.rfq`.
    async fn if_held(&mut self, claim: &KeyClaim, change: &str) -> Result<(), StoreError> {
        let sql = format!("{change} WHERE customer = ?1 AND key = ?2 AND rfq_id = ?3");
        let key = (claim.customer.as_str(), claim.key.as_str());
        self.connection
            .execute(&sql, params![key.0, key.1, claim.rfq.to_string()])
            .await
            .map(|_| ())
    }
}

fn claim_from_row(row: &Fields<'_>) -> Result<KeyClaim, StoreError> {
    Ok(KeyClaim {
        customer: CustomerId::parse(&row.text("customer")?).map_err(corrupt)?,
        key: IdempotencyKey::parse(&row.text("key")?).map_err(corrupt)?,
        fingerprint: row.text("fingerprint")?,
        rfq: CorrelationId::parse(&row.text("rfq_id")?).map_err(corrupt)?,
        claimed_at: time(row.int("claimed_at")?)?,
        expires_at: time(row.int("expires_at")?)?,
        completed: row.int("completed")? != 0,
    })
}
