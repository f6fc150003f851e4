//! The package scan: three read-only apt commands that take no lock, put together by
//! [`crate::apt`].

use std::time::{Duration, SystemTime};

use homelab_protocol::PendingPackage;

use crate::apt;
use crate::runner::{self, Keep, Limits, RunError};

/// How long each scan command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// apt's output for a whole distribution fits in far less.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("`{command}` did not finish within {timeout:?}")]
    TimedOut { command: String, timeout: Duration },
    #[error("`{command}` exited with {code:?}: {stderr}")]
    Failed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
}

async fn output(argv: &[&str]) -> Result<String, ScanError> {
    let limits = Limits {
        timeout: COMMAND_TIMEOUT,
        grace: Duration::from_secs(2),
        keep: Keep::Head(MAX_OUTPUT),
    };
    let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    let done = runner::run(&argv, &limits).await?;
    if done.timed_out {
        return Err(ScanError::TimedOut {
            command: argv.join(" "),
            timeout: COMMAND_TIMEOUT,
        });
    }
    if done.exit_code == Some(0) {
        Ok(done.stdout)
    } else {
        Err(ScanError::Failed {
            command: argv.join(" "),
            code: done.exit_code,
            stderr: done.stderr.trim().chars().take(500).collect(),
        })
    }
}

/// Scans the machine's pending updates.
pub async fn scan() -> Result<Vec<PendingPackage>, ScanError> {
    let sim = apt::parse_upgrade_simulation(
        &output(&[
            "apt-get",
            "-s",
            "-o",
            "Debug::NoLocking=true",
            "upgrade",
            "--with-new-pkgs",
        ])
        .await?,
    );
    let held = apt::parse_showhold(&output(&["apt-mark", "showhold"]).await?);
    let names = apt::names_to_inspect(&sim, &held);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut argv = vec!["apt-cache", "policy"];
    argv.extend(names.iter().map(String::as_str));
    let policies = apt::parse_policy(&output(&argv).await?);
    let (packages, skipped) = apt::pending_packages(&sim, &held, &policies);
    for s in skipped {
        tracing::warn!(package = %s.name, reason = %s.reason, "package left out of the report");
    }
    Ok(packages)
}

/// The files apt and dpkg change when the package state changes; the agent rescans
/// when any of them does.
const STATE_FILES: [&str; 3] = [
    "/var/lib/dpkg/status",
    "/var/cache/apt/pkgcache.bin",
    "/var/lib/apt/extended_states",
];

/// The modification times of [`STATE_FILES`].
pub fn state_stamp() -> Vec<Option<SystemTime>> {
    STATE_FILES
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}
