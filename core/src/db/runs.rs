//! The `runs` and `run_items` tables: fleet runs and each server's place in them.

use homelab_protocol::{
    ActionId, ActionStatus, ActionType, ItemState, Millis, Run, RunId, RunItem, RunStatus,
    ScheduleId, ServerId, Tag,
};
use sqlx::{Any, AnyPool, FromRow as _, Transaction};

use super::DbError;

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(format!("runs: {what}").into()))
}

/// A run to store.
#[derive(Debug)]
pub struct NewRun<'a> {
    pub action_type: ActionType,
    pub parameters: Option<&'a serde_json::Value>,
    pub tag: Option<&'a Tag>,
    pub batch_size: u32,
    pub max_failures: u32,
    pub created_by: &'a str,
    /// The schedule and the firing (its planned time) it runs for.
    pub firing: Option<(ScheduleId, Millis)>,
    /// A firing missed while the dashboard was down, run at start-up.
    pub late: bool,
    /// Reboot each server that reports needing it after its upgrade.
    pub reboot_if_required: bool,
    /// The form's request id: the same request from the same person starts one run.
    pub request_id: Option<&'a str>,
    pub now_ms: i64,
}

/// Why a run could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The schedule firing, or the person's request id, already started its run.
    #[error("this run has already been started")]
    Taken,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a running run with one waiting item per server, in order.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    new: &NewRun<'_>,
    servers: &[ServerId],
) -> Result<RunId, InsertError> {
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO runs (action_type, parameters, tag, batch_size, max_failures, status, \
         created_at_ms, created_by, schedule_id, fire_at_ms, late, reboot_if_required, \
         request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(new.action_type.as_str())
    .bind(new.parameters.map(|p| p.to_string()))
    .bind(new.tag.map(Tag::as_str))
    .bind(i64::from(new.batch_size))
    .bind(i64::from(new.max_failures))
    .bind(RunStatus::Running.as_str())
    .bind(new.now_ms)
    .bind(new.created_by)
    .bind(new.firing.map(|(s, _)| s.get()))
    .bind(new.firing.map(|(_, at)| at.get()))
    .bind(i32::from(new.late))
    .bind(i32::from(new.reboot_if_required))
    .bind(new.request_id)
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => RunId::new(id),
        Err(e) if super::is_unique_violation(&e) => return Err(InsertError::Taken),
        Err(e) => return Err(InsertError::Db(e.into())),
    };
    for (position, server) in servers.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_items (run_id, position, server_id, state) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.get())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(server.as_str())
        .bind(ItemState::Waiting.as_str())
        .execute(&mut **tx)
        .await
        .map_err(DbError::from)?;
    }
    Ok(id)
}

/// The run `actor` started with request id `request_id`, if any.
pub async fn by_request(
    executor: impl sqlx::Executor<'_, Database = Any>,
    actor: &str,
    request_id: &str,
) -> Result<Option<RunId>, DbError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM runs WHERE created_by = $1 AND request_id = $2")
            .bind(actor)
            .bind(request_id)
            .fetch_optional(executor)
            .await?;
    Ok(id.map(RunId::new))
}

/// Takes the run's row lock for the rest of the transaction (a no-op update:
/// portable, where `SELECT ... FOR UPDATE` is not), so two replicas advancing one
/// run take turns; false when there is no such run.
pub async fn lock(tx: &mut Transaction<'_, Any>, id: RunId) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE runs SET id = id WHERE id = $1")
        .bind(id.get())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the run with `status`.
pub async fn finish(
    tx: &mut Transaction<'_, Any>,
    id: RunId,
    status: RunStatus,
    cancelled_by: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE runs SET status = $2, finished_at_ms = $3, cancelled_by = $4 \
         WHERE id = $1 AND status = $5",
    )
    .bind(id.get())
    .bind(status.as_str())
    .bind(now_ms)
    .bind(cancelled_by)
    .bind(RunStatus::Running.as_str())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        super::webhooks::run_finished(tx, id, now_ms).await?;
    }
    Ok(())
}

/// Sets one item's state, action and reason.
pub async fn set_item(
    tx: &mut Transaction<'_, Any>,
    run: RunId,
    position: u32,
    state: ItemState,
    action: Option<ActionId>,
    reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE run_items SET state = $3, action_id = COALESCE($4, action_id), reason = $5 \
         WHERE run_id = $1 AND position = $2",
    )
    .bind(run.get())
    .bind(i64::from(position))
    .bind(state.as_str())
    .bind(action.map(ActionId::get))
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts an item in its reboot step: it follows `reboot` from now on.
pub async fn set_reboot(
    tx: &mut Transaction<'_, Any>,
    run: RunId,
    position: u32,
    reboot: ActionId,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE run_items SET reboot_action_id = $3, reason = NULL \
         WHERE run_id = $1 AND position = $2",
    )
    .bind(run.get())
    .bind(i64::from(position))
    .bind(reboot.get())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One run with its items.
///
/// The engine changes a run's row and its items in one transaction, but the row and
/// the items are two reads here: items read before and after the row, the same
/// both times, are the ones that go with it (a commit in between that changed the
/// row alone changed nothing they show). Otherwise the reads are taken again.
pub async fn get(executor: &mut sqlx::AnyConnection, id: RunId) -> Result<Option<Run>, DbError> {
    let mut before = items(&mut *executor, id).await?;
    loop {
        let row: Option<RunRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
                .bind(id.get())
                .fetch_optional(&mut *executor)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let after = items(&mut *executor, id).await?;
        if after == before {
            return Ok(Some(row.into_run(after)?));
        }
        before = after;
    }
}

/// The newest runs, with their items; `schedule` keeps only the runs it started.
///
/// As in [`get`], the rows and the items are separate reads: the rows read before
/// and after the items, the same both times, are the ones the items go with (the
/// engine changes a run's row and its items in one transaction, and a run's row
/// never goes back to what it was). Otherwise the reads are taken again.
pub async fn list(
    pool: &AnyPool,
    schedule: Option<ScheduleId>,
    limit: u32,
) -> Result<Vec<Run>, DbError> {
    let mut conn = pool.acquire().await?;
    let mut rows = list_rows(&mut conn, schedule, limit).await?;
    loop {
        let ids: Vec<RunId> = rows.iter().map(|r| RunId::new(r.id)).collect();
        let read = items_of(&mut *conn, &ids).await?;
        let again = list_rows(&mut conn, schedule, limit).await?;
        if again != rows {
            rows = again;
            continue;
        }
        let mut items: std::collections::HashMap<RunId, Vec<RunItem>> =
            std::collections::HashMap::new();
        for (run, item) in read {
            items.entry(run).or_default().push(item.into());
        }
        return rows
            .into_iter()
            .map(|row| {
                let run_items = items.remove(&RunId::new(row.id)).unwrap_or_default();
                row.into_run(run_items)
            })
            .collect();
    }
}

async fn list_rows(
    conn: &mut sqlx::AnyConnection,
    schedule: Option<ScheduleId>,
    limit: u32,
) -> Result<Vec<RunRow>, DbError> {
    let sql = match schedule {
        Some(_) => {
            format!("SELECT {COLUMNS} FROM runs WHERE schedule_id = $2 ORDER BY id DESC LIMIT $1")
        }
        None => format!("SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT $1"),
    };
    let mut query = sqlx::query(&sql).bind(i64::from(limit));
    if let Some(schedule) = schedule {
        query = query.bind(schedule.get());
    }
    Ok(query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(RunRow::from_row)
        .collect::<Result<Vec<_>, _>>()?)
}

/// A run's items in rollout order, each with its action's status.
pub async fn items(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: RunId,
) -> Result<Vec<RunItem>, DbError> {
    Ok(engine_items(executor, id)
        .await?
        .into_iter()
        .map(RunItem::from)
        .collect())
}

impl From<EngineItem> for RunItem {
    fn from(i: EngineItem) -> Self {
        RunItem {
            server_id: i.server,
            state: i.state,
            action_id: i.first_action,
            reboot_action_id: i.reboot.then_some(i.action).flatten(),
            action_status: i.action_status,
            reason: i.reason,
        }
    }
}

/// A run's settings, as the engine reads them inside its transaction.
#[derive(Debug, Clone)]
pub struct Settings {
    pub action_type: ActionType,
    pub parameters: Option<serde_json::Value>,
    pub batch_size: u32,
    pub max_failures: u32,
    pub status: RunStatus,
    pub created_by: String,
    pub reboot_if_required: bool,
}

/// The settings of run `id`.
pub async fn settings(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: RunId,
) -> Result<Option<Settings>, DbError> {
    let row: Option<RunRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(executor)
        .await?;
    row.map(|r| {
        let run = r.into_run(Vec::new())?;
        Ok(Settings {
            action_type: run.action_type,
            parameters: run.parameters,
            batch_size: run.batch_size,
            max_failures: run.max_failures,
            status: run.status,
            created_by: run.created_by,
            reboot_if_required: run.reboot_if_required,
        })
    })
    .transpose()
}

const COLUMNS: &str = "id, action_type, parameters, tag, batch_size, max_failures, status, \
    created_at_ms, created_by, schedule_id, late, finished_at_ms, cancelled_by, \
    reboot_if_required";

/// A `runs` row as stored.
#[derive(PartialEq, sqlx::FromRow)]
struct RunRow {
    id: i64,
    action_type: String,
    parameters: Option<String>,
    tag: Option<String>,
    batch_size: i64,
    max_failures: i64,
    status: String,
    created_at_ms: i64,
    created_by: String,
    schedule_id: Option<i64>,
    late: i64,
    finished_at_ms: Option<i64>,
    cancelled_by: Option<String>,
    reboot_if_required: i64,
}

impl RunRow {
    fn into_run(self, items: Vec<RunItem>) -> Result<Run, DbError> {
        Ok(Run {
            id: RunId::new(self.id),
            action_type: self.action_type.parse().map_err(corrupt)?,
            parameters: self
                .parameters
                .map(|p| serde_json::from_str(&p))
                .transpose()
                .map_err(corrupt)?,
            tag: self.tag.map(Tag::parse).transpose().map_err(corrupt)?,
            batch_size: u32::try_from(self.batch_size).map_err(corrupt)?,
            max_failures: u32::try_from(self.max_failures).map_err(corrupt)?,
            status: self.status.parse().map_err(corrupt)?,
            created_at_ms: Millis::new(self.created_at_ms),
            created_by: self.created_by,
            schedule_id: self.schedule_id.map(ScheduleId::new),
            late: self.late != 0,
            finished_at_ms: self.finished_at_ms.map(Millis::new),
            cancelled_by: self.cancelled_by,
            reboot_if_required: self.reboot_if_required != 0,
            items,
        })
    }
}

/// One item as the engine reads it: its place, and what became of its action.
#[derive(Debug, Clone)]
pub struct EngineItem {
    pub position: u32,
    pub server: ServerId,
    pub state: ItemState,
    /// The action of its current step: the run's own, or the reboot after it.
    pub action: Option<ActionId>,
    /// The run's own action.
    pub first_action: Option<ActionId>,
    /// Whether it is in its reboot step.
    pub reboot: bool,
    /// When the server recorded the current step's end, by its own clock.
    pub reported_at_ms: Option<i64>,
    pub action_status: Option<ActionStatus>,
    /// Why the item was skipped, failed or cancelled.
    pub reason: Option<String>,
    /// Why the action failed, who rejected it and why, or who cancelled it.
    pub failure: Option<String>,
    pub rejected_by: Option<String>,
    pub reject_reason: Option<String>,
    pub cancelled_by: Option<String>,
}

/// A run's items with their actions' outcomes, in rollout order.
pub async fn engine_items(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: RunId,
) -> Result<Vec<EngineItem>, DbError> {
    Ok(items_of(executor, &[id])
        .await?
        .into_iter()
        .map(|(_, item)| item)
        .collect())
}

/// The items of runs `ids` with their actions' outcomes, by run then rollout order:
/// one query for a whole page of runs.
async fn items_of(
    executor: impl sqlx::Executor<'_, Database = Any>,
    ids: &[RunId],
) -> Result<Vec<(RunId, EngineItem)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        i64,
        i64,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let placeholders = (1..=ids.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT i.run_id, i.position, i.server_id, i.state, i.action_id, i.reason, a.status, \
         a.failure, a.rejected_by, a.reject_reason, a.cancelled_by, i.reboot_action_id, \
         a.reported_at_ms \
         FROM run_items i LEFT JOIN actions a ON a.id = COALESCE(i.reboot_action_id, i.action_id) \
         WHERE i.run_id IN ({placeholders}) ORDER BY i.run_id, i.position"
    );
    let query = ids
        .iter()
        .fold(sqlx::query_as(&sql), |q, id| q.bind(id.get()));
    let rows: Vec<Row> = query.fetch_all(executor).await?;
    rows.into_iter()
        .map(
            |(
                run,
                position,
                server,
                state,
                action,
                reason,
                status,
                failure,
                rejected_by,
                reject_reason,
                cancelled_by,
                reboot,
                reported_at_ms,
            )| {
                let item = EngineItem {
                    position: u32::try_from(position).map_err(corrupt)?,
                    server: ServerId::parse(server).map_err(corrupt)?,
                    state: state.parse().map_err(corrupt)?,
                    action: reboot.or(action).map(ActionId::new),
                    first_action: action.map(ActionId::new),
                    reboot: reboot.is_some(),
                    reported_at_ms,
                    reason,
                    action_status: status
                        .map(|s| s.parse::<ActionStatus>())
                        .transpose()
                        .map_err(corrupt)?,
                    failure,
                    rejected_by,
                    reject_reason,
                    cancelled_by,
                };
                Ok((RunId::new(run), item))
            },
        )
        .collect()
}

/// The runs with work left (servers waiting or queued), oldest first: running runs,
/// and ended ones whose last actions still run.
pub async fn unsettled(
    executor: impl sqlx::Executor<'_, Database = Any>,
) -> Result<Vec<RunId>, DbError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT run_id FROM run_items WHERE state IN ($1, $2) ORDER BY run_id",
    )
    .bind(ItemState::Waiting.as_str())
    .bind(ItemState::Queued.as_str())
    .fetch_all(executor)
    .await?;
    Ok(ids.into_iter().map(RunId::new).collect())
}

/// The run that queued action `action`, if one did.
pub async fn run_of(
    executor: impl sqlx::Executor<'_, Database = Any>,
    action: ActionId,
) -> Result<Option<RunId>, DbError> {
    let id: Option<Option<i64>> = sqlx::query_scalar("SELECT run_id FROM actions WHERE id = $1")
        .bind(action.get())
        .fetch_optional(executor)
        .await?;
    Ok(id.flatten().map(RunId::new))
}
