//! The `api_tokens` table: tokens for the JSON API, stored as hashes.

use sqlx::{Any, AnyPool, Transaction};

use super::{DbError, now_ms};

/// Stores a token hash under `name`; false when the name is taken.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    token_hash: &str,
) -> Result<bool, DbError> {
    let result =
        sqlx::query("INSERT INTO api_tokens (name, token_hash, created_at_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(token_hash)
            .bind(now_ms())
            .execute(&mut **tx)
            .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The name of the token with this hash, if any.
pub async fn find(pool: &AnyPool, token_hash: &str) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT name FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(pool)
            .await?,
    )
}
