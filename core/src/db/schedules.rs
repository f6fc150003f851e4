//! The `schedules` table: patch policies, each a cron line in a time zone that
//! starts a fleet run at every firing, and the watermark of the firing it waits for.

use homelab_protocol::{
    ActionSpec, CronLine, Millis, RunTarget, ScheduleId, ScheduleName, ServerId, Tag, ZoneName,
};
use sqlx::{Any, Transaction};

use super::DbError;

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(format!("schedules: {what}").into()))
}

/// A schedule as stored, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub id: ScheduleId,
    pub name: ScheduleName,
    pub cron: CronLine,
    pub timezone: ZoneName,
    pub spec: ActionSpec,
    pub target: RunTarget,
    pub batch_size: u32,
    pub max_failures: u32,
    pub reboot_if_required: bool,
    /// The firing it waits for (the watermark); `None` once the line fires no more.
    pub next_fire_at_ms: Option<Millis>,
    pub last_fired_at_ms: Option<Millis>,
    /// Why the last firing started no run, if it did not.
    pub last_skipped: Option<String>,
    pub created_at_ms: Millis,
    pub created_by: String,
    pub updated_at_ms: Millis,
}

/// A schedule's settings to store (new, or replacing an existing one's).
#[derive(Debug)]
pub struct NewSchedule<'a> {
    pub name: &'a ScheduleName,
    pub cron: &'a CronLine,
    pub timezone: &'a ZoneName,
    pub spec: &'a ActionSpec,
    pub target: &'a RunTarget,
    pub batch_size: u32,
    pub max_failures: u32,
    pub reboot_if_required: bool,
    pub next_fire_at_ms: Option<Millis>,
    pub actor: &'a str,
    pub now_ms: i64,
}

impl NewSchedule<'_> {
    /// The target as two columns: the tag, or the servers as a JSON array.
    fn target_columns(&self) -> (Option<&str>, Option<String>) {
        match self.target {
            RunTarget::Tag(tag) => (Some(tag.as_str()), None),
            RunTarget::Servers(servers) => (
                None,
                Some(serde_json::to_string(servers).unwrap_or_else(|_| "[]".into())),
            ),
        }
    }
}

/// Why a schedule could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a schedule with this name already exists")]
    DuplicateName,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn write_error(e: sqlx::Error) -> WriteError {
    if super::is_unique_violation(&e) {
        WriteError::DuplicateName
    } else {
        WriteError::Db(e.into())
    }
}

/// Stores a new schedule.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    new: &NewSchedule<'_>,
) -> Result<ScheduleId, WriteError> {
    let (tag, servers) = new.target_columns();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO schedules (name, cron, timezone, action_type, parameters, tag, servers, \
         batch_size, max_failures, reboot_if_required, next_fire_at_ms, created_at_ms, \
         created_by, updated_at_ms, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $13) RETURNING id",
    )
    .bind(new.name.as_str())
    .bind(new.cron.as_str())
    .bind(new.timezone.as_str())
    .bind(new.spec.action_type().as_str())
    .bind(new.spec.parameters().map(|p| p.to_string()))
    .bind(tag)
    .bind(servers)
    .bind(i64::from(new.batch_size))
    .bind(i64::from(new.max_failures))
    .bind(i32::from(new.reboot_if_required))
    .bind(new.next_fire_at_ms.map(Millis::get))
    .bind(new.now_ms)
    .bind(new.actor)
    .fetch_one(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(ScheduleId::new(id))
}

/// Replaces schedule `id`'s settings and its next firing (what was last fired
/// stays); false when there is no such schedule.
pub async fn update(
    tx: &mut Transaction<'_, Any>,
    id: ScheduleId,
    new: &NewSchedule<'_>,
) -> Result<bool, WriteError> {
    let (tag, servers) = new.target_columns();
    let done = sqlx::query(
        "UPDATE schedules SET name = $2, cron = $3, timezone = $4, action_type = $5, \
         parameters = $6, tag = $7, servers = $8, batch_size = $9, max_failures = $10, \
         reboot_if_required = $11, next_fire_at_ms = $12, updated_at_ms = $13, \
         updated_by = $14 WHERE id = $1",
    )
    .bind(id.get())
    .bind(new.name.as_str())
    .bind(new.cron.as_str())
    .bind(new.timezone.as_str())
    .bind(new.spec.action_type().as_str())
    .bind(new.spec.parameters().map(|p| p.to_string()))
    .bind(tag)
    .bind(servers)
    .bind(i64::from(new.batch_size))
    .bind(i64::from(new.max_failures))
    .bind(i32::from(new.reboot_if_required))
    .bind(new.next_fire_at_ms.map(Millis::get))
    .bind(new.now_ms)
    .bind(new.actor)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(done.rows_affected() == 1)
}

/// Deletes schedule `id` (its runs stay in the history); false when there is none.
pub async fn delete(tx: &mut Transaction<'_, Any>, id: ScheduleId) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM schedules WHERE id = $1")
        .bind(id.get())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the firing `fired` was handled (`skipped` says why it started no
/// run) and moves the watermark from `expected` to `next`, only if it still holds
/// `expected`: a replica that handled the same firing, or a change of the schedule
/// in between, wins. True when this call moved it.
pub async fn advance(
    tx: &mut Transaction<'_, Any>,
    id: ScheduleId,
    expected: Millis,
    next: Option<Millis>,
    fired: Millis,
    skipped: Option<&str>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE schedules SET next_fire_at_ms = $3, last_fired_at_ms = $4, last_skipped = $5 \
         WHERE id = $1 AND next_fire_at_ms = $2",
    )
    .bind(id.get())
    .bind(expected.get())
    .bind(next.map(Millis::get))
    .bind(fired.get())
    .bind(skipped)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

const COLUMNS: &str = "id, name, cron, timezone, action_type, parameters, tag, servers, \
    batch_size, max_failures, reboot_if_required, next_fire_at_ms, last_fired_at_ms, \
    last_skipped, created_at_ms, created_by, updated_at_ms";

/// One schedule.
pub async fn get(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: ScheduleId,
) -> Result<Option<ScheduleRecord>, DbError> {
    let row: Option<ScheduleRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules WHERE id = $1"))
            .bind(id.get())
            .fetch_optional(executor)
            .await?;
    row.map(ScheduleRecord::try_from).transpose()
}

/// Every schedule, by name.
pub async fn list(
    executor: impl sqlx::Executor<'_, Database = Any>,
) -> Result<Vec<ScheduleRecord>, DbError> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM schedules ORDER BY name, id"
    ))
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(ScheduleRecord::try_from).collect()
}

/// The schedules whose next firing is due at `now`, the longest waiting first.
pub async fn due(
    executor: impl sqlx::Executor<'_, Database = Any>,
    now: Millis,
) -> Result<Vec<ScheduleRecord>, DbError> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM schedules WHERE next_fire_at_ms <= $1 \
         ORDER BY next_fire_at_ms, id"
    ))
    .bind(now.get())
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(ScheduleRecord::try_from).collect()
}

/// The earliest next firing of any schedule: how long the job may sleep.
pub async fn earliest_next(
    executor: impl sqlx::Executor<'_, Database = Any>,
) -> Result<Option<Millis>, DbError> {
    let at: Option<i64> = sqlx::query_scalar("SELECT MIN(next_fire_at_ms) FROM schedules")
        .fetch_one(executor)
        .await?;
    Ok(at.map(Millis::new))
}

/// A `schedules` row as stored.
#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: i64,
    name: String,
    cron: String,
    timezone: String,
    action_type: String,
    parameters: Option<String>,
    tag: Option<String>,
    servers: Option<String>,
    batch_size: i64,
    max_failures: i64,
    reboot_if_required: i64,
    next_fire_at_ms: Option<i64>,
    last_fired_at_ms: Option<i64>,
    last_skipped: Option<String>,
    created_at_ms: i64,
    created_by: String,
    updated_at_ms: i64,
}

impl TryFrom<ScheduleRow> for ScheduleRecord {
    type Error = DbError;

    fn try_from(row: ScheduleRow) -> Result<Self, DbError> {
        let parameters: Option<serde_json::Value> = row
            .parameters
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(corrupt)?;
        let action_type = row.action_type.parse().map_err(corrupt)?;
        let target = match (row.tag, row.servers) {
            (Some(tag), None) => RunTarget::Tag(Tag::parse(tag).map_err(corrupt)?),
            (None, Some(servers)) => {
                let servers: Vec<ServerId> = serde_json::from_str(&servers).map_err(corrupt)?;
                RunTarget::Servers(servers)
            }
            _ => return Err(corrupt("a schedule names a tag or servers")),
        };
        Ok(ScheduleRecord {
            id: ScheduleId::new(row.id),
            name: ScheduleName::parse(row.name).map_err(corrupt)?,
            cron: CronLine::parse(row.cron).map_err(corrupt)?,
            timezone: ZoneName::parse(row.timezone).map_err(corrupt)?,
            spec: ActionSpec::parse(action_type, parameters.as_ref()).map_err(corrupt)?,
            target,
            batch_size: u32::try_from(row.batch_size).map_err(corrupt)?,
            max_failures: u32::try_from(row.max_failures).map_err(corrupt)?,
            reboot_if_required: row.reboot_if_required != 0,
            next_fire_at_ms: row.next_fire_at_ms.map(Millis::new),
            last_fired_at_ms: row.last_fired_at_ms.map(Millis::new),
            last_skipped: row.last_skipped,
            created_at_ms: Millis::new(row.created_at_ms),
            created_by: row.created_by,
            updated_at_ms: Millis::new(row.updated_at_ms),
        })
    }
}
