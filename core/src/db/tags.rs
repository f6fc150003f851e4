//! The `server_tags` table: the tags that group servers (`lab`, `nas`, `prod`).

use std::collections::HashMap;

use homelab_protocol::{ServerId, Tag};
use sqlx::{Any, Transaction};

use super::DbError;

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(format!("server_tags: {what}").into()))
}

/// Replaces the tags of `server` with `tags` (a parsed set: sorted, no duplicates).
pub async fn set(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    tags: &[Tag],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM server_tags WHERE server_id = $1")
        .bind(server.as_str())
        .execute(&mut **tx)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO server_tags (server_id, tag) VALUES ($1, $2)")
            .bind(server.as_str())
            .bind(tag.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The tags of `server`, sorted.
pub async fn of(
    executor: impl sqlx::Executor<'_, Database = Any>,
    server: &ServerId,
) -> Result<Vec<Tag>, DbError> {
    let tags: Vec<String> =
        sqlx::query_scalar("SELECT tag FROM server_tags WHERE server_id = $1 ORDER BY tag")
            .bind(server.as_str())
            .fetch_all(executor)
            .await?;
    tags.into_iter()
        .map(|t| Tag::parse(t).map_err(corrupt))
        .collect()
}

/// Every server's tags, read as one JSON value (see `servers::list` for why).
pub async fn all(db: &super::Database) -> Result<HashMap<ServerId, Vec<Tag>>, DbError> {
    let sql = match db.backend() {
        super::Backend::Sqlite => {
            "SELECT json_group_array(json_array(server_id, tag) ORDER BY server_id, tag) \
             FROM server_tags"
        }
        super::Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(server_id, tag) \
             ORDER BY server_id, tag), '[]')::text FROM server_tags"
        }
    };
    let json: String = sqlx::query_scalar(sql).fetch_one(db.pool()).await?;
    let pairs: Vec<(String, String)> = serde_json::from_str(&json).map_err(corrupt)?;
    let mut tags: HashMap<ServerId, Vec<Tag>> = HashMap::new();
    for (server, tag) in pairs {
        tags.entry(ServerId::parse(server).map_err(corrupt)?)
            .or_default()
            .push(Tag::parse(tag).map_err(corrupt)?);
    }
    Ok(tags)
}

/// The servers of the fleet carrying `tag`, by id.
pub async fn servers_with(
    executor: impl sqlx::Executor<'_, Database = Any>,
    tag: &Tag,
) -> Result<Vec<ServerId>, DbError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT t.server_id FROM server_tags t JOIN servers s ON s.id = t.server_id \
         WHERE t.tag = $1 AND s.removed_at_ms IS NULL ORDER BY t.server_id",
    )
    .bind(tag.as_str())
    .fetch_all(executor)
    .await?;
    ids.into_iter()
        .map(|id| ServerId::parse(id).map_err(corrupt))
        .collect()
}

/// Every tag in use, sorted: what the fleet page's filter offers.
pub async fn in_use(
    executor: impl sqlx::Executor<'_, Database = Any>,
) -> Result<Vec<Tag>, DbError> {
    let tags: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT t.tag FROM server_tags t JOIN servers s ON s.id = t.server_id \
         WHERE s.removed_at_ms IS NULL ORDER BY t.tag",
    )
    .fetch_all(executor)
    .await?;
    tags.into_iter()
        .map(|t| Tag::parse(t).map_err(corrupt))
        .collect()
}
