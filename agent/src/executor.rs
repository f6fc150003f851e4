//! Runs one approved action: whitelist first, then the argv with the agent's own
//! fixed apt options and environment, under the action's time limit, retrying while
//! dpkg's lock is held. Always ends in an [`ActionResult`].

use std::sync::Arc;
use std::time::Duration;

use homelab_protocol::{ActionResult, ActionType, AgentFailure, MAX_OUTPUT_BYTES, NextAction};

use crate::live_output::Fresh;
use crate::runner::{self, Keep, Limits};
use crate::whitelist::{self, Local};

/// How the agent runs apt (and the PATH its commands see).
#[derive(Debug, Clone)]
pub struct AptSettings {
    /// How long apt waits for the dpkg lock on each attempt (`DPkg::Lock::Timeout`).
    pub lock_wait: Duration,
    /// Further attempts when apt still reports the lock held.
    pub lock_retries: u32,
    /// The PATH commands are looked up in and run with: always
    /// [`runner::CHILD_PATH`] in the agent; tests point it at fake programs.
    pub child_path: String,
}

impl Default for AptSettings {
    fn default() -> Self {
        AptSettings {
            lock_wait: Duration::from_secs(60),
            lock_retries: 3,
            child_path: runner::CHILD_PATH.to_owned(),
        }
    }
}

impl AptSettings {
    /// The longest an action with time limit `timeout` can run: every attempt to its
    /// limit plus the kill grace, and the pauses between attempts. The unit file's
    /// `TimeoutStopSec` must cover it for the default limits.
    pub fn worst_case(&self, timeout: Duration) -> Duration {
        let attempts = self.lock_retries + 1;
        let pauses: Duration = (1..=self.lock_retries)
            .map(|attempt| lock_backoff(attempt, self.lock_wait))
            .sum();
        (timeout + KILL_GRACE) * attempts + pauses
    }
}

/// The pause before retry `attempt` (1, 2...): 2, 4, 8 s, never more than apt's own
/// wait.
fn lock_backoff(attempt: u32, lock_wait: Duration) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(lock_wait)
}

/// The time between SIGTERM and SIGKILL when an action runs too long.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The argv actually executed: apt gets the agent's fixed options (never the
/// server's): keep existing config files, wait a bounded time for the lock.
pub fn exec_argv(argv: &[String], apt: &AptSettings) -> Vec<String> {
    if argv.first().map(String::as_str) != Some("apt-get") {
        return argv.to_vec();
    }
    let mut out = vec![argv[0].clone()];
    for option in [
        "Dpkg::Options::=--force-confdef".to_owned(),
        "Dpkg::Options::=--force-confold".to_owned(),
        format!("DPkg::Lock::Timeout={}", apt.lock_wait.as_secs()),
    ] {
        out.push("-o".to_owned());
        out.push(option);
    }
    out.extend(argv[1..].iter().cloned());
    out
}

/// apt's line saying a lock is held, if its output has one.
fn lock_held(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .find(|l| l.contains("Could not get lock") || l.contains("Unable to acquire the dpkg"))
}

/// The longest a reboot's command may take: `systemctl reboot` only asks systemd to
/// start the shutdown, and answers at once. The action's own limit is the machine's,
/// to come back, and the server keeps it.
pub const REBOOT_COMMAND_LIMIT_S: u32 = 60;

/// How long the command of an action of `action_type` with limit `timeout_s` may run.
pub fn command_limit_s(action_type: ActionType, timeout_s: u32) -> u32 {
    match action_type {
        ActionType::Reboot => timeout_s.min(REBOOT_COMMAND_LIMIT_S),
        _ => timeout_s,
    }
}

/// Runs `action` if the whitelist and this machine's config (`local`) let it, and
/// says how it ended. `on_spawn` learns each attempt's process group id; `fresh`
/// gets the output as it is printed.
pub async fn execute(
    action: &NextAction,
    local: &Local,
    apt: &AptSettings,
    on_spawn: &(dyn Fn(i32) + Sync),
    fresh: Option<&Arc<Fresh>>,
) -> ActionResult {
    let started = homelab_protocol::now_ms();
    if let Err(refusal) = whitelist::check(action.action_type, &action.argv, local) {
        return ActionResult {
            exit_code: None,
            failure: Some(AgentFailure::NotWhitelisted),
            stdout: String::new(),
            stderr: format!("refused by the agent, not run: {refusal}"),
            started_at: Some(started),
            finished_at: Some(homelab_protocol::now_ms()),
        };
    }
    let argv = exec_argv(&action.argv, apt);
    let limit_s = command_limit_s(action.action_type, action.timeout_s);
    let limits = Limits {
        timeout: Duration::from_secs(u64::from(limit_s)),
        grace: KILL_GRACE,
        keep: Keep::Tail(MAX_OUTPUT_BYTES),
    };
    let mut attempt = 0;
    loop {
        let outcome = runner::run_with(&argv, &limits, &apt.child_path, on_spawn, fresh).await;
        let finished_at = Some(homelab_protocol::now_ms());
        let done = match outcome {
            Ok(done) => done,
            Err(e) => {
                return ActionResult {
                    exit_code: None,
                    failure: Some(AgentFailure::SpawnError),
                    stdout: String::new(),
                    stderr: e.to_string(),
                    started_at: Some(started),
                    finished_at,
                };
            }
        };
        if done.timed_out {
            return ActionResult {
                exit_code: None,
                failure: Some(AgentFailure::TimedOut),
                stderr: format!("{}\nstopped: ran past its {} s limit", done.stderr, limit_s),
                stdout: done.stdout,
                started_at: Some(started),
                finished_at,
            };
        }
        if done.exit_code != Some(0)
            && let Some(line) = lock_held(&done.stderr)
        {
            if attempt < apt.lock_retries {
                attempt += 1;
                let backoff = lock_backoff(attempt, apt.lock_wait);
                tracing::warn!(
                    action = action.id.get(),
                    attempt,
                    ?backoff,
                    "{}",
                    line.trim()
                );
                tokio::time::sleep(backoff).await;
                continue;
            }
            let note = format!(
                "\nthe package manager lock was still held after {} attempts: {}",
                attempt + 1,
                line.trim()
            );
            return ActionResult {
                exit_code: done.exit_code,
                failure: None,
                stdout: done.stdout,
                stderr: done.stderr + &note,
                started_at: Some(started),
                finished_at,
            };
        }
        return ActionResult {
            exit_code: done.exit_code,
            failure: None,
            stdout: done.stdout,
            stderr: done.stderr,
            started_at: Some(started),
            finished_at,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use homelab_protocol::ActionType;
    use std::collections::HashSet;

    fn all() -> Local {
        Local::everything()
    }

    #[test]
    fn apt_gets_the_agents_own_options_and_nothing_else_changes() {
        let apt = AptSettings::default();
        let argv: Vec<String> = ["apt-get", "upgrade", "--with-new-pkgs", "-y"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            exec_argv(&argv, &apt),
            [
                "apt-get",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "-o",
                "DPkg::Lock::Timeout=60",
                "upgrade",
                "--with-new-pkgs",
                "-y"
            ]
        );
        let restart: Vec<String> = ["systemctl", "restart", "nginx"].map(String::from).to_vec();
        assert_eq!(exec_argv(&restart, &apt), restart);
    }

    #[test]
    fn the_unit_waits_on_stop_for_the_longest_action_to_finish_and_report() {
        let unit = include_str!("../dist/homelab-agent.service");
        let stop_secs: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .and_then(|v| v.trim().parse().ok())
            .expect("TimeoutStopSec in seconds");
        let longest = ActionType::ALL
            .iter()
            .map(|&t| Duration::from_secs(u64::from(command_limit_s(t, t.kind().timeout_s))))
            .max()
            .unwrap();
        let worst = AptSettings::default().worst_case(longest);
        assert_eq!(
            worst,
            Duration::from_secs(2454),
            "the unit's comment says so"
        );
        // Plus one result delivery (the client's request timeout).
        assert!(
            stop_secs >= worst.as_secs() + 30,
            "TimeoutStopSec={stop_secs}"
        );
        assert!(unit.contains("KillMode=mixed") && unit.contains("LimitNOFILE="));
    }

    #[test]
    fn apt_lock_messages_are_recognised() {
        let stderr = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\n\
                      E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?";
        assert!(lock_held(stderr).unwrap().contains("held by process 4242"));
        assert_eq!(lock_held("E: Unable to locate package x"), None);
    }

    #[tokio::test]
    async fn a_refused_command_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let action = NextAction::run(
            homelab_protocol::ActionId::new(1),
            ActionType::RestartService,
            vec!["touch".into(), marker.display().to_string()],
            5,
        );
        let result = execute(&action, &all(), &AptSettings::default(), &|_| {}, None).await;
        assert_eq!(result.failure, Some(AgentFailure::NotWhitelisted));
        assert_eq!(result.exit_code, None);
        assert!(
            result.stderr.contains("does not match the whitelist"),
            "{}",
            result.stderr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!marker.exists(), "the refused command ran");
    }

    #[tokio::test]
    async fn a_type_switched_off_locally_is_refused() {
        let action = NextAction::run(
            homelab_protocol::ActionId::new(2),
            ActionType::AptUpdate,
            vec!["apt-get".into(), "update".into()],
            5,
        );
        let only_restarts = Local {
            allowed_actions: HashSet::from([ActionType::RestartService]),
            ..Local::everything()
        };
        let result = execute(
            &action,
            &only_restarts,
            &AptSettings::default(),
            &|_| {},
            None,
        )
        .await;
        assert_eq!(result.failure, Some(AgentFailure::NotWhitelisted));
        assert!(
            result.stderr.contains("allowed_actions"),
            "{}",
            result.stderr
        );
    }

    #[tokio::test]
    async fn a_whitelisted_command_that_fails_reports_its_exit_code_and_output() {
        // journalctl is not installed in every test environment; systemctl of a unit
        // that cannot exist fails either way (no systemd, or no such unit).
        let action = NextAction::run(
            homelab_protocol::ActionId::new(3),
            ActionType::RestartService,
            vec![
                "systemctl".into(),
                "restart".into(),
                "homelab-no-such-unit.service".into(),
            ],
            10,
        );
        let result = execute(&action, &all(), &AptSettings::default(), &|_| {}, None).await;
        match result.failure {
            None => {
                assert_ne!(result.exit_code, Some(0));
                assert!(!result.stderr.is_empty());
            }
            Some(failure) => assert_eq!(failure, AgentFailure::SpawnError, "{}", result.stderr),
        }
    }
}
