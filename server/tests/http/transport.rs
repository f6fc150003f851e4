//! The listener under hostile clients and at shutdown, on the real binary: idle
//! half-open sockets (slowloris) must not take the server offline, and stopping it
//! must not wait out the agents' long-polls.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The real `homelab-cmd serve` on port 0 over a fresh database, limited to
/// `open_files` descriptors like a process under systemd's default limit.
struct Served {
    /// Killed when the test ends.
    _child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

fn homelab_cmd(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_homelab-cmd"));
    command
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        )
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    command
}

async fn serve(open_files: u64, extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut command = homelab_cmd(&dir);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: open_files,
                rlim_max: open_files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("homelab-cmd starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server says where it listens");
        if let Some(url) = line.strip_prefix("homelab-cmd is running: open ") {
            break url.trim_end_matches('/').to_owned();
        }
    };
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Served {
        _child: child,
        base,
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_half_open_sockets_do_not_take_the_server_offline() {
    // 1,024 descriptors: systemd's default soft limit, where 1,100 sockets used to
    // leave the server unable to accept anything.
    let served = serve(1024, &[]).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for i in 0..1100 {
        let mut socket = TcpStream::connect(&addr).await.expect("connect");
        if i % 2 == 0 {
            // Half a request head, never finished.
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(socket);
    }
    let answer = client()
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok");
    drop(idle);
}

#[tokio::test]
async fn a_connection_that_sends_no_request_head_in_time_is_closed() {
    let served = serve(4096, &["--header-read-timeout", "1"]).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(read.is_ok() || buf.is_empty());
    // A complete request on a new connection is still served.
    let answer = client()
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn stopping_the_server_ends_the_agents_long_polls_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // An agent token, made by the CLI on the database the server will use.
    let added = homelab_cmd(&dir)
        .args(["server", "add", "nas", "NAS"])
        .output()
        .await
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let stdout = String::from_utf8(added.stdout).unwrap();
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("hca_"))
        .expect("token printed")
        .to_owned();

    let mut command = homelab_cmd(&dir);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("listening");
        if let Some(url) = line.strip_prefix("homelab-cmd is running: open ") {
            break url.trim_end_matches('/').to_owned();
        }
    };

    // A long-poll that would wait 25 s for work.
    let poll = tokio::spawn({
        let base = base.clone();
        async move {
            client()
                .get(format!("{base}/agent/v1/actions/next?wait=25"))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);

    // The client's own limit is 10 s: well under the 25 s wait.
    let answered = poll.await.unwrap().expect("the long-poll is answered");
    assert_eq!(answered, 204, "nothing to do, the server is stopping");
    let exited = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server exits")
        .unwrap();
    assert!(exited.success(), "{exited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_connections_make_room_even_halfway_through_a_request_head() {
    // 16 connections at most; 40 clients that each sent one byte and stopped.
    let served = serve(4096, &["--max-connections", "16"]).await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    let mut crowd = Vec::new();
    for _ in 0..40 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket.write_all(b"G").await.unwrap();
        crowd.push(socket);
    }
    // Well before the 15 s header timeout frees anything.
    let answer = client()
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .expect("room is made for a real request");
    assert_eq!(answer.status(), 200);
    drop(crowd);
}
