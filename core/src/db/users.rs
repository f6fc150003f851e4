//! The `users` table: dashboard accounts with argon2 password hashes.

use sqlx::{Any, AnyPool, Transaction};

use super::DbError;

/// Creates the account or replaces its password; true when it was created.
pub async fn upsert(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let updated = sqlx::query("UPDATE users SET password_hash = $2 WHERE name = $1")
        .bind(name)
        .bind(password_hash)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if updated == 0 {
        sqlx::query("INSERT INTO users (name, password_hash, created_at_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(password_hash)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(updated == 0)
}

/// The stored password hash of `name`.
pub async fn password_hash(pool: &AnyPool, name: &str) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?,
    )
}

/// How many accounts exist.
pub async fn count(pool: &AnyPool) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await?)
}
