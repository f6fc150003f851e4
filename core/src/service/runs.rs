//! Fleet runs: one action kind over a set of servers, in batches. Every step is an
//! ordinary action (approval policy, maintenance mode, duplicate guard, whitelist,
//! history), so a run can do nothing a click on each server could not.
//!
//! The engine is [`Service::advance_run`]: one transaction, under the run's row lock,
//! that brings each queued item up to date with its action, stops the run once more
//! servers failed than it allows, and otherwise starts the next batch when the
//! current one has finished. Anything may call it any number of times, on any
//! replica: a call with nothing to do changes nothing. The server calls it when a
//! run starts, when one of its actions changes, and on a timer.

use homelab_protocol::{
    ActionId, ActionSpec, ActionStatus, ActionType, ItemState, LiveEvent, MAX_BATCH_SIZE, Millis,
    RequestId, Run, RunId, RunStatus, RunTarget, ScheduleId, ServerId, ServerStatus, Tag,
    previewable,
};

use super::Service;
use super::actions::{Queue, queue};
use crate::db::{self, DbError};
use crate::{Error, ResultExt as _};

/// The most runs one listing shows.
pub const MAX_RUNS_LISTED: u32 = 200;

/// What a run is asked to do, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub spec: ActionSpec,
    pub target: RunTarget,
    pub batch_size: u32,
    pub max_failures: u32,
    /// After each server's upgrade, reboot it if it then reports needing one, and
    /// wait for it to come back before the next batch.
    pub reboot_if_required: bool,
}

impl RunRequest {
    /// A request with the design's defaults: one server at a time, stop at the first
    /// failure.
    pub fn new(spec: ActionSpec, target: RunTarget) -> Self {
        RunRequest {
            spec,
            target,
            batch_size: 1,
            max_failures: 0,
            reboot_if_required: false,
        }
    }

    /// A request from a form or a JSON body, parsed at the edge: the action type and
    /// its parameters, either `servers` or `tag`, the optional sizes and whether to
    /// reboot after an upgrade.
    pub fn parse(
        action_type: homelab_protocol::ActionType,
        parameters: Option<&serde_json::Value>,
        servers: Option<Vec<String>>,
        tag: Option<String>,
        batch_size: Option<u32>,
        max_failures: Option<u32>,
        reboot_if_required: Option<bool>,
    ) -> Result<Self, Error> {
        let spec = ActionSpec::parse(action_type, parameters)
            .map_err(|e| Error::invalid(e.field, e.message))?;
        let target = match (tag, servers) {
            (Some(tag), None) => {
                RunTarget::Tag(Tag::parse(tag).map_err(|e| Error::invalid("tag", e.to_string()))?)
            }
            (None, Some(servers)) => {
                if servers.len() > RunTarget::MAX_SERVERS {
                    return Err(Error::invalid(
                        "servers",
                        format!("at most {} servers", RunTarget::MAX_SERVERS),
                    ));
                }
                RunTarget::Servers(
                    servers
                        .into_iter()
                        .map(|s| {
                            ServerId::parse(s).map_err(|e| Error::invalid("servers", e.to_string()))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            (None, None) => {
                return Err(Error::invalid("servers", "pick servers, or a tag"));
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "servers",
                    "name either servers or a tag, not both",
                ));
            }
        };
        let mut request = RunRequest::new(spec, target);
        request.batch_size = batch_size.unwrap_or(request.batch_size);
        request.max_failures = max_failures.unwrap_or(request.max_failures);
        request.reboot_if_required = reboot_if_required.unwrap_or(false);
        request.check()?;
        Ok(request)
    }

    /// Refuses sizes no run can have, and a reboot after anything but an upgrade.
    pub fn check(&self) -> Result<(), Error> {
        if self.reboot_if_required && !previewable(self.spec.action_type()) {
            return Err(Error::invalid(
                "reboot_if_required",
                format!(
                    "a reboot can only follow an upgrade ({} or {}), not {}",
                    ActionType::AptUpgradeAll,
                    ActionType::AptUpgradeSecurity,
                    self.spec.action_type()
                ),
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(Error::invalid(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}"),
            ));
        }
        if self.max_failures as usize > RunTarget::MAX_SERVERS {
            return Err(Error::invalid(
                "max_failures",
                format!("must be at most {}", RunTarget::MAX_SERVERS),
            ));
        }
        match &self.target {
            RunTarget::Servers(servers) if servers.is_empty() => {
                Err(Error::invalid("servers", "name at least one server"))
            }
            RunTarget::Servers(servers) if servers.len() > RunTarget::MAX_SERVERS => {
                Err(Error::invalid(
                    "servers",
                    format!("at most {} servers", RunTarget::MAX_SERVERS),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A schedule's firing a run is started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    pub schedule: ScheduleId,
    /// The time the cron line named.
    pub at: Millis,
    /// Missed while the dashboard was down, and run at start-up.
    pub late: bool,
}

/// What one pass of the engine did, to announce once its transaction committed.
#[derive(Debug, Default)]
struct Advanced {
    changed: bool,
    /// Actions it queued or cancelled, with their servers and whether they are
    /// approved (the agent should hear at once).
    touched: Vec<(ActionId, ServerId, bool)>,
}

impl Service {
    /// Starts a fleet run for `actor` and its first batch.
    pub async fn start_run(&self, request: RunRequest, actor: &str) -> Result<Run, Error> {
        self.start_run_once(request, actor, None).await
    }

    /// Starts a fleet run for `actor`, once per `request_id`: the same request sent
    /// again (a double click, a resent form) answers with the run it started.
    pub async fn start_run_once(
        &self,
        request: RunRequest,
        actor: &str,
        request_id: Option<&RequestId>,
    ) -> Result<Run, Error> {
        if let Some(rid) = request_id
            && let Some(first) = self.run_by_request(actor, rid).await?
        {
            tracing::info!(run = %first, request = rid.as_str(), "repeated request: same run");
            return self.run(first).await;
        }
        if let Some(id) = self.insert_run(request, actor, None, request_id).await? {
            return self.run(id).await;
        }
        // The same request, sent twice at once: the other one started the run.
        match request_id {
            Some(rid) => match self.run_by_request(actor, rid).await? {
                Some(first) => self.run(first).await,
                None => Err(Error::conflict("this run has already been started")),
            },
            None => Err(Error::conflict("this run has already been started")),
        }
    }

    async fn run_by_request(&self, actor: &str, rid: &RequestId) -> Result<Option<RunId>, Error> {
        db::runs::by_request(self.db.pool(), actor, rid.as_str())
            .await
            .context("looking up a repeated request")
    }

    /// Starts the run of a schedule's firing, once: `None` when that firing already
    /// started its run (another replica, or before a restart).
    pub async fn start_run_for_firing(
        &self,
        request: RunRequest,
        actor: &str,
        firing: Firing,
    ) -> Result<Option<RunId>, Error> {
        self.insert_run(request, actor, Some(firing), None).await
    }

    /// Stores the run and starts its first batch; `None` when its firing or request
    /// id already started one.
    async fn insert_run(
        &self,
        request: RunRequest,
        actor: &str,
        firing: Option<Firing>,
        request_id: Option<&RequestId>,
    ) -> Result<Option<RunId>, Error> {
        request.check()?;
        let now = self.now_ms();
        let actor_owned = actor.to_owned();
        let request_id = request_id.map(|r| r.as_str().to_owned());
        let inserted = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let servers = resolve(tx, &request.target).await?;
                    let parameters = request.spec.parameters();
                    let tag = match &request.target {
                        RunTarget::Tag(tag) => Some(tag),
                        RunTarget::Servers(_) => None,
                    };
                    let new = db::runs::NewRun {
                        action_type: request.spec.action_type(),
                        parameters: parameters.as_ref(),
                        tag,
                        batch_size: request.batch_size,
                        max_failures: request.max_failures,
                        created_by: &actor_owned,
                        firing: firing.map(|f| (f.schedule, f.at)),
                        late: firing.is_some_and(|f| f.late),
                        reboot_if_required: request.reboot_if_required,
                        request_id: request_id.as_deref(),
                        now_ms: now,
                    };
                    match db::runs::insert(tx, &new, &servers).await {
                        Ok(id) => Ok(Some((id, servers.len()))),
                        Err(db::runs::InsertError::Taken) => Ok(None),
                        Err(db::runs::InsertError::Db(e)) => Err(Error::from(e)),
                    }
                })
            })
            .await?;
        let Some((id, servers)) = inserted else {
            return Ok(None);
        };
        tracing::info!(run = %id, by = actor, servers, "fleet run started");
        self.publish(LiveEvent::Run { id });
        self.advance_run(id).await?;
        Ok(Some(id))
    }

    /// One run with each server's state.
    pub async fn run(&self, id: RunId) -> Result<Run, Error> {
        let mut conn = self.db.pool().acquire().await.context("run")?;
        db::runs::get(&mut conn, id)
            .await
            .context("run")?
            .ok_or_else(|| Error::NotFound(format!("no run {id}")))
    }

    /// The newest runs (of one schedule, if named), newest first.
    pub async fn runs(&self, schedule: Option<ScheduleId>, limit: u32) -> Result<Vec<Run>, Error> {
        db::runs::list(self.db.pool(), schedule, limit.clamp(1, MAX_RUNS_LISTED))
            .await
            .context("runs")
    }

    /// Cancels a running run: its servers not yet started are cancelled with their
    /// actions (pending or approved); actions already running finish, and the run
    /// page still shows how.
    pub async fn cancel_run(&self, id: RunId, actor: &str) -> Result<Run, Error> {
        let now = self.now_ms();
        let by = actor.to_owned();
        let advanced = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    if !db::runs::lock(tx, id).await? {
                        return Err(Error::NotFound(format!("no run {id}")));
                    }
                    let run = db::runs::settings(&mut **tx, id)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("no run {id}")))?;
                    if run.status.is_final() {
                        return Err(Error::conflict(format!(
                            "run {id} is {}; only a running run can be cancelled",
                            run.status
                        )));
                    }
                    let mut advanced = Advanced::default();
                    let reason = format!("run cancelled by {by}");
                    halt(tx, id, &by, &reason, now, &mut advanced).await?;
                    db::runs::finish(tx, id, RunStatus::Cancelled, Some(&by), now).await?;
                    advanced.changed = true;
                    Ok::<_, Error>(advanced)
                })
            })
            .await?;
        tracing::info!(run = %id, by = actor, "fleet run cancelled");
        self.announce(id, advanced);
        self.run(id).await
    }

    /// Advances every run with work left; what the timer calls.
    pub async fn advance_runs(&self) -> Result<(), Error> {
        let ids = db::runs::unsettled(self.db.pool())
            .await
            .context("runs to advance")?;
        for id in ids {
            self.advance_run(id).await?;
        }
        Ok(())
    }

    /// Advances the run that queued `action`, if one did: what a change of that
    /// action calls.
    pub async fn advance_run_of(&self, action: ActionId) -> Result<(), Error> {
        match db::runs::run_of(self.db.pool(), action)
            .await
            .context("run of an action")?
        {
            Some(run) => self.advance_run(run).await,
            None => Ok(()),
        }
    }

    /// Brings run `id` up to date and starts its next batch when the current one has
    /// finished (see the module).
    pub async fn advance_run(&self, id: RunId) -> Result<(), Error> {
        // Most calls find nothing to do: a read says so without taking a write turn.
        let items = db::runs::engine_items(self.db.pool(), id)
            .await
            .context("run items")?;
        let settled =
            |i: &db::runs::EngineItem| i.action_status.is_some_and(ActionStatus::is_final);
        let queued = items.iter().any(|i| i.state == ItemState::Queued);
        let waiting = items.iter().any(|i| i.state == ItemState::Waiting);
        let due = items
            .iter()
            .any(|i| i.state == ItemState::Queued && settled(i))
            || (!queued && waiting);
        if !due {
            return Ok(());
        }
        let now = self.now_ms();
        let service = self.clone();
        let advanced = self
            .db
            .write(move |tx| Box::pin(async move { service.advance_in(tx, id, now).await }))
            .await?;
        self.announce(id, advanced);
        Ok(())
    }

    /// The engine's pass, inside the run's transaction.
    async fn advance_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: RunId,
        now: i64,
    ) -> Result<Advanced, Error> {
        let mut advanced = Advanced::default();
        if !db::runs::lock(tx, id).await? {
            return Ok(advanced);
        }
        let run = db::runs::settings(&mut **tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no run {id}")))?;
        loop {
            // Each queued item follows its action.
            let items = db::runs::engine_items(&mut **tx, id).await?;
            for item in &items {
                let Some(status) = item.action_status else {
                    continue;
                };
                if item.state == ItemState::Queued && status.is_final() {
                    if run.reboot_if_required
                        && !run.status.is_final()
                        && !item.reboot
                        && status == ActionStatus::Completed
                    {
                        match self.reboot_step(tx, id, &run, item, now).await? {
                            RebootStep::NotNeeded => {}
                            RebootStep::Wait => continue,
                            RebootStep::Queued(action, approved) => {
                                db::runs::set_reboot(tx, id, item.position, action).await?;
                                advanced
                                    .touched
                                    .push((action, item.server.clone(), approved));
                                advanced.changed = true;
                                continue;
                            }
                            RebootStep::Fail(reason) => {
                                db::runs::set_item(
                                    tx,
                                    id,
                                    item.position,
                                    ItemState::Failed,
                                    None,
                                    Some(&reason),
                                )
                                .await?;
                                advanced.changed = true;
                                continue;
                            }
                        }
                    }
                    let state = ItemState::of_action(status);
                    let reason = outcome(item, status);
                    db::runs::set_item(tx, id, item.position, state, None, reason.as_deref())
                        .await?;
                    advanced.changed = true;
                }
            }
            if run.status.is_final() {
                // An ended run starts nothing; its last actions are followed above.
                return Ok(advanced);
            }
            let items = db::runs::engine_items(&mut **tx, id).await?;
            let failed = items
                .iter()
                .filter(|i| i.state == ItemState::Failed)
                .count();
            if failed > run.max_failures as usize {
                let actor = format!("run:{id}");
                let reason = format!(
                    "the run stopped: {failed} server{} failed, {} allowed",
                    if failed == 1 { "" } else { "s" },
                    run.max_failures
                );
                halt(tx, id, &actor, &reason, now, &mut advanced).await?;
                db::runs::finish(tx, id, RunStatus::Failed, None, now).await?;
                tracing::warn!(run = %id, failed, "fleet run stopped by failures");
                advanced.changed = true;
                return Ok(advanced);
            }
            if items.iter().any(|i| i.state == ItemState::Queued) {
                // The current batch is still going.
                return Ok(advanced);
            }
            let batch: Vec<_> = items
                .iter()
                .filter(|i| i.state == ItemState::Waiting)
                .take(run.batch_size as usize)
                .collect();
            if batch.is_empty() {
                db::runs::finish(tx, id, RunStatus::Completed, None, now).await?;
                tracing::info!(run = %id, "fleet run completed");
                advanced.changed = true;
                return Ok(advanced);
            }
            let spec = ActionSpec::parse(run.action_type, run.parameters.as_ref())
                .map_err(|e| Error::internal("a stored run's parameters", e))?;
            for item in batch {
                advanced.changed = true;
                if let Some(reason) = self.skip_reason(tx, &item.server, &spec).await? {
                    tracing::info!(run = %id, server = %item.server, %reason, "skipped");
                    db::runs::set_item(
                        tx,
                        id,
                        item.position,
                        ItemState::Skipped,
                        None,
                        Some(&reason),
                    )
                    .await?;
                    continue;
                }
                let (action, approved) = self
                    .queue_step(tx, id, &run.created_by, &item.server, &spec, now)
                    .await?;
                db::runs::set_item(tx, id, item.position, ItemState::Queued, Some(action), None)
                    .await?;
                advanced
                    .touched
                    .push((action, item.server.clone(), approved));
            }
            // Round again: a batch whose servers were all skipped, or whose actions
            // ended at once (nothing to upgrade), lets the next one start now.
        }
    }

    /// What follows a server's completed upgrade in a run that reboots: nothing when
    /// a heartbeat received after the upgrade says no reboot is needed, a reboot
    /// when it says one is, and a wait until such a heartbeat comes (a failure once
    /// the machine has gone silent for longer than it takes to be judged offline).
    async fn reboot_step(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: RunId,
        run: &db::runs::Settings,
        item: &db::runs::EngineItem,
        now: i64,
    ) -> Result<RebootStep, Error> {
        let Some(server) = db::servers::reboot_inputs(&mut **tx, &item.server).await? else {
            return Ok(RebootStep::Fail(
                "upgraded, then removed from the fleet: not rebooted".to_owned(),
            ));
        };
        let upgraded_at = item.reported_at_ms.unwrap_or(0);
        if server.last_seen_ms.is_none_or(|seen| seen <= upgraded_at) {
            let silent_for = ServerStatus::MISSED_HEARTBEATS.saturating_mul(
                i64::try_from(self.heartbeat_interval.as_millis()).unwrap_or(i64::MAX),
            );
            if now.saturating_sub(upgraded_at) > silent_for {
                return Ok(RebootStep::Fail(
                    "upgraded, but the machine sent no heartbeat since, so whether it needs a \
                     reboot is unknown: not rebooted"
                        .to_owned(),
                ));
            }
            return Ok(RebootStep::Wait);
        }
        if !server.reboot_required {
            return Ok(RebootStep::NotNeeded);
        }
        if server.boot_id.is_none() {
            return Ok(RebootStep::Fail(format!(
                "upgraded and needs a reboot, but {}",
                super::actions::NO_BOOT_ID.trim_start_matches("this machine's agent ")
            )));
        }
        let reboot = ActionSpec::Reboot;
        if let Some(slot) = reboot.slot()
            && db::actions::holding(&mut **tx, &item.server, &slot.name)
                .await?
                .is_some()
        {
            // Someone queued apt meanwhile: the reboot follows it.
            return Ok(RebootStep::Wait);
        }
        let (action, approved) = self
            .queue_step(tx, id, &run.created_by, &item.server, &reboot, now)
            .await?;
        tracing::info!(run = %id, server = %item.server, action = %action, "upgraded and needs a reboot: rebooting");
        Ok(RebootStep::Queued(action, approved))
    }

    /// Queues one step of run `id` on `server` (an ordinary action, created by the
    /// run's creator and naming the run), and says whether it was approved at once.
    /// The caller read the duplicate guard free in this same transaction: a refusal
    /// now is a concurrent request on another replica, and the whole pass is tried
    /// again on the next call.
    async fn queue_step(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: RunId,
        actor: &str,
        server: &ServerId,
        spec: &ActionSpec,
        now: i64,
    ) -> Result<(ActionId, bool), Error> {
        let queued = queue(
            tx,
            &Queue {
                server,
                spec,
                actor,
                timeout_s: self.timeouts.get(spec.action_type()),
                request_id: None,
                run_id: Some(id),
                now_ms: now,
            },
        )
        .await?;
        let (action, approved_by) = queued.ok_or_else(|| {
            Error::conflict(format!("server {server} became busy; run {id} retries"))
        })?;
        Ok((action, approved_by.is_some()))
    }

    /// Why `server` is left out of its batch, if it is: not in the fleet any more,
    /// offline (or never reported), or busy with an action this one would duplicate.
    async fn skip_reason(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        server: &ServerId,
        spec: &ActionSpec,
    ) -> Result<Option<String>, DbError> {
        let Some(last_seen) = db::servers::last_seen(&mut **tx, server).await? else {
            return Ok(Some("removed from the fleet".to_owned()));
        };
        match self.status(last_seen) {
            ServerStatus::Online => {}
            ServerStatus::Offline => return Ok(Some("offline".to_owned())),
            ServerStatus::Unknown => {
                return Ok(Some("offline: its agent never reported".to_owned()));
            }
        }
        if spec.action_type() == ActionType::Reboot
            && db::servers::boot_id(&mut **tx, server)
                .await?
                .flatten()
                .is_none()
        {
            return Ok(Some(
                "cannot reboot: its agent has not reported a boot id (too old?)".to_owned(),
            ));
        }
        if let Some(slot) = spec.slot()
            && let Some(busy) = db::actions::holding(&mut **tx, server, &slot.name).await?
        {
            let what = if slot.while_running {
                "an apt action or a reboot is already in flight"
            } else {
                "the same action is already waiting"
            };
            return Ok(Some(format!("busy: {what} (action {busy})")));
        }
        Ok(None)
    }

    /// Tells the agents and pages what a pass changed.
    fn announce(&self, id: RunId, advanced: Advanced) {
        for (action, server, approved) in advanced.touched {
            if approved {
                self.wake(&server);
            }
            self.publish(LiveEvent::Action { id: action, server });
        }
        if advanced.changed {
            self.publish(LiveEvent::Run { id });
        }
    }
}

/// What follows an upgrade in a run that reboots servers needing it.
enum RebootStep {
    /// The machine does not need a reboot: the item is done.
    NotNeeded,
    /// No heartbeat since the upgrade yet, or an apt action in the way.
    Wait,
    /// This reboot was queued (approved at once, or waiting for a person).
    Queued(ActionId, bool),
    /// It cannot be rebooted, and says why.
    Fail(String),
}

/// The servers a target names, checked: a tag's servers by id, or the named servers
/// in the order given, without repeats, each one in the fleet.
async fn resolve(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    target: &RunTarget,
) -> Result<Vec<ServerId>, Error> {
    match target {
        RunTarget::Tag(tag) => {
            let servers = db::tags::servers_with(&mut **tx, tag).await?;
            if servers.is_empty() {
                return Err(Error::invalid(
                    "tag",
                    format!("no server carries the tag `{tag}`"),
                ));
            }
            Ok(servers)
        }
        RunTarget::Servers(named) => {
            let mut servers: Vec<ServerId> = Vec::with_capacity(named.len());
            for server in named {
                if servers.contains(server) {
                    continue;
                }
                if db::servers::last_seen(&mut **tx, server).await?.is_none() {
                    return Err(Error::invalid(
                        "servers",
                        format!("no server with id `{server}`"),
                    ));
                }
                servers.push(server.clone());
            }
            Ok(servers)
        }
    }
}

/// Stops a run: its waiting servers, and the queued ones whose action has not started
/// (cancelled by `actor`), are cancelled with `reason`; running actions finish.
async fn halt(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: RunId,
    actor: &str,
    reason: &str,
    now: i64,
    advanced: &mut Advanced,
) -> Result<(), DbError> {
    let not_started = [ActionStatus::Pending, ActionStatus::Approved];
    for item in db::runs::engine_items(&mut **tx, id).await? {
        match (item.state, item.action, item.action_status) {
            (ItemState::Waiting, _, _) => {
                db::runs::set_item(
                    tx,
                    id,
                    item.position,
                    ItemState::Cancelled,
                    None,
                    Some(reason),
                )
                .await?;
            }
            (ItemState::Queued, Some(action), Some(status)) if not_started.contains(&status) => {
                let cancelled = db::actions::transition(
                    tx,
                    action,
                    &not_started,
                    ActionStatus::Cancelled,
                    actor,
                    None,
                    now,
                )
                .await?;
                // Claimed since it was read: it runs, and the item follows it.
                if !cancelled {
                    continue;
                }
                db::runs::set_item(
                    tx,
                    id,
                    item.position,
                    ItemState::Cancelled,
                    None,
                    Some(reason),
                )
                .await?;
                advanced.touched.push((action, item.server.clone(), false));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The reason an item shows once its action ended, if it did not complete.
fn outcome(item: &db::runs::EngineItem, status: ActionStatus) -> Option<String> {
    let reason = outcome_of_action(item, status)?;
    Some(if item.reboot {
        format!("upgraded; reboot {reason}")
    } else {
        reason
    })
}

fn outcome_of_action(item: &db::runs::EngineItem, status: ActionStatus) -> Option<String> {
    match status {
        ActionStatus::Failed => Some(format!(
            "failed: {}",
            item.failure.as_deref().unwrap_or("unknown")
        )),
        ActionStatus::Rejected => Some(format!(
            "rejected by {}: {}",
            item.rejected_by.as_deref().unwrap_or("someone"),
            item.reject_reason.as_deref().unwrap_or("")
        )),
        ActionStatus::Cancelled => Some(format!(
            "cancelled by {}",
            item.cancelled_by.as_deref().unwrap_or("someone")
        )),
        _ => None,
    }
}

impl Service {
    /// Replaces the tags of `server`.
    pub async fn set_tags(
        &self,
        server: &ServerId,
        tags: Vec<Tag>,
        actor: &str,
    ) -> Result<(), Error> {
        let id = server.clone();
        let stored = tags.clone();
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    if db::servers::last_seen(&mut **tx, &id).await?.is_none() {
                        return Ok(false);
                    }
                    db::tags::set(tx, &id, &stored).await?;
                    Ok::<_, DbError>(true)
                })
            })
            .await
            .context("set tags")?;
        if !found {
            return Err(Error::NotFound(format!("no server with id `{server}`")));
        }
        tracing::info!(server = %server, by = actor, ?tags, "tags set");
        self.publish(LiveEvent::Server {
            server: server.clone(),
        });
        Ok(())
    }

    /// Every tag carried by a server of the fleet.
    pub async fn tags_in_use(&self) -> Result<Vec<Tag>, Error> {
        db::tags::in_use(self.db.pool()).await.context("tags")
    }
}
