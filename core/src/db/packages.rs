//! The `pending_packages` table: each server's pending apt updates.

use homelab_protocol::{DebVersion, PackageName, PendingPackage, ServerId};
use sqlx::{Any, Transaction};

use super::DbError;

/// Rows per multi-row statement, largest first: a change of any size is written with
/// a few statements of these three shapes only, so each stays prepared in the
/// connection's statement cache.
const CHUNKS: [usize; 3] = [64, 8, 1];

/// Splits `items` into runs of the sizes in [`CHUNKS`].
fn chunked<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.into_iter().find(|&c| c <= items.len())?;
        let (run, rest) = items.split_at(size);
        items = rest;
        Some(run)
    })
}

/// Replaces the server's list with `packages`, writing only what changed: packages
/// gone are deleted, new ones inserted, changed ones updated, unchanged rows left
/// alone. A package that was already pending keeps its first-seen time.
///
/// The database compares, not this process: reading the stored list back would
/// cost a round trip per row (sqlx hands SQLite's rows over one by one), where these
/// statements cost one each, whatever the list's size (64 rows per insert).
pub async fn replace(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    packages: &[PendingPackage],
    now_ms: i64,
) -> Result<(), DbError> {
    // Gone: every stored name the list does not carry.
    let mut sql = "DELETE FROM pending_packages WHERE server_id = $1".to_owned();
    if !packages.is_empty() {
        let names = (2..packages.len() + 2)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(" AND name NOT IN ({names})"));
    }
    let mut query = sqlx::query(&sql).bind(server.as_str());
    for p in packages {
        query = query.bind(p.name.as_str());
    }
    query.execute(&mut **tx).await?;

    // New or changed: inserted, or updated in place when a column differs (the
    // first-seen time stays).
    for rows in chunked(packages) {
        let values = (0..rows.len())
            .map(|r| {
                let cols = (1..=INSERT_COLUMNS)
                    .map(|c| format!("${}", r * INSERT_COLUMNS + c))
                    .collect::<Vec<_>>();
                format!("({})", cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO pending_packages (server_id, name, current_version, new_version, \
             repository, is_security, security_version, held, kept_back, first_seen_ms) \
             VALUES {values} \
             ON CONFLICT (server_id, name) DO UPDATE SET \
             current_version = excluded.current_version, new_version = excluded.new_version, \
             repository = excluded.repository, is_security = excluded.is_security, \
             security_version = excluded.security_version, held = excluded.held, \
             kept_back = excluded.kept_back \
             WHERE pending_packages.current_version <> excluded.current_version \
             OR pending_packages.new_version <> excluded.new_version \
             OR pending_packages.repository <> excluded.repository \
             OR pending_packages.is_security <> excluded.is_security \
             OR COALESCE(pending_packages.security_version, '') \
                <> COALESCE(excluded.security_version, '') \
             OR pending_packages.held <> excluded.held \
             OR pending_packages.kept_back <> excluded.kept_back"
        );
        let mut query = sqlx::query(&sql);
        for p in rows {
            query = query
                .bind(server.as_str())
                .bind(p.name.as_str())
                .bind(p.current_version.as_str())
                .bind(p.new_version.as_str())
                .bind(p.repository.as_str())
                .bind(i32::from(p.is_security))
                .bind(p.security_version.as_ref().map(DebVersion::as_str))
                .bind(i32::from(p.held))
                .bind(i32::from(p.kept_back))
                .bind(now_ms);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The values each inserted package row binds.
const INSERT_COLUMNS: usize = 10;

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

/// Forgets the server's pending packages (it was removed), and their counts.
pub async fn clear(tx: &mut Transaction<'_, Any>, server: &ServerId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM pending_packages WHERE server_id = $1")
        .bind(server.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE servers SET updates_count = 0, security_updates_count = 0 WHERE id = $1")
        .bind(server.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
