//! The `servers` table: the managed machines.

use homelab_protocol::{ServerId, ServerName};
use sqlx::{AnyPool, Row};

use super::{DbError, now_ms};

/// A server as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRecord {
    pub id: ServerId,
    pub name: ServerName,
    pub last_seen_ms: Option<i64>,
    pub reboot_required: bool,
    pub paused: bool,
}

/// Why a server could not be added.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("a server with id `{0}` already exists")]
    DuplicateId(ServerId),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a new server with the hash of its agent token.
pub async fn insert(
    pool: &AnyPool,
    id: &ServerId,
    name: &ServerName,
    agent_token_hash: &str,
) -> Result<(), InsertError> {
    let result = sqlx::query(
        "INSERT INTO servers (id, name, agent_token_hash, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.as_str())
    .bind(name.as_str())
    .bind(agent_token_hash)
    .bind(now_ms())
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if super::is_unique_violation(&e) => Err(InsertError::DuplicateId(id.clone())),
        Err(e) => Err(InsertError::Db(e.into())),
    }
}

/// Every server, ordered by name then id.
pub async fn list(pool: &AnyPool) -> Result<Vec<ServerRecord>, DbError> {
    let rows = sqlx::query(
        "SELECT id, name, last_seen_ms, reboot_required, paused FROM servers ORDER BY name, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(record_from_row).collect()
}

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<ServerRecord, DbError> {
    let corrupt = |what: String| DbError::Sqlx(sqlx::Error::Decode(what.into()));
    let id: String = row.try_get("id")?;
    let name: String = row.try_get("name")?;
    Ok(ServerRecord {
        id: ServerId::parse(id).map_err(|e| corrupt(format!("servers.id: {e}")))?,
        name: ServerName::parse(&name).map_err(|e| corrupt(format!("servers.name: {e}")))?,
        last_seen_ms: row.try_get("last_seen_ms")?,
        reboot_required: super::flag(row, "reboot_required")?,
        paused: super::flag(row, "paused")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::fresh_db;

    fn id(s: &str) -> ServerId {
        ServerId::parse(s).unwrap()
    }
    fn name(s: &str) -> ServerName {
        ServerName::parse(s).unwrap()
    }

    #[tokio::test]
    async fn inserted_servers_are_listed_by_name() {
        let (db, _dir) = fresh_db().await;
        insert(db.pool(), &id("web"), &name("Web"), "h1")
            .await
            .unwrap();
        insert(db.pool(), &id("nas"), &name("Attic NAS"), "h2")
            .await
            .unwrap();

        let listed = list(db.pool()).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["nas", "web"]);
        assert_eq!(listed[0].name.as_str(), "Attic NAS");
        assert_eq!(listed[0].last_seen_ms, None);
        assert!(!listed[0].paused);
        assert!(!listed[0].reboot_required);
    }

    #[tokio::test]
    async fn a_second_server_with_the_same_id_is_refused_and_changes_nothing() {
        let (db, _dir) = fresh_db().await;
        insert(db.pool(), &id("web"), &name("Web"), "h1")
            .await
            .unwrap();
        let err = insert(db.pool(), &id("web"), &name("Other"), "h2")
            .await
            .unwrap_err();
        assert!(
            matches!(err, InsertError::DuplicateId(ref d) if d.as_str() == "web"),
            "{err}"
        );
        let listed = list(db.pool()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name.as_str(), "Web");
    }
}
