//! `login_attempts`: the login throttle's record per user name. The rule that reads
//! and writes it lives in the service (`service/accounts.rs`); here only storage.

use sqlx::{Any, Row as _, Transaction};

use super::DbError;

/// One name's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Attempts not (yet) followed by a success.
    pub count: u32,
    /// When the next attempt may start (Unix ms).
    pub next_start_ms: i64,
    /// When the last attempt started (Unix ms).
    pub last_ms: i64,
}

/// The record of `name`, locked until the transaction ends, so that attempts at
/// once (on any replica) take their slots one after another. A name seen for the
/// first time gets an empty record; `true` then.
pub async fn lock(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    now_ms: i64,
) -> Result<(Attempts, bool), DbError> {
    let new = sqlx::query(
        "INSERT INTO login_attempts (name, attempts, next_start_ms, last_ms) \
         VALUES ($1, 0, $2, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    // A no-op update takes the row's lock (portable, where FOR UPDATE is not).
    sqlx::query("UPDATE login_attempts SET attempts = attempts WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    let row =
        sqlx::query("SELECT attempts, next_start_ms, last_ms FROM login_attempts WHERE name = $1")
            .bind(name)
            .fetch_one(&mut **tx)
            .await?;
    let count: i64 = row.try_get("attempts")?;
    Ok((
        Attempts {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            next_start_ms: row.try_get("next_start_ms")?,
            last_ms: row.try_get("last_ms")?,
        },
        new,
    ))
}

/// Stores `name`'s record.
pub async fn put(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    attempts: &Attempts,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE login_attempts SET attempts = $2, next_start_ms = $3, last_ms = $4 \
         WHERE name = $1",
    )
    .bind(name)
    .bind(i64::from(attempts.count))
    .bind(attempts.next_start_ms)
    .bind(attempts.last_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets `name` (a successful login).
pub async fn forget(tx: &mut Transaction<'_, Any>, name: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM login_attempts WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Keeps the table within `capacity` names: forgets those idle since before
/// `forget_before_ms`, then, if still over, the longest-idle ones but `keep`.
pub async fn make_room(
    tx: &mut Transaction<'_, Any>,
    keep: &str,
    forget_before_ms: i64,
    capacity: usize,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM login_attempts WHERE last_ms < $1 AND name <> $2")
        .bind(forget_before_ms)
        .bind(keep)
        .execute(&mut **tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts")
        .fetch_one(&mut **tx)
        .await?;
    let excess = usize::try_from(count).unwrap_or(0).saturating_sub(capacity);
    if excess > 0 {
        sqlx::query(
            "DELETE FROM login_attempts WHERE name IN (SELECT name FROM login_attempts \
             WHERE name <> $1 ORDER BY last_ms LIMIT $2)",
        )
        .bind(keep)
        .bind(i64::try_from(excess).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How many names are remembered.
pub async fn count(executor: impl sqlx::Executor<'_, Database = Any>) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts")
        .fetch_one(executor)
        .await?)
}
