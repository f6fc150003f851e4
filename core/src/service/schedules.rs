//! Schedules (patch policies): a cron line in a time zone that starts a fleet run at
//! each firing, recorded as started by `schedule:<name>`.
//!
//! [`Service::fire_due_schedules`] is the whole engine, driven by the service's
//! clock; the server's job calls it every few seconds on every replica. For each
//! schedule whose watermark (`next_fire_at_ms`) is due it
//!
//! 1. takes the **latest** due firing: after an outage that spanned several
//!    firings only the latest runs, once (an admin who missed three nightly
//!    upgrades wants one upgrade now, not three in a row); a firing handled more
//!    than [`firing::LATE_AFTER_MS`] after its time is recorded as late;
//! 2. starts its run with [`Service::start_run_for_firing`]: the unique index on
//!    `runs (schedule_id, fire_at_ms)` lets one run start per firing, whichever
//!    replica or restart gets there first;
//! 3. moves the watermark to the next firing, compare-and-set on the value it read.
//!
//! A crash between 2 and 3 leaves the watermark behind: the next pass finds the
//! firing's run already there and only moves it. A firing that cannot start a run
//! (no server carries the tag any more) is recorded on the schedule with its reason
//! and the schedule goes on to its next firing.

use homelab_protocol::{
    CronLine, LiveEvent, Millis, RunTarget, Schedule, ScheduleId, ScheduleName, ScheduleRun,
    ZoneName,
};

use super::Service;
use super::runs::{Firing, RunRequest};
use crate::db;
use crate::firing;
use crate::{Error, ResultExt as _};

/// What a schedule is asked to be, read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub name: ScheduleName,
    pub cron: CronLine,
    pub timezone: ZoneName,
    /// What each firing's run does and to which servers, and whether it reboots
    /// the servers an upgrade left needing it.
    pub run: RunRequest,
}

impl ScheduleRequest {
    /// Refuses what no schedule can be, and finds its zone.
    fn check(&self) -> Result<chrono_tz::Tz, Error> {
        self.run.check()?;
        firing::zone(&self.timezone)
    }
}

/// How the handling of one due schedule ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Its firing started this run.
    Started {
        schedule: ScheduleId,
        run: homelab_protocol::RunId,
        late: bool,
    },
    /// Its firing's run was already started (another replica, or before a restart).
    AlreadyStarted { schedule: ScheduleId },
    /// Its firing started no run, for this reason.
    Skipped {
        schedule: ScheduleId,
        reason: String,
    },
}

impl Service {
    /// Stores a new schedule, waiting for its first firing after now.
    pub async fn create_schedule(
        &self,
        request: ScheduleRequest,
        actor: &str,
    ) -> Result<Schedule, Error> {
        let (tz, next) = self.settle(&request).await?;
        let now = self.now_ms();
        let by = actor.to_owned();
        let stored = request.clone();
        let id = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::schedules::insert(tx, &new_schedule(&stored, next, &by, now)).await
                })
            })
            .await
            .map_err(|e| write_error(e, &request.name))?;
        tracing::info!(schedule = %id, name = %request.name, by = actor, next = ?next,
            zone = %tz, "schedule created");
        self.publish(LiveEvent::Schedules);
        self.schedule(id).await
    }

    /// Replaces schedule `id`'s settings; its next firing is counted again from now.
    pub async fn update_schedule(
        &self,
        id: ScheduleId,
        request: ScheduleRequest,
        actor: &str,
    ) -> Result<Schedule, Error> {
        let (_, next) = self.settle(&request).await?;
        let now = self.now_ms();
        let by = actor.to_owned();
        let stored = request.clone();
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::schedules::update(tx, id, &new_schedule(&stored, next, &by, now)).await
                })
            })
            .await
            .map_err(|e| write_error(e, &request.name))?;
        if !found {
            return Err(no_schedule(id));
        }
        tracing::info!(schedule = %id, by = actor, "schedule changed");
        self.publish(LiveEvent::Schedules);
        self.schedule(id).await
    }

    /// Deletes schedule `id`; the runs it started stay in the history.
    pub async fn delete_schedule(&self, id: ScheduleId, actor: &str) -> Result<(), Error> {
        let found = self
            .db
            .write(move |tx| Box::pin(async move { db::schedules::delete(tx, id).await }))
            .await
            .context("delete schedule")?;
        if !found {
            return Err(no_schedule(id));
        }
        tracing::info!(schedule = %id, by = actor, "schedule deleted");
        self.publish(LiveEvent::Schedules);
        Ok(())
    }

    /// One schedule with its next firing and last run.
    pub async fn schedule(&self, id: ScheduleId) -> Result<Schedule, Error> {
        let record = db::schedules::get(self.db.pool(), id)
            .await
            .context("schedule")?
            .ok_or_else(|| no_schedule(id))?;
        self.view(record).await
    }

    /// Every schedule, by name, each with its next firing and last run.
    pub async fn schedules(&self) -> Result<Vec<Schedule>, Error> {
        let records = db::schedules::list(self.db.pool())
            .await
            .context("schedules")?;
        let mut schedules = Vec::with_capacity(records.len());
        for record in records {
            schedules.push(self.view(record).await?);
        }
        Ok(schedules)
    }

    /// The earliest next firing of any schedule (the job sleeps until then, bounded).
    pub async fn next_schedule_firing(&self) -> Result<Option<Millis>, Error> {
        db::schedules::earliest_next(self.db.pool())
            .await
            .context("next firing")
    }

    /// Fires every schedule that is due by the service's clock (see the module); one
    /// schedule's failure does not hold up the others, and the first is returned
    /// once all were tried.
    pub async fn fire_due_schedules(&self) -> Result<Vec<Fired>, Error> {
        let now = self.now();
        let due = db::schedules::due(self.db.pool(), now)
            .await
            .context("due schedules")?;
        let mut fired = Vec::with_capacity(due.len());
        let mut first_error = None;
        for record in due {
            let id = record.id;
            match self.fire(record, now).await {
                Ok(Some(outcome)) => fired.push(outcome),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(schedule = %id, error = %e, "schedule firing failed; \
                        the next pass tries again");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(fired),
        }
    }

    /// Handles one due schedule: `None` when another replica already moved it on.
    async fn fire(
        &self,
        record: db::schedules::ScheduleRecord,
        now: Millis,
    ) -> Result<Option<Fired>, Error> {
        let id = record.id;
        let Some(watermark) = record.next_fire_at_ms else {
            return Ok(None);
        };
        let tz = firing::zone(&record.timezone)
            .map_err(|e| Error::internal("a stored schedule's zone", e))?;
        let Some(at) = firing::latest_due(&record.cron, tz, watermark, now) else {
            return Ok(None);
        };
        let late = now.since(at) > firing::LATE_AFTER_MS;
        if at != watermark {
            tracing::warn!(schedule = %id, name = %record.name, missed_since = %watermark,
                firing = %at, "firings missed while the dashboard was down: the latest runs \
                once, late; the earlier ones are not run");
        }
        let request = RunRequest {
            spec: record.spec.clone(),
            target: record.target.clone(),
            batch_size: record.batch_size,
            max_failures: record.max_failures,
            reboot_if_required: record.reboot_if_required,
        };
        let firing = Firing {
            schedule: id,
            at,
            late,
        };
        let outcome = match self
            .start_run_for_firing(request, &record.name.actor(), firing)
            .await
        {
            Ok(Some(run)) => {
                tracing::info!(schedule = %id, name = %record.name, %run, late,
                    "schedule fired");
                Fired::Started {
                    schedule: id,
                    run,
                    late,
                }
            }
            Ok(None) => Fired::AlreadyStarted { schedule: id },
            // Refused before the run was stored: the target names nothing to run on.
            Err(Error::Invalid { field, message }) => {
                let reason = format!("no run started: {field}: {message}");
                tracing::warn!(schedule = %id, name = %record.name, %reason,
                    "schedule fired without a run");
                Fired::Skipped {
                    schedule: id,
                    reason,
                }
            }
            Err(Error::NotFound(message)) => {
                let reason = format!("no run started: {message}");
                tracing::warn!(schedule = %id, %reason, "schedule fired without a run");
                Fired::Skipped {
                    schedule: id,
                    reason,
                }
            }
            // The run is stored; its first batch met a busy server on another
            // replica and starts on the engine's next pass.
            Err(Error::Conflict { message, .. }) => {
                tracing::info!(schedule = %id, %message, "schedule fired; its run retries");
                Fired::AlreadyStarted { schedule: id }
            }
            // Our fault: the watermark stays, and the next pass tries this firing
            // again (its run starts once whatever happened here).
            Err(e) => return Err(e),
        };
        let next = firing::next_after(&record.cron, tz, at);
        let skipped = match &outcome {
            Fired::Skipped { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        let moved = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::schedules::advance(tx, id, watermark, next, at, skipped.as_deref()).await
                })
            })
            .await
            .context("move a schedule on")?;
        if moved {
            self.publish(LiveEvent::Schedules);
        } else {
            tracing::debug!(schedule = %id, "another replica moved the schedule on");
        }
        Ok(Some(outcome))
    }

    /// Checks a request and finds its zone and first firing after now.
    async fn settle(&self, request: &ScheduleRequest) -> Result<(chrono_tz::Tz, Millis), Error> {
        let tz = request.check()?;
        if let RunTarget::Servers(servers) = &request.run.target {
            for server in servers {
                if db::servers::last_seen(self.db.pool(), server)
                    .await
                    .context("schedule servers")?
                    .is_none()
                {
                    return Err(Error::invalid(
                        "servers",
                        format!("no server with id `{server}`"),
                    ));
                }
            }
        }
        let next = firing::next_after(&request.cron, tz, self.now()).ok_or_else(|| {
            Error::invalid(
                "cron",
                format!(
                    "`{}` never fires (no such date within eight years)",
                    request.cron
                ),
            )
        })?;
        Ok((tz, next))
    }

    /// A stored schedule as the API shows it.
    async fn view(&self, record: db::schedules::ScheduleRecord) -> Result<Schedule, Error> {
        let last_run = db::runs::list(self.db.pool(), Some(record.id), 1)
            .await
            .context("a schedule's last run")?
            .into_iter()
            .next()
            .map(|run| ScheduleRun {
                id: run.id,
                status: run.status,
                late: run.late,
                created_at_ms: run.created_at_ms,
            });
        let next_fire_local = match (firing::zone(&record.timezone), record.next_fire_at_ms) {
            (Ok(tz), Some(at)) => firing::local_label(tz, at),
            _ => None,
        };
        let (tag, servers) = match record.target {
            RunTarget::Tag(tag) => (Some(tag), None),
            RunTarget::Servers(servers) => (None, Some(servers)),
        };
        Ok(Schedule {
            id: record.id,
            description: record.cron.describe(),
            name: record.name,
            cron: record.cron,
            timezone: record.timezone,
            action_type: record.spec.action_type(),
            parameters: record.spec.parameters(),
            tag,
            servers,
            batch_size: record.batch_size,
            max_failures: record.max_failures,
            reboot_if_required: record.reboot_if_required,
            next_fire_at_ms: record.next_fire_at_ms,
            next_fire_local,
            last_fired_at_ms: record.last_fired_at_ms,
            last_skipped: record.last_skipped,
            last_run,
            created_at_ms: record.created_at_ms,
            created_by: record.created_by,
            updated_at_ms: record.updated_at_ms,
        })
    }
}

/// The row to store for `request`.
fn new_schedule<'a>(
    request: &'a ScheduleRequest,
    next: Millis,
    actor: &'a str,
    now_ms: i64,
) -> db::schedules::NewSchedule<'a> {
    db::schedules::NewSchedule {
        name: &request.name,
        cron: &request.cron,
        timezone: &request.timezone,
        spec: &request.run.spec,
        target: &request.run.target,
        batch_size: request.run.batch_size,
        max_failures: request.run.max_failures,
        reboot_if_required: request.run.reboot_if_required,
        next_fire_at_ms: Some(next),
        actor,
        now_ms,
    }
}

fn write_error(e: db::schedules::WriteError, name: &ScheduleName) -> Error {
    match e {
        db::schedules::WriteError::DuplicateName => {
            Error::conflict(format!("a schedule named `{name}` already exists"))
        }
        db::schedules::WriteError::Db(e) => Error::internal("store a schedule", e),
    }
}

fn no_schedule(id: ScheduleId) -> Error {
    Error::NotFound(format!("no schedule {id}"))
}

/// A schedule as a request writes it (`POST`/`PUT /api/v1/schedules`, the
/// dashboard's form), before it is read into a [`ScheduleRequest`].
///
/// In the OpenAPI document each text field is described by the type it is read into.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "A schedule: a fleet run started from a cron line in a time zone; \
                          name the servers with either `tag` or `servers`."
    )
)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDraft {
    #[cfg_attr(feature = "openapi", schema(value_type = ScheduleName))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = CronLine))]
    pub cron: String,
    #[cfg_attr(feature = "openapi", schema(value_type = ZoneName))]
    pub timezone: String,
    pub action_type: homelab_protocol::ActionType,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = homelab_protocol::params::parameters_schema)
    )]
    pub parameters: Option<serde_json::Value>,
    /// Every server carrying this tag when a run starts; or name `servers`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<homelab_protocol::Tag>))]
    pub tag: Option<String>,
    /// These servers, in this order; or name a `tag`.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<Vec<homelab_protocol::ServerId>>)
    )]
    pub servers: Option<Vec<String>>,
    /// Servers patched at a time (default 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub batch_size: Option<u32>,
    #[serde(default)]
    pub max_failures: Option<u32>,
    #[serde(default)]
    pub reboot_if_required: Option<bool>,
}

impl TryFrom<ScheduleDraft> for ScheduleRequest {
    type Error = Error;

    /// Reads every field, naming the first one at fault.
    fn try_from(draft: ScheduleDraft) -> Result<Self, Error> {
        let name =
            ScheduleName::parse(&draft.name).map_err(|e| Error::invalid("name", e.to_string()))?;
        let cron = CronLine::parse(&draft.cron).map_err(|e| Error::invalid(e.field, e.message))?;
        let timezone = ZoneName::parse(&draft.timezone)
            .map_err(|e| Error::invalid("timezone", e.to_string()))?;
        let spec =
            homelab_protocol::ActionSpec::parse(draft.action_type, draft.parameters.as_ref())
                .map_err(|e| Error::invalid(e.field, e.message))?;
        let target = match (draft.tag, draft.servers) {
            (Some(tag), None) => RunTarget::Tag(
                homelab_protocol::Tag::parse(tag.trim())
                    .map_err(|e| Error::invalid("tag", e.to_string()))?,
            ),
            (None, Some(servers)) => {
                if servers.len() > RunTarget::MAX_SERVERS {
                    return Err(Error::invalid(
                        "servers",
                        format!("at most {} servers", RunTarget::MAX_SERVERS),
                    ));
                }
                let mut ids: Vec<homelab_protocol::ServerId> = Vec::with_capacity(servers.len());
                for server in servers {
                    let id = homelab_protocol::ServerId::parse(server.trim())
                        .map_err(|e| Error::invalid("servers", e.to_string()))?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                RunTarget::Servers(ids)
            }
            _ => {
                return Err(Error::invalid(
                    "tag",
                    "name the servers with either `tag` or `servers` (one of the two)",
                ));
            }
        };
        let mut run = RunRequest::new(spec, target);
        run.batch_size = draft.batch_size.unwrap_or(run.batch_size);
        run.max_failures = draft.max_failures.unwrap_or(run.max_failures);
        run.reboot_if_required = draft.reboot_if_required.unwrap_or(false);
        Ok(ScheduleRequest {
            name,
            cron,
            timezone,
            run,
        })
    }
}
