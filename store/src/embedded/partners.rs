//! The embedded store's partners (`partners`): one row a partner, its
//! SCRAM credential's bytes in base64, its registry password's digest in
//! hex. Written on the keys' connection (short writes of their own), read
//! on the reader's.

use super::{Fields, Prepared, corrupt, millis, read_rows, time};
use crate::StoreError;
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use chrono::{DateTime, Utc};
use libsql::params;
use rfq_core::{
    PartnerName,
    auth::{KeyDigest, partners::Partner, scram::ScramCredential},
};

/// The table, created by a migration (see `MIGRATIONS` in the parent).
pub(super) const MIGRATION: &str = "
CREATE TABLE partners (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER NOT NULL,
    scram_salt TEXT NOT NULL,
    scram_iterations INTEGER NOT NULL,
    scram_stored_key TEXT NOT NULL,
    scram_server_key TEXT NOT NULL,
    registry_digest TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0
);
";

const COLUMNS: &str = "name, created_at, rotated_at, scram_salt, scram_iterations, \
     scram_stored_key, scram_server_key, registry_digest, removed";

/// [`Store::add_partner`](crate::Store::add_partner).
pub(super) async fn add(writer: &mut Prepared, partner: &Partner) -> Result<bool, StoreError> {
    let scram = &partner.scram;
    let added = writer
        .execute(
            &format!(
                "INSERT INTO partners ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (name) DO NOTHING"
            ),
            params![
                partner.name.as_str(),
                millis(&partner.created_at),
                millis(&partner.rotated_at),
                B64.encode(&scram.salt),
                i64::from(scram.iterations),
                B64.encode(scram.stored_key),
                B64.encode(scram.server_key),
                partner.registry_digest.as_str(),
                i64::from(partner.removed),
            ],
        )
        .await?;
    Ok(added > 0)
}

/// [`Store::rotate_partner`](crate::Store::rotate_partner).
pub(super) async fn rotate(
    writer: &mut Prepared,
    name: &PartnerName,
    scram: &ScramCredential,
    registry_digest: &KeyDigest,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = writer
        .execute(
            "UPDATE partners SET rotated_at = ?2, scram_salt = ?3, scram_iterations = ?4, \
             scram_stored_key = ?5, scram_server_key = ?6, registry_digest = ?7 \
             WHERE name = ?1 AND removed = 0",
            params![
                name.as_str(),
                millis(&at),
                B64.encode(&scram.salt),
                i64::from(scram.iterations),
                B64.encode(scram.stored_key),
                B64.encode(scram.server_key),
                registry_digest.as_str(),
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// [`Store::remove_partner`](crate::Store::remove_partner).
pub(super) async fn remove(writer: &mut Prepared, name: &PartnerName) -> Result<bool, StoreError> {
    let changed = writer
        .execute(
            "UPDATE partners SET removed = 1 WHERE name = ?1 AND removed = 0",
            params![name.as_str()],
        )
        .await?;
    Ok(changed > 0)
}

/// [`Store::partners`](crate::Store::partners) (`name`: that one only).
pub(super) async fn read(
    reader: &mut Prepared,
    name: Option<&PartnerName>,
) -> Result<Vec<Partner>, StoreError> {
    match name {
        Some(name) => {
            let sql = format!("SELECT {COLUMNS} FROM partners WHERE name = ?1");
            read_rows(reader, &sql, params![name.as_str()], from_row).await
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM partners ORDER BY name");
            read_rows(reader, &sql, (), from_row).await
        }
    }
}

fn key(row: &Fields<'_>, column: &str) -> Result<[u8; 32], StoreError> {
    let bytes = B64.decode(row.text(column)?).map_err(corrupt)?;
    bytes
        .try_into()
        .map_err(|_| corrupt(format!("{column} is not 32 bytes")))
}

fn from_row(row: &Fields<'_>) -> Result<Partner, StoreError> {
    Ok(Partner {
        name: PartnerName::parse(&row.text("name")?).map_err(corrupt)?,
        created_at: time(row.int("created_at")?)?,
        rotated_at: time(row.int("rotated_at")?)?,
        scram: ScramCredential {
            salt: B64.decode(row.text("scram_salt")?).map_err(corrupt)?,
            iterations: u32::try_from(row.int("scram_iterations")?).map_err(corrupt)?,
            stored_key: key(row, "scram_stored_key")?,
            server_key: key(row, "scram_server_key")?,
        },
        registry_digest: KeyDigest::parse(&row.text("registry_digest")?).map_err(corrupt)?,
        removed: row.int("removed")? != 0,
    })
}
