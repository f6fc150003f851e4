//! Runs a command as an argv (never through a shell): stdin closed, a cleared
//! environment holding only what apt and systemctl need ([`CHILD_ENV`]), in its own
//! process group, with a time limit. On timeout the whole group gets SIGTERM, a
//! grace period, then SIGKILL. Output is read while the command runs into bounded
//! buffers, so memory stays flat whatever it prints.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::live_output::{Fresh, Stream};

/// Which part of a long output to keep.
#[derive(Debug, Clone, Copy)]
pub enum Keep {
    /// The first bytes (the scan parses from the top).
    Head(usize),
    /// The last bytes (an action's log ends with what matters).
    Tail(usize),
}

/// How to run a command.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    pub keep: Keep,
}

/// A command that ran to its end or was stopped.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; None when a signal ended it.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// It ran past its time limit and was killed.
    pub timed_out: bool,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("waiting for `{program}` failed: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

/// The PATH every child gets, and where its program is looked up: the system's own
/// directories, whatever PATH the agent was started with.
pub const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The rest of the environment of every child (with `PATH`, all of it): nothing of the agent's own (its token,
/// its `HOMELAB_*` settings, whatever its caller exported) reaches apt, dpkg's
/// maintainer scripts or systemctl.
pub const CHILD_ENV: [(&str, &str); 6] = [
    // apt's messages, which the executor and the scan parse, in English.
    ("LANG", "C"),
    ("LC_ALL", "C"),
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("TERM", "dumb"),
    // No pager or mail prompt from apt-listchanges during an upgrade.
    ("APT_LISTCHANGES_FRONTEND", "none"),
    // needrestart (Ubuntu) only lists services: restarting them from inside apt could
    // restart this agent, which waits for apt, which waits for the restart.
    ("NEEDRESTART_MODE", "l"),
];

/// The command for `argv`: the environment cleared, then `PATH=path` (where the
/// program is looked up; [`CHILD_PATH`] but in tests) and [`CHILD_ENV`]; stdin
/// closed, output piped, its own process group.
pub fn build_command(argv: &[String], path: &str) -> Command {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let mut command = Command::new(program);
    command
        .args(argv.iter().skip(1))
        .env_clear()
        .env("PATH", path)
        .envs(CHILD_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Runs `argv` with [`CHILD_PATH`] (see [`build_command`]).
pub async fn run(argv: &[String], limits: &Limits) -> Result<Finished, RunError> {
    run_with(argv, limits, CHILD_PATH, |_| {}, None).await
}

/// Runs `argv` with `PATH=path`, telling `on_spawn` the child's process group id
/// before waiting, so that the caller can record it where a restarted agent finds it.
/// With `tap`, everything the command prints is also added there as it comes.
pub async fn run_with(
    argv: &[String],
    limits: &Limits,
    path: &str,
    on_spawn: impl FnOnce(i32),
    tap: Option<&Arc<Fresh>>,
) -> Result<Finished, RunError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut child = build_command(argv, path)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
    if let Some(id) = child.id().and_then(|id| i32::try_from(id).ok()) {
        on_spawn(id);
    }
    let group = child.id().and_then(|id| Pid::from_raw(id as i32));
    let not_piped = || RunError::Io {
        program: program.clone(),
        source: std::io::Error::other("the child's output is not piped"),
    };
    let stdout = child.stdout.take().ok_or_else(not_piped)?;
    let stderr = child.stderr.take().ok_or_else(not_piped)?;
    let tap_of = |stream| tap.map(|fresh| (fresh.clone(), stream));
    let stdout = tokio::spawn(read_bounded(stdout, limits.keep, tap_of(Stream::Stdout)));
    let stderr = tokio::spawn(read_bounded(stderr, limits.keep, tap_of(Stream::Stderr)));

    let (status, timed_out) = match tokio::time::timeout(limits.timeout, child.wait()).await {
        Ok(status) => (status, false),
        Err(_) => {
            signal_group(group, Signal::TERM);
            match tokio::time::timeout(limits.grace, child.wait()).await {
                Ok(status) => (status, true),
                Err(_) => {
                    signal_group(group, Signal::KILL);
                    (child.wait().await, true)
                }
            }
        }
    };
    // Whatever the leader did, no member of its group outlives the run: a child that
    // ignored SIGTERM, or a daemon left behind, would hold the pipes open.
    signal_group(group, Signal::KILL);
    let status = status.map_err(|source| RunError::Io {
        program: program.clone(),
        source,
    })?;
    let join = |r: Result<std::io::Result<String>, tokio::task::JoinError>| {
        r.map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| RunError::Io {
                program: program.clone(),
                source,
            })
    };
    Ok(Finished {
        exit_code: status.code(),
        stdout: join(stdout.await)?,
        stderr: join(stderr.await)?,
        timed_out,
    })
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(pid) = group {
        // ESRCH (the group is gone) is the usual, happy answer.
        let _ = kill_process_group(pid, signal);
    }
}

/// Reads a stream to its end, keeping the part `keep` asks for (and passing every
/// read to `tap`).
async fn read_bounded(
    mut stream: impl AsyncRead + Unpin,
    keep: Keep,
    tap: Option<(Arc<Fresh>, Stream)>,
) -> std::io::Result<String> {
    let mut kept: VecDeque<u8> = VecDeque::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if let Some((fresh, which)) = &tap {
            fresh.push(*which, &buf[..n]);
        }
        match keep {
            Keep::Head(max) => {
                let room = max.saturating_sub(kept.len());
                kept.extend(&buf[..n.min(room)]);
            }
            Keep::Tail(max) => {
                kept.extend(&buf[..n]);
                let excess = kept.len().saturating_sub(max);
                kept.drain(..excess);
            }
        }
    }
    let bytes: Vec<u8> = kept.into();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(match keep {
        // A tail cut may split a character; drop the broken start.
        Keep::Tail(_) => text.trim_start_matches('\u{FFFD}').to_owned(),
        Keep::Head(_) => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script file run as `bash FILE`, so that the tests need no shell string.
    fn script(body: &str) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        std::fs::write(&path, body).unwrap();
        (dir, vec!["bash".into(), path.display().to_string()])
    }

    fn limits(timeout_ms: u64, keep: Keep) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(500),
            keep,
        }
    }

    fn alive(pid: i32) -> bool {
        // A zombie is dead for our purposes; /proc says which.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn output_and_exit_code_are_captured() {
        let (_dir, argv) = script("echo out; echo err >&2; exit 3");
        let done = run(&argv, &limits(5000, Keep::Head(1024))).await.unwrap();
        assert_eq!((done.exit_code, done.timed_out), (Some(3), false));
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
    }

    #[tokio::test]
    async fn the_child_environment_is_exactly_the_fixed_one() {
        let argv: Vec<String> = ["env"].map(String::from).to_vec();
        let done = run(&argv, &limits(5000, Keep::Head(65536))).await.unwrap();
        let mut got: Vec<&str> = done.stdout.lines().collect();
        got.sort_unstable();
        let mut expected: Vec<String> = CHILD_ENV.iter().map(|(k, v)| format!("{k}={v}")).collect();
        expected.push(format!("PATH={CHILD_PATH}"));
        expected.sort_unstable();
        assert_eq!(got, expected);
        assert!(
            std::env::vars().any(|(k, _)| k.starts_with("CARGO")),
            "the test itself runs with variables that must not reach the child"
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group_even_a_child_that_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let (_s, argv) = script(&format!(
            "bash -c 'trap \"\" TERM; echo $$ >> {p}; while true; do sleep 0.1; done' &\n\
             echo $$ >> {p}\necho started\nwait\n",
            p = pids.display()
        ));
        let done = run(&argv, &limits(1000, Keep::Tail(1024))).await.unwrap();
        assert!(done.timed_out);
        assert_eq!(done.exit_code, None, "ended by a signal");
        assert_eq!(done.stdout, "started\n", "the output so far is kept");
        let pids: Vec<i32> = std::fs::read_to_string(&pids)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(pids.len(), 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        for pid in pids {
            assert!(!alive(pid), "process {pid} survived");
        }
    }

    #[tokio::test]
    async fn a_hundred_megabytes_of_output_keep_only_the_tail_and_memory_stays_flat() {
        fn peak_rss_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        let before = peak_rss_kib();
        let (_dir, argv) = script("head -c 104857600 /dev/zero | tr '\\0' 'x'; echo; echo THE END");
        let done = run(&argv, &limits(60_000, Keep::Tail(64 * 1024)))
            .await
            .unwrap();
        assert_eq!(done.exit_code, Some(0));
        assert_eq!(done.stdout.len(), 64 * 1024);
        assert!(done.stdout.ends_with("\nTHE END\n"));
        let grown_mib = (peak_rss_kib() - before) / 1024;
        assert!(
            grown_mib < 20,
            "peak memory grew by {grown_mib} MiB for 100 MiB of output"
        );
    }

    #[tokio::test]
    async fn a_head_keeps_the_start() {
        let argv: Vec<String> = ["head", "--bytes=1000000", "/dev/zero"]
            .map(String::from)
            .to_vec();
        let done = run(&argv, &limits(10_000, Keep::Head(100))).await.unwrap();
        assert_eq!(done.stdout.len(), 100);
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let argv = vec!["/nonexistent/apt-get".to_owned()];
        let err = run(&argv, &limits(1000, Keep::Head(10))).await.unwrap_err();
        assert!(matches!(err, RunError::Spawn { .. }), "{err}");
    }
}
