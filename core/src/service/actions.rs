//! The remediation engine: create, approve, reject, cancel, dispatch, record.
//! Every change is one transaction; the database's unique indexes make duplicate
//! actions impossible even under concurrent requests.

use std::time::Duration;

use homelab_protocol::ServerId;

use crate::Error;
use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionResult, ActionSpec, ActionStatus, ActionType,
    ClaimMode, FailureReason, HistoryFilter, LiveEvent, MAX_OUTPUT_BYTES, NO_SECURITY_PACKAGES,
    NextAction, Operation, Progress, RequestId, SecurityPin, action::tail,
};

use super::Service;
use crate::ResultExt as _;
use crate::db::{self, DbError};
use crate::tokens;

/// Extra time past an action's own timeout before the server gives up on the agent.
pub const LEASE_GRACE: Duration = Duration::from_secs(60);
/// How far each progress call from a running agent moves its lease: two missed calls
/// and the grace. The agent's own retries (dpkg lock) can outlast the action's
/// timeout; a living agent is never given up on.
pub const PROGRESS_LEASE: Duration =
    Duration::from_secs(2 * homelab_protocol::PROGRESS_EVERY.as_secs() + LEASE_GRACE.as_secs());
/// The longest reason a rejection may carry, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The largest history page.
pub const MAX_PAGE: u32 = 200;
/// How long a preview request handed to the agent waits for its answer before the
/// next long-poll hands it over again (the agent may have died in between).
pub const PREVIEW_RESEND: Duration = Duration::from_secs(60);

/// Why an agent's call about actions was refused.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("missing or unknown agent token")]
    Unauthorized,
    #[error("action {0} belongs to another server")]
    Forbidden(ActionId),
    #[error("no action {0}")]
    NotFound(ActionId),
    #[error("action {0} is {1}, not executing")]
    NotExecuting(ActionId, ActionStatus),
    #[error("action {0} cannot take a preview: {1}")]
    NotPreviewable(ActionId, String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Service {
    /// Queues an action on `server` for `actor`: approved at once unless the server is
    /// in maintenance or asks for every action; 409 naming the action in flight when
    /// it would duplicate one.
    pub async fn create_action(
        &self,
        server: &ServerId,
        spec: ActionSpec,
        actor: &str,
    ) -> Result<Action, Error> {
        self.create_action_once(server, spec, actor, None)
            .await
            .map(|(action, _)| action)
    }

    /// [`Service::create_action`], once per `request_id`: the same request sent again
    /// (a double click, a resent form) answers with the action the first one created,
    /// whatever became of it, and creates nothing.
    pub async fn create_action_once(
        &self,
        server: &ServerId,
        spec: ActionSpec,
        actor: &str,
        request_id: Option<&RequestId>,
    ) -> Result<(Action, Created), Error> {
        if let Some(rid) = request_id
            && let Some(first) = db::actions::by_request(self.db.pool(), actor, rid.as_str())
                .await
                .context("looking up a repeated request")?
        {
            tracing::info!(action = %first, request = rid.as_str(), "repeated request: same action");
            return self.repeat(first, server, &spec).await;
        }
        // A duplicate learns so from a read, without queueing for the write lock;
        // the write below still decides (its unique index) when two race.
        if let Some(slot) = spec.slot()
            && let Some(existing) = db::actions::holding(self.db.pool(), server, &slot.name)
                .await
                .context("looking up the duplicate guard")?
        {
            // The same request, sent twice at once, may be what holds the slot.
            if let Some(rid) = request_id
                && let Some(first) = db::actions::by_request(self.db.pool(), actor, rid.as_str())
                    .await
                    .context("looking up a repeated request")?
            {
                return self.repeat(first, server, &spec).await;
            }
            tracing::debug!(server = %server, action = %existing, "duplicate refused before writing");
            return Err(self.duplicate(server, &spec).await);
        }
        let action_type = spec.action_type();
        let now = self.now_ms();
        let timeout_s = self.timeouts.get(action_type);
        let created = {
            let (server, spec, actor) = (server.clone(), spec.clone(), actor.to_owned());
            let request_id = request_id.map(|r| r.as_str().to_owned());
            self.db
                .write(move |tx| {
                    Box::pin(async move {
                        queue(
                            tx,
                            &Queue {
                                server: &server,
                                spec: &spec,
                                actor: &actor,
                                timeout_s,
                                request_id: request_id.as_deref(),
                                run_id: None,
                                now_ms: now,
                            },
                        )
                        .await
                    })
                })
                .await?
        };
        let Some((id, approved_by)) = created else {
            // The same request, sent twice at once: the other one won.
            if let Some(rid) = request_id
                && let Some(first) = db::actions::by_request(self.db.pool(), actor, rid.as_str())
                    .await
                    .context("looking up a repeated request")?
            {
                return self.repeat(first, server, &spec).await;
            }
            return Err(self.duplicate(server, &spec).await);
        };
        tracing::info!(action = %id, server = %server, r#type = %action_type, by = actor,
            approved = approved_by.is_some(), "action created");
        if approved_by.is_some() {
            self.wake(server);
        }
        self.publish(LiveEvent::Action {
            id,
            server: server.clone(),
        });
        Ok((self.action(id).await?, Created::New))
    }

    /// The answer to a repeated request: the action the first one created, if the
    /// repeat asks for the same thing; a request id used for something else is a
    /// mistake, not a repeat.
    async fn repeat(
        &self,
        first: ActionId,
        server: &ServerId,
        spec: &ActionSpec,
    ) -> Result<(Action, Created), Error> {
        let action = self.action(first).await?;
        if action.server_id != *server
            || action.action_type != spec.action_type()
            || action.parameters != spec.parameters()
        {
            return Err(Error::Conflict {
                message: format!("this request id was used for another request (action {first})"),
                existing_action_id: Some(first),
            });
        }
        Ok((action, Created::Repeat))
    }

    /// The 409 for a request that duplicates an action in flight.
    async fn duplicate(&self, server: &ServerId, spec: &ActionSpec) -> Error {
        let existing = match spec.slot() {
            Some(slot) => db::actions::holding(self.db.pool(), server, &slot.name)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = ?anyhow::Error::from(e), "looking up a conflicting action");
                    None
                }),
            None => None,
        };
        let what = match spec {
            ActionSpec::RestartService { unit } => {
                format!("a restart of `{unit}` is already waiting")
            }
            _ if spec.slot().is_some_and(|s| s.while_running) => {
                "an apt action or a reboot is already queued or running on this server".to_owned()
            }
            // Kinds without a slot never conflict.
            _ => "an equivalent action is already in flight".to_owned(),
        };
        Error::Conflict {
            message: match existing {
                Some(id) => format!("{what} (action {id})"),
                None => what,
            },
            existing_action_id: existing,
        }
    }

    /// The apt action queued or running on `server`, which a new one would conflict
    /// with.
    pub async fn apt_in_flight(&self, server: &ServerId) -> Result<Option<Action>, Error> {
        let apt = ActionSpec::AptUpdate
            .slot()
            .expect("the apt kinds have a slot");
        let id = db::actions::holding(self.db.pool(), server, &apt.name)
            .await
            .context("apt in flight")?;
        match id {
            Some(id) => self.action(id).await.map(Some),
            None => Ok(None),
        }
    }

    /// One action with its output.
    pub async fn action(&self, id: ActionId) -> Result<Action, Error> {
        db::actions::get(self.db.pool(), id)
            .await
            .context("action")?
            .ok_or_else(|| Error::NotFound(format!("no action {id}")))
    }

    /// Approves a pending action.
    pub async fn approve(&self, id: ActionId, actor: &str) -> Result<Action, Error> {
        let action = self.operate(id, Operation::Approve, actor, None).await?;
        if action.status == ActionStatus::Approved {
            self.wake(&action.server_id);
        }
        Ok(action)
    }

    /// Rejects a pending action; the reason is required (1 to 1000 characters).
    pub async fn reject(&self, id: ActionId, actor: &str, reason: &str) -> Result<Action, Error> {
        let reason = reason.trim();
        let chars = reason.chars().count();
        if chars == 0 || chars > MAX_REASON_CHARS {
            return Err(Error::invalid(
                "reason",
                format!("a reason of 1 to {MAX_REASON_CHARS} characters is required"),
            ));
        }
        // Line breaks are fine in a reason; other controls and text-direction
        // overrides would make the history read differently from what was written.
        if reason
            .chars()
            .any(|c| c != '\n' && !homelab_protocol::text::is_displayable(c))
        {
            return Err(Error::invalid(
                "reason",
                "control characters and text-direction overrides are not allowed",
            ));
        }
        self.operate(id, Operation::Reject, actor, Some(reason))
            .await
    }

    /// Cancels an action that has not started.
    pub async fn cancel(&self, id: ActionId, actor: &str) -> Result<Action, Error> {
        self.operate(id, Operation::Cancel, actor, None).await
    }

    /// A person's move in the status machine; 409 naming the current status when the
    /// machine does not allow it.
    async fn operate(
        &self,
        id: ActionId,
        op: Operation,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Action, Error> {
        let from = op.allowed_from();
        let to = from
            .first()
            .and_then(|s| s.after(op))
            .expect("a person's operation is allowed from some status");
        let now = self.now_ms();
        let moved = {
            let (from, actor, reason) = (from.clone(), actor.to_owned(), reason.map(str::to_owned));
            self.db
                .write(move |tx| {
                    Box::pin(async move {
                        let moved = db::actions::transition(
                            tx,
                            id,
                            &from,
                            to,
                            &actor,
                            reason.as_deref(),
                            now,
                        )
                        .await?;
                        if moved && to == ActionStatus::Approved {
                            // The no-op security upgrade has nothing for the agent to
                            // run: it ends here, in the same transaction as its approval.
                            db::actions::complete_if_nothing_to_run(
                                tx,
                                id,
                                NO_SECURITY_PACKAGES,
                                now,
                            )
                            .await?;
                        }
                        Ok::<_, DbError>(moved)
                    })
                })
                .await?
        };
        if !moved {
            let current = self.action(id).await?;
            return Err(Error::conflict(format!(
                "action {id} is {}; only a {} action can become {to}",
                current.status,
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
            )));
        }
        tracing::info!(action = %id, status = %to, by = actor, "action {to}");
        let action = self.action(id).await?;
        self.publish(LiveEvent::Action {
            id,
            server: action.server_id.clone(),
        });
        Ok(action)
    }

    /// A page of the history, newest first. `cursor` is the `next_cursor` of the
    /// previous page.
    pub async fn history(
        &self,
        filter: &HistoryFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ActionPage, Error> {
        let before_id = cursor
            .map(|c| c.parse::<ActionId>().ok().filter(|id| id.get() > 0))
            .map(|id| id.ok_or_else(|| Error::invalid("cursor", "not a cursor from this API")))
            .transpose()?;
        let limit = limit.clamp(1, MAX_PAGE);
        // One extra row says whether another page follows.
        let mut actions = db::actions::list(self.db.pool(), filter, before_id, limit + 1)
            .await
            .context("history")?;
        let more = actions.len() > limit as usize;
        actions.truncate(limit as usize);
        let next_cursor = more
            .then(|| actions.last().map(|a| a.id.to_string()))
            .flatten();
        Ok(ActionPage {
            actions,
            next_cursor,
        })
    }

    /// The server the agent token belongs to.
    pub async fn agent_server(&self, token: &str) -> Result<ServerId, DispatchError> {
        let found = db::servers::find_by_token_hash(self.db.pool(), &tokens::hash(token)).await?;
        found.map(|h| h.id).ok_or(DispatchError::Unauthorized)
    }

    /// Claims the server's oldest approved action, waiting up to `wait` for one to be
    /// approved. The claim makes it `executing` with a lease. A preview a person asked
    /// for comes first, as a [`ClaimMode::Preview`] answer that claims nothing.
    pub async fn next_action(
        &self,
        server: &ServerId,
        agent_token: &str,
        wait: Duration,
    ) -> Result<Option<NextAction>, DispatchError> {
        let token_hash = tokens::hash(agent_token);
        let bell = self.dispatcher.bell(server);
        let mut closed = self.dispatcher.closed();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if *closed.borrow_and_update() {
                return Ok(None);
            }
            // Listen before looking, so an approval between the two is not missed.
            let rung = bell.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            // An idle agent's long-poll reads whether anything waits and goes back to
            // waiting; only a claim writes (and checks the token again: the request
            // was let in by it, but it may have been rotated since).
            let now = self.now_ms();
            let resend_before = now - i64::try_from(PREVIEW_RESEND.as_millis()).unwrap_or(0);
            // A preview is read-only and quick: the agent gets it before a run.
            let waiting = db::actions::any_preview_requested(self.db.pool(), server, resend_before)
                .await?
                || db::actions::any_approved(self.db.pool(), server).await?;
            let grace = i64::try_from(LEASE_GRACE.as_millis()).unwrap_or(i64::MAX);
            let (claimant, hash) = (server.clone(), token_hash.clone());
            let claimed = if !waiting {
                None
            } else {
                self.db
                    .write(move |tx| {
                        Box::pin(async move {
                            // The token is checked again with every claim: one rotated, or
                            // a server removed, while this long-poll waited claims nothing.
                            let holder = db::servers::find_by_token_hash(&mut **tx, &hash).await?;
                            if holder.is_none_or(|h| h.id != claimant) {
                                return Err(DispatchError::Unauthorized);
                            }
                            if let Some(preview) =
                                db::actions::take_preview_request(tx, &claimant, now, resend_before)
                                    .await?
                            {
                                return Ok(Some(preview));
                            }
                            Ok(db::actions::claim_next(tx, &claimant, now, grace).await?)
                        })
                    })
                    .await?
            };
            if let Some(next) = claimed.as_ref().filter(|n| n.mode == ClaimMode::Preview) {
                tracing::info!(action = %next.id, server = %server, "preview request handed to the agent");
                return Ok(claimed);
            }
            if let Some(next) = claimed {
                tracing::info!(action = %next.id, server = %server, "action claimed by the agent");
                self.publish(LiveEvent::Action {
                    id: next.id,
                    server: server.clone(),
                });
                return Ok(Some(next));
            }
            tokio::select! {
                woken = tokio::time::timeout_at(deadline, rung) => {
                    if woken.is_err() {
                        return Ok(None);
                    }
                }
                // Shutting down (or the sender is gone, which is the same).
                _ = closed.changed() => return Ok(None),
            }
        }
    }

    /// Records what the agent reports about action `id`, and names the action's kind
    /// when the report ended it now. A repeat, or a report for an action that
    /// already ended, changes nothing and succeeds (`None`); so does a reboot's
    /// command answering, which waits for the machine's new boot.
    pub async fn report_result(
        &self,
        server: &ServerId,
        id: ActionId,
        result: ActionResult,
    ) -> Result<Option<ActionType>, DispatchError> {
        let failure = match (result.failure, result.exit_code) {
            (Some(f), _) => Some(FailureReason::from(f)),
            (None, Some(0)) => None,
            (None, _) => Some(FailureReason::ExitCode),
        };
        let outcome = db::actions::Outcome {
            status: if failure.is_none() {
                ActionStatus::Completed
            } else {
                ActionStatus::Failed
            },
            exit_code: result.exit_code,
            failure,
            stdout: tail(&result.stdout, MAX_OUTPUT_BYTES).to_owned(),
            stderr: tail(&result.stderr, MAX_OUTPUT_BYTES).to_owned(),
            started_at_ms: result.started_at,
            finished_at_ms: result.finished_at.unwrap_or_else(|| self.now_ms()),
            reported_at_ms: self.now_ms(),
        };
        let (status, exit_code) = (outcome.status, outcome.exit_code);
        let owner = server.clone();
        let now = self.now_ms();
        let recorded = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let standing = db::actions::standing(&mut **tx, id)
                        .await?
                        .ok_or(DispatchError::NotFound(id))?;
                    if standing.owner != owner.as_str() {
                        return Err(DispatchError::Forbidden(id));
                    }
                    // The truth wins over the server's guess: a result for an action
                    // given up on as agent_lost (a server outage longer than the
                    // lease, say) is recorded, and the history says it came late.
                    let late = standing.failure == Some(FailureReason::AgentLost);
                    if standing.status != ActionStatus::Executing && !late {
                        return Ok(Recorded::Ignored(standing.status));
                    }
                    // A reboot ends when its machine reports from a new boot (a
                    // heartbeat), never on the agent's word that the command ran.
                    if standing.action_type == ActionType::Reboot
                        && outcome.status == ActionStatus::Completed
                    {
                        return Ok(Recorded::AwaitingBoot);
                    }
                    db::actions::finish(tx, id, &outcome, late).await?;
                    db::webhooks::action_changed(tx, id, now).await?;
                    Ok(if late {
                        Recorded::Late(standing.action_type)
                    } else {
                        Recorded::OnTime(standing.action_type)
                    })
                })
            })
            .await?;
        match recorded {
            Recorded::Ignored(current) => tracing::info!(action = %id, status = %current,
                "result for an action that already ended; ignored"),
            Recorded::AwaitingBoot => tracing::info!(action = %id, server = %server,
                "reboot started; it completes when the machine reports from a new boot"),
            Recorded::OnTime(_) => tracing::info!(action = %id, server = %server, %status,
                ?exit_code, ?failure, "action finished"),
            Recorded::Late(_) => tracing::warn!(action = %id, server = %server, %status,
                ?exit_code, ?failure, "action finished: result arrived after the lease ran out"),
        }
        let ended = match recorded {
            Recorded::OnTime(kind) | Recorded::Late(kind) => Some(kind),
            Recorded::Ignored(_) | Recorded::AwaitingBoot => None,
        };
        if ended.is_some() {
            self.publish(LiveEvent::Action {
                id,
                server: server.clone(),
            });
        }
        Ok(ended)
    }

    /// A running agent's sign of life for action `id`: its lease moves on by
    /// [`PROGRESS_LEASE`], so the action is not given up on while it still runs. The
    /// output printed since the last call is added to what the action page shows
    /// (its last [`MAX_OUTPUT_BYTES`] of each stream), until the result replaces it.
    pub async fn action_progress(
        &self,
        server: &ServerId,
        id: ActionId,
        progress: Progress,
    ) -> Result<(), DispatchError> {
        let owner = server.clone();
        let until = self.now_ms() + i64::try_from(PROGRESS_LEASE.as_millis()).unwrap_or(i64::MAX);
        let grew = !progress.is_empty();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let standing = db::actions::standing(&mut **tx, id)
                        .await?
                        .ok_or(DispatchError::NotFound(id))?;
                    if standing.owner != owner.as_str() {
                        return Err(DispatchError::Forbidden(id));
                    }
                    if !db::actions::extend_lease(tx, id, until).await? {
                        return Err(DispatchError::NotExecuting(id, standing.status));
                    }
                    if grew {
                        db::actions::append_output(
                            tx,
                            id,
                            &progress.stdout,
                            &progress.stderr,
                            MAX_OUTPUT_BYTES,
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        if grew {
            self.publish(LiveEvent::Output {
                id,
                server: server.clone(),
            });
        }
        Ok(())
    }

    /// Fails executing actions whose lease ran out (the agent died or vanished).
    pub async fn expire_leases(&self) -> Result<Vec<ActionId>, Error> {
        let now = self.now_ms();
        let expired = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let expired = db::actions::expire_leases(tx, now).await?;
                    for (id, _) in &expired {
                        db::webhooks::action_changed(tx, *id, now).await?;
                    }
                    Ok::<_, DbError>(expired)
                })
            })
            .await
            .context("expire leases")?;
        let mut ids = Vec::with_capacity(expired.len());
        for (id, server) in expired {
            tracing::warn!(
                action = %id,
                "no result from the agent in time: failed (agent_lost)"
            );
            if let Ok(server) = ServerId::parse(server) {
                self.publish(LiveEvent::Action { id, server });
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// Whether a request created its action or repeated an earlier request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// This request created it.
    New,
    /// An earlier request with the same id did; nothing was created now.
    Repeat,
}

/// What became of a result the agent sent.
enum Recorded {
    /// Recorded, for an action of this kind.
    OnTime(ActionType),
    /// Recorded after the lease ran out.
    Late(ActionType),
    Ignored(ActionStatus),
    /// A reboot's command succeeded: the action waits for the new boot.
    AwaitingBoot,
}

/// Why a machine cannot be rebooted: nothing would tell that it came back.
pub const NO_BOOT_ID: &str = "this machine's agent has not reported its boot id (it is \
    offline since it was added, or older than the reboot action), so its return could not be \
    confirmed: update homelab-agent, or wait for it to report";

/// An action to queue, inside a write.
pub(super) struct Queue<'a> {
    pub server: &'a ServerId,
    pub spec: &'a ActionSpec,
    pub actor: &'a str,
    pub timeout_s: u32,
    pub request_id: Option<&'a str>,
    pub run_id: Option<homelab_protocol::RunId>,
    pub now_ms: i64,
}

/// Stores a new action, approved at once unless its server is in maintenance or asks
/// for every action, with its command built from the server's state inside the same
/// transaction. `None` when it would duplicate an action in flight (nothing written;
/// on PostgreSQL the refused insert has spoilt the transaction, so the caller commits
/// nothing else). Returns the id and who approved it.
pub(super) async fn queue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    q: &Queue<'_>,
) -> Result<Option<(ActionId, Option<&'static str>)>, Error> {
    let (server, spec, now) = (q.server, q.spec, q.now_ms);
    let action_type = spec.action_type();
    let (paused, policy) = db::servers::approval_inputs(tx, server)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no server with id `{server}`")))?;
    if action_type == ActionType::Reboot
        && db::servers::boot_id(&mut **tx, server)
            .await?
            .flatten()
            .is_none()
    {
        return Err(Error::conflict(NO_BOOT_ID));
    }
    let pins = if action_type == ActionType::AptUpgradeSecurity {
        security_pins(tx, server).await?
    } else {
        Vec::new()
    };
    let argv = spec.argv(&pins);
    let approved_by = (!policy.needs_person(paused)).then_some(ACTOR_AUTO);
    let parameters = spec.parameters();
    let inserted = db::actions::insert(
        tx,
        &db::actions::NewAction {
            server,
            action_type,
            slot: spec.slot().as_ref(),
            parameters: parameters.as_ref(),
            argv: &argv,
            timeout_s: q.timeout_s,
            created_by: q.actor,
            approved_by,
            now_ms: now,
            request_id: q.request_id,
            run_id: q.run_id,
        },
    )
    .await;
    let id = match inserted {
        Ok(id) => id,
        // Nothing was written: committing the empty transaction
        // is harmless, and the 409 is built outside it.
        Err(db::actions::InsertError::Duplicate) => return Ok(None),
        Err(db::actions::InsertError::Db(e)) => return Err(e.into()),
    };
    // The security upgrade with nothing to upgrade has no argv:
    // it is done at once.
    if approved_by.is_some() && argv.is_empty() {
        db::actions::complete_if_nothing_to_run(tx, id, NO_SECURITY_PACKAGES, now).await?;
    }
    db::webhooks::action_changed(tx, id, now).await?;
    Ok(Some((id, approved_by)))
}

/// The server's pending security packages, pinned to their security versions (held
/// packages are never touched).
async fn security_pins(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    server: &ServerId,
) -> Result<Vec<SecurityPin>, DbError> {
    let stored = db::packages::list(&mut **tx, server).await?;
    Ok(stored
        .into_iter()
        .filter_map(|s| {
            let p = s.package;
            (!p.held).then_some(())?;
            let version = p.security_version?;
            if !version.is_pinnable() {
                // apt cannot be asked for this exact version; the package stays
                // pending (and listed) rather than be upgraded to the wrong one.
                tracing::warn!(package = %p.name, %version,
                    "security version cannot be pinned on apt's command line; left out");
                return None;
            }
            Some(SecurityPin {
                version,
                name: p.name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::clock::Clock as _;
    use crate::db::testing::fresh_db;

    #[tokio::test]
    async fn a_lease_runs_out_by_the_services_clock_not_by_waiting() {
        let (service, clock, nas, token, _guard) =
            crate::service::testing::clocked_nas(1_000_000).await;
        let spec = ActionSpec::parse(homelab_protocol::ActionType::AptUpdate, None).unwrap();
        let created = service.create_action(&nas, spec, "alice").await.unwrap();
        let claimed = service
            .next_action(&nas, &token, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, created.id);
        // apt_update: 120 s, plus the grace.
        let lease =
            i64::from(created.timeout_s) * 1000 + i64::try_from(LEASE_GRACE.as_millis()).unwrap();
        clock.advance(lease - 1);
        assert!(service.expire_leases().await.unwrap().is_empty());
        // A progress call moves the lease on from the clock's now.
        service
            .action_progress(&nas, created.id, Progress::default())
            .await
            .unwrap();
        clock.advance(i64::try_from(PROGRESS_LEASE.as_millis()).unwrap() - 1);
        assert!(service.expire_leases().await.unwrap().is_empty());
        clock.advance(2);
        assert_eq!(service.expire_leases().await.unwrap(), [created.id]);
        let lost = service.action(created.id).await.unwrap();
        assert_eq!(lost.failure, Some(FailureReason::AgentLost));
        assert_eq!(lost.lease_lost_at_ms, Some(clock.now()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_is_refused_without_waiting_for_the_write_lock() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (db, _guard) = crate::db::testing::fresh_db().await;
        let service = Service::new(db.clone(), Duration::from_secs(60));
        let nas = ServerId::parse("nas").unwrap();
        service
            .add_server(
                nas.clone(),
                homelab_protocol::ServerName::parse("NAS").unwrap(),
            )
            .await
            .unwrap();
        let apt = || ActionSpec::parse(homelab_protocol::ActionType::AptUpdate, None).unwrap();
        let first = service.create_action(&nas, apt(), "alice").await.unwrap();
        // A long write holds SQLite's one writer turn.
        let (holding, released) = (
            tokio::sync::oneshot::channel::<()>(),
            std::sync::Arc::new(AtomicBool::new(false)),
        );
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (hold_tx, hold_rx) = holding;
        let writer = {
            let (db, released) = (db.clone(), released.clone());
            tokio::spawn(async move {
                db.write(move |_tx| {
                    Box::pin(async move {
                        let _ = started_tx.send(());
                        let _ = hold_rx.await;
                        released.store(true, Ordering::SeqCst);
                        Ok::<_, DbError>(())
                    })
                })
                .await
            })
        };
        started_rx.await.unwrap();
        // (Waiting for the writer would wait forever: it ends only after this.)
        let err = tokio::time::timeout(
            Duration::from_secs(30),
            service.create_action(&nas, apt(), "bob"),
        )
        .await
        .expect("the duplicate was answered without waiting for the write lock")
        .unwrap_err();
        assert!(
            matches!(err, Error::Conflict { existing_action_id: Some(id), .. } if id == first.id),
            "{err:?}"
        );
        assert!(
            !released.load(Ordering::SeqCst),
            "answered while the write still ran"
        );
        hold_tx.send(()).unwrap();
        writer.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_expiring_leases_at_once_fail_each_action_once() {
        // Every replica runs the lease job: the database's atomic update decides
        // which one fails a given action, so each is failed (and announced) once.
        let (a, b, clock, _guard) = crate::service::testing::two_replicas(1_000_000).await;
        for n in 0..8 {
            let id = ServerId::parse(format!("m-{n}")).unwrap();
            let added = a
                .add_server(
                    id.clone(),
                    homelab_protocol::ServerName::parse("M").unwrap(),
                )
                .await
                .unwrap();
            let spec = ActionSpec::parse(homelab_protocol::ActionType::AptUpdate, None).unwrap();
            a.create_action(&id, spec, "alice").await.unwrap();
            b.next_action(&id, &added.agent_token, Duration::ZERO)
                .await
                .unwrap()
                .unwrap();
        }
        clock.advance(24 * 3600 * 1000);
        let (from_a, from_b) = tokio::join!(a.expire_leases(), b.expire_leases());
        let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
        let mut all: Vec<_> = from_a.iter().chain(&from_b).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8);
        assert_eq!(from_a.len() + from_b.len(), 8, "{from_a:?} {from_b:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The history cursor comes from the URL: any text and any limit get a page
        /// or a clear 422, never a panic.
        #[test]
        fn any_cursor_and_limit_get_a_page_or_a_refusal(cursor in any::<String>(), limit in any::<u32>()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (db, _dir) = fresh_db().await;
                let service = Service::new(db, Duration::from_secs(60));
                match service.history(&HistoryFilter::default(), Some(&cursor), limit).await {
                    Ok(page) => prop_assert!(page.actions.is_empty()),
                    Err(Error::Invalid { field, .. }) => prop_assert_eq!(field, "cursor"),
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
                Ok(())
            })?;
        }
    }
}
