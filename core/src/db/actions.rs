//! The `actions` table: the remediation engine's queue and history.

use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPreview, ActionStatus, ActionType, ClaimMode,
    FailureReason, HistoryFilter, Millis, NextAction, PreviewOutcome, RunId, ServerId, Slot,
    previewable,
};
use sqlx::{Any, AnyPool, FromRow as _, Row, Transaction};

use super::DbError;

const COLUMNS: &str = "id, server_id, action_type, parameters, argv, status, timeout_s, \
    created_at_ms, created_by, approved_at_ms, approved_by, rejected_at_ms, rejected_by, \
    reject_reason, cancelled_at_ms, cancelled_by, started_at_ms, finished_at_ms, exit_code, \
    failure, lease_lost_at_ms, run_id, preview_requested_at_ms, held_at_ms, hold_reason, \
    action_previews.taken_at_ms AS preview_taken_at_ms, action_previews.outcome AS preview_outcome";

/// The actions with their latest preview, if any (the preview table's columns are
/// named apart from the actions', so the queries' conditions need no prefix).
const FROM: &str = "actions LEFT JOIN action_previews ON action_previews.action_id = actions.id";

/// A new action, ready to store.
#[derive(Debug)]
pub struct NewAction<'a> {
    pub server: &'a ServerId,
    pub action_type: ActionType,
    /// The duplicate-guard slot it takes, if its kind has one.
    pub slot: Option<&'a Slot>,
    pub parameters: Option<&'a serde_json::Value>,
    pub argv: &'a [String],
    pub timeout_s: u32,
    pub created_by: &'a str,
    /// `Some(actor)` when approved at creation.
    pub approved_by: Option<&'a str>,
    /// The id of the request that asked for it, if it gave one.
    pub request_id: Option<&'a str>,
    /// The fleet run that queues it, if one does.
    pub run_id: Option<RunId>,
    pub now_ms: i64,
}

/// Why an action could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("an equivalent action is already in flight")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a new action; the unique index over slots refuses a duplicate.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    new: &NewAction<'_>,
) -> Result<ActionId, InsertError> {
    let status = if new.approved_by.is_some() {
        ActionStatus::Approved
    } else {
        ActionStatus::Pending
    };
    let argv = serde_json::to_string(new.argv)
        .map_err(|e| DbError::Sqlx(sqlx::Error::Encode(e.into())))?;
    let result = sqlx::query_scalar::<_, i64>(
        "INSERT INTO actions (server_id, action_type, parameters, argv, status, timeout_s, \
         created_at_ms, created_by, approved_at_ms, approved_by, slot, slot_while_running, \
         request_id, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(new.server.as_str())
    .bind(new.action_type.as_str())
    .bind(new.parameters.map(|p| p.to_string()))
    .bind(argv)
    .bind(status.as_str())
    .bind(i64::from(new.timeout_s))
    .bind(new.now_ms)
    .bind(new.created_by)
    .bind(new.approved_by.map(|_| new.now_ms))
    .bind(new.approved_by)
    .bind(new.slot.map(|s| s.name.as_str()))
    .bind(i32::from(new.slot.is_some_and(|s| s.while_running)))
    .bind(new.request_id)
    .bind(new.run_id.map(RunId::get))
    .fetch_one(&mut **tx)
    .await;
    match result {
        Ok(id) => Ok(ActionId::new(id)),
        Err(e) if super::is_unique_violation(&e) => Err(InsertError::Duplicate),
        Err(e) => Err(InsertError::Db(e.into())),
    }
}

/// The in-flight action that holds `slot` on `server`: the one a new action taking
/// that slot would duplicate.
pub async fn holding(
    executor: impl sqlx::Executor<'_, Database = Any>,
    server: &ServerId,
    slot: &str,
) -> Result<Option<ActionId>, DbError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM actions WHERE server_id = $1 AND slot = $2")
            .bind(server.as_str())
            .bind(slot)
            .fetch_optional(executor)
            .await?;
    Ok(id.map(ActionId::new))
}

/// The action `actor` created with request id `request_id`, if any.
pub async fn by_request(
    executor: impl sqlx::Executor<'_, Database = Any>,
    actor: &str,
    request_id: &str,
) -> Result<Option<ActionId>, DbError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM actions WHERE created_by = $1 AND request_id = $2")
            .bind(actor)
            .bind(request_id)
            .fetch_optional(executor)
            .await?;
    Ok(id.map(ActionId::new))
}

/// One action with its output.
pub async fn get(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: ActionId,
) -> Result<Option<Action>, DbError> {
    let row: Option<ActionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, stdout, stderr FROM {FROM} WHERE id = $1"
    ))
    .bind(id.get())
    .fetch_optional(executor)
    .await?;
    row.map(Action::try_from).transpose()
}

/// A page of the history, newest first, without output (`get` has it).
/// `before_id` is the keyset cursor: only actions older than it.
pub async fn list(
    pool: &AnyPool,
    filter: &HistoryFilter,
    before_id: Option<ActionId>,
    limit: u32,
) -> Result<Vec<Action>, DbError> {
    // Only the conditions in use appear in the SQL, so the planner can walk the index
    // that starts with the filtered column and ends with id, newest first, and stop
    // after `limit` rows whatever the size of the table.
    let mut conditions = Vec::new();
    let mut n = 0;
    // `?` in a condition is its numbered placeholder.
    let mut next = |condition: &str| {
        n += 1;
        conditions.push(condition.replace('?', &format!("${n}")));
    };
    if filter.server_id.is_some() {
        next("server_id = ?");
    }
    if filter.status.is_some() {
        next("status = ?");
    }
    if filter.action_type.is_some() {
        next("action_type = ?");
    }
    if filter.run_id.is_some() {
        next("run_id = ?");
    }
    if filter.schedule_id.is_some() {
        next("run_id IN (SELECT id FROM runs WHERE schedule_id = ?)");
    }
    if before_id.is_some() {
        next("id < ?");
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} {where_clause} ORDER BY id DESC LIMIT ${}",
        n + 1
    );
    let mut query = sqlx::query(&sql);
    if let Some(server) = &filter.server_id {
        query = query.bind(server.as_str());
    }
    if let Some(status) = filter.status {
        query = query.bind(status.as_str());
    }
    if let Some(action_type) = filter.action_type {
        query = query.bind(action_type.as_str());
    }
    if let Some(run) = filter.run_id {
        query = query.bind(run.get());
    }
    if let Some(schedule) = filter.schedule_id {
        query = query.bind(schedule.get());
    }
    if let Some(before) = before_id {
        query = query.bind(before.get());
    }
    let rows = query.bind(i64::from(limit)).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            ActionRow::from_row(r)
                .map_err(DbError::from)
                .and_then(Action::try_from)
        })
        .collect()
}

/// Moves an action from one of `from` to `to`, setting the actor columns of the
/// operation. Returns false when the action was not in one of `from`.
pub async fn transition(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    from: &[ActionStatus],
    to: ActionStatus,
    actor: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let set = match to {
        ActionStatus::Approved => "approved_at_ms = $3, approved_by = $4",
        ActionStatus::Rejected => "rejected_at_ms = $3, rejected_by = $4, reject_reason = $5",
        ActionStatus::Cancelled => "cancelled_at_ms = $3, cancelled_by = $4",
        other => {
            return Err(DbError::Sqlx(sqlx::Error::Protocol(format!(
                "no person moves an action to {other}"
            ))));
        }
    };
    // A final status holds no slot.
    let slot = if to.is_final() { ", slot = NULL" } else { "" };
    let from_list = placeholders(6, from.len());
    let sql = format!(
        "UPDATE actions SET status = $2, {set}{slot} WHERE id = $1 AND status IN ({from_list})"
    );
    let mut query = sqlx::query(&sql)
        .bind(id.get())
        .bind(to.as_str())
        .bind(now_ms)
        .bind(actor)
        .bind(reason);
    for status in from {
        query = query.bind(status.as_str());
    }
    let done = query.execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

/// Finishes an approved action whose argv is empty (the no-op security upgrade)
/// without the agent; leaves any other action alone.
pub async fn complete_if_nothing_to_run(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    stdout: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE actions SET status = $4, started_at_ms = $2, finished_at_ms = $2, \
         exit_code = 0, stdout = $3, slot = NULL WHERE id = $1 AND status = $5 AND argv = $6",
    )
    .bind(id.get())
    .bind(now_ms)
    .bind(stdout)
    .bind(ActionStatus::Completed.as_str())
    .bind(ActionStatus::Approved.as_str())
    .bind("[]")
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the server has an approved action waiting for its agent: a read, so an
/// idle long-poll looks without queueing for the writer.
pub async fn any_approved(
    executor: impl sqlx::Executor<'_, Database = Any>,
    server: &ServerId,
) -> Result<bool, DbError> {
    let waiting: Option<i64> =
        sqlx::query_scalar("SELECT id FROM actions WHERE server_id = $1 AND status = $2 LIMIT 1")
            .bind(server.as_str())
            .bind(ActionStatus::Approved.as_str())
            .fetch_optional(executor)
            .await?;
    Ok(waiting.is_some())
}

/// Claims the server's oldest approved action: approved becomes executing, with a
/// lease of its timeout plus `grace_ms`. Atomic: two claims never get the same action.
/// A reboot keeps the boot it leaves (the one the server's agent last reported), and
/// its lease is its time limit alone: that is what its machine has to come back.
pub async fn claim_next(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Option<NextAction>, DbError> {
    // The status check in the outer WHERE makes a lost race return no row instead of
    // a double claim; the caller simply tries again.
    for _ in 0..3 {
        // Kinds whose slot is held only while waiting (a restart) free it here.
        // A preview asked for an action that now runs is moot: the run says it all.
        let row: Option<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
            "UPDATE actions SET status = $4, started_at_ms = $2, \
             lease_expires_at_ms = $2 + timeout_s * 1000 + CASE WHEN action_type = $6 THEN 0 ELSE $3 END, \
             slot = CASE WHEN slot_while_running = 1 THEN slot ELSE NULL END, \
             preview_requested_at_ms = NULL, preview_sent_at_ms = NULL, \
             boot_id_before = CASE WHEN action_type = $6 THEN \
                 (SELECT boot_id FROM servers WHERE servers.id = actions.server_id) \
                 ELSE boot_id_before END \
             WHERE id = (SELECT id FROM actions WHERE server_id = $1 AND status = $5 \
                         ORDER BY id LIMIT 1) \
             AND status = $5 \
             RETURNING id, action_type, argv, timeout_s, approved_by",
        )
        .bind(server.as_str())
        .bind(now_ms)
        .bind(grace_ms)
        .bind(ActionStatus::Executing.as_str())
        .bind(ActionStatus::Approved.as_str())
        .bind(ActionType::Reboot.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some((id, action_type, argv, timeout_s, approved_by)) = row else {
            if any_approved(&mut **tx, server).await? {
                continue;
            }
            return Ok(None);
        };
        let action_type: ActionType = parse(&action_type, "action_type")?;
        let mut next = NextAction::run(
            ActionId::new(id),
            action_type,
            serde_json::from_str(&argv).map_err(|e| corrupt(format!("argv: {e}")))?,
            u32::try_from(timeout_s).unwrap_or(u32::MAX),
        );
        // No person saw an upgrade `auto` approved: the agent checks first whether
        // apt would remove anything, and holds it for one if so.
        next.hold_if_removing =
            previewable(action_type) && approved_by.as_deref() == Some(ACTOR_AUTO);
        return Ok(Some(next));
    }
    Ok(None)
}

/// The statuses an action can be previewed in: before it runs.
const PREVIEWABLE: [ActionStatus; 2] = [ActionStatus::Pending, ActionStatus::Approved];

/// Asks for a preview of action `id`: false unless it is an upgrade that has not
/// started. A new request replaces an unanswered one.
pub async fn request_preview(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE actions SET preview_requested_at_ms = $2, preview_sent_at_ms = NULL \
         WHERE id = $1 AND status IN ($3, $4) AND action_type IN ($5, $6)",
    )
    .bind(id.get())
    .bind(now_ms)
    .bind(PREVIEWABLE[0].as_str())
    .bind(PREVIEWABLE[1].as_str())
    .bind(ActionType::AptUpgradeAll.as_str())
    .bind(ActionType::AptUpgradeSecurity.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the server has a preview request its agent should get now: never sent,
/// or sent before `resend_before_ms` with no preview since. A read, like
/// [`any_approved`].
pub async fn any_preview_requested(
    executor: impl sqlx::Executor<'_, Database = Any>,
    server: &ServerId,
    resend_before_ms: i64,
) -> Result<bool, DbError> {
    let waiting: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM actions WHERE server_id = $1 AND preview_requested_at_ms IS NOT NULL \
         AND (preview_sent_at_ms IS NULL OR preview_sent_at_ms < $2) \
         AND status IN ($3, $4) LIMIT 1",
    )
    .bind(server.as_str())
    .bind(resend_before_ms)
    .bind(PREVIEWABLE[0].as_str())
    .bind(PREVIEWABLE[1].as_str())
    .fetch_optional(executor)
    .await?;
    Ok(waiting.is_some())
}

/// Hands the server's oldest waiting preview request to its agent: marks it sent
/// (atomic, so two long-polls never both get it) and returns what to simulate. The
/// action itself stays where it was.
pub async fn take_preview_request(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    now_ms: i64,
    resend_before_ms: i64,
) -> Result<Option<NextAction>, DbError> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "UPDATE actions SET preview_sent_at_ms = $2 \
         WHERE id = (SELECT id FROM actions WHERE server_id = $1 \
                     AND preview_requested_at_ms IS NOT NULL \
                     AND (preview_sent_at_ms IS NULL OR preview_sent_at_ms < $3) \
                     AND status IN ($4, $5) ORDER BY id LIMIT 1) \
         AND (preview_sent_at_ms IS NULL OR preview_sent_at_ms < $3) \
         RETURNING id, action_type, argv, timeout_s",
    )
    .bind(server.as_str())
    .bind(now_ms)
    .bind(resend_before_ms)
    .bind(PREVIEWABLE[0].as_str())
    .bind(PREVIEWABLE[1].as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, action_type, argv, timeout_s)) = row else {
        return Ok(None);
    };
    let mut next = NextAction::run(
        ActionId::new(id),
        parse(&action_type, "action_type")?,
        Vec::new(),
        u32::try_from(timeout_s).unwrap_or(u32::MAX),
    );
    next.mode = ClaimMode::Preview;
    next.preview_argv = serde_json::from_str(&argv).map_err(|e| corrupt(format!("argv: {e}")))?;
    Ok(Some(next))
}

/// Stores `outcome` as action `id`'s latest preview, taken at `now_ms`, and marks
/// any preview request answered.
pub async fn store_preview(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    outcome: &PreviewOutcome,
    now_ms: i64,
) -> Result<(), DbError> {
    let json =
        serde_json::to_string(outcome).map_err(|e| DbError::Sqlx(sqlx::Error::Encode(e.into())))?;
    sqlx::query(
        "INSERT INTO action_previews (action_id, taken_at_ms, outcome) VALUES ($1, $2, $3) \
         ON CONFLICT (action_id) DO UPDATE SET taken_at_ms = excluded.taken_at_ms, \
         outcome = excluded.outcome",
    )
    .bind(id.get())
    .bind(now_ms)
    .bind(json)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE actions SET preview_requested_at_ms = NULL, preview_sent_at_ms = NULL \
         WHERE id = $1",
    )
    .bind(id.get())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an executing action back to `to` (pending) for a person: its approval,
/// start, lease and output are cleared, its slot kept, and why is recorded. False
/// when it was not executing.
pub async fn hold(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    to: ActionStatus,
    reason: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE actions SET status = $2, approved_at_ms = NULL, approved_by = NULL, \
         started_at_ms = NULL, lease_expires_at_ms = NULL, stdout = '', stderr = '', \
         held_at_ms = $3, hold_reason = $4 WHERE id = $1 AND status = $5",
    )
    .bind(id.get())
    .bind(to.as_str())
    .bind(now_ms)
    .bind(reason)
    .bind(ActionStatus::Executing.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Where an action stands, as the agent API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The server that owns it.
    pub owner: String,
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub failure: Option<FailureReason>,
}

/// The server that owns action `id`, its kind, status and failure.
pub async fn standing(
    executor: impl sqlx::Executor<'_, Database = Any>,
    id: ActionId,
) -> Result<Option<Standing>, DbError> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT server_id, action_type, status, failure FROM actions WHERE id = $1")
            .bind(id.get())
            .fetch_optional(executor)
            .await?;
    row.map(|(owner, action_type, status, failure)| {
        Ok(Standing {
            owner,
            action_type: parse(&action_type, "action_type")?,
            status: parse(&status, "status")?,
            failure: parse_failure(failure.as_deref())?,
        })
    })
    .transpose()
}

/// Moves an executing action's lease to at least `until_ms` (never shortens it);
/// false when it is not executing. A reboot's lease never moves: a living agent
/// cannot buy its machine more time to come back.
pub async fn extend_lease(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    until_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE actions SET lease_expires_at_ms = \
         CASE WHEN lease_expires_at_ms > $2 OR action_type = $4 THEN lease_expires_at_ms \
         ELSE $2 END \
         WHERE id = $1 AND status = $3",
    )
    .bind(id.get())
    .bind(until_ms)
    .bind(ActionStatus::Executing.as_str())
    .bind(ActionType::Reboot.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How an executing action ended.
#[derive(Debug)]
pub struct Outcome {
    pub status: ActionStatus,
    pub exit_code: Option<i32>,
    pub failure: Option<FailureReason>,
    pub stdout: String,
    pub stderr: String,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: i64,
    /// Now, by the server's clock.
    pub reported_at_ms: i64,
}

/// Records the end of an action: an executing one, or (`late`) one the server had
/// already given up on as `agent_lost`, whose real result wins. False when the action
/// was in neither state.
pub async fn finish(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    o: &Outcome,
    late: bool,
) -> Result<bool, DbError> {
    let (status, failure) = if late {
        (ActionStatus::Failed, Some(FailureReason::AgentLost))
    } else {
        (ActionStatus::Executing, None)
    };
    // `failure IS $10` would be SQLite's; COALESCE keeps it portable: '' stands for
    // "no failure", which no row has.
    let done = sqlx::query(
        "UPDATE actions SET status = $2, exit_code = $3, failure = $4, stdout = $5, stderr = $6, \
         started_at_ms = COALESCE($7, started_at_ms), finished_at_ms = $8, \
         lease_expires_at_ms = NULL, slot = NULL, reported_at_ms = $11 \
         WHERE id = $1 AND status = $9 AND COALESCE(failure, '') = COALESCE($10, '')",
    )
    .bind(id.get())
    .bind(o.status.as_str())
    .bind(o.exit_code)
    .bind(o.failure.map(FailureReason::as_str))
    .bind(o.stdout.as_str())
    .bind(o.stderr.as_str())
    .bind(o.started_at_ms)
    .bind(o.finished_at_ms)
    .bind(status.as_str())
    .bind(failure.map(FailureReason::as_str))
    .bind(o.reported_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a reboot whose machine did not come back in time says.
pub const REBOOT_NOT_BACK: &str = "the machine did not report in from a new boot within the \
    reboot's time limit: it may still be down, or it never went down";

/// An executing reboot of `server` that left another boot than `boot_id`.
#[derive(Debug)]
pub struct Rebooted {
    pub id: ActionId,
    pub boot_id_before: String,
    pub started_at_ms: Option<i64>,
}

/// The executing reboots of `server` that `boot_id`, the boot its agent reports
/// from now, ends: those that left another boot.
pub async fn rebooted(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    boot_id: &str,
) -> Result<Vec<Rebooted>, DbError> {
    let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, boot_id_before, started_at_ms FROM actions \
         WHERE server_id = $1 AND status = $2 AND action_type = $3 \
         AND boot_id_before IS NOT NULL AND boot_id_before <> $4 ORDER BY id",
    )
    .bind(server.as_str())
    .bind(ActionStatus::Executing.as_str())
    .bind(ActionType::Reboot.as_str())
    .bind(boot_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, boot_id_before, started_at_ms)| Rebooted {
            id: ActionId::new(id),
            boot_id_before,
            started_at_ms,
        })
        .collect())
}

/// Fails every executing action whose lease ran out, and returns their ids: a
/// reboot's machine did not come back in time (`timed_out`); any other action's
/// agent went silent (`agent_lost`).
pub async fn expire_leases(
    tx: &mut Transaction<'_, Any>,
    now_ms: i64,
) -> Result<Vec<(ActionId, String)>, DbError> {
    let rows = sqlx::query(
        "UPDATE actions SET status = $2, \
         failure = CASE WHEN action_type = $5 THEN $6 ELSE $3 END, \
         stderr = CASE WHEN action_type = $5 THEN $7 ELSE stderr END, \
         finished_at_ms = $1, reported_at_ms = $1, lease_expires_at_ms = NULL, \
         lease_lost_at_ms = CASE WHEN action_type = $5 THEN NULL ELSE $1 END, slot = NULL \
         WHERE status = $4 AND lease_expires_at_ms < $1 RETURNING id, server_id",
    )
    .bind(now_ms)
    .bind(ActionStatus::Failed.as_str())
    .bind(FailureReason::AgentLost.as_str())
    .bind(ActionStatus::Executing.as_str())
    .bind(ActionType::Reboot.as_str())
    .bind(FailureReason::TimedOut.as_str())
    .bind(REBOOT_NOT_BACK)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| Ok((ActionId::new(r.try_get("id")?), r.try_get("server_id")?)))
        .collect()
}

/// Adds output a running action printed to what is stored of it, keeping the last
/// `keep` bytes of each stream (cut at a character boundary).
pub async fn append_output(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    stdout: &str,
    stderr: &str,
    keep: usize,
) -> Result<(), DbError> {
    let row = sqlx::query("SELECT stdout, stderr FROM actions WHERE id = $1")
        .bind(id.get())
        .fetch_one(&mut **tx)
        .await?;
    let grown = |stored: String, chunk: &str| {
        let mut all = stored;
        all.push_str(chunk);
        homelab_protocol::action::tail(&all, keep).to_owned()
    };
    let out = grown(row.try_get("stdout")?, stdout);
    let err = grown(row.try_get("stderr")?, stderr);
    sqlx::query("UPDATE actions SET stdout = $2, stderr = $3 WHERE id = $1")
        .bind(id.get())
        .bind(out)
        .bind(err)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How many actions wait for approval, per server.
pub async fn pending_counts(
    pool: &AnyPool,
) -> Result<std::collections::HashMap<String, u32>, DbError> {
    let rows = sqlx::query(
        "SELECT server_id, COUNT(*) AS n FROM actions WHERE status = $1 GROUP BY server_id",
    )
    .bind(ActionStatus::Pending.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("server_id")?,
                u32::try_from(r.try_get::<i64, _>("n")?).unwrap_or(u32::MAX),
            ))
        })
        .collect()
}

/// How many actions the history holds, by kind, status and failure reason: one
/// grouped scan, for `/metrics`.
pub async fn counts(pool: &AnyPool) -> Result<Vec<ActionCount>, DbError> {
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT action_type, status, failure, COUNT(*) FROM actions \
         GROUP BY action_type, status, failure",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(action_type, status, failure, n)| {
            Ok(ActionCount {
                action_type: parse(&action_type, "action_type")?,
                status: parse(&status, "status")?,
                failure: parse_failure(failure.as_deref())?,
                count: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect()
}

/// One group of [`counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCount {
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub failure: Option<FailureReason>,
    pub count: u64,
}

/// `$first, $first+1, ...`: `n` numbered placeholders for a bound list.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(format!("actions: {what}").into()))
}

/// An `actions` row as stored; [`Action`] is what it means.
#[derive(sqlx::FromRow)]
struct ActionRow {
    id: i64,
    server_id: String,
    action_type: String,
    parameters: Option<String>,
    argv: String,
    status: String,
    timeout_s: i64,
    created_at_ms: i64,
    created_by: String,
    approved_at_ms: Option<i64>,
    approved_by: Option<String>,
    rejected_at_ms: Option<i64>,
    rejected_by: Option<String>,
    reject_reason: Option<String>,
    cancelled_at_ms: Option<i64>,
    cancelled_by: Option<String>,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    exit_code: Option<i64>,
    failure: Option<String>,
    lease_lost_at_ms: Option<i64>,
    run_id: Option<i64>,
    preview_requested_at_ms: Option<i64>,
    held_at_ms: Option<i64>,
    hold_reason: Option<String>,
    preview_taken_at_ms: Option<i64>,
    preview_outcome: Option<String>,
    /// Only the single-action query reads the output; pages leave it empty.
    #[sqlx(default)]
    stdout: String,
    #[sqlx(default)]
    stderr: String,
}

impl TryFrom<ActionRow> for Action {
    type Error = DbError;

    fn try_from(r: ActionRow) -> Result<Self, DbError> {
        Ok(Action {
            id: ActionId::new(r.id),
            server_id: ServerId::parse(r.server_id).map_err(corrupt)?,
            action_type: parse(&r.action_type, "action_type")?,
            parameters: r
                .parameters
                .map(|p| serde_json::from_str(&p))
                .transpose()
                .map_err(|e| corrupt(format!("parameters: {e}")))?,
            argv: serde_json::from_str(&r.argv).map_err(|e| corrupt(format!("argv: {e}")))?,
            status: parse(&r.status, "status")?,
            timeout_s: u32::try_from(r.timeout_s).unwrap_or(u32::MAX),
            created_at_ms: Millis::new(r.created_at_ms),
            created_by: r.created_by,
            approved_at_ms: r.approved_at_ms.map(Millis::new),
            approved_by: r.approved_by,
            rejected_at_ms: r.rejected_at_ms.map(Millis::new),
            rejected_by: r.rejected_by,
            reject_reason: r.reject_reason,
            cancelled_at_ms: r.cancelled_at_ms.map(Millis::new),
            cancelled_by: r.cancelled_by,
            started_at_ms: r.started_at_ms.map(Millis::new),
            finished_at_ms: r.finished_at_ms.map(Millis::new),
            exit_code: r.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MIN)),
            failure: parse_failure(r.failure.as_deref())?,
            lease_lost_at_ms: r.lease_lost_at_ms.map(Millis::new),
            run_id: r.run_id.map(RunId::new),
            stdout: r.stdout,
            stderr: r.stderr,
            preview: match (r.preview_taken_at_ms, r.preview_outcome) {
                (Some(taken), Some(outcome)) => Some(ActionPreview {
                    taken_at_ms: Millis::new(taken),
                    outcome: serde_json::from_str(&outcome)
                        .map_err(|e| corrupt(format!("preview: {e}")))?,
                }),
                _ => None,
            },
            preview_requested_at_ms: r.preview_requested_at_ms.map(Millis::new),
            held_at_ms: r.held_at_ms.map(Millis::new),
            hold_reason: r.hold_reason,
        })
    }
}

/// A stored text as the enum it names, or a corrupt-row error naming the column.
fn parse<T: std::str::FromStr>(text: &str, column: &str) -> Result<T, DbError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| corrupt(format!("{column}: {e}")))
}

/// The `failure` column: none, or a reason this build knows.
fn parse_failure(text: Option<&str>) -> Result<Option<FailureReason>, DbError> {
    text.map(|f| parse(f, "failure")).transpose()
}

/// Cancels every action of `server` that has not started (its server is going away);
/// returns how many.
pub async fn cancel_waiting(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    actor: &str,
    now_ms: i64,
) -> Result<u64, DbError> {
    Ok(sqlx::query(
        "UPDATE actions SET status = $4, cancelled_at_ms = $2, cancelled_by = $3, slot = NULL \
         WHERE server_id = $1 AND status IN ($5, $6)",
    )
    .bind(server.as_str())
    .bind(now_ms)
    .bind(actor)
    .bind(ActionStatus::Cancelled.as_str())
    .bind(ActionStatus::Pending.as_str())
    .bind(ActionStatus::Approved.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
