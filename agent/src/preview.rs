//! Know before you approve: apt's own simulation of an upgrade (`apt-get -s ...`:
//! read-only, no lock), run on the same checks as the real run.
//!
//! The server sends the action's command; the agent checks it against the
//! whitelist exactly as for a real run, then adds `-s` itself (no option ever comes
//! from the server), runs it with the runner's clean environment, time limit and
//! bounded output, and reads apt's `Inst`/`Remv` lines.

use std::time::Duration;

use homelab_protocol::{ActionType, AptPreview, previewable};

use crate::apt::{self, PreviewError};
use crate::runner::{self, Keep, Limits, RunError};
use crate::whitelist::{self, Local, Refusal};

/// The longest a simulation may take: apt only reads its cache.
const SIMULATION_TIMEOUT: Duration = Duration::from_secs(120);
/// The most output read; a simulation of a whole distribution's upgrade prints far
/// less. Output that reaches it is refused, never read cut (a `Remv` line could be
/// in the part left out).
const MAX_OUTPUT: usize = 8 * 1024 * 1024;

/// Why there is no preview.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("{0} cannot be previewed: only the upgrades run apt on packages")]
    NotAnUpgrade(ActionType),
    #[error("refused by the agent, not simulated: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("apt's simulation did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("apt's simulation exited with {code:?}: {stderr}")]
    Failed { code: Option<i32>, stderr: String },
    #[error("apt's simulation printed more than {MAX_OUTPUT} bytes; not read")]
    TooLarge,
    #[error(transparent)]
    Unreadable(#[from] PreviewError),
}

/// The simulation of `argv`, an action of `action_type`: the whitelist (and this
/// machine's config) must accept `argv` as it would for the real run; then `-s`
/// goes right after `apt-get`.
pub fn simulation_argv(
    action_type: ActionType,
    argv: &[String],
    local: &Local,
) -> Result<Vec<String>, SimulationError> {
    if !previewable(action_type) {
        return Err(SimulationError::NotAnUpgrade(action_type));
    }
    whitelist::check(action_type, argv, local)?;
    let mut out = Vec::with_capacity(argv.len() + 1);
    out.push(argv[0].clone());
    out.push("-s".to_owned());
    out.extend(argv[1..].iter().cloned());
    Ok(out)
}

/// Runs apt's simulation of `argv` (an action of `action_type`) and reads what the
/// real run would do. `child_path` is the PATH the command is looked up in.
pub async fn simulate(
    action_type: ActionType,
    argv: &[String],
    local: &Local,
    child_path: &str,
) -> Result<AptPreview, SimulationError> {
    let sim = simulation_argv(action_type, argv, local)?;
    let limits = Limits {
        timeout: SIMULATION_TIMEOUT,
        grace: Duration::from_secs(2),
        keep: Keep::Head(MAX_OUTPUT),
    };
    let done = runner::run_with(&sim, &limits, child_path, |_| {}, None).await?;
    if done.timed_out {
        return Err(SimulationError::TimedOut(SIMULATION_TIMEOUT));
    }
    if done.exit_code != Some(0) {
        return Err(SimulationError::Failed {
            code: done.exit_code,
            stderr: done.stderr.trim().chars().take(1000).collect(),
        });
    }
    if done.stdout.len() >= MAX_OUTPUT {
        return Err(SimulationError::TooLarge);
    }
    Ok(apt::preview_from_simulation(&done.stdout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_simulation_is_the_whitelisted_command_with_s_after_apt_get() {
        let all = Local::everything();
        assert_eq!(
            simulation_argv(
                ActionType::AptUpgradeAll,
                &words("apt-get upgrade --with-new-pkgs -y"),
                &all
            )
            .unwrap(),
            words("apt-get -s upgrade --with-new-pkgs -y")
        );
        assert_eq!(
            simulation_argv(
                ActionType::AptUpgradeSecurity,
                &words("apt-get install --only-upgrade -y -- hl-openssl=3.0.1-1+deb12u1 hl-epoch=1:1.0-2"),
                &all
            )
            .unwrap(),
            words("apt-get -s install --only-upgrade -y -- hl-openssl=3.0.1-1+deb12u1 hl-epoch=1:1.0-2")
        );
    }

    #[test]
    fn a_command_the_whitelist_refuses_is_never_simulated() {
        let all = Local::everything();
        for (t, argv) in [
            (ActionType::AptUpgradeAll, "apt-get dist-upgrade -y"),
            (
                ActionType::AptUpgradeAll,
                "apt-get upgrade --with-new-pkgs -y -o APT::Get::Simulate=false",
            ),
            (
                ActionType::AptUpgradeSecurity,
                "apt-get install --only-upgrade -y -- evil-",
            ),
            (
                ActionType::AptUpgradeSecurity,
                "apt-get remove -y -- hl-victim",
            ),
            (ActionType::AptUpgradeSecurity, "sh -c reboot"),
        ] {
            let err = simulation_argv(t, &words(argv), &all).unwrap_err();
            assert!(matches!(err, SimulationError::Refused(_)), "{argv}: {err}");
        }
        let no_upgrades = Local {
            allowed_actions: [ActionType::AptUpdate].into_iter().collect(),
            ..Local::everything()
        };
        let err = simulation_argv(
            ActionType::AptUpgradeAll,
            &words("apt-get upgrade --with-new-pkgs -y"),
            &no_upgrades,
        )
        .unwrap_err();
        assert!(err.to_string().contains("allowed_actions"), "{err}");
    }

    #[test]
    fn only_the_upgrades_are_simulated() {
        for (t, argv) in [
            (ActionType::AptUpdate, "apt-get update"),
            (
                ActionType::RestartService,
                "systemctl restart nginx.service",
            ),
            (ActionType::ClearLogs, "journalctl --vacuum-time=7d"),
        ] {
            let err = simulation_argv(t, &words(argv), &Local::everything()).unwrap_err();
            assert!(matches!(err, SimulationError::NotAnUpgrade(_)), "{err}");
        }
    }

    /// A fake `apt-get` on PATH, to run the real runner on known output.
    fn fake_apt(body: &str) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apt-get");
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn path_of(dir: &tempfile::TempDir) -> String {
        format!("{}:/usr/bin:/bin", dir.path().display())
    }

    #[tokio::test]
    async fn the_simulation_runs_with_s_and_reads_what_apt_would_remove() {
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/apt/bookworm-security-sim-removing.txt"
        );
        // The fake apt prints the captured output only when called exactly as the
        // agent should call it, and records its argv.
        let dir = fake_apt(&format!(
            "printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"\n\
             [ \"$1\" = -s ] || exit 3\ncat '{fixture}'"
        ));
        let argv = words(
            "apt-get install --only-upgrade -y -- hl-remover=1.0-1+deb12u1 hl-openssl=3.0.1-1+deb12u1",
        );
        let preview = simulate(
            ActionType::AptUpgradeSecurity,
            &argv,
            &Local::everything(),
            &path_of(&dir),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("argv")).unwrap(),
            "-s\ninstall\n--only-upgrade\n-y\n--\nhl-remover=1.0-1+deb12u1\nhl-openssl=3.0.1-1+deb12u1\n"
        );
        let removed: Vec<_> = preview.removed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(removed, ["hl-victim"]);
        assert_eq!(preview.hold_reason(), "held: apt would remove hl-victim");
    }

    #[tokio::test]
    async fn a_failing_or_silent_simulation_is_an_error_never_an_empty_preview() {
        let argv = words("apt-get upgrade --with-new-pkgs -y");
        let failing = fake_apt("echo 'E: The package cache file is corrupted' >&2; exit 100");
        let err = simulate(
            ActionType::AptUpgradeAll,
            &argv,
            &Local::everything(),
            &path_of(&failing),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SimulationError::Failed { code: Some(100), stderr } if stderr.contains("corrupted")),
            "{err}"
        );
        // Exit 0 without apt's summary (a cut or foreign output) is no "nothing removed".
        let silent = fake_apt("echo 'Remv hl-victim [1.0-1]'");
        let err = simulate(
            ActionType::AptUpgradeAll,
            &argv,
            &Local::everything(),
            &path_of(&silent),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SimulationError::Unreadable(_)), "{err}");
    }
}
