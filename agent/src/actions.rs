//! The action loop: long-poll for the next approved action, run it through the
//! executor while telling the server it still runs, keep the result on disk and
//! deliver it until the server acknowledges it. After an apt action the heartbeat loop
//! rescans at once.
//!
//! Stopping: once `stop` turns true the loop claims nothing more, lets a running
//! action finish, stores and tries once to deliver its result, then returns. After a
//! crash it first waits for the old command's process group to end.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use homelab_protocol::{
    ActionResult, ActionType, AgentFailure, AptPreview, ClaimMode, FailureReason, NextAction,
    OUTPUT_EVERY, PreviewOutcome, previewable,
};
use tokio::sync::{Notify, watch};

use crate::client::{Claim, Client, ClientError};
use crate::executor::{self, AptSettings};
use crate::live_output::Fresh;
use crate::preview::{self, SimulationError};
use crate::state::{self, PendingResult, State};
use crate::whitelist::Local;

/// How long one long-poll waits on the server.
const LONG_POLL: Duration = Duration::from_secs(25);
/// The longest pause between attempts while the server is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often a restarted agent looks whether the old command has ended.
const GROUP_POLL: Duration = Duration::from_millis(500);

/// Runs approved actions until told to stop.
pub struct ActionLoop {
    pub client: Client,
    pub state: State,
    /// What this machine's config allows, whatever the server asks.
    pub local: Local,
    pub apt: AptSettings,
    /// Rung after an apt action: the heartbeat loop rescans and reports at once.
    pub rescan: Arc<Notify>,
    /// How often a running action's lease is renewed ([`homelab_protocol::PROGRESS_EVERY`]).
    pub progress_every: Duration,
    /// Nothing is claimed before this resolves: the first heartbeat has told the
    /// server this boot's id (see `Heartbeater::with_first_beat`).
    pub first_heartbeat: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Resolves once `stop` is true (or its sender is gone, which means the same).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl ActionLoop {
    /// Polls, runs and reports until `stop` turns true, finishing what runs.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if !self.settle_interrupted(&mut stop).await {
            return;
        }
        if let Some(first) = self.first_heartbeat.take() {
            tokio::select! {
                // Sent, failed, or the heartbeat loop is gone: claims may start.
                _ = first => {}
                () = stopped(&mut stop) => {
                    tracing::info!("action loop stopped");
                    return;
                }
            }
        }
        let mut failures = 0u32;
        while !*stop.borrow() {
            self.deliver_pending(&stop).await;
            let claim = tokio::select! {
                claim = self.client.next_action(LONG_POLL) => claim,
                () = stopped(&mut stop) => break,
            };
            match claim {
                Ok(Some(Claim::Run(action))) => {
                    failures = 0;
                    match action.mode {
                        ClaimMode::Run => self.run_one(action, &stop).await,
                        ClaimMode::Preview => self.preview_one(&action).await,
                    }
                }
                Ok(Some(Claim::Unreadable { id, reason })) => {
                    failures = 0;
                    tracing::error!(action = id, %reason, "action refused: the agent cannot read it");
                    let result = refused(format!("refused by the agent, not run: {reason}"));
                    self.finish(id, result, &stop).await;
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, retry_in = ?wait, "cannot ask the server for actions");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stopped(&mut stop) => break,
                    }
                }
            }
        }
        tracing::info!("action loop stopped");
    }

    /// After a restart: waits while the command of the action the old agent ran is
    /// still alive (no second apt beside it), then reports that action interrupted.
    /// False when told to stop meanwhile.
    async fn settle_interrupted(&self, stop: &mut watch::Receiver<bool>) -> bool {
        if let Some(pgid) = self.state.interrupted_group()
            && state::group_alive(pgid)
        {
            tracing::warn!(
                pgid,
                "the command of the action running when the agent died is still running; \
                 waiting for it to end before running anything else"
            );
            while state::group_alive(pgid) {
                tokio::select! {
                    () = tokio::time::sleep(GROUP_POLL) => {}
                    () = stopped(stop) => return false,
                }
            }
            tracing::info!(pgid, "the interrupted action's command has ended");
        }
        match self.state.settle_reboot() {
            Ok(Some(state::RebootSettled::Back { id, from, to })) => tracing::info!(
                action = id, %from, %to,
                "back from the reboot: the server completes it when this boot's heartbeat arrives"
            ),
            Ok(Some(state::RebootSettled::Interrupted { id })) => tracing::warn!(
                action = id,
                "the agent restarted before the reboot command answered, in the same boot: \
                 reporting it interrupted"
            ),
            Ok(Some(state::RebootSettled::SameBoot { id })) => tracing::warn!(
                action = id,
                "a reboot was started, but this is still the boot it was meant to end; \
                 the server fails it if no new boot reports in time"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the reboot mark"),
        }
        match self.state.recover_interrupted() {
            Ok(Some(id)) => tracing::warn!(
                action = id,
                "agent restarted during this action: reporting it interrupted, not running it again"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the state directory"),
        }
        true
    }

    /// A person asked what action `action.id` would do: simulate it (it was not
    /// claimed, nothing runs) and send the preview, or why there is none. One try:
    /// the server hands the request over again if no preview reaches it.
    async fn preview_one(&self, action: &NextAction) {
        let id = action.id.get();
        let outcome = match self.simulate(action, &action.preview_argv).await {
            Ok(preview) => {
                tracing::info!(
                    action = id,
                    upgraded = preview.upgraded.len(),
                    installed = preview.installed.len(),
                    removed = preview.removed.len(),
                    "preview taken"
                );
                PreviewOutcome::Simulated(preview)
            }
            Err(e) => {
                tracing::warn!(action = id, error = %e, "no preview: the simulation failed or was refused");
                PreviewOutcome::failed(&e.to_string())
            }
        };
        if let Err(e) = self.client.record_preview(id, &outcome).await {
            tracing::warn!(action = id, error = %e, "preview not delivered; the server will ask again");
        }
    }

    /// apt's simulation of `argv` for `action`, on this machine's whitelist.
    async fn simulate(
        &self,
        action: &NextAction,
        argv: &[String],
    ) -> Result<AptPreview, SimulationError> {
        preview::simulate(action.action_type, argv, &self.local, &self.apt.child_path).await
    }

    /// Before an upgrade no person approved: what apt would do. Runs it when nothing
    /// would be removed (the preview goes to the server for the history), hands it
    /// back for a person when something would, and runs nothing when the simulation
    /// fails (a failed result that says why).
    async fn check_before_run(&self, action: &NextAction, stop: &watch::Receiver<bool>) -> Checked {
        let id = action.id.get();
        let started = homelab_protocol::now_ms();
        let preview = match self.simulate(action, &action.argv).await {
            Ok(preview) => preview,
            Err(e) => {
                tracing::error!(action = id, error = %e,
                    "apt's simulation failed before an automatically approved upgrade: not run");
                let (exit_code, failure) = match &e {
                    SimulationError::Refused(_) | SimulationError::NotAnUpgrade(_) => {
                        (None, Some(AgentFailure::NotWhitelisted))
                    }
                    SimulationError::TimedOut(_) => (None, Some(AgentFailure::TimedOut)),
                    SimulationError::Run(_) => (None, Some(AgentFailure::SpawnError)),
                    SimulationError::Failed { code, .. } => (code.or(Some(-1)), None),
                    // Exit 0 with output the agent cannot read: a failure of its own.
                    SimulationError::TooLarge | SimulationError::Unreadable(_) => (Some(-1), None),
                };
                return Checked::Failed(ActionResult {
                    exit_code,
                    failure,
                    stdout: String::new(),
                    stderr: format!(
                        "not run: this upgrade was approved automatically, so the agent first                          asks apt what it would remove, and that check failed: {e}"
                    ),
                    started_at: Some(started),
                    finished_at: Some(homelab_protocol::now_ms()),
                });
            }
        };
        if !preview.removes_anything() {
            let outcome = PreviewOutcome::Simulated(preview);
            if let Err(e) = self.client.record_preview(id, &outcome).await {
                tracing::warn!(action = id, error = %e, "preview before the run not delivered; running anyway");
            }
            return Checked::Run;
        }
        tracing::warn!(action = id, reason = %preview.hold_reason(),
            "not run: apt would remove packages; handing it back for a person to approve");
        let mut stop = stop.clone();
        let mut failures = 0u32;
        loop {
            match self.client.hold(id, &preview).await {
                Ok(()) => break,
                Err(e) if e.is_final() => {
                    tracing::error!(action = id, error = %e, "the server refused the hold; not run all the same");
                    break;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if *stop.borrow() {
                        // Still not run: the server gives up on it when its lease ends.
                        tracing::warn!(action = id, error = %e, "stopping: hold not delivered; not run");
                        break;
                    }
                    let wait = backoff(failures);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(action = id, error = %e, retry_in = ?wait, "hold not delivered yet");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stopped(&mut stop) => {}
                    }
                }
            }
        }
        Checked::Held
    }

    async fn run_one(&self, action: NextAction, stop: &watch::Receiver<bool>) {
        let clock = Instant::now();
        let result = match self.state.mark_running(&action) {
            Ok(()) => {
                // Marked first: a crash during the check is reported as interrupted
                // at the next start, like one during the run.
                if action.hold_if_removing && previewable(action.action_type) {
                    match self.check_before_run(&action, stop).await {
                        Checked::Run => {}
                        Checked::Held => {
                            if let Err(e) = self.state.forget_running() {
                                tracing::error!(action = action.id.get(), error = %e, "cannot clear the running mark");
                            }
                            return;
                        }
                        Checked::Failed(result) => {
                            self.finish(action.id.get(), result, stop).await;
                            return;
                        }
                    }
                }
                let reboot = action.action_type == ActionType::Reboot;
                if reboot && let Err(e) = self.state.mark_reboot(action.id.get()) {
                    tracing::error!(action = action.id.get(), error = %e, "cannot record the reboot; not started");
                    let result = ActionResult {
                        exit_code: None,
                        failure: Some(AgentFailure::SpawnError),
                        stdout: String::new(),
                        stderr: format!(
                            "the agent cannot record the reboot before starting it ({e}), so \
                             its return could not be told: not started"
                        ),
                        started_at: None,
                        finished_at: Some(homelab_protocol::now_ms()),
                    };
                    self.finish(action.id.get(), result, stop).await;
                    return;
                }
                let on_spawn = |pgid: i32| {
                    if let Err(e) = self.state.mark_group(pgid) {
                        tracing::error!(action = action.id.get(), pgid, error = %e, "cannot record the command's process group");
                    }
                };
                let fresh = Arc::new(Fresh::default());
                let run =
                    executor::execute(&action, &self.local, &self.apt, &on_spawn, Some(&fresh));
                let result = self.with_progress(action.id.get(), &fresh, run).await;
                if reboot {
                    if result.failure.is_none() && result.exit_code == Some(0) {
                        // Nothing to report: the server completes the reboot when
                        // this machine reports from its next boot.
                        tracing::info!(
                            action = action.id.get(),
                            "reboot started; it completes when the next boot reports in"
                        );
                        if let Err(e) = self.state.forget_running() {
                            tracing::error!(action = action.id.get(), error = %e, "cannot clear the running mark");
                        }
                        return;
                    }
                    if let Err(e) = self.state.forget_reboot() {
                        tracing::error!(action = action.id.get(), error = %e, "cannot clear the reboot mark");
                    }
                }
                result
            }
            Err(e) => {
                // Without the mark a crash could not be reported: refuse to run blind.
                tracing::error!(action = action.id.get(), error = %e, "cannot write the state directory; action not run");
                ActionResult {
                    exit_code: None,
                    failure: Some(AgentFailure::SpawnError),
                    stdout: String::new(),
                    stderr: format!(
                        "the agent cannot write its state directory ({e}), so it ran nothing"
                    ),
                    started_at: None,
                    finished_at: Some(homelab_protocol::now_ms()),
                }
            }
        };
        let outcome = match (result.failure, result.exit_code) {
            (Some(f), _) => FailureReason::from(f).as_str(),
            (None, Some(0)) => "completed",
            (None, _) => "exit_code",
        };
        tracing::info!(
            action = action.id.get(),
            r#type = %action.action_type,
            exit = ?result.exit_code,
            duration_ms = clock.elapsed().as_millis() as u64,
            outcome,
            "action finished"
        );
        self.finish(action.id.get(), result, stop).await;
        if action.action_type.is_apt() {
            self.rescan.notify_one();
        }
    }

    /// Runs `work` while calling the server's progress endpoint for action `id`:
    /// about once a second ([`OUTPUT_EVERY`]) when the command printed something
    /// (taken from `fresh`), and every `progress_every` anyway, which renews the
    /// lease. A refusal (403/404/409) is logged once and ends the calls, never the
    /// work; an unreachable server is logged and tried again (the output it missed
    /// is in the result).
    async fn with_progress<T>(&self, id: i64, fresh: &Fresh, work: impl Future<Output = T>) -> T {
        let every = OUTPUT_EVERY.min(self.progress_every);
        let progress = async {
            let mut failures = 0u32;
            let mut last_call = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let chunk = fresh.take();
                if chunk.is_empty() && last_call.elapsed() < self.progress_every {
                    continue;
                }
                last_call = Instant::now();
                match self.client.progress(id, &chunk).await {
                    Ok(()) => failures = 0,
                    Err(ClientError::Refused { status, message })
                        if matches!(status.as_u16(), 403 | 404 | 409) =>
                    {
                        tracing::warn!(
                            action = id, %status, %message,
                            "the server does not extend this action's lease; it runs on and its result will be sent"
                        );
                        return;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        if failures == 1 || failures.is_multiple_of(10) {
                            tracing::warn!(action = id, error = %e, "cannot report progress; the action runs on");
                        }
                    }
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            out = &mut work => out,
            () = progress => work.await,
        }
    }

    /// Stores a result, then delivers it.
    async fn finish(&self, id: i64, result: ActionResult, stop: &watch::Receiver<bool>) {
        let pending = PendingResult { id, result };
        if let Err(e) = self.state.store_result(&pending) {
            tracing::error!(action = id, error = %e, "cannot store the result; delivering from memory");
        }
        self.deliver(&pending, stop).await;
    }

    /// Delivers every stored result, oldest first.
    async fn deliver_pending(&self, stop: &watch::Receiver<bool>) {
        match self.state.pending_results() {
            Ok(pending) => {
                for p in pending {
                    self.deliver(&p, stop).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read stored results"),
        }
    }

    /// Sends one result until the server acknowledges it (or refuses it for good).
    /// Once told to stop it tries once more and leaves it on disk for the next start.
    async fn deliver(&self, pending: &PendingResult, stop: &watch::Receiver<bool>) {
        let mut stop = stop.clone();
        let mut failures = 0u32;
        loop {
            match self.client.report_result(pending.id, &pending.result).await {
                Ok(()) => break,
                Err(e) if e.is_final() => {
                    tracing::error!(action = pending.id, error = %e, "the server refused the result; dropped");
                    break;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if *stop.borrow() {
                        tracing::warn!(action = pending.id, error = %e, "stopping: result kept on disk for the next start");
                        return;
                    }
                    let wait = if matches!(e, ClientError::Unauthorized) && failures > 3 {
                        // Keep it on disk; a corrected token delivers it after a restart.
                        MAX_BACKOFF
                    } else {
                        backoff(failures)
                    };
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(action = pending.id, error = %e, retry_in = ?wait, "result not delivered yet");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stopped(&mut stop) => {}
                    }
                }
            }
        }
        if let Err(e) = self.state.acknowledged(pending.id) {
            tracing::error!(action = pending.id, error = %e, "cannot remove a delivered result");
        }
    }
}

/// What the check before an automatically approved upgrade decided.
enum Checked {
    /// Nothing would be removed: run it.
    Run,
    /// Handed back to the server for a person; nothing ran.
    Held,
    /// The simulation failed: this result, nothing ran.
    Failed(ActionResult),
}

/// The result of an action the agent refused without running it.
fn refused(stderr: String) -> ActionResult {
    let now = homelab_protocol::now_ms();
    ActionResult {
        exit_code: None,
        failure: Some(AgentFailure::NotWhitelisted),
        stdout: String::new(),
        stderr,
        started_at: Some(now),
        finished_at: Some(now),
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64 << failures.min(7)).min(MAX_BACKOFF)
}
