//! The `pending_packages` table: each server's pending apt updates.

use std::collections::HashMap;

use homelab_protocol::{DebVersion, PackageName, PendingPackage, ServerId};
use sqlx::{Any, Row, Transaction};

use super::DbError;

/// Replaces the server's list with `packages`, keeping the first-seen time of every
/// package that was already pending.
pub async fn replace(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    packages: &[PendingPackage],
    now_ms: i64,
) -> Result<(), DbError> {
    let first_seen: HashMap<String, i64> =
        sqlx::query("SELECT name, first_seen_ms FROM pending_packages WHERE server_id = $1")
            .bind(server.as_str())
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("name")?, row.try_get("first_seen_ms")?)))
            .collect::<Result<_, sqlx::Error>>()?;

    sqlx::query("DELETE FROM pending_packages WHERE server_id = $1")
        .bind(server.as_str())
        .execute(&mut **tx)
        .await?;
    for p in packages {
        sqlx::query(
            "INSERT INTO pending_packages (server_id, name, current_version, new_version, \
             repository, is_security, security_version, held, kept_back, first_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(server.as_str())
        .bind(p.name.as_str())
        .bind(p.current_version.as_str())
        .bind(p.new_version.as_str())
        .bind(p.repository.as_str())
        .bind(i32::from(p.is_security))
        .bind(p.security_version.as_ref().map(DebVersion::as_str))
        .bind(i32::from(p.held))
        .bind(i32::from(p.kept_back))
        .bind(first_seen.get(p.name.as_str()).copied().unwrap_or(now_ms))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A pending package with the time it was first reported.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPackage {
    pub package: PendingPackage,
    pub first_seen_ms: i64,
}

/// The server's pending packages: security first, then by name.
pub async fn list(
    executor: impl sqlx::Executor<'_, Database = Any>,
    server: &ServerId,
) -> Result<Vec<StoredPackage>, DbError> {
    let rows: Vec<PackageRow> = sqlx::query_as(
        "SELECT name, current_version, new_version, repository, is_security, security_version, \
         held, kept_back, first_seen_ms FROM pending_packages WHERE server_id = $1 \
         ORDER BY is_security DESC, name",
    )
    .bind(server.as_str())
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(StoredPackage::try_from).collect()
}

/// A `pending_packages` row as stored.
#[derive(sqlx::FromRow)]
struct PackageRow {
    name: String,
    current_version: String,
    new_version: String,
    repository: String,
    /// The flags are 0/1: sqlx's Any driver cannot read SQLite's BOOLEAN.
    is_security: i64,
    security_version: Option<String>,
    held: i64,
    kept_back: i64,
    first_seen_ms: i64,
}

impl TryFrom<PackageRow> for StoredPackage {
    type Error = DbError;

    fn try_from(r: PackageRow) -> Result<Self, DbError> {
        let corrupt = |e: homelab_protocol::PackageError| {
            DbError::Sqlx(sqlx::Error::Decode(format!("pending_packages: {e}").into()))
        };
        Ok(StoredPackage {
            package: PendingPackage {
                name: PackageName::parse(r.name).map_err(corrupt)?,
                current_version: DebVersion::parse(r.current_version).map_err(corrupt)?,
                new_version: DebVersion::parse(r.new_version).map_err(corrupt)?,
                repository: r.repository,
                is_security: r.is_security != 0,
                security_version: r
                    .security_version
                    .map(DebVersion::parse)
                    .transpose()
                    .map_err(corrupt)?,
                held: r.held != 0,
                kept_back: r.kept_back != 0,
            },
            first_seen_ms: r.first_seen_ms,
        })
    }
}

/// Per server: installable updates and security updates (held packages excluded from
/// both, kept-back ones from the installable count).
pub async fn counts(pool: &sqlx::AnyPool) -> Result<HashMap<String, (u32, u32)>, DbError> {
    let rows = sqlx::query(
        "SELECT server_id, \
         SUM(CASE WHEN held = 0 AND kept_back = 0 THEN 1 ELSE 0 END) AS installable, \
         SUM(CASE WHEN held = 0 AND is_security = 1 THEN 1 ELSE 0 END) AS security \
         FROM pending_packages GROUP BY server_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let count = |col: &str| -> Result<u32, sqlx::Error> {
                Ok(u32::try_from(row.try_get::<i64, _>(col)?).unwrap_or(u32::MAX))
            };
            Ok((
                row.try_get("server_id")?,
                (count("installable")?, count("security")?),
            ))
        })
        .collect()
}

/// Forgets the server's pending packages (it was removed).
pub async fn clear(tx: &mut Transaction<'_, Any>, server: &ServerId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM pending_packages WHERE server_id = $1")
        .bind(server.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
