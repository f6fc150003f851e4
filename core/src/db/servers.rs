//! The `servers` table: the managed machines.

use homelab_protocol::{ApprovalPolicy, Heartbeat, Metrics, Millis, ServerId, ServerName};
use std::sync::LazyLock;

use sqlx::{Any, AnyPool, Row, Transaction};

use super::DbError;
use homelab_protocol::UpdateCounts;

/// A server as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRecord {
    pub id: ServerId,
    pub name: ServerName,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub agent_version: Option<String>,
    pub last_seen_ms: Option<Millis>,
    /// The latest metrics, once the agent has sent any.
    pub metrics: Option<Metrics>,
    pub reboot_required: bool,
    pub reboot_required_pkgs: Vec<String>,
    pub paused: bool,
    pub paused_at_ms: Option<Millis>,
    pub approval_policy: ApprovalPolicy,
    /// When the agent last sent a package list.
    pub packages_seen_at_ms: Option<Millis>,
    /// The counts of its pending packages, stored with its list.
    pub updates: UpdateCounts,
}

const COLUMNS: &str = "id, name, hostname, os, agent_version, last_seen_ms, cpu_percent, \
    memory_percent, disk_percent, load_1, load_5, load_15, uptime_s, reboot_required, reboot_required_pkgs, paused, \
    paused_at_ms, approval_policy, packages_seen_at_ms, updates_count, security_updates_count";

/// A server id read back from the database.
fn stored_id(id: String) -> Result<ServerId, DbError> {
    ServerId::parse(id)
        .map_err(|e| DbError::Sqlx(sqlx::Error::Decode(format!("servers.id: {e}").into())))
}

/// Why a server could not be added.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("a server with id `{0}` already exists")]
    DuplicateId(ServerId),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a new server with the hash of its agent token. The id of a removed server
/// can be taken again: its row comes back as a new machine (nothing reported yet),
/// keeping its history.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    name: &ServerName,
    agent_token_hash: &str,
    now_ms: i64,
) -> Result<(), InsertError> {
    let result = sqlx::query(
        "INSERT INTO servers (id, name, agent_token_hash, created_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET name = $2, agent_token_hash = $3, created_at_ms = $4, \
         removed_at_ms = NULL, removed_by = NULL, hostname = NULL, os = NULL, \
         agent_version = NULL, last_seen_ms = NULL, cpu_percent = NULL, memory_percent = NULL, \
         disk_percent = NULL, load_1 = NULL, load_5 = NULL, load_15 = NULL, uptime_s = NULL, \
         reboot_required = 0, reboot_required_pkgs = $5, paused = 0, paused_at_ms = NULL, \
         approval_policy = $6, packages_digest = NULL, packages_seen_at_ms = NULL, \
         updates_count = 0, security_updates_count = 0 \
         WHERE servers.removed_at_ms IS NOT NULL",
    )
    .bind(id.as_str())
    .bind(name.as_str())
    .bind(agent_token_hash)
    .bind(now_ms)
    .bind("[]")
    .bind(ApprovalPolicy::Auto.as_str())
    .execute(&mut **tx)
    .await;
    match result {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        // The id belongs to a server that was not removed.
        Ok(_) => Err(InsertError::DuplicateId(id.clone())),
        Err(e) if super::is_unique_violation(&e) => Err(InsertError::DuplicateId(id.clone())),
        Err(e) => Err(InsertError::Db(e.into())),
    }
}

/// Gives the server a new agent token hash; false when there is no such server.
pub async fn set_token_hash(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    agent_token_hash: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET agent_token_hash = $2 WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .bind(agent_token_hash)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the server removed and locks its agent out (the token hash becomes a value
/// no token hashes to); false when there is no such server.
pub async fn remove(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    actor: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET removed_at_ms = $2, removed_by = $3, \
         agent_token_hash = 'removed:' || id, packages_digest = NULL \
         WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .bind(now_ms)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every server, ordered by name then id.
///
/// The rows come back as one JSON array built by the database: sqlx hands SQLite's
/// rows over one at a time between threads, which made a fleet of 1,000 cost about
/// 16 ms; one value costs one hand-over. [`ServerRow`]'s fields are in
/// [`COLUMNS`]' order, which is how serde reads each row's array. (SQLite's JSON
/// writes floats, the metrics, with 15 significant digits: beyond what anything
/// shows; [`get`] reads them exactly.)
pub async fn list(db: &super::Database) -> Result<Vec<ServerRecord>, DbError> {
    let sql = match db.backend() {
        super::Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({COLUMNS}) ORDER BY name, id) \
             FROM servers WHERE removed_at_ms IS NULL"
        ),
        super::Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array({COLUMNS}) ORDER BY name, id), '[]')::text \
             FROM servers WHERE removed_at_ms IS NULL"
        ),
    };
    let json: String = sqlx::query_scalar(&sql).fetch_one(db.pool()).await?;
    let rows: Vec<ServerRow> = serde_json::from_str(&json)
        .map_err(|e| DbError::Sqlx(sqlx::Error::Decode(format!("servers: {e}").into())))?;
    rows.into_iter().map(ServerRecord::try_from).collect()
}

/// The ids of the servers in the fleet, in order: all a filter needs.
pub async fn ids(pool: &AnyPool) -> Result<Vec<ServerId>, DbError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM servers WHERE removed_at_ms IS NULL ORDER BY id")
            .fetch_all(pool)
            .await?;
    ids.into_iter().map(stored_id).collect()
}

/// One server, if it exists.
pub async fn get(pool: &AnyPool, id: &ServerId) -> Result<Option<ServerRecord>, DbError> {
    let row: Option<ServerRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM servers WHERE id = $1 AND removed_at_ms IS NULL"
    ))
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(ServerRecord::try_from).transpose()
}

/// Switches maintenance mode; false when the server does not exist. Switching it on
/// again keeps the original time.
pub async fn set_paused(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    paused: bool,
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET paused = $2, \
         paused_at_ms = CASE WHEN $2 = 1 THEN COALESCE(paused_at_ms, $3) ELSE NULL END \
         WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .bind(i32::from(paused))
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the approval policy; false when the server does not exist.
pub async fn set_policy(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    policy: ApprovalPolicy,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE servers SET approval_policy = $2 WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .bind(policy.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What decides whether a new action on the server waits for a person.
pub async fn approval_inputs(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
) -> Result<Option<(bool, ApprovalPolicy)>, DbError> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT paused, approval_policy FROM servers WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    // An unreadable policy asks a person: the safe reading.
    Ok(row.map(|(paused, policy)| {
        (
            paused != 0,
            ApprovalPolicy::parse(&policy).unwrap_or(ApprovalPolicy::AlwaysAsk),
        )
    }))
}

/// The boot id the server's agent last reported: `None` for no such server,
/// `Some(None)` when its agent never sent one (too old, or never reported).
pub async fn boot_id(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: &ServerId,
) -> Result<Option<Option<String>>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT boot_id FROM servers WHERE id = $1 AND removed_at_ms IS NULL")
            .bind(id.as_str())
            .fetch_optional(executor)
            .await?,
    )
}

/// What a fleet run reads to decide on a reboot after an upgrade.
#[derive(Debug)]
pub struct RebootInputs {
    pub last_seen_ms: Option<i64>,
    pub reboot_required: bool,
    pub boot_id: Option<String>,
}

/// The server's last heartbeat time, reboot-required flag and boot id; `None` when
/// it is not in the fleet.
pub async fn reboot_inputs(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: &ServerId,
) -> Result<Option<RebootInputs>, DbError> {
    let row: Option<(Option<i64>, i64, Option<String>)> = sqlx::query_as(
        "SELECT last_seen_ms, reboot_required, boot_id FROM servers \
         WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .fetch_optional(executor)
    .await?;
    Ok(
        row.map(|(last_seen_ms, reboot_required, boot_id)| RebootInputs {
            last_seen_ms,
            reboot_required: reboot_required != 0,
            boot_id,
        }),
    )
}

/// The server an agent token belongs to, with the digest of its stored package list.
pub async fn find_by_token_hash(
    executor: impl sqlx::Executor<'_, Database = Any>,
    token_hash: &str,
) -> Result<Option<TokenHolder>, DbError> {
    sqlx::query("SELECT id, packages_digest, last_seen_ms FROM servers WHERE agent_token_hash = $1")
        .bind(token_hash)
        .fetch_optional(executor)
        .await?
        .map(|row| token_holder(&row))
        .transpose()
}

fn token_holder(row: &sqlx::any::AnyRow) -> Result<TokenHolder, DbError> {
    let id = stored_id(row.try_get("id")?)?;
    Ok(TokenHolder {
        id,
        packages_digest: row.try_get("packages_digest")?,
        last_seen_ms: row.try_get("last_seen_ms")?,
    })
}

/// [`find_by_token_hash`], taking the server row's write lock until the transaction
/// ends (a no-op update: portable, where `SELECT ... FOR UPDATE` is not), so what it
/// reads is what the last writer before it left. On PostgreSQL two heartbeats of one
/// machine would otherwise replace its package list at the same time, and the
/// second's inserts would collide with the first's; SQLite's writers take turns
/// anyway.
pub async fn lock_by_token_hash(
    tx: &mut Transaction<'_, Any>,
    token_hash: &str,
) -> Result<Option<TokenHolder>, DbError> {
    sqlx::query(
        "UPDATE servers SET last_seen_ms = last_seen_ms WHERE agent_token_hash = $1 \
         RETURNING id, packages_digest, last_seen_ms",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| token_holder(&row))
    .transpose()
}

/// The server an agent token belongs to, with what a heartbeat compares against.
#[derive(Debug)]
pub struct TokenHolder {
    pub id: ServerId,
    /// The digest of the package list last stored.
    pub packages_digest: Option<String>,
    /// When its agent was last heard from.
    pub last_seen_ms: Option<i64>,
}

/// Stores what a heartbeat says about the machine. `packages` is the digest of the
/// list it carried, if it carried one, with that list's counts when it is new.
pub async fn record_heartbeat(
    tx: &mut Transaction<'_, Any>,
    id: &ServerId,
    hb: &Heartbeat,
    packages: Option<(&str, Option<UpdateCounts>)>,
    now_ms: i64,
) -> Result<(), DbError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("UPDATE servers SET {HEARTBEAT_SET} WHERE id = $1"));
    bind_heartbeat(sqlx::query(&SQL), id.as_str(), hb, packages, now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stores a routine heartbeat in one statement, if it is one: its machine was online
/// (heard from after `online_since_ms`), no newer heartbeat was stored, and the
/// package list it carries (`digest`), if any, is the one stored, and so is its boot
/// id (a new boot may end a reboot). Returns the
/// machine's id; `None` when the heartbeat is not routine (or the token is unknown),
/// and nothing was written: then [`lock_by_token_hash`] and [`record_heartbeat`]
/// take it.
pub async fn record_routine_heartbeat(
    tx: &mut Transaction<'_, Any>,
    token_hash: &str,
    hb: &Heartbeat,
    digest: Option<&str>,
    now_ms: i64,
    online_since_ms: i64,
) -> Result<Option<ServerId>, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE servers SET {HEARTBEAT_SET} WHERE agent_token_hash = $1 \
             AND last_seen_ms > $19 AND last_seen_ms <= $5 \
             AND ($14 IS NULL OR packages_digest = $14) \
             AND COALESCE(boot_id, '') = COALESCE($18, '') RETURNING id"
        )
    });
    let id: Option<String> = bind_heartbeat(
        sqlx::query(&SQL),
        token_hash,
        hb,
        digest.map(|d| (d, None)),
        now_ms,
    )
    .bind(online_since_ms)
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()?;
    id.map(stored_id).transpose()
}

/// What a heartbeat sets, with its values bound as $2 to $18 by [`bind_heartbeat`].
const HEARTBEAT_SET: &str = "hostname = $2, os = $3, agent_version = $4, last_seen_ms = $5, \
    cpu_percent = $6, memory_percent = $7, disk_percent = $8, load_1 = $9, load_5 = $10, \
    load_15 = $11, uptime_s = $12, reboot_required = $13, reboot_required_pkgs = $15, \
    packages_digest = COALESCE($14, packages_digest), \
    packages_seen_at_ms = CASE WHEN $14 IS NULL THEN packages_seen_at_ms ELSE $5 END, \
    updates_count = COALESCE($16, updates_count), \
    security_updates_count = COALESCE($17, security_updates_count), boot_id = $18";

/// Binds `key` as $1 and the heartbeat's values as [`HEARTBEAT_SET`] names them.
fn bind_heartbeat<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    key: &'q str,
    hb: &'q Heartbeat,
    packages: Option<(&'q str, Option<UpdateCounts>)>,
    now_ms: i64,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let digest = packages.map(|(digest, _)| digest);
    let counts = packages.and_then(|(_, counts)| counts);
    let m = &hb.metrics;
    query
        .bind(key)
        .bind(hb.hostname.as_deref())
        .bind(hb.os.as_str())
        .bind(hb.agent_version.as_str())
        .bind(now_ms)
        .bind(m.cpu_percent)
        .bind(m.memory_percent)
        .bind(m.disk_percent)
        .bind(m.load_1)
        .bind(m.load_5)
        .bind(m.load_15)
        .bind(i64::try_from(m.uptime_s).unwrap_or(i64::MAX))
        .bind(i32::from(hb.reboot_required))
        .bind(digest)
        .bind(serde_json::to_string(&hb.reboot_required_pkgs).unwrap_or_else(|_| "[]".to_owned()))
        .bind(counts.map(|c| i64::from(c.total)))
        .bind(counts.map(|c| i64::from(c.security)))
        .bind(hb.boot_id.as_ref().map(homelab_protocol::BootId::as_str))
}

/// A `servers` row as stored; [`ServerRecord`] is what it means. The fields are in
/// [`COLUMNS`]' order ([`list`] reads rows as arrays).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct ServerRow {
    id: String,
    name: String,
    hostname: Option<String>,
    os: Option<String>,
    agent_version: Option<String>,
    last_seen_ms: Option<i64>,
    cpu_percent: Option<f64>,
    memory_percent: Option<f64>,
    disk_percent: Option<f64>,
    load_1: Option<f64>,
    load_5: Option<f64>,
    load_15: Option<f64>,
    uptime_s: Option<i64>,
    /// 0/1: sqlx's Any driver cannot read SQLite's BOOLEAN.
    reboot_required: i64,
    reboot_required_pkgs: String,
    paused: i64,
    paused_at_ms: Option<i64>,
    approval_policy: String,
    packages_seen_at_ms: Option<i64>,
    updates_count: i64,
    security_updates_count: i64,
}

impl TryFrom<ServerRow> for ServerRecord {
    type Error = DbError;

    fn try_from(r: ServerRow) -> Result<Self, DbError> {
        let corrupt = |what: String| DbError::Sqlx(sqlx::Error::Decode(what.into()));
        // The metrics arrive together with the first heartbeat, or not at all.
        let metrics = match (
            r.cpu_percent,
            r.memory_percent,
            r.disk_percent,
            r.load_1,
            r.load_5,
            r.load_15,
        ) {
            (
                Some(cpu_percent),
                Some(memory_percent),
                Some(disk_percent),
                Some(load_1),
                Some(load_5),
                Some(load_15),
            ) => Some(Metrics {
                cpu_percent,
                memory_percent,
                disk_percent,
                load_1,
                load_5,
                load_15,
                uptime_s: r.uptime_s.and_then(|u| u64::try_from(u).ok()).unwrap_or(0),
            }),
            _ => None,
        };
        Ok(ServerRecord {
            id: stored_id(r.id)?,
            name: ServerName::parse(&r.name).map_err(|e| corrupt(format!("servers.name: {e}")))?,
            hostname: r.hostname,
            os: r.os,
            agent_version: r.agent_version,
            last_seen_ms: r.last_seen_ms.map(Millis::new),
            metrics,
            reboot_required: r.reboot_required != 0,
            reboot_required_pkgs: serde_json::from_str(&r.reboot_required_pkgs)
                .map_err(|e| corrupt(format!("servers.reboot_required_pkgs: {e}")))?,
            paused: r.paused != 0,
            paused_at_ms: r.paused_at_ms.map(Millis::new),
            approval_policy: ApprovalPolicy::parse(&r.approval_policy)
                .ok_or_else(|| corrupt("servers.approval_policy: unknown value".to_owned()))?,
            packages_seen_at_ms: r.packages_seen_at_ms.map(Millis::new),
            updates: UpdateCounts {
                total: u32::try_from(r.updates_count).unwrap_or(0),
                security: u32::try_from(r.security_updates_count).unwrap_or(0),
            },
        })
    }
}

/// When the server's agent last reported: `None` when there is no such server in
/// the fleet, `Some(None)` before its first heartbeat.
pub async fn last_seen(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: &ServerId,
) -> Result<Option<Option<Millis>>, DbError> {
    let row: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT last_seen_ms FROM servers WHERE id = $1 AND removed_at_ms IS NULL",
    )
    .bind(id.as_str())
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|seen| seen.map(Millis::new)))
}
