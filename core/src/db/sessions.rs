//! The `sessions` table: who is signed in to the dashboard.

use sqlx::{Any, AnyPool, Transaction};

use super::DbError;

/// The user of a live session.
pub async fn user(
    pool: &AnyPool,
    token_hash: &str,
    now_ms: i64,
) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT user_name FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms)
    .fetch_optional(pool)
    .await?)
}

/// Ends a session (logout), and drops expired ones while at it.
pub async fn delete(
    tx: &mut Transaction<'_, Any>,
    token_hash: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at_ms <= $2")
        .bind(token_hash)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every session of `user` (its password changed); returns how many.
pub async fn delete_for_user(tx: &mut Transaction<'_, Any>, user: &str) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_name = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Ends every session of `user` but the one with `keep_hash` (the one that changed
/// the password); returns how many ended.
pub async fn delete_others(
    tx: &mut Transaction<'_, Any>,
    user: &str,
    keep_hash: &str,
) -> Result<u64, DbError> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE user_name = $1 AND token_hash <> $2")
            .bind(user)
            .bind(keep_hash)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// Stores a new session for `user` only while `password_hash` is still the user's:
/// a password changed since it was checked opens no session. True when stored.
pub async fn insert_if_password(
    tx: &mut Transaction<'_, Any>,
    token_hash: &str,
    user: &str,
    password_hash: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO sessions (token_hash, user_name, created_at_ms, expires_at_ms) \
         SELECT $1, $2, $3, $4 WHERE EXISTS \
         (SELECT 1 FROM users WHERE name = $2 AND password_hash = $5)",
    )
    .bind(token_hash)
    .bind(user)
    .bind(now_ms)
    .bind(expires_at_ms)
    .bind(password_hash)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
