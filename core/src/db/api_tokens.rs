//! The `api_tokens` table: tokens for the JSON API, stored as hashes.

use sqlx::{Any, AnyPool, Transaction};

use super::DbError;

/// Stores a token hash under `name`; false when the name is taken.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    token_hash: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let result =
        sqlx::query("INSERT INTO api_tokens (name, token_hash, created_at_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(token_hash)
            .bind(now_ms)
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

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub created_at_ms: i64,
}

/// Every API token, by name.
pub async fn list(pool: &AnyPool) -> Result<Vec<TokenRecord>, DbError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, created_at_ms FROM api_tokens ORDER BY name")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, created_at_ms)| TokenRecord {
            name,
            created_at_ms,
        })
        .collect())
}

/// Deletes the token called `name`; false when there is none.
pub async fn delete(tx: &mut Transaction<'_, Any>, name: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
