//! The real agent binary against a server that is down or broken: it keeps running,
//! backs off, and says why in its log.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A "server" that accepts connections and closes them at once, counting them.
fn broken_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

#[test]
fn an_unreachable_server_makes_the_agent_back_off_not_crash_or_spin() {
    let (url, connections) = broken_server();
    let state = tempfile::tempdir().unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .args(["--server", &url, "--heartbeat-interval", "1"])
        .arg("--token-file")
        .arg(token_file(state.path()))
        .arg("--state-dir")
        .arg(state.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The log is read as it comes: the first heartbeat follows the package scan,
    // which runs this machine's real apt and can take seconds on a busy host.
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (log, mut stderr) = (log.clone(), agent.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
    };

    std::thread::sleep(Duration::from_secs(6));
    assert!(
        agent.try_wait().unwrap().is_none(),
        "the agent must keep running"
    );
    // Attempts at about 0.5 s, then 1, 2, 4 s apart: a handful, not hundreds.
    let attempts = connections.load(Ordering::SeqCst);
    assert!(
        (2..=6).contains(&attempts),
        "{attempts} connection attempts in 6 s"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log.lock().unwrap().contains("heartbeat failed") && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.kill().unwrap();
    agent.wait().unwrap();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(log.contains("heartbeat failed"), "{log}");
    assert!(
        !log.contains("deprecated"),
        "a token file is the right way: {log}"
    );
}

/// A private token file in `dir`.
fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("token");
    std::fs::write(&path, "hca_test\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn a_token_on_the_command_line_still_works_but_is_called_deprecated() {
    let (url, _) = broken_server();
    let state = tempfile::tempdir().unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .args(["--server", &url, "--token", "hca_test"])
        .arg("--state-dir")
        .arg(state.path())
        .env_remove("HOMELAB_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = stop_with_sigterm(&mut agent);
    assert!(log.contains("--token is deprecated"), "{log}");
}

/// Sends SIGTERM, waits for the exit (which must be clean) and returns the log.
fn stop_with_sigterm(agent: &mut std::process::Child) -> String {
    use std::io::BufRead;
    // Wait until it is up (its start-up line) before stopping it.
    let mut stderr = std::io::BufReader::new(agent.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("homelab-agent starting") {
        assert!(stderr.read_line(&mut log).unwrap() > 0, "{log}");
    }
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = agent.wait().unwrap();
    stderr.read_to_string(&mut log).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    log
}

#[test]
fn sigterm_with_nothing_running_stops_the_agent_cleanly() {
    let (url, _) = broken_server();
    let state = tempfile::tempdir().unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .args(["--server", &url])
        .arg("--token-file")
        .arg(token_file(state.path()))
        .arg("--state-dir")
        .arg(state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = stop_with_sigterm(&mut agent);
    assert!(log.contains("letting a running one finish"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn a_bad_configuration_stops_the_agent_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .args(["--server", "ftp://nowhere", "--token", "t"])
        .env_remove("HOMELAB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("must start with http://"), "{log}");
}

#[test]
fn several_servers_with_a_bad_entry_stop_the_agent_naming_it_and_no_password() {
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (
            &["--server", "http://a", "--server", "ftp://b"],
            None,
            "`ftp://b` must start with http://",
        ),
        (&[], Some("http://a,,http://b"), "entry 2 of 3 is empty"),
        (
            &["--server", "http://a,http://ops:hunter2@b"],
            None,
            "`http://***@b` holds a user name or password",
        ),
    ];
    for (argv, env, expected) in cases {
        let mut agent = Command::new(env!("CARGO_BIN_EXE_homelab-agent"));
        agent
            .args(argv)
            .args(["--token", "t"])
            .env_remove("HOMELAB_TOKEN");
        match env {
            Some(list) => agent.env("HOMELAB_SERVER", list),
            None => agent.env_remove("HOMELAB_SERVER"),
        };
        let out = agent.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{argv:?} {env:?}");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains(expected), "{log}");
        assert!(!log.contains("hunter2"), "{log}");
    }
}

#[test]
fn help_describes_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--server",
        "--token-file",
        "--heartbeat-interval",
        "--state-dir",
        "--config",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(
        help.contains("--server <URL[,URL...]>") && help.contains("several replicas"),
        "--help says --server takes a list: {help}"
    );
}
