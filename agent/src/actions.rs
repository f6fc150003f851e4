//! The action loop: long-poll for the next approved action, run it through the
//! executor, keep the result on disk and deliver it until the server acknowledges it.
//! After an apt action the heartbeat loop rescans at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use homelab_protocol::{FailureReason, NextAction};
use tokio::sync::Notify;

use crate::client::{Client, ClientError};
use crate::executor::{self, AptSettings};
use crate::state::{PendingResult, State};
use crate::whitelist::Local;

/// How long one long-poll waits on the server.
const LONG_POLL: Duration = Duration::from_secs(25);
/// The longest pause between attempts while the server is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs approved actions until the task is dropped.
pub struct ActionLoop {
    pub client: Client,
    pub state: State,
    /// What this machine's config allows, whatever the server asks.
    pub local: Local,
    pub apt: AptSettings,
    /// Rung after an apt action: the heartbeat loop rescans and reports at once.
    pub rescan: Arc<Notify>,
}

impl ActionLoop {
    /// Polls, runs and reports, forever.
    pub async fn run(self) {
        match self.state.recover_interrupted() {
            Ok(Some(id)) => tracing::warn!(
                action = id,
                "agent restarted during this action: reporting it interrupted, not running it again"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the state directory"),
        }
        let mut failures = 0u32;
        loop {
            self.deliver_pending().await;
            match self.client.next_action(LONG_POLL).await {
                Ok(Some(action)) => {
                    failures = 0;
                    self.run_one(action).await;
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, retry_in = ?wait, "cannot ask the server for actions");
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn run_one(&self, action: NextAction) {
        let clock = Instant::now();
        let result = match self.state.mark_running(&action) {
            Ok(()) => executor::execute(&action, &self.local, &self.apt).await,
            Err(e) => {
                // Without the mark a crash could not be reported: refuse to run blind.
                tracing::error!(action = action.id, error = %e, "cannot write the state directory; action not run");
                homelab_protocol::ActionResult {
                    exit_code: None,
                    failure: Some(homelab_protocol::AgentFailure::SpawnError),
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
            action = action.id,
            r#type = %action.action_type,
            exit = ?result.exit_code,
            duration_ms = clock.elapsed().as_millis() as u64,
            outcome,
            "action finished"
        );
        let pending = PendingResult {
            id: action.id,
            result,
        };
        if let Err(e) = self.state.store_result(&pending) {
            tracing::error!(action = action.id, error = %e, "cannot store the result; delivering from memory");
        }
        self.deliver(&pending).await;
        if action.action_type.is_apt() {
            self.rescan.notify_one();
        }
    }

    /// Delivers every stored result, oldest first.
    async fn deliver_pending(&self) {
        match self.state.pending_results() {
            Ok(pending) => {
                for p in pending {
                    self.deliver(&p).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read stored results"),
        }
    }

    /// Sends one result until the server acknowledges it (or refuses it for good).
    async fn deliver(&self, pending: &PendingResult) {
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
                    let wait = backoff(failures);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(action = pending.id, error = %e, retry_in = ?wait, "result not delivered yet");
                    }
                    if matches!(e, ClientError::Unauthorized) && failures > 3 {
                        // Keep it on disk; a corrected token delivers it after a restart.
                        tokio::time::sleep(MAX_BACKOFF).await;
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        if let Err(e) = self.state.acknowledged(pending.id) {
            tracing::error!(action = pending.id, error = %e, "cannot remove a delivered result");
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64 << failures.min(7)).min(MAX_BACKOFF)
}
