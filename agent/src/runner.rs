//! Runs a command as an argv (never through a shell) with a time limit, stdin closed,
//! in its own process group, capturing its output into bounded buffers.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; None when a signal ended it.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Why a command did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {timeout:?}")]
    TimedOut { program: String, timeout: Duration },
    #[error("reading the output of `{program}` failed: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

/// Runs `argv` with `LANG=C`, waiting at most `timeout`; keeps at most `max_bytes` of
/// each stream (the start of it: the scan needs whole lines from the top).
pub async fn run(argv: &[&str], timeout: Duration, max_bytes: usize) -> Result<Finished, RunError> {
    let program = argv[0].to_owned();
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let work = async {
        let (out, err, status) = tokio::join!(
            read_bounded(stdout, max_bytes),
            read_bounded(stderr, max_bytes),
            child.wait()
        );
        Ok::<_, std::io::Error>((out?, err?, status?))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((stdout, stderr, status))) => Ok(Finished {
            exit_code: status.code(),
            stdout,
            stderr,
        }),
        Ok(Err(source)) => Err(RunError::Io { program, source }),
        // Dropping the child kills it (kill_on_drop).
        Err(_) => Err(RunError::TimedOut { program, timeout }),
    }
}

/// Reads a stream to its end, keeping its first `max` bytes and discarding the rest,
/// so the child never blocks on a full pipe.
async fn read_bounded(mut stream: impl AsyncRead + Unpin, max: usize) -> std::io::Result<String> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    Ok(String::from_utf8_lossy(&kept).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script file run as `bash FILE`, so that the tests need no shell string.
    fn script(body: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        std::fs::write(&path, body).unwrap();
        let path = path.display().to_string();
        (dir, path)
    }

    #[tokio::test]
    async fn output_and_exit_code_are_captured() {
        let (_dir, path) = script("echo out; echo err >&2; exit 3");
        let done = run(&["bash", &path], Duration::from_secs(5), 1024)
            .await
            .unwrap();
        assert_eq!(done.exit_code, Some(3));
        assert_eq!(done.stdout, "out\n");
        assert_eq!(done.stderr, "err\n");
    }

    #[tokio::test]
    async fn output_beyond_the_limit_is_dropped_without_blocking_the_child() {
        let done = run(
            &["head", "-c", "1000000", "/dev/zero"],
            Duration::from_secs(10),
            100,
        )
        .await
        .unwrap();
        assert_eq!(done.exit_code, Some(0));
        assert_eq!(done.stdout.len(), 100);
    }

    #[tokio::test]
    async fn a_command_past_its_time_is_stopped() {
        let err = run(&["sleep", "30"], Duration::from_millis(200), 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let err = run(&["/nonexistent/apt-get"], Duration::from_secs(1), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Spawn { .. }), "{err}");
    }
}
